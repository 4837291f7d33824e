//! Mount over the real gRPC service on a unix socket, against the ESC and Kubernetes
//! stand-ins: compatibility with the Go provider's classes, every path form, formats,
//! encodings, modes, versions and the all-or-nothing rule.

use crate::support;

use base64::Engine;
use serde_json::json;
use support::{ENV, Harness, TOKEN, example_env, files, versions};

#[tokio::test]
async fn the_go_providers_example_class_mounts_unchanged() {
    let h = Harness::start().await;
    h.esc.set(
        "dirien/esc-secrets-store-csi-driver-demo/csi-secrets-store-app",
        json!({"app": {"hello": "world"}}),
    );
    h.kube.put_secret(
        "default",
        "pulumi-secret-provider-auth-credentials",
        &[("pulumi-access-token", TOKEN)],
    );
    // examples/secretproviderclass.yaml of pulumi/pulumi-esc-csi-provider, apiUrl aside (it
    // points at the stand-in).
    let attributes = h.attributes(&[
        ("organization", "dirien"),
        ("project", "esc-secrets-store-csi-driver-demo"),
        ("environment", "csi-secrets-store-app"),
        ("authSecretName", "pulumi-secret-provider-auth-credentials"),
        ("authSecretNamespace", "default"),
        (
            "secrets",
            "- secretPath: \"/\"\n  fileName: \"hello\"\n  secretKey: \"app.hello\"\n      \n",
        ),
    ]);
    let response = h.mount(attributes).await.unwrap();
    assert_eq!(
        files(&response),
        vec![("hello".into(), 0o644, "world".into())]
    );
    assert_eq!(response.object_version.len(), 1);
    assert_eq!(response.object_version[0].id, "hello");
    assert_eq!(h.esc.opens(), 1);
    assert_eq!(h.esc.reads(), 1);
}

#[tokio::test]
async fn the_pulumi_docs_class_mounts_unchanged_with_the_objects_key_the_go_provider_knew() {
    let h = Harness::start().await;
    h.set_env(json!({"app": {"hello": "world"}}));
    // The Pulumi docs' class (with the demo's values filled in) plus the `objects` key the Go
    // provider's config declared.
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("authSecretName", "pulumi-creds"),
        ("authSecretNamespace", "default"),
        ("objects", ""),
        (
            "secrets",
            "- secretPath: \"/\"\n  fileName: \"hello\"\n  secretKey: app.hello\n",
        ),
    ]);
    let response = h.mount(attributes).await.unwrap();
    assert_eq!(
        files(&response),
        vec![("hello".into(), 0o644, "world".into())]
    );
}

#[tokio::test]
async fn every_item_is_mounted_each_with_its_own_mode() {
    let h = Harness::start().await;
    h.set_env(json!({"db": {"user": "app", "password": "hunter2"}, "port": 5432}));
    let class = h.class(
        "- fileName: db/user\n  secretKey: db.user\n\
         - fileName: db/password\n  secretKey: db.password\n  mode: \"0400\"\n\
         - fileName: port\n  secretKey: port\n  mode: \"0o440\"\n\
         - fileName: port-again\n  secretKey: port\n  mode: 0440\n",
    );
    let response = h.mount(class).await.unwrap();
    assert_eq!(
        files(&response),
        vec![
            ("db/user".into(), 0o644, "app".into()),
            ("db/password".into(), 0o400, "hunter2".into()),
            ("port".into(), 0o440, "5432".into()),
            ("port-again".into(), 0o440, "5432".into()),
        ]
    );
    let ids: Vec<_> = versions(&response).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["db/user", "db/password", "port", "port-again"]);
}

#[tokio::test]
async fn the_requests_permission_is_the_default_mode() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    let class = h.class("- fileName: a\n  secretKey: a\n");
    let response = h.mount_with(class.clone(), "{}", "256").await.unwrap();
    assert_eq!(response.files[0].mode, 0o400);
    let response = h.mount_with(class, "{}", "").await.unwrap();
    assert_eq!(response.files[0].mode, 0o644);
}

#[tokio::test]
async fn a_mount_with_every_attribute_the_driver_adds_works() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    let tokens = json!({
        "api://AzureADTokenExchange": {"token": "eyJhbGciOi.header.sig", "expirationTimestamp": "2026-11-22T07:00:00Z"},
        "pulumi": {"token": "eyJ.other.jwt", "expirationTimestamp": "2026-11-22T07:00:00Z"},
    })
    .to_string();
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("authSecretName", "pulumi-creds"),
        ("secrets", "- fileName: a\n  secretKey: a\n"),
        ("csi.storage.k8s.io/serviceAccount.tokens", &tokens),
        ("csi.storage.k8s.io/ephemeral", "false"),
        ("team", "payments"),
        ("some.volume/attribute", "anything at all"),
    ]);
    let response = h.mount(attributes).await.unwrap();
    assert_eq!(files(&response), vec![("a".into(), 0o644, "x".into())]);
}

#[tokio::test]
async fn mounting_twice_gives_the_same_versions_and_a_change_moves_only_its_files_version() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "1", "b": "2", "c": {"x": 1}}));
    let class = h.class(
        "- fileName: a\n  secretKey: a\n- fileName: b\n  secretKey: b\n- fileName: c\n  secretKey: c\n",
    );
    let first = versions(&h.mount(class.clone()).await.unwrap());
    let second = versions(&h.mount(class.clone()).await.unwrap());
    assert_eq!(first, second);

    h.set_env(json!({"a": "1", "b": "changed", "c": {"x": 1}}));
    let third = versions(&h.mount(class).await.unwrap());
    assert_eq!(third[0], first[0]);
    assert_ne!(third[1], first[1]);
    assert_eq!(third[2], first[2]);
}

#[tokio::test]
async fn equal_values_in_two_files_get_different_versions() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "same", "b": "same"}));
    let class = h.class("- fileName: a\n  secretKey: a\n- fileName: b\n  secretKey: b\n");
    let v = versions(&h.mount(class).await.unwrap());
    assert_ne!(v[0].1, v[1].1);
    assert!(!v[0].1.contains("same"));
}

#[tokio::test]
async fn every_path_example_resolves_through_a_mount() {
    let h = Harness::start().await;
    let mut env = example_env();
    env["root"]["nested"] = json!({"array": [{"double": [0, "deep"]}]});
    env["root"]["array"] = json!([
        {"nested": "a0", "field": "f0"},
        [0, {"nested": "a01"}],
        {"field": "f2"},
    ]);
    env["wide"] = json!({"array": (0..101).map(|i| format!("e{i}")).collect::<Vec<_>>()});
    env["stars"] = json!({"root": {"array": {"*": {"field": "star"}}}});
    env["mapped"] = json!({"root": {"array": [{"field": 1}, {"field": 2}]}});
    h.set_env(env);
    let cases = [
        ("root.nested.array[0].double[1]", "deep"),
        (r#"root["double"].nest"#, "dn"),
        (r#"root["double"]["nest"]"#, "dn"),
        ("root.double.nest", "dn"),
        ("root.array[0].nested", "a0"),
        ("root.array[1][1].nested", "a01"),
        (r#"root["key with \"escaped\" quotes"]"#, "q"),
        (r#"root["key with a ."]"#, "dot"),
        (r#"["root key with \"escaped\" quotes"].nested"#, "rq"),
        (r#"["root key with a ."][100]"#, "100"),
        ("wide.array[100]", "e100"),
        ("root.array[0]", r#"{"field":"f0","nested":"a0"}"#),
        ("root", ""),
    ];
    let mut yaml = String::new();
    for (i, (path, _)) in cases.iter().enumerate() {
        yaml.push_str(&format!("- fileName: f{i}\n  secretKey: '{path}'\n"));
    }
    yaml.push_str(
        "- fileName: star\n  secretPath: stars\n  secretKey: 'root.array[\"*\"].field'\n",
    );
    yaml.push_str("- fileName: mapped\n  secretPath: mapped\n  secretKey: 'root.array[*].field'\n");
    yaml.push_str("- fileName: nested\n  secretKey: root.nested\n");
    yaml.push_str("- fileName: nested2\n  secretKey: 'root[\"nested\"]'\n");
    let response = h.mount(h.class(&yaml)).await.unwrap();
    let got = files(&response);
    for (i, (path, expected)) in cases.iter().enumerate() {
        if !expected.is_empty() {
            assert_eq!(got[i].2, *expected, "secretKey {path}");
        }
    }
    let by_name = |n: &str| got.iter().find(|f| f.0 == n).unwrap().2.clone();
    assert_eq!(by_name("star"), "star");
    assert_eq!(by_name("mapped"), "[1,2]");
    assert_eq!(by_name("nested"), by_name("nested2"));
    assert!(by_name("f12").starts_with("{\"array\":"));
}

#[tokio::test]
async fn secret_path_is_a_prefix_and_slash_or_empty_mean_the_root() {
    let h = Harness::start().await;
    h.set_env(json!({"app": {"db": {"host": "h", "port": 5432}}}));
    let class = h.class(
        "- fileName: host\n  secretPath: app.db\n  secretKey: host\n\
         - fileName: port\n  secretPath: '/'\n  secretKey: app.db.port\n\
         - fileName: db\n  secretPath: ''\n  secretKey: app.db\n\
         - fileName: whole-db\n  secretPath: app.db\n",
    );
    let response = h.mount(class).await.unwrap();
    assert_eq!(
        files(&response),
        vec![
            ("host".into(), 0o644, "h".into()),
            ("port".into(), 0o644, "5432".into()),
            ("db".into(), 0o644, r#"{"host":"h","port":5432}"#.into()),
            (
                "whole-db".into(),
                0o644,
                r#"{"host":"h","port":5432}"#.into()
            ),
        ]
    );
}

#[tokio::test]
async fn each_format_renders_its_own_way() {
    let h = Harness::start().await;
    h.set_env(json!({
        "cfg": {"b": [1, true], "a": "x"},
        "s": "text",
        "n": 3.5,
        "flag": false,
        "none": null,
        "doc": "{\"z\": 1, \"a\": {\"b\": 2}}",
    }));
    let class = h.class(
        "- {fileName: plain, secretKey: cfg}\n\
         - {fileName: json, secretKey: cfg, format: json}\n\
         - {fileName: yaml, secretKey: cfg, format: yaml}\n\
         - {fileName: s, secretKey: s}\n\
         - {fileName: n, secretKey: n}\n\
         - {fileName: flag, secretKey: flag}\n\
         - {fileName: none, secretKey: none}\n\
         - {fileName: doc.json, secretKey: doc, format: json}\n\
         - {fileName: doc.yaml, secretKey: doc, format: YAML}\n",
    );
    let response = h.mount(class).await.unwrap();
    let got: Vec<String> = files(&response).into_iter().map(|f| f.2).collect();
    assert_eq!(
        got,
        [
            r#"{"a":"x","b":[1,true]}"#,
            "{\n  \"a\": \"x\",\n  \"b\": [\n    1,\n    true\n  ]\n}\n",
            "a: x\nb:\n- 1\n- true\n",
            "text",
            "3.5",
            "false",
            "",
            "{\n  \"a\": {\n    \"b\": 2\n  },\n  \"z\": 1\n}\n",
            "a:\n  b: 2\nz: 1\n",
        ]
    );
}

#[tokio::test]
async fn base64_and_hex_encodings_decode_to_raw_bytes() {
    let h = Harness::start().await;
    let der = [0x30u8, 0x82, 0x01, 0x0a, 0x00, 0xff];
    h.set_env(json!({
        "cert": base64::engine::general_purpose::STANDARD.encode(der),
        "key": hex::encode(der),
        "text": "plain",
    }));
    let class = h.class(
        "- {fileName: cert.der, secretKey: cert, encoding: base64}\n\
         - {fileName: key.bin, secretKey: key, encoding: hex}\n\
         - {fileName: text, secretKey: text, encoding: utf-8}\n",
    );
    let response = h.mount(class).await.unwrap();
    assert_eq!(response.files[0].contents.as_ref(), der);
    assert_eq!(response.files[1].contents.as_ref(), der);
    assert_eq!(response.files[2].contents.as_ref(), b"plain");
}

#[tokio::test]
async fn a_pinned_version_opens_that_revision() {
    let h = Harness::start().await;
    h.set_env(json!({"v": "latest"}));
    h.esc.set_version(ENV, "3", json!({"v": "three"}));
    h.esc.set_version(ENV, "stable", json!({"v": "tagged"}));
    for (environment, expected) in [
        ("prod@3", "three"),
        ("prod@stable", "tagged"),
        ("prod", "latest"),
    ] {
        let attributes = h.attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", environment),
            ("authSecretName", "pulumi-creds"),
            ("secrets", "- {fileName: v, secretKey: v}\n"),
        ]);
        let response = h.mount(attributes).await.unwrap();
        assert_eq!(files(&response)[0].2, expected, "{environment}");
    }
}

#[tokio::test]
async fn the_project_may_be_written_in_the_environment_parameter() {
    let h = Harness::start().await;
    h.set_env(json!({"v": "x"}));
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("environment", "app/prod"),
        ("authSecretName", "pulumi-creds"),
        ("secrets", "- {fileName: v, secretKey: v}\n"),
    ]);
    assert_eq!(files(&h.mount(attributes).await.unwrap())[0].2, "x");
}

#[tokio::test]
async fn one_failing_item_fails_the_whole_mount_and_every_failure_is_listed() {
    let h = Harness::start().await;
    h.set_env(json!({"app": {"hello": "world", "list": [1]}, "raw": "not-base64!"}));
    let class = h.class(
        "- {fileName: ok, secretKey: app.hello}\n\
         - {fileName: missing, secretKey: app.helo}\n\
         - {fileName: short, secretKey: 'app.list[3]'}\n\
         - {fileName: bin, secretKey: raw, encoding: base64}\n",
    );
    let status = h.mount(class).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[1] (\"missing\"): `app` has no \
         key \"helo\" (did you mean \"hello\"?); secrets[2] (\"short\"): `app.list` has 1 \
         element, so index 3 is out of range; secrets[3] (\"bin\"): `raw`: the value is not valid \
         base64: invalid character at offset 10"
    );
}

#[tokio::test]
async fn the_version_rpc_names_the_runtime() {
    let h = Harness::start().await;
    let response = h
        .client
        .clone()
        .version(esc_csi_provider::grpc::proto::v1alpha1::VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.runtime_name, "esc-csi");
    assert_eq!(response.runtime_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(response.version, "v1alpha1");
}

#[tokio::test]
async fn a_response_over_the_size_limit_is_refused() {
    let options = esc_csi_provider::grpc::ServiceOptions {
        max_response_bytes: 1000,
        ..Default::default()
    };
    let h = Harness::with(Default::default(), options).await;
    h.set_env(json!({"big": "x".repeat(2000)}));
    let status = h
        .mount(h.class("- {fileName: big, secretKey: big}\n"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "the mounted files make a response of at least 1103 bytes, over the 1000-byte limit \
         (--max-response-bytes); mount fewer or smaller items"
    );
}

#[tokio::test]
async fn unknown_values_are_refused_rather_than_written_empty() {
    let h = Harness::start().await;
    h.esc.set_wire(
        ENV,
        "",
        json!({"creds": {"value": {"key": {"unknown": true}, "id": {"value": "x"}}}}),
    );
    let status = h
        .mount(h.class("- {fileName: c, secretKey: creds}\n"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"c\"): `creds`: the value \
         contains unknown parts that ESC could not compute"
    );
}

#[tokio::test]
async fn a_volume_without_node_publish_secret_ref_mounts_whether_the_driver_sends_null_empty_braces_or_nothing()
 {
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    // The Go provider's way: the token in the class's authSecretName Secret, `authMethod` unset.
    // Every driver release sends `null` here (json.Marshal of a nil map); `{}` and "" mean the same.
    let class = h.class("- fileName: a\n  secretKey: a\n");
    for secrets in ["null", " null\n", "{}", ""] {
        let response = h
            .mount_with(class.clone(), secrets, "420")
            .await
            .unwrap_or_else(|status| panic!("secrets {secrets:?}: {}", status.message()));
        assert_eq!(files(&response), vec![("a".into(), 0o644, "x".into())]);
    }
}

#[tokio::test]
async fn a_class_with_no_auth_secret_and_no_service_account_token_says_no_token_for_a_null_secrets_field()
 {
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    let class = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("secrets", "- fileName: a\n  secretKey: a\n"),
    ]);
    let status = h.mount_with(class, "null", "420").await.unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::Unauthenticated,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("no Pulumi access token"),
        "{}",
        status.message()
    );
}

/// The client of driver v1.4/v1.5 (`peers/driver-v1.5-client`, built by `.ci/run`) found through
/// `ESC_CSI_DRIVER_V15_CLIENT`; a missing one fails the test.
fn driver_v15_client() -> String {
    let client = std::env::var("ESC_CSI_DRIVER_V15_CLIENT").unwrap_or_default();
    assert!(
        std::path::Path::new(&client).is_file(),
        "ESC_CSI_DRIVER_V15_CLIENT ({client:?}) names no build of peers/driver-v1.5-client \
         (.ci/run builds it; docs/development.md)"
    );
    client
}

// Several threads: the client runs on a blocking one while the provider answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a peer test: needs driver v1.5's client (ESC_CSI_DRIVER_V15_CLIENT); .ci/run runs it"]
async fn driver_v1_5s_own_client_mounts_although_it_sends_the_socket_path_as_authority() {
    let client = driver_v15_client();
    let h = Harness::start().await;
    h.set_env(json!({"a": "x", "b": {"c": 1}}));
    let request = json!({
        "attributes": h.class("- {fileName: a, secretKey: a}\n- {fileName: b.json, secretKey: b, format: json}"),
        "secrets": "null",
        "targetPath": "/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/secrets/mount",
        "permission": "420",
    });
    let socket = h.socket.clone();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(client)
            .arg(&socket)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for version in &lines[..3] {
        assert_eq!(
            version,
            &json!({"call": "Version", "code": "OK", "version": "v1alpha1", "runtime": "esc-csi"})
        );
    }
    let mount = &lines[3];
    assert_eq!(mount["code"], "OK", "{mount}");
    assert_eq!(
        mount["files"],
        json!([
            {"path": "a", "mode": 0o644, "contents": "x"},
            {"path": "b.json", "mode": 0o644, "contents": "{\n  \"c\": 1\n}\n"},
        ])
    );
    assert_eq!(mount["objects"].as_object().unwrap().len(), 2);
}
