//! Firing Mount calls: a number of workers share one client (one connection, as the driver
//! has) and each keeps one mount in flight until the phase is over. Latency is recorded per
//! call in microseconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use esc_csi_provider::grpc::proto::v1alpha1::csi_driver_provider_client::CsiDriverProviderClient;
use esc_csi_provider::grpc::proto::v1alpha1::{MountRequest, MountResponse};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::scenario::Stop;

/// The provider's gRPC client.
pub type Client = CsiDriverProviderClient<Channel>;

/// Builds the `i`th request of a phase.
pub type Requests = Arc<dyn Fn(u64) -> MountRequest + Send + Sync>;

/// Sees the `i`th answer of a phase (rotation keeps the object versions).
pub type Inspect = Arc<dyn Fn(u64, &MountResponse) + Send + Sync>;

/// What a phase did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Mounts completed, failed ones included.
    pub mounts: u64,
    pub errors: u64,
    /// Failures by gRPC code.
    pub error_codes: BTreeMap<String, u64>,
    /// One failure's message, to say what went wrong.
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Microseconds per mount.
    pub latency: Histogram<u64>,
}

impl Outcome {
    pub fn empty() -> Outcome {
        Outcome {
            mounts: 0,
            errors: 0,
            error_codes: BTreeMap::new(),
            first_error: None,
            elapsed: Duration::ZERO,
            latency: histogram(),
        }
    }

    /// Adds `other`'s mounts, errors, latencies and time.
    pub fn merge(&mut self, other: Outcome) {
        self.mounts += other.mounts;
        self.elapsed += other.elapsed;
        self.errors += other.errors;
        for (code, n) in other.error_codes {
            *self.error_codes.entry(code).or_default() += n;
        }
        self.first_error = self.first_error.take().or(other.first_error);
        self.latency
            .add(&other.latency)
            .expect("histograms of the same bounds");
    }

    fn failed(&mut self, code: String, message: String) {
        self.errors += 1;
        *self.error_codes.entry(code).or_default() += 1;
        self.first_error.get_or_insert(message);
    }

    /// Mounts per second.
    pub fn throughput(&self) -> f64 {
        self.mounts as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// 1 µs to 10 minutes at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// Runs `concurrency` workers until `stop`; all start together (a storm is one burst).
///
/// Without `rate` each worker sends its next mount as soon as the last is answered (closed
/// loop: the most the provider can do). With `rate`, mount `i` is due at `i / rate` seconds
/// (open loop, as pods arrive whether or not the provider keeps up); a mount sent late because
/// every worker was busy is timed from when it was due, so queueing is not hidden.
pub async fn fire(
    client: &Client,
    concurrency: usize,
    stop: Stop,
    rate: Option<f64>,
    requests: Requests,
    inspect: Option<Inspect>,
    progress: &ProgressBar,
) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency.max(1)));
    let started = Instant::now();
    let end = match stop {
        Stop::Duration(d) => Some(started + d),
        Stop::Count(_) => None,
    };
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, next, barrier) = (client.clone(), next.clone(), barrier.clone());
        let (requests, inspect, progress) = (requests.clone(), inspect.clone(), progress.clone());
        workers.spawn(async move {
            let mut client = client;
            let mut outcome = Outcome::empty();
            barrier.wait().await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let done = match (stop, end) {
                    (Stop::Count(n), _) => i >= n,
                    (_, Some(end)) => Instant::now() >= end,
                    _ => true,
                };
                if done {
                    break;
                }
                let request = requests(i);
                let mut sent = Instant::now();
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    if due > sent {
                        tokio::time::sleep_until(due).await;
                        sent = Instant::now();
                    } else {
                        sent = due;
                    }
                }
                let result = client.mount(request).await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                outcome.latency.saturating_record(micros.max(1));
                outcome.mounts += 1;
                match result {
                    Ok(response) => {
                        let response = response.into_inner();
                        match response.error.as_ref().filter(|e| !e.code.is_empty()) {
                            Some(e) => outcome.failed("response".into(), e.code.clone()),
                            None => {
                                if let Some(inspect) = &inspect {
                                    inspect(i, &response);
                                }
                            }
                        }
                    }
                    Err(status) => {
                        let code = format!("{:?}", status.code());
                        outcome.failed(code, status.message().to_owned());
                    }
                }
                progress.inc(1);
            }
            outcome
        });
    }
    let mut total = Outcome::empty();
    while let Some(outcome) = workers.join_next().await {
        total.merge(outcome.expect("a worker does not panic"));
    }
    // The workers ran side by side: the phase took as long as it took, not their sum.
    total.elapsed = started.elapsed();
    total
}
