//! What the server serves and whom it lets in. Checked once, in [`crate::EscServer::new`], so
//! that a bad setting fails at start rather than on the first request.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::names;
use crate::oidc::{OidcConfig, OidcError};

/// Settings of an [`crate::EscServer`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The folder of definitions, laid out `<project>/<env>.yaml`.
    pub environments: PathBuf,
    /// Serve only this organization; `None` serves the folder under any organization name.
    pub organization: Option<String>,
    /// Accepted access tokens; empty accepts any token.
    pub tokens: Vec<SecretString>,
    /// Session length when `open` gives no `duration` (Pulumi Cloud: 1h).
    pub default_open_duration: Duration,
    /// The longest `duration` an `open` may ask for.
    pub max_open_duration: Duration,
    /// Open sessions held at most; past it, the session closest to expiry is dropped.
    pub max_sessions: usize,
    /// Bytes held at most by all open sessions together, each weighed as its JSON encoding;
    /// past it, the sessions closest to expiry are dropped. An environment larger than this
    /// alone cannot be opened.
    pub max_session_bytes: usize,
    /// `context.pulumi.user.login` (and `id`) seen by definitions.
    pub user: String,
    /// Evaluations (opens, checks) and session reads run at most this many at once; each can
    /// hold up to about a hundred MiB (see esc-eval's budgets), so this bounds the server's
    /// peak. Defaults to the number of CPUs.
    pub max_evaluations: usize,
    /// How long a request waits for one of the `max_evaluations` slots before it is answered
    /// 429 Too Many Requests.
    pub evaluation_wait: Duration,
    /// Serve `POST /api/oauth/token` for this issuer's tokens. With it, only configured and
    /// issued tokens pass, even when `tokens` is empty.
    pub oidc: Option<OidcConfig>,
}

impl Config {
    /// Defaults for everything but the folder: any organization, any token, 1h sessions of at
    /// most 24h, 10 000 sessions holding 128 MiB at most, one evaluation at a time per CPU
    /// (others waiting up to 30s), user `local`.
    pub fn new(environments: impl Into<PathBuf>) -> Config {
        Config {
            environments: environments.into(),
            organization: None,
            tokens: Vec::new(),
            default_open_duration: Duration::from_secs(3600),
            max_open_duration: Duration::from_secs(24 * 3600),
            max_sessions: 10_000,
            max_session_bytes: 128 << 20,
            max_evaluations: std::thread::available_parallelism().map_or(1, |n| n.get()),
            evaluation_wait: Duration::from_secs(30),
            user: "local".to_owned(),
            oidc: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let dir = &self.environments;
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(ConfigError::NotAFolder(dir.clone())),
            Err(source) => {
                return Err(ConfigError::Folder {
                    path: dir.clone(),
                    source,
                });
            }
        }
        if let Some(org) = &self.organization {
            names::check("organization", org).map_err(ConfigError::Organization)?;
        }
        if self
            .tokens
            .iter()
            .any(|t| t.expose_secret().trim().is_empty())
        {
            return Err(ConfigError::EmptyToken);
        }
        if self.default_open_duration.is_zero() || self.max_open_duration.is_zero() {
            return Err(ConfigError::ZeroDuration);
        }
        if self.default_open_duration > self.max_open_duration {
            return Err(ConfigError::DefaultAboveMax {
                default: self.default_open_duration,
                max: self.max_open_duration,
            });
        }
        if self.max_sessions == 0 || self.max_session_bytes == 0 {
            return Err(ConfigError::NoSessions);
        }
        if self.max_evaluations == 0 {
            return Err(ConfigError::NoEvaluations);
        }
        if self.user.trim().is_empty() {
            return Err(ConfigError::EmptyUser);
        }
        if let Some(oidc) = &self.oidc {
            oidc.validate()?;
        }
        Ok(())
    }
}

/// Why a [`Config`] cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the environments folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a folder; --environments takes a folder laid out <project>/<env>.yaml")]
    NotAFolder(PathBuf),
    #[error("{0}")]
    Organization(String),
    #[error("an accepted token is empty")]
    EmptyToken,
    #[error("open durations must be longer than zero")]
    ZeroDuration,
    #[error("the default open duration {default:?} is longer than the maximum {max:?}")]
    DefaultAboveMax { default: Duration, max: Duration },
    #[error("the session limits (count and bytes) must be at least 1")]
    NoSessions,
    #[error("the evaluation limit must be at least 1")]
    NoEvaluations,
    #[error("the user name is empty")]
    EmptyUser,
    #[error(transparent)]
    Oidc(#[from] OidcError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_above_the_maximum_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.max_open_duration = Duration::from_secs(60);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::DefaultAboveMax { .. })
        ));
    }

    #[test]
    fn a_missing_folder_is_refused() {
        let config = Config::new("/nonexistent/esc-server-test");
        assert!(matches!(config.validate(), Err(ConfigError::Folder { .. })));
    }
}
