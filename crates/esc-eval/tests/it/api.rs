//! Behaviour the conformance corpus does not pin down: what a `Value` prints, its wire shape,
//! and how secrets travel through expressions.

use std::collections::BTreeMap;

use esc_eval::{
    Data, Decrypter, Environments, Evaluation, Options, Provider, Providers, Value, encode_envelope,
};
use esc_path::{PropertyPath, Tree};

struct NoEnvironments;

impl Environments for NoEnvironments {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        Err(format!("no environment {name}"))
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

struct Rot128;

impl Decrypter for Rot128 {
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        Ok(ciphertext.iter().map(|b| b.wrapping_add(128)).collect())
    }
}

fn run(source: &str, check: bool, show_secrets: bool) -> Evaluation {
    let context = BTreeMap::new();
    let options = Options {
        environments: &NoEnvironments,
        providers: &OnlyEcho,
        decrypter: &Rot128,
        context: &context,
        show_secrets,
        limits: esc_eval::Limits::default(),
    };
    if check {
        esc_eval::check("test", source.as_bytes(), &options)
    } else {
        esc_eval::evaluate("test", source.as_bytes(), &options)
    }
}

fn props(e: &Evaluation) -> &BTreeMap<String, Value> {
    assert!(e.diagnostics.is_empty(), "{:?}", e.diagnostics);
    e.properties.as_ref().unwrap()
}

#[test]
fn debug_output_never_contains_secret_data() {
    let e = run(
        "values:\n  a: {fn::secret: hunter2}\n  b: {nested: [\"${a}\"]}\n",
        false,
        false,
    );
    let printed = format!("{e:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("secret string(7 bytes)"), "{printed}");
    let v = Value {
        secret: true,
        ..Value::new(Data::String("hunter2".into()))
    };
    assert_eq!(format!("{v:?}"), "secret string(7 bytes)");
}

#[test]
fn the_wire_form_carries_plaintext_marks_and_a_trace() {
    let e = run(
        "values:\n  a: {fn::secret: hunter2}\n  b: plain\n",
        false,
        false,
    );
    let p = props(&e);
    let wire = serde_json::to_value(p["a"].wire()).unwrap();
    assert_eq!(wire["value"], "hunter2");
    assert_eq!(wire["secret"], true);
    assert!(wire.get("unknown").is_none());
    assert_eq!(wire["trace"]["def"]["environment"], "test");
    assert_eq!(wire["trace"]["def"]["begin"]["line"], 2);

    let plain = serde_json::to_value(p["b"].wire()).unwrap();
    assert!(plain.get("secret").is_none());
    let bare = serde_json::to_value(Value::new(Data::Null).wire()).unwrap();
    assert_eq!(bare, serde_json::json!({"value": null, "trace": {}}));
}

#[test]
fn nested_wire_values_are_wire_values_too() {
    let e = run("values:\n  o: {k: [1, true]}\n", false, false);
    let wire = serde_json::to_value(props(&e)["o"].wire()).unwrap();
    assert_eq!(wire["value"]["k"]["value"][0]["value"], 1);
    assert_eq!(wire["value"]["k"]["value"][1]["value"], true);
}

#[test]
fn secrets_spread_through_interpolation_and_builtins() {
    let source = "values:
  pw: {fn::secret: hunter2}
  url: https://user:${pw}@host
  joined: {fn::join: [\",\", [a, \"${pw}\"]]}
  json: {fn::toJSON: {p: \"${pw}\"}}
  opened: {fn::open::echo: {p: \"${pw}\"}}
  clear: no secret here
";
    let e = run(source, false, false);
    let p = props(&e);
    for k in ["pw", "url", "joined", "json"] {
        assert!(p[k].secret, "{k} should be secret");
    }
    assert_eq!(p["url"].to_json(false), "https://user:hunter2@host");
    assert_eq!(p["url"].to_json(true), "[secret]");
    assert!(p["opened"].contains_secret());
    assert!(!p["clear"].secret);
}

#[test]
fn a_check_leaves_ciphertext_unknown_unless_secrets_are_shown() {
    let ciphertext = encode_envelope(&b"hunter2".map(|b| b.wrapping_sub(128)));
    let source = format!("values:\n  pw:\n    fn::secret:\n      ciphertext: {ciphertext}\n");
    let hidden = run(&source, true, false);
    assert!(props(&hidden)["pw"].unknown);
    let shown = run(&source, true, true);
    assert_eq!(props(&shown)["pw"].to_json(false), "hunter2");
    let evaluated = run(&source, false, false);
    assert_eq!(props(&evaluated)["pw"].to_json(false), "hunter2");
}

#[test]
fn a_check_does_not_open_providers() {
    let e = run("values:\n  o: {fn::open::echo: {x: 1}}\n", true, false);
    assert!(props(&e)["o"].unknown);
    assert_eq!(props(&e)["o"].to_json(false), "[unknown]");
}

#[test]
fn values_resolve_property_paths() {
    let e = run("values:\n  a: {b: [x, {c: deep}]}\n", false, false);
    let root = Value::new(Data::Object(props(&e).clone()));
    let path = PropertyPath::parse("a.b[1].c").unwrap();
    let found = path.resolve(&root).unwrap();
    assert_eq!(found.value.to_json(false), "deep");
    assert_eq!(root.member("a").unwrap().keys(), vec!["b"]);
}

#[test]
fn a_syntax_error_yields_no_properties() {
    let e = run("values: [unterminated\n", false, false);
    assert!(e.properties.is_none());
    assert!(e.has_errors());
}

#[test]
fn an_empty_definition_has_no_properties_and_no_errors() {
    let e = run("", false, false);
    assert_eq!(e.properties, Some(BTreeMap::new()));
    assert!(!e.has_errors());
}

/// Found by the `esc_eval` fuzz target: a diagnostic's range ended inside a multi-byte
/// character of an interpolation and slicing the text panicked.
#[test]
fn an_interpolation_with_multibyte_characters_in_a_bad_accessor_gives_diagnostics_not_a_panic() {
    for source in [
        "values:\n  a: ${ope\u{fffd}\u{fffd}\u{760}y[notAnIndex]}\n",
        "values:\n  a: ${\u{760}[x}\n",
        "values:\n  a: ${a.\u{760}\u{760}[\"x]}\n",
        "values:\n  a: ${[2]\u{fffd}\u{fffd}34.bad}\n",
    ] {
        let e = run(source, false, false);
        assert!(e.has_errors(), "{source:?} gave no errors");
    }
}
