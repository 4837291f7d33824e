//! The server over real HTTP on loopback: every endpoint, its errors, revisions and sessions.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::{Fixture, assert_traced, plain};

const APP: &str = "values:
  app:
    name: shop
    port: 8080
    debug: false
    hosts: [a.example, b.example]
    nothing: null
  \"key with a .\": dotted
";

async fn app() -> Fixture {
    Fixture::start(&[
        ("shop/dev.yaml", APP),
        ("default/base.yaml", "values: {}\n"),
    ])
    .await
}

#[tokio::test]
async fn listing_an_organization_gives_every_environment_with_timestamps() {
    let fixture = app().await;
    let reply = fixture.get("/environments/acme").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    let environments = body["environments"].as_array().unwrap();
    let names: Vec<_> = environments
        .iter()
        .map(|e| format!("{}/{}/{}", e["organization"], e["project"], e["name"]))
        .collect();
    assert_eq!(
        names,
        [r#""acme"/"default"/"base""#, r#""acme"/"shop"/"dev""#]
    );
    for e in environments {
        let created = e["created"].as_str().unwrap();
        assert!(created.parse::<jiff::Timestamp>().is_ok(), "{created}");
        assert!(e["modified"].is_string());
    }
}

#[tokio::test]
async fn the_definition_is_served_as_yaml_with_etag_and_revision_headers() {
    let fixture = app().await;
    let reply = fixture.get("/environments/acme/shop/dev").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/x-yaml");
    assert_eq!(reply.header("pulumi-esc-revision"), "1");
    assert!(reply.header("etag").starts_with('"'));
    assert_eq!(reply.text(), APP);
    let decrypted = fixture.get("/environments/acme/shop/dev/decrypt").await;
    assert_eq!(decrypted.text(), APP);
    let head = fixture
        .call(
            "HEAD",
            "/environments/acme/shop/dev",
            Some(support::TOKEN),
            "",
        )
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("etag"), reply.header("etag"));
}

#[tokio::test]
async fn changing_a_file_bumps_the_revision_and_old_revisions_stay_readable_and_openable() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {v: one}\n")]).await;
    let first = fixture.get("/environments/acme/shop/dev").await;
    fixture.write("shop/dev.yaml", "values: {v: two}\n");
    let second = fixture.get("/environments/acme/shop/dev").await;
    assert_eq!(second.header("pulumi-esc-revision"), "2");
    assert_ne!(second.header("etag"), first.header("etag"));
    // Unchanged content is the same revision.
    let again = fixture.get("/environments/acme/shop/dev").await;
    assert_eq!(again.header("pulumi-esc-revision"), "2");

    let old = fixture.get("/environments/acme/shop/dev/versions/1").await;
    assert_eq!(old.text(), "values: {v: one}\n");
    assert_eq!(old.header("pulumi-esc-revision"), "1");
    let latest = fixture
        .get("/environments/acme/shop/dev/versions/latest")
        .await;
    assert_eq!(latest.text(), "values: {v: two}\n");

    let opened = fixture
        .post("/environments/acme/shop/dev/versions/1/open")
        .await
        .json();
    let id = opened["id"].as_str().unwrap();
    let read = fixture
        .get(&format!("/environments/acme/shop/dev/open/{id}"))
        .await
        .json();
    assert_eq!(plain(&read["properties"]["v"]), "one");
    assert_eq!(
        plain(&fixture.open_and_read("shop/dev").await["properties"]["v"]),
        "two"
    );

    let message = fixture
        .get("/environments/acme/shop/dev/versions/7")
        .await
        .api_error(404);
    assert!(message.contains("revisions 1 to 2 are held"), "{message}");
    let message = fixture
        .post("/environments/acme/shop/dev/versions/stable/open")
        .await
        .api_error(404);
    assert!(message.contains("the only tag is \"latest\""), "{message}");
}

#[tokio::test]
async fn revisions_and_the_latest_tag_are_listed() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {v: 1}\n")]).await;
    fixture.get("/environments/acme/shop/dev").await;
    fixture.write("shop/dev.yaml", "values: {v: 2}\n");
    let revisions = fixture
        .get("/environments/acme/shop/dev/versions")
        .await
        .json();
    assert_eq!(revisions[0]["number"], 2);
    assert_eq!(revisions[0]["tags"], json!(["latest"]));
    assert_eq!(revisions[1]["number"], 1);
    assert_eq!(revisions[1]["creatorLogin"], "local");
    let tags = fixture
        .get("/environments/acme/shop/dev/versions/tags")
        .await
        .json();
    assert_eq!(tags["tags"][0]["name"], "latest");
    assert_eq!(tags["tags"][0]["revision"], 2);
    let tag = fixture
        .get("/environments/acme/shop/dev/versions/tags/latest")
        .await
        .json();
    assert_eq!(tag["revision"], 2);
    fixture
        .get("/environments/acme/shop/dev/versions/tags/stable")
        .await
        .api_error(404);
    let env_tags = fixture.get("/environments/acme/shop/dev/tags").await.json();
    assert_eq!(env_tags, json!({"tags": {}, "nextToken": "0"}));
    fixture
        .get("/environments/acme/shop/dev/tags/team")
        .await
        .api_error(404);
}

#[tokio::test]
async fn opening_and_reading_gives_every_property_in_the_value_shape_with_traces() {
    let fixture = app().await;
    let environment = fixture.open_and_read("shop/dev").await;
    let properties = &environment["properties"];
    for value in properties.as_object().unwrap().values() {
        assert_traced(value);
    }
    assert_eq!(
        plain(&properties["app"]),
        json!({
            "name": "shop", "port": 8080, "debug": false,
            "hosts": ["a.example", "b.example"], "nothing": null,
        })
    );
    // The spec requires "value", null included.
    assert_eq!(properties["app"]["value"]["nothing"]["value"], json!(null));
    assert_eq!(
        environment["executionContext"]["properties"]["pulumi"]["value"]["user"]["value"]["login"]
            ["value"],
        "local"
    );
}

#[tokio::test]
async fn one_property_is_read_by_its_pulumi_path_on_either_route() {
    let fixture = app().await;
    let id = fixture.open("shop/dev").await;
    for route in ["open", "open/"] {
        let base = format!("/environments/acme/shop/dev/{route}/{id}");
        let port = fixture.get(&format!("{base}?property=app.port")).await;
        assert_eq!(port.status, 200, "{}", port.text());
        assert_eq!(port.json()["value"], 8080);
        assert_traced(&port.json());
        let host = fixture
            .get(&format!("{base}?property=app.hosts%5B1%5D"))
            .await;
        assert_eq!(host.json()["value"], "b.example");
        let dotted = fixture
            .get(&format!("{base}?property=%5B%22key%20with%20a%20.%22%5D"))
            .await;
        assert_eq!(dotted.json()["value"], "dotted");
    }
}

#[tokio::test]
async fn a_bad_property_path_is_a_400_and_a_missing_one_a_404_that_suggests_a_key() {
    let fixture = app().await;
    let id = fixture.open("shop/dev").await;
    let base = format!("/environments/acme/shop/dev/open/{id}");
    let message = fixture
        .get(&format!("{base}?property=app%5B"))
        .await
        .api_error(400);
    assert!(message.starts_with("invalid property path"), "{message}");
    let message = fixture
        .get(&format!("{base}?property=app.nmae"))
        .await
        .api_error(404);
    assert!(message.contains("did you mean \"name\""), "{message}");
}

#[tokio::test]
async fn opening_an_unknown_environment_is_a_404_in_the_api_error_shape() {
    let fixture = app().await;
    let message = fixture
        .post("/environments/acme/shop/prod/open")
        .await
        .api_error(404);
    assert_eq!(message, "environment shop/prod not found");
    fixture
        .get("/environments/acme/nope/dev")
        .await
        .api_error(404);
}

#[tokio::test]
async fn an_unknown_session_or_one_of_another_environment_is_a_404() {
    let fixture = app().await;
    let message = fixture
        .get("/environments/acme/shop/dev/open/0123456789abcdef")
        .await
        .api_error(404);
    assert!(message.contains("open session not found"), "{message}");
    let id = fixture.open("shop/dev").await;
    fixture
        .get(&format!("/environments/acme/default/base/open/{id}"))
        .await
        .api_error(404);
    fixture
        .get(&format!("/environments/other/shop/dev/open/{id}"))
        .await
        .api_error(404);
}

#[tokio::test]
async fn sessions_expire_after_their_duration() {
    let fixture = app().await;
    let reply = fixture
        .post("/environments/acme/shop/dev/open?duration=300ms")
        .await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let read = format!("/environments/acme/shop/dev/open/{id}");
    assert_eq!(fixture.get(&read).await.status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let message = fixture.get(&read).await.api_error(404);
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn a_duration_over_the_maximum_or_malformed_is_a_400() {
    let fixture = Fixture::start_with(&[("shop/dev.yaml", APP)], |c| {
        c.max_open_duration = Duration::from_secs(7200);
    })
    .await;
    for bad in ["3h", "soon", "0s", "-1h"] {
        fixture
            .post(&format!("/environments/acme/shop/dev/open?duration={bad}"))
            .await
            .api_error(400);
    }
    for good in ["2h", "90s", "1h30m", "1.5h"] {
        let reply = fixture
            .post(&format!("/environments/acme/shop/dev/open?duration={good}"))
            .await;
        assert_eq!(reply.status, 200, "{good}: {}", reply.text());
    }
}

#[tokio::test]
async fn tokens_are_required_when_configured() {
    let fixture = Fixture::start_with(&[("shop/dev.yaml", APP)], |c| {
        c.tokens = vec![support::TOKEN.into()];
    })
    .await;
    assert!(fixture.server.requires_token());
    let path = "/environments/acme/shop/dev";
    for token in [None, Some("wrong"), Some(""), Some("pul-test-token-5c1")] {
        let message = fixture.call("GET", path, token, "").await.api_error(401);
        assert_eq!(
            message,
            "Unauthorized: No credentials provided or are invalid."
        );
    }
    assert_eq!(fixture.get(path).await.status, 200);
    let bearer = reqwest::Client::new()
        .get(fixture.url(path))
        .header("authorization", format!("Bearer {}", support::TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
}

#[tokio::test]
async fn without_configured_tokens_any_token_is_accepted_but_one_is_needed() {
    let fixture = app().await;
    assert!(!fixture.server.requires_token());
    let path = "/environments/acme/shop/dev";
    assert_eq!(
        fixture.call("GET", path, Some("anything"), "").await.status,
        200
    );
    fixture.call("GET", path, None, "").await.api_error(401);
}

#[tokio::test]
async fn an_organization_restriction_hides_other_organizations() {
    let fixture = Fixture::start_with(&[("shop/dev.yaml", APP)], |c| {
        c.organization = Some("acme".into());
    })
    .await;
    assert_eq!(fixture.get("/environments/acme/shop/dev").await.status, 200);
    let message = fixture
        .get("/environments/other/shop/dev")
        .await
        .api_error(404);
    assert_eq!(
        message,
        "organization other not found (this server serves acme)"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_errors_in_the_api_shape() {
    let fixture = app().await;
    fixture.get("/nothing/here").await.api_error(404);
    let reply = fixture.call("GET", "/", None, "").await;
    assert_eq!(reply.status, 404);
    let outside = reqwest::get(format!("http://{}/", fixture.running.addr()))
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
    assert_eq!(
        outside.json_value().await,
        json!({"code": 404, "message": "Not Found"})
    );
    fixture
        .call(
            "DELETE",
            "/environments/acme/shop/dev",
            Some(support::TOKEN),
            "",
        )
        .await
        .api_error(405);
    fixture
        .call(
            "PATCH",
            "/environments/acme/shop/dev",
            Some(support::TOKEN),
            "x",
        )
        .await
        .api_error(405);
}

trait JsonValue {
    async fn json_value(self) -> serde_json::Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

#[tokio::test]
async fn an_environment_with_errors_fails_to_open_with_its_diagnostics() {
    let fixture = Fixture::start(&[("shop/bad.yaml", "values:\n  a: ${missing}\n")]).await;
    let reply = fixture.post("/environments/acme/shop/bad/open").await;
    let message = reply.api_error(400);
    assert_eq!(message, "environment shop/bad has errors");
    let diagnostics = reply.json()["diagnostics"].clone();
    assert!(!diagnostics.as_array().unwrap().is_empty(), "{diagnostics}");
    assert!(diagnostics[0]["summary"].is_string());
}

#[tokio::test]
async fn yaml_check_gives_the_properties_or_the_diagnostics() {
    let fixture = app().await;
    let good = fixture
        .call(
            "POST",
            "/environments/acme/yaml/check",
            Some(support::TOKEN),
            APP,
        )
        .await;
    assert_eq!(good.status, 200, "{}", good.text());
    let body = good.json();
    assert_eq!(plain(&body["properties"]["app"])["port"], 8080);
    assert_eq!(body["diagnostics"], json!([]));
    let bad = fixture
        .call(
            "POST",
            "/environments/acme/yaml/check",
            Some(support::TOKEN),
            "values:\n  a: ${missing}\n",
        )
        .await;
    bad.api_error(400);
    assert!(!bad.json()["diagnostics"].as_array().unwrap().is_empty());
}
