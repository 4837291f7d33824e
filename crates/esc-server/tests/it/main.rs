//! The crate's integration tests, in one binary: one link instead of one per file.
//! `tests/logs.rs` stays alone: it captures logs process-wide.

mod api;
mod clients;
mod evaluated;
mod hostile;
mod oidc;
mod safety;
mod sdk;
mod support;
