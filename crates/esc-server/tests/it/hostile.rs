//! Definitions and bodies written to take the server down: each is refused with a diagnostic
//! that names the budget it ran out of, and the server goes on serving.

use crate::support;

use std::fmt::Write as _;

use support::{Fixture, TOKEN};

/// The summaries of a 400's diagnostics.
fn summaries(reply: &support::Reply) -> Vec<String> {
    assert_eq!(reply.status, 400, "{}", reply.text());
    reply.json()["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| d["summary"].as_str().unwrap().to_owned())
        .collect()
}

async fn still_serving(fixture: &Fixture) {
    let reply = fixture.get("/environments/acme").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_682_byte_doubling_check_body_is_refused_at_the_value_size_budget() {
    let fixture = Fixture::start(&[]).await;
    let mut body = String::from("values:\n  x0: ab\n");
    for i in 1..=34 {
        let _ = writeln!(body, "  x{i}: ${{x{}}}${{x{}}}", i - 1, i - 1);
    }
    assert!(body.len() < 700, "{}", body.len());
    let reply = fixture
        .call("POST", "/environments/acme/yaml/check", Some(TOKEN), &body)
        .await;
    let summaries = summaries(&reply);
    assert!(
        summaries.iter().any(|s| s
            .contains("a value would be 2097152 bytes, over the 1048576-byte value-size budget")),
        "{summaries:?}"
    );
    still_serving(&fixture).await;
}

#[tokio::test]
async fn a_40_level_import_diamond_is_refused_at_the_import_depth_budget() {
    let fixture = Fixture::start(&[("app/env0.yaml", "values:\n  v0: 0\n")]).await;
    fixture.write("app/env1.yaml", "imports: [app/env0]\n");
    for i in 2..40 {
        fixture.write(
            &format!("app/env{i}.yaml"),
            &format!("imports: [app/env{}, app/env{}]\n", i - 1, i - 2),
        );
    }
    let reply = fixture.post("/environments/acme/app/env39/open").await;
    let summaries = summaries(&reply);
    assert!(
        summaries
            .iter()
            .any(|s| s.ends_with("(the import-depth budget)")),
        "{summaries:?}"
    );
    still_serving(&fixture).await;
}

#[tokio::test]
async fn deep_nesting_and_long_reference_chains_stop_at_the_depth_budget_on_a_handler_thread() {
    let fixture = Fixture::start(&[]).await;
    let mut nested = String::from("values:\n");
    for level in 0..1_400 {
        let _ = writeln!(nested, "{}k:", " ".repeat(level + 2));
    }
    let mut chain = String::from("values:\n");
    for i in 0..3_000 {
        let _ = writeln!(chain, "  a{i:05}: ${{a{:05}}}", i + 1);
    }
    chain.push_str("  a03000: end\n");
    let mut shallow_but_deep = String::from("values:\n  a00000: leaf\n");
    for i in 1..3_000 {
        let _ = writeln!(shallow_but_deep, "  a{i:05}:\n    - ${{a{:05}}}", i - 1);
    }
    let mut functions = String::from("values:\n  x:\n");
    for level in 0..1_000 {
        let _ = writeln!(functions, "{}fn::toJSON:", " ".repeat(level + 4));
    }
    for body in [nested, chain, shallow_but_deep, functions] {
        let reply = fixture
            .call("POST", "/environments/acme/yaml/check", Some(TOKEN), &body)
            .await;
        let summaries = summaries(&reply);
        assert!(
            summaries.iter().any(|s| s.contains("(the depth budget)")),
            "{summaries:?}"
        );
    }
    still_serving(&fixture).await;
}

#[tokio::test]
async fn opens_past_the_session_byte_budget_evict_older_sessions_and_a_larger_one_is_a_422() {
    let fixture = Fixture::start_with(
        &[
            ("app/small.yaml", "values:\n  v: ok\n"),
            (
                "app/big.yaml",
                &format!("values:\n  v: {}\n", "x".repeat(3000)),
            ),
        ],
        |config| config.max_session_bytes = 2000,
    )
    .await;
    let first = fixture.open("app/small").await;
    for _ in 0..20 {
        fixture.open("app/small").await;
    }
    let evicted = fixture
        .get(&format!("/environments/acme/app/small/open/{first}"))
        .await;
    assert_eq!(evicted.status, 404, "{}", evicted.text());

    let reply = fixture
        .call("POST", "/environments/acme/app/big/open", Some(TOKEN), "")
        .await;
    let message = reply.api_error(422);
    assert!(
        message.starts_with("the evaluated environment is ")
            && message.ends_with(
                " bytes encoded, more than the server holds for all open sessions (2000 bytes)"
            )
            && !message.contains("xxx"),
        "{message}"
    );
    still_serving(&fixture).await;
}

#[tokio::test]
async fn a_20k_character_property_against_a_1_mb_key_is_a_short_404_with_no_hint() {
    // The shape that once took 30 s of CPU for one request, whose 404 repeated the property.
    let definition = format!(
        "values:\n  o:\n    fn::fromJSON: '{{\"{}\": 1}}'\n",
        "k".repeat(1_000_000)
    );
    let fixture = Fixture::start(&[("app/big.yaml", &definition)]).await;
    let id = fixture.open("app/big").await;
    let property = format!("o.{}", "k".repeat(20_000));
    let reply = fixture
        .get(&format!(
            "/environments/acme/app/big/open/{id}?property={property}"
        ))
        .await;
    let message = reply.api_error(404);
    assert!(message.len() < 300, "{} bytes: {message}", message.len());
    assert!(!message.contains("did you mean"), "{message}");
    assert!(message.contains("(20002 bytes)"), "{message}");
    still_serving(&fixture).await;
}

#[tokio::test]
async fn serialization_bombs_are_refused_at_the_value_size_budget() {
    let fixture = Fixture::start(&[]).await;
    let to_json = format!(
        "values:\n  x: \"{}\"\n  j:\n    fn::toJSON: [{}]\n",
        "<".repeat(100_000),
        vec!["\"${x}\""; 20].join(", ")
    );
    let mut to_yaml = format!("values:\n  l0: [{}]\n", vec!["a"; 6_000].join(", "));
    for i in 1..=60 {
        let _ = writeln!(to_yaml, "  l{i}:\n    k: ${{l{}}}", i - 1);
    }
    to_yaml.push_str("  y:\n    fn::toYAML: ${l60}\n");
    let mut interpolation = String::from("values:\n  x0: ab\n");
    for i in 1..=18 {
        let _ = writeln!(interpolation, "  x{i}: ${{x{}}}${{x{}}}", i - 1, i - 1);
    }
    let _ = writeln!(interpolation, "  y: \"{}\"", "${x18}".repeat(1_000));
    for body in [to_json, to_yaml, interpolation] {
        let reply = fixture
            .call("POST", "/environments/acme/yaml/check", Some(TOKEN), &body)
            .await;
        let summaries = summaries(&reply);
        assert!(
            summaries
                .iter()
                .any(|s| s.ends_with("-byte value-size budget")),
            "{summaries:?}"
        );
    }
    still_serving(&fixture).await;
}
