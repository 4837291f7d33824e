//! `esc-csi check`: every problem of a SecretProviderClass, offline, with the provider's own
//! validation.

use std::io::Write;

use esc_csi_provider::class::items::{Format, Item, Shape};
use esc_csi_provider::class::{AuthMethod, Class};
use esc_csi_provider::credential::{AuthError, TOKEN_KEY};

use crate::class_file::{self, ClassFileError};
use crate::cli::CheckArgs;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    #[error(transparent)]
    File(#[from] ClassFileError),
    #[error(
        "SecretProviderClass {name:?} has {}:{}",
        count(*total),
        Listed(problems)
    )]
    Invalid {
        name: String,
        total: usize,
        /// Each problem, YAML errors located in the file.
        problems: Vec<String>,
    },
    /// What a daemon with the checked settings would refuse at mount time.
    #[error(
        "SecretProviderClass {name:?} would be refused by the daemon: {reason}; with the chart, \
         set args.allowCrossNamespaceAuth (and pass --allow-cross-namespace-auth to check for \
         such a daemon), or move the Secret into the pod's namespace"
    )]
    Refused { name: String, reason: AuthError },
    #[error("SecretProviderClass {name:?} has {}, and --strict refuses them", warnings(*count))]
    Strict { name: String, count: usize },
}

pub(crate) fn run(args: &CheckArgs) -> Result<(), CheckError> {
    let (spc, attributes) = class_file::load(&args.class, args.name.as_deref(), &args.pod)?;
    let settings = args.settings();
    let class =
        Class::from_attributes(&attributes, &settings).map_err(|problems| CheckError::Invalid {
            name: spc.name.clone(),
            total: problems.len(),
            problems: problems
                .iter()
                .map(|p| class_file::locate_secrets_error(&args.class, &spc.name, &p.to_string()))
                .chain((problems.more() > 0).then(|| format!("… and {} more", problems.more())))
                .collect(),
        })?;
    let pod_namespace = class.pod.namespace.clone().unwrap_or_default();
    let (auth, auth_warning) = auth(&class, args);
    if let Some(secret) = class.auth_secret.as_ref().filter(|_| reads_secret(&class)) {
        let namespace = secret.namespace.as_deref().unwrap_or(&pod_namespace);
        if namespace != pod_namespace && !args.allow_cross_namespace_auth {
            return Err(CheckError::Refused {
                name: spc.name,
                reason: AuthError::CrossNamespace {
                    namespace: namespace.to_owned(),
                    name: secret.name.clone(),
                    pod_namespace,
                },
            });
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "SecretProviderClass {:?} is valid: {} from ESC environment {}",
        spc.name,
        files(&class.items),
        class.environment
    );
    for item in class.items.iter() {
        let _ = writeln!(out, "  {}", line(item));
    }
    let _ = writeln!(out, "  auth: {auth}");
    drop(out);
    let all: Vec<&String> = class.warnings.iter().chain(&auth_warning).collect();
    crate::class_file::print_warnings(&all);
    if args.strict && !all.is_empty() {
        return Err(CheckError::Strict {
            name: spc.name,
            count: all.len(),
        });
    }
    Ok(())
}

/// What `format: shell` refuses, as `esc-csi check` shows it (check is offline and cannot see
/// the keys themselves); the rules are `esc_csi_provider::render::env`'s.
const SHELL_REFUSES: &str = "refuses, naming each, keys that are not shell names \
     ([A-Za-z_][A-Za-z0-9_]*) or that a shell sets itself (UID, RANDOM, ...), values holding NUL, \
     objects and arrays";

/// What `format: dotenv` refuses, as `esc-csi check` shows it.
const DOTENV_REFUSES: &str = "refuses, naming each, keys other than [A-Za-z0-9_.]+, \
     values holding ${...} or NUL, values no quoting carries to python-dotenv, Node's dotenv \
     and godotenv alike, objects and arrays";

/// Whether the class may take its token from `authSecretName`.
fn reads_secret(class: &Class) -> bool {
    class.auth_method != AuthMethod::Oidc
}

/// How the class authenticates, in the daemon's order of preference, and the warning a daemon
/// without Secret access earns.
fn auth(class: &Class, args: &CheckArgs) -> (String, Option<String>) {
    let namespace = class.pod.namespace.as_deref().unwrap_or("default");
    let account = class.pod.service_account.as_deref().unwrap_or("default");
    let endpoint = esc_api::oauth::token_endpoint_text(&class.api_url);
    let oidc = format!(
        "the service-account token of {namespace}/{account} for audience {:?}",
        class.oidc.token_audience
    );
    let node_publish = format!("the volume's nodePublishSecretRef (key {TOKEN_KEY})");
    match (class.auth_method, &class.auth_secret) {
        (AuthMethod::Oidc, _) => (
            format!(
                "{oidc}, exchanged at {endpoint}; the driver must request tokens for that \
                 audience (tokenRequests)"
            ),
            None,
        ),
        (method, Some(secret)) => {
            let secret_namespace = secret.namespace.as_deref().unwrap_or(namespace);
            let shown = format!("Secret {secret_namespace}/{}", secret.name);
            let warning = (!args.auth_secrets).then(|| {
                format!(
                    "reading {shown} needs a daemon allowed to read Secrets: install the chart \
                     with authSecrets.enabled, or with -f charts/esc-csi/presets/go-provider.yaml \
                     for the Go provider's permissions (pass --auth-secrets to check for such a \
                     daemon)"
                )
            });
            let first = if method == AuthMethod::Auto {
                format!("{node_publish} if the pod's volume has one")
            } else {
                format!("{node_publish} if the pod's volume has one (authMethod: secret)")
            };
            (
                format!("{first}, else {shown} (key {TOKEN_KEY}), read through the Kubernetes API"),
                warning,
            )
        }
        (AuthMethod::Auto, None) => (
            format!("{oidc} if the driver requests one (tokenRequests), else {node_publish}"),
            None,
        ),
        (AuthMethod::Secret, None) => (node_publish, None),
    }
}

/// How `check` shows an item: where it writes, from what, as what, with which mode. Folders
/// end in `/` and say what fills them, so they cannot be mistaken for files.
fn line(item: &Item) -> String {
    let path = if item.path.is_empty() {
        "(the whole environment)".to_owned()
    } else {
        item.path.to_string()
    };
    // Without its own mode a file gets the driver's default, 0644.
    let mode = item.mode.unwrap_or(0o644);
    if let Some(template) = &item.template {
        let references: Vec<String> = template
            .references()
            .map(|r| format!("${{{}}}", item.path.join(r)))
            .collect();
        let uses = if references.is_empty() {
            "no references".to_owned()
        } else {
            references.join(", ")
        };
        return format!("{} <- template using {uses} ({mode:04o})", item.file_name);
    }
    match item.shape {
        Shape::File => {
            let refuses = match item.format {
                Format::Dotenv => format!("\n    {DOTENV_REFUSES}"),
                Format::Shell => format!("\n    {SHELL_REFUSES}"),
                _ => String::new(),
            };
            format!(
                "{} <- {path} ({}, {mode:04o}){refuses}",
                item.file_name, item.format
            )
        }
        Shape::Folder => format!(
            "{}/ <- a file per key of {path} ({}, {mode:04o} each)",
            item.file_name, item.format
        ),
        Shape::Files => format!(
            "{}/ <- a file per key of files, as esc run writes them ({mode:04o} each)",
            item.file_name
        ),
    }
}

/// "2 files", or "3 items" when a folder's files are known only at mount time.
fn files(items: &[Item]) -> String {
    let n = items.len();
    if items.iter().any(|item| item.shape != Shape::File) {
        return if n == 1 {
            "1 item".to_owned()
        } else {
            format!("{n} items")
        };
    }
    if n == 1 {
        "1 file".to_owned()
    } else {
        format!("{n} files")
    }
}

fn warnings(count: usize) -> String {
    if count == 1 {
        "1 warning".to_owned()
    } else {
        format!("{count} warnings")
    }
}

fn count(total: usize) -> String {
    if total == 1 {
        "1 problem".to_owned()
    } else {
        format!("{total} problems")
    }
}

struct Listed<'a>(&'a [String]);

impl std::fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for problem in self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
