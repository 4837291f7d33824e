//! A SecretProviderClass as the driver delivers it: its parameters overlaid with the pod
//! volume's attributes, as one JSON object of strings.
//!
//! Keys we do not know are ignored, never an error: the driver adds pod information, service
//! account tokens and anything users put in `volumeAttributes`. (The Go provider rejected
//! unknown keys and broke as soon as a CSIDriver requested tokens.)

pub mod items;
pub mod limits;
pub mod problems;
pub mod yaml;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use esc_api::{EnvironmentRef, TokenType};
use esc_path::{Quoted, closest};
use secrecy::SecretString;
use url::{Host, Url};

use crate::class::items::{Item, ItemsMemo, parse_items};
use crate::class::limits::ClassLimits;
use crate::class::problems::Problems;

/// Parameter names, as the Go provider defined them.
pub mod keys {
    pub const API_URL: &str = "apiUrl";
    pub const ORGANIZATION: &str = "organization";
    pub const PROJECT: &str = "project";
    pub const ENVIRONMENT: &str = "environment";
    pub const AUTH_SECRET_NAME: &str = "authSecretName";
    pub const AUTH_SECRET_NAMESPACE: &str = "authSecretNamespace";
    pub const SECRETS: &str = "secrets";
    /// Workload identity (ours): `oidc`, `secret`, or unset for automatic.
    pub const AUTH_METHOD: &str = "authMethod";
    pub const OIDC_AUDIENCE: &str = "oidcAudience";
    pub const OIDC_TOKEN_TYPE: &str = "oidcTokenType";
    pub const OIDC_SCOPE: &str = "oidcScope";
    pub const OIDC_EXPIRATION: &str = "oidcExpiration";
    /// Added by the driver.
    pub const CLASS_NAME: &str = "secretProviderClass";
    pub const POD_NAME: &str = "csi.storage.k8s.io/pod.name";
    pub const POD_NAMESPACE: &str = "csi.storage.k8s.io/pod.namespace";
    pub const POD_UID: &str = "csi.storage.k8s.io/pod.uid";
    pub const SERVICE_ACCOUNT: &str = "csi.storage.k8s.io/serviceAccount.name";
    /// `{"<audience>": {"token": "<jwt>", "expirationTimestamp": "..."}}`, when the CSIDriver
    /// has `tokenRequests`. Never logged.
    pub const SERVICE_ACCOUNT_TOKENS: &str = "csi.storage.k8s.io/serviceAccount.tokens";

    pub const PARAMETERS: [&str; 12] = [
        API_URL,
        ORGANIZATION,
        PROJECT,
        ENVIRONMENT,
        AUTH_SECRET_NAME,
        AUTH_SECRET_NAMESPACE,
        SECRETS,
        AUTH_METHOD,
        OIDC_AUDIENCE,
        OIDC_TOKEN_TYPE,
        OIDC_SCOPE,
        OIDC_EXPIRATION,
    ];
}

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

/// The pod the volume belongs to, from the driver's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub service_account: Option<String>,
}

/// A Kubernetes Secret holding the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub name: String,
    /// `None` means the pod's namespace.
    pub namespace: Option<String>,
}

/// Which credentials a class may use (`authMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMethod {
    /// Unset: the pod's service-account token when the driver sent one for the audience and
    /// the class names no `authSecretName`; otherwise the Secrets.
    #[default]
    Auto,
    /// Only the pod's service-account token, exchanged at the Pulumi OAuth endpoint.
    Oidc,
    /// Only `nodePublishSecretRef` or `authSecretName`.
    Secret,
}

/// How to exchange the pod's service-account token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// The service-account token to take: the key in `serviceAccount.tokens`
    /// (`oidcAudience`, default `urn:pulumi:org:<organization>`).
    pub token_audience: String,
    /// What to ask the token endpoint for (its `audience` is always `urn:pulumi:org:<org>`).
    pub request: esc_api::TokenExchange,
}

/// A validated class: everything needed to mount, nothing left to check.
#[derive(Debug, Clone)]
pub struct Class {
    /// The SecretProviderClass's name, when the driver said.
    pub name: Option<String>,
    pub api_url: Url,
    pub environment: EnvironmentRef,
    pub auth_secret: Option<SecretRef>,
    pub auth_method: AuthMethod,
    pub oidc: Oidc,
    /// The driver's `serviceAccount.tokens` attribute, as sent; parsed only when needed.
    pub service_account_tokens: Option<SecretString>,
    pub items: Arc<[Item]>,
    pub pod: PodInfo,
    /// Harmless oddities worth a log line (unknown item keys), given the first time a class's
    /// `secrets` is read only.
    pub warnings: Vec<String>,
}

/// Parses the request's `attributes`: a JSON object of strings.
pub fn parse_attributes(text: &str) -> Result<BTreeMap<String, String>, String> {
    serde_json::from_str(text).map_err(|e| {
        // Never quote the input: it carries service account tokens.
        format!(
            "attributes must be a JSON object of strings (error at line {} column {})",
            e.line(),
            e.column()
        )
    })
}

impl Class {
    /// Reads and checks every parameter; all problems are reported together.
    pub fn from_attributes(
        attributes: &BTreeMap<String, String>,
        settings: &Settings,
    ) -> Result<Class, Problems> {
        Class::from_attributes_in(attributes, settings, &ItemsMemo::default())
    }

    /// As [`Class::from_attributes`], with item lists already read in `known` read once.
    pub fn from_attributes_in(
        attributes: &BTreeMap<String, String>,
        settings: &Settings,
        known: &ItemsMemo,
    ) -> Result<Class, Problems> {
        let mut problems = Problems::default();
        let mut warnings = Vec::new();
        let get = |key: &str| {
            attributes
                .get(key)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let required = |key: &str, problems: &mut Problems| {
            let value = get(key);
            if value.is_none() {
                let hint = closest(key, attributes.keys().map(String::as_str))
                    .map(|k| format!(" (found {k:?}: a typo?)"))
                    .unwrap_or_default();
                problems.push(
                    format!("parameter {key}"),
                    format!("missing; it is required{hint}"),
                );
            }
            value
        };

        let api_url = match get(keys::API_URL) {
            None => Some(settings.default_api_url.clone()),
            Some(text) => check_api_url(text, settings)
                .and_then(|url| allowed_api_url(url, settings))
                .map_err(|m| problems.push("parameter apiUrl", m))
                .ok(),
        };
        let organization = required(keys::ORGANIZATION, &mut problems);
        let environment = required(keys::ENVIRONMENT, &mut problems);
        let project = get(keys::PROJECT);
        let environment = environment.and_then(|text| {
            split_environment(text, project)
                .map_err(|m| problems.push("parameter environment", m))
                .ok()
        });
        if let Some(org) = organization {
            check_name(org, 40).unwrap_or_else(|m| problems.push("parameter organization", m));
        }
        if let Some(env) = &environment {
            for (key, value) in [("project", &env.project), ("environment", &env.environment)] {
                check_name(value, 100)
                    .unwrap_or_else(|m| problems.push(format!("parameter {key}"), m));
            }
            if let Some(version) = &env.version
                && let Err(m) = check_name(version, 100)
            {
                problems.push("parameter environment", format!("version {m}"));
            }
        }

        let auth_secret = get(keys::AUTH_SECRET_NAME).map(|name| SecretRef {
            name: name.to_owned(),
            namespace: get(keys::AUTH_SECRET_NAMESPACE).map(str::to_owned),
        });
        if let Some(secret) = &auth_secret {
            check_dns_name(&secret.name, 253, true)
                .unwrap_or_else(|m| problems.push("parameter authSecretName", m));
            if let Some(ns) = &secret.namespace {
                check_dns_name(ns, 63, false)
                    .unwrap_or_else(|m| problems.push("parameter authSecretNamespace", m));
            }
        }

        let auth_method = match get(keys::AUTH_METHOD) {
            None => AuthMethod::Auto,
            Some("oidc") => AuthMethod::Oidc,
            Some("secret") => AuthMethod::Secret,
            Some(other) => {
                problems.push(
                    "parameter authMethod",
                    format!(
                        "{other:?} is not an auth method; use oidc or secret, or leave it unset"
                    ),
                );
                AuthMethod::Auto
            }
        };
        let token_type = match get(keys::OIDC_TOKEN_TYPE) {
            None => TokenType::Organization,
            Some(text) => text.parse().unwrap_or_else(|m: String| {
                problems.push("parameter oidcTokenType", m);
                TokenType::Organization
            }),
        };
        let scope = get(keys::OIDC_SCOPE).map(str::to_owned);
        if get(keys::OIDC_TOKEN_TYPE).is_none_or(|t| t.parse::<TokenType>().is_ok())
            && let Err(m) = token_type.check_scope(scope.as_deref())
        {
            problems.push("parameter oidcScope", m);
        }
        let expiration = get(keys::OIDC_EXPIRATION).and_then(|text| {
            parse_expiration(text)
                .map_err(|m| problems.push("parameter oidcExpiration", m))
                .ok()
        });
        let org_audience = esc_api::oauth::audience_of(organization.unwrap_or_default());
        let token_audience =
            get(keys::OIDC_AUDIENCE).map_or_else(|| org_audience.clone(), str::to_owned);
        if organization.is_some()
            && auth_method != AuthMethod::Secret
            && token_audience != org_audience
            && !settings.allowed_oidc_audiences.contains(&token_audience)
        {
            problems.push(
                "parameter oidcAudience",
                format!(
                    "{token_audience:?} is not an audience esc-csi exchanges: only this \
                     organization's {org_audience:?} is, so that tokens the pod holds for other \
                     systems never leave the node; the operator can allow more with \
                     --allowed-oidc-audience"
                ),
            );
        }
        let oidc = Oidc {
            token_audience,
            request: esc_api::TokenExchange {
                audience: org_audience,
                token_type,
                scope,
                expiration,
            },
        };

        let items = match attributes.get(keys::SECRETS) {
            Some(text) if !text.trim().is_empty() => {
                parse_items(text, &settings.limits, known, &mut problems, &mut warnings)
            }
            _ => {
                required(keys::SECRETS, &mut problems);
                Arc::from([])
            }
        };

        let pod = PodInfo {
            name: get(keys::POD_NAME).map(str::to_owned),
            namespace: get(keys::POD_NAMESPACE).map(str::to_owned),
            uid: get(keys::POD_UID).map(str::to_owned),
            service_account: get(keys::SERVICE_ACCOUNT).map(str::to_owned),
        };

        match (api_url, organization, environment) {
            (Some(api_url), Some(organization), Some(mut environment)) if problems.is_empty() => {
                organization.clone_into(&mut environment.organization);
                Ok(Class {
                    name: get(keys::CLASS_NAME).map(str::to_owned),
                    api_url,
                    environment,
                    auth_secret,
                    auth_method,
                    oidc,
                    service_account_tokens: attributes
                        .get(keys::SERVICE_ACCOUNT_TOKENS)
                        .filter(|t| !t.trim().is_empty())
                        .map(|t| SecretString::from(t.clone())),
                    items,
                    pod,
                    warnings,
                })
            }
            _ => Err(problems),
        }
    }
}

/// `oidcExpiration`: seconds (`3600`) or a duration with unit s, m or h (`30m`, `2h`), from
/// 5 minutes to 24 hours.
fn parse_expiration(text: &str) -> Result<Duration, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!(
            "{text:?} is not a duration such as 3600, 30m or 2h",
            text = Quoted(text)
        )
    })?;
    let seconds = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => {
            return Err(format!(
                "{text:?} has unit {unit:?}; use s, m or h",
                text = Quoted(text)
            ));
        }
    };
    if !(300..=86_400).contains(&seconds) {
        return Err(format!(
            "{text:?} is out of range: use 5m to 24h",
            text = Quoted(text)
        ));
    }
    Ok(Duration::from_secs(seconds))
}

/// `env`, `env@version`, or `project/env[@version]` when `project` is not set.
fn split_environment(text: &str, project: Option<&str>) -> Result<EnvironmentRef, String> {
    let (name, version) = match text.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (text, None),
    };
    if version == Some("") {
        return Err(format!(
            "{text:?} ends with '@' but names no revision or tag after it",
            text = Quoted(text)
        ));
    }
    let (project, name) = match (project, name.split_once('/')) {
        (Some(project), None) => (project, name),
        (None, Some((project, name))) => (project, name),
        (Some(_), Some(_)) => {
            return Err(format!(
                "{text:?} names a project, but parameter project is set too; use one or the other",
                text = Quoted(text)
            ));
        }
        (None, None) => {
            return Err(format!(
                "{text:?} needs a project: set parameter project, or write \"<project>/{name}\"",
                text = Quoted(text)
            ));
        }
    };
    Ok(EnvironmentRef {
        organization: String::new(),
        project: project.to_owned(),
        environment: name.to_owned(),
        version: version.map(str::to_owned),
    })
}

/// Organization, project, environment and tag names: what ESC allows, nothing that could
/// change the shape of a URL.
fn check_name(name: &str, max: usize) -> Result<(), String> {
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid name", name = Quoted(name)));
    }
    if name.is_empty() || name.len() > max {
        return Err(format!(
            "{name:?} must be 1 to {max} characters long",
            name = Quoted(name)
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{name:?} may contain only letters, digits, '-', '_' and '.'",
            name = Quoted(name)
        ));
    }
    Ok(())
}

/// Kubernetes object names: lowercase DNS subdomains (`dots`) or labels.
fn check_dns_name(name: &str, max: usize, dots: bool) -> Result<(), String> {
    let allowed =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.');
    let edges_ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.len() > max || !edges_ok || !name.bytes().all(allowed) {
        return Err(format!(
            "{name:?} is not a valid Kubernetes name (lowercase letters, digits and '-'{}, at most {max} characters)",
            if dots { ", '.'" } else { "" },
            name = Quoted(name)
        ));
    }
    Ok(())
}

fn check_api_url(text: &str, settings: &Settings) -> Result<Url, String> {
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

fn allowed_api_url(url: Url, settings: &Settings) -> Result<Url, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn minimal(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut map = attributes(&[
            ("organization", "acme"),
            ("project", "app"),
            ("environment", "prod"),
            ("secrets", "- {fileName: a, secretKey: a}"),
        ]);
        map.extend(attributes(extra));
        map
    }

    #[test]
    fn the_api_url_defaults_to_pulumi_cloud() {
        let class = Class::from_attributes(&minimal(&[]), &Settings::default()).unwrap();
        assert_eq!(class.api_url.as_str(), "https://api.pulumi.com/api/esc");
        assert_eq!(class.environment.to_string(), "acme/app/prod");
        assert!(class.auth_secret.is_none());
    }

    #[test]
    fn plain_http_is_accepted_only_for_loopback_unless_allowed() {
        let settings = Settings::default();
        for ok in [
            "http://127.0.0.1:8080/api/esc",
            "http://localhost/x",
            "http://[::1]:1/",
        ] {
            assert!(check_api_url(ok, &settings).is_ok(), "{ok}");
        }
        for bad in [
            "http://esc.internal/api/esc",
            "ftp://x/",
            "https://user:pw@api.pulumi.com/",
            "https://api.pulumi.com/api/esc?x=1",
            "not a url",
            "mailto:a@b",
        ] {
            assert!(check_api_url(bad, &settings).is_err(), "{bad}");
        }
        let insecure = Settings {
            allow_insecure_api_url: true,
            ..Settings::default()
        };
        assert!(check_api_url("http://esc.internal/api/esc", &insecure).is_ok());
    }

    #[test]
    fn environments_split_into_project_name_and_version() {
        let e = split_environment("prod@42", Some("app")).unwrap();
        assert_eq!(
            (e.project.as_str(), e.environment.as_str()),
            ("app", "prod")
        );
        assert_eq!(e.version.as_deref(), Some("42"));
        let e = split_environment("app/prod@stable", None).unwrap();
        assert_eq!(
            (e.project.as_str(), e.environment.as_str()),
            ("app", "prod")
        );
        assert_eq!(e.version.as_deref(), Some("stable"));
        assert!(split_environment("app/prod", Some("app")).is_err());
        assert!(split_environment("prod", None).is_err());
        assert!(split_environment("prod@", Some("app")).is_err());
    }

    #[test]
    fn unknown_attributes_are_ignored() {
        let class = Class::from_attributes(
            &minimal(&[
                ("objects", "whatever"),
                ("csi.storage.k8s.io/serviceAccount.tokens", "{}"),
                ("anything", "at all"),
            ]),
            &Settings::default(),
        );
        assert!(class.is_ok());
    }

    #[test]
    fn pod_information_is_read_from_the_drivers_keys() {
        let class = Class::from_attributes(
            &minimal(&[
                ("csi.storage.k8s.io/pod.name", "web-0"),
                ("csi.storage.k8s.io/pod.namespace", "shop"),
                ("csi.storage.k8s.io/pod.uid", "u"),
                ("csi.storage.k8s.io/serviceAccount.name", "web"),
                ("secretProviderClass", "web-secrets"),
            ]),
            &Settings::default(),
        )
        .unwrap();
        assert_eq!(class.pod.name.as_deref(), Some("web-0"));
        assert_eq!(class.pod.namespace.as_deref(), Some("shop"));
        assert_eq!(class.pod.uid.as_deref(), Some("u"));
        assert_eq!(class.pod.service_account.as_deref(), Some("web"));
        assert_eq!(class.name.as_deref(), Some("web-secrets"));
    }

    #[test]
    fn oidc_parameters_default_to_an_organization_token_for_the_org_audience() {
        let class = Class::from_attributes(&minimal(&[]), &Settings::default()).unwrap();
        assert_eq!(class.auth_method, AuthMethod::Auto);
        assert_eq!(class.oidc.token_audience, "urn:pulumi:org:acme");
        assert_eq!(class.oidc.request.audience, "urn:pulumi:org:acme");
        assert_eq!(class.oidc.request.token_type, TokenType::Organization);
        assert_eq!(class.oidc.request.scope, None);
        assert_eq!(class.oidc.request.expiration, None);
        assert!(class.service_account_tokens.is_none());
    }

    #[test]
    fn oidc_parameters_are_read_and_checked_together_with_the_rest() {
        let class = Class::from_attributes(
            &minimal(&[
                ("authMethod", "oidc"),
                ("oidcAudience", "pulumi"),
                ("oidcTokenType", "team"),
                ("oidcScope", "team:platform"),
                ("oidcExpiration", "30m"),
                ("csi.storage.k8s.io/serviceAccount.tokens", "{}"),
            ]),
            &Settings {
                allowed_oidc_audiences: vec!["pulumi".into()],
                ..Settings::default()
            },
        )
        .unwrap();
        assert_eq!(class.auth_method, AuthMethod::Oidc);
        assert_eq!(class.oidc.token_audience, "pulumi");
        assert_eq!(class.oidc.request.token_type, TokenType::Team);
        assert_eq!(class.oidc.request.scope.as_deref(), Some("team:platform"));
        assert_eq!(
            class.oidc.request.expiration,
            Some(Duration::from_secs(1800))
        );
        assert!(class.service_account_tokens.is_some());

        let problems = Class::from_attributes(
            &minimal(&[
                ("authMethod", "token"),
                ("oidcTokenType", "personal"),
                ("oidcExpiration", "2d"),
            ]),
            &Settings::default(),
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "parameter authMethod: \"token\" is not an auth method; use oidc or secret, or leave it unset",
            "parameter oidcScope: a personal token needs scope \"user:<user login>\"",
            "parameter oidcExpiration: \"2d\" has unit \"d\"; use s, m or h",
        ] {
            assert!(problems.contains(expected), "{problems}");
        }
    }

    #[test]
    fn an_audience_other_than_the_organizations_is_refused_unless_the_operator_allows_it() {
        for audience in ["vault", "sts.amazonaws.com", "urn:pulumi:org:other"] {
            let problems = Class::from_attributes(
                &minimal(&[("oidcAudience", audience)]),
                &Settings::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                problems.contains(&format!(
                    "parameter oidcAudience: \"{audience}\" is not an audience esc-csi exchanges: \
                     only this organization's \"urn:pulumi:org:acme\" is"
                )),
                "{problems}"
            );
        }
        let allowing = Settings {
            allowed_oidc_audiences: vec!["vault".into()],
            ..Settings::default()
        };
        let class =
            Class::from_attributes(&minimal(&[("oidcAudience", "vault")]), &allowing).unwrap();
        assert_eq!(class.oidc.token_audience, "vault");
        // The organization's own audience, spelled out, and a class that never exchanges.
        for extra in [
            [
                ("oidcAudience", "urn:pulumi:org:acme"),
                ("authMethod", "oidc"),
            ],
            [("oidcAudience", "vault"), ("authMethod", "secret")],
        ] {
            Class::from_attributes(&minimal(&extra), &Settings::default()).unwrap();
        }
    }

    #[test]
    fn with_an_api_allow_list_only_urls_under_it_and_the_default_receive_tokens() {
        let settings = Settings {
            allowed_api_urls: vec![Url::parse("https://esc.example.com/api/esc/").unwrap()],
            ..Settings::default()
        };
        for ok in [
            "https://esc.example.com/api/esc",
            "https://esc.example.com:443/api/esc/",
            "https://esc.example.com/api/esc/v2",
            "https://api.pulumi.com/api/esc",
        ] {
            let class = Class::from_attributes(&minimal(&[("apiUrl", ok)]), &settings);
            assert!(class.is_ok(), "{ok}: {:?}", class.err());
        }
        for bad in [
            "https://esc.example.com/api/escape",
            "https://esc.example.com/",
            "https://esc.example.com:8443/api/esc",
            "https://evil.example.com/api/esc",
            "http://127.0.0.1:8080/api/esc",
        ] {
            let problems = Class::from_attributes(&minimal(&[("apiUrl", bad)]), &settings)
                .unwrap_err()
                .to_string();
            assert!(
                problems.ends_with(
                    "is not an ESC API this daemon sends tokens to (it allows \
                     https://api.pulumi.com/api/esc, https://esc.example.com/api/esc/); the \
                     operator can add it with --allowed-api-url"
                ),
                "{bad}: {problems}"
            );
        }
        // Without a list, any URL that passes the other checks is allowed, as before.
        Class::from_attributes(
            &minimal(&[("apiUrl", "https://evil.example.com/api/esc")]),
            &Settings::default(),
        )
        .unwrap();
    }

    #[test]
    fn expirations_take_seconds_or_units_within_five_minutes_and_a_day() {
        assert_eq!(parse_expiration("3600"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_expiration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_expiration("60").is_err());
        assert!(parse_expiration("25h").is_err());
        assert!(parse_expiration("soon").is_err());
    }

    #[test]
    fn kubernetes_names_follow_dns_rules() {
        assert!(check_dns_name("pulumi-creds.v2", 253, true).is_ok());
        assert!(check_dns_name("pulumi-creds.v2", 63, false).is_err());
        assert!(check_dns_name("-x", 63, false).is_err());
        assert!(check_dns_name("", 63, false).is_err());
        assert!(check_dns_name(&"a".repeat(64), 63, false).is_err());
    }
}
