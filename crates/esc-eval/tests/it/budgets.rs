//! Hostile definitions stop at a budget with a diagnostic that names it, on a 2 MiB thread
//! stack (a tokio blocking thread's), instead of exhausting memory, time or the stack.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use esc_eval::{
    Decrypter, Environments, Evaluation, Limits, Options, Provider, Providers, Severity,
};

struct Folder(HashMap<String, String>);

impl Environments for Folder {
    fn load(&self, name: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(name)
            .map(|d| d.clone().into_bytes())
            .ok_or_else(|| format!("no environment {name}"))
    }
}

struct NoProviders;

impl Providers for NoProviders {
    fn provider(&self, _: &str) -> Option<&dyn Provider> {
        None
    }
}

struct NoKey;

impl Decrypter for NoKey {
    fn decrypt(&self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("no key".into())
    }
}

/// Evaluates (or checks) `source` with `imports` on a thread with a 2 MiB stack.
fn run_with(source: String, imports: HashMap<String, String>, check: bool) -> Evaluation {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let context = BTreeMap::new();
            let folder = Folder(imports);
            let options = Options {
                environments: &folder,
                providers: &NoProviders,
                decrypter: &NoKey,
                context: &context,
                show_secrets: true,
                limits: Limits::default(),
            };
            if check {
                esc_eval::check("app/root", source.as_bytes(), &options)
            } else {
                esc_eval::evaluate("app/root", source.as_bytes(), &options)
            }
        })
        .unwrap()
        .join()
        .expect("the evaluation thread did not survive")
}

fn run(source: String) -> Evaluation {
    run_with(source, HashMap::new(), false)
}

/// The error summaries.
fn errors(e: &Evaluation) -> Vec<String> {
    e.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.summary.clone())
        .collect()
}

fn assert_stopped_by(e: &Evaluation, budget: &str) {
    let errors = errors(e);
    assert!(
        errors.iter().any(|s| s.contains(budget)),
        "no error names {budget:?}: {errors:?}"
    );
    assert!(e.properties.is_none() || e.has_errors());
}

#[test]
fn a_string_doubled_over_34_levels_stops_at_the_value_size_budget() {
    // The 682-byte body that took esc-server down with a 1 GiB allocation.
    let mut yaml = String::from("values:\n  x0: ab\n");
    for i in 1..=34 {
        let _ = writeln!(yaml, "  x{i}: ${{x{}}}${{x{}}}", i - 1, i - 1);
    }
    for check in [false, true] {
        let e = run_with(yaml.clone(), HashMap::new(), check);
        assert_stopped_by(&e, "value-size budget");
        assert!(
            errors(&e).iter().any(|s| s.starts_with(
                "evaluation stopped: a value would be 2097152 bytes, over the 1048576-byte"
            )),
            "{:?}",
            errors(&e)
        );
    }
}

#[test]
fn a_value_used_twice_per_level_stops_at_the_growth_budget_not_after_2_to_the_40_copies() {
    // References keep values shared; exporting them copies every path.
    let mut yaml = String::from("values:\n  a00: leaf\n");
    for i in 1..=40 {
        let _ = writeln!(
            yaml,
            "  a{i:02}:\n    - ${{a{:02}}}\n    - ${{a{:02}}}",
            i - 1,
            i - 1
        );
    }
    assert_stopped_by(&run(yaml), "(the interpolation-growth budget)");
}

#[test]
fn deeply_nested_yaml_is_refused_before_it_is_walked() {
    let mut block = String::from("values:\n");
    for level in 0..10_000 {
        let _ = writeln!(block, "{}k:", " ".repeat(level + 2));
    }
    let e = run(block);
    assert_eq!(e.properties, None);
    assert_eq!(
        errors(&e),
        ["yaml: line 129: collections nest deeper than 128 levels (the depth budget)"]
    );
    // The YAML reader stops deep flow collections itself.
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let depth = 100_000;
        let yaml = format!(
            "values:\n  x: {}1{}\n",
            open.repeat(depth),
            close.repeat(depth)
        );
        let e = run(yaml);
        assert_eq!(e.properties, None);
        assert!(
            errors(&e)[0].contains("nest deeper than 128 levels")
                || errors(&e)[0].contains("recursion limit exceeded"),
            "{:?}",
            errors(&e)
        );
    }
}

#[test]
fn a_long_chain_of_references_stops_at_the_depth_budget() {
    let mut yaml = String::from("values:\n");
    for i in 0..3_000 {
        let _ = writeln!(yaml, "  a{i:05}: ${{a{:05}}}", i + 1);
    }
    yaml.push_str("  a03000: end\n");
    assert_stopped_by(&run(yaml), "depth budget");
}

#[test]
fn values_nested_through_references_stop_at_the_depth_budget_even_when_each_is_shallow() {
    // Evaluated in key order, each level is one reference deep, but the value grows a level
    // per key: walking or dropping it would recurse 3,000 times, past a 2 MiB stack.
    for wrap in ["- ", "k: ", "fn::concat:\n      - - - "] {
        let mut yaml = String::from("values:\n  a00000: leaf\n");
        for i in 1..3_000 {
            let _ = writeln!(yaml, "  a{i:05}:\n    {wrap}${{a{:05}}}", i - 1);
        }
        assert_stopped_by(&run(yaml), "depth budget");
    }
}

#[test]
fn values_at_the_depth_budget_still_evaluate_on_a_small_stack() {
    // 30 nested collections and a 30-long chain of references into them: within budget.
    let mut yaml = String::from("values:\n  deep: ");
    yaml.push_str(&"[".repeat(30));
    yaml.push_str("\"${c00}\"");
    yaml.push_str(&"]".repeat(30));
    yaml.push('\n');
    for i in 0..30 {
        let _ = writeln!(yaml, "  c{i:02}: ${{c{:02}}}", i + 1);
    }
    yaml.push_str("  c30: end\n");
    let e = run(yaml);
    assert!(!e.has_errors(), "{:?}", errors(&e));
}

/// `env{i}` imports `env{i-1}` and `env{i-2}`: a diamond `levels` high.
fn diamond(levels: usize) -> (String, HashMap<String, String>) {
    let mut folder = HashMap::new();
    folder.insert("app/env0".to_owned(), "values:\n  v0: 0\n".to_owned());
    folder.insert(
        "app/env1".to_owned(),
        "imports: [app/env0]\nvalues:\n  v1: 1\n".to_owned(),
    );
    for i in 2..levels {
        folder.insert(
            format!("app/env{i}"),
            format!(
                "imports: [app/env{}, app/env{}]\nvalues:\n  v{i}: {i}\n",
                i - 1,
                i - 2
            ),
        );
    }
    let root = format!(
        "imports: [app/env{}, app/env{}]\nvalues:\n  top: yes\n",
        levels - 1,
        levels - 2
    );
    (root, folder)
}

#[test]
fn a_40_level_import_diamond_stops_at_the_import_depth_budget() {
    // Each environment is loaded once, but merging copies what it imports along every path.
    let (root, folder) = diamond(40);
    let e = run_with(root, folder, false);
    assert_stopped_by(&e, "(the import-depth budget)");
}

#[test]
fn an_import_diamond_within_budget_loads_each_environment_once() {
    let (root, folder) = diamond(8);
    let e = run_with(root, folder, false);
    assert!(!e.has_errors(), "{:?}", errors(&e));
    let properties = e.properties.unwrap();
    assert_eq!(properties.len(), 9, "{:?}", properties.keys());
}

#[test]
fn more_imports_than_the_budget_are_refused() {
    let mut folder = HashMap::new();
    folder.insert("app/base".to_owned(), "values:\n  b: 1\n".to_owned());
    let root = format!("imports: [{}]\n", vec!["app/base"; 300].join(", "));
    let e = run_with(root, folder, false);
    assert_stopped_by(
        &e,
        "more than 256 imports in one evaluation (the imports budget)",
    );
}

#[test]
fn joins_splits_and_base64_are_sized_before_they_are_made() {
    let big = "x".repeat(600_000);
    for body in [
        format!("values:\n  s: {big}\n  j:\n    fn::join: [\"\", [\"${{s}}\", \"${{s}}\"]]\n"),
        format!("values:\n  s: {big}\n  b:\n    fn::toBase64: ${{s}}${{s}}\n"),
        format!(
            "values:\n  s: {}\n  b:\n    fn::toBase64: ${{s}}\n",
            "x".repeat(900_000)
        ),
    ] {
        assert_stopped_by(&run(body), "budget");
    }
    let e = run(format!(
        "values:\n  s: {}\n  parts:\n    fn::split: [\"\", \"${{s}}\"]\n",
        "x".repeat(900_000)
    ));
    assert_stopped_by(&e, "(the interpolation-growth budget)");
}

#[test]
fn a_large_realistic_environment_stays_within_every_budget() {
    // The benchmark's environment (benches/eval.rs): an import of 500 databases, 1,000
    // services interpolating and referencing them, and 20 copies of a 1,000-member object.
    let mut base = String::from("values:\n");
    for i in 0..500 {
        let _ = write!(
            base,
            "  db{i}:\n    host: db{i}.internal\n    port: 5432\n    user: app{i}\n    \
             password:\n      fn::secret: pw-{i}-Zm9vYmFy\n"
        );
    }
    let mut root = String::from("imports:\n  - shared/base\nvalues:\n  services:\n");
    for i in 0..1000 {
        let d = i % 500;
        let _ = write!(
            root,
            "    svc{i}:\n      name: svc{i}\n      \
             url: postgres://${{db{d}.user}}:${{db{d}.password}}@${{db{d}.host}}:${{db{d}.port}}/app\n      \
             database: ${{db{d}}}\n      json:\n        fn::toJSON: ${{db{d}.host}}\n"
        );
    }
    root.push_str("  catalog:\n");
    for i in 0..1000 {
        let _ = writeln!(root, "    entry{i}: value-{i}");
    }
    root.push_str("  copies:\n");
    for i in 0..20 {
        let _ = writeln!(root, "    copy{i}: ${{catalog}}");
    }
    let folder = HashMap::from([("shared/base".to_owned(), base)]);
    let e = run_with(root, folder, false);
    assert!(!e.has_errors(), "{:?}", errors(&e));
    assert_eq!(e.properties.unwrap().len(), 503);
}

#[test]
fn deep_json_in_from_json_stops_at_a_budget_or_at_the_json_reader() {
    for depth in [127, 10_000] {
        let json = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let e = run(format!("values:\n  x:\n    fn::fromJSON: '{json}'\n"));
        let errors = errors(&e);
        assert!(
            errors.iter().any(|s| s.contains("(the depth budget)"))
                || errors
                    .iter()
                    .any(|s| s.contains("recursion limit exceeded")),
            "{depth}: {errors:?}"
        );
    }
}

#[test]
fn many_misses_against_many_long_keys_are_charged_to_the_steps_budget() {
    // Names of about 60 characters, under the hint's bound (64): each miss is compared with
    // every key.
    let misses = |key: &str| {
        let mut yaml = String::from("values:\n  o:\n");
        for i in 0..2_000 {
            let _ = writeln!(yaml, "    {key}{i}: x");
        }
        for i in 0..2_000 {
            let _ = writeln!(yaml, "  m{i}: ${{o.{key}missing{i}}}");
        }
        yaml
    };
    assert_stopped_by(
        &run(misses(&"k".repeat(50))),
        "(the evaluation-steps budget)",
    );
    // Names of 200 characters get no hint, so the misses cost no comparison at all.
    let e = run(misses(&"k".repeat(200)));
    let errors = errors(&e);
    assert_eq!(errors.len(), 2_000, "{:?}", &errors[..3.min(errors.len())]);
    assert!(
        errors
            .iter()
            .all(|s| s.starts_with("unknown property") && !s.contains("did you mean")),
        "{:?}",
        &errors[..3]
    );
}

/// `x0` .. `x{levels}`: `ab` doubled per level, so `x{n}` is 2^(n+1) bytes.
fn doubled(levels: usize) -> String {
    let mut yaml = String::from("values:\n  x0: ab\n");
    for i in 1..=levels {
        let _ = writeln!(yaml, "  x{i}: ${{x{}}}${{x{}}}", i - 1, i - 1);
    }
    yaml
}

#[test]
fn to_json_stops_at_the_value_size_budget_while_it_escapes() {
    // 100 KB of `<` used 20 times: 2 MB of strings (inside every budget) whose Go escaping
    // (`\u003c`) would make a 12 MB text.
    let body = format!(
        "values:\n  x: \"{}\"\n  j:\n    fn::toJSON: [{}]\n",
        "<".repeat(100_000),
        vec!["\"${x}\""; 20].join(", ")
    );
    let e = run(body);
    assert!(
        errors(&e).iter().any(|s| s.starts_with(
            "evaluation stopped: a value would be more than 1048576 bytes, over the \
             1048576-byte value-size budget"
        )),
        "{:?}",
        errors(&e)
    );
    // Within the budget, the same shape is written as Go writes it.
    let e = run("values:\n  x: \"<&>\"\n  j:\n    fn::toJSON: [\"${x}\"]\n".to_owned());
    assert!(!e.has_errors(), "{:?}", errors(&e));
    assert_eq!(
        e.properties.unwrap()["j"].to_json(false),
        serde_json::json!("[\"\\u003c\\u0026\\u003e\"]")
    );
}

#[test]
fn to_yaml_stops_at_the_value_size_budget_while_it_indents() {
    // 6,000 leaves 60 mappings down: a few hundred KB of values, but each leaf's line is
    // indented by 240 spaces in the YAML text.
    let mut yaml = format!("values:\n  l0: [{}]\n", vec!["a"; 6_000].join(", "));
    for i in 1..=60 {
        let _ = writeln!(yaml, "  l{i}:\n    k: ${{l{}}}", i - 1);
    }
    yaml.push_str("  y:\n    fn::toYAML: ${l60}\n");
    assert_stopped_by(&run(yaml), "value-size budget");
}

#[test]
fn an_interpolation_of_a_large_value_used_many_times_stops_at_the_value_size_budget() {
    // `x18` is 512 KiB; 1,000 uses of it in one string once copied 512 MB before the size
    // check. The text is now made against the budget and stops at the third use.
    let mut yaml = doubled(18);
    let _ = writeln!(yaml, "  y: \"{}\"", "${x18}".repeat(1_000));
    let e = run(yaml);
    assert!(
        errors(&e).iter().any(|s| s
            .starts_with("evaluation stopped: a value would be more than 1048576 bytes, over the")),
        "{:?}",
        errors(&e)
    );
    // The same for the text of an array (each element quoted) and for fn::toString.
    let mut yaml = doubled(18);
    let _ = writeln!(yaml, "  a: [{}]", vec!["\"${x18}\""; 1_000].join(", "));
    yaml.push_str("  y: \"${a}\"\n  z:\n    fn::toString: ${a}\n");
    assert_stopped_by(&run(yaml), "value-size budget");
}

#[test]
fn from_json_of_a_huge_array_stops_at_the_growth_budget() {
    // 400k elements in a 1.2 MB string: each decoded and evaluated node is charged.
    let body = format!(
        "values:\n  j:\n    fn::fromJSON: \"[{}]\"\n",
        vec!["1"; 400_000].join(",")
    );
    assert_stopped_by(&run(body), "(the interpolation-growth budget)");
    let body = format!(
        "values:\n  j:\n    fn::fromJSON: \"[{}]\"\n",
        vec!["1"; 10_000].join(",")
    );
    let e = run(body);
    assert!(!e.has_errors(), "{:?}", errors(&e));
}
