//! YAML text to syntax nodes that remember where they came from.
//!
//! The YAML parser's events are assembled into a plain tree (duplicate keys are kept: the
//! language reports them itself), scalars are resolved to null, booleans, numbers or strings
//! with the YAML 1.2 core rules the reference uses, and every node carries its source range
//! and its document path (`values.a["b c"][0]`), which diagnostics report.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::{Pos, Range};

/// A syntax node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) range: Range,
    pub(crate) path: String,
    /// For single-line plain scalars, ranges inside the text can be computed.
    pub(crate) plain_line: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(Node, Node)>),
}

/// A problem found while reading the YAML: the message, its range and document path.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub(crate) summary: String,
    pub(crate) range: Option<Range>,
    pub(crate) path: String,
}

impl Node {
    /// The range of `text[start..end]` inside this scalar, when it can be known.
    pub(crate) fn sub_range(&self, start: usize, end: usize) -> Option<Range> {
        let Kind::String(text) = &self.kind else {
            return None;
        };
        if !self.plain_line || end > text.len() {
            return None;
        }
        // The interpolation scanner works on bytes and may stop inside a multi-byte
        // character; the range then starts or ends at that character.
        let at = |mut offset: usize| {
            while !text.is_char_boundary(offset) {
                offset -= 1;
            }
            Pos {
                line: self.range.begin.line,
                column: self.range.begin.column + text[..offset].chars().count() as u32,
                byte: self.range.begin.byte + offset as u32,
            }
        };
        Some(Range {
            environment: self.range.environment.clone(),
            begin: at(start),
            end: at(end),
        })
    }
}

/// Appends `key` to a document path, quoting it when it is not a plain identifier.
pub(crate) fn join_key(root: &str, key: &str) -> String {
    if key.is_empty() {
        return root.to_owned();
    }
    let plain = key
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (c.is_ascii_digit() && i != 0));
    if plain {
        return if root.is_empty() {
            key.to_owned()
        } else {
            format!("{root}.{key}")
        };
    }
    format!("{root}[\"{}\"]", key.replace('"', "\\\""))
}

struct Builder<'s> {
    environment: &'s str,
    source: &'s str,
    /// Byte offset of each line's start.
    lines: Vec<usize>,
    /// Byte offset of each char, when the text is not ASCII.
    char_bytes: Option<Vec<u32>>,
    source_len: u32,
    errors: Vec<SyntaxError>,
}

impl Builder<'_> {
    fn pos(&self, m: saphyr_parser::Marker) -> Pos {
        let byte = match &self.char_bytes {
            None => m.index() as u32,
            Some(t) => t.get(m.index()).copied().unwrap_or(self.source_len),
        };
        Pos {
            line: m.line() as u32,
            column: m.col() as u32 + 1,
            byte,
        }
    }

    /// The position of a 1-based line and column, the column counting bytes on ASCII lines
    /// and characters elsewhere (as the reference does).
    fn line_col(&self, line: u32, column: u32) -> Pos {
        let Some(&start) = self.lines.get(line.saturating_sub(1) as usize) else {
            return Pos {
                line,
                column,
                byte: 0,
            };
        };
        let end = self
            .lines
            .get(line as usize)
            .map_or(self.source.len(), |e| e - 1);
        let text = &self.source[start..end.max(start)];
        let skip = column.saturating_sub(1) as usize;
        let byte = if text.is_ascii() {
            start + skip
        } else {
            start + text.char_indices().nth(skip).map_or(text.len(), |(i, _)| i)
        };
        Pos {
            line,
            column,
            byte: byte as u32,
        }
    }

    fn begin(&self, span: Span) -> Range {
        let b = self.pos(span.start);
        Range {
            environment: self.environment.to_owned(),
            begin: b,
            end: b,
        }
    }

    /// A scalar ends where its value's text would end on its first line (or, for block
    /// scalars, on its last line), as the reference computes it.
    fn scalar_range(&self, span: Span, text: &str, style: ScalarStyle) -> Range {
        let mut r = self.begin(span);
        let (mut line, mut rest) = (r.begin.line, text);
        if style == ScalarStyle::Literal {
            while let Some(nl) = rest.find('\n') {
                line += 1;
                rest = &rest[nl + 1..];
            }
        }
        r.end = self.line_col(line, r.begin.column + rest.len() as u32);
        r
    }
}

type Events<'a> = std::iter::Peekable<std::vec::IntoIter<(Event<'a>, Span)>>;

/// Parses a YAML document. `Ok(None)` is an empty document.
pub(crate) fn parse(environment: &str, source: &str) -> Result<Node, SyntaxError> {
    let mut lines = vec![0];
    lines.extend(source.match_indices('\n').map(|(i, _)| i + 1));
    let mut b = Builder {
        environment,
        source,
        lines,
        char_bytes: (!source.is_ascii())
            .then(|| source.char_indices().map(|(i, _)| i as u32).collect()),
        source_len: source.len() as u32,
        errors: Vec::new(),
    };
    let empty = |b: &Builder<'_>| Node {
        kind: Kind::Object(Vec::new()),
        range: Range {
            environment: b.environment.to_owned(),
            ..Range::default()
        },
        path: String::new(),
        plain_line: false,
    };
    if source.is_empty() {
        return Ok(empty(&b));
    }
    let mut events = Vec::new();
    // The tree is built recursively: its depth is bounded here, before any recursion.
    let max_depth = crate::budget::limits().max_depth;
    let mut depth = 0usize;
    for ev in Parser::new_from_str(source) {
        match ev {
            Ok(ev) => {
                match ev.0 {
                    Event::SequenceStart(..) | Event::MappingStart(..) => {
                        depth += 1;
                        if depth > max_depth {
                            return Err(SyntaxError {
                                summary: format!(
                                    "yaml: line {}: collections nest deeper than {max_depth} \
                                     levels (the depth budget)",
                                    ev.1.start.line()
                                ),
                                range: Some(b.begin(ev.1)),
                                path: String::new(),
                            });
                        }
                    }
                    Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
                    _ => {}
                }
                let end = matches!(ev.0, Event::DocumentEnd | Event::StreamEnd);
                events.push(ev);
                if end {
                    break;
                }
            }
            Err(e) => {
                return Err(SyntaxError {
                    summary: format!("yaml: line {}: {}", e.marker().line(), e.info()),
                    range: None,
                    path: String::new(),
                });
            }
        }
    }
    let mut events: Events<'_> = events.into_iter().peekable();
    while let Some((ev, _)) = events.peek() {
        if matches!(ev, Event::StreamStart | Event::DocumentStart(_)) {
            events.next();
        } else {
            break;
        }
    }
    if matches!(
        events.peek(),
        None | Some((Event::DocumentEnd | Event::StreamEnd, _))
    ) {
        return Ok(empty(&b));
    }
    let node = b.node(&mut events, String::new());
    match (b.errors.into_iter().next(), node) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(n)) => Ok(n),
    }
}

impl Builder<'_> {
    fn node(&mut self, events: &mut Events<'_>, path: String) -> Result<Node, SyntaxError> {
        let Some((ev, span)) = events.next() else {
            return Err(SyntaxError {
                summary: "yaml: unexpected end of stream".into(),
                range: None,
                path,
            });
        };
        match ev {
            Event::Scalar(text, style, _, tag) => {
                let range = self.scalar_range(span, &text, style);
                let tag = tag.map(|t| t.suffix.clone());
                let kind = resolve(&text, style, tag.as_deref());
                let plain_line =
                    style == ScalarStyle::Plain && span.start.line() == span.end.line();
                Ok(Node {
                    kind,
                    range,
                    path,
                    plain_line,
                })
            }
            Event::SequenceStart(..) => {
                let mut items: Vec<Node> = Vec::new();
                loop {
                    if let Some((Event::SequenceEnd, _)) = events.peek() {
                        events.next();
                        let mut range = self.begin(span);
                        if let Some(last) = items.last() {
                            range.end = last.range.end;
                        }
                        let kind = Kind::Array(items);
                        return Ok(Node {
                            kind,
                            range,
                            path,
                            plain_line: false,
                        });
                    }
                    let child = format!("{path}[{}]", items.len());
                    items.push(self.node(events, child)?);
                }
            }
            Event::MappingStart(..) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                loop {
                    if let Some((Event::MappingEnd, _)) = events.peek() {
                        events.next();
                        let mut range = self.begin(span);
                        if let Some((_, last)) = entries.last() {
                            range.end = last.range.end;
                        }
                        let kind = Kind::Object(entries);
                        return Ok(Node {
                            kind,
                            range,
                            path,
                            plain_line: false,
                        });
                    }
                    let key_text = match events.peek() {
                        Some((Event::Scalar(t, ..), _)) => t.to_string(),
                        _ => String::new(),
                    };
                    let child = join_key(&path, &key_text);
                    let mut key = self.node(events, child.clone())?;
                    match &key.kind {
                        Kind::String(_) => {}
                        Kind::Null | Kind::Bool(_) | Kind::Number(_) => {
                            // Non-string scalar keys are read as their text.
                            key.kind = Kind::String(key_text);
                        }
                        _ => self.errors.push(SyntaxError {
                            summary: "mapping keys must be strings".into(),
                            range: Some(key.range.clone()),
                            path: key.path.clone(),
                        }),
                    }
                    let value = self.node(events, child)?;
                    entries.push((key, value));
                }
            }
            Event::Alias(_) => Err(SyntaxError {
                summary: "alias nodes are not supported".into(),
                range: Some(self.begin(span)),
                path,
            }),
            other => Err(SyntaxError {
                summary: format!("unexpected YAML event {other:?}"),
                range: Some(self.begin(span)),
                path,
            }),
        }
    }
}

/// Resolves a scalar per the YAML 1.2 core schema (as the reference's YAML library does).
fn resolve(text: &str, style: ScalarStyle, tag: Option<&str>) -> Kind {
    match tag {
        Some("str") => return Kind::String(text.to_owned()),
        Some("null") => return Kind::Null,
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Kind::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Number("+Inf".into());
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Number("-Inf".into()),
        ".nan" | ".NaN" | ".NAN" => return Kind::Number("NaN".into()),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Kind::Number(n);
    }
    if is_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Kind::Number(format_float(f));
    }
    Kind::String(text.to_owned())
}

fn parse_int(text: &str) -> Option<String> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(r) = digits.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = digits.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = digits.strip_prefix("0b") {
        (2, r)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(body, radix).ok()?;
    let v = if neg { -v } else { v };
    if v > i128::from(u64::MAX) || v < i128::from(i64::MIN) {
        return None;
    }
    Some(v.to_string())
}

fn is_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() && !b.is_empty() || !a.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exp_ok
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
