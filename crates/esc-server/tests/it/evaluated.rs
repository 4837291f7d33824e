//! Definitions that use the language, evaluated by esc-eval through the server: imports
//! (bare names are in project `default`), interpolation, secrets, the local execution
//! context, and the clear failures for what a laptop cannot do.

use crate::support;

use serde_json::json;
use support::{Fixture, plain};

#[tokio::test]
async fn imports_interpolation_and_secrets_are_evaluated() {
    let fixture = Fixture::start(&[
        ("default/base.yaml", "values:\n  region: eu-west-1\n  tier: base\n"),
        (
            "shop/db.yaml",
            "values:\n  db:\n    host: db.internal\n    password:\n      fn::secret: hunter2\n",
        ),
        (
            "shop/dev.yaml",
            "imports:\n  - base\n  - shop/db\nvalues:\n  tier: dev\n  url: postgres://${db.host}/${region}\n",
        ),
    ])
    .await;
    let environment = fixture.open_and_read("shop/dev").await;
    let properties = &environment["properties"];
    assert_eq!(
        plain(&json!({"value": properties})),
        json!({
            "region": "eu-west-1",
            "tier": "dev",
            "db": {"host": "db.internal", "password": "hunter2"},
            "url": "postgres://db.internal/eu-west-1",
        })
    );
    assert_eq!(properties["db"]["value"]["password"]["secret"], true);
    assert!(properties["url"].get("secret").is_none());
    // Where each value came from, and what it overrode.
    // Imported values are traced to the import as written.
    assert_eq!(properties["region"]["trace"]["def"]["environment"], "base");
    assert_eq!(
        properties["tier"]["trace"]["def"]["environment"],
        "shop/dev"
    );
    assert_eq!(
        properties["tier"]["trace"]["base"]["trace"]["def"]["environment"],
        "base"
    );
}

#[tokio::test]
async fn a_secret_read_by_path_keeps_its_secret_flag() {
    let fixture = Fixture::start(&[(
        "shop/dev.yaml",
        "values:\n  creds:\n    user:\n      fn::secret: admin\n",
    )])
    .await;
    let id = fixture.open("shop/dev").await;
    let reply = fixture
        .get(&format!(
            "/environments/acme/shop/dev/open/{id}?property=creds.user"
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let value = reply.json();
    assert_eq!(value["value"], "admin");
    assert_eq!(value["secret"], true, "{value}");
}

#[tokio::test]
async fn the_execution_context_names_the_local_user_and_the_organization() {
    let fixture = Fixture::start_with(
        &[(
            "shop/dev.yaml",
            "values:\n  who: ${context.pulumi.user.login}@${context.pulumi.organization.login}\n",
        )],
        |c| c.user = "dev-laptop".into(),
    )
    .await;
    let environment = fixture.open_and_read("shop/dev").await;
    assert_eq!(plain(&environment["properties"]["who"]), "dev-laptop@acme");
}

#[tokio::test]
async fn an_import_of_a_missing_environment_is_a_diagnostic() {
    let fixture =
        Fixture::start(&[("shop/dev.yaml", "imports:\n  - nowhere\nvalues: {a: 1}\n")]).await;
    let reply = fixture.post("/environments/acme/shop/dev/open").await;
    reply.api_error(400);
    let text = reply.json()["diagnostics"].to_string();
    assert!(text.contains("default/nowhere"), "{text}");
}

#[tokio::test]
async fn fn_open_and_ciphertext_fail_with_a_clear_diagnostic() {
    let ciphertext = format!(
        "values:\n  key:\n    fn::secret:\n      ciphertext: {}\n",
        esc_eval::encode_envelope(b"sealed by Pulumi Cloud")
    );
    let fixture = Fixture::start(&[
        (
            "shop/aws.yaml",
            "values:\n  creds:\n    fn::open::aws-login:\n      oidc: {roleArn: x, sessionName: y}\n",
        ),
        ("shop/cipher.yaml", &ciphertext),
    ])
    .await;
    let reply = fixture.post("/environments/acme/shop/aws/open").await;
    reply.api_error(400);
    let text = reply.json()["diagnostics"].to_string();
    assert!(
        text.contains("fn::open providers are not available"),
        "{text}"
    );
    let reply = fixture.post("/environments/acme/shop/cipher/open").await;
    reply.api_error(400);
    let text = reply.json()["diagnostics"].to_string();
    assert!(text.contains("cannot decrypt ciphertext"), "{text}");
}

#[tokio::test]
async fn a_reference_to_a_missing_property_fails_to_open_with_its_path_and_range() {
    let fixture = Fixture::start(&[("shop/bad.yaml", "values:\n  a: ${missing}\n")]).await;
    let reply = fixture.post("/environments/acme/shop/bad/open").await;
    reply.api_error(400);
    let diagnostic = reply.json()["diagnostics"][0].clone();
    assert!(
        diagnostic["summary"].as_str().unwrap().contains("missing"),
        "{diagnostic}"
    );
    assert_eq!(
        diagnostic["range"]["environment"], "shop/bad",
        "{diagnostic}"
    );
    assert_eq!(diagnostic["range"]["begin"]["line"], 2, "{diagnostic}");
}
