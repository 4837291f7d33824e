//! What the Secrets Store CSI Driver does around a provider, done locally so a
//! SecretProviderClass can be mounted or checked from a laptop or CI: read the manifest
//! ([`manifest`]), build the attributes the driver would send ([`attributes`]), call the
//! provider over its unix socket ([`client`]) and write the files the way the driver does
//! ([`writer`]).

pub mod attributes;
pub mod client;
pub mod manifest;
pub mod writer;
