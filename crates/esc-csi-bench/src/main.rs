//! `esc-csi-bench`: load for the esc-csi provider. See docs/performance.md.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use esc_csi_bench::BenchError;
use esc_csi_bench::launch::{ChildLauncher, ExistingLauncher, Launcher};
use esc_csi_bench::report::{self, Report};
use esc_csi_bench::run::{RunOptions, run};
use esc_csi_bench::scenario::{Auth, Class, Overrides, Scenario};
use esc_gotext::parse_duration;

/// Load tool for the esc-csi provider: Mount calls over its unix socket against an ESC
/// stand-in, with throughput, latency, ESC calls, memory and errors.
#[derive(Debug, Parser)]
#[command(name = "esc-csi-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario (or all of them) and print the results.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Which scenario; its preset sets the parameters and the flags below override them.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,

    /// Mounts in flight at once.
    #[arg(long)]
    concurrency: Option<usize>,

    /// Run each load phase for this long (e.g. 10s).
    #[arg(long, value_parser = parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,

    /// Run each load phase for this many mounts (startup: this many starts).
    #[arg(long)]
    count: Option<u64>,

    /// Offer this many mounts per second (open loop, at most --concurrency in flight) instead
    /// of sending each worker's next mount as soon as the last is answered.
    #[arg(long)]
    rate: Option<f64>,

    /// Latency the ESC stand-in adds to every call (e.g. 20ms).
    #[arg(long, value_parser = parse_duration)]
    esc_latency: Option<Duration>,

    /// Items (files) in the class.
    #[arg(long)]
    items: Option<usize>,

    /// The class's item kinds: only fileName + secretKey items, or those plus a dotenv, a
    /// shell, a folder, a `files` and a template item.
    #[arg(long, value_enum)]
    class: Option<Class>,

    /// Approximate size of the environment's JSON in bytes.
    #[arg(long)]
    env_bytes: Option<usize>,

    /// The daemon's --cache-ttl (0s: no cache).
    #[arg(long, value_parser = parse_duration)]
    cache_ttl: Option<Duration>,

    /// Distinct pods the mounts cycle through.
    #[arg(long)]
    pods: Option<usize>,

    /// The esc-csi binary to start [default: esc-csi next to this program].
    #[arg(long, value_name = "PATH")]
    esc_csi: Option<PathBuf>,

    /// The daemon's --log-level (its logs are discarded).
    #[arg(long, default_value = "info")]
    daemon_log_level: String,

    /// Where the daemon gets the token: the request's nodePublishSecretRef, or the class's
    /// authSecretName read through a Kubernetes API stand-in.
    #[arg(long, value_enum)]
    auth: Option<Auth>,

    /// Pin the daemon to these CPUs (taskset -c LIST, e.g. 0 or 0-1).
    #[arg(long, value_name = "LIST")]
    daemon_cpus: Option<String>,

    /// Run the daemon under this command (split at spaces), e.g. a profiler:
    /// "valgrind --tool=callgrind". The daemon is stopped with SIGTERM, so it can write its
    /// output.
    #[arg(long, value_name = "COMMAND", conflicts_with = "socket")]
    daemon_wrapper: Option<String>,

    /// Load a provider already serving on this socket instead of starting one (its own
    /// settings apply: --cache-ttl is not).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// With --socket: the provider's process id, to report its memory.
    #[arg(long, requires = "socket")]
    pid: Option<u32>,

    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,

    /// Print the results as JSON instead of tables.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let Cli {
        command: Command::Run(args),
    } = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&BenchError::new(e)),
    };
    if args.socket.is_some() && args.auth == Some(Auth::AuthSecret) {
        return fail(&BenchError::new(
            "--auth auth-secret needs a daemon the bench starts (it points the daemon at its \
             Kubernetes stand-in), not --socket",
        ));
    }
    let result = match (&args.socket, launcher(&args)) {
        (Some(socket), _) => runtime.block_on(run_all(
            &args,
            &mut ExistingLauncher {
                socket: socket.clone(),
                pid: args.pid,
            },
        )),
        (None, Ok(mut child)) => runtime.block_on(run_all(&args, &mut child)),
        (None, Err(e)) => Err(e),
    };
    match result {
        Ok(all_met) if all_met => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => fail(&e),
    }
}

fn fail(error: &BenchError) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "esc-csi-bench: {error}");
    ExitCode::from(2)
}

fn launcher(args: &RunArgs) -> Result<ChildLauncher, BenchError> {
    let binary = match &args.esc_csi {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(BenchError::new)?
            .with_file_name("esc-csi"),
    };
    if !binary.exists() {
        return Err(BenchError::new(format!(
            "{} does not exist: build it (cargo build --release -p esc-csi) or pass --esc-csi",
            binary.display()
        )));
    }
    let mut wrapper: Vec<String> = Vec::new();
    if let Some(cpus) = &args.daemon_cpus {
        wrapper.extend(["taskset".into(), "-c".into(), cpus.clone()]);
    }
    if let Some(command) = &args.daemon_wrapper {
        wrapper.extend(command.split_whitespace().map(str::to_owned));
    }
    Ok(ChildLauncher {
        binary,
        log_level: args.daemon_log_level.clone(),
        wrapper,
    })
}

/// Runs the scenarios, prints results and checks; true when every target was met.
async fn run_all<L: Launcher>(args: &RunArgs, launcher: &mut L) -> Result<bool, BenchError> {
    let overrides = Overrides {
        concurrency: args.concurrency,
        duration: args.duration,
        count: args.count,
        items: args.items,
        env_bytes: args.env_bytes,
        esc_latency: args.esc_latency,
        cache_ttl: args.cache_ttl,
        pods: args.pods,
        rate: args.rate,
        auth: args.auth,
        class: args.class,
    };
    let scenarios = match args.scenario {
        Scenario::All => Scenario::EVERY.to_vec(),
        one => vec![one],
    };
    let options = RunOptions { quiet: args.quiet };
    let mut reports: Vec<Report> = Vec::new();
    for scenario in scenarios {
        let mut params = scenario.preset().with(&overrides);
        if scenario == Scenario::Startup {
            params.starts = args.count.map_or(params.starts, |n| n as usize);
        }
        reports.push(run(scenario, &params, launcher, &options).await?);
    }
    let checks: Vec<_> = reports.iter().flat_map(report::checks).collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::json!({"reports": reports, "checks": checks});
        let _ = writeln!(out, "{json:#}");
    } else {
        let _ = writeln!(out, "{}", report::results_table(&reports));
        let _ = write!(out, "{}", report::checks_table(&checks));
    }
    Ok(checks.iter().all(|c| c.pass))
}
