//! The client against a real HTTP stand-in of the ESC API on loopback.

use std::time::Duration;

use esc_api::{ClientOptions, EnvironmentRef, ErrorKind, EscClient};
use esc_csi_testkit::{FakeEsc, Fault, secret};
use secrecy::SecretString;
use serde_json::json;
use tokio::time::Instant;
use url::Url;

fn env(version: Option<&str>) -> EnvironmentRef {
    EnvironmentRef {
        organization: "acme".into(),
        project: "app".into(),
        environment: "prod".into(),
        version: version.map(str::to_owned),
    }
}

fn token() -> SecretString {
    SecretString::from("pul-test-token")
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn client() -> EscClient {
    EscClient::new(ClientOptions::default()).unwrap()
}

/// Opens and reads `acme/app/prod` with the test token and a generous deadline.
async fn read_all(url: &Url) -> Result<esc_api::Value, esc_api::EscError> {
    client()
        .open_and_read(url, &env(None), &token(), soon())
        .await
}

async fn esc() -> (FakeEsc, Url) {
    let esc = FakeEsc::start().await;
    esc.set(
        "acme/app/prod",
        json!({"app": {"hello": "world", "port": 8080}, "list": [1, 2]}),
    );
    let url = Url::parse(&esc.url()).unwrap();
    (esc, url)
}

#[tokio::test]
async fn open_and_read_makes_exactly_two_calls_and_returns_every_value() {
    let (esc, url) = esc().await;
    let value = read_all(&url).await.unwrap();
    assert_eq!(
        serde_json::to_value(&value).unwrap(),
        json!({"app": {"hello": "world", "port": 8080}, "list": [1, 2]})
    );
    let calls = esc.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, "/api/esc/environments/acme/app/prod/open");
    assert_eq!(calls[1].method, "GET");
    assert_eq!(
        calls[1].path,
        "/api/esc/environments/acme/app/prod/open/session-1"
    );
    for call in calls {
        assert_eq!(call.authorization.as_deref(), Some("token pul-test-token"));
    }
}

#[tokio::test]
async fn secret_flags_survive_the_round_trip() {
    let esc = FakeEsc::start().await;
    esc.set_wire(
        "acme/app/prod",
        "",
        json!({"db": secret(json!({"password": "hunter2"}))}),
    );
    let url = Url::parse(&esc.url()).unwrap();
    let value = read_all(&url).await.unwrap();
    assert!(value.contains_secret());
    assert!(!value.secret);
}

#[tokio::test]
async fn a_pinned_version_opens_that_version_with_its_name_escaped() {
    let (esc, url) = esc().await;
    esc.set_version("acme/app/prod", "v1/beta", json!({"pinned": true}));
    let value = client()
        .open_and_read(&url, &env(Some("v1/beta")), &token(), soon())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&value).unwrap(),
        json!({"pinned": true})
    );
    assert_eq!(
        esc.calls()[0].path,
        "/api/esc/environments/acme/app/prod/versions/v1%2Fbeta/open"
    );
}

#[tokio::test]
async fn an_api_url_with_a_trailing_slash_addresses_the_same_endpoints() {
    let (esc, _) = esc().await;
    let url = Url::parse(&format!("{}/", esc.url())).unwrap();
    read_all(&url).await.unwrap();
    assert_eq!(
        esc.calls()[0].path,
        "/api/esc/environments/acme/app/prod/open"
    );
}

#[tokio::test]
async fn the_open_duration_is_sent_when_configured() {
    let (esc, url) = esc().await;
    let client = EscClient::new(ClientOptions {
        open_duration: Some("5m".into()),
        ..ClientOptions::default()
    })
    .unwrap();
    client
        .open(&url, &env(None), &token(), soon())
        .await
        .unwrap();
    assert_eq!(esc.calls()[0].query.as_deref(), Some("duration=5m"));
}

#[tokio::test]
async fn a_rejected_token_is_reported_with_the_servers_message() {
    let (esc, url) = esc().await;
    esc.accept_token("another-token");
    let err = read_all(&url).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(
        err.to_string(),
        "opening ESC environment acme/app/prod: HTTP 401 Unauthorized: Unauthorized: No \
         credentials provided or are invalid."
    );
}

#[tokio::test]
async fn a_missing_environment_is_a_404_naming_it() {
    let (_esc, url) = esc().await;
    let mut missing = env(None);
    missing.environment = "staging".into();
    let err = client()
        .open_and_read(&url, &missing, &token(), soon())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "opening ESC environment acme/app/staging: HTTP 404 Not Found: Environment \
         'acme/app/staging' not found"
    );
}

#[tokio::test]
async fn a_server_error_quotes_the_request_id() {
    let (esc, url) = esc().await;
    esc.push_fault(
        Fault::status(500, "internal error").with_header("X-Pulumi-Request-ID", "req-123"),
    );
    let client = EscClient::new(ClientOptions {
        retry: esc_api::RetryPolicy::none(),
        ..ClientOptions::default()
    })
    .unwrap();
    let err = client
        .open_and_read(&url, &env(None), &token(), soon())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "opening ESC environment acme/app/prod: HTTP 500 Internal Server Error: internal error \
         (request id req-123)"
    );
}

#[tokio::test]
async fn rate_limiting_keeps_the_retry_after_hint() {
    let (esc, url) = esc().await;
    esc.push_fault(Fault::status(429, "too many requests").with_header("Retry-After", "7"));
    let err = read_all(&url).await.unwrap_err();
    let ErrorKind::Status { retry_after, .. } = err.kind() else {
        panic!("{err}")
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn evaluation_diagnostics_of_a_failed_open_are_listed() {
    let (esc, url) = esc().await;
    esc.push_fault(Fault::Reply {
        status: 400,
        headers: vec![],
        body: json!({"diagnostics": [
            {"summary": "unknown property \"nope\"", "path": "values.a"},
            {"summary": "second problem"},
        ]})
        .to_string(),
    });
    let err = read_all(&url).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "opening ESC environment acme/app/prod: HTTP 400 Bad Request [values.a: unknown property \
         \"nope\"; second problem]"
    );
}

#[tokio::test]
async fn the_deadline_bounds_every_call() {
    let (esc, url) = esc().await;
    esc.push_fault(Fault::Delay(Duration::from_secs(30)));
    let started = std::time::Instant::now();
    let err = client()
        .open_and_read(
            &url,
            &env(None),
            &token(),
            Instant::now() + Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        err.to_string(),
        format!(
            "opening ESC environment acme/app/prod: no answer from the ESC API at {url} before the \
             deadline"
        )
    );
}

fn impatient(max_attempts: u32) -> EscClient {
    EscClient::new(ClientOptions {
        attempt_timeout: Duration::from_millis(200),
        retry: esc_api::RetryPolicy {
            max_attempts,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(10),
        },
        ..ClientOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_call_that_hangs_is_abandoned_after_the_attempt_timeout_and_tried_again() {
    let (esc, url) = esc().await;
    esc.push_fault(Fault::Delay(Duration::from_secs(30)));
    let started = std::time::Instant::now();
    let value = impatient(3)
        .open_and_read(&url, &env(None), &token(), soon())
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        serde_json::to_value(&value).unwrap()["app"]["hello"],
        "world"
    );
    assert_eq!(esc.opens(), 2, "the hung open, then one that answered");
}

#[tokio::test]
async fn a_call_that_hangs_every_time_fails_as_slow_not_as_the_deadline() {
    let (esc, url) = esc().await;
    esc.push_fault(Fault::Delay(Duration::from_secs(30)));
    let err = impatient(1)
        .open_and_read(&url, &env(None), &token(), soon())
        .await
        .unwrap_err();
    assert!(err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "opening ESC environment acme/app/prod: no answer from the ESC API at {url} within 0.2s"
        )
    );
}

#[tokio::test]
async fn an_unreachable_api_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!(
        "http://{}/api/esc",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    drop(listener);
    let err = read_all(&url).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connect { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot reach the ESC API"),
        "{err}"
    );
}

#[tokio::test]
async fn a_malformed_reply_is_a_decode_error_that_does_not_quote_the_body() {
    let (esc, url) = esc().await;
    esc.push_fault(Fault::Reply {
        status: 200,
        headers: vec![],
        body: r#"{"id": "s", "x": "hunter2-secret" "#.into(),
    });
    let err = read_all(&url).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "opening ESC environment acme/app/prod: the ESC API's reply could not be decoded \
         (truncated JSON at line 1 column 34)"
    );
    esc.push_fault(Fault::Reply {
        status: 200,
        headers: vec![],
        body: r#"{"id": ["hunter2-secret"]}"#.into(),
    });
    let err = read_all(&url).await.unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_reply_over_the_size_limit_is_refused() {
    let (esc, url) = esc().await;
    esc.set("acme/app/prod", json!({"big": "x".repeat(10_000)}));
    let client = EscClient::new(ClientOptions {
        max_response_bytes: 4096,
        ..ClientOptions::default()
    })
    .unwrap();
    let err = client
        .open_and_read(&url, &env(None), &token(), soon())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "reading ESC environment acme/app/prod: the reply is larger than the 4096-byte limit"
    );
}

#[tokio::test]
async fn unknown_fields_anywhere_in_the_reply_do_not_break_decoding() {
    let esc = FakeEsc::start().await;
    esc.set_wire(
        "acme/app/prod",
        "",
        json!({"a": {"value": {"b": {"value": 1, "newFlag": {"x": [1]}}}, "futureField": 3}}),
    );
    let url = Url::parse(&esc.url()).unwrap();
    let value = read_all(&url).await.unwrap();
    assert_eq!(
        serde_json::to_value(&value).unwrap(),
        json!({"a": {"b": 1}})
    );
}
