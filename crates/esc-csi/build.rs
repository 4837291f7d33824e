//! The image's link of the binary, opt-in with `ESC_CSI_RELEASE_LINK=1` (the Dockerfile sets
//! it): packed relative relocations (DT_RELR, glibc >= 2.36 as in distroless/cc-debian12), so the
//! loader reads 7 KB of relocations at start instead of 630 KB. Without the variable the binary
//! links as any other and runs on older glibc.
//!
//! An ordering of hot functions used to be applied here as well. It cut resident code pages by
//! about 5 MiB, but those are clean pages the kernel reclaims under pressure, not the daemon's
//! own memory, and the list went stale with every compiler or dependency update; it was retired
//! (docs/performance.md, "Memory").

use std::env;

fn main() {
    println!("cargo::rerun-if-env-changed=ESC_CSI_RELEASE_LINK");
    if env::var_os("ESC_CSI_RELEASE_LINK").is_none_or(|v| v.is_empty() || v == "0") {
        return;
    }
    println!("cargo::rustc-link-arg-bin=esc-csi=-Wl,-z,pack-relative-relocs");
}
