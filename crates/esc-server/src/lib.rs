//! A local stand-in for the reading part of the Pulumi ESC API, over a folder of environment
//! definitions (`<project>/<env>.yaml`), so that esc-csi, the `esc` CLI and the ESC SDKs run on
//! a laptop or in CI with no cloud account.
//!
//! Definitions are evaluated by `esc-eval` when a session is opened, as Pulumi Cloud does;
//! revisions are counted from the server's start by content (see `store`). Nothing is written:
//! create, update, delete and tag changes are Pulumi Cloud's job.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = esc_server::EscServer::new(esc_server::Config::new("envs"))?;
//! let running = esc_server::Running::start(server, "127.0.0.1:0".parse()?).await?;
//! println!("ESC API at {}", running.url());
//! running.stop().await?;
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod error;
mod evaluate;
mod names;
mod oidc;
mod routes;
mod sessions;
mod store;
mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{Config, ConfigError};
pub use jsonwebtoken::jwk::JwkSet;
pub use oidc::{OidcConfig, OidcError};

use auth::Auth;
use sessions::Sessions;
use store::Store;

/// What the handlers share.
#[derive(Debug)]
struct Inner {
    config: Config,
    store: Store,
    sessions: Sessions,
    /// Access tokens issued by `POST /api/oauth/token`.
    issued: Arc<oidc::Issued>,
    /// Slots for evaluations and session reads (`Config::max_evaluations`).
    evaluations: Arc<tokio::sync::Semaphore>,
}

/// A configured server; [`EscServer::router`] gives its HTTP surface.
#[derive(Debug, Clone)]
pub struct EscServer {
    inner: Arc<Inner>,
    auth: Arc<Auth>,
}

impl EscServer {
    pub fn new(config: Config) -> Result<EscServer, ConfigError> {
        config.validate()?;
        let issued = Arc::new(oidc::Issued::default());
        let auth = Arc::new(Auth::new(
            &config.tokens,
            Arc::clone(&issued),
            config.oidc.is_some(),
        ));
        let inner = Arc::new(Inner {
            store: Store::new(config.environments.clone()),
            sessions: Sessions::new(config.max_sessions, config.max_session_bytes),
            issued,
            evaluations: Arc::new(tokio::sync::Semaphore::new(config.max_evaluations)),
            config,
        });
        Ok(EscServer { inner, auth })
    }

    /// Routes under `/api/esc`, and `POST /api/oauth/token`; anything else is a 404 in the
    /// API's error shape.
    pub fn router(&self) -> axum::Router {
        routes::router(Arc::clone(&self.inner), Arc::clone(&self.auth))
    }

    /// Whether a token is required (with none configured and no OIDC, any token is accepted).
    pub fn requires_token(&self) -> bool {
        !self.inner.config.tokens.is_empty() || self.inner.config.oidc.is_some()
    }
}

/// The API base for a server listening on `addr`, e.g. `http://127.0.0.1:8080/api/esc`.
pub fn api_url(addr: SocketAddr) -> String {
    format!("http://{addr}/api/esc")
}

/// Serves `server` on `listener` until `shutdown` completes, then finishes open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: EscServer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, server.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server running on a task of the current runtime, for in-process use (tests, `mount`).
/// Dropping it stops the server.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Binds `addr` (`127.0.0.1:0` picks a free port) and serves in the background.
    pub async fn start(server: EscServer, addr: SocketAddr) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, server, async {
            let _ = stopped.await;
        }));
        Ok(Running {
            addr,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base to give clients.
    pub fn url(&self) -> String {
        api_url(self.addr)
    }

    /// Stops accepting, lets open requests finish, and returns the server's outcome.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
