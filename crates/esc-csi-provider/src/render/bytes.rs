//! A value to a file's bytes, per format and encoding, within a byte limit.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use esc_api::{Data, Value};

use crate::render::error::RenderError;
use crate::render::error::kind;
use crate::render::format::{Encoding, Format};
use crate::render::yaml::{self, Spelling};

/// Renders `value` per the item's format and encoding, in at most `limit` bytes: rendering
/// stops at the limit rather than finishing a file that cannot be sent.
pub fn render(
    value: &Value,
    format: Format,
    encoding: Encoding,
    limit: usize,
) -> Result<Vec<u8>, RenderError> {
    if value.contains_unknown() {
        return Err(RenderError::Unknown);
    }
    let too_large = RenderError::TooLarge { limit };
    match (format, encoding) {
        (Format::Dotenv, _) => crate::render::env::render_env(value, false, limit),
        (Format::Shell, _) => crate::render::env::render_env(value, true, limit),
        (Format::Plaintext, Encoding::Utf8) => plaintext(value, limit).ok_or(too_large),
        (Format::Plaintext, encoding) => decode(value, encoding, limit),
        (Format::Json, _) => {
            let value = json_in_string(value, limit)?;
            let mut out = Limited::new(limit);
            serde_json::to_writer_pretty(&mut out, value.as_ref())
                .map_err(|_| too_large.clone())?;
            out.write_all_or(b"\n").ok_or(too_large)?;
            Ok(out.bytes)
        }
        (Format::Yaml, _) => {
            let value = json_in_string(value, limit)?;
            let spelling = Spelling::new(value.as_ref()).ok_or_else(|| {
                RenderError::Yaml(
                    "its text holds each random digit run drawn as a placeholder".into(),
                )
            })?;
            let mut out = Limited::new(limit);
            match serde_norway::to_writer(&mut out, &Yaml(value.as_ref(), &spelling)) {
                Ok(()) => {
                    let bytes = spelling.finish(out.bytes);
                    if bytes.len() > limit {
                        return Err(too_large);
                    }
                    Ok(bytes)
                }
                Err(_) if out.over => Err(too_large),
                Err(e) => Err(RenderError::Yaml(e.to_string())),
            }
        }
    }
}

/// A buffer that refuses to grow past its limit.
struct Limited {
    bytes: Vec<u8>,
    limit: usize,
    over: bool,
}

impl Limited {
    fn new(limit: usize) -> Self {
        Limited {
            bytes: Vec::new(),
            limit,
            over: false,
        }
    }

    fn write_all_or(&mut self, data: &[u8]) -> Option<()> {
        std::io::Write::write_all(self, data).ok()
    }
}

impl std::io::Write for Limited {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(data.len()) > self.limit {
            self.over = true;
            return Err(std::io::Error::other("over the limit"));
        }
        self.bytes.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Strings as their bytes, null as nothing, other scalars as JSON text, containers as compact
/// JSON with sorted keys; `None` past `limit` bytes.
fn plaintext(value: &Value, limit: usize) -> Option<Vec<u8>> {
    match &value.data {
        Data::String(s) => (s.len() <= limit).then(|| s.as_bytes().to_vec()),
        Data::Null => Some(Vec::new()),
        _ => {
            let mut out = Limited::new(limit);
            serde_json::to_writer(&mut out, value).ok()?;
            Some(out.bytes)
        }
    }
}

/// A string that holds a JSON object or array is formatted as that JSON, as the Go provider did
/// for `format: json` and `format: yaml` (think `fn::toJSON`); anything else is formatted as is.
/// Every JSON value takes at least a few bytes once formatted, so text holding more than
/// `limit / 4` values cannot fit and is not decoded into a tree at all.
fn json_in_string(value: &Value, limit: usize) -> Result<std::borrow::Cow<'_, Value>, RenderError> {
    if let Data::String(s) = &value.data {
        let most = limit / 4;
        // Only an object or array: a string holding `1e400` or `true` stays a string.
        let looks_like_json = s.trim_start().starts_with(['{', '[']);
        if looks_like_json && esc_api::reply::count_json_values(s.as_bytes(), most) > most {
            return Err(RenderError::TooLarge { limit });
        }
        if let Some(parsed) = looks_like_json
            .then(|| Value::decode_plain(s).ok())
            .flatten()
        {
            return Ok(std::borrow::Cow::Owned(parsed));
        }
    }
    Ok(std::borrow::Cow::Borrowed(value))
}

/// A value as YAML writes it, spelled so that YAML 1.1 and 1.2 readers agree (see
/// [`crate::render::yaml`]): an integer as sent, however long; any other number as the shortest
/// text of the nearest `f64` with a `.` and a signed exponent (`1E2` as `100.0`, `1e22` as
/// `1.0e+22`); a string a YAML 1.1 reader would retype in double quotes.
struct Yaml<'a>(&'a Value, &'a Spelling);

impl serde::Serialize for Yaml<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let spelling = self.1;
        match &self.0.data {
            Data::Number(n) => match n.as_i128() {
                Some(i) => s.serialize_i128(i),
                None => match n.as_str().parse::<f64>() {
                    Ok(f) if f.is_finite() => {
                        s.serialize_i128(spelling.placeholder(yaml::float_text(f)))
                    }
                    _ => Err(serde::ser::Error::custom(
                        "a number is beyond the range of a 64-bit float, which YAML readers \
                         would read as infinity",
                    )),
                },
            },
            Data::String(text) => YamlStr(text, spelling).serialize(s),
            Data::Array(items) => s.collect_seq(items.iter().map(|v| Yaml(v, spelling))),
            Data::Object(members) => s.collect_map(
                members
                    .iter()
                    .map(|(k, v)| (YamlStr(k, spelling), Yaml(v, spelling))),
            ),
            _ => self.0.serialize(s),
        }
    }
}

/// A string or key: as the YAML writer quotes it, or in double quotes if a YAML 1.1 reader
/// would retype it. A key over 1000 bytes stays with the writer, which knows when a key is
/// too long to be written plain.
struct YamlStr<'a>(&'a str, &'a Spelling);

impl serde::Serialize for YamlStr<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if yaml::ambiguous(self.0) && self.0.len() <= 1000 {
            s.serialize_i128(self.1.placeholder(yaml::double_quoted(self.0)))
        } else {
            s.serialize_str(self.0)
        }
    }
}

fn decode(value: &Value, encoding: Encoding, limit: usize) -> Result<Vec<u8>, RenderError> {
    let Data::String(text) = &value.data else {
        return Err(RenderError::NotAString {
            encoding,
            found: kind(value),
        });
    };
    // Decoded, base64 is at least 3/5 of its text and hex half of it (whitespace aside).
    let digits = text.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let least = match encoding {
        Encoding::Base64 => digits / 4 * 3,
        Encoding::Hex => digits / 2,
        Encoding::Utf8 => digits,
    };
    if least > limit {
        return Err(RenderError::TooLarge { limit });
    }
    // Wrapped PEM-style bodies and copy-pasted hex carry whitespace: ignore it.
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let result = match encoding {
        Encoding::Base64 => {
            let engine = if compact.contains(['-', '_']) {
                &URL_SAFE
            } else {
                &STANDARD
            };
            engine
                .decode(compact.as_bytes())
                .map_err(|e| base64_detail(&e))
        }
        Encoding::Hex => hex::decode(compact.as_bytes()).map_err(|e| hex_detail(&e)),
        Encoding::Utf8 => Ok(compact.into_bytes()),
    };
    if result.as_ref().is_ok_and(|bytes| bytes.len() > limit) {
        return Err(RenderError::TooLarge { limit });
    }
    result.map_err(|detail| RenderError::Decode { encoding, detail })
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// Positions only: the library's own messages quote the offending byte.
fn base64_detail(error: &base64::DecodeError) -> String {
    use base64::DecodeError as E;
    match error {
        E::InvalidByte(offset, _) => format!("invalid character at offset {offset}"),
        E::InvalidLength(_) => "its length is not a valid base64 length".into(),
        E::InvalidLastSymbol(offset, _) => format!("invalid last character at offset {offset}"),
        E::InvalidPadding => "invalid padding".into(),
    }
}

fn hex_detail(error: &hex::FromHexError) -> String {
    match error {
        hex::FromHexError::InvalidHexCharacter { index, .. } => {
            format!("invalid character at offset {index}")
        }
        hex::FromHexError::OddLength => "it has an odd number of digits".into(),
        hex::FromHexError::InvalidStringLength => "invalid length".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(json: serde_json::Value) -> Value {
        Value::from_json(json)
    }

    fn text(value: serde_json::Value, format: Format) -> String {
        String::from_utf8(render(&v(value), format, Encoding::Utf8, usize::MAX).unwrap()).unwrap()
    }

    #[test]
    fn plaintext_writes_strings_raw_scalars_as_json_and_null_as_nothing() {
        assert_eq!(
            text(json!("hello\nworld"), Format::Plaintext),
            "hello\nworld"
        );
        assert_eq!(text(json!(42), Format::Plaintext), "42");
        assert_eq!(text(json!(2.5), Format::Plaintext), "2.5");
        assert_eq!(text(json!(true), Format::Plaintext), "true");
        assert_eq!(text(json!(null), Format::Plaintext), "");
    }

    #[test]
    fn plaintext_writes_containers_as_compact_json_with_sorted_keys() {
        assert_eq!(
            text(json!({"b": 1, "a": [true, null, "x"]}), Format::Plaintext),
            r#"{"a":[true,null,"x"],"b":1}"#
        );
    }

    #[test]
    fn json_format_indents_any_value() {
        assert_eq!(
            text(json!({"b": {"c": 1}, "a": 2}), Format::Json),
            "{\n  \"a\": 2,\n  \"b\": {\n    \"c\": 1\n  }\n}\n"
        );
        assert_eq!(text(json!([1, 2]), Format::Json), "[\n  1,\n  2\n]\n");
        assert_eq!(
            text(json!("plain words"), Format::Json),
            "\"plain words\"\n"
        );
        assert_eq!(text(json!(7), Format::Json), "7\n");
    }

    #[test]
    fn json_and_yaml_formats_expand_a_string_that_holds_json() {
        assert_eq!(
            text(json!(r#"{"z":1,"a":"b"}"#), Format::Json),
            "{\n  \"a\": \"b\",\n  \"z\": 1\n}\n"
        );
        assert_eq!(
            text(json!(r#"{"z":1,"a":"b"}"#), Format::Yaml),
            "a: b\nz: 1\n"
        );
    }

    #[test]
    fn numbers_are_written_as_sent_plain_in_json_and_from_json_held_in_a_string() {
        let sent = r#"{"big": 12345678901234567890123, "e": 1E2, "f": 1.50, "z": -0}"#;
        let value = Value::decode_plain(sent).unwrap();
        let as_text = |v: &Value, format| {
            String::from_utf8(render(v, format, Encoding::Utf8, usize::MAX).unwrap()).unwrap()
        };
        assert_eq!(
            as_text(&value, Format::Plaintext),
            r#"{"big":12345678901234567890123,"e":1E2,"f":1.50,"z":-0}"#
        );
        let pretty = "{\n  \"big\": 12345678901234567890123,\n  \"e\": 1E2,\n  \"f\": 1.50,\n  \"z\": -0\n}\n";
        assert_eq!(as_text(&value, Format::Json), pretty);
        let held = Value::new(Data::String(sent.into()));
        assert_eq!(as_text(&held, Format::Json), pretty);
        let Data::Object(members) = &value.data else {
            panic!()
        };
        assert_eq!(as_text(&members["e"], Format::Plaintext), "1E2");
        assert_eq!(
            as_text(&members["big"], Format::Plaintext),
            "12345678901234567890123"
        );
    }

    #[test]
    fn yaml_writes_integers_as_sent_and_other_numbers_as_the_nearest_double() {
        let value = Value::decode_plain(r#"{"big": 12345678901234567890123, "e": 1E2, "f": 1.50}"#)
            .unwrap();
        assert_eq!(
            String::from_utf8(render(&value, Format::Yaml, Encoding::Utf8, usize::MAX).unwrap())
                .unwrap(),
            "big: 12345678901234567890123\ne: 100.0\nf: 1.5\n"
        );
    }

    #[test]
    fn yaml_floats_have_a_dot_and_a_signed_exponent_that_yaml_1_1_readers_need() {
        let value =
            Value::decode_plain(r#"{"big": 1.2345678901234568e22, "e": 1e22, "small": 1.5E-7}"#)
                .unwrap();
        assert_eq!(
            String::from_utf8(render(&value, Format::Yaml, Encoding::Utf8, usize::MAX).unwrap())
                .unwrap(),
            "big: 1.2345678901234568e+22\ne: 1.0e+22\nsmall: 1.5e-7\n"
        );
        let beyond = Value::decode_plain(r#"{"inf": 1e400}"#).unwrap();
        assert!(matches!(
            render(&beyond, Format::Yaml, Encoding::Utf8, usize::MAX),
            Err(RenderError::Yaml(_))
        ));
    }

    #[test]
    fn strings_stay_strings_in_json_and_yaml_even_when_they_read_as_numbers_or_words() {
        assert_eq!(text(json!("1e400"), Format::Json), "\"1e400\"\n");
        assert_eq!(text(json!("true"), Format::Json), "\"true\"\n");
        assert_eq!(text(json!("1e400"), Format::Yaml), "\"1e400\"\n");
        assert_eq!(
            text(
                json!({"a": "yes", "b": "2001-12-14", "c": "1_000", "d": "plain", "on": 1}),
                Format::Yaml
            ),
            "a: \"yes\"\nb: \"2001-12-14\"\nc: \"1_000\"\nd: plain\n\"on\": 1\n"
        );
    }

    #[test]
    fn yaml_format_writes_any_value() {
        assert_eq!(
            text(
                json!({"db": {"host": "h", "port": 5432}, "list": ["a", 1]}),
                Format::Yaml
            ),
            "db:\n  host: h\n  port: 5432\nlist:\n- a\n- 1\n"
        );
        assert_eq!(text(json!("word"), Format::Yaml), "word\n");
        assert_eq!(text(json!(null), Format::Yaml), "null\n");
    }

    #[test]
    fn base64_decodes_standard_url_safe_padded_unpadded_and_wrapped_text() {
        let bytes = |s: &str| {
            render(
                &v(json!(s)),
                Format::Plaintext,
                Encoding::Base64,
                usize::MAX,
            )
            .unwrap()
        };
        assert_eq!(bytes("AAEC/w=="), vec![0, 1, 2, 255]);
        assert_eq!(bytes("AAEC/w"), vec![0, 1, 2, 255]);
        assert_eq!(bytes("AAEC_w"), vec![0, 1, 2, 255]);
        assert_eq!(bytes("AA\nEC/w==\n"), vec![0, 1, 2, 255]);
    }

    #[test]
    fn hex_decodes_either_case_and_ignores_whitespace() {
        let bytes =
            |s: &str| render(&v(json!(s)), Format::Plaintext, Encoding::Hex, usize::MAX).unwrap();
        assert_eq!(bytes("00ff10"), vec![0, 255, 16]);
        assert_eq!(bytes("00 FF\n10"), vec![0, 255, 16]);
    }

    #[test]
    fn decoding_errors_give_positions_but_never_the_content() {
        let err = render(
            &v(json!("abc$hunter2")),
            Format::Plaintext,
            Encoding::Base64,
            usize::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value is not valid base64: invalid character at offset 3"
        );
        let err = render(
            &v(json!("zz")),
            Format::Plaintext,
            Encoding::Hex,
            usize::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value is not valid hex: invalid character at offset 0"
        );
        let err = render(
            &v(json!("abc")),
            Format::Plaintext,
            Encoding::Hex,
            usize::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value is not valid hex: it has an odd number of digits"
        );
    }

    #[test]
    fn rendering_stops_at_the_limit_in_every_format() {
        let big = v(json!({"list": vec!["x".repeat(100); 1000]}));
        for format in [Format::Plaintext, Format::Json, Format::Yaml] {
            assert_eq!(
                render(&big, format, Encoding::Utf8, 1000),
                Err(RenderError::TooLarge { limit: 1000 }),
                "{format}"
            );
            assert!(render(&big, format, Encoding::Utf8, 1 << 20).is_ok());
        }
        let text = v(json!("y".repeat(5000)));
        assert!(render(&text, Format::Plaintext, Encoding::Utf8, 4999).is_err());
        assert!(render(&text, Format::Plaintext, Encoding::Utf8, 5000).is_ok());
        let hex = v(json!("00".repeat(5000)));
        assert!(render(&hex, Format::Plaintext, Encoding::Hex, 4999).is_err());
        assert!(render(&hex, Format::Plaintext, Encoding::Hex, 5000).is_ok());
        let many = v(json!(format!("[{}0]", "0,".repeat(100_000))));
        assert_eq!(
            render(&many, Format::Json, Encoding::Utf8, 1000),
            Err(RenderError::TooLarge { limit: 1000 }),
            "JSON text in a string is not decoded when it cannot fit"
        );
    }

    #[test]
    fn decoding_needs_a_string() {
        let err = render(
            &v(json!({"a": 1})),
            Format::Plaintext,
            Encoding::Base64,
            usize::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "encoding base64 needs a string value, but the value is an object"
        );
    }

    #[test]
    fn unknown_parts_anywhere_refuse_to_render() {
        let mut value = v(json!({"a": 1, "b": 2}));
        if let Data::Object(m) = &mut value.data {
            m.get_mut("b").unwrap().unknown = true;
        }
        assert_eq!(
            render(&value, Format::Plaintext, Encoding::Utf8, usize::MAX).unwrap_err(),
            RenderError::Unknown
        );
    }
}
