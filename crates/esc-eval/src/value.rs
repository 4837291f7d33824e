//! Evaluated values, with the secret/unknown marks and the trace of where each came from.

use std::collections::BTreeMap;

use serde::Serialize;

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
// TODO(issue 3): Serialize (the API's Trace shape) once Value serializes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub def: Option<Range>,
    pub base: Option<Box<Value>>,
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
// TODO(issue 3): redacting Debug, plain-JSON projections (revealed / redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub data: Data,
    pub secret: bool,
    pub unknown: bool,
    pub trace: Trace,
}
