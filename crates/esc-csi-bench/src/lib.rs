//! `esc-csi-bench`: load for the provider, measured the way the driver sees it. Mount calls go
//! over the provider's unix socket (one HTTP/2 connection, as the driver's) against an ESC
//! stand-in with a chosen latency and environment size, and each scenario reports
//! throughput, latency percentiles, the ESC calls made, the daemon's memory and errors.
//!
//! The library holds everything but the command line, so tests can run scenarios against an
//! in-process provider (see [`launch::Launcher`]).

pub mod launch;
pub mod load;
pub mod report;
pub mod run;
pub mod scenario;
pub mod workload;

/// Why a run could not be done (a mount that fails is counted, not an error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

impl BenchError {
    pub fn new(what: impl std::fmt::Display) -> Self {
        BenchError(what.to_string())
    }
}
