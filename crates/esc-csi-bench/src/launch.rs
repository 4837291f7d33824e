//! Where the provider under load comes from: the real daemon started as a child process (so
//! its memory is its own, read from `/proc`), a daemon already running, or, in tests, anything
//! else that serves the socket.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use esc_csi_provider::grpc::proto::v1alpha1::VersionRequest;
use serde::Serialize;
use tokio::time::Instant;

use crate::BenchError;
use crate::load::Client;

/// The daemon settings a scenario needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// `--cache-ttl`; zero turns the environment cache off.
    pub cache_ttl: Duration,
    /// The Kubernetes API the daemon reads auth Secrets from; none: no Kubernetes access.
    pub kube_url: Option<String>,
}

/// A provider serving on `socket`; stopped when dropped, if this process started it.
pub struct Provider {
    pub socket: PathBuf,
    /// The daemon's process, for its memory.
    pub pid: Option<u32>,
    /// From start to the first answered `Version` call, when this process started it.
    pub ready: Option<Duration>,
    /// Where the daemon serves metrics and health, when this process started it.
    pub admin: Option<SocketAddr>,
    _guard: Box<dyn Send>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("socket", &self.socket)
            .field("pid", &self.pid)
            .field("ready", &self.ready)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// `guard` is dropped with the provider (and should stop it).
    pub fn new(
        socket: PathBuf,
        pid: Option<u32>,
        ready: Option<Duration>,
        guard: impl Send + 'static,
    ) -> Provider {
        Provider {
            socket,
            pid,
            ready,
            admin: None,
            _guard: Box::new(guard),
        }
    }

    /// The daemon's metrics and health endpoint.
    #[must_use]
    pub fn with_admin(mut self, addr: SocketAddr) -> Provider {
        self.admin = Some(addr);
        self
    }

    /// What a cluster asks of a new daemon within seconds: the kubelet's readiness and
    /// liveness probes and a Prometheus scrape. Fails unless each answers 200.
    pub async fn probe_and_scrape(&self) -> Result<(), BenchError> {
        let Some(addr) = self.admin else {
            return Ok(());
        };
        for path in ["/readyz", "/healthz", "/metrics"] {
            let status = http_get_status(addr, path)
                .await
                .map_err(|e| BenchError::new(format!("GET {path} on the daemon: {e}")))?;
            if status != 200 {
                return Err(BenchError::new(format!(
                    "GET {path} on the daemon answered {status}"
                )));
            }
        }
        Ok(())
    }

    /// A client over the socket, as the driver connects.
    pub async fn client(&self) -> Result<Client, BenchError> {
        esc_csi_provider::grpc::dialer::connect(self.socket.clone())
            .await
            .map_err(|e| BenchError::new(format!("cannot connect to the provider: {e}")))
    }
}

/// Starts a provider for a scenario.
pub trait Launcher {
    fn launch(
        &mut self,
        config: &ProviderConfig,
    ) -> impl Future<Output = Result<Provider, BenchError>>;

    /// Whether `launch` gives a fresh process each time (startup is measured only then).
    fn starts_processes(&self) -> bool;
}

/// Starts `esc-csi serve` as a child process, with metrics and health served on loopback as
/// the chart serves them.
#[derive(Debug, Clone)]
pub struct ChildLauncher {
    pub binary: PathBuf,
    /// The daemon's `--log-level`; its logs are discarded.
    pub log_level: String,
    /// A command the daemon runs under, e.g. `["taskset", "-c", "0"]` or a profiler; empty:
    /// none.
    pub wrapper: Vec<String>,
}

/// How long a stopped daemon (or the profiler it runs under) has to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(60);
/// How long a starting daemon has to answer `Version`: generous, for one run under a profiler.
const READY_WITHIN: Duration = Duration::from_secs(60);

struct Running {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    /// SIGTERM first, as the kubelet stops a pod, so the daemon (and a profiler around it)
    /// can finish; SIGKILL if it has not exited within [`STOP_GRACE`].
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let asked = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if asked {
            let since = std::time::Instant::now();
            while since.elapsed() < STOP_GRACE {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launcher for ChildLauncher {
    async fn launch(&mut self, config: &ProviderConfig) -> Result<Provider, BenchError> {
        let dir = tempfile::tempdir().map_err(BenchError::new)?;
        let socket = dir.path().join("pulumi.sock");
        let admin = free_loopback_port()?;
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        command
            .arg("serve")
            .arg("--endpoint")
            .arg(&socket)
            .arg("--cache-ttl")
            .arg(format!("{}ms", config.cache_ttl.as_millis()))
            .arg("--log-level")
            .arg(&self.log_level)
            .arg("--metrics-addr")
            .arg(admin.to_string())
            // Only the stand-in, if any: never the cluster of whoever runs the bench.
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT");
        if let Some(url) = &config.kube_url {
            let kubeconfig =
                esc_csi_testkit::kubeconfig(dir.path(), url).map_err(BenchError::new)?;
            command.env("KUBECONFIG", kubeconfig);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| BenchError::new(format!("cannot start {}: {e}", self.binary.display())))?;
        let pid = child.id();
        let mut running = Running { child, _dir: dir };
        let ready = loop {
            if version_answers(&socket).await {
                break started.elapsed();
            }
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(BenchError::new(format!(
                    "{} serve exited before it was ready: {status}",
                    self.binary.display()
                )));
            }
            if started.elapsed() > READY_WITHIN {
                return Err(BenchError::new(format!(
                    "the daemon was not ready within {} s",
                    READY_WITHIN.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        };
        Ok(Provider::new(socket, Some(pid), Some(ready), running).with_admin(admin))
    }

    fn starts_processes(&self) -> bool {
        true
    }
}

/// A provider that is already running; scenarios share it, and its settings (such as the
/// cache) are its own.
#[derive(Debug, Clone)]
pub struct ExistingLauncher {
    pub socket: PathBuf,
    pub pid: Option<u32>,
}

impl Launcher for ExistingLauncher {
    async fn launch(&mut self, _config: &ProviderConfig) -> Result<Provider, BenchError> {
        if !version_answers(&self.socket).await {
            return Err(BenchError::new(format!(
                "no provider answers Version on {}",
                self.socket.display()
            )));
        }
        Ok(Provider::new(self.socket.clone(), self.pid, None, ()))
    }

    fn starts_processes(&self) -> bool {
        false
    }
}

/// A loopback address nothing listens on now, for the daemon's metrics and health.
fn free_loopback_port() -> Result<SocketAddr, BenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(BenchError::new)?;
    listener.local_addr().map_err(BenchError::new)
}

/// The status code of a plain HTTP/1.1 `GET path` (a probe: nothing else is read).
async fn http_get_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    // "HTTP/1.1 200 OK"
    std::str::from_utf8(&reply)
        .ok()
        .and_then(|text| text.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}

/// Whether a `Version` call on `socket` succeeds.
pub async fn version_answers(socket: &Path) -> bool {
    let Ok(mut client) = esc_csi_provider::grpc::dialer::connect(socket.to_path_buf()).await else {
        return false;
    };
    client
        .version(VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .is_ok()
}

/// A process's resident memory, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the most resident since start or the last [`reset_peak`].
    pub hwm_kib: u64,
    /// `RssAnon`: the part of `VmRSS` that is the process's own (heap, stacks, relocated
    /// data); the rest is file pages (code) shared with the page cache.
    pub anon_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:")?,
    })
}

/// Resets `VmHWM` to the current RSS (Linux `clear_refs` 5); false if not allowed.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Samples a process's RSS every few milliseconds until stopped, keeping the largest.
#[derive(Debug)]
pub struct PeakSampler {
    pid: u32,
    peak: Arc<AtomicU64>,
    reset: bool,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    pub fn start(pid: u32) -> PeakSampler {
        let reset = reset_peak(pid);
        let peak = Arc::new(AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(m) = memory(pid) {
                    seen.fetch_max(m.rss_kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        PeakSampler {
            pid,
            peak,
            reset,
            task,
        }
    }

    /// The peak RSS in KiB since `start`: the kernel's own high-water mark when it could be
    /// reset, else the largest sample.
    pub fn stop(self) -> u64 {
        self.task.abort();
        let sampled = self.peak.load(Ordering::Relaxed);
        match memory(self.pid) {
            Some(m) if self.reset => sampled.max(m.hwm_kib),
            Some(m) => sampled.max(m.rss_kib),
            None => sampled,
        }
    }
}

/// CPU time a process has used so far, all its threads together (`/proc/<pid>/task/*/schedstat`,
/// nanoseconds on a CPU).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}
