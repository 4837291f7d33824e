//! The render vocabulary: how a value becomes file content. A class names these; rendering
//! knows nothing else of the class.

use std::fmt;

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
    /// An object's keys as `KEY=value` lines, each value quoted so that common dotenv loaders
    /// read it back (see the `env` module).
    Dotenv,
    /// `export KEY='value'` lines, every value single-quoted (see the `env` module).
    Shell,
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
            Format::Dotenv => "dotenv",
            Format::Shell => "shell",
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
