//! Writing a mount's files the way the driver does, so readers never see a half-written set.
//!
//! The layout is Kubernetes' atomic writer: the files live in a hidden folder `..<random>`,
//! `..data` is a symlink to the current one, and each visible top-level name is a symlink
//! through `..data`. A new set is written to a fresh folder and published by renaming a new
//! `..data` link over the old one, a single atomic step; then the old folder and the names
//! that are gone are removed. Nothing is rewritten when nothing changed.
//!
//! Whoever can write the target folder can swap any name in it for a symlink at any moment,
//! so every step goes through [`dir::Dir`], relative to folder handles opened without
//! following symlinks: a secret can only ever land in the folder this writer created. A
//! visible name that is a symlink esc-csi did not make (one not pointing to `..data/<name>`)
//! is refused rather than kept or written through.

mod dir;
mod target;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use dir::{Dir, Entry};
pub use target::{TargetProblem, check as check_target};

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
    #[error(
        "{} is a symbolic link to {}, not one esc-csi made (those point to ..data/{name}); \
         refusing to write through it: remove it or choose another fileName",
        path.display(), points_to.display()
    )]
    ForeignLink {
        path: PathBuf,
        name: String,
        points_to: PathBuf,
    },
    #[error(
        "{} is not the folder esc-csi created (it was replaced, perhaps by a symbolic link); \
         nothing was written through it",
        .0.display()
    )]
    Swapped(PathBuf),
    /// The target itself cannot be used: not a folder, or not this user's to read or write.
    #[error("{} {problem}", path.display())]
    Target {
        path: PathBuf,
        problem: TargetProblem,
    },
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: PathBuf) -> impl FnOnce(io::Error) -> WriteError {
    move |source| WriteError::Io { path, source }
}

/// Writes `files` into `target` (created if missing), replacing the previous set atomically.
pub fn write(target: &Path, files: &[Payload]) -> Result<Outcome, WriteError> {
    Writer::new().write(target, files)
}

/// The writer, with seams for tests that play the other process in the folder: the names it
/// gives new data folders, and a call between creating such a folder and opening it.
#[derive(Default)]
pub struct Writer<'a> {
    names: Option<NameSource<'a>>,
    after_create: Option<CreateHook<'a>>,
}

type NameSource<'a> = Box<dyn FnMut() -> String + 'a>;
type CreateHook<'a> = Box<dyn FnMut(&Path) + 'a>;

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// Attempts at a fresh data folder name before giving up (a name is taken when another
/// process planted something there).
const NAME_ATTEMPTS: usize = 16;

impl<'a> Writer<'a> {
    pub fn new() -> Writer<'a> {
        Writer::default()
    }

    /// Names new data folders with `names` (each must start with `..`) instead of
    /// `..<UTC timestamp>.<random>`.
    pub fn folder_names(mut self, names: impl FnMut() -> String + 'a) -> Writer<'a> {
        self.names = Some(Box::new(names));
        self
    }

    /// Calls `hook` with the path of each new data folder right after creating it, before
    /// the writer opens it.
    pub fn after_folder_created(mut self, hook: impl FnMut(&Path) + 'a) -> Writer<'a> {
        self.after_create = Some(Box::new(hook));
        self
    }

    /// Writes `files` into `target` (created if missing), replacing the previous set atomically.
    pub fn write(mut self, target: &Path, files: &[Payload]) -> Result<Outcome, WriteError> {
        let mut tops = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for file in files {
            check_path(&file.path)?;
            if !seen.insert(file.path.as_str()) {
                return Err(WriteError::Duplicate(file.path.clone()));
            }
            tops.insert(top(&file.path).to_owned());
        }
        let at_target = |problem| WriteError::Target {
            path: target.to_owned(),
            problem,
        };
        if let Some(problem) = target::check(target) {
            return Err(at_target(problem));
        }
        std::fs::create_dir_all(target).map_err(|e| match target::creating(target, &e) {
            Some(problem) => at_target(problem),
            None => io_at(target.to_owned())(e),
        })?;
        let root = Dir::open_target(target).map_err(|e| match target::check(target) {
            Some(problem) => at_target(problem),
            None if e.kind() == io::ErrorKind::PermissionDenied => {
                at_target(TargetProblem::CannotRead)
            }
            None => io_at(target.to_owned())(e),
        })?;
        for name in &tops {
            check_visible(&root, name)?;
        }

        let old_name = match root.entry(DATA).map_err(io_at(root.show(DATA)))? {
            Entry::Link(link) if is_data_dir_name(&link) => {
                Some(link.to_string_lossy().into_owned())
            }
            _ => None,
        };
        let old_dir = match &old_name {
            Some(name) => Some(open_own(&root, name)?),
            None => None,
        };
        let old = match &old_dir {
            Some(dir) => list_files(dir)?,
            None => BTreeMap::new(),
        };
        let mut changes = Vec::with_capacity(files.len());
        for file in files {
            changes.push(match (old.get(&file.path), &old_dir) {
                (Some(mode), Some(dir)) if *mode == file.mode => {
                    if read_in(dir, &file.path)?.as_ref() == Some(&file.contents) {
                        Change::Unchanged
                    } else {
                        Change::Changed
                    }
                }
                (Some(_), _) => Change::Changed,
                (None, _) => Change::New,
            });
        }
        let removed: Vec<String> = old
            .keys()
            .filter(|p| !seen.contains(p.as_str()))
            .cloned()
            .collect();
        if old_dir.is_some()
            && removed.is_empty()
            && changes.iter().all(|c| *c == Change::Unchanged)
        {
            return Ok(Outcome {
                changes,
                removed,
                wrote: false,
            });
        }

        let (new_name, new_dir) = self.create_data_folder(&root)?;
        if let Err(e) = fill(&new_dir, files).and_then(|()| publish(&root, &new_name)) {
            // Nothing points at the new folder yet: leave no half-written copy behind.
            drop(new_dir);
            let _ = root.remove_tree(&new_name);
            return Err(e);
        }
        drop(new_dir);

        for name in &tops {
            if check_visible(&root, name)? == Entry::Missing {
                root.symlink(&format!("{DATA}/{name}"), name)
                    .map_err(io_at(root.show(name)))?;
            }
        }
        for name in old.keys().map(|p| top(p)).collect::<BTreeSet<_>>() {
            if !tops.contains(name) {
                remove_visible_link(&root, name)?;
            }
        }
        if let Some(name) = old_name {
            drop(old_dir);
            root.remove_tree(&name).map_err(io_at(root.show(&name)))?;
        }
        Ok(Outcome {
            changes,
            removed,
            wrote: true,
        })
    }

    /// Creates a fresh `..<timestamp>.<random>` folder and opens it without following links.
    fn create_data_folder(&mut self, root: &Dir) -> Result<(String, Dir), WriteError> {
        for _ in 0..NAME_ATTEMPTS {
            let name = match &mut self.names {
                Some(names) => names(),
                None => fresh_name(),
            };
            if !is_data_dir_name(Path::new(&name)) {
                return Err(WriteError::BadPath {
                    path: name,
                    message: "is not a data folder name (..<name>)",
                });
            }
            match root.create_dir(&name, 0o700) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Err(WriteError::Target {
                        path: root.path().to_owned(),
                        problem: TargetProblem::CannotWrite,
                    });
                }
                Err(e) => return Err(io_at(root.show(&name))(e)),
            }
            if let Some(hook) = &mut self.after_create {
                hook(&root.show(&name));
            }
            let dir = open_own(root, &name)?;
            dir.set_mode(0o755).map_err(io_at(root.show(&name)))?;
            return Ok((name, dir));
        }
        Err(WriteError::Io {
            path: root.path().to_owned(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{NAME_ATTEMPTS} fresh data folder names were all taken"),
            ),
        })
    }
}

/// Points `..data` at the folder `name` in one step: a new link, renamed over the old one.
fn publish(root: &Dir, name: &str) -> Result<(), WriteError> {
    match root.remove_file(DATA_TMP) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_at(root.show(DATA_TMP))(e));
        }
        _ => {}
    }
    root.symlink(name, DATA_TMP)
        .map_err(io_at(root.show(DATA_TMP)))?;
    root.rename(DATA_TMP, DATA).map_err(|e| {
        let _ = root.remove_file(DATA_TMP);
        io_at(root.show(DATA))(e)
    })
}

/// `..2006_01_02_15_04_05.<random>`, as Kubernetes' atomic writer names them.
fn fresh_name() -> String {
    use ring::rand::SecureRandom;
    let mut random = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut random);
    let now = jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S");
    format!("..{now}.{}", u32::from_be_bytes(random))
}

/// Opens a folder of ours by name; a symlink or a non-folder in its place is [`WriteError::Swapped`].
fn open_own(root: &Dir, name: &str) -> Result<Dir, WriteError> {
    root.open_dir(name).map_err(|e| match e.raw_os_error() {
        Some(code)
            if code == rustix::io::Errno::LOOP.raw_os_error()
                || code == rustix::io::Errno::NOTDIR.raw_os_error() =>
        {
            WriteError::Swapped(root.show(name))
        }
        _ => io_at(root.show(name))(e),
    })
}

/// What a visible name is now: missing, or esc-csi's link; anything else is refused.
fn check_visible(root: &Dir, name: &str) -> Result<Entry, WriteError> {
    let entry = root.entry(name).map_err(io_at(root.show(name)))?;
    match &entry {
        Entry::Missing => Ok(entry),
        Entry::Link(points_to) if *points_to == Path::new(DATA).join(name) => Ok(entry),
        Entry::Link(points_to) => Err(WriteError::ForeignLink {
            path: root.show(name),
            name: name.to_owned(),
            points_to: points_to.clone(),
        }),
        Entry::Folder | Entry::Other { .. } => Err(WriteError::Occupied(root.show(name))),
    }
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

/// Splits a clean relative path into its folder and its last name.
fn split_last(path: &str) -> (Option<&str>, &str) {
    match path.rsplit_once('/') {
        Some((folder, name)) => (Some(folder), name),
        None => (None, path),
    }
}

/// The contents of the regular file at `path` under `dir`, following no link.
fn read_in(dir: &Dir, path: &str) -> Result<Option<Vec<u8>>, WriteError> {
    let (folder, name) = split_last(path);
    let opened;
    let parent = match folder {
        Some(folder) => match dir.open_path(folder) {
            Ok(d) => {
                opened = d;
                &opened
            }
            Err(_) => return Ok(None),
        },
        None => dir,
    };
    parent.read_file(name).map_err(io_at(parent.show(name)))
}

fn fill(dir: &Dir, files: &[Payload]) -> Result<(), WriteError> {
    for file in files {
        let (folder, name) = split_last(&file.path);
        let opened;
        let parent = match folder {
            Some(folder) => {
                let mut current = dir
                    .ensure_dir(top(folder))
                    .map_err(io_at(dir.show(folder)))?;
                for part in folder.split('/').skip(1) {
                    current = current
                        .ensure_dir(part)
                        .map_err(io_at(current.show(part)))?;
                }
                opened = current;
                &opened
            }
            None => dir,
        };
        parent
            .create_file(name, &file.contents, file.mode & 0o7777)
            .map_err(io_at(parent.show(name)))?;
    }
    Ok(())
}

/// Every regular file under `dir`, relative and `/`-separated, with its mode. Symlinks and
/// other special files are not ours and are skipped.
fn list_files(dir: &Dir) -> Result<BTreeMap<String, u32>, WriteError> {
    let mut files = BTreeMap::new();
    let mut pending: Vec<(Option<Dir>, String)> = vec![(None, String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let folder = folder.as_ref().unwrap_or(dir);
        let names = folder.names().map_err(io_at(folder.path().to_owned()))?;
        for name in names {
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            match folder.entry(&name).map_err(io_at(folder.show(&name)))? {
                Entry::Folder => {
                    let sub = folder.open_dir(&name).map_err(io_at(folder.show(&name)))?;
                    pending.push((Some(sub), relative));
                }
                Entry::Other { mode, file: true } => {
                    files.insert(relative, mode);
                }
                _ => {}
            }
        }
    }
    Ok(files)
}

fn remove_visible_link(root: &Dir, name: &str) -> Result<(), WriteError> {
    if let Entry::Link(points_to) = root.entry(name).map_err(io_at(root.show(name)))?
        && points_to == Path::new(DATA).join(name)
    {
        root.remove_file(name).map_err(io_at(root.show(name)))?;
    }
    Ok(())
}
