//! What the Secrets Store CSI Driver does around a provider, done locally so a
//! SecretProviderClass can be mounted or checked from a laptop or CI: read the manifest
//! ([`manifest`]), build the attributes the driver would send ([`attributes`]) and write the
//! files the way the driver does ([`writer`]). The provider itself is called with
//! `esc_csi_provider::grpc::dialer`; this crate does not depend on it.

pub mod attributes;
pub mod manifest;
pub mod writer;
