//! The driver's provider API, generated from `proto/v1alpha1.proto`.

#[allow(
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::uninlined_format_args
)]
pub mod v1alpha1 {
    tonic::include_proto!("v1alpha1");
}

use std::fmt;

use v1alpha1::{File, MountRequest};

/// File contents are secrets: only their size is shown.
impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .finish()
    }
}

/// `attributes` carries service account tokens and `secrets` an access token: neither is shown.
impl fmt::Debug for MountRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MountRequest")
            .field(
                "attributes",
                &format_args!("<{} bytes>", self.attributes.len()),
            )
            .field("secrets", &format_args!("<redacted>"))
            .field("target_path", &self.target_path)
            .field("permission", &self.permission)
            .field("current_object_version", &self.current_object_version)
            .finish()
    }
}
