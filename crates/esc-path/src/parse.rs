//! The parser. It walks bytes exactly as Pulumi's does; every delimiter is ASCII, so slicing
//! at them never splits a UTF-8 character.

use crate::Segment;

/// Why a path does not parse. Columns count characters from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("expected property path to start with a name or index, not '.'")]
    LeadingDot,
    #[error("expected property path to end with a name or index, not '.'")]
    TrailingDot,
    #[error("missing closing quote in property name starting at column {column}")]
    MissingClosingQuote { column: usize },
    #[error("missing closing bracket in property access: expected ']' at column {column}")]
    MissingClosingBracketAfterName { column: usize },
    #[error("missing closing bracket in array index starting at column {column}")]
    MissingClosingBracketAfterIndex { column: usize },
    #[error(
        "invalid array index {} at column {column}: {reason}",
        crate::Quoted(text)
    )]
    InvalidIndex {
        text: String,
        column: usize,
        reason: &'static str,
    },
}

pub(crate) fn parse(text: &str) -> Result<Vec<Segment>, ParseError> {
    let bytes = text.as_bytes();
    let column = |at: usize| text[..at].chars().count() + 1;
    let mut segments = Vec::new();
    if bytes.first() == Some(&b'.') {
        return Err(ParseError::LeadingDot);
    }
    let mut pos = 0;
    while pos < bytes.len() {
        match bytes[pos] {
            b'.' => {
                pos += 1;
                if pos == bytes.len() {
                    return Err(ParseError::TrailingDot);
                }
                // `a.[0]` is tolerated, as Pulumi tolerates it from old providers.
            }
            b'[' if bytes.get(pos + 1) == Some(&b'"') => {
                let start = pos;
                let mut key = String::new();
                let mut run = pos + 2;
                let mut i = run;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(ParseError::MissingClosingQuote {
                                column: column(start),
                            });
                        }
                        Some(b'"') => {
                            key.push_str(&text[run..i]);
                            i += 1;
                            break;
                        }
                        Some(b'\\') if bytes.get(i + 1) == Some(&b'"') => {
                            key.push_str(&text[run..i]);
                            key.push('"');
                            i += 2;
                            run = i;
                        }
                        Some(_) => i += 1,
                    }
                }
                if bytes.get(i) != Some(&b']') {
                    return Err(ParseError::MissingClosingBracketAfterName { column: column(i) });
                }
                segments.push(Segment::Key(key));
                pos = i + 1;
            }
            b'[' => {
                let Some(len) = bytes[pos..].iter().position(|&b| b == b']') else {
                    return Err(ParseError::MissingClosingBracketAfterIndex {
                        column: column(pos),
                    });
                };
                let inner = &text[pos + 1..pos + len];
                segments.push(
                    index_segment(inner).map_err(|reason| ParseError::InvalidIndex {
                        text: inner.to_owned(),
                        column: column(pos + 1),
                        reason,
                    })?,
                );
                pos += len + 1;
            }
            _ => {
                let len = bytes[pos..]
                    .iter()
                    .position(|&b| b == b'.' || b == b'[')
                    .unwrap_or(bytes.len() - pos);
                segments.push(Segment::Key(text[pos..pos + len].to_owned()));
                pos += len;
            }
        }
    }
    Ok(segments)
}

fn index_segment(inner: &str) -> Result<Segment, &'static str> {
    use std::num::IntErrorKind;
    if inner == "*" {
        return Ok(Segment::Wildcard);
    }
    inner
        .parse::<i64>()
        .map(Segment::Index)
        .map_err(|e| match e.kind() {
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "the number is out of range",
            IntErrorKind::Empty => "expected an integer or '*' between the brackets",
            _ => "expected an integer, '*', or a quoted name such as [\"name\"]",
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PropertyPath;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_owned())
    }

    fn parsed(text: &str) -> Vec<Segment> {
        PropertyPath::parse(text)
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
            .segments()
            .to_vec()
    }

    fn error(text: &str) -> String {
        PropertyPath::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn every_example_from_the_pulumi_docs_parses_to_the_expected_segments() {
        use Segment::{Index, Wildcard};
        let cases: Vec<(&str, Vec<Segment>)> = vec![
            ("root", vec![key("root")]),
            ("root.nested", vec![key("root"), key("nested")]),
            (r#"root["nested"]"#, vec![key("root"), key("nested")]),
            (
                "root.double.nest",
                vec![key("root"), key("double"), key("nest")],
            ),
            (
                r#"root["double"].nest"#,
                vec![key("root"), key("double"), key("nest")],
            ),
            (
                r#"root["double"]["nest"]"#,
                vec![key("root"), key("double"), key("nest")],
            ),
            ("root.array[0]", vec![key("root"), key("array"), Index(0)]),
            (
                "root.array[100]",
                vec![key("root"), key("array"), Index(100)],
            ),
            (
                "root.array[0].nested",
                vec![key("root"), key("array"), Index(0), key("nested")],
            ),
            (
                "root.array[0][1].nested",
                vec![key("root"), key("array"), Index(0), Index(1), key("nested")],
            ),
            (
                "root.nested.array[0].double[1]",
                vec![
                    key("root"),
                    key("nested"),
                    key("array"),
                    Index(0),
                    key("double"),
                    Index(1),
                ],
            ),
            (
                r#"root["key with \"escaped\" quotes"]"#,
                vec![key("root"), key("key with \"escaped\" quotes")],
            ),
            (
                r#"root["key with a ."]"#,
                vec![key("root"), key("key with a .")],
            ),
            (
                r#"["root key with \"escaped\" quotes"].nested"#,
                vec![key("root key with \"escaped\" quotes"), key("nested")],
            ),
            (
                r#"["root key with a ."][100]"#,
                vec![key("root key with a ."), Index(100)],
            ),
            (
                "root.array[*].field",
                vec![key("root"), key("array"), Wildcard, key("field")],
            ),
            (
                r#"root.array["*"].field"#,
                vec![key("root"), key("array"), key("*"), key("field")],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(text), expected, "parsing {text:?}");
        }
    }

    #[test]
    fn the_quirks_pulumi_accepts_are_accepted_the_same_way() {
        assert_eq!(parsed("a..b"), parsed("a.b"));
        assert_eq!(parsed("a.[0]"), parsed("a[0]"));
        assert_eq!(parsed(r#"root["a"]b"#), parsed("root.a.b"));
        assert_eq!(parsed("a[-1]"), vec![key("a"), Segment::Index(-1)]);
        assert_eq!(parsed("a[+7]"), vec![key("a"), Segment::Index(7)]);
        assert_eq!(parsed("a[007]"), vec![key("a"), Segment::Index(7)]);
        assert_eq!(parsed("a-b"), vec![key("a-b")]);
        assert_eq!(parsed("a]b"), vec![key("a]b")]);
        assert_eq!(parsed("[0]"), vec![Segment::Index(0)]);
        assert_eq!(parsed("a.*"), vec![key("a"), key("*")]);
        assert!(parsed("").is_empty());
    }

    #[test]
    fn a_backslash_escapes_only_a_quote_inside_a_quoted_name() {
        assert_eq!(parsed(r#"["a\b"]"#), vec![key(r"a\b")]);
        assert_eq!(parsed(r#"["a\\"b"]"#), vec![key(r#"a\"b"#)]);
        assert_eq!(parsed(r#"["a\"]"]"#), vec![key(r#"a"]"#)]);
    }

    #[test]
    fn names_may_hold_any_unicode() {
        assert_eq!(parsed("données.clé"), vec![key("données"), key("clé")]);
        assert_eq!(parsed(r#"["🔑 key"]"#), vec![key("🔑 key")]);
    }

    #[test]
    fn errors_name_the_problem_and_where_it_is() {
        assert_eq!(
            error(".a"),
            "expected property path to start with a name or index, not '.'"
        );
        assert_eq!(
            error("a."),
            "expected property path to end with a name or index, not '.'"
        );
        assert_eq!(
            error("a.."),
            "expected property path to end with a name or index, not '.'"
        );
        assert_eq!(
            error(r#"a["b"#),
            "missing closing quote in property name starting at column 2"
        );
        assert_eq!(
            error(r#"a["b\"]"#),
            "missing closing quote in property name starting at column 2"
        );
        assert_eq!(
            error(r#"a["b"c]"#),
            "missing closing bracket in property access: expected ']' at column 6"
        );
        assert_eq!(
            error("a[0"),
            "missing closing bracket in array index starting at column 2"
        );
        assert_eq!(
            error("["),
            "missing closing bracket in array index starting at column 1"
        );
        assert_eq!(
            error("a[x]"),
            "invalid array index \"x\" at column 3: expected an integer, '*', or a quoted name \
             such as [\"name\"]"
        );
        assert_eq!(
            error("a[]"),
            "invalid array index \"\" at column 3: expected an integer or '*' between the brackets"
        );
        assert_eq!(
            error("a[ 1]"),
            "invalid array index \" 1\" at column 3: expected an integer, '*', or a quoted name \
             such as [\"name\"]"
        );
        assert_eq!(
            error("é[99999999999999999999]"),
            "invalid array index \"99999999999999999999\" at column 3: the number is out of range"
        );
    }
}
