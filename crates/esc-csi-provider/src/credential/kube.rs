//! The Kubernetes adapter: reads the auth Secret through the API server with kube-rs.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use secrecy::SecretString;
use tokio::time::Instant;

use crate::credential::{AuthError, SecretReader};

/// Reads Secrets with a kube client; without one (no in-cluster config, no kubeconfig) every
/// read fails with a message that says so.
#[derive(Clone)]
pub struct KubeSecrets {
    client: Result<kube::Client, String>,
}

impl std::fmt::Debug for KubeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSecrets")
            .field("connected", &self.client.is_ok())
            .finish()
    }
}

impl KubeSecrets {
    pub fn new(client: kube::Client) -> Self {
        KubeSecrets { client: Ok(client) }
    }

    /// In-cluster config or `KUBECONFIG`; if neither works, remembers why.
    pub async fn from_environment() -> Self {
        match kube::Config::infer().await {
            Ok(config) => KubeSecrets::from_config(config),
            // kube quotes a path it already quoted ('"/home/me/kc"'): once is enough.
            Err(e) => {
                KubeSecrets::unavailable(e.to_string().replace("'\"", "'").replace("\"'", "'"))
            }
        }
    }

    /// A reader over a client for `config`, with `TCP_NODELAY` on its connections.
    pub fn from_config(config: kube::Config) -> Self {
        match client(config) {
            Ok(client) => KubeSecrets::new(client),
            Err(e) => KubeSecrets::unavailable(e.to_string()),
        }
    }

    /// A reader that always fails, for daemons that run without Kubernetes access.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        KubeSecrets {
            client: Err(reason.into()),
        }
    }

    /// Why there is no client, if there is none.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.client.as_ref().err().map(String::as_str)
    }
}

impl SecretReader for KubeSecrets {
    async fn read_key(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        deadline: Instant,
    ) -> Result<SecretString, AuthError> {
        let client = self
            .client
            .as_ref()
            .map_err(|reason| AuthError::NoKubernetes(reason.clone()))?;
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let secret = tokio::time::timeout_at(deadline, api.get_opt(name))
            .await
            .map_err(|_| AuthError::Timeout {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?
            .map_err(|e| classify(namespace, name, &e))?
            .ok_or_else(|| AuthError::SecretNotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        let mut data = secret.data.unwrap_or_default();
        let Some(bytes) = data.remove(key) else {
            let keys: Vec<String> = data.into_keys().take(20).collect();
            return Err(AuthError::KeyNotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                key: key.to_owned(),
                keys,
            });
        };
        // Bytes that are not UTF-8 cannot be a token; the check downstream reports it.
        Ok(SecretString::from(
            String::from_utf8_lossy(&bytes.0).into_owned(),
        ))
    }
}

/// kube's own builder leaves Nagle's algorithm on, so the first request on a new HTTPS connection
/// waited for the server's delayed ACK of the handshake's last flight (about 40 ms against 1 ms on
/// a warm connection). The same stack as kube's, less its tracing, with `TCP_NODELAY` set. A
/// configured proxy keeps kube's builder, which knows proxies.
fn client(config: kube::Config) -> kube::Result<kube::Client> {
    use hyper_util::client::legacy::connect::HttpConnector;
    use kube::client::ConfigExt;
    use tower::{BoxError, ServiceBuilder};

    if config.proxy_url.is_some() {
        return kube::Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let https = config.rustls_https_connector_with_connector(http)?;
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, kube::client::Body>(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// Only the API server's status message is quoted, and only its first few hundred characters
/// on one line: a proxy's error page can be megabytes of HTML, which would not fit in a gRPC
/// status (the driver would see an HTTP/2 error instead). A decode error's text is never
/// quoted: it could quote the Secret itself.
fn classify(namespace: &str, name: &str, error: &kube::Error) -> AuthError {
    let message = match error {
        kube::Error::Api(status) if status.code == 403 || status.code == 401 => {
            return AuthError::Forbidden {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                message: bounded(&status.message),
            };
        }
        kube::Error::Api(status) => format!(
            "the API server answered {}: {}",
            status.code,
            bounded(&status.message)
        ),
        kube::Error::SerdeError(_) => "the API server's reply could not be decoded".to_owned(),
        kube::Error::HyperError(e) => format!("cannot reach the API server: {}", cause(e)),
        kube::Error::Service(e) => {
            format!("cannot reach the API server: {}", cause(e.as_ref()))
        }
        _ => "the request to the API server failed".to_owned(),
    };
    AuthError::Unavailable {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        message,
    }
}

/// The innermost cause says what failed ("connection closed before message completed");
/// the outer ones only that a client call did ("client error (SendRequest)").
fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    bounded(&innermost.to_string())
}

/// Error text from the API server, quoted short and on one line.
fn bounded(text: &str) -> String {
    esc_api::sanitize(text, QUOTED_CHARS)
}

const QUOTED_CHARS: usize = 300;
