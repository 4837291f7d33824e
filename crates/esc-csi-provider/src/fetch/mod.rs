//! Where environment values come from. In production, the ESC API; the trait is the seam for
//! caching and for local runs.

pub mod cached;
pub mod stale;

use std::future::Future;
use std::sync::Arc;

use esc_api::{EnvironmentRef, EscClient, EscError, Reservation, Value};
use secrecy::SecretString;
use tokio::time::Instant;
use url::Url;

/// Gives the whole evaluated environment as one object value, shared: a cached environment
/// is handed to every mount that reads it, never copied per mount. The memory a fetch holds
/// (the reply and its decoded tree) is added to `memory`, the mount's reservation, and stays
/// charged until the mount's response is sent.
pub trait EnvironmentSource: Send + Sync + 'static {
    fn fetch(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        deadline: Instant,
        memory: &mut Reservation,
    ) -> impl Future<Output = Result<Arc<Value>, EscError>> + Send;
}

impl EnvironmentSource for EscClient {
    fn fetch(
        &self,
        api: &Url,
        env: &EnvironmentRef,
        token: &SecretString,
        deadline: Instant,
        memory: &mut Reservation,
    ) -> impl Future<Output = Result<Arc<Value>, EscError>> + Send {
        let read = self.open_and_read_held(api, env, token, deadline, memory);
        async move { read.await.map(Arc::new) }
    }
}
