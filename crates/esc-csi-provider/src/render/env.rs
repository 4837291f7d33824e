//! `format: dotenv` and `format: shell`: an object's keys as environment variables, one
//! `KEY=value` line per key (`export KEY=value` for shell), keys in byte order, booleans and
//! numbers as their JSON text, null as empty, secrets in plaintext (as `esc open` shows them).
//!
//! A file is judged by what reads it, so the quoting is chosen for its readers rather than
//! copied from `esc open` (Go's `strconv.Quote` in double quotes, which no dotenv loader decodes
//! and which a shell expands and executes from):
//! - shell: every value in single quotes, `'` as `'\''`: every POSIX shell reads that back
//!   exactly and expands nothing. Keys that are not shell names and values holding NUL are
//!   refused, all named in one error, because one bad `export` stops a sourced file half-way.
//! - dotenv: each value in the first form that python-dotenv, Node's dotenv and godotenv all read
//!   back exactly (single quotes, else double quotes, else bare; see [`dotenv_form`]), measured
//!   with those loaders in CI; a value no form carries is refused naming its key and why.
//!
//! Where esc silently drops an object or array, we refuse it with its key: a variable that
//! silently goes missing is worse than a mount that says why it failed.

use esc_api::{Data, Value};

use crate::render::error::{RenderError, kind};

/// At most this many refused keys are named in one error; the rest are counted.
const MAX_NAMED: usize = 20;

/// Renders the object `value` as dotenv lines, or as `export` lines when `shell`, in at most
/// `limit` bytes.
pub fn render_env(value: &Value, shell: bool, limit: usize) -> Result<Vec<u8>, RenderError> {
    let Data::Object(members) = &value.data else {
        return Err(RenderError::NotAnObject {
            what: "format dotenv and shell write an object's keys as variables",
            found: kind(value),
        });
    };
    let mut out = String::new();
    let mut refused = Vec::new();
    let mut more = 0usize;
    // BTreeMap order is byte order, as Go's sort.Strings orders esc's keys.
    for (key, member) in members {
        let text = match &member.data {
            Data::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            Data::Bool(b) => b.to_string().into(),
            Data::Number(n) => n.as_str().into(),
            Data::Null => "".into(),
            Data::Array(_) | Data::Object(_) => {
                let why = format!(
                    "is {}; only strings, numbers, booleans and null can be variables (use \
                     fn::toJSON in the environment to write it as a string)",
                    kind(member)
                );
                refuse(&mut refused, &mut more, key, &why);
                continue;
            }
        };
        let why = if shell {
            shell_name(key)
        } else {
            dotenv_name(key)
        };
        if let Some(why) = why {
            refuse(&mut refused, &mut more, key, why);
            continue;
        }
        if text.contains('\0') {
            let why = "its value holds a NUL character, which no environment variable can";
            refuse(&mut refused, &mut more, key, why);
            continue;
        }
        let form = if shell {
            Form::Single
        } else {
            match dotenv_form(&text) {
                Ok(form) => form,
                Err(why) => {
                    refuse(&mut refused, &mut more, key, why);
                    continue;
                }
            }
        };
        if !refused.is_empty() {
            continue;
        }
        if shell {
            out.push_str("export ");
        }
        out.push_str(key);
        out.push('=');
        write_value(&text, form, &mut out);
        out.push('\n');
        if out.len() > limit {
            return Err(RenderError::TooLarge { limit });
        }
    }
    if !refused.is_empty() {
        let mut keys = refused.join("; ");
        if more > 0 {
            keys.push_str(&format!("; … and {more} more"));
        }
        return Err(RenderError::Variables {
            format: if shell { "shell" } else { "dotenv" },
            keys,
        });
    }
    Ok(out.into_bytes())
}

fn refuse(refused: &mut Vec<String>, more: &mut usize, key: &str, why: &str) {
    if refused.len() < MAX_NAMED {
        refused.push(format!("\"{}\" {why}", crate::render::paths::shown(key)));
    } else {
        *more += 1;
    }
}

/// Why `key` cannot be a variable of a sourced shell file: only a name (`[A-Za-z_][A-Za-z0-9_]*`)
/// can be `export`ed; anything else fails there, and with it the rest of the file.
pub fn shell_name(key: &str) -> Option<&'static str> {
    let mut bytes = key.bytes();
    match bytes.next() {
        None => Some("is empty"),
        Some(b) if b.is_ascii_digit() => Some("starts with a digit, so it is not a shell name"),
        Some(b) if !(b.is_ascii_alphabetic() || b == b'_') => Some(NOT_A_SHELL_NAME),
        Some(_) if !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') => Some(NOT_A_SHELL_NAME),
        Some(_) if SHELL_OWNED.contains(&key) => Some(
            "is a variable bash, zsh or mksh sets itself or keeps read-only, so no file can set it",
        ),
        Some(_) => None,
    }
}

const NOT_A_SHELL_NAME: &str = "is not a shell name ([A-Za-z_][A-Za-z0-9_]*)";

/// Names that some supported shell sets itself or keeps read-only whatever the file says, so a
/// sourced `export` of them is refused, reads back something else, or (bash's read-only ones)
/// stops the file there. Measured by sourcing `export NAME='v1'` in dash, bash, busybox sh,
/// zsh, ksh93 and mksh; names whose effect depends on the value (`PATH`, `LANG`, `OPTIND`) are
/// not here: the shell acts on them as it would on any file that sets them.
const SHELL_OWNED: &[&str] = &[
    "_",
    "ARGC",
    "BASHOPTS",
    "BASHPID",
    "BASH_ARGC",
    "BASH_ARGV",
    "BASH_COMMAND",
    "BASH_LINENO",
    "BASH_SOURCE",
    "BASH_SUBSHELL",
    "BASH_VERSINFO",
    "DIRSTACK",
    "EGID",
    "EPOCHREALTIME",
    "EPOCHSECONDS",
    "ERRNO",
    "EUID",
    "FUNCNAME",
    "GID",
    "GROUPS",
    "HISTCMD",
    "KSHGID",
    "KSHUID",
    "KSH_VERSION",
    "LINENO",
    "PPID",
    "RANDOM",
    "SECONDS",
    "SHELLOPTS",
    "SRANDOM",
    "TTYIDLE",
    "UID",
    "USERNAME",
    "USER_ID",
    "ZSH_EVAL_CONTEXT",
    "ZSH_SUBSHELL",
    "aliases",
    "argv",
    "builtins",
    "commands",
    "dis_aliases",
    "dis_functions",
    "funcfiletrace",
    "funcsourcetrace",
    "funcstack",
    "functions",
    "functrace",
    "galiases",
    "jobdirs",
    "jobstates",
    "jobtexts",
    "keymaps",
    "modules",
    "nameddirs",
    "options",
    "parameters",
    "pipestatus",
    "reswords",
    "signals",
    "status",
    "userdirs",
    "widgets",
    "zsh_eval_context",
];

/// Why `key` cannot be a variable of a dotenv file: the names all of python-dotenv, Node's
/// dotenv and godotenv read are `[A-Za-z0-9_.]+` (godotenv fails the whole file on any other
/// character, `-` included; Node's drops a line whose key has any but those and `-`).
pub fn dotenv_name(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("is empty")
    } else if key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        None
    } else {
        Some("is not a name every dotenv loader reads ([A-Za-z0-9_.]+)")
    }
}

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `'text'`: literal in the shells and in every dotenv loader (shell writes `'` as `'\''`).
    Single,
    /// `"text"` with line feeds and carriage returns as `\n` and `\r`, nothing else escaped.
    Double,
    /// The text as it is.
    Bare,
}

/// The form of `text` that python-dotenv, Node's dotenv and godotenv all read back exactly, or
/// why there is none. What each loader does, measured (docs/secretproviderclass.md has the
/// table):
/// - single quotes are literal everywhere, except that python-dotenv turns `\\` into `\` and
///   `\'` into `'`, godotenv cannot end one with `\`, and no loader allows `'` inside;
/// - double quotes: all three turn `\n` and `\r` into line breaks, but Node's dotenv keeps
///   every other backslash, godotenv expands `$` and strips `"` at either end;
/// - bare text is trimmed, cut at `#` and ends at a line break; godotenv expands `$` in it;
/// - a carriage return written as itself becomes a line feed in all three;
/// - python-dotenv expands `${NAME}` in every form (unless `interpolate=False`).
pub fn dotenv_form(text: &str) -> Result<Form, &'static str> {
    if has_interpolation(text) {
        return Err("its value holds \"${...}\", which python-dotenv expands in every quoting");
    }
    let single = !text.contains(['\'', '\r']) && !text.ends_with('\\') && !text.contains("\\\\");
    if single {
        return Ok(Form::Single);
    }
    if !text.contains(['\\', '"', '$']) {
        return Ok(Form::Double);
    }
    let bare = !text.is_empty()
        && !text.starts_with(['\'', '"', '`'])
        && !text.contains(['#', '$', '\n', '\r'])
        && !text
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
        && !text.starts_with(blank)
        && !text.ends_with(blank);
    if bare {
        return Ok(Form::Bare);
    }
    Err(
        "no quoting carries its value to python-dotenv, Node's dotenv and godotenv alike: it \
         holds ' or a carriage return, so it cannot be single-quoted, and \\, \" or $, so it \
         cannot be double-quoted, and it cannot be bare (it holds #, $, a line break or a \
         control character, starts with a quote or starts or ends with a space)",
    )
}

fn blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Whether python-dotenv would expand part of `text`: `${` with a `}` after it.
fn has_interpolation(text: &str) -> bool {
    text.find("${")
        .is_some_and(|at| text[at + 2..].contains('}'))
}

/// Appends `text` in `form`.
pub fn write_value(text: &str, form: Form, out: &mut String) {
    match form {
        Form::Single => {
            out.push('\'');
            for (i, part) in text.split('\'').enumerate() {
                if i > 0 {
                    out.push_str("'\\''");
                }
                out.push_str(part);
            }
            out.push('\'');
        }
        Form::Double => {
            out.push('"');
            for c in text.chars() {
                match c {
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Form::Bare => out.push_str(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(value: serde_json::Value, shell: bool) -> Result<String, RenderError> {
        render_env(&Value::from_json(value), shell, usize::MAX)
            .map(|bytes| String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn dotenv_writes_sorted_lines_with_scalars_as_text_in_single_quotes() {
        let got = env(
            json!({"STRING": "esc", "NUMBER": 2.5, "BOOLEAN": true, "NULLV": null,
                   "OBJECT": "{\"hello\":\"world\"}", "SECRET": "secretAccessKey"}),
            false,
        )
        .unwrap();
        assert_eq!(
            got,
            "BOOLEAN='true'\nNULLV=''\nNUMBER='2.5'\nOBJECT='{\"hello\":\"world\"}'\n\
             SECRET='secretAccessKey'\nSTRING='esc'\n"
        );
    }

    #[test]
    fn numbers_are_written_as_the_text_esc_sent() {
        let value = Value::decode_plain(r#"{"BIG": 12345678901234567890123, "E": 1E2, "F": 1.50}"#)
            .unwrap();
        let got = String::from_utf8(render_env(&value, true, usize::MAX).unwrap()).unwrap();
        assert_eq!(
            got,
            "export BIG='12345678901234567890123'\nexport E='1E2'\nexport F='1.50'\n"
        );
    }

    #[test]
    fn shell_single_quotes_every_value_so_nothing_expands_or_runs() {
        assert_eq!(
            env(
                json!({"A": "it's $(id -u) `x` ${X} \\n", "B": "l1\nl2\r", "C": ""}),
                true
            )
            .unwrap(),
            "export A='it'\\''s $(id -u) `x` ${X} \\n'\nexport B='l1\nl2\r'\nexport C=''\n"
        );
    }

    #[test]
    fn shell_refuses_every_key_that_is_not_a_shell_name_in_one_error() {
        let err = env(
            json!({"1DIGIT": "a", "my-key": "b", "has.dot": "c", "OK": "d", "N": "x\u{0}y"}),
            true,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "format shell cannot write these keys as variables: \"1DIGIT\" starts with a digit, \
             so it is not a shell name; \"N\" its value holds a NUL character, which no \
             environment variable can; \"has.dot\" is not a shell name ([A-Za-z_][A-Za-z0-9_]*); \
             \"my-key\" is not a shell name ([A-Za-z_][A-Za-z0-9_]*)"
        );
    }

    #[test]
    fn shell_refuses_names_a_shell_sets_itself_but_keeps_names_it_only_acts_on() {
        let err = env(
            json!({"UID": "1", "RANDOM": "2", "_": "3", "PATH": "/bin"}),
            true,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "format shell cannot write these keys as variables: \"RANDOM\" is a variable bash, \
             zsh or mksh sets itself or keeps read-only, so no file can set it; \"UID\" is a \
             variable bash, zsh or mksh sets itself or keeps read-only, so no file can set it; \
             \"_\" is a variable bash, zsh or mksh sets itself or keeps read-only, so no file \
             can set it"
        );
        assert!(env(json!({"PATH": "/bin", "LANG": "C", "USER": "me"}), true).is_ok());
        assert!(
            env(json!({"UID": "1"}), false).is_ok(),
            "dotenv has no such names"
        );
    }

    #[test]
    fn dotenv_picks_the_form_every_loader_reads_back() {
        assert_eq!(dotenv_form("pa$$word #1 \"x\" \\n"), Ok(Form::Single));
        assert_eq!(dotenv_form("it's\r\nok"), Ok(Form::Double));
        assert_eq!(dotenv_form("C:\\dir\\"), Ok(Form::Bare));
        assert_eq!(dotenv_form("a\\\\b"), Ok(Form::Bare));
        assert!(dotenv_form("${HOME}").is_err());
        assert!(dotenv_form("it's $5").is_err());
        assert_eq!(
            env(json!({"A": "it's\n", "B": "x\\", "C": "plain"}), false).unwrap(),
            "A=\"it's\\n\"\nB=x\\\nC='plain'\n"
        );
    }

    #[test]
    fn dotenv_refuses_keys_some_loader_drops_and_values_no_form_carries_naming_each() {
        let err = env(
            json!({"my-key": "a", "A.B": "ok", "V": "it's $5", "X": "${X}", "LIST": [1]}),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "format dotenv cannot write these keys as variables: \"LIST\" is an array;"
            ),
            "{err}"
        );
        for key in [
            "\"V\" no quoting",
            "\"X\" its value holds \"${...}\"",
            "\"my-key\" is not a name",
        ] {
            assert!(err.contains(key), "{key} in {err}");
        }
        assert!(!err.contains("A.B"), "{err}");
        assert!(!err.contains("$5"), "values are never shown: {err}");
    }

    #[test]
    fn refused_keys_past_the_cap_are_counted() {
        let many: serde_json::Map<_, _> = (0..30).map(|i| (format!("{i}-x"), json!("v"))).collect();
        let err = env(serde_json::Value::Object(many), true)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("; … and 10 more"), "{err}");
    }

    #[test]
    fn keys_are_in_byte_order_as_go_sorts_them() {
        assert_eq!(
            env(json!({"b": "1", "B": "2", "_a": "3", "a": "4"}), false).unwrap(),
            "B='2'\n_a='3'\na='4'\nb='1'\n"
        );
    }

    #[test]
    fn an_empty_object_is_an_empty_file() {
        assert_eq!(env(json!({}), false).unwrap(), "");
    }

    #[test]
    fn a_value_that_is_not_an_object_is_refused() {
        assert_eq!(
            env(json!("x"), true).unwrap_err().to_string(),
            "the value is a string, but format dotenv and shell write an object's keys as variables"
        );
    }

    #[test]
    fn rendering_stops_at_the_limit() {
        let value = Value::from_json(json!({"A": "x".repeat(100)}));
        assert_eq!(
            render_env(&value, false, 50),
            Err(RenderError::TooLarge { limit: 50 })
        );
    }
}
