//! The evaluator: imports and merging, references with cycle detection, builtins, and the
//! secret/unknown marks.
//!
//! Expressions of every environment taking part (the root and its imports) live in one
//! arena and are evaluated lazily, on first reference, so definition order does not matter.
//! Values are shared (`Rc<RefCell<_>>`) because merging an import links a value to the
//! imported value it overrides, and a reference may be taken to any value.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::ast::{self, Builtin, Call, Expr, ExprKind, Loc};
use crate::interp::{Accessor, Step};
use crate::schema::{self, Schema};
use crate::{Data, Diagnostic, Options, Severity, Value, crypt};

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
}

fn val(def: XId, repr: Repr) -> Val {
    Val {
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
    pub(crate) diags: Vec<Diagnostic>,
}

// ---- values -----------------------------------------------------------------------------

fn keys(v: &V) -> Rc<Vec<String>> {
    if let Some(k) = &v.borrow().merged_keys {
        return k.clone();
    }
    let (own, base) = {
        let b = v.borrow();
        let Repr::Object(m) = &b.repr else {
            return Rc::default();
        };
        (m.keys().cloned().collect::<Vec<_>>(), b.base.clone())
    };
    let mut all = own;
    if let Some(base) = base {
        all.extend(keys(&base).iter().cloned());
        all.sort_unstable();
        all.dedup();
    }
    let all = Rc::new(all);
    v.borrow_mut().merged_keys = Some(all.clone());
    all
}

fn property(v: &V, key: &str) -> Option<V> {
    let (own, base, unknown) = {
        let b = v.borrow();
        let own = match &b.repr {
            Repr::Object(m) => Some(m.get(key).cloned()),
            _ => None,
        };
        (own, b.base.clone(), b.unknown)
    };
    match own {
        Some(Some(p)) => return Some(p),
        Some(None) => return base.and_then(|b| property(&b, key)),
        None => {}
    }
    if unknown {
        let s = schema_of(v).property(key);
        let base = base.and_then(|b| property(&b, key));
        let mut p = val(v.borrow().def, Repr::Null);
        p.unknown = true;
        p.schema = Some(s);
        p.base = base;
        p.access = Some((v.clone(), key.to_owned()));
        return Some(rc(p));
    }
    None
}

fn schema_of(v: &V) -> Rc<Schema> {
    if let Some(s) = &v.borrow().schema {
        return s.clone();
    }
    let repr = v.borrow().repr.clone();
    match repr {
        Repr::Null => schema::typed("null"),
        Repr::Bool(b) => schema::constant("boolean", serde_json::Value::Bool(b)),
        Repr::Number(n) => schema::constant("number", number_json(&n)),
        Repr::String(s) => schema::constant("string", serde_json::Value::String(s)),
        Repr::Array(items) => schema::tuple(items.iter().map(schema_of).collect()),
        Repr::Object(_) => {
            let props = keys(v)
                .iter()
                .filter_map(|k| property(v, k).map(|p| (k.clone(), schema_of(&p))))
                .collect();
            Rc::new(schema::record(props))
        }
    }
}

fn number_json(n: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Number>(n)
        .map(serde_json::Value::Number)
        .unwrap_or_else(|_| serde_json::Value::String(n.to_owned()))
}

fn contains(v: &V, pred: &dyn Fn(&Val) -> bool) -> bool {
    if pred(&v.borrow()) {
        return true;
    }
    let items = match &v.borrow().repr {
        Repr::Array(a) => a.clone(),
        Repr::Object(_) => Vec::new(),
        _ => return false,
    };
    if !items.is_empty() {
        return items.iter().any(|i| contains(i, pred));
    }
    if matches!(v.borrow().repr, Repr::Object(_)) {
        return keys(v)
            .iter()
            .filter_map(|k| property(v, k))
            .any(|p| contains(&p, pred));
    }
    false
}

fn contains_unknowns(v: &V) -> bool {
    contains(v, &|b| b.unknown)
}

fn contains_secrets(v: &V) -> bool {
    contains(v, &|b| b.secret)
}

fn contains_observable_unknowns(v: &V, rotating: bool) -> bool {
    contains(v, &|b| b.unknown && (rotating || !b.rotate_only))
}

fn is_object(v: &V) -> bool {
    let b = v.borrow();
    if b.unknown {
        let s = b.schema.clone().unwrap_or_else(schema::always);
        return s.always || s.ty == "object";
    }
    matches!(b.repr, Repr::Object(_))
}

fn same(v: &V, other: &V) -> bool {
    if Rc::ptr_eq(v, other) {
        return true;
    }
    let (a, b) = (v.borrow(), other.borrow());
    if a.unknown
        && b.unknown
        && let (Some((ra, ka)), Some((rb, kb))) = (&a.access, &b.access)
    {
        return ka == kb && same(ra, rb);
    }
    false
}

fn combine(v: &V, others: &[&V]) {
    for o in others {
        let unknown = v.borrow().unknown || contains_unknowns(v) || contains_unknowns(o);
        let secret = v.borrow().secret || contains_secrets(v) || contains_secrets(o);
        let mut b = v.borrow_mut();
        b.unknown = unknown;
        b.secret = secret;
    }
}

fn merge(v: &V, base: Option<V>) {
    let Some(base) = base else { return };
    if same(v, &base) {
        return;
    }
    let existing = v.borrow().base.clone();
    match existing {
        Some(b) => merge(&b, Some(base)),
        None => v.borrow_mut().base = Some(base),
    }
    let own: Vec<(String, V)> = match &v.borrow().repr {
        Repr::Object(m) => m.iter().map(|(k, p)| (k.clone(), p.clone())).collect(),
        _ => Vec::new(),
    };
    let vb = v.borrow().base.clone();
    if let Some(vb) = &vb {
        for (k, p) in own {
            merge(&p, property(vb, &k));
        }
        let explicit = v.borrow().schema.clone();
        if let Some(top) = explicit {
            let m = schema::merged(&schema_of(vb), &top);
            v.borrow_mut().schema = Some(m);
        }
    }
    v.borrow_mut().merged_keys = None;
}

/// Copies a value graph, keeping shared parts shared.
fn deep_copy(v: &V, memo: &mut HashMap<*const RefCell<Val>, V>) -> V {
    if let Some(c) = memo.get(&Rc::as_ptr(v)) {
        return c.clone();
    }
    let copy = rc(val(0, Repr::Null));
    memo.insert(Rc::as_ptr(v), copy.clone());
    let (def, base, schema, unknown, secret, fin, repr, access) = {
        let b = v.borrow();
        (
            b.def,
            b.base.clone(),
            b.schema.clone(),
            b.unknown,
            b.secret,
            b.fin,
            b.repr.clone(),
            b.access.clone(),
        )
    };
    let repr = match repr {
        Repr::Array(a) => Repr::Array(a.iter().map(|i| deep_copy(i, memo)).collect()),
        Repr::Object(m) => Repr::Object(
            m.iter()
                .map(|(k, i)| (k.clone(), deep_copy(i, memo)))
                .collect(),
        ),
        other => other,
    };
    let base = base.map(|b| deep_copy(&b, memo));
    {
        let mut c = copy.borrow_mut();
        c.def = def;
        c.base = base;
        c.schema = schema;
        c.unknown = unknown;
        c.secret = secret;
        c.fin = fin;
        c.repr = repr;
        c.access = access;
    }
    copy
}

fn copy_value(v: &V) -> V {
    deep_copy(v, &mut HashMap::new())
}

/// `(text, unknown, secret)` of a value interpolated into a string.
fn to_string(v: &V) -> (String, bool, bool) {
    let b = v.borrow();
    if b.unknown {
        return ("[unknown]".into(), true, b.secret);
    }
    let (mut unknown, mut secret) = (false, b.secret);
    let s = match &b.repr {
        Repr::Null => String::new(),
        Repr::Bool(x) => x.to_string(),
        Repr::Number(n) => n.clone(),
        Repr::String(s) => s.clone(),
        Repr::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| {
                    let (s, u, sec) = to_string(i);
                    unknown |= u;
                    secret |= sec;
                    go_quote(&s)
                })
                .collect();
            parts.join(",")
        }
        Repr::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, i)| {
                    let (s, u, sec) = to_string(i);
                    unknown |= u;
                    secret |= sec;
                    format!("{}={}", go_quote(k), go_quote(&s))
                })
                .collect();
            parts.join(",")
        }
    };
    (s, unknown, secret)
}

/// Quotes like Go's `strconv.Quote`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- the evaluator ----------------------------------------------------------------------

impl<'o> Run<'o> {
    pub(crate) fn new(opts: &'o Options<'o>, validating: bool) -> Run<'o> {
        Run {
            opts,
            validating,
            xs: Vec::new(),
            imported: HashMap::new(),
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

    fn missing(&mut self, path: String, base: Option<V>) -> XId {
        self.push(path, Loc::default(), XKind::Missing, schema::always(), base)
    }

    fn declare_opt(&mut self, x: Option<&Expr>) -> XId {
        match x {
            Some(x) => self.declare("", x, None),
            None => self.missing(String::new(), None),
        }
    }

    fn declare(&mut self, path: &str, x: &Expr, base: Option<V>) -> XId {
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

    fn declare_builtin(&mut self, b: &Builtin) -> (XKind, Rc<Schema>) {
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

    /// Evaluates environment `name`; `root_name` is the root environment's name for
    /// `context.rootEnvironment`.
    pub(crate) fn evaluate_env(
        &mut self,
        name: &str,
        root_name: &str,
        is_root: bool,
        decl: &ast::Environment,
    ) -> V {
        self.imported.insert(name.to_owned(), None);

        let context = self.context_value(name, root_name);
        let mut base: Option<V> = None;
        let mut mine = BTreeMap::new();
        let child_root = if root_name.is_empty() || root_name == "<yaml>" {
            name
        } else {
            root_name
        };
        let child_root = child_root.to_owned();
        for import in &decl.imports {
            let at = self.push(
                String::new(),
                import.loc.clone(),
                XKind::Missing,
                schema::always(),
                None,
            );
            let Some(v) = self.import(at, &import.environment, &child_root) else {
                continue;
            };
            mine.insert(import.environment.clone(), v.clone());
            if import.merge {
                let copy = copy_value(&v);
                merge(&copy, base.take());
                base = Some(copy);
            }
        }
        let imports_def = self.push(
            String::new(),
            Loc::default(),
            XKind::Missing,
            schema::always(),
            None,
        );
        let imports = rc(val(imports_def, Repr::Object(mine)));

        let mut props = BTreeMap::new();
        for (key, kloc, x) in &decl.values {
            if matches!(key.as_str(), "imports" | "context" | "environments") {
                self.diags
                    .push(kloc.error(format!("{key:?} is a reserved key")));
            } else if props.contains_key(key) {
                self.diags
                    .push(kloc.error(format!("duplicate key {key:?}")));
            } else {
                let b = base.as_ref().and_then(|b| property(b, key));
                let id = self.declare(key, x, b);
                props.insert(key.clone(), id);
            }
        }
        let root = self.push(
            format!("<{name}>"),
            Loc::default(),
            XKind::Object(props),
            schema::always(),
            base,
        );
        let env = Env {
            is_root,
            root,
            context,
            imports,
            child_root,
        };
        let v = self.eval(&env, root, &schema::always());
        self.imported.insert(name.to_owned(), Some(v.clone()));
        v
    }

    fn context_value(&mut self, name: &str, root_name: &str) -> V {
        let def = self.push(
            String::new(),
            Loc::default(),
            XKind::Missing,
            schema::always(),
            None,
        );
        let root = if root_name.is_empty() || root_name == "<yaml>" {
            name
        } else {
            root_name
        };
        let mut ctx = self.opts.context.clone();
        let named = |n: &str| {
            let mut m = BTreeMap::new();
            m.insert("name".to_owned(), Value::new(Data::String(n.to_owned())));
            Value::new(Data::Object(m))
        };
        ctx.insert("currentEnvironment".into(), named(name));
        ctx.insert("rootEnvironment".into(), named(root));
        unexport(&Value::new(Data::Object(ctx)), def, false)
    }

    fn import(&mut self, at: XId, name: &str, root_name: &str) -> Option<V> {
        if let Some(state) = self.imported.get(name) {
            return match state {
                Some(v) => Some(v.clone()),
                None => {
                    self.error(at, format!("cyclic import of {name}"));
                    None
                }
            };
        }
        let bytes = match self.opts.environments.load(name) {
            Ok(b) => b,
            Err(e) => {
                self.error(at, e);
                return None;
            }
        };
        let (decl, diags) = crate::load_decl(name, &bytes);
        let failed = diags.iter().any(|d| d.severity == Severity::Error);
        self.diags.extend(diags);
        let decl = decl?;
        if failed {
            return None;
        }
        Some(self.evaluate_env(name, root_name, false, &decl))
    }

    fn eval(&mut self, env: &Env, x: XId, accept: &Rc<Schema>) -> V {
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

        let v = self.eval_kind(env, x, accept);
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

    fn eval_kind(&mut self, env: &Env, x: XId, accept: &Rc<Schema>) -> V {
        let string = || schema::typed("string");
        match &self.xs[x].kind {
            XKind::Missing => self.unknown_result(x),
            XKind::Literal(r) => rc(val(x, r.clone())),
            XKind::Interpolate(parts) => {
                let parts = parts.clone();
                let mut out = String::new();
                let (mut unknown, mut secret) = (false, false);
                for (text, access) in &parts {
                    out.push_str(text);
                    if let Some(a) = access {
                        let pv = self.property_access(env, x, a, &schema::always());
                        let (s, u, sec) = to_string(&pv);
                        unknown |= u;
                        secret |= sec;
                        if !u {
                            out.push_str(&s);
                        }
                    }
                }
                let mut v = val(
                    x,
                    Repr::String(if unknown { "[unknown]".into() } else { out }),
                );
                v.schema = Some(string());
                v.unknown = unknown;
                v.secret = secret;
                rc(v)
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
                rc(val(x, Repr::Array(vals)))
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
                rc(val(x, Repr::Object(vals)))
            }
            XKind::Plaintext(p) => {
                let p = *p;
                self.eval(env, p, &string())
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
                let accept = schema::array_of(schema::array_of(schema::always()));
                let (arrays, ok) = self.eval_typed(env, a, &accept);
                let v = self.with_schema(x, Repr::Null);
                if !ok {
                    v.borrow_mut().unknown = true;
                    return v;
                }
                combine(&v, &[&arrays]);
                if !v.borrow().unknown {
                    let mut out = Vec::new();
                    if let Repr::Array(items) = &arrays.borrow().repr {
                        for i in items {
                            if let Repr::Array(inner) = &i.borrow().repr {
                                out.extend(inner.iter().cloned());
                            }
                        }
                    }
                    v.borrow_mut().repr = Repr::Array(out);
                }
                v
            }
            XKind::Join(d, vs) => {
                let (d, vs) = (*d, *vs);
                let (delim, dok) = self.eval_typed(env, d, &string());
                let (values, vok) = self.eval_typed(env, vs, &schema::array_of(string()));
                let v = self.with_schema(x, Repr::Null);
                if !dok || !vok {
                    v.borrow_mut().unknown = true;
                    return v;
                }
                combine(&v, &[&delim, &values]);
                if !v.borrow().unknown {
                    let sep = str_of(&delim);
                    let parts: Vec<String> = match &values.borrow().repr {
                        Repr::Array(items) => items.iter().map(str_of).collect(),
                        _ => Vec::new(),
                    };
                    v.borrow_mut().repr = Repr::String(parts.join(&sep));
                }
                v
            }
            XKind::Split(d, s) => {
                let (d, s) = (*d, *s);
                let (delim, dok) = self.eval_typed(env, d, &string());
                let (text, sok) = self.eval_typed(env, s, &string());
                let v = self.with_schema(x, Repr::Null);
                if !dok || !sok {
                    v.borrow_mut().unknown = true;
                    return v;
                }
                combine(&v, &[&delim, &text]);
                if !v.borrow().unknown {
                    let (sep, text) = (str_of(&delim), str_of(&text));
                    let parts: Vec<V> = go_split(&text, &sep)
                        .into_iter()
                        .map(|p| rc(val(x, Repr::String(p))))
                        .collect();
                    v.borrow_mut().repr = Repr::Array(parts);
                }
                v
            }
            XKind::FromBase64(s) => {
                let s = *s;
                let (text, ok) = self.eval_typed(env, s, &string());
                let v = self.with_schema(x, Repr::Null);
                if !ok {
                    v.borrow_mut().unknown = true;
                    return v;
                }
                combine(&v, &[&text]);
                if !v.borrow().unknown {
                    match STANDARD.decode(str_of(&text)) {
                        Ok(b) => {
                            v.borrow_mut().repr =
                                Repr::String(String::from_utf8_lossy(&b).into_owned());
                        }
                        Err(e) => {
                            self.error(x, format!("decoding base64 string: {}", base64_error(&e)));
                            v.borrow_mut().unknown = true;
                        }
                    }
                }
                v
            }
            XKind::ToBase64(s) => {
                let s = *s;
                let (text, ok) = self.eval_typed(env, s, &string());
                let v = self.with_schema(x, Repr::Null);
                if !ok {
                    v.borrow_mut().unknown = true;
                    return v;
                }
                combine(&v, &[&text]);
                if !v.borrow().unknown {
                    v.borrow_mut().repr = Repr::String(STANDARD.encode(str_of(&text)));
                }
                v
            }
            XKind::FromJson(s) => {
                let s = *s;
                let (text, ok) = self.eval_typed(env, s, &string());
                let v = self.with_schema(x, Repr::Null);
                if !ok {
                    v.borrow_mut().unknown = true;
                    return v;
                }
                combine(&v, &[&text]);
                if v.borrow().unknown {
                    return v;
                }
                match serde_json::from_str::<serde_json::Value>(&str_of(&text)) {
                    Ok(j) => {
                        let mut out = Value::from_json(&j);
                        if v.borrow().secret {
                            out = out.into_secret();
                        }
                        unexport(&out, x, self.xs[x].secret)
                    }
                    Err(e) => {
                        self.error(x, format!("decoding JSON string: {e}"));
                        v.borrow_mut().unknown = true;
                        v
                    }
                }
            }
            XKind::ToJson(a) => {
                let a = *a;
                let value = self.eval(env, a, &schema::always());
                let v = self.with_schema(x, Repr::Null);
                combine(&v, &[&value]);
                if !v.borrow().unknown {
                    let json = export(&self.xs, &value).to_json(false);
                    v.borrow_mut().repr = Repr::String(go_json(&json));
                }
                v
            }
            XKind::ToString(a) => {
                let a = *a;
                let value = self.eval(env, a, &schema::always());
                let (s, unknown, secret) = to_string(&value);
                let v = self.with_schema(x, Repr::Null);
                {
                    let mut b = v.borrow_mut();
                    b.unknown = unknown;
                    b.secret = secret;
                    if !unknown {
                        b.repr = Repr::String(s);
                    }
                }
                v
            }
            XKind::Final(a) => {
                let a = *a;
                let value = self.eval(env, a, &schema::always());
                let v = self.derived_from(x, &value);
                v.borrow_mut().fin = true;
                v
            }
            XKind::Validate(s, a) => {
                let (s, a) = (*s, *a);
                self.eval_validate(env, x, s, a)
            }
        }
    }

    /// A value for `x` with the data (and schema) of `value`.
    fn derived_from(&self, x: XId, value: &V) -> V {
        let (repr, schema) = {
            let b = value.borrow();
            (b.repr.clone(), b.schema.clone())
        };
        let mut v = val(x, repr);
        v.schema = schema.or_else(|| Some(schema_of(value)));
        let v = rc(v);
        combine(&v, &[value]);
        v
    }

    fn eval_validate(&mut self, env: &Env, x: XId, s: XId, a: XId) -> V {
        let (schema_val, ok) = self.eval_typed(env, s, &schema::json_schema_schema());
        let plain = |run: &mut Run<'_>| {
            let value = run.eval(env, a, &schema::always());
            run.derived_from(x, &value)
        };
        if contains_unknowns(&schema_val) || !ok {
            return plain(self);
        }
        let json = export(&self.xs, &schema_val).to_json(false);
        match schema::from_json(&json) {
            Err(e) => {
                self.error(s, format!("invalid schema: {e}"));
                plain(self)
            }
            Ok(sch) => {
                let (value, _) = self.eval_typed(env, a, &sch);
                self.derived_from(x, &value)
            }
        }
    }

    fn eval_ciphertext(&mut self, x: XId, text: &str) -> V {
        let v = self.with_schema(x, Repr::Null);
        v.borrow_mut().secret = true;
        let ciphertext = match crypt::decode_envelope(text) {
            Ok(c) => c,
            Err(e) => {
                self.error(x, format!("invalid ciphertext: {e}"));
                v.borrow_mut().unknown = true;
                return v;
            }
        };
        if !self.decrypt_secrets() {
            v.borrow_mut().unknown = true;
            return v;
        }
        match self.opts.decrypter.decrypt(&ciphertext) {
            Ok(p) => v.borrow_mut().repr = Repr::String(String::from_utf8_lossy(&p).into_owned()),
            Err(e) => {
                self.error(x, format!("decrypting: {e}"));
                v.borrow_mut().unknown = true;
            }
        }
        v
    }

    fn compile_schema(
        &mut self,
        x: XId,
        json: Option<serde_json::Value>,
        what: &str,
    ) -> Option<Rc<Schema>> {
        let json = json?;
        match schema::from_json(&json) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(x, format!("internal error: invalid {what}schema ({e})"));
                None
            }
        }
    }

    fn eval_open(&mut self, env: &Env, x: XId, provider: Option<&str>, inputs: XId) -> V {
        let Some(name) = provider else {
            return unknown_val(x, schema::always());
        };
        let opts = self.opts;
        let provider = opts.providers.provider(name);
        let mut input_schema = schema::always();
        match provider {
            None => self.error(x, format!("unknown provider {name:?}")),
            Some(p) => {
                let (i, o) = p.schema();
                if let Some(s) = self.compile_schema(x, i, "input ") {
                    input_schema = s;
                }
                if let Some(s) = self.compile_schema(x, o, "") {
                    self.xs[x].schema = s;
                }
            }
        }
        let (inputs, ok) = self.eval_typed(env, inputs, &input_schema);
        let Some(p) = provider else {
            return self.unknown_result(x);
        };
        if !ok || contains_unknowns(&inputs) || self.validating {
            return self.unknown_result(x);
        }
        let exported = export(&self.xs, &inputs);
        match p.open(&exported) {
            Ok(output) => {
                let output = if output.secret {
                    output.into_secret()
                } else {
                    output
                };
                unexport(&output, x, self.xs[x].secret)
            }
            Err(e) => {
                self.error(x, e);
                self.unknown_result(x)
            }
        }
    }

    fn eval_rotate(
        &mut self,
        env: &Env,
        x: XId,
        provider: Option<&str>,
        inputs: XId,
        state: XId,
    ) -> V {
        let Some(name) = provider else {
            return unknown_val(x, schema::always());
        };
        let opts = self.opts;
        let rotator = opts.providers.rotator(name);
        let mut input_schema = schema::always();
        let mut state_schema = schema::always();
        match rotator {
            None => self.error(x, format!("unknown rotator {name:?}")),
            Some(r) => {
                let (i, s, o) = r.schema();
                if let Some(s) = self.compile_schema(x, i, "input ") {
                    input_schema = s;
                }
                let s = s.unwrap_or(serde_json::Value::Bool(true));
                let s = serde_json::json!({"oneOf": [s, {"type": "null"}]});
                if let Some(s) = self.compile_schema(x, Some(s), "state ") {
                    state_schema = s;
                }
                if let Some(s) = self.compile_schema(x, o, "") {
                    self.xs[x].schema = s;
                }
            }
        }
        let (inputs, iok) = self.eval_typed(env, inputs, &input_schema);
        let (state, sok) = self.eval_typed(env, state, &state_schema);
        let Some(r) = rotator else {
            return self.unknown_result(x);
        };
        if !iok
            || contains_observable_unknowns(&inputs, false)
            || !sok
            || contains_unknowns(&state)
            || self.validating
        {
            return self.unknown_result(x);
        }
        let inputs = export(&self.xs, &inputs);
        let state = export(&self.xs, &state);
        match r.open(&inputs, &state) {
            Ok(output) => {
                let output = if output.secret {
                    output.into_secret()
                } else {
                    output
                };
                unexport(&output, x, self.xs[x].secret)
            }
            Err(e) => {
                self.error(x, e);
                self.unknown_result(x)
            }
        }
    }

    fn eval_typed(&mut self, env: &Env, x: XId, accept: &Rc<Schema>) -> (V, bool) {
        let v = self.eval(env, x, accept);
        let view = self.xs_view();
        let mut checker = crate::validate::Validator::new(&view);
        let ok = checker.value(&v, accept);
        let diags = checker.diags;
        self.diags.extend(diags);
        (v, ok)
    }

    fn xs_view(&self) -> XView<'_> {
        XView { xs: &self.xs }
    }

    // ---- references ----

    fn property_access(
        &mut self,
        env: &Env,
        x: XId,
        accessors: &[Accessor],
        accept: &Rc<Schema>,
    ) -> V {
        let found = self.expr_access(env, x, accessors, accept);
        let v = copy_value(&found);
        v.borrow_mut().def = x;
        v
    }

    fn expr_access(&mut self, env: &Env, x: XId, accessors: &[Accessor], accept: &Rc<Schema>) -> V {
        let Some(first) = accessors.first() else {
            return unknown_val(x, schema::always());
        };
        match self.object_key(x, first, false).as_deref() {
            Some("imports") => {
                let r = env.imports.clone();
                return self.value_access(x, r, &accessors[1..]);
            }
            Some("context") => {
                let r = env.context.clone();
                return self.value_access(x, r, &accessors[1..]);
            }
            Some("environments") => return self.environment_access(env, x, accessors),
            _ => {}
        }
        let mut receiver = env.root;
        let mut i = 0;
        while i < accessors.len() {
            let acc = &accessors[i];
            match &self.xs[receiver].kind {
                XKind::Array(items) => {
                    let len = items.len();
                    let Some(index) = self.array_index(x, acc, Some(len)) else {
                        return self.invalid(x);
                    };
                    let XKind::Array(items) = &self.xs[receiver].kind else {
                        unreachable!()
                    };
                    receiver = items[index];
                }
                XKind::Object(_) => {
                    let Some(key) = self.object_key(x, acc, true) else {
                        return self.invalid(x);
                    };
                    let XKind::Object(props) = &self.xs[receiver].kind else {
                        unreachable!()
                    };
                    match props.get(&key) {
                        Some(p) => receiver = *p,
                        None => {
                            if let Some(b) = self.xs[receiver].base.clone()
                                && is_object(&b)
                            {
                                return self.value_access(x, b, &accessors[i..]);
                            }
                            let XKind::Object(props) = &self.xs[receiver].kind else {
                                unreachable!()
                            };
                            let names: Vec<String> = props.keys().cloned().collect();
                            let hint = did_you_mean(&key, names.iter().map(String::as_str));
                            self.accessor_error(x, acc, format!("unknown property {key:?}{hint}"));
                            return self.invalid(x);
                        }
                    }
                }
                XKind::Plaintext(p) => {
                    receiver = *p;
                    continue;
                }
                XKind::Ciphertext(_) => {
                    self.error(x, "internal error: no receiver");
                    return self.invalid(x);
                }
                _ => {
                    let r = self.eval(env, receiver, accept);
                    return self.value_access(x, r, &accessors[i..]);
                }
            }
            i += 1;
        }
        self.eval(env, receiver, &schema::always())
    }

    fn environment_access(&mut self, env: &Env, x: XId, accessors: &[Accessor]) -> V {
        if accessors.len() < 3 {
            return self.invalid(x);
        }
        let project = self.object_key(x, &accessors[1], true);
        let name = self.object_key(x, &accessors[2], true);
        let (Some(project), Some(name)) = (project, name) else {
            return self.invalid(x);
        };
        let qualified = format!("{project}/{name}");
        let imported = match self.import(x, &qualified, &env.child_root) {
            Some(v) => v,
            None => unknown_val(x, schema::always()),
        };
        let wrap = |k: String, v: V| {
            let mut m = BTreeMap::new();
            m.insert(k, v);
            rc(val(x, Repr::Object(m)))
        };
        let envs = wrap(name, imported);
        let projects = wrap(project, envs);
        let reference = wrap("environments".into(), projects);
        reference.borrow_mut().rotate_only = true;
        self.value_access(x, reference, accessors)
    }

    fn value_access(&mut self, x: XId, mut receiver: V, accessors: &[Accessor]) -> V {
        for (i, acc) in accessors.iter().enumerate() {
            if receiver.borrow().unknown {
                let s = schema_of(&receiver);
                return self.unknown_access(x, s, &accessors[i..]);
            }
            let repr_kind = match &receiver.borrow().repr {
                Repr::Array(a) => Some(Ok(a.len())),
                Repr::Object(_) => Some(Err(())),
                _ => None,
            };
            match repr_kind {
                Some(Ok(len)) => {
                    let Some(index) = self.array_index(x, acc, Some(len)) else {
                        return self.invalid(x);
                    };
                    let next = match &receiver.borrow().repr {
                        Repr::Array(a) => a[index].clone(),
                        _ => unreachable!(),
                    };
                    receiver = next;
                }
                Some(Err(())) => {
                    let Some(key) = self.object_key(x, acc, true) else {
                        return self.invalid(x);
                    };
                    let own = match &receiver.borrow().repr {
                        Repr::Object(m) => m.get(&key).cloned(),
                        _ => None,
                    };
                    match own {
                        Some(p) => receiver = p,
                        None => {
                            let base = receiver.borrow().base.clone();
                            if let Some(b) = base
                                && is_object(&b)
                            {
                                return self.value_access(x, b, &accessors[i..]);
                            }
                            let names: Vec<String> = match &receiver.borrow().repr {
                                Repr::Object(m) => m.keys().cloned().collect(),
                                _ => Vec::new(),
                            };
                            let hint = did_you_mean(&key, names.iter().map(String::as_str));
                            self.accessor_error(x, acc, format!("unknown property {key:?}{hint}"));
                            return self.invalid(x);
                        }
                    }
                }
                None => {
                    self.accessor_error(x, acc, "receiver must be an array or an object");
                    return self.invalid(x);
                }
            }
        }
        receiver
    }

    fn unknown_access(&mut self, x: XId, mut s: Rc<Schema>, accessors: &[Accessor]) -> V {
        for acc in accessors {
            if !s.always {
                match s.ty.as_str() {
                    "array" => {
                        let n = match &s.items {
                            Some(items) if items.never => Some(s.prefix_items.len()),
                            _ => None,
                        };
                        let Some(index) = self.array_index(x, acc, n) else {
                            return self.invalid(x);
                        };
                        s = s.item(index);
                    }
                    "object" => {
                        let Some(key) = self.object_key(x, acc, true) else {
                            return self.invalid(x);
                        };
                        s = s.property(&key);
                    }
                    _ => {
                        self.accessor_error(x, acc, "receiver must be an array or an object");
                        return self.invalid(x);
                    }
                }
            }
        }
        unknown_val(x, s)
    }

    fn invalid(&self, x: XId) -> V {
        unknown_val(x, schema::always())
    }

    fn array_index(&mut self, x: XId, acc: &Accessor, len: Option<usize>) -> Option<usize> {
        match &acc.step {
            Step::Name(_) | Step::Key(_) => {
                self.accessor_error(
                    x,
                    acc,
                    "cannot access an array element using a property name",
                );
                None
            }
            Step::Index(i) if *i < 0 => {
                self.accessor_error(x, acc, "array indices must not be negative");
                None
            }
            Step::Index(i) => {
                let i = *i as usize;
                if let Some(len) = len
                    && i >= len
                {
                    self.accessor_error(
                        x,
                        acc,
                        format!("array index {i} out-of-bounds for array of length {len}"),
                    );
                    return None;
                }
                Some(i)
            }
        }
    }

    fn object_key(&mut self, x: XId, acc: &Accessor, must: bool) -> Option<String> {
        match &acc.step {
            Step::Name(n) | Step::Key(n) => Some(n.clone()),
            Step::Index(_) => {
                if must {
                    self.accessor_error(
                        x,
                        acc,
                        "cannot access an object property using an integer index",
                    );
                }
                None
            }
        }
    }
}

fn did_you_mean<'a>(key: &str, names: impl Iterator<Item = &'a str>) -> String {
    match ast::nearest(key, names) {
        Some(n) => format!("; did you mean {n:?}?"),
        None => String::new(),
    }
}

fn str_of(v: &V) -> String {
    match &v.borrow().repr {
        Repr::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// Splits like Go's `strings.Split`: an empty separator splits into characters.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_owned).collect()
}

fn base64_error(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        _ => "illegal base64 data at input byte 0".into(),
    }
}

/// Compact JSON as Go's `encoding/json` writes it (`<`, `>`, `&` escaped).
fn go_json(j: &serde_json::Value) -> String {
    serde_json::to_string(j)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Converts a public value into an evaluation value defined by `x`.
fn unexport(v: &Value, x: XId, secret: bool) -> V {
    let repr = match &v.data {
        Data::Null => Repr::Null,
        Data::Bool(b) => Repr::Bool(*b),
        Data::Number(n) => Repr::Number(n.to_string()),
        Data::String(s) => Repr::String(s.clone()),
        Data::Array(a) => Repr::Array(a.iter().map(|i| unexport(i, x, i.secret)).collect()),
        Data::Object(o) => Repr::Object(
            o.iter()
                .map(|(k, i)| (k.clone(), unexport(i, x, i.secret)))
                .collect(),
        ),
    };
    let mut out = val(x, repr);
    out.secret = secret || v.secret;
    out.unknown = v.unknown;
    if v.unknown {
        out.schema = Some(schema::always());
    }
    rc(out)
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
    use super::*;

    pub(crate) fn def(v: &V) -> XId {
        v.borrow().def
    }
    pub(crate) fn is_unknown(v: &V) -> bool {
        v.borrow().unknown
    }
    pub(crate) fn schema(v: &V) -> Rc<Schema> {
        schema_of(v)
    }
    pub(crate) fn repr(v: &V) -> Repr {
        v.borrow().repr.clone()
    }
    pub(crate) fn keys(v: &V) -> Rc<Vec<String>> {
        super::keys(v)
    }
    pub(crate) fn property(v: &V, k: &str) -> Option<V> {
        super::property(v, k)
    }
}

/// Converts an evaluation value to a public one.
fn export(xs: &[XNode], v: &V) -> Value {
    let (repr, secret, unknown, def, base) = {
        let b = v.borrow();
        (b.repr.clone(), b.secret, b.unknown, b.def, b.base.clone())
    };
    let data = if unknown {
        Data::Null
    } else {
        match repr {
            Repr::Null => Data::Null,
            Repr::Bool(b) => Data::Bool(b),
            Repr::Number(n) => match serde_json::from_str::<serde_json::Number>(&n) {
                Ok(n) => Data::Number(n),
                Err(_) => Data::String(n),
            },
            Repr::String(s) => Data::String(s),
            Repr::Array(a) => Data::Array(a.iter().map(|i| export(xs, i)).collect()),
            Repr::Object(_) => Data::Object(
                keys(v)
                    .iter()
                    .filter_map(|k| property(v, k).map(|p| (k.clone(), export(xs, &p))))
                    .collect(),
            ),
        }
    };
    let trace = crate::Trace {
        def: xs.get(def).and_then(|x| x.loc.range.clone()),
        base: base.map(|b| Box::new(export(xs, &b))),
    };
    Value {
        data,
        secret,
        unknown,
        trace,
    }
}

impl Run<'_> {
    pub(crate) fn export(&self, v: &V) -> Value {
        export(&self.xs, v)
    }
}
