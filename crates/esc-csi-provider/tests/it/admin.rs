//! The operator endpoints: readiness follows the provider's socket, health does not, metrics are
//! the registry's text.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use esc_csi_provider::admin;
use esc_csi_provider::metrics::Metrics;
use prometheus_client::registry::Registry;
use support::{Harness, admin_get};

#[tokio::test]
async fn readiness_is_false_before_the_socket_serves_and_true_after() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    let router = admin::router(Arc::new(Registry::default()), socket.clone());

    let (status, body) = admin_get(&router, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body.starts_with(&format!(
            "not ready: cannot connect to {}",
            socket.display()
        )),
        "{body}"
    );
    assert_eq!(
        admin_get(&router, "/healthz").await,
        (200, "ok\n".to_owned())
    );

    // The provider starts serving at that path.
    let h = Harness::start().await;
    std::fs::rename(&h.socket, &socket).unwrap();
    assert_eq!(
        admin_get(&router, "/readyz").await,
        (200, "ok\n".to_owned())
    );
}

#[tokio::test]
async fn metrics_are_the_registrys_text() {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    metrics.mount_finished(
        Err(esc_csi_provider::code::ErrorCode::Unauthenticated),
        Duration::from_millis(4),
    );
    let router = admin::router(Arc::new(registry), "/nonexistent.sock".into());
    let (status, text) = admin_get(&router, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE esc_csi_mounts counter"), "{text}");
    assert!(text.contains("esc_csi_mounts_total{result=\"error\",code=\"Unauthenticated\"} 1\n"));
    assert!(text.ends_with("# EOF\n"));
}
