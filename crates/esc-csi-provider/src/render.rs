//! Turning a resolved value into file content.
//!
//! Errors describe the value's shape, never its content: the content is usually a secret.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use esc_api::{Data, Value};

use crate::items::{Encoding, Format};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the value contains unknown parts that ESC could not compute")]
    Unknown,
    #[error("encoding {encoding} needs a string value, but the value is {found}")]
    NotAString {
        encoding: Encoding,
        found: &'static str,
    },
    #[error("the value is not valid {encoding}: {detail}")]
    Decode { encoding: Encoding, detail: String },
    #[error("the value cannot be written as YAML: {0}")]
    Yaml(String),
}

/// Renders `value` per the item's format and encoding.
pub fn render(value: &Value, format: Format, encoding: Encoding) -> Result<Vec<u8>, RenderError> {
    if value.contains_unknown() {
        return Err(RenderError::Unknown);
    }
    match (format, encoding) {
        (Format::Plaintext, Encoding::Utf8) => Ok(plaintext(value)),
        (Format::Plaintext, encoding) => decode(value, encoding),
        (Format::Json, _) => {
            let value = json_in_string(value);
            let mut out = serde_json::to_vec_pretty(value.as_ref()).unwrap_or_default();
            out.push(b'\n');
            Ok(out)
        }
        (Format::Yaml, _) => {
            let value = json_in_string(value);
            serde_norway::to_string(value.as_ref())
                .map(String::into_bytes)
                .map_err(|e| RenderError::Yaml(e.to_string()))
        }
    }
}

/// Strings as their bytes, null as nothing, other scalars as JSON text, containers as compact
/// JSON with sorted keys.
fn plaintext(value: &Value) -> Vec<u8> {
    match &value.data {
        Data::String(s) => s.as_bytes().to_vec(),
        Data::Null => Vec::new(),
        _ => serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// A string that holds JSON text is formatted as that JSON, as the Go provider did for
/// `format: json` and `format: yaml` (think `fn::toJSON`); anything else is formatted as is.
fn json_in_string(value: &Value) -> std::borrow::Cow<'_, Value> {
    if let Data::String(s) = &value.data
        && let Ok(parsed) = serde_json::from_str::<serde_json::Value>(s)
    {
        return std::borrow::Cow::Owned(Value::from_json(parsed));
    }
    std::borrow::Cow::Borrowed(value)
}

fn decode(value: &Value, encoding: Encoding) -> Result<Vec<u8>, RenderError> {
    let Data::String(text) = &value.data else {
        return Err(RenderError::NotAString {
            encoding,
            found: kind(value),
        });
    };
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

/// The value's shape, for messages.
pub fn kind(value: &Value) -> &'static str {
    match &value.data {
        Data::Null => "null",
        Data::Bool(_) => "a boolean",
        Data::Number(_) => "a number",
        Data::String(_) => "a string",
        Data::Array(_) => "an array",
        Data::Object(_) => "an object",
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
        String::from_utf8(render(&v(value), format, Encoding::Utf8).unwrap()).unwrap()
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
        let bytes = |s: &str| render(&v(json!(s)), Format::Plaintext, Encoding::Base64).unwrap();
        assert_eq!(bytes("AAEC/w=="), vec![0, 1, 2, 255]);
        assert_eq!(bytes("AAEC/w"), vec![0, 1, 2, 255]);
        assert_eq!(bytes("AAEC_w"), vec![0, 1, 2, 255]);
        assert_eq!(bytes("AA\nEC/w==\n"), vec![0, 1, 2, 255]);
    }

    #[test]
    fn hex_decodes_either_case_and_ignores_whitespace() {
        let bytes = |s: &str| render(&v(json!(s)), Format::Plaintext, Encoding::Hex).unwrap();
        assert_eq!(bytes("00ff10"), vec![0, 255, 16]);
        assert_eq!(bytes("00 FF\n10"), vec![0, 255, 16]);
    }

    #[test]
    fn decoding_errors_give_positions_but_never_the_content() {
        let err = render(
            &v(json!("abc$hunter2")),
            Format::Plaintext,
            Encoding::Base64,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value is not valid base64: invalid character at offset 3"
        );
        let err = render(&v(json!("zz")), Format::Plaintext, Encoding::Hex).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value is not valid hex: invalid character at offset 0"
        );
        let err = render(&v(json!("abc")), Format::Plaintext, Encoding::Hex).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the value is not valid hex: it has an odd number of digits"
        );
    }

    #[test]
    fn decoding_needs_a_string() {
        let err = render(&v(json!({"a": 1})), Format::Plaintext, Encoding::Base64).unwrap_err();
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
            render(&value, Format::Plaintext, Encoding::Utf8).unwrap_err(),
            RenderError::Unknown
        );
    }
}
