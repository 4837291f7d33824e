//! A Pulumi ESC API stand-in: open (latest or at a version) and read, with tokens checked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::{Call, Fault, Served, Shared, json_reply};

/// Wraps plain JSON in ESC's wire form: every node becomes `{"value": ...}`.
pub fn wrap(plain: Value) -> Value {
    let inner = match plain {
        Value::Array(items) => Value::Array(items.into_iter().map(wrap).collect()),
        Value::Object(members) => {
            Value::Object(members.into_iter().map(|(k, v)| (k, wrap(v))).collect())
        }
        Value::Null => return json!({"trace": {"def": {"environment": "test"}}}),
        scalar => scalar,
    };
    json!({"value": inner, "trace": {"def": {"environment": "test"}}})
}

/// Wraps plain JSON and flags it secret.
pub fn secret(plain: Value) -> Value {
    let mut node = wrap(plain);
    node["secret"] = Value::Bool(true);
    node
}

#[derive(Debug, Default)]
struct EscState {
    /// `org/project/env` → version ("" = latest) → the read reply, serialized once when set:
    /// a read of a large environment then costs the stand-in no CPU (the bench's stand-in
    /// shares its process with the load it measures).
    environments: HashMap<String, HashMap<String, Bytes>>,
    /// Accepted tokens; empty accepts any non-empty token.
    tokens: HashSet<String>,
    /// Session id → (environment key, version).
    sessions: HashMap<String, (String, String)>,
    next_session: u64,
    /// Added to every answer, as a network round trip would be.
    latency: Duration,
}

/// The ESC stand-in. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeEsc(Served<EscState>);

impl FakeEsc {
    pub async fn start() -> FakeEsc {
        FakeEsc(
            Served::start(EscState::default(), |shared| {
                Router::new().fallback(handle).with_state(shared)
            })
            .await,
        )
    }

    /// The API base to put in `apiUrl`.
    pub fn url(&self) -> String {
        format!("http://{}/api/esc", self.0.addr)
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.0.addr
    }

    /// The most requests it was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.0.shared.max_in_flight()
    }

    /// Sets the latest revision of `org/project/env` from plain JSON (an object).
    pub fn set(&self, env: &str, plain: Value) {
        self.set_wire(env, "", wire_properties(plain));
    }

    /// Sets a pinned revision or tag of `org/project/env` from plain JSON.
    pub fn set_version(&self, env: &str, version: &str, plain: Value) {
        self.set_wire(env, version, wire_properties(plain));
    }

    /// Sets `properties` exactly as given, already in wire form.
    pub fn set_wire(&self, env: &str, version: &str, properties: Value) {
        // Fields the client does not use are present, as on the real API.
        let mut reply = json!({
            "exprs": {},
            "schema": {"type": "object"},
            "executionContext": {"properties": {}},
        });
        reply["properties"] = properties;
        let reply = Bytes::from(reply.to_string());
        self.0
            .shared
            .state()
            .environments
            .entry(env.to_owned())
            .or_default()
            .insert(version.to_owned(), reply);
    }

    /// Only these tokens are accepted from now on.
    pub fn accept_token(&self, token: &str) {
        self.0.shared.state().tokens.insert(token.to_owned());
    }

    /// Every request from now on waits `latency` before it is answered (a network round trip);
    /// unlike [`Fault::Delay`] it is not consumed.
    pub fn set_latency(&self, latency: Duration) {
        self.0.shared.state().latency = latency;
    }

    /// The next request gets this fault.
    pub fn push_fault(&self, fault: Fault) {
        self.0.shared.push_fault(fault);
    }

    /// Misbehave on `chaos`'s schedule from now on (`None` stops); queued faults go first.
    pub fn set_chaos(&self, chaos: Option<crate::Chaos>) {
        self.0.shared.set_chaos(chaos);
    }

    /// How many requests the chaos schedule gave each fault kind (`none`: answered normally).
    pub fn chaos_counts(&self) -> std::collections::BTreeMap<&'static str, usize> {
        self.0.shared.chaos_counts()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.0.shared.calls()
    }

    pub fn opens(&self) -> usize {
        self.calls().iter().filter(|c| c.method == "POST").count()
    }

    pub fn reads(&self) -> usize {
        self.calls().iter().filter(|c| c.method == "GET").count()
    }
}

/// Wraps each top-level property of a plain JSON object.
fn wire_properties(plain: Value) -> Value {
    match plain {
        Value::Object(members) => {
            Value::Object(members.into_iter().map(|(k, v)| (k, wrap(v))).collect())
        }
        other => panic!("an environment is an object, not {other}"),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_reply(
        status,
        &json!({"code": status.as_u16(), "message": message}),
    )
}

async fn handle(State(shared): State<Arc<Shared<EscState>>>, request: Request) -> Response<Body> {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let token = authorization.and_then(|a| a.strip_prefix("token "));
    let latency = shared.state().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    {
        let state = shared.state();
        let accepted = match token {
            Some(t) if !t.is_empty() => state.tokens.is_empty() || state.tokens.contains(t),
            _ => false,
        };
        if !accepted {
            return error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: No credentials provided or are invalid.",
            );
        }
    }
    let segments: Vec<String> = path
        .trim_start_matches("/api/esc/")
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method, segments.as_slice()) {
        (Method::POST, ["environments", org, project, env, "open"]) => {
            open(&shared, &format!("{org}/{project}/{env}"), "")
        }
        (
            Method::POST,
            [
                "environments",
                org,
                project,
                env,
                "versions",
                version,
                "open",
            ],
        ) => open(&shared, &format!("{org}/{project}/{env}"), version),
        (Method::GET, ["environments", org, project, env, "open", session]) => {
            read(&shared, &format!("{org}/{project}/{env}"), session)
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn open(shared: &Shared<EscState>, env: &str, version: &str) -> Response<Body> {
    let mut state = shared.state();
    let exists = state
        .environments
        .get(env)
        .is_some_and(|versions| versions.contains_key(version));
    if !exists {
        let what = if version.is_empty() {
            format!("Environment '{env}' not found")
        } else {
            format!("Environment '{env}' has no revision or tag '{version}'")
        };
        return error(StatusCode::NOT_FOUND, &what);
    }
    state.next_session += 1;
    let id = format!("session-{}", state.next_session);
    state
        .sessions
        .insert(id.clone(), (env.to_owned(), version.to_owned()));
    json_reply(StatusCode::OK, &json!({"id": id, "diagnostics": []}))
}

fn read(shared: &Shared<EscState>, env: &str, session: &str) -> Response<Body> {
    let state = shared.state();
    let Some((session_env, version)) = state.sessions.get(session) else {
        return error(StatusCode::NOT_FOUND, "open session not found");
    };
    if session_env != env {
        return error(StatusCode::NOT_FOUND, "open session not found");
    }
    let reply = state.environments[env][version].clone();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(reply))
        .unwrap_or_default()
}
