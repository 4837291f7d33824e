//! Secret values, tokens and the request's `secrets` field never reach the logs: every log line
//! of every crate, at TRACE, across successful mounts and every failure path, is captured and
//! searched. (Its own test binary: the capture is process-wide.)

#[path = "it/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use esc_csi_testkit::{Fault, secret};
use serde_json::json;
use support::{ENV, Harness, TOKEN};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SECRET_VALUE: &str = "s3cr3t-db-password-8f1e";
const PLAIN_VALUE: &str = "plain-config-value-77ac";
const NODE_TOKEN: &str = "pul-node-publish-token-5d2b";
const SA_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.service-account-jwt.sig9c";

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_value_or_token_reaches_the_logs_on_any_path() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    let forbidden = [
        SECRET_VALUE,
        PLAIN_VALUE,
        TOKEN,
        NODE_TOKEN,
        SA_JWT,
        encoded.as_str(),
    ];

    let h = Harness::start().await;
    h.esc.accept_token(NODE_TOKEN);
    h.esc.set_wire(
        ENV,
        "",
        json!({
            "db": secret(json!({"password": SECRET_VALUE, "encoded": encoded})),
            "plain": {"value": PLAIN_VALUE},
        }),
    );
    let tokens =
        json!({"pulumi": {"token": SA_JWT, "expirationTimestamp": "2030-01-01T00:00:00Z"}})
            .to_string();
    let class = |secrets: &str| {
        h.attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "prod"),
            ("authSecretName", "pulumi-creds"),
            ("secrets", secrets),
            ("csi.storage.k8s.io/serviceAccount.tokens", &tokens),
        ])
    };
    let good = class(
        "- {fileName: pw, secretKey: db.password}\n- {fileName: plain, secretKey: plain}\n\
         - {fileName: bin, secretKey: db.encoded, encoding: base64}\n- {fileName: all, secretKey: ''}\n",
    );
    let node_secrets = json!({"pulumi-access-token": NODE_TOKEN}).to_string();

    // Successes: auth Secret and nodePublishSecretRef.
    h.mount(good.clone()).await.unwrap();
    h.mount_with(good.clone(), &node_secrets, "420")
        .await
        .unwrap();

    // Item failures that involve the values: bad decoding of a secret, a missing key beside it.
    let failures = [
        class("- {fileName: x, secretKey: db.password, encoding: hex}\n"),
        class("- {fileName: x, secretKey: db.pasword}\n"),
        class("- {fileName: x, secretKey: 'db.password.deeper'}\n"),
        class("- {fileName: x, secretKey: plain, encoding: hex}\n"),
    ];
    for attributes in failures {
        h.mount(attributes).await.unwrap_err();
    }
    // Workload identity failures: the exchange refused (the stand-in has no token endpoint),
    // no token for the audience, and a malformed tokens attribute holding the JWT.
    let oidc = |audience: &str, tokens: &str| {
        h.attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "prod"),
            ("authMethod", "oidc"),
            ("oidcAudience", audience),
            ("secrets", "- {fileName: pw, secretKey: db.password}"),
            ("csi.storage.k8s.io/serviceAccount.tokens", tokens),
        ])
    };
    h.mount(oidc("pulumi", &tokens)).await.unwrap_err();
    h.mount(oidc("other", &tokens)).await.unwrap_err();
    h.mount(oidc(
        "pulumi",
        &format!("{{\"pulumi\": {{\"token\": \"{SA_JWT}\""),
    ))
    .await
    .unwrap_err();
    // Invalid class, invalid secrets field, bad permission.
    h.mount(class("- {fileName: /abs, secretKey: a}"))
        .await
        .unwrap_err();
    h.mount_with(
        good.clone(),
        &format!("{{\"pulumi-access-token\": {NODE_TOKEN}"),
        "420",
    )
    .await
    .unwrap_err();
    h.mount_with(good.clone(), &node_secrets, "nope")
        .await
        .unwrap_err();
    // ESC failures, including a malformed body that echoes a value, and a timeout.
    for fault in [
        Fault::status(401, "Unauthorized"),
        Fault::status(500, "boom").with_header("X-Pulumi-Request-ID", "r-1"),
        Fault::Reply {
            status: 200,
            headers: vec![],
            body: format!("{{\"id\": [\"{SECRET_VALUE}\"]}}"),
        },
    ] {
        h.esc.push_fault(fault);
        h.mount(good.clone()).await.unwrap_err();
    }
    h.esc.push_fault(Fault::Reply {
        status: 200,
        headers: vec![],
        body: json!({"id": "s"}).to_string(),
    });
    h.esc.push_fault(Fault::Reply {
        status: 200,
        headers: vec![],
        body: format!(
            "{{\"properties\": {{\"x\": {{\"value\": \"{SECRET_VALUE}\", \"secret\": [}}"
        ),
    });
    h.mount(good.clone()).await.unwrap_err();
    // Kubernetes failures.
    h.kube.push_fault(Fault::status(500, "etcd unavailable"));
    h.mount(good.clone()).await.unwrap_err();
    h.kube.forbid("default");
    h.mount(good.clone()).await.unwrap_err();
    // A mount that runs out of time.
    let slow = Harness::with(
        Default::default(),
        esc_csi_provider::grpc::ServiceOptions {
            mount_timeout: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await;
    slow.esc.accept_token(NODE_TOKEN);
    slow.esc.push_fault(Fault::Delay(Duration::from_secs(5)));
    let slow_class = slow.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("secrets", "- {fileName: pw, secretKey: db.password}"),
        ("csi.storage.k8s.io/serviceAccount.tokens", &tokens),
    ]);
    let status = slow
        .mount_with(slow_class, &node_secrets, "420")
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);

    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.len() > 1000,
        "the capture must have seen the mounts:\n{logs}"
    );
    for needle in forbidden {
        assert!(
            !logs.contains(needle),
            "the logs contain {needle:?}:\n{}",
            logs.lines()
                .filter(|l| l.contains(needle))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // What operators need is there: pod, namespace, class, environment, outcome.
    let mounted = logs
        .lines()
        .find(|l| l.contains("mounted"))
        .expect("a success line");
    for expected in [
        "app-7d9f8",
        "default",
        "app-secrets",
        "acme/app/prod",
        "files=4",
    ] {
        assert!(
            mounted.contains(expected),
            "{expected} missing from: {mounted}"
        );
    }
    assert!(logs.contains("mount failed"));
}
