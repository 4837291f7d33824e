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

use std::time::Duration;

/// Why a run could not be done (a mount that fails is counted, not an error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(pub String);

impl BenchError {
    pub fn new(what: impl std::fmt::Display) -> Self {
        BenchError(what.to_string())
    }
}

/// `500ms`, `30s`, `2m`, `1h`, `0s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s, m or h"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        _ => Err(format!("{text:?} has unit {unit:?}; use ms, s, m or h")),
    }
}
