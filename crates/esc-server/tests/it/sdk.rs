//! The official Python SDK (`pulumi-esc-sdk`) reading from our server: the proof that our
//! shapes are the API's, judged by a client we did not write.
//!
//! `cargo test` needs no network, so the SDK is installed beforehand (`.ci/run` does it into a
//! venv under `target/`) and found through `ESC_SDK_PYTHON`. The test is `#[ignore]`d, so that
//! `cargo test` reports it as not run rather than passed; `cargo test -- --ignored` runs it and
//! fails if the SDK is missing.

use crate::support;

use std::process::Command;

use serde_json::json;
use support::{Fixture, TOKEN};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/read.py");

/// The venv's python; a missing or unusable one fails the test.
fn sdk_python() -> String {
    let python = std::env::var("ESC_SDK_PYTHON").unwrap_or_default();
    let usable = !python.is_empty()
        && Command::new(&python)
            .args(["-c", "import pulumi_esc_sdk"])
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        usable,
        "ESC_SDK_PYTHON ({python:?}) is not a python with pulumi-esc-sdk installed; .ci/run \
         installs one into target/esc-sdk-venv (docs/esc-server.md)"
    );
    python
}

// Several threads: the SDK runs on a blocking one while the server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a peer test: needs the official Python SDK (ESC_SDK_PYTHON); .ci/run runs it"]
async fn the_official_python_sdk_reads_an_environment_with_traces_on_every_value() {
    let python = sdk_python();
    let definition = "imports: [base]
values:
  app:
    name: shop
    port: 8080
    hosts: [a.example, b.example]
    url: https://${app.name}.${region}.example
  password:
    fn::secret: hunter2
  nothing: null
";
    let files = [
        ("shop/dev.yaml", "values: {app: {port: 1}}\n"),
        ("default/base.yaml", "values: {region: eu}\n"),
    ];
    let fixture = Fixture::start_with(&files, |c| c.tokens = vec![TOKEN.into()]).await;
    // Revision 1 is the first content; the SDK then sees revision 2.
    fixture.get("/environments/acme/shop/dev").await;
    fixture.write("shop/dev.yaml", definition);
    let host = format!("http://{}", fixture.running.addr());

    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).args([SCRIPT, &host, TOKEN]).output()
    })
    .await
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the SDK failed:\n{stderr}");
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(got["environments"], json!(["default/base", "shop/dev"]));
    assert_eq!(got["raw_definition"], definition);
    assert_eq!(got["all_traced"], true, "{got}");
    assert_eq!(got["model_traced"], true, "{got}");
    assert_eq!(got["port"], 8080);
    assert_eq!(got["port_traced"], true);
    assert_eq!(got["pinned"], json!({"app": {"port": 1}}));
    assert_eq!(got["revisions"], json!([2, 1]));
    assert_eq!(got["tags"], json!(["latest"]));
    assert_eq!(got["checked"], json!({"x": 1}));
    assert_eq!(
        got["values"],
        json!({
            "app": {
                "name": "shop", "port": 8080, "hosts": ["a.example", "b.example"],
                "url": "https://shop.eu.example",
            },
            "region": "eu",
            "password": "hunter2",
            "nothing": null,
        })
    );
    assert_eq!(got["secret_flags"]["password"], true);
    assert_eq!(got["secret_flags"]["app"], false);
}
