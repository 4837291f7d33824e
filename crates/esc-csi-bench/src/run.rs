//! One scenario, start to finish: an ESC stand-in with the scenario's environment and
//! latency, a provider from the launcher, the load, and the report.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use esc_api::{ClientOptions, EnvironmentRef, EscClient, RetryPolicy};
use esc_csi_provider::grpc::proto::v1alpha1::{MountRequest, ObjectVersion};
use esc_csi_testkit::{FakeEsc, FakeKube};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::BenchError;
use crate::launch::{Launcher, PeakSampler, ProviderConfig, cpu_time, memory};
use crate::load::{self, Client, Inspect, Outcome, Requests};
use crate::report::{Latency, Report};
use crate::scenario::{Auth, Params, Scenario, Stop};
use crate::workload::{AUTH_SECRET, ENVIRONMENT, NAMESPACE, TOKEN, Workload, environment};

/// How a run shows itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// No progress bar.
    pub quiet: bool,
}

/// Bare open + read pairs timed for the cold scenarios' comparison.
const BASELINE_SAMPLES: u64 = 50;
/// Cold scenarios alternate mounts and bare pairs in this many rounds, so that whatever else
/// the machine is doing weighs on both alike.
const BASELINE_ROUNDS: u64 = 10;

/// Runs `scenario` (not `all`) with `params`.
pub async fn run<L: Launcher>(
    scenario: Scenario,
    params: &Params,
    launcher: &mut L,
    options: &RunOptions,
) -> Result<Report, BenchError> {
    match scenario {
        Scenario::All => Err(BenchError::new("run each scenario of `all` on its own")),
        Scenario::Startup => startup(params, launcher).await,
        Scenario::Rotation => rotation(params, launcher, options).await,
        _ => load_scenario(scenario, params, launcher, options).await,
    }
}

/// The stand-ins: ESC serving the scenario's environment and, when the token comes from an
/// auth Secret, Kubernetes holding that Secret.
struct StandIns {
    esc: FakeEsc,
    kube: Option<FakeKube>,
}

impl StandIns {
    async fn start(params: &Params) -> StandIns {
        let esc = FakeEsc::start().await;
        if params.class != crate::scenario::Class::Hostile {
            esc.accept_token(TOKEN);
        }
        esc.set(
            ENVIRONMENT,
            environment(params.items, params.env_bytes, params.class),
        );
        esc.set_latency(params.esc_latency);
        let kube = match params.auth {
            Auth::NodePublish => None,
            Auth::AuthSecret => {
                let kube = FakeKube::start().await;
                kube.put_secret(
                    NAMESPACE,
                    AUTH_SECRET,
                    &[(esc_csi_provider::credential::TOKEN_KEY, TOKEN)],
                );
                Some(kube)
            }
        };
        StandIns { esc, kube }
    }

    fn provider_config(&self, params: &Params) -> ProviderConfig {
        ProviderConfig {
            cache_ttl: params.cache_ttl,
            kube_url: self.kube.as_ref().map(FakeKube::url),
        }
    }

    fn workload(&self, params: &Params) -> Workload {
        Workload::new(&self.esc.url(), params.items, params.auth, params.class)
    }

    /// Secret reads the Kubernetes stand-in answered.
    fn kube_reads(&self) -> Option<usize> {
        self.kube.as_ref().map(|k| k.calls().len())
    }
}

/// One request per pod, made once so the load spends no time building them.
fn requests(workload: &Workload, pods: usize, versions: Option<&[Vec<ObjectVersion>]>) -> Requests {
    let prepared: Arc<Vec<MountRequest>> = Arc::new(
        (0..pods)
            .map(|p| {
                let current = versions.and_then(|v| v.get(p)).cloned().unwrap_or_default();
                workload.request(p, current)
            })
            .collect(),
    );
    Arc::new(move |i| prepared[(i % prepared.len() as u64) as usize].clone())
}

fn progress(stop: Stop, prefix: &str, options: &RunOptions) -> ProgressBar {
    if options.quiet {
        return ProgressBar::hidden();
    }
    let bar = match stop {
        Stop::Count(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec:>12} {elapsed}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        ),
        Stop::Duration(d) => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template(&format!(
                "{{prefix:>10}} {{spinner}} {{pos}} mounts {{per_sec:>12}} {{elapsed}}/{}s",
                d.as_secs()
            ))
            .expect("a valid template"),
        ),
    };
    bar.set_prefix(prefix.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn record(report: &mut Report, outcome: &Outcome) {
    report.mounts = outcome.mounts;
    report.errors = outcome.errors;
    report.error_codes.clone_from(&outcome.error_codes);
    report.first_error.clone_from(&outcome.first_error);
    report.elapsed_s = outcome.elapsed.as_secs_f64();
    report.throughput = outcome.throughput();
    report.latency = Latency::of(&outcome.latency);
}

/// The daemon's CPU time over the phase, per mount.
fn record_cpu(report: &mut Report, before: Option<Duration>, pid: Option<u32>) {
    if let (Some(before), Some(after)) = (before, pid.and_then(cpu_time)) {
        let used = after.saturating_sub(before);
        report.daemon_cpu_us_per_mount =
            Some(used.as_secs_f64() * 1e6 / report.mounts.max(1) as f64);
    }
}

async fn phase(
    client: &Client,
    params: &Params,
    requests: Requests,
    inspect: Option<Inspect>,
    prefix: &str,
    options: &RunOptions,
) -> Outcome {
    let bar = progress(params.stop, prefix, options);
    let outcome = load::fire(
        client,
        params.concurrency,
        params.stop,
        params.rate,
        requests,
        inspect,
        &bar,
    )
    .await;
    bar.finish_and_clear();
    outcome
}

async fn load_scenario<L: Launcher>(
    scenario: Scenario,
    params: &Params,
    launcher: &mut L,
    options: &RunOptions,
) -> Result<Report, BenchError> {
    let mut report = Report::new(scenario, params.clone());
    let stand_ins = StandIns::start(params).await;
    let esc = &stand_ins.esc;
    let workload = stand_ins.workload(params);
    let provider = launcher.launch(&stand_ins.provider_config(params)).await?;
    let client = provider.client().await?;
    let idle = provider.pid.and_then(memory);
    report.idle_rss_kib = idle.as_ref().map(|m| m.rss_kib);
    report.idle_anon_kib = idle.as_ref().map(|m| m.anon_kib);
    if params.warm_up {
        let mut c = client.clone();
        c.mount(workload.request(0, Vec::new()))
            .await
            .map_err(|s| BenchError::new(format!("the warm-up mount failed: {}", s.message())))?;
    }
    let sampler = provider.pid.map(PeakSampler::start);
    let cpu_before = provider.pid.and_then(cpu_time);
    let probe = VersionProbe::start(provider.socket.clone());
    let requests = requests(&workload, params.pods, None);
    let mut bare = if params.baseline {
        Some(Bare::connect(esc).await?)
    } else {
        None
    };
    let outcome = match (&mut bare, params.stop) {
        (Some(bare), Stop::Count(n)) if n >= BASELINE_ROUNDS => {
            let mut total = Outcome::empty();
            for i in 0..BASELINE_ROUNDS {
                let round = Params {
                    stop: Stop::Count(n / BASELINE_ROUNDS + u64::from(i < n % BASELINE_ROUNDS)),
                    ..params.clone()
                };
                let part = phase(
                    &client,
                    &round,
                    requests.clone(),
                    None,
                    scenario.name(),
                    options,
                )
                .await;
                total.merge(part);
                bare.time(BASELINE_SAMPLES / BASELINE_ROUNDS).await?;
            }
            total
        }
        (bare, _) => {
            let outcome = phase(&client, params, requests, None, scenario.name(), options).await;
            if let Some(bare) = bare {
                bare.time(BASELINE_SAMPLES).await?;
            }
            outcome
        }
    };
    report.peak_rss_kib = sampler.map(PeakSampler::stop);
    probe.stop(&mut report).await;
    record(&mut report, &outcome);
    record_cpu(&mut report, cpu_before, provider.pid);
    (report.esc_opens, report.esc_reads) = (esc.opens(), esc.reads());
    report.kube_reads = stand_ins.kube_reads();
    if let Some(bare) = bare {
        report.esc_round_trips = Some(bare.latency()?);
        // The bare pairs are the bench's own calls, not the daemon's.
        report.esc_opens -= bare.pairs;
        report.esc_reads -= bare.pairs;
    }
    Ok(report)
}

/// `Version` asked every 50 ms on a connection of its own while the load runs, as the
/// kubelet's probes do: the slowest answer, and how many never came within 5 s. The probe runs
/// on a thread and runtime of its own, as the kubelet is a process of its own: a busy load
/// (or stand-in) in this process must not delay it and be taken for the daemon's slowness.
struct VersionProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Result<(f64, usize), BenchError>>,
}

impl VersionProbe {
    fn start(socket: std::path::PathBuf) -> VersionProbe {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(BenchError::new)?;
            runtime.block_on(async move {
                let client = esc_csi_provider::grpc::dialer::connect(socket)
                    .await
                    .map_err(|e| {
                        BenchError::new(format!("the Version probe cannot connect: {e}"))
                    })?;
                let (mut slowest, mut failed) = (0f64, 0usize);
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut client = client.clone();
                    let started = Instant::now();
                    let request = esc_csi_provider::grpc::proto::v1alpha1::VersionRequest {
                        version: "v1alpha1".into(),
                    };
                    let answer =
                        tokio::time::timeout(Duration::from_secs(5), client.version(request)).await;
                    slowest = slowest.max(started.elapsed().as_secs_f64() * 1e3);
                    failed += usize::from(!matches!(answer, Ok(Ok(_))));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok((slowest, failed))
            })
        });
        VersionProbe { stop, thread }
    }

    async fn stop(self, report: &mut Report) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let thread = self.thread;
        let result = tokio::task::spawn_blocking(move || thread.join()).await;
        match result {
            Ok(Ok(Ok((slowest, failed)))) => {
                report.version_max_ms = Some(slowest);
                if failed > 0 {
                    report
                        .notes
                        .push(format!("{failed} Version calls failed or took over 5 s"));
                }
            }
            Ok(Ok(Err(error))) => report.notes.push(error.0),
            _ => report.notes.push("the Version probe stopped".to_owned()),
        }
    }
}

/// Bare open + read pairs from this process with the daemon's own client: what two ESC round
/// trips cost here, to compare a cold mount with.
struct Bare {
    client: EscClient,
    api: url::Url,
    env: EnvironmentRef,
    token: SecretString,
    histogram: hdrhistogram::Histogram<u64>,
    /// Pairs sent, the untimed first one included.
    pairs: usize,
}

impl Bare {
    /// The first pair also connects, as the daemon's first mount did; it is not timed.
    async fn connect(esc: &FakeEsc) -> Result<Bare, BenchError> {
        let client = EscClient::new(ClientOptions {
            retry: RetryPolicy::none(),
            ..ClientOptions::default()
        })
        .map_err(BenchError::new)?;
        let mut parts = ENVIRONMENT.split('/').map(str::to_owned);
        let mut bare = Bare {
            client,
            api: esc.url().parse().map_err(BenchError::new)?,
            env: EnvironmentRef {
                organization: parts.next().unwrap_or_default(),
                project: parts.next().unwrap_or_default(),
                environment: parts.next().unwrap_or_default(),
                version: None,
            },
            token: SecretString::from(TOKEN),
            histogram: load::histogram(),
            pairs: 0,
        };
        bare.pair().await?;
        Ok(bare)
    }

    async fn pair(&mut self) -> Result<Duration, BenchError> {
        let sent = Instant::now();
        self.pairs += 1;
        self.client
            .open_and_read(
                &self.api,
                &self.env,
                &self.token,
                sent + Duration::from_secs(30),
            )
            .await
            .map_err(|e| BenchError::new(format!("a bare open + read failed: {e}")))?;
        Ok(sent.elapsed())
    }

    async fn time(&mut self, pairs: u64) -> Result<(), BenchError> {
        for _ in 0..pairs {
            let took = self.pair().await?;
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            self.histogram.saturating_record(micros.max(1));
        }
        Ok(())
    }

    fn latency(&self) -> Result<Latency, BenchError> {
        Latency::of(&self.histogram).ok_or_else(|| BenchError::new("no baseline samples"))
    }
}

async fn startup<L: Launcher>(params: &Params, launcher: &mut L) -> Result<Report, BenchError> {
    let mut report = Report::new(Scenario::Startup, params.clone());
    if !launcher.starts_processes() {
        report
            .notes
            .push("not measured: the provider was already running (--socket)".into());
        return Ok(report);
    }
    // Kubernetes access, if asked for, changes what the daemon builds at start.
    let stand_ins = StandIns::start(params).await;
    for _ in 0..params.starts.max(1) {
        let provider = launcher.launch(&stand_ins.provider_config(params)).await?;
        if let Some(ready) = provider.ready {
            report.ready_ms.push(ready.as_secs_f64() * 1000.0);
        }
        // Idle as in a cluster: probed, scraped once, then left alone for a second.
        provider.probe_and_scrape().await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(m) = provider.pid.and_then(memory) {
            report.idle_rss_kib = Some(report.idle_rss_kib.unwrap_or(0).max(m.rss_kib));
            report.idle_anon_kib = Some(report.idle_anon_kib.unwrap_or(0).max(m.anon_kib));
            report.peak_rss_kib = Some(report.peak_rss_kib.unwrap_or(0).max(m.hwm_kib));
        }
    }
    report.notes.push(format!(
        "ready per start (ms): {}",
        report
            .ready_ms
            .iter()
            .map(|ms| format!("{ms:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(report)
}

/// Every pod mounted once, then, after the cache has expired, every pod re-mounted with the
/// object versions it holds, as the driver's rotation does. The second wave is measured.
async fn rotation<L: Launcher>(
    params: &Params,
    launcher: &mut L,
    options: &RunOptions,
) -> Result<Report, BenchError> {
    let mut report = Report::new(Scenario::Rotation, params.clone());
    let pods = params.pods;
    let wave = Params {
        stop: Stop::Count(pods as u64),
        ..params.clone()
    };
    let stand_ins = StandIns::start(params).await;
    let esc = &stand_ins.esc;
    let workload = stand_ins.workload(params);
    let provider = launcher.launch(&stand_ins.provider_config(params)).await?;
    let client = provider.client().await?;
    let idle = provider.pid.and_then(memory);
    report.idle_rss_kib = idle.as_ref().map(|m| m.rss_kib);
    report.idle_anon_kib = idle.as_ref().map(|m| m.anon_kib);
    let held: Arc<Mutex<Vec<Vec<ObjectVersion>>>> = Arc::new(Mutex::new(vec![Vec::new(); pods]));
    let keep = held.clone();
    let inspect: Inspect = Arc::new(move |i, response| {
        let mut held = keep.lock().unwrap_or_else(|e| e.into_inner());
        held[(i as usize) % pods].clone_from(&response.object_version);
    });
    let first = phase(
        &client,
        &wave,
        requests(&workload, pods, None),
        Some(inspect),
        "mount",
        options,
    )
    .await;
    let (opens, reads) = (esc.opens(), esc.reads());
    report.notes.push(format!(
        "first wave: {} mounts in {:.2} s ({:.0}/s), {} errors, ESC {opens} open / {reads} read",
        first.mounts,
        first.elapsed.as_secs_f64(),
        first.throughput(),
        first.errors
    ));
    // Rotation comes after the cache entry has expired.
    tokio::time::sleep(params.cache_ttl + Duration::from_millis(200)).await;
    let versions = held.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let sampler = provider.pid.map(PeakSampler::start);
    let cpu_before = provider.pid.and_then(cpu_time);
    let second = phase(
        &client,
        &wave,
        requests(&workload, pods, Some(&versions)),
        None,
        "re-mount",
        options,
    )
    .await;
    report.peak_rss_kib = sampler.map(PeakSampler::stop);
    record(&mut report, &second);
    record_cpu(&mut report, cpu_before, provider.pid);
    report.errors += first.errors;
    if report.first_error.is_none() {
        report.first_error.clone_from(&first.first_error);
    }
    report.esc_opens = esc.opens() - opens;
    report.esc_reads = esc.reads() - reads;
    report.kube_reads = stand_ins.kube_reads();
    Ok(report)
}
