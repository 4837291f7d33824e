//! `format: dotenv` and `format: shell`: an object's keys as environment variables, written as
//! the `esc` CLI's `esc open --format dotenv` / `--format shell` writes `environmentVariables`:
//! one `KEY="value"` line per key (`export KEY="value"` for shell), keys in byte order, values
//! quoted as Go's `strconv.Quote` quotes them, booleans and numbers as their JSON text, null as
//! `""`, secrets in plaintext (as `esc open` shows them).
//!
//! Where esc silently drops an object or array, we refuse it with its key: a variable that
//! silently goes missing is worse than a mount that says why it failed.

use std::fmt::Write as _;

use esc_api::{Data, Value};

use crate::render::{RenderError, kind};

/// Renders the object `value` as dotenv lines, or as `export` lines when `shell`, in at most
/// `limit` bytes.
pub fn render_env(value: &Value, shell: bool, limit: usize) -> Result<Vec<u8>, RenderError> {
    let Data::Object(members) = &value.data else {
        return Err(RenderError::NotAnObject {
            what: "format dotenv and shell write an object's keys as variables",
            found: kind(value),
        });
    };
    let mut out = String::new();
    // BTreeMap order is byte order, as Go's sort.Strings orders esc's keys.
    for (key, member) in members {
        if let Some(why) = bad_name(key) {
            return Err(RenderError::BadKey {
                key: crate::names::shown(key),
                what: "a variable",
                why: why.to_owned(),
            });
        }
        let text = match &member.data {
            Data::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            Data::Bool(b) => b.to_string().into(),
            Data::Number(n) => n.as_str().into(),
            Data::Null => "".into(),
            Data::Array(_) | Data::Object(_) => {
                return Err(RenderError::Nested {
                    key: crate::names::shown(key),
                    found: kind(member),
                });
            }
        };
        if shell {
            out.push_str("export ");
        }
        out.push_str(key);
        out.push('=');
        go_quote(&text, &mut out);
        out.push('\n');
        if out.len() > limit {
            return Err(RenderError::TooLarge { limit });
        }
    }
    Ok(out.into_bytes())
}

/// Why `key` cannot be a variable's name in a file that is loaded line by line: `=` would move
/// the split, and a line break or other control character would start another line. esc
/// writes such keys as they are; nobody can load the result.
fn bad_name(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("it is empty")
    } else if key.contains('=') {
        Some("it contains \"=\"")
    } else if key.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

/// Appends `text` as Go's `strconv.Quote` writes it: in double quotes, `"` and `\` escaped,
/// printable characters as they are, `\a \b \f \n \r \t \v` by name, other ASCII controls as
/// `\xNN`, other unprintable characters as `\uNNNN` or `\UNNNNNNNN` (lowercase hex).
pub fn go_quote(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_printable(c) => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x1_0000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space;
/// not controls (Cc), format characters (Cf), other spaces and separators (Zs, Zl, Zp),
/// private use (Co) or noncharacters. Code points Unicode has not assigned yet are taken as
/// printable (Go escapes them; no text in use contains them).
fn go_printable(c: char) -> bool {
    let n = u32::from(c);
    if c.is_control() {
        return false;
    }
    let unprintable = matches!(
        n,
        // Zs other than U+0020, Zl, Zp.
        0xa0 | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000
        // Cf.
        | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x180e
        | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff
        | 0xfff9..=0xfffb | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f
        // Co.
        | 0xe000..=0xf8ff | 0xf_0000..=0xf_fffd | 0x10_0000..=0x10_fffd
        // Noncharacters.
        | 0xfdd0..=0xfdef
    );
    !unprintable && n & 0xfffe != 0xfffe
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(value: serde_json::Value, shell: bool) -> Result<String, RenderError> {
        render_env(&Value::from_json(value), shell, usize::MAX)
            .map(|bytes| String::from_utf8(bytes).unwrap())
    }

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        go_quote(text, &mut out);
        out
    }

    #[test]
    fn dotenv_writes_sorted_quoted_lines_with_scalars_as_text_like_esc_open() {
        // As esc's own test (cmd/esc/cli/testdata/env-get-all-value-dotenv.yaml), secrets shown.
        let got = env(
            json!({"STRING": "esc", "NUMBER": 2.5, "BOOLEAN": true, "NULLV": null,
                   "OBJECT": "{\"hello\":\"world\"}", "SECRET": "secretAccessKey"}),
            false,
        )
        .unwrap();
        assert_eq!(
            got,
            "BOOLEAN=\"true\"\nNULLV=\"\"\nNUMBER=\"2.5\"\nOBJECT=\"{\\\"hello\\\":\\\"world\\\"}\"\n\
             SECRET=\"secretAccessKey\"\nSTRING=\"esc\"\n"
        );
    }

    #[test]
    fn numbers_are_written_as_the_text_esc_sent() {
        let value = Value::decode_plain(r#"{"BIG": 12345678901234567890123, "E": 1E2, "F": 1.50}"#)
            .unwrap();
        let got = String::from_utf8(render_env(&value, true, usize::MAX).unwrap()).unwrap();
        assert_eq!(
            got,
            "export BIG=\"12345678901234567890123\"\nexport E=\"1E2\"\nexport F=\"1.50\"\n"
        );
    }

    #[test]
    fn shell_prefixes_every_line_with_export() {
        assert_eq!(
            env(json!({"FOO": "bar", "BOOL": true}), true).unwrap(),
            "export BOOL=\"true\"\nexport FOO=\"bar\"\n"
        );
    }

    #[test]
    fn keys_are_in_byte_order_as_go_sorts_them() {
        assert_eq!(
            env(json!({"b": "1", "B": "2", "_a": "3", "a": "4"}), false).unwrap(),
            "B=\"2\"\n_a=\"3\"\na=\"4\"\nb=\"1\"\n"
        );
    }

    #[test]
    fn quoting_matches_gos_strconv_quote() {
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted("l1\nl2\tx\r"), r#""l1\nl2\tx\r""#);
        assert_eq!(quoted("\u{7}\u{8}\u{c}\u{b}"), r#""\a\b\f\v""#);
        assert_eq!(quoted("\u{0}\u{1b}\u{7f}"), r#""\x00\x1b\x7f""#);
        assert_eq!(
            quoted("caf\u{e9} \u{65e5}\u{672c} \u{1f600}"),
            "\"caf\u{e9} \u{65e5}\u{672c} \u{1f600}\""
        );
        assert_eq!(
            quoted("\u{85}\u{a0}\u{200b}\u{2028}\u{feff}"),
            r#""\u0085\u00a0\u200b\u2028\ufeff""#
        );
        assert_eq!(quoted("\u{f0000}\u{e0001}"), r#""\U000f0000\U000e0001""#);
        assert_eq!(
            quoted("$HOME `x` 'y'"),
            "\"$HOME `x` 'y'\"",
            "like esc, no shell escaping"
        );
    }

    #[test]
    fn an_empty_object_is_an_empty_file() {
        assert_eq!(env(json!({}), false).unwrap(), "");
    }

    #[test]
    fn a_nested_value_is_refused_naming_its_key() {
        assert_eq!(
            env(json!({"A": "x", "LIST": [1]}), false)
                .unwrap_err()
                .to_string(),
            "key \"LIST\" is an array; format dotenv and shell write only strings, numbers, \
             booleans and null (use fn::toJSON in the environment to write it as a string)"
        );
    }

    #[test]
    fn a_key_that_cannot_be_a_variable_is_refused_naming_it() {
        assert_eq!(
            env(json!({"A=B": "x"}), false).unwrap_err().to_string(),
            "key \"A=B\" cannot be written as a variable: it contains \"=\""
        );
        assert!(env(json!({"A\nB": "x"}), false).is_err());
    }

    #[test]
    fn a_value_that_is_not_an_object_is_refused() {
        assert_eq!(
            env(json!("x"), true).unwrap_err().to_string(),
            "the value is a string, but format dotenv and shell write an object's keys as variables"
        );
    }

    #[test]
    fn rendering_stops_at_the_limit() {
        let value = Value::from_json(json!({"A": "x".repeat(100)}));
        assert_eq!(
            render_env(&value, false, 50),
            Err(RenderError::TooLarge { limit: 50 })
        );
    }
}
