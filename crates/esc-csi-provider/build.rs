//! Generates the CSI driver's provider API from `proto/v1alpha1.proto` with protox, a pure-Rust
//! protobuf compiler, so building needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/v1alpha1.proto");
    let descriptors = protox::compile(["v1alpha1.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".v1alpha1.File.contents")
        // Both carry secrets: their Debug is written by hand to redact them.
        .skip_debug([".v1alpha1.File", ".v1alpha1.MountRequest"])
        .compile_fds(descriptors)?;
    Ok(())
}
