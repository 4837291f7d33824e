//! The budgets of a mount, checked before the work they bound, so that no class, request or
//! reply can make the node daemon (shared by every pod on the node) run out of memory or CPU.
//! Each is a flag of `esc-csi serve`; docs/security.md lists them all.

/// Limits on reading a class's `secrets` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassLimits {
    /// The `secrets` text (`--max-secrets-bytes`).
    pub max_secrets_bytes: usize,
    /// Collections inside collections, flow or block (`--max-secrets-depth`).
    pub max_secrets_depth: usize,
    /// Items in the list (`--max-secrets-items`).
    pub max_items: usize,
    /// The tree once YAML aliases are expanded, counting 16 bytes a node plus its text
    /// (`--max-secrets-expanded-bytes`).
    pub max_secrets_expanded_bytes: usize,
}

impl Default for ClassLimits {
    /// Far above any real class (a few items, a few KiB), far below what would hurt.
    fn default() -> Self {
        ClassLimits {
            max_secrets_bytes: 256 << 10,
            max_secrets_depth: 16,
            max_items: 1000,
            max_secrets_expanded_bytes: 1 << 20,
        }
    }
}

/// Problems listed in one message; past it, "… and N more".
pub const MAX_PROBLEMS: usize = 20;

/// Warnings logged for one class; past it, one line says how many more.
pub const MAX_WARNINGS: usize = 20;

/// What a mount's response may still take, and the mount's one reservation of node-wide
/// memory. Rendered files count against `--max-response-bytes` as they are rendered, so that
/// rendering stops at the first file that does not fit instead of finishing every file of a
/// response that is then refused.
///
/// The reservation travels with the mount and holds, until the response is written (see
/// `crate::grpc`): the request (a multiple of its size), the ESC reply and its decoded tree
/// (added by the [`crate::fetch::EnvironmentSource`]), and each file's bytes twice (the file
/// and its copy in the encoded response).
#[derive(Debug)]
pub struct ResponseBudget {
    limit: usize,
    used: usize,
    memory: esc_api::Reservation,
}

/// Bytes a file takes in the response beyond its contents, path and version: field tags,
/// lengths and the mode.
pub const FILE_FRAMING: usize = 32;

impl ResponseBudget {
    pub fn new(limit: usize, memory: esc_api::Reservation) -> Self {
        ResponseBudget {
            limit,
            used: 0,
            memory,
        }
    }

    /// No limit and no memory accounting.
    pub fn unlimited() -> Self {
        ResponseBudget::new(usize::MAX, esc_api::MemoryBudget::new(0).empty())
    }

    /// The mount's reservation, to add what it holds as it holds it.
    pub fn memory(&mut self) -> &mut esc_api::Reservation {
        &mut self.memory
    }

    /// The mount's reservation, to keep until the response is written.
    pub fn into_memory(self) -> esc_api::Reservation {
        self.memory
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes counted so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// What the next file's contents may take.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// Counts `bytes` more: `Err` with the total when they do not fit in the response, or
    /// when the node's memory budget cannot hold them by `deadline`.
    pub async fn charge(
        &mut self,
        bytes: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(), Overflow> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(Overflow::Response {
                bytes: self.used,
                limit: self.limit,
            });
        }
        self.memory
            .grow(bytes.saturating_mul(2), deadline)
            .await
            .map_err(Overflow::Memory)
    }
}

/// Why a response could not grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Response { bytes: usize, limit: usize },
    Memory(esc_api::MemoryError),
}

/// A `template`'s text: far above a config file, far below what would make every mount of the
/// class slow. (Its class's whole `secrets` text is bounded by `--max-secrets-bytes` too.)
pub const MAX_TEMPLATE_BYTES: usize = 64 << 10;

/// `${...}` references in one `template`: each is a path resolved on every mount.
pub const MAX_TEMPLATE_REFERENCES: usize = 500;
