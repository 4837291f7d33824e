//! Hostile replies: any status, headers and body a server can send are handled without a
//! panic, without overflowing time arithmetic, and without decoding more than the limits allow.
//! The pure reply handling ([`esc_api::reply`]) is property-tested; the client is checked end
//! to end against the stand-in for the replies that once panicked or amplified.

use std::time::{Duration, SystemTime};

use esc_api::reply::{count_json_values, judge, next_wait};
use esc_api::{
    ClientOptions, EnvironmentRef, ErrorKind, EscClient, MAX_RETRY_AFTER, MAX_TOKEN_LIFETIME,
    MemoryBudget, RetryPolicy, Step, TokenExchange, TokenType, Value,
};
use esc_csi_testkit::{FakeEsc, Fault};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::json;
use tokio::time::Instant;
use url::Url;

fn env() -> EnvironmentRef {
    EnvironmentRef {
        organization: "acme".into(),
        project: "app".into(),
        environment: "prod".into(),
        version: None,
    }
}

fn headers(pairs: &[(String, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("retry-after".to_owned()),
        Just("x-pulumi-request-id".to_owned()),
        Just("content-type".to_owned()),
        "[a-z-]{1,12}",
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string().into_bytes()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        Just(b"18446744073709551615".to_vec()),
        Just(b"99999999999999999999999999".to_vec()),
        Just(b"Fri, 31 Dec 9999 23:59:59 GMT".to_vec()),
        Just(b"Thu, 01 Jan 1970 00:00:00 GMT".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        Just(br#"{"properties": {"a": {"value": 1}}}"#.to_vec()),
        Just(br#"{"id": "s"}"#.to_vec()),
        Just(br#"{"access_token": "t", "expires_in": 18446744073709551615}"#.to_vec()),
        Just(
            br#"{"code": 429, "message": "slow down", "diagnostics": [{"summary": "x"}]}"#.to_vec()
        ),
        "[\\[\\]{}\",:a-z0-9 \\\\]{0,200}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_reply_is_judged_and_any_wait_computed_without_panicking(
        status in 100u16..1000,
        pairs in proptest::collection::vec((header_name(), header_value()), 0..6),
        body in body(),
        max_values in 0usize..50,
        retry in 0u32..40,
        seconds_left in 0u64..100_000,
    ) {
        let status = StatusCode::from_u16(status).unwrap();
        let headers = headers(&pairs);
        let now = Instant::now();
        let deadline = now + Duration::from_secs(seconds_left);
        let policy = RetryPolicy::default();
        for step in [Step::Open, Step::Read, Step::Exchange] {
            let judged: Result<Value, _> =
                judge(step, &env(), status, &headers, &body, max_values, SystemTime::now());
            let other: Result<esc_api::wire::TokenExchangeGrant, _> =
                judge(step, &env(), status, &headers, &body, max_values, SystemTime::now());
            for error in [judged.err(), other.err()].into_iter().flatten() {
                let text = error.to_string();
                prop_assert!(text.len() < 4096, "{}", text.len());
                if let Some(after) = error.retry_after() {
                    prop_assert!(after <= MAX_RETRY_AFTER);
                }
                if let Some(wait) = next_wait(&error, &policy, retry, now, deadline) {
                    prop_assert!(now.checked_add(wait).is_some_and(|t| t < deadline));
                }
            }
        }
    }

    #[test]
    fn the_value_count_bounds_what_a_body_decodes_into(text in "[\\[\\]{}\",:a0-9 ]{0,120}") {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
            fn nodes(v: &serde_json::Value) -> usize {
                1 + match v {
                    serde_json::Value::Array(a) => a.iter().map(nodes).sum(),
                    serde_json::Value::Object(o) => o.values().map(nodes).sum(),
                    _ => 0,
                }
            }
            prop_assert!(nodes(&json) <= count_json_values(text.as_bytes(), usize::MAX));
        }
    }
}

#[test]
fn values_are_counted_outside_strings_only() {
    assert_eq!(count_json_values(b"1", 100), 1);
    assert_eq!(count_json_values(br#"[1,2,{"a":3}]"#, 100), 5);
    assert_eq!(count_json_values(br#"["[,:\"[,:"]"#, 100), 2);
    assert_eq!(
        count_json_values(&b"[0,".repeat(1000), 10),
        11,
        "stops early"
    );
}

#[test]
fn a_body_with_more_values_than_allowed_is_refused_before_decoding() {
    let body = format!(
        "{{\"properties\": {{\"a\": {{\"value\": [{}0]}}}}}}",
        "0,".repeat(100)
    );
    let judged: Result<Value, _> = judge(
        Step::Read,
        &env(),
        StatusCode::OK,
        &HeaderMap::new(),
        body.as_bytes(),
        50,
        SystemTime::now(),
    );
    let err = judged.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooManyValues { limit: 50 }),
        "{err}"
    );
    assert!(err.to_string().contains("--max-esc-reply-values"), "{err}");
}

fn client(options: ClientOptions) -> EscClient {
    EscClient::new(options).unwrap()
}

async fn stand_in() -> (FakeEsc, Url) {
    let esc = FakeEsc::start().await;
    esc.set("acme/app/prod", json!({"a": 1}));
    let url = Url::parse(&esc.url()).unwrap();
    (esc, url)
}

#[tokio::test]
async fn a_retry_after_of_u64_max_or_i64_max_fails_the_call_instead_of_panicking() {
    let (esc, url) = stand_in().await;
    for huge in ["18446744073709551615", "9223372036854775807"] {
        esc.push_fault(Fault::status(429, "slow down").with_header("Retry-After", huge));
        let err = client(ClientOptions::default())
            .open_and_read(
                &url,
                &env(),
                &SecretString::from("t"),
                Instant::now() + Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS), "{err}");
        assert_eq!(err.retry_after(), Some(MAX_RETRY_AFTER));
    }
}

#[tokio::test]
async fn a_huge_expires_in_is_capped_at_a_day() {
    let (esc, url) = stand_in().await;
    esc.push_fault(Fault::Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: r#"{"access_token": "pul-x", "expires_in": 18446744073709551615}"#.into(),
    });
    let request = TokenExchange {
        audience: "urn:pulumi:org:acme".into(),
        token_type: TokenType::Organization,
        scope: None,
        expiration: None,
    };
    let token = client(ClientOptions::default())
        .exchange_token(
            &url,
            &env(),
            &request,
            &SecretString::from("jwt"),
            Instant::now() + Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(token.expires_in, Some(MAX_TOKEN_LIFETIME));
}

#[tokio::test]
async fn a_reply_of_many_small_values_is_refused_by_count_not_decoded() {
    let (esc, url) = stand_in().await;
    // 20,000 values in 40 kB: about 100 times that once decoded.
    let many: Vec<u8> = vec![0; 20_000];
    esc.set("acme/app/prod", json!({ "many": many }));
    let options = ClientOptions {
        max_reply_values: 1000,
        ..ClientOptions::default()
    };
    let err = client(options)
        .open_and_read(
            &url,
            &env(),
            &SecretString::from("t"),
            Instant::now() + Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooManyValues { limit: 1000 }),
        "{err}"
    );
}

#[tokio::test]
async fn a_reply_is_held_against_the_node_wide_memory_budget_and_released_after() {
    let (esc, url) = stand_in().await;
    esc.set("acme/app/prod", json!({ "big": "x".repeat(300_000) }));
    let deadline = || Instant::now() + Duration::from_secs(5);
    let token = SecretString::from("t");

    let small = MemoryBudget::new(200_000);
    let options = ClientOptions {
        memory: Some(small.clone()),
        ..ClientOptions::default()
    };
    let err = client(options)
        .open_and_read(&url, &env(), &token, deadline())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Memory(_)), "{err}");
    assert!(err.to_string().contains("--max-memory-in-flight"), "{err}");
    assert_eq!(small.used(), 0, "nothing stays reserved after a refusal");

    let enough = MemoryBudget::new(2_000_000);
    let options = ClientOptions {
        memory: Some(enough.clone()),
        ..ClientOptions::default()
    };
    client(options)
        .open_and_read(&url, &env(), &token, deadline())
        .await
        .unwrap();
    assert_eq!(enough.used(), 0, "the reservation ends with the call");
}

fn json_reply(body: &str) -> Fault {
    Fault::Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into(),
    }
}

#[tokio::test]
async fn numbers_are_decoded_as_the_text_the_api_sent() {
    let (esc, url) = stand_in().await;
    esc.push_fault(json_reply(r#"{"id": "s1"}"#));
    esc.push_fault(json_reply(
        r#"{"properties": {"big": {"value": 12345678901234567890123},
            "e": {"value": 1E2, "secret": true}, "f": {"value": [{"value": 1.50}]}}}"#,
    ));
    let value = client(ClientOptions::default())
        .open_and_read(
            &url,
            &env(),
            &SecretString::from("t"),
            Instant::now() + Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_string(&value).unwrap(),
        r#"{"big":12345678901234567890123,"e":1E2,"f":[1.50]}"#
    );
}

#[test]
fn an_invalid_or_over_long_number_is_refused_without_quoting_it() {
    let long = format!("7{}", "0".repeat(300));
    for (number, why) in [
        (
            long.as_str(),
            "the ESC value has a number longer than 256 characters",
        ),
        ("0123", "invalid JSON"),
        ("1.", "invalid JSON"),
        ("-", "invalid JSON"),
    ] {
        let body = format!(r#"{{"properties": {{"n": {{"value": {number}, "secret": true}}}}}}"#);
        let err = judge::<esc_api::wire::Environment>(
            Step::Read,
            &env(),
            StatusCode::OK,
            &HeaderMap::new(),
            body.as_bytes(),
            0,
            SystemTime::now(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{text}");
        assert!(text.contains(why), "{number}: {text}");
        assert!(!text.contains("000") && !text.contains("0123"), "{text}");
    }
}

fn judge_read(
    body: &str,
    max_values: usize,
) -> Result<esc_api::wire::Environment, esc_api::EscError> {
    judge::<esc_api::wire::Environment>(
        Step::Read,
        &env(),
        StatusCode::OK,
        &HeaderMap::new(),
        body.as_bytes(),
        max_values,
        SystemTime::now(),
    )
}

#[test]
fn an_honest_reply_of_fifty_thousand_leaves_with_traces_is_read_under_the_default_budget() {
    // Pulumi's shape: every leaf carries a trace of about a dozen JSON values.
    let trace = r#""trace":{"def":{"environment":"acme/app","begin":{"line":3,"column":5,"byte":40},"end":{"line":3,"column":9,"byte":44}}}"#;
    let leaves: Vec<String> = (0..50_000)
        .map(|i| format!(r#""key{i}":{{"value":"v{i}",{trace},"secret":false}}"#))
        .collect();
    let body = format!(
        r#"{{"properties":{{"app":{{"value":{{{}}},{trace}}}}}}}"#,
        leaves.join(",")
    );
    assert!(count_json_values(body.as_bytes(), usize::MAX) > 600_000);
    let default = esc_api::ClientOptions::default().max_reply_values;
    let read = judge_read(&body, default).unwrap();
    assert_eq!(read.values, 50_001 + esc_api::OBJECT_WEIGHT);
}

#[test]
fn a_reply_that_keeps_more_values_than_the_budget_is_refused_whatever_its_shape() {
    for body in [
        // Bare values, a user's property named `trace`, values repeated in one wrapper.
        format!(
            r#"{{"properties":{{"a":[{}]}}}}"#,
            vec!["0"; 1000].join(",")
        ),
        format!(
            r#"{{"properties":{{"trace":{{"value":[{}]}}}}}}"#,
            vec!["0"; 1000].join(",")
        ),
        format!(
            r#"{{"properties":{{"a":{{"value":[{0}],"value":[{0}]}}}}}}"#,
            vec!["0"; 500].join(",")
        ),
    ] {
        let err = judge_read(&body, 1000).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::TooManyValues { limit: 1000 }),
            "{err}"
        );
    }
}
