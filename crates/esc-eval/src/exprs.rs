//! The definition's expression tree in the API's `Expr` shape (the `exprs` of a check or an
//! open): each expression's range, and its structure (`object`, `list`, `builtin` with its
//! name, name range and argument, `literal`). The `esc` CLI walks it to find where a path is
//! defined (`esc env get ENV PATH`). Interpolations and references carry their range only.
//!
//! It is a view that serializes straight from the syntax tree: built as a `serde_json::Value`,
//! the ranges of a 50,000-key definition took 380 MB of small maps.
//!
//! Given the evaluated values, each expression whose value overrode an imported one also gets
//! its `base` (`{range, base}`, from the value's `trace.base` chain), which `esc env get ENV
//! PATH` lists under "Defined at". As in Pulumi's evaluator, only object members have a base
//! (list elements never do), and a member can only have one when its parent object has one.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::ast::{Builtin, Entry, Expr, ExprKind};
use crate::{Data, Definition, Number, Value};

/// The `exprs` of each top-level value, as [`Definition::exprs`] returns it.
#[derive(Clone, Copy)]
pub struct Exprs<'a> {
    definition: &'a Definition,
    /// The evaluated values, for the bases.
    values: Option<&'a BTreeMap<String, Value>>,
}

impl std::fmt::Debug for Exprs<'_> {
    /// Literals can be plaintext secrets: only the type is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exprs")
    }
}

impl Definition {
    /// The `exprs` of each top-level value (serializes as an empty object when the definition
    /// did not load).
    #[must_use]
    pub fn exprs(&self) -> Exprs<'_> {
        Exprs {
            definition: self,
            values: None,
        }
    }

    /// [`Definition::exprs`], with the `base` of each member whose value in `values` (this
    /// definition's evaluated properties) overrode an imported one.
    #[must_use]
    pub fn exprs_with_bases<'a>(&'a self, values: &'a BTreeMap<String, Value>) -> Exprs<'a> {
        Exprs {
            definition: self,
            values: Some(values),
        }
    }
}

/// The value of member `key` in `values`, if it overrode an imported one.
fn overriding<'a>(values: Option<&'a BTreeMap<String, Value>>, key: &str) -> Option<&'a Value> {
    values?.get(key).filter(|v| v.trace_base().is_some())
}

/// Deeper than the YAML reader allows; a bound for the recursion regardless.
const MAX_DEPTH: usize = 256;

impl Serialize for Exprs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(decl) = &self.definition.decl else {
            return s.serialize_map(Some(0))?.end();
        };
        // Sorted, and the last of a repeated key wins, as in a JSON object.
        let exprs: BTreeMap<&str, &Expr> = (decl.values.iter())
            .map(|(k, _, x)| (k.as_str(), x))
            .collect();
        s.collect_map((exprs.into_iter()).map(|(k, x)| (k, View(x, 0, overriding(self.values, k)))))
    }
}

/// An expression, its depth, and its value when that overrode an imported one.
struct View<'a>(&'a Expr, usize, Option<&'a Value>);
struct List<'a>(&'a [Expr], usize);
struct Object<'a>(&'a [Entry], usize, Option<&'a BTreeMap<String, Value>>);
struct Call<'a>(&'a Builtin, usize);
/// `{"range": <where a base was defined>, "base": <what it overrode>}`.
struct Chain<'a>(&'a Value, usize);

impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let View(x, depth, value) = *self;
        let mut map = s.serialize_map(None)?;
        if depth <= MAX_DEPTH {
            match &x.kind {
                ExprKind::Null => map.serialize_entry("literal", &())?,
                ExprKind::Bool(b) => map.serialize_entry("literal", b)?,
                ExprKind::Number(n) => match Number::new(n) {
                    Some(number) => map.serialize_entry("literal", &number)?,
                    None => map.serialize_entry("literal", n)?,
                },
                ExprKind::String(text) => map.serialize_entry("literal", text)?,
                ExprKind::Interpolate(_) | ExprKind::Symbol(_) => {}
                ExprKind::Array(items) => map.serialize_entry("list", &List(items, depth + 1))?,
                ExprKind::Object(entries) => {
                    let members = value.and_then(|v| match &v.data {
                        Data::Object(members) => Some(members),
                        _ => None,
                    });
                    map.serialize_entry("object", &Object(entries, depth + 1, members))?;
                }
                ExprKind::Builtin(b) => map.serialize_entry("builtin", &Call(b, depth + 1))?,
            }
        }
        if let Some(range) = &x.loc.range {
            map.serialize_entry("range", range)?;
        }
        if let Some(base) = value.and_then(Value::trace_base) {
            map.serialize_entry("base", &Chain(base, depth))?;
        }
        map.end()
    }
}

impl Serialize for Chain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Chain(base, depth) = *self;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("range", &base.trace_def().cloned().unwrap_or_default())?;
        if let Some(next) = base.trace_base()
            && depth < MAX_DEPTH
        {
            map.serialize_entry("base", &Chain(next, depth + 1))?;
        }
        map.end()
    }
}

impl Serialize for List<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&View(item, self.1, None))?;
        }
        seq.end()
    }
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries: BTreeMap<&str, &Expr> = (self.0.iter())
            .filter_map(|e| Some((e.key.as_ref()?.0.as_str(), &e.value)))
            .collect();
        s.collect_map(
            (entries.into_iter()).map(|(k, x)| (k, View(x, self.1, overriding(self.2, k)))),
        )
    }
}

impl Serialize for Call<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Call(b, depth) = *self;
        let mut map = s.serialize_map(None)?;
        if let Some(arg) = &b.arg {
            map.serialize_entry("arg", &View(arg, depth, None))?;
        }
        map.serialize_entry("name", &b.name)?;
        if let Some(range) = &b.name_range {
            map.serialize_entry("nameRange", range)?;
        }
        map.end()
    }
}
