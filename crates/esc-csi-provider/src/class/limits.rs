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
