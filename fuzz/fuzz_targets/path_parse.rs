//! Property paths (`secretKey`, `secretPath`): parsing never panics, a parsed path prints as
//! text that parses back to the same path, and resolving it against a tree never panics.
#![no_main]

use esc_path::PropertyPath;
use libfuzzer_sys::fuzz_target;

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
    let tree = esc_api::Value::from_json(serde_json::json!({
        "a": {"b": [1, {"c": "d"}], "x.y": true, "[0]": null},
        "list": ["p", "q"],
        "": {"empty": 1}
    }));
    let _ = path.resolve(&tree).is_ok();
});
