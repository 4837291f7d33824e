//! Evaluated values, with the secret/unknown marks and the trace of where each came from.
//!
//! `Debug` never prints secret data; `Serialize` produces the ESC API's wire shape (which
//! carries plaintext next to `secret: true`, as the API's open/read do), and
//! [`Value::to_json`] the plain JSON projections.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::ser::SerializeMap;

/// A position in a definition: 1-based line and column, 0-based byte offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    pub byte: u32,
}

/// A span of one environment's definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Range {
    pub environment: String,
    pub begin: Pos,
    pub end: Pos,
}

/// Where a value was defined, and the value it overrode (from an import), if any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub def: Option<Range>,
    pub base: Option<Box<Value>>,
}

impl Serialize for Trace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = usize::from(self.def.is_some()) + usize::from(self.base.is_some());
        let mut m = s.serialize_map(Some(len))?;
        if let Some(def) = &self.def {
            m.serialize_entry("def", def)?;
        }
        if let Some(base) = &self.base {
            m.serialize_entry("base", base)?;
        }
        m.end()
    }
}

/// A number as its JSON text, kept exactly as it was written or sent (`1E2`, `1.50`, a
/// 23-digit integer), as the reference keeps a `json.Number`. It serializes as that text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Number(String);

impl Number {
    /// The number written `text`, when `text` is a JSON number.
    #[must_use]
    pub fn new(text: &str) -> Option<Number> {
        serde_json::from_str::<&serde_json::value::RawValue>(text)
            .ok()
            .filter(|_| {
                let t = text.strip_prefix('-').unwrap_or(text);
                t.starts_with(|c: char| c.is_ascii_digit())
                    && t.bytes()
                        .all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c))
            })
            .map(|_| Number(text.to_owned()))
    }

    /// Its text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As a `serde_json` number, which may round it (an integer beyond 64 bits, or a float
    /// whose text `f64` rewrites).
    #[must_use]
    pub fn to_serde(&self) -> serde_json::Number {
        serde_json::from_str(&self.0).unwrap_or_else(|_| serde_json::Number::from(0))
    }
}

impl From<serde_json::Number> for Number {
    fn from(n: serde_json::Number) -> Number {
        Number(n.to_string())
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Number {
        Number(n.to_string())
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // With serde_json this writes the text itself.
        match serde_json::value::RawValue::from_string(self.0.clone()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_str(&self.0),
        }
    }
}

/// The data of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

/// An evaluated value. Serializes to the ESC API's `Value` shape:
/// `{"value": ..., "secret": true?, "unknown": true?, "trace": {...}}`.
#[derive(Clone, PartialEq)]
pub struct Value {
    pub data: Data,
    pub secret: bool,
    pub unknown: bool,
    pub trace: Trace,
}

impl Value {
    /// A plain value with no marks and no trace.
    #[must_use]
    pub fn new(data: Data) -> Value {
        Value {
            data,
            secret: false,
            unknown: false,
            trace: Trace::default(),
        }
    }

    /// Builds a value from plain JSON (no marks, no trace).
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        Value::new(match json {
            J::Null => Data::Null,
            J::Bool(b) => Data::Bool(*b),
            J::Number(n) => Data::Number(n.clone().into()),
            J::String(s) => Data::String(s.clone()),
            J::Array(a) => Data::Array(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Data::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        })
    }

    /// Plain JSON. With `redact`, secrets become `"[secret]"`; unknowns are always
    /// `"[unknown]"`. A `serde_json` number may round a number's text (see
    /// [`Number::to_serde`]); [`Value::to_go_json`] keeps it.
    #[must_use]
    pub fn to_json(&self, redact: bool) -> serde_json::Value {
        use serde_json::Value as J;
        if self.secret && redact {
            return J::String("[secret]".into());
        }
        if self.unknown {
            return J::String("[unknown]".into());
        }
        match &self.data {
            Data::Null => J::Null,
            Data::Bool(b) => J::Bool(*b),
            Data::Number(n) => J::Number(n.to_serde()),
            Data::String(s) => J::String(s.clone()),
            Data::Array(a) => J::Array(a.iter().map(|v| v.to_json(redact)).collect()),
            Data::Object(o) => J::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.to_json(redact)))
                    .collect(),
            ),
        }
    }

    /// Compact JSON of the plain value (secrets shown, unknowns `"[unknown]"`) as Go's
    /// `json.Marshal` writes it: sorted keys, `<`, `>`, `&`, U+2028 and U+2029 escaped, and
    /// each number as its text.
    #[must_use]
    pub fn to_go_json(&self) -> String {
        serde_json::to_string(&Plain(self))
            .unwrap_or_default()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    }

    /// Marks this value and everything inside it secret.
    #[must_use]
    pub fn into_secret(mut self) -> Value {
        self.secret = true;
        match &mut self.data {
            Data::Array(a) => a
                .iter_mut()
                .for_each(|v| *v = std::mem::replace(v, Value::new(Data::Null)).into_secret()),
            Data::Object(o) => o
                .values_mut()
                .for_each(|v| *v = std::mem::replace(v, Value::new(Data::Null)).into_secret()),
            _ => {}
        }
        self
    }

    /// Whether this value or anything inside it is secret.
    pub fn contains_secrets(&self) -> bool {
        self.secret
            || match &self.data {
                Data::Array(a) => a.iter().any(Value::contains_secrets),
                Data::Object(o) => o.values().any(Value::contains_secrets),
                _ => false,
            }
    }

    /// Whether this value or anything inside it is unknown.
    pub fn contains_unknowns(&self) -> bool {
        self.unknown
            || match &self.data {
                Data::Array(a) => a.iter().any(Value::contains_unknowns),
                Data::Object(o) => o.values().any(Value::contains_unknowns),
                _ => false,
            }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            return f.write_str("[secret]");
        }
        if self.unknown {
            return f.write_str("[unknown]");
        }
        match &self.data {
            Data::Null => f.write_str("null"),
            Data::Bool(b) => write!(f, "{b}"),
            Data::Number(n) => write!(f, "{n}"),
            Data::String(s) => write!(f, "{s:?}"),
            Data::Array(a) => f.debug_list().entries(a).finish(),
            Data::Object(o) => f.debug_map().entries(o).finish(),
        }
    }
}

/// The plain projection of a value, numbers as their text.
struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.unknown {
            return s.serialize_str("[unknown]");
        }
        match &self.0.data {
            Data::Null => s.serialize_unit(),
            Data::Bool(b) => s.serialize_bool(*b),
            Data::Number(n) => n.serialize(s),
            Data::String(v) => s.serialize_str(v),
            Data::Array(a) => s.collect_seq(a.iter().map(Plain)),
            Data::Object(o) => s.collect_map(o.iter().map(|(k, v)| (k, Plain(v)))),
        }
    }
}

struct Wire<'a>(&'a Data);

impl Serialize for Wire<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Data::Null => s.serialize_unit(),
            Data::Bool(b) => s.serialize_bool(*b),
            Data::Number(n) => n.serialize(s),
            Data::String(v) => s.serialize_str(v),
            Data::Array(a) => s.collect_seq(a),
            Data::Object(o) => s.collect_map(o),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = 2 + usize::from(self.secret) + usize::from(self.unknown);
        let mut m = s.serialize_map(Some(len))?;
        m.serialize_entry("value", &Wire(&self.data))?;
        if self.secret {
            m.serialize_entry("secret", &true)?;
        }
        if self.unknown {
            m.serialize_entry("unknown", &true)?;
        }
        m.serialize_entry("trace", &self.trace)?;
        m.end()
    }
}

impl esc_path::Tree for Value {
    fn kind(&self) -> esc_path::Kind {
        use esc_path::Kind;
        if self.unknown {
            return Kind::Unknown;
        }
        match &self.data {
            Data::Null => Kind::Null,
            Data::Bool(_) => Kind::Bool,
            Data::Number(_) => Kind::Number,
            Data::String(_) => Kind::String,
            Data::Array(_) => Kind::Array,
            Data::Object(_) => Kind::Object,
        }
    }

    fn member(&self, key: &str) -> Option<&Self> {
        match &self.data {
            Data::Object(o) => o.get(key),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        match &self.data {
            Data::Object(o) => o.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn elements(&self) -> Option<&[Self]> {
        match &self.data {
            Data::Array(a) => Some(a),
            _ => None,
        }
    }

    fn from_elements(elements: Vec<Self>) -> Self {
        Value::new(Data::Array(elements))
    }

    fn is_secret(&self) -> bool {
        self.secret
    }
}
