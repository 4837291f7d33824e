//! A mount, start to finish: check the class, find the token, read the environment once,
//! render every item, version every file. All or nothing: one failing item fails the mount and
//! no file is returned.

pub mod budget;
pub mod version;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;

use crate::class::items::{Format, Item, ItemsMemo, Shape};
use crate::class::{Class, Settings};
use crate::credential::exchange::{ExchangeClient, TokenExchanger};
use crate::credential::{NodePublishSecretRef, SecretReader, credential};
use crate::error::MountError;
use crate::fetch::EnvironmentSource;
use crate::fetch::stale::{StaleOptions, StaleStore};
use crate::metrics::Metrics;
use crate::mount::budget::{Overflow, ResponseBudget};
use crate::mount::version::{PodVersions, VersionKey};
use crate::render::cost::file_bytes;
use crate::render::folder;
use crate::render::{ItemProblem, ItemProblemKind};
use crate::render::{RenderError, render};
use esc_api::Data;
use esc_api::reply::{VALUE_COST, count_json_values, reply_weight};
use esc_path::{PropertyPath, Quoted, Segment};

/// The driver's default file mode, 0644, used when the request has no permission.
pub const DEFAULT_PERMISSION: u32 = 0o644;

/// What a Mount request holds besides the class, decoded once by the adapter.
#[derive(Debug)]
pub struct MountInput {
    /// The volume's nodePublishSecretRef (the request's `secrets` field).
    pub node_publish: NodePublishSecretRef,
    /// The mode of files whose item sets none (the request's `permission`).
    pub default_mode: u32,
}

/// No nodePublishSecretRef, the driver's default mode.
impl Default for MountInput {
    fn default() -> Self {
        MountInput {
            node_publish: NodePublishSecretRef::default(),
            default_mode: DEFAULT_PERMISSION,
        }
    }
}

impl MountInput {
    /// Decodes the request's `secrets` and `permission` fields.
    pub fn decode(node_publish_json: &str, permission: &str) -> Result<MountInput, MountError> {
        Ok(MountInput {
            default_mode: parse_permission(permission)?,
            node_publish: NodePublishSecretRef::decode(node_publish_json),
        })
    }
}

/// File content. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Contents(pub Vec<u8>);

impl fmt::Debug for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// One file to hand to the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedFile {
    pub path: String,
    pub mode: u32,
    pub contents: Contents,
    pub version: String,
    /// The value was flagged secret in ESC.
    pub secret: bool,
}

/// Does mounts; shared by every request. Its seams: `S` where values come from, `R` where
/// auth Secrets are read, `X` where service-account tokens are exchanged. Put together, for
/// every caller, by the composition root.
#[derive(Debug)]
pub struct Mounter<S, R, X = esc_api::EscClient> {
    source: S,
    /// Reads the auth Secrets classes name (`authSecretName`).
    auth_secrets: R,
    settings: Settings,
    key: VersionKey,
    metrics: Arc<Metrics>,
    stale: Option<StaleStore>,
    /// Exchanges service-account tokens (workload identity) and caches the results.
    exchanger: TokenExchanger<X>,
    /// The classes' item lists already parsed.
    items: ItemsMemo,
}

impl<S: EnvironmentSource, R: SecretReader, X: ExchangeClient> Mounter<S, R, X> {
    pub fn new(
        source: S,
        auth_secrets: R,
        exchange: X,
        settings: Settings,
        key: VersionKey,
    ) -> Self {
        Mounter {
            source,
            auth_secrets,
            settings,
            key,
            metrics: Arc::default(),
            stale: None,
            exchanger: TokenExchanger::new(exchange),
            items: ItemsMemo::default(),
        }
    }

    /// Answers a re-mount from the pod's last good content when ESC is unreachable (see
    /// [`crate::fetch::stale`]).
    #[must_use]
    pub fn with_stale(mut self, options: &StaleOptions) -> Self {
        self.stale = Some(StaleStore::new(options));
        self
    }

    /// Records into `metrics` (by default, metrics registered nowhere).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Checks the request's attributes (see [`crate::class::parse_attributes`]); no I/O.
    pub fn plan(&self, attributes: &BTreeMap<String, String>) -> Result<Class, MountError> {
        let class = Class::from_attributes_in(attributes, &self.settings, &self.items);
        class.map_err(|problems| MountError::Class {
            class: attributes.get(crate::class::keys::CLASS_NAME).cloned(),
            problems,
        })
    }

    /// Mounts a planned class with the rest of the decoded request. Files are counted against
    /// `budget` as they render.
    pub async fn mount(
        &self,
        class: &Class,
        request: &MountInput,
        deadline: Instant,
        budget: &mut ResponseBudget,
    ) -> Result<Vec<MountedFile>, MountError> {
        let default_mode = request.default_mode;
        let credential = credential(
            class,
            &request.node_publish,
            &self.settings,
            &self.auth_secrets,
            &self.exchanger,
            &self.metrics,
            deadline,
        )
        .await?;
        let (api, env, token) = (&class.api_url, &class.environment, &credential.token);
        let pod_uid = class.pod.uid.as_deref().filter(|uid| !uid.is_empty());
        let fetched = self
            .source
            .fetch(api, env, token, deadline, budget.memory())
            .await;
        let root = match fetched {
            Ok(root) => root,
            Err(error) => {
                let stale = self
                    .stale
                    .as_ref()
                    .zip(pod_uid)
                    .and_then(|(stale, uid)| stale.recall(uid, api, env, token, &error));
                let Some((root, age)) = stale else {
                    return Err(MountError::Esc {
                        error,
                        origin: credential.origin.clone(),
                    });
                };
                tracing::warn!(
                    age_s = age.as_secs(),
                    error = %error,
                    "ESC is unreachable: answering this re-mount with the content last mounted \
                     for the pod"
                );
                self.metrics.stale_serve();
                return self
                    .render_all(class, &root, default_mode, budget, deadline)
                    .await;
            }
        };
        let files = self
            .render_all(class, &root, default_mode, budget, deadline)
            .await?;
        if let Some((stale, uid)) = self.stale.as_ref().zip(pod_uid) {
            stale.remember(uid, api, env, token, &root);
        }
        Ok(files)
    }

    /// Resolves and renders every item against the environment's values, counting each file
    /// against `budget` as it is rendered and stopping at the first that does not fit.
    pub async fn render_all(
        &self,
        class: &Class,
        root: &esc_api::Value,
        default_mode: u32,
        budget: &mut ResponseBudget,
        deadline: Instant,
    ) -> Result<Vec<MountedFile>, MountError> {
        let mut files = Vec::with_capacity(class.items.len());
        let mut problems = Vec::new();
        let pod = self.key.for_pod(
            class.pod.uid.as_deref().unwrap_or_default(),
            class.pod.namespace.as_deref().unwrap_or_default(),
        );
        for item in class.items.iter() {
            let overhead = file_bytes(&item.file_name, 0);
            let rendered = self
                .render_item(&pod, item, root, default_mode, budget, deadline)
                .await;
            match rendered {
                Ok(rendered) => files.extend(rendered),
                Err(Stop::TooLarge) => {
                    let past = budget
                        .remaining()
                        .saturating_add(1)
                        .saturating_add(overhead);
                    let overflow = budget.charge(past, deadline).await.err();
                    return Err(overflow.map_or(
                        MountError::TooLarge {
                            bytes: budget.used(),
                            limit: budget.limit(),
                        },
                        |o| overflow_error(o, item),
                    ));
                }
                Err(Stop::Overflow(overflow)) => return Err(overflow_error(overflow, item)),
                Err(Stop::ClassProblem(problem)) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(files)
        } else {
            Err(MountError::Items {
                environment: class.environment.clone(),
                problems,
            })
        }
    }

    /// The files of one item, each charged to `budget` (response bytes and memory) as it is
    /// made, so that at most one file is ever held uncharged.
    async fn render_item(
        &self,
        pod: &PodVersions,
        item: &Item,
        root: &esc_api::Value,
        default_mode: u32,
        budget: &mut ResponseBudget,
        deadline: Instant,
    ) -> Result<Vec<MountedFile>, Stop> {
        let mode = item.mode.unwrap_or(default_mode);
        let config = format!(
            "path={} format={} encoding={} mode={mode:o}",
            item.path, item.format, item.encoding
        );
        let out = ItemFiles {
            pod,
            item,
            mode,
            config,
        };
        if let Some(template) = &item.template {
            let (contents, secret) = template
                .render(root, &item.path, left(budget, &item.file_name)?)
                .map_err(|(path, kind)| out.problem(&path, kind))?;
            let config = format!("template={template:?} {}", out.config);
            let file = out.file(item.file_name.clone(), contents, secret, &config);
            charge(budget, &file, deadline).await?;
            return Ok(vec![file]);
        }
        let resolved = item
            .path
            .resolve(root)
            .map_err(|e| out.problem(&item.path, ItemProblemKind::Resolve(e)))?;
        let value = resolved.value.as_ref();
        if item.shape != Shape::File {
            return render_folder(&out, value, resolved.under_secret, budget, deadline).await;
        }
        let limit = left(budget, &item.file_name)?;
        let contents = render_charged(value, item, limit, budget, deadline)
            .await?
            .map_err(|e| out.problem(&item.path, ItemProblemKind::Render(e)))?;
        let secret = resolved.under_secret || value.contains_secret();
        let file = out.file(item.file_name.clone(), contents, secret, &out.config);
        charge(budget, &file, deadline).await?;
        Ok(vec![file])
    }
}

/// Why an item stopped: a problem of its own (the mount lists them all), or a response that
/// cannot grow (the mount stops).
enum Stop {
    ClassProblem(ItemProblem),
    /// A file does not fit in what is left of the response.
    TooLarge,
    Overflow(Overflow),
}

impl Stop {
    fn of(problem: ItemProblem) -> Stop {
        match problem.kind {
            ItemProblemKind::Render(RenderError::TooLarge { .. }) => Stop::TooLarge,
            _ => Stop::ClassProblem(problem),
        }
    }
}

/// Counts `file` against the response and the mount's memory.
async fn charge(
    budget: &mut ResponseBudget,
    file: &MountedFile,
    deadline: Instant,
) -> Result<(), Stop> {
    let bytes = file_bytes(&file.path, file.contents.0.len());
    budget
        .charge(bytes, deadline)
        .await
        .map_err(Stop::Overflow)?;
    // A charge that fits returns at once, so a mount of thousands of files would otherwise
    // render them all without giving its worker back: `Version` and other mounts wait.
    tokio::task::coop::consume_budget().await;
    Ok(())
}

/// Renders `value` as `item` says, in at most `limit` bytes, with the memory the rendering
/// holds beyond its output charged while it runs: for `format: json` and `yaml`, a string that
/// holds JSON is decoded into a tree first, weighed as a reply's ([`VALUE_COST`] a value,
/// objects more).
async fn render_charged(
    value: &esc_api::Value,
    item: &Item,
    limit: usize,
    budget: &mut ResponseBudget,
    deadline: Instant,
) -> Result<Result<Vec<u8>, RenderError>, Stop> {
    let expands = matches!(item.format, Format::Json | Format::Yaml)
        && matches!(&value.data, Data::String(s) if s.trim_start().starts_with(['{', '[']));
    if !expands {
        return Ok(render(value, item.format, item.encoding, limit));
    }
    let Data::String(text) = &value.data else {
        return Ok(render(value, item.format, item.encoding, limit));
    };
    // The renderer refuses text of more than `limit / 4` values without decoding it.
    if count_json_values(text.as_bytes(), limit / 4) > limit / 4 {
        return Ok(render(value, item.format, item.encoding, limit));
    }
    let values = reply_weight(text.as_bytes(), usize::MAX);
    let held = budget.memory().bytes();
    budget
        .memory()
        .grow(values.saturating_mul(VALUE_COST), deadline)
        .await
        .map_err(|e| Stop::Overflow(Overflow::Memory(e)))?;
    let rendered = render(value, item.format, item.encoding, limit);
    budget.memory().shrink_to(held);
    Ok(rendered)
}

/// What every file of one item shares: its pod's versions, its mode and its configuration.
struct ItemFiles<'a> {
    pod: &'a PodVersions,
    item: &'a Item,
    mode: u32,
    config: String,
}

impl ItemFiles<'_> {
    fn file(&self, path: String, mut contents: Vec<u8>, secret: bool, config: &str) -> MountedFile {
        // The response keeps the buffer as it is: no growth slack past what was charged.
        contents.shrink_to_fit();
        let version = self.pod.version(&path, config, &contents);
        MountedFile {
            path,
            mode: self.mode,
            secret,
            contents: Contents(contents),
            version,
        }
    }

    fn problem(&self, path: &PropertyPath, kind: ItemProblemKind) -> Stop {
        Stop::of(ItemProblem {
            item: self.item.label(),
            path: path.clone(),
            kind,
        })
    }
}

/// What a file at `path` may still take of the response.
fn left(budget: &ResponseBudget, path: &str) -> Result<usize, Stop> {
    budget
        .remaining()
        .checked_sub(file_bytes(path, 0))
        .ok_or(Stop::TooLarge)
}

/// A `folderName` or `files` item: one file per leaf of `value`.
async fn render_folder(
    out: &ItemFiles<'_>,
    value: &esc_api::Value,
    under_secret: bool,
    budget: &mut ResponseBudget,
    deadline: Instant,
) -> Result<Vec<MountedFile>, Stop> {
    let item = out.item;
    let flat = item.shape == Shape::Files;
    let leaves = folder::leaves(value, flat, &item.file_name, budget.remaining())
        .map_err(|e| out.problem(&item.path, ItemProblemKind::Render(e)))?;
    let mut files = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        let limit = left(budget, &leaf.path)?;
        let contents = render_charged(leaf.value, item, limit, budget, deadline)
            .await?
            .map_err(|e| {
                let keys = leaf.keys().map(|k| Segment::Key(k.to_owned()));
                let at = item
                    .path
                    .join(&PropertyPath::from(keys.collect::<Vec<_>>()));
                out.problem(&at, ItemProblemKind::Render(e))
            })?;
        let secret = under_secret || leaf.under_secret || leaf.value.contains_secret();
        let file = out.file(leaf.path, contents, secret, &out.config);
        charge(budget, &file, deadline).await?;
        files.push(file);
    }
    Ok(files)
}

/// The mount error for a response that cannot grow past `item`.
fn overflow_error(overflow: Overflow, item: &Item) -> MountError {
    match overflow {
        Overflow::Response { bytes, limit } => MountError::TooLarge { bytes, limit },
        Overflow::Memory(error) => MountError::Memory {
            item: item.label(),
            error,
        },
    }
}

/// The request's `permission`: the JSON of a decimal mode, `"420"` for 0644.
pub fn parse_permission(text: &str) -> Result<u32, MountError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_PERMISSION);
    }
    match serde_json::from_str::<u32>(text) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(MountError::Request(format!(
            "permission {text:?} is not a file mode (the driver sends the decimal JSON of one, \
             such as \"420\" for 0644)",
            text = Quoted(text)
        ))),
    }
}

#[cfg(test)]
mod tests;
