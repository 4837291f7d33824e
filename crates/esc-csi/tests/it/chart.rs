//! The Helm chart's golden renders (charts/esc-csi/tests/golden, kept equal to `helm template`
//! and to deploy/esc-csi.yaml by `.ci/chart`), parsed into the Kubernetes API types: the
//! hardening, the RBAC scope for each value set, and that every flag of `esc-csi serve` can be
//! set from the chart.

use crate::support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Container, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde::Deserialize;
use support::esc_csi;

const PROVIDERS: &str = "/etc/kubernetes/secrets-store-csi-providers";

/// Every object of one render, by kind.
#[derive(Default)]
struct Render {
    kinds: Vec<String>,
    daemon_sets: Vec<DaemonSet>,
    service_accounts: Vec<ServiceAccount>,
    services: Vec<Service>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    monitors: Vec<serde_json::Value>,
    secrets: Vec<k8s_openapi::api::core::v1::Secret>,
    config_maps: Vec<k8s_openapi::api::core::v1::ConfigMap>,
    rules: Vec<serde_json::Value>,
}

fn chart_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/esc-csi")
}

fn parse(text: &str) -> Render {
    let mut render = Render::default();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(document).unwrap();
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap().to_owned();
        match kind.as_str() {
            "DaemonSet" => render
                .daemon_sets
                .push(serde_json::from_value(value).unwrap()),
            "ServiceAccount" => render
                .service_accounts
                .push(serde_json::from_value(value).unwrap()),
            "Service" => render.services.push(serde_json::from_value(value).unwrap()),
            "Role" => render.roles.push(serde_json::from_value(value).unwrap()),
            "RoleBinding" => render
                .role_bindings
                .push(serde_json::from_value(value).unwrap()),
            "ClusterRole" => render
                .cluster_roles
                .push(serde_json::from_value(value).unwrap()),
            "ClusterRoleBinding" => {
                render
                    .cluster_role_bindings
                    .push(serde_json::from_value(value).unwrap());
            }
            "ServiceMonitor" | "PodMonitor" => {
                assert_eq!(value["apiVersion"], "monitoring.coreos.com/v1");
                render.monitors.push(value);
            }
            "PrometheusRule" => {
                assert_eq!(value["apiVersion"], "monitoring.coreos.com/v1");
                render.rules.push(value);
            }
            "Secret" => render.secrets.push(serde_json::from_value(value).unwrap()),
            "ConfigMap" => render
                .config_maps
                .push(serde_json::from_value(value).unwrap()),
            other => panic!("the chart renders an unexpected kind {other}"),
        }
        render.kinds.push(kind);
    }
    render
}

fn golden(set: &str) -> Render {
    let path = chart_root().join(format!("tests/golden/{set}.yaml"));
    parse(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn container(render: &Render) -> &Container {
    assert_eq!(render.daemon_sets.len(), 1);
    let spec = render.daemon_sets[0].spec.as_ref().unwrap();
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.containers.len(), 1);
    &pod.containers[0]
}

fn args(render: &Render) -> Vec<String> {
    container(render).args.clone().unwrap()
}

fn only_get_on_secrets(rules: &[PolicyRule]) {
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].api_groups.as_deref(), Some(&[String::new()][..]));
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["secrets".to_owned()][..])
    );
    assert_eq!(rules[0].verbs, vec!["get".to_owned()]);
}

#[test]
fn the_default_render_is_a_hardened_daemonset_on_the_drivers_socket_folder() {
    let render = golden("default");
    let ds = &render.daemon_sets[0];
    let spec = ds.spec.as_ref().unwrap();
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        spec.update_strategy.as_ref().unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(
        pod.node_selector.as_ref().unwrap()["kubernetes.io/os"],
        "linux"
    );
    assert!(
        pod.tolerations
            .as_ref()
            .unwrap()
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists"))
    );

    let c = container(&render);
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.privileged, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_owned()][..])
    );
    assert!(sc.capabilities.as_ref().unwrap().add.is_none());
    assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
    let resources = c.resources.as_ref().unwrap();
    assert!(
        resources.requests.is_some() && resources.limits.as_ref().unwrap().contains_key("memory")
    );

    let volume = &pod.volumes.as_ref().unwrap()[0];
    assert_eq!(volume.host_path.as_ref().unwrap().path, PROVIDERS);
    let mount = &c.volume_mounts.as_ref().unwrap()[0];
    assert_eq!(
        (mount.name.as_str(), mount.mount_path.as_str()),
        ("providers", PROVIDERS)
    );
    assert_eq!(c.args.as_ref().unwrap()[0], "serve");
    assert!(args(&render).contains(&format!("--endpoint={PROVIDERS}/pulumi.sock")));

    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(probe_path(&c.liveness_probe), "/healthz");
    assert_eq!(probe_path(&c.readiness_probe), "/readyz");
    let ports: BTreeSet<_> = c
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.name.clone().unwrap())
        .collect();
    assert_eq!(
        ports,
        BTreeSet::from(["health".to_owned(), "metrics".to_owned()])
    );
    assert!(
        args(&render)
            .iter()
            .any(|a| a.starts_with("--metrics-addr=0.0.0.0:"))
    );
    assert!(
        args(&render)
            .iter()
            .any(|a| a.starts_with("--health-addr=0.0.0.0:"))
    );
    assert_eq!(render.services.len(), 1);
}

#[test]
fn with_only_oidc_and_node_publish_secrets_the_daemon_gets_no_rbac_and_no_api_token() {
    let render = golden("default");
    assert!(
        render.roles.is_empty() && render.cluster_roles.is_empty(),
        "{:?}",
        render.kinds
    );
    assert!(render.role_bindings.is_empty() && render.cluster_role_bindings.is_empty());
    assert_eq!(
        render.service_accounts[0].automount_service_account_token,
        Some(false)
    );
    let pod = pod_spec(&render);
    assert_eq!(pod.automount_service_account_token, Some(false));
}

#[test]
fn auth_secrets_for_listed_namespaces_are_namespaced_roles_with_get_on_named_secrets() {
    let render = golden("auth-secrets-namespaced");
    assert!(render.cluster_roles.is_empty() && render.cluster_role_bindings.is_empty());
    let namespaces: Vec<_> = render
        .roles
        .iter()
        .map(|r| r.metadata.namespace.clone().unwrap())
        .collect();
    assert_eq!(namespaces, ["team-a", "team-b"]);
    for role in &render.roles {
        let rules = role.rules.as_ref().unwrap();
        only_get_on_secrets(rules);
        assert_eq!(
            rules[0].resource_names.as_deref(),
            Some(&["pulumi-access-token".to_owned()][..])
        );
    }
    assert_eq!(render.role_bindings.len(), 2);
    for binding in &render.role_bindings {
        let subject = &binding.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (subject.kind.as_str(), subject.namespace.as_deref()),
            ("ServiceAccount", Some("kube-system"))
        );
        assert_eq!(binding.role_ref.kind, "Role");
    }
    assert_eq!(
        render.service_accounts[0].automount_service_account_token,
        Some(true)
    );
}

#[test]
fn auth_secrets_without_namespaces_is_one_cluster_role_with_only_get_on_secrets() {
    let render = golden("auth-secrets-cluster");
    assert!(render.roles.is_empty());
    assert_eq!(render.cluster_roles.len(), 1);
    only_get_on_secrets(render.cluster_roles[0].rules.as_ref().unwrap());
    assert_eq!(render.cluster_role_bindings.len(), 1);
}

#[test]
fn every_flag_of_serve_can_be_set_from_the_chart() {
    let help = esc_csi(&["serve", "--help"]);
    let help = String::from_utf8(help.stdout).unwrap();
    // Option lines start with the flag (`  --cache-ttl <CACHE_TTL>`), or a short one first.
    let flags: BTreeSet<String> = help
        .lines()
        .map(str::trim_start)
        .filter_map(|l| {
            l.strip_prefix("--")
                .or_else(|| l.split_once(", --").map(|(_, f)| f))
        })
        .map(|l| l.split([' ', '=']).next().unwrap().to_owned())
        .filter(|f| !["help", "version"].contains(&f.as_str()))
        .collect();
    assert!(flags.len() >= 15, "{flags:?}");
    let render = golden("everything");
    let set: BTreeSet<String> = args(&render)
        .iter()
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap().to_owned())
        .collect();
    let missing: Vec<_> = flags.difference(&set).collect();
    assert!(
        missing.is_empty(),
        "flags the chart cannot set: {missing:?}"
    );
    assert_eq!(render.monitors.len(), 2);
    let pod = pod_spec(&render);
    let key = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "version-key")
        .unwrap();
    assert_eq!(
        key.secret.unwrap().secret_name.as_deref(),
        Some("esc-csi-version-key")
    );
}

#[test]
fn the_plain_manifest_is_the_default_render() {
    let root = chart_root().join("../..");
    let deploy = std::fs::read_to_string(root.join("deploy/esc-csi.yaml")).unwrap();
    let golden = std::fs::read_to_string(chart_root().join("tests/golden/default.yaml")).unwrap();
    let body: String = deploy
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(body, golden);
}

fn pod_spec(render: &Render) -> k8s_openapi::api::core::v1::PodSpec {
    render.daemon_sets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .clone()
        .unwrap()
}

#[test]
fn every_render_gives_readiness_more_time_than_readyz_allows_itself() {
    let ready = esc_csi_provider::admin::READY_TIMEOUT.as_secs();
    for set in [
        "default",
        "everything",
        "auth-secrets-cluster",
        "preset-go-provider",
    ] {
        let render = golden(set);
        let c = container(&render);
        for probe in [&c.readiness_probe, &c.liveness_probe] {
            let timeout = probe.as_ref().unwrap().timeout_seconds.unwrap();
            assert!(
                u64::try_from(timeout).unwrap() > ready,
                "{set}: {timeout} s"
            );
        }
    }
}

#[test]
fn probes_labels_annotations_volumes_and_environment_come_from_values() {
    let render = golden("everything");
    let ds = &render.daemon_sets[0];
    assert_eq!(ds.metadata.labels.as_ref().unwrap()["team"], "platform");
    assert_eq!(
        ds.metadata.annotations.as_ref().unwrap()["example.com/owner"],
        "platform"
    );
    let c = container(&render);
    let readiness = c.readiness_probe.as_ref().unwrap();
    assert_eq!(
        (readiness.period_seconds, readiness.timeout_seconds),
        (Some(5), Some(4))
    );
    assert_eq!(
        readiness.http_get.as_ref().unwrap().path.as_deref(),
        Some("/readyz")
    );
    let env: Vec<_> = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        env.contains(&"SSL_CERT_FILE") && env.contains(&"HTTPS_PROXY"),
        "{env:?}"
    );
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "ca")
        .unwrap();
    assert_eq!(mount.mount_path, "/etc/esc-csi/ca");
    let volume = pod_spec(&render)
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "ca")
        .unwrap();
    assert_eq!(volume.config_map.unwrap().name, "esc-ca-bundle");
}

#[test]
fn the_chart_made_version_key_is_kept_on_uninstall_and_mounted_for_the_daemon() {
    let render = golden("version-key-created");
    assert_eq!(render.secrets.len(), 1);
    let secret = &render.secrets[0];
    assert_eq!(secret.metadata.name.as_deref(), Some("esc-csi-version-key"));
    assert_eq!(
        secret.metadata.annotations.as_ref().unwrap()["helm.sh/resource-policy"],
        "keep"
    );
    assert!(
        secret
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key("version-key"))
    );
    assert!(
        args(&render)
            .contains(&"--version-key-file=/etc/esc-csi/version-key/version-key".to_owned())
    );
    let volume = pod_spec(&render)
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.name == "version-key")
        .unwrap();
    assert_eq!(
        volume.secret.unwrap().secret_name.as_deref(),
        Some("esc-csi-version-key")
    );
    assert!(golden("default").secrets.is_empty());
}

#[test]
fn the_go_provider_preset_grants_exactly_what_the_go_providers_chart_grants() {
    // pulumi/pulumi-esc-csi-provider's chart: a ClusterRole with get on secrets, and
    // authSecretNamespace may name any namespace.
    let render = golden("preset-go-provider");
    assert!(render.roles.is_empty());
    assert_eq!(render.cluster_roles.len(), 1);
    only_get_on_secrets(render.cluster_roles[0].rules.as_ref().unwrap());
    assert!(
        render.cluster_roles[0].rules.as_ref().unwrap()[0]
            .resource_names
            .is_none()
    );
    assert_eq!(render.cluster_role_bindings.len(), 1);
    assert!(args(&render).contains(&"--allow-cross-namespace-auth".to_owned()));
    assert_eq!(
        pod_spec(&render).automount_service_account_token,
        Some(true)
    );
}

#[test]
fn the_prometheus_rule_and_the_dashboard_ship_the_files_ci_checks() {
    let render = golden("everything");
    assert_eq!(render.rules.len(), 1);
    let file: serde_json::Value =
        serde_json::Value::deserialize(serde_norway::Deserializer::from_str(
            &std::fs::read_to_string(chart_root().join("rules/esc-csi.yaml")).unwrap(),
        ))
        .unwrap();
    assert_eq!(render.rules[0]["spec"], file);
    assert_eq!(render.config_maps.len(), 1);
    let map = &render.config_maps[0];
    assert_eq!(map.metadata.namespace.as_deref(), Some("monitoring"));
    assert_eq!(
        map.metadata.labels.as_ref().unwrap()["grafana_dashboard"],
        "1"
    );
    let shipped = &map.data.as_ref().unwrap()["esc-csi.json"];
    let dashboard = std::fs::read_to_string(chart_root().join("dashboards/esc-csi.json")).unwrap();
    assert_eq!(shipped.trim_end(), dashboard.trim_end());
    assert!(golden("default").rules.is_empty() && golden("default").config_maps.is_empty());
}
