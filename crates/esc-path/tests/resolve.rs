//! Resolution against a small value tree, and property tests for printing and walking.

use std::collections::BTreeMap;

use esc_path::{Kind, PropertyPath, ResolveError, Segment, Tree};
use proptest::prelude::*;
use serde_json::json;

/// A minimal tree: JSON plus a secret flag, enough to exercise every rule.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Bool(bool),
    Num(i64),
    Str(String),
    Arr(Vec<V>),
    Obj(BTreeMap<String, V>),
    Secret(Box<V>),
    Unknown,
}

impl V {
    fn inner(&self) -> &V {
        match self {
            V::Secret(v) => v.inner(),
            v => v,
        }
    }
}

impl From<serde_json::Value> for V {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => V::Null,
            serde_json::Value::Bool(b) => V::Bool(b),
            serde_json::Value::Number(n) => V::Num(n.as_i64().unwrap()),
            serde_json::Value::String(s) => V::Str(s),
            serde_json::Value::Array(a) => V::Arr(a.into_iter().map(V::from).collect()),
            serde_json::Value::Object(o) => {
                V::Obj(o.into_iter().map(|(k, v)| (k, V::from(v))).collect())
            }
        }
    }
}

impl Tree for V {
    fn kind(&self) -> Kind {
        match self.inner() {
            V::Null => Kind::Null,
            V::Bool(_) => Kind::Bool,
            V::Num(_) => Kind::Number,
            V::Str(_) => Kind::String,
            V::Arr(_) => Kind::Array,
            V::Obj(_) => Kind::Object,
            V::Unknown => Kind::Unknown,
            V::Secret(_) => unreachable!(),
        }
    }
    fn member(&self, key: &str) -> Option<&Self> {
        match self.inner() {
            V::Obj(o) => o.get(key),
            _ => None,
        }
    }
    fn keys(&self) -> Vec<&str> {
        match self.inner() {
            V::Obj(o) => o.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
    fn elements(&self) -> Option<&[Self]> {
        match self.inner() {
            V::Arr(a) => Some(a),
            _ => None,
        }
    }
    fn from_elements(elements: Vec<Self>) -> Self {
        V::Arr(elements)
    }
    fn is_secret(&self) -> bool {
        matches!(self, V::Secret(_))
    }
}

fn doc() -> V {
    V::from(json!({
        "root": {
            "nested": "n",
            "double": {"nest": "dn"},
            "array": [
                {"nested": "a0", "field": "f0", "*": "star0"},
                [0, {"nested": "a01"}],
            ],
            "key with \"escaped\" quotes": "q",
            "key with a .": "dot",
        },
        "root key with \"escaped\" quotes": {"nested": "rq"},
        "root key with a .": (0..101).collect::<Vec<_>>(),
    }))
}

fn get(path: &str, root: &V) -> Result<V, ResolveError> {
    let path = PropertyPath::parse(path).unwrap();
    path.resolve(root).map(|r| r.value.into_owned())
}

fn s(text: &str) -> V {
    V::Str(text.to_owned())
}

#[test]
fn every_example_from_the_pulumi_docs_resolves() {
    let mut doc = doc();
    // Give root.array 101 elements so that [100] exists, and nested arrays for the deep cases.
    if let V::Obj(top) = &mut doc {
        let V::Obj(root) = top.get_mut("root").unwrap() else {
            panic!()
        };
        let V::Arr(array) = root.get_mut("array").unwrap() else {
            panic!()
        };
        array.resize(101, V::Null);
        root.insert(
            "nested".into(),
            V::from(json!({"array": [{"double": [0, "deep"]}]})),
        );
    }
    let cases = [
        ("root.nested.array[0].double[1]", s("deep")),
        (r#"root["nested"].array[0].double[1]"#, s("deep")),
        ("root.double.nest", s("dn")),
        (r#"root["double"].nest"#, s("dn")),
        (r#"root["double"]["nest"]"#, s("dn")),
        ("root.array[0].nested", s("a0")),
        ("root.array[1][1].nested", s("a01")),
        ("root.array[100]", V::Null),
        (r#"root["key with \"escaped\" quotes"]"#, s("q")),
        (r#"root["key with a ."]"#, s("dot")),
        (r#"["root key with \"escaped\" quotes"].nested"#, s("rq")),
        (r#"["root key with a ."][100]"#, V::Num(100)),
    ];
    for (path, expected) in cases {
        assert_eq!(get(path, &doc).unwrap(), expected, "resolving {path}");
    }
    assert!(matches!(get("root", &doc).unwrap(), V::Obj(_)));
    assert!(matches!(get("root.nested", &doc).unwrap(), V::Obj(_)));
    assert!(matches!(get(r#"root["nested"]"#, &doc).unwrap(), V::Obj(_)));
    assert!(matches!(get("root.array[0]", &doc).unwrap(), V::Obj(_)));
    assert!(matches!(get("root.array", &doc).unwrap(), V::Arr(a) if a.len() == 101));
}

#[test]
fn a_quoted_star_is_the_literal_key_and_a_bare_star_in_brackets_maps_over_the_array() {
    let doc = V::from(json!({"items": [
        {"field": 1, "*": "a"},
        {"field": 2, "*": "b"},
    ]}));
    assert_eq!(get("items[*].field", &doc).unwrap(), V::from(json!([1, 2])));
    assert_eq!(get(r#"items[0]["*"]"#, &doc).unwrap(), s("a"));
    assert_eq!(
        get(r#"items[*]["*"]"#, &doc).unwrap(),
        V::from(json!(["a", "b"]))
    );
    let doc = V::from(json!({"root": {"array": {"*": {"field": "star"}}}}));
    assert_eq!(get(r#"root.array["*"].field"#, &doc).unwrap(), s("star"));
    let doc = V::from(json!({"root": {"array": [{"field": 1}, {"field": 2}]}}));
    assert_eq!(
        get("root.array[*].field", &doc).unwrap(),
        V::from(json!([1, 2]))
    );
}

#[test]
fn wildcards_nest_and_map_the_rest_of_the_path() {
    let doc = V::from(json!({"m": [[{"x": 1}, {"x": 2}], [{"x": 3}]]}));
    assert_eq!(
        get("m[*][*].x", &doc).unwrap(),
        V::from(json!([[1, 2], [3]]))
    );
    assert_eq!(get("m[*]", &doc).unwrap(), get("m", &doc).unwrap());
    let empty = V::from(json!({"m": []}));
    assert_eq!(get("m[*].x", &empty).unwrap(), V::Arr(vec![]));
}

#[test]
fn the_empty_path_is_the_whole_value() {
    let doc = doc();
    assert_eq!(get("", &doc).unwrap(), doc);
}

#[test]
fn a_missing_key_names_where_it_was_looked_for_and_suggests_a_near_miss() {
    let doc = doc();
    assert_eq!(
        get("root.nestd", &doc).unwrap_err().to_string(),
        r#"`root` has no key "nestd" (did you mean "nested"?)"#
    );
    assert_eq!(
        get("nope", &doc).unwrap_err().to_string(),
        r#"the top level has no key "nope""#
    );
    assert_eq!(
        get("root.double.nest.deeper", &doc)
            .unwrap_err()
            .to_string(),
        r#"`root.double.nest` is a string, so it has no key "deeper""#
    );
}

#[test]
fn a_long_missing_key_against_a_huge_key_gets_no_hint_and_a_short_message() {
    // The shape that once kept an async worker busy for seconds: a 20k-char key missing
    // from an object whose one key is 1 MB.
    let huge = "k".repeat(1 << 20);
    let doc = V::Obj(BTreeMap::from([(huge, s("v"))]));
    let key = "k".repeat(20_000);
    let path = PropertyPath::from(vec![Segment::Key(key)]);
    let err = path.resolve(&doc).unwrap_err();
    let ResolveError::MissingKey { suggestion, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(suggestion, &None);
    let message = err.to_string();
    assert!(message.len() < 200, "{} bytes: {message}", message.len());
    assert!(message.contains("(20000 bytes)"), "{message}");
}

#[test]
fn a_long_path_is_printed_cut_short_in_errors() {
    let long = (0..2000)
        .map(|i| format!("k{i}"))
        .collect::<Vec<_>>()
        .join(".");
    let doc = V::from(json!({"k0": 1}));
    let message = get(&format!("k0.{long}"), &doc).unwrap_err().to_string();
    assert!(message.starts_with("`k0` is a number"), "{message}");
    let deep = V::from(json!({"a": {}}));
    let path = format!("a.{long}");
    let message = get(&path, &deep).unwrap_err().to_string();
    assert!(message.len() < 200, "{message}");
    // 200 levels of 20-character keys: the path where the walk stops is 4,200 characters.
    let mut nested = json!(1);
    let keys: Vec<String> = (0..200).map(|i| format!("k{i:019}")).collect();
    for key in keys.iter().rev() {
        nested = json!({ (key.clone()): nested });
    }
    let message = get(&format!("{}.x", keys.join(".")), &V::from(nested))
        .unwrap_err()
        .to_string();
    assert!(message.len() < 400, "{} bytes: {message}", message.len());
    assert!(message.contains("…"), "{message}");
}

#[test]
fn index_errors_say_how_long_the_array_is() {
    let doc = doc();
    assert_eq!(
        get("root.array[2]", &doc).unwrap_err().to_string(),
        "`root.array` has 2 elements, so index 2 is out of range"
    );
    assert_eq!(
        get("root.array[-1]", &doc).unwrap_err().to_string(),
        "`root.array` has 2 elements, so index -1 is out of range"
    );
    assert_eq!(
        get("root.double[0]", &doc).unwrap_err().to_string(),
        "`root.double` is an object, not an array, so it has no index 0"
    );
    assert_eq!(
        get("root.double[*]", &doc).unwrap_err().to_string(),
        "`root.double` is an object, but [*] only applies to arrays"
    );
}

#[test]
fn an_error_inside_a_wildcard_names_the_element() {
    let doc = V::from(json!({"items": [{"x": 1}, {"y": 2}]}));
    let err = get("items[*].x", &doc).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"`items[1]` has no key "x" (did you mean "y"?)"#
    );
    assert_eq!(err.at().to_string(), "items[1]");
}

#[test]
fn unknown_values_do_not_resolve() {
    let mut map = BTreeMap::new();
    map.insert("dyn".to_owned(), V::Unknown);
    let doc = V::Obj(map);
    assert_eq!(
        get("dyn", &doc).unwrap_err().to_string(),
        "`dyn` is unknown: ESC could not compute it"
    );
    assert_eq!(
        get("dyn.x", &doc).unwrap_err().to_string(),
        "`dyn` is unknown: ESC could not compute it"
    );
}

#[test]
fn walking_through_a_secret_container_marks_the_result_secret() {
    let mut map = BTreeMap::new();
    map.insert(
        "db".to_owned(),
        V::Secret(Box::new(V::from(json!({"password": "p"})))),
    );
    map.insert("plain".to_owned(), s("x"));
    let doc = V::Obj(map);
    let path = PropertyPath::parse("db.password").unwrap();
    assert!(path.resolve(&doc).unwrap().under_secret);
    let path = PropertyPath::parse("plain").unwrap();
    assert!(!path.resolve(&doc).unwrap().under_secret);
}

// ---- property tests -------------------------------------------------------------------------

/// Keys as users write them, biased towards the characters the grammar cares about.
fn key_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-z0-9 .\[\]"\\*é_$-]{0,6}"#).unwrap()
}

fn segment_strategy() -> impl Strategy<Value = Segment> {
    prop_oneof![
        4 => key_strategy().prop_map(Segment::Key),
        2 => any::<i64>().prop_map(Segment::Index),
        1 => Just(Segment::Wildcard),
    ]
}

/// A key can be printed so it parses back unless it ends in a backslash and also needs quoting.
fn representable(segment: &Segment) -> bool {
    match segment {
        Segment::Key(k) => !k.ends_with('\\') || (!k.is_empty() && !k.contains(['.', '['])),
        _ => true,
    }
}

proptest! {
    #[test]
    fn printing_a_path_and_parsing_it_again_gives_the_same_path(
        segments in proptest::collection::vec(segment_strategy(), 0..6)
            .prop_filter("representable", |s| s.iter().all(representable))
    ) {
        let path = PropertyPath::from(segments);
        let printed = path.to_string();
        let reparsed = PropertyPath::parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("{printed:?} does not parse: {e}")))?;
        prop_assert_eq!(reparsed, path);
    }

    #[test]
    fn any_text_that_parses_prints_to_text_that_parses_to_the_same_path(
        text in proptest::string::string_regex(r#"[a-c0-9.\[\]"\\*+-]{0,12}"#).unwrap()
    ) {
        if let Ok(path) = PropertyPath::parse(&text) {
            let printed = path.to_string();
            prop_assert_eq!(PropertyPath::parse(&printed).ok(), Some(path), "printed {:?}", printed);
        }
    }

    #[test]
    fn a_path_walked_by_hand_resolves_to_the_value_it_walked_to(
        (doc, steps) in tree_strategy().prop_flat_map(|doc| {
            let n = 8usize;
            (Just(doc), proptest::collection::vec(any::<prop::sample::Index>(), 0..n))
        })
    ) {
        // Reference model: descend by choosing a child at each step while one exists.
        let mut node = &doc;
        let mut segments = Vec::new();
        for step in steps {
            match node {
                V::Obj(o) if !o.is_empty() => {
                    let (k, v) = o.iter().nth(step.index(o.len())).unwrap();
                    segments.push(Segment::Key(k.clone()));
                    node = v;
                }
                V::Arr(a) if !a.is_empty() => {
                    let i = step.index(a.len());
                    segments.push(Segment::Index(i as i64));
                    node = &a[i];
                }
                _ => break,
            }
        }
        let path = PropertyPath::from(segments);
        let printed = path.to_string();
        let reparsed = PropertyPath::parse(&printed).unwrap();
        let resolved = reparsed.resolve(&doc).unwrap();
        prop_assert_eq!(resolved.value.as_ref(), node);
    }
}

fn tree_strategy() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        Just(V::Null),
        any::<bool>().prop_map(V::Bool),
        any::<i64>().prop_map(V::Num),
        "[a-z]{0,4}".prop_map(V::Str),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(V::Arr),
            proptest::collection::btree_map(
                key_strategy()
                    .prop_filter("representable", |k| representable(&Segment::Key(k.clone()))),
                inner,
                0..5,
            )
            .prop_map(V::Obj),
        ]
    })
}
