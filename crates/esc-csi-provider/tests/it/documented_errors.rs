//! docs/troubleshooting.md against the code: every message text the provider can return (the
//! string literals of its error types and class checks) appears in the page, and every message
//! the page quotes still exists in the code. A new or reworded message fails this test until
//! the page says what it means and what to do.
//!
//! Messages are compared by their literal parts: a code literal is split at its `{...}`
//! placeholders, a documented message at its `<...>` placeholders and `...` elisions, and each
//! part of 12 characters or more must be found on the other side.

use std::path::{Path, PathBuf};

/// Where the provider's user-facing messages are written.
const SOURCES: &[&str] = &[
    "crates/esc-csi-provider/src/error/mod.rs",
    "crates/esc-csi-provider/src/credential/mod.rs",
    "crates/esc-csi-provider/src/credential/exchange.rs",
    "crates/esc-csi-provider/src/class/mod.rs",
    "crates/esc-csi-provider/src/class/checks.rs",
    "crates/esc-csi-provider/src/class/settings.rs",
    "crates/esc-csi-provider/src/class/items.rs",
    "crates/esc-csi-provider/src/class/item.rs",
    "crates/esc-csi-provider/src/render/paths.rs",
    "crates/esc-csi-provider/src/class/yaml.rs",
    "crates/esc-csi-provider/src/render/bytes.rs",
    "crates/esc-csi-provider/src/render/error.rs",
    "crates/esc-csi-provider/src/render/env.rs",
    "crates/esc-csi-provider/src/render/folder.rs",
    "crates/esc-csi-provider/src/render/template.rs",
    "crates/esc-csi-provider/src/mount/mod.rs",
    "crates/esc-csi-provider/src/mount/budget.rs",
    "crates/esc-csi-provider/src/grpc/mod.rs",
    "crates/esc-csi-provider/src/credential/kube.rs",
    "crates/esc-api/src/error.rs",
    "crates/esc-api/src/memory_budget.rs",
    "crates/esc-path/src/parse.rs",
    "crates/esc-path/src/resolve.rs",
];

/// Literals in those files that are not messages.
const NOT_MESSAGES: &[&str] = &["already clean", "budget exceeded", "any YAML value"];

/// Constants the messages interpolate, by their placeholder.
const CONSTANTS: &[(&str, &str)] = &[("{TOKEN_KEY}", "pulumi-access-token")];

const MIN_PART: usize = 12;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The string literals of `source` outside tests, `expect` texts and character literals.
fn literals(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut chars = code.char_indices().peekable();
    let bytes = code.as_bytes();
    while let Some((i, c)) = chars.next() {
        match c {
            // Character literals such as '"' or '\'' (not lifetimes, which have no closing quote).
            '\'' => {
                let rest = &code[i + 1..];
                let len = match rest.chars().next() {
                    Some('\\') => rest[1..].find('\'').map(|n| n + 2),
                    Some(c) => rest[c.len_utf8()..]
                        .starts_with('\'')
                        .then_some(c.len_utf8()),
                    None => None,
                };
                if let Some(len) = len {
                    for _ in 0..rest[..len + 1].chars().count() {
                        chars.next();
                    }
                }
            }
            '/' if bytes.get(i + 1) == Some(&b'/') => {
                while chars.peek().is_some_and(|&(_, c)| c != '\n') {
                    chars.next();
                }
            }
            '"' => {
                let mut text = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('\n') => {
                                while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
                                    chars.next();
                                }
                            }
                            Some('n') => text.push('\n'),
                            Some(other) => text.push(other),
                            None => {}
                        },
                        c => text.push(c),
                    }
                }
                let before = code[..i].trim_end();
                if !before.ends_with(".expect(") {
                    let mut text = text.replace("{{", "{").replace("}}", "}");
                    for (placeholder, value) in CONSTANTS {
                        text = text.replace(placeholder, value);
                    }
                    out.push(text);
                }
            }
            _ => {}
        }
    }
    out
}

fn normalize(text: &str) -> String {
    text.replace('`', "")
        .replace("\\|", "|")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The literal parts of a message long enough to identify it.
fn parts(text: &str, placeholder: &regex::Regex) -> Vec<String> {
    placeholder
        .split(&normalize(text))
        // Quotes, colons and brackets around a placeholder belong to neither side.
        .map(|p| p.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|p| p.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_PART)
        .map(str::to_owned)
        .collect()
}

fn troubleshooting() -> String {
    std::fs::read_to_string(root().join("docs/troubleshooting.md")).unwrap()
}

fn code_messages() -> Vec<(String, String)> {
    let mut messages = Vec::new();
    for file in SOURCES {
        let source = std::fs::read_to_string(root().join(file)).unwrap();
        for literal in literals(&source) {
            if literal.contains(' ') && !NOT_MESSAGES.contains(&literal.as_str()) {
                messages.push(((*file).to_owned(), literal));
            }
        }
    }
    messages
}

#[test]
fn every_message_the_provider_can_return_is_in_the_troubleshooting_page() {
    let doc = normalize(&troubleshooting());
    let placeholder = regex::Regex::new(r"\{[^{}]*\}").unwrap();
    let messages = code_messages();
    assert!(
        messages.len() > 80,
        "found only {} messages; is the scan broken?",
        messages.len()
    );
    let missing: Vec<_> = messages
        .iter()
        .filter(|(_, m)| {
            parts(m, &placeholder)
                .iter()
                .any(|p| !doc.contains(p.as_str()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} messages are not in docs/troubleshooting.md:\n{}",
        missing.len(),
        missing
            .iter()
            .map(|(f, m)| format!("  {f}: {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_message_the_troubleshooting_page_quotes_is_still_in_the_code() {
    let code = normalize(
        &code_messages()
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let placeholder = regex::Regex::new(r"<[^<>]*>|\.\.\.|\{[^{}]*\}").unwrap();
    let quoted = regex::Regex::new(r"`([^`]+)`").unwrap();
    let mut stale = Vec::new();
    let mut checked = 0;
    for line in troubleshooting().lines().filter(|l| l.starts_with("| `")) {
        // The first column quotes messages; the others say what to do.
        let first = line
            .trim_start_matches('|')
            .split(" | ")
            .next()
            .unwrap_or_default();
        for quote in quoted.captures_iter(first) {
            for part in parts(&quote[1], &placeholder) {
                checked += 1;
                if !code.contains(part.as_str()) {
                    stale.push(part);
                }
            }
        }
    }
    assert!(
        checked > 50,
        "checked only {checked} quoted parts; is the page's format broken?"
    );
    assert!(
        stale.is_empty(),
        "quoted in docs/troubleshooting.md but not in the code: {stale:#?}"
    );
}
