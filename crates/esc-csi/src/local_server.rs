//! The in-process ESC server behind `mount --environments DIR`.

use std::path::Path;

use esc_server::{Config, EscServer, Running};
use secrecy::SecretString;

/// The local server did not start; `mount` shows it as it is.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the local ESC server: {0}")]
pub(crate) struct LocalServerError(String);

/// Starts an ESC server over `dir` on a free loopback port. It accepts only `token` when
/// given, else a fresh random token, which is returned for the mount to use.
pub(crate) async fn start(
    dir: &Path,
    token: Option<&SecretString>,
) -> Result<(Running, String, SecretString), LocalServerError> {
    let token = match token {
        Some(token) => token.clone(),
        None => random_token()?,
    };
    let mut config = Config::new(dir);
    config.tokens = vec![token.clone()];
    let server =
        EscServer::new(config).map_err(|e| LocalServerError(format!("--environments: {e}")))?;
    let running = Running::start(server, ([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| LocalServerError(e.to_string()))?;
    let url = running.url();
    Ok((running, url, token))
}

fn random_token() -> Result<SecretString, LocalServerError> {
    let mut bytes = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| LocalServerError("the system random source failed".to_owned()))?;
    Ok(SecretString::from(format!("local-{}", hex::encode(bytes))))
}
