//! The API's JSON shapes (`esc-openapi.yaml`) that the server sends. Values are
//! `esc_eval::Value`, written in the API's `Value` shape by [`esc_eval::Value::wire`], each
//! number as the text it was written with.

use std::collections::BTreeMap;

use esc_eval::Value;
use serde::Serialize;
use serde_json::value::RawValue;

/// What an `open` evaluated, kept for the session's reads.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) properties: BTreeMap<String, Value>,
    pub(crate) execution_context: BTreeMap<String, Value>,
    /// The definition's expressions, for the `exprs` of a read, kept as their JSON text.
    pub(crate) exprs: Box<RawValue>,
}

impl Default for Opened {
    fn default() -> Opened {
        Opened {
            properties: BTreeMap::new(),
            execution_context: BTreeMap::new(),
            exprs: exprs(&esc_eval::load("", b"").0),
        }
    }
}

/// A definition's `exprs` as JSON text: a tenth of the memory of the same tree of values.
pub(crate) fn exprs(definition: &esc_eval::Definition) -> Box<RawValue> {
    // It cannot fail (string keys, numbers checked as JSON); were it to, `exprs` is optional.
    serde_json::value::to_raw_value(&definition.exprs())
        .unwrap_or_else(|_| RawValue::NULL.to_owned())
}

impl Opened {
    /// Its size as JSON, counted without building the text: what a session weighs against the
    /// server's byte budget.
    pub(crate) fn encoded_len(&self) -> usize {
        struct Count(usize);
        impl std::io::Write for Count {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 = self.0.saturating_add(buf.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut count = Count(0);
        // Writing to a counter cannot fail, and these maps have string keys.
        let _ = serde_json::to_writer(&mut count, &self.properties);
        let _ = serde_json::to_writer(&mut count, &self.execution_context);
        count.0.saturating_add(self.exprs.get().len())
    }
}

/// `Environment` (and, with diagnostics, `CheckEnvironment`).
#[derive(Debug, Serialize)]
pub(crate) struct Environment<'a> {
    #[serde(serialize_with = "esc_eval::serialize_wire_map")]
    pub(crate) properties: &'a BTreeMap<String, Value>,
    #[serde(rename = "executionContext")]
    pub(crate) execution_context: ExecutionContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) diagnostics: Option<Vec<Diagnostic>>,
    /// `exprs`: the definition's expression tree, which `esc env get ENV PATH` walks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exprs: Option<&'a RawValue>,
}

/// `EvaluatedExecutionContext`.
#[derive(Debug, Serialize)]
pub(crate) struct ExecutionContext<'a> {
    #[serde(serialize_with = "esc_eval::serialize_wire_map")]
    pub(crate) properties: &'a BTreeMap<String, Value>,
}

/// `EnvironmentDiagnostic`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Diagnostic {
    pub(crate) summary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) range: Option<esc_eval::Range>,
}

impl From<&esc_eval::Diagnostic> for Diagnostic {
    fn from(d: &esc_eval::Diagnostic) -> Diagnostic {
        Diagnostic {
            summary: d.summary.clone(),
            path: d.path.clone(),
            range: d.range.clone(),
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
