//! Builtin calls: a single-key object whose key is a builtin's name (`fn::join`,
//! `fn::open::<provider>`, ...), with the argument shapes each one requires.
//!
//! Shape errors (a missing provider, a state that is not an object literal, a second key
//! next to `fn::`) are load diagnostics, reported here once rather than on every evaluation.

use super::{Builtin, Call, Entry, Expr, ExprKind, Loc, key_text, parse_expr};
use crate::syntax::Node;
use crate::{Diagnostic, Severity};

pub(super) fn parse_call(
    node: &Node,
    entries: &[(Node, Node)],
    diags: &mut Vec<Diagnostic>,
) -> Option<ExprKind> {
    let mut kind = parse_call_of(node, entries, diags)?;
    if let ExprKind::Builtin(b) = &mut kind
        && let [(key, value)] = entries
    {
        // The argument again, as one expression (its diagnostics were reported above).
        b.name_range = Some(key.range.clone());
        b.arg = Some(parse_expr(value, &mut Vec::new()));
    }
    Some(kind)
}

fn parse_call_of(
    node: &Node,
    entries: &[(Node, Node)],
    diags: &mut Vec<Diagnostic>,
) -> Option<ExprKind> {
    let (name, value) = builtin_key(node, entries, diags)?;
    let args = parse_expr(value, diags);
    Some(builtin(name, call_of(name, args, diags)))
}

/// The builtins' names; `fn::open::<provider>` and `fn::rotate::<provider>` too.
const BUILTINS: &[&str] = &[
    "fn::concat",
    "fn::final",
    "fn::validate",
    "fn::fromJSON",
    "fn::fromBase64",
    "fn::join",
    "fn::open",
    "fn::rotate",
    "fn::secret",
    "fn::split",
    "fn::toBase64",
    "fn::toJSON",
    "fn::toYAML",
    "fn::toString",
];

/// The builtin's name and argument, when the object is a call: its only key names a builtin.
/// A `fn::` key beside others, or an unknown `fn::` name, is reported.
fn builtin_key<'a>(
    node: &Node,
    entries: &'a [(Node, Node)],
    diags: &mut Vec<Diagnostic>,
) -> Option<(&'a str, &'a Node)> {
    let [(key, value)] = entries else {
        for (k, _) in entries {
            let k = key_text(k);
            if k.starts_with("fn::") {
                diags.push(Loc::of(node).error(format!(
                    "illegal call to builtin function: {k:?} must be the only key within its \
                     containing object"
                )));
            }
        }
        return None;
    };
    let name = key_text(key);
    let known = BUILTINS.contains(&name)
        || name.starts_with("fn::open::")
        || name.starts_with("fn::rotate::");
    if known {
        return Some((name, value));
    }
    if name.to_lowercase().starts_with("fn::") {
        diags.push(Diagnostic {
            severity: Severity::Error,
            summary: "'fn::' is a reserved prefix".into(),
            path: node.path.clone(),
            range: Some(key.range.clone()),
        });
    }
    None
}

/// The call `name` makes with `args`, its shape checked.
fn call_of(name: &str, args: Expr, diags: &mut Vec<Diagnostic>) -> Call {
    match name {
        "fn::open" => open_call(&args, diags),
        "fn::rotate" => {
            let ExprKind::Object(entries) = &args.kind else {
                diags.push(args.loc.error(
                    "the argument to fn::rotate must be an object containing 'provider', \
                     'inputs' and 'state'",
                ));
                return NO_ROTATE;
            };
            let provider = provider_name(&args, entries, diags);
            rotate_call(&args, entries, provider, diags)
        }
        "fn::secret" => secret_call(args, diags),
        "fn::join" | "fn::split" => join_or_split_call(name, args, diags),
        "fn::concat" => {
            if !matches!(args.kind, ExprKind::Array(_)) {
                diags.push(
                    args.loc
                        .error("the argument to fn::concat must be an array of arrays"),
                );
            }
            Call::Concat(args)
        }
        "fn::toJSON" => Call::ToJson(args),
        "fn::toYAML" => Call::ToYaml(args),
        "fn::fromJSON" => Call::FromJson(args),
        "fn::toString" => Call::ToString(args),
        "fn::toBase64" => Call::ToBase64(args),
        "fn::fromBase64" => Call::FromBase64(args),
        "fn::final" => Call::Final(args),
        "fn::validate" => validate_call(&args, diags),
        _ => match name.strip_prefix("fn::open::") {
            Some(provider) => Call::Open {
                provider: Some(provider.to_owned()),
                inputs: Some(args),
            },
            None => named_rotate_call(name, &args, diags),
        },
    }
}

/// A rotation whose argument has no usable shape.
const NO_ROTATE: Call = Call::Rotate {
    provider: None,
    inputs: None,
    state: None,
};

/// `fn::open: {provider: p, inputs: {...}}`.
fn open_call(args: &Expr, diags: &mut Vec<Diagnostic>) -> Call {
    let ExprKind::Object(entries) = &args.kind else {
        diags.push(args.loc.error(
            "the argument to fn::open must be an object containing 'provider' and 'inputs'",
        ));
        return Call::Open {
            provider: None,
            inputs: None,
        };
    };
    let provider = provider_name(args, entries, diags);
    let inputs = field(entries, "inputs");
    if inputs.is_none() {
        diags.push(args.loc.error("missing provider inputs ('inputs')"));
    }
    Call::Open { provider, inputs }
}

/// `fn::rotate::<provider>: {inputs: {...}, state: {...}}`.
fn named_rotate_call(name: &str, args: &Expr, diags: &mut Vec<Diagnostic>) -> Call {
    let provider = name.strip_prefix("fn::rotate::").map(str::to_owned);
    let ExprKind::Object(entries) = &args.kind else {
        diags.push(
            args.loc.error(
                "the argument to fn::rotate must be an object containing 'inputs' and 'state'",
            ),
        );
        return NO_ROTATE;
    };
    rotate_call(args, entries, provider, diags)
}

/// `fn::secret: "text"` or `fn::secret: {ciphertext: "..."}`.
fn secret_call(args: Expr, diags: &mut Vec<Diagnostic>) -> Call {
    if let ExprKind::Object(entries) = &args.kind
        && let [
            Entry {
                key: Some((k, _)),
                value,
            },
        ] = entries.as_slice()
        && k == "ciphertext"
        && let Some(text) = value.string_literal()
    {
        Call::Ciphertext(text.to_owned())
    } else if args.string_literal().is_some() {
        Call::Plaintext(args)
    } else {
        diags.push(args.loc.error("secret values must be string literals"));
        Call::Plaintext(Expr {
            loc: args.loc,
            kind: ExprKind::String(String::new()),
        })
    }
}

/// `fn::join: [delimiter, values]` and `fn::split: [delimiter, string]`.
fn join_or_split_call(name: &str, args: Expr, diags: &mut Vec<Diagnostic>) -> Call {
    let pair = match args.kind {
        ExprKind::Array(mut items) if items.len() == 2 => {
            let second = items.pop();
            Some((items.pop(), second))
        }
        _ => None,
    };
    let (a, b) = pair.unwrap_or_else(|| {
        let what = &name[4..];
        diags.push(args.loc.error(format!(
            "the argument to fn::{what} must be a two-valued list"
        )));
        (None, None)
    });
    if name == "fn::join" {
        Call::Join {
            delimiter: a,
            values: b,
        }
    } else {
        Call::Split {
            delimiter: a,
            string: b,
        }
    }
}

/// `fn::validate: {schema: {...}, value: ...}`.
fn validate_call(args: &Expr, diags: &mut Vec<Diagnostic>) -> Call {
    let ExprKind::Object(entries) = &args.kind else {
        diags.push(args.loc.error(
            "the argument to fn::validate must be an object containing 'schema' and 'value'",
        ));
        return Call::Validate {
            schema: None,
            value: None,
        };
    };
    let schema = field(entries, "schema");
    let value = field(entries, "value");
    if schema.is_none() {
        diags.push(args.loc.error("missing required property 'schema'"));
    }
    if value.is_none() {
        diags.push(args.loc.error("missing required property 'value'"));
    }
    Call::Validate { schema, value }
}

fn builtin(name: &str, call: Call) -> ExprKind {
    ExprKind::Builtin(Box::new(Builtin {
        call,
        name: name.to_owned(),
        name_range: None,
        arg: None,
    }))
}

fn field(entries: &[Entry], name: &str) -> Option<Expr> {
    entries
        .iter()
        .rfind(|e| e.key.as_ref().is_some_and(|(k, _)| k == name))
        .map(|e| e.value.clone())
}

fn provider_name(args: &Expr, entries: &[Entry], diags: &mut Vec<Diagnostic>) -> Option<String> {
    match field(entries, "provider") {
        None => {
            diags.push(args.loc.error("missing provider name ('provider')"));
            None
        }
        Some(p) => match p.string_literal() {
            Some(s) => Some(s.to_owned()),
            None => {
                diags.push(p.loc.error("provider name must be a string literal"));
                None
            }
        },
    }
}

fn rotate_call(
    args: &Expr,
    entries: &[Entry],
    provider: Option<String>,
    diags: &mut Vec<Diagnostic>,
) -> Call {
    let inputs = field(entries, "inputs");
    if inputs.is_none() {
        diags.push(args.loc.error("missing provider inputs ('inputs')"));
    }
    let state = field(entries, "state");
    if let Some(s) = &state
        && !matches!(s.kind, ExprKind::Object(_))
    {
        diags.push(s.loc.error("rotation state must be an object literal"));
    }
    let state = state.or_else(|| {
        Some(Expr {
            loc: Loc::default(),
            kind: ExprKind::Null,
        })
    });
    Call::Rotate {
        provider,
        inputs,
        state,
    }
}
