//! What a scenario measured, the targets checked against it, and both as plain-text
//! tables (or JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::scenario::{Params, Scenario};

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        })
    }
}

/// One scenario's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub params: Params,
    /// Mounts measured (a warm-up or first wave excluded).
    pub mounts: u64,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    pub first_error: Option<String>,
    pub elapsed_s: f64,
    /// Mounts per second.
    pub throughput: f64,
    pub latency: Option<Latency>,
    /// Opens and reads the ESC stand-in answered for the measured mounts (and warm-up).
    pub esc_opens: usize,
    pub esc_reads: usize,
    /// Secret reads the Kubernetes stand-in answered (auth Secret runs only), warm-up and
    /// first waves included.
    pub kube_reads: Option<usize>,
    /// Bare open + read calls from this process to the stand-in, for comparison.
    pub esc_round_trips: Option<Latency>,
    /// The daemon's RSS before the load, in KiB.
    pub idle_rss_kib: Option<u64>,
    /// The anonymous part of it (`RssAnon`: heap, stacks, relocated data), in KiB; the rest is
    /// clean file pages (code, libc) the kernel can reclaim.
    pub idle_anon_kib: Option<u64>,
    /// The daemon's peak RSS during the load, in KiB.
    pub peak_rss_kib: Option<u64>,
    /// The daemon's CPU time (all threads) over the measured phase, per mount, in µs.
    pub daemon_cpu_us_per_mount: Option<f64>,
    /// The slowest `Version` answer while the load ran, in ms.
    pub version_max_ms: Option<f64>,
    /// Startup: time to the first answered Version of each start, in ms.
    pub ready_ms: Vec<f64>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(scenario: Scenario, params: Params) -> Report {
        Report {
            scenario,
            params,
            mounts: 0,
            errors: 0,
            error_codes: BTreeMap::new(),
            first_error: None,
            elapsed_s: 0.0,
            throughput: 0.0,
            latency: None,
            esc_opens: 0,
            esc_reads: 0,
            kube_reads: None,
            esc_round_trips: None,
            idle_rss_kib: None,
            idle_anon_kib: None,
            peak_rss_kib: None,
            daemon_cpu_us_per_mount: None,
            version_max_ms: None,
            ready_ms: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// A target and whether it was met.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub scenario: Scenario,
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

const MIB: f64 = 1024.0;

/// The targets that apply to `report`.
pub fn checks(report: &Report) -> Vec<Check> {
    let mut out = match report.scenario {
        Scenario::Startup => startup_checks(report),
        Scenario::Warm => warm_checks(report),
        Scenario::WarmRate => warm_rate_checks(report),
        Scenario::Hostile => hostile_checks(report),
        s if s.is_cold() => cold_checks(report),
        Scenario::Storm => storm_checks(report),
        Scenario::Rotation => vec![check(
            report,
            "re-mount wave after expiry makes one open (cache contract)",
            format!(
                "{} open, {} read for {} re-mounts",
                report.esc_opens, report.esc_reads, report.mounts
            ),
            report.esc_opens == 1,
        )],
        _ => Vec::new(),
    };
    out.extend(errors_check(report));
    out
}

fn check(report: &Report, target: &str, measured: String, pass: bool) -> Check {
    Check {
        scenario: report.scenario,
        target: target.to_owned(),
        measured,
        pass,
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / MIB
}

/// Readiness after start, and the idle daemon's own memory.
fn startup_checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(max) = report.ready_ms.iter().copied().reduce(f64::max) {
        out.push(check(
            report,
            "ready within 100 ms of start",
            format!("max {max:.1} ms of {} starts", report.ready_ms.len()),
            max <= 100.0,
        ));
    }
    // Judged on the daemon's own memory: code pages are clean and reclaimable, and how
    // many are resident depends on the binary's layout, not on what the daemon holds.
    if let Some(anon) = report.idle_anon_kib {
        out.push(check(
            report,
            "idle anonymous memory (RssAnon) <= 4 MiB",
            format!(
                "{:.1} MiB (RSS {})",
                mib(anon),
                report
                    .idle_rss_kib
                    .map_or("-".into(), |rss| format!("{:.1} MiB", mib(rss)))
            ),
            mib(anon) <= 4.0,
        ));
    }
    out
}

/// Throughput of warm mounts.
fn warm_checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    let c = report.params.concurrency;
    out.push(check(
        report,
        ">= 5,000 mounts/s (10 items, concurrency 64)",
        format!(
            "{:.0}/s ({} items, concurrency {c})",
            report.throughput,
            report.params.items_label()
        ),
        report.throughput >= 5000.0,
    ));
    out
}

/// Keeping up with an offered rate, and the latency at it.
fn warm_rate_checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    let offered = report.params.rate.unwrap_or(0.0);
    out.push(check(
        report,
        "keeps up with 5,000 mounts/s offered",
        format!("{:.0}/s of {offered:.0}/s offered", report.throughput),
        report.throughput >= 0.98 * offered && offered >= 5000.0,
    ));
    if let Some(l) = report.latency {
        out.push(check(
            report,
            "p99 < 5 ms at that load (<= 64 in flight)",
            format!("{:.2} ms", l.p99_ms),
            l.p99_ms < 5.0,
        ));
    }
    out
}

/// Memory and responsiveness under hostile mounts.
fn hostile_checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(peak) = report.peak_rss_kib {
        out.push(check(
            report,
            "hostile mounts at once: RSS <= 128 MiB (the chart's limit)",
            format!(
                "peak {:.1} MiB, {} at once",
                mib(peak),
                report.params.concurrency
            ),
            mib(peak) <= 128.0,
        ));
    }
    if let Some(ms) = report.version_max_ms {
        out.push(check(
            report,
            "Version answered within 1 s throughout",
            format!("slowest {ms:.1} ms"),
            ms <= 1000.0,
        ));
    }
    out
}

/// ESC calls per cold mount and the latency they add.
fn cold_checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    let n = report.mounts as usize;
    out.push(check(
        report,
        "one open + one read per cold mount",
        format!(
            "{} opens + {} reads for {n} mounts",
            report.esc_opens, report.esc_reads
        ),
        report.esc_opens == n && report.esc_reads == n,
    ));
    if let (Some(mount), Some(bare)) = (report.latency, report.esc_round_trips) {
        let over = mount.p50_ms - bare.p50_ms;
        out.push(check(
            report,
            "p50 within 2 ms of two ESC round trips",
            format!(
                "{:.2} ms vs {:.2} ms bare open+read ({over:+.2} ms)",
                mount.p50_ms, bare.p50_ms
            ),
            over <= 2.0,
        ));
    }
    out
}

/// One open for a storm of first mounts, and the memory it takes.
fn storm_checks(report: &Report) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(check(
        report,
        "1,000 concurrent first mounts make one open",
        format!(
            "{} open, {} read for {} mounts",
            report.esc_opens, report.esc_reads, report.mounts
        ),
        report.esc_opens == 1,
    ));
    if let Some(peak) = report.peak_rss_kib {
        out.push(check(
            report,
            "RSS <= 64 MiB during the storm",
            format!("peak {:.1} MiB", mib(peak)),
            mib(peak) <= 64.0,
        ));
    }
    out
}

/// Hostile scenarios: every refusal is a budget's; the others but startup: no errors at all.
fn errors_check(report: &Report) -> Option<Check> {
    if report.scenario == Scenario::Hostile {
        let budgets = ["ResourceExhausted", "Unavailable", "DeadlineExceeded"];
        return Some(check(
            report,
            "every refusal is a budget's",
            format!("{} refused: {:?}", report.errors, report.error_codes),
            report
                .error_codes
                .keys()
                .all(|code| budgets.contains(&code.as_str())),
        ));
    }
    (report.scenario != Scenario::Startup).then(|| {
        check(
            report,
            "no errors",
            match &report.first_error {
                Some(e) => format!("{} errors, e.g. {e}", report.errors),
                None => format!("{} errors", report.errors),
            },
            report.errors == 0,
        )
    })
}

/// The scenarios side by side.
pub fn results_table(reports: &[Report]) -> String {
    let ms = |v: f64| format!("{v:.2}");
    let opt_mib = |kib: Option<u64>| kib.map_or("-".into(), |k| format!("{:.1}", k as f64 / MIB));
    let mut rows = vec![
        [
            "scenario",
            "conc",
            "items",
            "env",
            "mounts",
            "secs",
            "mounts/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "ESC open/read",
            "bare 2RTT p50",
            "errors",
            "RSS idle MiB",
            "anon idle MiB",
            "RSS peak MiB",
            "CPU µs/mount",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in reports {
        let l = r.latency;
        let cell = |f: fn(&Latency) -> f64| l.as_ref().map_or("-".into(), |l| ms(f(l)));
        if r.scenario == Scenario::Startup {
            let ready = r.ready_ms.iter().copied().reduce(f64::max);
            rows.push(vec![
                "startup".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("{} starts", r.ready_ms.len()),
                "-".into(),
                "-".into(),
                format!("ready {}", ready.map_or("-".into(), |v| format!("{v:.1}"))),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                opt_mib(r.idle_rss_kib),
                opt_mib(r.idle_anon_kib),
                opt_mib(r.peak_rss_kib),
                "-".into(),
            ]);
            continue;
        }
        rows.push(vec![
            r.scenario.name().into(),
            r.params.concurrency.to_string(),
            r.params.items_label(),
            human_bytes(r.params.env_bytes),
            r.mounts.to_string(),
            format!("{:.2}", r.elapsed_s),
            format!("{:.0}", r.throughput),
            cell(|l| l.p50_ms),
            cell(|l| l.p90_ms),
            cell(|l| l.p99_ms),
            cell(|l| l.max_ms),
            format!("{}/{}", r.esc_opens, r.esc_reads),
            r.esc_round_trips.map_or("-".into(), |b| ms(b.p50_ms)),
            r.errors.to_string(),
            opt_mib(r.idle_rss_kib),
            opt_mib(r.idle_anon_kib),
            opt_mib(r.peak_rss_kib),
            r.daemon_cpu_us_per_mount
                .map_or("-".into(), |us| format!("{us:.0}")),
        ]);
    }
    let mut text = table(&rows, true);
    for r in reports {
        if let Some(reads) = r.kube_reads {
            let _ = writeln!(
                text,
                "{}: auth Secret GETs at the Kubernetes stand-in: {reads}",
                r.scenario.name()
            );
        }
        for note in &r.notes {
            let _ = writeln!(text, "{}: {note}", r.scenario.name());
        }
    }
    text
}

/// Targets against measurements.
pub fn checks_table(checks: &[Check]) -> String {
    let mut rows = vec![
        ["scenario", "target", "measured", "result"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for c in checks {
        rows.push(vec![
            c.scenario.name().into(),
            c.target.clone(),
            c.measured.clone(),
            if c.pass { "pass" } else { "MISS" }.into(),
        ]);
    }
    table(&rows, false)
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{}MB", n >> 20),
        n if n >= 1 << 10 => format!("{}KB", n >> 10),
        n => format!("{n}B"),
    }
}

/// Columns padded to their widest cell; numbers right-aligned.
fn table(rows: &[Vec<String>], align_numbers: bool) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            let numeric = align_numbers && i > 0 && cell.starts_with(|c: char| c.is_ascii_digit());
            if numeric {
                let _ = write!(line, "{cell:>w$}  ");
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
