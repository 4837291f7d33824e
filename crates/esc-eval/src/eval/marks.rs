//! The secret and unknown marks: a value computed from a secret is secret, and one computed
//! from an unknown (an unopened provider, in a check) is unknown, however deep in its
//! arguments the mark is.

use super::values::{keys, property};
use super::{Repr, V, Val};

pub(super) fn contains(v: &V, pred: &dyn Fn(&Val) -> bool) -> bool {
    if pred(&v.borrow()) {
        return true;
    }
    let Some(_depth) = crate::budget::descend().filter(|_| crate::budget::step()) else {
        return false;
    };
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

pub(super) fn contains_unknowns(v: &V) -> bool {
    contains(v, &|b| b.unknown)
}

pub(super) fn contains_secrets(v: &V) -> bool {
    contains(v, &|b| b.secret)
}

pub(super) fn contains_observable_unknowns(v: &V, rotating: bool) -> bool {
    contains(v, &|b| b.unknown && (rotating || !b.rotate_only))
}

pub(super) fn combine(v: &V, others: &[&V]) {
    for o in others {
        let unknown = v.borrow().unknown || contains_unknowns(v) || contains_unknowns(o);
        let secret = v.borrow().secret || contains_secrets(v) || contains_secrets(o);
        let mut b = v.borrow_mut();
        b.unknown = unknown;
        b.secret = secret;
    }
}
