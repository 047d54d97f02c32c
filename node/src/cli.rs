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
    if let Some(file) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?,
        );
        let line = text.lines().next().unwrap_or_default();
        return Ok(Zeroizing::new(line.to_string()));
    }
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(Zeroizing::new(p));
    }
    let first =
        Zeroizing::new(rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?);
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("Password again: ").map_err(|e| e.to_string())?,
        );
        if *again != *first {
            return Err("the passwords differ".into());
        }
    }
    Ok(first)
}
