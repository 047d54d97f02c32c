//! The password path of the `e2ee-backup` binary end to end, against a real local fleet: five
//! replicas and the relay of the node crate, run in this test process on loopback ports (TLS
//! with the pinned certificate, account tokens, HPKE to the fleet, OPAQUE, consensus), each
//! test with its own account. What it shows: a folder backed up on one device is restored on
//! a new one with the password alone; wrong passwords give the attempts left and then the lock;
//! change-password and delete do what they say; every setup error comes before an attempt is
//! spent.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::Run;
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup_node::config::{Mode, RelayConfigFile, ReplicaConfig};
use e2ee_backup_node::endpoint::{EndpointSource, Operation, ResumePolicy, VaultEndpoint};
use e2ee_backup_node::{provision, relay_host, replica_host};

const BIN: &str = env!("CARGO_BIN_EXE_e2ee-backup");

/// The shared fleet's folder (provisioned once per test binary; the hosts run until the
/// process exits). Each test runs a user's whole life in seconds: more requests than the
/// default per-account burst (20, one back every 3 s) allows, so its relay allows 500.
fn fleet_dir() -> &'static Path {
    static FLEET: OnceLock<tempfile::TempDir> = OnceLock::new();
    FLEET.get_or_init(|| start_fleet(500, 3_000)).path()
}

/// A fleet whose relay lets an account send a burst of only [`TIGHT_BURST`] requests, one
/// back every second.
fn tight_fleet_dir() -> &'static Path {
    static FLEET: OnceLock<tempfile::TempDir> = OnceLock::new();
    FLEET.get_or_init(|| start_fleet(TIGHT_BURST, 1_000)).path()
}

const TIGHT_BURST: u32 = 2;
/// Long enough for a tight bucket to refill completely.
const TIGHT_REFILL: Duration = Duration::from_millis(2_500);

fn free_port_block(n: u16) -> u16 {
    'search: for _ in 0..50 {
        let base = TcpListener::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .expect("probe port")
            .port();
        if base > 65_000 {
            continue;
        }
        for i in 0..n {
            if TcpListener::bind(("127.0.0.1", base + i)).is_err() {
                continue 'search;
            }
        }
        return base;
    }
    panic!("no block of free loopback ports");
}

fn start_fleet(bucket_capacity: u32, refill_interval_ms: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    provision::provision(dir.path(), "e2ee-backup-cli-test", 1, 5, &names).expect("provision");
    let base = free_port_block(6);
    let (replicas, relay) =
        provision::write_local_configs(dir.path(), base, 5, Mode::Durable, 3_600).expect("configs");
    for path in replicas {
        let config = ReplicaConfig::load(&path).expect("replica config");
        std::thread::spawn(move || {
            e2ee_backup_node::cli::block_on(async move {
                replica_host::run(config, std::future::pending())
                    .await
                    .expect("replica host");
            });
        });
    }
    let mut config = RelayConfigFile::load(&relay).expect("relay config");
    config.bucket_capacity = Some(bucket_capacity);
    config.refill_interval_ms = Some(refill_interval_ms);
    std::thread::spawn(move || {
        e2ee_backup_node::cli::block_on(async move {
            relay_host::run(config, std::future::pending())
                .await
                .expect("relay host");
        });
    });
    wait_until_serving(dir.path());
    dir
}

fn endpoint_of(dir: &Path, account: &str) -> VaultEndpoint {
    let source = EndpointSource {
        dir: Some(dir.to_path_buf()),
        server_name: "localhost".into(),
        account: Some(account.into()),
        ..EndpointSource::default()
    };
    source.resolve().expect("endpoint")
}

/// Waits until a status request through the relay gets the vault's answer.
fn wait_until_serving(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let endpoint = endpoint_of(dir, "readiness-probe");
    while Instant::now() < deadline {
        if let Ok(ClientOutcome::Status { .. }) =
            endpoint.run_one_blocking(Operation::Status, ResumePolicy::NONE)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the local fleet did not start serving within 60 s");
}

/// One user's device: a home folder, a key file location, a repository, an account.
struct Device {
    dir: tempfile::TempDir,
    account: String,
    vault: Option<PathBuf>,
}

impl Device {
    fn new(account: &str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            account: account.to_owned(),
            vault: Some(fleet_dir().to_path_buf()),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn key_file(&self) -> PathBuf {
        self.path("key")
    }

    fn repo(&self) -> String {
        self.path("repo").to_str().expect("utf-8").to_owned()
    }

    /// Runs the binary with this device's key file (unless `args` names one), vault settings and `password` in the environment.
    fn run(&self, args: &[&str], password: Option<&str>) -> Run {
        self.run_env(args, &[("E2EE_BACKUP_PASSWORD", password)])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
        let mut cmd = Command::new(BIN);
        if !args.contains(&"--key-file") {
            cmd.arg("--key-file").arg(self.key_file());
        }
        cmd.args(args)
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("E2EE_BACKUP_ACCOUNT", &self.account)
            .env_remove("E2EE_BACKUP_VAULT")
            .env_remove("E2EE_BACKUP_KEY_FILE")
            .env_remove("E2EE_BACKUP_REPO")
            .env_remove("E2EE_BACKUP_TOKEN")
            .env_remove("E2EE_BACKUP_PASSWORD")
            .env_remove("E2EE_BACKUP_NEW_PASSWORD")
            .stdin(Stdio::null());
        if let Some(vault) = &self.vault {
            cmd.env("E2EE_BACKUP_VAULT", vault);
        }
        for (name, value) in env {
            if let Some(value) = value {
                cmd.env(name, value);
            }
        }
        Run(cmd.output().expect("run e2ee-backup"))
    }

    fn status(&self) -> String {
        let run = self.run(&["vault", "status"], None);
        run.assert_code(0);
        run.stdout()
    }

    /// `init --password --attempts N`, a tree with two files, one backup; the snapshot id.
    fn set_up(&self, password: &str, attempts: u32) -> String {
        let attempts = attempts.to_string();
        let run = self.run(
            &[
                "init",
                "--password",
                "--attempts",
                &attempts,
                "--repo",
                &self.repo(),
            ],
            Some(password),
        );
        run.assert_code(0);
        assert!(
            run.stdout().contains("the vault holds the backup key"),
            "{}",
            run.stdout()
        );
        let data = self.path("data");
        fs::create_dir_all(data.join("sub")).expect("mkdir");
        fs::write(data.join("notes.txt"), "chat history\n").expect("write");
        fs::write(data.join("sub/photo.bin"), vec![7u8; 300_000]).expect("write");
        let run = self.run(
            &[
                "backup",
                data.to_str().expect("utf-8"),
                "--repo",
                &self.repo(),
            ],
            None,
        );
        run.assert_code(0);
        run.stdout().trim().to_owned()
    }

    /// A restore with the password and no key file (as on a new device).
    fn restore_with_password(&self, to: &str, password: &str) -> Run {
        let to = self.path(to);
        self.run(
            &[
                "--key-file",
                self.path("no-such-key").to_str().expect("utf-8"),
                "restore",
                "latest",
                "--repo",
                &self.repo(),
                "--to",
                to.to_str().expect("utf-8"),
                "--password",
            ],
            Some(password),
        )
    }
}

#[test]
fn a_folder_backed_up_under_a_password_is_restored_on_a_new_device_with_the_password_alone() {
    let device = Device::new("alice");
    device.set_up("correct horse", 3);
    assert!(device.status().contains("3 wrong-password attempts left"));

    // A wrong password: the attempts left, and nothing written.
    let run = device.restore_with_password("restored", "wrong horse");
    run.assert_code(6);
    assert!(run.stderr().contains("2 attempts left"), "{}", run.stderr());
    assert!(!device.path("restored").exists());
    assert!(device.status().contains("2 wrong-password attempts left"));

    // The right one restores every byte, and a successful login refills the count.
    device
        .restore_with_password("restored", "correct horse")
        .assert_code(0);
    assert_eq!(
        fs::read(device.path("restored/notes.txt")).expect("restored file"),
        b"chat history\n"
    );
    assert_eq!(
        fs::read(device.path("restored/sub/photo.bin")).expect("restored file"),
        vec![7u8; 300_000]
    );
    assert!(device.status().contains("3 wrong-password attempts left"));

    // `key recover` saves the same key file on a new device; a second run keeps it.
    let new_key = device.path("new-device/key");
    let new_key_arg = new_key.to_str().expect("utf-8");
    let recover = ["--key-file", new_key_arg, "key", "recover"];
    device.run(&recover, Some("correct horse")).assert_code(0);
    assert_eq!(
        fs::read_to_string(&new_key).expect("recovered key file"),
        fs::read_to_string(device.key_file()).expect("key file")
    );
    let again = device.run(&recover, Some("correct horse"));
    again.assert_code(0);
    assert!(
        again.stderr().contains("already holds it"),
        "{}",
        again.stderr()
    );
}

#[test]
fn wrong_passwords_count_down_to_the_lock_and_then_only_the_recovery_key_restores() {
    let device = Device::new("bob");
    device.set_up("tr0ub4dor&3", 2);
    let first = device.restore_with_password("out", "guess one");
    first.assert_code(6);
    assert!(
        first.stderr().contains("1 attempt left"),
        "{}",
        first.stderr()
    );
    // The last wrong guess says at once that the key is gone.
    let last = device.restore_with_password("out", "guess two");
    last.assert_code(7);
    // The right password no longer helps: the key in the vault is erased.
    let locked = device.restore_with_password("out", "tr0ub4dor&3");
    locked.assert_code(7);
    assert!(locked.stderr().contains("erased"), "{}", locked.stderr());
    assert!(!device.path("out").exists());
    assert!(device.status().contains("locked"));

    // The recovery key (here: the key file) still restores.
    let recovery = device.run(&["key", "show"], None);
    recovery.assert_code(0);
    let recovery_file = device.path("recovery.txt");
    fs::write(&recovery_file, recovery.stdout()).expect("write");
    let to = device.path("out");
    device
        .run(
            &[
                "--key-file",
                device.path("none").to_str().expect("utf-8"),
                "restore",
                "latest",
                "--repo",
                &device.repo(),
                "--to",
                to.to_str().expect("utf-8"),
                "--recovery-key-file",
                recovery_file.to_str().expect("utf-8"),
            ],
            None,
        )
        .assert_code(0);
    assert!(to.join("notes.txt").exists());
}

#[test]
fn change_password_needs_the_current_one_and_delete_removes_the_vault_copy_only() {
    let device = Device::new("carol");
    device.set_up("first password", 5);
    let change = |current: &str, new: &str| {
        device.run_env(
            &["vault", "change-password", "--attempts", "4"],
            &[
                ("E2EE_BACKUP_PASSWORD", Some(current)),
                ("E2EE_BACKUP_NEW_PASSWORD", Some(new)),
            ],
        )
    };
    // A wrong current password changes nothing (and costs one attempt).
    change("not it", "second password").assert_code(6);
    change("first password", "short").assert_code(1);
    change("first password", "second password").assert_code(0);
    assert!(device.status().contains("4 wrong-password attempts left"));
    device
        .restore_with_password("old", "first password")
        .assert_code(6);
    device
        .restore_with_password("new", "second password")
        .assert_code(0);

    // Delete: refused without a terminal or --yes, then counted like a login.
    let refused = device.run(&["vault", "delete"], Some("second password"));
    refused.assert_code(1);
    assert!(refused.stderr().contains("--yes"), "{}", refused.stderr());
    device
        .run(&["vault", "delete", "--yes"], Some("wrong password"))
        .assert_code(6);
    device
        .run(&["vault", "delete", "--yes"], Some("second password"))
        .assert_code(0);
    assert!(device.status().contains("deleted"), "{}", device.status());
    let gone = device.run(
        &[
            "--key-file",
            device.path("k2").to_str().expect("utf-8"),
            "key",
            "recover",
        ],
        Some("second password"),
    );
    gone.assert_code(8);
    // The key file and the backups are untouched.
    let to = device.path("after-delete");
    device
        .run(
            &[
                "restore",
                "latest",
                "--repo",
                &device.repo(),
                "--to",
                to.to_str().expect("utf-8"),
            ],
            None,
        )
        .assert_code(0);
}

#[test]
fn setup_errors_are_reported_before_any_key_is_made_or_attempt_spent() {
    let device = Device::new("dave");
    // No vault named.
    let mut no_vault = Device::new("dave");
    no_vault.vault = None;
    let run = no_vault.run_env(
        &["init", "--password"],
        &[("E2EE_BACKUP_PASSWORD", Some("long enough"))],
    );
    run.assert_code(1);
    assert!(run.stderr().contains("--vault"), "{}", run.stderr());
    assert!(!no_vault.key_file().exists(), "a key was made anyway");
    // A password too short for a new registration: no key file either.
    let run = device.run(&["init", "--password"], Some("abc"));
    run.assert_code(1);
    assert!(run.stderr().contains("at least 6"), "{}", run.stderr());
    assert!(!device.key_file().exists(), "a key was made anyway");
    // An empty password for a recovery.
    device.run(&["key", "recover"], Some("")).assert_code(1);
    // A token for another account than the one named.
    let token = e2ee_backup_node::endpoint::issue(
        &fleet_dir().join(provision::TOKEN_KEY_FILE),
        &e2ee_backup::AccountId::new(b"mallory").expect("id"),
        600,
    )
    .expect("token");
    let token_file = device.path("token");
    fs::create_dir_all(device.path("")).expect("dir");
    fs::write(&token_file, &token).expect("write");
    let run = device.run(
        &[
            "vault",
            "status",
            "--token-file",
            token_file.to_str().expect("utf-8"),
        ],
        None,
    );
    run.assert_code(1);
    assert!(run.stderr().contains("another account"), "{}", run.stderr());
    // A restore from a store without a repository: refused before the vault is asked.
    let run = device.restore_with_password("x", "some password");
    run.assert_code(1);
    assert!(
        run.stderr().contains("no e2ee-backup repository"),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("asking the vault"),
        "{}",
        run.stderr()
    );
    assert!(
        device.status().contains("no key registered"),
        "{}",
        device.status()
    );
}

#[test]
fn an_unreachable_relay_is_try_again_later_and_a_different_key_file_is_never_replaced() {
    let device = Device::new("erin");
    device.set_up("erin's password", 5);
    // The relay's address replaced by a closed port: exit 9 at once.
    let closed = free_port_block(1);
    let addr = SocketAddr::from(([127, 0, 0, 1], closed)).to_string();
    let started = Instant::now();
    let run = device.run(&["vault", "status", "--relay", &addr], None);
    run.assert_code(9);
    assert!(run.stderr().contains("try again later"), "{}", run.stderr());
    assert!(started.elapsed() < Duration::from_secs(20));

    // `key recover` onto another key: refused, the file unchanged.
    let other = device.path("other-key");
    let other_arg = other.to_str().expect("utf-8");
    device
        .run(&["--key-file", other_arg, "init"], None)
        .assert_code(0);
    let before = fs::read(&other).expect("other key");
    let run = device.run(
        &["--key-file", other_arg, "key", "recover"],
        Some("erin's password"),
    );
    run.assert_code(1);
    assert!(run.stderr().contains("never replaced"), "{}", run.stderr());
    assert_eq!(fs::read(&other).expect("other key"), before);
}

/// A wrong-password recovery whose `LoginFinish` the relay rate-limits, then the status
/// after the bucket refilled: the attempts left.
fn rate_limited_wrong_guess(endpoint: &VaultEndpoint, policy: ResumePolicy) -> ClientOutcome {
    // A full bucket: the recovery's Status spends one token, its LoginStart (counted by the
    // vault) the other, and the relay refuses the LoginFinish.
    std::thread::sleep(TIGHT_REFILL);
    let wrong = Operation::Recover {
        password: b"not the password",
    };
    endpoint.run_one_blocking(wrong, policy).expect("link")
}

fn attempts_left(endpoint: &VaultEndpoint) -> u32 {
    std::thread::sleep(TIGHT_REFILL);
    match endpoint.run_one_blocking(Operation::Status, ResumePolicy::NONE) {
        Ok(ClientOutcome::Status {
            attempts_remaining, ..
        }) => attempts_remaining,
        other => panic!("status: {other:?}"),
    }
}

#[test]
fn a_rate_limited_guess_is_resumed_with_the_same_bytes_and_counted_once() {
    let dir = tight_fleet_dir();
    let key = e2ee_backup::BackupKey::from_bytes([9; 32]);
    let register = |endpoint: &VaultEndpoint| {
        let operation = Operation::Register {
            password: b"the password",
            key: &key,
            attempts: 5,
        };
        // The Expose is rate-limited and resumed (default policy).
        let outcome = endpoint.run_one_blocking(operation, ResumePolicy::default());
        assert!(
            matches!(outcome, Ok(ClientOutcome::Registered { .. })),
            "{outcome:?}"
        );
        assert_eq!(attempts_left(endpoint), 5);
    };

    // Resumed: the same LoginFinish once the bucket has a token again; one attempt spent.
    let resumed = endpoint_of(dir, "frank");
    register(&resumed);
    let outcome = rate_limited_wrong_guess(&resumed, ResumePolicy::default());
    assert_eq!(outcome, ClientOutcome::WrongPassword { remaining: 4 });
    assert_eq!(attempts_left(&resumed), 4);

    // Control: without the resume the first run ends Unavailable with its guess counted, and
    // a second run (a new client, as a new process) is counted again.
    let fresh = endpoint_of(dir, "grace");
    register(&fresh);
    let outcome = rate_limited_wrong_guess(&fresh, ResumePolicy::NONE);
    assert_eq!(outcome, ClientOutcome::Unavailable);
    assert_eq!(attempts_left(&fresh), 4, "the unanswered guess was counted");
    let again = Operation::Recover {
        password: b"not the password",
    };
    std::thread::sleep(TIGHT_REFILL);
    let outcome = fresh.run_one_blocking(again, ResumePolicy::default());
    assert!(
        matches!(outcome, Ok(ClientOutcome::WrongPassword { remaining: 3 })),
        "{outcome:?}"
    );
}
