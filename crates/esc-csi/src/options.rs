//! The subcommands' flags, mapped to the provider's options, one named method per group. The
//! defaults are the library's ([`Wiring::default`]): clap takes its `[default: …]` from them, and
//! the test below holds that `serve` with no flags gives exactly them.

use esc_api::{ClientOptions, MemoryBudget};
use esc_csi_provider::cache::CacheOptions;
use esc_csi_provider::class::Settings;
use esc_csi_provider::compose::Wiring;
use esc_csi_provider::fetch::stale::StaleOptions;
use esc_csi_provider::grpc::ServiceOptions;

use crate::cli::{ApiArgs, CheckArgs, MountArgs, ServeArgs, TokenPolicyArgs};

impl ServeArgs {
    /// Everything the provider is built from.
    pub(crate) fn wiring(&self) -> Wiring {
        Wiring {
            settings: self.settings(),
            service: self.service_options(),
            client: self.client_options(),
            environment_cache: Some(self.environment_cache()),
            auth_secret_cache: Some(self.auth_secret_cache()),
            stale: self.stale(),
        }
    }

    /// What classes may ask for.
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            allow_cross_namespace_auth: self.allow_cross_namespace_auth,
            limits: self.budgets.class_limits(),
            ..self.api.settings(&self.token_policy)
        }
    }

    /// The service's limits and the node-wide memory budget (0: none).
    pub(crate) fn service_options(&self) -> ServiceOptions {
        let memory = self.budgets.max_memory_in_flight;
        ServiceOptions {
            mount_timeout: self.mount_timeout,
            max_response_bytes: self.max_response_bytes,
            max_request_bytes: self.budgets.max_request_bytes,
            memory: (memory > 0).then(|| MemoryBudget::new(memory)),
            max_connections: self.max_connections,
        }
    }

    /// The ESC client (its memory budget is the service's, see [`Wiring`]).
    pub(crate) fn client_options(&self) -> ClientOptions {
        ClientOptions {
            max_concurrent_requests: self.max_concurrent_requests,
            max_response_bytes: self.budgets.max_esc_reply_bytes,
            max_reply_values: self.budgets.max_esc_reply_values,
            ..ClientOptions::default()
        }
    }

    pub(crate) fn environment_cache(&self) -> CacheOptions {
        CacheOptions {
            ttl: self.cache_ttl,
            max_entries: self.cache_max_entries,
            max_bytes: self.cache_max_bytes,
        }
    }

    pub(crate) fn auth_secret_cache(&self) -> CacheOptions {
        CacheOptions {
            ttl: self.auth_secret_cache_ttl,
            ..CacheOptions::auth_secrets()
        }
    }

    /// Stale serving, bounded as the environment cache is.
    pub(crate) fn stale(&self) -> Option<StaleOptions> {
        self.serve_stale_on_error.map(|max_age| StaleOptions {
            max_age,
            max_entries: self.cache_max_entries,
            max_bytes: self.cache_max_bytes,
        })
    }
}

impl ApiArgs {
    /// The API and token rules every subcommand shares; the rest are the library's defaults.
    pub(crate) fn settings(&self, policy: &TokenPolicyArgs) -> Settings {
        Settings {
            default_api_url: self.api_url.clone(),
            allow_insecure_api_url: self.allow_insecure_api_url,
            allowed_api_urls: policy.allowed_api_urls.clone(),
            allowed_oidc_audiences: policy.allowed_oidc_audiences.clone(),
            ..Settings::default()
        }
    }
}

impl MountArgs {
    /// One mount on this machine: any namespace's auth Secret may be read (the user's own
    /// kubeconfig decides), and a token taken elsewhere is called by `label` in messages.
    pub(crate) fn wiring(&self, label: Option<&str>) -> Wiring {
        let defaults = Wiring::default();
        Wiring {
            settings: Settings {
                allow_cross_namespace_auth: true,
                token_label: label.map(str::to_owned),
                ..self.api.settings(&self.token_policy)
            },
            service: ServiceOptions {
                mount_timeout: self.timeout,
                ..defaults.service
            },
            ..defaults
        }
    }
}

impl CheckArgs {
    pub(crate) fn settings(&self) -> Settings {
        self.api.settings(&self.token_policy)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve_args(flags: &[&str]) -> ServeArgs {
        let args = ["esc-csi", "serve"].iter().chain(flags);
        match Cli::try_parse_from(args).unwrap().command {
            Command::Serve(args) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn serve_without_flags_is_wired_with_exactly_the_library_defaults() {
        // serve's own variables would override the defaults under test.
        let command = <Cli as clap::CommandFactory>::command();
        let serve = command.find_subcommand("serve").unwrap();
        let set: Vec<_> = serve
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .filter(|name| std::env::var_os(name).is_some())
            .collect();
        assert!(set.is_empty(), "unset {set:?} to run this test");
        let got = serve_args(&[]).wiring();
        let want = Wiring::default();
        assert_eq!(got.settings, want.settings);
        let (s, w) = (&got.service, &want.service);
        assert_eq!(s.mount_timeout, w.mount_timeout);
        assert_eq!(s.max_response_bytes, w.max_response_bytes);
        assert_eq!(s.max_request_bytes, w.max_request_bytes);
        assert_eq!(s.max_connections, w.max_connections);
        assert_eq!(
            s.memory.as_ref().map(|m| m.limit()),
            w.memory.as_ref().map(|m| m.limit())
        );
        let (c, w) = (&got.client, &want.client);
        assert_eq!(c.user_agent, w.user_agent);
        assert_eq!(c.max_response_bytes, w.max_response_bytes);
        assert_eq!(c.open_duration, w.open_duration);
        assert_eq!(c.retry, w.retry);
        assert_eq!(c.max_concurrent_requests, w.max_concurrent_requests);
        assert_eq!(c.attempt_timeout, w.attempt_timeout);
        assert_eq!(c.max_reply_values, w.max_reply_values);
        assert_eq!(got.environment_cache, want.environment_cache);
        assert_eq!(got.auth_secret_cache, want.auth_secret_cache);
        assert_eq!(got.stale, want.stale);
    }

    #[test]
    fn each_flag_reaches_its_option() {
        let got = serve_args(&[
            "--mount-timeout=5s",
            "--max-response-bytes=1000",
            "--max-memory-in-flight=0",
            "--max-esc-reply-bytes=2000",
            "--max-concurrent-requests=3",
            "--max-connections=9",
            "--cache-ttl=0s",
            "--cache-max-entries=7",
            "--auth-secret-cache-ttl=1s",
            "--serve-stale-on-error=1m",
            "--allow-insecure-api-url",
        ])
        .wiring();
        assert_eq!(got.service.mount_timeout.as_secs(), 5);
        assert_eq!(got.service.max_response_bytes, 1000);
        assert!(got.service.memory.is_none());
        assert_eq!(got.client.max_response_bytes, 2000);
        assert_eq!(got.client.max_concurrent_requests, 3);
        assert_eq!(got.service.max_connections, 9);
        assert!(got.environment_cache.unwrap().ttl.is_zero());
        assert_eq!(got.auth_secret_cache.unwrap().ttl.as_secs(), 1);
        let stale = got.stale.unwrap();
        assert_eq!((stale.max_age.as_secs(), stale.max_entries), (60, 7));
        assert!(got.settings.allow_insecure_api_url);
    }
}
