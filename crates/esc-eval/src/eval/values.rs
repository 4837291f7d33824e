//! The value graph: properties seen through the imported values they override, schemas
//! of known values, merging, copying, and conversion to and from the public [`Value`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::{Repr, V, Val, XId, XNode, rc, val};
use crate::budget;
use crate::schema::{self, Schema};
use crate::{Data, Value};

pub(super) fn keys(v: &V) -> Rc<Vec<String>> {
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

pub(super) fn property(v: &V, key: &str) -> Option<V> {
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

pub(super) fn schema_of(v: &V) -> Rc<Schema> {
    if let Some(s) = &v.borrow().schema {
        return s.clone();
    }
    let Some(_depth) = budget::descend().filter(|_| budget::step()) else {
        return schema::always();
    };
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

pub(super) fn number_json(n: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Number>(n)
        .map(serde_json::Value::Number)
        .unwrap_or_else(|_| serde_json::Value::String(n.to_owned()))
}

pub(super) fn is_object(v: &V) -> bool {
    let b = v.borrow();
    if b.unknown {
        let s = b.schema.clone().unwrap_or_else(schema::always);
        return s.always || s.ty == "object";
    }
    matches!(b.repr, Repr::Object(_))
}

pub(super) fn same(v: &V, other: &V) -> bool {
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

pub(super) fn merge(v: &V, base: Option<V>) {
    let Some(base) = base else { return };
    if same(v, &base) {
        return;
    }
    let Some(_depth) = budget::descend().filter(|_| budget::step()) else {
        return;
    };
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
pub(super) fn deep_copy(v: &V, memo: &mut HashMap<*const RefCell<Val>, V>) -> V {
    if let Some(c) = memo.get(&Rc::as_ptr(v)) {
        return c.clone();
    }
    let copy = rc(val(0, Repr::Null));
    let Some(_depth) = budget::descend().filter(|_| budget::step()) else {
        return copy;
    };
    memo.insert(Rc::as_ptr(v), copy.clone());
    let (def, base, schema, unknown, secret, fin, repr, access, depth) = {
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
            b.depth,
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
        c.depth = depth;
    }
    copy
}

pub(super) fn copy_value(v: &V) -> V {
    deep_copy(v, &mut HashMap::new())
}

/// A new node with `v`'s data, marks and base; members and base stay shared with `v`, so the
/// copy's own fields may change but nothing under it may (see [`merge`]: deep-copy first).
pub(super) fn shallow_copy(v: &V) -> V {
    let b = v.borrow();
    rc(Val {
        def: b.def,
        base: b.base.clone(),
        schema: b.schema.clone(),
        unknown: b.unknown,
        rotate_only: false,
        secret: b.secret,
        fin: b.fin,
        repr: b.repr.clone(),
        access: b.access.clone(),
        merged_keys: b.merged_keys.clone(),
        depth: b.depth,
    })
}

pub(super) fn str_of(v: &V) -> String {
    match &v.borrow().repr {
        Repr::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// Converts a public value into an evaluation value defined by `x`.
pub(super) fn unexport(v: &Value, x: XId, secret: bool) -> V {
    let Some(_depth) = budget::descend().filter(|_| budget::step()) else {
        return super::unknown_val(x, schema::always());
    };
    let repr = match &v.data {
        Data::Null => Repr::Null,
        Data::Bool(b) => Repr::Bool(*b),
        Data::Number(n) => Repr::Number(n.as_str().to_owned()),
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

/// What one exported node holds, as charged to the growth budget: the value, its boxed
/// definition range, the range's copy of the environment's name and the allocator's overhead
/// (measured: charging the `Value` alone let a doubling bomb hold 100 MiB for 32 MiB charged).
const EXPORTED_NODE_BYTES: usize =
    std::mem::size_of::<Value>() + std::mem::size_of::<crate::Range>() + 64;

/// Converts an evaluation value to a public one.
pub(super) fn export(xs: &[XNode], v: &V) -> Value {
    // A value shared by reference is exported once per use: steps and bytes bound the copies.
    // Each node out is charged its size, so the copies stay within the text budget too.
    let Some(_depth) =
        budget::descend().filter(|_| budget::step() && budget::total(EXPORTED_NODE_BYTES))
    else {
        return Value::new(Data::Null);
    };
    let (repr, secret, unknown, def, base) = {
        let b = v.borrow();
        if let Repr::String(s) = &b.repr
            && !budget::bytes(s.len())
        {
            return Value::new(Data::Null);
        }
        (b.repr.clone(), b.secret, b.unknown, b.def, b.base.clone())
    };
    let data = if unknown {
        Data::Null
    } else {
        match repr {
            Repr::Null => Data::Null,
            Repr::Bool(b) => Data::Bool(b),
            // The text as written; one that is no JSON number (`+Inf`, `NaN`) is a string.
            Repr::Number(n) => match crate::Number::new(&n) {
                Some(n) => Data::Number(n),
                None => Data::String(n),
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
    let def = xs.get(def).and_then(|x| x.loc.range.clone()).map(Box::new);
    let base = base.map(|b| Box::new(export(xs, &b)));
    let trace = (def.is_some() || base.is_some()).then(|| Box::new(crate::Trace { def, base }));
    Value {
        data,
        secret,
        unknown,
        trace,
    }
}
