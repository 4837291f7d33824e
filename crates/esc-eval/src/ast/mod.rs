//! Syntax nodes to the environment's declarations and expressions, with the load diagnostics.
//!
//! A string is an interpolation (`a ${b.c} d`), a lone reference (`${b.c}`, which keeps the
//! referenced value's type) or a literal (`$$` escapes a dollar). A single-key object whose
//! key is a builtin's name (`fn::join`, `fn::open::<provider>`, ...) is a call. Malformed
//! calls are reported here and evaluate to unknown values.

mod call;

use crate::interp::{self, Access, Part};
use crate::syntax::{Kind, Node, join_key};
use crate::{Diagnostic, Range, Severity};
use call::parse_call;

/// Where an expression came from: what diagnostics report.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loc {
    pub(crate) range: Option<Range>,
    pub(crate) path: String,
}

impl Loc {
    pub(crate) fn of(node: &Node) -> Loc {
        Loc {
            range: Some(node.range.clone()),
            path: node.path.clone(),
        }
    }

    pub(crate) fn diag(&self, severity: Severity, summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            summary: summary.into(),
            path: self.path.clone(),
            range: self.range.clone(),
        }
    }

    pub(crate) fn error(&self, summary: impl Into<String>) -> Diagnostic {
        self.diag(Severity::Error, summary)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub(crate) loc: Loc,
    pub(crate) kind: ExprKind,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// `None` when the key is not a string literal (already reported).
    pub(crate) key: Option<(String, Loc)>,
    pub(crate) value: Expr,
}

#[derive(Debug, Clone)]
pub(crate) enum ExprKind {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Interpolate(Vec<Part>),
    Symbol(Access),
    Array(Vec<Expr>),
    Object(Vec<Entry>),
    Builtin(Box<Builtin>),
}

#[derive(Debug, Clone)]
pub(crate) struct Builtin {
    pub(crate) call: Call,
    /// `fn::...` as written, where its key is, and its argument as one expression: what the
    /// API's `exprs` show (`BuiltinExpr`).
    pub(crate) name: String,
    pub(crate) name_range: Option<crate::Range>,
    pub(crate) arg: Option<Expr>,
}

#[derive(Debug, Clone)]
pub(crate) enum Call {
    Open {
        provider: Option<String>,
        inputs: Option<Expr>,
    },
    Rotate {
        provider: Option<String>,
        inputs: Option<Expr>,
        state: Option<Expr>,
    },
    Plaintext(Expr),
    Ciphertext(String),
    Join {
        delimiter: Option<Expr>,
        values: Option<Expr>,
    },
    Split {
        delimiter: Option<Expr>,
        string: Option<Expr>,
    },
    Concat(Expr),
    ToJson(Expr),
    ToYaml(Expr),
    FromJson(Expr),
    ToString(Expr),
    ToBase64(Expr),
    FromBase64(Expr),
    Final(Expr),
    Validate {
        schema: Option<Expr>,
        value: Option<Expr>,
    },
}

impl Expr {
    pub(crate) fn string_literal(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::String(s) => Some(s),
            _ => None,
        }
    }
}

/// An `imports:` entry.
#[derive(Debug, Clone)]
pub(crate) struct Import {
    pub(crate) environment: String,
    pub(crate) loc: Loc,
    pub(crate) merge: bool,
}

/// A parsed environment definition.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    pub(crate) imports: Vec<Import>,
    pub(crate) values: Vec<(String, Loc, Expr)>,
}

pub(crate) fn parse_expr(node: &Node, diags: &mut Vec<Diagnostic>) -> Expr {
    let loc = Loc::of(node);
    let kind = match &node.kind {
        Kind::Null => ExprKind::Null,
        Kind::Bool(b) => ExprKind::Bool(*b),
        Kind::Number(n) => ExprKind::Number(n.clone()),
        Kind::String(s) => {
            let mut parts = interp::parse(node, s, diags);
            match parts.len() {
                0 => ExprKind::String(String::new()),
                1 if parts[0].access.is_none() => ExprKind::String(parts.remove(0).text),
                1 if parts[0].text.is_empty() => {
                    ExprKind::Symbol(parts.remove(0).access.unwrap_or_default())
                }
                _ => ExprKind::Interpolate(parts),
            }
        }
        Kind::Array(items) => ExprKind::Array(items.iter().map(|n| parse_expr(n, diags)).collect()),
        Kind::Object(entries) => {
            if let Some(kind) = parse_call(node, entries, diags) {
                kind
            } else {
                let entries = entries
                    .iter()
                    .map(|(k, v)| {
                        let kx = parse_expr(k, diags);
                        let key = match kx.kind {
                            ExprKind::String(s) => Some((s, kx.loc)),
                            _ => {
                                diags.push(Loc::of(k).error("object keys must be strings"));
                                None
                            }
                        };
                        Entry {
                            key,
                            value: parse_expr(v, diags),
                        }
                    })
                    .collect();
                ExprKind::Object(entries)
            }
        }
    };
    Expr { loc, kind }
}

fn key_text(node: &Node) -> &str {
    match &node.kind {
        Kind::String(s) => s,
        _ => "",
    }
}

const FIELDS: [&str; 3] = ["description", "imports", "values"];

/// Reads an environment definition from its syntax tree.
pub(crate) fn parse_environment(root: &Node, diags: &mut Vec<Diagnostic>) -> Environment {
    let mut env = Environment::default();
    let Kind::Object(entries) = &root.kind else {
        diags.push(Loc::of(root).error("environment must be an object"));
        return env;
    };
    let mut seen = std::collections::HashSet::new();
    for (key, value) in entries {
        let k = key_text(key);
        if !seen.insert(k) {
            diags.push(Loc::of(key).diag(Severity::Warning, format!("duplicate key {k:?}")));
        }
        match FIELDS.iter().find(|f| f.eq_ignore_ascii_case(k)) {
            Some(&"description") => {
                let x = parse_expr(value, diags);
                if x.string_literal().is_none() {
                    diags.push(x.loc.error("description must be a string"));
                }
            }
            Some(&"imports") => env.imports = parse_imports(value, diags),
            Some(_) => env.values = parse_values(value, diags),
            None => {
                let mut fields: Vec<String> = FIELDS.iter().map(|f| format!("'{f}'")).collect();
                let folded = fold(k);
                fields.sort_by_key(|f| distance(&folded, &fold(f)));
                diags.push(Loc::of(key).diag(
                    Severity::Warning,
                    format!(
                        "Field '{k}' does not exist on Object 'environment'. Existing fields \
                         are: {}",
                        fields.join(", ")
                    ),
                ));
            }
        }
    }
    env
}

fn parse_imports(node: &Node, diags: &mut Vec<Diagnostic>) -> Vec<Import> {
    let Kind::Array(items) = &node.kind else {
        diags.push(Loc::of(node).error("imports must be a list"));
        return Vec::new();
    };
    let mut imports = Vec::new();
    for item in items {
        match &item.kind {
            Kind::String(name) => {
                imports.push(Import {
                    environment: name.clone(),
                    loc: Loc::of(item),
                    merge: true,
                });
            }
            Kind::Object(entries) => {
                let [(key, meta)] = entries.as_slice() else {
                    diags.push(Loc::of(item).error("import must have a single key"));
                    continue;
                };
                let mut merge = true;
                match &meta.kind {
                    Kind::Object(fields) => {
                        for (k, v) in fields {
                            if key_text(k).eq_ignore_ascii_case("merge") {
                                let x = parse_expr(v, diags);
                                match x.kind {
                                    ExprKind::Bool(b) => merge = b,
                                    _ => diags.push(x.loc.error("merge must be a boolean value")),
                                }
                            }
                        }
                    }
                    _ => diags.push(Loc::of(meta).error("import must be an object")),
                }
                let environment = key_text(key).to_owned();
                imports.push(Import {
                    environment,
                    loc: Loc::of(key),
                    merge,
                });
            }
            _ => diags.push(Loc::of(item).error("import must be a string or an object")),
        }
    }
    imports
}

fn parse_values(node: &Node, diags: &mut Vec<Diagnostic>) -> Vec<(String, Loc, Expr)> {
    let Kind::Object(entries) = &node.kind else {
        diags.push(Loc::of(node).error("values must be an object"));
        return Vec::new();
    };
    entries
        .iter()
        .map(|(k, v)| {
            let key = key_text(k).to_owned();
            if key.starts_with("fn::") {
                diags.push(Loc::of(k).error(format!(
                    "builtin function call {key:?} not allowed at the top level"
                )));
            }
            (key, Loc::of(k), parse_expr(v, diags))
        })
        .collect()
}

/// Lower-cases and drops underscores, as "did you mean" matching does.
pub(crate) fn fold(s: &str) -> String {
    s.chars()
        .filter(|&c| c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The full edit distance over bytes, as the reference's `levenshtein` computes it when it
/// sorts by distance: linear in the longer string (a bound of the longer length is never
/// reached, so the band is the shorter string's rows).
fn distance(a: &str, b: &str) -> usize {
    let max = a.len().max(b.len());
    esc_path::edit_distance_within(a.as_bytes(), b.as_bytes(), max).unwrap_or(max)
}

/// The candidate closest to `x`, if within half its length in edits (the reference's
/// `spell.Nearest`: case and underscores ignored, bytes compared).
///
/// Unlike the reference, a name over [`esc_path::MAX_SUGGEST_CHARS`] characters gets no hint:
/// names come from definitions and references, and the reference's search costs the product of
/// the lengths. Within the bound, the search is the reference's, over the band of edits it can
/// accept (`esc_path::edit_distance_within`), each comparison charged to the steps budget
/// before it is made.
pub(crate) fn nearest<'a>(x: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    if x.len() > 4 * esc_path::MAX_SUGGEST_CHARS || x.chars().count() > esc_path::MAX_SUGGEST_CHARS
    {
        return None;
    }
    let x = fold(x);
    let mut best = None;
    let mut best_d = x.len().div_ceil(2);
    let mut sorted: Vec<&str> = candidates.collect();
    sorted.sort_unstable();
    for c in sorted {
        if best_d == 0 {
            break;
        }
        // Folding is linear in the candidate; the distance costs at most the band's cells.
        if !crate::budget::steps(1 + c.len() as u64 / 64) {
            break;
        }
        let folded = fold(c);
        let max = best_d - 1;
        let cells = esc_path::edit_distance_cells(x.len(), folded.len(), max);
        if !crate::budget::steps(cells / 64) {
            break;
        }
        if let Some(d) = esc_path::edit_distance_within(x.as_bytes(), folded.as_bytes(), max) {
            best_d = d;
            best = Some(c);
        }
    }
    best
}

/// Appends a key to a document path (re-exported for the evaluator).
pub(crate) fn join(root: &str, key: &str) -> String {
    join_key(root, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{self, Limits};

    #[test]
    fn a_near_name_gets_the_reference_s_hint() {
        let keys = ["password", "user_name", "host"];
        assert_eq!(nearest("pasword", keys.into_iter()), Some("password"));
        assert_eq!(nearest("UserName", keys.into_iter()), Some("user_name"));
        assert_eq!(nearest("zzzz", keys.into_iter()), None);
    }

    #[test]
    fn a_20k_character_name_against_a_1_mb_key_costs_almost_no_work() {
        let _scope = budget::Scope::enter(Limits {
            max_steps: 10,
            ..Limits::default()
        });
        let (name, key) = ("k".repeat(20_000), "k".repeat(1 << 20));
        let near = format!("{}j", "k".repeat(19_999));
        let keys = [key.as_str(), near.as_str(), "k"];
        assert_eq!(nearest(&name, keys.into_iter()), None);
        // Ten steps allowed: the search made no comparison at all.
        assert!(!budget::is_exceeded());
    }

    #[test]
    fn a_short_name_against_a_1_mb_key_is_charged_for_folding_it_only() {
        let _scope = budget::Scope::enter(Limits {
            max_steps: (1 << 20) / 64 + 10,
            ..Limits::default()
        });
        let key = "k".repeat(1 << 20);
        let keys = [key.as_str(), "passwd"];
        assert_eq!(nearest("password", keys.into_iter()), Some("passwd"));
        assert!(!budget::is_exceeded());
    }

    #[test]
    fn sorting_fields_by_distance_measures_the_whole_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance(&"x".repeat(20_000), "values"), 20_000);
    }
}
