//! Reading a value in ESC's wire shape, leniently, with budgets.
//!
//! Lenient because one unexpected field in a server reply must not break every mount on every
//! node: unknown fields are skipped, a missing `value` is null, a node that arrives unwrapped
//! is taken as it is, and a mark (`secret`, `unknown`) of the wrong type reads as false.
//!
//! Our own reader rather than serde's data model, because serde hands a number over as an
//! `i64`, `u64` or `f64`, and the text is what must survive. serde_json's
//! `arbitrary_precision` would keep it, but that feature is workspace-wide once enabled and
//! turns every number into a map for `deserialize_any`, which breaks untagged and flattened
//! types elsewhere (Kubernetes' `IntOrString`). So a reply is read by this module alone, in one
//! pass that checks it is JSON as it goes ([`Value::decode_wire_field`]); `Deserialize`, for
//! other uses, captures a node's text as a serde_json raw value and reads that. A reply is
//! untrusted: nesting is bounded by [`MAX_DEPTH`] and a number's text by
//! [`crate::MAX_NUMBER_LEN`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _};

use crate::number::NumberError;
use crate::{Data, Number, Value};

/// The deepest nesting of JSON arrays and objects read (serde_json's own default limit).
pub const MAX_DEPTH: usize = 128;

/// What an object weighs, in values, beyond its own node: its map's first node holds room for
/// eleven members whatever it holds, about 900 bytes, so a reply of many small objects weighs
/// far more than its count of values.
pub const OBJECT_WEIGHT: usize = 6;

/// Why a value was refused. Never quotes the input: values are mostly secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Number(NumberError),
    TooDeep,
    Syntax,
    /// An object was expected (an environment's `properties`).
    NotAnObject,
    /// More values would be kept than the caller's budget allows (the caller knows its budget,
    /// so the error stays as small as the others: every `Result` of the reader carries it).
    TooManyValues,
}

/// Every [`DecodeError`] message starts with this, so that a caller handed serde's error can
/// tell ours (which never quote the input) from serde's own.
pub const DECODE_ERROR_PREFIX: &str = "the ESC value ";

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DECODE_ERROR_PREFIX)?;
        match self {
            DecodeError::Number(e) => write!(f, "has {e}"),
            DecodeError::TooDeep => write!(f, "nests more than {MAX_DEPTH} levels deep"),
            DecodeError::Syntax => f.write_str("is not valid JSON"),
            DecodeError::NotAnObject => f.write_str("is not an object of properties"),
            DecodeError::TooManyValues => f.write_str("holds more values than its budget allows"),
        }
    }
}

impl std::error::Error for DecodeError {}

type Result<T> = std::result::Result<T, DecodeError>;

impl Value {
    /// Decodes one node in ESC's wire shape from JSON text.
    pub fn decode_wire(text: &str) -> Result<Value> {
        Reader::read(text, false)
    }

    /// Decodes plain JSON text (no wrappers, no marks), numbers as written: what a string
    /// holding `fn::toJSON`'s output stands for.
    pub fn decode_plain(text: &str) -> Result<Value> {
        Reader::read(text, true)
    }

    /// Decodes a JSON object whose members are nodes in ESC's wire shape: an environment's
    /// `properties`.
    pub fn decode_wire_members(text: &str) -> Result<BTreeMap<String, Value>> {
        let mut r = Reader::new(text);
        let members = r.wire_members(1)?;
        r.end()?;
        Ok(members)
    }

    /// Reads the JSON object `text` and returns its member `field` decoded as by
    /// [`Value::decode_wire_members`] (empty when absent, the last one when repeated). Every
    /// other member is checked as JSON and skipped. One pass over the text and no copy of it:
    /// how a whole reply is read.
    pub fn decode_wire_field(text: &str, field: &str) -> Result<BTreeMap<String, Value>> {
        Value::decode_wire_field_within(text, field, usize::MAX).map(|(found, _)| found)
    }

    /// [`Value::decode_wire_field`] keeping at most `max_values` values, and how many it kept.
    /// The count is of the nodes built, not of the text: wrappers, marks and skipped fields
    /// (an ESC reply's `trace`) cost nothing, and nothing that is kept goes uncounted, whatever
    /// the reply's shape (a value repeated in a wrapper counts each time it is built). An
    /// object counts [`OBJECT_WEIGHT`] more.
    pub fn decode_wire_field_within(
        text: &str,
        field: &str,
        max_values: usize,
    ) -> Result<(BTreeMap<String, Value>, usize)> {
        let mut r = Reader {
            max_values,
            ..Reader::new(text)
        };
        if r.peek() != Some(b'{') {
            return Err(DecodeError::NotAnObject);
        }
        let mut found = BTreeMap::new();
        r.members(|r, key| {
            if key == field {
                found = r.wire_members(1)?;
                Ok(())
            } else {
                r.skip(1)
            }
        })?;
        r.end()?;
        Ok((found, r.kept))
    }
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            text,
            b: text.as_bytes(),
            i: 0,
            plain: false,
            kept: 0,
            max_values: usize::MAX,
        }
    }

    fn read(text: &'a str, plain: bool) -> Result<Value> {
        let mut r = Reader {
            plain,
            ..Reader::new(text)
        };
        let value = r.node(0)?;
        r.end()?;
        Ok(value)
    }

    /// Only whitespace may follow.
    fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(DecodeError::Syntax),
        }
    }

    fn wire_members(&mut self, depth: usize) -> Result<BTreeMap<String, Value>> {
        if self.peek() != Some(b'{') {
            return Err(DecodeError::NotAnObject);
        }
        let mut members = BTreeMap::new();
        self.members(|r, key| {
            let value = r.node(depth)?;
            members.insert(key.into_owned(), value);
            Ok(())
        })?;
        Ok(members)
    }
}

/// Reads a node from JSON text (`serde_json::from_slice`, `from_str`, `from_value`, ...).
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Value::decode_wire(raw.get()).map_err(D::Error::custom)
    }
}

struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    /// Plain JSON: objects are objects, not wrappers.
    plain: bool,
    /// Nodes built so far, and the most that may be.
    kept: usize,
    max_values: usize,
}

/// The index of the first byte at or after `i` that ends a string's plain run: a quote, a
/// backslash or a control character (or the end). Eight bytes at a time, as serde_json does:
/// strings are most of a reply's bytes.
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // A high bit in each byte that is zero; exact for the lowest such byte.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let found = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(c) = b.get(i) {
        if matches!(c, b'"' | b'\\' | 0..0x20) {
            break;
        }
        i += 1;
    }
    i
}

/// Out of the reader's hot path: the branch that refuses is taken once at most.
#[cold]
fn too_many() -> DecodeError {
    DecodeError::TooManyValues
}

fn enter(depth: usize) -> Result<usize> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    Ok(depth + 1)
}

impl<'a> Reader<'a> {
    /// Counts `weight` more values kept. (No overflow: at most 7 per byte of text.)
    #[inline(always)]
    fn keep(&mut self, weight: usize) -> Result<()> {
        self.kept += weight;
        if self.kept > self.max_values {
            return Err(too_many());
        }
        Ok(())
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<()> {
        if self.peek() != Some(c) {
            return Err(DecodeError::Syntax);
        }
        self.i += 1;
        Ok(())
    }

    /// A node: `{"value": ..., "secret": ..., "unknown": ...}`, or anything else taken as a
    /// bare value.
    fn node(&mut self, depth: usize) -> Result<Value> {
        // Every value kept is built here, once.
        self.keep(1)?;
        if self.plain || self.peek() != Some(b'{') {
            return Ok(Value::new(self.payload(depth)?));
        }
        let depth = enter(depth)?;
        let mut node = Value::default();
        self.members(|r, key| {
            match key.as_ref() {
                "value" => node.data = r.payload(depth)?,
                "secret" => node.secret = r.flag(depth)?,
                "unknown" => node.unknown = r.flag(depth)?,
                _ => r.skip(depth)?,
            }
            Ok(())
        })?;
        Ok(node)
    }

    /// The content of `value`: a scalar, or an array or object of nodes.
    fn payload(&mut self, depth: usize) -> Result<Data> {
        Ok(match self.peek() {
            Some(b'{') => {
                let depth = enter(depth)?;
                self.keep(OBJECT_WEIGHT)?;
                let mut members = BTreeMap::new();
                self.members(|r, key| {
                    let value = r.node(depth)?;
                    members.insert(key.into_owned(), value);
                    Ok(())
                })?;
                Data::Object(members)
            }
            Some(b'[') => {
                let depth = enter(depth)?;
                let mut items = Vec::new();
                self.elements(|r| {
                    let value = r.node(depth)?;
                    if items.len() == items.capacity() {
                        // A quarter more, not double: an array's spare room stays within what
                        // its values were charged.
                        items.reserve_exact((items.len() / 4).max(4));
                    }
                    items.push(value);
                    Ok(())
                })?;
                Data::Array(items)
            }
            Some(b'"') => Data::String(self.string()?.into_owned()),
            Some(b'-' | b'0'..=b'9') => Data::Number(self.number()?),
            _ => match self.literal()? {
                Some(b) => Data::Bool(b),
                None => Data::Null,
            },
        })
    }

    /// `true` is true; anything else (any type) reads as false.
    fn flag(&mut self, depth: usize) -> Result<bool> {
        if self.peek() == Some(b't') {
            return Ok(self.literal()? == Some(true));
        }
        self.skip(depth)?;
        Ok(false)
    }

    /// Passes over a value without building it.
    fn skip(&mut self, depth: usize) -> Result<()> {
        match self.peek() {
            Some(b'{') => {
                let depth = enter(depth)?;
                self.members_by(|r| r.scan_string().map(drop), |r, ()| r.skip(depth))
            }
            Some(b'[') => {
                let depth = enter(depth)?;
                self.elements(|r| r.skip(depth))
            }
            Some(b'"') => self.scan_string().map(drop),
            Some(b'-' | b'0'..=b'9') => {
                // One pass: read the number as far as the grammar goes, then refuse it if
                // what follows would have continued it (as `1.` or `01`).
                let rest = self.b.get(self.i..).unwrap_or_default();
                let len = crate::number::json_number_len(rest).ok_or(DecodeError::Syntax)?;
                self.i += len;
                match self.b.get(self.i) {
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') => {
                        Err(DecodeError::Syntax)
                    }
                    _ => Ok(()),
                }
            }
            _ => self.literal().map(drop),
        }
    }

    fn members(&mut self, f: impl FnMut(&mut Self, Cow<'a, str>) -> Result<()>) -> Result<()> {
        self.members_by(Self::string, f)
    }

    /// [`Reader::members`] with the keys read by `key`: a skipped object's keys are only
    /// scanned, never sliced or unescaped.
    fn members_by<K>(
        &mut self,
        key: impl Fn(&mut Self) -> Result<K>,
        mut f: impl FnMut(&mut Self, K) -> Result<()>,
    ) -> Result<()> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(DecodeError::Syntax);
            }
            let key = key(self)?;
            self.eat(b':')?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(DecodeError::Syntax),
            }
        }
    }

    fn elements(&mut self, mut f: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            f(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(DecodeError::Syntax),
            }
        }
    }

    /// `true`, `false` or `null`.
    fn literal(&mut self) -> Result<Option<bool>> {
        let rest = &self.b[self.i.min(self.b.len())..];
        let (value, len) = if rest.starts_with(b"true") {
            (Some(true), 4)
        } else if rest.starts_with(b"false") {
            (Some(false), 5)
        } else if rest.starts_with(b"null") {
            (None, 4)
        } else {
            return Err(DecodeError::Syntax);
        };
        self.i += len;
        Ok(value)
    }

    /// The span of a string, quotes included, and whether it has escapes.
    fn scan_string(&mut self) -> Result<(usize, usize, bool)> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            self.i = skip_plain(self.b, self.i);
            match self.b.get(self.i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    let hex =
                        |b: Option<&[u8]>| b.is_some_and(|b| b.iter().all(u8::is_ascii_hexdigit));
                    match self.b.get(self.i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                        Some(b'u') if hex(self.b.get(self.i + 2..self.i + 6)) => self.i += 6,
                        _ => return Err(DecodeError::Syntax),
                    }
                }
                // JSON allows no raw control characters in a string.
                Some(0..0x20) | None => return Err(DecodeError::Syntax),
                Some(_) => self.i += 1,
            }
        }
        self.i += 1;
        Ok((start, self.i, escaped))
    }

    /// A string, borrowed from the text unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>> {
        let (start, end, escaped) = self.scan_string()?;
        // A quote byte never sits inside a multi-byte character, so both ends are boundaries.
        let quoted = self.text.get(start..end).ok_or(DecodeError::Syntax)?;
        if !escaped {
            return Ok(Cow::Borrowed(&quoted[1..quoted.len() - 1]));
        }
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .map_err(|_| DecodeError::Syntax)
    }

    fn scan_number(&mut self) -> usize {
        let start = self.i;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        start
    }

    fn number(&mut self) -> Result<Number> {
        let start = self.scan_number();
        if self.i - start > crate::MAX_NUMBER_LEN {
            return Err(DecodeError::Number(NumberError::TooLong));
        }
        let text = self.text.get(start..self.i).ok_or(DecodeError::Syntax)?;
        Number::parse(text).map_err(DecodeError::Number)
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

    /// A number in a skipped field (every trace's lines and columns) is checked in one pass;
    /// it is accepted exactly when it is a JSON number.
    #[test]
    fn a_skipped_number_is_accepted_exactly_when_it_is_a_json_number() {
        for text in [
            "0",
            "-0",
            "01",
            "-01",
            "00",
            "-",
            "1.",
            "1.5",
            "-0.0e-0",
            "2.",
            "1e",
            "1e5",
            "1E+5",
            "1e-",
            "1ee2",
            "1.5e3.2",
            "1--2",
            "1-2",
            "0e0",
            "+1",
            "9007199254740993",
            "123456789012345678901234567890.5e-300",
        ] {
            let reply = format!(r#"{{"skipped": {text}, "kept": {{}}}}"#);
            let skipped = Value::decode_wire_field(&reply, "kept").is_ok();
            assert_eq!(
                skipped,
                crate::number::is_json_number(text.as_bytes()),
                "{text}"
            );
        }
    }

    /// A skipped object's keys are scanned, not built, and still checked as JSON strings.
    #[test]
    fn a_skipped_objects_keys_are_checked_as_json_strings() {
        let reply = |key: &str| format!(r#"{{"trace": {{"{key}": 1}}, "kept": {{}}}}"#);
        for good in ["def", r"a\nb", r"\u00e9", r#"q\"q"#] {
            assert!(
                Value::decode_wire_field(&reply(good), "kept").is_ok(),
                "{good}"
            );
        }
        // An unknown escape, a short \u, a raw tab.
        for bad in [r"a\x", r"\u12", "tab\there"] {
            assert_eq!(
                Value::decode_wire_field(&reply(bad), "kept"),
                Err(DecodeError::Syntax),
                "{bad}"
            );
        }
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
        let v = decode(json!({"value": "x", "secret": "yes", "unknown": {"why": [1, true]}}));
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
    fn numbers_keep_the_text_they_arrived_with() {
        let text = r#"{"value": [1, -2, 2.5, 18446744073709551615, 12345678901234567890123, 1E2, 1.50, -0]}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            "[1,-2,2.5,18446744073709551615,12345678901234567890123,1E2,1.50,-0]"
        );
    }

    #[test]
    fn escaped_keys_and_strings_are_decoded() {
        let v: Value = serde_json::from_str(
            r#"{"val\u0075e": {"k\"ey": "a\nb\u00e9\ud83d\ude00", "plain": "é"}}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"k\"ey": "a\nbé😀", "plain": "é"})
        );
    }

    #[test]
    fn an_over_long_number_is_refused_with_a_message_that_does_not_quote_it() {
        let long = format!("1{}", "0".repeat(crate::MAX_NUMBER_LEN));
        let error =
            serde_json::from_str::<Value>(&format!(r#"{{"value": {{"n": {long}}}}}"#)).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with(DECODE_ERROR_PREFIX), "{message}");
        assert!(message.contains("longer than 256 characters"), "{message}");
        assert!(!message.contains("0000"), "{message}");
        // Longer numbers in fields that are skipped are no concern.
        let skipped = format!(r#"{{"value": 1, "trace": {long}}}"#);
        assert!(serde_json::from_str::<Value>(&skipped).is_ok());
    }

    #[test]
    fn nesting_beyond_the_budget_is_refused_without_overflowing_the_stack() {
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(Value::decode_wire(&deep), Err(DecodeError::TooDeep));
        let wrapped = format!("{}{}", r#"{"value": "#.repeat(10_000), "}".repeat(10_000));
        assert_eq!(Value::decode_wire(&wrapped), Err(DecodeError::TooDeep));
    }

    #[test]
    fn malformed_text_is_refused_rather_than_read_halfway() {
        for text in [
            "",
            "{",
            r#"{"value": }"#,
            "[1,]",
            "tru",
            r#""open"#,
            "1 2",
            "01",
            "[1.]",
        ] {
            assert!(Value::decode_wire(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn plain_json_keeps_objects_and_number_text() {
        let v = Value::decode_plain(r#"{"value": {"secret": true}, "n": [1E2, 1.50]}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"n":[1E2,1.50],"value":{"secret":true}}"#
        );
        assert!(!v.contains_secret());
        assert!(Value::decode_plain("{} trailing").is_err());
    }

    #[test]
    fn properties_are_an_object_of_nodes() {
        let members = Value::decode_wire_members(
            r#"{"a": {"value": 1E2, "secret": true}, "b": [1], "a": {"value": 2}}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&members).unwrap(),
            r#"{"a":2,"b":[1]}"#
        );
        assert_eq!(
            Value::decode_wire_members("[1]"),
            Err(DecodeError::NotAnObject)
        );
        assert_eq!(
            Value::decode_wire_members("{} {}"),
            Err(DecodeError::Syntax)
        );
    }

    #[test]
    fn the_values_budget_counts_the_nodes_kept_not_the_traces_skipped() {
        let leaf = r#"{"value":"x","trace":{"def":{"environment":"e","begin":{"line":1,"column":2,"byte":3},"end":{"line":1,"column":4,"byte":5}}},"secret":false}"#;
        let members: Vec<String> = (0..100).map(|i| format!(r#""k{i}":{leaf}"#)).collect();
        let reply = format!(
            r#"{{"exprs":{{"a":[1,2,3]}},"properties":{{"obj":{{"value":{{{}}}}}}}}}"#,
            members.join(",")
        );
        // The object (its node and its map) and its 100 leaves, whatever the traces hold.
        let weight = 1 + OBJECT_WEIGHT + 100;
        let (found, kept) = Value::decode_wire_field_within(&reply, "properties", weight).unwrap();
        assert_eq!((found.len(), kept), (1, weight));
        assert_eq!(
            Value::decode_wire_field_within(&reply, "properties", weight - 1).unwrap_err(),
            DecodeError::TooManyValues
        );
        // Bare values and a user's own property named `trace` are kept, so counted.
        let bare = r#"{"properties":{"trace":[0,0,0,0],"b":{"value":{"trace":{"value":1}}}}}"#;
        let (_, kept) = Value::decode_wire_field_within(bare, "properties", 100).unwrap();
        assert_eq!(kept, 7 + OBJECT_WEIGHT);
        // A repeated `value` is built twice, so counted twice.
        let twice = r#"{"properties":{"a":{"value":[0,0],"value":[0,0]}}}"#;
        let (_, kept) = Value::decode_wire_field_within(twice, "properties", 100).unwrap();
        assert_eq!(kept, 5);
        assert!(
            DecodeError::TooManyValues
                .to_string()
                .starts_with(DECODE_ERROR_PREFIX)
        );
    }

    #[test]
    fn a_whole_reply_is_read_for_one_field_and_checked_as_json_elsewhere() {
        let reply = r#"{"schema": {"type": "object", "n": [1.5e3, "\u00e9\n"]},
            "properties": {"a": {"value": 1E2, "trace": {"def": {"begin": {"line": 3}}}}}}"#;
        let found = Value::decode_wire_field(reply, "properties").unwrap();
        assert_eq!(serde_json::to_string(&found).unwrap(), r#"{"a":1E2}"#);
        assert!(
            Value::decode_wire_field("{}", "properties")
                .unwrap()
                .is_empty()
        );
        for bad in [
            "{\"x\": \"tab\there\", \"properties\": {}}",
            r#"{"x": "\q", "properties": {}}"#,
            r#"{"x": "\u12", "properties": {}}"#,
            r#"{"x": 01, "properties": {}}"#,
            r#"{"x": 1.e5, "properties": {}}"#,
            r#"{"properties": {}} x"#,
            r#"{"properties": {"a": {"value": }}}"#,
            r#"{"properties": [1]}"#,
        ] {
            assert!(
                Value::decode_wire_field(bad, "properties").is_err(),
                "{bad}"
            );
            let refused_by_serde = serde_json::from_str::<serde::de::IgnoredAny>(bad).is_err();
            let shape = bad.contains("[1]");
            assert!(refused_by_serde || shape, "{bad}");
        }
    }

    #[test]
    fn a_plain_run_ends_at_the_first_quote_backslash_or_control_character() {
        for text in ["", "abc", "abcdefghijklmnopq", "é😀abcdefgh"] {
            for end in ["\"", "\\", "\n", "\u{1f}"] {
                let joined = format!("{text}{end}rest\"");
                assert_eq!(skip_plain(joined.as_bytes(), 0), text.len(), "{joined:?}");
            }
            assert_eq!(skip_plain(text.as_bytes(), 0), text.len());
        }
        // Bytes above 0x7f and just above the control range are plain.
        assert_eq!(skip_plain(b"\x20\x21\x7f\xff\x80 !~abc\"", 0), 11);
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
        let text = serde_json::to_string(&v.wire()).unwrap();
        assert_eq!(Value::decode_wire(&text).unwrap(), v);
    }

    #[test]
    fn the_servers_wire_form_keeps_number_text_marks_and_trace() {
        let mut v =
            Value::decode_wire(r#"{"value": {"n": {"value": 1E2, "secret": true}}}"#).unwrap();
        v.trace = Some(Box::new(crate::Trace {
            def: Some(Box::new(crate::Range {
                environment: "app/dev".into(),
                ..Default::default()
            })),
            base: None,
        }));
        let text = serde_json::to_string(&v.wire()).unwrap();
        assert_eq!(
            text,
            r#"{"value":{"n":{"value":1E2,"secret":true,"trace":{}}},"trace":{"def":{"environment":"app/dev","begin":{"line":0,"column":0,"byte":0},"end":{"line":0,"column":0,"byte":0}}}}"#
        );
    }
}
