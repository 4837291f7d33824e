//! `folderName` and `files`: an object as a folder, one file per key. With `folderName`, nested
//! objects become nested folders; with `files`, as `esc run` reads the `files` property, every
//! value must be a string, number, boolean or null.
//!
//! Keys become path components, so each is checked against the driver's path rules, and a bad
//! one fails the mount naming it (all or nothing).

use esc_api::{Data, Value};

use crate::render::error::{RenderError, kind};
use crate::render::paths::{MAX_PATH_BYTES, component_problem, shown};

/// Folders inside a folder item, at most: a reply nests no deeper than this anyway
/// ([`esc_api::MAX_DEPTH`]); the walk checks it itself so that no other source of values can
/// take it deeper.
pub const MAX_FOLDER_DEPTH: usize = esc_api::MAX_DEPTH;

/// One file of a folder: its path in the response, its value, and whether a container on the
/// way down was secret.
#[derive(Debug)]
pub struct Leaf<'a> {
    /// The item's folder, then the keys down to the value, joined by `/`.
    pub path: String,
    /// Where the keys start in `path`.
    keys_at: usize,
    pub value: &'a Value,
    pub under_secret: bool,
}

impl Leaf<'_> {
    /// The keys from the folder's object down to the value, for messages. (A key never holds
    /// a `/`: such a key is refused.)
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.path[self.keys_at..].split('/')
    }
}

/// The files of the object `value` under the folder `folder`: nested objects as nested
/// folders unless `flat`, where every value must be a scalar. Paths are in key order, folders
/// depth first.
///
/// The walk is bounded as it goes, before it allocates: each file is charged the response
/// bytes its path and framing take ([`crate::render::cost::file_bytes`]) against `limit`, so the
/// number of files and the bytes of their paths are at most what the response may hold; a
/// path is checked against the driver's 4,096 bytes before it is built; nesting stops at
/// [`MAX_FOLDER_DEPTH`]. One path buffer is shared by the whole walk.
pub fn leaves<'a>(
    value: &'a Value,
    flat: bool,
    folder: &str,
    limit: usize,
) -> Result<Vec<Leaf<'a>>, RenderError> {
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
    let mut walk = Walk {
        flat,
        limit,
        charged: 0,
        keys_at: folder.len() + 1,
        path: format!("{folder}/"),
        out: Vec::new(),
    };
    walk.object(value, value.secret, 0)?;
    Ok(walk.out)
}

struct Walk<'a> {
    flat: bool,
    limit: usize,
    /// Response bytes the files found so far take.
    charged: usize,
    keys_at: usize,
    /// The path of the object being walked, ending in `/`.
    path: String,
    out: Vec<Leaf<'a>>,
}

impl<'a> Walk<'a> {
    fn object(&mut self, value: &'a Value, secret: bool, depth: usize) -> Result<(), RenderError> {
        let Data::Object(members) = &value.data else {
            return Ok(());
        };
        let at = self.path.len();
        for (key, member) in members {
            let bad = |walk: &Self, why: String| RenderError::BadKey {
                key: shown(&format!("{}{key}", &walk.path[walk.keys_at..])),
                what: "a file name",
                why,
            };
            if let Some(why) = bad_component(key) {
                return Err(bad(self, why));
            }
            if at + key.len() > MAX_PATH_BYTES {
                let why = format!("the file's path would be longer than {MAX_PATH_BYTES} bytes");
                return Err(bad(self, why));
            }
            self.path.push_str(key);
            let secret = secret || member.secret;
            match &member.data {
                Data::Object(inner) if !self.flat && !inner.is_empty() => {
                    if depth + 1 >= MAX_FOLDER_DEPTH {
                        let why = format!("it nests more than {MAX_FOLDER_DEPTH} folders deep");
                        self.path.truncate(at);
                        return Err(bad(self, why));
                    }
                    self.path.push('/');
                    self.object(member, secret, depth + 1)?;
                }
                Data::Object(_) if !self.flat => {
                    return Err(RenderError::BadKey {
                        key: shown(&self.path[self.keys_at..]),
                        what: "a folder",
                        why: "it is an empty object".to_owned(),
                    });
                }
                Data::Object(_) | Data::Array(_) if self.flat => {
                    return Err(RenderError::NestedFile {
                        key: shown(&self.path[self.keys_at..]),
                        found: kind(member),
                    });
                }
                _ => {
                    self.charged = self
                        .charged
                        .saturating_add(crate::render::cost::file_bytes(&self.path, 0));
                    if self.charged > self.limit {
                        return Err(RenderError::TooLarge { limit: self.limit });
                    }
                    self.out.push(Leaf {
                        path: self.path.clone(),
                        keys_at: self.keys_at,
                        value: member,
                        under_secret: secret,
                    });
                }
            }
            self.path.truncate(at);
        }
        Ok(())
    }
}

/// Why `key` cannot be one component of a path the driver writes. A key is held to the first
/// component's rules too: `..data` under a folder is not the driver's, but reads as its own.
fn bad_component(key: &str) -> Option<String> {
    if key.contains('/') {
        return Some("it contains \"/\"".into());
    }
    component_problem(key, true).map(|problem| format!("it {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(value: serde_json::Value, flat: bool) -> Result<Vec<String>, String> {
        let value = Value::from_json(value);
        leaves(&value, flat, "f", usize::MAX)
            .map(|l| {
                l.into_iter()
                    .map(|l| l.path["f/".len()..].to_owned())
                    .collect()
            })
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
        let got: Vec<_> = leaves(&value, false, "f", usize::MAX)
            .unwrap()
            .into_iter()
            .map(|l| (l.path, l.under_secret))
            .collect();
        assert_eq!(got, [("f/a/x".to_owned(), true), ("f/b".to_owned(), false)]);
    }

    #[test]
    fn a_leaf_knows_its_keys_below_the_folder() {
        let value = Value::from_json(json!({"a": {"b": 1}}));
        let found = leaves(&value, false, "x/y", usize::MAX).unwrap();
        assert_eq!(found[0].path, "x/y/a/b");
        assert_eq!(found[0].keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    /// `depth` nested objects under long keys, `wide` leaves in the innermost.
    fn deep(depth: usize, key_len: usize, wide: usize) -> Value {
        let mut inner = serde_json::Map::new();
        for i in 0..wide {
            inner.insert(format!("{i:0>key_len$}"), json!(1));
        }
        let mut value = serde_json::Value::Object(inner);
        for d in 0..depth {
            value = json!({ format!("{d:k>key_len$}"): value });
        }
        Value::from_json(value)
    }

    #[test]
    fn a_path_past_the_drivers_limit_is_refused_before_any_file_is_listed() {
        // 17 levels of 255-byte keys: past 4,096 bytes at the 17th, with 10k leaves under it.
        let value = deep(17, 255, 10_000);
        let err = leaves(&value, false, "f", usize::MAX).unwrap_err();
        assert!(
            err.to_string()
                .contains("the file's path would be longer than 4096 bytes"),
            "{err}"
        );
        // Just under: 15 levels (the leaves' path is 16 keys and the folder, 4,097 bytes).
        let value = deep(15, 255, 2);
        let err = leaves(&value, false, "f", usize::MAX).unwrap_err();
        assert!(err.to_string().contains("4096"), "{err}");
        let value = deep(14, 255, 2);
        assert_eq!(leaves(&value, false, "f", usize::MAX).unwrap().len(), 2);
    }

    #[test]
    fn the_walk_stops_at_the_first_file_past_the_response_limit() {
        let value = deep(3, 200, 100_000);
        // Each file takes its path twice plus 96 bytes: about 1,300 bytes here.
        let err = leaves(&value, false, "f", 64 << 10).unwrap_err();
        assert_eq!(err, RenderError::TooLarge { limit: 64 << 10 });
        let value = deep(0, 10, 40);
        assert_eq!(leaves(&value, true, "f", 64 << 10).unwrap().len(), 40);
    }

    #[test]
    fn nesting_past_the_folder_depth_is_refused() {
        let value = deep(MAX_FOLDER_DEPTH, 1, 1);
        let err = leaves(&value, false, "f", usize::MAX).unwrap_err();
        assert!(err.to_string().contains("folders deep"), "{err}");
        let value = deep(MAX_FOLDER_DEPTH - 1, 1, 1);
        assert_eq!(leaves(&value, false, "f", usize::MAX).unwrap().len(), 1);
    }
}
