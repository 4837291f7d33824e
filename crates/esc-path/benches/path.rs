//! Parsing and resolving property paths: every mounted item does both once per mount.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use esc_path::{Kind, PropertyPath, Tree};

/// A minimal value tree, as the ESC values are.
#[derive(Debug, Clone)]
enum V {
    Str(#[expect(dead_code, reason = "the content only gives the tree a realistic size")] String),
    Arr(Vec<V>),
    Obj(BTreeMap<String, V>),
}

impl Tree for V {
    fn kind(&self) -> Kind {
        match self {
            V::Str(_) => Kind::String,
            V::Arr(_) => Kind::Array,
            V::Obj(_) => Kind::Object,
        }
    }
    fn member(&self, key: &str) -> Option<&Self> {
        match self {
            V::Obj(o) => o.get(key),
            _ => None,
        }
    }
    fn keys(&self) -> Vec<&str> {
        match self {
            V::Obj(o) => o.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
    fn elements(&self) -> Option<&[Self]> {
        match self {
            V::Arr(a) => Some(a),
            _ => None,
        }
    }
    fn from_elements(elements: Vec<Self>) -> Self {
        V::Arr(elements)
    }
}

/// 1,000 services, each with a config object and a list of 10 replicas: about 25,000 nodes.
fn large_tree() -> V {
    let services = (0..1000)
        .map(|i| {
            let replicas = (0..10)
                .map(|r| {
                    V::Obj(BTreeMap::from([
                        ("host".to_owned(), V::Str(format!("svc{i}-{r}.internal"))),
                        ("port".to_owned(), V::Str("5432".to_owned())),
                    ]))
                })
                .collect();
            let service = BTreeMap::from([
                ("password".to_owned(), V::Str(format!("secret-{i}"))),
                ("user".to_owned(), V::Str(format!("user{i}"))),
                ("replicas".to_owned(), V::Arr(replicas)),
            ]);
            (format!("service-{i:04}"), V::Obj(service))
        })
        .collect();
    V::Obj(BTreeMap::from([("app".to_owned(), V::Obj(services))]))
}

fn long_path() -> String {
    let mut path = String::from("root");
    for i in 0..40 {
        match i % 4 {
            0 => path.push_str(&format!(".segment{i}")),
            1 => path.push_str(&format!("[{i}]")),
            2 => path.push_str(&format!("[\"key with spaces {i}\"]")),
            _ => path.push_str(&format!("[\"quoted \\\"{i}\\\"\"]")),
        }
    }
    path
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("path/parse");
    for (name, text) in [
        ("short", "password".to_owned()),
        ("typical", "app.db[0][\"connection string\"]".to_owned()),
        ("long-40-segments", long_path()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| PropertyPath::parse(black_box(&text)).unwrap());
        });
    }
    group.finish();
}

fn resolving(c: &mut Criterion) {
    let tree = large_tree();
    let mut group = c.benchmark_group("path/resolve");
    let cases = [
        ("key", "app[\"service-0500\"].password"),
        ("deep", "app[\"service-0500\"].replicas[7].host"),
        ("wildcard-10", "app[\"service-0500\"].replicas[*].host"),
        ("missing-key-with-hint", "app[\"service-05x0\"].password"),
    ];
    for (name, text) in cases {
        let path = PropertyPath::parse(text).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let _ = black_box(path.resolve(black_box(&tree)));
            });
        });
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
    targets = parsing, resolving
}
criterion_main!(benches);
