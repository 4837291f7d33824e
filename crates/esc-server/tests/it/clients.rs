//! What the official `esc` CLI (v0.26.0, `cmd/esc/cli`) needs beyond the SDKs, over real HTTP
//! on loopback: login (`GET /api/user`, the default organization), `esc env ls` without an
//! organization, paging exactly as the CLI pages (`before`/`after`/`count`, and the
//! `"nextToken": "0"` that ends an environment tag list), and a clear answer to writes.

use crate::support;

use serde_json::{Value, json};
use support::Fixture;

/// `GET` of a path outside `/api/esc`, with the test token.
async fn get_root(fixture: &Fixture, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", fixture.running.addr()))
        .header("authorization", format!("token {}", support::TOKEN))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_can_log_in_and_finds_its_default_organization() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {}\n")]).await;
    let (status, user) = get_root(&fixture, "/api/user").await;
    assert_eq!(status, 200, "{user}");
    // The CLI refuses a user or an organization without a githubLogin.
    assert_eq!(user["githubLogin"], "local");
    assert_eq!(user["organizations"][0]["githubLogin"], "local");
    let (status, org) = get_root(&fixture, "/api/user/organizations/default").await;
    assert_eq!(status, 200);
    assert_eq!(org["gitHubLogin"], "local");

    let served = Fixture::start_with(&[("shop/dev.yaml", "values: {}\n")], |c| {
        c.organization = Some("acme".into());
    })
    .await;
    let (_, user) = get_root(&served, "/api/user").await;
    assert_eq!(
        user["organizations"],
        json!([{"githubLogin": "acme", "name": "acme", "avatarUrl": ""}])
    );
    let (_, org) = get_root(&served, "/api/user/organizations/default").await;
    assert_eq!(org["gitHubLogin"], "acme");

    // Without a token, as everywhere else.
    let response = reqwest::get(format!("http://{}/api/user", fixture.running.addr()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn environments_are_listed_across_organizations_on_one_page() {
    let fixture = Fixture::start_with(&[("shop/dev.yaml", "values: {}\n")], |c| {
        c.organization = Some("acme".into());
    })
    .await;
    let body = fixture.get("/environments").await.json();
    assert_eq!(
        body["environments"][0]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| ["organization", "project", "name"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>(),
        *json!({"organization": "acme", "project": "shop", "name": "dev"})
            .as_object()
            .unwrap()
    );
    // The CLI pages until nextToken is "" (or absent).
    assert!(body.get("nextToken").is_none_or(|t| t == ""), "{body}");
}

#[tokio::test]
async fn revisions_page_with_before_and_count_as_the_cli_pages() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {v: 1}\n")]).await;
    fixture.get("/environments/acme/shop/dev").await;
    fixture.write("shop/dev.yaml", "values: {v: 2}\n");
    fixture.get("/environments/acme/shop/dev").await;
    fixture.write("shop/dev.yaml", "values: {v: 3}\n");
    let numbers = |v: Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["number"].as_u64().unwrap())
            .collect()
    };
    let base = "/environments/acme/shop/dev/versions";
    assert_eq!(numbers(fixture.get(base).await.json()), [3, 2, 1]);
    // `esc env version history` starts at before=0 (the latest) with count=500 ...
    let first = fixture
        .get(&format!("{base}?before=0&count=500"))
        .await
        .json();
    assert_eq!(numbers(first.clone()), [3, 2, 1]);
    assert_eq!(first[0]["tags"], json!(["latest"]));
    // ... then asks for what comes before the last number it got, until a page is empty.
    assert_eq!(
        numbers(
            fixture
                .get(&format!("{base}?before=1&count=500"))
                .await
                .json()
        ),
        Vec::<u64>::new()
    );
    // `esc env version ENV@1` is the history before 2: revision 1, even after the file changed.
    let at_1 = fixture
        .get(&format!("{base}?before=2&count=500"))
        .await
        .json();
    assert_eq!(numbers(at_1.clone()), [1]);
    assert_eq!(at_1[0]["tags"], json!([]));
    assert_eq!(
        numbers(
            fixture
                .get(&format!("{base}?before=3&count=1"))
                .await
                .json()
        ),
        [2]
    );
    let definition = fixture.get("/environments/acme/shop/dev/versions/1").await;
    assert_eq!(definition.header("pulumi-esc-revision"), "1");
    assert_eq!(definition.text(), "values: {v: 1}\n");
    fixture
        .get(&format!("{base}?before=x"))
        .await
        .api_error(400);
}

#[tokio::test]
async fn tag_lists_end_as_the_cli_expects() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {}\n")]).await;
    let tags = "/environments/acme/shop/dev/versions/tags";
    let first = fixture
        .get(&format!("{tags}?after=&count=500"))
        .await
        .json();
    assert_eq!(first["tags"][0]["name"], "latest");
    // `esc env version tag ls` asks again after the last name and stops at an empty page.
    let next = fixture
        .get(&format!("{tags}?after=latest&count=500"))
        .await
        .json();
    assert_eq!(next["tags"], json!([]));
    // `esc env tag ls` stops when nextToken is "0".
    let env_tags = fixture
        .get("/environments/acme/shop/dev/tags?after=&count=500")
        .await
        .json();
    assert_eq!(env_tags, json!({"tags": {}, "nextToken": "0"}));
}

#[tokio::test]
async fn writes_are_told_the_server_is_read_only() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {}\n")]).await;
    for (method, path) in [
        ("POST", "/environments/acme"),
        ("PATCH", "/environments/acme/shop/dev"),
        ("DELETE", "/environments/acme/shop/dev"),
        ("POST", "/environments/acme/shop/dev/tags"),
        ("POST", "/environments/acme/shop/dev/versions/tags/stable"),
        ("POST", "/environments/acme/shop/dev/rotate"),
        ("PUT", "/environments/acme/shop/dev/versions/1/retract"),
    ] {
        let reply = fixture.call(method, path, Some(support::TOKEN), "{}").await;
        let message = reply.api_error(405);
        assert!(
            message.starts_with("this esc-server is read-only"),
            "{method} {path}: {message}"
        );
    }
    // Reads of unknown paths are still not found.
    fixture
        .get("/environments/acme/shop/dev/rotate")
        .await
        .api_error(404);
}

#[tokio::test]
async fn check_and_open_carry_the_exprs_esc_env_get_walks() {
    let definition = "values:\n  app:\n    hosts: [a, \"${app.port}\"]\n    port: 8080\n    \
                      password:\n      fn::secret: hunter2\n";
    let fixture = Fixture::start(&[("shop/dev.yaml", definition)]).await;
    let reply = fixture
        .call(
            "POST",
            "/environments/acme/yaml/check",
            Some(support::TOKEN),
            definition,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let exprs = &reply.json()["exprs"];
    let app = &exprs["app"];
    assert_eq!(app["range"]["environment"], "<yaml>");
    assert_eq!(app["range"]["begin"]["line"], 3);
    let object = &app["object"];
    assert_eq!(object["port"]["literal"], 8080);
    assert_eq!(object["hosts"]["list"][0]["literal"], "a");
    // An interpolation: its range only.
    assert_eq!(object["hosts"]["list"][1]["range"]["begin"]["line"], 3);
    let secret = &object["password"]["builtin"];
    assert_eq!(secret["name"], "fn::secret");
    assert_eq!(secret["nameRange"]["begin"]["line"], 6);
    assert_eq!(secret["arg"]["literal"], "hunter2");

    let environment = fixture.open_and_read("shop/dev").await;
    assert_eq!(
        environment["exprs"]["app"]["object"]["password"]["builtin"]["name"],
        "fn::secret"
    );
    assert_eq!(
        environment["exprs"]["app"]["range"]["environment"],
        "shop/dev"
    );
}
