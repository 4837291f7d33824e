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

/// Adds where in `path` a YAML error inside a class's `secrets: |` block is: the provider counts
/// lines from the block's start, and a user edits the file. `message` is returned as it is when
/// it has no such error or the block cannot be found unambiguously.
pub(crate) fn locate_secrets_error(path: &Path, class_name: &str, message: &str) -> String {
    const MARK: &str = "parameter secrets: not valid YAML: ";
    let Some(start) = message.find(MARK) else {
        return message.to_owned();
    };
    let rest = &message[start + MARK.len()..];
    let Some((line, column, end)) = line_column(rest) else {
        return message.to_owned();
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return message.to_owned();
    };
    let Some((block_line, indent)) = secrets_block(&text, class_name) else {
        return message.to_owned();
    };
    let at = start + MARK.len() + end;
    format!(
        "{} (line {} column {} of {}){}",
        &message[..at],
        block_line + line,
        column + indent,
        path.display(),
        &message[at..]
    )
}

/// `line N column C` in `text`: N, C and the byte offset just after it.
fn line_column(text: &str) -> Option<(usize, usize, usize)> {
    let at = text.find(" at line ")?;
    let after = &text[at + " at line ".len()..];
    let (line, after) = after.split_once(" column ")?;
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    let column = after[..digits].parse().ok()?;
    let end = text.len() - after.len() + digits;
    Some((line.parse().ok()?, column, end))
}

/// The 1-based line of the `secrets: |` key of the class named `name` in a manifest, and the
/// block's indentation: the block's line N is the file's line (that line + N).
fn secrets_block(text: &str, name: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let is_block = |l: &str| {
        let t = l.trim_start();
        t.strip_prefix("secrets:").is_some_and(|v| {
            let v = v.trim();
            v.starts_with('|') || v.starts_with('>')
        })
    };
    let blocks: Vec<usize> = (0..lines.len()).filter(|&i| is_block(lines[i])).collect();
    let chosen = match blocks.as_slice() {
        [one] => *one,
        // Several classes: the block after this class's name.
        _ => {
            let named = lines.iter().position(|l| {
                l.trim_start()
                    .strip_prefix("name:")
                    .is_some_and(|v| v.trim().trim_matches(['"', '\'']) == name)
            })?;
            *blocks.iter().find(|&&b| b > named)?
        }
    };
    let indent = lines[chosen + 1..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .map_or(0, |l| l.len() - l.trim_start().len());
    Some((chosen + 1, indent))
}

/// Warnings as `check` and `mount` both print them: one `warning: ` line each, on stderr.
#[allow(clippy::print_stderr)]
pub(crate) fn print_warnings<T: std::fmt::Display>(warnings: &[T]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_yaml_error_in_the_secrets_block_is_located_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spc.yaml");
        std::fs::write(
            &path,
            "kind: SecretProviderClass\nmetadata:\n  name: app\nspec:\n  parameters:\n    \
             secrets: |\n      - fileName: a\n      - fileName: b\n          secretKey: x\n",
        )
        .unwrap();
        let message = "parameter secrets: not valid YAML: mapping values are not allowed in this \
                       context at line 3 column 20";
        assert_eq!(
            super::locate_secrets_error(&path, "app", message),
            format!("{message} (line 9 column 26 of {})", path.display())
        );
        let other = "parameter environment: missing; it is required";
        assert_eq!(super::locate_secrets_error(&path, "app", other), other);
    }

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
