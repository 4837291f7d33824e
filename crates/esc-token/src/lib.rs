//! A token's digest: the one form in which a token is kept past the request that brought it.
//!
//! esc-server keeps its configured and issued tokens this way, and the provider keys its caches
//! by the token's digest (the environment cache by the caller's token, the exchange cache by
//! the workload's token), so a heap dump or a `Debug` print shows no token. One function, so
//! a token hashed on one side is the same key on the other.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// The SHA-256 of a token. `Debug` shows the first 4 bytes only (`sha256:1a2b3c4d…`), enough to
/// tell keys apart in a log and nothing to brute-force a token from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest of a token held as a secret.
    pub fn of(token: &SecretString) -> TokenDigest {
        TokenDigest::of_bytes(token.expose_secret().as_bytes())
    }

    /// The digest of a token as presented (a header's bytes).
    pub fn of_bytes(token: &[u8]) -> TokenDigest {
        let digest = ring::digest::digest(&ring::digest::SHA256, token);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        TokenDigest(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `self` is one of `digests`, in a time that does not tell which one matched or
    /// how much of it (every digest is compared in full).
    pub fn is_among(&self, digests: &[TokenDigest]) -> bool {
        digests
            .iter()
            .fold(subtle::Choice::from(0), |found, d| {
                found | d.0.ct_eq(&self.0)
            })
            .into()
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}…", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_the_sha256_of_the_token() {
        // FIPS 180-2's example: SHA-256("abc").
        let digest = TokenDigest::of(&SecretString::from("abc"));
        assert_eq!(
            hex::encode(digest.as_bytes()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest, TokenDigest::of_bytes(b"abc"));
        assert_ne!(digest, TokenDigest::of_bytes(b"abc "));
    }

    #[test]
    fn debug_shows_a_short_prefix_of_the_digest_and_nothing_of_the_token() {
        let digest = TokenDigest::of_bytes(b"pul-secret-token");
        let text = format!("{digest:?}");
        assert!(text.starts_with("sha256:") && text.ends_with('…'), "{text}");
        assert_eq!(text.chars().count(), "sha256:".len() + 8 + 1);
        assert!(!text.contains("pul-secret-token"));
    }

    #[test]
    fn membership_finds_any_listed_digest() {
        let (a, b) = (TokenDigest::of_bytes(b"a"), TokenDigest::of_bytes(b"b"));
        assert!(a.is_among(&[b, a]));
        assert!(!a.is_among(&[b]));
        assert!(!a.is_among(&[]));
    }
}
