//! `esc-csi check`: every problem of a SecretProviderClass, offline, with the provider's own
//! validation.

use std::io::Write;

use esc_csi_provider::class::Class;
use esc_csi_provider::items::{Format, Item, Shape};
use esc_csi_provider::problems::Problems;

use crate::cli::CheckArgs;
use crate::local::{self, ClassFileError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    #[error(transparent)]
    File(#[from] ClassFileError),
    #[error(
        "SecretProviderClass {name:?} has {}:{}",
        count(problems),
        Listed(problems)
    )]
    Invalid { name: String, problems: Problems },
}

pub(crate) fn run(args: &CheckArgs) -> Result<(), CheckError> {
    let (spc, attributes) = local::load(&args.class, args.name.as_deref(), &args.pod)?;
    let settings = args.settings();
    let class =
        Class::from_attributes(&attributes, &settings).map_err(|problems| CheckError::Invalid {
            name: spc.name.clone(),
            problems,
        })?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "SecretProviderClass {:?} is valid: {} from ESC environment {}",
        spc.name,
        files(&class.items),
        class.environment
    );
    for item in class.items.iter() {
        let _ = writeln!(out, "  {}", line(item));
    }
    for warning in &class.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(())
}

/// What `format: shell` refuses, as `esc-csi check` shows it (check is offline and cannot see
/// the keys themselves); the rules are `esc_csi_provider::dotenv`'s.
const SHELL_REFUSES: &str = "refuses, naming each, keys that are not shell names \
     ([A-Za-z_][A-Za-z0-9_]*), values holding NUL, objects and arrays";

/// What `format: dotenv` refuses, as `esc-csi check` shows it.
const DOTENV_REFUSES: &str = "refuses, naming each, keys other than [A-Za-z0-9_.]+, \
     values holding ${...} or NUL, values no quoting carries to python-dotenv, Node's dotenv \
     and godotenv alike, objects and arrays";

/// How `check` shows an item: where it writes, from what, as what, with which mode. Folders
/// end in `/` and say what fills them, so they cannot be mistaken for files.
fn line(item: &Item) -> String {
    let path = if item.path.is_empty() {
        "(the whole environment)".to_owned()
    } else {
        item.path.to_string()
    };
    // Without its own mode a file gets the driver's default, 0644.
    let mode = item.mode.unwrap_or(0o644);
    if let Some(template) = &item.template {
        let references: Vec<String> = template
            .references()
            .map(|r| format!("${{{}}}", item.path.join(r)))
            .collect();
        let uses = if references.is_empty() {
            "no references".to_owned()
        } else {
            references.join(", ")
        };
        return format!("{} <- template using {uses} ({mode:04o})", item.file_name);
    }
    match item.shape {
        Shape::File => {
            let refuses = match item.format {
                Format::Dotenv => format!("\n    {DOTENV_REFUSES}"),
                Format::Shell => format!("\n    {SHELL_REFUSES}"),
                _ => String::new(),
            };
            format!(
                "{} <- {path} ({}, {mode:04o}){refuses}",
                item.file_name, item.format
            )
        }
        Shape::Folder => format!(
            "{}/ <- a file per key of {path} ({}, {mode:04o} each)",
            item.file_name, item.format
        ),
        Shape::Files => format!(
            "{}/ <- a file per key of files, as esc run writes them ({mode:04o} each)",
            item.file_name
        ),
    }
}

/// "2 files", or "3 items" when a folder's files are known only at mount time.
fn files(items: &[Item]) -> String {
    let n = items.len();
    if items.iter().any(|item| item.shape != Shape::File) {
        return if n == 1 {
            "1 item".to_owned()
        } else {
            format!("{n} items")
        };
    }
    if n == 1 {
        "1 file".to_owned()
    } else {
        format!("{n} files")
    }
}

fn count(problems: &Problems) -> String {
    if problems.len() == 1 {
        "1 problem".to_owned()
    } else {
        format!("{} problems", problems.len())
    }
}

struct Listed<'a>(&'a Problems);

impl std::fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for problem in self.0.iter() {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
