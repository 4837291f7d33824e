//! What the provider counts, in one explicit Prometheus registry owned by the binary.
//!
//! Every metric is declared here, named `esc_csi_*`, and recorded through a method, so that the
//! list in `docs/metrics.md` can be checked against this one file. Labels hold only bounded
//! sets (results, gRPC codes, endpoints, HTTP statuses): never a pod, a namespace or an
//! environment, whose number is unbounded.

pub mod collectors;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::code::ErrorCode;

/// Outcome of a mount.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MountLabels {
    /// `success` or `error`.
    pub result: &'static str,
    /// The gRPC code, `OK` on success.
    pub code: String,
}

/// One HTTP call to the ESC API.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EscRequestLabels {
    /// `open`, `read` or `token` (the OAuth token exchange).
    pub endpoint: &'static str,
    /// The HTTP status, or `connect`, `timeout`, `decode`, `too_large` when there was none.
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

/// A cache lookup.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `environment`, `auth_secret` or `token`.
    pub cache: &'static str,
    /// `hit`, `miss` or `coalesced` (joined an identical call already in flight).
    pub result: &'static str,
}

/// One cache, for its size.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheNameLabels {
    /// `environment` or `auth_secret`.
    pub cache: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `success` or `error`.
    pub result: &'static str,
}

/// The provider's metrics. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    mounts: Family<MountLabels, Counter>,
    mount_duration: Family<ResultLabels, Histogram>,
    mounts_in_flight: Gauge,
    esc_requests: Family<EscRequestLabels, Counter>,
    esc_request_duration: Family<EndpointLabels, Histogram>,
    esc_retries: Family<EndpointLabels, Counter>,
    cache_requests: Family<CacheLabels, Counter>,
    token_exchanges: Family<ResultLabels, Counter>,
    stale_serves: Counter,
    cache_entries: Family<CacheNameLabels, Gauge>,
    cache_bytes: Family<CacheNameLabels, Gauge>,
    cache_limit_bytes: Family<CacheNameLabels, Gauge>,
}

/// The ESC client's endpoints, as [`esc_api::Observer`] names them.
const ESC_ENDPOINTS: [&str; 3] = ["open", "read", "token"];

fn seconds_histogram() -> Histogram {
    // 1 ms to ~32 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    /// Metrics that are recorded but registered nowhere (tests, local runs).
    fn default() -> Self {
        Metrics {
            mounts: Family::default(),
            mount_duration: Family::new_with_constructor(seconds_histogram),
            mounts_in_flight: Gauge::default(),
            esc_requests: Family::default(),
            esc_request_duration: Family::new_with_constructor(seconds_histogram),
            esc_retries: Family::default(),
            cache_requests: Family::default(),
            token_exchanges: Family::default(),
            stale_serves: Counter::default(),
            cache_entries: Family::default(),
            cache_bytes: Family::default(),
            cache_limit_bytes: Family::default(),
        }
    }
}

impl Metrics {
    /// Creates the metrics and registers them in `registry` (with prefix `esc_csi`).
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics::default();
        let r = registry.sub_registry_with_prefix("esc_csi");
        r.register(
            "mounts",
            "Mount calls by result and gRPC code",
            metrics.mounts.clone(),
        );
        r.register(
            "mount_duration_seconds",
            "Time to answer a Mount call",
            metrics.mount_duration.clone(),
        );
        r.register(
            "mounts_in_flight",
            "Mount calls being answered now",
            metrics.mounts_in_flight.clone(),
        );
        r.register(
            "esc_requests",
            "HTTP calls to the ESC API by endpoint and status",
            metrics.esc_requests.clone(),
        );
        r.register(
            "esc_request_duration_seconds",
            "Time of one HTTP call to the ESC API",
            metrics.esc_request_duration.clone(),
        );
        r.register(
            "esc_retries",
            "ESC API calls retried after a transient failure",
            metrics.esc_retries.clone(),
        );
        r.register(
            "cache_requests",
            "Cache lookups by cache and result",
            metrics.cache_requests.clone(),
        );
        r.register(
            "token_exchanges",
            "OIDC token exchanges by result",
            metrics.token_exchanges.clone(),
        );
        r.register(
            "stale_serves",
            "Re-mounts answered with last good content because ESC failed",
            metrics.stale_serves.clone(),
        );
        r.register(
            "cache_entries",
            "Entries a cache holds, as of its last lookup",
            metrics.cache_entries.clone(),
        );
        r.register(
            "cache_bytes",
            "Estimated bytes a cache holds, as of its last lookup",
            metrics.cache_bytes.clone(),
        );
        r.register(
            "cache_limit_bytes",
            "Most bytes a cache may hold (--cache-max-bytes for environments)",
            metrics.cache_limit_bytes.clone(),
        );
        metrics.start_at_zero();
        metrics
    }

    /// Creates every series whose labels are known before anything happens, at zero, so that
    /// a rate or an alert over them has data from the first scrape instead of "no data" until
    /// the first failure. ESC statuses are known only once answered, except the failures that
    /// have no status.
    fn start_at_zero(&self) {
        for result in ["success", "error"] {
            let _ = self.mount_duration.get_or_create(&ResultLabels { result });
            let _ = self.token_exchanges.get_or_create(&ResultLabels { result });
        }
        let _ = self.mounts.get_or_create(&MountLabels {
            result: "success",
            code: "OK".to_owned(),
        });
        for code in ErrorCode::ALL {
            let _ = self.mounts.get_or_create(&MountLabels {
                result: "error",
                code: code.name().to_owned(),
            });
        }
        for endpoint in ESC_ENDPOINTS {
            let _ = self.esc_retries.get_or_create(&EndpointLabels { endpoint });
            let _ = self
                .esc_request_duration
                .get_or_create(&EndpointLabels { endpoint });
            for status in ["connect", "timeout"] {
                let _ = self.esc_requests.get_or_create(&EscRequestLabels {
                    endpoint,
                    status: status.to_owned(),
                });
            }
        }
        for cache in ["environment", "auth_secret", "token"] {
            for result in ["hit", "miss", "coalesced"] {
                let _ = self
                    .cache_requests
                    .get_or_create(&CacheLabels { cache, result });
            }
        }
    }

    /// A Mount call finished: mounted, or failed with `code`.
    pub fn mount_finished(&self, outcome: Result<(), ErrorCode>, elapsed: Duration) {
        let (result, code) = match outcome {
            Ok(()) => ("success", "OK"),
            Err(code) => ("error", code.name()),
        };
        let code = code.to_owned();
        self.mounts
            .get_or_create(&MountLabels { result, code })
            .inc();
        self.mount_duration
            .get_or_create(&ResultLabels { result })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a Mount call in flight until the guard is dropped.
    pub fn mount_started(&self) -> InFlight<'_> {
        self.mounts_in_flight.inc();
        InFlight(&self.mounts_in_flight)
    }

    /// One HTTP call to ESC finished; `status` is the HTTP status or a failure kind.
    pub fn esc_request(&self, endpoint: &'static str, status: &str, elapsed: Duration) {
        self.esc_requests
            .get_or_create(&EscRequestLabels {
                endpoint,
                status: status.to_owned(),
            })
            .inc();
        self.esc_request_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    pub fn esc_retry(&self, endpoint: &'static str) {
        self.esc_retries
            .get_or_create(&EndpointLabels { endpoint })
            .inc();
    }

    pub fn cache(&self, cache: &'static str, result: &'static str) {
        self.cache_requests
            .get_or_create(&CacheLabels { cache, result })
            .inc();
    }

    /// A cache's size after a lookup.
    pub fn cache_size(&self, cache: &'static str, entries: usize, bytes: usize) {
        let labels = CacheNameLabels { cache };
        self.cache_entries
            .get_or_create(&labels)
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.cache_bytes
            .get_or_create(&labels)
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// A cache's byte bound, set when it is made.
    pub fn cache_limit(&self, cache: &'static str, max_bytes: usize) {
        self.cache_limit_bytes
            .get_or_create(&CacheNameLabels { cache })
            .set(i64::try_from(max_bytes).unwrap_or(i64::MAX));
    }

    pub fn token_exchange(&self, success: bool) {
        let result = if success { "success" } else { "error" };
        self.token_exchanges
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn stale_serve(&self) {
        self.stale_serves.inc();
    }
}

/// The ESC client reports its HTTP calls and retries here.
impl esc_api::Observer for Metrics {
    fn request(&self, endpoint: &'static str, status: &str, elapsed: Duration) {
        self.esc_request(endpoint, status, elapsed);
    }

    fn retry(&self, endpoint: &'static str) {
        self.esc_retry(endpoint);
    }
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
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

    #[test]
    fn recorded_metrics_appear_in_the_text_exposition() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        metrics.mount_finished(Ok(()), Duration::from_millis(3));
        metrics.mount_finished(Err(ErrorCode::NotFound), Duration::from_millis(5));
        metrics.esc_request("open", "200", Duration::from_millis(2));
        metrics.cache("environment", "coalesced");
        let guard = metrics.mount_started();
        let out = text(&registry);
        assert!(
            out.contains("esc_csi_mounts_total{result=\"success\",code=\"OK\"} 1"),
            "{out}"
        );
        assert!(out.contains("esc_csi_mounts_total{result=\"error\",code=\"NotFound\"} 1"));
        assert!(out.contains("esc_csi_mounts_in_flight 1"));
        assert!(out.contains("esc_csi_esc_requests_total{endpoint=\"open\",status=\"200\"} 1"));
        assert!(out.contains(
            "esc_csi_cache_requests_total{cache=\"environment\",result=\"coalesced\"} 1"
        ));
        assert!(out.contains("esc_csi_mount_duration_seconds_count{result=\"error\"} 1"));
        drop(guard);
        assert!(text(&registry).contains("esc_csi_mounts_in_flight 0"));
    }

    #[test]
    fn a_fresh_registry_shows_every_known_series_at_zero() {
        let mut registry = Registry::default();
        let _metrics = Metrics::register(&mut registry);
        let out = text(&registry);
        for line in [
            "esc_csi_mounts_total{result=\"success\",code=\"OK\"} 0",
            "esc_csi_mounts_total{result=\"error\",code=\"Unavailable\"} 0",
            "esc_csi_mounts_total{result=\"error\",code=\"ResourceExhausted\"} 0",
            "esc_csi_mount_duration_seconds_count{result=\"error\"} 0",
            "esc_csi_esc_requests_total{endpoint=\"read\",status=\"timeout\"} 0",
            "esc_csi_esc_retries_total{endpoint=\"token\"} 0",
            "esc_csi_cache_requests_total{cache=\"auth_secret\",result=\"miss\"} 0",
            "esc_csi_token_exchanges_total{result=\"error\"} 0",
            "esc_csi_stale_serves_total 0",
        ] {
            assert!(out.contains(&format!("{line}\n")), "no {line} in\n{out}");
        }
        let errors = out
            .lines()
            .filter(|l| l.starts_with("esc_csi_mounts_total{result=\"error\""))
            .count();
        assert_eq!(errors, ErrorCode::ALL.len());
    }
}
