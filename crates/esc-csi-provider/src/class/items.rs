//! The `secrets` parameter: a YAML list of files to mount, each from one property path.
//!
//! Items are read from a generic YAML tree rather than with a derived struct so that every
//! item is checked and every problem reported, not just the first.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_norway::Value as Yaml;

use crate::class::item::{NAMES, label, parse_item, scalar_text};
use crate::class::limits::{ClassLimits, MAX_WARNINGS};
use crate::class::problems::ClassProblems;
use crate::class::yaml::{self, check_shape};
use crate::render::paths::check_path;

pub use crate::class::item::{Item, KEYS, Shape, parse_mode};
pub use crate::class::memo::ItemsMemo;
pub use crate::render::format::{Encoding, Format};
pub use crate::render::paths::check_file_name;

/// Parses the `secrets` parameter within `limits`. Problems go to `problems`; item keys that
/// are merely unknown (as the Go provider ignored them) go to `warnings`, the first time
/// `known` reads a list only, so that they are logged once per class rather than on every
/// mount. Parsing is a function of the text and the limits alone, so a list is parsed once.
pub fn parse_items(
    text: &str,
    limits: &ClassLimits,
    known: &ItemsMemo,
    problems: &mut ClassProblems,
    warnings: &mut Vec<String>,
) -> Arc<[Item]> {
    if let Some(parsed) = known.get(limits, text) {
        return match parsed {
            Ok(items) => items,
            Err(known) => {
                problems.append(&known);
                Arc::from([])
            }
        };
    }
    let mut own = ClassProblems::default();
    let items: Arc<[Item]> = parse_items_uncached(text, limits, &mut own, warnings).into();
    let entry = if own.is_empty() {
        Ok(Arc::clone(&items))
    } else {
        Err(own.clone())
    };
    known.insert(limits, text, entry);
    problems.append(&own);
    if own.is_empty() { items } else { Arc::from([]) }
}

fn parse_items_uncached(
    text: &str,
    limits: &ClassLimits,
    problems: &mut ClassProblems,
    warnings: &mut Vec<String>,
) -> Vec<Item> {
    let subject = "parameter secrets";
    let parsed = check_shape(text, limits).and_then(|()| yaml::parse(text, limits));
    let list = match parsed {
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
            problems.push(subject, e.to_string());
            return Vec::new();
        }
    };
    if list.is_empty() {
        problems.push(
            subject,
            "lists no files; add items such as `- fileName: app.txt`",
        );
    }
    if list.len() > limits.max_items {
        problems.push(
            subject,
            format!(
                "lists {} items, over the limit of {} (split the class, or raise esc-csi's \
                 --max-secrets-items)",
                list.len(),
                limits.max_items
            ),
        );
        return Vec::new();
    }
    let mut unknown = Vec::new();
    let items: Vec<Item> = list
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| parse_item(index, entry, problems, &mut unknown))
        .collect();
    let extra = unknown.len().saturating_sub(MAX_WARNINGS);
    warnings.extend(unknown.into_iter().take(MAX_WARNINGS));
    if extra > 0 {
        warnings.push(format!(
            "parameter secrets: … and {extra} more unknown keys are ignored"
        ));
    }
    // Every item with a usable name takes part, whatever its other problems, so that one
    // check lists every problem at once.
    let named: Vec<Named> = list
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| Named::of(index, entry))
        .collect();
    check_collisions(&named, problems);
    items
}

/// What an item writes, where: all that collisions need.
struct Named {
    index: usize,
    name: String,
    shape: Shape,
}

impl Named {
    /// The item's name, when it has exactly one name key and the name is a valid path.
    fn of(index: usize, entry: &Yaml) -> Option<Named> {
        let Yaml::Mapping(mapping) = entry else {
            return None;
        };
        let mut given = NAMES
            .iter()
            .filter_map(|key| Some((*key, mapping.get(*key).and_then(scalar_text)?)));
        let (key, name) = given.next()?;
        if given.next().is_some() || check_path(&name, key).is_err() {
            return None;
        }
        let shape = match key {
            "folderName" => Shape::Folder,
            "files" => Shape::Files,
            _ => Shape::File,
        };
        Some(Named { index, name, shape })
    }

    fn label(&self) -> String {
        label(self.index, Some(&self.name))
    }

    fn name_key(&self) -> &'static str {
        self.shape.name_key()
    }
}

/// Two items writing the same file or folder, a file where another item needs a folder, or
/// anything inside the folder that a folder item fills from an object (its keys are known only
/// at mount time, so the folder is all its own).
fn check_collisions(items: &[Named], problems: &mut ClassProblems) {
    let mut files: BTreeMap<&str, &Named> = BTreeMap::new();
    for item in items {
        if let Some(first) = files.get(item.name.as_str()) {
            problems.push(
                item.label(),
                format!("{} is already used by {}", item.name_key(), first.label()),
            );
            continue;
        }
        files.insert(&item.name, item);
    }
    for item in items {
        let mut folder = item.name.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            match files.get(parent) {
                Some(other) if other.shape == Shape::File => problems.push(
                    item.label(),
                    format!(
                        "needs a folder {parent:?}, but {} writes a file there",
                        other.label()
                    ),
                ),
                Some(other) => problems.push(
                    item.label(),
                    format!(
                        "writes into the folder {parent:?}, which {} fills with a file per key; \
                         choose a path outside it",
                        other.label()
                    ),
                ),
                None => {}
            }
            folder = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (Vec<Item>, ClassProblems, Vec<String>) {
        parse_in(&ItemsMemo::default(), yaml)
    }

    fn parse_in(memo: &ItemsMemo, yaml: &str) -> (Vec<Item>, ClassProblems, Vec<String>) {
        let mut problems = ClassProblems::default();
        let mut warnings = Vec::new();
        let limits = ClassLimits::default();
        let items = parse_items(yaml, &limits, memo, &mut problems, &mut warnings);
        (items.to_vec(), problems, warnings)
    }

    #[test]
    fn a_list_parsed_again_gives_the_same_items_once_warned_and_a_bad_one_its_problems() {
        let yaml =
            "- {fileName: memo-a, secretKey: a, colour: blue}\n- {fileName: memo-b, secretKey: b}";
        let memo = ItemsMemo::default();
        let first = parse_in(&memo, yaml);
        let again = parse_in(&memo, yaml);
        assert_eq!(first.0.len(), 2);
        assert_eq!(first.0, again.0);
        assert_eq!(first.2.len(), 1, "{:?}", first.2);
        assert!(
            again.2.is_empty(),
            "the warning is given once: {:?}",
            again.2
        );
        let bad = "- {fileName: memo-c, secretKey: c, mode: '9999'}";
        assert_eq!(parse_in(&memo, bad).1.len(), 1);
        assert_eq!(
            parse_in(&memo, bad).1,
            parse_in(&memo, bad).1,
            "problems are found every time"
        );
        assert_eq!(
            parse(yaml).2.len(),
            1,
            "another memo (another Mounter) warns again"
        );
    }

    #[test]
    fn file_names_with_controls_bidi_overrides_or_invisible_characters_are_refused_by_item() {
        let (_, problems, _) =
            parse("- {fileName: \"a\\u202Etxt.exe\", secretKey: a}\n- {fileName: \"b\\nc\"}\n");
        let text = problems.to_string();
        assert!(
            !text.contains('\u{202e}') && !text.contains('\n'),
            "{text:?}"
        );
        assert!(
            text.contains(
                "secrets[0] (\"a\\u{202e}txt.exe\"): fileName \"a\\u{202e}txt.exe\" contains \
                 U+202E, a control"
            ),
            "{text}"
        );
        assert!(
            text.contains("secrets[1] (\"b\\u{a}c\"): fileName \"b\\u{a}c\" contains U+000A"),
            "{text}"
        );
        assert!(check_file_name("caf\u{e9}/\u{65e5}\u{672c}.txt").is_ok());
        assert!(
            check_file_name("a\u{2024}b").is_ok(),
            "a look-alike dot inside a name is fine"
        );
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
    fn directory_name_is_taken_for_folder_name_with_no_second_problem() {
        let (_, problems, _) = parse("- {directoryName: conf, secretKey: app}\n");
        assert_eq!(
            problems.to_string(),
            "secrets[0]: unknown key \"directoryName\" (did you mean \"folderName\"?)"
        );
    }

    #[test]
    fn a_mode_under_another_tools_name_is_refused_with_the_key_meant() {
        let (_, problems, warnings) =
            parse("- {fileName: db, secretKey: db, permissions: \"0400\"}\n");
        assert_eq!(
            problems.to_string(),
            "secrets[0] (\"db\"): unknown key \"permissions\" (did you mean \"mode\"?)"
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn an_item_of_an_unknown_kind_says_which_key_esc_csi_does_not_know() {
        let (_, problems, _) = parse("- {directory_root: conf, secretKey: app}\n");
        assert_eq!(
            problems.to_string(),
            "secrets[0]: names no file to write: it needs fileName (one file), folderName (a \
             folder with a file per key of an object) or files (the environment's files), and \
             esc-csi does not know its key \"directory_root\""
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
