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
}

impl<S> Shared<S> {
    fn new(state: S) -> Arc<Self> {
        Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
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
    if let Some(reply) = shared.next_fault().await {
        return reply;
    }
    next.run(request).await
}

fn json_reply(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}
