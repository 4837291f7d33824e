//! The bench's scenarios against an in-process provider on a real unix socket: what they make
//! of ESC calls and errors. Behaviour only; speed is what the tool itself prints.

use std::sync::Arc;
use std::time::Duration;

use esc_csi_bench::BenchError;
use esc_csi_bench::launch::{Launcher, Provider, ProviderConfig};
use esc_csi_bench::report::{self, Report, checks};
use esc_csi_bench::run::{RunOptions, run};
use esc_csi_bench::scenario::{Auth, Class, Params, Scenario, Stop};
use esc_csi_provider::cache::CacheOptions;
use esc_csi_provider::compose::{Background, Wiring};
use esc_csi_provider::credential::kube::KubeSecrets;
use esc_csi_provider::metrics::Metrics;
use esc_csi_provider::mount::version::VersionKey;

/// The provider wired as `esc-csi serve` wires it (with the scenario's cache TTL), served in
/// this process.
struct InProcess;

struct Serving {
    _server: Background,
    _dir: tempfile::TempDir,
}

impl Launcher for InProcess {
    async fn launch(&mut self, config: &ProviderConfig) -> Result<Provider, BenchError> {
        let defaults = Wiring::default();
        let wiring = Wiring {
            environment_cache: Some(CacheOptions {
                ttl: config.cache_ttl,
                ..CacheOptions::environments()
            }),
            ..defaults
        };
        let secrets = match &config.kube_url {
            Some(url) => {
                let config = kube::Config::new(url.parse().unwrap());
                KubeSecrets::from_config(config)
            }
            None => KubeSecrets::unavailable("tokens come with each request"),
        };
        let key = VersionKey::random().unwrap();
        let provider = wiring
            .provider(secrets, key, Arc::new(Metrics::default()))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pulumi.sock");
        let server = Background::start(provider, &socket).unwrap();
        let serving = Serving {
            _server: server,
            _dir: dir,
        };
        Ok(Provider::new(socket, None, None, serving))
    }

    fn starts_processes(&self) -> bool {
        false
    }
}

async fn bench(scenario: Scenario, params: Params) -> Report {
    let options = RunOptions { quiet: true };
    run(scenario, &params, &mut InProcess, &options)
        .await
        .unwrap()
}

fn passed(report: &Report, target: &str) -> bool {
    checks(report)
        .iter()
        .find(|c| c.target.starts_with(target))
        .unwrap_or_else(|| panic!("no check {target:?}"))
        .pass
}

#[tokio::test]
async fn a_warm_run_makes_one_open_and_one_read_in_all() {
    let params = Params {
        concurrency: 4,
        stop: Stop::Count(40),
        esc_latency: Duration::from_millis(2),
        ..Scenario::Warm.preset()
    };
    let report = bench(Scenario::Warm, params).await;
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.mounts, 40);
    assert_eq!((report.esc_opens, report.esc_reads), (1, 1));
    assert!(report.latency.is_some());
    assert!(passed(&report, "no errors"));
}

#[tokio::test]
async fn a_warm_run_with_an_auth_secret_reads_the_secret_once_and_mounts_without_errors() {
    let params = Params {
        concurrency: 4,
        stop: Stop::Count(40),
        esc_latency: Duration::from_millis(2),
        auth: Auth::AuthSecret,
        ..Scenario::Warm.preset()
    };
    let report = bench(Scenario::Warm, params).await;
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.mounts, 40);
    assert_eq!((report.esc_opens, report.esc_reads), (1, 1));
    assert_eq!(report.kube_reads, Some(1), "the auth Secret is cached");
    assert!(
        report::results_table(&[report]).contains("auth Secret GETs at the Kubernetes stand-in: 1")
    );
}

#[tokio::test]
async fn a_token_from_the_request_needs_no_kubernetes() {
    let params = Params {
        concurrency: 2,
        stop: Stop::Count(4),
        esc_latency: Duration::from_millis(1),
        ..Scenario::Warm.preset()
    };
    let report = bench(Scenario::Warm, params).await;
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.kube_reads, None);
}

#[tokio::test]
async fn every_cold_mount_opens_and_reads_once_whatever_the_item_count() {
    // 23 mounts alternate with the bare pairs in rounds; 6 are too few for that.
    for (items, mounts) in [(1, 6), (50, 23)] {
        let params = Params {
            stop: Stop::Count(mounts),
            items,
            esc_latency: Duration::from_millis(1),
            ..Scenario::Cold.preset()
        };
        let report = bench(Scenario::Cold, params).await;
        assert_eq!(report.errors, 0, "{:?}", report.first_error);
        assert_eq!(report.mounts, mounts);
        assert_eq!(
            (report.esc_opens, report.esc_reads),
            (mounts as usize, mounts as usize),
            "{items} items: the bench's own bare pairs are not counted"
        );
        assert!(report.esc_round_trips.is_some(), "the bare calls are timed");
        assert!(passed(&report, "one open + one read per cold mount"));
    }
}

#[tokio::test]
async fn a_class_using_every_item_kind_still_opens_and_reads_once_per_cold_mount() {
    let params = Params {
        stop: Stop::Count(6),
        esc_latency: Duration::from_millis(1),
        ..Scenario::EveryKind.preset()
    };
    assert_eq!(params.class, Class::EveryKind);
    let report = bench(Scenario::EveryKind, params).await;
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.mounts, 6);
    assert_eq!((report.esc_opens, report.esc_reads), (6, 6));
    assert!(passed(&report, "one open + one read per cold mount"));
    assert!(report::results_table(&[report]).contains("10+5"));
}

#[tokio::test]
async fn a_storm_of_first_mounts_of_one_class_makes_one_open() {
    let params = Params {
        concurrency: 60,
        stop: Stop::Count(60),
        pods: 60,
        ..Scenario::Storm.preset()
    };
    let report = bench(Scenario::Storm, params).await;
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.mounts, 60);
    assert_eq!((report.esc_opens, report.esc_reads), (1, 1));
    assert!(passed(
        &report,
        "1,000 concurrent first mounts make one open"
    ));
}

#[tokio::test]
async fn a_rotation_wave_after_expiry_re_mounts_every_pod_with_one_open() {
    let params = Params {
        stop: Stop::Count(20),
        pods: 20,
        // Long enough that a loaded machine finishes the wave before the entry expires again.
        cache_ttl: Duration::from_secs(2),
        esc_latency: Duration::from_millis(2),
        ..Scenario::Rotation.preset()
    };
    let report = bench(Scenario::Rotation, params).await;
    assert_eq!(report.errors, 0, "{:?}", report.first_error);
    assert_eq!(report.mounts, 20, "the re-mount wave is what is measured");
    assert_eq!((report.esc_opens, report.esc_reads), (1, 1));
    assert!(
        report.notes[0].contains("ESC 1 open / 1 read"),
        "{:?}",
        report.notes
    );
}

#[tokio::test]
async fn a_provider_that_was_already_running_has_no_startup_numbers() {
    let report = bench(Scenario::Startup, Scenario::Startup.preset()).await;
    assert!(report.ready_ms.is_empty());
    assert!(report.notes[0].starts_with("not measured"));
    assert!(checks(&report).is_empty());
}
