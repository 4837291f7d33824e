//! `esc-csi serve`: the node daemon.

use std::path::PathBuf;
use std::sync::Arc;

use esc_api::{ClientOptions, EscClient};
use esc_csi_provider::class::Settings;
use esc_csi_provider::grpc::{ProviderService, ServiceOptions};
use esc_csi_provider::kube_secrets::KubeSecrets;
use esc_csi_provider::version::VersionKey;
use esc_csi_provider::{Mounter, server};

use crate::cli::ServeArgs;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error("cannot read the version key file {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("version key file {path}: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("cannot make a version key: the system random source failed")]
    Random,
    #[error("cannot create the HTTP client: {0}")]
    Http(String),
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let key = version_key(args.version_key_file.as_ref())?;
    let client =
        EscClient::new(ClientOptions::default()).map_err(|e| ServeError::Http(e.to_string()))?;
    let secrets = KubeSecrets::from_environment().await;
    if let Some(reason) = secrets.unavailable_reason() {
        tracing::warn!(
            reason,
            "no Kubernetes API access: classes that use authSecretName will fail; \
             nodePublishSecretRef still works"
        );
    }
    let settings = Settings {
        default_api_url: args.api_url,
        allow_cross_namespace_auth: args.allow_cross_namespace_auth,
        allow_insecure_api_url: args.allow_insecure_api_url,
    };
    let mounter = Arc::new(Mounter::new(client, secrets, settings, key));
    let service = ProviderService::new(
        mounter,
        ServiceOptions {
            mount_timeout: args.mount_timeout,
            max_response_bytes: args.max_response_bytes,
        },
    );
    let listener = server::bind(&args.endpoint).map_err(|source| ServeError::Bind {
        path: args.endpoint.clone(),
        source,
    })?;
    tracing::info!(
        endpoint = %args.endpoint.display(),
        version = esc_csi_provider::grpc::RUNTIME_VERSION,
        "esc-csi provider listening"
    );
    server::serve(listener, service, shutdown_signal()).await?;
    tracing::info!("esc-csi provider stopped");
    Ok(())
}

fn version_key(path: Option<&PathBuf>) -> Result<VersionKey, ServeError> {
    let Some(path) = path else {
        return VersionKey::random().map_err(|_| ServeError::Random);
    };
    let bytes = std::fs::read(path).map_err(|source| ServeError::ReadKey {
        path: path.clone(),
        source,
    })?;
    VersionKey::from_bytes(&bytes).map_err(|message| ServeError::BadKey {
        path: path.clone(),
        message,
    })
}

/// SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}
