//! How one HTTP reply becomes a result, apart from the I/O that brought it, so that every
//! reply a server can send (any status, headers and body) is handled by plain functions that
//! are property-tested and fuzzed without a socket: [`judge`] decides what a reply means and
//! [`next_wait`] whether and when to try again.
//!
//! Nothing here may panic or do arithmetic that overflows on a server's numbers, and a body is
//! measured ([`count_json_values`]) before it is decoded, so a small reply cannot decode into
//! a large tree.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use crate::error::{ErrorKind, sanitize};
use crate::retry::RetryPolicy;
use crate::wire::ErrorBody;
use crate::{EnvironmentRef, EscError, Step};

/// The longest `Retry-After` believed. A mount's deadline is seconds away, so any longer wait
/// means "not within this mount" already; the cap keeps time arithmetic on it in range.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The longest lifetime believed of an exchanged token (`expires_in`): Pulumi issues them for
/// at most a day, and the cap keeps time arithmetic on it in range.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Bytes of memory one decoded JSON value may take beyond its text (the node, its map entry
/// or vector slot, growth slack): what [`decode_cost`] charges per value, and per unit of an
/// object's extra weight ([`esc_value::OBJECT_WEIGHT`]).
pub const VALUE_COST: usize = 128;

/// What decoding `body_len` bytes holding `values` JSON values may take at its peak: the body,
/// the decoded text, and every node.
pub fn decode_cost(body_len: usize, values: usize) -> usize {
    body_len
        .saturating_mul(2)
        .saturating_add(values.saturating_mul(VALUE_COST))
}

/// What a decoded tree of `values` nodes read from `body_len` bytes holds once the body is
/// gone: its text (never longer than it was in the body) and its nodes.
pub fn tree_cost(body_len: usize, values: usize) -> usize {
    body_len.saturating_add(values.saturating_mul(VALUE_COST))
}

/// An upper bound on the JSON values in `body`, counted without decoding: one, plus one per
/// `[` (a first element), `,` (a next one) and `:` (a member's value) outside strings. Stops
/// counting past `stop_after`. Linear, no allocation.
pub fn count_json_values(body: &[u8], stop_after: usize) -> usize {
    count(body, stop_after, 0)
}

/// An upper bound on what the value reader may weigh decoding `body` (values, an object
/// weighing [`esc_value::OBJECT_WEIGHT`] more): [`count_json_values`], plus that weight per
/// `{` outside strings. Stops counting past `stop_after`.
pub fn reply_weight(body: &[u8], stop_after: usize) -> usize {
    count(body, stop_after, esc_value::OBJECT_WEIGHT)
}

fn count(body: &[u8], stop_after: usize, object_weight: usize) -> usize {
    let (mut count, mut in_string, mut escaped) = (1usize, false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' if object_weight > 0 => {
                count = count.saturating_add(object_weight);
                if count > stop_after {
                    return count;
                }
            }
            b'[' | b',' | b':' => {
                count += 1;
                if count > stop_after {
                    return count;
                }
            }
            _ => {}
        }
    }
    count
}

/// What one reply means: a success decoded into `T`, or the error the status says, with the
/// server's message, diagnostics, request id and `Retry-After` read leniently from it. A body
/// with more than `max_values` JSON values is not decoded (`0` for no limit).
pub fn judge<T: Reply>(
    step: Step,
    env: &EnvironmentRef,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    max_values: usize,
    now: SystemTime,
) -> Result<T, EscError> {
    let limit = if max_values == 0 {
        usize::MAX
    } else {
        max_values
    };
    if !status.is_success() {
        let within = count_json_values(body, limit) <= limit;
        let body = if within { body } else { b"" };
        return Err(status_error(step, env, status, headers, body, now));
    }
    T::decode_within(body, max_values).map_err(|kind| EscError::new(step, env, kind))
}

/// Whether to try `error` again as retry number `retry` (0 for the first), and after how long:
/// `None` when the error is not transient, the policy's tries are spent, or the wait would end
/// at or past `deadline`.
pub fn next_wait(
    error: &EscError,
    policy: &RetryPolicy,
    retry: u32,
    now: Instant,
    deadline: Instant,
) -> Option<Duration> {
    if !error.is_transient() || retry.saturating_add(1) >= policy.max_attempts {
        return None;
    }
    let wait = error
        .retry_after()
        .unwrap_or_else(|| policy.backoff(retry))
        .min(MAX_RETRY_AFTER);
    // Checked: an Instant past the clock's range panics.
    match now.checked_add(wait) {
        Some(at) if at < deadline => Some(wait),
        _ => None,
    }
}

/// A successful reply's body type. Each decodes its body whole; the error is a detail that
/// never quotes the body (the body may hold secrets).
pub trait Reply: Sized {
    fn decode_body(body: &[u8]) -> Result<Self, String>;

    /// Decodes a body of at most `max_values` JSON values (0 for no limit). By default they
    /// are counted over the text before it is decoded; the read reply counts the values its
    /// reader keeps instead.
    fn decode_within(body: &[u8], max_values: usize) -> Result<Self, ErrorKind> {
        let limit = if max_values == 0 {
            usize::MAX
        } else {
            max_values
        };
        if count_json_values(body, limit) > limit {
            return Err(ErrorKind::TooManyValues { limit: max_values });
        }
        Self::decode_body(body).map_err(|detail| ErrorKind::Decode { detail })
    }

    /// The values a decoded reply holds, when known (see [`tree_cost`]).
    fn values(&self) -> Option<usize> {
        None
    }
}

macro_rules! serde_reply {
    ($($t:ty),*) => {$(
        impl Reply for $t {
            fn decode_body(body: &[u8]) -> Result<Self, String> {
                serde_json::from_slice(body).map_err(|e| serde_detail(&e))
            }
        }
    )*};
}

serde_reply!(
    crate::Value,
    crate::wire::OpenEnvironment,
    crate::wire::TokenExchangeGrant
);

/// The read reply, by the value reader in one pass: serde would check the whole body as JSON
/// before the reader could see a number's text. When the reader refuses, serde says where the
/// JSON is broken, as it does for every other reply; if serde finds nothing wrong, the reader's
/// own reason (a budget, the shape) is the detail.
impl Reply for crate::wire::Environment {
    fn decode_body(body: &[u8]) -> Result<Self, String> {
        Self::decode_within(body, 0).map_err(|kind| match kind {
            ErrorKind::Decode { detail } => detail,
            other => other.to_string(),
        })
    }

    /// The values are counted by the reader as it builds them, so the traces of a Pulumi reply
    /// (about a dozen JSON values a leaf, skipped) cost nothing, and no shape of reply can keep
    /// a value uncounted.
    fn decode_within(body: &[u8], max_values: usize) -> Result<Self, ErrorKind> {
        let limit = if max_values == 0 {
            usize::MAX
        } else {
            max_values
        };
        let read = std::str::from_utf8(body)
            .ok()
            .map(|text| crate::Value::decode_wire_field_within(text, "properties", limit));
        match read {
            Some(Ok((properties, values))) => Ok(crate::wire::Environment { properties, values }),
            Some(Err(esc_value::DecodeError::TooManyValues)) => {
                Err(ErrorKind::TooManyValues { limit: max_values })
            }
            _ => Err(ErrorKind::Decode {
                detail: match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Err(e) => serde_detail(&e),
                    Ok(_) => match read {
                        Some(Err(e)) => e.to_string(),
                        _ => "invalid JSON".into(),
                    },
                },
            }),
        }
    }

    fn values(&self) -> Option<usize> {
        Some(self.values)
    }
}

/// serde's own message can quote the offending input, which may be a secret: say only what
/// kind of problem it was and where. The value reader's messages never quote it.
fn serde_detail(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let what = match e.classify() {
        serde_json::error::Category::Data
            if message.starts_with(esc_value::DECODE_ERROR_PREFIX) =>
        {
            message
                .split(" at line ")
                .next()
                .unwrap_or(esc_value::DECODE_ERROR_PREFIX)
        }
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

fn status_error(
    step: Step,
    env: &EnvironmentRef,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> EscError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    // The OAuth endpoint says `{"error": "invalid_grant", "error_description": "..."}`.
    let oauth = match (&parsed.error, &parsed.error_description) {
        (Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (Some(e), None) => Some(e.clone()),
        (None, Some(d)) => Some(d.clone()),
        (None, None) => None,
    };
    let message = parsed
        .message
        .as_deref()
        .or(oauth.as_deref())
        .map(|m| sanitize(m, 300))
        .filter(|m| !m.is_empty());
    let diagnostics = parsed
        .diagnostics
        .iter()
        .take(5)
        .map(|d| match &d.path {
            Some(path) if !path.is_empty() => sanitize(&format!("{path}: {}", d.summary), 200),
            _ => sanitize(&d.summary, 200),
        })
        .collect();
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| sanitize(v, 100))
            .filter(|v| !v.is_empty())
    };
    let request_id = if status.is_server_error() {
        header_text("x-pulumi-request-id")
    } else {
        None
    };
    let retry_after = header_text("retry-after").and_then(|v| retry_after(&v, now));
    let kind = ErrorKind::Status {
        status,
        message,
        diagnostics,
        request_id,
        retry_after,
    };
    EscError::new(step, env, kind)
}

/// `Retry-After`: a number of seconds, or an HTTP date (a date already past means now); at
/// most [`MAX_RETRY_AFTER`].
fn retry_after(text: &str, now: SystemTime) -> Option<Duration> {
    let wait = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(text).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }

    #[test]
    fn a_huge_retry_after_is_capped_rather_than_overflowing_the_clock() {
        let now = SystemTime::now();
        for text in [
            "18446744073709551615",
            "9223372036854775807",
            "4000000000",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            let wait = retry_after(text, now).unwrap();
            assert_eq!(wait, MAX_RETRY_AFTER, "{text}");
            assert!(Instant::now().checked_add(wait).is_some());
        }
    }
}
