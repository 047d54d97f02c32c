//! What the binaries share: logging, the runtime, shutdown signals, passwords.

use std::path::Path;

use zeroize::Zeroizing;

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// Runs `future` on a current-thread tokio runtime (the hosts' CPU work is on their own
/// thread; the runtime only moves frames).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(future),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1)
        }
    }
}

/// A daemon's `main` after its arguments: logging, the configuration at `config` read by
/// `load`, then `run(config, shutdown)` on the runtime until it ends; any error is printed and
/// exits with failure.
pub fn run_daemon<C, LoadError, RunError, Run>(
    config: &Path,
    load: impl FnOnce(&Path) -> Result<C, LoadError>,
    run: impl FnOnce(C, BoxedShutdown) -> Run,
) -> std::process::ExitCode
where
    LoadError: std::fmt::Display,
    RunError: std::fmt::Display,
    Run: std::future::Future<Output = Result<(), RunError>>,
{
    init_logging();
    let config = match load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    block_on(async move {
        match run(config, Box::pin(shutdown_signal())).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

/// The shutdown future [`run_daemon`] hands to a host.
pub type BoxedShutdown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Environment variable a password may come from (never from the command line).
pub const PASSWORD_ENV: &str = "E2EE_VAULT_PASSWORD";

/// The password: from `file` (its first line), else from [`PASSWORD_ENV`], else a prompt on
/// the terminal (twice if `confirm`).
pub fn read_password(file: Option<&Path>, confirm: bool) -> Result<Zeroizing<String>, String> {
    read_password_from(
        &PasswordSource {
            file,
            env: PASSWORD_ENV,
            prompt: "Password",
        },
        confirm,
    )
}

/// Where a password comes from, in order: a file, an environment variable, a prompt.
pub struct PasswordSource<'a> {
    /// A file whose first line is the password; `-` reads the first line of standard input.
    pub file: Option<&'a Path>,
    /// The environment variable consulted when no file is named.
    pub env: &'a str,
    /// The prompt's words (`": "` is added), for example `"Password"` or `"New password"`.
    pub prompt: &'a str,
}

/// The password from `source` (the prompt asks twice if `confirm`). The line's end (`\n` or
/// `\r\n`) is not part of it; every other character is.
pub fn read_password_from(
    source: &PasswordSource<'_>,
    confirm: bool,
) -> Result<Zeroizing<String>, String> {
    if let Some(file) = source.file {
        let text = if file == Path::new("-") {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("reading the password from standard input: {e}"))?;
            line
        } else {
            Zeroizing::new(
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?,
            )
        };
        let line = text.lines().next().unwrap_or_default();
        return Ok(Zeroizing::new(line.to_string()));
    }
    if let Ok(p) = std::env::var(source.env) {
        return Ok(Zeroizing::new(p));
    }
    let prompt = format!("{}: ", source.prompt);
    let first = Zeroizing::new(rpassword::prompt_password(&prompt).map_err(|e| e.to_string())?);
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password(format!("{} again: ", source.prompt))
                .map_err(|e| e.to_string())?,
        );
        if *again != *first {
            return Err("the passwords differ".into());
        }
    }
    Ok(first)
}
