//! In-memory stand-ins for the [`crate::Mounter`]'s three seams, so that validation, auth and
//! rendering are tested on the domain directly: no tonic, no socket, no HTTP.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esc_api::{EnvironmentRef, EscError, ExchangedToken, Step, TokenExchange, Value};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use url::Url;

use crate::credential::exchange::ExchangeClient;
use crate::credential::{AuthError, SecretReader};
use crate::fetch::EnvironmentSource;

/// Environments by `org/project/env`, each readable with one token; every fetch is recorded
/// with the token it carried (keep a clone of `fetches` to look after the move). An unknown environment fails as ESC unreachable would.
#[derive(Debug, Default)]
pub(crate) struct FakeSource {
    pub(crate) environments: BTreeMap<String, (String, Arc<Value>)>,
    pub(crate) fetches: Arc<Mutex<Vec<(String, String)>>>,
}

impl FakeSource {
    pub(crate) fn with(env: &str, token: &str, values: serde_json::Value) -> FakeSource {
        let mut source = FakeSource::default();
        let value = Arc::new(Value::from_json(values));
        source
            .environments
            .insert(env.to_owned(), (token.to_owned(), value));
        source
    }
}

impl EnvironmentSource for FakeSource {
    async fn fetch(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        _deadline: Instant,
        _memory: &mut esc_api::Reservation,
    ) -> Result<Arc<Value>, EscError> {
        let name = env.to_string();
        let token = token.expose_secret().to_owned();
        self.fetches
            .lock()
            .unwrap()
            .push((name.clone(), token.clone()));
        match self.environments.get(&name) {
            Some((accepted, value)) if *accepted == token => Ok(value.clone()),
            _ => Err(EscError::deadline(Step::Open, env, api)),
        }
    }
}

/// Secrets by `namespace/name`, each a map of keys.
#[derive(Debug, Default)]
pub(crate) struct FakeSecrets {
    pub(crate) by_name: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) reads: Arc<Mutex<usize>>,
}

impl SecretReader for FakeSecrets {
    async fn read_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        _deadline: Instant,
    ) -> Result<SecretString, AuthError> {
        *self.reads.lock().unwrap() += 1;
        let Some(secret) = self.by_name.get(&format!("{namespace}/{name}")) else {
            return Err(AuthError::SecretNotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        };
        secret
            .get(key)
            .map(|v| SecretString::from(v.clone()))
            .ok_or_else(|| AuthError::KeyNotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                key: key.to_owned(),
                keys: secret.keys().cloned().collect(),
            })
    }
}

/// Gives `issued` for any subject token, valid an hour, and records each exchange's audience
/// and subject.
#[derive(Debug, Default)]
pub(crate) struct FakeExchange {
    pub(crate) issued: String,
    pub(crate) exchanges: Arc<Mutex<Vec<(String, String)>>>,
}

impl ExchangeClient for FakeExchange {
    async fn exchange(
        &self,
        _api: &Url,
        _env: &EnvironmentRef,
        request: &TokenExchange,
        subject: &SecretString,
        _deadline: Instant,
    ) -> Result<ExchangedToken, EscError> {
        self.exchanges
            .lock()
            .unwrap()
            .push((request.audience.clone(), subject.expose_secret().to_owned()));
        Ok(ExchangedToken {
            token: SecretString::from(self.issued.clone()),
            expires_in: Some(Duration::from_secs(3600)),
            issued_token_type: None,
        })
    }
}
