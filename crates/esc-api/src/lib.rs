//! The Pulumi ESC API as esc-csi uses it: open an environment, read it whole, decode leniently.
//!
//! One open and one read give every value of an environment, so a mount resolves all of its
//! paths locally instead of making a call per item. With workload identity, a call to the
//! Pulumi OAuth token endpoint ([`oauth`]) first trades the pod's token for an access token.

mod client;
mod error;
mod limit;
mod memory_budget;
pub mod oauth;
mod observe;
pub mod reply;
mod retry;
pub mod wire;

use std::fmt;

pub use client::{ClientOptions, EscClient};
pub use error::{ErrorKind, EscError, Failure, Step, sanitize};
/// The ESC value type, shared with the evaluator (see the `esc-value` crate).
pub use esc_value::{Data, MAX_DEPTH, Number, OBJECT_WEIGHT, Value};
pub use memory_budget::{HOLDING_PATIENCE, MemoryBudget, MemoryError, Reservation};
pub use oauth::{ExchangedToken, TokenExchange, TokenType};
pub use observe::Observer;
pub use reply::{MAX_RETRY_AFTER, MAX_TOKEN_LIFETIME};
pub use retry::RetryPolicy;

/// The default ESC API base.
pub const DEFAULT_API_URL: &str = "https://api.pulumi.com/api/esc";

/// Which environment to open: `org/project/env`, optionally pinned `@revision-or-tag`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvironmentRef {
    pub organization: String,
    pub project: String,
    pub environment: String,
    /// A revision number or tag; `None` opens the latest.
    pub version: Option<String>,
}

impl fmt::Display for EnvironmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.organization, self.project, self.environment
        )?;
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        Ok(())
    }
}
