//! The operator's HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (the process
//! answers and its socket is still its own) and `/readyz` (the provider answers a real `Version` call on its own socket, as
//! the driver would make it).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::grpc::dialer::connect;
use crate::grpc::proto::v1alpha1::VersionRequest;
use crate::grpc::socket::SocketFile;

/// How long `/readyz` waits for the provider's answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Admin {
    registry: Arc<Registry>,
    socket: PathBuf,
    /// The socket file the daemon created, once it has.
    owned: Arc<OnceLock<SocketFile>>,
}

/// The endpoints, for the registry the provider records into and the socket it serves on.
pub fn router(registry: Arc<Registry>, socket: PathBuf) -> Router {
    router_owning(registry, socket, Arc::default())
}

/// As [`router`], with `/healthz` failing once the socket set in `owned` is gone or replaced:
/// a daemon nobody can reach is not alive, and a restart brings its socket back.
pub fn router_owning(
    registry: Arc<Registry>,
    socket: PathBuf,
    owned: Arc<OnceLock<SocketFile>>,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Arc::new(Admin {
            registry,
            socket,
            owned,
        }))
}

async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &admin.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response(),
    }
}

async fn healthz(State(admin): State<Arc<Admin>>) -> Response {
    match admin.owned.get().map(SocketFile::check) {
        None | Some(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Some(Err(reason)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not alive: {reason}\n"),
        )
            .into_response(),
    }
}

async fn readyz(State(admin): State<Arc<Admin>>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, version(admin.socket.clone())).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(reason)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: no Version answer within {READY_TIMEOUT:?}\n"),
        )
            .into_response(),
    }
}

async fn version(socket: PathBuf) -> Result<(), String> {
    let shown = socket.display().to_string();
    let mut client = connect(socket)
        .await
        .map_err(|e| format!("cannot connect to {shown}: {e}"))?;
    client
        .version(VersionRequest {
            version: "v1alpha1".to_owned(),
        })
        .await
        .map(|_| ())
        .map_err(|status| format!("Version failed on {shown}: {}", status.message()))
}
