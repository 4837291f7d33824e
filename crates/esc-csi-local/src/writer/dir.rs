//! File operations relative to an open directory handle, never following a symbolic link.
//!
//! Whoever can write the target folder can replace any name in it between two of our steps.
//! Working by path (`target/..2024_…/a.txt`) would then follow their symlink and put a secret
//! wherever it points. Here every step is an `*at` call on a handle we opened ourselves with
//! `O_NOFOLLOW | O_DIRECTORY`: a name that became a symlink makes the step fail (`ELOOP`,
//! `ENOTDIR`, `EEXIST`) instead of leading elsewhere, and a folder once opened stays the
//! folder we created, whatever happens to its name.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawMode};

/// An open folder, with the path it was opened at (for messages only: never used to reach
/// anything).
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// What a name in a folder is, without following it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Missing,
    /// A symbolic link and what it points to.
    Link(PathBuf),
    Folder,
    /// Anything else (a file, a socket, ...), with its permission bits.
    Other {
        mode: u32,
        file: bool,
    },
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Dir {
    /// Opens `path` itself (the target the user named; a symlink there is their choice).
    pub(crate) fn open_target(path: &std::path::Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir {
            fd,
            path: path.to_owned(),
        })
    }

    /// Where this folder was opened, for messages.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The display path of `name` in this folder.
    pub(crate) fn show(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Opens the sub-folder `name`; fails if it is a symlink or not a folder.
    pub(crate) fn open_dir(&self, name: &str) -> io::Result<Dir> {
        let fd = rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty())?;
        Ok(Dir {
            fd,
            path: self.path.join(name),
        })
    }

    /// Opens the folder at the relative, `/`-separated `path`, one component at a time.
    pub(crate) fn open_path(&self, path: &str) -> io::Result<Dir> {
        let mut parts = path.split('/');
        let first = parts.next().unwrap_or_default();
        let mut dir = self.open_dir(first)?;
        for part in parts {
            dir = dir.open_dir(part)?;
        }
        Ok(dir)
    }

    /// Creates the sub-folder `name` with `mode`; fails if anything (a symlink too) has the name.
    pub(crate) fn create_dir(&self, name: &str, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::mkdirat(
            &self.fd,
            name,
            Mode::from_raw_mode(mode as RawMode),
        )?)
    }

    /// Creates the sub-folder `name` unless a real folder has it, and opens it.
    pub(crate) fn ensure_dir(&self, name: &str) -> io::Result<Dir> {
        match self.create_dir(name, 0o755) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let dir = self.open_dir(name)?;
        rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(0o755))?;
        Ok(dir)
    }

    /// Sets this folder's permission bits (not subject to the umask, unlike `mkdir`).
    pub(crate) fn set_mode(&self, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::fchmod(
            &self.fd,
            Mode::from_raw_mode(mode as RawMode),
        )?)
    }

    /// Creates the file `name` (which must not exist under any form), writes `contents` and
    /// sets `mode` last, so that a mode without write permission still works.
    pub(crate) fn create_file(&self, name: &str, contents: &[u8], mode: u32) -> io::Result<()> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            flags | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut file = File::from(fd);
        file.write_all(contents)?;
        rustix::fs::fchmod(file.as_fd(), Mode::from_raw_mode(mode as RawMode))?;
        Ok(())
    }

    /// The contents of the regular file `name`, or `None` when it is anything else or
    /// unreadable.
    pub(crate) fn read_file(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            // A link is not ours; a file we may not read (mode 0) cannot be compared.
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::ACCESS) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) != FileType::RegularFile {
            return Ok(None);
        }
        let mut contents = Vec::new();
        File::from(fd).read_to_end(&mut contents)?;
        Ok(Some(contents))
    }

    /// What `name` is, without following it.
    pub(crate) fn entry(&self, name: &str) -> io::Result<Entry> {
        let stat = match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOENT) => return Ok(Entry::Missing),
            Err(e) => return Err(e.into()),
        };
        Ok(match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => Entry::Link(self.read_link(name)?),
            FileType::Directory => Entry::Folder,
            other => Entry::Other {
                mode: stat.st_mode & 0o7777,
                file: other == FileType::RegularFile,
            },
        })
    }

    fn read_link(&self, name: &str) -> io::Result<PathBuf> {
        let target = rustix::fs::readlinkat(&self.fd, name, Vec::new())?;
        Ok(PathBuf::from(OsStr::from_bytes(target.to_bytes())))
    }

    /// Creates the symlink `name` pointing to `target`; fails if the name is taken.
    pub(crate) fn symlink(&self, target: &str, name: &str) -> io::Result<()> {
        Ok(rustix::fs::symlinkat(target, &self.fd, name)?)
    }

    /// Renames `from` to `to` within this folder, atomically replacing `to`.
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Removes the non-folder `name` (a symlink itself, never what it points to).
    pub(crate) fn remove_file(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }

    /// The names in this folder, without `.` and `..`.
    pub(crate) fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            names.push(String::from_utf8_lossy(name).into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Removes the folder `name` and everything under it, following no symlink (a symlink
    /// inside is removed, not what it points to).
    pub(crate) fn remove_tree(&self, name: &str) -> io::Result<()> {
        let sub = self.open_dir(name)?;
        for child in sub.names()? {
            match sub.entry(&child)? {
                Entry::Folder => sub.remove_tree(&child)?,
                Entry::Missing => {}
                _ => sub.remove_file(&child)?,
            }
        }
        drop(sub);
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)?)
    }
}
