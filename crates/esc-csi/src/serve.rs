//! `esc-csi serve`: the node daemon.

use std::path::PathBuf;
use std::sync::Arc;

use esc_api::{ClientOptions, EscClient};
use esc_csi_provider::cache::{CacheOptions, CachedSecrets, CachedSource};
use esc_csi_provider::class::Settings;
use esc_csi_provider::grpc::{ProviderService, ServiceOptions};
use esc_csi_provider::kube_secrets::KubeSecrets;
use esc_csi_provider::metrics::Metrics;
use esc_csi_provider::stale::StaleOptions;
use esc_csi_provider::{Mounter, server};

use crate::cli::ServeArgs;
use crate::keys::{KeyError, version_key};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error(transparent)]
    Key(#[from] KeyError),
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
    // Recorded by the caches and the ESC client as well as the mounts.
    let metrics = Arc::new(Metrics::default());
    let client = EscClient::new(ClientOptions {
        max_concurrent_requests: args.max_concurrent_requests,
        ..ClientOptions::default()
    })
    .map_err(|e| ServeError::Http(e.to_string()))?
    .with_observer(metrics.clone());
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
    let cache = CacheOptions {
        ttl: args.cache_ttl,
        max_entries: args.cache_max_entries,
        max_bytes: args.cache_max_bytes,
    };
    let source = CachedSource::new(client, cache.clone(), metrics.clone());
    let secrets = CachedSecrets::new(
        secrets,
        CacheOptions {
            ttl: args.auth_secret_cache_ttl,
            ..CacheOptions::auth_secrets()
        },
        metrics.clone(),
    );
    let mut mounter = Mounter::new(source, secrets, settings, key).with_metrics(metrics);
    if let Some(max_age) = args.serve_stale_on_error {
        mounter = mounter.with_stale(&StaleOptions {
            max_age,
            max_entries: cache.max_entries,
            max_bytes: cache.max_bytes,
        });
    }
    let mounter = Arc::new(mounter);
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
