//! End to end with no stored token: the real `esc-csi esc-server` trusting a key made here,
//! the real `esc-csi serve` daemon, and a Mount over its unix socket carrying only a signed
//! service-account token (workload identity); and the same with only a nodePublishSecretRef.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use esc_csi_provider::grpc::dialer::connect;
use esc_csi_provider::grpc::proto::v1alpha1::MountRequest;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::json;
use support::Process;

const ISSUER: &str = "https://oidc.cluster.test";
const AUDIENCE: &str = "urn:pulumi:org:acme";
const EXCHANGED: &str = "issued an access token by token exchange";

/// `esc-csi esc-server` over a folder with `acme/shop/dev`; returns it and its API URL.
fn esc_server(dir: &Path, extra: &[&str]) -> (Process, String) {
    std::fs::create_dir_all(dir.join("envs/shop")).unwrap();
    std::fs::write(
        dir.join("envs/shop/dev.yaml"),
        "values:\n  app:\n    greeting: hello from ESC\n",
    )
    .unwrap();
    let envs = dir.join("envs");
    let mut args = vec![
        "esc-server",
        "--listen",
        "127.0.0.1:0",
        "--environments",
        envs.to_str().unwrap(),
    ];
    args.extend(extra);
    let mut server = Process::spawn(&args, &[]);
    let line = server.wait_for("esc-server listening");
    let start = line.find("http://").expect("a URL in the log line");
    let url = line[start..].split_whitespace().next().unwrap().to_owned();
    (server, url)
}

/// `esc-csi serve` on `socket`, with `api_url` as the default apiUrl.
fn daemon(socket: &Path, api_url: &str) -> Process {
    let process = Process::spawn(
        &["serve", "--endpoint", socket.to_str().unwrap()],
        &[("ESC_CSI_API_URL", api_url)],
    );
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    process
}

async fn mount(socket: PathBuf, attributes: &serde_json::Value, secrets: &str) -> Vec<u8> {
    let response = connect(socket)
        .await
        .unwrap()
        .mount(MountRequest {
            attributes: attributes.to_string(),
            secrets: secrets.into(),
            target_path: "/t".into(),
            permission: "420".into(),
            current_object_version: vec![],
        })
        .await
        .unwrap_or_else(|status| panic!("mount failed: {status:?}"))
        .into_inner();
    assert_eq!(response.files.len(), 1);
    assert_eq!(response.files[0].path, "greeting");
    response.files[0].contents.to_vec()
}

/// The class and pod attributes the driver sends, plus `extra`.
fn attributes(extra: &serde_json::Value) -> serde_json::Value {
    let mut attributes = json!({
        "organization": "acme",
        "project": "shop",
        "environment": "dev",
        "secrets": "- fileName: greeting\n  secretKey: app.greeting\n",
        "secretProviderClass": "shop",
        "csi.storage.k8s.io/pod.name": "web-0",
        "csi.storage.k8s.io/pod.namespace": "shop",
        "csi.storage.k8s.io/pod.uid": "u-1",
        "csi.storage.k8s.io/serviceAccount.name": "web",
        "csi.storage.k8s.io/ephemeral": "true",
    });
    for (k, v) in extra.as_object().unwrap() {
        attributes[k] = v.clone();
    }
    attributes
}

/// A fresh ES256 key: the JWKS file esc-server trusts, and a projected service-account token
/// for `AUDIENCE` signed with it, as the kubelet would hand the driver.
fn identity(dir: &Path) -> (PathBuf, String) {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("cluster-key".into());
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap(),
    )
    .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("cluster-key".into());
    let claims = json!({
        "iss": ISSUER,
        "aud": [AUDIENCE],
        "sub": "system:serviceaccount:shop:web",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    });
    (jwks, jsonwebtoken::encode(&header, &claims, &key).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_mounts_with_only_its_service_account_token_exchanged_once_then_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (jwks, sa_token) = identity(dir.path());
    let (server, url) = esc_server(
        dir.path(),
        &[
            "--oidc-issuer",
            ISSUER,
            "--oidc-jwks",
            jwks.to_str().unwrap(),
        ],
    );
    let socket = dir.path().join("pulumi.sock");
    let daemon = daemon(&socket, &url);
    let tokens =
        json!({AUDIENCE: {"token": sa_token, "expirationTimestamp": "2099-01-01T00:00:00Z"}});
    let attributes = attributes(&json!({
        "csi.storage.k8s.io/serviceAccount.tokens": tokens.to_string(),
    }));

    for _ in 0..2 {
        let content = mount(socket.clone(), &attributes, "{}").await;
        assert_eq!(content, b"hello from ESC");
    }

    let daemon_logs = daemon.terminate();
    let server_logs = server.terminate();
    assert_eq!(
        server_logs.matches(EXCHANGED).count(),
        1,
        "the second mount should reuse the cached token: {server_logs}"
    );
    assert!(
        server_logs.contains("system:serviceaccount:shop:web"),
        "{server_logs}"
    );
    for logs in [&daemon_logs, &server_logs] {
        assert!(!logs.contains(&sa_token), "{logs}");
        assert!(!logs.contains("pul-local-"), "{logs}");
    }
    assert_eq!(
        daemon_logs.matches(": mounted files=1").count(),
        2,
        "{daemon_logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_mounts_with_only_a_node_publish_secret_ref_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = "pul-npsr-test-token-9f3e";
    let (server, url) = esc_server(dir.path(), &["--token", token]);
    let socket = dir.path().join("pulumi.sock");
    let daemon = daemon(&socket, &url);
    let secrets = json!({"pulumi-access-token": token}).to_string();

    let content = mount(socket.clone(), &attributes(&json!({})), &secrets).await;
    assert_eq!(content, b"hello from ESC");

    let daemon_logs = daemon.terminate();
    let server_logs = server.terminate();
    assert!(!server_logs.contains(EXCHANGED), "{server_logs}");
    for logs in [&daemon_logs, &server_logs] {
        assert!(!logs.contains(token), "{logs}");
    }
}
