//! The subject token's check: a JWKS key's signature (only with an algorithm the key admits),
//! the issuer, the audience, `exp` and `nbf`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::config::{OidcConfig, algorithms};
use super::error::OAuthError;

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// What a verified subject token says, as far as the exchange cares.
#[derive(Deserialize)]
pub(super) struct Claims {
    #[serde(default)]
    pub(super) sub: Option<String>,
}
/// Checks the subject token: a known key's signature, the issuer, the audience, the times.
pub(super) fn verify(
    config: &OidcConfig,
    token: &str,
    audience: &str,
) -> Result<Claims, OAuthError> {
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
