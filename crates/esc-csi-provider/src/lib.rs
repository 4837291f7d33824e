//! The esc-csi provider: a Secrets Store CSI Driver provider that mounts Pulumi ESC values.
//!
//! The folders are the stages of a Mount, in the order it flows:
//!
//! - [`grpc`]: where a Mount enters: the `v1alpha1.CSIDriverProvider` service, its socket, the
//!   h2 `:authority` adapter, the dialer, and the one map from mount errors to gRPC statuses;
//! - [`class`]: the attributes read into a checked [`class::Class`] (keys, the daemon's policy,
//!   items and their YAML);
//! - [`credential`]: the Pulumi token: the pod's service-account token exchanged, a
//!   nodePublishSecretRef, or an auth Secret read through the Kubernetes reader;
//! - [`fetch`]: the environment, through the source seam, its cache and stale serving;
//! - [`render`]: values to bytes, knowing no class: formats, variables files, folders,
//!   templates, path rules;
//! - [`mount`]: the [`Mounter`] that runs the stages, the response budget and file versions.
//!
//! Each stage owns its error; [`error`] wraps them in [`MountError`] and decides each one's
//! [`code::ErrorCode`] once, and no stage imports it. Beside the stages: [`cache`] (the one
//! coalescing TTL store), [`metrics`] (one registry's worth of counters), [`admin`] (the
//! operator's HTTP endpoints) and [`compose`], the composition root that puts them together the
//! same way for every caller. Imports run one way: no module imports one above it (a test in
//! `crates/esc-csi/tests/it/import_circles.rs` keeps every crate free of import circles).

pub mod admin;
pub mod cache;
pub mod class;
pub mod code;
pub mod compose;
pub mod credential;
pub mod error;
#[cfg(test)]
mod fakes;
pub mod fetch;
pub mod grpc;
pub mod metrics;
pub mod mount;
pub mod render;

pub use error::MountError;
pub use mount::Mounter;
