//! A mount's memory stays charged until its response is written, not only until the handler
//! returns: tonic encodes the response after that, so the files and their encoded copy are
//! alive for a while longer, and the node-wide budget must still count them, or 32 mounts at
//! once could hold twice what it allows.
//!
//! The handler puts its reservation in the response's extensions ([`HeldMemory`]); tonic
//! carries extensions to the HTTP response, where [`hold_until_sent`] (a layer of the server)
//! moves it into the body. The body is dropped, and the reservation released, once its last
//! frame is handed to the connection, or when the call is abandoned.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use esc_api::Reservation;
use http_body::{Frame, SizeHint};
use tonic::body::Body;

/// A mount's reservation, riding on its response. (Extensions must be `Clone`; the last clone
/// dropped releases it.)
#[derive(Debug, Clone)]
pub struct HeldMemory(pub Arc<Reservation>);

/// Moves a response's [`HeldMemory`] into its body.
pub fn hold_until_sent(response: http::Response<Body>) -> http::Response<Body> {
    let (mut parts, body) = response.into_parts();
    let Some(held) = parts.extensions.remove::<HeldMemory>() else {
        return http::Response::from_parts(parts, body);
    };
    let body = Body::new(Holding { body, _held: held });
    http::Response::from_parts(parts, body)
}

/// A body that holds a reservation for as long as it lives.
struct Holding {
    body: Body,
    _held: HeldMemory,
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use esc_api::MemoryBudget;
    use http_body::Body as _;

    #[tokio::test]
    async fn a_responses_reservation_is_released_with_its_body_not_before() {
        let budget = MemoryBudget::new(1 << 20);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        let reservation = budget.reserve(1000, deadline).await.unwrap();
        let mut response = http::Response::new(Body::new("encoded files".to_owned()));
        response
            .extensions_mut()
            .insert(HeldMemory(Arc::new(reservation)));
        let response = hold_until_sent(response);
        assert!(response.extensions().get::<HeldMemory>().is_none());
        assert_eq!(budget.used(), 1000, "held while the body is unsent");
        let mut body = response.into_body();
        let mut sent = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame.unwrap().into_data() {
                sent.extend_from_slice(&data);
            }
        }
        assert_eq!(sent, b"encoded files");
        drop(body);
        assert_eq!(
            budget.used(),
            0,
            "released once the connection drops the sent body"
        );
    }
}
