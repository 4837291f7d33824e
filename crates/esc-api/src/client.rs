//! The HTTP client: one shared connection pool, the caller's deadline on every call, bounded
//! reply sizes, no redirects (a redirect must never carry the token to another host), retries
//! of transient failures (see [`RetryPolicy`]) and a per-origin limit of calls in flight.

use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use url::Url;

use crate::error::ErrorKind;
use crate::error::sanitize;
use crate::limit::Limiter;
use crate::oauth::{ExchangedToken, TokenExchange, form_body, token_endpoint};
use crate::observe::Observer;
use crate::retry::RetryPolicy;
use crate::wire::{Environment, ErrorBody, OpenEnvironment, TokenExchangeGrant};
use crate::{EnvironmentRef, EscError, Step, Value};

/// Settings for [`EscClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Sent as `User-Agent`.
    pub user_agent: String,
    /// The largest reply accepted, in bytes.
    pub max_response_bytes: usize,
    /// `duration` of the open session; `None` leaves the server's default (1h).
    pub open_duration: Option<String>,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// Calls in flight at once per API origin (scheme, host, port); 0 for no limit.
    pub max_concurrent_requests: usize,
    /// The longest one HTTP call may take before it is abandoned and, if the deadline allows,
    /// tried again: a connection that went silent must not hold a mount until its deadline.
    pub attempt_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            user_agent: concat!("esc-csi/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: 32 << 20,
            open_duration: None,
            retry: RetryPolicy::default(),
            max_concurrent_requests: 32,
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

/// A client for any number of ESC API bases; cheap to clone (clones share the connection
/// pool and the concurrency limit).
#[derive(Debug, Clone)]
pub struct EscClient {
    http: reqwest::Client,
    options: ClientOptions,
    limiter: Arc<Limiter>,
    observer: Option<Arc<dyn Observer>>,
}

static CRYPTO: Once = Once::new();

impl EscClient {
    pub fn new(options: ClientOptions) -> Result<Self, reqwest::Error> {
        CRYPTO.call_once(|| {
            // Another component may have installed one first; either is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let http = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(10))
            // A pooled connection whose peer vanished (a NAT or load balancer dropped it
            // without a reset) is found out by a ping and closed, not reused.
            .tcp_keepalive(Duration::from_secs(30))
            .http2_keep_alive_interval(Duration::from_secs(10))
            .http2_keep_alive_timeout(Duration::from_secs(5))
            .http2_keep_alive_while_idle(true)
            .build()?;
        let limiter = Arc::new(Limiter::new(options.max_concurrent_requests));
        Ok(EscClient {
            http,
            options,
            limiter,
            observer: None,
        })
    }

    /// Reports every HTTP call and retry to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Opens `env` and reads all of it: exactly two calls, both bounded by `deadline`.
    pub async fn open_and_read(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        deadline: Instant,
    ) -> Result<Value, EscError> {
        let session = self.open(api, env, token, deadline).await?;
        self.read(api, env, &session, token, deadline).await
    }

    /// `POST .../open` (or `.../versions/{v}/open`): returns the session id.
    pub async fn open(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        deadline: Instant,
    ) -> Result<String, EscError> {
        let mut segments = vec![
            "environments",
            &env.organization,
            &env.project,
            &env.environment,
        ];
        if let Some(version) = &env.version {
            segments.extend(["versions", version]);
        }
        segments.push("open");
        let mut url = endpoint(Step::Open, api, env, &segments)?;
        if let Some(duration) = &self.options.open_duration {
            url.query_pairs_mut().append_pair("duration", duration);
        }
        let request = self.http.post(url).headers(auth_headers(token));
        let open: OpenEnvironment = self.call(Step::Open, api, env, request, deadline).await?;
        Ok(open.id)
    }

    /// `GET .../open/{session}`: the whole environment as one object value.
    pub async fn read(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        session: &str,
        token: &SecretString,
        deadline: Instant,
    ) -> Result<Value, EscError> {
        let segments = [
            "environments",
            &env.organization,
            &env.project,
            &env.environment,
            "open",
            session,
        ];
        let url = endpoint(Step::Read, api, env, &segments)?;
        let request = self.http.get(url).headers(auth_headers(token));
        let read: Environment = self.call(Step::Read, api, env, request, deadline).await?;
        Ok(Value::new(crate::Data::Object(read.properties)))
    }

    /// `POST <host>/api/oauth/token`: trades `subject_token` (an OIDC identity token) for a
    /// Pulumi access token. One call, bounded by `deadline`; `env` is the environment the token
    /// is for, named in errors. Neither token appears in any error or log.
    pub async fn exchange_token(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        request: &TokenExchange,
        subject_token: &SecretString,
        deadline: Instant,
    ) -> Result<ExchangedToken, EscError> {
        let url = token_endpoint(api).ok_or_else(|| {
            let kind = ErrorKind::BadApiUrl {
                api: api.to_string(),
                reason: "it has no host to send a token exchange to",
            };
            EscError::new(Step::Exchange, env, kind)
        })?;
        let request = self
            .http
            .post(url)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(request, subject_token).expose_secret().to_owned());
        let grant: TokenExchangeGrant = self
            .call(Step::Exchange, api, env, request, deadline)
            .await?;
        if grant.access_token.expose_secret().trim().is_empty() {
            let kind = ErrorKind::Decode {
                detail: "the token endpoint returned an empty access_token".to_owned(),
            };
            return Err(EscError::new(Step::Exchange, env, kind));
        }
        Ok(ExchangedToken {
            token: grant.access_token,
            expires_in: grant.expires_in.map(Duration::from_secs),
            issued_token_type: grant.issued_token_type,
        })
    }

    /// One call, tried again after transient failures while the policy and the deadline allow.
    /// A wait that would end past the deadline is not started: the last error is returned at
    /// once instead, so the caller learns why (a 429's message, say) rather than timing out.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        step: Step,
        api: &Url,
        env: &EnvironmentRef,
        request: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<T, EscError> {
        let policy = &self.options.retry;
        let mut retry = 0;
        loop {
            let error = match self
                .attempt(step, api, env, request.try_clone(), deadline)
                .await
            {
                Ok(reply) => return Ok(reply),
                Err(error) => error,
            };
            if !error.is_transient() || retry + 1 >= policy.max_attempts {
                return Err(error);
            }
            let wait = error.retry_after().unwrap_or_else(|| policy.backoff(retry));
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            tracing::debug!(
                endpoint = step.endpoint(),
                environment = %env,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "retrying a transient ESC failure"
            );
            if let Some(observer) = &self.observer {
                observer.retry(step.endpoint());
            }
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// One HTTP call: wait for a turn, send, read, decode; reported to the observer.
    async fn attempt<T: serde::de::DeserializeOwned>(
        &self,
        step: Step,
        api: &Url,
        env: &EnvironmentRef,
        request: Option<reqwest::RequestBuilder>,
        deadline: Instant,
    ) -> Result<T, EscError> {
        let Some(request) = request else {
            // Only streaming bodies cannot be cloned, and no call here has one.
            let kind = ErrorKind::BadApiUrl {
                api: api.to_string(),
                reason: "the request cannot be sent",
            };
            return Err(EscError::new(step, env, kind));
        };
        let Ok(_turn) = self.limiter.acquire(api, deadline).await else {
            return Err(EscError::deadline(step, env, api));
        };
        let started = Instant::now();
        let result = self
            .exchange(step, api, env, request, started, deadline)
            .await;
        let result = result.and_then(|body| decode(step, env, &body));
        if let Some(observer) = &self.observer {
            let status = match &result {
                Ok(_) => "200".to_owned(),
                Err(error) => match error.kind() {
                    ErrorKind::Status { status, .. } => status.as_u16().to_string(),
                    ErrorKind::Connect { .. } => "connect".to_owned(),
                    ErrorKind::Timeout { .. } | ErrorKind::Slow { .. } => "timeout".to_owned(),
                    ErrorKind::Decode { .. } => "decode".to_owned(),
                    ErrorKind::TooLarge { .. } => "too_large".to_owned(),
                    ErrorKind::BadApiUrl { .. } => "bad_url".to_owned(),
                },
            };
            observer.request(step.endpoint(), &status, started.elapsed());
        }
        result
    }

    async fn exchange(
        &self,
        step: Step,
        api: &Url,
        env: &EnvironmentRef,
        request: reqwest::RequestBuilder,
        started: Instant,
        deadline: Instant,
    ) -> Result<Vec<u8>, EscError> {
        let limit = self.options.max_response_bytes;
        let patience = self.options.attempt_timeout;
        let give_up = deadline.min(started + patience);
        let exchange = async {
            let response = request
                .send()
                .await
                .map_err(|e| connect_error(step, api, env, &e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_limited(response, limit)
                .await
                .map_err(|e| e.into_error(step, api, env, limit))?;
            Ok::<_, EscError>((status, headers, body))
        };
        let (status, headers, body) =
            tokio::time::timeout_at(give_up, exchange)
                .await
                .map_err(|_| {
                    let api = api.to_string();
                    let kind = if give_up < deadline {
                        ErrorKind::Slow {
                            api,
                            after: patience,
                        }
                    } else {
                        ErrorKind::Timeout { api }
                    };
                    EscError::new(step, env, kind)
                })??;
        if status.is_success() {
            return Ok(body);
        }
        Err(status_error(step, env, status, &headers, &body))
    }
}

fn auth_headers(token: &SecretString) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    if let Ok(mut value) = HeaderValue::from_str(&format!("token {}", token.expose_secret())) {
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }
    headers
}

/// `api` plus escaped path segments.
fn endpoint(
    step: Step,
    api: &Url,
    env: &EnvironmentRef,
    segments: &[&str],
) -> Result<Url, EscError> {
    let mut url = api.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut path = url.path_segments_mut().map_err(|()| {
            let kind = ErrorKind::BadApiUrl {
                api: api.to_string(),
                reason: "it cannot have a path",
            };
            EscError::new(step, env, kind)
        })?;
        path.pop_if_empty();
        path.extend(segments);
    }
    Ok(url)
}

fn decode<T: serde::de::DeserializeOwned>(
    step: Step,
    env: &EnvironmentRef,
    body: &[u8],
) -> Result<T, EscError> {
    serde_json::from_slice(body).map_err(|e| {
        let kind = ErrorKind::Decode {
            // serde's own message can quote the offending input, which may be a secret: say only
            // what kind of problem it was and where.
            detail: format!(
                "{} at line {} column {}",
                match e.classify() {
                    serde_json::error::Category::Io => "read error",
                    serde_json::error::Category::Syntax => "invalid JSON",
                    serde_json::error::Category::Data => "unexpected JSON shape",
                    serde_json::error::Category::Eof => "truncated JSON",
                },
                e.line(),
                e.column()
            ),
        };
        EscError::new(step, env, kind)
    })
}

fn status_error(
    step: Step,
    env: &EnvironmentRef,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
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
    let retry_after = header_text("retry-after").and_then(|v| retry_after(&v, SystemTime::now()));
    let kind = ErrorKind::Status {
        status,
        message,
        diagnostics,
        request_id,
        retry_after,
    };
    EscError::new(step, env, kind)
}

/// `Retry-After`: a number of seconds, or an HTTP date (a date already past means now).
fn retry_after(text: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn connect_error(step: Step, api: &Url, env: &EnvironmentRef, error: &reqwest::Error) -> EscError {
    // The innermost cause says what actually failed (refused, DNS, certificate). reqwest's own
    // text is not used: it quotes the URL, which holds the session id.
    let mut detail = None;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = Some(cause.to_string());
        source = cause.source();
    }
    let detail = detail.unwrap_or_else(|| {
        if error.is_timeout() {
            "timed out".to_owned()
        } else if error.is_body() || error.is_decode() {
            "the connection broke while reading the reply".to_owned()
        } else {
            "the request failed".to_owned()
        }
    });
    let kind = ErrorKind::Connect {
        api: api.to_string(),
        detail: sanitize(&detail, 300),
    };
    EscError::new(step, env, kind)
}

enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

impl BodyError {
    fn into_error(self, step: Step, api: &Url, env: &EnvironmentRef, limit: usize) -> EscError {
        match self {
            BodyError::TooLarge => EscError::new(step, env, ErrorKind::TooLarge { limit }),
            BodyError::Transport(e) => connect_error(step, api, env, &e),
        }
    }
}

async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
