//! Writing a mount's files the way the driver does, so readers never see a half-written set.
//!
//! The layout is Kubernetes' atomic writer: the files live in a hidden folder `..<random>`,
//! `..data` is a symlink to the current one, and each visible top-level name is a symlink
//! through `..data`. A new set is written to a fresh folder and published by renaming a new
//! `..data` link over the old one, a single atomic step; then the old folder and the names
//! that are gone are removed. Nothing is rewritten when nothing changed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// One file to write.
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    /// Relative, clean, `/`-separated; may have folders.
    pub path: String,
    pub mode: u32,
    pub contents: Vec<u8>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("path", &self.path)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .finish()
    }
}

/// How a file compares with what the folder held before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    New,
    Changed,
    Unchanged,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::New => "new",
            Change::Changed => "changed",
            Change::Unchanged => "unchanged",
        })
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every file of the payload, in payload order, with its change.
    pub changes: Vec<Change>,
    /// Files of the previous set that are gone.
    pub removed: Vec<String>,
    /// Whether anything on disk was touched.
    pub wrote: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("file name {path:?}: {message}")]
    BadPath { path: String, message: &'static str },
    #[error("file name {0:?} appears twice")]
    Duplicate(String),
    #[error("{} exists and is not a link esc-csi made; refusing to replace it", .0.display())]
    Occupied(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `files` into `target` (created if missing), replacing the previous set atomically.
pub fn write(target: &Path, files: &[Payload]) -> Result<Outcome, WriteError> {
    let mut tops = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for file in files {
        check_path(&file.path)?;
        if !seen.insert(file.path.as_str()) {
            return Err(WriteError::Duplicate(file.path.clone()));
        }
        tops.insert(top(&file.path).to_owned());
    }
    fs::create_dir_all(target).map_err(io_at(target))?;
    for name in &tops {
        let visible = target.join(name);
        match fs::symlink_metadata(&visible) {
            Ok(meta) if !meta.file_type().is_symlink() => {
                return Err(WriteError::Occupied(visible));
            }
            _ => {}
        }
    }

    let old_dir = fs::read_link(target.join(DATA))
        .ok()
        .filter(|link| is_data_dir_name(link))
        .map(|link| target.join(link));
    let old = match &old_dir {
        Some(dir) => list_files(dir).map_err(io_at(dir))?,
        None => BTreeMap::new(),
    };
    let changes: Vec<Change> = files
        .iter()
        .map(|file| match old.get(&file.path) {
            None => Change::New,
            Some(mode) if *mode != file.mode => Change::Changed,
            Some(_) => match &old_dir {
                Some(dir)
                    if fs::read(dir.join(&file.path)).ok().as_ref() == Some(&file.contents) =>
                {
                    Change::Unchanged
                }
                _ => Change::Changed,
            },
        })
        .collect();
    let removed: Vec<String> = old
        .keys()
        .filter(|p| !seen.contains(p.as_str()))
        .cloned()
        .collect();
    if old_dir.is_some() && removed.is_empty() && changes.iter().all(|c| *c == Change::Unchanged) {
        return Ok(Outcome {
            changes,
            removed,
            wrote: false,
        });
    }

    let new_dir = tempfile::Builder::new()
        .prefix("..")
        .tempdir_in(target)
        .map_err(io_at(target))?
        .keep();
    fill(&new_dir, files)?;
    let new_name = new_dir.file_name().expect("a temporary folder has a name");
    let tmp_link = target.join(DATA_TMP);
    let _ = fs::remove_file(&tmp_link);
    symlink(new_name, &tmp_link).map_err(io_at(&tmp_link))?;
    fs::rename(&tmp_link, target.join(DATA)).map_err(io_at(&tmp_link))?;

    for name in &tops {
        let visible = target.join(name);
        if fs::symlink_metadata(&visible).is_err() {
            symlink(Path::new(DATA).join(name), &visible).map_err(io_at(&visible))?;
        }
    }
    for name in old.keys().map(|p| top(p)).collect::<BTreeSet<_>>() {
        if !tops.contains(name) {
            remove_visible_link(target, name)?;
        }
    }
    if let Some(dir) = old_dir {
        fs::remove_dir_all(&dir).map_err(io_at(&dir))?;
    }
    Ok(Outcome {
        changes,
        removed,
        wrote: true,
    })
}

/// The same rules as the driver: relative, clean, no `..`, bounded lengths.
fn check_path(path: &str) -> Result<(), WriteError> {
    let bad = |message| WriteError::BadPath {
        path: path.to_owned(),
        message,
    };
    if path.is_empty() {
        return Err(bad("is empty"));
    }
    if path.len() > 4096 {
        return Err(bad("is longer than 4096 bytes"));
    }
    if path.starts_with('/') {
        return Err(bad("must be relative"));
    }
    if path.starts_with("..") {
        return Err(bad("must not start with '..'"));
    }
    for part in path.split('/') {
        match part {
            "" | "." => return Err(bad("is not clean (empty or '.' component)")),
            ".." => return Err(bad("must not have a '..' component")),
            p if p.len() > 255 => return Err(bad("has a component longer than 255 bytes")),
            _ => {}
        }
    }
    Ok(())
}

fn top(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

fn is_data_dir_name(link: &Path) -> bool {
    let mut components = link.components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(name)), None)
            if name.to_string_lossy().starts_with("..") && name != DATA && name != DATA_TMP
    )
}

fn fill(dir: &Path, files: &[Payload]) -> Result<(), WriteError> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io_at(dir))?;
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        fs::write(&path, &file.contents).map_err(io_at(&path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode)).map_err(io_at(&path))?;
    }
    Ok(())
}

/// Every file under `dir`, relative and `/`-separated, with its mode.
fn list_files(dir: &Path) -> io::Result<BTreeMap<String, u32>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push((entry.path(), relative));
            } else {
                files.insert(relative, meta.permissions().mode() & 0o7777);
            }
        }
    }
    Ok(files)
}

fn remove_visible_link(target: &Path, name: &str) -> Result<(), WriteError> {
    let visible = target.join(name);
    if fs::read_link(&visible).ok().as_deref() == Some(&Path::new(DATA).join(name)) {
        fs::remove_file(&visible).map_err(io_at(&visible))?;
    }
    Ok(())
}
