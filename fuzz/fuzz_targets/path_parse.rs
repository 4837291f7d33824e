//! Property paths (`secretKey`, `secretPath`, esc-server's `?property=`): parsing never panics,
//! a parsed path prints as text that parses back to the same path, and resolving it against a
//! tree never panics, stays cheap and says why briefly. The tree has a 256 KiB key: a "did you
//! mean" over it once cost seconds per lookup (caught by .ci/fuzz's 1 s timeout for this target).
#![no_main]

use std::sync::OnceLock;

use esc_path::PropertyPath;
use libfuzzer_sys::fuzz_target;

fn tree() -> &'static esc_api::Value {
    static TREE: OnceLock<esc_api::Value> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut long = serde_json::Map::new();
        long.insert("k".repeat(256 << 10), serde_json::json!(1));
        long.insert("key".to_owned(), serde_json::json!(2));
        esc_api::Value::from_json(serde_json::json!({
            "a": {"b": [1, {"c": "d"}], "x.y": true, "[0]": null},
            "list": ["p", "q"],
            "": {"empty": 1},
            "long": long,
        }))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = PropertyPath::parse(text) else {
        return;
    };
    let printed = path.to_string();
    let again = PropertyPath::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} (printed from {text:?}) does not parse: {e}"));
    assert_eq!(again, path, "{text:?} printed as {printed:?}");
    let long = esc_path::Tree::member(tree(), "long").expect("the tree has it");
    for root in [tree(), long] {
        if let Err(e) = path.resolve(root) {
            let message = e.to_string();
            assert!(message.len() < 2048, "{} bytes for {text:?}", message.len());
        }
    }
});
