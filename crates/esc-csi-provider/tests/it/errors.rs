//! Every way a mount can fail, with the exact message and gRPC code a user sees in the pod's
//! events. Validation problems must be found before any network call.

use crate::support;

use std::time::Duration;

use esc_csi_provider::class::Settings;
use esc_csi_provider::grpc::ServiceOptions;
use esc_csi_testkit::Fault;
use serde_json::json;
use support::{Harness, TOKEN};
use tonic::Code;

async fn refused(h: &Harness, attributes: String) -> (Code, String) {
    let status = h.mount(attributes).await.unwrap_err();
    (status.code(), status.message().to_owned())
}

/// Asserts the class is refused with `message`, and that nothing was called to find out.
async fn invalid(secrets: &str, message: &str) {
    let h = Harness::start().await;
    let (code, got) = refused(&h, h.class(secrets)).await;
    assert_eq!(got, message, "for secrets:\n{secrets}");
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(h.network_calls(), 0, "validation must not call out");
}

const PREFIX: &str = "invalid SecretProviderClass \"app-secrets\": ";

#[tokio::test]
async fn attributes_that_are_not_a_json_object_of_strings_are_refused() {
    let h = Harness::start().await;
    for bad in ["not json", r#"{"organization": 5}"#, "[]"] {
        let (code, message) = refused(&h, bad.into()).await;
        assert_eq!(code, Code::InvalidArgument);
        assert!(
            message.starts_with("attributes must be a JSON object of strings (error at line 1"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn missing_parameters_are_all_listed_with_typo_hints() {
    let h = Harness::start().await;
    let attributes = h.attributes(&[("organisation", "acme"), ("enviroment", "prod")]);
    let (code, message) = refused(&h, attributes).await;
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(
        message,
        format!(
            "{PREFIX}parameter organization: missing; it is required (found \"organisation\": a \
             typo?); parameter environment: missing; it is required (found \"enviroment\": a \
             typo?); parameter secrets: missing; it is required"
        )
    );
    assert_eq!(h.network_calls(), 0);
}

#[tokio::test]
async fn bad_names_and_urls_are_refused_before_any_call() {
    let h = Harness::start().await;
    let attributes = h.attributes(&[
        ("apiUrl", "http://esc.example.com/api/esc"),
        ("organization", "acme corp"),
        ("project", "../x"),
        ("environment", "prod@"),
        ("authSecretName", "Pulumi_Creds"),
        ("authSecretNamespace", "kube.system"),
        ("secrets", "- {fileName: a, secretKey: a}"),
    ]);
    let (code, message) = refused(&h, attributes).await;
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(
        message,
        format!(
            "{PREFIX}parameter apiUrl: \"http://esc.example.com/api/esc\" uses plain http, which \
             would send the access token unencrypted; use https (or start esc-csi with \
             --allow-insecure-api-url); parameter environment: \"prod@\" ends with '@' but names \
             no revision or tag after it; parameter organization: \"acme corp\" may contain only \
             letters, digits, '-', '_' and '.'; parameter authSecretName: \"Pulumi_Creds\" is not \
             a valid Kubernetes name (lowercase letters, digits and '-', '.', at most 253 \
             characters); parameter authSecretNamespace: \"kube.system\" is not a valid \
             Kubernetes name (lowercase letters, digits and '-', at most 63 characters)"
        )
    );
    assert_eq!(h.network_calls(), 0);
}

#[tokio::test]
async fn an_environment_without_a_project_says_how_to_name_one() {
    let h = Harness::start().await;
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("environment", "prod"),
        ("authSecretName", "pulumi-creds"),
        ("secrets", "- {fileName: a, secretKey: a}"),
    ]);
    let (_, message) = refused(&h, attributes).await;
    assert_eq!(
        message,
        format!(
            "{PREFIX}parameter environment: \"prod\" needs a project: set parameter project, or \
             write \"<project>/prod\""
        )
    );
}

#[tokio::test]
async fn a_secrets_parameter_that_is_not_a_yaml_list_is_refused() {
    invalid(
        "fileName: a",
        &format!(
            "{PREFIX}parameter secrets: not a YAML list of items such as `- fileName: app.txt` \
             with `secretKey: app.key` under it"
        ),
    )
    .await;
    invalid("- [unclosed", &format!("{PREFIX}parameter secrets: not valid YAML: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 3")).await;
    invalid(
        "[]",
        &format!(
            "{PREFIX}parameter secrets: lists no files; add items such as `- fileName: app.txt`"
        ),
    )
    .await;
}

#[tokio::test]
async fn unsafe_file_names_are_refused_by_the_drivers_rules() {
    for (name, why) in [
        (
            "/etc/passwd",
            "fileName \"/etc/passwd\" must be a relative path",
        ),
        (
            "../escape",
            "fileName \"../escape\" has a component that is \"..\"",
        ),
        (
            "..data",
            "fileName \"..data\" has a component that starts with \"..\", which the driver keeps for its own files",
        ),
        (
            "a/../b",
            "fileName \"a/../b\" has a component that is \"..\"",
        ),
        ("a/./b", "fileName \"a/./b\" has a component that is \".\""),
        (
            "a//b",
            "fileName \"a//b\" has a component that is empty; write it without \"//\" or a trailing \"/\"",
        ),
        (
            "dir/",
            "fileName \"dir/\" has a component that is empty; write it without \"//\" or a trailing \"/\"",
        ),
    ] {
        invalid(
            &format!("- fileName: '{name}'\n  secretKey: a\n"),
            &format!("{PREFIX}secrets[0] ({name:?}): {why}"),
        )
        .await;
    }
    let long = "x".repeat(256);
    invalid(
        &format!("- fileName: 'd/{long}'\n  secretKey: a\n"),
        &format!("{PREFIX}secrets[0] (\"d/{long}\"): fileName \"d/{long}\" has a component that is longer than 255 bytes"),
    )
    .await;
    invalid(
        "- secretKey: a\n",
        &format!("{PREFIX}secrets[0]: fileName is required"),
    )
    .await;
}

#[tokio::test]
async fn duplicate_and_colliding_file_names_are_refused() {
    invalid(
        "- {fileName: a, secretKey: x}\n- {fileName: a, secretKey: y}\n- {fileName: a/b, secretKey: z}\n",
        &format!(
            "{PREFIX}secrets[1] (\"a\"): fileName is already used by secrets[0] (\"a\"); \
             secrets[2] (\"a/b\"): needs a folder \"a\", but secrets[0] (\"a\") writes a file there"
        ),
    )
    .await;
}

#[tokio::test]
async fn unparsable_paths_are_refused_with_the_parsers_reason() {
    invalid(
        "- {fileName: a, secretKey: 'app[\"x'}\n- {fileName: b, secretKey: 'app.', secretPath: '.x'}\n- {fileName: c, secretKey: 'list[one]'}\n",
        &format!(
            "{PREFIX}secrets[0] (\"a\"): secretKey \"app[\\\"x\" does not parse: missing closing \
             quote in property name starting at column 4; secrets[1] (\"b\"): secretPath \".x\" \
             does not parse: expected property path to start with a name or index, not '.'; \
             secrets[1] (\"b\"): secretKey \"app.\" does not parse: expected property path to end \
             with a name or index, not '.'; secrets[2] (\"c\"): secretKey \"list[one]\" does not \
             parse: invalid array index \"one\" at column 6: expected an integer, '*', or a quoted \
             name such as [\"name\"]"
        ),
    )
    .await;
}

#[tokio::test]
async fn unknown_formats_and_encodings_and_bad_modes_are_refused() {
    invalid(
        "- {fileName: a, secretKey: a, format: toml}\n\
         - {fileName: b, secretKey: b, encoding: base32}\n\
         - {fileName: c, secretKey: c, mode: 400}\n\
         - {fileName: d, secretKey: d, mode: '0999'}\n\
         - {fileName: e, secretKey: e, mode: '4755'}\n\
         - {fileName: f, secretKey: f, encoding: base64, format: json}\n\
         - {fileName: g, secretKey: [a]}\n",
        &format!(
            "{PREFIX}secrets[0] (\"a\"): format \"toml\" is not one of plaintext, json, yaml, \
             dotenv, shell; \
             secrets[1] (\"b\"): encoding \"base32\" is not one of utf-8, base64, hex; \
             secrets[2] (\"c\"): mode must be a quoted octal string such as \"0400\" (YAML reads \
             an unquoted 400 or 0o400 as a number, and numbers are ambiguous here); \
             secrets[3] (\"d\"): mode \"0999\" is not an octal file mode such as \"0400\" or \
             \"0644\"; secrets[4] (\"e\"): mode \"4755\" sets bits above 0777 (setuid, setgid, \
             sticky), which mounted files cannot have; secrets[5] (\"f\"): encoding base64 \
             decodes a string into raw bytes, so format must be plaintext, not json; \
             secrets[6] (\"g\"): secretKey must be a string"
        ),
    )
    .await;
}

#[tokio::test]
async fn misspelt_item_keys_are_refused_but_unknown_ones_are_ignored() {
    invalid(
        "- {fileName: a, secretKy: a}\n- {filename: b, secretKey: b}\n- {fileName: c, secret: c}\n",
        &format!(
            "{PREFIX}secrets[0] (\"a\"): unknown key \"secretKy\" (did you mean \"secretKey\"?); \
             secrets[1]: unknown key \"filename\" (did you mean \"fileName\"?); secrets[2] \
             (\"c\"): unknown key \"secret\" (did you mean \"secretKey\"?)"
        ),
    )
    .await;
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    let response = h
        .mount(h.class("- {fileName: a, secretKey: a, description: the api key}\n"))
        .await
        .unwrap();
    assert_eq!(response.files.len(), 1);
}

#[tokio::test]
async fn a_bad_permission_field_is_refused() {
    let h = Harness::start().await;
    let status = h
        .mount_with(h.class("- {fileName: a, secretKey: a}"), "{}", "\"0644\"")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "permission \"\\\"0644\\\"\" is not a file mode (the driver sends the decimal JSON of one, \
         such as \"420\" for 0644)"
    );
}

// ---- auth ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_auth_secret_in_another_namespace_is_refused_without_reading_it() {
    let h = Harness::start().await;
    h.kube.put_secret(
        "payments",
        "pulumi-creds",
        &[("pulumi-access-token", TOKEN)],
    );
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("authSecretName", "pulumi-creds"),
        ("authSecretNamespace", "payments"),
        ("secrets", "- {fileName: a, secretKey: a}"),
    ]);
    let (code, message) = refused(&h, attributes).await;
    assert_eq!(code, Code::PermissionDenied);
    assert_eq!(
        message,
        "the SecretProviderClass asks for auth Secret payments/pulumi-creds, but the pod runs in \
         namespace default; esc-csi reads auth Secrets only from the pod's own namespace unless \
         started with --allow-cross-namespace-auth"
    );
    assert_eq!(h.network_calls(), 0);
}

#[tokio::test]
async fn cross_namespace_auth_works_when_the_daemon_allows_it() {
    let settings = Settings {
        allow_cross_namespace_auth: true,
        ..Settings::default()
    };
    let h = Harness::with(settings, ServiceOptions::default()).await;
    h.set_env(json!({"a": "x"}));
    h.kube
        .put_secret("payments", "shared", &[("pulumi-access-token", TOKEN)]);
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("authSecretName", "shared"),
        ("authSecretNamespace", "payments"),
        ("secrets", "- {fileName: a, secretKey: a}"),
    ]);
    h.mount(attributes).await.unwrap();
    assert_eq!(
        h.kube.calls()[0].path,
        "/api/v1/namespaces/payments/secrets/shared"
    );
}

#[tokio::test]
async fn a_token_from_node_publish_secret_ref_needs_no_kubernetes_call() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("secrets", "- {fileName: a, secretKey: a}"),
    ]);
    let secrets = json!({"pulumi-access-token": format!("{TOKEN}\n")}).to_string();
    let response = h.mount_with(attributes, &secrets, "420").await.unwrap();
    assert_eq!(response.files.len(), 1);
    assert!(h.kube.calls().is_empty());
    assert_eq!(
        h.esc.calls()[0].authorization.as_deref(),
        Some(format!("token {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn no_token_anywhere_says_where_to_put_one() {
    let h = Harness::start().await;
    let attributes = h.attributes(&[
        ("organization", "acme"),
        ("project", "app"),
        ("environment", "prod"),
        ("secrets", "- {fileName: a, secretKey: a}"),
    ]);
    let (code, message) = refused(&h, attributes).await;
    assert_eq!(code, Code::Unauthenticated);
    assert_eq!(
        message,
        "no Pulumi access token: set parameter authSecretName to a Secret holding key \
         pulumi-access-token, or give the volume a nodePublishSecretRef with that key"
    );
}

#[tokio::test]
async fn secret_problems_name_the_secret_and_what_to_do() {
    let h = Harness::start().await;
    let class = |name: &str| {
        h.attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "prod"),
            ("authSecretName", name),
            ("secrets", "- {fileName: a, secretKey: a}"),
        ])
    };
    let (missing, no_key, empty) = (class("missing"), class("wrong-key"), class("empty"));
    h.kube
        .put_secret("default", "wrong-key", &[("token", "x"), ("user", "y")]);
    h.kube
        .put_secret("default", "empty", &[("pulumi-access-token", " \n")]);
    assert_eq!(
        refused(&h, missing).await,
        (
            Code::Unauthenticated,
            "Kubernetes Secret default/missing does not exist".into()
        )
    );
    assert_eq!(
        refused(&h, no_key).await,
        (
            Code::Unauthenticated,
            "Kubernetes Secret default/wrong-key has no key pulumi-access-token (it has: token, user)".into()
        )
    );
    assert_eq!(
        refused(&h, empty).await,
        (
            Code::Unauthenticated,
            "the token in Kubernetes Secret default/empty (key pulumi-access-token) is empty"
                .into()
        )
    );
    h.kube.forbid("default");
    let (code, message) = refused(&h, h.class("- {fileName: a, secretKey: a}")).await;
    assert_eq!(code, Code::PermissionDenied);
    assert_eq!(
        message,
        "esc-csi may not read Kubernetes Secret default/pulumi-creds: secrets \"pulumi-creds\" is \
         forbidden: User \"system:serviceaccount:kube-system:esc-csi\" cannot get resource \
         \"secrets\" in API group \"\" in the namespace \"default\". Grant its service account \
         `get` on Secrets in that namespace, or use nodePublishSecretRef"
    );
}

#[tokio::test]
async fn a_failing_kubernetes_api_is_unavailable() {
    let h = Harness::start().await;
    h.kube.push_fault(Fault::status(500, "etcd is sad"));
    let (code, message) = refused(&h, h.class("- {fileName: a, secretKey: a}")).await;
    assert_eq!(code, Code::Unavailable);
    assert!(
        message.starts_with("cannot read Kubernetes Secret default/pulumi-creds: "),
        "{message}"
    );
}

// ---- ESC ----------------------------------------------------------------------------------

#[tokio::test]
async fn esc_errors_map_to_codes_with_a_hint() {
    let cases = [
        (
            Fault::status(401, "Unauthorized: No credentials provided or are invalid."),
            Code::Unauthenticated,
            "opening ESC environment acme/app/prod: HTTP 401 Unauthorized: Unauthorized: No \
             credentials provided or are invalid. Check the token in Kubernetes Secret \
             default/pulumi-creds (key pulumi-access-token): it may be wrong, expired or revoked",
        ),
        (
            Fault::status(403, "Forbidden"),
            Code::PermissionDenied,
            "opening ESC environment acme/app/prod: HTTP 403 Forbidden: Forbidden. The token in \
             Kubernetes Secret default/pulumi-creds (key pulumi-access-token) may not open this \
             environment; grant its owner access",
        ),
        (
            Fault::status(404, "Environment 'acme/app/prod' not found"),
            Code::NotFound,
            "opening ESC environment acme/app/prod: HTTP 404 Not Found: Environment \
             'acme/app/prod' not found. Check organization, project and environment (and the \
             version after '@'), and that the token in Kubernetes Secret default/pulumi-creds \
             (key pulumi-access-token) can see the environment",
        ),
        (
            Fault::status(429, "rate limit exceeded").with_header("Retry-After", "3"),
            Code::Unavailable,
            "opening ESC environment acme/app/prod: HTTP 429 Too Many Requests: rate limit \
             exceeded. ESC is rate limiting requests; the mount will be retried",
        ),
        (
            Fault::status(500, "internal error").with_header("X-Pulumi-Request-ID", "abc-123"),
            Code::Unavailable,
            "opening ESC environment acme/app/prod: HTTP 500 Internal Server Error: internal \
             error (request id abc-123). ESC is failing; the mount will be retried",
        ),
    ];
    for (fault, code, message) in cases {
        let h = Harness::start().await;
        h.esc.push_fault(fault);
        assert_eq!(
            refused(&h, h.class("- {fileName: a, secretKey: a}")).await,
            (code, message.to_owned())
        );
    }
}

#[tokio::test]
async fn an_environment_that_does_not_exist_is_not_found() {
    let h = Harness::start().await;
    let (code, message) = refused(&h, h.class("- {fileName: a, secretKey: a}")).await;
    assert_eq!(code, Code::NotFound);
    assert!(message.starts_with("opening ESC environment acme/app/prod: HTTP 404 Not Found"));
}

#[tokio::test]
async fn a_slow_esc_hits_the_mount_timeout() {
    let options = ServiceOptions {
        mount_timeout: Duration::from_millis(300),
        ..ServiceOptions::default()
    };
    let h = Harness::with(Settings::default(), options).await;
    h.set_env(json!({"a": "x"}));
    h.esc.push_fault(Fault::Delay(Duration::from_secs(20)));
    let started = std::time::Instant::now();
    let (code, message) = refused(&h, h.class("- {fileName: a, secretKey: a}")).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(code, Code::DeadlineExceeded);
    assert_eq!(
        message,
        format!(
            "opening ESC environment acme/app/prod: no answer from the ESC API at {} before the \
             deadline",
            h.esc.url()
        )
    );
}

#[tokio::test]
async fn the_callers_grpc_deadline_is_honoured() {
    let h = Harness::start().await;
    h.set_env(json!({"a": "x"}));
    h.esc.push_fault(Fault::Delay(Duration::from_secs(20)));
    let mut request = tonic::Request::new(esc_csi_provider::grpc::proto::v1alpha1::MountRequest {
        attributes: h.class("- {fileName: a, secretKey: a}"),
        secrets: "null".into(),
        target_path: "/t".into(),
        permission: "420".into(),
        current_object_version: vec![],
    });
    // As a caller with a deadline sends it; the server alone must enforce it. Two seconds, so
    // that the 200 ms the provider keeps for its answer is enough on a loaded machine.
    request
        .metadata_mut()
        .insert("grpc-timeout", "2S".parse().unwrap());
    let started = std::time::Instant::now();
    let status = h.client.clone().mount(request).await.unwrap_err();
    // Well under the 20 s the stand-in waits (a loaded machine may be slow to answer at all).
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(status.code(), Code::DeadlineExceeded);
}
