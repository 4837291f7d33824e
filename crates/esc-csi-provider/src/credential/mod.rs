//! Where the Pulumi access token comes from, in order of preference:
//!
//! 0. workload identity: the pod's service-account token for the class's `oidcAudience`, from
//!    the driver's `csi.storage.k8s.io/serviceAccount.tokens`, exchanged at the Pulumi OAuth
//!    token endpoint ([`exchange`]). Used when `authMethod: oidc`, or when `authMethod` is
//!    unset, the class names no `authSecretName` and the driver sent a token for the audience;
//! 1. the pod's own `nodePublishSecretRef` Secret (the request's `secrets` field, key
//!    `pulumi-access-token`): no RBAC on Secrets needed at all;
//! 2. the class's `authSecretName` Secret, read through the Kubernetes API, and only in the
//!    pod's namespace unless the daemon allows cross-namespace reads.
//!
//! Tokens live in [`SecretString`]s and no error here quotes one.

pub mod cached;
pub mod exchange;
pub mod kube;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::class::{AuthMethod, Class, Settings, keys};
use crate::credential::exchange::{ExchangeClient, TokenExchanger, service_account_tokens};
use crate::metrics::Metrics;

/// The key holding the token, in a Secret or in `nodePublishSecretRef`.
pub const TOKEN_KEY: &str = "pulumi-access-token";

/// The request's `secrets` field for a volume without `nodePublishSecretRef`: the driver sends
/// Go's `json.Marshal` of a nil map. Clients that stand in for the driver send exactly this.
pub const NO_NODE_PUBLISH_SECRET_REF: &str = "null";

/// Where a token came from, for messages that tell the user which one to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    NodePublishSecretRef,
    /// Where a local run (`esc-csi mount`) really took the token it sends as the
    /// nodePublishSecretRef: [`Settings::token_label`].
    Labelled(String),
    Secret {
        namespace: String,
        name: String,
    },
    /// Exchanged for the pod's service-account token.
    ServiceAccount {
        audience: String,
        endpoint: String,
    },
}

impl fmt::Display for TokenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenOrigin::NodePublishSecretRef => {
                write!(
                    f,
                    "the volume's nodePublishSecretRef Secret (key {TOKEN_KEY})"
                )
            }
            TokenOrigin::Labelled(label) => f.write_str(label),
            TokenOrigin::Secret { namespace, name } => {
                write!(f, "Kubernetes Secret {namespace}/{name} (key {TOKEN_KEY})")
            }
            TokenOrigin::ServiceAccount { audience, endpoint } => write!(
                f,
                "the pod's service-account token for audience {audience}, exchanged at {endpoint}"
            ),
        }
    }
}

/// A token and where it came from.
#[derive(Debug, Clone)]
pub struct Credential {
    pub token: SecretString,
    pub origin: TokenOrigin,
}

/// The volume's nodePublishSecretRef Secret data: the request's `secrets` field, decoded once
/// by the adapter. A field that is not a JSON object of strings is kept as that fact, and is an
/// error only where a token is looked for in it (a class whose token comes from elsewhere
/// never reads it).
pub struct NodePublishSecretRef(Result<Option<BTreeMap<String, SecretString>>, ()>);

/// No nodePublishSecretRef.
impl Default for NodePublishSecretRef {
    fn default() -> Self {
        NodePublishSecretRef(Ok(None))
    }
}

impl From<BTreeMap<String, SecretString>> for NodePublishSecretRef {
    fn from(data: BTreeMap<String, SecretString>) -> Self {
        NodePublishSecretRef(Ok(Some(data)))
    }
}

impl fmt::Debug for NodePublishSecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(Some(map)) => f.debug_set().entries(map.keys()).finish(),
            Ok(None) => f.write_str("none"),
            Err(()) => f.write_str("malformed"),
        }
    }
}

impl NodePublishSecretRef {
    /// Decodes the request's `secrets` field. The driver sends `null` for a volume without one
    /// (Go's `json.Marshal` of a nil map); `{}` and an empty field mean the same.
    pub fn decode(text: &str) -> Self {
        if text.trim().is_empty() {
            return NodePublishSecretRef(Ok(None));
        }
        NodePublishSecretRef(serde_json::from_str(text).map_err(|_| ()))
    }

    /// The value of `key`, if the Secret has it.
    fn get(&self, key: &str) -> Result<Option<SecretString>, AuthError> {
        match &self.0 {
            Ok(map) => Ok(map.as_ref().and_then(|m| m.get(key).cloned())),
            Err(()) => Err(AuthError::BadNodePublishSecrets),
        }
    }
}

/// Reads one key of a Kubernetes Secret.
pub trait SecretReader: Send + Sync + 'static {
    fn read_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        deadline: Instant,
    ) -> impl Future<Output = Result<SecretString, AuthError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no Pulumi access token: set parameter authSecretName to a Secret holding key {TOKEN_KEY}, \
         or give the volume a nodePublishSecretRef with that key"
    )]
    NoCredentials,
    #[error(
        "the SecretProviderClass asks for auth Secret {namespace}/{name}, but the pod runs in \
         namespace {pod_namespace}; esc-csi reads auth Secrets only from the pod's own namespace \
         unless started with --allow-cross-namespace-auth"
    )]
    CrossNamespace {
        namespace: String,
        name: String,
        pod_namespace: String,
    },
    #[error(
        "parameter authSecretName is set but the request does not say the pod's namespace \
         (csi.storage.k8s.io/pod.namespace), so esc-csi cannot tell which namespace is the \
         pod's; the driver always sends it, so check the driver (with \
         --allow-cross-namespace-auth, authSecretNamespace names the namespace instead)"
    )]
    NoNamespace,
    #[error("the request's secrets field (nodePublishSecretRef) is not a JSON object of strings")]
    BadNodePublishSecrets,
    #[error("Kubernetes Secret {namespace}/{name} does not exist")]
    SecretNotFound { namespace: String, name: String },
    #[error(
        "Kubernetes Secret {namespace}/{name} has no key {key}{}",
        present_keys(keys)
    )]
    KeyNotFound {
        namespace: String,
        name: String,
        key: String,
        keys: Vec<String>,
    },
    #[error("the token in {origin} is empty")]
    EmptyToken { origin: TokenOrigin },
    #[error("the token in {origin} contains characters that cannot be sent in an HTTP header")]
    MalformedToken { origin: TokenOrigin },
    #[error(
        "esc-csi may not read Kubernetes Secret {namespace}/{name}: {message}. Grant its service \
         account `get` on Secrets in that namespace, or use nodePublishSecretRef"
    )]
    Forbidden {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("cannot read Kubernetes Secret {namespace}/{name}: {message}")]
    Unavailable {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("esc-csi has no access to the Kubernetes API ({0}), so it cannot read authSecretName")]
    NoKubernetes(String),
    #[error("reading Kubernetes Secret {namespace}/{name} did not finish before the deadline")]
    Timeout { namespace: String, name: String },
    #[error(
        "authMethod is oidc, but the driver sent no service-account token for audience \
         {audience}{}; add `tokenRequests: [{{audience: \"{audience}\"}}]` to the CSIDriver \
         secrets-store.csi.k8s.io, or set oidcAudience to one it requests",
        sent_audiences(sent)
    )]
    NoServiceAccountToken { audience: String, sent: Vec<String> },
    #[error(
        "the driver's csi.storage.k8s.io/serviceAccount.tokens is not a JSON object of \
         {{\"<audience>\": {{\"token\": ...}}}}"
    )]
    BadServiceAccountTokens,
}

fn sent_audiences(sent: &[String]) -> String {
    if sent.is_empty() {
        " (it sent none)".into()
    } else {
        format!(" (it sent: {})", sent.join(", "))
    }
}

fn present_keys(keys: &[String]) -> String {
    if keys.is_empty() {
        " (it has no keys)".into()
    } else {
        format!(" (it has: {})", keys.join(", "))
    }
}

/// Why no token was found for a mount: the credential stage's error.
#[derive(Debug)]
pub enum CredentialError {
    Auth(AuthError),
    /// ESC refused or failed the exchange of a service-account token; `origin` names it.
    Exchange {
        error: esc_api::EscError,
        origin: TokenOrigin,
    },
}

impl From<AuthError> for CredentialError {
    fn from(error: AuthError) -> Self {
        CredentialError::Auth(error)
    }
}

/// Finds the token for a mount: exchanged for the pod's service-account token, or from a
/// Secret.
pub async fn credential<R: SecretReader, C: ExchangeClient>(
    class: &Class,
    node_publish: &NodePublishSecretRef,
    settings: &Settings,
    reader: &R,
    exchanger: &TokenExchanger<C>,
    metrics: &Metrics,
    deadline: Instant,
) -> Result<Credential, CredentialError> {
    let oidc = match class.auth_method {
        AuthMethod::Oidc => true,
        AuthMethod::Auto => class.auth_secret.is_none(),
        AuthMethod::Secret => false,
    };
    if oidc {
        let audience = &class.oidc.token_audience;
        let (mut tokens, sent) = pod_service_account_tokens(class, node_publish)?;
        match tokens.remove(audience) {
            Some(subject) => {
                return exchanged(class, subject, exchanger, metrics, deadline).await;
            }
            None if class.auth_method == AuthMethod::Oidc => {
                return Err(AuthError::NoServiceAccountToken {
                    audience: audience.clone(),
                    sent,
                }
                .into());
            }
            None => {}
        }
    }
    Ok(secret_credential(class, node_publish, settings, reader, deadline).await?)
}

/// The service-account tokens of the request, by audience, and the audiences sent. Newer
/// drivers may put them in `secrets` instead of `attributes`.
fn pod_service_account_tokens(
    class: &Class,
    node_publish: &NodePublishSecretRef,
) -> Result<(BTreeMap<String, SecretString>, Vec<String>), AuthError> {
    let from_secrets = || node_publish.get(keys::SERVICE_ACCOUNT_TOKENS).ok()?;
    let Some(text) = class.service_account_tokens.clone().or_else(from_secrets) else {
        return Ok((BTreeMap::new(), Vec::new()));
    };
    let tokens = service_account_tokens(&text).map_err(|()| AuthError::BadServiceAccountTokens)?;
    let sent = tokens.keys().cloned().collect();
    Ok((tokens, sent))
}

async fn exchanged<C: ExchangeClient>(
    class: &Class,
    subject: SecretString,
    exchanger: &TokenExchanger<C>,
    metrics: &Metrics,
    deadline: Instant,
) -> Result<Credential, CredentialError> {
    let endpoint = esc_api::oauth::token_endpoint_text(&class.api_url);
    let origin = TokenOrigin::ServiceAccount {
        audience: class.oidc.token_audience.clone(),
        endpoint,
    };
    let subject = checked(subject, origin.clone())?.token;
    let token = exchanger
        .access_token(
            &class.api_url,
            &class.environment,
            &class.oidc.request,
            &subject,
            metrics,
            deadline,
        )
        .await
        .map_err(|error| CredentialError::Exchange {
            error,
            origin: origin.clone(),
        })?;
    Ok(Credential { token, origin })
}

/// A token from `nodePublishSecretRef` or `authSecretName`.
async fn secret_credential<R: SecretReader>(
    class: &Class,
    node_publish: &NodePublishSecretRef,
    settings: &Settings,
    reader: &R,
    deadline: Instant,
) -> Result<Credential, AuthError> {
    if let Some(token) = node_publish.get(TOKEN_KEY)? {
        let origin = match &settings.token_label {
            Some(label) => TokenOrigin::Labelled(label.clone()),
            None => TokenOrigin::NodePublishSecretRef,
        };
        return checked(token, origin);
    }
    let Some(secret) = &class.auth_secret else {
        return Err(AuthError::NoCredentials);
    };
    let pod_namespace = class.pod.namespace.as_deref();
    // Without the pod's namespace nothing can be checked: only an operator who allows
    // cross-namespace reads lets authSecretNamespace stand alone.
    let namespace = match (&secret.namespace, pod_namespace) {
        (Some(ns), Some(pod_ns)) if ns != pod_ns && !settings.allow_cross_namespace_auth => {
            return Err(AuthError::CrossNamespace {
                namespace: ns.clone(),
                name: secret.name.clone(),
                pod_namespace: pod_ns.to_owned(),
            });
        }
        (Some(ns), Some(_)) => ns.clone(),
        (Some(ns), None) if settings.allow_cross_namespace_auth => ns.clone(),
        (None, Some(pod_ns)) => pod_ns.to_owned(),
        (Some(_) | None, None) => return Err(AuthError::NoNamespace),
    };
    let token = reader
        .read_key(&namespace, &secret.name, TOKEN_KEY, deadline)
        .await?;
    let origin = TokenOrigin::Secret {
        namespace,
        name: secret.name.clone(),
    };
    checked(token, origin)
}

/// Trims the newline `echo` leaves in Secrets and refuses what cannot be a token.
fn checked(token: SecretString, origin: TokenOrigin) -> Result<Credential, AuthError> {
    let trimmed = token.expose_secret().trim();
    if trimmed.is_empty() {
        return Err(AuthError::EmptyToken { origin });
    }
    if trimmed
        .bytes()
        .any(|b| b.is_ascii_control() || !b.is_ascii())
    {
        return Err(AuthError::MalformedToken { origin });
    }
    let token = if trimmed.len() == token.expose_secret().len() {
        token
    } else {
        SecretString::from(trimmed.to_owned())
    };
    Ok(Credential { token, origin })
}
