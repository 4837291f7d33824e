//! The socket is owned: a second daemon on the same path refuses a live socket but replaces a
//! stale one, a daemon removes only its own socket at exit, and liveness fails when the
//! socket is gone or another's.

use crate::support;

use std::sync::{Arc, OnceLock};

use esc_csi_provider::{admin, server};
use prometheus_client::registry::Registry;
use support::{Harness, admin_get};

#[tokio::test]
async fn a_second_daemon_refuses_a_live_socket_and_leaves_it_serving() {
    let h = Harness::start().await;
    let err = server::bind(&h.socket).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(
        err.to_string()
            .contains("is a live socket: another process"),
        "{err}"
    );
    assert!(h.socket.exists());
    support::connect(h.socket.clone())
        .await
        .version(esc_csi_provider::proto::v1alpha1::VersionRequest::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stale_socket_left_by_a_dead_daemon_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulumi.sock");
    // A socket file nothing listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let bound = server::bind(&path).unwrap();
    assert_eq!(bound.socket().check(), Ok(()));
}

#[tokio::test]
async fn a_daemon_removes_only_its_own_socket_and_liveness_fails_when_it_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulumi.sock");
    let first = server::bind(&path).unwrap();
    let ours = first.socket().clone();
    let owned = Arc::new(OnceLock::new());
    owned.set(ours.clone()).unwrap();
    let router = admin::router_owning(Arc::new(Registry::default()), path.clone(), owned);
    assert_eq!(
        admin_get(&router, "/healthz").await,
        (200, "ok\n".to_owned())
    );

    // Someone removes the socket: liveness fails.
    std::fs::remove_file(&path).unwrap();
    let (status, body) = admin_get(&router, "/healthz").await;
    assert_eq!(status, 503);
    assert!(
        body.starts_with("not alive: ") && body.contains("is gone"),
        "{body}"
    );

    // Another daemon serves there now: still not ours, and at exit ours leaves it alone.
    let second = server::bind(&path).unwrap();
    let (status, body) = admin_get(&router, "/healthz").await;
    assert_eq!(status, 503);
    assert!(body.contains("is no longer this daemon's socket"), "{body}");
    ours.remove_if_ours();
    drop(first);
    assert!(
        path.exists(),
        "the second daemon's socket survives the first's exit"
    );
    assert_eq!(second.socket().check(), Ok(()));
}
