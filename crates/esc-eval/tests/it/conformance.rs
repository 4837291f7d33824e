//! Runs the reference evaluator's conformance corpus (outside the repository, in
//! `../shared/conformance/esc-eval`) and compares Tier 1: the plain-JSON results of check and
//! evaluation, and each diagnostic's severity, summary and path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use esc_eval::{
    Data, Decrypter, Diagnostic, Environments, Evaluation, Options, Provider, Providers, Rotator,
    Severity, Value,
};
use serde_json::{Value as Json, json};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/esc-eval"
);

/// Cases expected to fail, each with the reason.
const LEFT_OUT: &[(&str, &str)] = &[];

struct CaseEnvironments {
    dir: PathBuf,
    case: String,
}

impl Environments for CaseEnvironments {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        std::fs::read(self.dir.join(format!("{name}.yaml"))).map_err(|_| {
            format!(
                "open testdata/eval/{}/{name}.yaml: no such file or directory",
                self.case
            )
        })
    }
}

struct Rot128;

impl Decrypter for Rot128 {
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        Ok(ciphertext.iter().map(|b| b.wrapping_add(128)).collect())
    }
}

fn member<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match &v.data {
        Data::Object(o) => o.get(key),
        _ => None,
    }
}

fn plain(v: &Value) -> Value {
    Value {
        trace: Default::default(),
        ..v.clone()
    }
}

struct Test;
struct SecretWrapper;
struct Fail;
struct SchemaProvider;
struct Swap;
struct EchoRotator;

impl Provider for Test {
    fn open(&self, inputs: &Value) -> Result<Value, String> {
        Ok(plain(inputs))
    }
}

impl Provider for SecretWrapper {
    fn open(&self, inputs: &Value) -> Result<Value, String> {
        Ok(Value {
            secret: true,
            ..plain(inputs)
        })
    }
}

impl Provider for Fail {
    fn open(&self, inputs: &Value) -> Result<Value, String> {
        match member(inputs, "why").map(|v| &v.data) {
            Some(Data::String(s)) => Err(s.clone()),
            _ => Err(String::new()),
        }
    }

    fn schema(&self) -> (Option<Json>, Option<Json>) {
        let input = json!({"type": "object", "properties": {"why": {"type": "string"}},
                           "required": ["why"]});
        (Some(input), None)
    }
}

fn record(props: &Json) -> Json {
    let required: Vec<String> = props.as_object().unwrap().keys().cloned().collect();
    json!({"type": "object", "properties": props, "required": required})
}

fn schema_provider_schema() -> Json {
    json!({
        "type": "object",
        "$defs": {"defRecord": record(&json!({"baz": {"type": "string", "const": "qux"}}))},
        "properties": {
            "null": {"type": "null"},
            "boolean": {"type": "boolean"},
            "false": {"type": "boolean", "const": false},
            "true": {"type": "boolean", "const": true},
            "number": {"type": "number"},
            "pi": {"type": "number", "const": serde_json::from_str::<Json>("3.14").unwrap()},
            "string": {"type": "string"},
            "hello": {"type": "string", "const": "hello"},
            "array": {"type": "array", "items": true},
            "tuple": {"type": "array", "items": false, "prefixItems": [
                {"type": "string", "const": "hello"}, {"type": "string", "const": "world"}]},
            "map": {"type": "object", "additionalProperties": true},
            "record": record(&json!({"foo": {"type": "string"}})),
            "anyOf": {"anyOf": [{"type": "string"}, {"type": "number"}]},
            "oneOf": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "ref": {"$ref": "#/$defs/defRecord"},
            "const-array": {"type": "array", "const": ["hello", 42]},
            "const-object": {"type": "object", "const": {"hello": "world"}},
            "enum": {"type": "string", "enum": ["foo", "bar"]},
            "never": false,
            "always": true,
            "double": {"type": "array", "items": false, "prefixItems": [
                {"type": "string"}, {"type": "number"}]},
            "triple": {"type": "array", "items": false, "prefixItems": [
                {"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
            "dependentReq": {"type": "object",
                "properties": {"foo": {"type": "string"}, "bar": {"type": "number"}},
                "dependentRequired": {"foo": ["bar"]}},
            "multiple": {"type": "number", "multipleOf": 2},
            "minimum": {"type": "number", "minimum": 1},
            "exclusiveMinimum": {"type": "number", "exclusiveMinimum": 1},
            "maximum": {"type": "number", "maximum": 1},
            "exclusiveMaximum": {"type": "number", "exclusiveMaximum": 1},
            "minLength": {"type": "string", "minLength": 1},
            "maxLength": {"type": "string", "maxLength": 1},
            "pattern": {"type": "string", "pattern": "^foo[0-9]+$"},
            "minItems": {"type": "array", "minItems": 3},
            "maxItems": {"type": "array", "maxItems": 2},
            "minProperties": {"type": "object", "minProperties": 1},
            "maxProperties": {"type": "object", "maxProperties": 1},
        }
    })
}

impl Provider for SchemaProvider {
    fn open(&self, inputs: &Value) -> Result<Value, String> {
        Ok(plain(inputs))
    }

    fn schema(&self) -> (Option<Json>, Option<Json>) {
        let s = schema_provider_schema();
        (Some(s.clone()), Some(s))
    }
}

fn object_or_empty(v: &Value) -> Value {
    match v.data {
        Data::Object(_) => plain(v),
        _ => Value::new(Data::Object(BTreeMap::new())),
    }
}

impl Rotator for Swap {
    fn schema(&self) -> (Option<Json>, Option<Json>, Option<Json>) {
        let ab = record(&json!({"a": {"type": "string"}, "b": {"type": "string"}}));
        (None, Some(ab.clone()), Some(ab))
    }

    fn open(&self, _inputs: &Value, state: &Value) -> Result<Value, String> {
        Ok(object_or_empty(state))
    }

    fn rotate(&self, _inputs: &Value, state: &Value) -> Result<Value, String> {
        let get = |k: &str| member(state, k).cloned().unwrap_or(Value::new(Data::Null));
        let mut m = BTreeMap::new();
        m.insert("a".to_owned(), get("b"));
        m.insert("b".to_owned(), get("a"));
        Ok(Value::new(Data::Object(m)))
    }
}

impl Rotator for EchoRotator {
    fn schema(&self) -> (Option<Json>, Option<Json>, Option<Json>) {
        let input = json!({"type": "object", "properties": {"next": {"type": "string"}},
                           "required": ["next"], "rotateOnly": ["next"]});
        let state = json!({"type": "object",
            "properties": {"current": {"type": "string"}, "previous": {"type": "string"}},
            "required": ["current"]});
        (Some(input), Some(state.clone()), Some(state))
    }

    fn open(&self, inputs: &Value, state: &Value) -> Result<Value, String> {
        if let Some(next) = member(inputs, "next")
            && !next.unknown
            && member(state, "current").map(|c| &c.data) != Some(&next.data)
        {
            return Err("oh no! inputs were evaluated outside of rotation".into());
        }
        Ok(object_or_empty(state))
    }

    fn rotate(&self, inputs: &Value, state: &Value) -> Result<Value, String> {
        let next = member(inputs, "next")
            .cloned()
            .unwrap_or(Value::new(Data::Null));
        if next.unknown {
            return Err("oh no! rotateOnly inputs were not evaluated during rotation".into());
        }
        let mut m = BTreeMap::new();
        m.insert("current".to_owned(), next);
        let current = member(state, "current")
            .cloned()
            .unwrap_or(Value::new(Data::Null));
        m.insert("previous".to_owned(), current);
        Ok(Value::new(Data::Object(m)))
    }
}

struct TestProviders;

impl Providers for TestProviders {
    fn provider(&self, name: &str) -> Option<&dyn Provider> {
        match name {
            "test" => Some(&Test),
            "secret-wrapper" => Some(&SecretWrapper),
            "error" => Some(&Fail),
            "schema" => Some(&SchemaProvider),
            _ => None,
        }
    }

    fn rotator(&self, name: &str) -> Option<&dyn Rotator> {
        match name {
            "swap" => Some(&Swap),
            "echo" => Some(&EchoRotator),
            _ => None,
        }
    }
}

fn context() -> BTreeMap<String, Value> {
    let json = json!({"pulumi": {"user": {"id": "USER_123"}}});
    match Value::from_json(json).data {
        Data::Object(o) => o,
        _ => unreachable!(),
    }
}

type Triple = (u8, String, String);

fn normalise(summary: &str) -> String {
    if summary.starts_with("yaml: ") {
        return "<YAML syntax error>".into();
    }
    summary.to_owned()
}

fn ours(diags: &[Diagnostic]) -> Vec<Triple> {
    let mut v: Vec<Triple> = diags
        .iter()
        .map(|d| {
            let sev = match d.severity {
                Severity::Error => 1,
                Severity::Warning => 2,
            };
            (sev, normalise(&d.summary), d.path.clone())
        })
        .collect();
    v.sort();
    v
}

fn theirs(expected: &Json, key: &str) -> Vec<Triple> {
    let mut v: Vec<Triple> = expected[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    let sev = d["Severity"].as_u64().unwrap_or(0) as u8;
                    let summary = normalise(d["Summary"].as_str().unwrap_or(""));
                    (sev, summary, d["Path"].as_str().unwrap_or("").to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Diagnostic ranges, `(path, summary, begin, end)` as `line:column:byte`, sorted.
fn ranges_ours(diags: &[Diagnostic]) -> Vec<String> {
    let mut v: Vec<String> = diags
        .iter()
        .map(|d| match &d.range {
            Some(r) => format!(
                "{} {} {}:{}:{}-{}:{}:{}",
                d.path,
                d.summary,
                r.begin.line,
                r.begin.column,
                r.begin.byte,
                r.end.line,
                r.end.column,
                r.end.byte
            ),
            None => format!("{} {} -", d.path, d.summary),
        })
        .collect();
    v.sort();
    v
}

fn ranges_theirs(expected: &Json, key: &str) -> Vec<String> {
    let mut v: Vec<String> = expected[key]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    let (p, s) = (
                        d["Path"].as_str().unwrap_or(""),
                        d["Summary"].as_str().unwrap_or(""),
                    );
                    let r = &d["Subject"];
                    if r.is_null() {
                        return format!("{p} {s} -");
                    }
                    let pos =
                        |k: &str| format!("{}:{}:{}", r[k]["Line"], r[k]["Column"], r[k]["Byte"]);
                    format!("{p} {s} {}-{}", pos("Start"), pos("End"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn json_of(e: &Evaluation, redact: bool) -> Option<Json> {
    let props = e.properties.as_ref()?;
    if props.is_empty() {
        return None;
    }
    Some(Value::new(Data::Object(props.clone())).to_json(redact))
}

fn compare_diags(out: &mut String, what: &str, got: &[Triple], want: &[Triple]) {
    if got == want {
        return;
    }
    let _ = writeln!(out, "    {what}:");
    for d in want.iter().filter(|d| !got.contains(d)) {
        let _ = writeln!(out, "      missing {d:?}");
    }
    for d in got.iter().filter(|d| !want.contains(d)) {
        let _ = writeln!(out, "      extra   {d:?}");
    }
}

fn compare_json(out: &mut String, what: &str, got: &Option<Json>, want: Option<&Json>) {
    let want = want.filter(|w| !w.is_null() && w != &&json!({})).cloned();
    if *got == want {
        return;
    }
    let _ = writeln!(
        out,
        "    {what}:\n      want {}\n      got  {}",
        show(&want),
        show(got)
    );
}

fn show(j: &Option<Json>) -> String {
    match j {
        Some(j) => {
            let s = j.to_string();
            if s.len() > 600 {
                format!("{}...", &s[..600])
            } else {
                s
            }
        }
        None => "(absent)".into(),
    }
}

/// Runs one case; returns the Tier 1 differences, empty when it matches. Differences in
/// diagnostic ranges (Tier 2, not required) are appended to `tier2`.
fn run_case(dir: &Path, tier2: &mut String) -> String {
    let case = dir.file_name().unwrap().to_string_lossy().into_owned();
    let source = std::fs::read(dir.join("env.yaml")).unwrap();
    let expected: Json =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let overrides: Json = std::fs::read(dir.join("overrides.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Json::Null);
    let case_name = case.clone();
    let name = overrides["rootEnvironment"]
        .as_str()
        .unwrap_or(&case)
        .to_owned();
    let show_secrets = overrides["showSecrets"].as_bool().unwrap_or(false);

    let envs = CaseEnvironments {
        dir: dir.to_owned(),
        case: case_name,
    };
    let ctx = context();
    let options = |show_secrets| Options {
        environments: &envs,
        providers: &TestProviders,
        decrypter: &Rot128,
        context: &ctx,
        show_secrets,
        limits: esc_eval::Limits::default(),
    };

    let mut out = String::new();
    let (def, load_diags) = esc_eval::load(&name, &source);
    compare_diags(
        &mut out,
        "loadDiags",
        &ours(&load_diags),
        &theirs(&expected, "loadDiags"),
    );

    {
        let (got, want) = (
            ranges_ours(&load_diags),
            ranges_theirs(&expected, "loadDiags"),
        );
        if got != want {
            let _ = writeln!(tier2, "  {case} load:\n    want {want:?}\n    got  {got:?}");
        }
    }
    let checked = def.check(&options(show_secrets));
    {
        let (got, want) = (
            ranges_ours(&checked.diagnostics),
            ranges_theirs(&expected, "checkDiags"),
        );
        if got != want {
            let _ = writeln!(
                tier2,
                "  {case} check:\n    want {want:?}\n    got  {got:?}"
            );
        }
    }
    compare_diags(
        &mut out,
        "checkDiags",
        &ours(&checked.diagnostics),
        &theirs(&expected, "checkDiags"),
    );
    compare_json(
        &mut out,
        "checkJson",
        &json_of(&checked, true),
        expected.get("checkJson"),
    );

    let evaluated = def.evaluate(&options(false));
    compare_diags(
        &mut out,
        "evalDiags",
        &ours(&evaluated.diagnostics),
        &theirs(&expected, "evalDiags"),
    );
    compare_json(
        &mut out,
        "evalJsonRedacted",
        &json_of(&evaluated, true),
        expected.get("evalJsonRedacted"),
    );
    compare_json(
        &mut out,
        "evalJSONRevealed",
        &json_of(&evaluated, false),
        expected.get("evalJSONRevealed"),
    );
    out
}

#[test]
fn every_conformance_case_matches_the_reference() {
    let corpus = Path::new(CORPUS);
    if !corpus.is_dir() {
        eprintln!("SKIPPED: conformance corpus not found at {CORPUS}");
        return;
    }
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("env.yaml").is_file())
        .collect();
    cases.sort();

    let mut passed = 0;
    let mut unexpected = Vec::new();
    let mut report = String::new();
    let mut tier2 = String::new();
    for dir in &cases {
        let case = dir.file_name().unwrap().to_string_lossy().into_owned();
        let diff = run_case(dir, &mut tier2);
        let left_out = LEFT_OUT.iter().find(|(c, _)| *c == case);
        if diff.is_empty() {
            passed += 1;
            if left_out.is_some() {
                let _ = writeln!(report, "  {case}: passes but is in LEFT_OUT");
            }
            continue;
        }
        match left_out {
            Some((_, why)) => {
                let _ = writeln!(report, "  {case} (left out: {why})");
            }
            None => {
                let _ = writeln!(report, "  {case}:\n{diff}");
                unexpected.push(case);
            }
        }
    }
    eprintln!("{passed} of {} cases pass", cases.len());
    if !report.is_empty() {
        eprintln!("{report}");
    }
    if std::env::var_os("ESC_EVAL_TIER2").is_some() {
        eprintln!("diagnostic ranges that differ (Tier 2):\n{tier2}");
    }
    assert!(unexpected.is_empty(), "failing cases: {unexpected:?}");
}
