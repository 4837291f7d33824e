//! The daemon's policy for reading classes: where tokens may be sent (the API URL allow-list),
//! which audiences may be exchanged, how much of `secrets` is read.

use std::net::IpAddr;

use esc_path::Quoted;
use url::{Host, Url};

use crate::class::limits::ClassLimits;

/// Daemon-wide settings that shape how classes are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Used when a class has no `apiUrl`.
    pub default_api_url: Url,
    /// Let `authSecretNamespace` name a namespace other than the pod's.
    pub allow_cross_namespace_auth: bool,
    /// Accept `http://` API URLs to non-loopback hosts (the token then travels in clear).
    pub allow_insecure_api_url: bool,
    /// ESC APIs a class's `apiUrl` may name (each a URL prefix); empty allows any.
    /// `default_api_url` is always allowed.
    pub allowed_api_urls: Vec<Url>,
    /// `oidcAudience` values allowed besides the class's own `urn:pulumi:org:<organization>`.
    pub allowed_oidc_audiences: Vec<String>,
    /// How much of `secrets` is read (see [`crate::class::limits`]).
    pub limits: ClassLimits,
    /// What messages call a token from the nodePublishSecretRef, when a local run sends one it
    /// took elsewhere (`esc-csi mount`: `PULUMI_ACCESS_TOKEN`); `None` in the daemon.
    pub token_label: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_api_url: Url::parse(esc_api::DEFAULT_API_URL).expect("the default URL parses"),
            allow_cross_namespace_auth: false,
            allow_insecure_api_url: false,
            allowed_api_urls: Vec::new(),
            allowed_oidc_audiences: Vec::new(),
            limits: ClassLimits::default(),
            token_label: None,
        }
    }
}

impl Settings {
    /// Whether tokens may be sent to `url`: the default API, or under an allowed prefix (same
    /// scheme, host and port; the path equal or below the prefix's path).
    pub fn allows_api_url(&self, url: &Url) -> bool {
        if self.allowed_api_urls.is_empty() || *url == self.default_api_url {
            return true;
        }
        self.allowed_api_urls.iter().any(|allowed| {
            let base = allowed.path().trim_end_matches('/');
            allowed.scheme() == url.scheme()
                && allowed.host() == url.host()
                && allowed.port_or_known_default() == url.port_or_known_default()
                && url
                    .path()
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

/// `apiUrl`: an http(s) URL with a host and nothing that could carry a credential.
pub(crate) fn check_api_url(text: &str, settings: &Settings) -> Result<Url, String> {
    let url =
        Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}", text = Quoted(text)))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(format!(
            "{text:?} is not an http(s) URL with a host",
            text = Quoted(text)
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials; the token comes from authSecretName".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?} must not have a query or fragment",
            text = Quoted(text)
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if settings.allow_insecure_api_url || is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "{text:?} uses plain http, which would send the access token unencrypted; use https \
             (or start esc-csi with --allow-insecure-api-url)",
            text = Quoted(text)
        )),
        other => Err(format!(
            "{text:?} has scheme {other:?}; use https",
            text = Quoted(text)
        )),
    }
}

/// `url`, when the daemon sends tokens to it.
pub(crate) fn allowed_api_url(url: Url, settings: &Settings) -> Result<Url, String> {
    if settings.allows_api_url(&url) {
        return Ok(url);
    }
    let allowed: Vec<&str> = std::iter::once(&settings.default_api_url)
        .chain(&settings.allowed_api_urls)
        .map(Url::as_str)
        .collect();
    Err(format!(
        "{:?} is not an ESC API this daemon sends tokens to (it allows {}); the operator can \
         add it with --allowed-api-url",
        url.as_str(),
        allowed.join(", ")
    ))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
