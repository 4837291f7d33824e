//! JSON read as the reference's `fn::fromJSON` reads it: Go's `json.Decoder` with
//! `UseNumber`, decoding one value. So numbers keep the text they were written with
//! (`1E2`, `1.50`, a 23-digit integer), text after the first complete value is ignored, a
//! duplicate key keeps its last value, and errors are Go's texts (`unexpected EOF`,
//! `invalid character 'x' looking for beginning of value`, ...).

use std::collections::BTreeMap;

/// A decoded JSON value; numbers are their literal text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

/// Why decoding failed: Go's error text, or the evaluation's depth or step budget.
#[derive(Debug, PartialEq)]
pub(crate) enum Error {
    Go(String),
    OverBudget,
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

/// Decodes the first JSON value of `text`, as Go's `json.Decoder.Decode` does, within the
/// evaluation's budgets (each value a step, each collection a level of depth).
pub(crate) fn decode(text: &str) -> Result<Json, Error> {
    let mut p = Parser {
        b: text.as_bytes(),
        i: 0,
    };
    p.skip_space();
    if p.i == p.b.len() {
        return Err(Error::Go("EOF".into()));
    }
    p.value()
}

/// Go's `quoteChar`: a byte as `encoding/json` names it in an error.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        // Go quotes string(c), the rune U+00XX, with strconv.Quote, between single quotes.
        _ => {
            let quoted = esc_gotext::quote(char::from(c).encode_utf8(&mut [0; 4]));
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// The next byte, or "unexpected EOF" (the input ended inside a value).
    fn next(&mut self) -> Result<u8, Error> {
        let c = *self
            .b
            .get(self.i)
            .ok_or_else(|| Error::Go("unexpected EOF".into()))?;
        self.i += 1;
        Ok(c)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn invalid(c: u8, context: &str) -> Error {
        Error::Go(format!("invalid character {} {context}", quote_char(c)))
    }

    fn value(&mut self) -> Result<Json, Error> {
        // Each value is a step, and its node is charged to the evaluation's bytes (twice: the
        // vector it lands in may have as much room again): a 400k-element array once held
        // 125 MiB through its decoded and evaluated copies.
        if !crate::budget::step() || !crate::budget::total(2 * std::mem::size_of::<Json>()) {
            return Err(Error::OverBudget);
        }
        self.skip_space();
        let c = self.next()?;
        match c {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Json::String),
            b'-' | b'0'..=b'9' => self.number(c),
            b't' => self.literal(b"rue", "true").map(|()| Json::Bool(true)),
            b'f' => self.literal(b"alse", "false").map(|()| Json::Bool(false)),
            b'n' => self.literal(b"ull", "null").map(|()| Json::Null),
            _ => Err(Self::invalid(c, "looking for beginning of value")),
        }
    }

    fn object(&mut self) -> Result<Json, Error> {
        let Some(_depth) = crate::budget::descend() else {
            return Err(Error::OverBudget);
        };
        let mut out = BTreeMap::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Object(out));
        }
        loop {
            self.skip_space();
            let c = self.next()?;
            if c != b'"' {
                return Err(Self::invalid(
                    c,
                    "looking for beginning of object key string",
                ));
            }
            let key = self.string()?;
            self.skip_space();
            let c = self.next()?;
            if c != b':' {
                return Err(Self::invalid(c, "after object key"));
            }
            let v = self.value()?;
            out.insert(key, v);
            self.skip_space();
            match self.next()? {
                b',' => {}
                b'}' => break,
                c => return Err(Self::invalid(c, "after object key:value pair")),
            }
        }
        Ok(Json::Object(out))
    }

    fn array(&mut self) -> Result<Json, Error> {
        let Some(_depth) = crate::budget::descend() else {
            return Err(Error::OverBudget);
        };
        let mut out = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Array(out));
        }
        loop {
            out.push(self.value()?);
            self.skip_space();
            match self.next()? {
                b',' => {}
                b']' => break,
                c => return Err(Self::invalid(c, "after array element")),
            }
        }
        Ok(Json::Array(out))
    }

    fn literal(&mut self, rest: &[u8], name: &str) -> Result<(), Error> {
        for &want in rest {
            let c = self.next()?;
            if c != want {
                return Err(Self::invalid(
                    c,
                    &format!("in literal {name} (expecting {})", quote_char(want)),
                ));
            }
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    /// A number; it ends at the first byte that cannot continue it (Go's decoder stops
    /// there, whatever follows).
    fn number(&mut self, first: u8) -> Result<Json, Error> {
        let start = self.i - 1;
        let mut c = first;
        if c == b'-' {
            c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(Self::invalid(c, "in numeric literal"));
            }
        }
        if c != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(Self::invalid(c, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(Self::invalid(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("0");
        Ok(Json::Number(text.to_owned()))
    }

    /// A string after its opening quote, unquoted as Go does (a lone surrogate is U+FFFD).
    fn string(&mut self) -> Result<String, Error> {
        let mut out = Vec::new();
        loop {
            let c = self.next()?;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.next()?;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut r = self.hex4()?;
                            if (0xd800..0xdc00).contains(&r) {
                                // A pair only when a low surrogate escape follows.
                                let save = self.i;
                                let low = if self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                                    self.i += 2;
                                    Some(self.hex4()?)
                                } else {
                                    None
                                };
                                match low {
                                    Some(l) if (0xdc00..0xe000).contains(&l) => {
                                        r = 0x10000 + ((r - 0xd800) << 10) + (l - 0xdc00);
                                    }
                                    _ => {
                                        self.i = save;
                                        r = 0xfffd;
                                    }
                                }
                            }
                            let ch = char::from_u32(r).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(Self::invalid(e, "in string escape code")),
                    }
                }
                0..0x20 => return Err(Self::invalid(c, "in string literal")),
                _ => out.push(c),
            }
        }
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut r = 0u32;
        for _ in 0..4 {
            let c = self.next()?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| Self::invalid(c, "in \\u hexadecimal character escape"))?;
            r = r * 16 + d;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match decode(text) {
            Err(Error::Go(e)) => e,
            other => panic!("{text}: {other:?}"),
        }
    }

    /// Each text as github.com/pulumi/esc v0.26.0's `fn::fromJSON` reported it.
    #[test]
    fn errors_are_go_texts() {
        for (text, want) in [
            ("", "EOF"),
            ("   ", "EOF"),
            ("x", "invalid character 'x' looking for beginning of value"),
            ("{\"a\":", "unexpected EOF"),
            ("[1,", "unexpected EOF"),
            ("1.", "unexpected EOF"),
            ("-", "unexpected EOF"),
            ("\"abc", "unexpected EOF"),
            ("tru", "unexpected EOF"),
            (
                "trux",
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            (
                "{1:2}",
                "invalid character '1' looking for beginning of object key string",
            ),
            ("\"\\q\"", "invalid character 'q' in string escape code"),
            (
                "\"\\u12x4\"",
                "invalid character 'x' in \\u hexadecimal character escape",
            ),
            ("\"a\tb\"", "invalid character '\\t' in string literal"),
            ("1e", "unexpected EOF"),
            ("1.5e+", "unexpected EOF"),
            ("-x", "invalid character 'x' in numeric literal"),
            ("é", "invalid character 'Ã' looking for beginning of value"),
            (
                "fals0",
                "invalid character '0' in literal false (expecting 'e')",
            ),
            ("[}", "invalid character '}' looking for beginning of value"),
            (
                "{\"a\":1 \"b\"}",
                "invalid character '\"' after object key:value pair",
            ),
        ] {
            assert_eq!(err(text), want, "{text:?}");
        }
    }

    #[test]
    fn numbers_keep_their_text_and_trailing_text_is_ignored() {
        let n = |s: &str| Json::Number(s.into());
        assert_eq!(
            decode("[1.0, 1E2, 1.50, 12345678901234567890123, -0]").unwrap(),
            Json::Array(vec![
                n("1.0"),
                n("1E2"),
                n("1.50"),
                n("12345678901234567890123"),
                n("-0")
            ])
        );
        assert_eq!(decode("01").unwrap(), n("0"));
        assert_eq!(decode("1 2").unwrap(), n("1"));
        assert_eq!(
            decode("{\"a\":1}x").unwrap(),
            Json::Object([("a".to_owned(), n("1"))].into())
        );
        assert_eq!(
            decode("{\"a\":1,\"a\":2}").unwrap(),
            Json::Object([("a".to_owned(), n("2"))].into())
        );
        assert_eq!(
            decode("\"\\ud800\"").unwrap(),
            Json::String("\u{fffd}".into())
        );
        assert_eq!(
            decode("\"\\ud83d\\ude00\"").unwrap(),
            Json::String("😀".into())
        );
        assert_eq!(
            decode("[[1]]"),
            Ok(Json::Array(vec![Json::Array(vec![Json::Number(
                "1".into()
            )])]))
        );
    }
}
