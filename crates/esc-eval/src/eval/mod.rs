//! The evaluator: the expression arena, lazy evaluation with cycle detection, and the
//! dispatch of each kind of expression.
//!
//! Expressions of every environment taking part (the root and its imports) live in one
//! arena and are evaluated lazily, on first reference, so definition order does not matter.
//! Values are shared (`Rc<RefCell<_>>`) because merging an import links a value to the
//! imported value it overrides, and a reference may be taken to any value.
//!
//! The data types live here so that the submodules, which each add one concern to [`Run`],
//! can share their fields without widening their visibility beyond this module:
//! [`declare`] fills the arena, [`imports`] evaluates an environment and what it imports,
//! [`reference`](mod@reference) resolves `${...}`, [`builtins`] and [`external`] compute the `fn::` calls,
//! [`values`] and [`marks`] work on the value graph.

mod builtins;
mod declare;
mod external;
mod gojson;
mod imports;
mod marks;
mod reference;
mod validate;
mod values;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::ast::Loc;
use crate::budget;
use crate::interp::Accessor;
use crate::schema::{self, Schema};
use crate::{Diagnostic, Options, Severity, Value};
use builtins::{Text, write_text};
use values::{export, merge};

pub(crate) type V = Rc<RefCell<Val>>;
type XId = usize;

#[derive(Debug, Clone)]
pub(crate) enum Repr {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<V>),
    Object(BTreeMap<String, V>),
}

/// A value during evaluation.
#[derive(Debug)]
pub(crate) struct Val {
    def: XId,
    base: Option<V>,
    /// Set for unknowns (and copied through); known values derive theirs from the data.
    schema: Option<Rc<Schema>>,
    unknown: bool,
    rotate_only: bool,
    secret: bool,
    fin: bool,
    repr: Repr,
    /// For an unknown value's property: the receiver and the name.
    access: Option<(V, String)>,
    merged_keys: Option<Rc<Vec<String>>>,
    /// Collections nested in this one (0 for a scalar); bounded by the depth budget when
    /// values are built, so that no walk over a value (export, copy, drop) recurses deeper.
    depth: usize,
}

/// How deep a collection of these members is.
fn depth_of(repr: &Repr) -> usize {
    let deepest = |vs: &mut dyn Iterator<Item = &V>| {
        vs.map(|v| v.try_borrow().map_or(0, |b| b.depth))
            .max()
            .unwrap_or(0)
    };
    match repr {
        Repr::Array(items) => 1 + deepest(&mut items.iter()),
        Repr::Object(members) => 1 + deepest(&mut members.values()),
        _ => 0,
    }
}

fn val(def: XId, repr: Repr) -> Val {
    Val {
        depth: depth_of(&repr),
        def,
        base: None,
        schema: None,
        unknown: false,
        rotate_only: false,
        secret: false,
        fin: false,
        repr,
        access: None,
        merged_keys: None,
    }
}

fn unknown_val(def: XId, schema: Rc<Schema>) -> V {
    let mut v = val(def, Repr::Null);
    v.unknown = true;
    v.schema = Some(schema);
    Rc::new(RefCell::new(v))
}

fn rc(v: Val) -> V {
    Rc::new(RefCell::new(v))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Declared,
    Evaluating,
    Done,
}

#[derive(Debug)]
enum XKind {
    Missing,
    Literal(Repr),
    Interpolate(Vec<(String, Option<Vec<Accessor>>)>),
    Symbol(Vec<Accessor>),
    Array(Vec<XId>),
    Object(BTreeMap<String, XId>),
    Open {
        provider: Option<String>,
        inputs: XId,
    },
    Rotate {
        provider: Option<String>,
        inputs: XId,
        state: XId,
    },
    Plaintext(XId),
    Ciphertext(String),
    Join(XId, XId),
    Split(XId, XId),
    Concat(XId),
    ToJson(XId),
    ToYaml(XId),
    FromJson(XId),
    ToString(XId),
    ToBase64(XId),
    FromBase64(XId),
    Final(XId),
    Validate(XId, XId),
}

#[derive(Debug)]
struct XNode {
    path: String,
    loc: Loc,
    kind: XKind,
    base: Option<V>,
    secret: bool,
    state: State,
    value: Option<V>,
    schema: Rc<Schema>,
}

/// One environment under evaluation.
struct Env {
    is_root: bool,
    root: XId,
    context: V,
    imports: V,
    /// What imports see as `context.rootEnvironment.name`.
    child_root: String,
}

pub(crate) struct Run<'o> {
    opts: &'o Options<'o>,
    validating: bool,
    xs: Vec<XNode>,
    imported: HashMap<String, Option<V>>,
    /// Imports being evaluated, innermost last, and imports seen so far (both budgeted).
    import_depth: usize,
    imports_seen: usize,
    pub(crate) diags: Vec<Diagnostic>,
}

// ---- the evaluator ----------------------------------------------------------------------

impl<'o> Run<'o> {
    pub(crate) fn new(opts: &'o Options<'o>, validating: bool) -> Run<'o> {
        Run {
            opts,
            validating,
            xs: Vec::new(),
            imported: HashMap::new(),
            import_depth: 0,
            imports_seen: 0,
            diags: Vec::new(),
        }
    }

    fn decrypt_secrets(&self) -> bool {
        !self.validating || self.opts.show_secrets
    }

    fn push(
        &mut self,
        path: String,
        loc: Loc,
        kind: XKind,
        schema: Rc<Schema>,
        base: Option<V>,
    ) -> XId {
        self.xs.push(XNode {
            path,
            loc,
            kind,
            base,
            secret: false,
            state: State::Declared,
            value: None,
            schema,
        });
        self.xs.len() - 1
    }

    fn error(&mut self, x: XId, summary: impl Into<String>) {
        let d = self.xs[x].loc.error(summary);
        self.diags.push(d);
    }

    fn accessor_error(&mut self, x: XId, acc: &Accessor, summary: impl Into<String>) {
        let loc = &self.xs[x].loc;
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            path: loc.path.clone(),
            range: acc.range.clone().or_else(|| loc.range.clone()),
        });
    }

    /// Reports the exhausted budget at `x` (once per evaluation) and gives an unknown value.
    fn over_budget(&mut self, x: XId) -> V {
        if let Some(summary) = budget::report() {
            self.error(x, summary);
        }
        unknown_val(x, schema::always())
    }

    fn eval(&mut self, env: &Env, x: XId, accept: &Rc<Schema>) -> V {
        if !budget::step() {
            return self.over_budget(x);
        }
        let Some(_depth) = budget::descend() else {
            return self.over_budget(x);
        };
        match self.xs[x].state {
            State::Done => {
                if let Some(v) = &self.xs[x].value {
                    return v.clone();
                }
            }
            State::Evaluating => {
                let path = self.xs[x].path.clone();
                self.error(x, format!("cyclic reference to {path}"));
                return unknown_val(x, schema::always());
            }
            State::Declared => {}
        }
        if accept.rotate_only && (!self.validating || !env.is_root) {
            let path = self.xs[x].path.clone();
            let base = self.xs[x].base.clone();
            let m = self.missing(path, base);
            let v = unknown_val(m, schema::always());
            v.borrow_mut().rotate_only = true;
            return v;
        }
        self.xs[x].state = State::Evaluating;

        let base = self.xs[x].base.clone();
        if let Some(b) = &base
            && b.borrow().fin
        {
            let d = self.xs[x]
                .loc
                .diag(Severity::Warning, "cannot override final value");
            self.diags.push(d);
            self.xs[x].value = Some(b.clone());
            self.xs[x].state = State::Done;
            return b.clone();
        }

        let mut v = self.eval_kind(env, x, accept);
        if base.is_some() && matches!(self.xs[x].kind, XKind::Symbol(_)) {
            // A reference shares the members of the value it refers to; merging links them to
            // the base, which must not change the referenced value.
            v = values::copy_value(&v);
        }
        {
            let mut b = v.borrow_mut();
            if accept.rotate_only {
                b.rotate_only = true;
            }
            if self.xs[x].secret {
                b.secret = true;
            }
        }
        merge(&v, base);
        self.xs[x].value = Some(v.clone());
        self.xs[x].state = State::Done;
        v
    }

    fn with_schema(&self, x: XId, repr: Repr) -> V {
        let mut v = val(x, repr);
        v.schema = Some(self.xs[x].schema.clone());
        rc(v)
    }

    fn unknown_result(&self, x: XId) -> V {
        unknown_val(x, self.xs[x].schema.clone())
    }

    /// The value of expression `x`: literals, interpolations, references and collections
    /// here, builtin calls in [`Run::eval_builtin`].
    fn eval_kind(&mut self, env: &Env, x: XId, accept: &Rc<Schema>) -> V {
        match &self.xs[x].kind {
            XKind::Missing => self.unknown_result(x),
            XKind::Literal(r) => rc(val(x, r.clone())),
            XKind::Interpolate(parts) => {
                let parts = parts.clone();
                self.eval_interpolation(env, x, &parts)
            }
            XKind::Symbol(a) => {
                let a = a.clone();
                self.property_access(env, x, &a, accept)
            }
            XKind::Array(items) => {
                let items = items.clone();
                let vals = items
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let acc = accept.item(i);
                        self.eval(env, *e, &acc)
                    })
                    .collect();
                self.collection(x, Repr::Array(vals))
            }
            XKind::Object(props) => {
                let props = props.clone();
                let vals = props
                    .iter()
                    .map(|(k, e)| {
                        let acc = accept.property(k);
                        (k.clone(), self.eval(env, *e, &acc))
                    })
                    .collect();
                self.collection(x, Repr::Object(vals))
            }
            _ => self.eval_builtin(env, x),
        }
    }

    /// A string with `${...}` accesses, made against the value-size budget as it grows:
    /// `${x}${x}` doubles, and a large value used many times over is never copied past the
    /// budget.
    fn eval_interpolation(
        &mut self,
        env: &Env,
        x: XId,
        parts: &[(String, Option<Vec<Accessor>>)],
    ) -> V {
        let mut text = Text::new();
        let (mut unknown, mut secret) = (false, false);
        for (literal, access) in parts {
            if text.over {
                text.stop();
                break;
            }
            text.push_str(literal);
            if let Some(a) = access {
                let pv = self.property_access(env, x, a, &schema::always());
                let mark = text.out.len();
                let (u, sec) = write_text(&pv, &mut text);
                unknown |= u;
                secret |= sec;
                if u {
                    text.out.truncate(mark);
                }
            }
        }
        if text.over {
            text.charge_over();
            return self.over_budget(x);
        }
        if !budget::bytes(text.out.len()) {
            return self.over_budget(x);
        }
        let mut v = val(
            x,
            Repr::String(if unknown {
                "[unknown]".into()
            } else {
                text.out
            }),
        );
        v.schema = Some(schema::typed("string"));
        v.unknown = unknown;
        v.secret = secret;
        rc(v)
    }

    /// A builtin call: each has its own `eval_*`.
    fn eval_builtin(&mut self, env: &Env, x: XId) -> V {
        match &self.xs[x].kind {
            // Values, not calls: `eval_kind` evaluates them before it gets here.
            XKind::Missing
            | XKind::Literal(_)
            | XKind::Interpolate(_)
            | XKind::Symbol(_)
            | XKind::Array(_)
            | XKind::Object(_) => self.unknown_result(x),
            XKind::Plaintext(p) => {
                let p = *p;
                self.eval(env, p, &schema::typed("string"))
            }
            XKind::Ciphertext(text) => {
                let text = text.clone();
                self.eval_ciphertext(x, &text)
            }
            XKind::Open { provider, inputs } => {
                let (provider, inputs) = (provider.clone(), *inputs);
                self.eval_open(env, x, provider.as_deref(), inputs)
            }
            XKind::Rotate {
                provider,
                inputs,
                state,
            } => {
                let (provider, inputs, state) = (provider.clone(), *inputs, *state);
                self.eval_rotate(env, x, provider.as_deref(), inputs, state)
            }
            XKind::Concat(a) => {
                let a = *a;
                self.eval_concat(env, x, a)
            }
            XKind::Join(d, vs) => {
                let (d, vs) = (*d, *vs);
                self.eval_join(env, x, d, vs)
            }
            XKind::Split(d, s) => {
                let (d, s) = (*d, *s);
                self.eval_split(env, x, d, s)
            }
            XKind::FromBase64(s) => {
                let s = *s;
                self.eval_from_base64(env, x, s)
            }
            XKind::ToBase64(s) => {
                let s = *s;
                self.eval_to_base64(env, x, s)
            }
            XKind::FromJson(s) => {
                let s = *s;
                self.eval_from_json(env, x, s)
            }
            XKind::ToJson(a) => {
                let a = *a;
                self.eval_to_json(env, x, a)
            }
            XKind::ToYaml(a) => {
                let a = *a;
                self.eval_to_yaml(env, x, a)
            }
            XKind::ToString(a) => {
                let a = *a;
                self.eval_to_string(env, x, a)
            }
            XKind::Final(a) => {
                let a = *a;
                self.eval_final(env, x, a)
            }
            XKind::Validate(s, a) => {
                let (s, a) = (*s, *a);
                self.eval_validate(env, x, s, a)
            }
        }
    }

    /// An array or object value, unless it would nest deeper than the depth budget (its
    /// members may be deep values reached by reference).
    fn collection(&mut self, x: XId, repr: Repr) -> V {
        let max = budget::limits().max_depth;
        if depth_of(&repr) > max {
            budget::exceed_depth();
            return self.over_budget(x);
        }
        rc(val(x, repr))
    }

    fn eval_typed(&mut self, env: &Env, x: XId, accept: &Rc<Schema>) -> (V, bool) {
        let v = self.eval(env, x, accept);
        let view = self.xs_view();
        let mut checker = validate::Validator::new(&view);
        let ok = checker.value(&v, accept);
        let diags = checker.diags;
        self.diags.extend(diags);
        (v, ok)
    }

    fn xs_view(&self) -> XView<'_> {
        XView { xs: &self.xs }
    }
}

/// Read access to the expression arena for validation and export.
pub(crate) struct XView<'a> {
    xs: &'a [XNode],
}

impl XView<'_> {
    pub(crate) fn loc(&self, x: XId) -> &Loc {
        &self.xs[x].loc
    }

    /// The element expression `i` of an array literal.
    pub(crate) fn element(&self, x: XId, i: usize) -> Option<XId> {
        match &self.xs[x].kind {
            XKind::Array(items) => items.get(i).copied(),
            _ => None,
        }
    }

    /// The property expression `k` of an object literal.
    pub(crate) fn member(&self, x: XId, k: &str) -> Option<XId> {
        match &self.xs[x].kind {
            XKind::Object(props) => props.get(k).copied(),
            _ => None,
        }
    }
}

/// Accessors the validator needs on values.
pub(crate) mod access {
    use std::rc::Rc;

    use super::{Repr, V, XId, values};
    use crate::schema::Schema;

    pub(crate) fn def(v: &V) -> XId {
        v.borrow().def
    }
    pub(crate) fn is_unknown(v: &V) -> bool {
        v.borrow().unknown
    }
    pub(crate) fn schema(v: &V) -> Rc<Schema> {
        values::schema_of(v)
    }
    pub(crate) fn repr(v: &V) -> Repr {
        v.borrow().repr.clone()
    }
    pub(crate) fn keys(v: &V) -> Rc<Vec<String>> {
        values::keys(v)
    }
    pub(crate) fn property(v: &V, k: &str) -> Option<V> {
        values::property(v, k)
    }
}

impl Run<'_> {
    pub(crate) fn export(&self, v: &V) -> Value {
        export(&self.xs, v)
    }
}
