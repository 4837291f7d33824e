//! The readers of mounted files, run for real (issue 24): a file is right when what reads it
//! gets back every value exactly. Hard values (fixtures) and generated ones are mounted through
//! the daemon and read back by Debian's shells (`env.sh` sourced whole), python-dotenv, Node's
//! dotenv and dotenvx, godotenv (`.env`), and PyYAML, ruamel.yaml, Node's yaml and Go's yaml.v3
//! (`format: yaml`).
//!
//! Peer tests: `#[ignore]`d, run by `.ci/run` after `.ci/readers` installed the pinned readers
//! and exported where they are (`ESC_CSI_READER_*`); a missing reader fails them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use serde_json::json;

use crate::support::{Harness, files};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `source .ci/readers` first (.ci/run does)")
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The hard values of issue 24. `canary` is a path that a value which executes would create.
fn hard_values(canary: &Path) -> Vec<String> {
    let c = canary.display();
    let mut values: Vec<String> = [
        "plain",
        "",
        " ",
        "  lead",
        "trail  ",
        "two words",
        "a\nb",
        "a\r\nb",
        "a\rb",
        "\n",
        "trailing\n",
        "tab\there",
        "\t",
        "'",
        "\"",
        "'single'",
        "\"double\"",
        "it's",
        "say \"hi\"",
        "mixed '\" `",
        "$",
        "$X",
        "${X}",
        "pa$$word",
        "cost $5",
        "$(id -u)",
        "`id -u`",
        "\\",
        "trailing\\",
        "\\\\",
        "a\\nb",
        "a\\tb",
        "\\u2028",
        "\\x41",
        "back\\\\slash\\",
        "\\'",
        "\\\"",
        "#",
        "# comment",
        "a #b",
        "a#b",
        "=",
        "a=b",
        "==",
        "café é",
        "emoji 😀",
        "\u{2028}",
        "a\u{2029}b",
        "\u{a0}nbsp\u{a0}",
        "\u{feff}bom",
        "\u{85}nel",
        "ctl\u{1}\u{1b}\u{7f}",
        "\u{b}\u{c}",
        "42",
        "3.14",
        "true",
        "null",
        "-1",
        "s3cr3t!@#%^&*()",
        "export X=1",
        "${X:-default}",
        "\\$X",
        "{\"a\":1}",
        "C:\\dir\\",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    values.push(format!("abc`touch {c}`def$(touch {c})"));
    values.push(format!("it's `touch {c}`"));
    values.push("x".repeat(100_000));
    values
}

/// The values as an object of variables `V00`, `V01`, … (and `X`, which `$X` and `${X}` would
/// expand to, so that an expansion shows).
fn variables(values: &[String]) -> serde_json::Map<String, serde_json::Value> {
    let mut vars: serde_json::Map<_, _> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("V{i:02}"), json!(v)))
        .collect();
    vars.insert("X".into(), json!("expanded"));
    vars
}

/// Mounts `vars` as `format` into `dir`/`name`, or returns the mount's error message.
async fn mount(
    vars: &serde_json::Map<String, serde_json::Value>,
    format: &str,
    dir: &Path,
) -> Result<PathBuf, String> {
    let h = Harness::start().await;
    h.set_env(json!({ "vars": vars }));
    let class = h.class(&format!(
        "- {{fileName: out, secretKey: vars, format: {format}}}\n"
    ));
    let response = h.mount(class).await.map_err(|s| s.message().to_owned())?;
    let path = dir.join(format!("out.{format}"));
    let file = &response.files[0];
    assert_eq!(files(&response)[0].0, "out");
    std::fs::write(&path, &file.contents).unwrap();
    Ok(path)
}

fn run(mut command: Command) -> Result<Vec<u8>, String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Sources `file` with `shell` (busybox as `busybox sh`) and returns the variables it exported.
fn source(shell: &str, file: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut command = if shell == "busybox" {
        let mut c = Command::new("busybox");
        c.arg("sh");
        c
    } else {
        Command::new(shell)
    };
    command
        .arg("-c")
        .arg(". \"$1\" && env -0")
        .arg("sh")
        .arg(file)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    let out = run(command)?;
    Ok(out
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8(entry.to_vec()).ok()?;
            let (k, v) = entry.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect())
}

/// Reads a dotenv file with `loader` (python, node, dotenvx, godotenv).
fn load_dotenv(loader: &str, file: &Path) -> Result<BTreeMap<String, String>, String> {
    let out = reader(loader, "dotenv", file)?;
    serde_json::from_slice(&out).map_err(|e| format!("{loader}: {e}"))
}

/// Runs the reader `name` in `mode` on `file`.
fn reader(name: &str, mode: &str, file: &Path) -> Result<Vec<u8>, String> {
    let peers = repo().join("peers/readers");
    let command = match name {
        "python" | "pyyaml" | "ruamel" => {
            let mut c = Command::new(var("ESC_CSI_READER_PYTHON"));
            c.arg(peers.join("python/read.py"))
                .arg(if name == "python" { mode } else { name });
            c
        }
        "node" | "dotenvx" => {
            let mut c = Command::new("node");
            c.arg(peers.join("node/read.js"))
                .arg(if name == "dotenvx" { name } else { mode })
                .env("NODE_PATH", var("ESC_CSI_READER_NODE_MODULES"));
            c
        }
        "godotenv" | "go" => {
            let mut c = Command::new(var("ESC_CSI_READER_GO"));
            c.arg(mode);
            c
        }
        _ => unreachable!("{name}"),
    };
    let mut command = command;
    command.arg(file);
    run(command)
}

fn shells() -> Vec<String> {
    var("ESC_CSI_READER_SHELLS")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

const LOADERS: [&str; 4] = ["python", "node", "dotenvx", "godotenv"];

/// Keys of `vars` whose value `got` lacks or differs from, with a hint of the difference.
fn wrong(
    vars: &serde_json::Map<String, serde_json::Value>,
    got: &BTreeMap<String, String>,
) -> Vec<String> {
    vars.iter()
        .filter(|(k, v)| got.get(*k).map(String::as_str) != v.as_str())
        .map(|(k, v)| {
            let show = |s: &str| s.chars().take(40).collect::<String>();
            format!(
                "{k}: sent {:?}, read {:?}",
                show(v.as_str().unwrap()),
                got.get(k).map(|s| show(s))
            )
        })
        .collect()
}

#[ignore = "a peer test: needs the readers .ci/readers installs (ESC_CSI_READER_*); .ci/run runs it"]
#[tokio::test]
async fn every_shell_sources_the_whole_env_sh_back_exactly_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("executed");
    let vars = variables(&hard_values(&canary));
    let file = mount(&vars, "shell", dir.path()).await.unwrap();
    let mut failures = Vec::new();
    for shell in shells() {
        match source(&shell, &file) {
            Ok(got) => {
                let wrong = wrong(&vars, &got);
                println!(
                    "{shell}: {} of {} read back",
                    vars.len() - wrong.len(),
                    vars.len()
                );
                if !wrong.is_empty() {
                    failures.push(format!("{shell}: {wrong:#?}"));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(!canary.exists(), "sourcing env.sh executed a value");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[ignore = "a peer test: needs the readers .ci/readers installs (ESC_CSI_READER_*); .ci/run runs it"]
#[tokio::test]
async fn every_dotenv_loader_reads_back_each_value_the_mount_accepts_and_the_rest_are_refused_by_name()
 {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("executed");
    let all = variables(&hard_values(&canary));
    // Each value alone first: refused ones must be refused naming their key.
    let mut accepted = serde_json::Map::new();
    let mut refused = Vec::new();
    for (key, value) in &all {
        let one = [(key.clone(), value.clone())].into_iter().collect();
        match mount(&one, "dotenv", dir.path()).await {
            Ok(_) => {
                accepted.insert(key.clone(), value.clone());
            }
            Err(message) => {
                assert!(message.contains(&format!("\"{key}\"")), "{message}");
                refused.push(value.as_str().unwrap().to_owned());
            }
        }
    }
    println!(
        "{} of {} hard values accepted; refused: {refused:?}",
        accepted.len(),
        all.len()
    );
    // What no quoting carries to python-dotenv, Node's dotenv and godotenv alike (see
    // dotenv::dotenv_form): of the hard values, only `${...}`, which python-dotenv expands.
    assert_eq!(refused, ["${X}", "${X:-default}"]);
    // Every kind of key the rule accepts ([A-Za-z0-9_.]+).
    for key in ["1DIGIT", "a.b.c", "_under", "lower", "export", "Z.9"] {
        accepted.insert(key.to_owned(), json!(key));
    }
    let file = mount(&accepted, "dotenv", dir.path()).await.unwrap();
    let mut failures = Vec::new();
    for loader in LOADERS {
        match load_dotenv(loader, &file) {
            Ok(got) => {
                let wrong = wrong(&accepted, &got);
                println!(
                    "{loader}: {} of {} read back",
                    accepted.len() - wrong.len(),
                    accepted.len()
                );
                if !wrong.is_empty() {
                    failures.push(format!("{loader}: {wrong:#?}"));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(!canary.exists(), "loading .env executed a value");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Characters that quoting trips over, and some plain ones.
fn nasty() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a", "Z", "0", " ", "\t", "\n", "\r", "\r\n", "'", "\"", "`", "$", "${", "}", "$(", ")",
        "\\", "\\n", "#", "=", "é", "😀", "\u{2028}", "\u{a0}", "\u{feff}", "\u{1}", "\u{7f}",
        "export ", "{", ";", "&", "|", "*", "~", "!",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[ignore = "a peer test: needs the readers .ci/readers installs (ESC_CSI_READER_*); .ci/run runs it"]
    #[test]
    fn generated_values_read_back_exactly_from_env_sh_every_accepted_dotenv_value_and_yaml(
        values in prop::collection::vec(nasty(), 1..10)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let vars = variables(&values);
        let rt = runtime();
        let file = rt.block_on(mount(&vars, "shell", dir.path())).unwrap();
        for shell in shells() {
            let got = source(&shell, &file).unwrap();
            prop_assert!(wrong(&vars, &got).is_empty(), "{shell}: {:?}", wrong(&vars, &got));
        }
        let accepted: serde_json::Map<_, _> = vars
            .into_iter()
            .filter(|(_, v)| esc_csi_provider::render::env::dotenv_form(v.as_str().unwrap()).is_ok())
            .collect();
        let file = rt.block_on(mount(&accepted, "dotenv", dir.path())).unwrap();
        for loader in LOADERS {
            let got = load_dotenv(loader, &file).unwrap();
            prop_assert!(wrong(&accepted, &got).is_empty(), "{loader}: {:?}", wrong(&accepted, &got));
        }
        let strings: serde_json::Map<_, _> =
            values.iter().enumerate().map(|(i, v)| (format!("S{i:02}"), json!(v))).collect();
        let file = rt.block_on(mount(&strings, "yaml", dir.path())).unwrap();
        for name in ["pyyaml", "ruamel", "node", "go"] {
            let out = reader(name, "yaml", &file).unwrap();
            let got: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&out).unwrap();
            for (key, sent) in &strings {
                prop_assert_eq!(got.get(key), Some(&json!(["str", sent])), "{} {}", name, key);
            }
        }
    }
}

/// Strings a YAML reader may take for something else, beyond the hard values.
const YAML_WORDS: &[&str] = &[
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Y",
    "NO",
    "~",
    "null",
    "Null",
    "true",
    "False",
    "1_000",
    "0x1F",
    "0o17",
    "017",
    "0b101",
    "1:20",
    "190:20:30",
    ".5",
    "+1",
    "1e3",
    "1.0e+3",
    "1e400",
    ".inf",
    "-.inf",
    ".NaN",
    "2001-12-14",
    "2001-12-14 21:59:43.10 -5",
    "<<",
    "=",
    "-",
    "- a",
    "? x",
    ": x",
    "&a",
    "*a",
    "!tag",
    "%x",
    "@x",
    "|",
    ">",
    "[a]",
    "{a}",
    "a: b",
    "a #b",
    "'q'",
    "\"q\"",
    "a\u{2028}b",
    "\u{85}",
    "\u{feff}x",
    "é\u{a0}",
    "\u{1}",
];

/// Numbers as ESC sends them (JSON), each read back as the same `f64`.
fn yaml_numbers() -> Vec<serde_json::Value> {
    [
        "0",
        "-1",
        "42",
        "9007199254740993",
        "12345678901234567890123",
        "0.1",
        "-2.5",
        "1e22",
        "1.2345678901234568e22",
        "1.5e-7",
        "1e-300",
        "5e-324",
        "1.7976931348623157e308",
        "100.0",
        "-0.0",
    ]
    .into_iter()
    .map(|n| serde_json::from_str(n).unwrap())
    .collect()
}

#[ignore = "a peer test: needs the readers .ci/readers installs (ESC_CSI_READER_*); .ci/run runs it"]
#[tokio::test]
async fn every_yaml_reader_reads_each_number_as_the_number_sent_and_each_string_as_a_string() {
    let dir = tempfile::tempdir().unwrap();
    let mut strings = hard_values(&dir.path().join("unused"));
    strings.extend(YAML_WORDS.iter().map(|s| (*s).to_owned()));
    let mut vars = serde_json::Map::new();
    for (i, s) in strings.iter().enumerate() {
        vars.insert(format!("S{i:03}"), json!(s));
    }
    for (i, n) in yaml_numbers().into_iter().enumerate() {
        vars.insert(format!("N{i:03}"), n);
    }
    vars.insert("T".into(), json!(true));
    vars.insert("F".into(), json!(false));
    vars.insert("Z".into(), json!(null));
    let file = mount(&vars, "yaml", dir.path()).await.unwrap();
    let mut failures = Vec::new();
    for (name, mode) in [
        ("pyyaml", ""),
        ("ruamel", ""),
        ("node", "yaml"),
        ("go", "yaml"),
    ] {
        let got: BTreeMap<String, serde_json::Value> = match reader(name, mode, &file) {
            Ok(out) => serde_json::from_slice(&out).unwrap(),
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let mut right = 0;
        for (key, sent) in &vars {
            let read = got.get(key);
            let same = match (sent, read.and_then(|r| r.as_array())) {
                (serde_json::Value::String(s), Some(r)) => r == &[json!("str"), json!(s)],
                (serde_json::Value::Number(n), Some(r)) if r[0] == "num" => {
                    let read: f64 = r[1].as_str().unwrap().parse().unwrap_or(f64::NAN);
                    read == n.as_f64().unwrap()
                }
                (serde_json::Value::Bool(b), Some(r)) => r == &[json!("bool"), json!(b)],
                (serde_json::Value::Null, Some(r)) => r == &[json!("null")],
                _ => false,
            };
            if same {
                right += 1;
            } else {
                let shown: String = sent.to_string().chars().take(40).collect();
                failures.push(format!("{name}: {key}: sent {shown}, read {read:?}"));
            }
        }
        println!("{name}: {right} of {} read back", vars.len());
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
