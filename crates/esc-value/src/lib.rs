//! Pulumi ESC's `Value`, the one type the ESC client (esc-api), the evaluator (esc-eval) and
//! everything built on them hold values in.
//!
//! A crate of its own because neither of the two may depend on the other: the client pulls in
//! an HTTP stack the evaluator has no use for, and the evaluator a YAML parser and regular
//! expressions the client has no use for. Both re-export it, so their users name
//! `esc_api::Value` or `esc_eval::Value` as before.
//!
//! A number is kept as the JSON text it arrived with ([`Number`]), as Go's `json.Number` keeps
//! it in `esc` and the ESC API: `1E2`, `1.50` and a 23-digit integer are mounted as sent.

mod decode;
mod number;
mod value;
mod wire;

pub use decode::{DECODE_ERROR_PREFIX, DecodeError, MAX_DEPTH, OBJECT_WEIGHT};
pub use number::{MAX_NUMBER_LEN, Number, NumberError};
pub use value::{Data, Pos, Range, Trace, Value};
pub use wire::{Wire, serialize_wire_map};
