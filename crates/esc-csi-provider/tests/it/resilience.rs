//! Retries, the concurrency limit and stale serving, through the real service.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use esc_api::{ClientOptions, RetryPolicy};
use esc_csi_provider::fetch::stale::StaleOptions;
use esc_csi_provider::grpc::ServiceOptions;
use esc_csi_testkit::{DroppingProxy, Fault};
use serde_json::json;
use support::{Config, Harness, files, versions};
use tonic::Code;

const CLASS: &str = "- {fileName: a, secretKey: a}";
const POD: &str = "0f0e5a8c-1111-2222-3333-444455556666";

/// Retries with short backoffs, so that tests stay quick.
fn retrying() -> Config {
    Config {
        client: ClientOptions {
            retry: RetryPolicy {
                max_attempts: 5,
                base: Duration::from_millis(20),
                cap: Duration::from_millis(100),
            },
            ..ClientOptions::default()
        },
        ..Config::default()
    }
}

#[tokio::test]
async fn server_errors_are_retried_until_the_mount_succeeds() {
    let h = Harness::configured(retrying()).await;
    h.set_env(json!({"a": "x"}));
    h.esc.push_fault(Fault::status(503, "unavailable"));
    h.esc.push_fault(Fault::status(502, "bad gateway"));
    h.esc.push_fault(Fault::status(500, "internal"));
    let response = h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(files(&response)[0].2, "x");
    assert_eq!((h.esc.opens(), h.esc.reads()), (4, 1));
    let text = h.metrics_text();
    assert!(
        text.contains("esc_csi_esc_retries_total{endpoint=\"open\"} 3"),
        "{text}"
    );
    assert!(text.contains("esc_csi_esc_requests_total{endpoint=\"open\",status=\"503\"} 1"));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after() {
    let h = Harness::configured(retrying()).await;
    h.set_env(json!({"a": "x"}));
    h.esc
        .push_fault(Fault::status(429, "slow down").with_header("Retry-After", "1"));
    let started = Instant::now();
    h.mount(h.class(CLASS)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(h.esc.opens(), 2);
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_fails_at_once_with_the_429_message() {
    let mut config = retrying();
    config.options = ServiceOptions {
        mount_timeout: Duration::from_secs(5),
        ..ServiceOptions::default()
    };
    let h = Harness::configured(config).await;
    h.set_env(json!({"a": "x"}));
    h.esc
        .push_fault(Fault::status(429, "rate limit exceeded").with_header("Retry-After", "60"));
    let started = Instant::now();
    let status = h.mount(h.class(CLASS)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status
            .message()
            .contains("HTTP 429 Too Many Requests: rate limit exceeded"),
        "{}",
        status.message()
    );
    assert_eq!(h.esc.opens(), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let h = Harness::configured(retrying()).await;
    h.set_env(json!({"a": "x"}));
    let proxy = DroppingProxy::start(h.esc.addr(), 1).await;
    let api = format!("http://{}/api/esc", proxy.addr);
    let class = h.attributes(&[
        ("apiUrl", &api),
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("authSecretName", "pulumi-creds"),
        ("secrets", CLASS),
    ]);
    h.mount(class).await.unwrap();
    assert_eq!(proxy.dropped(), 1);
    assert_eq!((h.esc.opens(), h.esc.reads()), (1, 1));
}

#[tokio::test]
async fn refusals_are_never_retried() {
    for (status, code) in [
        (400, Code::FailedPrecondition),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::NotFound),
    ] {
        let h = Harness::configured(retrying()).await;
        h.set_env(json!({"a": "x"}));
        h.esc.push_fault(Fault::status(status, "no"));
        let refused = h.mount(h.class(CLASS)).await.unwrap_err();
        assert_eq!(refused.code(), code, "{status}");
        assert_eq!(h.esc.opens(), 1, "{status} was retried");
    }
}

#[tokio::test]
async fn retries_never_run_past_the_deadline() {
    let mut config = retrying();
    config.client.retry = RetryPolicy {
        max_attempts: 1000,
        base: Duration::from_millis(200),
        cap: Duration::from_millis(400),
    };
    config.options = ServiceOptions {
        mount_timeout: Duration::from_secs(1),
        ..ServiceOptions::default()
    };
    let h = Harness::configured(config).await;
    for _ in 0..100 {
        h.esc.push_fault(Fault::status(503, "still down"));
    }
    let started = Instant::now();
    let status = h.mount(h.class(CLASS)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    // The last failure, not a bare timeout: no wait was started that would end too late.
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    assert!(
        status.message().contains("still down"),
        "{}",
        status.message()
    );
    assert!(h.esc.opens() >= 2);
}

#[tokio::test]
async fn the_concurrency_limit_bounds_calls_in_flight_at_esc() {
    let mut config = retrying();
    config.client.max_concurrent_requests = 2;
    let h = Arc::new(Harness::configured(config).await);
    h.set_env(json!({"a": "x"}));
    for _ in 0..10 {
        h.esc.push_fault(Fault::Delay(Duration::from_millis(50)));
    }
    let mut mounts = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let h = h.clone();
        mounts.spawn(async move { h.mount(h.class(CLASS)).await });
    }
    while let Some(result) = mounts.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(h.esc.opens(), 10);
    assert_eq!(h.esc.max_in_flight(), 2);
}

#[tokio::test]
async fn waiting_for_a_turn_respects_the_deadline() {
    let mut config = retrying();
    config.client.max_concurrent_requests = 1;
    config.options = ServiceOptions {
        mount_timeout: Duration::from_secs(3),
        ..ServiceOptions::default()
    };
    let h = Arc::new(Harness::configured(config).await);
    h.set_env(json!({"a": "x"}));
    h.esc.push_fault(Fault::Delay(Duration::from_secs(10)));
    let first = {
        let h = h.clone();
        tokio::spawn(async move { h.mount(h.class(CLASS)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut request = tonic::Request::new(esc_csi_provider::grpc::proto::v1alpha1::MountRequest {
        attributes: h.class(CLASS),
        secrets: "null".into(),
        target_path: "/t".into(),
        permission: "420".into(),
        current_object_version: vec![],
    });
    request
        .metadata_mut()
        .insert("grpc-timeout", "300m".parse().unwrap());
    let started = Instant::now();
    let status = h.client.clone().mount(request).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(h.esc.opens(), 1, "the second mount never got a turn");
    assert_eq!(
        first.await.unwrap().unwrap_err().code(),
        Code::DeadlineExceeded
    );
}

// ---- Stale content ------------------------------------------------------------------------

fn stale(max_age: Duration) -> Config {
    Config {
        stale: Some(StaleOptions {
            max_age,
            max_entries: 100,
            max_bytes: 1 << 20,
        }),
        options: ServiceOptions {
            mount_timeout: Duration::from_secs(1),
            ..ServiceOptions::default()
        },
        ..Config::default()
    }
}

#[tokio::test]
async fn a_remount_gets_the_pods_last_good_content_while_esc_is_unreachable() {
    let h = Harness::configured(stale(Duration::from_secs(600))).await;
    h.set_env(json!({"a": "x"}));
    let good = h.mount(h.class_for_pod(POD)).await.unwrap();
    for fault in [
        Fault::status(503, "down"),
        Fault::status(429, "slow down"),
        Fault::status(500, "boom"),
        Fault::Delay(Duration::from_secs(60)),
        Fault::Truncate,
        Fault::Malformed,
    ] {
        h.esc.push_fault(fault);
        let again = h.mount(h.class_for_pod(POD)).await.unwrap();
        assert_eq!(files(&again), files(&good));
        assert_eq!(versions(&again), versions(&good));
    }
    let text = h.metrics_text();
    assert!(text.contains("esc_csi_stale_serves_total 6"), "{text}");
}

#[tokio::test]
async fn a_first_mount_is_never_answered_stale() {
    let h = Harness::configured(stale(Duration::from_secs(600))).await;
    h.set_env(json!({"a": "x"}));
    h.mount(h.class_for_pod(POD)).await.unwrap();
    h.esc.push_fault(Fault::status(503, "down"));
    let status = h
        .mount(h.class_for_pod("another-pod-uid"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn stale_content_is_never_served_to_another_token() {
    let h = Harness::configured(stale(Duration::from_secs(600))).await;
    h.set_env(json!({"a": "x"}));
    h.esc.accept_token("pul-second-token");
    h.mount(h.class_for_pod(POD)).await.unwrap();
    h.esc.push_fault(Fault::status(503, "down"));
    let status = h
        .mount_with(
            h.class_for_pod(POD),
            r#"{"pulumi-access-token": "pul-second-token"}"#,
            "420",
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn refusals_are_never_answered_stale() {
    let h = Harness::configured(stale(Duration::from_secs(600))).await;
    h.set_env(json!({"a": "x"}));
    h.mount(h.class_for_pod(POD)).await.unwrap();
    for (status, code) in [
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::NotFound),
    ] {
        h.esc.push_fault(Fault::status(status, "no"));
        let refused = h.mount(h.class_for_pod(POD)).await.unwrap_err();
        assert_eq!(refused.code(), code);
    }
}

#[tokio::test]
async fn content_older_than_the_allowed_age_is_not_served() {
    let h = Harness::configured(stale(Duration::from_millis(300))).await;
    h.set_env(json!({"a": "x"}));
    h.mount(h.class_for_pod(POD)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.esc.push_fault(Fault::status(503, "down"));
    let status = h.mount(h.class_for_pod(POD)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}
