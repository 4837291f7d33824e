//! The local ESC server behind `mount --environments`.

use std::path::Path;

use secrecy::SecretString;

use crate::mount::MountCmdError;

/// Starts the local ESC server over `dir`; returns a guard, its API URL, and the token it
/// accepts (`token` when given, else a fresh random one).
pub(crate) async fn start(
    dir: &Path,
    token: Option<&SecretString>,
) -> Result<((), String, SecretString), MountCmdError> {
    let _ = (dir, token);
    Err(MountCmdError::Provider(
        "--environments needs the local ESC server, which is not wired in yet".to_owned(),
    ))
}
