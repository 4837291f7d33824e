//! The evaluator's inputs on a laptop: imports come from the store, there are no `fn::open`
//! providers and no key to decrypt ciphertext, and the execution context names a local user.

use std::collections::BTreeMap;

use esc_eval::{Data, Decrypter, Environments, Evaluation, Options, Provider, Providers, Value};

use crate::names;
use crate::store::Store;

/// Static evaluation (`yaml/check`) or a real one (`open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Check,
    Open,
}

/// Evaluates `content` as the environment `name` (`project/env`) of organization `org`.
pub(crate) fn run(
    store: &Store,
    user: &str,
    org: &str,
    name: &str,
    content: &[u8],
    mode: Mode,
) -> Evaluation {
    let context = context(user, org);
    let options = Options {
        environments: &Imports(store),
        providers: &NoProviders,
        decrypter: &NoKey,
        context: &context,
        show_secrets: true,
    };
    let evaluation = match mode {
        Mode::Check => esc_eval::check(name, content, &options),
        Mode::Open => esc_eval::evaluate(name, content, &options),
    };
    literal::fallback(name, content, evaluation)
}

/// `context.pulumi`: the configured user (login and id) and the organization of the request.
pub(crate) fn context(user: &str, org: &str) -> BTreeMap<String, Value> {
    let login = |name: &str| object([("login", string(name))]);
    let user = object([("login", string(user)), ("id", string(user))]);
    BTreeMap::from([(
        "pulumi".to_owned(),
        object([("user", user), ("organization", login(org))]),
    )])
}

fn string(s: &str) -> Value {
    plain(Data::String(s.to_owned()))
}

fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    plain(Data::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    ))
}

fn plain(data: Data) -> Value {
    Value {
        data,
        secret: false,
        unknown: false,
        trace: esc_eval::Trace::default(),
    }
}

/// Imports: `project/env` is `<folder>/project/env.yaml`, a bare `env` is in project
/// `default`, and `@n` / `@latest` pins a revision.
struct Imports<'a>(&'a Store);

impl Environments for Imports<'_> {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        let import = names::parse_import(name)?;
        let revision = match import.version {
            Some(version) => self.0.version(import.project, import.env, version),
            None => self.0.current(import.project, import.env),
        };
        revision
            .map(|r| r.content.to_vec())
            .map_err(|e| e.to_string())
    }
}

struct NoProviders;

impl Providers for NoProviders {
    fn provider(&self, _name: &str) -> Option<&dyn Provider> {
        Some(&Unavailable)
    }
}

struct Unavailable;

impl Provider for Unavailable {
    fn open(&self, _inputs: &Value) -> Result<Value, String> {
        Err(
            "fn::open providers are not available on a local esc-server; put the values in \
             the definition instead"
                .to_owned(),
        )
    }
}

struct NoKey;

impl Decrypter for NoKey {
    fn decrypt(&self, _ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        Err(
            "a local esc-server cannot decrypt ciphertext; write the secret in plaintext \
             as `fn::secret: <value>`"
                .to_owned(),
        )
    }
}

mod literal {
    //! Stopgap while `esc_eval` is a placeholder: a definition with no imports, references or
    //! functions evaluates to its `values` as written. Removed once the evaluator lands.

    use esc_eval::{Data, Evaluation, Pos, Range, Trace, Value};

    const PLACEHOLDER: &str = "evaluator not implemented yet";

    pub(super) fn fallback(name: &str, content: &[u8], evaluation: Evaluation) -> Evaluation {
        let placeholder = evaluation.properties.is_none()
            && evaluation.diagnostics.len() == 1
            && evaluation.diagnostics[0].summary == PLACEHOLDER;
        if !placeholder {
            return evaluation;
        }
        let Ok(doc) = serde_norway::from_slice::<serde_json::Value>(content) else {
            return evaluation;
        };
        let Some(doc) = doc.as_object() else {
            return evaluation;
        };
        if doc.get("imports").is_some_and(|i| !i.is_null()) {
            return evaluation;
        }
        let values = doc.get("values").cloned().unwrap_or_default();
        match convert(name, values) {
            Some(Value {
                data: Data::Object(properties),
                ..
            }) => Evaluation {
                properties: Some(properties),
                diagnostics: Vec::new(),
            },
            Some(Value {
                data: Data::Null, ..
            }) => Evaluation {
                properties: Some(Default::default()),
                diagnostics: Vec::new(),
            },
            _ => evaluation,
        }
    }

    /// `None` when the value uses the language (`${...}`, `fn::`).
    fn convert(name: &str, json: serde_json::Value) -> Option<Value> {
        let data = match json {
            serde_json::Value::Null => Data::Null,
            serde_json::Value::Bool(b) => Data::Bool(b),
            serde_json::Value::Number(n) => Data::Number(n),
            serde_json::Value::String(s) if s.contains("${") => return None,
            serde_json::Value::String(s) => Data::String(s),
            serde_json::Value::Array(items) => Data::Array(
                items
                    .into_iter()
                    .map(|v| convert(name, v))
                    .collect::<Option<_>>()?,
            ),
            serde_json::Value::Object(members) => Data::Object(
                members
                    .into_iter()
                    .map(|(k, v)| {
                        if k.starts_with("fn::") {
                            return None;
                        }
                        Some((k, convert(name, v)?))
                    })
                    .collect::<Option<_>>()?,
            ),
        };
        let at = Pos {
            line: 1,
            column: 1,
            byte: 0,
        };
        let def = Range {
            environment: name.to_owned(),
            begin: at,
            end: at,
        };
        Some(Value {
            data,
            secret: false,
            unknown: false,
            trace: Trace {
                def: Some(def),
                base: None,
            },
        })
    }
}
