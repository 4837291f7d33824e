//! Why the target folder cannot be used, named and said plainly. The system's own words ("File
//! exists", "Not a directory") name neither the path at fault nor what was expected, and the
//! path at fault may be a parent of the target or where a symbolic link points.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What is wrong with a target path; shown after the path, as in "`<path>` is a file, not a
/// folder".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetProblem {
    /// The path exists and is not a folder.
    NotAFolder { kind: &'static str },
    /// A symbolic link to something that is not a folder (`kind`), or to nothing (`None`).
    Link {
        to: PathBuf,
        kind: Option<&'static str>,
    },
    /// A parent on the way is not a folder, so the folder cannot be created.
    UnderNonFolder { parent: PathBuf, kind: &'static str },
    /// The folder does not exist and this user may not create it in `parent`.
    CannotCreate { parent: PathBuf },
    /// The folder exists and this user may not list it.
    CannotRead,
    /// The folder exists and this user may not create files in it.
    CannotWrite,
}

/// Said after a problem that a folder path would not have.
const EXPECTED: &str = "the target must be a folder (created if missing)";

impl std::fmt::Display for TargetProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetProblem::NotAFolder { kind } => write!(f, "is {kind}, not a folder: {EXPECTED}"),
            TargetProblem::Link { to, kind: None } => write!(
                f,
                "is a symbolic link to {}, which does not exist: {EXPECTED}",
                to.display()
            ),
            TargetProblem::Link {
                to,
                kind: Some(kind),
            } => write!(
                f,
                "is a symbolic link to {}, which is {kind}, not a folder: {EXPECTED}",
                to.display()
            ),
            TargetProblem::UnderNonFolder { parent, kind } => write!(
                f,
                "cannot be created: {} is {kind}, not a folder",
                parent.display()
            ),
            TargetProblem::CannotCreate { parent } => write!(
                f,
                "cannot be created: permission denied in {}",
                parent.display()
            ),
            TargetProblem::CannotRead => f.write_str("is a folder this user may not read"),
            TargetProblem::CannotWrite => f.write_str("is a folder this user may not write to"),
        }
    }
}

/// "a file", "a named pipe": what a path that is not a folder is, for messages.
fn kind_of(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        "a file"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// The problem with `target` that would stop a write before it starts, if any: it, a link it
/// is, or a parent on the way is not a folder. Permission is found out by trying.
pub fn check(target: &Path) -> Option<TargetProblem> {
    // `out/` is `out`: a trailing slash would make a file there read as "not a directory".
    let target: PathBuf = target.components().collect();
    match fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let to = fs::read_link(&target).unwrap_or_default();
            match fs::metadata(&target) {
                Ok(m) if m.is_dir() => None,
                Ok(m) => Some(TargetProblem::Link {
                    to,
                    kind: Some(kind_of(&m)),
                }),
                Err(_) => Some(TargetProblem::Link { to, kind: None }),
            }
        }
        Ok(meta) if meta.is_dir() => None,
        Ok(meta) => Some(TargetProblem::NotAFolder {
            kind: kind_of(&meta),
        }),
        Err(_) => {
            for parent in target.ancestors().skip(1) {
                let parent = shown(parent);
                match fs::metadata(parent) {
                    Ok(m) if m.is_dir() => return None,
                    Ok(m) => {
                        return Some(TargetProblem::UnderNonFolder {
                            parent: parent.to_owned(),
                            kind: kind_of(&m),
                        });
                    }
                    Err(_) => {}
                }
            }
            None
        }
    }
}

/// A relative path's empty parent is the current folder.
fn shown(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

/// The problem behind `error`, met creating `target` with its parents.
pub(super) fn creating(target: &Path, error: &io::Error) -> Option<TargetProblem> {
    if let Some(problem) = check(target) {
        return Some(problem);
    }
    if error.kind() == io::ErrorKind::PermissionDenied {
        // The nearest parent that exists is where the folder was to be made.
        let parent = target
            .ancestors()
            .skip(1)
            .map(shown)
            .find(|p| p.exists())
            .unwrap_or(Path::new("/"));
        return Some(TargetProblem::CannotCreate {
            parent: parent.to_owned(),
        });
    }
    None
}
