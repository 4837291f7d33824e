//! `esc-csi esc-server`: the reading part of the Pulumi ESC API over a folder of definitions,
//! for a laptop or CI with no cloud account. Loopback only unless told otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use esc_server::{Config, ConfigError, EscServer, OidcConfig, OidcError};
use secrecy::SecretString;

use crate::signals::Signals;

#[derive(Debug, Args)]
pub(crate) struct EscServerArgs {
    /// Folder of environment definitions, laid out <project>/<env>.yaml; a bare import name
    /// refers to project "default", as in Pulumi Cloud.
    #[arg(long, env = "ESC_CSI_ESC_SERVER_ENVIRONMENTS")]
    pub(crate) environments: PathBuf,

    /// Address to serve on. Loopback by default: a public address exposes every definition
    /// to anyone who can reach it.
    #[arg(
        long,
        env = "ESC_CSI_ESC_SERVER_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub(crate) listen: SocketAddr,

    /// Serve only this organization name; by default any name is served.
    #[arg(long, env = "ESC_CSI_ESC_SERVER_ORGANIZATION")]
    pub(crate) organization: Option<String>,

    /// Accepted access token (repeatable; comma-separated in the environment variable).
    /// Without any, any token is accepted.
    #[arg(
        long = "token",
        env = "ESC_CSI_ESC_SERVER_TOKENS",
        value_delimiter = ',',
        value_parser = parse_token,
        hide_env_values = true
    )]
    pub(crate) tokens: Vec<SecretString>,

    /// Session length when an open asks for none. Units: ns, us, ms, s, m, h (e.g. 1h30m).
    #[arg(
        long,
        env = "ESC_CSI_ESC_SERVER_DEFAULT_OPEN_DURATION",
        default_value = "1h",
        value_parser = esc_gotext::parse_duration
    )]
    pub(crate) default_open_duration: Duration,

    /// The longest session an open may ask for.
    #[arg(
        long,
        env = "ESC_CSI_ESC_SERVER_MAX_OPEN_DURATION",
        default_value = "24h",
        value_parser = esc_gotext::parse_duration
    )]
    pub(crate) max_open_duration: Duration,

    /// Evaluations (opens, yaml/check) and session reads run at most this many at once, each
    /// holding up to about 100 MiB at its peak; the rest wait. Default: the number of CPUs.
    #[arg(long, env = "ESC_CSI_ESC_SERVER_MAX_EVALUATIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_evaluations: Option<u32>,

    /// How long a request waits for an evaluation slot before it is answered 429.
    #[arg(
        long,
        env = "ESC_CSI_ESC_SERVER_EVALUATION_WAIT",
        default_value = "30s",
        value_parser = esc_gotext::parse_duration
    )]
    pub(crate) evaluation_wait: Duration,

    /// Serve POST /api/oauth/token (the Pulumi OAuth token exchange) for OIDC tokens from this
    /// issuer: their `iss` must equal it exactly. Needs --oidc-jwks. With it, only --token
    /// values and exchanged tokens are accepted.
    #[arg(long, env = "ESC_CSI_ESC_SERVER_OIDC_ISSUER", requires = "oidc_jwks")]
    pub(crate) oidc_issuer: Option<String>,

    /// JWKS file ({"keys": [...]}) with the issuer's public keys (RSA, EC or OKP), e.g. the
    /// output of `kubectl get --raw /openid/v1/jwks`. Read once at start; never fetched.
    #[arg(
        long,
        env = "ESC_CSI_ESC_SERVER_OIDC_JWKS",
        value_name = "FILE",
        requires = "oidc_issuer"
    )]
    pub(crate) oidc_jwks: Option<PathBuf>,
}

/// Never echoes the value: it is a token.
fn parse_token(text: &str) -> Result<SecretString, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a token cannot be empty".to_owned());
    }
    Ok(text.into())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum EscServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

pub(crate) async fn run(args: EscServerArgs) -> Result<(), EscServerError> {
    let oidc = match (&args.oidc_issuer, &args.oidc_jwks) {
        (Some(issuer), Some(jwks)) => Some(OidcConfig::from_file(issuer, jwks)?),
        _ => None,
    };
    let defaults = Config::new(&args.environments);
    let config = Config {
        oidc,
        max_evaluations: args
            .max_evaluations
            .map_or(defaults.max_evaluations, |n| n as usize),
        evaluation_wait: args.evaluation_wait,
        organization: args.organization,
        tokens: args.tokens,
        default_open_duration: args.default_open_duration,
        max_open_duration: args.max_open_duration,
        ..defaults
    };
    let server = EscServer::new(config)?;
    let bind = |source| EscServerError::Bind {
        addr: args.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let mut signals = Signals::new().map_err(EscServerError::Serve)?;
    let shutdown = async move {
        let name = signals.recv().await;
        tracing::info!("{name}: shutting down");
    };
    if let Some(issuer) = &args.oidc_issuer {
        tracing::info!(issuer, "token exchange enabled at /api/oauth/token");
    }
    if !server.requires_token() {
        tracing::warn!("no --token configured: any token is accepted");
    }
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "serving on a non-loopback address: others can read the definitions");
    }
    tracing::info!(
        url = %esc_server::api_url(addr),
        environments = %args.environments.display(),
        "esc-server listening"
    );
    esc_server::serve(listener, server, shutdown)
        .await
        .map_err(EscServerError::Serve)?;
    tracing::info!("esc-server stopped");
    Ok(())
}
