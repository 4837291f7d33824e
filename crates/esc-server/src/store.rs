//! The environment store: definitions read from disk on every use, numbered by content.
//!
//! Files have no history, so revisions are counted from the server's start: the first content
//! seen is revision 1 and every change of content makes a new revision. Each revision's bytes
//! stay in memory (the newest [`KEPT_REVISIONS`]), so `versions/{n}` opens what was served then.
//!
//! A definition may be a symlink to another file of the folder, but never to a file outside
//! it: a checkout holding `prod.yaml -> ~/.ssh/id_rsa` would otherwise serve that file's
//! content to any token holder (in an error message, or as YAML).

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use ring::digest;

use crate::names;

/// Revisions kept per environment; older ones can no longer be opened.
pub(crate) const KEPT_REVISIONS: usize = 256;
/// The largest definition read, in bytes.
pub(crate) const MAX_DEFINITION_BYTES: u64 = 1 << 20;
/// The one revision tag: the current revision.
pub(crate) const LATEST: &str = "latest";

/// One revision of a definition; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Revision {
    pub(crate) number: u64,
    pub(crate) content: Arc<[u8]>,
    /// Quoted, as in the `ETag` header.
    pub(crate) etag: String,
    pub(crate) created: Timestamp,
}

/// An environment as listed.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) project: String,
    pub(crate) name: String,
    pub(crate) created: Timestamp,
    pub(crate) modified: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("{0}")]
    BadName(String),
    #[error("environment {project}/{env} not found")]
    NotFound { project: String, env: String },
    #[error("environment {project}/{env} has no revision or tag {version:?}{hint}")]
    NoVersion {
        project: String,
        env: String,
        version: String,
        hint: String,
    },
    #[error("the definition of {project}/{env} is larger than {MAX_DEFINITION_BYTES} bytes")]
    TooLarge { project: String, env: String },
    #[error(
        "the definition of {project}/{env} is a symbolic link that leads outside the \
         environments folder; it is not served"
    )]
    Outside { project: String, env: String },
    // The path is ours (the configured folder), not the client's: safe to show.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug)]
struct History {
    created: Timestamp,
    /// Oldest first; numbers are consecutive.
    revisions: VecDeque<Revision>,
}

/// The folder of definitions and the revisions seen so far.
#[derive(Debug)]
pub(crate) struct Store {
    root: PathBuf,
    /// `root` with every symlink resolved: where every definition must really be.
    real_root: PathBuf,
    histories: Mutex<HashMap<(String, String), History>>,
}

impl Store {
    pub(crate) fn new(root: PathBuf) -> Store {
        let real_root = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
        Store {
            root,
            real_root,
            histories: Mutex::new(HashMap::new()),
        }
    }

    /// The current revision of `project/env`, read from disk now.
    pub(crate) fn current(&self, project: &str, env: &str) -> Result<Revision, StoreError> {
        names::check("project", project).map_err(StoreError::BadName)?;
        names::check("environment", env).map_err(StoreError::BadName)?;
        let path = self.root.join(project).join(format!("{env}.yaml"));
        let content = read(&path, &self.real_root, project, env)?;
        Ok(self.record(project, env, content))
    }

    /// A revision number or tag (`latest`) of `project/env`, which must exist now.
    pub(crate) fn version(
        &self,
        project: &str,
        env: &str,
        version: &str,
    ) -> Result<Revision, StoreError> {
        let current = self.current(project, env)?;
        if version == LATEST {
            return Ok(current);
        }
        let no_version = |hint: String| StoreError::NoVersion {
            project: project.to_owned(),
            env: env.to_owned(),
            version: version.to_owned(),
            hint,
        };
        let Ok(number) = version.parse::<u64>() else {
            return Err(no_version(format!(
                " (the only tag is {LATEST:?}; revisions are numbers)"
            )));
        };
        let histories = self.histories.lock().expect("store lock");
        let revisions = &histories[&(project.to_owned(), env.to_owned())].revisions;
        let oldest = revisions.front().map_or(1, |r| r.number);
        match number.checked_sub(oldest) {
            Some(i) if i < revisions.len() as u64 => Ok(revisions[i as usize].clone()),
            _ => Err(no_version(format!(
                " (revisions {oldest} to {} are held)",
                current.number
            ))),
        }
    }

    /// All revisions held of `project/env`, newest first.
    pub(crate) fn revisions(&self, project: &str, env: &str) -> Result<Vec<Revision>, StoreError> {
        self.current(project, env)?;
        let histories = self.histories.lock().expect("store lock");
        let history = &histories[&(project.to_owned(), env.to_owned())];
        Ok(history.revisions.iter().rev().cloned().collect())
    }

    /// Every environment in the folder, sorted; unreadable entries and bad names are skipped.
    pub(crate) fn list(&self) -> Result<Vec<Listed>, StoreError> {
        let io = |source| StoreError::Io {
            path: self.root.clone(),
            source,
        };
        let mut listed = Vec::new();
        for project in std::fs::read_dir(&self.root).map_err(io)? {
            let Ok(project) = project else { continue };
            let Some(project_name) = valid_name(&project.file_name(), "") else {
                continue;
            };
            let Ok(files) = std::fs::read_dir(project.path()) else {
                continue;
            };
            for file in files.flatten() {
                let Some(env) = valid_name(&file.file_name(), ".yaml") else {
                    continue;
                };
                match self.current(&project_name, &env) {
                    Ok(revision) => listed.push(Listed {
                        created: self.created(&project_name, &env),
                        modified: revision.created,
                        project: project_name.clone(),
                        name: env,
                    }),
                    Err(e) => tracing::debug!(error = %e, "skipping an unreadable definition"),
                }
            }
        }
        listed.sort_by(|a, b| (&a.project, &a.name).cmp(&(&b.project, &b.name)));
        Ok(listed)
    }

    fn created(&self, project: &str, env: &str) -> Timestamp {
        let histories = self.histories.lock().expect("store lock");
        histories[&(project.to_owned(), env.to_owned())].created
    }

    /// Files `content` as the current revision, making a new one if it changed.
    fn record(&self, project: &str, env: &str, content: Vec<u8>) -> Revision {
        let mut histories = self.histories.lock().expect("store lock");
        let history = histories
            .entry((project.to_owned(), env.to_owned()))
            .or_insert_with(|| History {
                created: Timestamp::now(),
                revisions: VecDeque::new(),
            });
        if let Some(last) = history.revisions.back()
            && *last.content == *content
        {
            return last.clone();
        }
        let number = history.revisions.back().map_or(1, |r| r.number + 1);
        let digest = digest::digest(&digest::SHA256, &content);
        let revision = Revision {
            number,
            etag: format!("\"{}\"", hex::encode(&digest.as_ref()[..16])),
            content: content.into(),
            created: Timestamp::now(),
        };
        if history.revisions.len() == KEPT_REVISIONS {
            history.revisions.pop_front();
        }
        history.revisions.push_back(revision.clone());
        tracing::debug!(project, env, revision = number, "new revision");
        revision
    }
}

/// The name of a directory entry, minus `suffix`, when it is a valid name.
fn valid_name(file_name: &std::ffi::OsStr, suffix: &str) -> Option<String> {
    let name = file_name.to_str()?.strip_suffix(suffix)?;
    names::check("environment", name).ok()?;
    Some(name.to_owned())
}

fn read(path: &Path, real_root: &Path, project: &str, env: &str) -> Result<Vec<u8>, StoreError> {
    let not_found = || StoreError::NotFound {
        project: project.to_owned(),
        env: env.to_owned(),
    };
    // Every link resolved; what is left must be inside the folder, and is opened as such.
    let real = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    if !real.starts_with(real_root) {
        return Err(StoreError::Outside {
            project: project.to_owned(),
            env: env.to_owned(),
        });
    }
    let file = match std::fs::File::open(&real) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut content = Vec::new();
    file.take(MAX_DEFINITION_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
    if content.len() as u64 > MAX_DEFINITION_BYTES {
        return Err(StoreError::TooLarge {
            project: project.to_owned(),
            env: env.to_owned(),
        });
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let store = Store::new(dir.path().to_owned());
        (dir, store)
    }

    #[test]
    fn revisions_count_content_changes_only() {
        let (dir, store) = store_with(&[("app/dev.yaml", "values: {a: 1}\n")]);
        assert_eq!(store.current("app", "dev").unwrap().number, 1);
        assert_eq!(store.current("app", "dev").unwrap().number, 1);
        std::fs::write(dir.path().join("app/dev.yaml"), "values: {a: 2}\n").unwrap();
        let second = store.current("app", "dev").unwrap();
        assert_eq!(second.number, 2);
        assert_eq!(
            &*store.version("app", "dev", "1").unwrap().content,
            b"values: {a: 1}\n"
        );
        assert_eq!(store.version("app", "dev", "latest").unwrap().number, 2);
        assert!(store.version("app", "dev", "3").is_err());
        assert!(store.version("app", "dev", "stable").is_err());
    }

    #[test]
    fn listing_skips_other_files_and_bad_names() {
        let (_dir, store) = store_with(&[
            ("app/dev.yaml", "{}"),
            ("app/notes.txt", ""),
            ("app/.hidden.yaml", "{}"),
            ("default/base.yaml", "{}"),
        ]);
        let listed: Vec<_> = store
            .list()
            .unwrap()
            .into_iter()
            .map(|l| format!("{}/{}", l.project, l.name))
            .collect();
        assert_eq!(listed, ["app/dev", "default/base"]);
    }

    #[test]
    fn a_symlink_leaving_the_folder_is_refused_and_one_inside_it_is_served() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("secret.yaml"),
            "values: {stolen: yes}\n",
        )
        .unwrap();
        let (dir, store) = store_with(&[("app/dev.yaml", "values: {a: 1}\n")]);
        let link = |from: &Path, name: &str| {
            std::os::unix::fs::symlink(from, dir.path().join(name)).unwrap();
        };
        link(&outside.path().join("secret.yaml"), "app/stolen.yaml");
        link(outside.path(), "elsewhere");
        link(Path::new("dev.yaml"), "app/alias.yaml");
        for (project, env) in [("app", "stolen"), ("elsewhere", "secret")] {
            let err = store.current(project, env).unwrap_err();
            assert!(matches!(err, StoreError::Outside { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "the definition of {project}/{env} is a symbolic link that leads outside \
                     the environments folder; it is not served"
                )
            );
        }
        assert_eq!(
            &*store.current("app", "alias").unwrap().content,
            b"values: {a: 1}\n"
        );
        let listed: Vec<_> = store.list().unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(listed, ["alias", "dev"]);
    }

    #[test]
    fn old_revisions_are_dropped_past_the_limit() {
        let (dir, store) = store_with(&[("a/b.yaml", "0")]);
        for i in 0..=KEPT_REVISIONS {
            std::fs::write(dir.path().join("a/b.yaml"), i.to_string()).unwrap();
            store.current("a", "b").unwrap();
        }
        assert!(store.version("a", "b", "1").is_err());
        assert!(store.version("a", "b", "2").is_ok());
        assert!(
            store
                .version("a", "b", &(KEPT_REVISIONS + 1).to_string())
                .is_ok()
        );
    }
}
