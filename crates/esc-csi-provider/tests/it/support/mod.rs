//! A provider served for real on a unix socket, with the ESC and Kubernetes stand-ins behind
//! it, and a gRPC client that talks to it the way the driver does.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use esc_csi_provider::cache::CacheOptions;
use esc_csi_provider::class::Settings;
use esc_csi_provider::compose::{Background, Wiring};
use esc_csi_provider::credential::NO_NODE_PUBLISH_SECRET_REF;
use esc_csi_provider::credential::kube::KubeSecrets;
use esc_csi_provider::fetch::stale::StaleOptions;
use esc_csi_provider::grpc::ServiceOptions;
use esc_csi_provider::grpc::proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use esc_csi_provider::grpc::proto::v1alpha1::{MountRequest, MountResponse};
use esc_csi_provider::metrics::Metrics;
use esc_csi_provider::mount::version::VersionKey;
use esc_csi_testkit::{FakeEsc, FakeKube};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

pub const TOKEN: &str = "pul-0123456789abcdef-test-token";
pub const ENV: &str = "acme/app/prod";

/// How to wire the provider under test. By default: no cache, no retries, no stale serving,
/// so that each scripted fault is the mount's answer.
pub struct Config {
    pub settings: Settings,
    pub options: ServiceOptions,
    pub client: esc_api::ClientOptions,
    pub cache: Option<CacheOptions>,
    pub secret_cache: Option<CacheOptions>,
    pub stale: Option<StaleOptions>,
}

impl Config {
    /// As `esc-csi serve` would be wired with these options.
    pub fn wiring(self) -> Wiring {
        // Without either cache nothing is kept or coalesced; with one, the other keeps nothing.
        let (environment_cache, auth_secret_cache) = match (self.cache, self.secret_cache) {
            (None, None) => (None, None),
            (cache, secret_cache) => (
                Some(cache.unwrap_or(CacheOptions {
                    ttl: Duration::ZERO,
                    ..CacheOptions::environments()
                })),
                Some(secret_cache.unwrap_or(CacheOptions {
                    ttl: Duration::ZERO,
                    ..CacheOptions::auth_secrets()
                })),
            ),
        };
        Wiring {
            settings: self.settings,
            service: self.options,
            client: self.client,
            environment_cache,
            auth_secret_cache,
            stale: self.stale,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settings: Settings::default(),
            options: ServiceOptions::default(),
            client: esc_api::ClientOptions {
                retry: esc_api::RetryPolicy::none(),
                ..esc_api::ClientOptions::default()
            },
            cache: None,
            secret_cache: None,
            stale: None,
        }
    }
}

pub struct Harness {
    pub esc: FakeEsc,
    pub kube: FakeKube,
    pub client: CsiDriverProviderClient<Channel>,
    pub socket: PathBuf,
    pub metrics: Arc<Metrics>,
    pub registry: prometheus_client::registry::Registry,
    _server: Background,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Default settings; the auth Secret `default/pulumi-creds` holds [`TOKEN`].
    pub async fn start() -> Harness {
        Harness::with(Settings::default(), ServiceOptions::default()).await
    }

    pub async fn with(settings: Settings, options: ServiceOptions) -> Harness {
        Harness::configured(Config {
            settings,
            options,
            ..Config::default()
        })
        .await
    }

    /// A provider wired as `config` says: caches, retries, stale serving.
    pub async fn configured(config: Config) -> Harness {
        let esc = FakeEsc::start().await;
        esc.accept_token(TOKEN);
        let kube = FakeKube::start().await;
        kube.put_secret("default", "pulumi-creds", &[("pulumi-access-token", TOKEN)]);

        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(Metrics::register(&mut registry));
        let kube_config = kube::Config::new(kube.url().parse().unwrap());
        let secrets = KubeSecrets::from_config(kube_config);
        let key = VersionKey::random().unwrap();
        let provider = config
            .wiring()
            .provider(secrets, key, metrics.clone())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("providers").join("pulumi.sock");
        let server = Background::start(provider, &socket).unwrap();
        let client = connect(socket.clone()).await;
        Harness {
            esc,
            kube,
            client,
            socket,
            metrics,
            registry,
            _server: server,
            _dir: dir,
        }
    }

    /// The attributes the driver sends: the class's parameters (with `apiUrl` pointing at the
    /// stand-in unless given) and the pod's information.
    pub fn attributes(&self, parameters: &[(&str, &str)]) -> String {
        let mut map = serde_json::Map::new();
        map.insert("apiUrl".into(), self.esc.url().into());
        for (k, v) in parameters {
            map.insert((*k).into(), (*v).into());
        }
        for (k, v) in [
            ("secretProviderClass", "app-secrets"),
            ("csi.storage.k8s.io/pod.name", "app-7d9f8"),
            ("csi.storage.k8s.io/pod.namespace", "default"),
            (
                "csi.storage.k8s.io/pod.uid",
                "0f0e5a8c-1111-2222-3333-444455556666",
            ),
            ("csi.storage.k8s.io/serviceAccount.name", "app"),
            ("csi.storage.k8s.io/ephemeral", "true"),
        ] {
            map.entry(k).or_insert(v.into());
        }
        serde_json::Value::Object(map).to_string()
    }

    /// A class for [`ENV`] with the given `secrets` YAML.
    pub fn class(&self, secrets: &str) -> String {
        self.attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "prod"),
            ("authSecretName", "pulumi-creds"),
            ("secrets", secrets),
        ])
    }

    pub async fn mount(&self, attributes: String) -> Result<MountResponse, tonic::Status> {
        self.mount_with(attributes, NO_NODE_PUBLISH_SECRET_REF, "420")
            .await
    }

    pub async fn mount_with(
        &self,
        attributes: String,
        secrets: &str,
        permission: &str,
    ) -> Result<MountResponse, tonic::Status> {
        self.client
            .clone()
            .mount(MountRequest {
                attributes,
                secrets: secrets.into(),
                target_path: "/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/secrets/mount"
                    .into(),
                permission: permission.into(),
                current_object_version: vec![],
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Sets the environment's values.
    pub fn set_env(&self, values: serde_json::Value) {
        self.esc.set(ENV, values);
    }

    /// The metrics in Prometheus text form.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).unwrap();
        out
    }

    /// A class for [`ENV`] mounting `a` to file `a`, for the pod with `pod_uid`.
    pub fn class_for_pod(&self, pod_uid: &str) -> String {
        self.attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "prod"),
            ("authSecretName", "pulumi-creds"),
            ("secrets", "- {fileName: a, secretKey: a}"),
            ("csi.storage.k8s.io/pod.uid", pod_uid),
        ])
    }

    /// How many requests reached either stand-in.
    pub fn network_calls(&self) -> usize {
        self.esc.calls().len() + self.kube.calls().len()
    }
}

/// A client over the unix socket, as the driver connects.
pub async fn connect(socket: PathBuf) -> CsiDriverProviderClient<Channel> {
    let channel = Endpoint::try_from("http://localhost")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .unwrap();
    CsiDriverProviderClient::new(channel)
}

/// The files of a response as (path, mode, text).
pub fn files(response: &MountResponse) -> Vec<(String, u32, String)> {
    response
        .files
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                f.mode as u32,
                String::from_utf8_lossy(&f.contents).into_owned(),
            )
        })
        .collect()
}

/// The object versions of a response as (id, version).
pub fn versions(response: &MountResponse) -> Vec<(String, String)> {
    response
        .object_version
        .iter()
        .map(|v| (v.id.clone(), v.version.clone()))
        .collect()
}

/// An environment with every shape the path examples need.
pub fn example_env() -> serde_json::Value {
    json!({
        "app": {"hello": "world"},
        "root": {
            "nested": "n",
            "double": {"nest": "dn"},
            "array": [
                {"nested": "a0", "field": "f0"},
                [0, {"nested": "a01"}],
            ],
            "key with \"escaped\" quotes": "q",
            "key with a .": "dot",
        },
        "root key with \"escaped\" quotes": {"nested": "rq"},
        "root key with a .": (0..101).collect::<Vec<_>>(),
    })
}

/// GETs `path` from the admin router: status and body text.
pub async fn admin_get(router: &axum::Router, path: &str) -> (u16, String) {
    use axum::body::{Body, to_bytes};
    use tower::ServiceExt;
    let response = router
        .clone()
        .oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}
