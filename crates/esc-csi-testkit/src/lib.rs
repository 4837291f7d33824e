//! Stand-ins for the two APIs esc-csi calls, served for real over loopback HTTP so that tests
//! exercise the same client code as production: the Pulumi ESC API ([`FakeEsc`]) and the
//! Kubernetes API's Secret reads ([`FakeKube`]). Both record their calls and can be told to
//! misbehave ([`Fault`]).
//!
//! The crate speaks plain JSON and depends on no esc-csi crate, so any of them can use it.

mod esc;
mod kube;

use std::collections::VecDeque;
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
pub use kube::FakeKube;

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
}

impl<S> Shared<S> {
    fn new(state: S) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
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

    /// Applies the next scripted fault: `Some(reply)` replaces the real answer.
    async fn next_fault(&self) -> Option<Response<Body>> {
        let fault = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match fault? {
            Fault::Delay(d) => {
                tokio::time::sleep(d).await;
                None
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
                builder.body(Body::from(body)).ok()
            }
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
    let reply = match shared.next_fault().await {
        Some(reply) => reply,
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
