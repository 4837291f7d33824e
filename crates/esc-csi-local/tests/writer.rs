//! The atomic writer against a real folder.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use esc_csi_local::writer::{Change, Payload, WriteError, Writer, write};

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

fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn a_data_folder_swapped_for_a_symlink_before_it_is_opened_receives_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (target, outside) = (dir.path().join("mnt"), dir.path().join("outside"));
    fs::create_dir(&outside).unwrap();
    let err = Writer::new()
        .after_folder_created(|created| {
            // The other process: move our folder away and put a link to its own in its place.
            fs::rename(created, dir.path().join("moved")).unwrap();
            symlink(&outside, created).unwrap();
        })
        .write(&target, &[file("a.txt", 0o644, "secret")])
        .unwrap_err();
    assert!(matches!(err, WriteError::Swapped(_)), "{err}");
    assert!(
        err.to_string().ends_with(
            "is not the folder esc-csi created (it was replaced, perhaps by a symbolic link); \
             nothing was written through it"
        ),
        "{err}"
    );
    assert!(is_empty(&outside));
    assert!(fs::symlink_metadata(target.join("..data")).is_err());
}

#[test]
fn a_symlink_planted_at_the_next_data_folder_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (target, outside) = (dir.path().join("mnt"), dir.path().join("outside"));
    fs::create_dir_all(&target).unwrap();
    fs::create_dir(&outside).unwrap();
    symlink(&outside, target.join("..planted")).unwrap();
    let mut names = ["..planted", "..fresh"].into_iter().map(str::to_owned);
    let outcome = Writer::new()
        .folder_names(move || names.next().unwrap())
        .write(&target, &[file("a.txt", 0o600, "secret")])
        .unwrap();
    assert!(outcome.wrote);
    assert!(is_empty(&outside));
    assert_eq!(
        fs::read_link(target.join("..data")).unwrap(),
        Path::new("..fresh")
    );
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "secret");
}

#[test]
fn a_visible_name_linking_anywhere_but_the_data_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (target, outside) = (dir.path().join("mnt"), dir.path().join("outside"));
    fs::create_dir_all(&target).unwrap();
    fs::create_dir(&outside).unwrap();
    symlink(outside.join("stolen"), target.join("a.txt")).unwrap();
    symlink(&outside, target.join("conf")).unwrap();
    for (payload, name) in [
        (file("a.txt", 0o644, "secret"), "a.txt"),
        (file("conf/b", 0o644, "secret"), "conf"),
    ] {
        let err = write(&target, &[payload]).unwrap_err();
        assert!(matches!(err, WriteError::ForeignLink { .. }), "{err}");
        let points_to = fs::read_link(target.join(name)).unwrap();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a symbolic link to {}, not one esc-csi made (those point to \
                 ..data/{name}); refusing to write through it: remove it or choose another \
                 fileName",
                target.join(name).display(),
                points_to.display()
            )
        );
    }
    assert!(is_empty(&outside));
    assert!(hidden_folders(&target).is_empty());
}

#[test]
fn a_previous_data_folder_swapped_for_a_symlink_is_neither_read_nor_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (target, outside) = (dir.path().join("mnt"), dir.path().join("outside"));
    write(&target, &[file("a", 0o644, "1")]).unwrap();
    let old = hidden_folders(&target).remove(0);
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("a"), "theirs").unwrap();
    fs::remove_dir_all(target.join(&old)).unwrap();
    symlink(&outside, target.join(&old)).unwrap();
    let err = write(&target, &[file("a", 0o644, "2")]).unwrap_err();
    assert!(matches!(err, WriteError::Swapped(_)), "{err}");
    assert_eq!(fs::read_to_string(outside.join("a")).unwrap(), "theirs");
}

#[test]
fn data_folders_are_named_by_time_as_the_driver_names_them() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[file("a", 0o644, "1")]).unwrap();
    let name = hidden_folders(dir.path()).remove(0);
    let (stamp, random) = name[2..].split_once('.').unwrap();
    assert_eq!(stamp.len(), "2006_01_02_15_04_05".len(), "{name}");
    assert!(
        stamp.bytes().all(|b| b.is_ascii_digit() || b == b'_'),
        "{name}"
    );
    assert!(random.parse::<u32>().is_ok(), "{name}");
}

#[test]
fn a_file_with_mode_zero_is_written_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[file("locked", 0, "1")]).unwrap();
    assert_eq!(mode_of(&dir.path().join("locked")), 0);
    let outcome = write(dir.path(), &[file("locked", 0, "2")]).unwrap();
    assert!(outcome.wrote);
    assert_eq!(mode_of(&dir.path().join("locked")), 0);
    assert_eq!(hidden_folders(dir.path()).len(), 1);
}

#[test]
fn a_failed_write_leaves_no_half_written_folder_behind() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnt");
    write(&target, &[file("a", 0o644, "1")]).unwrap();
    let before = hidden_folders(&target);
    // `..data` turned into a real folder: publishing the new set fails.
    fs::remove_file(target.join("..data")).unwrap();
    fs::create_dir(target.join("..data")).unwrap();
    fs::write(target.join("..data/keep"), "x").unwrap();
    let err = write(&target, &[file("a", 0o644, "2")]).unwrap_err();
    assert!(matches!(err, WriteError::Io { .. }), "{err}");
    let after: Vec<String> = hidden_folders(&target);
    assert_eq!(after, before);
}

/// The message a write into `target` fails with, the path shown as `<t>`.
fn target_error(target: &Path) -> String {
    let err = write(target, &[file("a", 0o644, "1")]).unwrap_err();
    assert!(matches!(err, WriteError::Target { .. }), "{err}");
    err.to_string()
        .replace(target.to_str().unwrap(), "<t>")
        .replace(target.parent().unwrap().to_str().unwrap(), "<dir>")
}

#[test]
fn a_target_that_is_not_a_folder_is_named_with_what_it_is_and_what_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    fs::write(&plain, "keep").unwrap();
    assert_eq!(
        target_error(&plain),
        "<t> is a file, not a folder: the target must be a folder (created if missing)"
    );
    assert_eq!(
        fs::read_to_string(&plain).unwrap(),
        "keep",
        "left as it was"
    );

    let under = plain.join("mnt");
    assert_eq!(
        target_error(&under),
        "<t> cannot be created: <dir> is a file, not a folder"
    );
    let deeper = plain.join("a/b");
    assert_eq!(
        write(&deeper, &[file("a", 0o644, "1")])
            .unwrap_err()
            .to_string(),
        format!(
            "{} cannot be created: {} is a file, not a folder",
            deeper.display(),
            plain.display()
        )
    );

    let to_file = dir.path().join("to-file");
    symlink("plain", &to_file).unwrap();
    assert_eq!(
        target_error(&to_file),
        "<t> is a symbolic link to plain, which is a file, not a folder: the target must be a \
         folder (created if missing)"
    );
    let dangling = dir.path().join("dangling");
    symlink("gone", &dangling).unwrap();
    assert_eq!(
        target_error(&dangling),
        "<t> is a symbolic link to gone, which does not exist: the target must be a folder \
         (created if missing)"
    );
    assert!(
        !dir.path().join("gone").exists(),
        "a dangling link's target is not created"
    );
}

#[test]
fn a_target_linking_to_a_folder_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("real")).unwrap();
    let link = dir.path().join("link");
    symlink("real", &link).unwrap();
    write(&link, &[file("a", 0o644, "1")]).unwrap();
    assert_eq!(fs::read_to_string(dir.path().join("real/a")).unwrap(), "1");
}

/// Whether this process bypasses file permissions (root does, so permission cannot be tested).
fn bypasses_permissions() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_none_or(|effective| effective == "0")
}

#[test]
fn a_target_this_user_may_not_create_read_or_write_says_so() {
    if bypasses_permissions() {
        // As root every folder is readable and writable; only the messages can be checked.
        use esc_csi_local::writer::TargetProblem;
        assert_eq!(
            TargetProblem::CannotCreate {
                parent: "/root".into()
            }
            .to_string(),
            "cannot be created: permission denied in /root"
        );
        assert_eq!(
            TargetProblem::CannotRead.to_string(),
            "is a folder this user may not read"
        );
        assert_eq!(
            TargetProblem::CannotWrite.to_string(),
            "is a folder this user may not write to"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).unwrap();
    assert_eq!(
        target_error(&locked.join("mnt")).replace("<dir>", "<locked>"),
        "<t> cannot be created: permission denied in <locked>"
    );
    assert_eq!(
        target_error(&locked),
        "<t> is a folder this user may not write to"
    );
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o300)).unwrap();
    assert_eq!(
        target_error(&locked),
        "<t> is a folder this user may not read"
    );
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
}
