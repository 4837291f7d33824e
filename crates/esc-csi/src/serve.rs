//! `esc-csi serve`: the node daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::JoinHandle;

use esc_csi_provider::compose::WireError;
use esc_csi_provider::credential::kube::KubeSecrets;
use esc_csi_provider::metrics::Metrics;
use esc_csi_provider::{admin, grpc::socket};
use prometheus_client::registry::Registry;

use crate::cli::ServeArgs;
use crate::signals::{Forwarded, Signals};
use crate::version_key::{KeyError, version_key};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} for metrics and health: {source}")]
    BindAdmin {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install the signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("the gRPC server stopped unexpectedly: {0}")]
    Task(String),
}

/// Time for the orderly stop after the grace period (aborting the server, removing the
/// socket, the runtime's own shutdown) before the signal thread exits the process.
const SHUTDOWN_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

pub(crate) async fn run(args: ServeArgs) -> Result<(), ServeError> {
    // The socket, once bound: the signal thread removes it if it has to end the process.
    let owned = Arc::new(std::sync::OnceLock::<socket::SocketFile>::new());
    // The grace period, then a margin for the orderly stop below; past it the signal thread
    // ends the process, whatever is still running.
    let deadline = args.shutdown_grace.saturating_add(SHUTDOWN_MARGIN);
    let mut signals = Signals::on_own_thread(deadline, {
        let owned = owned.clone();
        move || {
            if let Some(socket) = owned.get() {
                socket.remove_if_ours();
            }
        }
    })
    .map_err(ServeError::Signals)?;
    let key = version_key(args.version_key_file.as_ref())?;
    // Recorded by the caches and the ESC client as well as the mounts.
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let secrets = KubeSecrets::from_environment().await;
    if let Some(reason) = secrets.unavailable_reason() {
        tracing::warn!(
            reason,
            "no Kubernetes API access: classes that use authSecretName will fail; \
             nodePublishSecretRef still works"
        );
    }
    let wiring = args.wiring();
    esc_csi_provider::metrics::collectors::register(
        &mut registry,
        env!("CARGO_PKG_VERSION"),
        wiring.service.memory.clone(),
    );
    let service = wiring.provider(secrets, key, metrics)?;
    let admin = admin::router_owning(Arc::new(registry), args.endpoint.clone(), owned.clone());
    let admin_tasks = serve_admin(&admin, [args.metrics_addr, args.health_addr]).await?;

    let listener = socket::bind(&args.endpoint).map_err(|source| ServeError::Bind {
        path: args.endpoint.clone(),
        source,
    })?;
    let socket = listener.socket().clone();
    let _ = owned.set(socket.clone());
    tracing::info!(
        endpoint = %args.endpoint.display(),
        version = esc_csi_provider::grpc::RUNTIME_VERSION,
        "esc-csi provider listening"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(socket::serve(listener, service, async {
        let _ = stopped.await;
    }));
    let result = until_stopped(serving, stop, &mut signals, args.shutdown_grace).await;
    for task in admin_tasks {
        task.abort();
    }
    // An aborted server never reached its own cleanup; another daemon's socket stays.
    socket.remove_if_ours();
    match result {
        Ok(Ok(())) => {
            tracing::info!("esc-csi provider stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(ServeError::Serve(e)),
        Err(e) => Err(ServeError::Task(e.to_string())),
    }
}

/// Serves the metrics and health endpoints on each distinct address given.
async fn serve_admin(
    admin: &axum::Router,
    addrs: [Option<SocketAddr>; 2],
) -> Result<Vec<JoinHandle<std::io::Result<()>>>, ServeError> {
    let mut distinct: Vec<SocketAddr> = Vec::new();
    for addr in addrs.into_iter().flatten() {
        if !distinct.contains(&addr) {
            distinct.push(addr);
        }
    }
    let mut tasks = Vec::new();
    for addr in distinct {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::BindAdmin { addr, source })?;
        let addr = listener.local_addr().unwrap_or(addr);
        tracing::info!(%addr, "metrics and health endpoints listening");
        let router = admin.clone();
        tasks.push(tokio::spawn(
            async move { axum::serve(listener, router).await },
        ));
    }
    Ok(tasks)
}

/// Waits for the server to end or for a signal; after a signal, in-flight mounts get `grace`
/// to finish, and a second signal stops them at once.
async fn until_stopped<T>(
    mut serving: JoinHandle<Result<(), T>>,
    stop: tokio::sync::oneshot::Sender<()>,
    signals: &mut Forwarded,
    grace: std::time::Duration,
) -> Result<Result<(), T>, tokio::task::JoinError> {
    tokio::select! {
        result = &mut serving => result,
        name = signals.recv() => {
            tracing::info!(
                grace = ?grace,
                "{name}: shutting down; in-flight mounts may finish within the grace period"
            );
            let _ = stop.send(());
            tokio::select! {
                result = &mut serving => result,
                () = tokio::time::sleep(grace) => {
                    tracing::warn!("grace period over with mounts still in flight: stopping them");
                    serving.abort();
                    Ok(Ok(()))
                }
                name = signals.recv() => {
                    tracing::warn!("{name} again: stopping at once");
                    serving.abort();
                    Ok(Ok(()))
                }
            }
        }
    }
}
