//! Command-line interface. Every flag can also be set from an `ESC_CSI_*` environment variable,
//! which is how the DaemonSet configures the daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use esc_api::ClientOptions;
use esc_csi_provider::cache::CacheOptions;
use esc_csi_provider::grpc::ServiceOptions;
use esc_gotext::{duration_text, parse_duration};
use url::Url;

/// Mounts Pulumi ESC environments into Kubernetes pods through the Secrets Store CSI Driver.
#[derive(Debug, Parser)]
#[command(name = "esc-csi", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// "info,esc_csi_provider=debug" [default: info for servers, warn for mount and check].
    #[arg(long, global = true, env = "ESC_CSI_LOG_LEVEL", help_heading = GLOBAL, display_order = 1000)]
    pub(crate) log_level: Option<String>,

    /// Log line format.
    #[arg(long, global = true, env = "ESC_CSI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, help_heading = GLOBAL, display_order = 1001)]
    pub(crate) log_format: LogFormat,
}

/// The help heading of the flags every subcommand takes, so they do not sit among its own.
const GLOBAL: &str = "Global options";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the provider API on the driver's unix socket (the DaemonSet's command).
    Serve(ServeArgs),
    /// Mount a SecretProviderClass into a folder on this machine, as the driver would in a pod.
    Mount(MountArgs),
    /// Check a SecretProviderClass offline and list every problem.
    // The pod's name and uid change nothing `check` can show.
    #[command(mut_arg("pod_name", |a| a.hide(true)), mut_arg("pod_uid", |a| a.hide(true)))]
    Check(CheckArgs),
    /// Serve the reading part of the Pulumi ESC API over a folder of environment definitions,
    /// for local runs and CI without a cloud account.
    EscServer(crate::esc_server::EscServerArgs),
}

/// The pod a local mount or check stands in for: the driver sends these with every Mount.
#[derive(Debug, Args)]
pub(crate) struct PodArgs {
    /// The pod's namespace [default: the class's metadata.namespace, else "default"].
    #[arg(long)]
    pub(crate) namespace: Option<String>,

    /// The pod's name.
    #[arg(long, default_value = "esc-csi-mount")]
    pub(crate) pod_name: String,

    /// The pod's service account (whose token OIDC exchanges).
    #[arg(long, default_value = "default")]
    pub(crate) service_account: String,

    /// The pod's uid [default: derived from namespace and pod name, the same on every run].
    #[arg(long)]
    pub(crate) pod_uid: Option<String>,
}

/// The ESC API: the same flags and variables for `serve`, `mount` and `check`.
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    /// ESC API base for classes that set no apiUrl.
    #[arg(long, env = "ESC_CSI_API_URL", default_value = esc_api::DEFAULT_API_URL)]
    pub(crate) api_url: Url,

    /// Accept plain-http apiUrl values to hosts other than loopback (the token then travels
    /// unencrypted).
    #[arg(long, env = "ESC_CSI_ALLOW_INSECURE_API_URL")]
    pub(crate) allow_insecure_api_url: bool,
}

/// Where tokens may go: the same rules for `serve`, `mount` and `check`.
#[derive(Debug, Args)]
pub(crate) struct TokenPolicyArgs {
    /// An ESC API that a class's apiUrl may name, as a URL prefix; repeat the flag, or separate
    /// URLs with commas in the variable. Unset: any URL the other apiUrl rules accept. The
    /// default API (--api-url) is always allowed.
    #[arg(
        long = "allowed-api-url",
        env = "ESC_CSI_ALLOWED_API_URLS",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub(crate) allowed_api_urls: Vec<Url>,

    /// A service-account token audience (oidcAudience) that classes may have exchanged besides
    /// their organization's own urn:pulumi:org:<organization>; repeat the flag, or separate
    /// audiences with commas in the variable.
    #[arg(
        long = "allowed-oidc-audience",
        env = "ESC_CSI_ALLOWED_OIDC_AUDIENCES",
        value_name = "AUDIENCE",
        value_delimiter = ','
    )]
    pub(crate) allowed_oidc_audiences: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct MountArgs {
    /// SecretProviderClass manifest (YAML; may hold other objects too).
    #[arg(value_name = "SPC_FILE")]
    pub(crate) class: PathBuf,

    /// Folder to write the files into (created if missing), laid out as the driver does.
    #[arg(long, value_name = "DIR")]
    pub(crate) target: PathBuf,

    /// Which SecretProviderClass, when the file holds several.
    #[arg(long)]
    pub(crate) name: Option<String>,

    #[command(flatten)]
    pub(crate) pod: PodArgs,

    /// Serve the environments in DIR (DIR/<project>/<env>.yaml) with a local ESC server and
    /// point the class at it instead of its apiUrl.
    #[arg(long, value_name = "DIR")]
    pub(crate) environments: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) api: ApiArgs,

    #[command(flatten)]
    pub(crate) token_policy: TokenPolicyArgs,

    /// Time budget of the mount. Units: ms, s, m, h.
    #[arg(long, default_value = duration_text(ServiceOptions::default().mount_timeout), value_parser = parse_duration)]
    pub(crate) timeout: Duration,

    /// File with at least 32 random bytes keying object versions. Without it, a key kept for
    /// this user in ~/.cache/esc-csi/version-key (made on first use), so the VERSION column
    /// changes only when a file's content does.
    #[arg(long)]
    pub(crate) version_key_file: Option<PathBuf>,

    /// Refuse to mount a class that has warnings (unknown item keys), as check --strict does.
    #[arg(long)]
    pub(crate) strict: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// SecretProviderClass manifest (YAML; may hold other objects too).
    #[arg(value_name = "SPC_FILE")]
    pub(crate) class: PathBuf,

    /// Which SecretProviderClass, when the file holds several.
    #[arg(long)]
    pub(crate) name: Option<String>,

    #[command(flatten)]
    pub(crate) pod: PodArgs,

    #[command(flatten)]
    pub(crate) api: ApiArgs,

    #[command(flatten)]
    pub(crate) token_policy: TokenPolicyArgs,

    /// Check for a daemon that may read auth Secrets (the chart's authSecrets.enabled): no
    /// warning for a class that names authSecretName.
    #[arg(long)]
    pub(crate) auth_secrets: bool,

    /// Check for a daemon started with --allow-cross-namespace-auth (the chart's
    /// args.allowCrossNamespaceAuth): an authSecretNamespace other than the pod's is then
    /// allowed instead of refused.
    #[arg(long)]
    pub(crate) allow_cross_namespace_auth: bool,

    /// Exit 1 when the class has warnings (unknown item keys, an auth Secret the daemon may
    /// not read), not only when it has problems.
    #[arg(long)]
    pub(crate) strict: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Unix socket to serve on; its folder is created and a stale socket replaced. The driver
    /// dials <providers dir>/<provider>.sock, and provider is "pulumi".
    #[arg(
        long,
        env = "ESC_CSI_ENDPOINT",
        default_value = "/etc/kubernetes/secrets-store-csi-providers/pulumi.sock"
    )]
    pub(crate) endpoint: PathBuf,

    /// Let a SecretProviderClass read its auth Secret (authSecretNamespace) from a namespace
    /// other than the pod's. Off by default: a class could otherwise borrow another
    /// namespace's token.
    #[arg(long, env = "ESC_CSI_ALLOW_CROSS_NAMESPACE_AUTH")]
    pub(crate) allow_cross_namespace_auth: bool,

    #[command(flatten)]
    pub(crate) api: ApiArgs,

    #[command(flatten)]
    pub(crate) token_policy: TokenPolicyArgs,

    /// Time budget of one mount, all calls included (a shorter gRPC deadline wins). Units:
    /// ms, s, m, h.
    #[arg(long, env = "ESC_CSI_MOUNT_TIMEOUT", default_value = duration_text(ServiceOptions::default().mount_timeout), value_parser = parse_duration)]
    pub(crate) mount_timeout: Duration,

    /// Largest Mount response in bytes; match the driver's --max-call-recv-msg-size.
    #[arg(long, env = "ESC_CSI_MAX_RESPONSE_BYTES", default_value_t = ServiceOptions::default().max_response_bytes)]
    pub(crate) max_response_bytes: usize,

    #[command(flatten)]
    pub(crate) budgets: crate::budget_args::BudgetArgs,

    /// File with at least 32 random bytes keying object versions, so versions survive
    /// restarts. Without it a random key is made at start, and every file reports a new
    /// version once after a restart.
    #[arg(long, env = "ESC_CSI_VERSION_KEY_FILE")]
    pub(crate) version_key_file: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR/metrics (with /healthz and /readyz too), e.g.
    /// 0.0.0.0:8095. Off when unset.
    #[arg(long, env = "ESC_CSI_METRICS_ADDR", value_name = "ADDR")]
    pub(crate) metrics_addr: Option<SocketAddr>,

    /// Serve /healthz (the process answers) and /readyz (a real Version call over the socket
    /// succeeds) at ADDR, e.g. 0.0.0.0:8096. May equal --metrics-addr. Off when unset.
    #[arg(long, env = "ESC_CSI_HEALTH_ADDR", value_name = "ADDR")]
    pub(crate) health_addr: Option<SocketAddr>,

    /// After SIGTERM/SIGINT, how long in-flight mounts may take before the daemon stops anyway;
    /// a second signal stops it at once. Keep it below the pod's
    /// terminationGracePeriodSeconds.
    #[arg(long, env = "ESC_CSI_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub(crate) shutdown_grace: Duration,
    /// How long an environment read is reused for identical mounts (same API, environment,
    /// version and token); 0s keeps nothing. Keep it well under the driver's rotation
    /// interval, and small (or 0s) for environments with short-lived fn::open credentials.
    #[arg(long, env = "ESC_CSI_CACHE_TTL", default_value = duration_text(CacheOptions::environments().ttl), value_parser = parse_duration)]
    pub(crate) cache_ttl: Duration,

    /// Most environment reads kept.
    #[arg(long, env = "ESC_CSI_CACHE_MAX_ENTRIES", default_value_t = CacheOptions::environments().max_entries)]
    pub(crate) cache_max_entries: usize,

    /// Most bytes of environment reads kept (estimated); also bounds --serve-stale-on-error.
    #[arg(long, env = "ESC_CSI_CACHE_MAX_BYTES", default_value_t = CacheOptions::environments().max_bytes)]
    pub(crate) cache_max_bytes: usize,

    /// How long an auth Secret (authSecretName) read is reused; 0s keeps nothing.
    #[arg(long, env = "ESC_CSI_AUTH_SECRET_CACHE_TTL", default_value = duration_text(CacheOptions::auth_secrets().ttl), value_parser = parse_duration)]
    pub(crate) auth_secret_cache_ttl: Duration,

    /// Most connections open at once to the provider socket; past it, new connections are
    /// closed as they are accepted (the driver keeps one open).
    #[arg(long, env = "ESC_CSI_MAX_CONNECTIONS", default_value_t = ServiceOptions::default().max_connections, value_parser = at_least_one)]
    pub(crate) max_connections: usize,

    /// Most calls in flight at once to one ESC API origin; 0 for no limit.
    #[arg(long, env = "ESC_CSI_MAX_CONCURRENT_REQUESTS", default_value_t = ClientOptions::default().max_concurrent_requests)]
    pub(crate) max_concurrent_requests: usize,

    /// When ESC is unreachable (no connection, timeout, 429 or 5xx after retries), answer a
    /// re-mount of a pod with the content last mounted for it with the same token, if younger
    /// than this. Off by default; never used for a first mount or a refusal.
    #[arg(long, env = "ESC_CSI_SERVE_STALE_ON_ERROR", value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) serve_stale_on_error: Option<Duration>,
}

/// A count that must be at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
