//! A Kubernetes API stand-in serving the one call esc-csi makes: `GET` of a Secret.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, Response, StatusCode};
use base64::Engine;
use serde_json::json;

use crate::{Call, Fault, Served, Shared, json_reply};

#[derive(Debug, Default)]
struct KubeState {
    /// (namespace, name) → data.
    secrets: HashMap<(String, String), BTreeMap<String, Vec<u8>>>,
    /// Namespaces whose Secrets the caller may not read.
    forbidden: HashSet<String>,
}

/// The Kubernetes stand-in. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeKube(Served<KubeState>);

impl FakeKube {
    pub async fn start() -> FakeKube {
        FakeKube(
            Served::start(KubeState::default(), |shared| {
                Router::new().fallback(handle).with_state(shared)
            })
            .await,
        )
    }

    /// The API server URL for a kubeconfig or `kube::Config`.
    pub fn url(&self) -> String {
        format!("http://{}", self.0.addr)
    }

    /// Creates or replaces a Secret with string data.
    pub fn put_secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let data = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect();
        self.0
            .shared
            .state()
            .secrets
            .insert((namespace.to_owned(), name.to_owned()), data);
    }

    /// Reads of Secrets in `namespace` answer 403, as without RBAC.
    pub fn forbid(&self, namespace: &str) {
        self.0.shared.state().forbidden.insert(namespace.to_owned());
    }

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
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    json_reply(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code.as_u16(),
        }),
    )
}

async fn handle(State(shared): State<Arc<Shared<KubeState>>>, request: Request) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (Method::GET, ["api", "v1", "namespaces", namespace, "secrets", name]) =
        (method, segments.as_slice())
    else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let state = shared.state();
    if state.forbidden.contains(*namespace) {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "secrets \"{name}\" is forbidden: User \"system:serviceaccount:kube-system:esc-csi\" \
                 cannot get resource \"secrets\" in API group \"\" in the namespace \"{namespace}\""
            ),
        );
    }
    let Some(data) = state
        .secrets
        .get(&((*namespace).to_owned(), (*name).to_owned()))
    else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("secrets \"{name}\" not found"),
        );
    };
    let encoded: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                base64::engine::general_purpose::STANDARD.encode(v).into(),
            )
        })
        .collect();
    json_reply(
        StatusCode::OK,
        &json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
            "type": "Opaque",
            "data": encoded,
        }),
    )
}

/// Writes a kubeconfig for a Kubernetes API at `server` (the stand-in's [`FakeKube::url`]:
/// plain HTTP, no user) into `dir`, for a daemon started with `KUBECONFIG`; returns its path.
pub fn kubeconfig(dir: &std::path::Path, server: &str) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
         current-context: fake\nusers:\n- name: fake\n  user: {{}}\n"
    );
    std::fs::write(&path, text)?;
    Ok(path)
}
