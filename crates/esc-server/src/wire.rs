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

#[cfg(test)]
impl Default for Opened {
    fn default() -> Opened {
        Opened {
            properties: BTreeMap::new(),
            execution_context: BTreeMap::new(),
            exprs: exprs(&esc_eval::load("", b"").0, &BTreeMap::new()),
        }
    }
}

/// A definition's `exprs` as JSON text (a tenth of the memory of the same tree of values), with
/// the `base` of each member whose value in `properties` overrode an imported one.
pub(crate) fn exprs(
    definition: &esc_eval::Definition,
    properties: &BTreeMap<String, Value>,
) -> Box<RawValue> {
    // It cannot fail (string keys, numbers checked as JSON); were it to, `exprs` is optional.
    serde_json::value::to_raw_value(&definition.exprs_with_bases(properties))
        .unwrap_or_else(|_| RawValue::NULL.to_owned())
}

impl Opened {
    /// The size of a read of it (the API's wire form, traces included), counted without
    /// building the text: what a session weighs against the server's byte budget.
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
        let read = Environment {
            properties: &self.properties,
            execution_context: ExecutionContext {
                properties: &self.execution_context,
            },
            diagnostics: None,
            exprs: Some(&self.exprs),
        };
        let mut count = Count(0);
        // Writing to a counter cannot fail, and these maps have string keys.
        let _ = serde_json::to_writer(&mut count, &read);
        count.0
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn exprs_with_bases(definition: &str, imported: &str) -> serde_json::Value {
        serde_json::from_str(&exprs_text(definition, imported)).unwrap()
    }

    /// `exprs` with bases, as the text the server sends.
    fn exprs_text(definition: &str, imported: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("default")).unwrap();
        std::fs::write(dir.path().join("default/base.yaml"), imported).unwrap();
        let store = crate::store::Store::new(dir.path().to_path_buf());
        let evaluation = crate::evaluate::run(
            &store,
            "local",
            "acme",
            "shop/dev",
            definition.as_bytes(),
            crate::evaluate::Mode::Open,
        );
        let properties = evaluation.properties.unwrap();
        exprs(
            &esc_eval::load("shop/dev", definition.as_bytes()).0,
            &properties,
        )
        .get()
        .to_owned()
    }

    #[test]
    fn an_overriding_member_names_the_imported_definition_it_overrides() {
        let exprs = exprs_with_bases(
            "imports: [base]\nvalues:\n  region: us\n  app:\n    port: 1\n    name: x\n  \
             list: [1]\n",
            "values:\n  region: eu\n  app:\n    port: 2\n  list: [2]\n",
        );
        assert_eq!(exprs["region"]["range"]["environment"], "shop/dev");
        assert_eq!(
            exprs["region"]["base"],
            json!({"range": {"environment": "base",
                "begin": {"line": 2, "column": 11, "byte": 18},
                "end": {"line": 2, "column": 13, "byte": 20}}})
        );
        // Nested members too; a member the import lacks has none, and list elements never.
        let app = &exprs["app"];
        assert_eq!(app["base"]["range"]["begin"]["line"], 4);
        assert_eq!(app["object"]["port"]["base"]["range"]["begin"]["line"], 4);
        assert!(app["object"]["name"].get("base").is_none(), "{app}");
        assert_eq!(exprs["list"]["base"]["range"]["begin"]["line"], 5);
        assert!(exprs["list"]["list"][0].get("base").is_none());
        // The rest of each expression is kept.
        assert_eq!(app["object"]["name"]["literal"], "x");
        assert_eq!(exprs["list"]["list"][0]["literal"], 1);
        assert_eq!(exprs["region"]["literal"], "us");
    }

    #[test]
    fn a_definition_without_imports_has_no_bases_and_its_exprs_are_as_without_values() {
        let with_bases = exprs_with_bases("values:\n  a: {b: 1}\n", "values: {}\n");
        assert!(!with_bases.to_string().contains("\"base\""), "{with_bases}");
        let definition = esc_eval::load("x", b"values: {a: 1}").0;
        let without = serde_json::to_string(&definition.exprs()).unwrap();
        let with_none = exprs(&definition, &BTreeMap::new());
        assert_eq!(with_none.get(), without);
    }

    #[test]
    fn an_override_nested_as_deep_as_definitions_go_gets_its_bases() {
        let nested = |leaf: &str| {
            let mut yaml = String::from("values:\n");
            for depth in 0..120 {
                yaml.push_str(&format!("{}k{depth}:\n", " ".repeat(2 * depth + 2)));
            }
            yaml.push_str(&format!("{}leaf: {leaf}\n", " ".repeat(242)));
            yaml
        };
        let definition = nested("mine").replace("values:\n", "imports: [base]\nvalues:\n");
        // Deeper than serde_json parses into a tree (its recursion limit): counted in the text.
        let text = exprs_text(&definition, &nested("theirs"));
        assert_eq!(text.matches("\"base\":").count(), 121, "{text}");
    }
}
