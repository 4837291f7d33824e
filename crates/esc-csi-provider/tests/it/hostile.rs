//! Hostile classes, requests and replies through the real service: each is refused with a
//! clear message naming the budget and its flag, and costs the daemon a bounded amount of
//! memory, asserted through the node-wide budget's own accounting (never wall-clock time).

use crate::support;

use esc_api::MemoryBudget;
use esc_csi_provider::class::Settings;
use esc_csi_provider::class::limits::ClassLimits;
use esc_csi_provider::grpc::ServiceOptions;
use serde_json::json;
use support::{Config, Harness};
use tonic::Code;

const MIB: usize = 1 << 20;

/// A harness whose service and ESC client share one memory budget of `limit` bytes.
async fn with_memory(
    limit: usize,
    options: ServiceOptions,
) -> (Harness, std::sync::Arc<MemoryBudget>) {
    let memory = MemoryBudget::new(limit);
    let mut config = Config {
        options: ServiceOptions {
            memory: Some(memory.clone()),
            ..options
        },
        ..Config::default()
    };
    config.client.memory = Some(memory.clone());
    (Harness::configured(config).await, memory)
}

#[tokio::test]
async fn four_hundred_items_of_one_mebibyte_value_stop_rendering_at_the_first_overflow() {
    let (h, memory) = with_memory(512 * MIB, ServiceOptions::default()).await;
    h.set_env(json!({"big": "x".repeat(MIB)}));
    let secrets: String = (0..400)
        .map(|i| format!("- {{fileName: f{i}, secretKey: big}}\n"))
        .collect();
    let status = h.mount(h.class(&secrets)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains("over the 4194304-byte limit (--max-response-bytes)"),
        "{}",
        status.message()
    );
    // The reply (1 MiB, held twice while decoding) and four files at most (held twice each),
    // not 400 of them.
    assert!(memory.peak() < 16 * MIB, "peak {} bytes", memory.peak());
    assert_eq!(memory.used(), 0, "everything is released after the mount");
}

#[tokio::test]
async fn the_replys_memory_stays_charged_while_its_files_render_and_is_released_after() {
    let (h, memory) = with_memory(64 * MIB, ServiceOptions::default()).await;
    h.set_env(json!({"big": "x".repeat(MIB)}));
    let response = h
        .mount(h.class("- {fileName: big, secretKey: big}\n"))
        .await
        .unwrap();
    assert_eq!(response.files[0].contents.len(), MIB);
    // The decoded reply (its 1 MiB string) and the file (charged twice: it and its encoded
    // copy) at the same time, not one after the other.
    assert!(memory.peak() >= 3 * MIB, "peak {} bytes", memory.peak());
    // The server lets go of the body just after its last frame, which may be just after the
    // client has the response.
    for _ in 0..200 {
        if memory.used() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        memory.used(),
        0,
        "everything is released once the response is sent"
    );
}

#[tokio::test]
async fn a_mount_that_can_never_fit_the_node_wide_memory_budget_is_refused_naming_the_flag() {
    let (h, memory) = with_memory(3 * MIB, ServiceOptions::default()).await;
    h.set_env(json!({"big": "x".repeat(2 * MIB)}));
    let status = h
        .mount(h.class("- {fileName: big, secretKey: big}\n"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("--max-memory-in-flight"),
        "{}",
        status.message()
    );
    assert!(memory.peak() <= 3 * MIB);
    assert_eq!(memory.used(), 0);
}

#[tokio::test]
async fn an_esc_reply_of_too_many_values_is_refused_before_it_is_decoded() {
    let mut config = Config::default();
    config.client.max_reply_values = 1000;
    let h = Harness::configured(config).await;
    h.set_env(json!({"many": vec![0; 5000]}));
    let status = h
        .mount(h.class("- {fileName: a, secretKey: many}\n"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains("more than 1000 JSON values (esc-csi's --max-esc-reply-values)"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn deeply_nested_flow_yaml_in_secrets_is_refused_before_the_parser_runs() {
    let h = Harness::start().await;
    let secrets = format!("- {{fileName: a, x: {}}}\n", "[".repeat(80_000));
    let status = h.mount(h.class(&secrets)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(
            "parameter secrets: nests collections more than 16 deep (raise esc-csi's \
             --max-secrets-depth)"
        ),
        "{}",
        status.message()
    );
    // The daemon still answers.
    h.client
        .clone()
        .version(esc_csi_provider::grpc::proto::v1alpha1::VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn aliases_of_one_large_file_name_stop_at_the_expansion_budget_with_a_short_message() {
    let h = Harness::start().await;
    let name = "n".repeat(4096);
    let mut secrets = format!("- {{fileName: &a {name}, secretKey: a}}\n");
    while secrets.len() < 200 << 10 {
        secrets.push_str("- {fileName: *a, secretKey: a}\n");
    }
    let status = h.mount(h.class(&secrets)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(
            "expands to more than 1048576 bytes once YAML aliases (*name) are replaced by their \
             anchors (raise esc-csi's --max-secrets-expanded-bytes)"
        ),
        "{}",
        status.message()
    );
    assert!(status.message().len() < 1024);
}

#[tokio::test]
async fn many_bad_items_make_a_message_of_twenty_problems_and_a_count() {
    let h = Harness::start().await;
    let secrets: String = (0..900)
        .map(|i| format!("- {{fileName: '/abs{i}', secretKey: a}}\n"))
        .collect();
    let status = h.mount(h.class(&secrets)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().ends_with("; … and 880 more"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_class_over_the_item_and_size_limits_is_refused_naming_each_flag() {
    let settings = Settings {
        limits: ClassLimits {
            max_items: 3,
            max_secrets_bytes: 200,
            ..ClassLimits::default()
        },
        ..Settings::default()
    };
    let h = Harness::with(settings, ServiceOptions::default()).await;
    let four: String = (0..4).map(|i| format!("- {{fileName: f{i}}}\n")).collect();
    let status = h.mount(h.class(&four)).await.unwrap_err();
    assert!(
        status.message().contains(
            "parameter secrets: lists 4 items, over the limit of 3 (split the class, or raise \
             esc-csi's --max-secrets-items)"
        ),
        "{}",
        status.message()
    );
    let long = format!("- {{fileName: {}}}\n", "a".repeat(300));
    let status = h.mount(h.class(&long)).await.unwrap_err();
    assert!(
        status.message().contains(
            "parameter secrets: is 315 bytes, over the limit of 200 (raise esc-csi's \
             --max-secrets-bytes)"
        ),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_request_over_the_request_limit_is_refused_before_it_is_decoded() {
    let options = ServiceOptions {
        max_request_bytes: 64 << 10,
        ..ServiceOptions::default()
    };
    let h = Harness::with(Settings::default(), options).await;
    let mut attributes = h.class("- {fileName: a}\n");
    attributes.insert_str(1, &format!("\"padding\": \"{}\", ", "p".repeat(100 << 10)));
    let status = h.mount(attributes).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}

#[tokio::test]
async fn no_auth_secret_is_read_when_the_pods_namespace_is_missing_or_empty() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    h.kube.put_secret(
        "payments",
        "shared",
        &[("pulumi-access-token", support::TOKEN)],
    );
    let with = |namespace: Option<&str>| {
        let text = h.attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "prod"),
            ("authSecretName", "shared"),
            ("authSecretNamespace", "payments"),
            ("secrets", "- {fileName: a, secretKey: a}\n"),
            ("csi.storage.k8s.io/pod.namespace", namespace.unwrap_or("")),
        ]);
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).unwrap();
        if namespace.is_none() {
            map.remove("csi.storage.k8s.io/pod.namespace");
        }
        serde_json::Value::Object(map).to_string()
    };
    for namespace in [None, Some(""), Some("  ")] {
        let status = h.mount(with(namespace)).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{namespace:?}: {status:?}"
        );
        assert!(
            status
                .message()
                .contains("the request does not say the pod's namespace"),
            "{}",
            status.message()
        );
    }
    assert!(h.kube.calls().is_empty(), "{:?}", h.kube.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_hostile_mounts_at_once_stay_inside_the_node_wide_memory_budget() {
    let limit = 48 * MIB;
    let (h, memory) = with_memory(limit, ServiceOptions::default()).await;
    h.set_env(json!({"big": "x".repeat(MIB)}));
    let secrets: String = (0..400)
        .map(|i| format!("- {{fileName: f{i}, secretKey: big}}\n"))
        .collect();
    let class = h.class(&secrets);
    let mounts: Vec<_> = (0..32)
        .map(|_| {
            let (client, class) = (h.client.clone(), class.clone());
            tokio::spawn(async move {
                let mut client = client;
                client
                    .mount(esc_csi_provider::grpc::proto::v1alpha1::MountRequest {
                        attributes: class,
                        secrets: "{}".into(),
                        target_path: "/t".into(),
                        permission: "420".into(),
                        current_object_version: vec![],
                    })
                    .await
            })
        })
        .collect();
    for mount in mounts {
        let status = mount.await.unwrap().unwrap_err();
        assert!(
            matches!(status.code(), Code::ResourceExhausted | Code::Unavailable),
            "{status:?}"
        );
    }
    assert!(memory.peak() <= limit, "peak {}", memory.peak());
    assert_eq!(memory.used(), 0);
}
