//! The value tree: data, the `secret` and `unknown` marks of each node, and (for values the
//! evaluator produced) where each was defined.
//!
//! `Debug` shows structure only (kinds, sizes, marks), never content: values are mostly
//! secrets. `Serialize` writes the plain JSON the value stands for (marks dropped); the ESC
//! API's wrapped shapes are [`Value::wire`] and [`Value::to_wire`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::Number;

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

/// Where a value was defined, and the value it overrode (from an import), if any. A value
/// holds it behind one box, so that a value without a trace (every value decoded from a reply)
/// pays one pointer for it: 48 bytes a value instead of 56 with the two inline. Each part is
/// boxed again, so that a traced value (every evaluated one) holds only what it has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub def: Option<Box<Range>>,
    pub base: Option<Box<Value>>,
}

/// One node, wrappers stripped, marks kept.
#[derive(Clone, PartialEq, Default)]
pub struct Value {
    pub data: Data,
    /// ESC flagged this value secret; the whole subtree is secret.
    pub secret: bool,
    /// ESC could not compute this value (it depends on something unresolved).
    pub unknown: bool,
    /// Where the evaluator found it; none for decoded values (the client skips traces), and
    /// none rather than an empty one.
    pub trace: Option<Box<Trace>>,
}

/// The content of a node.
#[derive(Clone, PartialEq, Default)]
pub enum Data {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// A plain value: no marks, no trace.
    #[must_use]
    pub fn new(data: Data) -> Self {
        Value {
            data,
            secret: false,
            unknown: false,
            trace: None,
        }
    }

    /// Where this value was defined, if known.
    pub fn trace_def(&self) -> Option<&Range> {
        self.trace.as_ref()?.def.as_deref()
    }

    /// The imported value this one overrode, if any.
    pub fn trace_base(&self) -> Option<&Value> {
        self.trace.as_ref()?.base.as_deref()
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

    /// Marks this value and everything inside it secret.
    #[must_use]
    pub fn into_secret(mut self) -> Value {
        self.mark_secret();
        self
    }

    fn mark_secret(&mut self) {
        self.secret = true;
        match &mut self.data {
            Data::Array(items) => items.iter_mut().for_each(Value::mark_secret),
            Data::Object(members) => members.values_mut().for_each(Value::mark_secret),
            _ => {}
        }
    }

    /// A plain (unmarked) value from JSON, as a server stand-in or a test builds one.
    pub fn from_json(json: serde_json::Value) -> Self {
        Value::new(match json {
            serde_json::Value::Null => Data::Null,
            serde_json::Value::Bool(b) => Data::Bool(b),
            serde_json::Value::Number(n) => Data::Number(n.into()),
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

    /// Plain JSON. With `redact`, secrets become `"[secret]"`; unknowns are always
    /// `"[unknown]"`. A `serde_json` number may round a number's text (see
    /// [`Number::to_serde`]); [`Value::to_go_json`] and `Serialize` keep it.
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
        self.to_go_json_within(usize::MAX).unwrap_or_default()
    }

    /// [`Value::to_go_json`] when the text is at most `max` bytes; `None` (having written at
    /// most `max` bytes, and stopped there) when it is longer. Escaping can make the text six
    /// times the size of the strings it holds: the budget is checked as the text is made,
    /// never after.
    #[must_use]
    pub fn to_go_json_within(&self, max: usize) -> Option<String> {
        let mut out = Limited {
            bytes: Vec::new(),
            max,
        };
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, GoEscapes);
        Plain(self).serialize(&mut serializer).ok()?;
        // Only whole UTF-8 text is written (escapes are ASCII, the rest is copied from `str`s).
        String::from_utf8(out.bytes).ok()
    }
}

/// Structure only: kinds, sizes and marks, never content.
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

/// The plain JSON the value stands for (marks dropped), keys in sorted order, each number as
/// its text.
impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.data {
            Data::Null => s.serialize_unit(),
            Data::Bool(b) => s.serialize_bool(*b),
            Data::Number(n) => n.serialize(s),
            Data::String(v) => s.serialize_str(v),
            Data::Array(items) => s.collect_seq(items),
            Data::Object(members) => s.collect_map(members),
        }
    }
}

/// A buffer that refuses to grow past `max` bytes (the serializer then stops with an error).
struct Limited {
    bytes: Vec<u8>,
    max: usize,
}

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.max - self.bytes.len() {
            return Err(std::io::Error::other("over the size budget"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compact JSON with Go's `json.Marshal` HTML-safe escapes: `<`, `>`, `&`, U+2028 and U+2029
/// inside strings (keys included) become `\u` escapes. serde_json escapes the rest as Go does.
struct GoEscapes;

impl serde_json::ser::Formatter for GoEscapes {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Plain JSON with unknowns as `"[unknown]"`, as the evaluator's projections write it.
struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.unknown {
            return s.serialize_str("[unknown]");
        }
        match &self.0.data {
            Data::Array(a) => s.collect_seq(a.iter().map(Plain)),
            Data::Object(o) => s.collect_map(o.iter().map(|(k, v)| (k, Plain(v)))),
            _ => self.0.serialize(s),
        }
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

    fn string(s: &str) -> Value {
        Value::new(Data::String(s.to_owned()))
    }

    /// Every decoded value pays for a trace it never has: one pointer, not two. (A map node of
    /// eleven members holds eleven values, so each byte here is eleven in every object.)
    #[test]
    fn a_value_holds_its_trace_behind_one_pointer_and_fits_in_48_bytes() {
        assert_eq!(std::mem::size_of::<Option<Box<Trace>>>(), 8);
        assert!(
            std::mem::size_of::<Value>() <= 48,
            "{}",
            std::mem::size_of::<Value>()
        );
    }

    #[test]
    fn go_json_escapes_html_characters_and_line_separators_in_keys_and_strings() {
        let v = Value::new(Data::Object(BTreeMap::from([(
            "<k&>".to_owned(),
            string("a<b>c&d\u{2028}e\u{2029}\"\n\u{1}é"),
        )])));
        assert_eq!(
            v.to_go_json(),
            r#"{"\u003ck\u0026\u003e":"a\u003cb\u003ec\u0026d\u2028e\u2029\"\n\u0001é"}"#
        );
    }

    #[test]
    fn go_json_within_a_budget_stops_at_the_budget() {
        // 1,000 `<` become 6,000 bytes of text: refused at a 5,000-byte budget, kept at 6,002.
        let v = string(&"<".repeat(1000));
        assert_eq!(v.to_go_json_within(5_000), None);
        assert_eq!(v.to_go_json_within(6_002).map(|t| t.len()), Some(6_002));
        assert_eq!(v.to_go_json_within(6_001), None);
    }
}
