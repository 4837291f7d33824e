//! The key that makes object versions: from a file, or random for this process.

use std::path::PathBuf;

use esc_csi_provider::version::VersionKey;

#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("cannot read the version key file {}: {source}", path.display())]
    Read {
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
