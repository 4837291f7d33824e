//! Checks of single parameter values: names, durations, the environment reference. Each
//! message quotes a bounded prefix of the value, never a token.

use std::time::Duration;

use esc_api::EnvironmentRef;
use esc_path::Quoted;

/// `oidcExpiration`: seconds (`3600`), or a duration in the syntax every flag takes (Go's
/// `time.ParseDuration`: `30m`, `2h`, `1h30m`), from 5 minutes to 24 hours.
pub(crate) fn parse_expiration(text: &str) -> Result<Duration, String> {
    let duration = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = text.parse().unwrap_or(u64::MAX);
        Duration::from_secs(seconds)
    } else {
        esc_gotext::parse_duration(text)?
    };
    if !(Duration::from_secs(300)..=Duration::from_secs(86_400)).contains(&duration) {
        return Err(format!(
            "{text:?} is out of range: use 5m to 24h",
            text = Quoted(text)
        ));
    }
    Ok(duration)
}

/// `env`, `env@version`, or `project/env[@version]` when `project` is not set.
pub(crate) fn split_environment(
    text: &str,
    project: Option<&str>,
) -> Result<EnvironmentRef, String> {
    let (name, version) = match text.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (text, None),
    };
    if version == Some("") {
        return Err(format!(
            "{text:?} ends with '@' but names no revision or tag after it",
            text = Quoted(text)
        ));
    }
    let (project, name) = match (project, name.split_once('/')) {
        (Some(project), None) => (project, name),
        (None, Some((project, name))) => (project, name),
        (Some(_), Some(_)) => {
            return Err(format!(
                "{text:?} names a project, but parameter project is set too; use one or the other",
                text = Quoted(text)
            ));
        }
        (None, None) => {
            return Err(format!(
                "{text:?} needs a project: set parameter project, or write \"<project>/{name}\"",
                text = Quoted(text)
            ));
        }
    };
    Ok(EnvironmentRef {
        organization: String::new(),
        project: project.to_owned(),
        environment: name.to_owned(),
        version: version.map(str::to_owned),
    })
}

/// Organization, project, environment and tag names: what ESC allows, nothing that could
/// change the shape of a URL.
pub(crate) fn check_esc_name(name: &str, max: usize) -> Result<(), String> {
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid name", name = Quoted(name)));
    }
    if name.is_empty() || name.len() > max {
        return Err(format!(
            "{name:?} must be 1 to {max} characters long",
            name = Quoted(name)
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{name:?} may contain only letters, digits, '-', '_' and '.'",
            name = Quoted(name)
        ));
    }
    Ok(())
}

/// Kubernetes object names: lowercase DNS subdomains (`dots`) or labels.
pub(crate) fn check_dns_name(name: &str, max: usize, dots: bool) -> Result<(), String> {
    let allowed =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.');
    let edges_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.len() > max || !edges_ok || !name.bytes().all(allowed) {
        return Err(format!(
            "{name:?} is not a valid Kubernetes name (lowercase letters, digits and '-'{}, at most {max} characters)",
            if dots { ", '.'" } else { "" },
            name = Quoted(name)
        ));
    }
    Ok(())
}
