//! The `secrets` parameter: a YAML list of files to mount, each from one property path.
//!
//! Items are read from a generic YAML tree rather than with a derived struct so that every
//! item is checked and every problem reported, not just the first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use esc_path::{PropertyPath, Quoted, closest};
use serde_norway::Value as Yaml;

use crate::class::limits::{ClassLimits, MAX_WARNINGS};
use crate::class::problems::Problems;
use crate::render::paths::{check_name, shown};

use crate::class::yaml::{self, check_shape};
pub use crate::render::format::{Encoding, Format};
pub use crate::render::paths::check_file_name;
use crate::render::template::Template;

/// What an item writes: one file, or a folder of files from an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// `fileName`: one file.
    #[default]
    File,
    /// `folderName`: an object as a folder, one file per key, nested objects as nested folders.
    Folder,
    /// `files`: the environment's top-level `files` property as a folder, one file per key,
    /// as `esc run` writes them to temporary files.
    Files,
}

/// One file to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Position in the list, for messages.
    pub index: usize,
    /// The file's path, or the folder's for a folder.
    pub file_name: String,
    pub shape: Shape,
    /// `template`: the file's content, with `${path}` references resolved under `secretPath`.
    pub template: Option<Template>,
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

    /// The key that names what this item writes.
    pub fn name_key(&self) -> &'static str {
        Named::key(self.shape)
    }
}

fn label(index: usize, file_name: Option<&str>) -> String {
    match file_name {
        Some(name) if !name.is_empty() => format!("secrets[{index}] (\"{}\")", shown(name)),
        _ => format!("secrets[{index}]"),
    }
}

/// The keys an item may have, as the Go provider defined them.
pub const KEYS: [&str; 9] = [
    "fileName",
    "folderName",
    "files",
    "template",
    "secretKey",
    "secretPath",
    "format",
    "encoding",
    "mode",
];

/// Item lists parsed, by their text and the limits they were read under: every mount of a class
/// sends the same `secrets`, parsing its YAML was over a third of a cached mount's CPU time, and
/// a refused list (a hostile one) must not cost its parse again on every mount. Owned by whoever
/// reads classes over and over: the [`crate::Mounter`]. A hit costs a SipHash and a compare of
/// the text, and shares the parsed list (a SHA-256 of the text and a deep copy of the items
/// were a tenth of a warm mount's instructions).
#[derive(Default)]
pub struct ItemsMemo(Mutex<Memo>);

impl fmt::Debug for ItemsMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        write!(f, "ItemsMemo({} lists)", memo.len())
    }
}

type Parsed = Result<Arc<[Item]>, Problems>;

/// By limits (one set per daemon in practice), then by text.
#[derive(Default)]
struct Memo {
    entries: HashMap<ClassLimits, HashMap<Box<str>, Parsed>>,
    bytes: usize,
}

impl Memo {
    fn len(&self) -> usize {
        self.entries.values().map(HashMap::len).sum()
    }
}

/// Distinct lists remembered, and their estimated bytes (texts included); past either the memo
/// starts over (classes on a node are few).
const PARSED_MAX: usize = 64;
const PARSED_MAX_BYTES: usize = 8 << 20;

fn estimate(text: &str, entry: &Parsed) -> usize {
    text.len()
        + match entry {
            Ok(items) => items
                .iter()
                .map(|i: &Item| -> usize {
                    128 + i.file_name.len()
                        + 2 * i.path.to_string().len()
                        + i.template.as_ref().map_or(0, Template::estimate)
                })
                .sum(),
            Err(problems) => problems
                .iter()
                .map(|p| 64 + p.subject.len() + p.message.len())
                .sum::<usize>(),
        }
}

/// Parses the `secrets` parameter within `limits`. Problems go to `problems`; item keys that
/// are merely unknown (as the Go provider ignored them) go to `warnings`, the first time
/// `known` reads a list only, so that they are logged once per class rather than on every
/// mount. Parsing is a function of the text and the limits alone, so a list is parsed once.
pub fn parse_items(
    text: &str,
    limits: &ClassLimits,
    known: &ItemsMemo,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Arc<[Item]> {
    let memo = || known.0.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(parsed) = memo().entries.get(limits).and_then(|m| m.get(text)) {
        return match parsed {
            Ok(items) => Arc::clone(items),
            Err(known) => {
                problems.append(known);
                Arc::from([])
            }
        };
    }
    let mut own = Problems::default();
    let items: Arc<[Item]> = parse_items_uncached(text, limits, &mut own, warnings).into();
    let entry = if own.is_empty() {
        Ok(Arc::clone(&items))
    } else {
        Err(own.clone())
    };
    let bytes = estimate(text, &entry);
    {
        let mut memo = memo();
        if memo.len() >= PARSED_MAX || memo.bytes + bytes > PARSED_MAX_BYTES {
            memo.entries.clear();
            memo.bytes = 0;
        }
        if bytes <= PARSED_MAX_BYTES / 4 {
            memo.bytes += bytes;
            (memo.entries.entry(*limits).or_default()).insert(text.into(), entry);
        }
    }
    problems.append(&own);
    if own.is_empty() { items } else { Arc::from([]) }
}

fn parse_items_uncached(
    text: &str,
    limits: &ClassLimits,
    problems: &mut Problems,
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
        if given.next().is_some() || check_name(&name, key).is_err() {
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
        Named::key(self.shape)
    }

    fn key(shape: Shape) -> &'static str {
        match shape {
            Shape::File => "fileName",
            Shape::Folder => "folderName",
            Shape::Files => "files",
        }
    }
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
    // The name first, so that every later message can name the file or folder.
    if let Some(name) = NAMES
        .iter()
        .find_map(|key| mapping.get(*key).and_then(scalar_text))
    {
        subject = label(index, Some(&name));
    }
    // Keys esc-csi does not know: ignored, unless the item then names nothing to write.
    let mut unknown: Vec<&str> = Vec::new();
    // Whether a misspelt key was taken for fileName, folderName or files.
    let mut named = false;
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
        } else if let Some(meant) = closest(key, KEYS)
            .or_else(|| prefix_of(key))
            .or_else(|| synonym_of(key))
        {
            named |= NAMES.contains(&meant);
            problems.push(
                &subject,
                format!(
                    "unknown key {key:?} (did you mean {meant:?}?)",
                    key = Quoted(key),
                    meant = Quoted(meant)
                ),
            );
        } else {
            unknown.push(key);
            warnings.push(format!(
                "{subject}: unknown key {key:?} is ignored",
                key = Quoted(key)
            ));
        }
    }
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();

    let given: Vec<&str> = NAMES
        .into_iter()
        .filter(|key| fields.contains_key(key))
        .collect();
    let (shape, name_key) = match given.as_slice() {
        ["folderName"] => (Shape::Folder, "folderName"),
        ["files"] => (Shape::Files, "files"),
        [] | ["fileName"] => (Shape::File, "fileName"),
        _ => {
            problems.push(
                &subject,
                format!(
                    "has {}; give one: fileName writes one file, folderName a folder with a file \
                     per key of an object, files a folder of the environment's files",
                    given.join(" and ")
                ),
            );
            (Shape::File, given[0])
        }
    };
    let file_name = field(name_key);
    if given.is_empty() && named {
        // The typo's problem already says which key names the file.
    } else if given.is_empty() && !unknown.is_empty() {
        // `directoryName:` is not an unknown kind of item, it is no item at all.
        let keys: Vec<String> = unknown.iter().map(|k| format!("{k:?}")).collect();
        problems.push(
            &subject,
            format!(
                "names no file to write: it needs fileName (one file), folderName (a folder \
                 with a file per key of an object) or files (the environment's files), and \
                 esc-csi does not know {} {}",
                if keys.len() == 1 {
                    "its key"
                } else {
                    "its keys"
                },
                keys.join(", ")
            ),
        );
    } else if let Err(message) = check_name(&file_name, name_key) {
        problems.push(&subject, message);
    }
    if shape == Shape::Files {
        let extra: Vec<&str> = fields
            .keys()
            .copied()
            .filter(|key| !matches!(*key, "files" | "mode"))
            .collect();
        if !extra.is_empty() {
            problems.push(
                &subject,
                format!(
                    "files mounts the environment's files property as esc run writes it, so it \
                     takes only mode, not {}; for another object use folderName",
                    extra.join(", ")
                ),
            );
        }
        fields.insert("secretKey", "files".to_owned());
    }
    let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let prefix = match field("secretPath").as_str() {
        "" | "/" => Some(PropertyPath::root()),
        text => PropertyPath::parse(text)
            .map_err(|e| {
                problems.push(
                    &subject,
                    format!(
                        "secretPath {text:?} does not parse: {e}",
                        text = Quoted(text)
                    ),
                );
            })
            .ok(),
    };
    let template = fields.get("template").and_then(|text| {
        // A files item has already said that it takes no template.
        for key in ["secretKey", "format", "encoding", "folderName"] {
            if shape != Shape::Files && fields.contains_key(key) {
                problems.push(
                    &subject,
                    format!(
                        "template writes its text with ${{...}} references resolved under \
                         secretPath, so it takes no {key}"
                    ),
                );
            }
        }
        Template::parse(text)
            .map_err(|e| problems.push(&subject, e.to_string()))
            .ok()
    });
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
        "dotenv" => Format::Dotenv,
        "shell" => Format::Shell,
        other => {
            problems.push(
                &subject,
                format!("format {other:?} is not one of plaintext, json, yaml, dotenv, shell"),
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
    if shape == Shape::Folder && matches!(format, Format::Dotenv | Format::Shell) {
        problems.push(
            &subject,
            format!(
                "format {format} writes a whole object into one file, so it needs fileName, \
                 not folderName"
            ),
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
        shape,
        template,
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

/// Names other tools use for a known key: ignoring `permissions: "0400"` would mount a secret
/// `0644`, so it is refused with the key meant.
fn synonym_of(key: &str) -> Option<&'static str> {
    match key.to_ascii_lowercase().as_str() {
        "permissions" | "permission" | "perms" | "filemode" | "file_mode" | "chmod" => Some("mode"),
        "directoryname" | "dirname" | "directory" | "foldername" => Some("folderName"),
        "objectname" | "filepath" => Some("fileName"),
        _ => None,
    }
}

/// The keys that name what an item writes; an item has one.
const NAMES: [&str; 3] = ["fileName", "folderName", "files"];

/// An octal mode such as `0400`, `400` or `0o400`, at most `0777`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let bad = || {
        format!(
            "mode {text:?} is not an octal file mode such as \"0400\" or \"0644\"",
            text = Quoted(text)
        )
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(format!(
            "mode {text:?} sets bits above 0777 (setuid, setgid, sticky), which mounted files cannot have",
            text = Quoted(text)
        ));
    }
    Ok(mode)
}

/// Two items writing the same file or folder, a file where another item needs a folder, or
/// anything inside the folder that a folder item fills from an object (its keys are known only
/// at mount time, so the folder is all its own).
fn check_collisions(items: &[Named], problems: &mut Problems) {
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

    fn parse(yaml: &str) -> (Vec<Item>, Problems, Vec<String>) {
        parse_in(&ItemsMemo::default(), yaml)
    }

    fn parse_in(memo: &ItemsMemo, yaml: &str) -> (Vec<Item>, Problems, Vec<String>) {
        let mut problems = Problems::default();
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
