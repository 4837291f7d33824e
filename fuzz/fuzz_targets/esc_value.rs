//! The ESC client's lenient `Value` decoder, fed whatever an ESC server (or a proxy in front of
//! it) might send: decoding never panics, and a decoded value's wire form decodes to a value
//! with the same wire form (an unknown node's data is dropped on the wire, so the values
//! themselves may differ there).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<esc_api::Value>(data) else {
        return;
    };
    let wire = value.to_wire();
    let again: esc_api::Value = serde_json::from_value(wire.clone())
        .unwrap_or_else(|e| panic!("the wire form {wire} does not decode: {e}"));
    assert_eq!(
        again.to_wire(),
        wire,
        "the wire form changes on a second trip"
    );
    let _ = format!("{value:?}");
    let _ = value.contains_secret();
});
