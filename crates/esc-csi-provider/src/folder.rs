//! `folderName` and `files`: an object as a folder, one file per key. With `folderName`, nested
//! objects become nested folders; with `files`, as `esc run` reads the `files` property, every
//! value must be a string, number, boolean or null.
//!
//! Keys become path components, so each is checked against the driver's path rules, and a bad
//! one fails the mount naming it (all or nothing).

use esc_api::{Data, Value};

use crate::names::{MAX_NAME_BYTES, deceptive, dot_like, shown};
use crate::render::{RenderError, kind};

/// One file of a folder: its path under the folder, its value, and whether a container on the
/// way down was secret.
#[derive(Debug)]
pub struct Leaf<'a> {
    pub path: String,
    /// The keys from the folder's object down to the value, for messages.
    pub keys: Vec<&'a str>,
    pub value: &'a Value,
    pub under_secret: bool,
}

/// The files of the object `value`: nested objects as nested folders unless `flat`, where
/// every value must be a scalar. Paths are in key order, folders depth first.
pub fn leaves(value: &Value, flat: bool) -> Result<Vec<Leaf<'_>>, RenderError> {
    let Data::Object(members) = &value.data else {
        return Err(RenderError::NotAnObject {
            what: if flat {
                "files must be an object of file names to contents, as esc run reads it"
            } else {
                "folderName writes an object's keys as files"
            },
            found: kind(value),
        });
    };
    if members.is_empty() {
        return Err(RenderError::EmptyFolder);
    }
    let mut out = Vec::new();
    walk(value, "", &[], value.secret, flat, &mut out)?;
    Ok(out)
}

fn walk<'a>(
    value: &'a Value,
    at: &str,
    keys: &[&'a str],
    secret: bool,
    flat: bool,
    out: &mut Vec<Leaf<'a>>,
) -> Result<(), RenderError> {
    let Data::Object(members) = &value.data else {
        return Ok(());
    };
    for (key, member) in members {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}/{key}")
        };
        if let Some(why) = bad_component(key) {
            return Err(RenderError::BadKey {
                key: shown(&path),
                what: "a file name",
                why,
            });
        }
        let secret = secret || member.secret;
        let mut keys = keys.to_vec();
        keys.push(key);
        match &member.data {
            Data::Object(inner) if !flat && !inner.is_empty() => {
                walk(member, &path, &keys, secret, flat, out)?;
            }
            Data::Object(_) if !flat => {
                return Err(RenderError::BadKey {
                    key: shown(&path),
                    what: "a folder",
                    why: "it is an empty object".to_owned(),
                });
            }
            Data::Object(_) | Data::Array(_) if flat => {
                return Err(RenderError::NestedFile {
                    key: shown(&path),
                    found: kind(member),
                });
            }
            _ => out.push(Leaf {
                path,
                keys,
                value: member,
                under_secret: secret,
            }),
        }
    }
    Ok(())
}

/// Why `key` cannot be one component of a path the driver writes.
fn bad_component(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("it is empty".into());
    }
    if key.contains('/') {
        return Some("it contains \"/\"".into());
    }
    if key == "." || key == ".." {
        return Some(format!("it is \"{key}\""));
    }
    if key.starts_with("..") {
        return Some("it starts with \"..\", which the driver keeps for its own files".into());
    }
    if key.chars().all(dot_like) && key.len() > key.chars().count() {
        return Some("it is made of dot look-alikes, which read as \".\" or \"..\"".into());
    }
    if let Some(c) = key.chars().find(|c| *c == '\0' || deceptive(*c)) {
        return Some(format!(
            "it contains U+{:04X}, a control, invisible or bidi character",
            u32::from(c)
        ));
    }
    if key.len() > MAX_NAME_BYTES {
        return Some(format!("it is longer than {MAX_NAME_BYTES} bytes"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(value: serde_json::Value, flat: bool) -> Result<Vec<String>, String> {
        let value = Value::from_json(value);
        leaves(&value, flat)
            .map(|l| l.into_iter().map(|l| l.path).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_object_gives_one_file_per_key_and_nested_objects_nested_folders() {
        assert_eq!(
            paths(json!({"b": 1, "a": {"y": "x", "x": [1]}, "c": null}), false).unwrap(),
            ["a/x", "a/y", "b", "c"]
        );
    }

    #[test]
    fn files_takes_only_scalars_like_esc_run() {
        assert_eq!(
            paths(json!({"KEY": "pem", "N": 1}), true).unwrap(),
            ["KEY", "N"]
        );
        assert_eq!(
            paths(json!({"KEY": {"a": 1}}), true).unwrap_err(),
            "key \"KEY\" is an object; esc run writes only strings, numbers, booleans and null \
             as files (use folderName to mount a nested object as a folder)"
        );
    }

    #[test]
    fn keys_that_cannot_be_file_names_are_refused_by_name() {
        assert_eq!(
            paths(json!({"ok": 1, "a/b": 2}), false).unwrap_err(),
            "key \"a/b\" cannot be written as a file name: it contains \"/\""
        );
        assert_eq!(
            paths(json!({"d": {"..": 1}}), false).unwrap_err(),
            "key \"d/..\" cannot be written as a file name: it is \"..\""
        );
        assert_eq!(
            paths(json!({"..data": 1}), false).unwrap_err(),
            "key \"..data\" cannot be written as a file name: it starts with \"..\", which the \
             driver keeps for its own files"
        );
        assert_eq!(
            paths(json!({"a\u{202e}b": 1}), false).unwrap_err(),
            "key \"a\\u{202e}b\" cannot be written as a file name: it contains U+202E, a \
             control, invisible or bidi character"
        );
        assert!(paths(json!({"": 1}), false).is_err());
        assert!(paths(json!({"x".repeat(256): 1}), false).is_err());
        assert!(paths(json!({"\u{ff0e}\u{ff0e}": 1}), false).is_err());
    }

    #[test]
    fn an_empty_object_or_a_scalar_is_refused() {
        assert_eq!(
            paths(json!({}), false).unwrap_err(),
            "the object has no keys, so the folder would be empty"
        );
        assert_eq!(
            paths(json!({"e": {}}), false).unwrap_err(),
            "key \"e\" cannot be written as a folder: it is an empty object"
        );
        assert_eq!(
            paths(json!("x"), false).unwrap_err(),
            "the value is a string, but folderName writes an object's keys as files"
        );
    }

    #[test]
    fn secrecy_of_a_container_reaches_every_file_under_it() {
        let mut value = Value::from_json(json!({"a": {"x": 1}, "b": 2}));
        if let Data::Object(m) = &mut value.data {
            m.get_mut("a").unwrap().secret = true;
        }
        let got: Vec<_> = leaves(&value, false)
            .unwrap()
            .into_iter()
            .map(|l| (l.path, l.under_secret))
            .collect();
        assert_eq!(got, [("a/x".to_owned(), true), ("b".to_owned(), false)]);
    }
}
