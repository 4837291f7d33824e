//! The item kinds that mount an environment the way ESC users think of it (issue 16), over the
//! real gRPC service: `format: dotenv` and `shell`, `folderName`, `files` and `template`, each
//! with its errors, each still one open and one read per mount.

use crate::support;

use serde_json::json;
use support::{Harness, files, versions};

fn worker() -> serde_json::Value {
    json!({
        "db": {"user": "app", "password": "hunter2", "host": "db", "port": 5432},
        "worker": {"queue": "orders", "limits": {"memory": "512Mi", "cpu": 1}, "tags": ["a"]},
        "environmentVariables": {"PORT": 5432, "DEBUG": false, "NOTE": "say \"hi\"\n", "EMPTY": null},
        "files": {"CA_CERT": "-----BEGIN-----\n", "RETRIES": 3},
    })
}

#[tokio::test]
async fn dotenv_and_shell_write_environment_variables_quoted_for_their_readers_in_one_open_and_one_read()
 {
    let h = Harness::start().await;
    h.set_env(worker());
    let class = h.class(
        "- {fileName: .env, secretKey: environmentVariables, format: dotenv}\n\
         - {fileName: env.sh, secretKey: environmentVariables, format: SHELL, mode: '0400'}\n",
    );
    let response = h.mount(class).await.unwrap();
    assert_eq!(
        files(&response),
        vec![
            (
                ".env".into(),
                0o644,
                "DEBUG='false'\nEMPTY=''\nNOTE='say \"hi\"\n'\nPORT='5432'\n".into()
            ),
            (
                "env.sh".into(),
                0o400,
                "export DEBUG='false'\nexport EMPTY=''\nexport NOTE='say \"hi\"\n'\n\
                 export PORT='5432'\n"
                    .into()
            ),
        ]
    );
    assert_eq!(h.esc.opens(), 1);
    assert_eq!(h.esc.reads(), 1);
}

#[tokio::test]
async fn a_class_using_every_item_kind_at_once_still_costs_one_open_and_one_read() {
    let h = Harness::start().await;
    h.set_env(worker());
    let class = h.class(
        "- {fileName: user, secretKey: db.user}\n\
         - {fileName: .env, secretKey: environmentVariables, format: dotenv}\n\
         - {fileName: env.sh, secretKey: environmentVariables, format: shell}\n\
         - {folderName: settings, secretKey: worker}\n\
         - {files: esc-files}\n\
         - {fileName: url, template: 'postgres://${db.user}@${db.host}:${db.port}'}\n",
    );
    let response = h.mount(class).await.unwrap();
    let paths: Vec<String> = files(&response).into_iter().map(|(p, _, _)| p).collect();
    let expected = [
        "user",
        ".env",
        "env.sh",
        "settings/limits/cpu",
        "settings/limits/memory",
        "settings/queue",
        "settings/tags",
        "esc-files/CA_CERT",
        "esc-files/RETRIES",
        "url",
    ];
    assert_eq!(paths, expected);
    let ids: Vec<String> = versions(&response).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, expected, "one object per file");
    assert_eq!((h.esc.opens(), h.esc.reads()), (1, 1));
}

#[tokio::test]
async fn dotenv_of_a_nested_value_or_of_a_non_object_fails_naming_the_key() {
    let h = Harness::start().await;
    h.set_env(worker());
    let status = h
        .mount(h.class(
            "- {fileName: a.env, secretKey: worker, format: dotenv}\n\
             - {fileName: b.env, secretKey: db.user, format: dotenv}\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"a.env\"): `worker`: format \
         dotenv cannot write these keys as variables: \"limits\" is an object; only strings, \
         numbers, booleans and null can be variables (use fn::toJSON in the environment to \
         write it as a string); \"tags\" is an array; only strings, numbers, booleans and null \
         can be variables (use fn::toJSON in the environment to write it as a string); secrets[1] \
         (\"b.env\"): `db.user`: the value is a string, but format dotenv and shell write an \
         object's keys as variables"
    );
}

#[tokio::test]
async fn a_folder_item_writes_a_file_per_key_each_with_its_own_version_format_and_mode() {
    let h = Harness::start().await;
    h.set_env(worker());
    let class =
        h.class("- {folderName: conf/worker, secretKey: worker, format: json, mode: '0440'}\n");
    let response = h.mount(class.clone()).await.unwrap();
    assert_eq!(
        files(&response),
        vec![
            ("conf/worker/limits/cpu".into(), 0o440, "1\n".into()),
            (
                "conf/worker/limits/memory".into(),
                0o440,
                "\"512Mi\"\n".into()
            ),
            ("conf/worker/queue".into(), 0o440, "\"orders\"\n".into()),
            ("conf/worker/tags".into(), 0o440, "[\n  \"a\"\n]\n".into()),
        ]
    );
    let first = versions(&response);
    let ids: Vec<_> = first.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "conf/worker/limits/cpu",
            "conf/worker/limits/memory",
            "conf/worker/queue",
            "conf/worker/tags"
        ]
    );
    assert_eq!(h.esc.opens(), 1);
    assert_eq!(h.esc.reads(), 1);

    let mut changed = worker();
    changed["worker"]["queue"] = json!("returns");
    h.set_env(changed);
    let again = versions(&h.mount(class).await.unwrap());
    let moved: Vec<_> = first
        .iter()
        .zip(&again)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.0.as_str())
        .collect();
    assert_eq!(
        moved,
        ["conf/worker/queue"],
        "only the changed key's version moves"
    );
}

#[tokio::test]
async fn a_folder_with_a_key_the_driver_cannot_write_fails_the_whole_mount_naming_the_key() {
    let h = Harness::start().await;
    h.set_env(json!({"ok": "x", "bad": {"fine": 1, "inner": {"a/b": 2}}, "empty": {}}));
    let status = h
        .mount(h.class(
            "- {fileName: ok, secretKey: ok}\n\
             - {folderName: bad, secretKey: bad}\n\
             - {folderName: empty, secretKey: empty}\n\
             - {folderName: scalar, secretKey: ok}\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[1] (\"bad\"): `bad`: key \
         \"inner/a/b\" cannot be written as a file name: it contains \"/\"; secrets[2] \
         (\"empty\"): `empty`: the object has no keys, so the folder would be empty; secrets[3] \
         (\"scalar\"): `ok`: the value is a string, but folderName writes an object's keys as files"
    );
}

#[tokio::test]
async fn the_files_item_mounts_the_environments_files_as_esc_run_writes_them() {
    let h = Harness::start().await;
    h.set_env(worker());
    let response = h
        .mount(h.class("- files: esc-files\n  mode: \"0400\"\n"))
        .await
        .unwrap();
    assert_eq!(
        files(&response),
        vec![
            (
                "esc-files/CA_CERT".into(),
                0o400,
                "-----BEGIN-----\n".into()
            ),
            ("esc-files/RETRIES".into(), 0o400, "3".into()),
        ]
    );
    assert_eq!(h.esc.opens(), 1);
    assert_eq!(h.esc.reads(), 1);
}

#[tokio::test]
async fn the_files_item_refuses_a_nested_value_and_an_environment_without_files() {
    let h = Harness::start().await;
    h.set_env(json!({"files": {"DIR": {"a": "b"}}}));
    let status = h.mount(h.class("- files: f\n")).await.unwrap_err();
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"f\"): `files`: key \
         \"DIR\" is an object; esc run writes only strings, numbers, booleans and null as files \
         (use folderName to mount a nested object as a folder)"
    );
    h.set_env(json!({"other": 1}));
    let status = h.mount(h.class("- files: f\n")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"f\"): the top level has \
         no key \"files\""
    );
}

#[tokio::test]
async fn a_template_writes_its_text_with_each_reference_resolved_under_secret_path() {
    let h = Harness::start().await;
    h.set_env(worker());
    let class = h.class(
        "- fileName: url\n  secretPath: db\n  mode: \"0400\"\n  \
           template: postgres://${user}:${password}@${host}:${port}/app\n\
         - fileName: app.ini\n  template: |\n    queue = ${worker.queue}\n    \
           cost = $$5 $${literal}\n",
    );
    let response = h.mount(class).await.unwrap();
    assert_eq!(
        files(&response),
        vec![
            (
                "url".into(),
                0o400,
                "postgres://app:hunter2@db:5432/app".into()
            ),
            (
                "app.ini".into(),
                0o644,
                "queue = orders\ncost = $5 ${literal}\n".into()
            ),
        ]
    );
    assert_eq!(h.esc.opens(), 1);
    assert_eq!(h.esc.reads(), 1);
}

#[tokio::test]
async fn a_template_reference_that_does_not_resolve_fails_as_secret_key_would() {
    let h = Harness::start().await;
    h.set_env(worker());
    let status = h
        .mount(h.class("- fileName: url\n  template: ${db.hots}:${db.port}\n"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"url\"): `db` has no key \
         \"hots\" (did you mean \"host\"?)"
    );
}

#[tokio::test]
async fn new_item_kinds_count_against_the_response_limit_as_they_render() {
    let options = esc_csi_provider::grpc::ServiceOptions {
        max_response_bytes: 1000,
        ..Default::default()
    };
    let h = Harness::with(Default::default(), options).await;
    h.set_env(json!({"big": {"a": "x".repeat(600), "b": "y".repeat(600)}}));
    for secrets in [
        "- {folderName: big, secretKey: big}\n",
        "- {fileName: big.env, secretKey: big, format: dotenv}\n",
        "- {fileName: t, template: '${big.a}${big.b}'}\n",
    ] {
        let status = h.mount(h.class(secrets)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{secrets}");
        assert!(
            status
                .message()
                .contains("over the 1000-byte limit (--max-response-bytes)"),
            "{secrets}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn malformed_new_items_are_class_problems_listed_together_before_any_call() {
    let h = Harness::start().await;
    h.set_env(worker());
    let status = h
        .mount(h.class(
            "- {fileName: a, folderName: b}\n\
             - {files: f, secretKey: x}\n\
             - {fileName: t, template: 'x ${db.host', secretKey: db}\n\
             - {folderName: e, format: dotenv}\n\
             - {folderName: g, secretKey: db}\n\
             - {fileName: g/inner, secretKey: db.user}\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "invalid SecretProviderClass \"app-secrets\": secrets[0] (\"a\"): has fileName and \
         folderName; give one: fileName writes one file, folderName a folder with a file per key \
         of an object, files a folder of the environment's files; secrets[1] (\"f\"): files \
         mounts the environment's files property as esc run writes it, so it takes only mode, not \
         secretKey; for another object use folderName; secrets[2] (\"t\"): template writes its \
         text with ${...} references resolved under secretPath, so it takes no secretKey; \
         secrets[2] (\"t\"): template has \"${\" at line 1, column 3 with no closing \"}\"; write \
         \"$${\" for a literal \"${\"; secrets[3] (\"e\"): format dotenv writes a whole object \
         into one file, so it needs fileName, not folderName; secrets[5] (\"g/inner\"): writes \
         into the folder \"g\", which secrets[4] (\"g\") fills with a file per key; choose a path \
         outside it"
    );
    assert_eq!(h.esc.opens(), 0);
}

#[tokio::test]
async fn folder_and_files_names_follow_the_file_name_rules_and_messages_name_their_key() {
    let h = Harness::start().await;
    let status = h
        .mount(h.class(
            "- {folderName: '../up', secretKey: db}\n\
             - {files: 'a//b'}\n\
             - {folderName: same, secretKey: db}\n\
             - {files: same}\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        status.message(),
        "invalid SecretProviderClass \"app-secrets\": secrets[0] (\"../up\"): folderName \
         \"../up\" has a component that is \"..\"; secrets[1] \
         (\"a//b\"): files \"a//b\" has a component that is empty; write it without \"//\" or a \
         trailing \"/\"; secrets[3] (\"same\"): files is already used by secrets[2] (\"same\")"
    );
}

#[tokio::test]
async fn a_template_with_an_empty_or_unparsable_reference_is_a_class_problem() {
    let h = Harness::start().await;
    let status = h
        .mount(h.class(
            "- {fileName: a, template: 'x ${}'}\n\
             - fileName: b\n  template: |\n    line one\n    at ${db.}\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "invalid SecretProviderClass \"app-secrets\": secrets[0] (\"a\"): template reference at \
         line 1, column 3 is empty; write a property path such as ${app.db.host}; secrets[1] \
         (\"b\"): template reference ${db.} at line 2, column 4 does not parse: expected property \
         path to end with a name or index, not '.'"
    );
}

#[tokio::test]
async fn a_template_of_a_secret_value_never_shows_it_in_an_error() {
    let h = Harness::start().await;
    h.set_env(json!({"db": {"password": "hunter2", "host": {"name": "h"}}}));
    let status = h
        .mount(h.class("- {fileName: t, template: '${db.password}${db.host.name.first}'}\n"))
        .await
        .unwrap_err();
    assert!(
        !status.message().contains("hunter2"),
        "{}",
        status.message()
    );
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"t\"): `db.host.name` is \
         a string, so it has no key \"first\""
    );
}

#[tokio::test]
async fn a_collision_is_listed_even_when_the_colliding_item_has_another_problem() {
    let h = Harness::start().await;
    let status = h
        .mount(h.class(
            "- {fileName: a, secretKey: x}\n\
             - {fileName: a, secretKey: y, mode: '0999'}\n",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        status.message(),
        "invalid SecretProviderClass \"app-secrets\": secrets[1] (\"a\"): mode \"0999\" is not an \
         octal file mode such as \"0400\" or \"0644\"; secrets[1] (\"a\"): fileName is already \
         used by secrets[0] (\"a\")"
    );
}

#[tokio::test]
async fn a_folder_file_that_does_not_render_is_named_by_its_own_path() {
    let h = Harness::start().await;
    h.set_env(json!({"certs": {"ok": "AAEC", "bad": {"der": 5}}}));
    let status = h
        .mount(h.class("- {folderName: certs, secretKey: certs, encoding: base64}\n"))
        .await
        .unwrap_err();
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"certs\"): \
         `certs.bad.der`: encoding base64 needs a string value, but the value is a number"
    );
}

#[tokio::test]
async fn shell_refuses_every_key_that_is_not_a_shell_name_in_one_problem_never_showing_values() {
    let h = Harness::start().await;
    h.set_env(json!({"vars": {"1DIGIT": "hunter2", "my-key": "hunter2", "OK": "hunter2"}}));
    let status = h
        .mount(h.class("- {fileName: env.sh, secretKey: vars, format: shell}\n"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "cannot mount from ESC environment acme/app/prod: secrets[0] (\"env.sh\"): `vars`: format \
         shell cannot write these keys as variables: \"1DIGIT\" starts with a digit, so it is not \
         a shell name; \"my-key\" is not a shell name ([A-Za-z_][A-Za-z0-9_]*)"
    );
    assert!(!status.message().contains("hunter2"));
}
