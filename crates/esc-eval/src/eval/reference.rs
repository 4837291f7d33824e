//! References (`${a.b[0]}`, `imports.x`, `context.x`, `environments.project.env.x`): walking
//! accessors through declared expressions, evaluated values and unknown values' schemas.
//!
//! A reference walks the declarations as far as it can and only evaluates the expression it
//! stops at, so that a reference into part of an object does not evaluate (or depend on)
//! the rest of it; that is what lets siblings refer to each other.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::values::{is_object, schema_of, shallow_copy};
use super::{Env, Repr, Run, V, XId, XKind, rc, unknown_val, val};
use crate::ast;
use crate::interp::{Accessor, Step};
use crate::schema::{self, Schema};

impl Run<'_> {
    pub(super) fn property_access(
        &mut self,
        env: &Env,
        x: XId,
        accessors: &[Accessor],
        accept: &Rc<Schema>,
    ) -> V {
        let found = self.expr_access(env, x, accessors, accept);
        // Shallow: only the top node gets this reference's definition and marks. `eval`
        // deep-copies before merging an imported base into it, which would reach the members.
        let v = shallow_copy(&found);
        v.borrow_mut().def = x;
        v
    }

    pub(super) fn expr_access(
        &mut self,
        env: &Env,
        x: XId,
        accessors: &[Accessor],
        accept: &Rc<Schema>,
    ) -> V {
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

    pub(super) fn environment_access(&mut self, env: &Env, x: XId, accessors: &[Accessor]) -> V {
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

    pub(super) fn value_access(&mut self, x: XId, mut receiver: V, accessors: &[Accessor]) -> V {
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

    pub(super) fn unknown_access(
        &mut self,
        x: XId,
        mut s: Rc<Schema>,
        accessors: &[Accessor],
    ) -> V {
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

    pub(super) fn invalid(&self, x: XId) -> V {
        unknown_val(x, schema::always())
    }

    pub(super) fn array_index(
        &mut self,
        x: XId,
        acc: &Accessor,
        len: Option<usize>,
    ) -> Option<usize> {
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
                // An index past usize (on 32-bit targets) is out of bounds, not wrapped.
                let index = usize::try_from(*i).unwrap_or(usize::MAX);
                if let Some(len) = len
                    && index >= len
                {
                    self.accessor_error(
                        x,
                        acc,
                        format!("array index {i} out-of-bounds for array of length {len}"),
                    );
                    return None;
                }
                Some(index)
            }
        }
    }

    pub(super) fn object_key(&mut self, x: XId, acc: &Accessor, must: bool) -> Option<String> {
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
