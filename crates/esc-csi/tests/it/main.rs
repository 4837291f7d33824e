//! The crate's integration tests, in one binary: one link instead of one per file.

mod chart;
mod cli;
mod documented_cli;
mod esc_server;
mod esc_server_doc;
mod import_circles;
mod local;
mod observability;
mod oidc;
mod operations;
mod readme;
mod soak;
mod support;
