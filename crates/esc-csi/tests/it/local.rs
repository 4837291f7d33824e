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
fn check_prints_the_files_of_a_valid_class() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class("https://api.pulumi.com/api/esc", ITEMS));
    let output = run(&["check", &spc], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "SecretProviderClass \"app\" is valid: 2 files from ESC environment acme/app/dev\n  \
         hello <- app.hello (plaintext, 0644)\n  conf/db.json <- app.db (json, 0400)\n  \
         auth: the service-account token of web/default for audience \"urn:pulumi:org:acme\" \
         if the driver requests one (tokenRequests), else the volume's nodePublishSecretRef \
         (key pulumi-access-token)\n"
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
    // Both files hold the database password: neither is readable by others.
    for file in ["worker.ini", "database-url"] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o400,
            "{file}"
        );
    }
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
             ([A-Za-z_][A-Za-z0-9_]*) or that a shell sets itself (UID, RANDOM, ...), values \
             holding NUL, objects and arrays\n"
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
         acme/app/worker\n  files/ <- a file per key of files, as esc run writes them (0400 each)\n  \
         auth: the service-account token of default/default for audience \
         \"urn:pulumi:org:acme\" if the driver requests one (tokenRequests), else the volume's \
         nodePublishSecretRef (key pulumi-access-token)\n"
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
             ${database.host}, ${database.port} (0400)\n"
        ),
        "{}",
        stdout(&output)
    );
}

fn auth_secret_class(namespace_line: &str) -> String {
    class(
        "https://api.pulumi.com/api/esc",
        "- fileName: hello\n  secretKey: app.hello\n",
    )
    .replace(
        "    environment: dev\n",
        &format!("    environment: dev\n    authSecretName: pulumi-token\n{namespace_line}"),
    )
}

#[test]
fn check_says_how_a_class_authenticates_and_warns_when_the_daemon_must_read_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &auth_secret_class(""));
    let output = run(&["check", &spc], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(
            "\n  auth: the volume's nodePublishSecretRef (key pulumi-access-token) if the pod's \
             volume has one, else Secret web/pulumi-token (key pulumi-access-token), read \
             through the Kubernetes API\n"
        ),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        stderr(&output),
        "warning: reading Secret web/pulumi-token needs a daemon allowed to read Secrets: \
         install the chart with authSecrets.enabled, or with -f \
         charts/esc-csi/presets/go-provider.yaml for the Go provider's permissions (pass \
         --auth-secrets to check for such a daemon)\n"
    );
    let strict = run(&["check", &spc, "--strict"], None);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        stderr(&strict).ends_with(
            "esc-csi: error: SecretProviderClass \"app\" has 1 warning, and --strict refuses \
             them\n"
        ),
        "{}",
        stderr(&strict)
    );
    let allowed = run(&["check", &spc, "--auth-secrets", "--strict"], None);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert_eq!(stderr(&allowed), "");
}

#[test]
fn check_refuses_a_cross_namespace_auth_secret_as_a_default_daemon_would() {
    let dir = tempfile::tempdir().unwrap();
    // The Pulumi guide's class: authSecretNamespace default, used by pods in team-a.
    let spc = write_class(
        dir.path(),
        &auth_secret_class("    authSecretNamespace: default\n"),
    );
    let output = run(
        &["check", &spc, "--namespace", "team-a", "--auth-secrets"],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "esc-csi: error: SecretProviderClass \"app\" would be refused by the daemon: the \
         SecretProviderClass asks for auth Secret default/pulumi-token, but the pod runs in \
         namespace team-a; esc-csi reads auth Secrets only from the pod's own namespace unless \
         started with --allow-cross-namespace-auth; with the chart, set \
         args.allowCrossNamespaceAuth (and pass --allow-cross-namespace-auth to check for such \
         a daemon), or move the Secret into the pod's namespace\n"
    );
    // The Go provider's contract (presets/go-provider.yaml) accepts it.
    let go_contract = run(
        &[
            "check",
            &spc,
            "--namespace",
            "team-a",
            "--auth-secrets",
            "--allow-cross-namespace-auth",
            "--strict",
        ],
        None,
    );
    assert!(go_contract.status.success(), "{}", stderr(&go_contract));
    assert!(stdout(&go_contract).contains("else Secret default/pulumi-token (key"));
    // In the Secret's own namespace nothing crosses.
    let same = run(
        &["check", &spc, "--namespace", "default", "--auth-secrets"],
        None,
    );
    assert!(same.status.success(), "{}", stderr(&same));
}

#[test]
fn check_names_the_oidc_audience_and_service_account_it_would_use() {
    let dir = tempfile::tempdir().unwrap();
    let text = class(
        "https://api.pulumi.com/api/esc",
        "- fileName: a\n  secretKey: a\n",
    )
    .replace(
        "    environment: dev\n",
        "    environment: dev\n    authMethod: oidc\n",
    );
    let spc = write_class(dir.path(), &text);
    let output = run(&["check", &spc, "--service-account", "web"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(
            "\n  auth: the service-account token of web/web for audience \
             \"urn:pulumi:org:acme\", exchanged at https://api.pulumi.com/api/oauth/token; the \
             driver must request tokens for that audience (tokenRequests)\n"
        ),
        "{}",
        stdout(&output)
    );
}

#[test]
fn check_help_shows_only_flags_with_an_effect_and_global_flags_last() {
    let output = run(&["check", "--help"], None);
    let help = stdout(&output);
    assert!(
        !help.contains("--pod-name") && !help.contains("--pod-uid"),
        "{help}"
    );
    assert!(help.contains("--service-account") && help.contains("--strict"));
    let global = help.find("Global options:").expect(&help);
    assert!(help.find("--log-level").unwrap() > global, "{help}");
    assert!(help.find("--strict").unwrap() < global, "{help}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_strict_refuses_a_class_with_warnings_before_writing_anything() {
    let esc = FakeEsc::start().await;
    esc.accept_token(TOKEN);
    esc.set("acme/app/dev", json!({"app": {"hello": "world"}}));
    let dir = tempfile::tempdir().unwrap();
    let items = "- fileName: hello\n  secretKey: app.hello\n  owner: team-a\n";
    let spc = write_class(dir.path(), &class(&esc.url(), items));
    let target = dir.path().join("mnt");
    let output = run(
        &[
            "mount",
            &spc,
            "--target",
            target.to_str().unwrap(),
            "--strict",
        ],
        Some(TOKEN),
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "warning: secrets[0] (\"hello\"): unknown key \"owner\" is ignored\n\
         esc-csi: error: the class has 1 warning, and --strict refuses them\n"
    );
    assert!(!target.join("hello").exists());
    assert!(esc.calls().is_empty());
    // check prints the same warning line.
    let check = run(&["check", &spc], None);
    assert!(check.status.success());
    assert!(
        stderr(&check)
            .starts_with("warning: secrets[0] (\"hello\"): unknown key \"owner\" is ignored\n"),
        "{}",
        stderr(&check)
    );
}

#[test]
fn mount_reports_the_same_version_on_every_run_until_the_content_changes() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let class = examples().join("secretproviderclasses/app.yaml");
    let environments = examples().join("environments");
    let versions = |target: &str| {
        let output = Command::new(BIN)
            .args(["mount", class.to_str().unwrap(), "--target"])
            .arg(dir.path().join(target))
            .arg("--environments")
            .arg(&environments)
            .env_remove("KUBECONFIG")
            .env_remove("PULUMI_ACCESS_TOKEN")
            .env_remove("XDG_CACHE_HOME")
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        // FILE BYTES MODE VERSION CHANGE, without the CHANGE column.
        stdout(&output)
            .lines()
            .filter(|l| !l.starts_with("FILE") && l.split_whitespace().count() == 5)
            .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let first = versions("a");
    assert!(first.len() >= 5, "{first:?}");
    assert_eq!(versions("b"), first);
    let key = home.join(".cache/esc-csi/version-key");
    let mode = std::fs::metadata(&key).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
}

#[test]
fn a_local_mount_without_a_token_is_told_where_a_token_comes_from_locally() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class("https://api.pulumi.com/api/esc", ITEMS));
    let target = dir.path().join("mnt");
    let output = run(&["mount", &spc, "--target", target.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "esc-csi: error: no Pulumi access token: set PULUMI_ACCESS_TOKEN (as for the esc and \
         pulumi CLIs), or mount from a folder of environment definitions with --environments \
         DIR; the class names no authSecretName to read through your kubeconfig\n"
    );
}

#[test]
fn a_missing_local_environment_names_the_file_and_the_environments_the_folder_has() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(
        dir.path(),
        &class("https://api.pulumi.com/api/esc", ITEMS)
            .replace("environment: dev", "environment: prod"),
    );
    let envs = dir.path().join("envs");
    std::fs::create_dir_all(envs.join("app")).unwrap();
    std::fs::write(envs.join("app/dev.yaml"), "values: {app: {hello: world}}\n").unwrap();
    std::fs::write(envs.join("app/worker.yaml"), "values: {}\n").unwrap();
    let target = dir.path().join("mnt");
    let output = mount_local(&spc, target.to_str().unwrap(), envs.to_str().unwrap());
    assert_eq!(output.status.code(), Some(1));
    let envs = envs.display();
    assert_eq!(
        stderr(&output),
        format!(
            "esc-csi: error: ESC environment app/prod is not in --environments {envs}: there is \
             no {envs}/app/prod.yaml; the folder has app/dev, app/worker\n"
        )
    );
}

#[test]
fn a_local_environment_that_does_not_evaluate_is_fixed_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(dir.path(), &class("https://api.pulumi.com/api/esc", ITEMS));
    let envs = dir.path().join("envs");
    std::fs::create_dir_all(envs.join("app")).unwrap();
    std::fs::write(
        envs.join("app/dev.yaml"),
        "values:\n  app:\n    hello: ${nowhere.at.all}\n",
    )
    .unwrap();
    let target = dir.path().join("mnt");
    let output = mount_local(&spc, target.to_str().unwrap(), envs.to_str().unwrap());
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "fix its definition in {}",
            envs.join("app/dev.yaml").display()
        )),
        "{message}"
    );
    assert!(!message.contains("in ESC"), "{message}");
}

#[test]
fn a_yaml_error_inside_secrets_names_the_line_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let items = "- fileName: a\n  secretKey: a\n- fileName: b\n    secretKey: b\n";
    let spc = write_class(dir.path(), &class("https://api.pulumi.com/api/esc", items));
    let output = run(&["check", &spc], None);
    assert_eq!(output.status.code(), Some(1));
    // The block starts after line 13 (`secrets: |`), indented by 6.
    assert_eq!(
        stderr(&output),
        format!(
            "esc-csi: error: SecretProviderClass \"app\" has 1 problem:\n  - parameter secrets: \
             not valid YAML: mapping values are not allowed in this context at line 4 column 14 \
             (line 17 column 20 of {spc})\n"
        )
    );
    assert_eq!(
        std::fs::read_to_string(&spc)
            .unwrap()
            .lines()
            .nth(16)
            .unwrap(),
        "          secretKey: b"
    );
}

#[test]
fn a_missing_kubeconfig_is_quoted_once() {
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(
        dir.path(),
        &auth_secret_class("").replace(
            "https://api.pulumi.com/api/esc",
            "https://esc.example.com/api/esc",
        ),
    );
    let kubeconfig = dir.path().join("no-such-kubeconfig");
    let output = Command::new(BIN)
        .args(["mount", &spc, "--target"])
        .arg(dir.path().join("mnt"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("PULUMI_ACCESS_TOKEN")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("kubeconfig from '{}'", kubeconfig.display())),
        "{message}"
    );
    assert!(!message.contains("'\""), "{message}");
}

#[test]
fn esc_api_calls_go_through_the_https_proxy_of_the_environment() {
    use std::io::{BufRead, BufReader};
    // A proxy that records the first request line and hangs up.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (stream, _) = proxy.accept().unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    });
    let dir = tempfile::tempdir().unwrap();
    let spc = write_class(
        dir.path(),
        &class("https://esc.example.test/api/esc", ITEMS),
    );
    let output = Command::new(BIN)
        .args(["mount", &spc, "--timeout", "2s", "--target"])
        .arg(dir.path().join("mnt"))
        .env("PULUMI_ACCESS_TOKEN", TOKEN)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        seen.join().unwrap(),
        "CONNECT esc.example.test:443 HTTP/1.1\r\n"
    );
    assert!(!stderr(&output).contains(TOKEN));
}

#[test]
#[ignore = "a peer test: needs the openssl command for a CA and a TLS server; .ci/run runs it"]
fn a_private_ca_in_ssl_cert_file_is_trusted_for_the_esc_api() {
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("the openssl command");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            stderr(&output)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=esc-csi test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.path().join("ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "1",
        "-extfile",
        "ext",
    ]);
    let port = crate::support::free_port().to_string();
    let mut server = Command::new("openssl")
        .args([
            "s_server", "-quiet", "-www", "-cert", "srv.pem", "-key", "srv.key", "-accept",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let spc = write_class(
        dir.path(),
        &class(&format!("https://localhost:{port}/api/esc"), ITEMS),
    );
    let mount = |ca: Option<&Path>| {
        let mut command = Command::new(BIN);
        command
            .args(["mount", &spc, "--timeout", "2s", "--target"])
            .arg(dir.path().join("mnt"))
            .env("PULUMI_ACCESS_TOKEN", TOKEN)
            .env("HOME", dir.path())
            .env_remove("SSL_CERT_DIR")
            .env_remove("HTTPS_PROXY");
        match ca {
            Some(ca) => command.env("SSL_CERT_FILE", ca),
            None => command.env_remove("SSL_CERT_FILE"),
        };
        stderr(&command.output().unwrap())
    };
    // Without the CA the server's certificate is refused; with it, TLS succeeds and what
    // fails is only that a test TLS server is not the ESC API.
    let untrusted = mount(None);
    assert!(
        untrusted.contains("invalid peer certificate: UnknownIssuer"),
        "{untrusted}"
    );
    let trusted = mount(Some(&dir.path().join("ca.pem")));
    assert!(
        trusted.starts_with("esc-csi: error: mount failed ("),
        "{trusted}"
    );
    assert!(!trusted.contains("certificate"), "{trusted}");
    let _ = server.kill();
    let _ = server.wait();
}
