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

/// The data of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Null,
    Bool(bool),
    Number(serde_json::Number),
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
            J::Number(n) => Data::Number(n.clone()),
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
    /// `"[unknown]"`.
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
            Data::Number(n) => J::Number(n.clone()),
            Data::String(s) => J::String(s.clone()),
            Data::Array(a) => J::Array(a.iter().map(|v| v.to_json(redact)).collect()),
            Data::Object(o) => J::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), v.to_json(redact)))
                    .collect(),
            ),
        }
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
