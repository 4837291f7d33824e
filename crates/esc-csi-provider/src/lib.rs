//! The esc-csi provider: a Secrets Store CSI Driver provider that mounts Pulumi ESC values.
//!
//! The domain sits in the middle — the SecretProviderClass model ([`class`], [`items`]),
//! rendering ([`render`]), versions ([`version`]), auth resolution ([`auth`]), the mount itself
//! ([`mount`]) and what a failure means ([`code`]) — behind three seams: where values come from
//! ([`source`]), where auth Secrets are read ([`auth::SecretReader`]) and where service-account
//! tokens are exchanged ([`oidc::ExchangeClient`]). The gRPC service ([`grpc`], [`server`]) and
//! the Kubernetes reader ([`kube_secrets`]) are adapters around it. [`wire`] puts them
//! together, the same way for every caller.

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
