//! What operators watch: a fresh daemon's `/metrics`, and the chart's alert rules and Grafana
//! dashboard checked against it, so that no alert or panel queries a metric the daemon does
//! not export (`promtool check rules` in `.ci/observability` checks the rules' syntax).

use crate::support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Deserialize;
use support::{Daemon, free_port, http_get};

fn chart_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts/esc-csi")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh daemon's exposition: nothing mounted yet.
fn fresh_metrics() -> String {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    let port = free_port();
    let daemon = Daemon::start(
        &socket,
        &[],
        &["--metrics-addr", &format!("127.0.0.1:{port}")],
    );
    let (status, text) = http_get(port, "/metrics");
    drop(daemon);
    assert_eq!(status, 200);
    text
}

/// Sample names (`esc_csi_mounts_total`, `..._bucket`), not the `# TYPE` family names.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

/// The daemon's metric names a PromQL expression uses.
fn used(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("esc_csi_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

fn rule_exprs() -> Vec<(String, String)> {
    let rules: serde_json::Value = serde_json::Value::deserialize(
        serde_norway::Deserializer::from_str(&chart_file("rules/esc-csi.yaml")),
    )
    .unwrap();
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_owned(),
                r["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn dashboard_exprs() -> Vec<(String, String)> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&chart_file("dashboards/esc-csi.json")).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push((
                panel["title"].as_str().unwrap().to_owned(),
                target["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            exprs.push((
                variable["name"].as_str().unwrap().to_owned(),
                query.to_owned(),
            ));
        }
    }
    exprs
}

#[test]
fn a_fresh_daemon_exports_every_known_series_at_zero_with_process_and_build_metrics() {
    let text = fresh_metrics();
    for line in [
        "esc_csi_mounts_total{result=\"success\",code=\"OK\"} 0",
        "esc_csi_mounts_total{result=\"error\",code=\"Unauthenticated\"} 0",
        "esc_csi_esc_requests_total{endpoint=\"open\",status=\"connect\"} 0",
        "esc_csi_cache_requests_total{cache=\"environment\",result=\"hit\"} 0",
        "esc_csi_stale_serves_total 0",
        "esc_csi_memory_in_flight_bytes 0",
        "esc_csi_memory_in_flight_limit_bytes 50331648",
        &format!(
            "esc_csi_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(text.contains(&format!("{line}\n")), "no {line} in\n{text}");
    }
    let names = exported(&text);
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(names.contains(name), "no {name} in\n{text}");
    }
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_query_is_one_the_daemon_exports() {
    let names = exported(&fresh_metrics());
    let queries: Vec<_> = rule_exprs().into_iter().chain(dashboard_exprs()).collect();
    assert!(queries.len() >= 15, "{queries:?}");
    let mut unknown = Vec::new();
    for (owner, expr) in &queries {
        let metrics = used(expr);
        assert!(
            !metrics.is_empty(),
            "{owner} queries none of the daemon's metrics: {expr}"
        );
        unknown.extend(
            metrics
                .into_iter()
                .filter(|m| !names.contains(m))
                .map(|m| format!("{owner}: {m}")),
        );
    }
    assert!(unknown.is_empty(), "not exported: {unknown:#?}");
}

#[test]
fn the_alerts_cover_what_operators_page_on() {
    let alerts: BTreeSet<String> = rule_exprs().into_iter().map(|(a, _)| a).collect();
    for alert in [
        "EscCsiMountErrors",
        "EscCsiEscUnavailable",
        "EscCsiServingStale",
        "EscCsiMemoryBudgetExhausted",
        "EscCsiRestarting",
    ] {
        assert!(alerts.contains(alert), "{alerts:?}");
    }
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .unwrap();
    for alert in &alerts {
        assert!(
            page.contains(&format!("`{alert}`")),
            "docs/metrics.md lacks {alert}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_gauges_show_what_the_environment_cache_holds_against_its_bound() {
    use esc_csi_provider::grpc::dialer::connect;
    use serde_json::json;

    let esc = esc_csi_testkit::FakeEsc::start().await;
    esc.set("acme/app/prod", json!({"app": {"hello": "world"}}));
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pulumi.sock");
    let port = free_port();
    let _daemon = Daemon::start(
        &socket,
        &[("ESC_CSI_API_URL", &esc.url())],
        &[
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--cache-max-bytes",
            "1000000",
        ],
    );
    let before = http_get(port, "/metrics").1;
    assert!(
        before.contains("esc_csi_cache_entries{cache=\"environment\"} 0\n"),
        "{before}"
    );
    assert!(before.contains("esc_csi_cache_limit_bytes{cache=\"environment\"} 1000000\n"));
    connect(socket.clone())
        .await
        .unwrap()
        .mount(support::mount_request("t0k3n"))
        .await
        .unwrap();
    let after = http_get(port, "/metrics").1;
    assert!(
        after.contains("esc_csi_cache_entries{cache=\"environment\"} 1\n"),
        "{after}"
    );
    let bytes: i64 = after
        .lines()
        .find_map(|l| l.strip_prefix("esc_csi_cache_bytes{cache=\"environment\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes > 0 && bytes < 1_000_000, "{bytes}");
}
