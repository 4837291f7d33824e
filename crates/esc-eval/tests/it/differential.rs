//! esc-eval against Pulumi's own evaluator, on inputs nobody here wrote expectations for.
//!
//! `peers/esc-eval` (github.com/pulumi/esc v0.26.0's `eval` package, built by `.ci/run`) is
//! found through `ESC_CSI_ESC_EVAL_PEER`. Both evaluate the same folder: the shared corpus's
//! cases, and the cases of a generator (interpolation, imports, every builtin, numbers, YAML
//! tags, anchors and aliases). Compared: the load and evaluation diagnostics' summaries and
//! paths, and the evaluated values with every number as its text. A difference listed in
//! `KNOWN` (with its reason) is reported; any other fails. A peer test: `#[ignore]`d, so plain
//! `cargo test` reports it as not run; `.ci/run` runs it with `--ignored`, where a missing peer
//! fails it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use esc_eval::{Data, Decrypter, Environments, Options, Provider, Providers, Value};
use serde_json::{Value as Json, json};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/esc-eval"
);

/// Differences kept on purpose: (case name prefix, reason).
const KNOWN: &[(&str, &str)] = &[(
    "gen-nonjson-number",
    "`.inf`/`.nan` are numbers to the reference (json.Number \"+Inf\", which its own \
     json.Marshal then refuses); esc-eval's Number is JSON text, so they are strings",
)];

struct Dir(PathBuf);

impl Environments for Dir {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        std::fs::read(self.0.join(format!("{name}.yaml")))
            .map_err(|_| format!("environment {name:?} not found"))
    }
}

struct Rot128;

impl Decrypter for Rot128 {
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        Ok(ciphertext.iter().map(|b| b.wrapping_add(128)).collect())
    }
}

struct NoProviders;

impl Providers for NoProviders {
    fn provider(&self, _: &str) -> Option<&dyn Provider> {
        None
    }
}

/// The peer's projection: unknowns `"[unknown]"`, numbers `{"number": text}`.
fn typed(v: &Value) -> Json {
    if v.unknown {
        return json!("[unknown]");
    }
    match &v.data {
        Data::Null => Json::Null,
        Data::Bool(b) => json!(b),
        Data::Number(n) => json!({"number": n.as_str()}),
        Data::String(s) => json!(s),
        Data::Array(a) => Json::Array(a.iter().map(typed).collect()),
        Data::Object(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), typed(v))).collect()),
    }
}

/// One diagnostic as compared. A YAML syntax error is compared as such: both parsers
/// refuse the same texts, but their messages and line numbers are their own (libyaml's
/// through yaml.v3, saphyr-parser's here).
fn diag(summary: &str, path: &str) -> String {
    if summary.starts_with("yaml: line ") && path.is_empty() {
        return "yaml syntax error".into();
    }
    format!("{summary} @ {path}")
}

fn diags(ds: &[esc_eval::Diagnostic]) -> Vec<String> {
    let mut out: Vec<String> = ds.iter().map(|d| diag(&d.summary, &d.path)).collect();
    out.sort();
    out
}

fn peer_diags(j: &Json) -> Vec<String> {
    let mut out: Vec<String> = j
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    diag(
                        d["summary"].as_str().unwrap_or(""),
                        d["path"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What esc-eval makes of `dir`, in the peer's shape.
fn ours(dir: &Path) -> Json {
    let source = std::fs::read(dir.join("env.yaml")).unwrap();
    let (definition, load) = esc_eval::load("env", &source);
    let mut out = json!({"load": diags(&load)});
    if load.iter().any(|d| d.severity == esc_eval::Severity::Error) {
        return out;
    }
    let context = BTreeMap::new();
    let envs = Dir(dir.to_owned());
    let options = Options {
        environments: &envs,
        providers: &NoProviders,
        decrypter: &Rot128,
        context: &context,
        show_secrets: true,
        limits: esc_eval::Limits::default(),
    };
    let e = definition.evaluate(&options);
    out["evalDiags"] = json!(diags(&e.diagnostics));
    out["eval"] = match &e.properties {
        Some(p) => Json::Object(p.iter().map(|(k, v)| (k.clone(), typed(v))).collect()),
        None => Json::Null,
    };
    out
}

fn theirs(peer: &Path, dir: &Path) -> Json {
    let out = Command::new(peer).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "peer failed on {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Json = serde_json::from_slice(&out.stdout).unwrap();
    let mut norm = json!({"load": peer_diags(&j["load"])});
    if j.get("eval").is_some() {
        norm["evalDiags"] = json!(peer_diags(&j["evalDiags"]));
        // An empty definition: the reference returns no environment, esc-eval an empty one.
        norm["eval"] = match &j["eval"] {
            Json::Null => json!({}),
            v => v.clone(),
        };
    }
    norm
}

/// A small deterministic generator (no dependency): xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Scalars as YAML spells them: numbers, tags, strings that look like something else.
const SCALARS: &[&str] = &[
    "1",
    "-0",
    "-0.0",
    "1_000",
    "017",
    "08",
    "0o17",
    "0x1F",
    "+0x1F",
    "0b101",
    "+12",
    "1.5_0",
    ".5",
    "-.5",
    "1e5",
    "1e21",
    "1e-7",
    "1e400",
    "99999999999999999999",
    "18446744073709551615",
    "+18446744073709551615",
    "-9223372036854775808",
    "3.14159",
    "1.0",
    "2001-12-14",
    "'quoted 1'",
    "\"7\"",
    "true",
    "False",
    "~",
    "null",
    "yes",
    "hello",
    "\"a b\"",
    "!!int \"42\"",
    "!!str 42",
    "!!float \"1\"",
    "!!bool \"true\"",
    "!!null \"\"",
    "!foo 42",
    "! 42",
    "!!binary aGVsbG8=",
    "!!timestamp 2001-12-14",
    "\"multi\\nline\"",
    "\" lead\"",
    "\"tab\\there\"",
    "\"é ☃ 😀\"",
    "\"1:20\"",
    "\"#c\"",
    "\"a: b\"",
    "\"\"",
];

/// Expressions over `a`, `b` (values of this case) and `imp` (a value of the import).
const EXPRS: &[&str] = &[
    r#""${a}""#,
    r#""x${a}y""#,
    r#""${a} ${b}""#,
    r#""${imp}""#,
    r#""${imp}-${a}""#,
    r#"{fn::toJSON: "${a}"}"#,
    r#"{fn::toJSON: ["${a}", "${b}"]}"#,
    r#"{fn::toYAML: "${a}"}"#,
    r#"{fn::toYAML: {k: "${a}", l: ["${b}", {m: "${imp}"}]}}"#,
    r#"{fn::toString: "${a}"}"#,
    r#"{fn::toString: ["${a}", "${b}"]}"#,
    r#"{fn::toBase64: "${a}"}"#,
    r#"{fn::fromBase64: {fn::toBase64: "${a}${b}"}}"#,
    r#"{fn::fromJSON: {fn::toJSON: "${a}"}}"#,
    r#"{fn::fromJSON: '[1.0, 1E2, 1.50, 12345678901234567890123]'}"#,
    r#"{fn::fromJSON: '{"n": -0, "e": 0.1e-2}  trailing'}"#,
    r#"{fn::fromJSON: '[1,'}"#,
    r#"{fn::fromBase64: 'aGVsbG8'}"#,
    r#"{fn::join: ["-", ["${a}", "${b}"]]}"#,
    r#"{fn::split: [",", "${a},${b}"]}"#,
    r#"{fn::concat: [["${a}"], ["${b}"]]}"#,
    r#"{fn::secret: "${a}"}"#,
    r#"{fn::final: "${a}"}"#,
    r#"["${a}", "${b}", "${imp}"]"#,
    r#"{x: "${a}", y: {z: "${b}"}}"#,
];

fn write_case(root: &Path, name: &str, env: &str, import: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("env.yaml"), env).unwrap();
    std::fs::write(dir.join("base.yaml"), import).unwrap();
    dir
}

fn generated(root: &Path) -> Vec<(String, PathBuf)> {
    let mut rng = Rng(0x5eed_e5c0_ffee_1234);
    let mut cases = Vec::new();
    for i in 0..400 {
        let (a, b, imp) = (rng.pick(SCALARS), rng.pick(SCALARS), rng.pick(SCALARS));
        let (e1, e2) = (rng.pick(EXPRS), rng.pick(EXPRS));
        let env =
            format!("imports:\n  - base\nvalues:\n  a: {a}\n  b: {b}\n  e1: {e1}\n  e2: {e2}\n");
        let import = format!("values:\n  imp: {imp}\n");
        let name = if [a, b, imp]
            .iter()
            .any(|s| s.contains(".inf") || s.contains(".nan"))
        {
            format!("gen-nonjson-number-{i}")
        } else {
            format!("gen-{i}")
        };
        cases.push((name.clone(), write_case(root, &name, &env, &import)));
    }
    // YAML oddities the expressions above cannot make.
    let odd = [
        "values:\n  a: &x 1\n  b: *x\n  c: [*x, *x]\n",
        "values:\n  a: !!int abc\n  b: !!bool yes\n",
        "values:\n  a: !!float 18446744073709551615\n",
        "values:\n  a: [.inf, -.inf, .nan]\n",
        "values:\n  a: {? [1, 2] : x}\n",
        "values:\n  \"1\": one\n  2: two\n  true: t\n  ~: n\n",
        "values:\n  a: |\n    literal\n    block\n  b: >\n    folded\n    text\n",
        "values:\n  a: 0x\n  b: 0o\n  c: 1__0\n  d: ._5\n  e: .5_0\n",
        "values:\n  a: !<tag:yaml.org,2002:int> \"42\"\n  b: !<tag:yaml.org,2002:str> 42\n  c: !!foo 7\n",
    ];
    for (i, env) in odd.iter().enumerate() {
        let name = if env.contains(".inf") {
            format!("gen-nonjson-number-odd-{i}")
        } else {
            format!("gen-odd-{i}")
        };
        cases.push((name.clone(), write_case(root, &name, env, "values: {}\n")));
    }
    cases
}

fn corpus() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(CORPUS).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        // Providers are the corpus's own test providers, and overrides its own context:
        // tests/conformance.rs compares those cases with the corpus's expectations.
        let uses_providers = std::fs::read_dir(&dir).unwrap().any(|f| {
            let p = f.unwrap().path();
            p.file_name().is_some_and(|n| n == "overrides.json")
                || (p.extension().is_some_and(|e| e == "yaml")
                    && std::fs::read_to_string(&p)
                        .is_ok_and(|t| t.contains("fn::open") || t.contains("fn::rotate")))
        });
        if !uses_providers {
            out.push((format!("corpus-{name}"), dir));
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "a peer test: needs Pulumi's evaluator (ESC_CSI_ESC_EVAL_PEER); .ci/run runs it"]
fn esc_eval_agrees_with_pulumi_s_evaluator() {
    let peer = std::env::var_os("ESC_CSI_ESC_EVAL_PEER").expect(
        "ESC_CSI_ESC_EVAL_PEER names a build of peers/esc-eval (.ci/run builds it; \
         docs/development.md)",
    );
    let peer = PathBuf::from(peer);
    let tmp = std::env::temp_dir().join(format!("esc-eval-differential-{}", std::process::id()));
    let mut cases = corpus();
    let from_corpus = cases.len();
    cases.extend(generated(&tmp));
    let (mut agree, mut known, mut failures) = (0, Vec::new(), Vec::new());
    for (name, dir) in &cases {
        let (o, t) = (ours(dir), theirs(&peer, dir));
        if o == t {
            agree += 1;
            continue;
        }
        let env = std::fs::read_to_string(dir.join("env.yaml")).unwrap_or_default();
        let report = format!("{name}:\n{env}\n  esc-eval:  {o}\n  reference: {t}");
        match KNOWN.iter().find(|(prefix, _)| name.starts_with(prefix)) {
            Some((_, why)) => known.push(format!("{name}: {why}")),
            None => failures.push(report),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "differential: {agree} of {} cases agree ({from_corpus} from the corpus, {} generated); \
         {} known differences; {} unexpected",
        cases.len(),
        cases.len() - from_corpus,
        known.len(),
        failures.len()
    );
    for k in &known {
        println!("  known: {k}");
    }
    assert!(
        failures.is_empty(),
        "{} cases differ from the reference:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Runes Go's `strconv.Quote` escapes though they are not control characters (a no-break
/// space, a soft hyphen, a zero-width space, a line separator, a right-to-left override, a
/// byte order mark, astral private-use and tag runes), and printable ones it keeps, each as
/// YAML writes it in double quotes.
const QUOTED_RUNES: &[&str] = &[
    "\\u00a0",
    "\\u00ad",
    "\\u200b",
    "\\u2028",
    "\\u202e",
    "\\ufeff",
    "\\u0085",
    "\\U000f0000",
    "\\U000e0001",
    "\\U0001f600",
    "\\U0001d538",
    "\\u00e9",
    "\\u2603",
    "\\u65e5",
    "\\x7f",
];

#[test]
#[ignore = "a peer test: needs Pulumi's evaluator (ESC_CSI_ESC_EVAL_PEER); .ci/run runs it"]
fn to_string_and_to_json_quote_invisible_runes_as_pulumi_s_evaluator_does() {
    let peer = PathBuf::from(
        std::env::var_os("ESC_CSI_ESC_EVAL_PEER").expect("ESC_CSI_ESC_EVAL_PEER (.ci/run)"),
    );
    let tmp = std::env::temp_dir().join(format!("esc-eval-quoting-{}", std::process::id()));
    let mut failures = Vec::new();
    let mut escaped = 0;
    for (i, rune) in QUOTED_RUNES.iter().enumerate() {
        // The rune alone, between letters, as an array element, an object key and a value.
        let env = format!(
            "values:\n  r: \"{rune}\"\n  s: \"a{rune}b\"\n  \
             str: {{fn::toString: [\"${{r}}\", \"${{s}}\"]}}\n  \
             obj: {{fn::toString: {{\"k{rune}\": \"${{s}}\"}}}}\n  \
             nested: {{fn::toString: [[\"${{s}}\"]]}}\n  \
             interp: \"x${{r}}y\"\n  \
             json: {{fn::toJSON: [\"${{r}}\", \"${{s}}\"]}}\n  \
             jsonobj: {{fn::toJSON: {{\"k{rune}\": \"${{s}}\"}}}}\n"
        );
        let dir = write_case(&tmp, &format!("quote-{i}"), &env, "values: {}\n");
        let (o, t) = (ours(&dir), theirs(&peer, &dir));
        if o != t {
            failures.push(format!(
                "{rune}:\n{env}\n  esc-eval:  {o}\n  reference: {t}"
            ));
        }
        // The case is only worth its name if the reference escaped something in it.
        if t["eval"]["str"]
            .as_str()
            .is_some_and(|s| s.contains("\\u") || s.contains("\\U"))
        {
            escaped += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "quoting: {} of {} runes agree with the reference ({escaped} escaped by it)",
        QUOTED_RUNES.len() - failures.len(),
        QUOTED_RUNES.len()
    );
    assert!(escaped >= 9, "the reference escaped only {escaped} runes");
    assert!(
        failures.is_empty(),
        "{} runes quoted differently:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
