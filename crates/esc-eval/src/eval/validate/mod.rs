//! Checks values (and, for unknown values, their schemas) against the schema a builtin or a
//! provider accepts, with the reference's messages.
//!
//! A problem is reported at the literal that produced the offending part when there is one
//! (`[1]` of an array literal), else at the whole expression with a path prefix
//! (`foo[1]: expected string, got number`).

mod unknown;

use std::rc::Rc;

use serde_json::Value as Json;

use super::{Repr, V, XView, access};
use crate::Diagnostic;
use crate::schema::Schema;
use crate::syntax::join_key;

#[derive(Debug, Clone)]
struct At {
    x: usize,
    path: String,
    prefix: bool,
}

impl At {
    fn of(x: usize) -> At {
        At {
            x,
            path: String::new(),
            prefix: false,
        }
    }

    fn index(&self, xs: &XView<'_>, i: usize) -> At {
        match xs.element(self.x, i) {
            Some(e) => At {
                x: e,
                path: format!("[{i}]"),
                prefix: false,
            },
            None => At {
                x: self.x,
                path: format!("{}[{i}]", self.path),
                prefix: true,
            },
        }
    }

    fn property(&self, xs: &XView<'_>, k: &str) -> At {
        match xs.member(self.x, k) {
            Some(e) => At {
                x: e,
                path: join_key("", k),
                prefix: false,
            },
            None => At {
                x: self.x,
                path: join_key(&self.path, k),
                prefix: true,
            },
        }
    }
}

pub(crate) struct Validator<'a> {
    xs: &'a XView<'a>,
    pub(crate) diags: Vec<Diagnostic>,
}

fn json_text(j: &Json) -> String {
    serde_json::to_string(j).unwrap_or_default()
}

impl<'a> Validator<'a> {
    pub(crate) fn new(xs: &'a XView<'a>) -> Validator<'a> {
        Validator {
            xs,
            diags: Vec::new(),
        }
    }

    fn sub(&self) -> Validator<'a> {
        Validator {
            xs: self.xs,
            diags: Vec::new(),
        }
    }

    fn error(&mut self, at: &At, msg: String) -> bool {
        let msg = if at.prefix {
            format!("{}: {msg}", at.path)
        } else {
            msg
        };
        self.diags.push(self.xs.loc(at.x).error(msg));
        false
    }

    fn type_error(&mut self, at: &At, expected: &str, got: &str) -> bool {
        self.error(at, format!("expected {expected}, got {got}"))
    }

    fn check_type(&mut self, actual: &str, accept: &Schema, at: &At) -> bool {
        if !accept.ty.is_empty() && actual != accept.ty {
            return self.type_error(at, &accept.ty.clone(), actual);
        }
        true
    }

    /// Validates a value against `accept`, reporting at the value's own expression.
    pub(crate) fn value(&mut self, v: &V, accept: &Rc<Schema>) -> bool {
        let at = At::of(access::def(v));
        self.element(v, Some(accept), &at)
    }

    fn value_opt(&mut self, v: &V, accept: Option<&Rc<Schema>>) -> bool {
        let at = At::of(access::def(v));
        self.element(v, accept, &at)
    }

    fn element(&mut self, v: &V, accept: Option<&Rc<Schema>>, at: &At) -> bool {
        let Some(accept) = accept.filter(|a| !a.always) else {
            return true;
        };
        // A schema may refer to itself (`$ref`, `anyOf`): the walk is bounded like any other.
        let Some(_depth) = crate::budget::descend().filter(|_| crate::budget::step()) else {
            return false;
        };
        if accept.never {
            return false;
        }
        if access::is_unknown(v) {
            return self.schema_type(Some(&access::schema(v)), Some(accept), at);
        }
        let rok = match accept.target() {
            Some(t) => self.element(v, Some(&t), at),
            None => true,
        };
        let aok = self.any_of(v, accept, at);
        let ook = self.one_of(v, accept, at);
        let cok = match &accept.constant {
            Some(c) if !equals_const(v, c) => self.error(at, format!("expected {}", json_text(c))),
            _ => true,
        };
        let eok = if accept.enumeration.is_empty()
            || accept.enumeration.iter().any(|c| equals_const(v, c))
        {
            true
        } else if accept.enumeration.len() == 1 {
            self.error(
                at,
                format!("expected {}", json_text(&accept.enumeration[0])),
            )
        } else {
            let all = Json::Array(accept.enumeration.clone());
            self.error(at, format!("expected one of {}", json_text(&all)))
        };
        let tok = self.type_of(v, accept, at);
        rok && aok && ook && cok && eok && tok
    }

    fn any_of(&mut self, v: &V, accept: &Schema, at: &At) -> bool {
        self.alternatives(&accept.any_of, |sub, s, at| sub.element(v, Some(s), at), at)
    }

    fn one_of(&mut self, v: &V, accept: &Schema, at: &At) -> bool {
        if accept.one_of.is_empty() {
            return true;
        }
        let mut matched = false;
        let mut all = Vec::new();
        for s in &accept.one_of {
            let mut sub = self.sub();
            if sub.element(v, Some(s), at) {
                if matched {
                    return self.error(at, "exactly one subschema may match".into());
                }
                matched = true;
            }
            all.extend(sub.diags);
        }
        if !matched {
            self.diags.extend(all);
            return self.error(at, "exactly one subschema must match".into());
        }
        true
    }

    fn type_of(&mut self, v: &V, accept: &Schema, at: &At) -> bool {
        match access::repr(v) {
            Repr::Null => self.check_type("null", accept, at),
            Repr::Bool(_) => self.check_type("boolean", accept, at),
            Repr::Number(n) => self.check_type("number", accept, at) && self.number(&n, accept, at),
            Repr::String(s) => self.check_type("string", accept, at) && self.string(&s, accept, at),
            Repr::Array(items) => {
                self.check_type("array", accept, at) && self.array(&items, accept, at)
            }
            Repr::Object(_) => self.check_type("object", accept, at) && self.object(v, accept, at),
        }
    }

    fn number(&mut self, n: &str, accept: &Schema, at: &At) -> bool {
        let Ok(n) = n.parse::<f64>() else {
            return self.error(at, format!("internal error: invalid number {n:?}"));
        };
        let mut ok = true;
        if let Some(m) = &accept.multiple_of {
            let q = n / m.value;
            if q.fract() != 0.0 {
                ok = self.error(at, format!("expected a multiple of {}", m.text));
            }
        }
        if let Some(m) = &accept.minimum
            && n < m.value
        {
            ok = self.error(
                at,
                format!("expected a number greater than or equal to {}", m.text),
            );
        }
        if let Some(m) = &accept.exclusive_minimum
            && n <= m.value
        {
            ok = self.error(at, format!("expected a number greater than {}", m.text));
        }
        if let Some(m) = &accept.maximum
            && n > m.value
        {
            ok = self.error(
                at,
                format!("expected a number less than or equal to{}", m.text),
            );
        }
        if let Some(m) = &accept.exclusive_maximum
            && n >= m.value
        {
            ok = self.error(at, format!("expected a number less than {}", m.text));
        }
        ok
    }

    fn string(&mut self, s: &str, accept: &Schema, at: &At) -> bool {
        let mut ok = true;
        let len = s.len() as u64;
        if let Some(m) = accept.min_length
            && len < m
        {
            ok = self.error(at, format!("expected a string of at least length {m}"));
        }
        if let Some(m) = accept.max_length
            && len > m
        {
            ok = self.error(at, format!("expected a string of at most length {m}"));
        }
        if let Some(p) = &accept.pattern
            && !p.is_match(s)
        {
            ok = self.error(
                at,
                format!("string must match the pattern {:?}", p.as_str()),
            );
        }
        ok
    }

    fn array(&mut self, items: &[V], accept: &Schema, at: &At) -> bool {
        let mut ok = true;
        let len = items.len() as u64;
        if let Some(m) = accept.min_items
            && len < m
        {
            ok = self.error(at, format!("expected an array with at least {m} items"));
        }
        if let Some(m) = accept.max_items
            && len > m
        {
            ok = self.error(at, format!("expected an array with at most {m} items"));
        }
        for (i, item) in items.iter().enumerate() {
            let s = accept.prefix_items.get(i).or(accept.items.as_ref());
            if !self.value_opt(item, s) {
                ok = false;
            }
        }
        ok
    }

    fn object(&mut self, v: &V, accept: &Schema, at: &At) -> bool {
        let keys = access::keys(v);
        let mut ok = true;
        let len = keys.len() as u64;
        if let Some(m) = accept.min_properties
            && len < m
        {
            ok = self.error(
                at,
                format!("expected an object with at least {m} properties"),
            );
        }
        if let Some(m) = accept.max_properties
            && len > m
        {
            ok = self.error(
                at,
                format!("expected an object with at most {m} properties"),
            );
        }
        for k in keys.iter() {
            let Some(p) = access::property(v, k) else {
                continue;
            };
            let s = accept
                .properties
                .get(k)
                .or(accept.additional_properties.as_ref());
            if !self.value_opt(&p, s) {
                ok = false;
            }
        }
        let has = |k: &String| keys.binary_search(k).is_ok();
        let mut missing: Vec<String> = accept
            .required
            .iter()
            .filter(|k| !has(k))
            .cloned()
            .collect();
        for (k, req) in &accept.dependent_required {
            if has(k) {
                missing.extend(req.iter().filter(|r| !has(r)).cloned());
            }
        }
        if !missing.is_empty() {
            ok = self.error(
                at,
                format!("missing required properties: {}", missing.join(", ")),
            );
        }
        ok
    }
}

fn equals_const(v: &V, c: &Json) -> bool {
    match (access::repr(v), c) {
        (Repr::Null, Json::Null) => true,
        (Repr::Bool(a), Json::Bool(b)) => a == *b,
        (Repr::Number(a), Json::Number(b)) => a == b.to_string(),
        (Repr::String(a), Json::String(b)) => a == *b,
        (Repr::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, c)| equals_const(x, c))
        }
        (Repr::Object(m), Json::Object(o)) => {
            m.len() == o.len()
                && o.iter()
                    .all(|(k, c)| m.get(k).is_some_and(|x| equals_const(x, c)))
        }
        _ => false,
    }
}
