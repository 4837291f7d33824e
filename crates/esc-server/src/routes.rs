//! The HTTP surface: the reading endpoints of `esc-openapi.yaml`, under `/api/esc`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Extension;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use esc_path::{PropertyPath, Quoted};
use serde::Deserialize;

use crate::Inner;
use crate::auth::{Auth, Caller, require_token};
use crate::error::ApiError;
use crate::evaluate::{self, Mode};
use crate::names;
use crate::sessions::OpenError;
use crate::store::{LATEST, Revision};
use crate::wire::{self, Opened};
use esc_eval::{Data, Value};

type Shared = State<Arc<Inner>>;
type Reply<T> = Result<T, ApiError>;

pub(crate) fn router(inner: Arc<Inner>, auth: Arc<Auth>) -> Router {
    let env = "/environments/{org}/{project}/{env}";
    let api = Router::new()
        .route("/environments", get(list_all))
        .route("/environments/{org}", get(list))
        .route("/environments/{org}/yaml/check", post(check))
        .route(env, get(definition))
        .route(&format!("{env}/decrypt"), get(definition))
        .route(&format!("{env}/versions"), get(revisions))
        .route(&format!("{env}/versions/tags"), get(revision_tags))
        .route(&format!("{env}/versions/tags/{{tag}}"), get(revision_tag))
        .route(&format!("{env}/versions/{{version}}"), get(definition))
        .route(&format!("{env}/versions/{{version}}/open"), post(open))
        .route(&format!("{env}/open"), post(open))
        .route(&format!("{env}/open/{{id}}"), get(read))
        // The spec (and the SDKs generated from it) read one property at `open//{id}`.
        .route(&format!("{env}/open//{{id}}"), get(read))
        .route(&format!("{env}/tags"), get(environment_tags))
        .route(&format!("{env}/tags/{{tag}}"), get(environment_tag))
        .route_layer(from_fn_with_state(Arc::clone(&auth), require_token))
        .route_layer(from_fn(log_request))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Arc::clone(&inner));
    // The signed-in user, which the `esc` CLI asks for at login (and again every hour).
    let user = Router::new()
        .route("/api/user", get(current_user))
        .route("/api/user/organizations/default", get(default_organization))
        .route_layer(from_fn_with_state(auth, require_token))
        .route_layer(from_fn(log_request))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Arc::clone(&inner));
    // Pulumi Cloud's OAuth endpoint sits outside /api/esc and takes no Authorization header.
    let oauth = Router::new()
        .route("/api/oauth/token", post(crate::oidc::handler))
        .route_layer(from_fn(log_request))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(inner);
    Router::new()
        .nest("/api/esc", api)
        .merge(user)
        .merge(oauth)
        .fallback(not_found)
}

/// Method, route template, status and time: never the raw path (it holds session ids), the
/// query or the headers.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |m| m.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        route,
        status = response.status().as_u16(),
        ms = start.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// A request no route serves: a write (the API's writes are POST, PUT, PATCH and DELETE
/// under paths the server does not serve for reading, such as `.../rotate`) is told the
/// server is read-only; anything else is not found.
async fn not_found(method: axum::http::Method) -> ApiError {
    if is_write(&method) {
        return read_only(&method);
    }
    ApiError::not_found("Not Found")
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    if is_write(&method) {
        return read_only(&method);
    }
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

fn is_write(method: &axum::http::Method) -> bool {
    use axum::http::Method;
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// The answer to every write (`esc env init`, `set`, `edit`, `rm`, `tag`, `version tag`,
/// `rotate`...): the API's error body, with a message a CLI user can act on.
fn read_only(method: &axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "this esc-server is read-only: {method} requests are not served; change an \
             environment by editing its file in the server's folder"
        ),
    )
}

/// The organization the server's user belongs to: the one it serves, else the user's own.
fn default_org(inner: &Inner) -> String {
    inner
        .config
        .organization
        .clone()
        .unwrap_or_else(|| inner.config.user.clone())
}

/// `GET /api/user`: the local user, a member of the default organization.
async fn current_user(State(inner): Shared, caller: Option<Extension<Caller>>) -> Response {
    let user = user_of(&inner, caller);
    let org = default_org(&inner);
    Json(serde_json::json!({
        "id": user,
        "githubLogin": user,
        "name": user,
        "email": "",
        "avatarUrl": "",
        "organizations": [{"githubLogin": org, "name": org, "avatarUrl": ""}],
        "identities": [],
    }))
    .into_response()
}

/// `GET /api/user/organizations/default`.
async fn default_organization(State(inner): Shared) -> Response {
    Json(serde_json::json!({"gitHubLogin": default_org(&inner), "messages": []})).into_response()
}

/// `GET /api/esc/environments`: every environment of every organization the user sees, here
/// those of the default organization; one page, so no `nextToken` (the CLI stops on "").
async fn list_all(State(inner): Shared) -> Reply<Response> {
    let org = default_org(&inner);
    environments_of(inner, org).await
}

/// The path parameters of every route; each route fills the ones it has.
#[derive(Debug, Deserialize)]
struct Params {
    org: String,
    project: Option<String>,
    env: Option<String>,
    version: Option<String>,
    id: Option<String>,
    tag: Option<String>,
}

impl Params {
    fn project(&self) -> &str {
        self.project.as_deref().unwrap_or_default()
    }

    fn env(&self) -> &str {
        self.env.as_deref().unwrap_or_default()
    }

    /// `org/project/env`.
    fn full_name(&self) -> String {
        format!("{}/{}/{}", self.org, self.project(), self.env())
    }
}

fn params(inner: &Inner, path: Result<Path<Params>, PathRejection>) -> Reply<Params> {
    let Path(params) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    names::check("organization", &params.org).map_err(ApiError::bad_request)?;
    if let Some(served) = &inner.config.organization
        && *served != params.org
    {
        return Err(ApiError::not_found(format!(
            "organization {} not found (this server serves {served})",
            params.org
        )));
    }
    Ok(params)
}

/// Runs store and evaluator work (file reads, CPU) off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Reply<T> + Send + 'static) -> Reply<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::internal("the request handler panicked"))?
}

/// Runs an evaluation or a session read (CPU and up to about a hundred MiB each) on a blocking
/// thread, at most `max_evaluations` at once: the rest wait for a slot up to
/// `evaluation_wait`, then are told to retry (429), so that concurrent requests cannot
/// multiply the server's peak memory.
async fn evaluating<T: Send + 'static>(
    inner: &Inner,
    work: impl FnOnce() -> Reply<T> + Send + 'static,
) -> Reply<T> {
    let slots = Arc::clone(&inner.evaluations);
    let wait = inner.config.evaluation_wait;
    let permit = match tokio::time::timeout(wait, slots.acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) => return Err(ApiError::internal("the evaluation slots are closed")),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "the server is busy: {} evaluations are running and none finished within \
                     {}s; retry later",
                    inner.config.max_evaluations,
                    wait.as_secs_f64()
                ),
            ));
        }
    };
    blocking(move || {
        let _permit = permit;
        work()
    })
    .await
}

fn timestamp(t: jiff::Timestamp) -> String {
    t.to_string()
}

async fn list(State(inner): Shared, path: Result<Path<Params>, PathRejection>) -> Reply<Response> {
    let params = params(&inner, path)?;
    environments_of(inner, params.org).await
}

/// Every environment of the folder, listed as `organization`'s.
async fn environments_of(inner: Arc<Inner>, organization: String) -> Reply<Response> {
    let listed = blocking(move || Ok(inner.store.list()?)).await?;
    let environments = listed
        .into_iter()
        .map(|l| wire::OrgEnvironment {
            organization: organization.clone(),
            project: l.project,
            name: l.name,
            created: timestamp(l.created),
            modified: timestamp(l.modified),
        })
        .collect();
    Ok(Json(wire::OrgEnvironments { environments }).into_response())
}

/// The definition, latest or at `versions/{version}`, as YAML with its revision headers.
async fn definition(
    State(inner): Shared,
    path: Result<Path<Params>, PathRejection>,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    let revision = blocking(move || revision(&inner, &params)).await?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-yaml"),
        ),
        (header::ETAG, header_value(&revision.etag)),
        (
            HeaderName::from_static("pulumi-esc-revision"),
            HeaderValue::from(revision.number),
        ),
    ];
    Ok((headers, Bytes::from_owner(revision.content)).into_response())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

fn revision(inner: &Inner, params: &Params) -> Reply<Revision> {
    let (project, env) = (params.project(), params.env());
    Ok(match &params.version {
        Some(version) => inner.store.version(project, env, version)?,
        None => inner.store.current(project, env)?,
    })
}

#[derive(Debug, Deserialize)]
struct OpenQuery {
    duration: Option<String>,
}

/// The user definitions see: an exchanged personal token's, else the configured one.
fn user_of(inner: &Inner, caller: Option<Extension<Caller>>) -> String {
    caller
        .and_then(|Extension(c)| c.user)
        .unwrap_or_else(|| inner.config.user.clone())
}

async fn open(
    State(inner): Shared,
    caller: Option<Extension<Caller>>,
    path: Result<Path<Params>, PathRejection>,
    query: Result<Query<OpenQuery>, QueryRejection>,
) -> Reply<Response> {
    let user = user_of(&inner, caller);
    let params = params(&inner, path)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let duration = open_duration(&inner, query.duration.as_deref())?;
    let copy = Arc::clone(&inner);
    let id = evaluating(&copy, move || {
        let revision = revision(&inner, &params)?;
        let name = format!("{}/{}", params.project(), params.env());
        let user = &user;
        let evaluation = evaluate::run(
            &inner.store,
            user,
            &params.org,
            &name,
            &revision.content,
            Mode::Open,
        );
        let properties = match evaluation.properties {
            Some(properties) if !evaluation.has_errors() => properties,
            _ => return Err(failed(&name, &evaluation.diagnostics)),
        };
        let exprs = wire::exprs(&esc_eval::load(&name, &revision.content).0, &properties);
        let opened = Opened {
            properties,
            execution_context: evaluate::context(user, &params.org),
            exprs,
        };
        inner
            .sessions
            .open(params.full_name(), duration, opened)
            .map_err(|e| match e {
                OpenError::Random => ApiError::internal(e.to_string()),
                OpenError::TooLarge { .. } => {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
                }
            })
    })
    .await?;
    Ok(Json(wire::OpenEnvironment { id }).into_response())
}

fn open_duration(inner: &Inner, text: Option<&str>) -> Reply<Duration> {
    let Some(text) = text else {
        return Ok(inner.config.default_open_duration);
    };
    let duration = esc_gotext::parse_duration(text).map_err(ApiError::bad_request)?;
    let max = inner.config.max_open_duration;
    if duration.is_zero() || duration > max {
        return Err(ApiError::bad_request(format!(
            "duration {text:?} is out of range: it must be more than 0 and at most {}s",
            max.as_secs(),
            text = Quoted(text)
        )));
    }
    Ok(duration)
}

/// A 400 carrying the evaluation's diagnostics.
fn failed(name: &str, diagnostics: &[esc_eval::Diagnostic]) -> ApiError {
    let mut error = ApiError::bad_request(format!("environment {name} has errors"));
    error.diagnostics = diagnostics.iter().map(wire::Diagnostic::from).collect();
    error
}

#[derive(Debug, Deserialize)]
struct ReadQuery {
    property: Option<String>,
}

async fn read(
    State(inner): Shared,
    path: Result<Path<Params>, PathRejection>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = params.id.as_deref().unwrap_or_default();
    let Some(opened) = inner.sessions.get(id, &params.full_name()) else {
        return Err(ApiError::not_found(format!(
            "open session not found for environment {}: it expired or was never opened",
            params.full_name()
        )));
    };
    // An opened environment may be tens of MiB (see esc-eval's budgets): copying and
    // encoding it is work for a blocking thread, not the async runtime, and counts as an
    // evaluation against the concurrency limit.
    let copy = Arc::clone(&inner);
    evaluating(&copy, move || {
        let Some(property) = query.property else {
            let environment = wire::Environment {
                properties: &opened.properties,
                execution_context: wire::ExecutionContext {
                    properties: &opened.execution_context,
                },
                diagnostics: None,
                exprs: Some(&opened.exprs),
            };
            return Ok(Json(environment).into_response());
        };
        let path = PropertyPath::parse(&property)
            .map_err(|e| ApiError::bad_request(format!("invalid property path: {e}")))?;
        let root = Value::new(Data::Object(opened.properties.clone()));
        let resolved = path.resolve(&root).map_err(|e| {
            ApiError::not_found(format!("property {} not found: {e}", Quoted(&property)))
        })?;
        let mut node = resolved.value.into_owned();
        node.secret |= resolved.under_secret;
        Ok(Json(node.wire()).into_response())
    })
    .await
}

async fn check(
    State(inner): Shared,
    caller: Option<Extension<Caller>>,
    path: Result<Path<Params>, PathRejection>,
    body: Bytes,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    let user = user_of(&inner, caller);
    let copy = Arc::clone(&inner);
    evaluating(&copy, move || {
        let user = &user;
        let evaluation = evaluate::run(
            &inner.store,
            user,
            &params.org,
            "<yaml>",
            &body,
            Mode::Check,
        );
        if evaluation.has_errors() {
            return Err(failed("<yaml>", &evaluation.diagnostics));
        }
        let properties = evaluation.properties.clone().unwrap_or_default();
        let context = evaluate::context(user, &params.org);
        let exprs = wire::exprs(&esc_eval::load("<yaml>", &body).0, &properties);
        let environment = wire::Environment {
            properties: &properties,
            execution_context: wire::ExecutionContext {
                properties: &context,
            },
            diagnostics: Some(evaluation.diagnostics.iter().map(Into::into).collect()),
            exprs: Some(&exprs),
        };
        Ok(Json(environment).into_response())
    })
    .await
}

/// The paging of the revision and tag lists, as the API defines it.
#[derive(Debug, Deserialize)]
struct PageQuery {
    /// Revisions: only those numbered below this (0: from the latest).
    before: Option<u64>,
    /// Tags: only those named after this.
    after: Option<String>,
    /// At most this many.
    count: Option<usize>,
}

fn page_query(query: Result<Query<PageQuery>, QueryRejection>) -> Reply<PageQuery> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(q)
}

/// Newest first, numbered below `before` (when not 0), at most `count`. The `esc` CLI pages
/// with `before` set to the last number it got and stops at an empty page.
async fn revisions(
    State(inner): Shared,
    path: Result<Path<Params>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    let page = page_query(query)?;
    let user = inner.config.user.clone();
    let held = blocking(move || Ok(inner.store.revisions(params.project(), params.env())?)).await?;
    let latest = held.first().map_or(0, |r| r.number);
    let list: Vec<_> = held
        .iter()
        .filter(|r| page.before.is_none_or(|b| b == 0 || r.number < b))
        .take(page.count.unwrap_or(usize::MAX))
        .map(|r| wire::EnvironmentRevision {
            number: r.number,
            created: timestamp(r.created),
            creator_login: user.clone(),
            creator_name: user.clone(),
            tags: if r.number == latest {
                vec![LATEST.to_owned()]
            } else {
                Vec::new()
            },
        })
        .collect();
    Ok(Json(list).into_response())
}

fn latest_tag(inner: &Inner, revision: &Revision) -> wire::EnvironmentRevisionTag {
    wire::EnvironmentRevisionTag {
        revision: revision.number,
        name: LATEST.to_owned(),
        created: timestamp(revision.created),
        modified: timestamp(revision.created),
        editor_login: inner.config.user.clone(),
        editor_name: inner.config.user.clone(),
    }
}

/// Sorted by name, named after `after`, at most `count`; the CLI stops at an empty page.
async fn revision_tags(
    State(inner): Shared,
    path: Result<Path<Params>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    let page = page_query(query)?;
    let copy = Arc::clone(&inner);
    let current = blocking(move || Ok(copy.store.current(params.project(), params.env())?)).await?;
    let tags = vec![latest_tag(&inner, &current)]
        .into_iter()
        .filter(|t| page.after.as_deref().is_none_or(|a| t.name.as_str() > a))
        .take(page.count.unwrap_or(usize::MAX))
        .collect();
    Ok(Json(wire::EnvironmentRevisionTags { tags }).into_response())
}

async fn revision_tag(
    State(inner): Shared,
    path: Result<Path<Params>, PathRejection>,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    let tag = params.tag.clone().unwrap_or_default();
    let copy = Arc::clone(&inner);
    let current = blocking(move || Ok(copy.store.current(params.project(), params.env())?)).await?;
    if tag != LATEST {
        return Err(ApiError::not_found(format!(
            "revision tag {tag:?} not found; the only tag is {LATEST:?}",
            tag = Quoted(&tag)
        )));
    }
    Ok(Json(latest_tag(&inner, &current)).into_response())
}

/// Environment tags (key/value labels) are not kept locally: always none, and the list
/// ends with `"nextToken": "0"`, the end marker the `esc` CLI waits for.
async fn environment_tags(
    State(inner): Shared,
    path: Result<Path<Params>, PathRejection>,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    blocking(move || Ok(inner.store.current(params.project(), params.env())?)).await?;
    let body = serde_json::json!({"tags": {}, "nextToken": "0"});
    Ok(Json(body).into_response())
}

async fn environment_tag(
    State(inner): Shared,
    path: Result<Path<Params>, PathRejection>,
) -> Reply<Response> {
    let params = params(&inner, path)?;
    let tag = params.tag.clone().unwrap_or_default();
    blocking(move || Ok(inner.store.current(params.project(), params.env())?)).await?;
    Err(ApiError::not_found(format!(
        "environment tag {tag:?} not found; a local esc-server keeps no environment tags",
        tag = Quoted(&tag)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(max_evaluations: usize, wait: Duration) -> (tempfile::TempDir, crate::EscServer) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::Config::new(dir.path());
        config.max_evaluations = max_evaluations;
        config.evaluation_wait = wait;
        let server = crate::EscServer::new(config).unwrap();
        (dir, server)
    }

    /// Starts an evaluation that holds its slot until the returned sender sends, and waits
    /// until it runs; it returns 1.
    async fn hold_a_slot(
        inner: &Arc<Inner>,
    ) -> (
        tokio::task::JoinHandle<Reply<i32>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (started, running) = tokio::sync::oneshot::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let inner = Arc::clone(inner);
            async move {
                evaluating(&inner, move || {
                    let _ = started.send(());
                    let _ = held.recv();
                    Ok(1)
                })
                .await
            }
        });
        running.await.unwrap();
        (first, release)
    }

    #[tokio::test]
    async fn past_the_evaluation_limit_a_request_waits_for_a_slot_then_is_told_to_retry() {
        let (_dir, server) = server(1, Duration::from_millis(50));
        let inner = Arc::clone(&server.inner);
        let (first, release) = hold_a_slot(&inner).await;
        let error = evaluating(&inner, || Ok(2)).await.unwrap_err();
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            error.message.starts_with("the server is busy"),
            "{}",
            error.message
        );
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        // The slot came back.
        assert_eq!(evaluating(&inner, || Ok(3)).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_waiting_request_runs_when_a_slot_frees_within_its_wait() {
        let (_dir, server) = server(1, Duration::from_secs(30));
        let inner = Arc::clone(&server.inner);
        let (first, release) = hold_a_slot(&inner).await;
        let second = tokio::spawn({
            let inner = Arc::clone(&inner);
            async move { evaluating(&inner, || Ok(2)).await }
        });
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        assert_eq!(second.await.unwrap().unwrap(), 2);
    }
}
