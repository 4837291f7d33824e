//! The image's link of the binary, opt-in with `ESC_CSI_RELEASE_LINK=1` (the Dockerfile sets
//! it): packed relative relocations (DT_RELR, glibc >= 2.36 as in distroless/cc-debian12), and
//! on x86_64, where rustc links with rust-lld, the functions the daemon runs at start and on
//! every mount placed side by side (`link-order.txt`, made by `scripts/link-order --update`),
//! so the kernel maps about a third of the code pages it otherwise would. Without the variable
//! the binary links as any other and runs on older glibc.

use std::env;

fn main() {
    println!("cargo::rerun-if-env-changed=ESC_CSI_RELEASE_LINK");
    if env::var_os("ESC_CSI_RELEASE_LINK").is_none_or(|v| v.is_empty() || v == "0") {
        return;
    }
    println!("cargo::rustc-link-arg-bin=esc-csi=-Wl,-z,pack-relative-relocs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "linux" {
        let order = concat!(env!("CARGO_MANIFEST_DIR"), "/link-order.txt");
        println!("cargo::rerun-if-changed={order}");
        println!("cargo::rustc-link-arg-bin=esc-csi=-Wl,--symbol-ordering-file={order}");
        // Functions the list names that this build no longer has are skipped, silently.
        println!("cargo::rustc-link-arg-bin=esc-csi=-Wl,--no-warn-symbol-ordering");
    } else {
        println!("cargo::warning=no function ordering on {arch}-{os}: it needs rust-lld");
    }
}
