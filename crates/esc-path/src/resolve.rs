//! Resolution of a path against a value tree.
//!
//! Errors say exactly where the walk stopped and why, because the message ends up in a pod's
//! events and is the user's only clue. They carry paths and key names, never values.

use std::borrow::Cow;
use std::fmt;

use crate::suggest::Clipped;
use crate::{PropertyPath, Quoted, Segment, closest};

/// Characters of a path an error message prints at most.
const MAX_PLACE_CHARS: usize = 256;

/// The shape of a value, as errors describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
    /// A value the server could not compute (ESC's `unknown`).
    Unknown,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "an array",
            Kind::Object => "an object",
            Kind::Unknown => "unknown",
        })
    }
}

/// A value tree a path can walk.
pub trait Tree: Clone {
    fn kind(&self) -> Kind;
    /// The member `key` of an object; `None` when absent or when this is not an object.
    fn member(&self, key: &str) -> Option<&Self>;
    /// The keys of an object (for "did you mean" hints); empty for anything else.
    fn keys(&self) -> Vec<&str>;
    /// The elements of an array; `None` when this is not an array.
    fn elements(&self) -> Option<&[Self]>;
    /// Builds the array a wildcard yields.
    fn from_elements(elements: Vec<Self>) -> Self;
    /// Whether this value is flagged secret (its whole subtree then is).
    fn is_secret(&self) -> bool {
        false
    }
}

/// What a path resolved to.
#[derive(Debug, Clone)]
pub struct Resolved<'a, T: Tree> {
    /// Borrowed from the tree, or built when the path has a wildcard.
    pub value: Cow<'a, T>,
    /// A container on the way down was flagged secret, so all of `value` is secret.
    pub under_secret: bool,
}

/// Why a path does not resolve. `at` is the path of the value where the walk stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{} has no key {}{}", Place(at), Quoted(key), DidYouMean(suggestion))]
    MissingKey {
        at: PropertyPath,
        key: String,
        suggestion: Option<String>,
    },
    #[error("{} has {len} element{}, so index {index} is out of range", Place(at), plural(*len))]
    IndexOutOfRange {
        at: PropertyPath,
        index: i64,
        len: usize,
    },
    #[error("{} is {found}, so it has no key {}", Place(at), Quoted(key))]
    NotAnObject {
        at: PropertyPath,
        key: String,
        found: Kind,
    },
    #[error("{} is {found}, not an array, so it has no index {index}", Place(at))]
    NotAnArray {
        at: PropertyPath,
        index: i64,
        found: Kind,
    },
    #[error("{} is {found}, but [*] only applies to arrays", Place(at))]
    WildcardOnNonArray { at: PropertyPath, found: Kind },
    #[error("{} is unknown: ESC could not compute it", Place(at))]
    Unknown { at: PropertyPath },
}

impl ResolveError {
    /// The path of the value where resolution stopped.
    pub fn at(&self) -> &PropertyPath {
        match self {
            ResolveError::MissingKey { at, .. }
            | ResolveError::IndexOutOfRange { at, .. }
            | ResolveError::NotAnObject { at, .. }
            | ResolveError::NotAnArray { at, .. }
            | ResolveError::WildcardOnNonArray { at, .. }
            | ResolveError::Unknown { at } => at,
        }
    }
}

struct Place<'a>(&'a PropertyPath);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the top level")
        } else {
            write!(f, "`{}`", Clipped(&self.0.to_string(), MAX_PLACE_CHARS))
        }
    }
}

struct DidYouMean<'a>(&'a Option<String>);

impl fmt::Display for DidYouMean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " (did you mean {}?)", Quoted(s)),
            None => Ok(()),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl PropertyPath {
    /// Walks `root` along this path.
    pub fn resolve<'a, T: Tree>(&self, root: &'a T) -> Result<Resolved<'a, T>, ResolveError> {
        walk(root, &self.segments, &mut Vec::new(), false)
    }
}

/// Walks `segments` from `node`. `prefix` is the path from the root to `node`; it only grows at
/// a wildcard, and the path of the place where the walk stopped is built only for an error.
fn walk<'a, T: Tree>(
    mut node: &'a T,
    segments: &[Segment],
    prefix: &mut Vec<Segment>,
    mut under_secret: bool,
) -> Result<Resolved<'a, T>, ResolveError> {
    let here = |prefix: &Vec<Segment>, walked: &[Segment]| {
        let mut at = Vec::with_capacity(prefix.len() + walked.len());
        at.extend_from_slice(prefix);
        at.extend_from_slice(walked);
        PropertyPath::from(at)
    };
    for (i, segment) in segments.iter().enumerate() {
        let at = || here(prefix, &segments[..i]);
        if node.kind() == Kind::Unknown {
            return Err(ResolveError::Unknown { at: at() });
        }
        under_secret |= node.is_secret();
        match segment {
            Segment::Key(key) => {
                if node.kind() != Kind::Object {
                    return Err(ResolveError::NotAnObject {
                        at: at(),
                        key: key.clone(),
                        found: node.kind(),
                    });
                }
                let Some(next) = node.member(key) else {
                    return Err(ResolveError::MissingKey {
                        at: at(),
                        key: key.clone(),
                        suggestion: closest(key, node.keys()).map(str::to_owned),
                    });
                };
                node = next;
            }
            Segment::Index(index) => {
                let Some(elements) = node.elements() else {
                    return Err(ResolveError::NotAnArray {
                        at: at(),
                        index: *index,
                        found: node.kind(),
                    });
                };
                let Some(next) = usize::try_from(*index).ok().and_then(|i| elements.get(i)) else {
                    return Err(ResolveError::IndexOutOfRange {
                        at: at(),
                        index: *index,
                        len: elements.len(),
                    });
                };
                node = next;
            }
            Segment::Wildcard => {
                let Some(elements) = node.elements() else {
                    return Err(ResolveError::WildcardOnNonArray {
                        at: at(),
                        found: node.kind(),
                    });
                };
                let rest = &segments[i + 1..];
                let mut values = Vec::with_capacity(elements.len());
                let mut any_secret = under_secret;
                let depth = prefix.len();
                prefix.extend_from_slice(&segments[..i]);
                for (n, element) in elements.iter().enumerate() {
                    prefix.push(Segment::Index(n as i64));
                    let resolved = walk(element, rest, prefix, under_secret);
                    prefix.pop();
                    let resolved = resolved?;
                    any_secret |= resolved.under_secret;
                    values.push(resolved.value.into_owned());
                }
                prefix.truncate(depth);
                return Ok(Resolved {
                    value: Cow::Owned(T::from_elements(values)),
                    under_secret: any_secret,
                });
            }
        }
    }
    if node.kind() == Kind::Unknown {
        return Err(ResolveError::Unknown {
            at: here(prefix, segments),
        });
    }
    Ok(Resolved {
        value: Cow::Borrowed(node),
        under_secret,
    })
}
