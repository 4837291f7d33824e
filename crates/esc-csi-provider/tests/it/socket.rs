//! The socket is owned: a second daemon on the same path refuses a live socket but replaces a
//! stale one, a daemon removes only its own socket at exit, and liveness fails when the
//! socket is gone or another's.

use crate::support;

use std::sync::{Arc, OnceLock};

use esc_csi_provider::{admin, grpc::socket};
use prometheus_client::registry::Registry;
use support::{Harness, admin_get};

#[tokio::test]
async fn a_second_daemon_refuses_a_live_socket_and_leaves_it_serving() {
    let h = Harness::start().await;
    let err = socket::bind(&h.socket).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(
        err.to_string()
            .contains("is a live socket: another process"),
        "{err}"
    );
    assert!(h.socket.exists());
    support::connect(h.socket.clone())
        .await
        .version(esc_csi_provider::grpc::proto::v1alpha1::VersionRequest::default())
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
    let bound = socket::bind(&path).unwrap();
    assert_eq!(bound.socket().check(), Ok(()));
}

#[tokio::test]
async fn a_daemon_removes_only_its_own_socket_and_liveness_fails_when_it_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulumi.sock");
    let first = socket::bind(&path).unwrap();
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
    let second = socket::bind(&path).unwrap();
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

#[tokio::test]
async fn connections_past_the_limit_are_closed_and_a_freed_slot_serves_again() {
    use esc_csi_provider::class::Settings;
    use esc_csi_provider::grpc::ServiceOptions;
    use esc_csi_provider::grpc::proto::v1alpha1::VersionRequest;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;

    let options = ServiceOptions {
        max_connections: 2,
        ..ServiceOptions::default()
    };
    let h = Harness::with(Settings::default(), options).await;
    // The harness's client holds the first slot, a client stuck inside a header frame the
    // second.
    h.client
        .clone()
        .version(VersionRequest::default())
        .await
        .unwrap();
    let mut held = UnixStream::connect(&h.socket).await.unwrap();
    held.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x40\x00\x01\x00\x00\x00\x00\x01")
        .await
        .unwrap();
    // A third is closed as soon as it is accepted.
    let mut third = UnixStream::connect(&h.socket).await.unwrap();
    let _ = third.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    let mut buf = [0u8; 64];
    match third.read(&mut buf).await {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the third connection was served: {other:?}"),
    }
    // The harness's connection still works.
    h.client
        .clone()
        .version(VersionRequest::default())
        .await
        .unwrap();
    // Once the stuck client leaves, its slot serves a new one (the server sees the close
    // asynchronously: a few tries).
    drop(held);
    let mut served = false;
    for _ in 0..200 {
        let mut fresh = UnixStream::connect(&h.socket).await.unwrap();
        let _ = fresh
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await;
        // A served connection answers with the server's SETTINGS frame.
        if matches!(fresh.read(&mut buf).await, Ok(n) if n > 0) {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(served, "no connection was served after a slot was freed");
}
