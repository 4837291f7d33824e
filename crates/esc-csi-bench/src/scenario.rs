//! The scenarios of issue 5 and the parameters each one presets; command-line flags override
//! any of them.

use std::time::Duration;

use serde::Serialize;

/// A named load shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Start the daemon a few times: time to the first answered Version, and idle memory.
    Startup,
    /// The cache holds the environment: the provider's own cost per mount.
    Warm,
    /// Warm, offered a steady 5,000 mounts/s (at most 64 in flight): latency at that load.
    #[value(name = "warm-rate")]
    #[serde(rename = "warm-rate")]
    WarmRate,
    /// No cache and 20 ms per ESC call: every mount opens and reads.
    Cold,
    /// Cold, with a class of one item.
    #[value(name = "items-1")]
    #[serde(rename = "items-1")]
    Items1,
    /// Cold, with a class of fifty items.
    #[value(name = "items-50")]
    #[serde(rename = "items-50")]
    Items50,
    /// Cold, with a 1 KB environment.
    #[value(name = "env-1kb")]
    #[serde(rename = "env-1kb")]
    Env1Kb,
    /// Cold, with a 1 MB environment.
    #[value(name = "env-1mb")]
    #[serde(rename = "env-1mb")]
    Env1Mb,
    /// 1,000 pods of one class mounting at once on a fresh daemon (a node filling up).
    Storm,
    /// 500 pods mounted, then all re-mounted after the cache expired, as rotation does.
    Rotation,
    /// Cold, with a class that also uses every item kind of issue 16 (dotenv, shell, a folder,
    /// `files`, a template).
    #[value(name = "every-kind")]
    #[serde(rename = "every-kind")]
    EveryKind,
    /// 32 mounts at once, each reading its own ~1 MB environment (a token per pod, so nothing
    /// is shared) shaped at the budgets' edges: a folder under 15 levels of 255-byte keys over
    /// 45k leaves, and flat objects of 45k keys as JSON, YAML and files. The daemon's peak
    /// RSS and the slowest `Version` answered meanwhile. Not part of `all`.
    Hostile,
    /// Every scenario above (but `hostile`), then a summary against the targets.
    All,
}

impl Scenario {
    /// The scenarios `all` runs, in order.
    pub const EVERY: [Scenario; 11] = [
        Scenario::Startup,
        Scenario::Warm,
        Scenario::WarmRate,
        Scenario::Cold,
        Scenario::Items1,
        Scenario::Items50,
        Scenario::Env1Kb,
        Scenario::Env1Mb,
        Scenario::Storm,
        Scenario::Rotation,
        Scenario::EveryKind,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Startup => "startup",
            Scenario::Warm => "warm",
            Scenario::WarmRate => "warm-rate",
            Scenario::Cold => "cold",
            Scenario::Items1 => "items-1",
            Scenario::Items50 => "items-50",
            Scenario::Env1Kb => "env-1kb",
            Scenario::Env1Mb => "env-1mb",
            Scenario::Storm => "storm",
            Scenario::Rotation => "rotation",
            Scenario::EveryKind => "every-kind",
            Scenario::Hostile => "hostile",
            Scenario::All => "all",
        }
    }

    /// Whether every mount is expected to reach ESC (cache off).
    pub fn is_cold(self) -> bool {
        matches!(
            self,
            Scenario::Cold
                | Scenario::Items1
                | Scenario::Items50
                | Scenario::Env1Kb
                | Scenario::Env1Mb
                | Scenario::EveryKind
                | Scenario::Hostile
        )
    }

    /// The parameters for this scenario.
    pub fn preset(self) -> Params {
        let base = Params {
            concurrency: 64,
            stop: Stop::Count(1),
            items: 10,
            env_bytes: 1024,
            esc_latency: Duration::from_millis(20),
            cache_ttl: Duration::from_secs(30),
            pods: 1000,
            warm_up: false,
            baseline: false,
            starts: 5,
            rate: None,
            auth: Auth::NodePublish,
            class: Class::Classic,
        };
        let cold = Params {
            concurrency: 1,
            stop: Stop::Count(200),
            cache_ttl: Duration::ZERO,
            baseline: true,
            ..base
        };
        match self {
            Scenario::Startup => Params {
                stop: Stop::Count(0),
                ..base
            },
            Scenario::Warm | Scenario::All => Params {
                stop: Stop::Duration(Duration::from_secs(10)),
                warm_up: true,
                ..base
            },
            Scenario::WarmRate => Params {
                stop: Stop::Duration(Duration::from_secs(10)),
                warm_up: true,
                rate: Some(5000.0),
                ..base
            },
            Scenario::Cold | Scenario::Env1Kb => cold,
            Scenario::Items1 => Params { items: 1, ..cold },
            Scenario::Items50 => Params { items: 50, ..cold },
            Scenario::EveryKind => Params {
                class: Class::EveryKind,
                ..cold
            },
            Scenario::Hostile => Params {
                concurrency: 32,
                stop: Stop::Count(320),
                items: 1,
                pods: 320,
                env_bytes: 1 << 20,
                baseline: false,
                class: Class::Hostile,
                ..cold
            },
            Scenario::Env1Mb => Params {
                env_bytes: 1 << 20,
                stop: Stop::Count(100),
                ..cold
            },
            Scenario::Storm => Params {
                concurrency: 1000,
                stop: Stop::Count(1000),
                ..base
            },
            Scenario::Rotation => Params {
                concurrency: 16,
                stop: Stop::Count(500),
                pods: 500,
                // Rotation comes every 2 minutes, after the 30 s cache has expired; a short
                // TTL lets the bench wait for that instead of 30 s.
                cache_ttl: Duration::from_secs(1),
                ..base
            },
        }
    }
}

/// Where the daemon gets each mount's Pulumi access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Auth {
    /// In the request, from the pod volume's `nodePublishSecretRef`: no Kubernetes involved.
    #[default]
    NodePublish,
    /// From the class's `authSecretName`, read through a Kubernetes API stand-in (the Go
    /// provider's way): the daemon builds its Kubernetes client and caches the Secret.
    AuthSecret,
}

impl Auth {
    pub fn name(self) -> &'static str {
        match self {
            Auth::NodePublish => "node-publish",
            Auth::AuthSecret => "auth-secret",
        }
    }
}

/// Which item kinds the class uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Only `fileName` + `secretKey` items, one file each.
    #[default]
    Classic,
    /// Those items plus one of each kind of issue 16: `.env` (dotenv) and `env.sh` (shell) of
    /// `environmentVariables`, an object as a folder, the `files` folder and a template.
    EveryKind,
    /// Those items plus items over values at the budgets' edges (see [`Scenario::Hostile`]).
    Hostile,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Classic => "classic",
            Class::EveryKind => "every-kind",
            Class::Hostile => "hostile",
        }
    }

    /// How many items the class adds to the classic ones (`workload`'s `KIND_SECRETS`, and
    /// with [`Class::Hostile`] its `HOSTILE_SECRETS` too; a test there counts them).
    pub fn added_items(self) -> usize {
        match self {
            Class::Classic => 0,
            Class::EveryKind => 5,
            Class::Hostile => 5 + 3,
        }
    }
}

/// When a load phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this many mounts.
    Count(u64),
    /// After this long (mounts in flight then finish and are counted).
    #[serde(serialize_with = "as_secs")]
    Duration(Duration),
}

/// What a scenario runs with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// Mounts in flight at once.
    pub concurrency: usize,
    pub stop: Stop,
    /// Items (files) in the class.
    pub items: usize,
    /// Approximate size of the environment's plain JSON.
    pub env_bytes: usize,
    /// Added by the ESC stand-in to every call.
    #[serde(serialize_with = "as_secs")]
    pub esc_latency: Duration,
    /// The daemon's `--cache-ttl`.
    #[serde(serialize_with = "as_secs")]
    pub cache_ttl: Duration,
    /// Distinct pods the mounts cycle through (rotation: the pods re-mounted).
    pub pods: usize,
    /// One mount before measuring, so the cache holds the environment.
    pub warm_up: bool,
    /// Also time bare open + read calls to the stand-in, to compare a mount with.
    pub baseline: bool,
    /// Startup: how many times the daemon is started.
    pub starts: usize,
    /// Mounts offered per second (open loop); `None` sends as fast as answers come back.
    pub rate: Option<f64>,
    pub auth: Auth,
    pub class: Class,
}

impl Params {
    /// The class's items as the tables show them: `10`, or `10+5` with the five items of
    /// [`Class::EveryKind`].
    pub fn items_label(&self) -> String {
        match self.class {
            Class::Classic => self.items.to_string(),
            class => format!("{}+{}", self.items, class.added_items()),
        }
    }
}

/// Flags given on the command line, each replacing the preset's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub concurrency: Option<usize>,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub items: Option<usize>,
    pub env_bytes: Option<usize>,
    pub esc_latency: Option<Duration>,
    pub cache_ttl: Option<Duration>,
    pub pods: Option<usize>,
    pub rate: Option<f64>,
    pub auth: Option<Auth>,
    pub class: Option<Class>,
}

impl Params {
    pub fn with(mut self, o: &Overrides) -> Params {
        if let Some(c) = o.concurrency {
            self.concurrency = c.max(1);
        }
        if let Some(d) = o.duration {
            self.stop = Stop::Duration(d);
        }
        if let Some(n) = o.count {
            self.stop = Stop::Count(n);
        }
        self.items = o.items.unwrap_or(self.items).max(1);
        self.env_bytes = o.env_bytes.unwrap_or(self.env_bytes);
        self.esc_latency = o.esc_latency.unwrap_or(self.esc_latency);
        self.cache_ttl = o.cache_ttl.unwrap_or(self.cache_ttl);
        self.pods = o.pods.unwrap_or(self.pods).max(1);
        self.rate = o.rate.filter(|r| *r > 0.0).or(self.rate);
        self.auth = o.auth.unwrap_or(self.auth);
        self.class = o.class.unwrap_or(self.class);
        self
    }
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
