//! The `esc-csi` binary as an operator runs it: flags and their environment variables, the
//! socket's life cycle, exact error text, and a mount through the real daemon with a
//! kubeconfig pointing at the Kubernetes stand-in.

use crate::support;

use esc_csi_provider::grpc::dialer::connect;
use esc_csi_provider::grpc::proto::v1alpha1::{MountRequest, VersionRequest};
use esc_csi_testkit::{FakeEsc, FakeKube};
use support::{Daemon, esc_csi, stderr};

#[test]
fn version_prints_the_crate_version() {
    let output = esc_csi(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("esc-csi {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_help_lists_every_flag_with_its_environment_variable() {
    let output = esc_csi(&["serve", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, env) in [
        ("--endpoint", "ESC_CSI_ENDPOINT"),
        (
            "--allow-cross-namespace-auth",
            "ESC_CSI_ALLOW_CROSS_NAMESPACE_AUTH",
        ),
        ("--api-url", "ESC_CSI_API_URL"),
        ("--allow-insecure-api-url", "ESC_CSI_ALLOW_INSECURE_API_URL"),
        ("--mount-timeout", "ESC_CSI_MOUNT_TIMEOUT"),
        ("--max-response-bytes", "ESC_CSI_MAX_RESPONSE_BYTES"),
        ("--version-key-file", "ESC_CSI_VERSION_KEY_FILE"),
        ("--metrics-addr", "ESC_CSI_METRICS_ADDR"),
        ("--health-addr", "ESC_CSI_HEALTH_ADDR"),
        ("--shutdown-grace", "ESC_CSI_SHUTDOWN_GRACE"),
        ("--cache-ttl", "ESC_CSI_CACHE_TTL"),
        ("--cache-max-entries", "ESC_CSI_CACHE_MAX_ENTRIES"),
        ("--cache-max-bytes", "ESC_CSI_CACHE_MAX_BYTES"),
        ("--auth-secret-cache-ttl", "ESC_CSI_AUTH_SECRET_CACHE_TTL"),
        (
            "--max-concurrent-requests",
            "ESC_CSI_MAX_CONCURRENT_REQUESTS",
        ),
        ("--serve-stale-on-error", "ESC_CSI_SERVE_STALE_ON_ERROR"),
        ("--log-level", "ESC_CSI_LOG_LEVEL"),
        ("--log-format", "ESC_CSI_LOG_FORMAT"),
    ] {
        assert!(help.contains(flag), "{flag} missing from help");
        assert!(help.contains(env), "{env} missing from help");
    }
}

#[test]
fn a_bad_log_level_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("s.sock");
    let output = esc_csi(&[
        "serve",
        "--endpoint",
        socket.to_str().unwrap(),
        "--log-level",
        "loud",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "esc-csi: error: --log-level \"loud\" is not a level (error, warn, info, debug, trace, \
         off) or a filter such as \"info,esc_csi_provider=debug\"\n"
    );
}

#[test]
fn a_bad_duration_is_refused_by_the_parser() {
    let output = esc_csi(&["serve", "--mount-timeout", "30"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "invalid value '30' for '--mount-timeout <MOUNT_TIMEOUT>': \"30\" needs a unit: ms, s, m or h"
        ),
        "{}",
        stderr(&output)
    );
}

/// Every duration flag of every subcommand, with the arguments it needs to get past parsing.
const DURATION_FLAGS: &[(&[&str], &str)] = &[
    (&["serve"], "--mount-timeout"),
    (&["serve"], "--shutdown-grace"),
    (&["serve"], "--cache-ttl"),
    (&["serve"], "--auth-secret-cache-ttl"),
    (&["serve"], "--serve-stale-on-error"),
    (&["mount", "class.yaml", "--target", "mnt"], "--timeout"),
    (
        &["esc-server", "--environments", "."],
        "--default-open-duration",
    ),
    (
        &["esc-server", "--environments", "."],
        "--max-open-duration",
    ),
    (&["esc-server", "--environments", "."], "--evaluation-wait"),
];

/// The rows of docs/cli.md's durations table: (text, error).
fn documented_duration_errors() -> Vec<(String, String)> {
    let page = std::fs::read_to_string(support::workspace().join("docs/cli.md")).unwrap();
    let section = page.split("## Durations").nth(1).unwrap();
    let rows: Vec<(String, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with("| text |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l
                .split(" | ")
                .map(|c| c.trim_matches(['|', ' ', '`']))
                .collect();
            (cells[0].to_owned(), cells[1].to_owned())
        })
        .collect();
    assert!(rows.len() >= 5, "{rows:?}");
    rows
}

#[test]
fn every_duration_flag_refuses_a_bad_duration_with_the_documented_error() {
    for (text, error) in documented_duration_errors() {
        for (command, flag) in DURATION_FLAGS {
            // `--flag=-1h`, so that clap does not take `-1h` for a flag.
            let arg = format!("{flag}={text}");
            let mut args = command.to_vec();
            args.push(&arg);
            let output = esc_csi(&args);
            assert_eq!(output.status.code(), Some(2), "{args:?}");
            let stderr = stderr(&output);
            assert!(
                stderr.contains(&format!("for '{flag} <"))
                    && stderr.contains(&format!("': {error}\n")),
                "{args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn every_duration_flag_reads_go_s_syntax() {
    // A bad log level is refused after parsing: reaching it means the duration was read.
    for text in ["1h30m", "1.5h", "90s", "300ms", "0", "2h45m10s"] {
        for (command, flag) in DURATION_FLAGS {
            let mut args = vec!["--log-level", "loud"];
            args.extend_from_slice(command);
            args.extend([flag, text]);
            let stderr = stderr(&esc_csi(&args));
            assert!(
                stderr.starts_with("esc-csi: error: --log-level \"loud\""),
                "{args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn esc_server_reads_1h30m_as_ninety_minutes() {
    // The default over the maximum is refused with both values: 2h is over 1h30m, 90m is not.
    let output = esc_csi(&[
        "esc-server",
        "--environments",
        ".",
        "--max-open-duration",
        "1h30m",
        "--default-open-duration",
        "2h",
    ]);
    assert!(
        stderr(&output)
            .contains("the default open duration 7200s is longer than the maximum 5400s"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_short_version_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, b"short").unwrap();
    let socket = dir.path().join("s.sock");
    let output = esc_csi(&[
        "serve",
        "--endpoint",
        socket.to_str().unwrap(),
        "--version-key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "esc-csi: error: version key file {}: the version key must be at least 32 bytes, not 5\n",
            key.display()
        )
    );
    assert!(!socket.exists());
}

#[test]
fn serve_refuses_to_replace_a_file_that_is_not_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulumi.sock");
    std::fs::write(&path, b"precious").unwrap();
    let output = esc_csi(&["serve", "--endpoint", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).lines().last().unwrap(),
        format!(
            "esc-csi: error: cannot listen on {0}: {0} exists and is not a socket; refusing to replace it",
            path.display()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_creates_the_folder_replaces_a_stale_socket_and_removes_it_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("providers").join("pulumi.sock");
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    // A socket left behind by a killed process.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());

    let daemon = Daemon::start(&socket, &[("ESC_CSI_LOG_FORMAT", "json")], &[]);
    let mut client = connect(socket.clone()).await.unwrap();
    let version = client
        .version(VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.runtime_name, "esc-csi");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let output = daemon.terminate();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!socket.exists(), "the socket must be removed on shutdown");
    let logs = stderr(&output);
    let first: serde_json::Value = serde_json::from_str(logs.lines().next().unwrap()).unwrap();
    assert_eq!(first["level"], "WARN");
    assert!(
        logs.contains("\"message\":\"esc-csi provider listening\""),
        "{logs}"
    );
    assert!(logs.contains("SIGTERM: shutting down"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_serve_on_a_live_socket_fails_and_the_first_keeps_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    let first = Daemon::start(&socket, &[], &[]);
    let second = esc_csi(&["serve", "--endpoint", socket.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second)
            .contains("is a live socket: another process (another esc-csi?) is serving on it"),
        "{}",
        stderr(&second)
    );
    assert!(
        socket.exists(),
        "the second daemon must not remove the first's socket"
    );
    let mut client = connect(socket.clone()).await.unwrap();
    client
        .version(VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .unwrap();
    let output = first.terminate();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!socket.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_mounts_with_a_token_read_through_the_kubeconfig() {
    let esc = FakeEsc::start().await;
    esc.accept_token("t0k3n");
    esc.set(
        "acme/app/prod",
        serde_json::json!({"app": {"hello": "world"}}),
    );
    let kube = FakeKube::start().await;
    kube.put_secret("team", "pulumi-creds", &[("pulumi-access-token", "t0k3n")]);

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = esc_csi_testkit::kubeconfig(dir.path(), &kube.url()).unwrap();
    let socket = dir.path().join("pulumi.sock");
    let daemon = Daemon::start(
        &socket,
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("ESC_CSI_API_URL", &esc.url()),
        ],
        &[],
    );
    let attributes = serde_json::json!({
        "organization": "acme",
        "project": "app",
        "environment": "prod",
        "authSecretName": "pulumi-creds",
        "secrets": "- fileName: hello\n  secretKey: app.hello\n  mode: \"0440\"\n",
        "secretProviderClass": "demo",
        "csi.storage.k8s.io/pod.name": "web-0",
        "csi.storage.k8s.io/pod.namespace": "team",
        "csi.storage.k8s.io/pod.uid": "u-1",
        "csi.storage.k8s.io/serviceAccount.name": "default",
        "csi.storage.k8s.io/ephemeral": "true",
    })
    .to_string();
    let response = connect(socket.clone())
        .await
        .unwrap()
        .mount(MountRequest {
            attributes,
            secrets: "{}".into(),
            target_path: "/t".into(),
            permission: "420".into(),
            current_object_version: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.files.len(), 1);
    assert_eq!(response.files[0].path, "hello");
    assert_eq!(response.files[0].mode, 0o440);
    assert_eq!(response.files[0].contents.as_ref(), b"world");
    assert_eq!(
        kube.calls()[0].path,
        "/api/v1/namespaces/team/secrets/pulumi-creds"
    );

    let output = daemon.terminate();
    assert!(output.status.success());
    let logs = stderr(&output);
    assert!(!logs.contains("t0k3n"), "{logs}");
    assert!(logs.contains("mounted"), "{logs}");
    assert!(logs.contains("pod=web-0"), "{logs}");
    assert!(logs.contains("outcome=mounted"), "{logs}");
    assert!(logs.contains("elapsed_ms="), "{logs}");
}
