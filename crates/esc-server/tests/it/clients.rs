//! What the official `esc` CLI (v0.26.0, `cmd/esc/cli`) needs beyond the SDKs, over real HTTP
//! on loopback: login (`GET /api/user`, the default organization), `esc env ls` without an
//! organization, paging exactly as the CLI pages (`before`/`after`/`count`, and the
//! `"nextToken": "0"` that ends an environment tag list), and a clear answer to writes; then
//! the CLI itself (`ESC_CSI_ESC_CLI`, built by `.ci/run`) driven through all of it, a peer test
//! `#[ignore]`d so that `cargo test` reports it as not run; `cargo test -- --ignored` runs it
//! and fails if the CLI is missing.

use crate::support;

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Fixture;

/// `GET` of a path outside `/api/esc`, with the test token.
async fn get_root(fixture: &Fixture, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", fixture.running.addr()))
        .header("authorization", format!("token {}", support::TOKEN))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_can_log_in_and_finds_its_default_organization() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {}\n")]).await;
    let (status, user) = get_root(&fixture, "/api/user").await;
    assert_eq!(status, 200, "{user}");
    // The CLI refuses a user or an organization without a githubLogin.
    assert_eq!(user["githubLogin"], "local");
    assert_eq!(user["organizations"][0]["githubLogin"], "local");
    let (status, org) = get_root(&fixture, "/api/user/organizations/default").await;
    assert_eq!(status, 200);
    assert_eq!(org["gitHubLogin"], "local");

    let served = Fixture::start_with(&[("shop/dev.yaml", "values: {}\n")], |c| {
        c.organization = Some("acme".into());
    })
    .await;
    let (_, user) = get_root(&served, "/api/user").await;
    assert_eq!(
        user["organizations"],
        json!([{"githubLogin": "acme", "name": "acme", "avatarUrl": ""}])
    );
    let (_, org) = get_root(&served, "/api/user/organizations/default").await;
    assert_eq!(org["gitHubLogin"], "acme");

    // Without a token, as everywhere else.
    let response = reqwest::get(format!("http://{}/api/user", fixture.running.addr()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn environments_are_listed_across_organizations_on_one_page() {
    let fixture = Fixture::start_with(&[("shop/dev.yaml", "values: {}\n")], |c| {
        c.organization = Some("acme".into());
    })
    .await;
    let body = fixture.get("/environments").await.json();
    assert_eq!(
        body["environments"][0]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| ["organization", "project", "name"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>(),
        *json!({"organization": "acme", "project": "shop", "name": "dev"})
            .as_object()
            .unwrap()
    );
    // The CLI pages until nextToken is "" (or absent).
    assert!(body.get("nextToken").is_none_or(|t| t == ""), "{body}");
}

#[tokio::test]
async fn revisions_page_with_before_and_count_as_the_cli_pages() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {v: 1}\n")]).await;
    fixture.get("/environments/acme/shop/dev").await;
    fixture.write("shop/dev.yaml", "values: {v: 2}\n");
    fixture.get("/environments/acme/shop/dev").await;
    fixture.write("shop/dev.yaml", "values: {v: 3}\n");
    let numbers = |v: Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["number"].as_u64().unwrap())
            .collect()
    };
    let base = "/environments/acme/shop/dev/versions";
    assert_eq!(numbers(fixture.get(base).await.json()), [3, 2, 1]);
    // `esc env version history` starts at before=0 (the latest) with count=500 ...
    let first = fixture
        .get(&format!("{base}?before=0&count=500"))
        .await
        .json();
    assert_eq!(numbers(first.clone()), [3, 2, 1]);
    assert_eq!(first[0]["tags"], json!(["latest"]));
    // ... then asks for what comes before the last number it got, until a page is empty.
    assert_eq!(
        numbers(
            fixture
                .get(&format!("{base}?before=1&count=500"))
                .await
                .json()
        ),
        Vec::<u64>::new()
    );
    // `esc env version ENV@1` is the history before 2: revision 1, even after the file changed.
    let at_1 = fixture
        .get(&format!("{base}?before=2&count=500"))
        .await
        .json();
    assert_eq!(numbers(at_1.clone()), [1]);
    assert_eq!(at_1[0]["tags"], json!([]));
    assert_eq!(
        numbers(
            fixture
                .get(&format!("{base}?before=3&count=1"))
                .await
                .json()
        ),
        [2]
    );
    let definition = fixture.get("/environments/acme/shop/dev/versions/1").await;
    assert_eq!(definition.header("pulumi-esc-revision"), "1");
    assert_eq!(definition.text(), "values: {v: 1}\n");
    fixture
        .get(&format!("{base}?before=x"))
        .await
        .api_error(400);
}

#[tokio::test]
async fn tag_lists_end_as_the_cli_expects() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {}\n")]).await;
    let tags = "/environments/acme/shop/dev/versions/tags";
    let first = fixture
        .get(&format!("{tags}?after=&count=500"))
        .await
        .json();
    assert_eq!(first["tags"][0]["name"], "latest");
    // `esc env version tag ls` asks again after the last name and stops at an empty page.
    let next = fixture
        .get(&format!("{tags}?after=latest&count=500"))
        .await
        .json();
    assert_eq!(next["tags"], json!([]));
    // `esc env tag ls` stops when nextToken is "0".
    let env_tags = fixture
        .get("/environments/acme/shop/dev/tags?after=&count=500")
        .await
        .json();
    assert_eq!(env_tags, json!({"tags": {}, "nextToken": "0"}));
}

#[tokio::test]
async fn writes_are_told_the_server_is_read_only() {
    let fixture = Fixture::start(&[("shop/dev.yaml", "values: {}\n")]).await;
    for (method, path) in [
        ("POST", "/environments/acme"),
        ("PATCH", "/environments/acme/shop/dev"),
        ("DELETE", "/environments/acme/shop/dev"),
        ("POST", "/environments/acme/shop/dev/tags"),
        ("POST", "/environments/acme/shop/dev/versions/tags/stable"),
        ("POST", "/environments/acme/shop/dev/rotate"),
        ("PUT", "/environments/acme/shop/dev/versions/1/retract"),
    ] {
        let reply = fixture.call(method, path, Some(support::TOKEN), "{}").await;
        let message = reply.api_error(405);
        assert!(
            message.starts_with("this esc-server is read-only"),
            "{method} {path}: {message}"
        );
    }
    // Reads of unknown paths are still not found.
    fixture
        .get("/environments/acme/shop/dev/rotate")
        .await
        .api_error(404);
}

#[tokio::test]
async fn check_and_open_carry_the_exprs_esc_env_get_walks() {
    let definition = "values:\n  app:\n    hosts: [a, \"${app.port}\"]\n    port: 8080\n    \
                      password:\n      fn::secret: hunter2\n";
    let fixture = Fixture::start(&[("shop/dev.yaml", definition)]).await;
    let reply = fixture
        .call(
            "POST",
            "/environments/acme/yaml/check",
            Some(support::TOKEN),
            definition,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let exprs = &reply.json()["exprs"];
    let app = &exprs["app"];
    assert_eq!(app["range"]["environment"], "<yaml>");
    assert_eq!(app["range"]["begin"]["line"], 3);
    let object = &app["object"];
    assert_eq!(object["port"]["literal"], 8080);
    assert_eq!(object["hosts"]["list"][0]["literal"], "a");
    // An interpolation: its range only.
    assert_eq!(object["hosts"]["list"][1]["range"]["begin"]["line"], 3);
    let secret = &object["password"]["builtin"];
    assert_eq!(secret["name"], "fn::secret");
    assert_eq!(secret["nameRange"]["begin"]["line"], 6);
    assert_eq!(secret["arg"]["literal"], "hunter2");

    let environment = fixture.open_and_read("shop/dev").await;
    assert_eq!(
        environment["exprs"]["app"]["object"]["password"]["builtin"]["name"],
        "fn::secret"
    );
    assert_eq!(
        environment["exprs"]["app"]["range"]["environment"],
        "shop/dev"
    );
}

/// The official `esc` CLI (v0.26.0, `peers/esc-cli`, built and cached by `.ci/run`) found
/// through `ESC_CSI_ESC_CLI`; a missing one fails the test.
fn esc_cli() -> PathBuf {
    let cli = PathBuf::from(std::env::var_os("ESC_CSI_ESC_CLI").unwrap_or_default());
    assert!(
        cli.is_file(),
        "ESC_CSI_ESC_CLI ({cli:?}) names no build of peers/esc-cli (.ci/run builds it; \
         docs/esc-server.md)"
    );
    cli
}

/// One `esc` command's outcome.
struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

/// The `esc` CLI with a home of its own (credentials, temporary files), so nothing of the
/// machine's Pulumi login is read or changed.
struct EscCli {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl EscCli {
    /// Longer than any command takes (well under a second); a CLI paging forever is stopped.
    const LIMIT: Duration = Duration::from_secs(20);

    /// Runs `esc ARGS` with `envs` added, killed once it outlives [`Self::LIMIT`].
    fn run_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Ran {
        let home = self.home.path();
        let (mut out, mut err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
        let mut child = Command::new(&self.bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("PULUMI_HOME", home.join(".pulumi"))
            .env("TMPDIR", home)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Self::LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("esc {args:?} still ran after {:?}", Self::LIMIT);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |file: &mut std::fs::File| {
            let mut text = String::new();
            file.seek(SeekFrom::Start(0)).unwrap();
            file.read_to_string(&mut text).unwrap();
            text
        };
        Ran {
            success: status.success(),
            stdout: read(&mut out),
            stderr: read(&mut err),
        }
    }

    /// `esc ARGS`, which must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let ran = self.run_with(args, &[]);
        assert!(
            ran.success,
            "esc {args:?} failed:\n{}\n{}",
            ran.stdout, ran.stderr
        );
        ran.stdout
    }

    /// `esc ARGS`, which must fail; its error line.
    fn fails(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let ran = self.run_with(args, envs);
        assert!(!ran.success, "esc {args:?} succeeded:\n{}", ran.stdout);
        ran.stderr
            .lines()
            .find(|l| l.starts_with("Error: "))
            .unwrap_or_else(|| panic!("no error line:\n{}", ran.stderr))
            .to_owned()
    }
}

/// Revision 1 of `shop/dev`; revision 2 sets the port to 9090.
const CLI_DEV_V1: &str = "imports: [base]
values:
  app:
    name: shop
    port: 8080
    url: https://${app.name}.${region}.example
  password:
    fn::secret: hunter2
  environmentVariables:
    APP_URL: ${app.url}
    DB_PASSWORD: ${password}
  files:
    CONFIG: port=${app.port}
";

// Several threads: the CLI runs on a blocking one while the server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a peer test: needs the official esc CLI (ESC_CSI_ESC_CLI); .ci/run runs it"]
async fn the_official_esc_cli_logs_in_lists_reads_opens_runs_and_pages_to_the_end() {
    let bin = esc_cli();
    let fixture = Fixture::start_with(
        &[
            ("shop/dev.yaml", CLI_DEV_V1),
            ("shop/broken.yaml", "values:\n  a: ${missing.thing}\n"),
            (
                "default/base.yaml",
                "values:\n  region: eu\n  app:\n    name: base-app\n",
            ),
        ],
        |c| c.tokens = vec![support::TOKEN.into()],
    )
    .await;
    // Revision 1 is the first content seen; the CLI then sees revision 2 as the latest.
    fixture.get("/environments/acme/shop/dev").await;
    fixture.write(
        "shop/dev.yaml",
        &CLI_DEV_V1.replace("port: 8080", "port: 9090"),
    );
    let backend = format!("http://{}", fixture.running.addr());
    let cli = EscCli {
        bin,
        home: tempfile::tempdir().unwrap(),
    };
    tokio::task::spawn_blocking(move || cli_session(&cli, &backend))
        .await
        .unwrap();
}

/// The conversation of the test above, command by command, checking what the CLI prints.
fn cli_session(cli: &EscCli, backend: &str) {
    // Login: a wrong token is refused, the right one signs in as the local user.
    let refused = cli.fails(
        &["login", backend],
        &[("PULUMI_ACCESS_TOKEN", "not-the-token")],
    );
    assert!(
        refused.contains("problem logging in: Unauthorized"),
        "{refused}"
    );
    let login = cli.run_with(
        &["login", backend],
        &[("PULUMI_ACCESS_TOKEN", support::TOKEN)],
    );
    assert!(login.success, "{}", login.stderr);
    assert!(
        login
            .stdout
            .starts_with(&format!("Logged in to {backend} as local")),
        "{}",
        login.stdout
    );
    // The retired-CLI banner goes to standard error, never into the output read below.
    assert!(
        login
            .stderr
            .contains("The standalone ESC CLI has been retired"),
        "{}",
        login.stderr
    );
    assert!(!login.stderr.contains(support::TOKEN));

    // Without `esc login`: the backend and token from the environment.
    let fresh = EscCli {
        bin: cli.bin.clone(),
        home: tempfile::tempdir().unwrap(),
    };
    let listed = fresh.run_with(
        &["env", "ls"],
        &[
            ("PULUMI_BACKEND_URL", backend),
            ("PULUMI_ACCESS_TOKEN", support::TOKEN),
        ],
    );
    assert_eq!(
        listed.stdout, "default/base\nshop/broken\nshop/dev\n",
        "{}",
        listed.stderr
    );

    // Listing: the default organization's names are printed without it, others with it.
    assert_eq!(
        cli.ok(&["env", "ls"]),
        "default/base\nshop/broken\nshop/dev\n"
    );
    assert_eq!(
        cli.ok(&["env", "ls", "--organization", "acme"]),
        "acme/default/base\nacme/shop/broken\nacme/shop/dev\n"
    );
    assert_eq!(
        cli.ok(&["env", "ls", "--project", "shop"]),
        "shop/broken\nshop/dev\n"
    );

    // `env get`: values with secrets hidden, then the definition; one path with where it is
    // defined (walking the check's `exprs`); an imported value traced to its environment.
    let got = cli.ok(&["env", "get", "shop/dev"]);
    assert!(got.contains("\"port\": 9090"), "{got}");
    assert!(got.contains("\"password\": \"[secret]\""), "{got}");
    assert!(got.contains("    port: 9090\n"), "{got}");
    let url = cli.ok(&["env", "get", "shop/dev", "app.url"]);
    assert!(url.contains("\"https://shop.eu.example\""), "{url}");
    assert!(
        url.contains("https://${app.name}.${region}.example"),
        "{url}"
    );
    assert!(url.contains("- dev:6:10"), "{url}");
    // An overriding value lists the imported definition it overrides after its own.
    let name = cli.ok(&["env", "get", "shop/dev", "app.name"]);
    assert!(name.contains("- dev:4:11\n- base:4:11\n"), "{name}");
    let secret = cli.ok(&["env", "get", "shop/dev", "password"]);
    assert!(secret.contains("\"[secret]\""), "{secret}");
    assert!(secret.contains("fn::secret: hunter2"), "{secret}");
    let region = cli.ok(&["env", "get", "shop/dev", "region"]);
    assert!(
        region.contains("\"eu\"") && region.contains("- base:2:11"),
        "{region}"
    );
    let shown: Value = serde_json::from_str(&cli.ok(&[
        "env",
        "get",
        "shop/dev",
        "--show-secrets",
        "--value",
        "json",
    ]))
    .unwrap();
    let opened = json!({
        "app": {"name": "shop", "port": 9090, "url": "https://shop.eu.example"},
        "environmentVariables": {"APP_URL": "https://shop.eu.example", "DB_PASSWORD": "hunter2"},
        "files": {"CONFIG": "port=9090"},
        "password": "hunter2",
        "region": "eu",
    });
    assert_eq!(shown, opened);

    // `env open` in every format.
    let json_out: Value =
        serde_json::from_str(&cli.ok(&["env", "open", "shop/dev", "--format", "json"])).unwrap();
    assert_eq!(json_out, opened);
    let yaml = cli.ok(&["env", "open", "shop/dev", "--format", "yaml"]);
    assert!(yaml.contains("password: hunter2\n"), "{yaml}");
    assert!(yaml.contains("url: https://shop.eu.example\n"), "{yaml}");
    // v0.26.0 writes a number as a quoted string (yaml.v3 writes Go's json.Number as one), as
    // docs/secretproviderclass.md says where it compares esc-csi's format: yaml.
    assert!(yaml.contains("port: \"9090\"\n"), "{yaml}");
    let dotenv = cli.ok(&["env", "open", "shop/dev", "--format", "dotenv"]);
    assert!(
        dotenv.starts_with("APP_URL=\"https://shop.eu.example\"\nDB_PASSWORD=\"hunter2\"\n"),
        "{dotenv}"
    );
    // A `files` entry becomes a temporary file holding the value.
    let config = dotenv
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no CONFIG in {dotenv}"));
    assert_eq!(std::fs::read_to_string(config).unwrap(), "port=9090");
    let shell = cli.ok(&["env", "open", "shop/dev", "--format", "shell"]);
    assert!(
        shell.contains("export DB_PASSWORD=\"hunter2\"\n"),
        "{shell}"
    );
    let detailed: Value =
        serde_json::from_str(&cli.ok(&["env", "open", "shop/dev", "--format", "detailed"]))
            .unwrap();
    let properties = &detailed["value"];
    assert_eq!(properties["password"]["secret"], true);
    assert_eq!(properties["region"]["trace"]["def"]["environment"], "base");
    assert_eq!(
        properties["app"]["value"]["port"]["trace"]["def"]["begin"]["line"],
        5
    );
    let string = cli.ok(&["env", "open", "shop/dev", "--format", "string"]);
    assert!(string.contains("\"password\"=\"hunter2\""), "{string}");

    // An evaluation error: the CLI prints our diagnostics with their place (and exits 0).
    let broken = cli.run_with(&["env", "open", "shop/broken"], &[]);
    assert_eq!(broken.stdout, "");
    assert!(
        broken
            .stderr
            .ends_with("\nshop/broken:2:8: unknown property \"missing\"\n"),
        "{}",
        broken.stderr
    );

    // Revisions: a pinned one opens as it was; `latest` and a lifetime too.
    assert_eq!(cli.ok(&["env", "open", "shop/dev@1", "app.port"]), "8080\n");
    assert_eq!(cli.ok(&["env", "open", "shop/dev@2", "app.port"]), "9090\n");
    assert_eq!(
        cli.ok(&[
            "env",
            "open",
            "shop/dev@latest",
            "app.port",
            "--lifetime",
            "5m"
        ]),
        "9090\n"
    );

    // `esc run`: the environment's variables and files reach the command.
    let run = cli.ok(&[
        "run",
        "shop/dev",
        "--",
        "sh",
        "-c",
        "echo \"$APP_URL\"; test \"$DB_PASSWORD\" = hunter2 && echo secret-set; cat \"$CONFIG\"",
    ]);
    assert_eq!(run, "https://shop.eu.example\nsecret-set\nport=9090");

    // Lists the CLI pages through: each ends (within the time limit) with what is held.
    let history = cli.ok(&["env", "version", "history", "shop/dev"]);
    let headings: Vec<_> = history
        .lines()
        .filter(|l| l.starts_with("revision "))
        .collect();
    assert_eq!(
        headings,
        ["revision 2 (tag: latest)", "revision 1"],
        "{history}"
    );
    assert!(history.contains("Author: local <local>"), "{history}");
    let one = cli.ok(&["env", "version", "shop/dev@1"]);
    assert!(one.starts_with("revision 1\n"), "{one}");
    let tags = cli.ok(&["env", "version", "tag", "ls", "shop/dev"]);
    let latest = tags.lines().find(|l| l.contains(" latest ")).unwrap_or("");
    assert!(latest.contains(" 2 "), "{tags}");
    assert_eq!(cli.ok(&["env", "tag", "ls", "shop/dev"]), "");

    let diff = cli.ok(&["env", "diff", "shop/dev@1", "shop/dev@latest"]);
    assert!(
        diff.contains("-    \"port\": 8080,\n+    \"port\": 9090,"),
        "{diff}"
    );
    assert!(diff.contains("-    port: 8080\n+    port: 9090"), "{diff}");

    // Writes are told why they cannot be done.
    for args in [
        &["env", "set", "shop/dev", "app.port", "1"][..],
        &["env", "init", "shop/new"],
        &["env", "tag", "shop/dev", "team", "eng"],
        &["env", "rm", "shop/dev", "--yes"],
    ] {
        let error = cli.fails(args, &[]);
        assert!(
            error.contains("[405] this esc-server is read-only"),
            "{args:?}: {error}"
        );
    }
}
