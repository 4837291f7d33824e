//! A real server on loopback over a temporary folder, and a small HTTP client for it.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Once;

use esc_server::{Config, EscServer, Running};
use serde_json::Value;

pub const TOKEN: &str = "pul-test-token-5c1d";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub running: Running,
    pub server: EscServer,
    http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_owned()
    }

    /// Asserts the API's error shape and status; returns the message.
    pub fn api_error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(body["code"], status, "body: {body}");
        body["message"].as_str().expect("a message").to_owned()
    }
}

pub fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

static CRYPTO: Once = Once::new();

impl Fixture {
    /// A server over `files` (`project/env.yaml`, content) with default settings.
    pub async fn start(files: &[(&str, &str)]) -> Fixture {
        Fixture::start_with(files, |_| {}).await
    }

    pub async fn start_with(files: &[(&str, &str)], configure: impl FnOnce(&mut Config)) -> Self {
        CRYPTO.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            write(dir.path(), name, content);
        }
        let mut config = Config::new(dir.path());
        configure(&mut config);
        let server = EscServer::new(config).unwrap();
        let running = Running::start(server.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Fixture {
            dir,
            running,
            server,
            http: reqwest::Client::new(),
        }
    }

    pub fn write(&self, name: &str, content: &str) {
        write(self.dir.path(), name, content);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("authorization", format!("token {token}"));
        }
        let response = request.body(body.to_owned()).send().await.unwrap();
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, Some(TOKEN), "").await
    }

    pub async fn post(&self, path: &str) -> Reply {
        self.call("POST", path, Some(TOKEN), "").await
    }

    /// Opens `project/env` in org `acme`; returns the session id.
    pub async fn open(&self, env: &str) -> String {
        let reply = self.post(&format!("/environments/acme/{env}/open")).await;
        assert_eq!(reply.status, 200, "open failed: {}", reply.text());
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    /// Opens and reads `project/env` in org `acme`.
    pub async fn open_and_read(&self, env: &str) -> Value {
        let id = self.open(env).await;
        let reply = self
            .get(&format!("/environments/acme/{env}/open/{id}"))
            .await;
        assert_eq!(reply.status, 200, "read failed: {}", reply.text());
        reply.json()
    }
}

/// Strips the wire wrappers: `{"value": x, ...}` → x, recursively.
pub fn plain(wire: &Value) -> Value {
    match wire.get("value") {
        None => Value::Null,
        Some(Value::Array(items)) => Value::Array(items.iter().map(plain).collect()),
        Some(Value::Object(members)) => {
            Value::Object(members.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        }
        Some(scalar) => scalar.clone(),
    }
}

/// Asserts every node of a wire value carries a `trace` object.
pub fn assert_traced(wire: &Value) {
    assert!(wire["trace"].is_object(), "no trace on {wire}");
    match wire.get("value") {
        Some(Value::Array(items)) => items.iter().for_each(assert_traced),
        Some(Value::Object(members)) => members.values().for_each(assert_traced),
        _ => {}
    }
}
