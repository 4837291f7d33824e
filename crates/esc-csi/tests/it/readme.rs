//! The README's quick start stays true: its first command mounts the bundled example and its
//! second is the test command CI runs.

use std::process::Command;

use crate::support::{BIN, CARGO_RUN, workspace};

/// The shell commands of the README's quick start, in order.
fn quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme
        .split("\n## Quick start\n")
        .nth(1)
        .expect("the README has a Quick start section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim().to_owned())
        .collect()
}

#[test]
fn the_readme_first_command_mounts_the_bundled_example() {
    let commands = quick_start();
    let first = commands[0]
        .strip_prefix(CARGO_RUN)
        .unwrap_or_else(|| panic!("the first command runs the binary: {}", commands[0]));
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = first.split_whitespace().map(str::to_owned).collect();
    // Same command, but the files land in a temporary folder rather than in the checkout.
    let target = args.iter().position(|a| a == "--target").unwrap() + 1;
    args[target] = dir.path().join("mnt").display().to_string();
    let output = Command::new(BIN)
        .args(&args)
        .current_dir(workspace())
        .env_remove("PULUMI_ACCESS_TOKEN")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("FILE "), "{stdout}");
    assert!(
        stdout.contains(": 6 new, 0 changed, 0 unchanged, 0 removed\n"),
        "{stdout}"
    );
    let url = std::fs::read_to_string(dir.path().join("mnt/database-url")).unwrap();
    assert_eq!(
        url,
        "postgres://checkout:correct-horse-battery-staple@db.internal.example.com:5432/checkout"
    );
}

#[test]
fn the_readme_second_command_is_the_test_command_ci_runs() {
    let commands = quick_start();
    assert_eq!(commands[1], "cargo test --workspace");
    let ci = std::fs::read_to_string(workspace().join(".ci/run")).unwrap();
    assert!(ci.contains("cargo test --workspace --locked"));
}
