//! The provider, put together in one place. `esc-csi serve`, `esc-csi mount`, the integration
//! tests' harness and the bench's in-process launcher all call [`Wiring::provider`], so that
//! what is tested and measured is what runs: one ESC client (with the caller's retry policy and
//! the metrics observer) reads environments through the cache *and* makes the token exchanges;
//! auth Secrets are read through their cache; the node-wide memory budget is shared by the
//! service and the client.
//!
//! What stays with each caller is only what differs by nature: where auth Secrets are read
//! (the cluster, a test's stand-in, nowhere), the version key, and the metrics registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use esc_api::{ClientOptions, EscClient, MemoryBudget};

use crate::cache::CacheOptions;
use crate::class::Settings;
use crate::credential::SecretReader;
use crate::credential::cached::CachedSecrets;
use crate::fetch::cached::CachedSource;
use crate::fetch::stale::StaleOptions;
use crate::grpc::socket;
use crate::grpc::{ProviderService, ServiceOptions};
use crate::metrics::Metrics;
use crate::mount::Mounter;
use crate::mount::version::VersionKey;

/// The daemon's largest ESC reply, in bytes (`--max-esc-reply-bytes`): half the client's own
/// default, since the in-flight budget below must hold a reply and its decoding.
pub const DEFAULT_MAX_ESC_REPLY_BYTES: usize = 16 << 20;

/// The daemon's node-wide bound on memory held by mounts (`--max-memory-in-flight`): with the
/// cache's 32 MiB and the baseline, inside the chart's 128 MiB limit.
pub const DEFAULT_MAX_MEMORY_IN_FLIGHT: usize = 48 << 20;

/// Everything that decides how the provider behaves. [`Default`] holds the library's
/// defaults, which are also the CLI's (`esc-csi serve` with no flags).
#[derive(Debug, Clone)]
pub struct Wiring {
    /// What a class may ask for (API URLs, auth, limits).
    pub settings: Settings,
    /// The service's deadline, response and request limits, and the node-wide memory budget,
    /// which the ESC client shares (whatever `client.memory` says).
    pub service: ServiceOptions,
    /// The ESC client: concurrency, reply limits, retries.
    pub client: ClientOptions,
    /// The environment cache; a zero TTL keeps nothing but still coalesces; `None` neither
    /// keeps nor coalesces (tests that script each answer).
    pub environment_cache: Option<CacheOptions>,
    /// The auth Secret cache, likewise.
    pub auth_secret_cache: Option<CacheOptions>,
    /// Re-mounts answered from the pod's last content while ESC is unreachable; `None` for
    /// never.
    pub stale: Option<StaleOptions>,
}

impl Default for Wiring {
    fn default() -> Self {
        Wiring {
            settings: Settings::default(),
            service: ServiceOptions {
                memory: Some(MemoryBudget::new(DEFAULT_MAX_MEMORY_IN_FLIGHT)),
                ..ServiceOptions::default()
            },
            client: ClientOptions {
                max_response_bytes: DEFAULT_MAX_ESC_REPLY_BYTES,
                ..ClientOptions::default()
            },
            environment_cache: Some(CacheOptions::environments()),
            auth_secret_cache: Some(CacheOptions::auth_secrets()),
            stale: None,
        }
    }
}

/// The provider as wired: cached ESC reads, cached auth Secrets from `R`, exchanges with the
/// same ESC client.
pub type Provider<R> = ProviderService<CachedSource<EscClient>, CachedSecrets<R>, EscClient>;

/// A provider that cannot be put together: a start-up error, never a mount's.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot create the HTTP client: {0}")]
    Http(String),
}

impl Wiring {
    /// The provider, reading auth Secrets with `auth_secrets`, versioning files with `key` and
    /// recording into `metrics` (the ESC client reports to it too).
    pub fn provider<R: SecretReader>(
        self,
        auth_secrets: R,
        key: VersionKey,
        metrics: Arc<Metrics>,
    ) -> Result<Provider<R>, WireError> {
        let client = EscClient::new(ClientOptions {
            memory: self.service.memory.clone(),
            ..self.client
        })
        .map_err(|e| WireError::Http(e.to_string()))?
        .with_observer(metrics.clone());
        let source = match self.environment_cache {
            Some(options) => CachedSource::new(client.clone(), options, metrics.clone()),
            None => CachedSource::uncached(client.clone()),
        };
        let auth_secrets = match self.auth_secret_cache {
            Some(options) => CachedSecrets::new(auth_secrets, options, metrics.clone()),
            None => CachedSecrets::uncached(auth_secrets),
        };
        let mut mounter =
            Mounter::new(source, auth_secrets, client, self.settings, key).with_metrics(metrics);
        if let Some(stale) = &self.stale {
            mounter = mounter.with_stale(stale);
        }
        Ok(ProviderService::new(Arc::new(mounter), self.service))
    }
}

/// A provider served on a unix socket by a task of this process (`esc-csi mount`, the tests'
/// harness, the bench): stopped when dropped.
#[derive(Debug)]
pub struct Background {
    socket: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl Background {
    /// Binds `socket` (see [`socket::bind`]) and serves `provider` on it.
    pub fn start<R: SecretReader>(
        provider: Provider<R>,
        socket: &Path,
    ) -> std::io::Result<Background> {
        let listener = socket::bind(socket)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(socket::serve(listener, provider, async {
            let _ = stopped.await;
        }));
        Ok(Background {
            socket: socket.to_owned(),
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops serving, letting calls in flight finish, and says how serving ended.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
