//! Pulumi property paths, the language `secretKey` and `secretPath` are written in.
//!
//! The grammar follows pulumi/pulumi's `ParsePropertyPath` byte for byte, quirks included
//! (`a..b`, `a.[0]`, `root["a"]b`, signed indexes), so that every key a user copied from the
//! Pulumi docs or from the Go provider means the same thing here. Two additions: `[*]` is a
//! wildcard distinct from the literal key `["*"]`, and the empty path means the whole value.
//!
//! The crate does no I/O: it parses, prints and resolves against any [`Tree`].

mod parse;
mod resolve;
mod suggest;

use std::fmt;

pub use parse::ParseError;
pub use resolve::{Kind, ResolveError, Resolved, Tree};
pub use suggest::{
    Clipped, MAX_QUOTED_CHARS, MAX_SUGGEST_CANDIDATES, MAX_SUGGEST_CHARS, Quoted, closest,
    edit_distance_cells, edit_distance_within,
};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object key: `.name` or `["name"]`.
    Key(String),
    /// An array index, `[3]`. Negative indexes parse (as in Pulumi) but never resolve.
    Index(i64),
    /// `[*]`: the rest of the path applied to every element of an array.
    Wildcard,
}

/// A parsed property path. The empty path addresses the whole value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PropertyPath {
    segments: Vec<Segment>,
}

impl PropertyPath {
    /// The empty path (the whole value).
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses a path written in the Pulumi property path syntax.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        parse::parse(text).map(|segments| Self { segments })
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// This path followed by `rest`.
    pub fn join(&self, rest: &PropertyPath) -> PropertyPath {
        let mut segments = Vec::with_capacity(self.segments.len() + rest.segments.len());
        segments.extend_from_slice(&self.segments);
        segments.extend_from_slice(&rest.segments);
        PropertyPath { segments }
    }
}

impl From<Vec<Segment>> for PropertyPath {
    fn from(segments: Vec<Segment>) -> Self {
        Self { segments }
    }
}

impl std::str::FromStr for PropertyPath {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Prints the canonical form: bare names where they are plain identifiers, `["..."]` otherwise,
/// so that parsing the output gives the same path back.
impl fmt::Display for PropertyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_identifier(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) if !key.ends_with('\\') => write_quoted(f, key)?,
                // A key ending in a backslash cannot be quoted (`\"` would escape the closing
                // quote); such a key can only come from a bare name, so print it bare.
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Wildcard => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    f.write_str("[\"")?;
    for (i, part) in key.split('"').enumerate() {
        if i > 0 {
            f.write_str("\\\"")?;
        }
        f.write_str(part)?;
    }
    f.write_str("\"]")
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_owned())
    }

    #[test]
    fn printing_uses_bare_names_for_identifiers_and_quotes_the_rest() {
        let path = PropertyPath::from(vec![
            key("root"),
            key("key with a ."),
            Segment::Index(-2),
            Segment::Wildcard,
            key("*"),
            key("say \"hi\""),
            key("a-b"),
        ]);
        assert_eq!(
            path.to_string(),
            r#"root["key with a ."][-2][*]["*"]["say \"hi\""].a-b"#
        );
    }

    #[test]
    fn the_empty_path_prints_as_the_empty_string() {
        assert_eq!(PropertyPath::root().to_string(), "");
    }

    #[test]
    fn a_key_ending_in_a_backslash_prints_bare_and_parses_back() {
        let path = PropertyPath::from(vec![key("a"), key("dir\\")]);
        assert_eq!(path.to_string(), "a.dir\\");
        assert_eq!(PropertyPath::parse(&path.to_string()).unwrap(), path);
    }

    #[test]
    fn join_appends_the_second_path() {
        let a = PropertyPath::parse("app").unwrap();
        let b = PropertyPath::parse("db[0].host").unwrap();
        assert_eq!(a.join(&b).to_string(), "app.db[0].host");
        assert_eq!(PropertyPath::root().join(&b), b);
    }
}
