//! The `base` of each expression in `exprs`: the imported definition it overrides, which
//! `esc env get ENV PATH` lists under "Defined at" after the expression itself.
//!
//! The evaluator's values already carry that chain (`trace.base`), so the bases are read
//! from the evaluated properties rather than by evaluating the imports a second time. As in
//! Pulumi's evaluator, only object members have a base (list elements never do); each base
//! here carries its `range` and its own `base`, not the imported expression's structure.

use std::collections::BTreeMap;

use esc_eval::{Data, Value};
use serde_json::{Map, Value as Json};

/// Deeper than a definition can nest; a bound for the recursion regardless.
const MAX_DEPTH: usize = 512;

/// Adds `base` to each expression of `exprs` (a definition's top-level expressions) whose
/// value in `properties` overrode an imported one.
pub(crate) fn add(exprs: &mut Map<String, Json>, properties: &BTreeMap<String, Value>) {
    members(exprs, properties, 0);
}

fn members(exprs: &mut Map<String, Json>, properties: &BTreeMap<String, Value>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for (key, expr) in exprs.iter_mut() {
        let (Some(value), Json::Object(expr)) = (properties.get(key), expr) else {
            continue;
        };
        if let Some(base) = &value.trace.base {
            expr.insert("base".into(), chain(base, depth + 1));
        }
        if let (Some(Json::Object(children)), Data::Object(values)) =
            (expr.get_mut("object"), &value.data)
        {
            members(children, values, depth + 1);
        }
    }
}

/// `{"range": <where base was defined>, "base": <what it overrode>}`.
fn chain(base: &Value, depth: usize) -> Json {
    let mut expr = Map::new();
    let range = base.trace.def.clone().unwrap_or_default();
    expr.insert(
        "range".into(),
        serde_json::to_value(range).unwrap_or_default(),
    );
    if let Some(next) = &base.trace.base
        && depth < MAX_DEPTH
    {
        expr.insert("base".into(), chain(next, depth + 1));
    }
    Json::Object(expr)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn exprs_with_bases(definition: &str, imported: &str) -> Json {
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
        let mut exprs = esc_eval::load("shop/dev", definition.as_bytes()).0.exprs();
        super::add(&mut exprs, &properties);
        Json::Object(exprs)
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
    }

    #[test]
    fn a_definition_without_imports_has_no_bases() {
        let exprs = exprs_with_bases("values:\n  a: {b: 1}\n", "values: {}\n");
        assert!(!exprs.to_string().contains("\"base\""), "{exprs}");
    }
}
