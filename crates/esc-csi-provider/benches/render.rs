//! Rendering a resolved value into file content and hashing its version: done once per item
//! per mount (and again on every rotation poll).

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use esc_api::Value;
use esc_csi_provider::class::items::{Encoding, Format};
use esc_csi_provider::mount::version::{VersionInput, VersionKey};
use esc_csi_provider::render::render;
use esc_csi_provider::render::template::Template;
use esc_path::PropertyPath;
use serde_json::json;

/// An object of 100 services with a few fields each: about 8 KB as compact JSON.
fn config_object() -> Value {
    let services: serde_json::Map<_, _> = (0..100)
        .map(|i| {
            (
                format!("service{i}"),
                json!({"host": format!("svc{i}.internal"), "port": 5432, "tls": true,
                       "tags": ["blue", "eu"]}),
            )
        })
        .collect();
    Value::from_json(services.into())
}

fn rendering(c: &mut Criterion) {
    let password = Value::from_json(json!("correct-horse-battery-staple"));
    let object = config_object();
    let certificate = vec![0xa5u8; 4096];
    let pem_like = base64::engine::general_purpose::STANDARD
        .encode(&certificate)
        .as_bytes()
        .chunks(64)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let base64_text = Value::from_json(json!(pem_like));
    let hex_text = Value::from_json(json!(hex::encode(&certificate)));
    let json_text = Value::from_json(json!(serde_json::to_string(&object).unwrap()));
    let variables: serde_json::Map<_, _> = (0..100)
        .map(|i| {
            (
                format!("VAR_{i}"),
                json!(format!("value {i} with \"quotes\"\n")),
            )
        })
        .collect();
    let variables = Value::from_json(variables.into());

    let mut group = c.benchmark_group("render");
    let cases = [
        (
            "plaintext/string",
            &password,
            Format::Plaintext,
            Encoding::Utf8,
        ),
        (
            "plaintext/object-8KB",
            &object,
            Format::Plaintext,
            Encoding::Utf8,
        ),
        ("json/object-8KB", &object, Format::Json, Encoding::Utf8),
        (
            "json/string-holding-json-8KB",
            &json_text,
            Format::Json,
            Encoding::Utf8,
        ),
        ("yaml/object-8KB", &object, Format::Yaml, Encoding::Utf8),
        (
            "base64/4KB-wrapped",
            &base64_text,
            Format::Plaintext,
            Encoding::Base64,
        ),
        ("hex/4KB", &hex_text, Format::Plaintext, Encoding::Hex),
        (
            "dotenv/100-variables",
            &variables,
            Format::Dotenv,
            Encoding::Utf8,
        ),
    ];
    for (name, value, format, encoding) in cases {
        group.bench_function(name, |b| {
            b.iter(|| render(black_box(value), format, encoding, usize::MAX).unwrap());
        });
    }
    // A config file of 10 references, written over the 100-service object.
    let text: String = (0..10)
        .map(|i| format!("service{i} = ${{service{i}.host}}:${{service{i}.port}}\n"))
        .collect();
    let template = Template::parse(&text).unwrap();
    let root = PropertyPath::root();
    group.bench_function("template/20-references", |b| {
        b.iter(|| {
            template
                .render(black_box(&object), &root, usize::MAX)
                .unwrap()
        });
    });
    group.finish();
}

fn versioning(c: &mut Criterion) {
    let key = VersionKey::from_bytes(&[7u8; 32]).unwrap();
    let mut group = c.benchmark_group("version");
    for (name, size) in [("32B", 32), ("4KB", 4096), ("1MB", 1 << 20)] {
        let content = vec![b'x'; size];
        let input = VersionInput {
            pod_uid: "6d0f3c2e-4b1a-4f4e-9a57-3f1c2b9d8e7a",
            pod_namespace: "payments",
            file_name: "db/password",
            config: "path=db.password format=plaintext encoding=utf-8 mode=0400",
            content: &content,
        };
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(name, |b| b.iter(|| key.version(black_box(&input))));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = rendering, versioning
}
criterion_main!(benches);
