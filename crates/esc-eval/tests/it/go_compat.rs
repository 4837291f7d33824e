//! esc-eval against Pulumi's own evaluator (github.com/pulumi/esc v0.26.0) on what the shared
//! corpus does not cover: YAML tags and number spellings as gopkg.in/yaml.v3 reads them,
//! aliases, `fn::fromJSON` (numbers as sent, Go's errors), `fn::fromBase64`'s errors and
//! `fn::toYAML`. Every expected text here is what the reference printed for the same input
//! (`peers/esc-eval`).

use std::collections::BTreeMap;

use esc_eval::{Decrypter, Environments, Evaluation, Options, Providers};

struct NoEnvironments;

impl Environments for NoEnvironments {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        Err(format!("no environment {name}"))
    }
}

struct NoProviders;

impl Providers for NoProviders {
    fn provider(&self, _: &str) -> Option<&dyn esc_eval::Provider> {
        None
    }
}

struct NoDecrypter;

impl Decrypter for NoDecrypter {
    fn decrypt(&self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("no decrypter".into())
    }
}

fn run(source: &str) -> Evaluation {
    let context = BTreeMap::new();
    let options = Options {
        environments: &NoEnvironments,
        providers: &NoProviders,
        decrypter: &NoDecrypter,
        context: &context,
        show_secrets: true,
        limits: esc_eval::Limits::default(),
    };
    esc_eval::evaluate("test", source.as_bytes(), &options)
}

/// The evaluated `values` as JSON, after checking there were no diagnostics.
fn values(source: &str) -> serde_json::Value {
    let e = run(source);
    assert!(e.diagnostics.is_empty(), "{:?}", e.diagnostics);
    let props = e.properties.unwrap();
    serde_json::Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json(false)))
            .collect(),
    )
}

/// The summaries of the diagnostics.
fn summaries(source: &str) -> Vec<String> {
    run(source)
        .diagnostics
        .into_iter()
        .map(|d| d.summary)
        .collect()
}

/// The text `${x}` interpolates to, for a single value `x`.
fn text_of(x: &str) -> String {
    let v = values(&format!("values:\n  x: {x}\n  s: =${{x}}\n"));
    let s = v["s"].as_str().unwrap_or_else(|| panic!("{x}: {v}"));
    s.strip_prefix('=').unwrap().to_owned()
}

#[test]
fn yaml_number_spellings_as_yaml_v3_reads_them() {
    for (spelling, text) in [
        ("1_000", "1000"),
        ("-0.0", "-0"),
        ("1e400", "1e400"),
        (".inf", "+Inf"),
        ("-.inf", "-Inf"),
        (".nan", "NaN"),
        ("017", "15"),
        ("0x1F", "31"),
        ("+18446744073709551615", "1.8446744073709552e+19"),
        ("1e21", "1e+21"),
    ] {
        assert_eq!(text_of(spelling), text, "{spelling}");
    }
    // `1e400` overflows a float64: the reference keeps it a string.
    let v = values("values:\n  big: 1e400\n  n: 1_000\n");
    assert_eq!(v["big"], "1e400");
    assert_eq!(v["n"], 1000);
}

#[test]
fn yaml_tags_as_yaml_v3_reads_them() {
    let v = values(
        "values:\n  i: !!int \"42\"\n  s: !!str 42\n  f: !!float \"1\"\n  b: !!bool \"true\"\n  \
         n: !!null \"\"\n  custom: !foo 42\n  bare: ! 42\n  bin: !!binary aGVsbG8=\n  \
         ts: !!timestamp 2001-12-14\n",
    );
    assert_eq!(v["i"], 42);
    assert_eq!(v["s"], "42");
    assert_eq!(v["f"], 1);
    assert_eq!(v["b"], true);
    assert_eq!(v["n"], serde_json::Value::Null);
    assert_eq!(v["custom"], "42");
    assert_eq!(v["bare"], 42);
    assert_eq!(v["bin"], "aGVsbG8=");
    assert_eq!(v["ts"], "2001-12-14");
    assert_eq!(
        summaries("values:\n  a: !!int abc\n  b: !!bool yes\n"),
        [
            "yaml: cannot decode !!str `abc` as a !!int",
            "yaml: cannot decode !!str `yes` as a !!bool"
        ]
    );
}

#[test]
fn each_alias_has_its_own_diagnostic() {
    assert_eq!(
        summaries("values:\n  a: &x 1\n  b: *x\n  c: [*x, *x]\n"),
        ["alias nodes are not supported"; 3]
    );
}

#[test]
fn from_json_keeps_each_number_as_written() {
    let v = values(
        "values:\n  j:\n    fn::fromJSON: '[1.0, 1E2, 1.50]'\n  s: \"${j[0]} ${j[1]} ${j[2]}\"\n  \
         big:\n    fn::fromJSON: '12345678901234567890123'\n  b: \"=${big}\"\n  \
         t:\n    fn::toString: ${j}\n",
    );
    assert_eq!(v["s"], "1.0 1E2 1.50");
    assert_eq!(v["b"], "=12345678901234567890123");
    assert_eq!(v["t"], "\"1.0\",\"1E2\",\"1.50\"");
}

#[test]
fn from_json_reads_the_first_value_as_go_s_decoder_does() {
    // Go's json.Decoder stops after the first value: what follows is not looked at.
    let v = values(
        "values:\n  a:\n    fn::fromJSON: '1 x'\n  b:\n    fn::fromJSON: '{\"a\":1}x'\n  \
         c:\n    fn::fromJSON: '01'\n",
    );
    assert_eq!(v["a"], 1);
    assert_eq!(v["b"], serde_json::json!({"a": 1}));
    assert_eq!(v["c"], 0);
}

#[test]
fn from_json_and_from_base64_errors_are_go_s() {
    assert_eq!(
        summaries(
            "values:\n  a:\n    fn::fromJSON: ''\n  b:\n    fn::fromJSON: '[1,'\n  \
             c:\n    fn::fromJSON: '[1 2]'\n  d:\n    fn::fromBase64: 'aGVsbG8'\n  \
             e:\n    fn::fromBase64: 'aGVsbG8=x'\n  f:\n    fn::fromBase64: aGVsbB==\n"
        ),
        [
            "decoding JSON string: EOF",
            "decoding JSON string: unexpected EOF",
            "decoding JSON string: invalid character '2' after array element",
            "decoding base64 string: illegal base64 data at input byte 4",
            "decoding base64 string: illegal base64 data at input byte 8",
        ]
    );
}

#[test]
fn numbers_keep_their_text_through_export_to_json_and_the_wire() {
    let e = run(
        "values:\n  j:\n    fn::fromJSON: '[1.0, 1E2, 12345678901234567890123, -0]'\n  \
         t:\n    fn::toJSON: ${j}\n  y: -0.0\n",
    );
    assert!(e.diagnostics.is_empty(), "{:?}", e.diagnostics);
    let p = e.properties.unwrap();
    let j = &p["j"];
    let texts: Vec<&str> = match &j.data {
        esc_eval::Data::Array(a) => a
            .iter()
            .map(|v| match &v.data {
                esc_eval::Data::Number(n) => n.as_str(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(texts, ["1.0", "1E2", "12345678901234567890123", "-0"]);
    assert_eq!(
        p["t"].to_json(false),
        "[1.0,1E2,12345678901234567890123,-0]"
    );
    assert_eq!(j.to_go_json(), "[1.0,1E2,12345678901234567890123,-0]");
    // The API's Value shape, as esc-server sends it.
    let wire = serde_json::to_string(&j.wire()).unwrap();
    assert!(
        wire.starts_with("{\"value\":[{\"value\":1.0,\"trace\""),
        "{wire}"
    );
    assert!(
        wire.contains("{\"value\":12345678901234567890123,"),
        "{wire}"
    );
    assert_eq!(p["y"].to_go_json(), "-0");
}

#[test]
fn to_yaml_writes_what_yaml_v3_writes() {
    let v = values(
        "values:\n  j:\n    fn::fromJSON: '[1.0, 1E2]'\n  y:\n    fn::toYAML:\n      \
         a: [1, \"two\", {b: null, c: true}]\n      \"key with: colon\": \"multi\\nline\"\n      \
         n: \"123\"\n      nested: [[1, 2], []]\n      emp: {}\n      sp: \" lead\"\n  \
         yj:\n    fn::toYAML: ${j}\n",
    );
    assert_eq!(
        v["y"],
        "a:\n    - \"1\"\n    - two\n    - b: null\n      c: true\nemp: {}\n\
         'key with: colon': |-\n    multi\n    line\n\"n\": \"123\"\nnested:\n    - - \"1\"\n\
         \x20     - \"2\"\n    - []\nsp: ' lead'\n"
    );
    assert_eq!(v["yj"], "- \"1.0\"\n- \"1E2\"\n");
}

#[test]
fn verbatim_core_tags_are_the_short_ones() {
    let v = values(
        "values:\n  a: !<tag:yaml.org,2002:int> \"42\"\n  b: !<tag:yaml.org,2002:str> 42\n  c: !!foo 7\n",
    );
    assert_eq!(v["a"], 42);
    assert_eq!(v["b"], "42");
    assert_eq!(v["c"], "7");
}
