//! `Authorization: token <T>` on every request. `T` must be a configured token or one issued
//! by the token exchange (until it expires); with neither tokens nor OIDC configured, any
//! non-empty token passes (a local server for a laptop or CI).
//!
//! Tokens are compared as SHA-256 digests in constant time, so neither the content nor the
//! length of an accepted token leaks through timing; only the digests are kept.
//!
//! A configured token opens every organization the server serves; an exchanged token opens
//! only the organization it was exchanged for (Pulumi Cloud's tokens belong to one
//! organization too), whatever kind it is, and a personal one acts as its user.

use std::sync::Arc;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use esc_token::TokenDigest;
use secrecy::SecretString;

use crate::error::ApiError;
use crate::oidc::{Grant, Issued};

/// Who a request's token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// A configured token (or any token, when none is configured): every organization.
    Any,
    /// A token issued by exchange.
    Issued(Grant),
}

/// The user an exchanged personal token acts as, for the handlers (`context.pulumi.user`).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) user: Option<String>,
}

pub(crate) struct Auth {
    digests: Vec<TokenDigest>,
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
            digests: tokens.iter().map(TokenDigest::of).collect(),
            issued,
            oidc,
        }
    }

    fn accepts(&self, token: &[u8]) -> Option<Access> {
        if token.is_empty() {
            return None;
        }
        if self.digests.is_empty() && !self.oidc {
            return Some(Access::Any);
        }
        let presented = TokenDigest::of_bytes(token);
        // Every digest is compared, so the time does not tell which one matched.
        if presented.is_among(&self.digests) {
            return Some(Access::Any);
        }
        self.issued.grant(&presented).map(Access::Issued)
    }
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
    path: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(access) = presented(&request).and_then(|token| auth.accepts(token)) else {
        return ApiError::unauthorized().into_response();
    };
    let user = match access {
        Access::Any => None,
        Access::Issued(grant) => {
            // Every route under /api/esc names its organization; one that does not is refused.
            let org = path.ok().and_then(|p| {
                p.iter()
                    .find(|(k, _)| *k == "org")
                    .map(|(_, v)| v.to_owned())
            });
            if org.as_deref() != Some(grant.organization.as_str()) {
                return ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    format!(
                        "this token was exchanged for organization {}; it opens only that \
                         organization's environments",
                        grant.organization
                    ),
                )
                .into_response();
            }
            grant.user
        }
    };
    request.extensions_mut().insert(Caller { user });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_pass_when_some_are_configured() {
        let auth = Auth::new(&["one".into(), "two".into()], Arc::default(), false);
        assert_eq!(auth.accepts(b"one"), Some(Access::Any));
        assert_eq!(auth.accepts(b"two"), Some(Access::Any));
        assert_eq!(auth.accepts(b"three"), None);
        assert_eq!(auth.accepts(b""), None);
        assert!(!format!("{auth:?}").contains("one"));
    }

    #[test]
    fn any_non_empty_token_passes_when_none_are_configured() {
        let auth = Auth::new(&[], Arc::default(), false);
        assert_eq!(auth.accepts(b"anything"), Some(Access::Any));
        assert_eq!(auth.accepts(b""), None);
    }

    #[test]
    fn with_oidc_on_only_configured_or_issued_tokens_pass() {
        let auth = Auth::new(&[], Arc::default(), true);
        assert_eq!(auth.accepts(b"anything"), None);
    }
}
