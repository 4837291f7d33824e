//! A JSON number kept as the text it was written with.
//!
//! Go's `json.Number` (what `esc` and the ESC API hand around) is the literal text, so `1E2`,
//! `1.50` and a 23-digit integer reach the user as written; an `f64` or `i64` would rewrite
//! them. Most literals are short, so the text lives inline and a number costs no allocation.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::Serialize;

/// The longest number text accepted. Go has no limit, but nothing real needs more, and a value
/// from an ESC reply is untrusted input.
pub const MAX_NUMBER_LEN: usize = 256;

/// Texts up to this long are stored inline.
const INLINE: usize = 22;

/// A JSON number as its text, validated against JSON's grammar.
#[derive(Clone)]
pub struct Number(Text);

#[derive(Clone)]
enum Text {
    /// Invariant: `len <= INLINE` and `bytes[..len]` is ASCII.
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

/// Why a text is not a [`Number`]; the text itself is never part of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// Not a number in JSON's grammar.
    Invalid,
    /// Longer than [`MAX_NUMBER_LEN`].
    TooLong,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::Invalid => f.write_str("a number that is not valid JSON"),
            NumberError::TooLong => write!(f, "a number longer than {MAX_NUMBER_LEN} characters"),
        }
    }
}

impl std::error::Error for NumberError {}

impl Number {
    /// The number written `text`, when `text` is a JSON number of at most
    /// [`MAX_NUMBER_LEN`] characters.
    #[must_use]
    pub fn new(text: &str) -> Option<Number> {
        Number::parse(text).ok()
    }

    /// Like [`Number::new`], saying why not.
    pub fn parse(text: &str) -> Result<Number, NumberError> {
        if text.len() > MAX_NUMBER_LEN {
            return Err(NumberError::TooLong);
        }
        if !is_json_number(text.as_bytes()) {
            return Err(NumberError::Invalid);
        }
        Ok(Number(if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            // In range: at most INLINE (22) bytes.
            Text::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            Text::Heap(text.into())
        }))
    }

    /// Its text, exactly as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Always ASCII (checked in `parse`), so this never falls back.
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or("0")
            }
            Text::Heap(text) => text,
        }
    }

    /// The integer it writes, when it is written as one (no fraction, no exponent, not `-0`)
    /// and fits in an `i128`.
    #[must_use]
    pub fn as_i128(&self) -> Option<i128> {
        let text = self.as_str();
        if text.starts_with("-0") || text.contains(['.', 'e', 'E']) {
            return None;
        }
        text.parse().ok()
    }

    /// As a `serde_json` number, which may round it (an integer beyond 64 bits, or a float
    /// whose text `f64` rewrites). The nearest `f64` is the correctly rounded one, so that
    /// its shortest text reads back as the same number (serde_json's own reading of a long
    /// integer can be one unit off); a number beyond `f64`'s range is 0.
    #[must_use]
    pub fn to_serde(&self) -> serde_json::Number {
        let text = self.as_str();
        if !text.starts_with("-0") {
            if let Ok(n) = text.parse::<i64>() {
                return n.into();
            }
            if let Ok(n) = text.parse::<u64>() {
                return n.into();
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .unwrap_or_else(|| serde_json::Number::from(0))
    }
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub(crate) fn is_json_number(b: &[u8]) -> bool {
    json_number_len(b) == Some(b.len())
}

/// The length of the JSON number that `b` starts with, read as far as JSON's grammar goes
/// (`None` when it starts with none). A number is whole only if what follows cannot continue
/// it; the caller checks that.
pub(crate) fn json_number_len(b: &[u8]) -> Option<usize> {
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > start).then_some(i)
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    i = match b.get(i) {
        Some(b'0') => i + 1,
        Some(b'1'..=b'9') => digits(i).unwrap_or(i),
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Number {}

impl Hash for Number {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// By text, not by numeric value.
impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Numbers are not secret on their own, but they sit in secret trees: only the kind shows.
impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("number")
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<serde_json::Number> for Number {
    fn from(n: serde_json::Number) -> Number {
        Number::from(&n)
    }
}

impl From<&serde_json::Number> for Number {
    fn from(n: &serde_json::Number) -> Number {
        // serde_json writes every number it holds as a short JSON number.
        Number::new(&n.to_string()).unwrap_or_else(|| Number::from(0))
    }
}

macro_rules! from_integer {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Number {
                Number::from_integer(i128::from(n))
            }
        }
    )*};
}

from_integer!(i8, i16, i32, i64, u8, u16, u32, u64);

impl Number {
    fn from_integer(n: i128) -> Number {
        use std::io::Write;
        // An i128 has at most 40 characters.
        let mut buffer = [0u8; 40];
        let mut cursor = std::io::Cursor::new(&mut buffer[..]);
        let _ = write!(cursor, "{n}");
        let len = usize::try_from(cursor.position()).unwrap_or(0);
        let text = std::str::from_utf8(&buffer[..len]).unwrap_or("0");
        Number::new(text).unwrap_or_else(|| Number(Text::Heap("0".into())))
    }
}

/// Writes the text itself. Integers that fit 64 bits go through `serialize_i64`/`_u64`, which
/// every format writes as written; anything else, as a `serde_json` raw value, which JSON
/// writes verbatim (other formats need their own view of numbers, as YAML rendering has).
impl Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.as_str();
        // `-0` would lose its sign; JSON texts have no `+` and no leading zeros.
        if !text.starts_with("-0") {
            if let Ok(n) = text.parse::<i64>() {
                return s.serialize_i64(n);
            }
            if let Ok(n) = text.parse::<u64>() {
                return s.serialize_u64(n);
            }
        }
        match serde_json::from_str::<&serde_json::value::RawValue>(text) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_are_kept_as_written_and_anything_else_is_refused() {
        for text in [
            "0",
            "-0",
            "1E2",
            "1.50",
            "12345678901234567890123",
            "-1.5e-7",
            "2E+3",
        ] {
            assert_eq!(Number::new(text).unwrap().as_str(), text);
        }
        for text in [
            "", "-", "01", "1.", ".5", "1e", "+1", "1e+", "NaN", "Infinity", "0x10", " 1", "1 ",
            "--1", "1.5.2",
        ] {
            assert_eq!(
                Number::parse(text).unwrap_err(),
                NumberError::Invalid,
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_number_longer_than_the_budget_is_refused_without_quoting_it() {
        let long = "9".repeat(MAX_NUMBER_LEN + 1);
        let error = Number::parse(&long).unwrap_err();
        assert_eq!(error, NumberError::TooLong);
        assert!(!error.to_string().contains("999"));
        assert!(Number::new(&long[1..]).is_some());
    }

    #[test]
    fn short_and_long_texts_compare_by_text() {
        let short = Number::new("1E2").unwrap();
        assert_eq!(short, Number::new("1E2").unwrap());
        assert_ne!(short, Number::new("100").unwrap());
        let long = Number::new("12345678901234567890123").unwrap();
        assert_eq!(long.clone(), long);
        assert!(Number::new("2") > Number::new("12345678901234567890123"));
        assert_eq!(Number::from(-42).as_str(), "-42");
        assert_eq!(Number::from(i64::MIN).as_str(), i64::MIN.to_string());
        assert_eq!(Number::from(u64::MAX).as_str(), u64::MAX.to_string());
        let literal: Number = 5432.into();
        assert_eq!(literal.as_str(), "5432");
        assert_eq!(format!("{short:?}"), "number");
    }

    #[test]
    fn json_writes_the_text_itself() {
        let numbers: Vec<Number> = [
            "1E2",
            "1.50",
            "12345678901234567890123",
            "-0",
            "7",
            "18446744073709551615",
        ]
        .iter()
        .map(|t| Number::new(t).unwrap())
        .collect();
        assert_eq!(
            serde_json::to_string(&numbers).unwrap(),
            "[1E2,1.50,12345678901234567890123,-0,7,18446744073709551615]"
        );
    }

    /// Found by the `esc_value` fuzz target (fuzz/regressions/esc_value): serde_json read this
    /// integer one unit off the nearest double, whose text then read back differently.
    #[test]
    fn a_rounded_number_reads_back_as_itself() {
        let long = Number::new("44444444444443444444444444000182147280811360114444").unwrap();
        let once = long.to_serde();
        let again = Number::from(&once).to_serde();
        assert_eq!(once, again);
        assert_eq!(Number::new("-0").unwrap().to_serde().to_string(), "-0.0");
        assert_eq!(Number::new("1e400").unwrap().to_serde().to_string(), "0");
        assert_eq!(
            Number::new("18446744073709551615").unwrap().to_serde(),
            u64::MAX.into()
        );
    }

    #[test]
    fn integers_are_read_exactly_and_others_are_not_integers() {
        let n = |t: &str| Number::new(t).unwrap().as_i128();
        assert_eq!(n("12345678901234567890123"), Some(12345678901234567890123));
        assert_eq!(n("-5"), Some(-5));
        assert_eq!(n("1E2"), None);
        assert_eq!(n("1.0"), None);
        assert_eq!(n("-0"), None);
        assert_eq!(n(&"9".repeat(60)), None);
    }
}
