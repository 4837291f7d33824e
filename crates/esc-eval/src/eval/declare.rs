//! Declaring expressions: the syntax tree of each environment is flattened into the
//! evaluator's arena, one node per expression, before anything is evaluated.
//!
//! Each node records the schema its result has before evaluation (builtins' result types),
//! and, for a value that overrides an imported one, the value it overrides (its base).

use std::collections::BTreeMap;
use std::rc::Rc;

use super::values::property;
use super::{Repr, Run, V, XId, XKind};
use crate::ast::{self, Builtin, Call, Expr, ExprKind, Loc};
use crate::schema::{self, Schema};

impl Run<'_> {
    pub(super) fn missing(&mut self, path: String, base: Option<V>) -> XId {
        self.push(path, Loc::default(), XKind::Missing, schema::always(), base)
    }

    pub(super) fn declare_opt(&mut self, x: Option<&Expr>) -> XId {
        match x {
            Some(x) => self.declare("", x, None),
            None => self.missing(String::new(), None),
        }
    }

    pub(super) fn declare(&mut self, path: &str, x: &Expr, base: Option<V>) -> XId {
        let loc = x.loc.clone();
        let (kind, schema) = match &x.kind {
            ExprKind::Null => (XKind::Literal(Repr::Null), schema::typed("null")),
            ExprKind::Bool(b) => (XKind::Literal(Repr::Bool(*b)), schema::always()),
            ExprKind::Number(n) => (XKind::Literal(Repr::Number(n.clone())), schema::always()),
            ExprKind::String(s) => (XKind::Literal(Repr::String(s.clone())), schema::always()),
            ExprKind::Interpolate(parts) => {
                let parts = parts
                    .iter()
                    .map(|p| {
                        (
                            p.text.clone(),
                            p.access.as_ref().map(|a| a.accessors.clone()),
                        )
                    })
                    .collect();
                (XKind::Interpolate(parts), schema::typed("string"))
            }
            ExprKind::Symbol(a) => (XKind::Symbol(a.accessors.clone()), schema::always()),
            ExprKind::Array(items) => {
                let ids = items
                    .iter()
                    .enumerate()
                    .map(|(i, e)| self.declare(&format!("{path}[{i}]"), e, None))
                    .collect();
                (XKind::Array(ids), schema::array_of(schema::always()))
            }
            ExprKind::Object(entries) => {
                let mut props = BTreeMap::new();
                for e in entries {
                    let Some((k, kloc)) = &e.key else { continue };
                    if props.contains_key(k) {
                        self.diags.push(kloc.error(format!("duplicate key {k:?}")));
                        continue;
                    }
                    let b = base.as_ref().and_then(|b| property(b, k));
                    let id = self.declare(&ast::join(path, k), &e.value, b);
                    props.insert(k.clone(), id);
                }
                (XKind::Object(props), schema::always())
            }
            ExprKind::Builtin(b) => self.declare_builtin(b),
        };
        self.push(path.to_owned(), loc, kind, schema, base)
    }

    pub(super) fn declare_builtin(&mut self, b: &Builtin) -> (XKind, Rc<Schema>) {
        let string = schema::typed("string");
        match &b.call {
            Call::Open { provider, inputs } => {
                let inputs = self.declare_opt(inputs.as_ref());
                (
                    XKind::Open {
                        provider: provider.clone(),
                        inputs,
                    },
                    schema::always(),
                )
            }
            Call::Rotate {
                provider,
                inputs,
                state,
            } => {
                let inputs = self.declare_opt(inputs.as_ref());
                let state = self.declare_opt(state.as_ref());
                (
                    XKind::Rotate {
                        provider: provider.clone(),
                        inputs,
                        state,
                    },
                    schema::always(),
                )
            }
            Call::Plaintext(x) => {
                let id = self.declare("", x, None);
                self.xs[id].secret = true;
                (XKind::Plaintext(id), string)
            }
            Call::Ciphertext(text) => (XKind::Ciphertext(text.clone()), string),
            Call::Join { delimiter, values } => {
                let d = self.declare_opt(delimiter.as_ref());
                let v = self.declare_opt(values.as_ref());
                (XKind::Join(d, v), string)
            }
            Call::Split {
                delimiter,
                string: s,
            } => {
                let d = self.declare_opt(delimiter.as_ref());
                let v = self.declare_opt(s.as_ref());
                (XKind::Split(d, v), schema::array_of(string))
            }
            Call::Concat(x) => (
                XKind::Concat(self.declare("", x, None)),
                schema::array_of(schema::always()),
            ),
            Call::ToJson(x) => (XKind::ToJson(self.declare("", x, None)), string),
            Call::ToYaml(x) => (XKind::ToYaml(self.declare("", x, None)), string),
            Call::FromJson(x) => (XKind::FromJson(self.declare("", x, None)), schema::always()),
            Call::ToString(x) => (XKind::ToString(self.declare("", x, None)), string),
            Call::ToBase64(x) => (XKind::ToBase64(self.declare("", x, None)), string),
            Call::FromBase64(x) => (XKind::FromBase64(self.declare("", x, None)), string),
            Call::Final(x) => (XKind::Final(self.declare("", x, None)), schema::always()),
            Call::Validate { schema: s, value } => {
                let s = self.declare_opt(s.as_ref());
                let v = self.declare_opt(value.as_ref());
                (XKind::Validate(s, v), schema::always())
            }
        }
    }
}
