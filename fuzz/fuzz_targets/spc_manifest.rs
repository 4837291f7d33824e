//! The SecretProviderClass manifest reader behind `esc-csi mount` and `check`: any file a user
//! points it at gives a class or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = esc_csi_local::manifest::read(text, None);
    let _ = esc_csi_local::manifest::read(text, Some("app"));
});
