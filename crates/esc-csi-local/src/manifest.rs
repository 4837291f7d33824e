//! Reading a SecretProviderClass manifest: the YAML a user applies with `kubectl`.
//!
//! Only what the driver uses is read: the name, `spec.provider` and `spec.parameters`. A file
//! may hold several YAML documents (a class next to a Deployment, say); the class is picked
//! from among them.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The API groups/versions the driver serves SecretProviderClasses under.
pub const API_VERSIONS: [&str; 2] = [
    "secrets-store.csi.x-k8s.io/v1",
    "secrets-store.csi.x-k8s.io/v1alpha1",
];
pub const KIND: &str = "SecretProviderClass";
/// The provider name esc-csi serves as (and the Go provider did).
pub const PROVIDER: &str = "pulumi";

/// A SecretProviderClass, as far as a mount needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretProviderClass {
    pub name: String,
    pub namespace: Option<String>,
    pub provider: String,
    /// `spec.parameters`: the attributes the provider receives, before the pod's are added.
    pub parameters: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("no SecretProviderClass in it (found {0})")]
    NoClass(String),
    #[error(
        "it holds {} SecretProviderClasses ({}); choose one with --name",
        .0.len(),
        .0.join(", ")
    )]
    Several(Vec<String>),
    #[error("no SecretProviderClass named {wanted:?} in it (found {})", found.join(", "))]
    NotFound { wanted: String, found: Vec<String> },
    #[error("SecretProviderClass {name:?}: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    spec: Option<serde_norway::Value>,
}

#[derive(Default, Deserialize)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
}

/// Reads the SecretProviderClass in `text`; with several, `name` picks one.
pub fn read(text: &str, name: Option<&str>) -> Result<SecretProviderClass, ManifestError> {
    let mut seen = Vec::new();
    let mut classes = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = serde_norway::Value::deserialize(document)
            .map_err(|e| ManifestError::Yaml(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let doc: Document = serde_norway::from_value(value)
            .map_err(|e| ManifestError::Yaml(format!("not a Kubernetes object: {e}")))?;
        let kind = doc
            .kind
            .clone()
            .unwrap_or_else(|| "an object without kind".to_owned());
        if kind != KIND {
            seen.push(kind);
            continue;
        }
        classes.push(doc);
    }
    let names: Vec<String> = classes
        .iter()
        .map(|d| d.metadata.name.clone().unwrap_or_default())
        .collect();
    let doc = match (name, classes.len()) {
        (None, 0) => {
            let found = if seen.is_empty() {
                "no objects".to_owned()
            } else {
                seen.join(", ")
            };
            return Err(ManifestError::NoClass(found));
        }
        (None, 1) => classes.remove(0),
        (None, _) => return Err(ManifestError::Several(names)),
        (Some(wanted), _) => match names.iter().position(|n| n == wanted) {
            Some(i) => classes.remove(i),
            None => {
                return Err(ManifestError::NotFound {
                    wanted: wanted.to_owned(),
                    found: names,
                });
            }
        },
    };
    class(doc)
}

fn class(doc: Document) -> Result<SecretProviderClass, ManifestError> {
    let name = doc.metadata.name.unwrap_or_default();
    let invalid = |message: String| ManifestError::Invalid {
        name: name.clone(),
        message,
    };
    if name.is_empty() {
        return Err(invalid("metadata.name is missing".to_owned()));
    }
    match doc.api_version.as_deref() {
        Some(v) if API_VERSIONS.contains(&v) => {}
        Some(v) => {
            return Err(invalid(format!(
                "apiVersion {v:?} is not one the driver serves ({})",
                API_VERSIONS.join(" or ")
            )));
        }
        None => return Err(invalid("apiVersion is missing".to_owned())),
    }
    let spec = doc
        .spec
        .ok_or_else(|| invalid("spec is missing".to_owned()))?;
    let provider = match spec.get("provider") {
        Some(serde_norway::Value::String(p)) => p.clone(),
        Some(_) => return Err(invalid("spec.provider must be a string".to_owned())),
        None => return Err(invalid("spec.provider is missing".to_owned())),
    };
    if provider != PROVIDER {
        return Err(invalid(format!(
            "spec.provider is {provider:?}; esc-csi serves provider {PROVIDER:?}"
        )));
    }
    let parameters = match spec.get("parameters") {
        None | Some(serde_norway::Value::Null) => BTreeMap::new(),
        Some(serde_norway::Value::Mapping(map)) => {
            let mut parameters = BTreeMap::new();
            for (key, value) in map {
                let Some(key) = key.as_str() else {
                    return Err(invalid("spec.parameters keys must be strings".to_owned()));
                };
                let Some(value) = value.as_str() else {
                    return Err(invalid(format!(
                        "spec.parameters.{key} must be a string (Kubernetes refuses other \
                         types here; quote it)"
                    )));
                };
                parameters.insert(key.to_owned(), value.to_owned());
            }
            parameters
        }
        Some(_) => {
            return Err(invalid(
                "spec.parameters must be a map of strings".to_owned(),
            ));
        }
    };
    Ok(SecretProviderClass {
        name,
        namespace: doc.metadata.namespace,
        provider,
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASS: &str = "\
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: app
  namespace: web
spec:
  provider: pulumi
  parameters:
    organization: acme
    environment: app/dev
    secrets: |
      - fileName: a
        secretKey: a
";

    #[test]
    fn a_class_reads_its_name_namespace_and_parameters() {
        let class = read(CLASS, None).unwrap();
        assert_eq!(class.name, "app");
        assert_eq!(class.namespace.as_deref(), Some("web"));
        assert_eq!(class.parameters["organization"], "acme");
        assert_eq!(
            class.parameters["secrets"],
            "- fileName: a\n  secretKey: a\n"
        );
    }

    #[test]
    fn the_class_is_found_among_other_documents() {
        let text =
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: web}}\n---\n{CLASS}");
        assert_eq!(read(&text, None).unwrap().name, "app");
    }

    #[test]
    fn several_classes_need_a_name() {
        let other = CLASS.replace("name: app", "name: other");
        let text = format!("{CLASS}---\n{other}");
        assert_eq!(
            read(&text, None).unwrap_err().to_string(),
            "it holds 2 SecretProviderClasses (app, other); choose one with --name"
        );
        assert_eq!(read(&text, Some("other")).unwrap().name, "other");
        assert_eq!(
            read(&text, Some("x")).unwrap_err().to_string(),
            "no SecretProviderClass named \"x\" in it (found app, other)"
        );
    }

    #[test]
    fn a_file_without_a_class_says_what_it_found() {
        assert_eq!(
            read("kind: Pod\n", None).unwrap_err().to_string(),
            "no SecretProviderClass in it (found Pod)"
        );
        assert_eq!(
            read("", None).unwrap_err().to_string(),
            "no SecretProviderClass in it (found no objects)"
        );
    }

    #[test]
    fn another_provider_is_refused() {
        let text = CLASS.replace("provider: pulumi", "provider: vault");
        assert_eq!(
            read(&text, None).unwrap_err().to_string(),
            "SecretProviderClass \"app\": spec.provider is \"vault\"; esc-csi serves provider \
             \"pulumi\""
        );
    }

    #[test]
    fn a_parameter_that_is_not_a_string_is_refused() {
        let text = CLASS.replace("organization: acme", "organization: 42");
        assert_eq!(
            read(&text, None).unwrap_err().to_string(),
            "SecretProviderClass \"app\": spec.parameters.organization must be a string \
             (Kubernetes refuses other types here; quote it)"
        );
    }

    #[test]
    fn broken_yaml_is_reported() {
        let err = read("kind: [", None).unwrap_err();
        assert!(matches!(err, ManifestError::Yaml(_)), "{err}");
    }

    #[test]
    fn an_unknown_api_version_is_refused() {
        let text = CLASS.replace("csi.x-k8s.io/v1", "csi.x-k8s.io/v9");
        assert_eq!(
            read(&text, None).unwrap_err().to_string(),
            "SecretProviderClass \"app\": apiVersion \"secrets-store.csi.x-k8s.io/v9\" is not \
             one the driver serves (secrets-store.csi.x-k8s.io/v1 or \
             secrets-store.csi.x-k8s.io/v1alpha1)"
        );
    }
}
