//! The driver's rules for the paths of mounted files, and how messages show a name safely.

/// Characters of a name (a file path, a key) a message shows at most.
pub(crate) const MAX_SHOWN_CHARS: usize = 512;

/// A name as messages quote it: escaped like `{:?}`, and every character
/// [`check_file_name`] refuses as `\u{..}`, so that a message cannot be reordered by a bidi
/// override or split by a line break. Cut after [`MAX_SHOWN_CHARS`] characters (with the
/// full length said), so that a message never repeats a long input whole.
pub(crate) fn shown(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(MAX_SHOWN_CHARS * 4));
    for (i, c) in name.chars().enumerate() {
        if i == MAX_SHOWN_CHARS {
            out.push_str(&format!("… ({} bytes)", name.len()));
            break;
        }
        match c {
            '\'' => out.push(c),
            c if deceptive(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.extend(c.escape_debug()),
        }
    }
    out
}

/// Characters that change how a name displays rather than what it is: controls (line breaks
/// included), bidi embeddings, overrides and isolates, zero-width and other invisible
/// characters, line and paragraph separators. Not Go's `IsPrint` (esc-gotext): that refuses
/// every non-ASCII space and every character newer than Go's tables, which names may hold.
pub(crate) fn deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// Characters that look like `.`: a component made of them reads as `.` or `..`.
pub(crate) fn dot_like(c: char) -> bool {
    matches!(
        c,
        '.' | '\u{2024}' | '\u{2025}' | '\u{fe52}' | '\u{ff0e}' | '\u{2e33}'
    )
}

/// Why one component of a path cannot be written by the driver: the one copy of its rules for
/// components, whether the component comes from a `fileName` or from a key of a folder's
/// object. Messages say "a component that …" or "it …" before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ComponentProblem {
    Empty,
    Dot,
    DotDot,
    /// Starts with `..` in the first component, where the driver keeps `..data`.
    DriverPrefix,
    DotLookalike,
    /// A control, invisible or bidi character, or NUL.
    Deceptive(char),
    TooLong,
}

impl std::fmt::Display for ComponentProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComponentProblem::Empty => f.write_str("is empty"),
            ComponentProblem::Dot => f.write_str("is \".\""),
            ComponentProblem::DotDot => f.write_str("is \"..\""),
            ComponentProblem::DriverPrefix => {
                f.write_str("starts with \"..\", which the driver keeps for its own files")
            }
            ComponentProblem::DotLookalike => {
                f.write_str("is made of dot look-alikes, which read as \".\" or \"..\"")
            }
            ComponentProblem::Deceptive(c) => write!(
                f,
                "contains U+{:04X}, a control, invisible or bidi character",
                u32::from(*c)
            ),
            ComponentProblem::TooLong => write!(f, "is longer than {MAX_NAME_BYTES} bytes"),
        }
    }
}

/// What is wrong with `component`, if anything; `first` when it begins the path (the driver's
/// own files are there).
pub(crate) fn component_problem(component: &str, first: bool) -> Option<ComponentProblem> {
    Some(match component {
        "" => ComponentProblem::Empty,
        "." => ComponentProblem::Dot,
        ".." => ComponentProblem::DotDot,
        c if first && c.starts_with("..") => ComponentProblem::DriverPrefix,
        c if c.chars().all(dot_like) && c.len() > c.chars().count() => {
            ComponentProblem::DotLookalike
        }
        c => match c.chars().find(|c| *c == '\0' || deceptive(*c)) {
            Some(c) => ComponentProblem::Deceptive(c),
            None if c.len() > MAX_NAME_BYTES => ComponentProblem::TooLong,
            None => return None,
        },
    })
}

/// The driver's limits on file paths.
pub(crate) const MAX_PATH_BYTES: usize = 4096;
pub(crate) const MAX_NAME_BYTES: usize = 255;

/// The driver's rules for file paths, plus "already clean" so what is mounted is what was
/// written.
pub fn check_file_name(name: &str) -> Result<(), String> {
    check_path(name, "fileName")
}

/// [`check_file_name`] for the value of `key` (`fileName`, `folderName` or `files`).
pub fn check_path(name: &str, key: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{key} is required"));
    }
    if name.starts_with('/') {
        return Err(format!(
            "{key} \"{name}\" must be a relative path",
            name = shown(name)
        ));
    }
    if name.contains('\0') {
        return Err(format!("{key} must not contain a NUL character"));
    }
    if let Some(c) = name.chars().find(|c| deceptive(*c)) {
        return Err(format!(
            "{key} \"{}\" contains U+{:04X}, a control, invisible or bidi character that \
             makes a name display as something it is not; use visible characters only",
            shown(name),
            u32::from(c)
        ));
    }
    if name.len() > MAX_PATH_BYTES {
        return Err(format!("{key} is longer than {MAX_PATH_BYTES} bytes"));
    }
    for (i, component) in name.split('/').enumerate() {
        if let Some(problem) = component_problem(component, i == 0) {
            let hint = if component.is_empty() {
                "; write it without \"//\" or a trailing \"/\""
            } else {
                ""
            };
            return Err(format!(
                "{key} \"{}\" has a component that {problem}{hint}",
                shown(name)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_about_a_long_name_quote_a_bounded_prefix() {
        for name in [
            format!("/{}", "a".repeat(20_000)),
            format!("{}\u{202e}", "a".repeat(20_000)),
            format!("a/../{}", "a".repeat(20_000)),
        ] {
            let message = check_file_name(&name).unwrap_err();
            assert!(
                message.len() < 2 * MAX_SHOWN_CHARS,
                "{} bytes",
                message.len()
            );
        }
        assert_eq!(shown("a\nb"), "a\\u{a}b");
        let long = shown(&"b".repeat(20_000));
        assert!(long.ends_with("… (20000 bytes)"), "{long}");
    }

    #[test]
    fn nested_file_names_are_fine_and_unclean_ones_are_not() {
        assert_eq!(check_file_name("a/b/c.txt"), Ok(()));
        assert_eq!(check_file_name(".hidden"), Ok(()));
        assert_eq!(check_file_name("a..b"), Ok(()));
        for bad in [
            "",
            "/a",
            "../a",
            "..a",
            "a/..",
            "./a",
            "a//b",
            "a/",
            "a\0b",
            "a\nb",
            "a\rb",
            "evil\u{202e}txt.exe",
            "a\u{2066}b",
            "a\u{200b}b",
            "a\u{2028}b",
            "a\u{feff}",
            "\u{2024}\u{2024}/x",
            "a/\u{ff0e}",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(check_file_name(&"x".repeat(255)).is_ok());
        assert!(check_file_name(&"x".repeat(256)).is_err());
        assert!(check_file_name(&format!("{}/x", "d/".repeat(2048))).is_err());
    }
}
