//! `POST /api/oauth/token`: Pulumi Cloud's OAuth token exchange (RFC 8693), done locally.
//!
//! An OIDC identity token (a Kubernetes service-account token, say) signed by a key of the
//! configured JWKS, from the configured issuer, for audience `urn:pulumi:org:<org>` and not
//! expired, is traded for a random access token that this server's token check accepts until
//! it expires, for that organization's environments only (see [`Grant`]). Pulumi Cloud decides with the issuer's authorization policies; here the
//! signature, `iss`, `aud` (must contain the request's `audience`), `exp` and `nbf` decide.
//!
//! Errors use the OAuth shape `{"error", "error_description"}` (RFC 6749 §5.2). Neither the
//! subject token nor the issued token is ever logged or echoed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use esc_token::TokenDigest;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::names;

pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const TOKEN_TYPE_PREFIX: &str = "urn:pulumi:token-type:access_token:";
const AUDIENCE_PREFIX: &str = "urn:pulumi:org:";
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// Issued tokens held at most; past it, expired ones go, then the closest to expiry.
const MAX_ISSUED: usize = 10_000;

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

/// Access tokens issued by exchange, kept as SHA-256 digests with what they grant.
#[derive(Default)]
pub(crate) struct Issued {
    tokens: Mutex<HashMap<TokenDigest, Grant>>,
}

/// What an issued token opens: its organization's environments only, until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    expires: Instant,
    /// The organization of the exchange's audience (`urn:pulumi:org:<org>`).
    pub(crate) organization: String,
    /// For a personal token (`scope` `user:<login>`), the user it acts as, which definitions
    /// see as `context.pulumi.user`; organization and team tokens act as the configured user.
    pub(crate) user: Option<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.tokens.lock().map_or(0, |t| t.len());
        f.debug_struct("Issued").field("tokens", &held).finish()
    }
}

impl Issued {
    fn insert(&self, digest: TokenDigest, grant: Grant) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_ISSUED {
            let now = Instant::now();
            tokens.retain(|_, g| g.expires > now);
        }
        if tokens.len() >= MAX_ISSUED
            && let Some(oldest) = tokens
                .iter()
                .min_by_key(|(_, g)| g.expires)
                .map(|(d, _)| *d)
        {
            tokens.remove(&oldest);
        }
        tokens.insert(digest, grant);
    }

    /// What the issued token with `digest` grants, if it exists and has not expired.
    pub(crate) fn grant(&self, digest: &TokenDigest) -> Option<Grant> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(digest)
            .filter(|g| g.expires > Instant::now())
            .cloned()
    }
}

/// An OAuth error reply (RFC 6749 §5.2).
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", description)
    }

    fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", description)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::info!(error = self.error, reason = %self.description, "token exchange refused");
        let body = ErrorBody {
            error: self.error,
            error_description: &self.description,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The request's parameters, from a form or a JSON body.
#[derive(Default, Deserialize)]
struct Params {
    audience: Option<String>,
    grant_type: Option<String>,
    subject_token_type: Option<String>,
    requested_token_type: Option<String>,
    subject_token: Option<SecretString>,
    scope: Option<String>,
    /// Seconds; a number in JSON, text in a form.
    expiration: Option<serde_json::Value>,
}

fn params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if json {
        return serde_json::from_slice(body).map_err(|e| {
            OAuthError::invalid_request(format!(
                "the JSON body cannot be read (line {} column {})",
                e.line(),
                e.column()
            ))
        });
    }
    let mut params = Params::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        let value = value.into_owned();
        match &*key {
            "audience" => params.audience = Some(value),
            "grant_type" => params.grant_type = Some(value),
            "subject_token_type" => params.subject_token_type = Some(value),
            "requested_token_type" => params.requested_token_type = Some(value),
            "subject_token" => params.subject_token = Some(value.into()),
            "scope" => params.scope = Some(value),
            "expiration" => params.expiration = Some(serde_json::Value::String(value)),
            _ => {}
        }
    }
    Ok(params)
}

/// The exchange's reply.
#[derive(Serialize)]
struct Reply {
    access_token: String,
    issued_token_type: String,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
}

/// What a verified subject token says, as far as the exchange cares.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
}

/// The handler. `served` is the organization the server is limited to, if any.
pub(crate) fn exchange(
    config: Option<&OidcConfig>,
    served: Option<&str>,
    issued: &Issued,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let Some(config) = config else {
        return Err(OAuthError::invalid_request(
            "token exchange is not enabled on this server; start esc-server with --oidc-issuer \
             and --oidc-jwks",
        ));
    };
    let params = params(headers, body)?;
    let required = |value: &Option<String>, name: &str| {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    };
    let grant_type = required(&params.grant_type, "grant_type")?;
    if grant_type != GRANT_TYPE {
        return Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type must be {GRANT_TYPE}"),
        ));
    }
    let subject_token_type = required(&params.subject_token_type, "subject_token_type")?;
    if subject_token_type != SUBJECT_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {SUBJECT_TOKEN_TYPE}"
        )));
    }
    let audience = required(&params.audience, "audience")?;
    let Some(org) = audience.strip_prefix(AUDIENCE_PREFIX) else {
        return Err(OAuthError::invalid_request(format!(
            "audience must be {AUDIENCE_PREFIX}<organization>"
        )));
    };
    names::check("organization", org).map_err(OAuthError::invalid_request)?;
    if let Some(served) = served
        && served != org
    {
        return Err(OAuthError::invalid_request(format!(
            "organization {org} is not served here (this server serves {served})"
        )));
    }
    let requested = required(&params.requested_token_type, "requested_token_type")?;
    let kind = requested
        .strip_prefix(TOKEN_TYPE_PREFIX)
        .filter(|k| matches!(*k, "organization" | "team" | "personal"))
        .ok_or_else(|| {
            OAuthError::invalid_request(format!(
                "requested_token_type must be {TOKEN_TYPE_PREFIX}organization, team or personal"
            ))
        })?;
    let scope = params.scope.clone().unwrap_or_default();
    check_scope(kind, &scope)?;
    let lifetime = lifetime(config, params.expiration.as_ref())?;
    let Some(subject) = params
        .subject_token
        .as_ref()
        .filter(|t| !t.expose_secret().is_empty())
    else {
        return Err(OAuthError::invalid_request(
            "missing parameter subject_token",
        ));
    };

    let claims = verify(config, subject.expose_secret(), &audience)?;

    let token = random_token();
    let grant = Grant {
        expires: Instant::now() + lifetime,
        organization: org.to_owned(),
        user: (kind == "personal")
            .then(|| scope.strip_prefix("user:").map(str::to_owned))
            .flatten(),
    };
    issued.insert(TokenDigest::of_bytes(token.as_bytes()), grant);
    tracing::info!(
        subject = claims.sub.as_deref().unwrap_or("-"),
        organization = org,
        token_type = kind,
        expires_in = lifetime.as_secs(),
        "issued an access token by token exchange"
    );
    let reply = Reply {
        access_token: token,
        issued_token_type: requested,
        token_type: "Bearer",
        expires_in: lifetime.as_secs(),
        scope,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(reply)).into_response())
}

fn check_scope(kind: &str, scope: &str) -> Result<(), OAuthError> {
    let ok = match kind {
        "organization" => scope.is_empty() || scope == "admin",
        "team" => scope.strip_prefix("team:").is_some_and(|n| !n.is_empty()),
        _ => scope.strip_prefix("user:").is_some_and(|n| !n.is_empty()),
    };
    if ok {
        return Ok(());
    }
    let wanted = match kind {
        "organization" => "empty or admin",
        "team" => "team:<team name>",
        _ => "user:<user login>",
    };
    Err(OAuthError::new(
        "invalid_scope",
        format!("a {kind} token needs scope {wanted}"),
    ))
}

fn lifetime(
    config: &OidcConfig,
    expiration: Option<&serde_json::Value>,
) -> Result<Duration, OAuthError> {
    let seconds = match expiration {
        None | Some(serde_json::Value::Null) => return Ok(config.default_lifetime),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) if s.is_empty() => {
            return Ok(config.default_lifetime);
        }
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match seconds {
        Some(0) => Ok(config.default_lifetime),
        Some(s) => Ok(Duration::from_secs(s).min(config.max_lifetime)),
        None => Err(OAuthError::invalid_request(
            "expiration must be a whole number of seconds",
        )),
    }
}

/// The algorithms a key verifies: the one its `alg` names, or, without `alg`, those of its
/// type and curve. A token is only checked with a key that admits the token's algorithm, so a
/// PS256 token cannot pass through a key published for RS256 (RFC 7517 §4.4).
fn algorithms(jwk: &Jwk) -> Vec<Algorithm> {
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

/// Checks the subject token: a known key's signature, the issuer, the audience, the times.
fn verify(config: &OidcConfig, token: &str, audience: &str) -> Result<Claims, OAuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        OAuthError::invalid_grant("the subject token is not a signed JWT (header.claims.signature)")
    })?;
    let alg = header.alg;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(OAuthError::invalid_grant(format!(
            "the subject token is signed with {alg:?}; only public-key algorithms are accepted"
        )));
    }
    let candidates: Vec<_> = config
        .jwks
        .keys
        .iter()
        .filter(|jwk| match (&header.kid, &jwk.common.key_id) {
            (Some(kid), Some(id)) => kid == id,
            (Some(_), None) | (None, _) => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(OAuthError::invalid_grant(format!(
            "no key in the JWKS has the subject token's key id {:?}",
            header.kid.unwrap_or_default()
        )));
    }
    let candidates: Vec<_> = candidates
        .into_iter()
        .filter(|jwk| algorithms(jwk).contains(&alg))
        .collect();
    if candidates.is_empty() {
        return Err(OAuthError::invalid_grant(format!(
            "the subject token is signed with {alg:?}, which its key in the JWKS is not for \
             (a key verifies only its own alg, or its key type's algorithms when it has none)"
        )));
    }
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    let mut last = None;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) => last = Some(e),
        }
    }
    use jsonwebtoken::errors::ErrorKind as K;
    let description = match last.as_ref().map(|e| e.kind()) {
        Some(K::ExpiredSignature) => "the subject token has expired".to_owned(),
        Some(K::ImmatureSignature) => "the subject token is not valid yet (nbf)".to_owned(),
        Some(K::InvalidIssuer) => format!(
            "the subject token's issuer (iss) is not the trusted issuer {}",
            config.issuer
        ),
        Some(K::InvalidAudience) => {
            format!("the subject token's audience (aud) does not include {audience}")
        }
        Some(K::MissingRequiredClaim(claim)) => {
            format!("the subject token has no {claim} claim")
        }
        Some(K::InvalidAlgorithm) => {
            format!("no key in the JWKS is for the subject token's algorithm {alg:?}")
        }
        _ => "the subject token's signature does not verify with any key in the JWKS".to_owned(),
    };
    Err(OAuthError::invalid_grant(description))
}

/// 32 random bytes, hex, with a prefix that says where the token came from.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator works");
    format!("pul-local-{}", hex::encode(bytes))
}

pub(crate) async fn handler(
    axum::extract::State(inner): axum::extract::State<std::sync::Arc<crate::Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = inner.config.oidc.as_ref();
    let served = inner.config.organization.as_deref();
    match exchange(config, served, &inner.issued, &headers, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}
