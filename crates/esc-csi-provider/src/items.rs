//! The `secrets` parameter: a YAML list of files to mount, each from one property path.
//!
//! Items are read from a generic YAML tree rather than with a derived struct so that every
//! item is checked and every problem reported, not just the first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{LazyLock, Mutex};

use esc_path::{PropertyPath, closest};
use serde_norway::Value as Yaml;

use crate::problems::Problems;

/// How a value becomes file content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Strings as they are, numbers and booleans as JSON text, null as nothing, objects and
    /// arrays as compact JSON.
    #[default]
    Plaintext,
    /// Indented JSON.
    Json,
    /// YAML.
    Yaml,
}

/// How a string value is decoded into the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Base64,
    Hex,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Plaintext => "plaintext",
            Format::Json => "json",
            Format::Yaml => "yaml",
        })
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
        })
    }
}

/// One file to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Position in the list, for messages.
    pub index: usize,
    pub file_name: String,
    /// `secretPath` joined with `secretKey`: where the value is in the environment.
    pub path: PropertyPath,
    pub format: Format,
    pub encoding: Encoding,
    /// Overrides the request's default permission.
    pub mode: Option<u32>,
}

impl Item {
    /// How messages name this item.
    pub fn label(&self) -> String {
        label(self.index, Some(&self.file_name))
    }
}

fn label(index: usize, file_name: Option<&str>) -> String {
    match file_name {
        Some(name) if !name.is_empty() => format!("secrets[{index}] ({name:?})"),
        _ => format!("secrets[{index}]"),
    }
}

/// The keys an item may have, as the Go provider defined them.
pub const KEYS: [&str; 6] = [
    "fileName",
    "secretKey",
    "secretPath",
    "format",
    "encoding",
    "mode",
];

/// The driver's limits on file paths.
const MAX_PATH_BYTES: usize = 4096;
const MAX_NAME_BYTES: usize = 255;

/// Lists parsed without a problem, by their text: every mount of a class sends the same
/// `secrets`, and parsing its YAML was over a third of a cached mount's CPU time.
static PARSED: LazyLock<Mutex<HashMap<String, Parsed>>> = LazyLock::new(Mutex::default);

/// Items and warnings.
type Parsed = (Vec<Item>, Vec<String>);

/// Distinct lists remembered; past it the memo starts over (classes on a node are few).
const PARSED_MAX: usize = 64;

/// Parses the `secrets` parameter. Problems go to `problems`; item keys that are merely
/// unknown (as the Go provider ignored them) go to `warnings`. A list parsed once without a
/// problem is not parsed again: parsing is a function of the text alone.
pub fn parse_items(text: &str, problems: &mut Problems, warnings: &mut Vec<String>) -> Vec<Item> {
    let memo = || PARSED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((items, known)) = memo().get(text) {
        warnings.extend(known.iter().cloned());
        return items.clone();
    }
    let (before, mut own) = (problems.len(), Vec::new());
    let items = parse_items_uncached(text, problems, &mut own);
    if problems.len() == before {
        let mut memo = memo();
        if memo.len() >= PARSED_MAX {
            memo.clear();
        }
        memo.insert(text.to_owned(), (items.clone(), own.clone()));
    }
    warnings.extend(own);
    items
}

fn parse_items_uncached(
    text: &str,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Vec<Item> {
    let subject = "parameter secrets";
    let list = match serde_norway::from_str::<Yaml>(text) {
        Ok(Yaml::Sequence(list)) => list,
        Ok(Yaml::Null) => {
            problems.push(
                subject,
                "lists no files; add items such as `- fileName: app.txt`",
            );
            return Vec::new();
        }
        Ok(_) => {
            problems.push(
                subject,
                "not a YAML list of items such as `- fileName: app.txt` with `secretKey: app.key` \
                 under it",
            );
            return Vec::new();
        }
        Err(e) => {
            problems.push(subject, format!("not valid YAML: {e}"));
            return Vec::new();
        }
    };
    if list.is_empty() {
        problems.push(
            subject,
            "lists no files; add items such as `- fileName: app.txt`",
        );
    }
    let items: Vec<Item> = list
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| parse_item(index, entry, problems, warnings))
        .collect();
    check_collisions(&items, problems);
    items
}

fn parse_item(
    index: usize,
    entry: &Yaml,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<Item> {
    let Yaml::Mapping(mapping) = entry else {
        problems.push(
            label(index, None),
            "must be a mapping with fileName and secretKey",
        );
        return None;
    };
    let mut fields: BTreeMap<&str, String> = BTreeMap::new();
    let mut subject = label(index, None);
    let before = problems.len();
    // fileName first, so that every later message can name the file.
    if let Some(name) = mapping.get("fileName").and_then(scalar_text) {
        subject = label(index, Some(&name));
    }
    for (key, value) in mapping {
        let Some(key) = key.as_str() else {
            problems.push(&subject, "has a key that is not a string");
            continue;
        };
        if KEYS.contains(&key) {
            match (key, value) {
                ("mode", Yaml::Number(_)) => problems.push(
                    &subject,
                    "mode must be a quoted octal string such as \"0400\" (YAML reads an unquoted \
                     400 or 0o400 as a number, and numbers are ambiguous here)",
                ),
                (_, Yaml::Null) => {}
                (_, value) => match scalar_text(value) {
                    Some(text) => {
                        fields.insert(key, text);
                    }
                    None => problems.push(&subject, format!("{key} must be a string")),
                },
            }
        } else if let Some(meant) = closest(key, KEYS).or_else(|| prefix_of(key)) {
            problems.push(
                &subject,
                format!("unknown key {key:?} (did you mean {meant:?}?)"),
            );
        } else {
            warnings.push(format!("{subject}: unknown key {key:?} is ignored"));
        }
    }
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();

    let file_name = field("fileName");
    if let Err(message) = check_file_name(&file_name) {
        problems.push(&subject, message);
    }
    let prefix = match field("secretPath").as_str() {
        "" | "/" => Some(PropertyPath::root()),
        text => PropertyPath::parse(text)
            .map_err(|e| {
                problems.push(&subject, format!("secretPath {text:?} does not parse: {e}"));
            })
            .ok(),
    };
    let key_text = field("secretKey");
    let key = PropertyPath::parse(&key_text)
        .map_err(|e| {
            problems.push(
                &subject,
                format!("secretKey {key_text:?} does not parse: {e}"),
            );
        })
        .ok();
    let format = match field("format").to_ascii_lowercase().as_str() {
        "" | "plaintext" | "text" => Format::Plaintext,
        "json" => Format::Json,
        "yaml" | "yml" => Format::Yaml,
        other => {
            problems.push(
                &subject,
                format!("format {other:?} is not one of plaintext, json, yaml"),
            );
            Format::Plaintext
        }
    };
    let encoding = match field("encoding").to_ascii_lowercase().as_str() {
        "" | "utf-8" | "utf8" => Encoding::Utf8,
        "base64" => Encoding::Base64,
        "hex" => Encoding::Hex,
        other => {
            problems.push(
                &subject,
                format!("encoding {other:?} is not one of utf-8, base64, hex"),
            );
            Encoding::Utf8
        }
    };
    if encoding != Encoding::Utf8 && format != Format::Plaintext {
        problems.push(
            &subject,
            format!("encoding {encoding} decodes a string into raw bytes, so format must be plaintext, not {format}"),
        );
    }
    let mode = fields.get("mode").and_then(|text| {
        parse_mode(text)
            .map_err(|message| problems.push(&subject, message))
            .ok()
    });
    if problems.len() > before {
        return None;
    }
    Some(Item {
        index,
        file_name,
        path: prefix?.join(&key?),
        format,
        encoding,
        mode,
    })
}

/// A scalar as text: strings as they are, numbers and booleans as written (the Go provider's
/// YAML library accepted those for string fields too). `None` for null, lists and mappings.
fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Tagged(tagged) => scalar_text(&tagged.value),
        _ => None,
    }
}

/// A key that starts a known key (`secret` for `secretKey`) is a typo, not an extension.
fn prefix_of(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    if lower.len() < 4 {
        return None;
    }
    KEYS.into_iter()
        .find(|known| known.to_ascii_lowercase().starts_with(&lower))
}

/// The driver's rules for file paths, plus "already clean" so what is mounted is what was
/// written.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("fileName is required".into());
    }
    if name.starts_with('/') {
        return Err(format!("fileName {name:?} must be a relative path"));
    }
    if name.contains('\0') {
        return Err("fileName must not contain a NUL character".into());
    }
    if name.len() > MAX_PATH_BYTES {
        return Err(format!("fileName is longer than {MAX_PATH_BYTES} bytes"));
    }
    let components: Vec<&str> = name.split('/').collect();
    if components[0].starts_with("..") {
        return Err(format!(
            "fileName {name:?} must not start with \"..\" (the driver keeps its own files there)"
        ));
    }
    for component in &components {
        match *component {
            "" => {
                return Err(format!(
                    "fileName {name:?} has an empty path component; write it without \"//\" or a trailing \"/\""
                ));
            }
            "." => {
                return Err(format!(
                    "fileName {name:?} must not contain \".\" components"
                ));
            }
            ".." => {
                return Err(format!(
                    "fileName {name:?} must not contain \"..\" components"
                ));
            }
            c if c.len() > MAX_NAME_BYTES => {
                return Err(format!(
                    "fileName {name:?} has a component longer than {MAX_NAME_BYTES} bytes"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// An octal mode such as `0400`, `400` or `0o400`, at most `0777`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let bad = || format!("mode {text:?} is not an octal file mode such as \"0400\" or \"0644\"");
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(format!(
            "mode {text:?} sets bits above 0777 (setuid, setgid, sticky), which mounted files cannot have"
        ));
    }
    Ok(mode)
}

/// Two items writing the same file, or a file where another item needs a folder.
fn check_collisions(items: &[Item], problems: &mut Problems) {
    let mut files: BTreeMap<&str, &Item> = BTreeMap::new();
    for item in items {
        if let Some(first) = files.get(item.file_name.as_str()) {
            problems.push(
                item.label(),
                format!("fileName is already used by {}", first.label()),
            );
            continue;
        }
        files.insert(&item.file_name, item);
    }
    for item in items {
        let mut folder = item.file_name.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            if let Some(other) = files.get(parent) {
                problems.push(
                    item.label(),
                    format!(
                        "needs a folder {parent:?}, but {} writes a file there",
                        other.label()
                    ),
                );
            }
            folder = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (Vec<Item>, Problems, Vec<String>) {
        let mut problems = Problems::default();
        let mut warnings = Vec::new();
        let items = parse_items(yaml, &mut problems, &mut warnings);
        (items, problems, warnings)
    }

    #[test]
    fn a_list_parsed_again_gives_the_same_items_and_warnings_and_a_bad_one_its_problems() {
        let yaml =
            "- {fileName: memo-a, secretKey: a, colour: blue}\n- {fileName: memo-b, secretKey: b}";
        let first = parse(yaml);
        let again = parse(yaml);
        assert_eq!(first.0.len(), 2);
        assert_eq!(first.0, again.0);
        assert_eq!(first.2.len(), 1, "{:?}", first.2);
        assert_eq!(first.2, again.2, "the warning is given on every parse");
        let bad = "- {fileName: memo-c, secretKey: c, mode: '9999'}";
        assert_eq!(parse(bad).1.len(), 1);
        assert_eq!(parse(bad).1, parse(bad).1, "problems are found every time");
    }

    #[test]
    fn modes_are_octal_strings_up_to_0777() {
        assert_eq!(parse_mode("0400"), Ok(0o400));
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        assert_eq!(parse_mode("0"), Ok(0));
        assert!(parse_mode("").is_err());
        assert!(parse_mode("0x1a4").is_err());
        assert!(parse_mode("rw-r--r--").is_err());
        assert!(parse_mode("1777").is_err());
    }

    #[test]
    fn nested_file_names_are_fine_and_unclean_ones_are_not() {
        assert_eq!(check_file_name("a/b/c.txt"), Ok(()));
        assert_eq!(check_file_name(".hidden"), Ok(()));
        assert_eq!(check_file_name("a..b"), Ok(()));
        for bad in ["", "/a", "../a", "..a", "a/..", "./a", "a//b", "a/", "a\0b"] {
            assert!(check_file_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(check_file_name(&"x".repeat(255)).is_ok());
        assert!(check_file_name(&"x".repeat(256)).is_err());
        assert!(check_file_name(&format!("{}/x", "d/".repeat(2048))).is_err());
    }

    #[test]
    fn scalars_of_any_type_are_read_as_text_like_the_go_provider_did() {
        let (items, problems, _) = parse("- {fileName: 2024, secretKey: 7, secretPath: list}\n");
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(items[0].file_name, "2024");
        assert_eq!(items[0].path.to_string(), "list[\"7\"]");
    }

    #[test]
    fn the_key_and_path_are_joined_and_missing_keys_mean_the_whole_value() {
        let (items, problems, _) = parse(
            "- {fileName: a, secretPath: app, secretKey: 'db[0]'}\n- {fileName: b}\n- {fileName: c, secretPath: '/'}\n",
        );
        assert!(problems.is_empty(), "{problems}");
        assert_eq!(items[0].path.to_string(), "app.db[0]");
        assert!(items[1].path.is_empty());
        assert!(items[2].path.is_empty());
    }

    #[test]
    fn unknown_keys_far_from_known_ones_are_warnings_not_errors() {
        let (items, problems, warnings) =
            parse("- {fileName: a, secretKey: a, description: hello, owner: team}\n");
        assert!(problems.is_empty());
        assert_eq!(items.len(), 1);
        assert_eq!(
            warnings,
            [
                "secrets[0] (\"a\"): unknown key \"description\" is ignored",
                "secrets[0] (\"a\"): unknown key \"owner\" is ignored"
            ]
        );
    }

    #[test]
    fn format_and_encoding_names_are_case_insensitive_with_aliases() {
        let (items, problems, _) = parse(
            "- {fileName: a, format: JSON}\n- {fileName: b, format: yml}\n- {fileName: c, encoding: UTF8}\n- {fileName: d, encoding: Base64}\n",
        );
        assert!(problems.is_empty(), "{problems}");
        let got: Vec<_> = items.iter().map(|i| (i.format, i.encoding)).collect();
        assert_eq!(
            got,
            [
                (Format::Json, Encoding::Utf8),
                (Format::Yaml, Encoding::Utf8),
                (Format::Plaintext, Encoding::Utf8),
                (Format::Plaintext, Encoding::Base64),
            ]
        );
    }

    #[test]
    fn an_item_that_is_not_a_mapping_is_a_problem() {
        let (_, problems, _) = parse("- just a string\n");
        assert_eq!(
            problems.to_string(),
            "secrets[0]: must be a mapping with fileName and secretKey"
        );
    }
}
