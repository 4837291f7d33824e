//! A hook for whoever counts the client's HTTP calls (the provider's Prometheus metrics), so
//! that this crate needs no metrics library.

use std::fmt;
use std::time::Duration;

/// Told about every HTTP call the client makes and every retry it decides on.
pub trait Observer: Send + Sync + fmt::Debug + 'static {
    /// One HTTP call finished. `endpoint` is `open` or `read`; `status` is the HTTP status, or
    /// `connect`, `timeout`, `decode` or `too_large` when there was no usable answer.
    fn request(&self, endpoint: &'static str, status: &str, elapsed: Duration);

    /// A failed call to `endpoint` is about to be tried again.
    fn retry(&self, endpoint: &'static str);
}
