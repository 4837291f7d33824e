//! docs/esc-server.md's "Try it from a clone" runs as written: its shell blocks with `curl` and
//! `bash`, and its Python snippet with the official SDK. Changed only where a test must: the
//! binary under test instead of `cargo run`, a free port instead of 8080 (with `--listen`), and
//! CI's SDK venv (`ESC_SDK_PYTHON`, installed by .ci/run) instead of the `pip install` line.

use crate::support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{BIN, CARGO_RUN, free_port, workspace};

/// The section's code blocks of `language`, in order.
fn blocks(language: &str) -> Vec<String> {
    let page = std::fs::read_to_string(workspace().join("docs/esc-server.md")).unwrap();
    let section = page
        .split("\n## Try it from a clone\n")
        .nth(1)
        .expect("docs/esc-server.md has a Try it from a clone section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split(&format!("```{language}\n"))
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

/// The text of the `# ` comment lines of a block: what the commands print.
fn expected(block: &str) -> Vec<String> {
    block
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(str::to_owned)
        .collect()
}

fn bash(script: &str, dir: &Path, envs: &[(&str, &str)]) -> String {
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "a peer test: needs curl and the official Python SDK (ESC_SDK_PYTHON); .ci/run runs it"]
fn the_esc_server_page_runs_verbatim_from_a_clone_with_curl_and_the_python_sdk() {
    let python = std::env::var("ESC_SDK_PYTHON")
        .expect("ESC_SDK_PYTHON: a python with pulumi-esc-sdk (.ci/run installs it)");
    let port = free_port().to_string();
    let sh = blocks("sh");
    assert_eq!(sh.len(), 3, "{sh:?}");
    let local = |block: &str| block.replace("8080", &port);

    // Block 1: the server in the background, then the wait loop.
    let mut lines = sh[0].lines();
    let serve = lines.next().unwrap();
    let args = serve
        .strip_prefix(CARGO_RUN)
        .and_then(|a| a.strip_suffix(" &"))
        .unwrap_or_else(|| panic!("not `{CARGO_RUN}... &`: {serve}"));
    let _server = Server(
        Command::new(BIN)
            .args(args.split_whitespace())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .current_dir(workspace())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let wait: String = lines.collect::<Vec<_>>().join("\n");
    bash(&local(&wait), workspace(), &[]);

    // Block 2: open and read one property with curl.
    let out = bash(&local(&sh[1]), workspace(), &[]);
    let want = expected(&sh[1]);
    let prefix = want[0].split("{...}").next().unwrap();
    assert!(out.starts_with(prefix), "{out}");

    // Block 3 and the Python snippet: the SDK finds the server through the environment.
    let dir = tempfile::tempdir().unwrap();
    let snippet = &blocks("python")[0];
    std::fs::write(dir.path().join("read_env.py"), snippet).unwrap();
    let run = sh[2]
        .lines()
        .find(|l| l.contains("read_env.py"))
        .unwrap()
        .replace("/tmp/esc-sdk/bin/python", &python);
    let out = bash(&local(&run), dir.path(), &[]);
    assert_eq!(out.lines().collect::<Vec<_>>(), expected(snippet));
}
