//! The access tokens issued by exchange: kept only as digests, each with what it grants, for
//! the token check (`auth`) to find.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use esc_token::TokenDigest;
use ring::rand::{SecureRandom, SystemRandom};

/// Issued tokens held at most; past it, expired ones go, then the closest to expiry.
const MAX_ISSUED: usize = 10_000;

/// Access tokens issued by exchange, kept as SHA-256 digests with what they grant.
#[derive(Default)]
pub(crate) struct Issued {
    tokens: Mutex<HashMap<TokenDigest, Grant>>,
}

/// What an issued token opens: its organization's environments only, until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(super) expires: Instant,
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
    pub(super) fn insert(&self, digest: TokenDigest, grant: Grant) {
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

/// 32 random bytes, hex, with a prefix that says where the token came from.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator works");
    format!("pul-local-{}", hex::encode(bytes))
}
