//! Serving stale content when ESC is unreachable (`--serve-stale-on-error`).
//!
//! After every good mount, the environment's values are remembered under the pod's uid, the
//! environment and the token's hash. When a later mount of the same pod, environment and token
//! finds ESC unreachable (no connection, the deadline, 429 or 5xx after retries) and the
//! remembered values are younger than the allowed age, the mount is answered from them. Never
//! for a first mount (nothing is remembered for that pod), never for another token, and never
//! when ESC refuses (401, 403, 404, 400): a refusal must reach the pod.

use std::sync::Arc;
use std::time::Duration;

use esc_api::{EnvironmentRef, EscError, Value};
use secrecy::SecretString;
use tokio::time::Instant;
use url::Url;

use crate::cache::{CacheOptions, Store};
use crate::fetch::cached::{EnvironmentKey, estimate_bytes};

/// How stale content may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleOptions {
    /// The oldest content served.
    pub max_age: Duration,
    /// Most pod volumes remembered.
    pub max_entries: usize,
    /// Most bytes remembered, estimated.
    pub max_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StaleKey {
    pod_uid: String,
    environment: EnvironmentKey,
}

/// The last good values per pod, environment and identity.
#[derive(Debug)]
pub struct StaleStore {
    store: Store<StaleKey, Arc<Value>, std::convert::Infallible>,
}

impl StaleStore {
    pub fn new(options: &StaleOptions) -> Self {
        StaleStore {
            store: Store::new(CacheOptions {
                ttl: options.max_age,
                max_entries: options.max_entries,
                max_bytes: options.max_bytes,
            }),
        }
    }

    fn key(pod_uid: &str, api: &Url, env: &EnvironmentRef, token: &SecretString) -> StaleKey {
        StaleKey {
            pod_uid: pod_uid.to_owned(),
            environment: EnvironmentKey::new(api, env, token),
        }
    }

    /// Remembers values that were just mounted for this pod.
    pub fn remember(
        &self,
        pod_uid: &str,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        value: &Arc<Value>,
    ) {
        // Shared with the cache and the mount, not copied: pods of one class share one tree.
        let key = Self::key(pod_uid, api, env, token);
        self.store
            .insert(key, Arc::clone(value), estimate_bytes(value));
    }

    /// The values last mounted for this pod, environment and token, with their age, if ESC is
    /// unreachable (by `error`) and they are young enough.
    pub fn recall(
        &self,
        pod_uid: &str,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        error: &EscError,
    ) -> Option<(Arc<Value>, Duration)> {
        if !error.is_unreachable() {
            return None;
        }
        let (value, stored) = self.store.get(&Self::key(pod_uid, api, env, token))?;
        Some((value, Instant::now().saturating_duration_since(stored)))
    }
}
