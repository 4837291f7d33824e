//! Each way the ESC stand-in can misbehave, once, through the real service: the mount either
//! succeeds after a retry with the right content, or fails whole with a message that says what
//! went wrong and never quotes what the server sent.

use crate::support;

use std::time::Duration;

use esc_api::{ClientOptions, RetryPolicy};
use esc_csi_testkit::{Chaos, Fault};
use serde_json::json;
use support::{Config, Harness, files};
use tonic::Code;

const CLASS: &str = "- {fileName: a, secretKey: a}\n- {fileName: b, secretKey: b}";

fn retrying(max_response_bytes: usize) -> Config {
    Config {
        client: ClientOptions {
            retry: RetryPolicy {
                max_attempts: 3,
                base: Duration::from_millis(10),
                cap: Duration::from_millis(50),
            },
            max_response_bytes,
            ..ClientOptions::default()
        },
        ..Config::default()
    }
}

async fn mount_after(fault: Fault) -> (Harness, Result<Vec<(String, u32, String)>, tonic::Status>) {
    let h = Harness::configured(retrying(1 << 20)).await;
    h.set_env(json!({"a": "alpha", "b": "bravo"}));
    h.esc.push_fault(fault);
    let result = h.mount(h.class(CLASS)).await.map(|r| files(&r));
    (h, result)
}

fn both_files() -> Vec<(String, u32, String)> {
    vec![
        ("a".to_owned(), 0o644, "alpha".to_owned()),
        ("b".to_owned(), 0o644, "bravo".to_owned()),
    ]
}

#[tokio::test]
async fn a_connection_reset_mid_answer_is_retried_and_the_mount_succeeds() {
    let (h, result) = mount_after(Fault::Reset).await;
    assert_eq!(result.unwrap(), both_files());
    assert_eq!(h.esc.opens(), 2);
}

#[tokio::test]
async fn a_truncated_body_fails_the_whole_mount_with_a_clear_message() {
    let (_h, result) = mount_after(Fault::Truncate).await;
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("acme/app/prod"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_fails_the_mount_without_quoting_it() {
    let (_h, result) = mount_after(Fault::Malformed).await;
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("acme/app/prod"),
        "{}",
        status.message()
    );
    assert!(
        !status.message().contains("Bad Gateway"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_cut_off_and_named_as_too_large() {
    let (_h, result) = mount_after(Fault::Huge(4 << 20)).await;
    let status = result.unwrap_err();
    assert!(status.message().contains("1048576"), "{}", status.message());
    assert!(
        status.message().contains("acme/app/prod"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_chaos_schedule_is_the_same_for_the_same_seed() {
    let draw = |seed| {
        let mut kinds = Vec::new();
        let mut chaos = Chaos::new(seed)
            .with(30.0, Fault::Reset)
            .with(30.0, Fault::Malformed);
        for _ in 0..50 {
            kinds.push(chaos.next_kind());
        }
        kinds
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
    let kinds = draw(7);
    assert!(kinds.contains(&"reset") && kinds.contains(&"malformed") && kinds.contains(&"none"));
}

#[tokio::test]
async fn a_huge_error_page_from_the_kubernetes_api_is_not_quoted_whole() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "alpha", "b": "bravo"}));
    let page = format!("<html>{}</html>", "x".repeat(1 << 20));
    h.kube.push_fault(Fault::status(500, &page));
    let status = h.mount(h.class(CLASS)).await.unwrap_err();
    let message = status.message();
    let head = &message[..message.len().min(300)];
    assert_eq!(status.code(), Code::Unavailable, "{head}");
    assert!(
        message.starts_with(
            "cannot read Kubernetes Secret default/pulumi-creds: the API server answered 500: <html>xxx"
        ),
        "{head}"
    );
    assert!(message.len() < 1000, "{} bytes", message.len());
}
