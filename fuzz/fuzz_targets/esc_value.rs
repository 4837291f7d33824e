//! The ESC client's lenient `Value` decoder, fed whatever an ESC server (or a proxy in front of
//! it) might send: decoding never panics; the server's wire form (every number as its text)
//! decodes back to the same value; and the compact wire form decodes to a value with the same
//! compact form (an unknown node's data is dropped there, so the values themselves may differ).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<esc_api::Value>(data) else {
        return;
    };
    let exact = serde_json::to_string(&value.wire()).expect("a value always serializes");
    match esc_api::Value::decode_wire(&exact) {
        Ok(again) => assert!(again == value, "the wire form {exact} decodes differently"),
        // Wrapping every node doubles the nesting of a bare array.
        Err(esc_value::DecodeError::TooDeep) => {}
        Err(e) => panic!("the wire form {exact} does not decode: {e}"),
    }
    let wire = value.to_wire();
    match serde_json::from_value::<esc_api::Value>(wire.clone()) {
        Ok(again) => assert_eq!(
            again.to_wire(),
            wire,
            "the wire form changes on a second trip"
        ),
        Err(e) if e.to_string().contains("nests more than") => {}
        Err(e) => panic!("the wire form {wire} does not decode: {e}"),
    }
    let _ = format!("{value:?}");
    let _ = value.contains_secret();
});
