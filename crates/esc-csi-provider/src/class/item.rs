//! One item of the `secrets` list: its keys read and checked, every problem reported.

use std::collections::BTreeMap;

use esc_path::{PropertyPath, Quoted, closest};
use serde_norway::Value as Yaml;

use crate::class::problems::ClassProblems;
use crate::render::format::{Encoding, Format};
use crate::render::paths::{check_path, shown};
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

impl Shape {
    /// The key that names an item of this shape.
    pub fn name_key(self) -> &'static str {
        match self {
            Shape::File => "fileName",
            Shape::Folder => "folderName",
            Shape::Files => "files",
        }
    }
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
        self.shape.name_key()
    }
}

pub(crate) fn label(index: usize, file_name: Option<&str>) -> String {
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

/// Reads the item at `index`: `None`, with its problems added, when it cannot be mounted.
pub(crate) fn parse_item(
    index: usize,
    entry: &Yaml,
    problems: &mut ClassProblems,
    warnings: &mut Vec<String>,
) -> Option<Item> {
    let Yaml::Mapping(mapping) = entry else {
        problems.push(
            label(index, None),
            "must be a mapping with fileName and secretKey",
        );
        return None;
    };
    // The name first, so that every later message can name the file or folder.
    let name = NAMES
        .iter()
        .find_map(|key| mapping.get(*key).and_then(scalar_text));
    let before = problems.len();
    let mut keys = Keys::read(mapping, label(index, name.as_deref()), problems, warnings);
    let (shape, file_name) = keys.name(problems);
    if shape == Shape::Files {
        keys.files_only(problems);
    }
    let prefix = keys.secret_path(problems);
    let template = keys.template(shape, problems);
    let key_text = keys.field("secretKey");
    let key = PropertyPath::parse(&key_text)
        .map_err(|e| {
            problems.push(
                &keys.subject,
                format!("secretKey {key_text:?} does not parse: {e}"),
            );
        })
        .ok();
    let (format, encoding) = keys.rendering(shape, problems);
    let mode = keys.fields.get("mode").and_then(|text| {
        parse_mode(text)
            .map_err(|message| problems.push(&keys.subject, message))
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

/// An item's keys as read: known ones as text, unknown ones named.
struct Keys<'a> {
    /// How messages name the item.
    subject: String,
    fields: BTreeMap<&'a str, String>,
    /// Keys esc-csi does not know: ignored, unless the item then names nothing to write.
    unknown: Vec<&'a str>,
    /// Whether a misspelt key was taken for fileName, folderName or files.
    named: bool,
}

impl<'a> Keys<'a> {
    fn read(
        mapping: &'a serde_norway::Mapping,
        subject: String,
        problems: &mut ClassProblems,
        warnings: &mut Vec<String>,
    ) -> Self {
        let mut keys = Keys {
            subject,
            fields: BTreeMap::new(),
            unknown: Vec::new(),
            named: false,
        };
        let subject = &keys.subject;
        for (key, value) in mapping {
            let Some(key) = key.as_str() else {
                problems.push(subject, "has a key that is not a string");
                continue;
            };
            if KEYS.contains(&key) {
                match (key, value) {
                    ("mode", Yaml::Number(_)) => problems.push(
                        subject,
                        "mode must be a quoted octal string such as \"0400\" (YAML reads an unquoted \
                         400 or 0o400 as a number, and numbers are ambiguous here)",
                    ),
                    (_, Yaml::Null) => {}
                    (_, value) => match scalar_text(value) {
                        Some(text) => {
                            keys.fields.insert(key, text);
                        }
                        None => problems.push(subject, format!("{key} must be a string")),
                    },
                }
            } else if let Some(meant) = closest(key, KEYS)
                .or_else(|| prefix_of(key))
                .or_else(|| synonym_of(key))
            {
                keys.named |= NAMES.contains(&meant);
                problems.push(
                    subject,
                    format!(
                        "unknown key {key:?} (did you mean {meant:?}?)",
                        key = Quoted(key),
                        meant = Quoted(meant)
                    ),
                );
            } else {
                keys.unknown.push(key);
                warnings.push(format!(
                    "{subject}: unknown key {key:?} is ignored",
                    key = Quoted(key)
                ));
            }
        }
        keys
    }

    fn field(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }

    /// What the item writes, and the file or folder name, checked.
    fn name(&self, problems: &mut ClassProblems) -> (Shape, String) {
        let subject = &self.subject;
        let given: Vec<&str> = NAMES
            .into_iter()
            .filter(|key| self.fields.contains_key(key))
            .collect();
        let (shape, name_key) = match given.as_slice() {
            ["folderName"] => (Shape::Folder, "folderName"),
            ["files"] => (Shape::Files, "files"),
            [] | ["fileName"] => (Shape::File, "fileName"),
            _ => {
                problems.push(
                    subject,
                    format!(
                        "has {}; give one: fileName writes one file, folderName a folder with a file \
                         per key of an object, files a folder of the environment's files",
                        given.join(" and ")
                    ),
                );
                (Shape::File, given[0])
            }
        };
        let file_name = self.field(name_key);
        if given.is_empty() && self.named {
            // The typo's problem already says which key names the file.
        } else if given.is_empty() && !self.unknown.is_empty() {
            // `directoryName:` is not an unknown kind of item, it is no item at all.
            let keys: Vec<String> = self.unknown.iter().map(|k| format!("{k:?}")).collect();
            problems.push(
                subject,
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
        } else if let Err(message) = check_path(&file_name, name_key) {
            problems.push(subject, message);
        }
        (shape, file_name)
    }

    /// A `files` item takes only `mode`, and reads the `files` property.
    fn files_only(&mut self, problems: &mut ClassProblems) {
        let extra: Vec<&str> = self
            .fields
            .keys()
            .copied()
            .filter(|key| !matches!(*key, "files" | "mode"))
            .collect();
        if !extra.is_empty() {
            problems.push(
                &self.subject,
                format!(
                    "files mounts the environment's files property as esc run writes it, so it \
                     takes only mode, not {}; for another object use folderName",
                    extra.join(", ")
                ),
            );
        }
        self.fields.insert("secretKey", "files".to_owned());
    }

    /// `secretPath`: the root when unset or `/`.
    fn secret_path(&self, problems: &mut ClassProblems) -> Option<PropertyPath> {
        match self.field("secretPath").as_str() {
            "" | "/" => Some(PropertyPath::root()),
            text => PropertyPath::parse(text)
                .map_err(|e| {
                    problems.push(
                        &self.subject,
                        format!(
                            "secretPath {text:?} does not parse: {e}",
                            text = Quoted(text)
                        ),
                    );
                })
                .ok(),
        }
    }

    /// `template`, which takes the place of secretKey, format and encoding.
    fn template(&self, shape: Shape, problems: &mut ClassProblems) -> Option<Template> {
        let text = self.fields.get("template")?;
        // A files item has already said that it takes no template.
        for key in ["secretKey", "format", "encoding", "folderName"] {
            if shape != Shape::Files && self.fields.contains_key(key) {
                problems.push(
                    &self.subject,
                    format!(
                        "template writes its text with ${{...}} references resolved under \
                         secretPath, so it takes no {key}"
                    ),
                );
            }
        }
        Template::parse(text)
            .map_err(|e| problems.push(&self.subject, e.to_string()))
            .ok()
    }

    /// `format` and `encoding`, and whether they go together and with the shape.
    fn rendering(&self, shape: Shape, problems: &mut ClassProblems) -> (Format, Encoding) {
        let subject = &self.subject;
        let format = match self.field("format").to_ascii_lowercase().as_str() {
            "" | "plaintext" | "text" => Format::Plaintext,
            "json" => Format::Json,
            "yaml" | "yml" => Format::Yaml,
            "dotenv" => Format::Dotenv,
            "shell" => Format::Shell,
            other => {
                problems.push(
                    subject,
                    format!("format {other:?} is not one of plaintext, json, yaml, dotenv, shell"),
                );
                Format::Plaintext
            }
        };
        let encoding = match self.field("encoding").to_ascii_lowercase().as_str() {
            "" | "utf-8" | "utf8" => Encoding::Utf8,
            "base64" => Encoding::Base64,
            "hex" => Encoding::Hex,
            other => {
                problems.push(
                    subject,
                    format!("encoding {other:?} is not one of utf-8, base64, hex"),
                );
                Encoding::Utf8
            }
        };
        if encoding != Encoding::Utf8 && format != Format::Plaintext {
            problems.push(
                subject,
                format!("encoding {encoding} decodes a string into raw bytes, so format must be plaintext, not {format}"),
            );
        }
        if shape == Shape::Folder && matches!(format, Format::Dotenv | Format::Shell) {
            problems.push(
                subject,
                format!(
                    "format {format} writes a whole object into one file, so it needs fileName, \
                     not folderName"
                ),
            );
        }
        (format, encoding)
    }
}

/// A scalar as text: strings as they are, numbers and booleans as written (the Go provider's
/// YAML library accepted those for string fields too). `None` for null, lists and mappings.
pub(crate) fn scalar_text(value: &Yaml) -> Option<String> {
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
pub(crate) const NAMES: [&str; 3] = ["fileName", "folderName", "files"];

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
