//! Evaluating a large environment: thousands of values, an import, references, interpolation
//! and secrets, as the local ESC server does on every open.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use esc_eval::{Decrypter, Environments, Options, Provider, Providers};

const DATABASES: usize = 500;
const SERVICES: usize = 1000;

/// `shared/base`: 500 databases of four values each, the password a secret.
fn base() -> String {
    let mut yaml = String::from("values:\n");
    for i in 0..DATABASES {
        let _ = write!(
            yaml,
            "  db{i}:\n    host: db{i}.internal\n    port: 5432\n    user: app{i}\n    \
             password:\n      fn::secret: pw-{i}-Zm9vYmFy\n"
        );
    }
    yaml
}

/// Imports `shared/base`; 1,000 services, each with an interpolated URL, a reference to a
/// whole database object and a `fn::toJSON`; then 20 references to a 1,000-member object.
fn root() -> String {
    let mut yaml = String::from("imports:\n  - shared/base\nvalues:\n  services:\n");
    for i in 0..SERVICES {
        let d = i % DATABASES;
        let _ = write!(
            yaml,
            "    svc{i}:\n      name: svc{i}\n      \
             url: postgres://${{db{d}.user}}:${{db{d}.password}}@${{db{d}.host}}:${{db{d}.port}}/app\n      \
             database: ${{db{d}}}\n      \
             json:\n        fn::toJSON: ${{db{d}.host}}\n"
        );
    }
    yaml.push_str("  catalog:\n");
    for i in 0..SERVICES {
        let _ = writeln!(yaml, "    entry{i}: value-{i}");
    }
    yaml.push_str("  copies:\n");
    for i in 0..20 {
        let _ = writeln!(yaml, "    copy{i}: ${{catalog}}");
    }
    yaml
}

struct Definitions {
    base: String,
}

impl Environments for Definitions {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        match name {
            "shared/base" => Ok(self.base.clone().into_bytes()),
            _ => Err(format!("no environment {name}")),
        }
    }
}

struct NoProviders;

impl Providers for NoProviders {
    fn provider(&self, _: &str) -> Option<&dyn Provider> {
        None
    }
}

struct NoCiphertext;

impl Decrypter for NoCiphertext {
    fn decrypt(&self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("no ciphertext in this benchmark".into())
    }
}

fn evaluation(c: &mut Criterion) {
    let environments = Definitions { base: base() };
    let source = root();
    let context = BTreeMap::new();
    let options = Options {
        environments: &environments,
        providers: &NoProviders,
        decrypter: &NoCiphertext,
        context: &context,
        show_secrets: true,
        limits: esc_eval::Limits::default(),
    };
    let check = esc_eval::evaluate("acme/app", source.as_bytes(), &options);
    assert!(check.diagnostics.is_empty(), "{:?}", check.diagnostics);

    let mut group = c.benchmark_group("esc-eval/large-environment");
    group.bench_function("load", |b| {
        b.iter(|| esc_eval::load("acme/app", black_box(source.as_bytes())));
    });
    let (definition, _) = esc_eval::load("acme/app", source.as_bytes());
    group.bench_function("evaluate", |b| {
        b.iter(|| definition.evaluate(black_box(&options)));
    });
    group.bench_function("check", |b| {
        b.iter(|| definition.check(black_box(&options)));
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10)
}

criterion_group! {
    name = benches;
    config = config();
    targets = evaluation
}
criterion_main!(benches);
