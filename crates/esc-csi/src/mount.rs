//! `esc-csi mount`: one Mount, start to finish, on this machine. The provider runs in-process
//! behind a real unix socket and is called exactly as the driver calls it; the files are
//! written the way the driver writes them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use esc_api::EnvironmentRef;
use esc_csi_local::writer::{self, Change, Payload};
use esc_csi_provider::class::{AuthMethod, Class};
use esc_csi_provider::compose::{Background, WireError};
use esc_csi_provider::credential::kube::KubeSecrets;
use esc_csi_provider::credential::{NO_NODE_PUBLISH_SECRET_REF, TOKEN_KEY};
use esc_csi_provider::grpc::proto::v1alpha1::{MountRequest, MountResponse};
use esc_csi_provider::metrics::Metrics;
use secrecy::{ExposeSecret, SecretString};

use crate::class_file::{self, ClassFileError};
use crate::cli::MountArgs;
use crate::version_key::{KeyError, local_version_key};

/// The default file mode the driver sends: 0644.
const PERMISSION: &str = "420";
/// Where the token comes from when set, as for the `esc` and `pulumi` CLIs.
pub(crate) const TOKEN_ENV: &str = "PULUMI_ACCESS_TOKEN";

#[derive(Debug, thiserror::Error)]
pub(crate) enum MountCmdError {
    #[error(transparent)]
    File(#[from] ClassFileError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    LocalServer(#[from] crate::local_server::LocalServerError),
    #[error("cannot start the provider: {0}")]
    Provider(String),
    #[error("the class has {count} warning{}, and --strict refuses them", if *count == 1 { "" } else { "s" })]
    Strict { count: usize },
    #[error(
        "no Pulumi access token: set {TOKEN_ENV} (as for the esc and pulumi CLIs), or mount \
         from a folder of environment definitions with --environments DIR; the class names no \
         authSecretName to read through your kubeconfig"
    )]
    NoToken,
    #[error(
        "ESC environment {environment} is not in --environments {}: there is no {}; the folder \
         has {}",
        dir.display(),
        file.display(),
        listed(have)
    )]
    NoLocalEnvironment {
        environment: String,
        dir: PathBuf,
        file: PathBuf,
        have: Vec<String>,
    },
    #[error("mount failed ({code:?}): {message}")]
    Refused { code: tonic::Code, message: String },
    /// `--target` is not a folder this user can use.
    #[error("--target {} {problem}", target.display())]
    Target {
        target: PathBuf,
        problem: writer::TargetProblem,
    },
    #[error("cannot write the files into {}: {source}", target.display())]
    Write {
        target: PathBuf,
        source: writer::WriteError,
    },
}

pub(crate) async fn run(args: MountArgs) -> Result<(), MountCmdError> {
    let (spc, mut attributes) = class_file::load(&args.class, args.name.as_deref(), &args.pod)?;
    let class_name = spc.name;
    // A target that cannot be a folder is said before any call to ESC.
    if let Some(problem) = writer::check_target(&args.target) {
        return Err(MountCmdError::Target {
            target: args.target.clone(),
            problem,
        });
    }
    let mut token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    let from_env = token.is_some();
    let _local_server = match &args.environments {
        Some(dir) => {
            let (server, url, local_token) =
                crate::local_server::start(dir, token.as_ref()).await?;
            attributes.insert("apiUrl".to_owned(), url);
            token.get_or_insert(local_token);
            Some(server)
        }
        None => None,
    };
    // The provider knows the token only as the request's nodePublishSecretRef; say where it
    // really came from.
    let label = match (&token, from_env) {
        (None, _) => None,
        (Some(_), true) => Some(TOKEN_ENV),
        (Some(_), false) => Some("the token made for the local ESC server"),
    };
    let local_file = check_class(&args, &attributes, token.is_some(), label)?;
    let response = call_provider(&args, &attributes, token.as_ref(), label)
        .await
        .map_err(|error| match (error, &local_file) {
            // The provider's advice is for ESC; the definition is a file here.
            (MountCmdError::Refused { code, message }, Some(file)) => MountCmdError::Refused {
                code,
                message: message.replace(
                    "fix its definition in ESC",
                    &format!("fix its definition in {}", file.display()),
                ),
            },
            (MountCmdError::Refused { code, message }, None) => MountCmdError::Refused {
                code,
                message: class_file::locate_secrets_error(&args.class, &class_name, &message),
            },
            (error, _) => error,
        })?;
    write_files(&args, response)
}

/// Before any call: the class's warnings printed as check prints them (the provider's own
/// log line for them is silenced), `--strict`, a token for a class that needs one, and the
/// local file of its environment with `--environments`. A class with problems is left to
/// the provider, which lists them.
fn check_class(
    args: &MountArgs,
    attributes: &BTreeMap<String, String>,
    has_token: bool,
    label: Option<&'static str>,
) -> Result<Option<PathBuf>, MountCmdError> {
    let settings = args.wiring(label).settings;
    let Ok(class) = Class::from_attributes(attributes, &settings) else {
        return Ok(None);
    };
    class_file::print_warnings(&class.warnings);
    if args.strict && !class.warnings.is_empty() {
        return Err(MountCmdError::Strict {
            count: class.warnings.len(),
        });
    }
    if !has_token && class.auth_secret.is_none() && class.auth_method != AuthMethod::Oidc {
        return Err(MountCmdError::NoToken);
    }
    match &args.environments {
        Some(dir) => Ok(Some(local_environment(dir, &class.environment)?)),
        None => Ok(None),
    }
}

/// The response's files written into the target as the driver writes them, then the table.
fn write_files(args: &MountArgs, response: MountResponse) -> Result<(), MountCmdError> {
    let versions: BTreeMap<String, String> = response
        .object_version
        .into_iter()
        .map(|v| (v.id, v.version))
        .collect();
    let payload: Vec<Payload> = response
        .files
        .into_iter()
        .map(|f| Payload {
            path: f.path,
            mode: u32::try_from(f.mode).unwrap_or(0) & 0o7777,
            contents: f.contents.to_vec(),
        })
        .collect();
    let outcome = writer::write(&args.target, &payload).map_err(|source| match source {
        writer::WriteError::Target { path, problem } => MountCmdError::Target {
            target: path,
            problem,
        },
        source => MountCmdError::Write {
            target: args.target.clone(),
            source,
        },
    })?;
    print_table(args, &payload, &versions, &outcome);
    Ok(())
}

/// The file `--environments DIR` serves `environment` from, which must exist: the local server
/// would answer 404, and the provider's advice for that is about tokens and ESC.
fn local_environment(dir: &Path, environment: &EnvironmentRef) -> Result<PathBuf, MountCmdError> {
    let file = dir
        .join(&environment.project)
        .join(format!("{}.yaml", environment.environment));
    if file.is_file() {
        return Ok(file);
    }
    Err(MountCmdError::NoLocalEnvironment {
        environment: format!("{}/{}", environment.project, environment.environment),
        dir: dir.to_owned(),
        file,
        have: local_environments(dir),
    })
}

/// `project/env` for every `DIR/project/env.yaml`, sorted.
fn local_environments(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for project in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let project_name = project.file_name().to_string_lossy().into_owned();
        if project_name.starts_with('.') {
            continue;
        }
        for env in std::fs::read_dir(project.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let env_name = env.file_name().to_string_lossy().into_owned();
            if let Some(name) = env_name
                .strip_suffix(".yaml")
                .filter(|n| !n.starts_with('.'))
            {
                names.push(format!("{project_name}/{name}"));
            }
        }
    }
    names.sort();
    names
}

/// "app/dev, app/worker", at most ten, or "no environments".
fn listed(names: &[String]) -> String {
    const SHOWN: usize = 10;
    match names.len() {
        0 => "no environments (DIR/<project>/<environment>.yaml)".to_owned(),
        n if n <= SHOWN => names.join(", "),
        n => format!("{} and {} more", names[..SHOWN].join(", "), n - SHOWN),
    }
}

async fn call_provider(
    args: &MountArgs,
    attributes: &BTreeMap<String, String>,
    token: Option<&SecretString>,
    label: Option<&str>,
) -> Result<MountResponse, MountCmdError> {
    let key = local_version_key(args.version_key_file.as_ref())?;
    // With a token at hand the auth Secret is never read, so no cluster is needed.
    let secrets = match token {
        Some(_) => KubeSecrets::unavailable(format!("{TOKEN_ENV} is used instead")),
        None => KubeSecrets::from_environment().await,
    };
    let provider = args
        .wiring(label)
        .provider(secrets, key, Arc::new(Metrics::default()))?;
    let socket_dir = tempfile::tempdir().map_err(|e| MountCmdError::Provider(e.to_string()))?;
    let socket = socket_dir.path().join("pulumi.sock");
    let serving =
        Background::start(provider, &socket).map_err(|e| MountCmdError::Provider(e.to_string()))?;

    // What the driver sends: the token as a nodePublishSecretRef's data, or `null` without one.
    let secrets = match token {
        Some(token) => serde_json::to_string(&BTreeMap::from([(TOKEN_KEY, token.expose_secret())]))
            .expect("strings serialize"),
        None => NO_NODE_PUBLISH_SECRET_REF.to_owned(),
    };
    let request = MountRequest {
        attributes: serde_json::to_string(attributes).expect("strings serialize"),
        secrets,
        target_path: args.target.display().to_string(),
        permission: PERMISSION.to_owned(),
        current_object_version: Vec::new(),
    };
    let result = async {
        let mut provider = esc_csi_provider::grpc::dialer::connect(socket.clone())
            .await
            .map_err(|e| MountCmdError::Provider(e.to_string()))?;
        provider
            .mount(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| MountCmdError::Refused {
                code: status.code(),
                message: status.message().to_owned(),
            })
    }
    .await;
    let _ = serving.stop().await;
    let response = result?;
    if let Some(error) = response.error.as_ref().filter(|e| !e.code.is_empty()) {
        return Err(MountCmdError::Refused {
            code: tonic::Code::Unknown,
            message: error.code.clone(),
        });
    }
    Ok(response)
}

fn print_table(
    args: &MountArgs,
    payload: &[Payload],
    versions: &BTreeMap<String, String>,
    outcome: &writer::Outcome,
) {
    let mut rows: Vec<[String; 5]> = payload
        .iter()
        .zip(&outcome.changes)
        .map(|(file, change)| {
            let version = versions.get(&file.path).map_or("", String::as_str);
            [
                file.path.clone(),
                file.contents.len().to_string(),
                format!("{:04o}", file.mode),
                version.chars().take(12).collect(),
                change.to_string(),
            ]
        })
        .collect();
    for path in &outcome.removed {
        rows.push([
            path.clone(),
            "-".into(),
            "-".into(),
            "-".into(),
            "removed".into(),
        ]);
    }
    let header = ["FILE", "BYTES", "MODE", "VERSION", "CHANGE"].map(str::to_owned);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:<w0$}  {:>w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let count = |c: Change| outcome.changes.iter().filter(|x| **x == c).count();
    let _ = writeln!(
        out,
        "{} in {}: {} new, {} changed, {} unchanged, {} removed",
        if payload.len() == 1 {
            "1 file".to_owned()
        } else {
            format!("{} files", payload.len())
        },
        args.target.display(),
        count(Change::New),
        count(Change::Changed),
        count(Change::Unchanged),
        outcome.removed.len()
    );
}
