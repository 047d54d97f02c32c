//! The README walk-through through the `e2ee-vault` binary itself: register, recover with the
//! same recovery key, a wrong password (exit status 2 and the remaining count), status, and a
//! token for another account refused. Bounded in time; children are killed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::time::Instant;

use support::*;

const ADMIN_BIN: &str = env!("CARGO_BIN_EXE_e2ee-vault");

fn vault(args: &[&str], password: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(ADMIN_BIN);
    cmd.args(args)
        .env_remove("E2EE_VAULT_PASSWORD")
        .env_remove("E2EE_VAULT_TOKEN");
    if let Some(p) = password {
        cmd.env("E2EE_VAULT_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    (out.status.code().unwrap_or(-1), stdout)
}

fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {stdout:?}"))
}

#[test]
fn the_readme_walkthrough_works_through_the_binary() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fleet = Fleet::new(tmp.path());
    for r in 0..5 {
        assert!(fleet.wait_voting(r, started + TEST_BUDGET));
    }
    let dir = tmp.path().to_str().unwrap();
    let pw_file = tmp.path().join("pw");
    std::fs::write(&pw_file, "horse battery\n").unwrap();
    let pw_path = pw_file.to_str().unwrap();

    let (code, out) = vault(
        &[
            "client",
            "--local",
            dir,
            "--account",
            "alice",
            "--password-file",
            pw_path,
            "register",
            "--attempts",
            "3",
        ],
        None,
    );
    assert_eq!(
        (code, line(&out, "outcome: ")),
        (0, "registered generation=1"),
        "{out}"
    );
    let registered_key = line(&out, "recovery key: ").to_string();

    // The password file's first line, without its newline, is the password.
    let (code, out) = vault(
        &["client", "--local", dir, "--account", "alice", "recover"],
        Some("horse battery"),
    );
    assert_eq!((code, line(&out, "outcome: ")), (0, "recovered"), "{out}");
    assert_eq!(line(&out, "recovery key: "), registered_key);

    let (code, out) = vault(
        &["client", "--local", dir, "--account", "alice", "recover"],
        Some("wrong"),
    );
    assert_eq!(
        (code, line(&out, "outcome: ")),
        (2, "wrong-password remaining=2"),
        "{out}"
    );

    let (code, out) = vault(
        &["client", "--local", dir, "--account", "alice", "status"],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        line(&out, "outcome: "),
        "status generation=1 state=Active attempts_remaining=2"
    );

    // A token from another key is refused before anything reaches the vault.
    let other = tmp.path().join("other.key");
    std::fs::write(&other, [5u8; 32]).unwrap();
    let (code, token) = vault(
        &[
            "token",
            "--key",
            other.to_str().unwrap(),
            "--account",
            "alice",
        ],
        None,
    );
    assert_eq!(code, 0);
    let (code, out) = vault(
        &[
            "client",
            "--local",
            dir,
            "--token",
            token.trim(),
            "--account",
            "alice",
            "status",
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty(), "{out}");
}
