//! The Helm chart: `helm lint --strict` is clean, and it renders — for the default
//! values and a matrix of non-default ones — only valid Kubernetes objects with the
//! settings the controller's `run` contract and the security baseline require.
//! Each rendered object is deserialized with its k8s-openapi type and serialized
//! again: a field Kubernetes does not know (a typo, a wrong indent) is lost on the way
//! and fails the comparison, as would a wrong type.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use delivery_tests::helm;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const NAMESPACE: &str = "bedrock-chatbot-system";
const RELEASE: &str = "bco";
const FULLNAME: &str = "bco-bedrock-chatbot-operator";

/// The Prometheus Operator's ServiceMonitor, the part this chart uses; unknown
/// fields are refused so the same round trip catches typos.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitor {
    api_version: String,
    kind: String,
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    spec: ServiceMonitorSpec,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitorSpec {
    selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    namespace_selector: NamespaceSelector,
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NamespaceSelector {
    match_names: Vec<String>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Endpoint {
    port: String,
    path: String,
    interval: String,
    scrape_timeout: String,
}

/// What one rendering produced: every object, by kind.
#[derive(Debug, Default)]
struct Rendered {
    objects: Vec<Value>,
    notes: String,
}

impl Rendered {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    fn one<T: DeserializeOwned>(&self, kind: &str) -> T {
        let found = self.of_kind(kind);
        assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
        serde_json::from_value(found[0].clone()).unwrap()
    }

    fn kinds(&self) -> BTreeMap<String, usize> {
        let mut kinds = BTreeMap::new();
        for object in &self.objects {
            *kinds
                .entry(object["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        kinds
    }

    fn deployment(&self) -> Deployment {
        self.one("Deployment")
    }

    fn container(&self) -> Container {
        self.deployment()
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers
            .into_iter()
            .next()
            .unwrap()
    }

    fn args(&self) -> Vec<String> {
        self.container().args.unwrap()
    }
}

/// Renders the chart with `values`; panics with Helm's message on failure.
fn render(values: Value) -> Rendered {
    let answer =
        helm(json!({"op": "render", "values": values, "name": RELEASE, "namespace": NAMESPACE}));
    assert!(answer.get("error").is_none(), "{}", answer["error"]);
    let mut rendered = Rendered::default();
    for (template, text) in answer["manifests"].as_object().unwrap() {
        let text = text.as_str().unwrap();
        if template.ends_with("NOTES.txt") {
            rendered.notes = text.to_string();
            continue;
        }
        for document in text.split("\n---") {
            let value: Option<Value> = serde_norway::from_str(document)
                .unwrap_or_else(|e| panic!("{template}: not YAML: {e}\n{document}"));
            if let Some(value) = value.filter(|v| !v.is_null()) {
                validate(template, &value);
                rendered.objects.push(value);
            }
        }
    }
    rendered
}

/// Helm's error for `values`, which must not render.
fn refused(values: Value) -> String {
    let answer =
        helm(json!({"op": "render", "values": values, "name": RELEASE, "namespace": NAMESPACE}));
    answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("rendered although invalid: {values}"))
        .to_string()
}

/// Deserializes `object` with the type of its kind and checks nothing was lost.
fn validate(template: &str, object: &Value) {
    let kind = object["kind"].as_str().unwrap_or_default();
    let again = match kind {
        "Deployment" => round_trip::<Deployment>(object),
        "Service" => round_trip::<Service>(object),
        "ServiceAccount" => round_trip::<ServiceAccount>(object),
        "ClusterRole" => round_trip::<ClusterRole>(object),
        "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(object),
        "Role" => round_trip::<Role>(object),
        "RoleBinding" => round_trip::<RoleBinding>(object),
        "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(object),
        "ServiceMonitor" => round_trip::<ServiceMonitor>(object),
        other => panic!("{template}: unexpected kind {other:?}"),
    }
    .unwrap_or_else(|e| panic!("{template}: {kind} is not a valid object: {e}\n{object:#}"));
    assert_eq!(
        &again, object,
        "{template}: {kind} changed in a round trip through its Kubernetes type: a field is unknown or misplaced"
    );
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    assert!(
        !name.is_empty() && name.len() <= 63,
        "{template}: bad name {name:?}"
    );
}

fn round_trip<T: DeserializeOwned + serde::Serialize>(
    object: &Value,
) -> Result<Value, serde_json::Error> {
    let typed: T = serde_json::from_value(object.clone())?;
    serde_json::to_value(typed)
}

fn rules(rendered: &Rendered, kind: &str) -> Vec<PolicyRule> {
    rendered
        .of_kind(kind)
        .into_iter()
        .flat_map(|o| o["rules"].as_array().unwrap().clone())
        .map(|r| serde_json::from_value(r).unwrap())
        .collect()
}

/// `(apiGroup, resource, verb, resourceName)` of every grant.
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String, String)> {
    let mut grants = BTreeSet::new();
    for rule in rules {
        let names = rule
            .resource_names
            .clone()
            .unwrap_or_else(|| vec![String::new()]);
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        grants.insert((
                            group.clone(),
                            resource.clone(),
                            verb.clone(),
                            name.clone(),
                        ));
                    }
                }
            }
        }
    }
    grants
}

fn grant(group: &str, resource: &str, verbs: &[&str]) -> Vec<(String, String, String, String)> {
    verbs
        .iter()
        .map(|v| (group.into(), resource.into(), (*v).into(), String::new()))
        .collect()
}

#[test]
fn lint_is_clean_in_strict_mode() {
    let report = helm(json!({"op": "lint", "namespace": NAMESPACE}));
    assert_eq!(report["total_charts_linted"], 1, "{report:#}");
    assert_eq!(report["errors"], json!([]), "{report:#}");
    let problems: Vec<&Value> = report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["severity"].as_i64().unwrap_or(3) >= 2)
        .collect();
    assert!(
        problems.is_empty(),
        "lint warnings or errors: {problems:#?}"
    );
}

#[test]
fn the_chart_ships_the_generated_crds() {
    let answer =
        helm(json!({"op": "render", "values": {}, "name": RELEASE, "namespace": NAMESPACE}));
    assert_eq!(answer["crds"], json!(["crds/crds.yaml"]));
}

#[test]
fn default_values_render_a_hardened_single_replica_controller() {
    let rendered = render(json!({}));
    let kinds: BTreeMap<&str, usize> = [
        // Platforms, chatbots, Events.
        ("ClusterRole", 3),
        ("ClusterRoleBinding", 3),
        ("Deployment", 1),
        ("PodDisruptionBudget", 1),
        ("Role", 1),
        ("RoleBinding", 1),
        ("Service", 1),
        ("ServiceAccount", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        rendered.kinds(),
        kinds.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    );
    for object in &rendered.objects {
        let kind = object["kind"].as_str().unwrap();
        if !kind.starts_with("Cluster") {
            assert_eq!(object["metadata"]["namespace"], NAMESPACE, "{kind}");
        }
    }

    let deployment = rendered.deployment();
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(FULLNAME));
    let pod_security = pod.security_context.as_ref().unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(
        pod_security.seccomp_profile.as_ref().unwrap().type_,
        "RuntimeDefault"
    );

    let container = rendered.container();
    assert_eq!(
        container.image.as_deref(),
        Some("ghcr.io/bedrock-chatbot/operator:0.1.0")
    );
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop,
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(
        security.seccomp_profile.as_ref().unwrap().type_,
        "RuntimeDefault"
    );
    assert!(container.resources.as_ref().unwrap().requests.is_some());
    assert!(container.resources.as_ref().unwrap().limits.is_some());

    for (probe, path) in [
        (container.liveness_probe.as_ref(), "/healthz"),
        (container.readiness_probe.as_ref(), "/readyz"),
    ] {
        let get = probe.unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("metrics".into())
        );
    }
    let port = &container.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.container_port),
        (Some("metrics"), 8080)
    );

    // The `run` contract: exactly these flags, namespaces only when set.
    assert_eq!(
        rendered.args(),
        [
            "run",
            "--concurrency=4",
            "--resync-seconds=600",
            "--shutdown-grace-seconds=90",
            "--metrics-addr=:8080",
            "--leader-election",
            "--lease-namespace=$(POD_NAMESPACE)",
            "--lease-name=bedrock-chatbot-operator",
            "--log-format=json",
        ]
    );
    let env = container.env.unwrap();
    let pod_namespace = env.iter().find(|e| e.name == "POD_NAMESPACE").unwrap();
    assert_eq!(
        pod_namespace
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.namespace"
    );
    assert!(
        env.iter().all(|e| !e.name.starts_with("AWS_")),
        "no AWS variables by default: IRSA / Pod Identity inject them"
    );

    let service: Service = rendered.one("Service");
    let service_spec = service.spec.unwrap();
    assert_eq!(service_spec.selector, spec.selector.match_labels);
    assert_eq!(service_spec.ports.unwrap()[0].port, 8080);

    let pdb: PodDisruptionBudget = rendered.one("PodDisruptionBudget");
    let pdb_spec = pdb.spec.unwrap();
    assert_eq!(
        pdb_spec.selector.unwrap().match_labels,
        spec.selector.match_labels
    );
    assert!(pdb_spec.min_available.is_none());

    assert!(
        rendered.notes.contains("kubectl apply -f"),
        "{}",
        rendered.notes
    );
    assert!(rendered.notes.contains("create-pod-identity-association"));
}

#[test]
fn rbac_grants_exactly_what_the_controller_uses() {
    let rendered = render(json!({}));
    let mut expected = BTreeSet::new();
    for kind in ["chatbotplatforms", "bedrockchatbots"] {
        expected.extend(grant(
            "bedrock-chatbot.dev",
            kind,
            &["list", "watch", "patch"],
        ));
        expected.extend(grant(
            "bedrock-chatbot.dev",
            &format!("{kind}/status"),
            &["patch"],
        ));
    }
    expected.extend(grant("events.k8s.io", "events", &["create", "patch"]));
    assert_eq!(grants(&rules(&rendered, "ClusterRole")), expected);

    let mut lease = BTreeSet::from_iter(grant("coordination.k8s.io", "leases", &["create"]));
    for verb in ["get", "update"] {
        lease.insert((
            "coordination.k8s.io".into(),
            "leases".into(),
            verb.into(),
            "bedrock-chatbot-operator".into(),
        ));
    }
    assert_eq!(grants(&rules(&rendered, "Role")), lease);

    // Every binding names our ServiceAccount in the release namespace, and a role
    // this chart defines.
    let defined: BTreeSet<String> = rendered
        .objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    for binding in rendered
        .objects
        .iter()
        .filter(|o| o["kind"].as_str().unwrap().ends_with("Binding"))
    {
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}])
        );
        assert!(defined.contains(binding["roleRef"]["name"].as_str().unwrap()));
    }
}

#[test]
fn two_replicas_elect_a_leader_and_spread_over_nodes() {
    let rendered = render(json!({"replicaCount": 2}));
    let deployment = rendered.deployment();
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.topology_spread_constraints.unwrap().len(), 1);
    assert!(rendered.args().contains(&"--leader-election".to_string()));
    assert_eq!(rendered.of_kind("Role").len(), 1);
}

#[test]
fn leader_election_off_drops_the_lease_role() {
    let rendered = render(json!({"controller": {"leaderElection": {"enabled": false}}}));
    let args = rendered.args();
    assert!(
        args.contains(&"--no-leader-election".to_string()),
        "{args:?}"
    );
    assert!(args.iter().all(|a| !a.starts_with("--lease")), "{args:?}");
    assert!(rendered.of_kind("Role").is_empty());
    assert!(rendered.of_kind("RoleBinding").is_empty());
    assert!(rendered.notes.contains("leader election off"));
}

#[test]
fn watched_namespaces_limit_chatbot_access_to_them() {
    let rendered = render(json!({"controller": {"namespaces": ["team-a", "team-b"]}}));
    assert!(
        rendered
            .args()
            .contains(&"--namespaces=team-a,team-b".to_string())
    );
    let bindings: Vec<(String, String)> = rendered
        .of_kind("RoleBinding")
        .iter()
        .filter(|b| b["roleRef"]["kind"] == "ClusterRole")
        .map(|b| {
            (
                b["metadata"]["namespace"].as_str().unwrap().to_string(),
                b["roleRef"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let chatbots = format!("{FULLNAME}-chatbots");
    let events = format!("{FULLNAME}-events");
    // Events only where they land: the watched namespaces and `default`
    // (platforms are cluster-scoped).
    assert_eq!(
        bindings,
        [
            ("team-a".to_string(), chatbots.clone()),
            ("team-b".to_string(), chatbots.clone()),
            ("team-a".to_string(), events.clone()),
            ("team-b".to_string(), events.clone()),
            ("default".to_string(), events.clone())
        ]
    );
    let cluster_bindings: Vec<&str> = rendered
        .of_kind("ClusterRoleBinding")
        .iter()
        .map(|b| b["roleRef"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(cluster_bindings, [format!("{FULLNAME}-platforms")]);
}

#[test]
fn service_monitor_scrapes_the_metrics_service() {
    let rendered = render(
        json!({"metrics": {"serviceMonitor": {"enabled": true, "labels": {"release": "prometheus"}}}}),
    );
    let monitor: ServiceMonitor = rendered.one("ServiceMonitor");
    assert_eq!(monitor.api_version, "monitoring.coreos.com/v1");
    assert_eq!(monitor.spec.endpoints[0].port, "metrics");
    assert_eq!(monitor.spec.endpoints[0].path, "/metrics");
    assert_eq!(
        monitor
            .metadata
            .labels
            .unwrap()
            .get("release")
            .map(String::as_str),
        Some("prometheus")
    );
    let service: Service = rendered.one("Service");
    assert_eq!(
        monitor.spec.selector.match_labels,
        service.spec.unwrap().selector
    );
}

#[test]
fn irsa_annotation_and_region_reach_the_pod() {
    let role = "arn:aws:iam::123456789012:role/bedrock-chatbot-operator";
    let rendered = render(json!({
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": role}},
        "aws": {"region": "eu-central-1"},
    }));
    let account: ServiceAccount = rendered.one("ServiceAccount");
    assert_eq!(
        account.metadata.annotations.unwrap()["eks.amazonaws.com/role-arn"],
        role
    );
    let env = rendered.container().env.unwrap();
    let region = env.iter().find(|e| e.name == "AWS_REGION").unwrap();
    assert_eq!(region.value.as_deref(), Some("eu-central-1"));
    assert!(rendered.notes.contains(role));
}

#[test]
fn disruption_budget_by_min_available_or_off() {
    let rendered = render(
        json!({"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 2, "maxUnavailable": null}}),
    );
    let pdb: PodDisruptionBudget = rendered.one("PodDisruptionBudget");
    let spec = pdb.spec.unwrap();
    assert_eq!(
        spec.min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(2))
    );
    assert!(spec.max_unavailable.is_none());

    let rendered = render(json!({"podDisruptionBudget": {"enabled": false}}));
    assert!(rendered.of_kind("PodDisruptionBudget").is_empty());
}

/// `maxUnavailable: 0` blocks every voluntary eviction (a drain waits for the
/// operator's say): it must reach the budget as 0, not be taken for "unset".
#[test]
fn disruption_budget_keeps_max_unavailable_zero() {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    for (value, expected) in [
        (json!(0), IntOrString::Int(0)),
        (json!("0%"), IntOrString::String("0%".into())),
        (json!(2), IntOrString::Int(2)),
        (Value::Null, IntOrString::Int(1)),
    ] {
        let rendered = render(json!({"podDisruptionBudget": {"maxUnavailable": value}}));
        let pdb: PodDisruptionBudget = rendered.one("PodDisruptionBudget");
        assert_eq!(
            pdb.spec.unwrap().max_unavailable,
            Some(expected),
            "maxUnavailable: {value}"
        );
    }
}

#[test]
fn everything_else_that_can_be_set_renders_valid_objects() {
    let rendered = render(json!({
        "fullnameOverride": "operator",
        "image": {"digest": format!("sha256:{}", "a".repeat(64))},
        "imagePullSecrets": [{"name": "ghcr"}],
        "controller": {"concurrency": 8, "resyncSeconds": 300, "logFormat": "text", "dryRun": true,
                       "leaderElection": {"leaseName": "bco-lease"}},
        "extraEnv": [{"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}],
        "extraArgs": ["--some-future-flag"],
        "serviceAccount": {"create": false, "name": "existing"},
        "metrics": {"port": 9090, "service": {"annotations": {"a": "b"}}},
        "podAnnotations": {"x": "y"},
        "podLabels": {"team": "platform"},
        "priorityClassName": "system-cluster-critical",
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64", "amd64"]}]}]}}},
    }));
    assert!(rendered.of_kind("ServiceAccount").is_empty());
    let container = rendered.container();
    assert_eq!(
        container.image.as_deref(),
        Some(format!("ghcr.io/bedrock-chatbot/operator@sha256:{}", "a".repeat(64)).as_str())
    );
    let args = rendered.args();
    for flag in [
        "--concurrency=8",
        "--resync-seconds=300",
        "--metrics-addr=:9090",
        "--lease-name=bco-lease",
        "--dry-run",
        "--log-format=text",
        "--some-future-flag",
    ] {
        assert!(args.contains(&flag.to_string()), "{flag} missing: {args:?}");
    }
    let binding = rendered.of_kind("RoleBinding")[0];
    assert_eq!(binding["subjects"][0]["name"], "existing");
    let lease = grants(&rules(&rendered, "Role"));
    assert!(lease.iter().any(|g| g.3 == "bco-lease"));
}

#[test]
fn invalid_values_are_refused_with_a_reason() {
    for (values, reason) in [
        (
            json!({"replicaCount": 2, "controller": {"leaderElection": {"enabled": false}}}),
            "leaderElection",
        ),
        (
            json!({"replicas": 2}),
            "additional properties 'replicas' not allowed",
        ),
        (json!({"controller": {"logFormat": "xml"}}), "logFormat"),
        (
            json!({"controller": {"namespaces": ["Team_A"]}}),
            "namespaces",
        ),
        (
            json!({"podDisruptionBudget": {"minAvailable": 1}}),
            "not both",
        ),
        (
            json!({"metrics": {"service": {"enabled": false}, "serviceMonitor": {"enabled": true}}}),
            "metrics.service.enabled",
        ),
        (
            json!({"securityContext": {"allowPrivilegeEscalation": true}}),
            "allowPrivilegeEscalation",
        ),
        (
            json!({"podSecurityContext": {"runAsNonRoot": false}}),
            "runAsNonRoot",
        ),
        (
            json!({"serviceAccount": {"create": false}}),
            "serviceAccount.name is required",
        ),
        (json!({"image": {"digest": "latest"}}), "digest"),
    ] {
        let error = refused(values.clone());
        assert!(error.contains(reason), "{values}: {error}");
    }
}

/// `helm template` of the chart with the real helm binary (scripts/setup-kube)
/// for a cluster of `version`: its stderr when refused.
fn helm_template_for(version: &str) -> Result<(), String> {
    let helm = testkit::kube::assets().unwrap().join("helm");
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/bedrock-chatbot-operator");
    let output = std::process::Command::new(helm)
        .args(["template", "bco"])
        .arg(chart)
        .args(["--kube-version", version])
        .output()
        .unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The chart claims only what is tested: kube-apiserver v1.36.3 (the oldest,
/// `apiserver_admission.rs`) and v1.37.2. The CRDs' CEL rules use libraries an
/// older API server may not have, so Helm refuses an older cluster up front.
#[test]
fn the_chart_claims_only_the_kubernetes_releases_tested() {
    for tested in ["1.36.0", "1.36.3", "1.37.2"] {
        assert_eq!(helm_template_for(tested), Ok(()), "{tested}");
    }
    for older in ["1.35.9", "1.31.0", "1.28.0"] {
        let refused = helm_template_for(older).expect_err(older);
        assert!(
            refused.contains("kubeVersion") && refused.contains(">=1.36.0-0"),
            "{older}: {refused}"
        );
    }
}

/// The controller's shutdown grace (`--shutdown-grace-seconds`) and the pod's
/// `terminationGracePeriodSeconds`: the kubelet must not SIGKILL the controller
/// while it still waits for a pass in flight (15 s more for the Lease's release
/// and the process's exit).
fn grace_and_termination(rendered: &Rendered) -> (u64, i64) {
    let grace = rendered
        .container()
        .args
        .unwrap()
        .iter()
        .find_map(|a| {
            a.strip_prefix("--shutdown-grace-seconds=")
                .map(str::to_owned)
        })
        .expect("no --shutdown-grace-seconds")
        .parse()
        .unwrap();
    let termination = rendered
        .deployment()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .termination_grace_period_seconds
        .unwrap();
    (grace, termination)
}

#[test]
fn the_pod_outlives_the_controllers_shutdown_grace() {
    let (grace, termination) = grace_and_termination(&render(json!({})));
    assert_eq!(grace, 90);
    assert!(termination >= 105, "{termination}");

    let rendered = render(json!({"controller": {"shutdownGraceSeconds": 300}}));
    assert_eq!(grace_and_termination(&rendered), (300, 315));

    let rendered = render(json!({"terminationGracePeriodSeconds": 600}));
    assert_eq!(grace_and_termination(&rendered), (90, 600));

    let message = refused(json!({"terminationGracePeriodSeconds": 60}));
    assert!(
        message.contains("terminationGracePeriodSeconds") && message.contains("105"),
        "{message}"
    );
}
