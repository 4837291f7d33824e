//! Decoding the read response (`GET .../open/{id}`): every node wrapped, with the trace ESC
//! sends, which the lenient decoder skips.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use esc_api::reply::Reply;
use esc_api::wire::Environment;
use serde_json::{Value as Json, json};

fn trace(line: u64) -> Json {
    json!({"def": {
        "environment": "acme/app/prod",
        "begin": {"line": line, "column": 5, "byte": line * 40},
        "end": {"line": line, "column": 30, "byte": line * 40 + 25}
    }})
}

fn node(value: impl Into<Json>, secret: bool, line: u64) -> Json {
    let mut node = json!({"value": value.into(), "trace": trace(line)});
    if secret {
        node["secret"] = true.into();
    }
    node
}

/// `services` services of 5 properties each (strings, a number, a secret, a list), wrapped as
/// ESC sends them.
fn response(services: u64) -> Vec<u8> {
    let mut properties = serde_json::Map::new();
    for i in 0..services {
        let line = i * 6;
        let service = json!({
            "host": node(format!("svc{i}.internal.example.com"), false, line),
            "port": node(5432, false, line + 1),
            "user": node(format!("app-user-{i}"), false, line + 2),
            "password": node(format!("s3cr3t-{i}-Zm9vYmFyYmF6cXV4"), true, line + 3),
            "tags": node(
                json!([node("blue", false, line + 4), node("eu", false, line + 4)]),
                false,
                line + 4
            ),
        });
        properties.insert(format!("service{i}"), node(service, false, line + 5));
    }
    serde_json::to_vec(&json!({"properties": properties, "schema": {"type": "object"}})).unwrap()
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("esc-api/decode-read-response");
    // One service is about 1 KB on the wire; 1,000 are about 1 MB.
    for (name, services) in [("1KB", 1), ("1MB", 1000)] {
        let body = response(services);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| Environment::decode_body(black_box(body)).unwrap());
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = decoding
}
criterion_main!(benches);
