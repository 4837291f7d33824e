//! The Pulumi ESC environment language, evaluated locally.
//!
//! Environment definitions are YAML documents with `imports`, `values`, `${...}` references
//! and `fn::` builtins. This crate loads, checks and evaluates them with the semantics of the
//! reference evaluator (pulumi/esc), so that a local server can stand in for Pulumi Cloud.
//! It performs no I/O itself: imported environments, `fn::open` providers and ciphertext
//! decryption are supplied by the caller through [`Options`].

mod value;

pub use value::{Data, Pos, Range, Trace, Value};

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
}

/// Looks up `fn::open` providers by name.
pub trait Providers {
    fn provider(&self, name: &str) -> Option<&dyn Provider>;
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
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options").field("show_secrets", &self.show_secrets).finish_non_exhaustive()
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
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Evaluates the environment `name` defined by `source`, opening providers.
pub fn evaluate(name: &str, source: &[u8], options: &Options<'_>) -> Evaluation {
    let _ = (name, source, options);
    unimplemented_yet()
}

/// Checks the environment statically: `fn::open` results are unknown, nothing is opened.
pub fn check(name: &str, source: &[u8], options: &Options<'_>) -> Evaluation {
    let _ = (name, source, options);
    unimplemented_yet()
}

// Placeholder while the evaluator is written (issue 3); replaced by the real implementation.
fn unimplemented_yet() -> Evaluation {
    Evaluation {
        properties: None,
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            summary: "evaluator not implemented yet".to_owned(),
            path: String::new(),
            range: None,
        }],
    }
}
