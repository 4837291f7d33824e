//! Names that would leave the folder are refused; our own client reads from the server.

use crate::support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use esc_server::{Config, EscServer};
use support::{Fixture, TOKEN};
use tower::ServiceExt;

/// Sends a raw path straight to the router: HTTP clients would normalize `..` away.
async fn raw(server: &EscServer, method: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("token {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let response = server.router().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    // A definition is YAML; errors are JSON.
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[tokio::test]
async fn path_traversal_in_any_name_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    support::write(outside.path(), "secret.yaml", "values: {stolen: yes}\n");
    let root = outside.path().join("envs");
    support::write(&root, "shop/dev.yaml", "values: {a: 1}\n");
    let server = EscServer::new(Config::new(&root)).unwrap();
    let attempts = [
        "/api/esc/environments/acme/..%2F..%2Fsecret/dev",
        "/api/esc/environments/acme/..%2Fenvs/secret",
        "/api/esc/environments/acme/shop/..%2F..%2Fsecret",
        "/api/esc/environments/acme/shop/%2E%2E",
        "/api/esc/environments/acme/%2E%2E/secret",
        "/api/esc/environments/acme/shop/.hidden",
        "/api/esc/environments/acme/shop/dev%00",
        "/api/esc/environments/..%2F..%2Fx/shop/dev",
    ];
    for path in attempts {
        let (status, body) = raw(&server, "GET", path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], 400);
        assert!(
            body["message"].as_str().unwrap().contains("name"),
            "{path}: {body}"
        );
    }
    let (status, _) = raw(
        &server,
        "POST",
        "/api/esc/environments/acme/..%2F..%2Fsecret/x/open",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = raw(&server, "GET", "/api/esc/environments/acme/shop/dev").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_import_that_climbs_out_of_the_folder_is_refused() {
    let fixture = Fixture::start(&[(
        "shop/dev.yaml",
        "imports:\n  - ../../etc/passwd\nvalues: {a: 1}\n",
    )])
    .await;
    let reply = fixture.post("/environments/acme/shop/dev/open").await;
    reply.api_error(400);
}

#[tokio::test]
async fn our_own_client_reads_an_environment_whole_and_at_a_revision() {
    let fixture = Fixture::start(&[(
        "shop/dev.yaml",
        "values:\n  db: {host: db.local, port: 5432}\n",
    )])
    .await;
    let client = esc_api::EscClient::new(esc_api::ClientOptions {
        open_duration: Some("5m".into()),
        ..Default::default()
    })
    .unwrap();
    let api: url::Url = fixture.running.url().parse().unwrap();
    let mut env = esc_api::EnvironmentRef {
        organization: "acme".into(),
        project: "shop".into(),
        environment: "dev".into(),
        version: None,
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let token = TOKEN.into();
    let value = client
        .open_and_read(&api, &env, &token, deadline)
        .await
        .unwrap();
    let port = esc_path::PropertyPath::parse("db.port").unwrap();
    let resolved = port.resolve(&value).unwrap();
    assert_eq!(
        resolved.value.data,
        esc_api::Data::Number(5432.into()),
        "{value:?}"
    );

    fixture.write(
        "shop/dev.yaml",
        "values:\n  db: {host: db.local, port: 6543}\n",
    );
    env.version = Some("1".into());
    let pinned = client
        .open_and_read(&api, &env, &token, deadline)
        .await
        .unwrap();
    assert_eq!(
        port.resolve(&pinned).unwrap().value.data,
        esc_api::Data::Number(5432.into())
    );
    env.version = Some("9".into());
    let error = client
        .open_and_read(&api, &env, &token, deadline)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("no revision or tag \"9\""), "{error}");
}

#[tokio::test]
async fn a_definition_linking_outside_the_folder_is_not_served() {
    let outside = tempfile::tempdir().unwrap();
    support::write(outside.path(), "id_rsa", "values: {key: private}\n");
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {a: 1}\n")]).await;
    std::os::unix::fs::symlink(
        outside.path().join("id_rsa"),
        fixture.dir.path().join("shop/stolen.yaml"),
    )
    .unwrap();
    let message = "the definition of shop/stolen is a symbolic link that leads outside the \
                   environments folder; it is not served";
    for (method, path) in [
        ("GET", "/environments/acme/shop/stolen"),
        ("POST", "/environments/acme/shop/stolen/open"),
    ] {
        let reply = fixture.call(method, path, Some(TOKEN), "").await;
        assert_eq!(reply.api_error(403), message);
        assert!(!reply.text().contains("private"));
    }
    let listed = fixture.get("/environments/acme").await.json();
    assert_eq!(listed["environments"].as_array().unwrap().len(), 1);
    fixture.write("default/base.yaml", "values: {b: 2}\n");
    fixture.write("shop/importer.yaml", "imports: [shop/stolen]\n");
    let reply = fixture.post("/environments/acme/shop/importer/open").await;
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains(message), "{}", reply.text());
    assert!(!reply.text().contains("private"));
}
