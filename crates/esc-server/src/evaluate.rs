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
        limits: esc_eval::Limits::default(),
    };
    match mode {
        Mode::Check => esc_eval::check(name, content, &options),
        Mode::Open => esc_eval::evaluate(name, content, &options),
    }
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
    Value::new(Data::String(s.to_owned()))
}

fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::new(Data::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    ))
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
