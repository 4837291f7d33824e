//! The ESC language: loading, checking and evaluating any definition, with two importable
//! environments (one importing itself) and an echoing `fn::open` provider: diagnostics, never a
//! panic or a hang.
#![no_main]

use std::collections::BTreeMap;

use esc_eval::{Decrypter, Environments, Options, Provider, Providers, Value};
use libfuzzer_sys::fuzz_target;

struct Fixed;

impl Environments for Fixed {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        match name {
            "shared/base" | "base" => Ok(b"values:\n  region: us-west-2\n  db:\n    password:\n      fn::secret: hunter2-planted\n    port: 5432\n".to_vec()),
            "shared/loop" => Ok(b"imports: [shared/loop]\nvalues:\n  x: 1\n".to_vec()),
            _ => Err(format!("no environment {name}")),
        }
    }
}

struct Echo;

impl Provider for Echo {
    fn open(&self, inputs: &Value) -> Result<Value, String> {
        Ok(inputs.clone())
    }
}

struct OnlyEcho;

impl Providers for OnlyEcho {
    fn provider(&self, name: &str) -> Option<&dyn Provider> {
        (name == "echo").then_some(&Echo as &dyn Provider)
    }
}

struct Refuse;

impl Decrypter for Refuse {
    fn decrypt(&self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("no key".into())
    }
}

fuzz_target!(|data: &[u8]| {
    let context = BTreeMap::new();
    let options = Options {
        environments: &Fixed,
        providers: &OnlyEcho,
        decrypter: &Refuse,
        context: &context,
        show_secrets: false,
        limits: esc_eval::Limits::default(),
    };
    let (definition, _) = esc_eval::load("fuzz/env", data);
    let _ = definition.check(&options);
    let evaluation = definition.evaluate(&options);
    if let Some(properties) = evaluation.properties {
        for value in properties.values() {
            let _ = value.to_json(true);
            let _ = format!("{value:?}");
        }
    }
});
