//! The crate's integration tests, in one binary: one link instead of one per file.

mod api;
mod budgets;
mod conformance;
mod differential;
mod go_compat;
