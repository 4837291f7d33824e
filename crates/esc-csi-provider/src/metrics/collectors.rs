//! Metrics read at scrape time rather than recorded: the process (the names every Prometheus
//! client library uses, so stock dashboards and alerts work), the build, and how much of the
//! node-wide memory budget mounts hold. prometheus-client has no process collector, and the
//! few `/proc/self` files it would read are simpler to read here than a crate is to vet.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use esc_api::MemoryBudget;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Registers the process metrics (`process_*`, unprefixed), `esc_csi_build_info` and, when
/// there is a budget, `esc_csi_memory_in_flight_*`.
pub fn register(registry: &mut Registry, version: &'static str, memory: Option<Arc<MemoryBudget>>) {
    registry.register_collector(Box::new(Process::new()));
    let r = registry.sub_registry_with_prefix("esc_csi");
    r.register(
        "build",
        "The daemon's version",
        Info::new(vec![("version", version)]),
    );
    if let Some(memory) = memory {
        r.register_collector(Box::new(Budget { memory }));
    }
}

/// The process, read from `/proc/self` at each scrape (Linux only: elsewhere nothing).
#[derive(Debug)]
struct Process {
    /// Seconds since the epoch the process started; a restart changes it.
    start_time: f64,
}

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, 100 a second on every Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

impl Process {
    fn new() -> Self {
        // Read once: the boot time plus the start tick, or this moment when /proc says nothing.
        let start_time = start_time().unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        });
        Process { start_time }
    }
}

/// Fields of `/proc/self/stat` after the command's closing parenthesis (which may itself hold
/// spaces and parentheses), numbered from 0 = field 3 (`state`) of proc(5).
fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn start_time() -> Option<f64> {
    let ticks: f64 = stat_fields()?.get(19)?.parse().ok()?;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(boot + ticks / TICKS_PER_SECOND)
}

/// A `Name:   123 kB` line of `/proc/self/status`, in bytes.
fn status_bytes(status: &str, name: &str) -> Option<i64> {
    let value = status.lines().find_map(|l| l.strip_prefix(name))?;
    let kib: i64 = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

fn max_fds() -> Option<i64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    // "Max open files            1048576              1048576              files"
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            self.start_time,
        )?;
        if let Some(fields) = stat_fields() {
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
            // utime and stime: fields 14 and 15 of proc(5).
            if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
                let cpu = ConstCounter::new((user + system) / TICKS_PER_SECOND);
                cpu.encode(encoder.encode_descriptor(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds",
                    None,
                    cpu.metric_type(),
                )?)?;
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            if let Some(rss) = status_bytes(&status, "VmRSS:") {
                gauge(
                    &mut encoder,
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes",
                    rss,
                )?;
            }
            if let Some(virtual_bytes) = status_bytes(&status, "VmSize:") {
                gauge(
                    &mut encoder,
                    "process_virtual_memory_bytes",
                    "Virtual memory size in bytes",
                    virtual_bytes,
                )?;
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            // The listing's own descriptor is counted too, as other clients count it.
            let open = i64::try_from(fds.count()).unwrap_or(i64::MAX);
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors",
                open,
            )?;
        }
        if let Some(max) = max_fds() {
            gauge(
                &mut encoder,
                "process_max_fds",
                "Maximum number of open file descriptors",
                max,
            )?;
        }
        Ok(())
    }
}

/// The node-wide memory budget of mounts (`--max-memory-in-flight`).
#[derive(Debug)]
struct Budget {
    memory: Arc<MemoryBudget>,
}

impl Collector for Budget {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        gauge(
            &mut encoder,
            "memory_in_flight_bytes",
            "Bytes mounts hold now against --max-memory-in-flight",
            i64::try_from(self.memory.used()).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut encoder,
            "memory_in_flight_peak_bytes",
            "Most bytes mounts held at once since the start",
            i64::try_from(self.memory.peak()).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut encoder,
            "memory_in_flight_limit_bytes",
            "The --max-memory-in-flight budget",
            i64::try_from(self.memory.limit()).unwrap_or(i64::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
        out
    }

    fn value(text: &str, name: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        line[name.len()..].trim().parse().unwrap()
    }

    #[test]
    fn the_process_metrics_describe_this_process() {
        let mut registry = Registry::default();
        register(&mut registry, "9.9.9", Some(MemoryBudget::new(1000)));
        let before = std::fs::read_dir("/proc/self/fd").unwrap().count() as f64;
        let out = text(&registry);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value(&out, "process_start_time_seconds");
        assert!(start <= now && start > now - 3600.0, "{start} vs {now}");
        // A test binary has touched a few MiB at least, and far less than its address space.
        let rss = value(&out, "process_resident_memory_bytes");
        assert!(rss > 1e6 && rss < value(&out, "process_virtual_memory_bytes"));
        assert!(value(&out, "process_cpu_seconds_total") >= 0.0);
        let open = value(&out, "process_open_fds");
        assert!(
            open >= 3.0 && (open - before).abs() < 50.0,
            "{open} vs {before}"
        );
        assert!(value(&out, "process_max_fds") >= open);
        assert!(
            out.contains("esc_csi_build_info{version=\"9.9.9\"} 1"),
            "{out}"
        );
        assert_eq!(value(&out, "esc_csi_memory_in_flight_limit_bytes"), 1000.0);
        assert_eq!(value(&out, "esc_csi_memory_in_flight_bytes"), 0.0);
    }

    #[tokio::test]
    async fn the_budget_gauges_follow_what_mounts_hold() {
        let memory = MemoryBudget::new(1 << 20);
        let mut registry = Registry::default();
        register(&mut registry, "0", Some(memory.clone()));
        let mut held = memory.empty();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        held.grow(4096, deadline).await.unwrap();
        let out = text(&registry);
        assert_eq!(value(&out, "esc_csi_memory_in_flight_bytes"), 4096.0);
        assert_eq!(value(&out, "esc_csi_memory_in_flight_peak_bytes"), 4096.0);
        drop(held);
        let out = text(&registry);
        assert_eq!(value(&out, "esc_csi_memory_in_flight_bytes"), 0.0);
        assert_eq!(value(&out, "esc_csi_memory_in_flight_peak_bytes"), 4096.0);
    }
}
