//! `esc-csi esc-server` as a user runs it: flags from the environment, the URL in the log,
//! our client reading through it, and a clean stop on SIGTERM with no token in the logs.

use crate::support;

use std::time::Duration;

use std::process::Command;

use support::{BIN, Process};

const TOKEN: &str = "pul-cli-test-token-77aa";

/// `esc-csi esc-server` over `dir`, on a free loopback port.
fn start(dir: &std::path::Path, envs: &[(&str, &str)]) -> Process {
    let mut envs = envs.to_vec();
    let dir = dir.to_str().unwrap();
    envs.push(("ESC_CSI_ESC_SERVER_ENVIRONMENTS", dir));
    Process::spawn(&["esc-server", "--listen", "127.0.0.1:0"], &envs)
}

/// Reads log lines until the listening line; returns its URL.
fn url(server: &mut Process) -> String {
    let line = server.wait_for("esc-server listening");
    let start = line.find("http://").expect("a URL in the log line");
    line[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn the_server_serves_our_client_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shop")).unwrap();
    std::fs::write(
        dir.path().join("shop/dev.yaml"),
        "values: {greeting: hello}\n",
    )
    .unwrap();
    let tokens = format!("other-token,{TOKEN}");
    let mut server = start(dir.path(), &[("ESC_CSI_ESC_SERVER_TOKENS", &tokens)]);
    let url = url(&mut server);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(url.ends_with("/api/esc"), "{url}");

    let client = esc_api::EscClient::new(esc_api::ClientOptions::default()).unwrap();
    let env = esc_api::EnvironmentRef {
        organization: "acme".into(),
        project: "shop".into(),
        environment: "dev".into(),
        version: None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let api = url.parse().unwrap();
    let value = client
        .open_and_read(&api, &env, &TOKEN.into(), deadline)
        .await
        .unwrap();
    let greeting = esc_path::PropertyPath::parse("greeting").unwrap();
    assert_eq!(
        greeting.resolve(&value).unwrap().value.data,
        esc_api::Data::String("hello".into())
    );
    let refused = client
        .open_and_read(&api, &env, &"wrong".into(), deadline)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");

    let (success, logs) = server.stop();
    assert!(success, "{logs}");
    assert!(logs.contains("SIGTERM: shutting down"), "{logs}");
    assert!(logs.contains("esc-server stopped"), "{logs}");
    assert!(!logs.contains("any token is accepted"), "{logs}");
    assert!(!logs.contains(TOKEN), "{logs}");
}

#[tokio::test]
async fn without_a_token_the_server_warns_that_any_token_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &[]);
    url(&mut server);
    let (success, logs) = server.stop();
    assert!(success, "{logs}");
    assert!(
        logs.contains("no --token configured: any token is accepted"),
        "{logs}"
    );
}

#[test]
fn a_missing_folder_is_refused_with_the_reason() {
    let output = Command::new(BIN)
        .args(["esc-server", "--environments", "/nonexistent/esc-envs"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the environments folder /nonexistent/esc-envs"),
        "{stderr}"
    );
}

#[test]
fn an_empty_token_is_refused_by_the_parser() {
    let output = Command::new(BIN)
        .args(["esc-server", "--environments", ".", "--token", " "])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a token cannot be empty"), "{stderr}");
}
