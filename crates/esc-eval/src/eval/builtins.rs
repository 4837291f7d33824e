//! The builtins that compute a value from their arguments' values: `fn::concat`,
//! `fn::join`, `fn::split`, the base64 and JSON conversions, `fn::toString`, `fn::final` and
//! `fn::validate`.
//!
//! Each checks its arguments against the schema the reference gives them, propagates the
//! arguments' secret and unknown marks, and formats text the way the Go reference does (its
//! quoting, JSON escaping and error messages), since the output is compared byte for byte.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::marks::{combine, contains_unknowns};
use super::values::{export, schema_of, str_of};
use super::{Env, Repr, Run, V, XId, rc, val};
use crate::budget;
use crate::schema;

impl Run<'_> {
    /// `fn::concat`: the arrays of an array, one after the other.
    pub(super) fn eval_concat(&mut self, env: &Env, x: XId, a: XId) -> V {
        let accept = schema::array_of(schema::array_of(schema::always()));
        let (arrays, ok) = self.eval_typed(env, a, &accept);
        let (v, known) = self.builtin_result(x, &[(&arrays, ok)]);
        if known {
            let mut out = Vec::new();
            if let Repr::Array(items) = &arrays.borrow().repr {
                for i in items {
                    if let Repr::Array(inner) = &i.borrow().repr {
                        out.extend(inner.iter().cloned());
                    }
                }
            }
            let repr = Repr::Array(out);
            let mut b = v.borrow_mut();
            b.depth = super::depth_of(&repr);
            b.repr = repr;
        }
        v
    }

    /// `fn::join`: strings joined with a delimiter.
    pub(super) fn eval_join(&mut self, env: &Env, x: XId, d: XId, vs: XId) -> V {
        let (delim, dok) = self.eval_typed(env, d, &schema::typed("string"));
        let (values, vok) = self.eval_typed(env, vs, &schema::array_of(schema::typed("string")));
        let (v, known) = self.builtin_result(x, &[(&delim, dok), (&values, vok)]);
        if known {
            let sep = str_of(&delim);
            let parts: Vec<String> = match &values.borrow().repr {
                Repr::Array(items) => items.iter().map(str_of).collect(),
                _ => Vec::new(),
            };
            let size = parts
                .iter()
                .map(|p| p.len().saturating_add(sep.len()))
                .fold(0usize, usize::saturating_add);
            if !budget::bytes(size) {
                return self.over_budget(x);
            }
            v.borrow_mut().repr = Repr::String(parts.join(&sep));
        }
        v
    }

    /// `fn::split`: a string split on a delimiter.
    pub(super) fn eval_split(&mut self, env: &Env, x: XId, d: XId, s: XId) -> V {
        let (delim, dok) = self.eval_typed(env, d, &schema::typed("string"));
        let (text, sok) = self.eval_typed(env, s, &schema::typed("string"));
        let (v, known) = self.builtin_result(x, &[(&delim, dok), (&text, sok)]);
        if known {
            let (sep, text) = (str_of(&delim), str_of(&text));
            // Each part becomes a value of its own: count them before making them.
            let count = if sep.is_empty() {
                text.chars().count()
            } else {
                text.matches(sep.as_str()).count() + 1
            };
            let made = count.saturating_mul(std::mem::size_of::<super::Val>());
            if !budget::bytes(text.len()) || !budget::steps(count as u64) || !budget::total(made) {
                return self.over_budget(x);
            }
            let parts: Vec<V> = go_split(&text, &sep)
                .into_iter()
                .map(|p| rc(val(x, Repr::String(p))))
                .collect();
            v.borrow_mut().repr = Repr::Array(parts);
        }
        v
    }

    /// The result of a builtin over typed arguments `(value, passed its type)`: unknown when an
    /// argument failed its type, otherwise marked secret/unknown as its arguments are. The
    /// flag says whether the data is known and should be computed.
    fn builtin_result(&self, x: XId, args: &[(&V, bool)]) -> (V, bool) {
        let v = self.with_schema(x, Repr::Null);
        if args.iter().any(|(_, ok)| !ok) {
            v.borrow_mut().unknown = true;
            return (v, false);
        }
        let values: Vec<&V> = args.iter().map(|(a, _)| *a).collect();
        combine(&v, &values);
        let known = !v.borrow().unknown;
        (v, known)
    }

    /// `fn::fromBase64`.
    pub(super) fn eval_from_base64(&mut self, env: &Env, x: XId, s: XId) -> V {
        self.eval_string_to_string(env, x, s, |text| {
            match crate::gobase64::decode(text.as_bytes()) {
                Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
                Err(at) => Err(Some(format!(
                    "decoding base64 string: illegal base64 data at input byte {at}"
                ))),
            }
        })
    }

    /// `fn::toBase64`.
    pub(super) fn eval_to_base64(&mut self, env: &Env, x: XId, s: XId) -> V {
        self.eval_string_to_string(env, x, s, |text| {
            let size = text.len().div_ceil(3).saturating_mul(4);
            if !budget::bytes(size) {
                return Err(None);
            }
            Ok(STANDARD.encode(text))
        })
    }

    /// A builtin from one string to one string; `f`'s error becomes the diagnostic (`None`:
    /// over budget).
    fn eval_string_to_string(
        &mut self,
        env: &Env,
        x: XId,
        s: XId,
        f: impl FnOnce(&str) -> Result<String, Option<String>>,
    ) -> V {
        let (text, ok) = self.eval_typed(env, s, &schema::typed("string"));
        let (v, known) = self.builtin_result(x, &[(&text, ok)]);
        if known {
            match f(&str_of(&text)) {
                Ok(out) => v.borrow_mut().repr = Repr::String(out),
                Err(None) => return self.over_budget(x),
                Err(Some(message)) => {
                    self.error(x, message);
                    v.borrow_mut().unknown = true;
                }
            }
        }
        v
    }

    /// `fn::fromJSON`: the value a JSON string encodes.
    pub(super) fn eval_from_json(&mut self, env: &Env, x: XId, s: XId) -> V {
        let (text, ok) = self.eval_typed(env, s, &schema::typed("string"));
        let (v, known) = self.builtin_result(x, &[(&text, ok)]);
        if !known {
            return v;
        }
        match super::gojson::decode(&str_of(&text)) {
            Ok(j) => {
                let secret = v.borrow().secret || self.xs[x].secret;
                from_go_json(&j, x, secret)
            }
            Err(super::gojson::Error::Go(e)) => {
                self.error(x, format!("decoding JSON string: {e}"));
                v.borrow_mut().unknown = true;
                v
            }
            Err(super::gojson::Error::OverBudget) => self.over_budget(x),
        }
    }

    /// `fn::toJSON`.
    pub(super) fn eval_to_json(&mut self, env: &Env, x: XId, a: XId) -> V {
        let value = self.eval(env, a, &schema::always());
        let v = self.with_schema(x, Repr::Null);
        combine(&v, &[&value]);
        if !v.borrow().unknown {
            let exported = export(&self.xs, &value);
            if budget::is_exceeded() {
                return self.over_budget(x);
            }
            // Escapes make the text up to six times the strings' size: the text is made
            // against the value-size budget and stops there, never built whole first.
            let Some(text) = exported.to_go_json_within(budget::limits().max_value_bytes) else {
                budget::value_too_large();
                return self.over_budget(x);
            };
            if !budget::bytes(text.len()) {
                return self.over_budget(x);
            }
            v.borrow_mut().repr = Repr::String(text);
        }
        v
    }

    /// `fn::toYAML`: the value as the reference's yaml.v3 writes it.
    pub(super) fn eval_to_yaml(&mut self, env: &Env, x: XId, a: XId) -> V {
        let value = self.eval(env, a, &schema::always());
        let v = self.with_schema(x, Repr::Null);
        combine(&v, &[&value]);
        if !v.borrow().unknown {
            let exported = export(&self.xs, &value);
            if budget::is_exceeded() {
                return self.over_budget(x);
            }
            // Indentation makes the text grow with depth times leaves: made against the
            // value-size budget, it stops there.
            let Some(text) = crate::toyaml::to_yaml(&exported, budget::limits().max_value_bytes)
            else {
                budget::value_too_large();
                return self.over_budget(x);
            };
            if !budget::bytes(text.len()) {
                return self.over_budget(x);
            }
            v.borrow_mut().repr = Repr::String(text);
        }
        v
    }

    /// `fn::toString`: the value as interpolation would write it.
    pub(super) fn eval_to_string(&mut self, env: &Env, x: XId, a: XId) -> V {
        let value = self.eval(env, a, &schema::always());
        let mut text = Text::new();
        let (unknown, secret) = write_text(&value, &mut text);
        if text.over {
            text.charge_over();
        }
        if budget::is_exceeded() || !budget::bytes(text.out.len()) {
            return self.over_budget(x);
        }
        let s = text.out;
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

    /// `fn::final`: the value, marked so that importers cannot override it.
    pub(super) fn eval_final(&mut self, env: &Env, x: XId, a: XId) -> V {
        let value = self.eval(env, a, &schema::always());
        let v = self.derived_from(x, &value);
        v.borrow_mut().fin = true;
        v
    }

    /// A value for `x` with the data (and schema) of `value`.
    pub(super) fn derived_from(&self, x: XId, value: &V) -> V {
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

    pub(super) fn eval_validate(&mut self, env: &Env, x: XId, s: XId, a: XId) -> V {
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
}

/// A decoded JSON value as an evaluation value defined by `x`: numbers keep their text.
fn from_go_json(j: &super::gojson::Json, x: XId, secret: bool) -> V {
    use super::gojson::Json;
    // Each value made is charged its node (an `Rc<RefCell<Val>>`) to the evaluation's bytes.
    let node =
        std::mem::size_of::<std::cell::RefCell<super::Val>>() + 2 * std::mem::size_of::<usize>();
    let Some(_depth) = budget::descend().filter(|_| budget::step() && budget::total(node)) else {
        return super::unknown_val(x, schema::always());
    };
    let repr = match j {
        Json::Null => Repr::Null,
        Json::Bool(b) => Repr::Bool(*b),
        Json::Number(n) => Repr::Number(n.clone()),
        Json::String(s) => Repr::String(s.clone()),
        // Once a budget runs out, the rest is not built (not even as unknowns).
        Json::Array(a) => Repr::Array(
            a.iter()
                .map_while(|i| (!budget::is_exceeded()).then(|| from_go_json(i, x, secret)))
                .collect(),
        ),
        Json::Object(o) => Repr::Object(
            o.iter()
                .map_while(|(k, i)| {
                    (!budget::is_exceeded()).then(|| (k.clone(), from_go_json(i, x, secret)))
                })
                .collect(),
        ),
    };
    let mut out = val(x, repr);
    out.secret = secret;
    rc(out)
}

/// Text made against the value-size budget: past `max` bytes nothing more is added and `over`
/// is set, so that a value used many times over, or quoted at every level of nesting, never
/// builds a text larger than one value may be.
pub(super) struct Text {
    pub(super) out: String,
    max: usize,
    pub(super) over: bool,
    /// The bytes the whole text would take, while it is known (counted past `max` too, as
    /// long as no quoted part went over: its quoted size is then unknown).
    needed: Option<usize>,
}

impl Text {
    /// An empty text that may grow to the value-size budget.
    pub(super) fn new() -> Text {
        Text::within(budget::limits().max_value_bytes)
    }

    fn within(max: usize) -> Text {
        Text {
            out: String::new(),
            max,
            over: false,
            needed: Some(0),
        }
    }

    /// Records the over-budget diagnostic of a text that went over: with its size when known.
    pub(super) fn charge_over(&self) {
        match self.needed {
            Some(size) => {
                budget::bytes(size);
            }
            None => budget::value_too_large(),
        }
    }

    /// Stops making the text with parts left out: its full size is no longer known.
    pub(super) fn stop(&mut self) {
        self.needed = None;
    }

    /// Whether `n` more bytes fit; if not, the text is over.
    fn room(&mut self, n: usize) -> bool {
        self.needed = self.needed.map(|m| m.saturating_add(n));
        if self.over || n > self.max - self.out.len() {
            self.over = true;
            return false;
        }
        true
    }

    pub(super) fn push_str(&mut self, s: &str) {
        if self.room(s.len()) {
            self.out.push_str(s);
        }
    }

    /// Appends `s` quoted like Go's `strconv.Quote`, if the quoted text fits.
    fn push_quoted(&mut self, s: &str) {
        if self.room(esc_gotext::quoted_len(s)) {
            esc_gotext::quote_into(&mut self.out, s);
        }
    }

    /// Appends `v` as interpolation writes it, quoted: its text is made within the room left.
    fn push_quoted_value(&mut self, v: &V) -> (bool, bool) {
        let mut inner = Text::within(self.max - self.out.len());
        let marks = write_text(v, &mut inner);
        if inner.over {
            self.over = true;
            self.needed = None;
        } else {
            self.push_quoted(&inner.out);
        }
        marks
    }
}

/// Appends the text of a value interpolated into a string to `t`; `(unknown, secret)`.
/// Over the steps or depth budget nothing is written; the caller's budget check then fails.
pub(super) fn write_text(v: &V, t: &mut Text) -> (bool, bool) {
    let b = v.borrow();
    if b.unknown {
        t.push_str("[unknown]");
        return (true, b.secret);
    }
    let Some(_depth) = budget::descend().filter(|_| budget::step()) else {
        return (false, b.secret);
    };
    let (mut unknown, mut secret) = (false, b.secret);
    match &b.repr {
        Repr::Null => {}
        Repr::Bool(x) => t.push_str(if *x { "true" } else { "false" }),
        Repr::Number(n) => t.push_str(n),
        Repr::String(s) => t.push_str(s),
        Repr::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if t.over {
                    t.stop();
                    break;
                }
                if i > 0 {
                    t.push_str(",");
                }
                let (u, sec) = t.push_quoted_value(item);
                unknown |= u;
                secret |= sec;
            }
        }
        Repr::Object(m) => {
            for (i, (k, item)) in m.iter().enumerate() {
                if t.over {
                    t.stop();
                    break;
                }
                if i > 0 {
                    t.push_str(",");
                }
                t.push_quoted(k);
                t.push_str("=");
                let (u, sec) = t.push_quoted_value(item);
                unknown |= u;
                secret |= sec;
            }
        }
    }
    (unknown, secret)
}

/// Splits like Go's `strings.Split`: an empty separator splits into characters.
pub(super) fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_owned).collect()
}
