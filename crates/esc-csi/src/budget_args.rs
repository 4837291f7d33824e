//! `esc-csi serve`'s budgets: what one mount, and all mounts at once, may cost the node daemon
//! in memory and CPU. Any class author controls a class's `secrets`, `apiUrl` (so the replies
//! it reads) and a pod's attributes, so each bound is checked before the work it bounds.
//! docs/security.md has the table of budgets and why each default.

use clap::Args;
use esc_api::ClientOptions;
use esc_csi_provider::class::limits::ClassLimits;
use esc_csi_provider::compose::{DEFAULT_MAX_ESC_REPLY_BYTES, DEFAULT_MAX_MEMORY_IN_FLIGHT};
use esc_csi_provider::grpc::ServiceOptions;

#[derive(Debug, Clone, Args)]
pub(crate) struct BudgetArgs {
    /// Largest Mount request in bytes (attributes, nodePublishSecretRef and all); larger ones
    /// are refused before they are decoded.
    #[arg(long, env = "ESC_CSI_MAX_REQUEST_BYTES", default_value_t = ServiceOptions::default().max_request_bytes)]
    pub(crate) max_request_bytes: usize,

    /// Largest `secrets` parameter of a class, in bytes.
    #[arg(long, env = "ESC_CSI_MAX_SECRETS_BYTES", default_value_t = ClassLimits::default().max_secrets_bytes)]
    pub(crate) max_secrets_bytes: usize,

    /// Deepest nesting of collections in `secrets` (flow `[..]`/`{..}` or block), checked
    /// before the YAML parser runs: its time grows with the square of flow nesting.
    #[arg(long, env = "ESC_CSI_MAX_SECRETS_DEPTH", default_value_t = ClassLimits::default().max_secrets_depth)]
    pub(crate) max_secrets_depth: usize,

    /// Most items (files) in one class's `secrets`.
    #[arg(long, env = "ESC_CSI_MAX_SECRETS_ITEMS", default_value_t = ClassLimits::default().max_items)]
    pub(crate) max_secrets_items: usize,

    /// Largest `secrets` once YAML aliases (*name) are expanded, in bytes (16 a node plus its
    /// text): bounds what anchors and aliases can multiply.
    #[arg(long, env = "ESC_CSI_MAX_SECRETS_EXPANDED_BYTES", default_value_t = ClassLimits::default().max_secrets_expanded_bytes)]
    pub(crate) max_secrets_expanded_bytes: usize,

    /// Largest ESC API reply in bytes.
    #[arg(long, env = "ESC_CSI_MAX_ESC_REPLY_BYTES", default_value_t = DEFAULT_MAX_ESC_REPLY_BYTES)]
    pub(crate) max_esc_reply_bytes: usize,

    /// Most JSON values in one ESC API reply, counted before it is decoded (each takes about
    /// 128 bytes once decoded); 0 for no limit.
    #[arg(long, env = "ESC_CSI_MAX_ESC_REPLY_VALUES", default_value_t = ClientOptions::default().max_reply_values)]
    pub(crate) max_esc_reply_values: usize,

    /// Node-wide bound on the memory mounts hold at once, in bytes: requests, ESC replies and
    /// their decoding, rendered files. A mount waits (within its deadline) while others hold
    /// it; one that could never fit is refused. Keep it well under the pod's memory limit
    /// less the cache's (--cache-max-bytes); 0 for no bound.
    #[arg(long, env = "ESC_CSI_MAX_MEMORY_IN_FLIGHT", default_value_t = DEFAULT_MAX_MEMORY_IN_FLIGHT)]
    pub(crate) max_memory_in_flight: usize,
}

impl BudgetArgs {
    pub(crate) fn class_limits(&self) -> ClassLimits {
        ClassLimits {
            max_secrets_bytes: self.max_secrets_bytes,
            max_secrets_depth: self.max_secrets_depth,
            max_items: self.max_secrets_items,
            max_secrets_expanded_bytes: self.max_secrets_expanded_bytes,
        }
    }
}
