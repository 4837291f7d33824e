//! The builtins that call out through [`Options`](crate::Options): `fn::open` (providers),
//! `fn::rotate` (rotators) and the ciphertext form of `fn::secret` (the decrypter).
//!
//! In a check nothing is opened and, unless secrets are shown, nothing is decrypted: the
//! results are unknown values typed by the provider's output schema.

use std::rc::Rc;

use super::marks::{contains_observable_unknowns, contains_unknowns};
use super::values::{export, unexport};
use super::{Env, Repr, Run, V, XId, unknown_val};
use crate::crypt;
use crate::schema::{self, Schema};

impl Run<'_> {
    pub(super) fn eval_ciphertext(&mut self, x: XId, text: &str) -> V {
        let v = self.with_schema(x, Repr::Null);
        v.borrow_mut().secret = true;
        let ciphertext = match crypt::decode_envelope(text) {
            Ok(c) => c,
            Err(e) => {
                self.error(x, format!("invalid ciphertext: {e}"));
                v.borrow_mut().unknown = true;
                return v;
            }
        };
        if !self.decrypt_secrets() {
            v.borrow_mut().unknown = true;
            return v;
        }
        match self.opts.decrypter.decrypt(&ciphertext) {
            Ok(p) => v.borrow_mut().repr = Repr::String(String::from_utf8_lossy(&p).into_owned()),
            Err(e) => {
                self.error(x, format!("decrypting: {e}"));
                v.borrow_mut().unknown = true;
            }
        }
        v
    }

    pub(super) fn compile_schema(
        &mut self,
        x: XId,
        json: Option<serde_json::Value>,
        what: &str,
    ) -> Option<Rc<Schema>> {
        let json = json?;
        match schema::from_json(&json) {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(x, format!("internal error: invalid {what}schema ({e})"));
                None
            }
        }
    }

    pub(super) fn eval_open(
        &mut self,
        env: &Env,
        x: XId,
        provider: Option<&str>,
        inputs: XId,
    ) -> V {
        let Some(name) = provider else {
            return unknown_val(x, schema::always());
        };
        let opts = self.opts;
        let provider = opts.providers.provider(name);
        let mut input_schema = schema::always();
        match provider {
            None => self.error(x, format!("unknown provider {name:?}")),
            Some(p) => {
                let (i, o) = p.schema();
                if let Some(s) = self.compile_schema(x, i, "input ") {
                    input_schema = s;
                }
                if let Some(s) = self.compile_schema(x, o, "") {
                    self.xs[x].schema = s;
                }
            }
        }
        let (inputs, ok) = self.eval_typed(env, inputs, &input_schema);
        let Some(p) = provider else {
            return self.unknown_result(x);
        };
        if !ok || contains_unknowns(&inputs) || self.validating {
            return self.unknown_result(x);
        }
        let exported = export(&self.xs, &inputs);
        self.external_result(x, p.open(&exported))
    }

    pub(super) fn eval_rotate(
        &mut self,
        env: &Env,
        x: XId,
        provider: Option<&str>,
        inputs: XId,
        state: XId,
    ) -> V {
        let Some(name) = provider else {
            return unknown_val(x, schema::always());
        };
        let opts = self.opts;
        let rotator = opts.providers.rotator(name);
        let mut input_schema = schema::always();
        let mut state_schema = schema::always();
        match rotator {
            None => self.error(x, format!("unknown rotator {name:?}")),
            Some(r) => {
                let (i, s, o) = r.schema();
                if let Some(s) = self.compile_schema(x, i, "input ") {
                    input_schema = s;
                }
                let s = s.unwrap_or(serde_json::Value::Bool(true));
                let s = serde_json::json!({"oneOf": [s, {"type": "null"}]});
                if let Some(s) = self.compile_schema(x, Some(s), "state ") {
                    state_schema = s;
                }
                if let Some(s) = self.compile_schema(x, o, "") {
                    self.xs[x].schema = s;
                }
            }
        }
        let (inputs, iok) = self.eval_typed(env, inputs, &input_schema);
        let (state, sok) = self.eval_typed(env, state, &state_schema);
        let Some(r) = rotator else {
            return self.unknown_result(x);
        };
        if !iok
            || contains_observable_unknowns(&inputs, false)
            || !sok
            || contains_unknowns(&state)
            || self.validating
        {
            return self.unknown_result(x);
        }
        let inputs = export(&self.xs, &inputs);
        let state = export(&self.xs, &state);
        self.external_result(x, r.open(&inputs, &state))
    }

    /// A provider's or rotator's answer: its output (all secret when it says so), or its
    /// error as a diagnostic and an unknown result.
    fn external_result(&mut self, x: XId, result: Result<crate::Value, String>) -> V {
        match result {
            Ok(output) => {
                let output = if output.secret {
                    output.into_secret()
                } else {
                    output
                };
                unexport(&output, x, self.xs[x].secret)
            }
            Err(e) => {
                self.error(x, e);
                self.unknown_result(x)
            }
        }
    }
}
