//! What `mount` and `check` share: reading the class file and the pod it pretends to be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use esc_csi_local::attributes::{Pod, attributes};
use esc_csi_local::manifest::{self, SecretProviderClass};

use crate::cli::PodArgs;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClassFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: manifest::ManifestError,
    },
}

/// The class in `path` and the attributes the driver would send for it.
pub(crate) fn load(
    path: &Path,
    name: Option<&str>,
    pod: &PodArgs,
) -> Result<(SecretProviderClass, BTreeMap<String, String>), ClassFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClassFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let class = manifest::read(&text, name).map_err(|source| ClassFileError::Manifest {
        path: path.to_owned(),
        source,
    })?;
    let pod = Pod {
        namespace: pod
            .namespace
            .clone()
            .or_else(|| class.namespace.clone())
            .unwrap_or_else(|| "default".to_owned()),
        name: pod.pod_name.clone(),
        service_account: pod.service_account.clone(),
        uid: pod.pod_uid.clone(),
    };
    let attributes = attributes(&class, &pod);
    Ok((class, attributes))
}

#[cfg(test)]
mod tests {
    use esc_csi_local::attributes::keys as driver;
    use esc_csi_provider::class::keys as provider;

    #[test]
    fn the_keys_the_local_driver_sends_are_the_keys_the_provider_reads() {
        assert_eq!(driver::CLASS_NAME, provider::CLASS_NAME);
        assert_eq!(driver::POD_NAME, provider::POD_NAME);
        assert_eq!(driver::POD_NAMESPACE, provider::POD_NAMESPACE);
        assert_eq!(driver::POD_UID, provider::POD_UID);
        assert_eq!(driver::SERVICE_ACCOUNT, provider::SERVICE_ACCOUNT);
    }
}
