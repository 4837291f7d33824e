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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::Connected;

use crate::credential::SecretReader;
use crate::credential::exchange::ExchangeClient;
use crate::fetch::EnvironmentSource;
use crate::grpc::ProviderService;
use crate::grpc::authority::AuthorityFix;
use crate::grpc::proto::v1alpha1::csi_driver_provider_server::CsiDriverProviderServer;

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
    let mut slots = Slots::new(service.options().max_connections);
    let incoming = UnixListenerStream::new(listener).filter_map(move |stream| match stream {
        Ok(stream) => slots.admit(stream).map(Ok),
        Err(e) => Some(Err(e)),
    });
    let result = tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(
            crate::grpc::held::hold_until_sent,
        ))
        .add_service(
            CsiDriverProviderServer::new(service).max_decoding_message_size(max_request_bytes),
        )
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    socket.remove_if_ours();
    result
}

/// The connection limit: a connection holds a slot until it closes; one accepted with no slot
/// free is closed at once (a client that holds connections open cannot make the daemon hold
/// more, and the driver's own connection, once open, keeps its slot).
struct Slots {
    free: Arc<Semaphore>,
    max: usize,
    /// Whether the last connection was refused: a full table is logged once, not per refusal.
    refusing: bool,
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            free: Arc::new(Semaphore::new(max)),
            max,
            refusing: false,
        }
    }

    fn admit(&mut self, stream: UnixStream) -> Option<Counted<AuthorityFix<UnixStream>>> {
        match Arc::clone(&self.free).try_acquire_owned() {
            Ok(slot) => {
                self.refusing = false;
                Some(Counted {
                    io: AuthorityFix::new(stream),
                    _slot: slot,
                })
            }
            Err(_) => {
                if !std::mem::replace(&mut self.refusing, true) {
                    tracing::warn!(
                        max = self.max,
                        "the provider socket has --max-connections connections open: closing \
                         new ones until some close"
                    );
                }
                None
            }
        }
    }
}

/// A connection and the slot it holds until dropped.
pub struct Counted<T> {
    io: T,
    _slot: OwnedSemaphorePermit,
}

impl<T> std::fmt::Debug for Counted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counted").finish_non_exhaustive()
    }
}

impl<T: Connected> Connected for Counted<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
