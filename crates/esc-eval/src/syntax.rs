//! YAML text to syntax nodes that remember where they came from.
//!
//! The YAML parser's events are assembled into a plain tree (duplicate keys are kept: the
//! language reports them itself), scalars are resolved to null, booleans, numbers or strings
//! with the YAML 1.2 core rules the reference uses, and every node carries its source range
//! and its document path (`values.a["b c"][0]`), which diagnostics report.

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

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

/// Parses a YAML document (an empty one is an empty object). The errors are every problem
/// found, in document order, as the reference reports them (one per alias, per bad tag...).
pub(crate) fn parse(environment: &str, source: &str) -> Result<Node, Vec<SyntaxError>> {
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
    let events = read_events(&b, source)?;
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
    match node {
        Err(e) => {
            b.errors.push(e);
            Err(b.errors)
        }
        Ok(_) if !b.errors.is_empty() => Err(b.errors),
        Ok(n) => Ok(n),
    }
}

/// The document's events up to its end, its collections' nesting checked against the depth
/// budget before anything is built from them (the tree is built recursively).
fn read_events<'s>(
    b: &Builder<'_>,
    source: &'s str,
) -> Result<Vec<(Event<'s>, Span)>, Vec<SyntaxError>> {
    let mut events = Vec::new();
    let max_depth = crate::budget::limits().max_depth;
    let mut depth = 0usize;
    for ev in Parser::new_from_str(source) {
        match ev {
            Ok(ev) => {
                match ev.0 {
                    Event::SequenceStart(..) | Event::MappingStart(..) => {
                        depth += 1;
                        if depth > max_depth {
                            return Err(vec![SyntaxError {
                                summary: format!(
                                    "yaml: line {}: collections nest deeper than {max_depth} \
                                     levels (the depth budget)",
                                    ev.1.start.line()
                                ),
                                range: Some(b.begin(ev.1)),
                                path: String::new(),
                            }]);
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
                return Err(vec![SyntaxError {
                    summary: format!("yaml: line {}: {}", e.marker().line(), e.info()),
                    range: None,
                    path: String::new(),
                }]);
            }
        }
    }
    Ok(events)
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
            Event::Scalar(text, style, _, tag) => Ok(self.scalar(span, &text, style, tag, path)),
            Event::SequenceStart(..) => self.sequence(events, span, path),
            Event::MappingStart(..) => self.mapping(events, span, path),
            Event::Alias(_) => {
                // Reported, and read on: each alias has its own diagnostic.
                let range = self.begin(span);
                self.errors.push(SyntaxError {
                    summary: "alias nodes are not supported".into(),
                    range: Some(range.clone()),
                    path: path.clone(),
                });
                Ok(Node {
                    kind: Kind::Null,
                    range,
                    path,
                    plain_line: false,
                })
            }
            other => Err(SyntaxError {
                summary: format!("unexpected YAML event {other:?}"),
                range: Some(self.begin(span)),
                path,
            }),
        }
    }

    /// A scalar, resolved as the reference resolves it (a bad tag is reported, and null).
    fn scalar(
        &mut self,
        span: Span,
        text: &str,
        style: ScalarStyle,
        tag: Option<std::borrow::Cow<'_, Tag>>,
        path: String,
    ) -> Node {
        let range = self.scalar_range(span, text, style);
        // The reference shortens `tag:yaml.org,2002:x` to `!!x`.
        let tag = tag.map(|t| {
            let full = format!("{}{}", t.handle, t.suffix);
            match full.strip_prefix("tag:yaml.org,2002:") {
                Some(short) => format!("!!{short}"),
                None => full,
            }
        });
        let kind = match resolve(text, style, tag.as_deref()) {
            Ok(k) => k,
            Err(summary) => {
                self.errors.push(SyntaxError {
                    summary,
                    range: Some(range.clone()),
                    path: path.clone(),
                });
                Kind::Null
            }
        };
        let plain_line = style == ScalarStyle::Plain && span.start.line() == span.end.line();
        Node {
            kind,
            range,
            path,
            plain_line,
        }
    }

    /// A sequence's items, up to its end.
    fn sequence(
        &mut self,
        events: &mut Events<'_>,
        span: Span,
        path: String,
    ) -> Result<Node, SyntaxError> {
        let mut items: Vec<Node> = Vec::new();
        loop {
            if let Some((Event::SequenceEnd, _)) = events.peek() {
                events.next();
                let mut range = self.begin(span);
                if let Some(last) = items.last() {
                    range.end = last.range.end;
                }
                return Ok(Node {
                    kind: Kind::Array(items),
                    range,
                    path,
                    plain_line: false,
                });
            }
            let child = format!("{path}[{}]", items.len());
            items.push(self.node(events, child)?);
        }
    }

    /// A mapping's entries, up to its end; a key that is not a string is reported.
    fn mapping(
        &mut self,
        events: &mut Events<'_>,
        span: Span,
        path: String,
    ) -> Result<Node, SyntaxError> {
        let mut entries: Vec<(Node, Node)> = Vec::new();
        loop {
            if let Some((Event::MappingEnd, _)) = events.peek() {
                events.next();
                let mut range = self.begin(span);
                if let Some((_, last)) = entries.last() {
                    range.end = last.range.end;
                }
                return Ok(Node {
                    kind: Kind::Object(entries),
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
            let key = self.node(events, child.clone())?;
            if !matches!(key.kind, Kind::String(_)) {
                // As the reference: a key that resolves to null, a boolean or a number
                // (`2:`, `true:`, `~:`) is refused, not read as its text.
                self.errors.push(SyntaxError {
                    summary: "mapping keys must be strings".into(),
                    range: Some(key.range.clone()),
                    path: key.path.clone(),
                });
            }
            let value = self.node(events, child)?;
            entries.push((key, value));
        }
    }
}

/// Resolves a scalar as the reference's YAML library does (see [`crate::resolve`]).
fn resolve(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Kind, String> {
    use crate::resolve::Scalar;
    Ok(
        match crate::resolve::tagged(text, style != ScalarStyle::Plain, tag)? {
            Scalar::Null => Kind::Null,
            Scalar::Bool(b) => Kind::Bool(b),
            Scalar::Int { text, .. } | Scalar::Float(text) => Kind::Number(text),
            Scalar::Timestamp | Scalar::Str => Kind::String(text.to_owned()),
        },
    )
}
