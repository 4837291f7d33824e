//! The issuer esc-server trusts for token exchange: its `iss`, its keys (from a file, never
//! fetched) and the lifetimes of the tokens it gets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Trust in one OIDC issuer, with its keys from a file (never fetched).
#[derive(Clone)]
pub struct OidcConfig {
    /// The exact `iss` accepted.
    pub issuer: String,
    /// Public keys (RSA, EC or OKP); symmetric keys are refused.
    pub jwks: JwkSet,
    /// Where the keys came from, for messages.
    pub jwks_path: Option<PathBuf>,
    /// Lifetime of an issued token when the request gives no `expiration`.
    pub default_lifetime: Duration,
    /// The longest lifetime granted, whatever the request asks.
    pub max_lifetime: Duration,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("keys", &self.jwks.keys.len())
            .field("default_lifetime", &self.default_lifetime)
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}

impl OidcConfig {
    /// Trust `issuer` with the keys of `jwks`; issued tokens last 2h by default, at most 2h
    /// (the Pulumi CLI's default `--oidc-expiration`).
    pub fn new(issuer: impl Into<String>, jwks: JwkSet) -> OidcConfig {
        OidcConfig {
            issuer: issuer.into(),
            jwks,
            jwks_path: None,
            default_lifetime: Duration::from_secs(2 * 3600),
            max_lifetime: Duration::from_secs(2 * 3600),
        }
    }

    /// Reads a JWKS document (`{"keys": [...]}`) from `path`.
    pub fn from_file(issuer: impl Into<String>, path: &Path) -> Result<OidcConfig, OidcError> {
        let text = std::fs::read(path).map_err(|source| OidcError::Read {
            path: path.to_owned(),
            source,
        })?;
        let jwks: JwkSet = serde_json::from_slice(&text).map_err(|e| OidcError::Parse {
            path: path.to_owned(),
            detail: format!("line {} column {}: {}", e.line(), e.column(), category(&e)),
        })?;
        let mut config = OidcConfig::new(issuer, jwks);
        config.jwks_path = Some(path.to_owned());
        Ok(config)
    }

    pub(crate) fn validate(&self) -> Result<(), OidcError> {
        if self.issuer.trim().is_empty() {
            return Err(OidcError::NoIssuer);
        }
        let file = self
            .jwks_path
            .as_ref()
            .map_or_else(|| "the JWKS".to_owned(), |p| p.display().to_string());
        if self.jwks.keys.is_empty() {
            return Err(OidcError::NoKeys { file });
        }
        for (index, jwk) in self.jwks.keys.iter().enumerate() {
            let problem = match &jwk.algorithm {
                AlgorithmParameters::OctetKey(_) => {
                    Some("is a symmetric key; only public keys (RSA, EC, OKP) are accepted")
                }
                AlgorithmParameters::Other(_) => Some("has an unsupported key type"),
                _ if algorithms(jwk).is_empty() => Some(
                    "names no signature algorithm its key type can verify (alg must be RS*, \
                     PS*, ES256, ES384 or EdDSA, matching the key)",
                ),
                _ => DecodingKey::from_jwk(jwk)
                    .err()
                    .map(|_| "cannot be read as a public key"),
            };
            if let Some(problem) = problem {
                return Err(OidcError::BadKey {
                    file,
                    index,
                    problem,
                });
            }
        }
        if self.default_lifetime.is_zero() || self.max_lifetime.is_zero() {
            return Err(OidcError::ZeroLifetime);
        }
        Ok(())
    }
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Data => "not a JWKS document ({\"keys\": [...]})",
        _ => "invalid JSON",
    }
}

/// Why the OIDC settings cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("cannot read the JWKS file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the JWKS file {path} cannot be read: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("the OIDC issuer is empty")]
    NoIssuer,
    #[error("{file} has no keys")]
    NoKeys { file: String },
    #[error("key {index} of {file} {problem}")]
    BadKey {
        file: String,
        index: usize,
        problem: &'static str,
    },
    #[error("token lifetimes must be longer than zero")]
    ZeroLifetime,
}

/// The algorithms a key verifies: the one its `alg` names, or, without `alg`, those of its
/// type and curve. A token is only checked with a key that admits the token's algorithm, so a
/// PS256 token cannot pass through a key published for RS256 (RFC 7517 §4.4).
pub(super) fn algorithms(jwk: &Jwk) -> Vec<Algorithm> {
    use Algorithm as A;
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => {
            vec![A::RS256, A::RS384, A::RS512, A::PS256, A::PS384, A::PS512]
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![A::ES256],
            EllipticCurve::P384 => vec![A::ES384],
            _ => Vec::new(),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![A::EdDSA],
        _ => Vec::new(),
    };
    match jwk.common.key_algorithm {
        None => by_type,
        Some(named) => Algorithm::try_from(named)
            .ok()
            .filter(|alg| by_type.contains(alg))
            .into_iter()
            .collect(),
    }
}
