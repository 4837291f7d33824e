//! `esc-csi`: wiring only. The work happens in the library crates.

mod budget_args;
mod check;
mod class_file;
mod cli;
mod esc_server;
mod local_server;
mod logging;
mod mount;
mod options;
mod serve;
mod signals;
mod version_key;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use cli::{Cli, Command};

/// How long the runtime's shutdown waits for blocking work still running (a class being
/// parsed, a reply being decoded) once a command has returned: they must not hold the process
/// past its deadline.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let code = runtime.block_on(run());
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    let level = cli.log_level.as_deref().unwrap_or(match cli.command {
        Command::Serve(_) => "info",
        // The provider's own "mount failed" line would repeat the error printed below, and
        // its class warnings those `mount` prints as `check` does.
        // rustls's verifier logs each refused certificate, which the error below names too.
        Command::Mount(_) => {
            "warn,esc_csi_provider::grpc=error,esc_csi_provider::class=error,\
             rustls_platform_verifier=off"
        }
        Command::Check(_) => "warn",
        Command::EscServer(_) => "info",
    });
    if let Err(error) = logging::init(level, cli.log_format) {
        return match error {
            // A bad --log-level is a command-line error, like any other bad flag.
            logging::InitError::Level(message) => usage(&message),
            logging::InitError::Setup(message) => fail(&message),
        };
    }
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await.map_err(|e| e.to_string()),
        Command::Mount(args) => mount::run(args).await.map_err(|e| e.to_string()),
        Command::Check(args) => check::run(&args).map_err(|e| e.to_string()),
        Command::EscServer(args) => esc_server::run(args).await.map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

#[allow(clippy::print_stderr)]
fn fail(message: &str) -> ExitCode {
    eprintln!("esc-csi: error: {message}");
    ExitCode::FAILURE
}

/// Exits 2, as clap does for the command-line errors it finds.
#[allow(clippy::print_stderr)]
fn usage(message: &str) -> ExitCode {
    eprintln!("esc-csi: error: {message}");
    ExitCode::from(2)
}
