//! Auth Secrets kept and shared ([`CachedSecrets`], a [`SecretReader`] decorator over the one
//! [`Store`]).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::cache::{CacheOptions, Store};
use crate::credential::{AuthError, SecretReader};
use crate::metrics::Metrics;

/// A [`SecretReader`] that caches and coalesces another's reads, by namespace, name and key.
/// Errors are not kept, `NotFound` included: a Secret created after the pod must be seen at
/// the driver's next try.
#[derive(Debug)]
pub struct CachedSecrets<R> {
    inner: R,
    /// `None`: every read goes through, uncounted (see [`CachedSecrets::uncached`]).
    store: Option<Store<(String, String, String), SecretString, AuthError>>,
    metrics: Arc<Metrics>,
}

impl<R: SecretReader> CachedSecrets<R> {
    pub fn new(inner: R, options: CacheOptions, metrics: Arc<Metrics>) -> Self {
        metrics.cache_limit("auth_secret", options.max_bytes);
        metrics.cache_size("auth_secret", 0, 0);
        CachedSecrets {
            inner,
            store: Some(Store::new(options)),
            metrics,
        }
    }

    /// Neither keeps nor coalesces: for tests that script each of Kubernetes' answers.
    pub fn uncached(inner: R) -> Self {
        CachedSecrets {
            inner,
            store: None,
            metrics: Arc::default(),
        }
    }
}

impl<R: SecretReader> SecretReader for CachedSecrets<R> {
    async fn read_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        deadline: Instant,
    ) -> Result<SecretString, AuthError> {
        let Some(store) = &self.store else {
            return self.inner.read_key(namespace, name, key, deadline).await;
        };
        let cache_key = (namespace.to_owned(), name.to_owned(), key.to_owned());
        let (result, lookup) = store
            .get_or_fetch(
                &cache_key,
                deadline,
                |token| token.expose_secret().len() + 3 * 24 + namespace.len() + name.len(),
                || self.inner.read_key(namespace, name, key, deadline),
                || AuthError::Timeout {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
            )
            .await;
        self.metrics.cache("auth_secret", lookup.label());
        let (entries, bytes) = store.size();
        self.metrics.cache_size("auth_secret", entries, bytes);
        result
    }
}
