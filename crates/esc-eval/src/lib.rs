//! The Pulumi ESC environment language, evaluated locally.
//!
//! Environment definitions are YAML documents with `imports`, `values`, `${...}` references
//! and `fn::` builtins. This crate loads, checks and evaluates them with the semantics of the
//! reference evaluator (pulumi/esc), so that a local server can stand in for Pulumi Cloud.
//! It performs no I/O itself: imported environments, `fn::open` providers and ciphertext
//! decryption are supplied by the caller through [`Options`].

mod ast;
mod budget;
mod crypt;
mod eval;
mod exprs;
mod gobase64;
mod interp;
mod resolve;
mod schema;
mod syntax;
mod toyaml;

pub use budget::Limits;
pub use crypt::{EnvelopeError, decode_envelope, encode_envelope};
/// The ESC value type, shared with the ESC client (see the `esc-value` crate).
pub use esc_value::{Data, Number, Pos, Range, Trace, Value, Wire, serialize_wire_map};
pub use exprs::Exprs;

use std::collections::BTreeMap;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found while loading, checking or evaluating an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// One-line description, e.g. `unknown property "missing"`.
    pub summary: String,
    /// Where in the definition, as a property path such as `values.a["fn::join"][1]`; empty
    /// when the problem concerns the whole document.
    pub path: String,
    /// Source range, when known.
    pub range: Option<Range>,
}

/// Supplies the definitions of imported environments (`imports:` entries and
/// `environments.<project>.<env>` references) by name: `project/env`, or a bare `env`.
pub trait Environments {
    /// The YAML definition of `name`, or a message saying why it cannot be loaded.
    fn load(&self, name: &str) -> Result<Vec<u8>, String>;
}

/// A `fn::open::<name>` provider.
pub trait Provider {
    /// Opens the provider with evaluated `inputs`; the error text becomes the diagnostic.
    fn open(&self, inputs: &Value) -> Result<Value, String>;

    /// JSON schemas of the inputs and of the output (`None`: anything). Inputs are checked
    /// against the first; in a check, the output's unknown value has the second.
    fn schema(&self) -> (Option<serde_json::Value>, Option<serde_json::Value>) {
        (None, None)
    }
}

/// A `fn::rotate::<name>` rotator: a provider whose output depends on a rotatable `state`.
pub trait Rotator {
    /// JSON schemas of the inputs, the state and the output (`None`: anything).
    fn schema(
        &self,
    ) -> (
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
    ) {
        (None, None, None)
    }

    /// Opens with the current state.
    fn open(&self, inputs: &Value, state: &Value) -> Result<Value, String>;

    /// Computes a new state.
    fn rotate(&self, inputs: &Value, state: &Value) -> Result<Value, String>;
}

/// Looks up `fn::open` providers (and `fn::rotate` rotators) by name.
pub trait Providers {
    fn provider(&self, name: &str) -> Option<&dyn Provider>;

    /// The rotator `name`; none by default.
    fn rotator(&self, name: &str) -> Option<&dyn Rotator> {
        let _ = name;
        None
    }
}

/// Decrypts the ciphertext form of `fn::secret`.
pub trait Decrypter {
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String>;
}

/// What evaluation may call out to, and how.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    pub environments: &'a dyn Environments,
    pub providers: &'a dyn Providers,
    pub decrypter: &'a dyn Decrypter,
    /// Execution context exposed as `context.*` (besides the evaluator's own
    /// `currentEnvironment` and `rootEnvironment`), e.g. `{"pulumi": {"user": {"id": ...}}}`.
    pub context: &'a BTreeMap<String, Value>,
    /// Reveal secrets in the result (`secret` stays set on the values either way).
    pub show_secrets: bool,
    /// What the evaluation may spend; past a budget it stops with a diagnostic naming it.
    pub limits: Limits,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("show_secrets", &self.show_secrets)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The outcome of [`evaluate`] or [`check`].
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The environment's top-level properties; `None` when the definition could not be
    /// loaded at all (its diagnostics say why).
    pub properties: Option<BTreeMap<String, Value>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Evaluation {
    /// Whether any diagnostic is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// An environment definition, parsed once and evaluable many times.
#[derive(Debug, Clone)]
pub struct Definition {
    name: String,
    decl: Option<ast::Environment>,
}

/// Parses the definition of environment `name`; the diagnostics are the load diagnostics
/// (syntax errors and malformed expressions). YAML nesting is bounded by the depth budget of
/// the evaluation in progress on this thread, or by [`Limits::default`]'s.
#[must_use]
pub fn load(name: &str, source: &[u8]) -> (Definition, Vec<Diagnostic>) {
    let (decl, diags) = load_decl(name, source);
    (
        Definition {
            name: name.to_owned(),
            decl,
        },
        diags,
    )
}

pub(crate) fn load_decl(name: &str, source: &[u8]) -> (Option<ast::Environment>, Vec<Diagnostic>) {
    let text = String::from_utf8_lossy(source);
    let node = match syntax::parse(name, &text) {
        Ok(n) => n,
        Err(errors) => {
            let diags = errors
                .into_iter()
                .map(|e| Diagnostic {
                    severity: Severity::Error,
                    summary: e.summary,
                    path: e.path,
                    range: e.range,
                })
                .collect();
            return (None, diags);
        }
    };
    let mut diags = Vec::new();
    let decl = ast::parse_environment(&node, &mut diags);
    (Some(decl), diags)
}

impl Definition {
    /// Evaluates the definition, opening providers. The diagnostics exclude the load
    /// diagnostics [`load`] returned.
    #[must_use]
    pub fn evaluate(&self, options: &Options<'_>) -> Evaluation {
        self.run(options, false)
    }

    /// Checks the definition statically: `fn::open` results are unknown, secrets are
    /// decrypted only with `show_secrets`.
    #[must_use]
    pub fn check(&self, options: &Options<'_>) -> Evaluation {
        self.run(options, true)
    }

    fn run(&self, options: &Options<'_>, validating: bool) -> Evaluation {
        let Some(decl) = &self.decl else {
            return Evaluation {
                properties: None,
                diagnostics: Vec::new(),
            };
        };
        if decl.values.is_empty() && decl.imports.is_empty() {
            return Evaluation {
                properties: Some(BTreeMap::new()),
                diagnostics: Vec::new(),
            };
        }
        let _budget = budget::Scope::enter(options.limits);
        let mut run = eval::Run::new(options, validating);
        let v = run.evaluate_env(&self.name, "", true, decl);
        let exported = run.export(&v);
        let mut diagnostics = std::mem::take(&mut run.diags);
        if budget::is_exceeded() {
            if let Some(summary) = budget::report() {
                diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    summary,
                    path: String::new(),
                    range: None,
                });
            }
            return Evaluation {
                properties: None,
                diagnostics,
            };
        }
        let properties = match exported.data {
            Data::Object(o) => o,
            _ => BTreeMap::new(),
        };
        Evaluation {
            properties: Some(properties),
            diagnostics,
        }
    }
}

/// Evaluates the environment `name` defined by `source`, opening providers. The
/// diagnostics are the load diagnostics followed by the evaluation's.
#[must_use]
pub fn evaluate(name: &str, source: &[u8], options: &Options<'_>) -> Evaluation {
    let _budget = budget::Scope::enter(options.limits);
    let (def, mut diags) = load(name, source);
    let mut e = def.evaluate(options);
    diags.append(&mut e.diagnostics);
    e.diagnostics = diags;
    e
}

/// Checks the environment statically: `fn::open` results are unknown, nothing is opened.
#[must_use]
pub fn check(name: &str, source: &[u8], options: &Options<'_>) -> Evaluation {
    let _budget = budget::Scope::enter(options.limits);
    let (def, mut diags) = load(name, source);
    let mut e = def.check(options);
    diags.append(&mut e.diagnostics);
    e.diagnostics = diags;
    e
}
