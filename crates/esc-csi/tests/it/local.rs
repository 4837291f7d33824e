//! `esc-csi mount` and `esc-csi check` as a user runs them: exact output, exact error text,
//! and the files on disk.

use std::path::Path;
use std::process::{Command, Output};

use esc_csi_testkit::FakeEsc;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_esc-csi");
const TOKEN: &str = "pul-0123456789abcdef";

fn run(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("PULUMI_ACCESS_TOKEN")
        .env_remove("ESC_CSI_LOG_LEVEL")
        .env("HOME", "/nonexistent");
    if let Some(token) = token {
        command.env("PULUMI_ACCESS_TOKEN", token);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `esc-csi mount CLASS --target TARGET --environments FOLDER`: no ESC account, no token.
fn mount_local(class: &str, target: &str, environments: &str) -> Output {
    run(
        &[
            "mount",
            class,
            "--target",
            target,
            "--environments",
            environments,
        ],
        None,
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn class(api: &str, secrets: &str) -> String {
    let secrets: String = secrets.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata:\n  \
         name: app\n  namespace: web\nspec:\n  provider: pulumi\n  parameters:\n    apiUrl: \
         {api}\n    organization: acme\n    project: app\n    environment: dev\n    secrets: |\n\
         {secrets}"
    )
}

fn write_class(dir: &Path, text: &str) -> String {
    let path = dir.join("spc.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const ITEMS: &str = "- fileName: hello\n  secretKey: app.hello\n- fileName: conf/db.json\n  \
                     secretKey: app.db\n  format: json\n  mode: \"0400\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn mount_writes_the_files_and_reports_what_changed_on_each_run() {
    let esc = FakeEsc::start().await;
    esc.accept_token(TOKEN);
    esc.set(
        "acme/app/dev",
        json!({"app": {"hello": "world", "db": {"user": "app", "password": "s3cr3t"}}}),
    );
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class(&esc.url(), ITEMS));
    let target = dir.path().join("mnt");
    let target_arg = target.to_str().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let args = [
        "mount",
        &spc,
        "--target",
        target_arg,
        "--version-key-file",
        key.to_str().unwrap(),
    ];

    let first = run(&args, Some(TOKEN));
    assert!(first.status.success(), "{}", stderr(&first));
    let table = stdout(&first);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "FILE          BYTES  MODE  VERSION       CHANGE");
    assert!(
        lines[1].starts_with("hello             5  0644  "),
        "{table}"
    );
    assert!(lines[1].ends_with("  new"), "{table}");
    assert!(
        lines[2].starts_with("conf/db.json     44  0400  "),
        "{table}"
    );
    assert_eq!(
        lines[3],
        format!("2 files in {target_arg}: 2 new, 0 changed, 0 unchanged, 0 removed")
    );
    assert_eq!(
        std::fs::read_to_string(target.join("hello")).unwrap(),
        "world"
    );
    let db: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(target.join("conf/db.json")).unwrap())
            .unwrap();
    assert_eq!(db, json!({"password": "s3cr3t", "user": "app"}));
    assert_eq!(stderr(&first), "");

    let again = run(&args, Some(TOKEN));
    assert!(again.status.success());
    let table_again = stdout(&again);
    assert!(
        table_again.ends_with(&format!(
            "2 files in {target_arg}: 0 new, 0 changed, 2 unchanged, 0 removed\n"
        )),
        "{table_again}"
    );
    // Same key, same content: the same versions.
    assert_eq!(
        table.lines().nth(1).unwrap().replace("new", ""),
        table_again.lines().nth(1).unwrap().replace("unchanged", "")
    );

    esc.set("acme/app/dev", json!({"app": {"hello": "there", "db": {}}}));
    std::fs::write(
        &spc,
        class(&esc.url(), "- fileName: hello\n  secretKey: app.hello\n"),
    )
    .unwrap();
    let changed = run(&args, Some(TOKEN));
    assert!(changed.status.success());
    let table = stdout(&changed);
    assert!(
        table.contains("\nconf/db.json      -  -     -             removed\n"),
        "{table}"
    );
    assert!(
        table.ends_with(": 0 new, 1 changed, 0 unchanged, 1 removed\n"),
        "{table}"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("hello")).unwrap(),
        "there"
    );
    assert!(!target.join("conf").exists());
    assert!(!table.contains(TOKEN) && !stderr(&changed).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_shows_the_unknown_key_warning_that_check_prints() {
    let esc = FakeEsc::start().await;
    esc.accept_token(TOKEN);
    esc.set("acme/app/dev", json!({"app": {"hello": "world"}}));
    let dir = tempfile::tempdir().unwrap();
    let items = "- fileName: hello\n  secretKey: app.hello\n  description: greeting\n";
    let spc = write_class(dir.path(), &class(&esc.url(), items));
    let target = dir.path().join("mnt");
    let output = run(
        &["mount", &spc, "--target", target.to_str().unwrap()],
        Some(TOKEN),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(r#"unknown key \"description\" is ignored"#)
            || stderr(&output).contains(r#"unknown key "description" is ignored"#),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_of_a_missing_environment_fails_with_the_providers_message() {
    let esc = FakeEsc::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class(&esc.url(), ITEMS));
    let target = dir.path().join("mnt");
    let output = run(
        &["mount", &spc, "--target", target.to_str().unwrap()],
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "esc-csi: error: mount failed (NotFound): opening ESC environment acme/app/dev: HTTP 404 \
         Not Found: Environment 'acme/app/dev' not found. Check organization, project and \
         environment (and the version after '@'), and that the token in PULUMI_ACCESS_TOKEN \
         can see the environment\n"
    );
    assert!(!target.exists(), "nothing is written when the mount fails");
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_of_a_path_the_environment_lacks_names_the_item_and_suggests() {
    let esc = FakeEsc::start().await;
    esc.set("acme/app/dev", json!({"app": {"hello": "world", "db": {}}}));
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(
        dir.path(),
        &class(&esc.url(), "- fileName: hello\n  secretKey: app.helo\n"),
    );
    let target = dir.path().join("mnt");
    let output = run(
        &["mount", &spc, "--target", target.to_str().unwrap()],
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "esc-csi: error: mount failed (NotFound): cannot mount from ESC environment \
         acme/app/dev: secrets[0] (\"hello\"): `app` has no key \"helo\" (did you mean \
         \"hello\"?)\n"
    );
}

#[test]
fn mount_without_a_token_or_cluster_says_where_a_token_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class("https://api.pulumi.com/api/esc", ITEMS));
    let output = run(&["mount", &spc, "--target", "unused"], None);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.starts_with("esc-csi: error: mount failed (Unauthenticated): "),
        "{err}"
    );
}

#[test]
fn check_prints_the_files_of_a_valid_class() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class("https://api.pulumi.com/api/esc", ITEMS));
    let output = run(&["check", &spc], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "SecretProviderClass \"app\" is valid: 2 files from ESC environment acme/app/dev\n  \
         hello <- app.hello (plaintext, 0644)\n  conf/db.json <- app.db (json, 0400)\n"
    );
}

#[test]
fn check_applies_the_daemons_token_rules_given_as_flags_or_variables() {
    let dir = tempfile::tempdir().unwrap();
    let text = class("https://esc.example.com/api/esc", ITEMS).replace(
        "    organization: acme\n",
        "    organization: acme\n    oidcAudience: vault\n",
    );
    let spc = write_class(dir.path(), &text);
    let output = run(
        &[
            "check",
            &spc,
            "--allowed-api-url",
            "https://esc.internal/api/esc",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "esc-csi: error: SecretProviderClass \"app\" has 2 problems:\n\
         \x20 - parameter apiUrl: \"https://esc.example.com/api/esc\" is not an ESC API this \
         daemon sends tokens to (it allows https://api.pulumi.com/api/esc, \
         https://esc.internal/api/esc); the operator can add it with --allowed-api-url\n\
         \x20 - parameter oidcAudience: \"vault\" is not an audience esc-csi exchanges: only \
         this organization's \"urn:pulumi:org:acme\" is, so that tokens the pod holds for other \
         systems never leave the node; the operator can allow more with \
         --allowed-oidc-audience\n"
    );
    let mut command = Command::new(BIN);
    let output = command
        .args(["check", &spc, "--allowed-oidc-audience", "vault"])
        .env(
            "ESC_CSI_ALLOWED_API_URLS",
            "https://esc.internal/,https://esc.example.com/api",
        )
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn check_lists_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let text = class(
        "http://example.com/api/esc",
        "- fileName: a\n  secretKey: app.a\n- fileName: a\n  secretKey: app.b\n\
         - fileName: c\n  secretKey: 'app[\"x'\n- fileName: d\n  secretKy: app.d\n",
    )
    .replace("    environment: dev\n", "");
    let spc = write_class(dir.path(), &text);
    let output = run(&["check", &spc], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "esc-csi: error: SecretProviderClass \"app\" has 5 problems:\n\
         \x20 - parameter apiUrl: \"http://example.com/api/esc\" uses plain http, which would \
         send the access token unencrypted; use https (or start esc-csi with \
         --allow-insecure-api-url)\n\
         \x20 - parameter environment: missing; it is required\n\
         \x20 - secrets[2] (\"c\"): secretKey \"app[\\\"x\" does not parse: missing closing \
         quote in property name starting at column 4\n\
         \x20 - secrets[3] (\"d\"): unknown key \"secretKy\" (did you mean \"secretKey\"?)\n\
         \x20 - secrets[1] (\"a\"): fileName is already used by secrets[0] (\"a\")\n"
    );
}

#[test]
fn check_of_an_unreadable_manifest_says_why() {
    let output = run(&["check", "/nonexistent/spc.yaml"], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "esc-csi: error: cannot read /nonexistent/spc.yaml: No such file or directory (os error \
         2)\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), "kind: [");
    let output = run(&["check", &spc], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(&format!("esc-csi: error: {spc}: not valid YAML: ")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_of_a_file_without_a_class_names_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let output = run(&["check", &spc], None);
    assert_eq!(
        stderr(&output),
        format!("esc-csi: error: {spc}: no SecretProviderClass in it (found ConfigMap)\n")
    );
}

#[test]
fn mount_of_a_class_with_a_duplicate_file_name_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port: the class is refused before any connection is tried.
    let spc = write_class(
        dir.path(),
        &class(
            "http://127.0.0.1:9/api/esc",
            "- fileName: a\n  secretKey: x\n- fileName: a\n  secretKey: y\n",
        ),
    );
    let target = dir.path().join("mnt");
    let output = run(
        &["mount", &spc, "--target", target.to_str().unwrap()],
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "esc-csi: error: mount failed (InvalidArgument): invalid SecretProviderClass \"app\": \
         secrets[1] (\"a\"): fileName is already used by secrets[0] (\"a\")\n"
    );
    assert!(!target.exists());
}

#[test]
fn mount_into_a_target_that_is_not_a_folder_names_it_and_says_a_folder_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port: the target is refused before any connection is tried.
    let spc = write_class(dir.path(), &class("http://127.0.0.1:9/api/esc", ITEMS));
    let plain = dir.path().join("notes.txt");
    std::fs::write(&plain, "keep").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink("missing", &link).unwrap();
    let under = plain.join("mnt");
    let cases = [
        (
            &plain,
            format!(
                "--target {} is a file, not a folder: the target must be a folder (created if \
                 missing)",
                plain.display()
            ),
        ),
        (
            &under,
            format!(
                "--target {} cannot be created: {} is a file, not a folder",
                under.display(),
                plain.display()
            ),
        ),
        (
            &link,
            format!(
                "--target {} is a symbolic link to missing, which does not exist: the target must \
                 be a folder (created if missing)",
                link.display()
            ),
        ),
    ];
    for (target, message) in cases {
        let output = run(
            &["mount", &spc, "--target", target.to_str().unwrap()],
            Some(TOKEN),
        );
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stderr(&output), format!("esc-csi: error: {message}\n"));
    }
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep");
}

#[test]
fn mount_of_an_unreadable_manifest_says_why() {
    let output = run(
        &["mount", "/nonexistent/spc.yaml", "--target", "unused"],
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "esc-csi: error: cannot read /nonexistent/spc.yaml: No such file or directory (os error \
         2)\n"
    );
}

#[test]
fn mount_from_a_local_folder_needs_no_token_and_no_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("envs");
    std::fs::create_dir_all(envs.join("app")).unwrap();
    std::fs::write(
        envs.join("app/dev.yaml"),
        "values:\n  app:\n    hello: world\n    db: {user: app}\n",
    )
    .unwrap();
    // The class's apiUrl points nowhere: --environments replaces it.
    let spc = write_class(dir.path(), &class("https://esc.invalid/api/esc", ITEMS));
    let target = dir.path().join("mnt");
    let output = mount_local(&spc, target.to_str().unwrap(), envs.to_str().unwrap());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(target.join("hello")).unwrap(),
        "world"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("conf/db.json")).unwrap(),
        "{\n  \"user\": \"app\"\n}\n"
    );

    let missing = mount_local(
        &spc,
        target.to_str().unwrap(),
        dir.path().join("nope").to_str().unwrap(),
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing)
            .starts_with("esc-csi: error: cannot start the local ESC server: --environments: "),
        "{}",
        stderr(&missing)
    );
}

const NUMBER_ITEMS: &str = "- fileName: e\n  secretKey: app.n.e\n- fileName: big\n  secretKey: \
                            app.n.big\n- fileName: n.json\n  secretKey: app.n\n  format: json\n";

const NUMBERS_JSON: &str =
    "{\n  \"big\": 12345678901234567890123,\n  \"e\": 1E2,\n  \"f\": 1.50\n}\n";

fn assert_numbers_mounted_as_sent(target: &Path) {
    let read = |name: &str| std::fs::read_to_string(target.join(name)).unwrap();
    assert_eq!(read("e"), "1E2");
    assert_eq!(read("big"), "12345678901234567890123");
    assert_eq!(read("n.json"), NUMBERS_JSON);
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_writes_numbers_byte_for_byte_as_the_api_sent_them() {
    let esc = FakeEsc::start().await;
    esc.accept_token(TOKEN);
    let reply = |body: &str| esc_csi_testkit::Fault::Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into(),
    };
    esc.push_fault(reply(r#"{"id": "s1"}"#));
    esc.push_fault(reply(
        r#"{"properties": {"app": {"value": {"n": {"value": {
            "big": {"value": 12345678901234567890123}, "e": {"value": 1E2},
            "f": {"value": 1.50}}}}}}}"#,
    ));
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class(&esc.url(), NUMBER_ITEMS));
    let target = dir.path().join("mnt");
    let output = run(
        &["mount", &spc, "--target", target.to_str().unwrap()],
        Some(TOKEN),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_numbers_mounted_as_sent(&target);
}

/// The whole chain: esc-eval's `fn::fromJSON` keeps each literal, esc-server sends it, the
/// client decodes it and the provider writes it.
#[test]
fn mount_from_a_local_folder_writes_numbers_as_the_environment_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("envs");
    std::fs::create_dir_all(envs.join("app")).unwrap();
    std::fs::write(
        envs.join("app/dev.yaml"),
        "values:\n  app:\n    n:\n      fn::fromJSON: '{\"big\": 12345678901234567890123, \
         \"e\": 1E2, \"f\": 1.50}'\n",
    )
    .unwrap();
    let spc = write_class(
        dir.path(),
        &class("https://esc.invalid/api/esc", NUMBER_ITEMS),
    );
    let target = dir.path().join("mnt");
    let output = mount_local(&spc, target.to_str().unwrap(), envs.to_str().unwrap());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_numbers_mounted_as_sent(&target);
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// `esc-csi mount examples/secretproviderclasses/<name>.yaml --environments
/// examples/environments --target <dir>`, as the docs tell users to run it.
fn mount_example(name: &str, target: &Path) -> Output {
    let class = examples().join(format!("secretproviderclasses/{name}.yaml"));
    let environments = examples().join("environments");
    mount_local(
        class.to_str().unwrap(),
        target.to_str().unwrap(),
        environments.to_str().unwrap(),
    )
}

#[test]
fn the_dotenv_example_mounts_with_one_command_quoted_for_its_readers() {
    let dir = tempfile::tempdir().unwrap();
    let output = mount_example("dotenv", dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let dotenv = std::fs::read_to_string(dir.path().join(".env")).unwrap();
    assert_eq!(
        dotenv,
        "DATABASE_HOST='db.internal.example.com'\nDATABASE_PASSWORD='correct-horse-battery-staple'\n\
         DATABASE_PORT='5432'\nDEBUG='false'\nGREETING='say \"hi\"\tthen leave'\n\
         QUEUE='orders'\n"
    );
    let shell = std::fs::read_to_string(dir.path().join("env.sh")).unwrap();
    let exported: Vec<String> = dotenv.lines().map(|l| format!("export {l}")).collect();
    assert_eq!(shell.lines().collect::<Vec<_>>(), exported);
}

#[test]
fn the_folder_example_mounts_a_file_per_key_with_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let output = mount_example("folder", dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let read = |p: &str| std::fs::read_to_string(dir.path().join("settings").join(p)).unwrap();
    assert_eq!(read("queue"), "orders");
    assert_eq!(read("concurrency"), "4");
    assert_eq!(read("limits/memory"), "512Mi");
    assert_eq!(read("limits/cpu"), "1");
    assert!(
        stdout(&output).contains("4 files in "),
        "{}",
        stdout(&output)
    );
}

#[test]
fn the_files_example_mounts_the_environments_files_with_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let output = mount_example("files", dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let cert = std::fs::read_to_string(dir.path().join("files/CA_CERT")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"), "{cert}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("files/WORKER_SETTINGS")).unwrap(),
        r#"{"concurrency":4,"limits":{"cpu":"1","memory":"512Mi"},"queue":"orders"}"#
    );
}

#[test]
fn the_template_example_mounts_a_config_file_with_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let output = mount_example("template", dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let ini = std::fs::read_to_string(dir.path().join("worker.ini")).unwrap();
    assert_eq!(
        ini,
        "[database]\nurl = postgres://checkout:correct-horse-battery-staple@db.internal.example.com:5432/orders\n\n\
         [worker]\nqueue = orders\nconcurrency = 4\nmemory = 512Mi\n; written as is: ${HOME}\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("database-url")).unwrap(),
        "postgres://checkout:correct-horse-battery-staple@db.internal.example.com:5432/orders"
    );
}

#[test]
fn check_shows_what_dotenv_and_shell_items_refuse() {
    let class = examples().join("secretproviderclasses/dotenv.yaml");
    let output = run(&["check", class.to_str().unwrap()], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains(
            "  .env <- environmentVariables (dotenv, 0400)\n    refuses, naming each, keys \
             other than [A-Za-z0-9_.]+, values holding ${...} or NUL, values no quoting \
             carries to python-dotenv, Node's dotenv and godotenv alike, objects and arrays\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "(shell, 0400)\n    refuses, naming each, keys that are not shell names \
             ([A-Za-z_][A-Za-z0-9_]*), values holding NUL, objects and arrays\n"
        ),
        "{out}"
    );
}

#[test]
fn check_shows_folders_with_a_slash_and_templates_with_the_paths_they_use() {
    let output = run(
        &[
            "check",
            examples()
                .join("secretproviderclasses/files.yaml")
                .to_str()
                .unwrap(),
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "SecretProviderClass \"worker-files\" is valid: 1 item from ESC environment \
         acme/app/worker\n  files/ <- a file per key of files, as esc run writes them (0400 each)\n"
    );
    let output = run(
        &[
            "check",
            examples()
                .join("secretproviderclasses/folder.yaml")
                .to_str()
                .unwrap(),
        ],
        None,
    );
    assert!(
        stdout(&output)
            .contains("\n  settings/ <- a file per key of worker (plaintext, 0644 each)\n"),
        "{}",
        stdout(&output)
    );
    let output = run(
        &[
            "check",
            examples()
                .join("secretproviderclasses/template.yaml")
                .to_str()
                .unwrap(),
        ],
        None,
    );
    assert!(
        stdout(&output).contains(
            "\n  database-url <- template using ${database.user}, ${database.password}, \
             ${database.host}, ${database.port} (0644)\n"
        ),
        "{}",
        stdout(&output)
    );
}
