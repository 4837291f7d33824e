//! Serving the provider on the unix socket the driver dials.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;

use crate::auth::SecretReader;
use crate::authority::AuthorityFix;
use crate::grpc::ProviderService;
use crate::proto::v1alpha1::csi_driver_provider_server::CsiDriverProviderServer;
use crate::source::EnvironmentSource;

/// Binds `path`: creates its folder, replaces a stale socket left by a previous run, and
/// restricts the socket to its owner (the driver runs as root).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves until `shutdown` completes, then removes the socket.
pub async fn serve<S: EnvironmentSource, R: SecretReader>(
    listener: UnixListener,
    service: ProviderService<S, R>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf));
    let result = tonic::transport::Server::builder()
        .add_service(CsiDriverProviderServer::new(service))
        .serve_with_incoming_shutdown(
            UnixListenerStream::new(listener).map(|stream| stream.map(AuthorityFix::new)),
            shutdown,
        )
        .await;
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
    result
}
