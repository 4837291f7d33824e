//! Tokens and secret values never reach the server's logs or its error replies.
//!
//! Alone in its binary: a thread-local log subscriber must not race other tests for tracing's
//! callsite cache.

#[path = "it/support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use esc_server::{Config, EscServer};
use support::{Fixture, TOKEN};

/// A `Write` that appends to a shared buffer, for capturing log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so the server's tasks log through this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn the_token_never_appears_in_logs_or_error_bodies() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fixture = Fixture::start_with(
        &[(
            "shop/dev.yaml",
            "values: {password: {fn::secret: hunter2}}\n",
        )],
        |c| c.tokens = vec![TOKEN.into()],
    )
    .await;
    let wrong = "pul-wrong-token-9f8e";
    let mut bodies = Vec::new();
    for token in [Some(TOKEN), Some(wrong)] {
        for (method, path) in [
            ("GET", "/environments/acme"),
            ("GET", "/environments/acme/shop/dev"),
            ("POST", "/environments/acme/shop/dev/open"),
            ("POST", "/environments/acme/shop/nope/open"),
            ("GET", "/environments/acme/shop/dev/open/x?property=a"),
            ("GET", "/nowhere"),
        ] {
            let reply = fixture.call(method, path, token, "").await;
            if reply.status >= 400 {
                bodies.push(reply.text());
            }
        }
    }
    drop(fixture);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request"),
        "the server logged nothing: {logs}"
    );
    for secret in [TOKEN, wrong, "hunter2"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        for body in &bodies {
            assert!(!body.contains(secret), "{secret} in a reply: {body}");
        }
    }
    let config = Config {
        tokens: vec![TOKEN.into()],
        ..Config::new(".")
    };
    assert!(!format!("{config:?}").contains(TOKEN));
    let server = EscServer::new(config).unwrap();
    assert!(!format!("{server:?}").contains(TOKEN));
}
