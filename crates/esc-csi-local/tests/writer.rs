//! The atomic writer against a real folder.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use esc_csi_local::writer::{Change, Payload, WriteError, write};

fn file(path: &str, mode: u32, contents: &str) -> Payload {
    Payload {
        path: path.to_owned(),
        mode,
        contents: contents.as_bytes().to_vec(),
    }
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn hidden_folders(target: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("..") && n != "..data")
        .collect();
    names.sort();
    names
}

#[test]
fn files_appear_through_the_data_link_with_their_modes() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnt");
    let outcome = write(
        &target,
        &[
            file("a.txt", 0o644, "alpha"),
            file("conf/b.json", 0o400, "{}"),
        ],
    )
    .unwrap();
    assert_eq!(outcome.changes, [Change::New, Change::New]);
    assert!(outcome.wrote);
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "alpha");
    assert_eq!(
        fs::read_to_string(target.join("conf/b.json")).unwrap(),
        "{}"
    );
    assert_eq!(mode_of(&target.join("a.txt")), 0o644);
    assert_eq!(mode_of(&target.join("conf/b.json")), 0o400);
    assert_eq!(
        fs::read_link(target.join("a.txt")).unwrap(),
        Path::new("..data/a.txt")
    );
    assert_eq!(
        fs::read_link(target.join("conf")).unwrap(),
        Path::new("..data/conf")
    );
    assert_eq!(hidden_folders(&target).len(), 1);
}

#[test]
fn writing_the_same_set_again_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = [file("a", 0o644, "alpha")];
    write(dir.path(), &files).unwrap();
    let before = fs::read_link(dir.path().join("..data")).unwrap();
    let outcome = write(dir.path(), &files).unwrap();
    assert_eq!(outcome.changes, [Change::Unchanged]);
    assert!(!outcome.wrote);
    assert_eq!(fs::read_link(dir.path().join("..data")).unwrap(), before);
}

#[test]
fn a_new_set_replaces_the_old_folder_and_removes_stale_names() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            file("a", 0o644, "1"),
            file("gone", 0o644, "x"),
            file("d/gone", 0o644, "y"),
        ],
    )
    .unwrap();
    let old = hidden_folders(dir.path());
    let outcome = write(
        dir.path(),
        &[file("a", 0o644, "2"), file("b", 0o600, "new")],
    )
    .unwrap();
    assert_eq!(outcome.changes, [Change::Changed, Change::New]);
    assert_eq!(outcome.removed, ["d/gone", "gone"]);
    assert_eq!(fs::read_to_string(dir.path().join("a")).unwrap(), "2");
    assert!(fs::symlink_metadata(dir.path().join("gone")).is_err());
    assert!(fs::symlink_metadata(dir.path().join("d")).is_err());
    let now = hidden_folders(dir.path());
    assert_eq!(now.len(), 1);
    assert_ne!(now, old);
}

#[test]
fn a_mode_change_alone_is_a_change() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[file("a", 0o644, "same")]).unwrap();
    let outcome = write(dir.path(), &[file("a", 0o400, "same")]).unwrap();
    assert_eq!(outcome.changes, [Change::Changed]);
    assert_eq!(mode_of(&dir.path().join("a")), 0o400);
}

#[test]
fn a_regular_file_in_the_way_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = write(dir.path(), &[file("notes.txt", 0o644, "x")]).unwrap_err();
    assert!(matches!(err, WriteError::Occupied(_)), "{err}");
    assert_eq!(
        fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(hidden_folders(dir.path()).is_empty());
}

#[test]
fn unsafe_or_duplicate_names_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnt");
    for (path, message) in [
        ("", "file name \"\": is empty"),
        ("/etc/passwd", "file name \"/etc/passwd\": must be relative"),
        ("..x", "file name \"..x\": must not start with '..'"),
        (
            "a/../b",
            "file name \"a/../b\": must not have a '..' component",
        ),
        (
            "a//b",
            "file name \"a//b\": is not clean (empty or '.' component)",
        ),
    ] {
        let err = write(&target, &[file(path, 0o644, "x")]).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    let err = write(&target, &[file("a", 0o644, "1"), file("a", 0o644, "2")]).unwrap_err();
    assert_eq!(err.to_string(), "file name \"a\" appears twice");
    assert!(!target.exists());
}
