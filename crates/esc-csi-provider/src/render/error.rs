//! Why a value cannot be rendered. Errors describe the value's shape, never its content: the
//! content is usually a secret.

use std::fmt;

use esc_api::{Data, Value};
use esc_path::{PropertyPath, ResolveError};

use crate::render::format::Encoding;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the value contains unknown parts that ESC could not compute")]
    Unknown,
    #[error("encoding {encoding} needs a string value, but the value is {found}")]
    NotAString {
        encoding: Encoding,
        found: &'static str,
    },
    #[error("the value is not valid {encoding}: {detail}")]
    Decode { encoding: Encoding, detail: String },
    #[error("the value cannot be written as YAML: {0}")]
    Yaml(String),
    /// A format or folder that needs an object got something else.
    #[error("the value is {found}, but {what}")]
    NotAnObject {
        what: &'static str,
        found: &'static str,
    },
    /// A key of an object written as variables or files cannot be one.
    #[error("key \"{key}\" cannot be written as {what}: {why}")]
    BadKey {
        key: String,
        what: &'static str,
        why: String,
    },
    /// `format: dotenv` or `shell` met keys or values it cannot write as variables its readers
    /// read back; every such key is named (up to a cap), so one mount shows them all.
    #[error("format {format} cannot write these keys as variables: {keys}")]
    Variables { format: &'static str, keys: String },
    /// `files` met an object or array.
    #[error(
        "key \"{key}\" is {found}; esc run writes only strings, numbers, booleans and null as \
         files (use folderName to mount a nested object as a folder)"
    )]
    NestedFile { key: String, found: &'static str },
    /// A folder item's object has no keys.
    #[error("the object has no keys, so the folder would be empty")]
    EmptyFolder,
    /// The file would not fit in what is left of the response (`--max-response-bytes`).
    #[error("the file is larger than the {limit} bytes left in the response")]
    TooLarge { limit: usize },
}

/// One item that cannot be mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemProblem {
    /// `secrets[0] ("hello")`.
    pub item: String,
    pub path: PropertyPath,
    pub kind: ItemProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemProblemKind {
    Resolve(ResolveError),
    Render(RenderError),
}

impl fmt::Display for ItemProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ItemProblemKind::Resolve(e) => write!(f, "{}: {e}", self.item),
            ItemProblemKind::Render(e) => {
                let at = if self.path.is_empty() {
                    "the whole environment".to_owned()
                } else {
                    format!("`{}`", self.path)
                };
                write!(f, "{}: {at}: {e}", self.item)
            }
        }
    }
}

/// The value's shape, for messages.
pub fn kind(value: &Value) -> &'static str {
    match &value.data {
        Data::Null => "null",
        Data::Bool(_) => "a boolean",
        Data::Number(_) => "a number",
        Data::String(_) => "a string",
        Data::Array(_) => "an array",
        Data::Object(_) => "an object",
    }
}
