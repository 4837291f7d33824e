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

mod config;
mod error;
mod issued;
mod verify;

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use esc_token::TokenDigest;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::names;

pub use config::{OidcConfig, OidcError};
use error::OAuthError;
use issued::random_token;
pub(crate) use issued::{Grant, Issued};
use verify::{Claims, verify};

pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const TOKEN_TYPE_PREFIX: &str = "urn:pulumi:token-type:access_token:";
const AUDIENCE_PREFIX: &str = "urn:pulumi:org:";

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
    let asked = asked(&params, served)?;
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
    let claims = verify(config, subject.expose_secret(), &asked.audience)?;
    Ok(issue(issued, asked, lifetime, &claims))
}

/// What a well-formed request asks for.
struct Asked {
    audience: String,
    organization: String,
    /// The requested token type, and its kind (`organization`, `team` or `personal`).
    requested: String,
    kind: String,
    scope: String,
}

/// The request's grant, token types, audience and scope, checked (the subject token aside).
fn asked(params: &Params, served: Option<&str>) -> Result<Asked, OAuthError> {
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
        })?
        .to_owned();
    let scope = params.scope.clone().unwrap_or_default();
    check_scope(&kind, &scope)?;
    Ok(Asked {
        organization: org.to_owned(),
        audience,
        requested,
        kind,
        scope,
    })
}

/// A fresh token for a verified request, remembered by its digest, and the reply carrying it.
fn issue(issued: &Issued, asked: Asked, lifetime: Duration, claims: &Claims) -> Response {
    let token = random_token();
    let grant = Grant {
        expires: Instant::now() + lifetime,
        organization: asked.organization.clone(),
        user: (asked.kind == "personal")
            .then(|| asked.scope.strip_prefix("user:").map(str::to_owned))
            .flatten(),
    };
    issued.insert(TokenDigest::of_bytes(token.as_bytes()), grant);
    tracing::info!(
        subject = claims.sub.as_deref().unwrap_or("-"),
        organization = asked.organization,
        token_type = asked.kind,
        expires_in = lifetime.as_secs(),
        "issued an access token by token exchange"
    );
    let reply = Reply {
        access_token: token,
        issued_token_type: asked.requested,
        token_type: "Bearer",
        expires_in: lifetime.as_secs(),
        scope: asked.scope,
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(reply)).into_response()
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
