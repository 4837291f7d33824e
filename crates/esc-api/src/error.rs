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

    /// A failure that may pass if the same call is made again: no connection, one call that
    /// took too long, 408, 429 or any 5xx. Everything else (other 4xx, undecodable or oversized replies, a bad URL, the
    /// deadline) would fail the same way again.
    pub fn is_transient(&self) -> bool {
        match &self.0.kind {
            ErrorKind::Connect { .. } | ErrorKind::Slow { .. } => true,
            ErrorKind::Status { status, .. } => {
                matches!(status.as_u16(), 408 | 429) || status.is_server_error()
            }
            _ => false,
        }
    }

    /// ESC could not be reached or did not answer usefully in time: a transient failure, the
    /// deadline, or a reply that is not the API's (a proxy's page, a body cut short). Not a
    /// refusal (401, 403, 404, 400), which says something about the request.
    pub fn is_unreachable(&self) -> bool {
        self.is_transient()
            || matches!(
                self.0.kind,
                ErrorKind::Timeout { .. } | ErrorKind::Decode { .. }
            )
    }

    /// How long the server asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.0.kind {
            ErrorKind::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
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
    Memory(crate::budget::MemoryError),
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
