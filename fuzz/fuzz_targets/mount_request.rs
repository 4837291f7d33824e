//! Whole Mount requests, as far as they go without a network: the attributes (with a fuzzed
//! `secrets`), the request's `secrets` (nodePublishSecretRef) and `permission`, and a fuzzed or
//! canned ESC environment, through the provider's planning, auth resolution and rendering
//! within the daemon's budgets. A mount or a clear error, never a panic, a stall or an
//! amplification (CI runs this with a tight -rss_limit_mb and -timeout).
//!
//! Input: four parts separated by U+0001: `secrets` YAML, the environment's JSON (ESC's wire
//! form; a canned one when it does not decode), nodePublishSecretRef JSON, permission.
#![no_main]

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};

use esc_api::{EnvironmentRef, EscError, ExchangedToken, MemoryBudget, TokenExchange, Value};
use esc_csi_provider::Mounter;
use esc_csi_provider::class::Settings;
use esc_csi_provider::credential::exchange::ExchangeClient;
use esc_csi_provider::credential::{AuthError, SecretReader};
use esc_csi_provider::fetch::EnvironmentSource;
use esc_csi_provider::mount::MountInput;
use esc_csi_provider::mount::budget::ResponseBudget;
use esc_csi_provider::mount::version::VersionKey;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use tokio::time::{Duration, Instant};
use url::Url;

/// The environment every mount reads, set per input.
static ENVIRONMENT: LazyLock<Mutex<Arc<Value>>> = LazyLock::new(|| Mutex::new(Arc::new(canned())));

/// Reads [`ENVIRONMENT`].
struct Canned;

impl EnvironmentSource for Canned {
    async fn fetch(
        &self,
        _api: &Url,
        _env: &EnvironmentRef,
        _token: &SecretString,
        _deadline: Instant,
        _memory: &mut esc_api::Reservation,
    ) -> Result<Arc<Value>, EscError> {
        Ok(Arc::clone(&ENVIRONMENT.lock().unwrap()))
    }
}

/// Every auth Secret holds the same token.
struct OneToken;

impl SecretReader for OneToken {
    async fn read_key(
        &self,
        _namespace: &str,
        _name: &str,
        _key: &str,
        _deadline: Instant,
    ) -> Result<SecretString, AuthError> {
        Ok(SecretString::from("pul-fuzz-token"))
    }
}

/// Every exchange (a class in workload-identity mode) issues the same token, with no network.
struct OneExchange;

impl ExchangeClient for OneExchange {
    async fn exchange(
        &self,
        _api: &Url,
        _env: &EnvironmentRef,
        _request: &TokenExchange,
        _subject: &SecretString,
        _deadline: Instant,
    ) -> Result<ExchangedToken, EscError> {
        Ok(ExchangedToken {
            token: SecretString::from("pul-fuzz-exchanged"),
            expires_in: Some(Duration::from_secs(3600)),
            issued_token_type: None,
        })
    }
}

fn canned() -> Value {
    Value::from_json(serde_json::json!({
        "app": {"db": {"password": "hunter2", "port": 5432}, "list": [1, "two", null, true]},
        "json": "{\"b\": [1, 2], \"a\": {\"c\": null}}",
        "b64": "aGVsbG8gd29ybGQ=",
        "hex": "00ff10",
    }))
}

static MOUNTER: LazyLock<Mounter<Canned, OneToken, OneExchange>> = LazyLock::new(|| {
    Mounter::new(
        Canned,
        OneToken,
        OneExchange,
        Settings::default(),
        VersionKey::random().unwrap(),
    )
});

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
});

static MEMORY: LazyLock<Arc<MemoryBudget>> = LazyLock::new(|| MemoryBudget::new(64 << 20));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\u{1}');
    let secrets = parts.next().unwrap_or_default();
    let environment = parts.next().unwrap_or_default();
    let node_publish = parts.next().unwrap_or("null");
    let permission = parts.next().unwrap_or("420");

    let attributes = BTreeMap::from(
        [
            ("apiUrl", "http://127.0.0.1:1/api/esc"),
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "dev"),
            ("authSecretName", "pulumi-creds"),
            ("secrets", secrets),
            ("csi.storage.k8s.io/pod.namespace", "default"),
            ("csi.storage.k8s.io/pod.name", "web"),
            ("csi.storage.k8s.io/pod.uid", "uid-1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let value = serde_json::from_str::<serde_json::Value>(environment)
        .ok()
        .and_then(|json| serde_json::from_value::<Value>(json).ok())
        .filter(|v| matches!(v.data, esc_api::Data::Object(_)))
        .unwrap_or_else(canned);
    *ENVIRONMENT.lock().unwrap() = Arc::new(value);

    let Ok(class) = MOUNTER.plan(&attributes) else {
        return;
    };
    RUNTIME.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(5);
        let reserved = MEMORY.reserve(0, deadline).await.unwrap();
        let mut budget = ResponseBudget::new(4 << 20, reserved);
        let result = match MountInput::decode(node_publish, permission) {
            Ok(input) => MOUNTER.mount(&class, &input, deadline, &mut budget).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(files) => assert!(budget.used() <= 4 << 20 && !files.is_empty()),
            Err(error) => drop(error.to_string()),
        }
    });
    assert_eq!(MEMORY.used(), 0, "every reservation is released");
});
