//! `Authorization: token <T>` on every request. `T` must be a configured token or one issued
//! by the token exchange (until it expires); with neither tokens nor OIDC configured, any
//! non-empty token passes (a local server for a laptop or CI).
//!
//! Tokens are compared as SHA-256 digests in constant time, so neither the content nor the
//! length of an accepted token leaks through timing; only the digests are kept.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::digest::{SHA256, digest};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::oidc::Issued;

pub(crate) struct Auth {
    digests: Vec<[u8; 32]>,
    /// Tokens issued by exchange.
    issued: Arc<Issued>,
    /// With OIDC on, an unknown token is refused even when no token is configured.
    oidc: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("tokens", &self.digests.len())
            .finish()
    }
}

impl Auth {
    pub(crate) fn new(tokens: &[SecretString], issued: Arc<Issued>, oidc: bool) -> Auth {
        Auth {
            digests: tokens
                .iter()
                .map(|t| hash(t.expose_secret().as_bytes()))
                .collect(),
            issued,
            oidc,
        }
    }

    fn accepts(&self, token: &[u8]) -> bool {
        if token.is_empty() {
            return false;
        }
        if self.digests.is_empty() && !self.oidc {
            return true;
        }
        let presented = hash(token);
        // Every digest is compared, so the time does not tell which one matched.
        let configured: bool = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, d| {
                found | d.ct_eq(&presented)
            })
            .into();
        configured || self.issued.accepts(&presented)
    }
}

pub(crate) fn hash(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// The token of an `Authorization: token <T>` header (scheme case-insensitive).
fn presented(request: &Request) -> Option<&[u8]> {
    let value = request.headers().get(AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(6)?;
    scheme
        .eq_ignore_ascii_case(b"token ")
        .then(|| token.trim_ascii())
}

pub(crate) async fn require_token(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    match presented(&request) {
        Some(token) if auth.accepts(token) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_pass_when_some_are_configured() {
        let auth = Auth::new(&["one".into(), "two".into()], Arc::default(), false);
        assert!(auth.accepts(b"one"));
        assert!(auth.accepts(b"two"));
        assert!(!auth.accepts(b"three"));
        assert!(!auth.accepts(b""));
        assert!(!format!("{auth:?}").contains("one"));
    }

    #[test]
    fn any_non_empty_token_passes_when_none_are_configured() {
        let auth = Auth::new(&[], Arc::default(), false);
        assert!(auth.accepts(b"anything"));
        assert!(!auth.accepts(b""));
    }

    #[test]
    fn with_oidc_on_only_configured_or_issued_tokens_pass() {
        let auth = Auth::new(&[], Arc::default(), true);
        assert!(!auth.accepts(b"anything"));
    }
}
