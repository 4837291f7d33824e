//! Names of organizations, projects and environments. Project and environment names become
//! file paths, so every name from a URL or an import is checked here before it touches the
//! disk: only `[A-Za-z0-9._-]`, at most 100 characters, not starting with a dot (which also
//! rules out `.` and `..`).

/// The project a bare import name (`env` rather than `project/env`) refers to, as in Pulumi
/// Cloud.
pub(crate) const DEFAULT_PROJECT: &str = "default";

const MAX_LEN: usize = 100;

/// Checks one name; the error says what is wrong with it.
pub(crate) fn check(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    if name.len() > MAX_LEN {
        return Err(format!(
            "the {what} name is longer than {MAX_LEN} characters"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("the {what} name {name:?} starts with a dot"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "the {what} name {:?} has the character {c:?}; names use only letters, digits, \
             '.', '_' and '-'",
            name.escape_default().to_string()
        ));
    }
    Ok(())
}

/// An import reference: `project/env`, bare `env` (project `default`), either `@version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportName<'a> {
    pub(crate) project: &'a str,
    pub(crate) env: &'a str,
    pub(crate) version: Option<&'a str>,
}

pub(crate) fn parse_import(name: &str) -> Result<ImportName<'_>, String> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let (project, env) = match path.split_once('/') {
        Some((project, env)) => (project, env),
        None => (DEFAULT_PROJECT, path),
    };
    check("project", project)?;
    check("environment", env)?;
    if let Some(version) = version {
        check("version", version)?;
    }
    Ok(ImportName {
        project,
        env,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_separators_are_refused() {
        for bad in ["..", ".", ".hidden", "a/b", "a\\b", "", "a b", "x\0", "é"] {
            assert!(check("environment", bad).is_err(), "{bad:?} was accepted");
        }
        for good in ["dev", "my-app_1.2", "A", "default"] {
            assert!(check("environment", good).is_ok(), "{good:?} was refused");
        }
        assert!(check("environment", &"a".repeat(101)).is_err());
    }

    #[test]
    fn a_bare_import_refers_to_the_default_project() {
        assert_eq!(
            parse_import("base").unwrap(),
            ImportName {
                project: "default",
                env: "base",
                version: None
            }
        );
        assert_eq!(
            parse_import("app/dev@3").unwrap(),
            ImportName {
                project: "app",
                env: "dev",
                version: Some("3")
            }
        );
        assert!(parse_import("../etc/passwd").is_err());
        assert!(parse_import("a/b/c").is_err());
    }
}
