//! The operator endpoints: readiness follows the provider's socket, health does not, metrics are
//! the registry's text.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::Request;
use esc_csi_provider::admin;
use esc_csi_provider::metrics::Metrics;
use prometheus_client::registry::Registry;
use support::Harness;
use tower::ServiceExt;

async fn get(router: &axum::Router, path: &str) -> (u16, String) {
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn readiness_is_false_before_the_socket_serves_and_true_after() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    let router = admin::router(Arc::new(Registry::default()), socket.clone());

    let (status, body) = get(&router, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body.starts_with(&format!(
            "not ready: cannot connect to {}",
            socket.display()
        )),
        "{body}"
    );
    assert_eq!(get(&router, "/healthz").await, (200, "ok\n".to_owned()));

    // The provider starts serving at that path.
    let h = Harness::start().await;
    std::fs::rename(&h.socket, &socket).unwrap();
    assert_eq!(get(&router, "/readyz").await, (200, "ok\n".to_owned()));
}

#[tokio::test]
async fn metrics_are_the_registrys_text() {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    metrics.mount_finished(tonic::Code::Unauthenticated, Duration::from_millis(4));
    let router = admin::router(Arc::new(registry), "/nonexistent.sock".into());
    let (status, text) = get(&router, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE esc_csi_mounts counter"), "{text}");
    assert!(text.contains("esc_csi_mounts_total{result=\"error\",code=\"Unauthenticated\"} 1\n"));
    assert!(text.ends_with("# EOF\n"));
}
