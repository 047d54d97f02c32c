//! `e2ee-vault`: provision a fleet, issue account tokens, start a local fleet, and a small
//! client (README "Run the vault").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};

use clap::{Parser, Subcommand};
use e2ee_backup::internal::client::ClientOutcome;
use e2ee_backup::{AccountId, BackupKey, RecoveryKey};
use e2ee_backup_node::cli;
use e2ee_backup_node::config::Mode;
use e2ee_backup_node::endpoint::{self, EndpointSource, Operation, ResumePolicy};
use e2ee_backup_node::provision::{self, PUBLIC_KEYS_FILE};

/// Administer a vault fleet and talk to it.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a fleet: replica secrets files (0600), the public keys file, token key, TLS cert.
    Provision {
        /// Output folder (must not hold a fleet yet).
        #[arg(long)]
        out: PathBuf,
        /// The fleet's id.
        #[arg(long, default_value = "e2ee-vault-local")]
        fleet_id: String,
        /// Replica groups.
        #[arg(long, default_value_t = 1)]
        groups: u32,
        /// Replicas per group.
        #[arg(long, default_value_t = 5)]
        replicas: u8,
        /// Names (DNS or IP) the relay's certificate is valid for.
        #[arg(long = "tls-name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        tls_names: Vec<String>,
    },
    /// Issue an account token for the relay (printed on stdout).
    Token {
        /// The token key file.
        #[arg(long)]
        key: PathBuf,
        /// The account.
        #[arg(long)]
        account: String,
        /// How long the token is valid.
        #[arg(long, default_value_t = 86_400)]
        valid_for_s: u64,
    },
    /// Provision (once) and start 5 replicas and a relay on loopback; Ctrl-C stops them.
    Local {
        /// The fleet's folder (created and provisioned if empty).
        #[arg(long)]
        dir: PathBuf,
        /// The relay's port; replicas use the next five.
        #[arg(long, default_value_t = 7400)]
        base_port: u16,
        /// Trusted-state mode of the replicas.
        #[arg(long, value_enum, default_value = "durable")]
        mode: ModeArg,
        /// Only write the configuration, do not start anything.
        #[arg(long)]
        configure_only: bool,
        /// Seconds between stats lines.
        #[arg(long, default_value_t = 10)]
        stats_interval_s: u64,
    },
    /// A client of the vault, through the relay.
    Client {
        #[command(flatten)]
        link: LinkArgs,
        #[command(subcommand)]
        op: ClientOp,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Volatile,
    Durable,
}

#[derive(clap::Args)]
struct LinkArgs {
    /// A local fleet's folder (`e2ee-vault local`): relay address, certificate, public keys and
    /// a token issued from its token key. The flags below override it.
    #[arg(long)]
    local: Option<PathBuf>,
    /// The relay's address.
    #[arg(long)]
    relay: Option<SocketAddr>,
    /// The relay's name in its certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// The pinned relay certificate (PEM).
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The fleet public keys file.
    #[arg(long)]
    fleet: Option<PathBuf>,
    /// The account.
    #[arg(long)]
    account: String,
    /// The account token (or E2EE_VAULT_TOKEN).
    #[arg(long, env = "E2EE_VAULT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the password from this file's first line (else E2EE_VAULT_PASSWORD, else a prompt).
    #[arg(long)]
    password_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ClientOp {
    /// Register a new backup key under the password; prints its recovery key.
    Register {
        /// Wrong guesses allowed before the key is erased.
        #[arg(long, default_value_t = 10)]
        attempts: u32,
    },
    /// Recover the backup key with the password; prints its recovery key.
    Recover,
    /// Attempts left, spending none.
    Status,
}

fn main() -> ExitCode {
    cli::init_logging();
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    match args.command {
        Cmd::Provision {
            out,
            fleet_id,
            groups,
            replicas,
            tls_names,
        } => {
            provision::provision(&out, &fleet_id, groups, replicas, &tls_names)
                .map_err(|e| e.to_string())?;
            println!("provisioned fleet {fleet_id:?} in {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Token {
            key,
            account,
            valid_for_s,
        } => {
            let token = issue(&key, &account, valid_for_s)?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Local {
            dir,
            base_port,
            mode,
            configure_only,
            stats_interval_s,
        } => local(&dir, base_port, mode, configure_only, stats_interval_s),
        Cmd::Client { link, op } => client(link, op),
    }
}

fn issue(key: &Path, account: &str, valid_for_s: u64) -> Result<String, String> {
    let account =
        AccountId::new(account.as_bytes()).map_err(|_| "the account id must be 1 to 255 bytes")?;
    endpoint::issue(key, &account, valid_for_s)
}

struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (name, child) in &mut self.0 {
            // Each child by its own id, only the ones this process started.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
            eprintln!("stopped {name}");
        }
    }
}

fn local(
    dir: &Path,
    base_port: u16,
    mode: ModeArg,
    configure_only: bool,
    stats_interval_s: u64,
) -> Result<ExitCode, String> {
    let mode = match mode {
        ModeArg::Volatile => Mode::Volatile,
        ModeArg::Durable => Mode::Durable,
    };
    if !dir.join(PUBLIC_KEYS_FILE).exists() {
        provision::provision(
            dir,
            "e2ee-vault-local",
            1,
            5,
            &["localhost".into(), "127.0.0.1".into()],
        )
        .map_err(|e| e.to_string())?;
        eprintln!("provisioned a new fleet in {}", dir.display());
    }
    let (replicas, relay) =
        provision::write_local_configs(dir, base_port, 5, mode, stats_interval_s)
            .map_err(|e| e.to_string())?;
    if configure_only {
        println!("configuration written in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = |name: &str| exe.with_file_name(name);
    let mut children = Children(Vec::new());
    for (r, config) in replicas.iter().enumerate() {
        let log = std::fs::File::create(dir.join(format!("replica-{r}.log")))
            .map_err(|e| e.to_string())?;
        let child = Command::new(bin("e2ee-vault-replica"))
            .arg("--config")
            .arg(config)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start e2ee-vault-replica: {e}"))?;
        children.0.push((format!("replica {r}"), child));
    }
    let log = std::fs::File::create(dir.join("relay.log")).map_err(|e| e.to_string())?;
    let child = Command::new(bin("e2ee-vault-relay"))
        .arg("--config")
        .arg(&relay)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start e2ee-vault-relay: {e}"))?;
    children.0.push(("relay".into(), child));
    println!(
        "fleet running: relay on 127.0.0.1:{base_port}, replicas on {}..{}; logs in {}",
        base_port.saturating_add(1),
        base_port.saturating_add(5),
        dir.display()
    );
    println!(
        "try: e2ee-vault client --local {} --account alice register",
        dir.display()
    );
    println!("Ctrl-C stops the fleet");
    cli::block_on(cli::shutdown_signal());
    drop(children);
    Ok(ExitCode::SUCCESS)
}

fn client(link: LinkArgs, op: ClientOp) -> Result<ExitCode, String> {
    let source = EndpointSource {
        dir: link.local,
        relay: link.relay,
        server_name: link.server_name,
        cert: link.cert,
        fleet: link.fleet,
        account: Some(link.account),
        token: link.token,
    };
    let endpoint = source.resolve().map_err(|e| e.to_string())?;
    let password = match op {
        ClientOp::Status => None,
        ClientOp::Register { .. } => Some(cli::read_password(link.password_file.as_deref(), true)?),
        ClientOp::Recover => Some(cli::read_password(link.password_file.as_deref(), false)?),
    };
    let pw = password.as_ref().map(|p| p.as_bytes()).unwrap_or_default();
    // A backup key only for a registration: recover and status make none.
    let new_key = match op {
        ClientOp::Register { .. } => Some(BackupKey::generate(&mut e2ee_backup_node::os_rng())),
        ClientOp::Recover | ClientOp::Status => None,
    };
    let operation = match (op, &new_key) {
        (ClientOp::Register { attempts }, Some(key)) => Operation::Register {
            password: pw,
            key,
            attempts,
        },
        (ClientOp::Register { .. }, None) => unreachable!("a registration always has a new key"),
        (ClientOp::Recover, _) => Operation::Recover { password: pw },
        (ClientOp::Status, _) => Operation::Status,
    };
    let outcome = endpoint
        .run_one_blocking(operation, ResumePolicy::NONE)
        .map_err(|e| e.to_string())?;
    println!("outcome: {}", describe(&outcome));
    match &outcome {
        ClientOutcome::Registered { .. } => {
            if let Some(key) = &new_key {
                println!("recovery key: {}", RecoveryKey::from_backup_key(key));
            }
        }
        ClientOutcome::Recovered(key) => {
            println!("recovery key: {}", RecoveryKey::from_backup_key(key));
        }
        _ => {}
    }
    Ok(match outcome {
        ClientOutcome::Registered { .. }
        | ClientOutcome::Recovered(_)
        | ClientOutcome::Status { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(2),
    })
}

/// One machine-readable word (and fields) per outcome.
fn describe(outcome: &ClientOutcome) -> String {
    match outcome {
        ClientOutcome::Registered { generation } => format!("registered generation={generation}"),
        ClientOutcome::Recovered(_) => "recovered".into(),
        ClientOutcome::WrongPassword { remaining } => {
            format!("wrong-password remaining={remaining}")
        }
        ClientOutcome::Locked => "locked".into(),
        ClientOutcome::NoRecord => "no-record".into(),
        ClientOutcome::Deleted => "deleted".into(),
        ClientOutcome::Unavailable => "unavailable".into(),
        ClientOutcome::Status {
            generation,
            state,
            attempts_remaining,
        } => format!(
            "status generation={generation} state={state:?} attempts_remaining={attempts_remaining}"
        ),
    }
}
