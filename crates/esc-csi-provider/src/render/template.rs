//! `template`: a file's content written in ESC's own interpolation syntax. `${path}` is replaced
//! by the value at `path` (resolved under the item's `secretPath`, with the same rules and
//! messages as `secretKey`), written as `plaintext` writes it: strings as they are, numbers and
//! booleans as JSON text, null as nothing, objects and arrays as compact JSON. As in ESC, `$$`
//! is a literal `$`, so `$${` writes `${`.
//!
//! Templates are parsed with the class, so a malformed one is a class problem found by
//! `esc-csi check`; their size and number of references are bounded ([`MAX_TEMPLATE_BYTES`],
//! [`MAX_TEMPLATE_REFERENCES`]).

use esc_api::Value;
use esc_path::PropertyPath;

use crate::render::bytes::render;
use crate::render::error::ItemProblemKind;
use crate::render::error::RenderError;
use crate::render::format::{Encoding, Format};

/// A `template`'s text: far above a config file, far below what would make every mount of the
/// class slow. (Its class's whole `secrets` text is bounded by `--max-secrets-bytes` too.)
pub const MAX_TEMPLATE_BYTES: usize = 64 << 10;

/// `${...}` references in one `template`: each is a path resolved on every mount.
pub const MAX_TEMPLATE_REFERENCES: usize = 500;

/// A parsed template. Its text comes from the class, not from ESC, so it may be printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Reference(PropertyPath),
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "template is {bytes} bytes, over the limit of {MAX_TEMPLATE_BYTES}; write the large \
         parts as values in the environment and reference them"
    )]
    TooLong { bytes: usize },
    #[error(
        "template has more than {MAX_TEMPLATE_REFERENCES} ${{...}} references; reference an \
         object and write it with format json or yaml instead"
    )]
    TooManyReferences,
    #[error(
        "template has \"${{\" at line {line}, column {column} with no closing \"}}\"; write \
         \"$${{\" for a literal \"${{\""
    )]
    Unclosed { line: usize, column: usize },
    #[error(
        "template reference at line {line}, column {column} is empty; write a property path \
         such as ${{app.db.host}}"
    )]
    Empty { line: usize, column: usize },
    #[error(
        "template reference ${{{text}}} at line {line}, column {column} does not parse: {error}"
    )]
    Path {
        text: String,
        line: usize,
        column: usize,
        error: esc_path::ParseError,
    },
}

impl Template {
    /// Parses `text`, bounded by [`MAX_TEMPLATE_BYTES`] and [`MAX_TEMPLATE_REFERENCES`].
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLong { bytes: text.len() });
        }
        let bytes = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut references = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"$$") {
                literal.push('$');
                i += 2;
            } else if bytes[i..].starts_with(b"${") {
                let (line, column) = position(text, i);
                let end =
                    closing_brace(bytes, i + 2).ok_or(TemplateError::Unclosed { line, column })?;
                let inner = &text[i + 2..end];
                if inner.trim().is_empty() {
                    return Err(TemplateError::Empty { line, column });
                }
                let path = PropertyPath::parse(inner).map_err(|error| TemplateError::Path {
                    text: inner.to_owned(),
                    line,
                    column,
                    error,
                })?;
                references += 1;
                if references > MAX_TEMPLATE_REFERENCES {
                    return Err(TemplateError::TooManyReferences);
                }
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Reference(path));
                i = end + 1;
            } else {
                // Copy up to the next `$` at once; `$` is ASCII, so this stays on a char boundary.
                let next = bytes[i + 1..]
                    .iter()
                    .position(|b| *b == b'$')
                    .map_or(bytes.len(), |n| i + 1 + n);
                literal.push_str(&text[i..next]);
                i = next;
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template {
            parts,
            bytes: text.len(),
        })
    }

    /// The paths referenced, in order.
    pub fn references(&self) -> impl Iterator<Item = &PropertyPath> {
        self.parts.iter().filter_map(|part| match part {
            Part::Reference(path) => Some(path),
            Part::Text(_) => None,
        })
    }

    /// Bytes this template holds, for the parse memo.
    pub fn estimate(&self) -> usize {
        2 * self.bytes
    }

    /// Writes the template over `root`, each reference resolved under `prefix`, in at most
    /// `limit` bytes. Returns the content and whether any value it used is secret; on failure,
    /// the path that failed and why.
    pub fn render(
        &self,
        root: &Value,
        prefix: &PropertyPath,
        limit: usize,
    ) -> Result<(Vec<u8>, bool), (PropertyPath, ItemProblemKind)> {
        let mut out = Vec::new();
        let mut secret = false;
        let too_large = |path: &PropertyPath| {
            (
                path.clone(),
                ItemProblemKind::Render(RenderError::TooLarge { limit }),
            )
        };
        for part in &self.parts {
            match part {
                Part::Text(text) => {
                    if out.len() + text.len() > limit {
                        return Err(too_large(prefix));
                    }
                    out.extend_from_slice(text.as_bytes());
                }
                Part::Reference(path) => {
                    let path = prefix.join(path);
                    let resolved = path
                        .resolve(root)
                        .map_err(|e| (path.clone(), ItemProblemKind::Resolve(e)))?;
                    let value = resolved.value.as_ref();
                    secret |= resolved.under_secret || value.contains_secret();
                    let left = limit - out.len();
                    let text = render(value, Format::Plaintext, Encoding::Utf8, left)
                        .map_err(|e| (path.clone(), ItemProblemKind::Render(e)))?;
                    out.extend_from_slice(&text);
                }
            }
        }
        Ok((out, secret))
    }
}

/// The `}` that closes a reference whose path starts at `start`: a `}` inside a quoted key
/// (`${app["a}b"]}`) does not.
fn closing_brace(bytes: &[u8], start: usize) -> Option<usize> {
    let mut j = start;
    while j < bytes.len() {
        match bytes[j] {
            b'}' => return Some(j),
            b'[' if bytes.get(j + 1) == Some(&b'"') => {
                j += 2;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' && bytes.get(j + 1) == Some(&b'"') {
                        2
                    } else {
                        1
                    };
                }
                j += 1;
            }
            _ => j += 1,
        }
    }
    None
}

/// 1-based line and column (in characters) of byte `at`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(template: &str, root: serde_json::Value) -> String {
        let root = Value::from_json(root);
        let (bytes, _) = Template::parse(template)
            .unwrap()
            .render(&root, &PropertyPath::root(), usize::MAX)
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn references_are_replaced_by_their_values_written_as_plaintext() {
        assert_eq!(
            write(
                "postgres://${db.user}@${db.host}:${db.port}/app?ssl=${db.ssl}&x=${db.none}&l=${db.list}",
                json!({"db": {"user": "app", "host": "h", "port": 5432, "ssl": true, "none": null, "list": [1, "a"]}})
            ),
            "postgres://app@h:5432/app?ssl=true&x=&l=[1,\"a\"]"
        );
    }

    #[test]
    fn a_doubled_dollar_is_a_literal_dollar_as_in_esc() {
        assert_eq!(
            write("$${app} costs $$5 or $5 ${app}", json!({"app": "x"})),
            "${app} costs $5 or $5 x"
        );
    }

    #[test]
    fn a_quoted_key_may_hold_a_closing_brace_and_other_path_forms_work() {
        assert_eq!(
            write(
                r#"${a["b}c"]} ${list[1]} ${["k.y"]}"#,
                json!({"a": {"b}c": 1}, "list": [0, 2], "k.y": 3})
            ),
            "1 2 3"
        );
    }

    #[test]
    fn references_resolve_under_the_prefix_and_report_secrecy() {
        let mut root = Value::from_json(json!({"app": {"user": "u", "password": "p"}}));
        if let esc_api::Data::Object(m) = &mut root.data
            && let esc_api::Data::Object(app) = &mut m.get_mut("app").unwrap().data
        {
            app.get_mut("password").unwrap().secret = true;
        }
        let prefix = PropertyPath::parse("app").unwrap();
        let only_user = Template::parse("${user}").unwrap();
        assert_eq!(
            only_user.render(&root, &prefix, 100).unwrap(),
            (b"u".to_vec(), false)
        );
        let both = Template::parse("${user}:${password}").unwrap();
        assert_eq!(
            both.render(&root, &prefix, 100).unwrap(),
            (b"u:p".to_vec(), true)
        );
    }

    #[test]
    fn a_missing_path_fails_with_the_same_message_as_secret_key() {
        let root = Value::from_json(json!({"db": {"host": "h"}}));
        let (path, kind) = Template::parse("x ${db.hots}")
            .unwrap()
            .render(&root, &PropertyPath::root(), 100)
            .unwrap_err();
        assert_eq!(path.to_string(), "db.hots");
        let ItemProblemKind::Resolve(e) = kind else {
            panic!("{kind:?}")
        };
        assert_eq!(
            e.to_string(),
            "`db` has no key \"hots\" (did you mean \"host\"?)"
        );
    }

    #[test]
    fn malformed_templates_are_refused_with_their_position() {
        let err = |t: &str| Template::parse(t).unwrap_err().to_string();
        assert_eq!(
            err("a\nb ${db.host"),
            "template has \"${\" at line 2, column 3 with no closing \"}\"; write \"$${\" for a \
             literal \"${\""
        );
        assert_eq!(
            err("${ }"),
            "template reference at line 1, column 1 is empty; write a property path such as \
             ${app.db.host}"
        );
        assert!(
            err("${a.}")
                .starts_with("template reference ${a.} at line 1, column 1 does not parse: ")
        );
    }

    #[test]
    fn template_size_and_references_are_bounded() {
        let long = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        assert_eq!(
            Template::parse(&long),
            Err(TemplateError::TooLong {
                bytes: MAX_TEMPLATE_BYTES + 1
            })
        );
        let many = "${a}".repeat(MAX_TEMPLATE_REFERENCES + 1);
        assert_eq!(
            Template::parse(&many),
            Err(TemplateError::TooManyReferences)
        );
        assert!(Template::parse(&"${a}".repeat(MAX_TEMPLATE_REFERENCES)).is_ok());
    }

    #[test]
    fn rendering_stops_at_the_limit() {
        let root = Value::from_json(json!({"a": "x".repeat(100)}));
        let template = Template::parse("${a}${a}").unwrap();
        let (_, kind) = template
            .render(&root, &PropertyPath::root(), 150)
            .unwrap_err();
        assert!(matches!(
            kind,
            ItemProblemKind::Render(RenderError::TooLarge { .. })
        ));
    }
}
