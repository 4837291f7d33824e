//! Running the daemon: metrics, health and readiness endpoints, and shutdown with in-flight
//! mounts (grace period, second signal).

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use esc_csi_provider::grpc::dialer::connect;
use esc_csi_provider::grpc::proto::v1alpha1::{MountRequest, MountResponse, VersionRequest};
use esc_csi_testkit::{FakeEsc, Fault};
use serde_json::json;
use support::{Daemon, free_port, http_get, stderr};

const TOKEN: &str = "t0k3n-ops";

fn request() -> MountRequest {
    support::mount_request(TOKEN)
}

async fn mount(socket: &Path) -> Result<MountResponse, tonic::Status> {
    let mut client = connect(socket.to_owned()).await.unwrap();
    client
        .mount(request())
        .await
        .map(tonic::Response::into_inner)
}

async fn esc() -> FakeEsc {
    let esc = FakeEsc::start().await;
    esc.set("acme/app/prod", json!({"app": {"hello": "world"}}));
    esc
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_metrics_are_served_and_both_probes_follow_the_socket() {
    let esc = esc().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    let (metrics, health) = (free_port(), free_port());
    let daemon = Daemon::start(
        &socket,
        &[("ESC_CSI_API_URL", &esc.url())],
        &[
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
            "--health-addr",
            &format!("127.0.0.1:{health}"),
        ],
    );
    assert_eq!(http_get(health, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(http_get(health, "/readyz"), (200, "ok\n".to_owned()));

    mount(&socket).await.unwrap();
    let (status, text) = http_get(metrics, "/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains("esc_csi_mounts_total{result=\"success\",code=\"OK\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("esc_csi_mount_duration_seconds_count{result=\"success\"} 1\n"));
    assert!(text.contains("esc_csi_mounts_in_flight 0\n"));
    // The ESC client and the cache record into the same, exported registry.
    assert!(
        text.contains("esc_csi_esc_requests_total{endpoint=\"open\",status=\"200\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("esc_csi_esc_requests_total{endpoint=\"read\",status=\"200\"} 1\n"));
    assert!(
        text.contains("esc_csi_cache_requests_total{cache=\"environment\",result=\"miss\"} 1\n")
    );
    assert!(!text.contains(TOKEN) && !text.contains("world"));

    // Someone removes the socket: the driver could no longer reach us, so we are neither
    // ready nor alive (a restart brings the socket back).
    std::fs::remove_file(&socket).unwrap();
    let (status, body) = http_get(health, "/readyz");
    assert_eq!(status, 503);
    assert!(body.starts_with("not ready: cannot connect to "), "{body}");
    let (status, body) = http_get(health, "/healthz");
    assert_eq!(status, 503);
    assert!(
        body.starts_with("not alive: ") && body.contains("is gone"),
        "{body}"
    );
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_in_flight_mount_finishes_after_sigterm_within_the_grace_period() {
    let esc = esc().await;
    esc.push_fault(Fault::Delay(Duration::from_millis(700)));
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    let daemon = Daemon::start(&socket, &[("ESC_CSI_API_URL", &esc.url())], &[]);
    let in_flight = tokio::spawn({
        let socket = socket.clone();
        async move { mount(&socket).await }
    });
    while esc.calls().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.signal("-TERM");
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.files[0].contents.as_ref(), b"world");
    let output = tokio::task::spawn_blocking(move || daemon.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!socket.exists());
    let logs = stderr(&output);
    assert!(logs.contains("SIGTERM: shutting down"), "{logs}");
    assert!(logs.contains("esc-csi provider stopped"), "{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grace_period_bounds_shutdown_and_a_second_signal_ends_it_at_once() {
    for second_signal in [false, true] {
        let esc = esc().await;
        esc.push_fault(Fault::Delay(Duration::from_secs(60)));
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pulumi.sock");
        let grace = if second_signal { "60s" } else { "300ms" };
        let daemon = Daemon::start(
            &socket,
            &[("ESC_CSI_API_URL", &esc.url())],
            &["--shutdown-grace", grace],
        );
        let in_flight = tokio::spawn({
            let socket = socket.clone();
            async move { mount(&socket).await }
        });
        while esc.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        daemon.signal("-TERM");
        if second_signal {
            tokio::time::sleep(Duration::from_millis(200)).await;
            daemon.signal("-INT");
        }
        let output = tokio::task::spawn_blocking(move || daemon.wait(Duration::from_secs(20)))
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "stopped without waiting for the 60 s call"
        );
        assert!(output.status.success());
        assert!(
            !socket.exists(),
            "the socket is removed even when mounts are cut"
        );
        let logs = stderr(&output);
        let expected = if second_signal {
            "SIGINT again: stopping at once"
        } else {
            "grace period over with mounts still in flight"
        };
        assert!(logs.contains(expected), "{logs}");
        assert!(in_flight.await.unwrap().is_err(), "the cut mount fails");
    }
}

/// Whether `Version` is answered on a new connection within a second.
async fn answers_version(socket: &Path) -> bool {
    let ask = async {
        let mut client = connect(socket.to_owned()).await.ok()?;
        let request = VersionRequest {
            version: "v1alpha1".into(),
        };
        client.version(request).await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), ask).await,
        Ok(Some(_))
    )
}

/// A daemon whose every thread is stuck cannot stop itself: here each one that logs blocks in
/// a write to stderr, a pipe nobody drains (as when the container runtime's log reader
/// stalls), so mounts hang, `Version` goes unanswered and even the orderly stop, which logs
/// the signal, never runs. The signal thread must still end the process once the grace period
/// and the stop's margin have passed, and remove its socket.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_the_daemon_after_its_grace_period_even_when_every_thread_is_stuck() {
    let esc = esc().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    // `Daemon` pipes stderr and reads it only once the process has exited.
    let daemon = Daemon::start(
        &socket,
        &[("ESC_CSI_API_URL", &esc.url())],
        &["--shutdown-grace", "1s"],
    );
    // Each mount logs a line; once the pipe is full, a mount that does not answer has a
    // worker stuck in its log line. Stuck when `Version` goes unanswered too.
    let mut client = connect(socket.clone()).await.unwrap();
    let mut mounts = 0;
    loop {
        mounts += 1;
        assert!(mounts < 100_000, "the daemon never stalled on its logs");
        let mut c = client.clone();
        let mount = tokio::spawn(async move { c.mount(request()).await });
        if tokio::time::timeout(Duration::from_millis(500), mount)
            .await
            .is_ok()
        {
            continue;
        }
        if !answers_version(&socket).await {
            break;
        }
        // A worker is stuck, not all: the next mount, on a new connection, goes to another.
        client = connect(socket.clone()).await.unwrap();
    }
    let started = Instant::now();
    daemon.signal("-TERM");
    let output = tokio::task::spawn_blocking(move || daemon.wait(Duration::from_secs(30)))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(1),
        "ended by the signal thread, not by the orderly stop (after {mounts} mounts)"
    );
    assert!(
        took >= Duration::from_secs(1),
        "not before the grace period: {took:?}"
    );
    assert!(!socket.exists(), "the signal thread removes the socket");
}
