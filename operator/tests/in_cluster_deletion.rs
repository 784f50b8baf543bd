//! Deletion decisions rest on complete knowledge: a restarted controller whose
//! caches have not synced yet must not conclude "no platform" (and drop a chatbot's
//! finalizer, orphaning its AWS resources) nor "no chatbots" (and delete a
//! platform's load balancer under live chatbots). A cache is kept from syncing the
//! way it happens in real clusters — the watch fails (here: RBAC forbids it for a
//! while) — against a real kube-apiserver.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::cluster::{
    CONVERGE, Cluster, Operator, OperatorSettings, block_on, condition, log_path,
};
use support::inventory::inventory;

/// The controller's permissions, as a ClusterRole whose watch of `hidden` (a
/// resource of the bedrock-chatbot.dev group) can be taken away and given back.
fn role(hidden: Option<&str>) -> String {
    let all = ["chatbotplatforms", "bedrockchatbots"];
    let watched: Vec<&str> = all.iter().copied().filter(|r| Some(*r) != hidden).collect();
    let mut rules = vec![
        json!({"apiGroups": ["bedrock-chatbot.dev"], "resources": all,
               "verbs": ["get", "patch", "update"]}),
        json!({"apiGroups": ["bedrock-chatbot.dev"],
               "resources": ["chatbotplatforms/status", "bedrockchatbots/status",
                             "chatbotplatforms/finalizers", "bedrockchatbots/finalizers"],
               "verbs": ["get", "patch", "update"]}),
        json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}),
    ];
    if !watched.is_empty() {
        rules.push(
            json!({"apiGroups": ["bedrock-chatbot.dev"], "resources": watched,
                          "verbs": ["list", "watch"]}),
        );
    }
    serde_json::to_string(&json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "bcb-operator"},
        "rules": rules,
    }))
    .unwrap()
}

/// The ServiceAccount `ops/operator` bound to [`role`], and its kubeconfig.
fn service_account(cluster: &Cluster) -> std::path::PathBuf {
    cluster.namespaces(&["ops"]);
    cluster.kubectl(&["create", "serviceaccount", "operator", "-n", "ops"]);
    cluster.apply(&role(None));
    cluster.kubectl(&[
        "create",
        "clusterrolebinding",
        "bcb-operator",
        "--clusterrole=bcb-operator",
        "--serviceaccount=ops:operator",
    ]);
    cluster
        .plane
        .service_account_kubeconfig("ops", "operator")
        .unwrap()
}

fn start(cluster: &Cluster, kubeconfig: &std::path::Path, identity: &str) -> Operator {
    Operator::start(OperatorSettings {
        kubeconfig: kubeconfig.to_path_buf(),
        aws_endpoint: cluster.moto.endpoint(),
        identity: identity.into(),
        args: vec!["--no-leader-election".into()],
        log: log_path(identity),
        // The controllers' watch errors are logged at debug level.
        env: vec![("RUST_LOG".into(), "info,operator=debug".into())],
    })
}

/// Waits until the operator's log shows its watch of `resource` refused, then gives
/// it time to reconcile what it can see.
fn until_watch_refused(operator: &Operator, resource: &str) {
    let started = Instant::now();
    while !operator
        .log()
        .lines()
        .any(|l| l.contains(resource) && l.contains("forbidden"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the watch of {resource} was never refused:\n{}",
            operator.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(10));
}

/// The platform and team A's chatbot, converged, as the service account.
fn converged(cluster: &Cluster, kubeconfig: &std::path::Path) -> String {
    cluster.namespaces(&["team-a"]);
    let operator = start(cluster, kubeconfig, "first");
    let examples = cluster.examples(&["platform.yaml", "chatbot.yaml"]);
    cluster.kubectl(&["apply", "-f", &examples]);
    cluster.wait_for_platform_ready(&operator);
    cluster.wait_for_chatbot_synced(&operator);
    examples
}

fn owned_by(cluster: &Cluster, owner: &str) -> usize {
    block_on(inventory(&cluster.aws()))
        .values()
        .filter_map(|by_owner| by_owner.get(owner))
        .sum()
}

#[test]
fn a_chatbot_deleted_while_the_platform_cache_is_empty_keeps_its_finalizer_and_aws_resources() {
    let cluster = Cluster::start();
    let kubeconfig = service_account(&cluster);
    converged(&cluster, &kubeconfig);
    let owner = "BedrockChatbot/team-a/assistant";
    let resources = owned_by(&cluster, owner);
    assert!(resources >= 7, "{resources}");

    // Restart while the chatbot is being deleted, with platforms not watchable.
    cluster.apply(&role(Some("chatbotplatforms")));
    cluster.kubectl(&["delete", "bcb/assistant", "-n", "team-a", "--wait=false"]);
    let operator = start(&cluster, &kubeconfig, "restarted");
    until_watch_refused(&operator, "chatbotplatforms");
    let chatbot = cluster.get("bcb/assistant", Some("team-a"));
    assert!(
        chatbot.as_ref().is_some_and(|c| c["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.contains(&"bedrock-chatbot.dev/cleanup".into()))),
        "the finalizer was dropped without knowing the platform: {chatbot:?}\n{}",
        operator.log_tail()
    );
    assert_eq!(owned_by(&cluster, owner), resources);

    // Once the platform is known, the deletion completes on AWS.
    cluster.apply(&role(None));
    cluster.wait_for(
        "bcb/assistant",
        Some("team-a"),
        CONVERGE,
        || operator.log_tail(),
        |c| c.is_none(),
    );
    assert_eq!(owned_by(&cluster, owner), 0);
}

#[test]
fn a_platform_deleted_while_the_chatbot_cache_is_empty_deletes_nothing_under_its_chatbots() {
    let cluster = Cluster::start();
    let kubeconfig = service_account(&cluster);
    let examples = converged(&cluster, &kubeconfig);
    let platform_owner = "ChatbotPlatform/shared";
    let resources = owned_by(&cluster, platform_owner);

    cluster.apply(&role(Some("bedrockchatbots")));
    cluster.kubectl(&["delete", "chatbotplatform/shared", "--wait=false"]);
    let operator = start(&cluster, &kubeconfig, "restarted");
    until_watch_refused(&operator, "bedrockchatbots");
    assert_eq!(
        owned_by(&cluster, platform_owner),
        resources,
        "the platform's resources were deleted without knowing its chatbots:\n{}",
        operator.log_tail()
    );
    assert!(cluster.get("chatbotplatform/shared", None).is_some());

    // Once the chatbots are known, the deletion is blocked by the one that is left,
    // and goes ahead when it is gone.
    cluster.apply(&role(None));
    cluster.wait_for(
        "chatbotplatform/shared",
        None,
        CONVERGE,
        || operator.log_tail(),
        |p| {
            p.and_then(|p| condition(p, "Ready"))
                .is_some_and(|c| c["reason"] == "DeletionBlocked")
        },
    );
    assert_eq!(owned_by(&cluster, platform_owner), resources);
    cluster.kubectl(&[
        "delete",
        "-f",
        &examples,
        "--wait=false",
        "--ignore-not-found",
    ]);
    cluster.wait_for(
        "chatbotplatform/shared",
        None,
        CONVERGE,
        || operator.log_tail(),
        |p| p.is_none(),
    );
    assert_eq!(owned_by(&cluster, platform_owner), 0);
}
