//! Stand-ins for the two APIs esc-csi calls, served for real over loopback HTTP so that tests
//! exercise the same client code as production: the Pulumi ESC API ([`FakeEsc`]) and the
//! Kubernetes API's Secret reads ([`FakeKube`]). Both record their calls and can be told to
//! misbehave ([`Fault`]).
//!
//! The crate speaks plain JSON and depends on no esc-csi crate, so any of them can use it.

mod esc;
mod kube;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use axum::middleware::Next;

pub use esc::{FakeEsc, secret, wrap};
pub use kube::{FakeKube, kubeconfig};

/// A scripted misbehaviour, consumed by the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, headers and body instead of the real answer.
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Send a 200 status line, then close the connection before any body: what a client sees
    /// when the connection is reset mid-answer.
    Reset,
    /// Answer normally, but only the first half of the body (with a matching length), so the
    /// JSON ends mid-way.
    Truncate,
    /// A 200 whose body is not JSON at all.
    Malformed,
    /// A 200 whose body is a JSON string of about this many bytes, sent without a length.
    Huge(usize),
}

impl Fault {
    /// An error reply in the API's JSON shape `{"code", "message"}`.
    pub fn status(status: u16, message: &str) -> Fault {
        Fault::Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::json!({"code": status, "message": message}).to_string(),
        }
    }

    /// A short name for counting faults by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Reply { status: 429, .. } => "429",
            Fault::Reply {
                status: 500..=599, ..
            } => "5xx",
            Fault::Reply { .. } => "reply",
            Fault::Delay(_) => "slow",
            Fault::Reset => "reset",
            Fault::Truncate => "truncated",
            Fault::Malformed => "malformed",
            Fault::Huge(_) => "huge",
        }
    }

    /// Adds a header to a [`Fault::Reply`].
    pub fn with_header(mut self, name: &str, value: &str) -> Fault {
        if let Fault::Reply { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// One request a stand-in received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
}

/// What both stand-ins share: a queue of faults, a log of calls, a server task.
#[derive(Debug)]
struct Shared<S> {
    state: Mutex<S>,
    faults: Mutex<VecDeque<Fault>>,
    calls: Mutex<Vec<Call>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    chaos: Mutex<Option<Chaos>>,
}

impl<S> Shared<S> {
    fn new(state: S) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            chaos: Mutex::new(None),
        })
    }

    fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, call: Call) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The most requests that were being answered at the same time.
    fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    fn push_fault(&self, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(fault);
    }

    fn set_chaos(&self, chaos: Option<Chaos>) {
        *self.chaos.lock().unwrap_or_else(|e| e.into_inner()) = chaos;
    }

    fn chaos_counts(&self) -> BTreeMap<&'static str, usize> {
        let chaos = self.chaos.lock().unwrap_or_else(|e| e.into_inner());
        chaos.as_ref().map(|c| c.counts.clone()).unwrap_or_default()
    }

    /// The next scripted fault, else one drawn by the chaos schedule, if any.
    fn next_fault(&self) -> Option<Fault> {
        let queued = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        queued.or_else(|| {
            let mut chaos = self.chaos.lock().unwrap_or_else(|e| e.into_inner());
            chaos.as_mut().and_then(Chaos::draw)
        })
    }
}

/// Misbehaviour on a schedule: every request draws from a seeded generator and gets one of the
/// configured faults with its rate, or is answered normally. The same seed and request order
/// give the same faults.
#[derive(Debug, Clone)]
pub struct Chaos {
    state: u64,
    /// Faults with their rates in requests per 10,000.
    faults: Vec<(u32, Fault)>,
    counts: BTreeMap<&'static str, usize>,
}

impl Chaos {
    pub fn new(seed: u64) -> Chaos {
        Chaos {
            state: seed,
            faults: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Gives `percent` of requests (0.01 steps) this fault.
    pub fn with(mut self, percent: f64, fault: Fault) -> Chaos {
        self.faults.push(((percent * 100.0).round() as u32, fault));
        self
    }

    /// splitmix64: small, fast, and good enough to spread faults over requests.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Draws the next request's fault and names its kind (`none`: answered normally).
    pub fn next_kind(&mut self) -> &'static str {
        self.draw().as_ref().map_or("none", Fault::kind)
    }

    fn draw(&mut self) -> Option<Fault> {
        let mut roll = (self.next() % 10_000) as u32;
        let mut picked = None;
        for (rate, fault) in &self.faults {
            if roll < *rate {
                picked = Some(fault.clone());
                break;
            }
            roll -= rate;
        }
        let kind = picked.as_ref().map_or("none", Fault::kind);
        *self.counts.entry(kind).or_default() += 1;
        picked
    }
}

/// Answers with `fault`, given how the stand-in would have answered.
async fn apply(fault: Fault, request: Request, next: Next) -> Response<Body> {
    let ok = || {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
    };
    match fault {
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            next.run(request).await
        }
        Fault::Reply {
            status,
            headers,
            body,
        } => {
            let mut builder = Response::builder().status(status);
            for (k, v) in headers {
                builder = builder.header(k, v);
            }
            builder.body(Body::from(body)).unwrap_or_default()
        }
        Fault::Reset => {
            let broken = tokio_stream::iter([Err::<Vec<u8>, _>(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))]);
            ok().body(Body::from_stream(broken)).unwrap_or_default()
        }
        Fault::Truncate => {
            let (parts, body) = next.run(request).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut cut = Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)));
            cut.headers_mut().remove("content-length");
            cut
        }
        Fault::Malformed => ok()
            .body(Body::from("<html>502 Bad Gateway</html>"))
            .unwrap_or_default(),
        Fault::Huge(bytes) => {
            // Streamed (no length up front), so the client must stop reading at its limit.
            static CHUNK: [u8; 64 << 10] = [b'x'; 64 << 10];
            let chunks = std::iter::once(&b"\""[..])
                .chain(std::iter::repeat_n(&CHUNK[..], bytes.div_ceil(CHUNK.len())))
                .chain(std::iter::once(&b"\""[..]))
                .map(Ok::<_, std::io::Error>);
            ok().body(Body::from_stream(tokio_stream::iter(chunks)))
                .unwrap_or_default()
        }
    }
}

/// A stand-in's server: its state, served on a loopback port until dropped.
#[derive(Debug)]
struct Served<S> {
    addr: SocketAddr,
    shared: Arc<Shared<S>>,
    task: tokio::task::JoinHandle<()>,
}

impl<S> Drop for Served<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S: Send + 'static> Served<S> {
    /// Serves the router `app` builds over fresh `state`.
    async fn start(state: S, app: impl FnOnce(Arc<Shared<S>>) -> Router) -> Served<S> {
        let shared = Shared::new(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("loopback address");
        // Every request is logged and may be replaced by a scripted fault before the
        // stand-in's own handler sees it.
        let router = app(shared.clone()).layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            record_and_fault::<S>,
        ));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Served { addr, shared, task }
    }
}

async fn record_and_fault<S: Send + 'static>(
    State(shared): State<Arc<Shared<S>>>,
    request: Request,
    next: Next,
) -> Response<Body> {
    shared.record(Call {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        authorization: request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = match shared.next_fault() {
        Some(fault) => apply(fault, request, next).await,
        None => next.run(request).await,
    };
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    reply
}

/// A TCP proxy on loopback that drops its first `drops` connections as soon as a request
/// arrives on them (the client sees the connection closed with no answer, as after a reset)
/// and forwards the rest to `target`.
#[derive(Debug)]
pub struct DroppingProxy {
    pub addr: SocketAddr,
    dropped: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DroppingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DroppingProxy {
    pub async fn start(target: SocketAddr, drops: usize) -> DroppingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("loopback address");
        let dropped = Arc::new(AtomicUsize::new(0));
        let counter = dropped.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    if counter.load(Ordering::SeqCst) < drops {
                        let mut buf = [0u8; 1024];
                        let _ = inbound.read(&mut buf).await;
                        counter.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        DroppingProxy {
            addr,
            dropped,
            task,
        }
    }

    /// Connections dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

fn json_reply(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}
