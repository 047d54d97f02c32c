//! End-to-end tests of the `e2ee-backup` binary: round trips of an awkward tree, tampered,
//! truncated and swapped snapshots, wrong and mistyped keys, refusals and `--help`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Run;
use filetime::FileTime;

const BIN: &str = env!("CARGO_BIN_EXE_e2ee-backup");

/// One test's world: a temporary folder with a key file location, a source tree and a store.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn key_file(&self) -> PathBuf {
        self.path("config/e2ee-backup/key")
    }

    fn repo(&self) -> PathBuf {
        self.path("repo")
    }

    /// Runs the binary with this world's key file (unless `args` names another).
    fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut child = Command::new(BIN)
            .args(args)
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("HOME", self.path("home"))
            .env_remove("E2EE_BACKUP_KEY_FILE")
            .env_remove("E2EE_BACKUP_REPO")
            .env_remove("E2EE_BACKUP_VAULT")
            .env_remove("E2EE_BACKUP_ACCOUNT")
            .env_remove("E2EE_BACKUP_TOKEN")
            .env_remove("E2EE_BACKUP_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run e2ee-backup");
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.unwrap_or("").as_bytes())
                .expect("write stdin");
        }
        Run(child.wait_with_output().expect("wait"))
    }

    fn init(&self) -> String {
        let run = self.run(&["init"]);
        run.assert_code(0);
        run.stdout()
    }

    fn backup(&self, src: &Path, extra: &[&str]) -> String {
        let src = src.to_str().expect("utf-8 path");
        let repo = self.repo();
        let mut args = vec!["backup", src, "--repo", repo.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        run.assert_code(0);
        let id = run.stdout().trim().to_owned();
        assert_eq!(id.len(), 25, "snapshot id on stdout: {id:?}");
        id
    }

    fn restore(&self, id: &str, to: &Path, extra: &[&str]) -> Run {
        let repo = self.repo();
        let mut args = vec![
            "restore",
            id,
            "--repo",
            repo.to_str().expect("utf-8"),
            "--to",
            to.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn data_object(&self, id: &str) -> PathBuf {
        self.repo().join(format!("snapshots/{id}.data"))
    }
}

/// A tree with every kind of awkward entry the format must carry.
fn awkward_tree(root: &Path) {
    fs::create_dir_all(root.join("empty dir")).expect("dir");
    fs::create_dir_all(root.join("a/b/c/d")).expect("dir");
    fs::write(root.join("empty file"), b"").expect("file");
    // A few MiB of incompressible bytes: many stream segments.
    let mut big = Vec::with_capacity(5 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while big.len() < (5 << 20) + 123 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(root.join("a/large.bin"), &big).expect("large");
    fs::write(
        root.join("a/b/compressible.txt"),
        "chat line\n".repeat(50_000),
    )
    .expect("file");
    fs::write(root.join("ünïcødé — файл 文件 🔐.txt"), "unicode").expect("unicode");
    fs::create_dir(root.join("日本語")).expect("dir");
    fs::write(root.join("日本語/メモ.md"), "メモ").expect("file");
    let long = "l".repeat(120);
    fs::write(root.join("a/b").join(&long), "a name longer than 100 bytes").expect("long");
    fs::write(root.join("secret.txt"), "0600").expect("file");
    fs::set_permissions(root.join("secret.txt"), fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(root.join("tool.sh"), "#!/bin/sh\necho hi\n").expect("file");
    fs::set_permissions(root.join("tool.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(root.join("a/read-only"), "r").expect("file");
    fs::set_permissions(root.join("a/read-only"), fs::Permissions::from_mode(0o444))
        .expect("chmod");
    fs::set_permissions(root.join("a/b/c"), fs::Permissions::from_mode(0o700)).expect("chmod");
    symlink("a/large.bin", root.join("relative link")).expect("symlink");
    symlink("/etc/hostname", root.join("absolute link")).expect("symlink");
    symlink("does/not/exist", root.join("a/dangling link")).expect("symlink");
    symlink("../日本語", root.join("a/dir link")).expect("symlink");
    // Distinct, old modification times (set last: creating entries changes a folder's mtime).
    let mut t = 1_500_000_000;
    for rel in [
        "a/large.bin",
        "empty file",
        "secret.txt",
        "a/b/c/d",
        "a/b/c",
        "empty dir",
        "a",
    ] {
        t += 86_400;
        filetime::set_file_mtime(root.join(rel), FileTime::from_unix_time(t, 0)).expect("mtime");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    File {
        mode: u32,
        mtime: i64,
        content: Vec<u8>,
    },
    Dir {
        mode: u32,
        mtime: i64,
    },
    Link {
        target: PathBuf,
    },
}

/// Every entry under `root` (not following symlinks), by relative path, with what must survive.
fn snapshot_of(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(root.join(&rel)).expect("read dir") {
            let entry = entry.expect("entry");
            let rel = rel.join(entry.file_name());
            let meta = fs::symlink_metadata(entry.path()).expect("lstat");
            let node = if meta.file_type().is_symlink() {
                Node::Link {
                    target: fs::read_link(entry.path()).expect("readlink"),
                }
            } else if meta.is_dir() {
                stack.push(rel.clone());
                Node::Dir {
                    mode: meta.mode() & 0o777,
                    mtime: meta.mtime(),
                }
            } else {
                Node::File {
                    mode: meta.mode() & 0o777,
                    mtime: meta.mtime(),
                    content: fs::read(entry.path()).expect("read"),
                }
            };
            out.insert(rel, node);
        }
    }
    out
}

/// The names in a folder (to show nothing was left behind).
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn round_trip(compression: &[&str]) {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let id = world.backup(&src, compression);
    let out = world.path("restored/here");
    world.restore(&id, &out, &[]).assert_code(0);
    let (before, after) = (snapshot_of(&src), snapshot_of(&out));
    assert_eq!(before.len(), after.len(), "entry count");
    for (path, node) in &before {
        assert_eq!(after.get(path), Some(node), "{}", path.display());
    }
    let (src_meta, out_meta) = (
        fs::metadata(&src).expect("src"),
        fs::metadata(&out).expect("out"),
    );
    assert_eq!(
        src_meta.mode() & 0o777,
        out_meta.mode() & 0o777,
        "root mode"
    );
    assert_eq!(src_meta.mtime(), out_meta.mtime(), "root mtime");
    // Nothing but the restored folder was left next to it.
    assert_eq!(names_in(&world.path("restored")), ["here"]);
}

#[test]
fn round_trip_keeps_every_awkward_entry_byte_for_byte_with_zstd() {
    round_trip(&[]);
}

#[test]
fn round_trip_keeps_every_awkward_entry_byte_for_byte_without_compression() {
    round_trip(&["--compression", "none"]);
}

#[test]
fn verify_and_list_show_a_good_snapshot() {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let id = world.backup(&src, &[]);
    let repo = world.repo();
    let repo = repo.to_str().expect("utf-8");
    let verify = world.run(&["verify", &id, "--repo", repo]);
    verify.assert_code(0);
    assert!(verify.stdout().contains("OK"), "{}", verify.stdout());
    let list = world.run(&["list", "--repo", repo]);
    list.assert_code(0);
    assert!(list.stdout().contains(&id), "{}", list.stdout());
    assert!(
        list.stdout().contains(src.to_str().expect("utf-8")),
        "{}",
        list.stdout()
    );
    // Nothing in the store names a file or shows its content.
    // (Needles of 9 or more bytes: a 4-byte one turns up in 5 MiB of ciphertext by chance
    // about once in 800 runs.)
    let src_path = src.to_str().expect("utf-8").as_bytes().to_vec();
    for entry in fs::read_dir(world.repo().join("snapshots")).expect("snapshots") {
        let bytes = fs::read(entry.expect("entry").path()).expect("object");
        for needle in [&b"compressible"[..], b"chat line", b"secret.txt", &src_path] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "store sees {needle:?}"
            );
        }
    }
}

/// Restoring a changed or shortened data object fails with exit 5, and leaves nothing behind:
/// neither the target nor a temporary folder beside it.
fn assert_restore_fails_cleanly(world: &World, id: &str, expected: &str) {
    let parent = world.path("restore-parent");
    fs::create_dir_all(&parent).expect("parent");
    let absent = parent.join("absent");
    let run = world.restore(id, &absent, &[]);
    run.assert_code(5);
    assert!(run.stderr().contains(expected), "{}", run.stderr());
    assert!(
        run.stderr().contains("nothing was restored"),
        "{}",
        run.stderr()
    );
    assert!(!absent.exists(), "the target was created");
    assert_eq!(names_in(&parent), Vec::<String>::new(), "left behind");

    let empty = parent.join("empty");
    fs::create_dir(&empty).expect("empty target");
    world.restore(id, &empty, &[]).assert_code(5);
    assert_eq!(
        names_in(&empty),
        Vec::<String>::new(),
        "written into the target"
    );
    assert_eq!(names_in(&parent), ["empty"], "left behind");
    fs::remove_dir(&empty).expect("cleanup");

    let repo = world.repo();
    let verify = world.run(&["verify", id, "--repo", repo.to_str().expect("utf-8")]);
    verify.assert_code(5);
}

#[test]
fn a_flipped_byte_fails_restore_and_leaves_nothing() {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let id = world.backup(&src, &["--compression", "none"]);
    let data = world.data_object(&id);
    let original = fs::read(&data).expect("data");
    // Near the end: most files were already extracted (into the temporary folder) when the
    // failing segment is reached. Then in the middle, and in the first segment.
    for offset in [original.len() - 100, original.len() / 2, 200] {
        let mut tampered = original.clone();
        tampered[offset] ^= 0x01;
        fs::write(&data, &tampered).expect("tamper");
        assert_restore_fails_cleanly(&world, &id, "failed authentication");
    }
    // Put back, it restores again.
    fs::write(&data, &original).expect("restore original");
    world.restore(&id, &world.path("good"), &[]).assert_code(0);
}

#[test]
fn a_truncated_snapshot_fails_restore_and_leaves_nothing() {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let id = world.backup(&src, &[]);
    let data = world.data_object(&id);
    let original = fs::read(&data).expect("data");
    // Mid-segment, at a segment boundary (64 KiB + 16-byte tag after the 80-byte header), and
    // extended by one byte.
    let boundary = 80 + 2 * (65536 + 16);
    for cut in [original.len() - 1, boundary, original.len() / 3] {
        fs::write(&data, &original[..cut]).expect("truncate");
        assert_restore_fails_cleanly(&world, &id, "truncated");
    }
    let mut longer = original.clone();
    longer.push(0);
    fs::write(&data, &longer).expect("extend");
    assert_restore_fails_cleanly(&world, &id, "extended");
}

#[test]
fn a_data_object_swapped_between_snapshots_is_refused() {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let first = world.backup(&src, &[]);
    let second = world.backup(&src, &[]);
    fs::copy(world.data_object(&first), world.data_object(&second)).expect("swap");
    assert_restore_fails_cleanly(&world, &second, "not the one its manifest was made for");
}

#[test]
fn a_changed_manifest_is_reported_by_list() {
    let world = World::new();
    let src = world.path("src");
    fs::create_dir(&src).expect("src");
    world.init();
    let id = world.backup(&src, &[]);
    let manifest = world.repo().join(format!("snapshots/{id}.manifest"));
    let mut bytes = fs::read(&manifest).expect("manifest");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    fs::write(&manifest, bytes).expect("tamper");
    let repo = world.repo();
    let list = world.run(&["list", "--repo", repo.to_str().expect("utf-8")]);
    list.assert_code(5);
    assert!(list.stdout().contains("DAMAGED"), "{}", list.stdout());
}

#[test]
fn a_wrong_key_is_refused_before_anything_is_read_or_written() {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let id = world.backup(&src, &[]);
    let objects_before = names_in(&world.repo().join("snapshots"));

    let other_key = world.path("other.key");
    let other = other_key.to_str().expect("utf-8");
    world.run(&["--key-file", other, "init"]).assert_code(0);
    let repo = world.repo();
    let repo = repo.to_str().expect("utf-8");
    let target = world.path("target");
    let run = world.run(&[
        "--key-file",
        other,
        "restore",
        &id,
        "--repo",
        repo,
        "--to",
        target.to_str().expect("utf-8"),
    ]);
    run.assert_code(4);
    assert!(
        run.stderr().contains("does not belong to the repository"),
        "{}",
        run.stderr()
    );
    assert!(!target.exists());

    let run = world.run(&[
        "--key-file",
        other,
        "backup",
        src.to_str().expect("utf-8"),
        "--repo",
        repo,
    ]);
    run.assert_code(4);
    assert_eq!(
        names_in(&world.repo().join("snapshots")),
        objects_before,
        "the store changed"
    );
    world
        .run(&["--key-file", other, "list", "--repo", repo])
        .assert_code(4);
    world
        .run(&["--key-file", other, "verify", &id, "--repo", repo])
        .assert_code(4);
}

#[test]
fn restores_with_the_recovery_key_alone_and_hints_at_a_typo() {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let id = world.backup(&src, &[]);
    let shown = world.run(&["key", "show"]);
    shown.assert_code(0);
    let recovery: String = shown
        .stdout()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(recovery.replace(' ', "").len(), 64, "{recovery}");
    // The device is lost: no key file any more.
    fs::remove_file(world.key_file()).expect("lose the key file");
    let repo = world.repo();
    let repo = repo.to_str().expect("utf-8");
    let target = world.path("new-device");
    let to = target.to_str().expect("utf-8");

    let run = world.run(&["restore", &id, "--repo", repo, "--to", to]);
    run.assert_code(4);
    assert!(
        run.stderr().contains("--recovery-key-file"),
        "{}",
        run.stderr()
    );

    // Character 23 is in group 6: "1234 5678 9012 3456 7890 12[3]4".
    let mut chars: Vec<char> = recovery.replace(' ', "").chars().collect();
    chars[22] = if chars[22] == 'X' { 'Y' } else { 'X' };
    let mistyped: String = chars.into_iter().collect();
    let typo_file = world.path("typo.txt");
    fs::write(&typo_file, &mistyped).expect("typo file");
    let run = world.run(&[
        "restore",
        &id,
        "--repo",
        repo,
        "--to",
        to,
        "--recovery-key-file",
        typo_file.to_str().expect("utf-8"),
    ]);
    run.assert_code(4);
    assert!(
        run.stderr().contains("check character 23 (group 6)"),
        "{}",
        run.stderr()
    );
    assert!(!target.exists());

    // Typed in lower case with odd spacing, on standard input.
    let typed = format!("  {}\n", recovery.to_lowercase().replace(' ', "  "));
    let run = world.run_with_stdin(
        &[
            "restore",
            &id,
            "--repo",
            repo,
            "--to",
            to,
            "--recovery-key-file",
            "-",
        ],
        Some(&typed),
    );
    run.assert_code(0);
    assert_eq!(snapshot_of(&src), snapshot_of(&target));

    // The new device imports it and backs up into the same repository.
    world
        .run_with_stdin(&["key", "import"], Some(&typed))
        .assert_code(0);
    let mode = fs::metadata(world.key_file()).expect("key file").mode() & 0o777;
    assert_eq!(mode, 0o600);
    world.backup(&src, &[]);
}

#[test]
fn init_makes_a_private_key_file_and_never_replaces_it() {
    let world = World::new();
    let stdout = world.init();
    let meta = fs::metadata(world.key_file()).expect("key file");
    assert_eq!(meta.mode() & 0o777, 0o600);
    let dir_mode = fs::metadata(world.key_file().parent().expect("dir"))
        .expect("dir")
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    // Four lines of four groups of four characters.
    let groups: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("    "))
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(groups.len(), 16, "{stdout}");
    assert!(groups.iter().all(|g| g.len() == 4));
    let before = fs::read(world.key_file()).expect("key");
    let again = world.run(&["init"]);
    again.assert_code(1);
    assert!(
        again.stderr().contains("never replaced"),
        "{}",
        again.stderr()
    );
    assert_eq!(fs::read(world.key_file()).expect("key"), before);
    // Two inits make two different keys.
    let other = world.path("other.key");
    world
        .run(&["--key-file", other.to_str().expect("utf-8"), "init"])
        .assert_code(0);
    assert_ne!(fs::read(&other).expect("other"), before);
}

#[test]
fn the_password_path_without_a_vault_says_what_is_missing_and_makes_no_key() {
    let world = World::new();
    let run = world.run(&["init", "--password"]);
    run.assert_code(1);
    assert!(run.stderr().contains("--vault"), "{}", run.stderr());
    assert!(
        !world.key_file().exists(),
        "init --password made a key anyway"
    );
    world.run(&["key", "recover"]).assert_code(1);
    world.run(&["vault", "status"]).assert_code(1);
    let repo = world.repo();
    let repo = repo.to_str().expect("utf-8");
    // No repository there: refused before the vault would be asked.
    let run = world.run(&[
        "restore",
        "latest",
        "--repo",
        repo,
        "--to",
        "x",
        "--password",
    ]);
    run.assert_code(1);
    assert!(
        run.stderr().contains("no e2ee-backup repository"),
        "{}",
        run.stderr()
    );
}

#[test]
fn refuses_a_non_empty_target_without_force_and_moves_it_aside_with_force() {
    let world = World::new();
    let src = world.path("src");
    awkward_tree(&src);
    world.init();
    let id = world.backup(&src, &[]);
    let target = world.path("target");
    fs::create_dir(&target).expect("target");
    fs::write(target.join("mine.txt"), "keep me").expect("file");
    let run = world.restore(&id, &target, &[]);
    run.assert_code(1);
    assert!(run.stderr().contains("--force"), "{}", run.stderr());
    assert_eq!(names_in(&target), ["mine.txt"]);

    let run = world.restore("latest", &target, &["--force"]);
    run.assert_code(0);
    assert_eq!(snapshot_of(&src), snapshot_of(&target));
    let aside: Vec<String> = names_in(world.dir.path())
        .into_iter()
        .filter(|n| n.starts_with("target.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        fs::read_to_string(world.path(&aside[0]).join("mine.txt")).expect("kept"),
        "keep me"
    );
}

#[test]
fn unreadable_entries_are_left_out_with_exit_code_3() {
    let world = World::new();
    let src = world.path("src");
    fs::create_dir(&src).expect("src");
    fs::write(src.join("ok.txt"), "ok").expect("file");
    // A FIFO is neither a file, a folder nor a link: it is left out, with a warning.
    let made = Command::new("mkfifo").arg(src.join("pipe")).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable; skipping");
        return;
    }
    world.init();
    let repo = world.repo();
    let run = world.run(&[
        "backup",
        src.to_str().expect("utf-8"),
        "--repo",
        repo.to_str().expect("utf-8"),
    ]);
    run.assert_code(3);
    assert!(run.stderr().contains("left out"), "{}", run.stderr());
    let id = run.stdout().trim().to_owned();
    let out = world.path("out");
    world.restore(&id, &out, &[]).assert_code(0);
    assert_eq!(names_in(&out), ["ok.txt"]);
}

#[test]
fn a_repository_inside_the_backed_up_folder_is_left_out() {
    let world = World::new();
    let src = world.path("src");
    fs::create_dir_all(src.join("docs")).expect("src");
    fs::write(src.join("docs/a.txt"), "a").expect("file");
    world.init();
    let repo = src.join("backups");
    let args = [
        "backup",
        src.to_str().expect("utf-8"),
        "--repo",
        repo.to_str().expect("utf-8"),
    ];
    let first = world.run(&args);
    first.assert_code(0);
    let second = world.run(&args);
    second.assert_code(0);
    assert!(second.stderr().contains("left out"), "{}", second.stderr());
    let id = second.stdout().trim().to_owned();
    let out = world.path("out");
    let run = world.run(&[
        "restore",
        &id,
        "--repo",
        repo.to_str().expect("utf-8"),
        "--to",
        out.to_str().expect("utf-8"),
    ]);
    run.assert_code(0);
    assert_eq!(names_in(&out), ["docs"]);
}

#[test]
fn every_command_has_help() {
    let world = World::new();
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["backup", "--help"],
        &["restore", "--help"],
        &["list", "--help"],
        &["verify", "--help"],
        &["key", "--help"],
        &["key", "show", "--help"],
        &["key", "import", "--help"],
        &["key", "recover", "--help"],
        &["vault", "--help"],
        &["vault", "register", "--help"],
        &["vault", "change-password", "--help"],
        &["vault", "delete", "--help"],
        &["vault", "status", "--help"],
    ] {
        let run = world.run(args);
        run.assert_code(0);
        assert!(
            run.stdout().contains("Usage: e2ee-backup"),
            "{args:?}: {}",
            run.stdout()
        );
        let group = args[0] == "key" || args[0] == "vault";
        if args.len() > 1 && !group || args.len() > 2 {
            assert!(
                run.stdout().contains("Exit codes"),
                "{args:?}: {}",
                run.stdout()
            );
        }
    }
    let run = world.run(&["restore"]);
    run.assert_code(2);
    world.run(&["--version"]).assert_code(0);
}

/// Sends SIGINT to a running command once `ready` holds, and returns its result.
fn interrupt_when(mut child: std::process::Child, ready: impl Fn() -> bool) -> Option<Output> {
    let started = std::time::Instant::now();
    while !ready() {
        if child.try_wait().expect("try_wait").is_some() || started.elapsed().as_secs() > 60 {
            // Finished before it could be interrupted: the machine was too fast for the test.
            let _ = child.wait();
            eprintln!("the command finished before it could be interrupted; nothing checked");
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    Some(child.wait_with_output().expect("wait"))
}

fn spawn(world: &World, args: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .args(args)
        .env("XDG_CONFIG_HOME", world.path("config"))
        .env_remove("E2EE_BACKUP_KEY_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// A sparse file of 2 GiB: quick to make, long enough to back up that a signal lands mid-way.
fn huge_sparse_tree(root: &Path) {
    fs::create_dir_all(root).expect("src");
    fs::write(root.join("before.txt"), "first").expect("file");
    let file = fs::File::create(root.join("sparse.bin")).expect("sparse");
    file.set_len(2 << 30).expect("set_len");
}

#[test]
fn an_interrupted_backup_leaves_no_snapshot_and_no_temporary_file() {
    let world = World::new();
    let src = world.path("src");
    huge_sparse_tree(&src);
    world.init();
    let repo = world.repo();
    let snapshots = repo.join("snapshots");
    let child = spawn(
        &world,
        &[
            "backup",
            src.to_str().expect("utf-8"),
            "--repo",
            repo.to_str().expect("utf-8"),
            "--compression",
            "none",
        ],
    );
    let writing = || fs::read_dir(&snapshots).is_ok_and(|mut d| d.next().is_some());
    let Some(output) = interrupt_when(child, writing) else {
        return;
    };
    let run = Run(output);
    run.assert_code(130);
    assert!(run.stderr().contains("interrupted"), "{}", run.stderr());
    assert_eq!(
        names_in(&snapshots),
        Vec::<String>::new(),
        "a half snapshot is visible"
    );
    assert_eq!(names_in(&repo), ["config", "snapshots"]);
}

#[test]
fn an_interrupted_restore_leaves_nothing() {
    let world = World::new();
    let src = world.path("src");
    fs::create_dir_all(&src).expect("src");
    // 1 GiB of zeros: compressed to almost nothing, slow enough to write out to interrupt it.
    fs::File::create(src.join("zeros.bin"))
        .and_then(|f| f.set_len(1 << 30))
        .expect("zeros");
    world.init();
    let id = world.backup(&src, &[]);
    let parent = world.path("parent");
    fs::create_dir(&parent).expect("parent");
    let target = parent.join("target");
    let repo = world.repo();
    let child = spawn(
        &world,
        &[
            "restore",
            &id,
            "--repo",
            repo.to_str().expect("utf-8"),
            "--to",
            target.to_str().expect("utf-8"),
        ],
    );
    let extracting = || fs::read_dir(&parent).is_ok_and(|mut d| d.next().is_some());
    let Some(output) = interrupt_when(child, extracting) else {
        return;
    };
    let run = Run(output);
    run.assert_code(130);
    assert_eq!(names_in(&parent), Vec::<String>::new(), "left behind");
}
