//! Serving the provider on the unix socket the driver dials.
//!
//! The socket path is shared with whatever else runs on the node, another esc-csi included (a
//! second DaemonSet, a debugging run): a daemon never replaces a socket that answers, and at
//! exit removes the socket only if the file at the path is still the one it created, so one
//! daemon cannot leave another unreachable. [`SocketFile::check`] tells liveness the same.

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;

use crate::auth::SecretReader;
use crate::authority::AuthorityFix;
use crate::grpc::ProviderService;
use crate::oidc::ExchangeClient;
use crate::proto::v1alpha1::csi_driver_provider_server::CsiDriverProviderServer;
use crate::source::EnvironmentSource;

/// The socket file a daemon created: its path and the identity (device, inode) it had then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Ok` while the file at the path is still this socket; otherwise why not.
    pub fn check(&self) -> Result<(), String> {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => Ok(()),
            Ok(_) => Err(format!(
                "{} is no longer this daemon's socket (another process replaced it)",
                self.path.display()
            )),
            Err(e) => Err(format!("{} is gone: {e}", self.path.display())),
        }
    }

    /// Removes the socket if it is still ours; another daemon's is left alone.
    pub fn remove_if_ours(&self) {
        if self.check().is_ok() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound socket, ready to [`serve`].
#[derive(Debug)]
pub struct Bound {
    listener: UnixListener,
    socket: SocketFile,
}

impl Bound {
    /// The socket file, to check or remove it after [`serve`] has taken the listener.
    pub fn socket(&self) -> &SocketFile {
        &self.socket
    }
}

/// Binds `path`: creates its folder, replaces a stale socket left by a previous run (one
/// nothing answers on), refuses a live one, and restricts the socket to its owner (the driver
/// runs as root).
pub fn bind(path: &Path) -> io::Result<Bound> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "{} is a live socket: another process (another esc-csi?) is serving \
                             on it; stop it first or use another --endpoint",
                            path.display()
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path)?;
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!(
                            "{} exists and cannot be checked ({e}); refusing to replace it",
                            path.display()
                        ),
                    ));
                }
            }
        }
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
    let socket = SocketFile::of(path)?;
    Ok(Bound { listener, socket })
}

/// Serves until `shutdown` completes, then removes the socket if it is still ours.
pub async fn serve<S: EnvironmentSource, R: SecretReader, X: ExchangeClient>(
    bound: Bound,
    service: ProviderService<S, R, X>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let Bound { listener, socket } = bound;
    let max_request_bytes = service.options().max_request_bytes;
    let result = tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(
            crate::held::hold_until_sent,
        ))
        .add_service(
            CsiDriverProviderServer::new(service).max_decoding_message_size(max_request_bytes),
        )
        .serve_with_incoming_shutdown(
            UnixListenerStream::new(listener).map(|stream| stream.map(AuthorityFix::new)),
            shutdown,
        )
        .await;
    socket.remove_if_ours();
    result
}
