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
pub mod auth;
pub mod authority;
pub mod budget;
pub mod cache;
pub mod class;
pub mod client;
pub mod code;
pub mod collectors;
pub mod dotenv;
pub mod error;
#[cfg(test)]
mod fakes;
pub mod folder;
pub mod grpc;
pub mod held;
pub mod items;
pub mod kube_secrets;
pub mod metrics;
pub mod mount;
pub mod names;
pub mod oidc;
pub mod problems;
pub mod proto;
pub mod render;
pub mod server;
pub mod source;
pub mod stale;
pub mod template;
pub mod version;
pub mod wire;
pub mod yaml;
pub mod yaml_text;

pub use error::MountError;
pub use mount::Mounter;
