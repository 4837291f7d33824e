//! The key that makes object versions: from a file, or random for this process.

use std::path::PathBuf;

use esc_csi_provider::mount::version::VersionKey;

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("cannot read the version key file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the version key file {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("version key file {}: {message}", path.display())]
    Bad { path: PathBuf, message: String },
    #[error("cannot make a version key: the system random source failed")]
    Random,
}

pub(crate) fn version_key(path: Option<&PathBuf>) -> Result<VersionKey, KeyError> {
    let Some(path) = path else {
        return VersionKey::random().map_err(|_| KeyError::Random);
    };
    let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.clone(),
        source,
    })?;
    VersionKey::from_bytes(&bytes).map_err(|message| KeyError::Bad {
        path: path.clone(),
        message,
    })
}

/// The key of local mounts: `explicit` when given, else one kept for this user in
/// `$XDG_CACHE_HOME/esc-csi/version-key` (or `~/.cache/...`), made on first use, so that the
/// VERSION column `mount` prints changes only when a file's content does. Without a home
/// folder, a random key for this run.
pub(crate) fn local_version_key(explicit: Option<&PathBuf>) -> Result<VersionKey, KeyError> {
    if explicit.is_some() {
        return version_key(explicit);
    }
    // Only inside a home (or cache folder) that exists: never a made-up one.
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .filter(|h| h.is_dir())
                .map(|h| h.join(".cache"))
        });
    let Some(cache) = cache else {
        return version_key(None);
    };
    let path = cache.join("esc-csi").join("version-key");
    // A read-only home costs only stable versions, not the mount.
    if !path.exists()
        && let Err(error) = create_key_file(&path)
    {
        tracing::debug!(%error, "versions are keyed for this run only");
        return version_key(None);
    }
    version_key(Some(&path))
}

/// Writes 32 random bytes, hex-encoded, readable by this user only; a file another run made
/// first is kept.
fn create_key_file(path: &PathBuf) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    use ring::rand::SecureRandom;

    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Random)?;
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(hex::encode(bytes).as_bytes())
    };
    match write() {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(KeyError::Create {
            path: path.clone(),
            source,
        }),
    }
}
