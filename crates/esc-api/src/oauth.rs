//! The Pulumi OAuth token exchange (RFC 8693), as Pulumi Cloud serves it at
//! `POST <host>/api/oauth/token`: an OIDC identity token (here, a pod's service-account token)
//! for a short-lived Pulumi access token.
//!
//! Facts, from Pulumi's REST API reference ("OAuth Token Exchange") and the Pulumi CLI's
//! `ExchangeOidcToken` (pulumi/pulumi `pkg/backend/httpstate/client/client.go`): the body is
//! form-encoded (the reference also shows JSON); `audience` is `urn:pulumi:org:<org>`,
//! `grant_type` `urn:ietf:params:oauth:grant-type:token-exchange`, `subject_token_type`
//! `urn:ietf:params:oauth:token-type:id_token`, `requested_token_type`
//! `urn:pulumi:token-type:access_token:<organization|team|personal>`, `scope` empty or `admin`
//! for organization tokens, `team:<name>` for team tokens, `user:<login>` for personal ones, and
//! `expiration` the lifetime in seconds. The reply holds `access_token`, `issued_token_type`,
//! `token_type`, `expires_in` and `scope`; errors are `{"error", "error_description"}`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The prefix of `requested_token_type`; the kind of token follows.
pub const TOKEN_TYPE_PREFIX: &str = "urn:pulumi:token-type:access_token:";
/// The prefix of `audience`; the organization name follows.
pub const AUDIENCE_PREFIX: &str = "urn:pulumi:org:";

/// The audience Pulumi Cloud expects for `organization`: `urn:pulumi:org:<organization>`.
pub fn audience_of(organization: &str) -> String {
    format!("{AUDIENCE_PREFIX}{organization}")
}

/// Which kind of Pulumi access token to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenType {
    #[default]
    Organization,
    Team,
    Personal,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Organization => "organization",
            TokenType::Team => "team",
            TokenType::Personal => "personal",
        }
    }

    /// `urn:pulumi:token-type:access_token:<kind>`.
    pub fn urn(self) -> String {
        format!("{TOKEN_TYPE_PREFIX}{}", self.as_str())
    }

    /// Whether `scope` suits this kind of token, per Pulumi's reference: organization tokens
    /// take no scope or `admin`, team tokens `team:<name>`, personal tokens `user:<login>`.
    pub fn check_scope(self, scope: Option<&str>) -> Result<(), String> {
        let named = |prefix: &str, what: &str| match scope {
            Some(s) if s.len() > prefix.len() && s.starts_with(prefix) => Ok(()),
            _ => Err(format!(
                "a {} token needs scope \"{prefix}<{what}>\"",
                self.as_str()
            )),
        };
        match self {
            TokenType::Organization => match scope {
                None | Some("admin") => Ok(()),
                Some(other) => Err(format!(
                    "an organization token takes no scope or \"admin\", not {other:?}"
                )),
            },
            TokenType::Team => named("team:", "team name"),
            TokenType::Personal => named("user:", "user login"),
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenType {
    type Err = String;

    /// `organization`, `team` or `personal`, or the whole URN.
    fn from_str(text: &str) -> Result<Self, String> {
        let kind = text.strip_prefix(TOKEN_TYPE_PREFIX).unwrap_or(text);
        match kind {
            "organization" => Ok(TokenType::Organization),
            "team" => Ok(TokenType::Team),
            "personal" => Ok(TokenType::Personal),
            _ => Err(format!(
                "{text:?} is not a token type; use organization, team or personal"
            )),
        }
    }
}

/// What to ask the token endpoint for; the subject token travels separately.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenExchange {
    /// `urn:pulumi:org:<org>`.
    pub audience: String,
    pub token_type: TokenType,
    pub scope: Option<String>,
    /// Requested lifetime; `None` leaves it to the server.
    pub expiration: Option<Duration>,
}

/// A token the endpoint issued.
#[derive(Debug, Clone)]
pub struct ExchangedToken {
    pub token: SecretString,
    /// `expires_in`, when the server said.
    pub expires_in: Option<Duration>,
    /// `issued_token_type`, when the server said.
    pub issued_token_type: Option<String>,
}

/// The token endpoint for an ESC API base: `https://api.pulumi.com/api/esc` gives
/// `https://api.pulumi.com/api/oauth/token`. A base ending in `/api/esc` keeps what comes
/// before it (a self-hosted Pulumi Cloud under a path); any other base uses its origin.
pub fn token_endpoint(api: &Url) -> Option<Url> {
    let mut url = api.clone();
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/');
    let prefix = path.strip_suffix("/api/esc").unwrap_or("");
    let new_path = format!("{prefix}/api/oauth/token");
    if url.cannot_be_a_base() {
        return None;
    }
    url.set_path(&new_path);
    Some(url)
}

/// The token endpoint as text, for messages and cache keys: the endpoint, or `api` itself when
/// no endpoint can be made from it.
pub fn token_endpoint_text(api: &Url) -> String {
    token_endpoint(api).map_or_else(|| api.to_string(), |u| u.to_string())
}

/// The form-encoded body, as the Pulumi CLI sends it.
pub(crate) fn form_body(request: &TokenExchange, subject_token: &SecretString) -> SecretString {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("audience", &request.audience)
        .append_pair("grant_type", GRANT_TYPE)
        .append_pair("subject_token_type", SUBJECT_TOKEN_TYPE)
        .append_pair("requested_token_type", &request.token_type.urn())
        .append_pair("subject_token", subject_token.expose_secret());
    if let Some(scope) = &request.scope {
        form.append_pair("scope", scope);
    }
    if let Some(expiration) = request.expiration {
        form.append_pair("expiration", &expiration.as_secs().to_string());
    }
    SecretString::from(form.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(body: &SecretString) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body.expose_secret().as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn the_body_carries_every_rfc_8693_parameter_pulumi_documents() {
        let request = TokenExchange {
            audience: audience_of("acme"),
            token_type: TokenType::Team,
            scope: Some("team:platform".into()),
            expiration: Some(Duration::from_secs(7200)),
        };
        let body = form_body(&request, &SecretString::from("a.b+c/d=".to_owned()));
        assert_eq!(
            pairs(&body),
            [
                ("audience", "urn:pulumi:org:acme"),
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange"
                ),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:id_token"
                ),
                (
                    "requested_token_type",
                    "urn:pulumi:token-type:access_token:team"
                ),
                ("subject_token", "a.b+c/d="),
                ("scope", "team:platform"),
                ("expiration", "7200"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn scope_and_expiration_are_left_out_when_not_set() {
        let request = TokenExchange {
            audience: audience_of("acme"),
            token_type: TokenType::Organization,
            scope: None,
            expiration: None,
        };
        let keys: Vec<String> = pairs(&form_body(&request, &"t".to_owned().into()))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(!keys.contains(&"scope".to_owned()));
        assert!(!keys.contains(&"expiration".to_owned()));
    }

    #[test]
    fn the_token_endpoint_replaces_api_esc_or_sits_at_the_origin() {
        for (api, endpoint) in [
            (
                "https://api.pulumi.com/api/esc",
                "https://api.pulumi.com/api/oauth/token",
            ),
            (
                "https://api.pulumi.com/api/esc/",
                "https://api.pulumi.com/api/oauth/token",
            ),
            (
                "http://127.0.0.1:8080/api/esc",
                "http://127.0.0.1:8080/api/oauth/token",
            ),
            (
                "https://pulumi.example.com/cloud/api/esc",
                "https://pulumi.example.com/cloud/api/oauth/token",
            ),
            (
                "https://esc.example.com/other",
                "https://esc.example.com/api/oauth/token",
            ),
        ] {
            let url = Url::parse(api).unwrap();
            assert_eq!(token_endpoint(&url).unwrap().as_str(), endpoint, "{api}");
        }
    }

    #[test]
    fn token_types_parse_from_names_or_urns_and_check_their_scopes() {
        assert_eq!("team".parse(), Ok(TokenType::Team));
        assert_eq!(
            "urn:pulumi:token-type:access_token:personal".parse(),
            Ok(TokenType::Personal)
        );
        assert!("runner".parse::<TokenType>().is_err());
        assert!(TokenType::Organization.check_scope(None).is_ok());
        assert!(TokenType::Organization.check_scope(Some("admin")).is_ok());
        assert!(TokenType::Organization.check_scope(Some("team:x")).is_err());
        assert!(TokenType::Team.check_scope(Some("team:platform")).is_ok());
        assert!(TokenType::Team.check_scope(Some("team:")).is_err());
        assert!(TokenType::Team.check_scope(None).is_err());
        assert!(TokenType::Personal.check_scope(Some("user:alice")).is_ok());
        assert!(TokenType::Personal.check_scope(Some("team:a")).is_err());
    }
}
