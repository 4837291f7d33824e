//! The API's JSON shapes (`esc-openapi.yaml`), and the evaluated values in the wire form.
//!
//! [`Node`] adapts `esc_eval::Value`, which does not yet serialize or implement
//! `esc_path::Tree`: it holds the same data and flags, with the trace already in its JSON form.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// One value in the API's `Value` shape: `{"value"?, "secret"?, "unknown"?, "trace"}`.
#[derive(Clone, PartialEq, Default)]
pub(crate) struct Node {
    pub(crate) data: NodeData,
    pub(crate) secret: bool,
    pub(crate) unknown: bool,
    /// `{"def"?: Range, "base"?: Value}`.
    pub(crate) trace: serde_json::Value,
}

#[derive(Clone, PartialEq, Default)]
pub(crate) enum NodeData {
    #[default]
    Null,
    Scalar(serde_json::Value),
    Array(Vec<Node>),
    Object(BTreeMap<String, Node>),
}

/// Kinds only: values are mostly secrets.
impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use esc_path::Tree;
        write!(f, "Node({})", self.kind())
    }
}

impl From<&esc_eval::Value> for Node {
    fn from(value: &esc_eval::Value) -> Node {
        let data = match &value.data {
            esc_eval::Data::Null => NodeData::Null,
            esc_eval::Data::Bool(b) => NodeData::Scalar((*b).into()),
            esc_eval::Data::Number(n) => NodeData::Scalar(n.clone().into()),
            esc_eval::Data::String(s) => NodeData::Scalar(s.clone().into()),
            esc_eval::Data::Array(items) => NodeData::Array(items.iter().map(Node::from).collect()),
            esc_eval::Data::Object(members) => NodeData::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), Node::from(v)))
                    .collect(),
            ),
        };
        let mut trace = serde_json::Map::new();
        if let Some(def) = &value.trace.def {
            trace.insert("def".into(), range_json(def));
        }
        if let Some(base) = &value.trace.base {
            let base = serde_json::to_value(Node::from(&**base)).unwrap_or_default();
            trace.insert("base".into(), base);
        }
        Node {
            data,
            secret: value.secret,
            unknown: value.unknown,
            trace: serde_json::Value::Object(trace),
        }
    }
}

fn range_json(range: &esc_eval::Range) -> serde_json::Value {
    serde_json::to_value(range).unwrap_or_default()
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.unknown {
            match &self.data {
                NodeData::Null => {}
                NodeData::Scalar(v) => map.serialize_entry("value", v)?,
                NodeData::Array(items) => map.serialize_entry("value", items)?,
                NodeData::Object(members) => map.serialize_entry("value", members)?,
            }
        }
        if self.secret {
            map.serialize_entry("secret", &true)?;
        }
        if self.unknown {
            map.serialize_entry("unknown", &true)?;
        }
        map.serialize_entry("trace", &self.trace)?;
        map.end()
    }
}

impl esc_path::Tree for Node {
    fn kind(&self) -> esc_path::Kind {
        use esc_path::Kind;
        if self.unknown {
            return Kind::Unknown;
        }
        match &self.data {
            NodeData::Null => Kind::Null,
            NodeData::Scalar(serde_json::Value::Bool(_)) => Kind::Bool,
            NodeData::Scalar(serde_json::Value::Number(_)) => Kind::Number,
            NodeData::Scalar(serde_json::Value::String(_)) => Kind::String,
            NodeData::Scalar(_) => Kind::Null,
            NodeData::Array(_) => Kind::Array,
            NodeData::Object(_) => Kind::Object,
        }
    }

    fn member(&self, key: &str) -> Option<&Self> {
        match &self.data {
            NodeData::Object(members) => members.get(key),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        match &self.data {
            NodeData::Object(members) => members.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn elements(&self) -> Option<&[Self]> {
        match &self.data {
            NodeData::Array(items) => Some(items),
            _ => None,
        }
    }

    fn from_elements(elements: Vec<Self>) -> Self {
        Node {
            data: NodeData::Array(elements),
            trace: serde_json::json!({}),
            ..Node::default()
        }
    }

    fn is_secret(&self) -> bool {
        self.secret
    }
}

/// What an `open` evaluated, kept for the session's reads.
#[derive(Debug, Default)]
pub(crate) struct Opened {
    pub(crate) properties: BTreeMap<String, Node>,
    pub(crate) execution_context: BTreeMap<String, Node>,
}

/// `Environment` (and, with diagnostics, `CheckEnvironment`).
#[derive(Debug, Serialize)]
pub(crate) struct Environment<'a> {
    pub(crate) properties: &'a BTreeMap<String, Node>,
    #[serde(rename = "executionContext")]
    pub(crate) execution_context: ExecutionContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) diagnostics: Option<Vec<Diagnostic>>,
}

/// `EvaluatedExecutionContext`.
#[derive(Debug, Serialize)]
pub(crate) struct ExecutionContext<'a> {
    pub(crate) properties: &'a BTreeMap<String, Node>,
}

/// `EnvironmentDiagnostic`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Diagnostic {
    pub(crate) summary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) range: Option<serde_json::Value>,
}

impl From<&esc_eval::Diagnostic> for Diagnostic {
    fn from(d: &esc_eval::Diagnostic) -> Diagnostic {
        Diagnostic {
            summary: d.summary.clone(),
            path: d.path.clone(),
            range: d.range.as_ref().map(range_json),
        }
    }
}

/// `OpenEnvironment`. Its `diagnostics` (an `EnvironmentDiagnostics` object) is left out.
#[derive(Debug, Serialize)]
pub(crate) struct OpenEnvironment {
    pub(crate) id: String,
}

/// `OrgEnvironment`.
#[derive(Debug, Serialize)]
pub(crate) struct OrgEnvironment {
    pub(crate) organization: String,
    pub(crate) project: String,
    pub(crate) name: String,
    pub(crate) created: String,
    pub(crate) modified: String,
}

/// `OrgEnvironments`; everything fits on one page, so there is no `nextToken`.
#[derive(Debug, Serialize)]
pub(crate) struct OrgEnvironments {
    pub(crate) environments: Vec<OrgEnvironment>,
}

/// `EnvironmentRevision`.
#[derive(Debug, Serialize)]
pub(crate) struct EnvironmentRevision {
    pub(crate) number: u64,
    pub(crate) created: String,
    #[serde(rename = "creatorLogin")]
    pub(crate) creator_login: String,
    #[serde(rename = "creatorName")]
    pub(crate) creator_name: String,
    pub(crate) tags: Vec<String>,
}

/// `EnvironmentRevisionTag`.
#[derive(Debug, Serialize)]
pub(crate) struct EnvironmentRevisionTag {
    pub(crate) revision: u64,
    pub(crate) name: String,
    pub(crate) created: String,
    pub(crate) modified: String,
    #[serde(rename = "editorLogin")]
    pub(crate) editor_login: String,
    #[serde(rename = "editorName")]
    pub(crate) editor_name: String,
}

/// `EnvironmentRevisionTags`.
#[derive(Debug, Serialize)]
pub(crate) struct EnvironmentRevisionTags {
    pub(crate) tags: Vec<EnvironmentRevisionTag>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_serializes_in_the_api_value_shape() {
        let node = Node {
            data: NodeData::Object(BTreeMap::from([
                (
                    "a".to_owned(),
                    Node {
                        data: NodeData::Scalar(json!("x")),
                        secret: true,
                        trace: json!({}),
                        ..Node::default()
                    },
                ),
                (
                    "n".to_owned(),
                    Node {
                        trace: json!({}),
                        ..Node::default()
                    },
                ),
            ])),
            trace: json!({"def": {"environment": "p/e"}}),
            ..Node::default()
        };
        assert_eq!(
            serde_json::to_value(&node).unwrap(),
            json!({
                "value": {
                    "a": {"value": "x", "secret": true, "trace": {}},
                    "n": {"trace": {}},
                },
                "trace": {"def": {"environment": "p/e"}},
            })
        );
        assert_eq!(format!("{:?}", node.member("a").unwrap()), "Node(a string)");
    }

    use esc_path::Tree;
}
