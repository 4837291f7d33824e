//! Go's text rules, written once for every crate that must match Go byte for byte.
//!
//! Pulumi's evaluator and API are Go programs: an ESC value quoted inside a string is Go's
//! `strconv.Quote`, and a duration (the API's `?duration=`, and so every duration flag here) is
//! Go's `time.ParseDuration`. Both are small, but each was written several times and the
//! copies drifted (one quoted only control characters where Go escapes every rune `IsPrint`
//! rejects). This crate holds the one copy, with Go's own printability tables.

mod duration;
#[rustfmt::skip]
mod isprint_tables;
mod quote;

pub use duration::{duration_text, parse_duration};
pub use quote::{is_graphic, is_print, quote, quote_into, quoted_len};
