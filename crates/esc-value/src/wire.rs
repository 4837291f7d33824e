//! The ESC API's wire shape of a value: every node wrapped as `{"value": ..., "secret": true,
//! "unknown": true}`. [`Value::wire`] is what a server sends (every node with its `value` and
//! `trace`, numbers as their text); [`Value::to_wire`] is the compact form tests and stand-ins
//! build replies from.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::{Data, Trace, Value};

/// A value in the shape the ESC API sends: see [`Value::wire`].
#[derive(Debug, Clone, Copy)]
pub struct Wire<'a>(&'a Value);

impl Value {
    /// The value as the ESC API sends it: `{"value": ..., "secret": true?, "unknown": true?,
    /// "trace": {...}}` at every depth, plaintext next to `secret: true` as the API's reads do.
    #[must_use]
    pub fn wire(&self) -> Wire<'_> {
        Wire(self)
    }

    /// The compact wire form as JSON: `value` left out when null or unknown, marks only when
    /// set, no trace. A number beyond what `serde_json` holds is rounded here; serialize
    /// [`Value::wire`] to keep its text.
    pub fn to_wire(&self) -> serde_json::Value {
        let inner = match &self.data {
            Data::Null => serde_json::Value::Null,
            Data::Bool(b) => serde_json::Value::Bool(*b),
            Data::Number(n) => serde_json::Value::Number(n.to_serde()),
            Data::String(s) => serde_json::Value::String(s.clone()),
            Data::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_wire).collect()),
            Data::Object(o) => {
                serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_wire())).collect())
            }
        };
        let mut node = serde_json::Map::new();
        if !self.unknown && !matches!(self.data, Data::Null) {
            node.insert("value".into(), inner);
        }
        if self.secret {
            node.insert("secret".into(), true.into());
        }
        if self.unknown {
            node.insert("unknown".into(), true.into());
        }
        serde_json::Value::Object(node)
    }
}

/// Serializes a map of values in their wire shape (for `#[serde(serialize_with)]`).
pub fn serialize_wire_map<S: serde::Serializer>(
    map: &BTreeMap<String, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(map.iter().map(|(k, v)| (k, v.wire())))
}

struct Payload<'a>(&'a Data);

impl Serialize for Payload<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Data::Array(a) => s.collect_seq(a.iter().map(Value::wire)),
            Data::Object(o) => s.collect_map(o.iter().map(|(k, v)| (k, v.wire()))),
            _ => scalar(self.0, s),
        }
    }
}

fn scalar<S: serde::Serializer>(data: &Data, s: S) -> Result<S::Ok, S::Error> {
    match data {
        Data::Bool(b) => s.serialize_bool(*b),
        Data::Number(n) => n.serialize(s),
        Data::String(v) => s.serialize_str(v),
        _ => s.serialize_unit(),
    }
}

impl Serialize for Wire<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let len = 2 + usize::from(v.secret) + usize::from(v.unknown);
        let mut m = s.serialize_map(Some(len))?;
        m.serialize_entry("value", &Payload(&v.data))?;
        if v.secret {
            m.serialize_entry("secret", &true)?;
        }
        if v.unknown {
            m.serialize_entry("unknown", &true)?;
        }
        m.serialize_entry("trace", &TraceWire(v.trace.as_deref()))?;
        m.end()
    }
}

struct TraceWire<'a>(Option<&'a Trace>);

impl Serialize for TraceWire<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (def, base) = self
            .0
            .map_or((None, None), |t| (t.def.as_deref(), t.base.as_deref()));
        let len = usize::from(def.is_some()) + usize::from(base.is_some());
        let mut m = s.serialize_map(Some(len))?;
        if let Some(def) = def {
            m.serialize_entry("def", def)?;
        }
        if let Some(base) = base {
            m.serialize_entry("base", &base.wire())?;
        }
        m.end()
    }
}
