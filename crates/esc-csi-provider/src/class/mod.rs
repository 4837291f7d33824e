//! A SecretProviderClass as the driver delivers it: its parameters overlaid with the pod
//! volume's attributes, as one JSON object of strings.
//!
//! Keys we do not know are ignored, never an error: the driver adds pod information, service
//! account tokens and anything users put in `volumeAttributes`. (The Go provider rejected
//! unknown keys and broke as soon as a CSIDriver requested tokens.)

pub mod checks;
pub mod item;
pub mod items;
pub mod keys;
pub mod limits;
pub mod memo;
pub mod problems;
pub mod settings;
pub mod yaml;

use std::collections::BTreeMap;
use std::sync::Arc;

use esc_api::{EnvironmentRef, TokenType};
use esc_path::closest;
use secrecy::SecretString;
use url::Url;

use crate::class::checks::{check_dns_name, check_esc_name, parse_expiration, split_environment};
use crate::class::items::{Item, ItemsMemo, parse_items};
use crate::class::problems::ClassProblems;
pub use crate::class::settings::Settings;
use crate::class::settings::{allowed_api_url, check_api_url};

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
    ) -> Result<Class, ClassProblems> {
        Class::from_attributes_in(attributes, settings, &ItemsMemo::default())
    }

    /// As [`Class::from_attributes`], with item lists already read in `known` read once.
    pub fn from_attributes_in(
        attributes: &BTreeMap<String, String>,
        settings: &Settings,
        known: &ItemsMemo,
    ) -> Result<Class, ClassProblems> {
        let mut r = Reading {
            attributes,
            problems: ClassProblems::default(),
        };
        let api_url = r.api_url(settings);
        let (organization, environment) = r.environment();
        let auth_secret = r.auth_secret();
        let auth_method = r.auth_method();
        let oidc = r.oidc(organization, auth_method, settings);
        let mut warnings = Vec::new();
        let items = match attributes.get(keys::SECRETS) {
            Some(text) if !text.trim().is_empty() => parse_items(
                text,
                &settings.limits,
                known,
                &mut r.problems,
                &mut warnings,
            ),
            _ => {
                r.required(keys::SECRETS);
                Arc::from([])
            }
        };
        match (api_url, organization, environment) {
            (Some(api_url), Some(organization), Some(mut environment)) if r.problems.is_empty() => {
                organization.clone_into(&mut environment.organization);
                Ok(Class {
                    name: r.get(keys::CLASS_NAME).map(str::to_owned),
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
                    pod: r.pod(),
                    warnings,
                })
            }
            _ => Err(r.problems),
        }
    }
}

/// The attributes being read, and every problem found so far: each step reads its
/// parameters and adds its problems, so that one answer lists them all.
struct Reading<'a> {
    attributes: &'a BTreeMap<String, String>,
    problems: ClassProblems,
}

impl<'a> Reading<'a> {
    /// A parameter's value, trimmed; empty is unset.
    fn get(&self, key: &str) -> Option<&'a str> {
        self.attributes
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// As [`Reading::get`], with a problem when it is unset (naming a near miss).
    fn required(&mut self, key: &str) -> Option<&'a str> {
        let value = self.get(key);
        if value.is_none() {
            let hint = closest(key, self.attributes.keys().map(String::as_str))
                .map(|k| format!(" (found {k:?}: a typo?)"))
                .unwrap_or_default();
            self.problems.push(
                format!("parameter {key}"),
                format!("missing; it is required{hint}"),
            );
        }
        value
    }

    /// `apiUrl`, or the daemon's default.
    fn api_url(&mut self, settings: &Settings) -> Option<Url> {
        match self.get(keys::API_URL) {
            None => Some(settings.default_api_url.clone()),
            Some(text) => check_api_url(text, settings)
                .and_then(|url| allowed_api_url(url, settings))
                .map_err(|m| self.problems.push("parameter apiUrl", m))
                .ok(),
        }
    }

    /// `organization`, and `environment` with `project`: names checked, the organization
    /// filled in by the caller once all is well.
    fn environment(&mut self) -> (Option<&'a str>, Option<EnvironmentRef>) {
        let organization = self.required(keys::ORGANIZATION);
        let environment = self.required(keys::ENVIRONMENT);
        let project = self.get(keys::PROJECT);
        let environment = environment.and_then(|text| {
            split_environment(text, project)
                .map_err(|m| self.problems.push("parameter environment", m))
                .ok()
        });
        if let Some(org) = organization {
            check_esc_name(org, 40)
                .unwrap_or_else(|m| self.problems.push("parameter organization", m));
        }
        if let Some(env) = &environment {
            for (key, value) in [("project", &env.project), ("environment", &env.environment)] {
                check_esc_name(value, 100)
                    .unwrap_or_else(|m| self.problems.push(format!("parameter {key}"), m));
            }
            if let Some(version) = &env.version
                && let Err(m) = check_esc_name(version, 100)
            {
                self.problems
                    .push("parameter environment", format!("version {m}"));
            }
        }
        (organization, environment)
    }

    /// `authSecretName` and `authSecretNamespace`.
    fn auth_secret(&mut self) -> Option<SecretRef> {
        let secret = self.get(keys::AUTH_SECRET_NAME).map(|name| SecretRef {
            name: name.to_owned(),
            namespace: self.get(keys::AUTH_SECRET_NAMESPACE).map(str::to_owned),
        });
        if let Some(secret) = &secret {
            check_dns_name(&secret.name, 253, true)
                .unwrap_or_else(|m| self.problems.push("parameter authSecretName", m));
            if let Some(ns) = &secret.namespace {
                check_dns_name(ns, 63, false)
                    .unwrap_or_else(|m| self.problems.push("parameter authSecretNamespace", m));
            }
        }
        secret
    }

    /// `authMethod`.
    fn auth_method(&mut self) -> AuthMethod {
        match self.get(keys::AUTH_METHOD) {
            None => AuthMethod::Auto,
            Some("oidc") => AuthMethod::Oidc,
            Some("secret") => AuthMethod::Secret,
            Some(other) => {
                self.problems.push(
                    "parameter authMethod",
                    format!(
                        "{other:?} is not an auth method; use oidc or secret, or leave it unset"
                    ),
                );
                AuthMethod::Auto
            }
        }
    }

    /// `oidcTokenType`, `oidcScope`, `oidcExpiration` and `oidcAudience`.
    fn oidc(
        &mut self,
        organization: Option<&str>,
        auth_method: AuthMethod,
        settings: &Settings,
    ) -> Oidc {
        let token_type = match self.get(keys::OIDC_TOKEN_TYPE) {
            None => TokenType::Organization,
            Some(text) => text.parse().unwrap_or_else(|m: String| {
                self.problems.push("parameter oidcTokenType", m);
                TokenType::Organization
            }),
        };
        let scope = self.get(keys::OIDC_SCOPE).map(str::to_owned);
        if self
            .get(keys::OIDC_TOKEN_TYPE)
            .is_none_or(|t| t.parse::<TokenType>().is_ok())
            && let Err(m) = token_type.check_scope(scope.as_deref())
        {
            self.problems.push("parameter oidcScope", m);
        }
        let expiration = self.get(keys::OIDC_EXPIRATION).and_then(|text| {
            parse_expiration(text)
                .map_err(|m| self.problems.push("parameter oidcExpiration", m))
                .ok()
        });
        let org_audience = esc_api::oauth::audience_of(organization.unwrap_or_default());
        let token_audience = self
            .get(keys::OIDC_AUDIENCE)
            .map_or_else(|| org_audience.clone(), str::to_owned);
        if organization.is_some()
            && auth_method != AuthMethod::Secret
            && token_audience != org_audience
            && !settings.allowed_oidc_audiences.contains(&token_audience)
        {
            self.problems.push(
                "parameter oidcAudience",
                format!(
                    "{token_audience:?} is not an audience esc-csi exchanges: only this \
                     organization's {org_audience:?} is, so that tokens the pod holds for other \
                     systems never leave the node; the operator can allow more with \
                     --allowed-oidc-audience"
                ),
            );
        }
        Oidc {
            token_audience,
            request: esc_api::TokenExchange {
                audience: org_audience,
                token_type,
                scope,
                expiration,
            },
        }
    }

    /// What the driver says of the pod.
    fn pod(&self) -> PodInfo {
        PodInfo {
            name: self.get(keys::POD_NAME).map(str::to_owned),
            namespace: self.get(keys::POD_NAMESPACE).map(str::to_owned),
            uid: self.get(keys::POD_UID).map(str::to_owned),
            service_account: self.get(keys::SERVICE_ACCOUNT).map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
            "parameter oidcExpiration: \"2d\" has unit \"d\"; use ms, s, m or h",
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
        // The syntax every duration flag takes.
        assert_eq!(parse_expiration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_expiration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_expiration("3d").unwrap_err(),
            "\"3d\" has unit \"d\"; use ms, s, m or h"
        );
        assert_eq!(
            parse_expiration("99999999999999999999").unwrap_err(),
            "\"99999999999999999999\" is out of range: use 5m to 24h"
        );
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
