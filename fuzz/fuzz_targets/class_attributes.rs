//! What the driver sends in a Mount: the `attributes` JSON, and inside it the class's
//! parameters, the `secrets` YAML above all: a class or a list of problems, never a panic.
//! (That no token reaches a message is the log capture tests' job: here the fuzzer could write
//! the token into the input itself.)
#![no_main]

use std::collections::BTreeMap;

use esc_csi_provider::class::{Class, Settings, parse_attributes};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.fuzz-sa-token.c2lnbmF0dXJl";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let attributes = if mode % 2 == 0 {
        // The whole attributes object as the driver would send it.
        match parse_attributes(text) {
            Ok(a) => a,
            Err(_) => return,
        }
    } else {
        // A well-formed request around a fuzzed `secrets` parameter.
        let tokens = serde_json::json!({"urn:pulumi:org:acme": {"token": TOKEN}}).to_string();
        BTreeMap::from([
            ("organization".to_owned(), "acme".to_owned()),
            ("project".to_owned(), "app".to_owned()),
            ("environment".to_owned(), "dev".to_owned()),
            ("secrets".to_owned(), text.to_owned()),
            (
                "csi.storage.k8s.io/pod.namespace".to_owned(),
                "default".to_owned(),
            ),
            ("csi.storage.k8s.io/pod.name".to_owned(), "web".to_owned()),
            ("csi.storage.k8s.io/pod.uid".to_owned(), "uid-1".to_owned()),
            (
                "csi.storage.k8s.io/serviceAccount.tokens".to_owned(),
                tokens,
            ),
        ])
    };
    match Class::from_attributes(&attributes, &Settings::default()) {
        Ok(class) => drop(format!("{class:?}")),
        Err(problems) => drop(problems.to_string()),
    }
});
