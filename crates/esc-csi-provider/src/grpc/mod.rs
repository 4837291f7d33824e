//! The gRPC adapter: `v1alpha1.CSIDriverProvider` over the domain [`Mounter`]. It decodes the
//! request once (attributes, nodePublishSecretRef, permission) and is the one place where mount
//! errors become gRPC statuses (their kind is decided in [`crate::error::classify`]).

pub mod authority;
pub mod dialer;
pub mod held;
pub mod proto;
pub mod socket;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use esc_api::{MemoryBudget, Reservation};
use prost::Message;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};
use tracing::{Instrument, field};

use crate::class::{Class, keys, parse_attributes};
use crate::code::ErrorCode;
use crate::credential::SecretReader;
use crate::credential::exchange::ExchangeClient;
use crate::error::MountError;
use crate::fetch::EnvironmentSource;
use crate::grpc::held::HeldMemory;
use crate::grpc::proto::v1alpha1::csi_driver_provider_server::CsiDriverProvider;
use crate::grpc::proto::v1alpha1::{
    File, MountRequest, MountResponse, ObjectVersion, VersionRequest, VersionResponse,
};
use crate::mount::budget::ResponseBudget;
use crate::mount::{MountInput, MountedFile, Mounter};

/// Reported by `Version`.
pub const RUNTIME_NAME: &str = "esc-csi";
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Limits of the service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// A mount's time budget when the caller sets no shorter deadline.
    pub mount_timeout: Duration,
    /// The largest response, encoded; the driver accepts 4 MiB by default. Files count
    /// against it as they render.
    pub max_response_bytes: usize,
    /// The largest request, encoded (`--max-request-bytes`); larger ones are refused before
    /// they are decoded.
    pub max_request_bytes: usize,
    /// The node-wide bound on memory held by mounts (`--max-memory-in-flight`), shared with
    /// the ESC client; `None` for no bound.
    pub memory: Option<Arc<MemoryBudget>>,
    /// Connections to the provider socket open at once (`--max-connections`); past it, new
    /// ones are closed as they are accepted. The driver keeps one; each can hold a 64 KiB
    /// header block and h2's buffers.
    pub max_connections: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            mount_timeout: Duration::from_secs(30),
            max_response_bytes: 4 << 20,
            max_request_bytes: 2 << 20,
            memory: None,
            max_connections: 64,
        }
    }
}

/// Attributes longer than this are parsed, with the class, on a blocking thread.
const INLINE_PARSE_BYTES: usize = 16 << 10;

/// Classes parsed at once on blocking threads; others wait, within their deadline.
static PARSERS: Semaphore = Semaphore::const_new(2);

/// What a request is taken to hold in memory while it is read (the request, its attributes
/// as a map, the YAML parser's events), per byte of request.
const REQUEST_MEMORY_FACTOR: usize = 4;

/// The provider service.
#[derive(Debug)]
pub struct ProviderService<S, R, X = esc_api::EscClient> {
    mounter: Arc<Mounter<S, R, X>>,
    options: ServiceOptions,
}

impl<S, R, X> Clone for ProviderService<S, R, X> {
    fn clone(&self) -> Self {
        ProviderService {
            mounter: self.mounter.clone(),
            options: self.options.clone(),
        }
    }
}

impl<S: EnvironmentSource, R: SecretReader, X: ExchangeClient> ProviderService<S, R, X> {
    pub fn new(mounter: Arc<Mounter<S, R, X>>, options: ServiceOptions) -> Self {
        ProviderService { mounter, options }
    }

    pub fn options(&self) -> &ServiceOptions {
        &self.options
    }

    /// The response, and the mount's reservation of node-wide memory, to hold until the
    /// response is written (see [`crate::grpc::held`]).
    async fn mount_inner(
        &self,
        request: &MountRequest,
        deadline: Instant,
        span: &tracing::Span,
    ) -> Result<(MountResponse, Reservation), MountError> {
        let reserved = match &self.options.memory {
            Some(memory) => {
                let bytes = request.encoded_len().saturating_mul(REQUEST_MEMORY_FACTOR);
                memory
                    .reserve(bytes, deadline)
                    .await
                    .map_err(|error| MountError::Memory {
                        item: "this request".to_owned(),
                        error,
                    })?
            }
            None => MemoryBudget::new(0).empty(),
        };
        let (attributes, class) = self.plan(&request.attributes, deadline).await?;
        let label = |key: &str| field::display(attributes.get(key).map_or("-", String::as_str));
        span.record("namespace", label(keys::POD_NAMESPACE));
        span.record("pod", label(keys::POD_NAME));
        span.record("class", label(keys::CLASS_NAME));
        let class = class?;
        span.record("environment", field::display(&class.environment));
        for warning in &class.warnings {
            // The class's own target, so that `esc-csi mount`, which silences this module's
            // failure line (it prints the error itself), still shows these.
            tracing::warn!(target: "esc_csi_provider::class", "{warning}");
        }
        let mut budget = ResponseBudget::new(self.options.max_response_bytes, reserved);
        let input = MountInput::decode(&request.secrets, &request.permission)?;
        let files = self
            .mounter
            .mount(&class, &input, deadline, &mut budget)
            .await?;
        let response = response(files);
        let bytes = response.encoded_len();
        if bytes > self.options.max_response_bytes {
            return Err(MountError::TooLarge {
                bytes,
                limit: self.options.max_response_bytes,
            });
        }
        Ok((response, budget.into_memory()))
    }

    /// Reads the attributes and checks the class: inline when small, otherwise on a blocking
    /// thread (at most [`PARSERS`] at once), so a large class never stalls the runtime that
    /// answers `Version` and other mounts.
    async fn plan(
        &self,
        attributes: &str,
        deadline: Instant,
    ) -> Result<(BTreeMap<String, String>, Result<Class, MountError>), MountError> {
        let work = |mounter: &Mounter<S, R, X>, text: &str| {
            let attributes = parse_attributes(text).map_err(MountError::Request)?;
            let class = mounter.plan(&attributes);
            Ok::<_, MountError>((attributes, class))
        };
        if attributes.len() <= INLINE_PARSE_BYTES {
            return work(&self.mounter, attributes);
        }
        let budget = self.options.mount_timeout;
        let Ok(Ok(_turn)) = tokio::time::timeout_at(deadline, PARSERS.acquire()).await else {
            return Err(MountError::Deadline(budget));
        };
        let (mounter, text) = (Arc::clone(&self.mounter), attributes.to_owned());
        tokio::task::spawn_blocking(move || work(&mounter, &text))
            .await
            .unwrap_or_else(|_| {
                Err(MountError::Request(
                    "the class could not be read (its parser stopped)".to_owned(),
                ))
            })
    }
}

fn response(files: Vec<MountedFile>) -> MountResponse {
    let mut response = MountResponse {
        object_version: Vec::with_capacity(files.len()),
        error: None,
        files: Vec::with_capacity(files.len()),
    };
    for file in files {
        response.object_version.push(ObjectVersion {
            id: file.path.clone(),
            version: file.version,
        });
        response.files.push(File {
            path: file.path,
            mode: i32::try_from(file.mode).unwrap_or(0o644),
            contents: Bytes::from(file.contents.0),
        });
    }
    response
}

#[tonic::async_trait]
impl<S: EnvironmentSource, R: SecretReader, X: ExchangeClient> CsiDriverProvider
    for ProviderService<S, R, X>
{
    async fn version(
        &self,
        _request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: "v1alpha1".into(),
            runtime_name: RUNTIME_NAME.into(),
            runtime_version: RUNTIME_VERSION.into(),
        }))
    }

    async fn mount(
        &self,
        request: Request<MountRequest>,
    ) -> Result<Response<MountResponse>, Status> {
        let started = Instant::now();
        // Finish a little before the caller's deadline, so that our explanation reaches it
        // rather than a bare cancellation.
        let budget = grpc_timeout(request.metadata()).map_or(self.options.mount_timeout, |t| {
            t.saturating_sub((t / 10).min(Duration::from_millis(200)))
                .min(self.options.mount_timeout)
        });
        let deadline = started.checked_add(budget).unwrap_or(started);
        let request = request.into_inner();
        let span = tracing::info_span!(
            "mount",
            namespace = field::Empty,
            pod = field::Empty,
            class = field::Empty,
            environment = field::Empty,
            outcome = field::Empty,
            elapsed_ms = field::Empty,
        );
        let metrics = self.mounter.metrics();
        let _in_flight = metrics.mount_started();
        async {
            let result =
                tokio::time::timeout_at(deadline, self.mount_inner(&request, deadline, &span))
                    .await
                    .unwrap_or(Err(MountError::Deadline(budget)));
            let elapsed = started.elapsed();
            let elapsed_ms = elapsed.as_millis() as u64;
            let span = tracing::Span::current();
            span.record("elapsed_ms", elapsed_ms);
            span.record(
                "outcome",
                field::display(if result.is_ok() { "mounted" } else { "failed" }),
            );
            match result {
                Ok((response, memory)) => {
                    metrics.mount_finished(Ok(()), elapsed);
                    tracing::info!(files = response.files.len(), elapsed_ms, "mounted");
                    let mut response = Response::new(response);
                    response
                        .extensions_mut()
                        .insert(HeldMemory(Arc::new(memory)));
                    Ok(response)
                }
                Err(error) => {
                    metrics.mount_finished(Err(error.code()), elapsed);
                    let status = status_of(&error);
                    tracing::warn!(code = ?status.code(), elapsed_ms, error = %status.message(), "mount failed");
                    Err(status)
                }
            }
        }
        .instrument(span.clone())
        .await
    }
}

/// The gRPC status for a mount error: the single mapping from the domain to the wire.
pub fn status_of(error: &MountError) -> Status {
    Status::new(code_of(error), bounded_message(error.to_string()))
}

/// The most bytes of a status message once gRPC has percent-encoded it for its header (every
/// byte outside printable ASCII, and `%`, becomes three). One over the peer's header limit (8
/// KiB in some clients) turns into a bare protocol error instead.
const MAX_MESSAGE_BYTES: usize = 8 << 10;

/// What `c` takes in the `grpc-message` header.
fn encoded_len(c: char) -> usize {
    match c {
        '%' => 3,
        ' '..='~' => 1,
        c => 3 * c.len_utf8(),
    }
}

/// The message, cut (with `…`) so that its percent-encoded form fits [`MAX_MESSAGE_BYTES`].
fn bounded_message(mut message: String) -> String {
    let total: usize = message.chars().map(encoded_len).sum();
    if total <= MAX_MESSAGE_BYTES {
        return message;
    }
    let room = MAX_MESSAGE_BYTES - encoded_len('…');
    let (mut used, mut end) = (0, 0);
    for (i, c) in message.char_indices() {
        if used + encoded_len(c) > room {
            break;
        }
        used += encoded_len(c);
        end = i + c.len_utf8();
    }
    message.truncate(end);
    message.push('…');
    message
}

/// The domain's [`ErrorCode`] as the gRPC code of the same name.
fn code_of(error: &MountError) -> Code {
    match error.code() {
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::FailedPrecondition => Code::FailedPrecondition,
        ErrorCode::ResourceExhausted => Code::ResourceExhausted,
        ErrorCode::Unavailable => Code::Unavailable,
        ErrorCode::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorCode::Internal => Code::Internal,
    }
}

/// The caller's `grpc-timeout`, e.g. `500m` (milliseconds) or `2S`.
fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let text = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `grpc-message` header as tonic writes it.
    fn on_the_wire(message: &str) -> usize {
        let status = Status::new(Code::Internal, message);
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        headers["grpc-message"].len()
    }

    #[test]
    fn status_messages_are_cut_to_fit_in_a_header_once_percent_encoded() {
        let short = MountError::Request("bad".into());
        assert_eq!(status_of(&short).message(), "bad");
        for long in [
            "é".repeat(MAX_MESSAGE_BYTES),
            "%".repeat(MAX_MESSAGE_BYTES),
            "x".repeat(3 * MAX_MESSAGE_BYTES),
            format!("{}\u{202e}{}", "a".repeat(5000), "日本".repeat(3000)),
        ] {
            let message = status_of(&MountError::Request(long)).message().to_owned();
            assert!(message.ends_with('…'));
            let wire = on_the_wire(&message);
            assert!(wire <= MAX_MESSAGE_BYTES, "{wire}");
            assert!(
                wire > MAX_MESSAGE_BYTES - 16,
                "{wire}: cut no more than needed"
            );
        }
    }

    #[test]
    fn grpc_timeouts_in_every_unit_are_understood() {
        let mut m = MetadataMap::new();
        for (text, expected) in [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("3S", Duration::from_secs(3)),
            ("400m", Duration::from_millis(400)),
            ("5u", Duration::from_micros(5)),
            ("6n", Duration::from_nanos(6)),
        ] {
            m.insert("grpc-timeout", text.parse().unwrap());
            assert_eq!(grpc_timeout(&m), Some(expected), "{text}");
        }
        m.insert("grpc-timeout", "soon".parse().unwrap());
        assert_eq!(grpc_timeout(&m), None);
        assert_eq!(grpc_timeout(&MetadataMap::new()), None);
    }
}
