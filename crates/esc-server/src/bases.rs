//! The `base` of each expression in `exprs`: the imported definition it overrides, which
//! `esc env get ENV PATH` lists under "Defined at" after the expression itself.
//!
//! The evaluator's values already carry that chain (`trace.base`), so the bases are read
//! from the evaluated properties rather than by evaluating the imports a second time. As in
//! Pulumi's evaluator, only object members have a base (list elements never do), and a
//! member can only have one when its parent object has one. Each base carries its `range`
//! and its own `base`, not the imported expression's structure.
//!
//! `exprs` are kept as JSON text (a large definition's tree of values took hundreds of MB),
//! so the bases are spliced into that text: only the objects on an overridden path are
//! parsed, one level at a time, and everything else is copied as it is.

use std::collections::BTreeMap;

use esc_eval::{Data, Value};
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// Deeper than a definition can nest; a bound for the recursion regardless.
const MAX_DEPTH: usize = 512;

/// `exprs` (a definition's top-level expressions, as JSON text) with a `base` on each member
/// whose value in `properties` overrode an imported one; unchanged when there is none.
pub(crate) fn add(exprs: Box<RawValue>, properties: &BTreeMap<String, Value>) -> Box<RawValue> {
    if !properties.values().any(|v| v.trace.base.is_some()) {
        return exprs;
    }
    let members = Members {
        raw: &exprs,
        values: properties,
        depth: 0,
    };
    match serde_json::value::to_raw_value(&members) {
        Ok(with_bases) => with_bases,
        // The text is our own serialization: it parses. Were it not to, `base` is optional.
        Err(_) => exprs,
    }
}

/// An object of expressions, each next to its value.
struct Members<'a> {
    raw: &'a RawValue,
    values: &'a BTreeMap<String, Value>,
    depth: usize,
}

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries: BTreeMap<String, &RawValue> =
            serde_json::from_str(self.raw.get()).map_err(S::Error::custom)?;
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (key, raw) in entries {
            match self.values.get(&key) {
                Some(value) if value.trace.base.is_some() && self.depth < MAX_DEPTH => {
                    let member = Member {
                        raw,
                        value,
                        depth: self.depth + 1,
                    };
                    map.serialize_entry(&key, &member)?;
                }
                _ => map.serialize_entry(&key, raw)?,
            }
        }
        map.end()
    }
}

/// One expression whose value overrode an imported one: its fields, its members' bases when
/// it is an object, and its own `base`.
struct Member<'a> {
    raw: &'a RawValue,
    value: &'a Value,
    depth: usize,
}

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields: BTreeMap<String, &RawValue> =
            serde_json::from_str(self.raw.get()).map_err(S::Error::custom)?;
        let mut map = s.serialize_map(None)?;
        for (name, raw) in fields {
            match (name.as_str(), &self.value.data) {
                ("object", Data::Object(values)) => {
                    let members = Members {
                        raw,
                        values,
                        depth: self.depth,
                    };
                    map.serialize_entry(&name, &members)?;
                }
                ("base", _) => {}
                _ => map.serialize_entry(&name, raw)?,
            }
        }
        if let Some(base) = &self.value.trace.base {
            map.serialize_entry("base", &Chain(base, self.depth))?;
        }
        map.end()
    }
}

/// `{"range": <where a base was defined>, "base": <what it overrode>}`.
struct Chain<'a>(&'a Value, usize);

impl Serialize for Chain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Chain(base, depth) = *self;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("range", &base.trace.def.clone().unwrap_or_default())?;
        if let Some(next) = &base.trace.base
            && depth < MAX_DEPTH
        {
            map.serialize_entry("base", &Chain(next, depth + 1))?;
        }
        map.end()
    }
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
        let exprs = crate::wire::exprs(&esc_eval::load("shop/dev", definition.as_bytes()).0);
        add(exprs, &properties).get().to_owned()
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
    fn a_definition_without_imports_has_no_bases_and_its_text_is_kept() {
        let exprs = exprs_with_bases("values:\n  a: {b: 1}\n", "values: {}\n");
        assert!(!exprs.to_string().contains("\"base\""), "{exprs}");
        let text = crate::wire::exprs(&esc_eval::load("x", b"values: {a: 1}").0);
        let same = add(text.clone(), &BTreeMap::new());
        assert_eq!(same.get(), text.get());
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
        // Deeper than serde_json parses into a tree: the bases are counted in the text.
        let text = exprs_text(&definition, &nested("theirs"));
        assert_eq!(text.matches("\"base\":").count(), 121, "{text}");
    }
}
