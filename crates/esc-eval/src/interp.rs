//! The `${...}` grammar: interpolated strings and property accesses
//! (`a.b["c d"][0]`), with the reference's diagnostics for malformed ones.
//!
//! The scanner works on bytes, like the reference, so offsets are byte offsets into the
//! string's value; they become source ranges for single-line plain scalars.

use crate::syntax::Node;
use crate::{Diagnostic, Range, Severity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `.name`, or a bare leading name.
    Name(String),
    /// `["key"]`, or a subscript that is not a valid number.
    Key(String),
    /// `[3]`.
    Index(i64),
}

#[derive(Debug, Clone)]
pub(crate) struct Accessor {
    pub(crate) step: Step,
    pub(crate) range: Option<Range>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    pub(crate) accessors: Vec<Accessor>,
}

/// A piece of an interpolated string: literal text, then the access it is followed by.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) text: String,
    pub(crate) access: Option<Access>,
}

/// Splits a string into literal text and property accesses.
pub(crate) fn parse(node: &Node, value: &str, diags: &mut Vec<Diagnostic>) -> Vec<Part> {
    let bytes = value.as_bytes();
    let mut parts = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"$$") {
            text.push(b'$');
            i += 2;
        } else if bytes[i..].starts_with(b"${") {
            let mut p = Scanner {
                node,
                bytes,
                at: i + 2,
                accessors: Vec::new(),
                diags,
            };
            let access = p.parse();
            i = p.at;
            parts.push(Part {
                text: lossy(&text),
                access: Some(access),
            });
            text.clear();
        } else {
            text.push(bytes[i]);
            i += 1;
        }
    }
    if !text.is_empty() {
        parts.push(Part {
            text: lossy(&text),
            access: None,
        });
    }
    parts
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x85 | 0xa0)
}

fn terminates_name(c: u8) -> bool {
    c == b'.' || c == b'[' || c == b'}' || is_space(c)
}

struct Scanner<'a> {
    node: &'a Node,
    bytes: &'a [u8],
    at: usize,
    accessors: Vec<Accessor>,
    diags: &'a mut Vec<Diagnostic>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn range_from(&self, start: usize) -> Option<Range> {
        self.node.sub_range(start, self.at)
    }

    fn error(&mut self, start: usize, summary: &str) {
        let range = self
            .range_from(start)
            .or_else(|| Some(self.node.range.clone()));
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            summary: summary.to_owned(),
            path: self.node.path.clone(),
            range,
        });
    }

    fn parse(&mut self) -> Access {
        loop {
            match self.peek() {
                None => {
                    self.error(self.at, "missing closing brace '}' in interpolation");
                    return self.finish(self.at);
                }
                Some(b'}') => {
                    let start = self.at;
                    self.at += 1;
                    return self.finish(start);
                }
                Some(b'.') => {
                    let start = self.at;
                    self.at += 1;
                    let a = self.name(start);
                    self.accessors.push(a);
                }
                Some(b'[') => {
                    let start = self.at;
                    self.at += 1;
                    let a = self.subscript(start);
                    self.accessors.push(a);
                }
                Some(c) if is_space(c) => {
                    self.error(self.at, "missing closing brace '}' in interpolation");
                    return self.finish(self.at);
                }
                Some(_) => {
                    let a = self.name(self.at);
                    self.accessors.push(a);
                }
            }
        }
    }

    fn finish(&mut self, start: usize) -> Access {
        if self.accessors.is_empty() {
            let range = self.range_from(start);
            self.accessors.push(Accessor {
                step: Step::Name(String::new()),
                range,
            });
        }
        Access {
            accessors: std::mem::take(&mut self.accessors),
        }
    }

    fn name(&mut self, start: usize) -> Accessor {
        let from = self.at;
        while let Some(c) = self.peek() {
            if terminates_name(c) {
                break;
            }
            self.at += 1;
        }
        if from == self.at {
            self.error(start, "property name must not be empty");
        }
        let name = lossy(&self.bytes[from..self.at]);
        Accessor {
            step: Step::Name(name),
            range: self.range_from(start),
        }
    }

    fn subscript(&mut self, start: usize) -> Accessor {
        let Some(c) = self.peek() else {
            self.error(start, "subscript is missing closing bracket ']'");
            return Accessor {
                step: Step::Key(String::new()),
                range: self.range_from(start),
            };
        };
        let step = if c == b'"' {
            self.at += 1;
            Step::Key(self.string_subscript(start))
        } else {
            self.index_subscript(start)
        };
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            self.error(start, "subscript is missing closing bracket ']'");
        }
        Accessor {
            step,
            range: self.range_from(start),
        }
    }

    fn string_subscript(&mut self, start: usize) -> String {
        let mut key = Vec::new();
        loop {
            let Some(mut c) = self.peek() else {
                self.error(start + 1, "key subscript is missing closing quote '\"'");
                return lossy(&key);
            };
            self.at += 1;
            if c == b'"' {
                if key.is_empty() {
                    self.error(start + 1, "key subscript must not be empty");
                }
                return lossy(&key);
            }
            if c == b'\\' && self.peek() == Some(b'"') {
                self.at += 1;
                c = b'"';
            }
            key.push(c);
        }
    }

    fn index_subscript(&mut self, start: usize) -> Step {
        let from = self.at;
        while let Some(c) = self.peek() {
            if c == b']' || terminates_name(c) {
                break;
            }
            self.at += 1;
        }
        let text = lossy(&self.bytes[from..self.at]);
        match parse_go_int(&text) {
            Some(n) => {
                if self.accessors.is_empty() {
                    self.error(
                        start,
                        "the first accessor must be a property name or key subscript, not a \
                         numeric subscript",
                    );
                }
                Step::Index(n)
            }
            None => {
                self.error(
                    start + 1,
                    "numeric subscript must be a positive base-10 integer",
                );
                Step::Key(text)
            }
        }
    }
}

/// Parses a decimal integer with an optional sign and `_` digit separators.
fn parse_go_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for a in &self.accessors {
            match &a.step {
                Step::Name(n) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(n)?;
                }
                Step::Key(k) => write!(f, "[\"{}\"]", k.replace('"', "\\\""))?,
                Step::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}
