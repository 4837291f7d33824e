//! ESC's `Value`: a JSON value where every node is wrapped as `{"value": ..., "secret": ...}`.
//!
//! Decoding is deliberately lenient, because one unexpected field in a server reply must not
//! break every mount on every node: unknown fields are skipped, a missing `value` is null, a
//! node that arrives unwrapped is taken as it is, and a flag of the wrong type reads as false.
//! `Debug` never shows content: values are mostly secrets.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// One decoded node, wrappers stripped, flags kept.
#[derive(Clone, PartialEq, Default)]
pub struct Value {
    pub data: Data,
    /// ESC flagged this value secret; the whole subtree is secret.
    pub secret: bool,
    /// ESC could not compute this value (it depends on something unresolved).
    pub unknown: bool,
}

/// The content of a node.
#[derive(Clone, PartialEq, Default)]
pub enum Data {
    #[default]
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

impl Value {
    pub fn new(data: Data) -> Self {
        Value {
            data,
            secret: false,
            unknown: false,
        }
    }

    /// Whether this node or anything under it is flagged secret.
    pub fn contains_secret(&self) -> bool {
        self.secret
            || match &self.data {
                Data::Array(items) => items.iter().any(Value::contains_secret),
                Data::Object(members) => members.values().any(Value::contains_secret),
                _ => false,
            }
    }

    /// Whether this node or anything under it is unknown.
    pub fn contains_unknown(&self) -> bool {
        self.unknown
            || match &self.data {
                Data::Array(items) => items.iter().any(Value::contains_unknown),
                Data::Object(members) => members.values().any(Value::contains_unknown),
                _ => false,
            }
    }

    /// Builds a plain (unflagged) value from JSON, as a server stand-in or a test would.
    pub fn from_json(json: serde_json::Value) -> Self {
        Value::new(match json {
            serde_json::Value::Null => Data::Null,
            serde_json::Value::Bool(b) => Data::Bool(b),
            serde_json::Value::Number(n) => Data::Number(n),
            serde_json::Value::String(s) => Data::String(s),
            serde_json::Value::Array(a) => {
                Data::Array(a.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(o) => Data::Object(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        })
    }

    /// The value in ESC's wire form (every node wrapped, flags as fields), as a server sends it.
    pub fn to_wire(&self) -> serde_json::Value {
        let inner = match &self.data {
            Data::Null => serde_json::Value::Null,
            Data::Bool(b) => serde_json::Value::Bool(*b),
            Data::Number(n) => serde_json::Value::Number(n.clone()),
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

/// Structure only: kinds, sizes and flags, never content.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("secret ")?;
        }
        if self.unknown {
            return f.write_str("unknown");
        }
        self.data.fmt(f)
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Null => f.write_str("null"),
            Data::Bool(_) => f.write_str("bool"),
            Data::Number(_) => f.write_str("number"),
            Data::String(s) => write!(f, "string({} bytes)", s.len()),
            Data::Array(items) => f.debug_list().entries(items).finish(),
            Data::Object(members) => f.debug_map().entries(members).finish(),
        }
    }
}

/// Serializes the plain JSON the value stands for (flags dropped), keys in sorted order.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.data {
            Data::Null => serializer.serialize_unit(),
            Data::Bool(b) => serializer.serialize_bool(*b),
            Data::Number(n) => n.serialize(serializer),
            Data::String(s) => serializer.serialize_str(s),
            Data::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Data::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Reads a wrapped node `{"value": ..., "secret": ...}`; anything that is not a JSON object is
/// taken as a bare, unwrapped value.
struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ESC value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut node = Value::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Value => node.data = map.next_value::<Payload>()?.0,
                Key::Secret => node.secret = map.next_value::<Flag>()?.0,
                Key::Unknown => node.unknown = map.next_value::<Flag>()?.0,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(node)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::default())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        PayloadVisitor.visit_bool(v).map(|p| Value::new(p.0))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        PayloadVisitor.visit_i64(v).map(|p| Value::new(p.0))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        PayloadVisitor.visit_u64(v).map(|p| Value::new(p.0))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        PayloadVisitor.visit_f64(v).map(|p| Value::new(p.0))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::new(Data::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::new(Data::String(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        PayloadVisitor.visit_seq(seq).map(|p| Value::new(p.0))
    }
}

enum Key {
    Value,
    Secret,
    Unknown,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "value" => Key::Value,
                    "secret" => Key::Secret,
                    "unknown" => Key::Unknown,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// A boolean flag; any other JSON reads as false rather than failing the whole reply.
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_unit<E>(self) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<Flag, E> {
                Ok(Flag(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Flag, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Flag(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flag, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Flag(false))
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// The content of `value`: a scalar, or an array / object of wrapped nodes.
struct Payload(Data);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Payload, E> {
        Ok(Payload(Data::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Payload, E> {
        Ok(Payload(Data::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Payload, E> {
        Ok(Payload(Data::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Payload, E> {
        Ok(Payload(Data::Number(v.into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Payload, E> {
        serde_json::Number::from_f64(v)
            .map(|n| Payload(Data::Number(n)))
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Payload, E> {
        Ok(Payload(Data::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Payload, E> {
        Ok(Payload(Data::String(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Payload(Data::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        let mut members = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            members.insert(k, v);
        }
        Ok(Payload(Data::Object(members)))
    }
}

impl esc_path::Tree for Value {
    fn kind(&self) -> esc_path::Kind {
        use esc_path::Kind;
        if self.unknown {
            return Kind::Unknown;
        }
        match self.data {
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
            Data::Object(members) => members.get(key),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        match &self.data {
            Data::Object(members) => members.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn elements(&self) -> Option<&[Self]> {
        match &self.data {
            Data::Array(items) => Some(items),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(json: serde_json::Value) -> Value {
        serde_json::from_value(json).unwrap()
    }

    /// Found by the `esc_value` fuzz target (fuzz/regressions/esc_value): an unknown node that
    /// also carries data loses the data on the wire, so the wire form, not the value, is what
    /// survives a round trip.
    #[test]
    fn an_unknown_node_keeps_its_wire_form_but_not_its_data_through_a_round_trip() {
        let v = decode(json!({"value": {"n": {"value": "b", "secre": null, "unknown": true}}}));
        let wire = v.to_wire();
        assert_eq!(wire, json!({"value": {"n": {"unknown": true}}}));
        let again = decode(wire.clone());
        assert!(again != v);
        assert_eq!(again.to_wire(), wire);
    }

    #[test]
    fn wrappers_are_stripped_at_every_depth() {
        let v = decode(json!({"value": {
            "a": {"value": 1, "trace": {"def": {}}},
            "b": {"value": [{"value": "x"}, {"value": true}]},
        }}));
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"a": 1, "b": ["x", true]})
        );
    }

    #[test]
    fn a_missing_value_is_null_and_unknown_fields_are_ignored() {
        let v = decode(json!({"trace": {"def": {"begin": 1}}, "newField": [1, 2, {"x": 3}]}));
        assert_eq!(v.data, Data::Null);
        assert!(!v.secret && !v.unknown);
    }

    #[test]
    fn secret_and_unknown_flags_are_kept_per_node() {
        let v = decode(json!({"value": {
            "pw": {"value": "hunter2", "secret": true},
            "later": {"unknown": true},
        }}));
        let Data::Object(m) = &v.data else { panic!() };
        assert!(m["pw"].secret);
        assert!(m["later"].unknown);
        assert!(v.contains_secret() && v.contains_unknown());
        assert!(!v.secret);
    }

    #[test]
    fn a_flag_of_the_wrong_type_reads_as_false_instead_of_failing() {
        let v = decode(json!({"value": "x", "secret": "yes", "unknown": {"why": 1}}));
        assert_eq!(v.data, Data::String("x".into()));
        assert!(!v.secret && !v.unknown);
    }

    #[test]
    fn a_node_that_arrives_unwrapped_is_taken_as_it_is() {
        let v = decode(json!({"value": {"list": {"value": [1, "two", null]}, "n": 5}}));
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"list": [1, "two", null], "n": 5})
        );
    }

    #[test]
    fn numbers_keep_their_json_form() {
        let v: Value =
            serde_json::from_str(r#"{"value": [1, -2, 2.5, 18446744073709551615]}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            "[1,-2,2.5,18446744073709551615]"
        );
    }

    #[test]
    fn debug_output_shows_structure_but_never_content() {
        let v = decode(
            json!({"value": {"pw": {"value": "hunter2", "secret": true}, "n": {"value": 42}}}),
        );
        let debug = format!("{v:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("42"), "{debug}");
        assert_eq!(debug, r#"{"n": number, "pw": secret string(7 bytes)}"#);
    }

    #[test]
    fn the_wire_form_round_trips() {
        let v = decode(json!({"value": {
            "pw": {"value": "p", "secret": true},
            "u": {"unknown": true},
            "z": {},
            "l": {"value": [{"value": 1}]},
        }}));
        assert_eq!(decode(v.to_wire()), v);
    }
}
