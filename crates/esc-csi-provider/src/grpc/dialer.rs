//! A provider client over its unix socket, connected the way the driver connects: used by
//! the readiness check and by local mounts.

use std::path::PathBuf;

use crate::grpc::proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// Connects to the provider at `socket` (`:authority` is `localhost`, as the driver's).
pub async fn connect(
    socket: PathBuf,
) -> Result<CsiDriverProviderClient<Channel>, tonic::transport::Error> {
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await?;
    Ok(CsiDriverProviderClient::new(channel))
}
