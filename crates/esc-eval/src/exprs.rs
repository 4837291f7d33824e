//! The definition's expression tree in the API's `Expr` shape (the `exprs` of a check or an
//! open): each expression's range, and its structure (`object`, `list`, `builtin` with its
//! name, name range and argument, `literal`). The `esc` CLI walks it to find where a path is
//! defined (`esc env get ENV PATH`). Interpolations and references carry their range only.

use serde_json::{Map, Value as Json, json};

use crate::ast::{Expr, ExprKind};
use crate::{Definition, Number};

impl Definition {
    /// The `exprs` of each top-level value; empty when the definition did not load.
    #[must_use]
    pub fn exprs(&self) -> Map<String, Json> {
        let Some(decl) = &self.decl else {
            return Map::new();
        };
        decl.values
            .iter()
            .map(|(k, _, x)| (k.clone(), expr(x, 0)))
            .collect()
    }
}

/// Deeper than the YAML reader allows; a bound for the recursion regardless.
const MAX_DEPTH: usize = 256;

fn expr(x: &Expr, depth: usize) -> Json {
    let mut out = Map::new();
    if let Some(range) = &x.loc.range {
        out.insert("range".into(), json!(range));
    }
    if depth > MAX_DEPTH {
        return Json::Object(out);
    }
    match &x.kind {
        ExprKind::Null => {
            out.insert("literal".into(), Json::Null);
        }
        ExprKind::Bool(b) => {
            out.insert("literal".into(), json!(b));
        }
        ExprKind::Number(n) => {
            let literal = Number::new(n).map_or_else(|| json!(n), |n| json!(n));
            out.insert("literal".into(), literal);
        }
        ExprKind::String(s) => {
            out.insert("literal".into(), json!(s));
        }
        ExprKind::Interpolate(_) | ExprKind::Symbol(_) => {}
        ExprKind::Array(items) => {
            let list: Vec<Json> = items.iter().map(|i| expr(i, depth + 1)).collect();
            out.insert("list".into(), Json::Array(list));
        }
        ExprKind::Object(entries) => {
            let object: Map<String, Json> = entries
                .iter()
                .filter_map(|e| {
                    let (k, _) = e.key.as_ref()?;
                    Some((k.clone(), expr(&e.value, depth + 1)))
                })
                .collect();
            out.insert("object".into(), Json::Object(object));
        }
        ExprKind::Builtin(b) => {
            let mut builtin = Map::new();
            builtin.insert("name".into(), json!(b.name));
            if let Some(r) = &b.name_range {
                builtin.insert("nameRange".into(), json!(r));
            }
            if let Some(arg) = &b.arg {
                builtin.insert("arg".into(), expr(arg, depth + 1));
            }
            out.insert("builtin".into(), Json::Object(builtin));
        }
    }
    Json::Object(out)
}
