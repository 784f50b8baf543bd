//! RBAC as the API server enforces it: the Helm chart installed for real, what one
//! user did (read from the API server's audit log) and what the release's roles
//! grant (read back from the API server), to compare the two both ways — a request
//! answered 403 is a permission the chart lacks, a grant no request needed is one
//! too many.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::cluster::Cluster;

/// One request of the audit log (its last stage: a watch is logged when its
/// response starts and again when it ends).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Request {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The resource, `resource/subresource` for a subresource.
    pub resource: String,
    /// The authorization verb (`get`, `list`, `watch`, `create`, `update`, `patch`, …).
    pub verb: String,
    /// `None` for a cluster-scoped object or a request across all namespaces.
    pub namespace: Option<String>,
    /// The object's name, when the request names one.
    pub name: Option<String>,
    /// The answer's status code.
    pub code: u16,
    /// What was asked, for a failing test's message.
    pub uri: String,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}/{} in {}, name {}) -> {}",
            self.verb,
            self.uri,
            group_name(&self.group),
            self.resource,
            self.namespace.as_deref().unwrap_or("the cluster"),
            self.name.as_deref().unwrap_or("-"),
            self.code
        )
    }
}

fn group_name(group: &str) -> &str {
    if group.is_empty() { "core" } else { group }
}

/// The requests of `user` in an audit log of JSON lines (one event per stage,
/// so each request is kept once, at its last stage). Requests to non-resource
/// URLs (`/version`, discovery) are left out: Roles cannot grant them.
pub fn requests_of(audit_log: &str, user: &str) -> Vec<Request> {
    let mut last_stage = std::collections::BTreeMap::new();
    for line in audit_log.lines().filter(|l| !l.trim().is_empty()) {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("an audit line is not JSON ({e}): {line}"));
        if event["user"]["username"] != user || event["objectRef"].is_null() {
            continue;
        }
        let id = event["auditID"].as_str().unwrap().to_string();
        last_stage.insert(id, event);
    }
    let text = |v: &Value| v.as_str().map(ToString::to_string);
    last_stage
        .into_values()
        .map(|event| {
            let object = &event["objectRef"];
            let resource = match text(&object["subresource"]) {
                Some(sub) => format!("{}/{sub}", text(&object["resource"]).unwrap()),
                None => text(&object["resource"]).unwrap(),
            };
            Request {
                group: text(&object["apiGroup"]).unwrap_or_default(),
                resource,
                verb: text(&event["verb"]).unwrap(),
                namespace: text(&object["namespace"]),
                name: text(&object["name"]),
                code: event["responseStatus"]["code"]
                    .as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(0),
                uri: text(&event["requestURI"]).unwrap_or_default(),
            }
        })
        .collect()
}

/// Where a grant applies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Everywhere (a ClusterRoleBinding).
    Cluster,
    /// In one namespace (a RoleBinding).
    Namespace(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cluster => f.write_str("cluster-wide"),
            Self::Namespace(ns) => write!(f, "in namespace {ns}"),
        }
    }
}

/// One verb on one resource, granted to the ServiceAccount by one binding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The API group (`""` for the core group).
    pub group: String,
    /// The resource, `resource/subresource` for a subresource.
    pub resource: String,
    /// The verb.
    pub verb: String,
    /// Where the binding makes it apply.
    pub scope: Scope,
    /// The objects it is limited to (empty: all).
    pub names: Vec<String>,
    /// The role and binding it comes from.
    pub source: String,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} {}",
            self.verb,
            group_name(&self.group),
            self.resource,
            self.scope
        )?;
        if !self.names.is_empty() {
            write!(f, " (only {})", self.names.join(", "))?;
        }
        write!(f, " [{}]", self.source)
    }
}

impl Grant {
    /// Whether the API server authorizes `request` by this grant.
    pub fn covers(&self, request: &Request) -> bool {
        self.group == request.group
            && self.resource == request.resource
            && self.verb == request.verb
            && (self.names.is_empty()
                || request
                    .name
                    .as_ref()
                    .is_some_and(|n| self.names.contains(n)))
            && match &self.scope {
                Scope::Cluster => true,
                Scope::Namespace(ns) => request.namespace.as_ref() == Some(ns),
            }
    }

    /// Whether `request` needs this grant: it covers the request, and — for a
    /// cluster-wide grant — the request could not have been granted in its
    /// namespace alone, because it spans the cluster or is in a namespace the
    /// release could not name at install time (`known_namespaces`: a namespaced
    /// grant there is enough).
    pub fn needed_by(&self, request: &Request, known_namespaces: &BTreeSet<String>) -> bool {
        self.covers(request)
            && match (&self.scope, &request.namespace) {
                (Scope::Cluster, Some(ns)) => !known_namespaces.contains(ns),
                _ => true,
            }
    }
}

/// The (group, resource, verb, where) of every request, for a readable summary.
pub fn used(requests: &[Request]) -> BTreeSet<String> {
    requests
        .iter()
        .map(|r| {
            format!(
                "{} {}/{} {}",
                r.verb,
                group_name(&r.group),
                r.resource,
                r.namespace
                    .as_ref()
                    .map_or("cluster-wide".to_string(), |ns| format!(
                        "in namespace {ns}"
                    ))
            )
        })
        .collect()
}

/// Everything the release's roles grant to ServiceAccount `namespace/name`, read
/// back from the API server: its ClusterRoles and Roles (by the release's
/// `app.kubernetes.io/instance` label), expanded through the bindings that name
/// the ServiceAccount. A binding to a role that is not the release's fails the
/// test: its grants could not be read back.
pub fn grants(cluster: &Cluster, release: &str, namespace: &str, name: &str) -> Vec<Grant> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let items = |kinds: &str| -> Vec<Value> {
        let text = cluster.kubectl(&["get", kinds, "-A", "-l", &selector, "-o", "json"]);
        let list: Value = serde_json::from_str(&text).unwrap();
        list["items"].as_array().unwrap().clone()
    };
    let roles = items("clusterroles,roles");
    let bindings = items("clusterrolebindings,rolebindings");
    assert!(!roles.is_empty(), "release {release} has no roles");
    let subject =
        serde_json::json!({"kind": "ServiceAccount", "name": name, "namespace": namespace});
    let mut grants = Vec::new();
    for binding in &bindings {
        let subjects = binding["subjects"].as_array().cloned().unwrap_or_default();
        if !subjects.iter().any(|s| {
            s["kind"] == subject["kind"]
                && s["name"] == subject["name"]
                && s["namespace"] == subject["namespace"]
        }) {
            continue;
        }
        let binding_namespace = binding["metadata"]["namespace"].as_str();
        let scope = match binding_namespace {
            None => Scope::Cluster,
            Some(ns) => Scope::Namespace(ns.to_string()),
        };
        let role_ref = &binding["roleRef"];
        let role = roles
            .iter()
            .find(|r| {
                r["kind"] == role_ref["kind"]
                    && r["metadata"]["name"] == role_ref["name"]
                    && (role_ref["kind"] == "ClusterRole"
                        || r["metadata"]["namespace"].as_str() == binding_namespace)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{binding} binds a role that is not release {release}'s: its grants are unknown"
                )
            });
        let source = format!(
            "{} {} by {} {}",
            role["kind"].as_str().unwrap(),
            role["metadata"]["name"].as_str().unwrap(),
            binding["kind"].as_str().unwrap(),
            binding["metadata"]["name"].as_str().unwrap()
        );
        for rule in role["rules"].as_array().cloned().unwrap_or_default() {
            let list = |field: &str| -> Vec<String> {
                rule[field]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default()
            };
            assert!(
                rule["nonResourceURLs"].is_null(),
                "{source} grants non-resource URLs: {rule}"
            );
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(
                    !list(field).contains(&"*".to_string()),
                    "{source} grants a wildcard: {rule}"
                );
            }
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        grants.push(Grant {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb,
                            scope: scope.clone(),
                            names: list("resourceNames"),
                            source: source.clone(),
                        });
                    }
                }
            }
        }
    }
    grants
}

/// A Helm release of the chart in the repository, as the API server has it.
#[derive(Debug)]
pub struct Release {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The ServiceAccount its Deployment runs as.
    pub service_account: String,
    /// The controller's pod name, as the downward API would give it.
    pub pod_name: String,
    /// The controller container's arguments after `run`, with `$(VAR)` expanded
    /// as the kubelet does, without `--metrics-addr` and `--log-format` (the test
    /// harness chooses those).
    pub args: Vec<String>,
}

/// `helm install name <chart> -n namespace --create-namespace --set values…` of
/// `charts/bedrock-chatbot-operator` (CRDs included), then waits for the CRDs and
/// reads the controller's Deployment back.
pub fn helm_install(cluster: &Cluster, name: &str, namespace: &str, values: &[&str]) -> Release {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/bedrock-chatbot-operator");
    let mut install = cluster.plane.helm();
    install.args([
        "install",
        name,
        &chart.display().to_string(),
        "--namespace",
        namespace,
        "--create-namespace",
    ]);
    for value in values {
        install.args(["--set", value]);
    }
    let output = install.output().unwrap();
    assert!(
        output.status.success(),
        "helm install: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    cluster.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/chatbotplatforms.bedrock-chatbot.dev",
        "crd/bedrockchatbots.bedrock-chatbot.dev",
    ]);

    let selector = format!("app.kubernetes.io/instance={name}");
    let text = cluster.kubectl(&[
        "get",
        "deployments",
        "-n",
        namespace,
        "-l",
        &selector,
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&text).unwrap();
    let deployments = list["items"].as_array().unwrap();
    assert_eq!(deployments.len(), 1, "{text}");
    let deployment = &deployments[0];
    let pod = &deployment["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "controller")
        .unwrap_or_else(|| panic!("no controller container: {pod}"));
    let pod_name = format!("{}-0", deployment["metadata"]["name"].as_str().unwrap());
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let value = match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.namespace") => namespace.to_string(),
                Some("metadata.name") => pod_name.clone(),
                Some(_) => return None,
                None => e["value"].as_str()?.to_string(),
            };
            Some((e["name"].as_str()?.to_string(), value))
        })
        .collect();
    let mut args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut arg = a.as_str().unwrap().to_string();
            for (name, value) in &env {
                arg = arg.replace(&format!("$({name})"), value);
            }
            arg
        })
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    args.remove(0);
    args.retain(|a| !a.starts_with("--metrics-addr") && !a.starts_with("--log-format"));
    Release {
        name: name.to_string(),
        namespace: namespace.to_string(),
        service_account: pod["serviceAccountName"].as_str().unwrap().to_string(),
        pod_name,
        args,
    }
}
