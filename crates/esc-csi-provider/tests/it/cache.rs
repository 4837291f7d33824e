//! Caching and coalescing of ESC environments and auth Secrets, through the real service.

use crate::support;

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

// ---- the store against a reference model ----------------------------------------------------

mod model {
    //! `cache::Store`'s keeping rules (TTL, entry and byte bounds, least recently used first)
    //! checked against a plain list kept in recency order, over random operations and options.
    //! The clock is tokio's, paused, so ages are exact.

    use std::time::Duration;

    use esc_csi_provider::cache::{CacheOptions, Store};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Get(u8),
        Insert(u8, u32, usize),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..6).prop_map(Op::Get),
            4 => (0u8..6, any::<u32>(), 0usize..60).prop_map(|(k, v, b)| Op::Insert(k, v, b)),
            1 => (0u64..150).prop_map(Op::Wait),
        ]
    }

    /// Entries least recently used first: (key, value, stored at ms, bytes).
    struct Model {
        ttl: u64,
        max_entries: usize,
        max_bytes: usize,
        now: u64,
        entries: Vec<(u8, u32, u64, usize)>,
    }

    impl Model {
        fn fresh(&self, stored: u64) -> bool {
            self.now - stored < self.ttl
        }

        fn bytes(&self) -> usize {
            self.entries.iter().map(|e| e.3).sum()
        }

        fn get(&mut self, key: u8) -> Option<u32> {
            let i = self.entries.iter().position(|e| e.0 == key)?;
            let entry = self.entries.remove(i);
            if !self.fresh(entry.2) {
                return None;
            }
            self.entries.push(entry);
            Some(entry.1)
        }

        fn insert(&mut self, key: u8, value: u32, bytes: usize) {
            if self.ttl == 0 || self.max_entries == 0 || bytes > self.max_bytes {
                return;
            }
            self.entries.retain(|e| e.0 != key);
            let full =
                |m: &Self| m.entries.len() >= m.max_entries || m.bytes() + bytes > m.max_bytes;
            if full(self) {
                let now = self.now;
                let ttl = self.ttl;
                self.entries.retain(|e| now - e.2 < ttl);
            }
            while full(self) && !self.entries.is_empty() {
                self.entries.remove(0);
            }
            self.entries.push((key, value, self.now, bytes));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn the_store_keeps_and_evicts_exactly_as_a_recency_list_would(
            ttl in prop_oneof![Just(0u64), Just(100), Just(1_000)],
            max_entries in 0usize..5,
            max_bytes in 0usize..150,
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(async {
                let store: Store<u8, u32, ()> = Store::new(CacheOptions {
                    ttl: Duration::from_millis(ttl),
                    max_entries,
                    max_bytes,
                });
                let mut model = Model { ttl, max_entries, max_bytes, now: 0, entries: Vec::new() };
                for (step, op) in ops.iter().enumerate() {
                    match *op {
                        Op::Get(key) => {
                            let got = store.get(&key).map(|(v, _)| v);
                            prop_assert_eq!(got, model.get(key), "step {}: {:?}", step, op);
                        }
                        Op::Insert(key, value, bytes) => {
                            store.insert(key, value, bytes);
                            model.insert(key, value, bytes);
                        }
                        Op::Wait(ms) => {
                            tokio::time::advance(Duration::from_millis(ms)).await;
                            model.now += ms;
                        }
                    }
                    let (entries, bytes) = store.size();
                    prop_assert!(entries <= max_entries && bytes <= max_bytes, "step {}", step);
                    // Expired entries linger alike in both until touched or pushed out.
                    prop_assert_eq!(entries, model.entries.len(), "step {}: entries", step);
                    prop_assert_eq!(bytes, model.bytes(), "step {}: bytes", step);
                }
                Ok(())
            })?;
        }
    }
}
