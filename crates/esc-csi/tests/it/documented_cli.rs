//! docs/cli.md against the binary: every flag and environment variable of every subcommand is
//! documented, and every flag the page names exists.

use crate::support;

use std::collections::BTreeSet;

use support::esc_csi;

const SUBCOMMANDS: &[&str] = &["serve", "mount", "check", "esc-server"];

/// Flags of other programs the page mentions (the driver's, kubectl's).
const OTHER_PROGRAMS: &[&str] = &[
    "--max-call-recv-msg-size",
    "--rotation-poll-interval",
    "--raw",
];

fn help(subcommand: &str) -> String {
    let output = esc_csi(&[subcommand, "--help"]);
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// Long flags on option lines (`  --cache-ttl <CACHE_TTL>`, `  -h, --help`).
fn flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter_map(|l| {
            l.strip_prefix("--")
                .or_else(|| l.split_once(", --").map(|(_, f)| f))
        })
        .map(|l| format!("--{}", l.split([' ', '=']).next().unwrap()))
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

fn env_vars(help: &str) -> BTreeSet<String> {
    // Help text wraps, sometimes right after "[env:".
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect()
}

fn page() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap()
}

#[test]
fn every_flag_and_environment_variable_is_in_the_cli_page() {
    let page = page();
    let mut missing = Vec::new();
    for sub in SUBCOMMANDS {
        let help = help(sub);
        let names = flags(&help).into_iter().chain(env_vars(&help));
        missing.extend(
            names
                .filter(|n| !page.contains(&format!("`{n}")))
                .map(|n| format!("{sub}: {n}")),
        );
    }
    assert!(missing.is_empty(), "not in docs/cli.md: {missing:#?}");
}

#[test]
fn every_flag_the_cli_page_names_exists() {
    let known: BTreeSet<String> = SUBCOMMANDS.iter().flat_map(|s| flags(&help(s))).collect();
    let page = page();
    let named: BTreeSet<String> = page
        .split('`')
        .skip(1)
        .step_by(2)
        .flat_map(str::split_whitespace)
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.split('=')
                .next()
                .unwrap()
                .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .collect();
    let unknown: Vec<_> = named
        .iter()
        .filter(|f| {
            !known.contains(*f)
                && !OTHER_PROGRAMS.contains(&f.as_str())
                && *f != "--help"
                && *f != "--version"
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/cli.md names flags esc-csi does not have: {unknown:?}"
    );
}
