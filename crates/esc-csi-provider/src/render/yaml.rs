//! How `format: yaml` spells numbers and strings so that YAML 1.1 readers (PyYAML) and YAML
//! 1.2 readers (ruamel.yaml, Go's yaml.v3, Node's yaml, serde_yaml) read the same values:
//! - a float as `1.0e+22`, never `1e22`: PyYAML's float needs a `.` and a signed exponent,
//!   and reads `1e22` as a string;
//! - a one-line string a YAML 1.1 reader could take for something else (`yes`, `on`, `1_000`,
//!   `2001-12-14`, `1:20`, `.5`, `<<`, `=`…), or any string holding U+2028 or U+2029 (which
//!   YAML 1.1 readers take for line breaks and 1.2 readers do not), in double quotes.
//!
//! The YAML writer chooses every scalar's style itself, so such scalars are written as unique
//! placeholder integers ([`Spelling::placeholder`]), replaced by their text once the document
//! is written ([`Spelling::finish`]). A placeholder starts with a random digit run that occurs
//! nowhere in the value's own text, so every occurrence in the document is one of ours.

use std::cell::RefCell;
use std::fmt::Write as _;

use esc_api::{Data, Value};

/// Random 27-digit runs tried as a placeholder's start, the first that the value's text lacks
/// (a value cannot aim at a run drawn after it was written).
const TRIES: usize = 8;

/// Placeholders of one document and the text each stands for.
pub struct Spelling {
    prefix: String,
    texts: RefCell<Vec<String>>,
}

/// Counts only: the texts are values, often secrets.
impl std::fmt::Debug for Spelling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spelling")
            .field("placeholders", &self.texts.borrow().len())
            .finish()
    }
}

impl Spelling {
    /// Spelling for `value`; `None` if no random digit run was free of its text (or the
    /// system's random source failed).
    pub fn new(value: &Value) -> Option<Spelling> {
        let rng = ring::rand::SystemRandom::new();
        let drawn = (0..TRIES).map_while(|_| {
            let bytes: [u8; 16] = ring::rand::generate(&rng).ok()?.expose();
            // 27 digits, the first not 0.
            let n = 10u128.pow(26) + u128::from_le_bytes(bytes) % (9 * 10u128.pow(26));
            Some(n.to_string())
        });
        Spelling::first_free(value, drawn)
    }

    fn first_free(value: &Value, mut candidates: impl Iterator<Item = String>) -> Option<Spelling> {
        let prefix = candidates.find(|p| !mentions(value, p))?;
        Some(Spelling {
            prefix,
            texts: RefCell::new(Vec::new()),
        })
    }

    /// The integer to write in place of `text`: `-` and the prefix, then 10 digits of index.
    pub fn placeholder(&self, text: String) -> i128 {
        let mut texts = self.texts.borrow_mut();
        let index = i128::try_from(texts.len()).unwrap_or(i128::MAX);
        texts.push(text);
        let base: i128 = self.prefix.parse::<i128>().unwrap_or(0) * 10_000_000_000;
        -(base + index)
    }

    /// The document with every placeholder replaced by its text.
    pub fn finish(self, document: Vec<u8>) -> Vec<u8> {
        let texts = self.texts.into_inner();
        if texts.is_empty() {
            return document;
        }
        // The YAML writer writes UTF-8.
        let document = String::from_utf8(document)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let needle = format!("-{}", self.prefix);
        let mut out = String::with_capacity(document.len());
        let mut rest = document.as_str();
        while let Some(at) = rest.find(&needle) {
            out.push_str(&rest[..at]);
            let end = (at + needle.len() + 10).min(rest.len());
            let index: usize = rest[at + needle.len()..end].parse().unwrap_or(usize::MAX);
            out.push_str(texts.get(index).map_or("", String::as_str));
            rest = &rest[end..];
        }
        out.push_str(rest);
        out.into_bytes()
    }
}

/// Whether any key, string or number text in `value` contains `digits`.
fn mentions(value: &Value, digits: &str) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match &value.data {
            Data::String(s) if s.contains(digits) => return true,
            Data::Number(n) if n.as_str().contains(digits) => return true,
            Data::Array(items) => stack.extend(items),
            Data::Object(members) => {
                for (key, member) in members {
                    if key.contains(digits) {
                        return true;
                    }
                    stack.push(member);
                }
            }
            _ => {}
        }
    }
    false
}

/// `f` (finite) as a float every YAML reader reads back: its shortest text with a `.` in the
/// mantissa and a sign on the exponent (`1.0e+22`, `1.5e-7`, `100.0`).
pub fn float_text(f: f64) -> String {
    let text = format!("{f:?}");
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (text.as_str(), None),
    };
    let mut out = mantissa.to_owned();
    if !out.contains('.') {
        out.push_str(".0");
    }
    if let Some(exponent) = exponent {
        out.push('e');
        if !exponent.starts_with('-') {
            out.push('+');
        }
        out.push_str(exponent);
    }
    out
}

/// Whether a plain `text` could be read by a YAML 1.1 or 1.2 reader as something other than a
/// string: it starts as a number, timestamp, `.inf`, `~`, `<<` or `=` would, or is a YAML 1.1
/// boolean or null word; or it holds a line or paragraph separator, which the YAML writer
/// leaves raw, YAML 1.1 readers take for a line break and YAML 1.2 readers do not. Other
/// multi-line text is written as a block, always a string.
pub fn ambiguous(text: &str) -> bool {
    if text.contains(['\u{2028}', '\u{2029}']) {
        return true;
    }
    if text.contains('\n') {
        return false;
    }
    if text.starts_with(|c: char| c.is_ascii_digit() || "-+.~<=".contains(c)) {
        return true;
    }
    matches!(
        text.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
    )
}

/// `text` as a YAML double-quoted scalar: `"` and `\` escaped, control characters, line and
/// paragraph separators and the BOM as `\uXXXX` (which YAML 1.1 and 1.2 both read).
pub fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIXES: [&str; 4] = [
        "314159265358979323846264338",
        "271828182845904523536028747",
        "141421356237309504880168872",
        "173205080756887729352744634",
    ];

    #[test]
    fn floats_get_a_dot_and_a_signed_exponent() {
        assert_eq!(float_text(1e22), "1.0e+22");
        assert_eq!(float_text(1.2345678901234568e22), "1.2345678901234568e+22");
        assert_eq!(float_text(1.5e-7), "1.5e-7");
        assert_eq!(float_text(100.0), "100.0");
        assert_eq!(float_text(0.1), "0.1");
        assert_eq!(float_text(-0.0), "-0.0");
    }

    #[test]
    fn strings_a_yaml_1_1_reader_would_retype_are_ambiguous() {
        for text in [
            "a\u{2028}b",
            "\u{2029}\n",
            "yes",
            "On",
            "N",
            "1_000",
            "2001-12-14",
            "1:20",
            ".5",
            "<<",
            "=",
            "~",
            "1e400",
        ] {
            assert!(ambiguous(text), "{text}");
        }
        for text in ["plain", "yesterday", "a1", "multi\nline 1"] {
            assert!(!ambiguous(text), "{text}");
        }
    }

    #[test]
    fn double_quoting_escapes_what_a_reader_would_fold_or_refuse() {
        assert_eq!(
            double_quoted("a\"b\\c\u{2028}\u{feff}\u{85}\t"),
            r#""a\"b\\c\u2028\uFEFF\u0085\u0009""#
        );
    }

    proptest::proptest! {
        #[test]
        fn yaml_strings_and_keys_read_back_as_written_even_holding_placeholder_digits(
            members in proptest::collection::btree_map(piece(), piece(), 0..8)
        ) {
            let value = Value::from_json(serde_json::to_value(&members).unwrap());
            let text = crate::render::render(
                &value,
                crate::render::format::Format::Yaml,
                crate::render::format::Encoding::Utf8,
                usize::MAX,
            )
            .unwrap();
            let back: std::collections::BTreeMap<String, String> =
                serde_norway::from_slice(&text).unwrap();
            proptest::prop_assert_eq!(back, members);
        }
    }

    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        let parts = proptest::sample::select(vec![
            "a",
            "1",
            "-",
            ".",
            ":",
            " ",
            "#",
            "'",
            "\"",
            "\\",
            "\n",
            "yes",
            "~",
            "<<",
            "=",
            "\u{2028}",
            "\u{85}",
            "\u{feff}",
            "\u{1}",
            "e+22",
            PREFIXES[0],
            PREFIXES[1],
            PREFIXES[2],
            PREFIXES[3],
            "0000000001",
        ]);
        proptest::collection::vec(parts, 0..6).prop_map(|p| p.concat())
    }

    #[test]
    fn placeholders_are_replaced_and_avoid_digits_the_value_holds() {
        let value = Value::from_json(serde_json::json!({"k": format!("x{}", PREFIXES[0])}));
        let spelling =
            Spelling::first_free(&value, PREFIXES.into_iter().map(String::from)).unwrap();
        assert_eq!(spelling.prefix, PREFIXES[1]);
        let a = spelling.placeholder("\"yes\"".into());
        let b = spelling.placeholder("1.0e+22".into());
        let document = format!("a: {a}\nb:\n- {b}\n").into_bytes();
        assert_eq!(
            String::from_utf8(spelling.finish(document)).unwrap(),
            "a: \"yes\"\nb:\n- 1.0e+22\n"
        );
        let all = Value::from_json(serde_json::json!(PREFIXES.concat()));
        assert!(Spelling::first_free(&all, PREFIXES.into_iter().map(String::from)).is_none());
    }
}
