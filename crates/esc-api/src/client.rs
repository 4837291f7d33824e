//! The HTTP client: one shared connection pool, the caller's deadline on every call, bounded
//! reply sizes, no redirects (a redirect must never carry the token to another host), retries
//! of transient failures (see [`RetryPolicy`]) and a per-origin limit of calls in flight.

use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, header};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use url::Url;

use crate::error::ErrorKind;
use crate::error::sanitize;
use crate::limit::Limiter;
use crate::memory_budget::{MemoryBudget, Reservation};
use crate::oauth::{ExchangedToken, TokenExchange, form_body, token_endpoint};
use crate::observe::Observer;
use crate::reply::{MAX_TOKEN_LIFETIME, decode_cost, judge, next_wait, reply_weight, tree_cost};
use crate::retry::RetryPolicy;
use crate::wire::{Environment, OpenEnvironment, TokenExchangeGrant};
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
    /// The most values a reply may keep once decoded, counted by the reader as it builds them
    /// (an ESC reply's traces and wrappers are not kept, so not counted); past it the reply is
    /// refused. Other replies count every JSON value of their text before they are decoded.
    /// 0 for no limit.
    pub max_reply_values: usize,
    /// Shared by every mount on the node: a reply's body, then its decoding, reserve their
    /// bytes here first (see [`MemoryBudget`]). `None` for no bound.
    pub memory: Option<Arc<MemoryBudget>>,
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
            max_reply_values: 200_000,
            memory: None,
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

    /// [`EscClient::open_and_read`], with the memory reserved for the reply and its decoded
    /// tree added to `held` rather than released: the tree is charged to the node-wide budget
    /// for as long as the caller keeps `held` (a mount, until its response is sent).
    pub async fn open_and_read_held(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        deadline: Instant,
        held: &mut Reservation,
    ) -> Result<Value, EscError> {
        let session = self.open(api, env, token, deadline).await?;
        let (value, reserved) = self
            .read_reserved(api, env, &session, token, deadline)
            .await?;
        if let Some(reserved) = reserved {
            held.absorb(reserved);
        }
        Ok(value)
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
        let (value, _released) = self
            .read_reserved(api, env, session, token, deadline)
            .await?;
        Ok(value)
    }

    /// [`EscClient::read`], and the memory reserved for the reply (its body and decoded tree).
    async fn read_reserved(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        session: &str,
        token: &SecretString,
        deadline: Instant,
    ) -> Result<(Value, Option<Reservation>), EscError> {
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
        let (read, reserved): (Environment, _) = self
            .call_reserved(Step::Read, api, env, request, deadline)
            .await?;
        Ok((Value::new(crate::Data::Object(read.properties)), reserved))
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
            expires_in: grant
                .expires_in
                .map(|s| Duration::from_secs(s).min(MAX_TOKEN_LIFETIME)),
            issued_token_type: grant.issued_token_type,
        })
    }

    /// One call, tried again after transient failures while the policy and the deadline allow.
    /// A wait that would end past the deadline is not started: the last error is returned at
    /// once instead, so the caller learns why (a 429's message, say) rather than timing out.
    async fn call<T: crate::reply::Reply + Send + 'static>(
        &self,
        step: Step,
        api: &Url,
        env: &EnvironmentRef,
        request: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<T, EscError> {
        let (reply, _released) = self
            .call_reserved(step, api, env, request, deadline)
            .await?;
        Ok(reply)
    }

    /// [`EscClient::call`], and the memory reserved for the successful attempt's reply.
    async fn call_reserved<T: crate::reply::Reply + Send + 'static>(
        &self,
        step: Step,
        api: &Url,
        env: &EnvironmentRef,
        request: reqwest::RequestBuilder,
        deadline: Instant,
    ) -> Result<(T, Option<Reservation>), EscError> {
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
            let Some(wait) = next_wait(&error, policy, retry, Instant::now(), deadline) else {
                return Err(error);
            };
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
    async fn attempt<T: crate::reply::Reply + Send + 'static>(
        &self,
        step: Step,
        api: &Url,
        env: &EnvironmentRef,
        request: Option<reqwest::RequestBuilder>,
        deadline: Instant,
    ) -> Result<(T, Option<Reservation>), EscError> {
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
        let mut reserved = self.options.memory.as_ref().map(|m| m.empty());
        let result = self
            .exchange(
                step,
                api,
                env,
                request,
                started,
                deadline,
                reserved.as_mut(),
            )
            .await;
        if let Some(observer) = &self.observer {
            let status = match &result {
                Ok(_) => "200".to_owned(),
                Err(error) => match error.kind() {
                    ErrorKind::Status { status, .. } => status.as_u16().to_string(),
                    ErrorKind::Connect { .. } => "connect".to_owned(),
                    ErrorKind::Timeout { .. } | ErrorKind::Slow { .. } => "timeout".to_owned(),
                    ErrorKind::Decode { .. } => "decode".to_owned(),
                    ErrorKind::TooLarge { .. } | ErrorKind::TooManyValues { .. } => {
                        "too_large".to_owned()
                    }
                    ErrorKind::Memory(_) => "memory".to_owned(),
                    ErrorKind::BadApiUrl { .. } => "bad_url".to_owned(),
                },
            };
            observer.request(step.endpoint(), &status, started.elapsed());
        }
        result.map(|reply| (reply, reserved))
    }

    #[allow(clippy::too_many_arguments)]
    async fn exchange<T: crate::reply::Reply + Send + 'static>(
        &self,
        step: Step,
        api: &Url,
        env: &EnvironmentRef,
        request: reqwest::RequestBuilder,
        started: Instant,
        deadline: Instant,
        mut reserved: Option<&mut Reservation>,
    ) -> Result<T, EscError> {
        let limit = self.options.max_response_bytes;
        let patience = self.options.attempt_timeout;
        let give_up = started
            .checked_add(patience)
            .map_or(deadline, |t| deadline.min(t));
        let exchange = async {
            let response = request
                .send()
                .await
                .map_err(|e| connect_error(step, api, env, &e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_limited(response, limit, reserved.as_deref_mut(), deadline)
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
        let max_values = self.options.max_reply_values;
        let body_len = body.len();
        if let Some(reserved) = reserved.as_deref_mut() {
            let most = if max_values == 0 {
                usize::MAX
            } else {
                max_values
            };
            // The reader keeps at most `most` values, and never more than the text holds: the
            // decoding's peak is reserved before it starts.
            let values = reply_weight(&body, most).min(most);
            let extra = decode_cost(body_len, values).saturating_sub(reserved.bytes());
            reserved
                .grow(extra, deadline)
                .await
                .map_err(|e| EscError::new(step, env, ErrorKind::Memory(e)))?;
        }
        let reply: T = self
            .decode(step, env, status, headers, body, max_values)
            .await?;
        // Once decoded, the body is gone and the tree is what remains: keep only its charge.
        if let (Some(reserved), Some(values)) = (reserved, reply.values()) {
            reserved.shrink_to(tree_cost(body_len, values));
        }
        Ok(reply)
    }

    /// [`judge`]s a reply: inline when small, otherwise on a blocking thread (decoding a large
    /// body takes long enough to stall other requests).
    async fn decode<T: crate::reply::Reply + Send + 'static>(
        &self,
        step: Step,
        env: &EnvironmentRef,
        status: http::StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
        max_values: usize,
    ) -> Result<T, EscError> {
        if body.len() < BLOCKING_DECODE_BYTES {
            return judge(
                step,
                env,
                status,
                &headers,
                &body,
                max_values,
                SystemTime::now(),
            );
        }
        let env_owned = env.clone();
        tokio::task::spawn_blocking(move || {
            judge(
                step,
                &env_owned,
                status,
                &headers,
                &body,
                max_values,
                SystemTime::now(),
            )
        })
        .await
        .unwrap_or_else(|_| {
            let kind = ErrorKind::Decode {
                detail: "the decoding task failed".to_owned(),
            };
            Err(EscError::new(step, env, kind))
        })
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

/// Bodies at least this large are decoded on a blocking thread.
const BLOCKING_DECODE_BYTES: usize = 64 << 10;

/// The memory reserved for a body grows in steps of this many bytes.
const BODY_STEP: usize = 256 << 10;

enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
    Memory(crate::memory_budget::MemoryError),
}

impl BodyError {
    fn into_error(self, step: Step, api: &Url, env: &EnvironmentRef, limit: usize) -> EscError {
        match self {
            BodyError::TooLarge => EscError::new(step, env, ErrorKind::TooLarge { limit }),
            BodyError::Transport(e) => connect_error(step, api, env, &e),
            BodyError::Memory(e) => EscError::new(step, env, ErrorKind::Memory(e)),
        }
    }
}

async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    mut reserved: Option<&mut Reservation>,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // A declared length is reserved and allocated at once, never more than the limit.
    let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    if let Some(reserved) = reserved.as_deref_mut() {
        reserved
            .grow(declared, deadline)
            .await
            .map_err(BodyError::Memory)?;
    }
    let mut body = Vec::with_capacity(declared);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge);
        }
        if let Some(reserved) = reserved.as_deref_mut() {
            let needed = body.len() + chunk.len();
            if needed > reserved.bytes() {
                let step = (needed - reserved.bytes()).max(BODY_STEP);
                reserved
                    .grow(step, deadline)
                    .await
                    .map_err(BodyError::Memory)?;
            }
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
