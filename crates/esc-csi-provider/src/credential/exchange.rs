//! Workload identity: the pod's service-account token (from the driver's
//! `csi.storage.k8s.io/serviceAccount.tokens`), exchanged for a short-lived Pulumi access token
//! at the Pulumi OAuth token endpoint, and the exchanged tokens cached until shortly before
//! they expire.
//!
//! The cache is keyed by token endpoint, exchange parameters and the SHA-256 of the
//! service-account token, so a pod never gets a token exchanged for another pod's identity, and
//! a rotated service-account token is exchanged afresh. Concurrent mounts with the same key
//! wait for one exchange. Neither token is ever logged.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esc_api::{EnvironmentRef, EscClient, EscError, ExchangedToken, TokenExchange};
use esc_token::TokenDigest;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;
use url::Url;

use crate::metrics::Metrics;

/// Exchanged tokens held at most.
const MAX_ENTRIES: usize = 4096;

/// The service-account tokens the driver sent, by audience.
#[derive(Debug, Deserialize)]
struct ServiceAccountToken {
    token: SecretString,
}

/// Parses `{"<audience>": {"token": "...", "expirationTimestamp": "..."}}`. `Err` carries
/// nothing of the input.
pub(crate) fn service_account_tokens(
    text: &SecretString,
) -> Result<BTreeMap<String, SecretString>, ()> {
    let parsed: BTreeMap<String, ServiceAccountToken> =
        serde_json::from_str(text.expose_secret()).map_err(|_| ())?;
    Ok(parsed.into_iter().map(|(aud, t)| (aud, t.token)).collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    endpoint: String,
    request: TokenExchange,
    subject: TokenDigest,
}

#[derive(Debug, Clone)]
struct Entry {
    token: SecretString,
    /// When the cached token stops being handed out.
    until: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// Where exchanges are made: in production, the ESC client's `POST /api/oauth/token`; the
/// trait is the seam for in-memory fakes, like the environment source of the fetch stage.
pub trait ExchangeClient: Send + Sync + 'static {
    fn exchange(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        request: &TokenExchange,
        subject: &SecretString,
        deadline: Instant,
    ) -> impl Future<Output = Result<ExchangedToken, EscError>> + Send;
}

impl ExchangeClient for EscClient {
    fn exchange(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        request: &TokenExchange,
        subject: &SecretString,
        deadline: Instant,
    ) -> impl Future<Output = Result<ExchangedToken, EscError>> + Send {
        self.exchange_token(api, env, request, subject, deadline)
    }
}

/// Exchanges and caches; one per daemon. Not the shared [`crate::cache::Store`]: an entry
/// lives as long as its token does (not one TTL for all), and a caller waits on the entry's own
/// lock so that one exchange serves every pod holding the same token.
#[derive(Debug)]
pub struct TokenExchanger<C> {
    client: C,
    slots: Mutex<HashMap<Key, Slot>>,
}

impl<C: ExchangeClient> TokenExchanger<C> {
    /// `client` makes the exchange calls.
    pub fn new(client: C) -> TokenExchanger<C> {
        TokenExchanger {
            client,
            slots: Mutex::default(),
        }
    }

    /// A Pulumi access token for `subject`, from the cache or one exchange.
    pub(crate) async fn access_token(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        request: &TokenExchange,
        subject: &SecretString,
        metrics: &Metrics,
        deadline: Instant,
    ) -> Result<SecretString, EscError> {
        let endpoint = esc_api::oauth::token_endpoint_text(api);
        let key = Key {
            endpoint,
            request: request.clone(),
            subject: TokenDigest::of(subject),
        };
        let slot = self.slot(&key);
        let (mut entry, waited) = match slot.try_lock() {
            Ok(guard) => (guard, false),
            Err(_) => (slot.lock().await, true),
        };
        if let Some(cached) = entry.as_ref().filter(|e| e.until > Instant::now()) {
            metrics.cache("token", if waited { "coalesced" } else { "hit" });
            return Ok(cached.token.clone());
        }
        metrics.cache("token", "miss");
        let exchanged = self
            .client
            .exchange(api, env, request, subject, deadline)
            .await;
        metrics.token_exchange(exchanged.is_ok());
        let exchanged = exchanged?;
        // Checked: `expires_in` comes from the server (the client caps it, this holds anyway).
        *entry = exchanged.expires_in.and_then(|lifetime| {
            Some(Entry {
                token: exchanged.token.clone(),
                until: Instant::now().checked_add(lifetime.saturating_sub(margin(lifetime)))?,
            })
        });
        Ok(exchanged.token)
    }

    fn slot(&self, key: &Key) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(key) {
            return Arc::clone(slot);
        }
        if slots.len() >= MAX_ENTRIES {
            evict(&mut slots);
        }
        let slot = Slot::default();
        slots.insert(key.clone(), Arc::clone(&slot));
        slot
    }
}

/// Stop using a token a fifth of its life before it expires, at most five minutes before.
fn margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(Duration::from_secs(300))
}

/// Drops expired and empty slots nobody is using; if all are live, the one expiring first.
fn evict(slots: &mut HashMap<Key, Slot>) {
    let now = Instant::now();
    slots.retain(|_, slot| match slot.try_lock() {
        Ok(entry) => entry.as_ref().is_some_and(|e| e.until > now),
        Err(_) => true,
    });
    if slots.len() >= MAX_ENTRIES {
        let first = slots
            .iter()
            .filter_map(|(k, s)| Some((k, s.try_lock().ok()?.as_ref()?.until)))
            .min_by_key(|(_, until)| *until)
            .map(|(k, _)| k.clone());
        if let Some(key) = first {
            slots.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drivers_token_attribute_is_read_by_audience() {
        let text = SecretString::from(
            r#"{"urn:pulumi:org:acme": {"token": "jwt-1", "expirationTimestamp": "2030-01-01T00:00:00Z"}, "vault": {"token": "jwt-2"}}"#.to_owned(),
        );
        let tokens = service_account_tokens(&text).unwrap();
        assert_eq!(tokens["urn:pulumi:org:acme"].expose_secret(), "jwt-1");
        assert_eq!(tokens["vault"].expose_secret(), "jwt-2");
        assert!(service_account_tokens(&SecretString::from("[1]".to_owned())).is_err());
    }

    #[test]
    fn tokens_are_renewed_a_fifth_of_their_life_early_at_most_five_minutes() {
        assert_eq!(margin(Duration::from_secs(600)), Duration::from_secs(120));
        assert_eq!(margin(Duration::from_secs(7200)), Duration::from_secs(300));
    }
}
