//! The Mounter driven directly, through the in-memory fakes of its seams: validation, auth
//! and rendering without tonic, a socket or HTTP.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::class::keys;
use crate::credential::{AuthError, NodePublishSecretRef, TOKEN_KEY};
use crate::fakes::{FakeExchange, FakeSecrets, FakeSource};

const TOKEN: &str = "pul-fake-token";

type Fake = Mounter<FakeSource, FakeSecrets, FakeExchange>;

fn mounter(source: FakeSource, auth_secrets: FakeSecrets, exchange: FakeExchange) -> Fake {
    let key = VersionKey::random().unwrap();
    Mounter::new(source, auth_secrets, exchange, Settings::default(), key)
}

fn attributes(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = [
        (keys::ORGANIZATION, "acme"),
        (keys::PROJECT, "app"),
        (keys::ENVIRONMENT, "prod"),
        (keys::POD_NAMESPACE, "default"),
        (keys::POD_NAME, "app-0"),
        (keys::POD_UID, "uid-0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in extra {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    map
}

fn with_token() -> MountInput {
    let data = BTreeMap::from([(TOKEN_KEY.to_owned(), SecretString::from(TOKEN))]);
    MountInput {
        node_publish: NodePublishSecretRef::from(data),
        ..MountInput::default()
    }
}

async fn mount(
    mounter: &Fake,
    class: &Class,
    input: &MountInput,
) -> Result<Vec<MountedFile>, MountError> {
    let mut budget = ResponseBudget::new(4 << 20, esc_api::MemoryBudget::new(0).empty());
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    mounter.mount(class, input, deadline, &mut budget).await
}

#[tokio::test]
async fn each_file_takes_its_items_mode_or_the_requests_default_and_its_rendered_value() {
    let source = FakeSource::with("acme/app/prod", TOKEN, json!({"a": "x", "b": {"c": 1}}));
    let fetches = source.fetches.clone();
    let m = mounter(source, FakeSecrets::default(), FakeExchange::default());
    let secrets = "- {fileName: a, secretKey: a}\n- {fileName: b.json, secretKey: b, mode: '0400'}";
    let class = m.plan(&attributes(&[(keys::SECRETS, secrets)])).unwrap();
    let input = MountInput {
        default_mode: 0o600,
        ..with_token()
    };
    let files = mount(&m, &class, &input).await.unwrap();
    let got: Vec<_> = files
        .iter()
        .map(|f| (f.path.as_str(), f.mode, f.contents.0.as_slice()))
        .collect();
    assert_eq!(
        got,
        [("a", 0o600, &b"x"[..]), ("b.json", 0o400, br#"{"c":1}"#)]
    );
    assert_eq!(
        *fetches.lock().unwrap(),
        [("acme/app/prod".to_owned(), TOKEN.to_owned())]
    );
}

#[tokio::test]
async fn a_class_with_problems_is_refused_by_plan_with_every_problem_listed() {
    let m = mounter(
        FakeSource::default(),
        FakeSecrets::default(),
        FakeExchange::default(),
    );
    let mut attributes = attributes(&[(keys::SECRETS, "- {fileName: '../x', secretKey: a}")]);
    attributes.remove(keys::ORGANIZATION);
    let Err(MountError::Class { problems, .. }) = m.plan(&attributes) else {
        panic!("the class is refused");
    };
    let text = problems.to_string();
    assert!(text.contains("organization"), "{text}");
    assert!(text.contains("secrets[0]"), "{text}");
}

#[test]
fn a_permission_that_is_not_a_file_mode_is_a_request_error() {
    for bad in ["\"420\"", "512", "-1", "0644x"] {
        assert!(
            matches!(MountInput::decode("null", bad), Err(MountError::Request(_))),
            "{bad}"
        );
    }
    assert_eq!(
        MountInput::decode("null", "").unwrap().default_mode,
        DEFAULT_PERMISSION
    );
    assert_eq!(
        MountInput::decode("null", "384").unwrap().default_mode,
        0o600
    );
}

#[tokio::test]
async fn without_any_token_the_mount_fails_before_reading_esc() {
    let source = FakeSource::with("acme/app/prod", TOKEN, json!({"a": "x"}));
    let fetches = source.fetches.clone();
    let m = mounter(source, FakeSecrets::default(), FakeExchange::default());
    let class = m
        .plan(&attributes(&[(
            keys::SECRETS,
            "- {fileName: a, secretKey: a}",
        )]))
        .unwrap();
    let error = mount(&m, &class, &MountInput::default()).await.unwrap_err();
    assert!(
        matches!(error, MountError::Auth(AuthError::NoCredentials)),
        "{error}"
    );
    assert!(fetches.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_auth_secret_is_read_from_the_pods_namespace_through_the_reader() {
    let source = FakeSource::with("acme/app/prod", TOKEN, json!({"a": "x"}));
    let mut auth_secrets = FakeSecrets::default();
    let data = BTreeMap::from([(TOKEN_KEY.to_owned(), format!("{TOKEN}\n"))]);
    auth_secrets
        .by_name
        .insert("default/creds".to_owned(), data);
    let reads = auth_secrets.reads.clone();
    let m = mounter(source, auth_secrets, FakeExchange::default());
    let class = m
        .plan(&attributes(&[
            (keys::SECRETS, "- {fileName: a, secretKey: a}"),
            (keys::AUTH_SECRET_NAME, "creds"),
        ]))
        .unwrap();
    let files = mount(&m, &class, &MountInput::default()).await.unwrap();
    assert_eq!(
        files[0].contents.0, b"x",
        "the newline echo leaves is trimmed"
    );
    assert_eq!(*reads.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_service_account_token_is_exchanged_once_through_the_exchange_seam() {
    let source = FakeSource::with("acme/app/prod", "pul-exchanged", json!({"a": "x"}));
    let exchange = FakeExchange {
        issued: "pul-exchanged".to_owned(),
        ..FakeExchange::default()
    };
    let exchanges = exchange.exchanges.clone();
    let m = mounter(source, FakeSecrets::default(), exchange);
    let tokens = r#"{"urn:pulumi:org:acme": {"token": "jwt-pod"}}"#;
    let class = m
        .plan(&attributes(&[
            (keys::SECRETS, "- {fileName: a, secretKey: a}"),
            (keys::AUTH_METHOD, "oidc"),
            (keys::SERVICE_ACCOUNT_TOKENS, tokens),
        ]))
        .unwrap();
    for _ in 0..2 {
        let files = mount(&m, &class, &MountInput::default()).await.unwrap();
        assert_eq!(files[0].contents.0, b"x");
    }
    assert_eq!(
        *exchanges.lock().unwrap(),
        [("urn:pulumi:org:acme".to_owned(), "jwt-pod".to_owned())],
        "the exchanged token is cached"
    );
}

#[tokio::test]
async fn a_malformed_node_publish_secret_ref_fails_only_a_mount_that_looks_for_a_token_there() {
    let source = FakeSource::with("acme/app/prod", "pul-exchanged", json!({"a": "x"}));
    let exchange = FakeExchange {
        issued: "pul-exchanged".to_owned(),
        ..FakeExchange::default()
    };
    let m = mounter(source, FakeSecrets::default(), exchange);
    let input = MountInput::decode("[1]", "420").unwrap();
    let secret_class = m
        .plan(&attributes(&[(
            keys::SECRETS,
            "- {fileName: a, secretKey: a}",
        )]))
        .unwrap();
    let error = mount(&m, &secret_class, &input).await.unwrap_err();
    assert!(
        matches!(error, MountError::Auth(AuthError::BadNodePublishSecrets)),
        "{error}"
    );
    let tokens = r#"{"urn:pulumi:org:acme": {"token": "jwt-pod"}}"#;
    let oidc_class = m
        .plan(&attributes(&[
            (keys::SECRETS, "- {fileName: a, secretKey: a}"),
            (keys::SERVICE_ACCOUNT_TOKENS, tokens),
        ]))
        .unwrap();
    assert!(mount(&m, &oidc_class, &input).await.is_ok());
}

#[tokio::test]
async fn every_item_that_cannot_be_mounted_is_listed_and_no_file_is_returned() {
    let source = FakeSource::with("acme/app/prod", TOKEN, json!({"a": "x", "o": {"k": "v"}}));
    let m = mounter(source, FakeSecrets::default(), FakeExchange::default());
    let secrets = "- {fileName: a, secretKey: a}\n- {fileName: m, secretKey: missing}\n- {fileName: o, secretKey: o, encoding: base64}";
    let class = m.plan(&attributes(&[(keys::SECRETS, secrets)])).unwrap();
    let Err(MountError::Items { problems, .. }) = mount(&m, &class, &with_token()).await else {
        panic!("the mount fails");
    };
    let items: Vec<_> = problems.iter().map(|p| p.item.as_str()).collect();
    assert_eq!(items, ["secrets[1] (\"m\")", "secrets[2] (\"o\")"]);
}

/// A folder of thousands of files renders in turns: the mount gives its worker back as it
/// goes, so other tasks on it (`Version`, other mounts) are not held until it ends.
#[tokio::test]
async fn a_mount_of_thousands_of_files_lets_other_tasks_run_while_it_renders() {
    let leaves: serde_json::Map<_, _> = (0..5000).map(|i| (format!("k{i}"), json!(i))).collect();
    let source = FakeSource::with("acme/app/prod", TOKEN, json!({ "big": leaves }));
    let m = mounter(source, FakeSecrets::default(), FakeExchange::default());
    let secrets = "- {folderName: big, secretKey: big}";
    let class = m.plan(&attributes(&[(keys::SECRETS, secrets)])).unwrap();
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // On this test's one-thread runtime, the task runs only when the mount yields.
    let other = tokio::spawn({
        let finished = finished.clone();
        async move { finished.load(std::sync::atomic::Ordering::SeqCst) }
    });
    let files = mount(&m, &class, &with_token()).await.unwrap();
    finished.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(files.len(), 5000);
    assert!(
        !other.await.unwrap(),
        "the other task ran only once the mount had finished"
    );
}
