//! The crate's integration tests, in one binary: one link instead of one per file.
//! `tests/logs.rs` stays alone: it captures logs process-wide.

mod admin;
mod cache;
mod documented_errors;
mod documented_parameters;
mod errors;
mod faults;
mod hostile;
mod mount;
mod readers;
mod resilience;
mod socket;
mod support;
mod views;
