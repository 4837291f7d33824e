//! ESC environments kept and shared ([`CachedSource`], an [`EnvironmentSource`] decorator over
//! the one [`Store`]). An entry's key holds the SHA-256 of the token that read it, so an entry
//! is only ever given to a caller holding the same token.

use std::fmt;
use std::sync::Arc;

use esc_api::{Data, EnvironmentRef, EscError, Reservation, Step, Value};
use esc_token::TokenDigest;
use secrecy::SecretString;
use tokio::time::Instant;
use url::Url;

use crate::cache::{CacheOptions, Store};
use crate::fetch::EnvironmentSource;
use crate::metrics::Metrics;

/// Who read something: the digest of the token. Its `Debug` shows only a short prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity(TokenDigest);

impl Identity {
    pub fn of(token: &SecretString) -> Self {
        Identity(TokenDigest::of(token))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?})", self.0)
    }
}

/// One environment as one identity reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvironmentKey {
    pub api: String,
    /// Includes the pinned version, if any.
    pub env: EnvironmentRef,
    pub identity: Identity,
}

impl EnvironmentKey {
    pub fn new(api: &Url, env: &EnvironmentRef, token: &SecretString) -> Self {
        EnvironmentKey {
            api: api.as_str().to_owned(),
            env: env.clone(),
            identity: Identity::of(token),
        }
    }
}

/// A rough count of the bytes a value holds, for the cache's byte bound.
pub fn estimate_bytes(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    NODE + match &value.data {
        Data::String(s) => s.len(),
        Data::Number(n) => n.as_str().len(),
        Data::Array(items) => items.iter().map(estimate_bytes).sum(),
        // Key text, the key's own String, and the map's per-entry overhead.
        Data::Object(members) => members
            .iter()
            .map(|(k, v)| k.len() + 48 + estimate_bytes(v))
            .sum(),
        Data::Null | Data::Bool(_) => 0,
    }
}

/// An [`EnvironmentSource`] that caches and coalesces another's fetches.
#[derive(Debug)]
pub struct CachedSource<S> {
    inner: S,
    /// `None`: every fetch goes through, uncounted (see [`CachedSource::uncached`]).
    store: Option<Store<EnvironmentKey, Arc<Value>, EscError>>,
    metrics: Arc<Metrics>,
}

impl<S: EnvironmentSource> CachedSource<S> {
    pub fn new(inner: S, options: CacheOptions, metrics: Arc<Metrics>) -> Self {
        metrics.cache_limit("environment", options.max_bytes);
        metrics.cache_size("environment", 0, 0);
        CachedSource {
            inner,
            store: Some(Store::new(options)),
            metrics,
        }
    }

    /// Neither keeps nor coalesces: for tests that script each of ESC's answers.
    pub fn uncached(inner: S) -> Self {
        CachedSource {
            inner,
            store: None,
            metrics: Arc::default(),
        }
    }

    /// Entries kept now, and their estimated bytes.
    pub fn size(&self) -> (usize, usize) {
        self.store.as_ref().map_or((0, 0), Store::size)
    }
}

impl<S: EnvironmentSource> EnvironmentSource for CachedSource<S> {
    async fn fetch(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        deadline: Instant,
        memory: &mut Reservation,
    ) -> Result<Arc<Value>, EscError> {
        let Some(store) = &self.store else {
            return self.inner.fetch(api, env, token, deadline, memory).await;
        };
        // Only the mount that fetches is charged for the tree: those that share it (a hit, or a
        // wait on the same fetch) hold no copy, and what the cache keeps is bounded by its own
        // `max_bytes`.
        let key = EnvironmentKey::new(api, env, token);
        let (result, lookup) = store
            .get_or_fetch(
                &key,
                deadline,
                |value| estimate_bytes(value),
                || async { self.inner.fetch(api, env, token, deadline, memory).await },
                || EscError::deadline(Step::Open, env, api),
            )
            .await;
        self.metrics.cache("environment", lookup.label());
        let (entries, bytes) = store.size();
        self.metrics.cache_size("environment", entries, bytes);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identitys_debug_shows_only_a_short_prefix() {
        let id = Identity::of(&SecretString::from("pul-secret"));
        let text = format!("{id:?}");
        assert!(text.starts_with("Identity(sha256:"), "{text}");
        assert!(text.len() < 30, "{text}");
        assert!(!text.contains("pul-secret"));
        assert_ne!(id, Identity::of(&SecretString::from("pul-other")));
    }

    #[test]
    fn value_sizes_grow_with_content() {
        let small = Value::from_json(serde_json::json!({"a": "x"}));
        let big = Value::from_json(serde_json::json!({"a": "x".repeat(10_000)}));
        assert!(estimate_bytes(&big) >= estimate_bytes(&small) + 9_999);
    }
}
