//! Plain YAML scalars resolved as the reference's YAML library (gopkg.in/yaml.v3) resolves
//! them: which text is null, a boolean, an integer, a float, a timestamp or a string, what
//! an explicit tag (`!!int "42"`) does, and how the number is then written (Go's
//! `strconv.FormatInt`/`FormatUint`/`FormatFloat(f, 'g', -1, 64)`).
//!
//! The same rules decide, in `fn::toYAML`, whether a string must be quoted.

/// A resolved scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    /// An integer: the text Go writes for its `int`/`int64` (signed) or `uint64`.
    Int {
        text: String,
        signed: Option<i64>,
    },
    /// A float, written as Go's `FormatFloat(f, 'g', -1, 64)`.
    Float(String),
    /// A timestamp; the reference keeps its text as a string.
    Timestamp,
    Str,
}

impl Scalar {
    /// The reference's short tag for this kind.
    pub(crate) fn tag(&self) -> &'static str {
        match self {
            Scalar::Null => "!!null",
            Scalar::Bool(_) => "!!bool",
            Scalar::Int { .. } => "!!int",
            Scalar::Float(_) => "!!float",
            Scalar::Timestamp => "!!timestamp",
            Scalar::Str => "!!str",
        }
    }
}

/// The first-byte hint yaml.v3 uses to decide what a plain scalar may be.
fn hint(text: &str) -> u8 {
    match text.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    }
}

/// What an untagged plain scalar is (yaml.v3's `resolve("", text)`). `timestamps`: whether
/// timestamps are recognized (untagged or `!!timestamp`).
pub(crate) fn plain(text: &str, timestamps: bool) -> Scalar {
    let h = hint(text);
    if h == 0 {
        return Scalar::Str;
    }
    match text {
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float("NaN".into()),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float("+Inf".into());
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float("-Inf".into()),
        _ => {}
    }
    match h {
        b'.' => {
            if dot_float(text)
                && let Some(f) = parse_finite(&text.replace('_', ""))
            {
                return Scalar::Float(format_float(f));
            }
        }
        b'D' | b'S' => {
            if timestamps && is_timestamp(text) {
                return Scalar::Timestamp;
            }
            let plain = text.replace('_', "");
            if let Some(i) = parse_int(&plain) {
                return i;
            }
            if yaml_style_float(&plain)
                && let Some(f) = parse_finite(&plain)
            {
                return Scalar::Float(format_float(f));
            }
        }
        _ => {}
    }
    Scalar::Str
}

/// What a scalar is, given its style (`quoted`: any style but plain) and its tag as the
/// reference shortens it (`!!int`, `!foo`, `!`). `Err` is the reference's decoding error.
pub(crate) fn tagged(text: &str, quoted: bool, tag: Option<&str>) -> Result<Scalar, String> {
    let tag = tag.filter(|t| *t != "!");
    let Some(tag) = tag else {
        return Ok(if quoted {
            Scalar::Str
        } else {
            plain(text, true)
        });
    };
    match tag {
        "!!str" => return Ok(Scalar::Str),
        "!!binary" => {
            // Decoded to check it; the reference keeps the text itself.
            return match crate::gobase64::decode(text.as_bytes()) {
                Ok(_) => Ok(Scalar::Str),
                Err(_) => Err("yaml: !!binary value contains invalid base64 data".into()),
            };
        }
        "!!bool" | "!!int" | "!!float" | "!!null" | "!!timestamp" => {}
        // Any other tag (`!foo`, `!!map` on a scalar, ...) leaves the text a string.
        _ => return Ok(Scalar::Str),
    }
    let got = plain(text, tag == "!!timestamp");
    if got.tag() == tag {
        return Ok(got);
    }
    if tag == "!!float"
        && let Scalar::Int {
            signed: Some(i), ..
        } = got
    {
        return Ok(Scalar::Float(format_float(i as f64)));
    }
    Err(format!(
        "yaml: cannot decode {} `{text}` as a {tag}",
        got.tag()
    ))
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`.
fn parse_int(s: &str) -> Option<Scalar> {
    let (neg, signed, body) = match s.as_bytes().first()? {
        b'-' => (true, true, &s[1..]),
        b'+' => (false, true, &s[1..]),
        _ => (false, false, s),
    };
    let (radix, digits) = match body.as_bytes() {
        [b'0', b'x' | b'X', ..] => (16, &body[2..]),
        [b'0', b'b' | b'B', ..] => (2, &body[2..]),
        [b'0', b'o' | b'O', ..] => (8, &body[2..]),
        [b'0', _, ..] => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= 1u128 << 63 {
            let v = (-(magnitude as i128)) as i64;
            return Some(Scalar::Int {
                text: v.to_string(),
                signed: Some(v),
            });
        }
        return None;
    }
    if let Ok(v) = i64::try_from(magnitude) {
        return Some(Scalar::Int {
            text: v.to_string(),
            signed: Some(v),
        });
    }
    // ParseUint takes no sign.
    if !signed && let Ok(v) = u64::try_from(magnitude) {
        return Some(Scalar::Int {
            text: v.to_string(),
            signed: None,
        });
    }
    None
}

/// yaml.v3's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", b)) => digits(b),
        Some((a, b)) => digits(a) && b.bytes().all(|c| c.is_ascii_digit()),
        None => digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exp_ok
}

/// A text starting with `.` that Go's `ParseFloat` accepts: `.5`, `.5e3`, `.5_0`
/// (underscores only between digits).
fn dot_float(s: &str) -> bool {
    let b = s.as_bytes();
    let between_digits = (0..b.len()).filter(|&i| b[i] == b'_').all(|i| {
        i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit()
    });
    between_digits && yaml_style_float(&s.replace('_', ""))
}

/// The value of a decimal float text; `None` when Go's `ParseFloat` reports it out of range.
fn parse_finite(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// yaml.v3's timestamp check: `YYYY-M-D`, optionally followed by `T`/`t` and a time with a
/// zone (`Z` or `±hh:mm`), or by a space and a time without one.
pub(crate) fn is_timestamp(s: &str) -> bool {
    let Some(rest) = after_date(s) else {
        return false;
    };
    let zoned = match rest.as_bytes().first() {
        None => return true,
        Some(b'T' | b't') => true,
        Some(b' ') => false,
        Some(_) => return false,
    };
    let Some(rest) = after_time(&rest[1..]) else {
        return false;
    };
    if !zoned {
        return rest.is_empty();
    }
    if rest == "Z" {
        return true;
    }
    let z = rest.as_bytes();
    z.len() == 6
        && matches!(z[0], b'+' | b'-')
        && z[1].is_ascii_digit()
        && z[2].is_ascii_digit()
        && z[3] == b':'
        && z[4].is_ascii_digit()
        && z[5].is_ascii_digit()
}

/// One or two digits at the start of `rest`, consumed.
fn one_or_two_digits(rest: &mut &str) -> Option<u32> {
    let n = rest.bytes().take(2).take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return None;
    }
    let v = rest[..n].parse().ok()?;
    *rest = &rest[n..];
    Some(v)
}

/// What follows a valid `YYYY-M-D` date at the start of `s` (the day within its month).
fn after_date(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year: u32 = s[..4].parse().unwrap_or(0);
    let mut rest = &s[5..];
    let month = one_or_two_digits(&mut rest)?;
    rest = rest.strip_prefix('-')?;
    let day = one_or_two_digits(&mut rest)?;
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (day != 0 && day <= days).then_some(rest)
}

/// What follows a valid `h:m:s[.fraction]` time at the start of `rest`.
fn after_time(mut rest: &str) -> Option<&str> {
    let h = one_or_two_digits(&mut rest)?;
    rest = rest.strip_prefix(':')?;
    let m = one_or_two_digits(&mut rest)?;
    rest = rest.strip_prefix(':')?;
    let sec = one_or_two_digits(&mut rest)?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    if let Some(r) = rest.strip_prefix(['.', ',']) {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &r[n..];
    }
    Some(rest)
}

/// Formats like Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_yaml_v3_s_four_layouts() {
        for yes in [
            "2001-12-14",
            "2001-1-2",
            "2000-02-29",
            "2001-12-14T21:59:43.10Z",
            "2001-12-14t21:59:43+05:00",
            "2001-12-14 21:59:43,5",
            "2001-12-14T1:2:3Z",
        ] {
            assert!(is_timestamp(yes), "{yes}");
        }
        for no in [
            "2001-02-29",
            "1900-02-29",
            "2001-13-01",
            "2001-12-00",
            "2001-12-14X",
            "2001-12-14 21:59:43Z",
            "2001-12-14T21:59:43",
            "2001-12-14T24:00:00Z",
            "2001-12-14T21:59:43.Z",
            "2001-12-14T21:59:43+0500",
            "01-12-14",
            "2001-",
        ] {
            assert!(!is_timestamp(no), "{no}");
        }
    }

    fn num(text: &str) -> String {
        match plain(text, true) {
            Scalar::Int { text, .. } | Scalar::Float(text) => text,
            other => format!("{other:?}"),
        }
    }

    /// Each spelling as the reference (yaml.v3 and `FormatFloat`) reads it, checked against
    /// github.com/pulumi/esc v0.26.0.
    #[test]
    fn numbers_as_go_reads_them() {
        for (text, want) in [
            ("1_000", "1000"),
            ("-0.0", "-0"),
            ("1e400", "Str"),
            ("1e-400", "0"),
            (".inf", "+Inf"),
            ("-.inf", "-Inf"),
            (".nan", "NaN"),
            ("017", "15"),
            ("08", "8"),
            ("0o17", "15"),
            ("0x1F", "31"),
            ("+0x1F", "31"),
            ("0b101", "5"),
            ("-0b101", "-5"),
            ("+12", "12"),
            ("1.5_0", "1.5"),
            (".5", "0.5"),
            ("-.5", "-0.5"),
            ("99999999999999999999", "1e+20"),
            ("+18446744073709551615", "1.8446744073709552e+19"),
            ("18446744073709551615", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("1e5", "100000"),
            ("1e21", "1e+21"),
            ("2001-12-14", "Timestamp"),
            ("1__0", "10"),
            ("._5", "Str"),
            (".5_0", "0.5"),
        ] {
            assert_eq!(num(text), want, "{text}");
        }
    }

    #[test]
    fn tags_as_go_reads_them() {
        let ok = |text: &str, quoted, tag| tagged(text, quoted, Some(tag)).unwrap();
        assert_eq!(ok("42", true, "!!int").tag(), "!!int");
        assert_eq!(ok("42", false, "!!str"), Scalar::Str);
        assert_eq!(ok("1", true, "!!float"), Scalar::Float("1".into()));
        assert_eq!(ok("true", true, "!!bool"), Scalar::Bool(true));
        assert_eq!(ok("", true, "!!null"), Scalar::Null);
        assert_eq!(ok("42", false, "!foo"), Scalar::Str);
        assert_eq!(ok("42", false, "!").tag(), "!!int");
        assert_eq!(ok("42", true, "!"), Scalar::Str);
        assert_eq!(ok("aGVsbG8=", false, "!!binary"), Scalar::Str);
        assert_eq!(ok("2001-12-14", false, "!!timestamp"), Scalar::Timestamp);
        assert_eq!(
            tagged("abc", true, Some("!!int")).unwrap_err(),
            "yaml: cannot decode !!str `abc` as a !!int"
        );
        assert_eq!(
            tagged("18446744073709551615", false, Some("!!float")).unwrap_err(),
            "yaml: cannot decode !!int `18446744073709551615` as a !!float"
        );
        assert_eq!(
            tagged("%%", false, Some("!!binary")).unwrap_err(),
            "yaml: !!binary value contains invalid base64 data"
        );
    }
}
