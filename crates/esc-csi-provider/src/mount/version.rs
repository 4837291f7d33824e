//! Object versions: what the driver stores in SecretProviderClassPodStatus to tell whether a
//! file's content changed.
//!
//! A version is an HMAC-SHA-256, under a key only this daemon holds, of the pod, the item's
//! configuration and the content. It is stable while nothing changes and changes when the
//! content does; and since the key is secret and the pod is part of the input, a version says
//! nothing about the content to whoever can read pod statuses: equal values in two files or two
//! pods do not give equal versions, and short values cannot be guessed offline.

use std::fmt;

use ring::hmac;
use ring::rand::SystemRandom;

/// What goes into a version besides the content.
#[derive(Debug, Clone, Copy)]
pub struct VersionInput<'a> {
    pub pod_uid: &'a str,
    pub pod_namespace: &'a str,
    pub file_name: &'a str,
    /// The item's configuration (path, format, encoding, mode) in a fixed textual form.
    pub config: &'a str,
    pub content: &'a [u8],
}

/// The HMAC key. Never printed.
pub struct VersionKey(hmac::Key);

impl fmt::Debug for VersionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VersionKey(<redacted>)")
    }
}

/// Too short a key would make versions guessable.
pub const MIN_KEY_BYTES: usize = 32;

impl VersionKey {
    /// A fresh random key: versions are then stable for the life of this process.
    pub fn random() -> Result<Self, ring::error::Unspecified> {
        hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).map(VersionKey)
    }

    /// A key from bytes (a file), so versions survive restarts.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the version key must be at least {MIN_KEY_BYTES} bytes, not {}",
                bytes.len()
            ));
        }
        Ok(VersionKey(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// 128 bits of the HMAC, hex-encoded.
    pub fn version(&self, input: &VersionInput<'_>) -> String {
        (self.for_pod(input.pod_uid, input.pod_namespace)).version(
            input.file_name,
            input.config,
            input.content,
        )
    }

    /// The versions of one pod's files: the HMAC's common start is computed once per mount,
    /// not once per file.
    pub fn for_pod(&self, pod_uid: &str, pod_namespace: &str) -> PodVersions {
        let mut start = hmac::Context::with_key(&self.0);
        for part in [
            b"esc-csi object version v1".as_slice(),
            pod_uid.as_bytes(),
            pod_namespace.as_bytes(),
        ] {
            update(&mut start, part);
        }
        PodVersions(start)
    }
}

/// [`VersionKey::for_pod`]: versions of one pod's files, equal to [`VersionKey::version`]'s.
#[derive(Clone)]
pub struct PodVersions(hmac::Context);

impl fmt::Debug for PodVersions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PodVersions(<redacted>)")
    }
}

impl PodVersions {
    /// 128 bits of the HMAC, hex-encoded.
    pub fn version(&self, file_name: &str, config: &str, content: &[u8]) -> String {
        let mut context = self.0.clone();
        for part in [file_name.as_bytes(), config.as_bytes(), content] {
            update(&mut context, part);
        }
        let mut hex = [0u8; 32];
        // 16 bytes always fit 32 hex digits, which are ASCII.
        let _ = hex::encode_to_slice(&context.sign().as_ref()[..16], &mut hex);
        String::from_utf8_lossy(&hex).into_owned()
    }
}

/// Length-prefixed, so no two different inputs concatenate to the same bytes.
fn update(context: &mut hmac::Context, part: &[u8]) {
    context.update(&(part.len() as u64).to_be_bytes());
    context.update(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(content: &'a [u8]) -> VersionInput<'a> {
        VersionInput {
            pod_uid: "uid-1",
            pod_namespace: "default",
            file_name: "db/password",
            config: "path=db.password format=plaintext encoding=utf-8 mode=0400",
            content,
        }
    }

    #[test]
    fn the_same_input_gives_the_same_version_and_other_content_another() {
        let key = VersionKey::random().unwrap();
        assert_eq!(key.version(&input(b"a")), key.version(&input(b"a")));
        assert_ne!(key.version(&input(b"a")), key.version(&input(b"b")));
        assert_eq!(key.version(&input(b"a")).len(), 32);
    }

    #[test]
    fn equal_content_in_another_file_or_pod_gives_another_version() {
        let key = VersionKey::random().unwrap();
        let base = input(b"same");
        let other_file = VersionInput {
            file_name: "other",
            ..base
        };
        let other_pod = VersionInput {
            pod_uid: "uid-2",
            ..base
        };
        assert_ne!(key.version(&base), key.version(&other_file));
        assert_ne!(key.version(&base), key.version(&other_pod));
    }

    #[test]
    fn another_key_gives_another_version_so_values_cannot_be_guessed_offline() {
        let a = VersionKey::random().unwrap();
        let b = VersionKey::random().unwrap();
        assert_ne!(a.version(&input(b"true")), b.version(&input(b"true")));
    }

    #[test]
    fn a_key_from_bytes_is_stable_across_instances() {
        let bytes = [7u8; 32];
        let a = VersionKey::from_bytes(&bytes).unwrap();
        let b = VersionKey::from_bytes(&bytes).unwrap();
        assert_eq!(a.version(&input(b"x")), b.version(&input(b"x")));
        assert!(VersionKey::from_bytes(&[1u8; 8]).is_err());
    }

    #[test]
    fn field_boundaries_cannot_be_shifted_to_collide() {
        let key = VersionKey::random().unwrap();
        let a = VersionInput {
            file_name: "ab",
            config: "c",
            ..input(b"")
        };
        let b = VersionInput {
            file_name: "a",
            config: "bc",
            ..input(b"")
        };
        assert_ne!(key.version(&a), key.version(&b));
    }

    #[test]
    fn a_pod_s_versions_are_the_versions_of_its_inputs() {
        let key = VersionKey::from_bytes(&[9u8; 32]).unwrap();
        let base = input(b"content");
        let pod = key.for_pod(base.pod_uid, base.pod_namespace);
        assert_eq!(
            pod.version(base.file_name, base.config, base.content),
            key.version(&base)
        );
        // HMAC-SHA-256 of the length-prefixed parts, as computed independently (Python's hmac)
        // and as every release so far hashed them: a version key file keeps its versions
        // across an upgrade.
        assert_eq!(key.version(&base), "c2e7e87bfcc2c5086a74ba811aa293ef");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = VersionKey::from_bytes(&[0x41; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "VersionKey(<redacted>)");
    }
}
