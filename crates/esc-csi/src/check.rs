//! `esc-csi check`: every problem of a SecretProviderClass, offline, with the provider's own
//! validation.

use std::io::Write;

use esc_csi_provider::class::{Class, Settings};
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
    let settings = Settings {
        allow_insecure_api_url: args.allow_insecure_api_url,
        allowed_api_urls: args.token_policy.allowed_api_urls.clone(),
        allowed_oidc_audiences: args.token_policy.allowed_oidc_audiences.clone(),
        ..Settings::default()
    };
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
        files(class.items.len()),
        class.environment
    );
    for item in &class.items {
        let path = if item.path.is_empty() {
            "(the whole environment)".to_owned()
        } else {
            item.path.to_string()
        };
        // Without its own mode a file gets the driver's default, 0644.
        let mode = item.mode.unwrap_or(0o644);
        let _ = writeln!(
            out,
            "  {} <- {path} ({}, {mode:04o})",
            item.file_name, item.format
        );
    }
    for warning in &class.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    Ok(())
}

fn files(n: usize) -> String {
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
