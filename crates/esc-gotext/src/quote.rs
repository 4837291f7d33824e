//! Go's `strconv.Quote`, `IsPrint` and `IsGraphic`.
//!
//! `Quote` keeps a rune as it is when `IsPrint` accepts it and escapes every other one: `\a`,
//! `\b`, `\f`, `\n`, `\r`, `\t`, `\v`, `\xNN` under U+0020 and for U+007F, `\uNNNN` in the BMP
//! and `\UNNNNNNNN` above it. So U+00A0, U+00AD, U+200B, U+2028, U+202E and U+FEFF are escaped,
//! not only control characters. The tables are Go's (`isprint_tables.rs`).

use std::fmt::Write as _;

use crate::isprint_tables::{IS_GRAPHIC, IS_NOT_PRINT16, IS_NOT_PRINT32, IS_PRINT16, IS_PRINT32};

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space;
/// not other spaces, controls, format characters (U+200B, U+202E, U+FEFF), unassigned or
/// private-use runes.
pub fn is_print(c: char) -> bool {
    let r = c as u32;
    if r <= 0xff {
        // ASCII from space to `~`, and Latin-1 from `¡` but the soft hyphen.
        return (0x20..=0x7e).contains(&r) || ((0xa1..=0xff).contains(&r) && r != 0xad);
    }
    if let Ok(r) = u16::try_from(r) {
        return in_ranges(IS_PRINT16, r) && IS_NOT_PRINT16.binary_search(&r).is_err();
    }
    if !in_ranges(IS_PRINT32, r) {
        return false;
    }
    if r >= 0x20000 {
        return true;
    }
    // Under 0x20000 here, so the offset fits in 16 bits.
    let offset = u16::try_from(r - 0x10000).unwrap_or(u16::MAX);
    IS_NOT_PRINT32.binary_search(&offset).is_err()
}

/// Go's `strconv.IsGraphic`: [`is_print`] or one of the Unicode spaces Go lists (U+00A0,
/// U+2000 to U+200A, ...).
pub fn is_graphic(c: char) -> bool {
    is_print(c) || u16::try_from(c as u32).is_ok_and(|r| IS_GRAPHIC.binary_search(&r).is_ok())
}

/// Whether `r` falls in one of the inclusive `[start, end]` pairs of a sorted table.
fn in_ranges<T: Ord + Copy>(pairs: &[T], r: T) -> bool {
    // The first bound at or above r; its pair is the only one that can hold r.
    let i = pairs.partition_point(|&bound| bound < r);
    i < pairs.len() && pairs[i & !1] <= r && r <= pairs[i | 1]
}

/// The escape of a rune that has a short one, or of the quote and the backslash.
fn short_escape(c: char) -> Option<&'static str> {
    Some(match c {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\x07' => "\\a",
        '\x08' => "\\b",
        '\x0c' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\x0b' => "\\v",
        _ => return None,
    })
}

/// The bytes `c` takes in Go's quoted form.
fn quoted_rune_len(c: char) -> usize {
    match c {
        c if short_escape(c).is_some() => 2,
        c if is_print(c) => c.len_utf8(),
        c if (c as u32) < 0x20 || c == '\x7f' => 4,
        c if (c as u32) < 0x10000 => 6,
        _ => 10,
    }
}

/// The length of `s` quoted by [`quote_into`], counted without making it.
pub fn quoted_len(s: &str) -> usize {
    s.chars()
        .fold(2usize, |n, c| n.saturating_add(quoted_rune_len(c)))
}

/// Appends `s` quoted as Go's `strconv.Quote` quotes it.
pub fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if let Some(escape) = short_escape(c) {
            out.push_str(escape);
            continue;
        }
        let r = c as u32;
        // Writing to a String cannot fail.
        let _ = match c {
            c if is_print(c) => {
                out.push(c);
                Ok(())
            }
            _ if r < 0x20 || r == 0x7f => write!(out, "\\x{r:02x}"),
            _ if r < 0x10000 => write!(out, "\\u{r:04x}"),
            _ => write!(out, "\\U{r:08x}"),
        };
    }
    out.push('"');
}

/// `s` quoted as Go's `strconv.Quote` quotes it.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(quoted_len(s));
    quote_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_deceptive_runes_are_escaped_as_go_escapes_them() {
        assert_eq!(
            quote("a\u{a0}b\u{ad}\u{200b}\u{2028}\u{202e}\u{feff}"),
            r#""a\u00a0b\u00ad\u200b\u2028\u202e\ufeff""#
        );
    }

    #[test]
    fn controls_take_their_short_or_hex_escapes() {
        assert_eq!(
            quote("\"\\\x07\x08\x0c\n\r\t\x0b\x00\x1f\x7f\u{85}"),
            r#""\"\\\a\b\f\n\r\t\v\x00\x1f\x7f\u0085""#
        );
    }

    #[test]
    fn printable_text_in_any_plane_stays_as_it_is() {
        for s in ["héllo ☃", "日本語", "😀", "𝔸", "𠀀", "\u{e0100}", "¡ÿ"] {
            assert_eq!(quote(s), format!("\"{s}\""), "{s:?}");
        }
    }

    #[test]
    fn astral_runes_go_rejects_take_the_long_escape() {
        // Private use, a tag character, and an unassigned rune of plane 1.
        assert_eq!(
            quote("\u{f0000}\u{e0001}\u{1000c}"),
            r#""\U000f0000\U000e0001\U0001000c""#
        );
    }

    #[test]
    fn the_counted_length_is_the_quoted_length() {
        for s in [
            "",
            "plain",
            "\u{a0}\u{200b}\u{1F600}\u{f0000}\x01\n\"",
            "é☃😀\u{7f}",
        ] {
            assert_eq!(quoted_len(s), quote(s).len(), "{s:?}");
        }
    }

    #[test]
    fn graphic_adds_go_s_spaces_to_print() {
        assert!(!is_print('\u{a0}') && is_graphic('\u{a0}'));
        assert!(!is_print('\u{2003}') && is_graphic('\u{2003}'));
        assert!(!is_graphic('\u{200b}') && !is_graphic('\u{feff}'));
        assert!(is_print(' ') && !is_print('\t'));
    }

    /// The tables against the installed Go's `src/strconv/isprint.go`, number for number.
    #[test]
    #[ignore = "needs Go (`go env GOROOT`); tables.py regenerates the tables"]
    fn the_tables_are_the_installed_go_s() {
        let out = std::process::Command::new("go")
            .args(["env", "GOROOT"])
            .output()
            .expect("go is installed");
        let root = String::from_utf8(out.stdout).unwrap();
        let go = std::fs::read_to_string(format!("{}/src/strconv/isprint.go", root.trim()))
            .expect("Go's isprint.go");
        let table = |name: &str| -> Vec<u32> {
            let start = go.find(&format!("var {name} = ")).expect(name);
            let body = &go[start..];
            let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
            body.lines()
                .map(|l| l.split("//").next().unwrap())
                .flat_map(|l| l.split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| u32::from_str_radix(t.trim_start_matches("0x"), 16).unwrap())
                .collect()
        };
        let wide = |t: &[u16]| t.iter().map(|&x| u32::from(x)).collect::<Vec<_>>();
        assert_eq!(table("isPrint16"), wide(IS_PRINT16));
        assert_eq!(table("isNotPrint16"), wide(IS_NOT_PRINT16));
        assert_eq!(table("isPrint32"), IS_PRINT32);
        assert_eq!(table("isNotPrint32"), wide(IS_NOT_PRINT32));
        assert_eq!(table("isGraphic"), wide(IS_GRAPHIC));
    }
}
