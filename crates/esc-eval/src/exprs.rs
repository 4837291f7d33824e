//! The definition's expression tree in the API's `Expr` shape (the `exprs` of a check or an
//! open): each expression's range, and its structure (`object`, `list`, `builtin` with its
//! name, name range and argument, `literal`). The `esc` CLI walks it to find where a path is
//! defined (`esc env get ENV PATH`). Interpolations and references carry their range only.
//!
//! It is a view that serializes straight from the syntax tree: built as a `serde_json::Value`,
//! the ranges of a 50,000-key definition took 380 MB of small maps.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::ast::{Builtin, Entry, Expr, ExprKind};
use crate::{Definition, Number};

/// The `exprs` of each top-level value, as [`Definition::exprs`] returns it.
#[derive(Clone, Copy)]
pub struct Exprs<'a>(&'a Definition);

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
        Exprs(self)
    }
}

/// Deeper than the YAML reader allows; a bound for the recursion regardless.
const MAX_DEPTH: usize = 256;

impl Serialize for Exprs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(decl) = &self.0.decl else {
            return s.serialize_map(Some(0))?.end();
        };
        // Sorted, and the last of a repeated key wins, as in a JSON object.
        let values: BTreeMap<&str, &Expr> = decl
            .values
            .iter()
            .map(|(k, _, x)| (k.as_str(), x))
            .collect();
        s.collect_map(values.into_iter().map(|(k, x)| (k, View(x, 0))))
    }
}

struct View<'a>(&'a Expr, usize);
struct List<'a>(&'a [Expr], usize);
struct Object<'a>(&'a [Entry], usize);
struct Call<'a>(&'a Builtin, usize);

impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let View(x, depth) = *self;
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
                    map.serialize_entry("object", &Object(entries, depth + 1))?;
                }
                ExprKind::Builtin(b) => map.serialize_entry("builtin", &Call(b, depth + 1))?,
            }
        }
        if let Some(range) = &x.loc.range {
            map.serialize_entry("range", range)?;
        }
        map.end()
    }
}

impl Serialize for List<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&View(item, self.1))?;
        }
        seq.end()
    }
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries: BTreeMap<&str, &Expr> = (self.0.iter())
            .filter_map(|e| Some((e.key.as_ref()?.0.as_str(), &e.value)))
            .collect();
        s.collect_map(entries.into_iter().map(|(k, x)| (k, View(x, self.1))))
    }
}

impl Serialize for Call<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Call(b, depth) = *self;
        let mut map = s.serialize_map(None)?;
        if let Some(arg) = &b.arg {
            map.serialize_entry("arg", &View(arg, depth))?;
        }
        map.serialize_entry("name", &b.name)?;
        if let Some(range) = &b.name_range {
            map.serialize_entry("nameRange", range)?;
        }
        map.end()
    }
}
