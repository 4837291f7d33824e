//! Caching and coalescing of ESC environments and auth Secrets, through the real service.

mod support;

use std::sync::Arc;
use std::time::Duration;

use esc_csi_provider::cache::CacheOptions;
use esc_csi_testkit::Fault;
use serde_json::json;
use support::{Config, Harness, files};
use tonic::Code;

const CLASS: &str = "- {fileName: a, secretKey: a}";

fn cached(ttl: Duration) -> Config {
    Config {
        cache: Some(CacheOptions {
            ttl,
            ..CacheOptions::environments()
        }),
        secret_cache: Some(CacheOptions::auth_secrets()),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_hundred_concurrent_identical_mounts_make_one_open_and_one_read() {
    let h = Arc::new(Harness::configured(cached(Duration::from_secs(30))).await);
    h.set_env(json!({"a": "x"}));
    // The open is slow, so that the mounts really are in flight together.
    h.esc.push_fault(Fault::Delay(Duration::from_millis(300)));
    let mut mounts = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let h = h.clone();
        mounts.spawn(async move { h.mount(h.class(CLASS)).await });
    }
    while let Some(result) = mounts.join_next().await {
        let response = result.unwrap().unwrap();
        assert_eq!(files(&response), [("a".into(), 0o644, "x".into())]);
    }
    assert_eq!((h.esc.opens(), h.esc.reads()), (1, 1));
    assert_eq!(h.kube.calls().len(), 1, "the auth Secret is read once too");
    let text = h.metrics_text();
    assert!(
        text.contains("esc_csi_cache_requests_total{cache=\"environment\",result=\"miss\"} 1"),
        "{text}"
    );
    assert!(text.contains("esc_csi_esc_requests_total{endpoint=\"open\",status=\"200\"} 1"));
}

#[tokio::test]
async fn a_cached_environment_is_never_given_to_another_token() {
    let h = Harness::configured(cached(Duration::from_secs(30))).await;
    h.set_env(json!({"a": "x"}));
    h.mount(h.class(CLASS)).await.unwrap();
    // The same environment with a token ESC refuses: the refusal, not the cached values.
    let status = h
        .mount_with(
            h.class(CLASS),
            r#"{"pulumi-access-token": "pul-someone-else"}"#,
            "420",
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // A second accepted token gets its own entry.
    h.esc.accept_token("pul-second-token");
    h.mount_with(
        h.class(CLASS),
        r#"{"pulumi-access-token": "pul-second-token"}"#,
        "420",
    )
    .await
    .unwrap();
    assert_eq!(h.esc.opens(), 3);
    // And the first token's entry still answers it.
    h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(h.esc.opens(), 3);
}

#[tokio::test]
async fn results_are_kept_for_the_ttl_and_fetched_again_after_it() {
    let h = Harness::configured(cached(Duration::from_millis(400))).await;
    h.set_env(json!({"a": "old"}));
    h.mount(h.class(CLASS)).await.unwrap();
    h.set_env(json!({"a": "new"}));
    let kept = h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(files(&kept)[0].2, "old");
    assert_eq!(h.esc.opens(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let fresh = h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(files(&fresh)[0].2, "new");
    assert_eq!(h.esc.opens(), 2);
}

#[tokio::test]
async fn a_zero_ttl_fetches_every_time() {
    let h = Harness::configured(cached(Duration::ZERO)).await;
    h.set_env(json!({"a": "x"}));
    h.mount(h.class(CLASS)).await.unwrap();
    h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(h.esc.opens(), 2);
}

#[tokio::test]
async fn errors_are_not_kept() {
    let h = Harness::configured(cached(Duration::from_secs(30))).await;
    h.set_env(json!({"a": "x"}));
    h.esc.push_fault(Fault::status(500, "boom"));
    let status = h.mount(h.class(CLASS)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(h.esc.opens(), 2);
}

#[tokio::test]
async fn the_entry_bound_evicts_the_least_recently_used_environment() {
    let config = Config {
        cache: Some(CacheOptions {
            max_entries: 1,
            ..CacheOptions::environments()
        }),
        ..Config::default()
    };
    let h = Harness::configured(config).await;
    h.set_env(json!({"a": "x"}));
    h.esc.set("acme/app/other", json!({"a": "y"}));
    let other = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "other"),
        ("authSecretName", "pulumi-creds"),
        ("secrets", CLASS),
    ]);
    h.mount(h.class(CLASS)).await.unwrap();
    h.mount(other.clone()).await.unwrap();
    h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(
        h.esc.opens(),
        3,
        "one entry: each environment evicts the other"
    );
    h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(h.esc.opens(), 3);
}

#[tokio::test]
async fn auth_secret_reads_are_cached_briefly_and_failures_are_not() {
    let config = Config {
        secret_cache: Some(CacheOptions {
            ttl: Duration::from_millis(400),
            ..CacheOptions::auth_secrets()
        }),
        ..Config::default()
    };
    let h = Harness::configured(config).await;
    h.set_env(json!({"a": "x"}));
    h.kube.push_fault(Fault::status(500, "etcd is sad"));
    h.mount(h.class(CLASS)).await.unwrap_err();
    h.mount(h.class(CLASS)).await.unwrap();
    h.mount(h.class(CLASS)).await.unwrap();
    assert_eq!(h.kube.calls().len(), 2);
    // A rotated token is seen once the entry expires.
    h.kube.put_secret(
        "default",
        "pulumi-creds",
        &[("pulumi-access-token", "pul-rotated")],
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let status = h.mount(h.class(CLASS)).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::Unauthenticated,
        "ESC refuses the new token"
    );
    assert_eq!(h.kube.calls().len(), 3);
}
