//! What can go wrong talking to ESC. Every message names the environment and the step, and
//! carries the server's own words; none carries the token, the session id or any value.

use std::fmt;
use std::time::Duration;

use crate::EnvironmentRef;

/// The calls a mount makes: the OAuth token exchange (workload identity only), then open and
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `POST <host>/api/oauth/token`: a service-account token for a Pulumi access token.
    Exchange,
    Open,
    Read,
}

impl Step {
    /// The endpoint's name in metrics: `open`, `read` or `token`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Read => "read",
            Step::Exchange => "token",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Exchange => "exchanging the pod's service-account token to open",
            Step::Open => "opening",
            Step::Read => "reading",
        })
    }
}

/// A failed call: which step, which environment, and what happened. Boxed to stay small;
/// cloneable so that callers that share one call (coalescing) can each have its error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} ESC environment {}: {}", .0.step, .0.env, .0.kind)]
pub struct EscError(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    step: Step,
    env: EnvironmentRef,
    kind: ErrorKind,
}

impl EscError {
    pub(crate) fn new(step: Step, env: &EnvironmentRef, kind: ErrorKind) -> Self {
        EscError(Box::new(Inner {
            step,
            env: env.clone(),
            kind,
        }))
    }

    /// The caller's deadline passed before `api` answered (or before a turn to call it came).
    pub fn deadline(step: Step, env: &EnvironmentRef, api: &url::Url) -> Self {
        let kind = ErrorKind::Timeout {
            api: api.to_string(),
        };
        EscError::new(step, env, kind)
    }

    pub fn step(&self) -> Step {
        self.0.step
    }

    pub fn environment(&self) -> &EnvironmentRef {
        &self.0.env
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<http::StatusCode> {
        match &self.0.kind {
            ErrorKind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What the failure means, decided here once: retries ([`Self::is_transient`]), stale
    /// serving ([`Self::is_unreachable`]), the hint a pod's events show and the gRPC code all
    /// derive from it.
    pub fn failure(&self) -> Failure {
        let exchange = self.0.step == Step::Exchange;
        match &self.0.kind {
            ErrorKind::Connect { .. } | ErrorKind::Slow { .. } => Failure::NoAnswer,
            ErrorKind::Timeout { .. } => Failure::Deadline,
            ErrorKind::Decode { .. } => Failure::NotTheApi,
            ErrorKind::TooLarge { .. }
            | ErrorKind::TooManyValues { .. }
            | ErrorKind::Memory(crate::MemoryError::TooLarge { .. }) => Failure::TooLarge,
            ErrorKind::Memory(crate::MemoryError::Busy { .. }) => Failure::MemoryBusy,
            ErrorKind::BadApiUrl { .. } => Failure::BadApiUrl,
            ErrorKind::Status { status, .. } => match status.as_u16() {
                408 => Failure::NoAnswer,
                429 => Failure::RateLimited,
                500..=599 => Failure::ServerError,
                // The token endpoint refuses a bad or untrusted identity with 400 invalid_grant.
                400 if exchange => Failure::Unauthenticated,
                400 => Failure::DoesNotEvaluate,
                401 => Failure::Unauthenticated,
                403 => Failure::Forbidden,
                404 if exchange => Failure::NoTokenEndpoint,
                404 => Failure::NotFound,
                _ => Failure::OtherStatus,
            },
        }
    }

    /// A failure that may pass if the same call is made again (see [`Failure::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.failure().is_transient()
    }

    /// ESC could not be reached or did not answer usefully in time (see
    /// [`Failure::is_unreachable`]).
    pub fn is_unreachable(&self) -> bool {
        self.failure().is_unreachable()
    }

    /// How long the server asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.0.kind {
            ErrorKind::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What a failed call means for the mount, whatever the step. Every consumer matches on it
/// exhaustively, so a new kind of failure is decided everywhere at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No HTTP answer (DNS, TCP, TLS), one call over the per-call limit, or 408.
    NoAnswer,
    /// 429.
    RateLimited,
    /// Any 5xx.
    ServerError,
    /// The caller's deadline passed.
    Deadline,
    /// An answer that is not the API's: a proxy's page, a body cut short.
    NotTheApi,
    /// 400 at open or read: the environment does not evaluate.
    DoesNotEvaluate,
    /// 401; or 400 at the token exchange (invalid_grant: a bad or untrusted identity).
    Unauthenticated,
    /// 403.
    Forbidden,
    /// 404 at open or read: no such environment or version, or the token cannot see it.
    NotFound,
    /// 404 at the token exchange: the API at apiUrl has no token endpoint.
    NoTokenEndpoint,
    /// Any other status.
    OtherStatus,
    /// The reply is over a size, value-count or memory limit that no retry changes.
    TooLarge,
    /// The node-wide memory budget is held by other mounts.
    MemoryBusy,
    /// The API URL cannot address environments.
    BadApiUrl,
}

impl Failure {
    /// May pass if the same call is made again: these are retried. Everything else (other
    /// 4xx, undecodable or oversized replies, a bad URL, the deadline) would fail the same way.
    pub fn is_transient(self) -> bool {
        match self {
            Failure::NoAnswer | Failure::RateLimited | Failure::ServerError => true,
            Failure::Deadline
            | Failure::NotTheApi
            | Failure::DoesNotEvaluate
            | Failure::Unauthenticated
            | Failure::Forbidden
            | Failure::NotFound
            | Failure::NoTokenEndpoint
            | Failure::OtherStatus
            | Failure::TooLarge
            | Failure::MemoryBusy
            | Failure::BadApiUrl => false,
        }
    }

    /// ESC could not be reached or did not answer usefully in time: transient, the deadline,
    /// or not the API's reply. Not a refusal, which says something about the request.
    pub fn is_unreachable(self) -> bool {
        self.is_transient() || matches!(self, Failure::Deadline | Failure::NotTheApi)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ErrorKind {
    /// The server answered with an error status.
    #[error(
        "HTTP {status}{}{}{}",
        ServerSays(message),
        Diagnostics(diagnostics),
        RequestId(request_id)
    )]
    Status {
        status: http::StatusCode,
        message: Option<String>,
        /// Summaries of the evaluation diagnostics an open may return with a 400.
        diagnostics: Vec<String>,
        /// `X-Pulumi-Request-ID`, quoted on server errors so support can find the call.
        request_id: Option<String>,
        /// `Retry-After` on 429 and 503.
        retry_after: Option<Duration>,
    },
    /// No HTTP answer at all: DNS, TCP, TLS.
    #[error("cannot reach the ESC API at {api}: {detail}")]
    Connect { api: String, detail: String },
    /// The caller's deadline passed before the answer did.
    #[error("no answer from the ESC API at {api} before the deadline")]
    Timeout { api: String },
    /// One call took longer than the client's per-call limit (retried while the deadline
    /// allows; this is the error when no retry fits).
    #[error("no answer from the ESC API at {api} within {}s", .after.as_secs_f32())]
    Slow { api: String, after: Duration },
    /// An answer arrived but is not what the API promises.
    #[error("the ESC API's reply could not be decoded ({detail})")]
    Decode { detail: String },
    /// The reply exceeded the configured size limit.
    #[error("the reply is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// The reply holds more JSON values than allowed; it was not decoded.
    #[error(
        "the reply holds more than {limit} JSON values (esc-csi's --max-esc-reply-values); the \
         environment is too large to mount"
    )]
    TooManyValues { limit: usize },
    /// The node-wide memory budget could not hold the reply.
    #[error("the reply cannot be held: {0}")]
    Memory(crate::memory_budget::MemoryError),
    /// The API base URL cannot address environments.
    #[error("the ESC API URL {api:?} cannot be used: {reason}")]
    BadApiUrl { api: String, reason: &'static str },
}

struct ServerSays<'a>(&'a Option<String>);

impl fmt::Display for ServerSays<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, ": {m}"),
            None => Ok(()),
        }
    }
}

struct Diagnostics<'a>(&'a [String]);

impl fmt::Display for Diagnostics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() {
            write!(f, " [{}]", self.0.join("; "))?;
        }
        Ok(())
    }
}

struct RequestId<'a>(&'a Option<String>);

impl fmt::Display for RequestId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " (request id {id})"),
            None => Ok(()),
        }
    }
}

/// Server text goes into pod events: at most `max_chars` characters (then `…`), control
/// characters as spaces, trimmed. Other servers' error text (the Kubernetes API's) gets the same.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(step: Step, code: u16) -> EscError {
        let env = EnvironmentRef {
            organization: "acme".into(),
            project: "app".into(),
            environment: "prod".into(),
            version: None,
        };
        let kind = ErrorKind::Status {
            status: http::StatusCode::from_u16(code).unwrap(),
            message: None,
            diagnostics: Vec::new(),
            request_id: None,
            retry_after: None,
        };
        EscError::new(step, &env, kind)
    }

    #[test]
    fn a_404_means_no_token_endpoint_at_the_exchange_and_no_environment_at_open_and_read() {
        assert_eq!(
            status(Step::Exchange, 404).failure(),
            Failure::NoTokenEndpoint
        );
        assert_eq!(status(Step::Open, 404).failure(), Failure::NotFound);
        assert_eq!(status(Step::Read, 404).failure(), Failure::NotFound);
        assert_eq!(
            status(Step::Exchange, 400).failure(),
            Failure::Unauthenticated
        );
        assert_eq!(status(Step::Open, 400).failure(), Failure::DoesNotEvaluate);
    }

    #[test]
    fn only_no_answer_408_429_and_5xx_are_retried_and_a_refusal_is_never_unreachable() {
        for step in [Step::Exchange, Step::Open, Step::Read] {
            for code in [408, 429, 500, 502, 503, 599] {
                assert!(status(step, code).is_transient(), "{step:?} {code}");
                assert!(status(step, code).is_unreachable(), "{step:?} {code}");
            }
            for code in [400, 401, 403, 404, 409, 422] {
                assert!(!status(step, code).is_transient(), "{step:?} {code}");
                assert!(!status(step, code).is_unreachable(), "{step:?} {code}");
            }
        }
        let env = EnvironmentRef {
            organization: "acme".into(),
            project: "app".into(),
            environment: "prod".into(),
            version: None,
        };
        let api = url::Url::parse("https://api.example.com/api/esc").unwrap();
        let deadline = EscError::deadline(Step::Open, &env, &api);
        assert!(!deadline.is_transient() && deadline.is_unreachable());
    }

    #[test]
    fn quoted_server_text_is_one_trimmed_line_cut_at_the_limit() {
        assert_eq!(sanitize("  not found\n", 300), "not found");
        assert_eq!(sanitize("a\nb\tc", 300), "a b c");
        let quoted = sanitize(&"é".repeat(10_000), 300);
        assert_eq!(quoted.chars().count(), 301);
        assert!(quoted.ends_with("é…"));
        assert_eq!(sanitize(&"x".repeat(300), 300), "x".repeat(300));
    }
}
