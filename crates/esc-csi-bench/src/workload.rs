//! What the mounts carry: an environment of a chosen size with the class's items in it, and
//! the Mount requests the driver would send for a class over it, one per pod.

use std::collections::BTreeMap;

use esc_csi_provider::class::keys;
use esc_csi_provider::credential::{NO_NODE_PUBLISH_SECRET_REF, TOKEN_KEY};
use esc_csi_provider::grpc::proto::v1alpha1::{MountRequest, ObjectVersion};
use serde_json::{Map, Value, json};

use crate::scenario::{Auth, Class};

/// The environment the stand-in serves, `org/project/env`.
pub const ENVIRONMENT: &str = "acme/bench/load";
/// The token the stand-in accepts, sent as the volume's nodePublishSecretRef or kept in the
/// [`AUTH_SECRET`].
pub const TOKEN: &str = "pul-bench-0123456789abcdef0123456789abcdef";
/// The pods' namespace.
pub const NAMESPACE: &str = "bench";
/// With [`Auth::AuthSecret`]: the class's `authSecretName`, a Secret in [`NAMESPACE`].
pub const AUTH_SECRET: &str = "bench-pulumi-token";

/// The name of item `i`, both its key in the environment and its file name.
fn item(i: usize) -> String {
    format!("item{i:03}")
}

/// The items of [`Class::EveryKind`] beyond the classic ones: one of each kind of issue 16,
/// over [`kind_values`]: ten files (`.env`, `env.sh`, four in `settings/`, three in
/// `esc-files/`, `database-url`).
const KIND_SECRETS: &str = "\
- {fileName: .env, secretKey: environmentVariables, format: dotenv, mode: '0400'}
- {fileName: env.sh, secretKey: environmentVariables, format: shell, mode: '0400'}
- {folderName: settings, secretKey: worker}
- {files: esc-files, mode: '0400'}
- {fileName: database-url, template: 'postgres://${db.user}:${db.password}@${db.host}:${db.port}/orders?sslmode=${db.sslmode}'}
";

/// The items of [`Class::Hostile`] beyond those of [`Class::EveryKind`], over
/// [`hostile_values`]: each costs the daemon in proportion to the reply, and most are refused
/// by a budget. (The `files` item of [`KIND_SECRETS`] mounts `files`, here 45k keys.)
const HOSTILE_SECRETS: &str = "\
- {folderName: deep, secretKey: deep}
- {fileName: flat.json, secretKey: flat, format: json}
- {fileName: flat.yaml, secretKey: flat, format: yaml}
";

/// About 1 MB of plain JSON at the budgets' edges: `deep`, 15 levels of 255-byte keys over
/// 45k leaves (every leaf's path near the driver's 4,096 bytes), and `flat` and `files`, the
/// same 45k keys.
fn hostile_values() -> Map<String, Value> {
    let leaves = |n: usize| -> Map<String, Value> {
        (0..n).map(|i| (format!("k{i}"), json!(i % 10))).collect()
    };
    let mut deep = Value::Object(leaves(45_000));
    for level in 0..15 {
        deep = json!({ format!("{level:x>255}"): deep });
    }
    let mut values = Map::new();
    values.insert("deep".into(), deep);
    values.insert("flat".into(), Value::Object(leaves(45_000)));
    values.insert("files".into(), Value::Object(leaves(45_000)));
    values
}

/// What [`KIND_SECRETS`] reads, shaped as an app's environment would be: eight variables of
/// every scalar type (one that needs escaping), a nested settings object, three `files` and a
/// database's connection details.
fn kind_values() -> Map<String, Value> {
    let certificate = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        "MIIB".repeat(16)
    );
    let values = json!({
        "environmentVariables": {
            "APP_NAME": "checkout", "PORT": 8080, "DEBUG": false, "RATIO": 0.25,
            "REGION": "eu-west-1", "GREETING": "say \"hi\"\n", "EMPTY": null,
            "API_KEY": "0123456789abcdef0123456789abcdef",
        },
        "worker": {
            "queue": "orders", "concurrency": 8,
            "limits": {"memory": "512Mi", "cpu": "500m"},
        },
        "files": {"CA_CERT": certificate, "RETRIES": 3, "NOTES": "plain text\n"},
        "db": {
            "user": "app", "password": "0123456789abcdef", "host": "db.internal",
            "port": 5432, "sslmode": "require",
        },
    });
    match values {
        Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

/// An environment holding `items` string values (64 bytes each) under `item000`.., with
/// [`Class::EveryKind`] the values its other items read, and, if `bytes` asks for more, a
/// `filler` object of 100-byte strings up to about `bytes` of plain JSON.
pub fn environment(items: usize, bytes: usize, class: Class) -> Value {
    let mut top = Map::new();
    for i in 0..items {
        top.insert(item(i), json!(format!("{:064}", i)));
    }
    if class == Class::EveryKind {
        top.extend(kind_values());
    }
    if class == Class::Hostile {
        top.extend(kind_values());
        top.extend(hostile_values());
    }
    let used = Value::Object(top.clone()).to_string().len();
    // One filler entry is `"f000000":"<100 chars>",` = 113 bytes.
    let fillers = bytes.saturating_sub(used + 12) / 113;
    if fillers > 0 {
        let filler: Map<String, Value> = (0..fillers)
            .map(|i| (format!("f{i:06}"), json!("x".repeat(100))))
            .collect();
        top.insert("filler".into(), Value::Object(filler));
    }
    Value::Object(top)
}

/// Mount requests for one class of `items` (and with [`Class::EveryKind`] the other kinds) over
/// [`ENVIRONMENT`] at `api_url`.
#[derive(Debug, Clone)]
pub struct Workload {
    parameters: BTreeMap<String, String>,
    /// The request's `secrets`: the volume's nodePublishSecretRef, or `null` without one, as the
    /// driver sends it.
    secrets: String,
    /// Each pod sends a token of its own, so that no two mounts share a read (the stand-in
    /// then takes any token).
    token_per_pod: bool,
}

impl Workload {
    pub fn new(api_url: &str, items: usize, auth: Auth, class: Class) -> Workload {
        let (org, rest) = ENVIRONMENT.split_once('/').expect("org/project/env");
        let (project, env) = rest.split_once('/').expect("org/project/env");
        let mut secrets: String = (0..items)
            .map(|i| format!("- {{fileName: {0}, secretKey: {0}}}\n", item(i)))
            .collect();
        if class == Class::EveryKind {
            secrets.push_str(KIND_SECRETS);
        }
        if class == Class::Hostile {
            secrets.push_str(KIND_SECRETS);
            secrets.push_str(HOSTILE_SECRETS);
        }
        let mut parameters = BTreeMap::from([
            (keys::API_URL.to_owned(), api_url.to_owned()),
            (keys::ORGANIZATION.to_owned(), org.to_owned()),
            (keys::PROJECT.to_owned(), project.to_owned()),
            (keys::ENVIRONMENT.to_owned(), env.to_owned()),
            (keys::SECRETS.to_owned(), secrets),
            (keys::CLASS_NAME.to_owned(), "bench".to_owned()),
        ]);
        let secrets = match auth {
            Auth::NodePublish => json!({ TOKEN_KEY: TOKEN }).to_string(),
            Auth::AuthSecret => {
                parameters.insert(keys::AUTH_SECRET_NAME.to_owned(), AUTH_SECRET.to_owned());
                NO_NODE_PUBLISH_SECRET_REF.to_owned()
            }
        };
        Workload {
            parameters,
            secrets,
            token_per_pod: class == Class::Hostile && auth == Auth::NodePublish,
        }
    }

    /// The Mount of pod number `pod`, with the object versions it last received.
    pub fn request(&self, pod: usize, current: Vec<ObjectVersion>) -> MountRequest {
        let mut attributes = self.parameters.clone();
        for (key, value) in [
            (keys::POD_NAME, format!("bench-{pod}")),
            (keys::POD_NAMESPACE, NAMESPACE.to_owned()),
            (keys::POD_UID, pod_uid(pod)),
            (keys::SERVICE_ACCOUNT, "default".to_owned()),
            ("csi.storage.k8s.io/ephemeral", "true".to_owned()),
        ] {
            attributes.insert(key.to_owned(), value);
        }
        MountRequest {
            attributes: serde_json::to_string(&attributes).expect("strings serialize"),
            secrets: if self.token_per_pod {
                json!({ TOKEN_KEY: format!("{TOKEN}-{pod}") }).to_string()
            } else {
                self.secrets.clone()
            },
            target_path: format!(
                "/var/lib/kubelet/pods/{}/volumes/kubernetes.io~csi/secrets/mount",
                pod_uid(pod)
            ),
            permission: "420".to_owned(),
            current_object_version: current,
        }
    }
}

/// A UUID-shaped uid, distinct per pod.
fn pod_uid(pod: usize) -> String {
    format!("00000000-0000-4000-8000-{pod:012}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_has_every_item_and_about_the_size_asked() {
        let env = environment(10, 1 << 20, Class::Classic);
        assert_eq!(env["item009"].as_str().map(str::len), Some(64));
        let size = env.to_string().len();
        assert!((1 << 20) - 200 < size && size <= 1 << 20, "{size}");
        let small = environment(50, 1024, Class::Classic);
        assert!(
            small.get("filler").is_none(),
            "50 items already exceed 1 KB"
        );
    }

    #[test]
    fn each_pod_has_its_own_uid_and_the_same_class() {
        let w = Workload::new(
            "http://127.0.0.1:1/api/esc",
            2,
            Auth::NodePublish,
            Class::Classic,
        );
        let (a, b) = (w.request(1, vec![]), w.request(2, vec![]));
        assert_ne!(a.attributes, b.attributes);
        let attributes: BTreeMap<String, String> = serde_json::from_str(&a.attributes).unwrap();
        assert_eq!(
            attributes[keys::POD_UID],
            "00000000-0000-4000-8000-000000000001"
        );
        assert_eq!(
            attributes[keys::SECRETS],
            "- {fileName: item000, secretKey: item000}\n- {fileName: item001, secretKey: item001}\n"
        );
        assert!(!attributes.contains_key(keys::AUTH_SECRET_NAME));
        assert!(a.secrets.contains(TOKEN));
    }

    #[test]
    fn each_class_adds_as_many_items_as_it_says() {
        for class in [Class::Classic, Class::EveryKind, Class::Hostile] {
            let w = Workload::new("http://127.0.0.1:1/api/esc", 2, Auth::NodePublish, class);
            let attributes: BTreeMap<String, String> =
                serde_json::from_str(&w.request(0, vec![]).attributes).unwrap();
            let items = attributes[keys::SECRETS].lines().count();
            assert_eq!(items, 2 + class.added_items(), "{class:?}");
        }
    }

    #[test]
    fn the_every_kind_class_adds_one_item_of_each_new_kind_over_values_it_finds() {
        let w = Workload::new(
            "http://127.0.0.1:1/api/esc",
            2,
            Auth::NodePublish,
            Class::EveryKind,
        );
        let attributes: BTreeMap<String, String> =
            serde_json::from_str(&w.request(0, vec![]).attributes).unwrap();
        let secrets = &attributes[keys::SECRETS];
        assert!(secrets.starts_with("- {fileName: item000, secretKey: item000}\n"));
        assert_eq!(secrets.lines().count(), 2 + Class::EveryKind.added_items());
        for kind in [
            "format: dotenv",
            "format: shell",
            "folderName:",
            "files:",
            "template:",
        ] {
            assert!(secrets.contains(kind), "{kind} missing");
        }
        let env = environment(2, 1024, Class::EveryKind);
        for key in ["item001", "environmentVariables", "worker", "files", "db"] {
            assert!(env.get(key).is_some(), "{key} missing");
        }
        assert!(environment(2, 1024, Class::Classic).get("files").is_none());
    }

    #[test]
    fn with_an_auth_secret_the_class_names_it_and_the_request_carries_no_token() {
        let w = Workload::new(
            "http://127.0.0.1:1/api/esc",
            1,
            Auth::AuthSecret,
            Class::Classic,
        );
        let request = w.request(0, vec![]);
        let attributes: BTreeMap<String, String> =
            serde_json::from_str(&request.attributes).unwrap();
        assert_eq!(attributes[keys::AUTH_SECRET_NAME], AUTH_SECRET);
        assert_eq!(attributes[keys::POD_NAMESPACE], NAMESPACE);
        assert_eq!(request.secrets, "null");
    }
}
