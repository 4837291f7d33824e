//! `esc-csi`: wiring only. The work happens in the library crates.

mod cli;
mod esc_server;
mod logging;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = logging::init(&cli.log_level, cli.log_format) {
        return fail(&message);
    }
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Serve(args) => serve::run(args).await.map_err(Into::into),
        Command::EscServer(args) => esc_server::run(args).await.map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string()),
    }
}

#[allow(clippy::print_stderr)]
fn fail(message: &str) -> ExitCode {
    eprintln!("esc-csi: error: {message}");
    ExitCode::FAILURE
}
