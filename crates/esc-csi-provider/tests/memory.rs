//! The memory model of a mount, checked against the allocator: replies of about 1 MB at the
//! edges of every budget (deep, wide, long keys, many leaves, long strings, JSON held in a
//! string), mounted with every item kind, through the service as the daemon wires it. For each,
//! the bytes allocated at the peak of the mount (reply read and decoded, files rendered,
//! response encoded as tonic does) must stay
//!
//! - under what the mount charged to the node-wide budget, plus a fixed [`SLACK`] (so the
//!   budget is a bound, and 48 MiB of budget is 48 MiB of mounts), and
//! - under [`ONE_MOUNT_BOUND`], the bound docs/security.md states for one mount of a 1 MB reply.
//!
//! Its own test binary: the counting allocator sees the whole process, so nothing else may run
//! beside it.

use std::sync::Arc;

use esc_api::MemoryBudget;
use esc_csi_provider::compose::{Provider, Wiring};
use esc_csi_provider::credential::{AuthError, SecretReader};
use esc_csi_provider::grpc::ServiceOptions;
use esc_csi_provider::grpc::proto::v1alpha1::MountRequest;
use esc_csi_provider::grpc::proto::v1alpha1::csi_driver_provider_server::CsiDriverProvider;
use esc_csi_provider::metrics::Metrics;
use esc_csi_provider::mount::version::VersionKey;
use peak_alloc::PeakAlloc;
use proptest::prelude::*;
use prost::Message;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::time::Instant;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

const MIB: usize = 1 << 20;
const TOKEN: &str = "pul-memory-model-token";

/// The most one mount of a reply of about 1 MB may allocate at its peak.
const ONE_MOUNT_BOUND: usize = 32 * MIB;

/// Allocations a mount makes that no budget counts, by design: the runtime's and the HTTP
/// stack's buffers, the class, the version hashes.
const SLACK: usize = 4 * MIB;

/// The target size of a generated reply, in wire form.
const REPLY: usize = 1_000_000;

/// A reply's shape, sized to about [`REPLY`] bytes.
#[derive(Debug, Clone)]
enum Shape {
    /// Objects nested `depth` deep under keys of `key_len` bytes, the innermost holding as
    /// many one-byte leaves under such keys as fit.
    Deep { depth: usize, key_len: usize },
    /// A tree of objects `fanout` wide at each level, down to as many leaves as fit.
    Wide { fanout: usize },
    /// One array of zeros: the most values per byte a reply can hold.
    Zeros { count: usize },
    /// `count` strings sharing the reply.
    Strings { count: usize },
    /// One string holding a JSON array of `count` zeros, which `format: json` and `yaml`
    /// expand.
    JsonText { count: usize },
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (
            1usize..=60,
            prop_oneof![Just(1usize), 1usize..=255, Just(255usize)]
        )
            .prop_map(|(depth, key_len)| Shape::Deep { depth, key_len }),
        (2usize..=64).prop_map(|fanout| Shape::Wide { fanout }),
        // Just under the values budget (the array, its object and its node count too), one
        // past a power of two (where a doubling array is half empty), and past the budget.
        prop_oneof![Just(199_990usize), Just(131_073usize), 1usize..=499_000]
            .prop_map(|count| Shape::Zeros { count }),
        prop_oneof![Just(1usize), 1usize..=50_000].prop_map(|count| Shape::Strings { count }),
        prop_oneof![Just(499_000usize), 1usize..=499_000]
            .prop_map(|count| Shape::JsonText { count }),
    ]
}

/// Plain JSON of the shape.
fn plain(shape: &Shape) -> Value {
    match *shape {
        Shape::Deep { depth, key_len } => {
            let leaves = (REPLY / (key_len.max(6) + 4)).max(1);
            let mut inner = serde_json::Map::new();
            for i in 0..leaves {
                inner.insert(format!("{i:k>key_len$}"), json!(1));
            }
            let mut value = Value::Object(inner);
            for d in 1..depth {
                value = json!({ format!("{d:d>key_len$}"): value });
            }
            value
        }
        Shape::Wide { fanout } => {
            fn tree(fanout: usize, budget: usize) -> Value {
                if budget <= fanout * 8 {
                    let leaves = (budget / 8).max(1);
                    return Value::Object(
                        (0..leaves).map(|i| (format!("v{i}"), json!(i))).collect(),
                    );
                }
                let each = (budget / fanout).saturating_sub(12);
                Value::Object(
                    (0..fanout)
                        .map(|i| (format!("o{i}"), tree(fanout, each)))
                        .collect(),
                )
            }
            tree(fanout, REPLY)
        }
        Shape::Zeros { count } => json!({ "zeros": vec![0; count] }),
        Shape::Strings { count } => Value::Object(
            (0..count)
                .map(|i| (format!("s{i}"), json!("x".repeat(REPLY / count))))
                .collect(),
        ),
        Shape::JsonText { count } => {
            json!({ "text": format!("[{}0]", "0,".repeat(count.saturating_sub(1))) })
        }
    }
}

/// The wire form at its most compact: containers wrapped (an object must be), scalars and
/// arrays bare, as the lenient reader takes them.
fn wire(plain: Value) -> Value {
    match plain {
        Value::Object(members) => json!({
            "value": Value::Object(members.into_iter().map(|(k, v)| (k, wire(v))).collect())
        }),
        Value::Array(items) => Value::Array(items.into_iter().map(wire).collect()),
        scalar => scalar,
    }
}

/// Every item kind, each mounting the whole environment (`secretPath` empty) or its first
/// property.
const KINDS: &[&str] = &[
    "- {fileName: f, secretKey: p}",
    "- {fileName: f.json, secretKey: p, format: json}",
    "- {fileName: f.yaml, secretKey: p, format: yaml}",
    "- {folderName: d, secretKey: p}",
    "- {files: d, secretKey: p}",
    "- {fileName: f.env, secretKey: p, format: dotenv}",
    "- {fileName: f.sh, secretKey: p, format: shell}",
    "- {fileName: f.txt, template: 'a=${p}'}",
    "- {fileName: a, secretKey: p}\n- {fileName: b.json, secretKey: p, format: json}\n- {folderName: c, secretKey: p}\n- {fileName: d.yaml, template: '${p}', format: yaml}",
];

struct Token;

impl SecretReader for Token {
    async fn read_key(
        &self,
        _namespace: &str,
        _name: &str,
        _key: &str,
        _deadline: Instant,
    ) -> Result<SecretString, AuthError> {
        Ok(SecretString::from(TOKEN))
    }
}

/// The provider as `esc-csi serve` wires it by default, with its own budget.
fn service(memory: &Arc<MemoryBudget>) -> Provider<Token> {
    let wiring = Wiring {
        service: ServiceOptions {
            memory: Some(memory.clone()),
            ..ServiceOptions::default()
        },
        ..Wiring::default()
    };
    wiring
        .provider(
            Token,
            VersionKey::random().unwrap(),
            Arc::new(Metrics::default()),
        )
        .unwrap()
}

/// An ESC API that answers every open with one session and every read with `body`, shared,
/// never copied: the stand-in must not allocate in proportion to the reply while it is
/// measured.
async fn serve(body: Arc<std::sync::Mutex<bytes::Bytes>>) -> String {
    use axum::routing::{get, post};
    let read = move || {
        let body = body.lock().unwrap().clone();
        async move { ([("content-type", "application/json")], body) }
    };
    let app = axum::Router::new()
        .route(
            "/api/esc/environments/{org}/{project}/{env}/open",
            post(|| async { axum::Json(json!({"id": "s"})) }),
        )
        .route(
            "/api/esc/environments/{org}/{project}/{env}/open/{session}",
            get(read),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/esc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn request(api: &str, secrets: &str) -> MountRequest {
    let attributes = json!({
        "apiUrl": api,
        "organization": "acme",
        "project": "app",
        "environment": "prod",
        "authSecretName": "pulumi-creds",
        "secrets": secrets,
        "secretProviderClass": "memory",
        "csi.storage.k8s.io/pod.name": "p",
        "csi.storage.k8s.io/pod.namespace": "default",
        "csi.storage.k8s.io/pod.uid": "0f0e5a8c-1111-2222-3333-444455556666",
    });
    MountRequest {
        attributes: attributes.to_string(),
        secrets: "{}".into(),
        target_path: "/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/s/mount".into(),
        permission: "420".into(),
        current_object_version: vec![],
    }
}

/// One mount: its allocation peak above what was held before, what it charged at most, and
/// how it ended.
struct Measured {
    peak: usize,
    charged: usize,
    outcome: String,
}

async fn measure(api: &str, secrets: &str) -> Measured {
    let memory = MemoryBudget::new(48 * MIB);
    let service = service(&memory);
    let request = request(api, secrets);
    let before = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    let outcome = match service.mount(tonic::Request::new(request)).await {
        Ok(response) => {
            // As tonic does once the handler returns: the encoded copy, beside the message.
            let encoded = response.get_ref().encode_to_vec();
            let outcome = format!(
                "{} files, {} bytes",
                response.get_ref().files.len(),
                encoded.len()
            );
            drop((response, encoded));
            outcome
        }
        Err(status) => format!("{:?}", status.code()),
    };
    let peak = ALLOC.peak_usage().saturating_sub(before);
    assert_eq!(memory.used(), 0, "the mount released its reservation");
    Measured {
        peak,
        charged: memory.peak(),
        outcome,
    }
}

#[test]
fn one_mounts_peak_allocation_stays_under_what_it_charged_and_the_documented_bound() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let body = Arc::new(std::sync::Mutex::new(bytes::Bytes::new()));
    let api = runtime.block_on(serve(body.clone()));
    let cases = std::env::var("MEMORY_MODEL_CASES").map_or(16, |n| n.parse().unwrap());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let check = |(shape, kind): (Shape, usize)| {
        let properties = json!({ "p": wire(plain(&shape)) });
        let text = json!({ "properties": properties }).to_string();
        drop(properties);
        let reply = text.len();
        *body.lock().unwrap() = bytes::Bytes::from(text);
        let m = runtime.block_on(measure(&api, KINDS[kind]));
        eprintln!(
            "{shape:?} kind {kind}: reply {reply} B, peak {:.1} MiB, charged {:.1} MiB, {}",
            m.peak as f64 / MIB as f64,
            m.charged as f64 / MIB as f64,
            m.outcome
        );
        prop_assert!(
            m.peak <= m.charged + SLACK,
            "{shape:?} with {:?}: peak {} over charged {} + slack",
            KINDS[kind],
            m.peak,
            m.charged
        );
        prop_assert!(m.peak <= ONE_MOUNT_BOUND, "{shape:?}: peak {}", m.peak);
        Ok(())
    };
    // Found by the generator once (a doubling array held twice its values): kept for every kind.
    for kind in 0..KINDS.len() {
        check((Shape::Zeros { count: 131_073 }, kind)).unwrap();
    }
    runner.run(&(shape(), 0..KINDS.len()), check).unwrap();
}
