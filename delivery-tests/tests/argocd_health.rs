//! The Argo CD resource health check (examples/argocd/health.lua), run in a real Lua
//! 5.1 (the language of Argo CD's gopher-lua) on sample objects of both kinds, as
//! Argo CD runs it: the object as the global `obj`, the script's result `hs`.
//! Also: the copies inlined in examples/argocd/argocd-cm.yaml are the same script,
//! and the Argo CD and Flux examples are well-formed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use delivery_tests::repo;
use mlua::{Lua, LuaSerdeExt, Table};
use serde_json::{Value, json};

fn script() -> String {
    std::fs::read_to_string(repo().join("examples/argocd/health.lua")).unwrap()
}

/// `(status, message)` of the health check on `object`.
fn health(object: &Value) -> (String, String) {
    let lua = Lua::new();
    lua.globals()
        .set("obj", lua.to_value(object).unwrap())
        .unwrap();
    let hs: Table = lua.load(script()).eval().unwrap();
    (hs.get("status").unwrap(), hs.get("message").unwrap())
}

fn object(kind: &str, generation: i64, status: Value) -> Value {
    let mut metadata = json!({"name": "assistant", "generation": generation});
    if kind == "BedrockChatbot" {
        metadata["namespace"] = json!("team-a");
    }
    let mut object = json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": kind,
        "metadata": metadata,
        "spec": {},
    });
    if !status.is_null() {
        object["status"] = status;
    }
    object
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2026-11-01T10:00:00Z", "observedGeneration": 3})
}

#[test]
fn both_kinds_follow_kstatus() {
    for kind in ["ChatbotPlatform", "BedrockChatbot"] {
        // Never reconciled.
        assert_eq!(health(&object(kind, 1, Value::Null)).0, "Progressing");
        assert_eq!(
            health(&object(kind, 1, json!({}))).0,
            "Progressing",
            "status without observedGeneration"
        );

        // Ready.
        let ready = object(
            kind,
            3,
            json!({"observedGeneration": 3, "conditions": [
                condition("Ready", "True", "Ready", "Every AWS resource exists as specified"),
                condition("Synced", "True", "Synced", "Converged"),
            ]}),
        );
        assert_eq!(
            health(&ready),
            (
                "Healthy".into(),
                "Every AWS resource exists as specified".into()
            )
        );

        // A newer spec not yet observed: the old Ready says nothing about it.
        let stale = object(kind, 4, ready["status"].clone());
        let (status, message) = health(&stale);
        assert_eq!(status, "Progressing");
        assert!(message.contains("generation 4"), "{message}");

        // Invalid spec: Degraded, with what to fix.
        let invalid = object(
            kind,
            3,
            json!({"observedGeneration": 3, "conditions": [
                condition("Ready", "False", "InvalidSpec", "spec.hostname is used by team-b/assistant"),
                condition("Synced", "False", "InvalidSpec", "spec.hostname is used by team-b/assistant"),
            ]}),
        );
        assert_eq!(
            health(&invalid),
            (
                "Degraded".into(),
                "spec.hostname is used by team-b/assistant".into()
            )
        );

        // An AWS error no retry fixes (kstatus Stalled, as the controller sets it):
        // Degraded, with the error.
        let stalled = object(
            kind,
            3,
            json!({"observedGeneration": 3, "conditions": [
                condition("Ready", "False", "ReconcileFailed", "iam PassRole failed (AccessDenied)"),
                condition("Synced", "False", "ReconcileFailed", "iam PassRole failed (AccessDenied) (retrying: false)"),
                condition("Stalled", "True", "ReconcileFailed", "iam PassRole failed (AccessDenied)"),
                condition("Reconciling", "False", "ReconcileFailed", ""),
            ]}),
        );
        assert_eq!(
            health(&stalled),
            (
                "Degraded".into(),
                "iam PassRole failed (AccessDenied)".into()
            )
        );

        // An invalid spec that a newer generation may have fixed: Progressing.
        assert_eq!(
            health(&object(kind, 5, invalid["status"].clone())).0,
            "Progressing"
        );

        // Creating, or a retryable AWS error: Progressing with the controller's message.
        let creating = object(
            kind,
            3,
            json!({"observedGeneration": 3, "conditions": [
                condition("Ready", "False", "Creating", "waiting for NAT gateway nat-0abc to be available"),
                condition("Synced", "False", "AwsThrottled", "retrying in 8s"),
            ]}),
        );
        assert_eq!(
            health(&creating),
            (
                "Progressing".into(),
                "waiting for NAT gateway nat-0abc to be available".into()
            )
        );

        // Degraded AWS state that is not an invalid spec still heals by itself.
        let degraded = object(
            kind,
            3,
            json!({"observedGeneration": 3, "conditions": [
                condition("Ready", "False", "TasksNotRunning", "0/1 ECS tasks running"),
                condition("Synced", "True", "Synced", "Converged"),
                condition("Degraded", "True", "TasksNotRunning", "0/1 ECS tasks running"),
            ]}),
        );
        assert_eq!(health(&degraded).0, "Progressing");

        // A Ready condition without a message.
        let terse = object(
            kind,
            1,
            json!({"observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": "Unknown", "reason": "Reconciling"},
            ]}),
        );
        assert_eq!(health(&terse), ("Progressing".into(), "Reconciling".into()));
    }
}

#[test]
fn the_config_map_inlines_the_same_script_for_both_kinds() {
    let text = std::fs::read_to_string(repo().join("examples/argocd/argocd-cm.yaml")).unwrap();
    let config: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(config["kind"], "ConfigMap");
    assert_eq!(config["metadata"]["name"], "argocd-cm");
    for kind in ["ChatbotPlatform", "BedrockChatbot"] {
        let key = format!("resource.customizations.health.bedrock-chatbot.dev_{kind}");
        assert_eq!(
            config["data"][&key].as_str().map(str::trim_end),
            Some(script().trim_end()),
            "{key} differs from examples/argocd/health.lua"
        );
    }
}

fn documents(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    text.split("\n---")
        .filter_map(|d| serde_norway::from_str::<Option<Value>>(d).unwrap())
        .collect()
}

fn kinds(path: &str) -> Vec<String> {
    documents(path)
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["apiVersion"].as_str().unwrap(),
                d["kind"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_gitops_examples_are_well_formed() {
    assert_eq!(
        kinds("examples/argocd/operator.yaml"),
        [
            "argoproj.io/v1alpha1 Application",
            "argoproj.io/v1alpha1 Application"
        ]
    );
    assert_eq!(
        kinds("examples/argocd/chatbots.yaml"),
        ["argoproj.io/v1alpha1 ApplicationSet"]
    );
    assert_eq!(
        kinds("examples/flux/operator.yaml"),
        [
            "v1 Namespace",
            "source.toolkit.fluxcd.io/v1 HelmRepository",
            "helm.toolkit.fluxcd.io/v2 HelmRelease",
        ]
    );
    assert_eq!(
        kinds("examples/flux/kustomizations.yaml"),
        ["kustomize.toolkit.fluxcd.io/v1 Kustomization"; 3]
    );

    // Both install the chart this repository ships, at its version.
    let chart: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("charts/bedrock-chatbot-operator/Chart.yaml"))
            .unwrap(),
    )
    .unwrap();
    let argo = &documents("examples/argocd/operator.yaml")[0]["spec"]["source"];
    assert_eq!(argo["chart"], chart["name"]);
    assert_eq!(argo["targetRevision"], chart["version"]);
    let flux = &documents("examples/flux/operator.yaml")[2]["spec"];
    assert_eq!(flux["chart"]["spec"]["chart"], chart["name"]);
    assert_eq!(flux["install"]["crds"], "CreateReplace");
    assert_eq!(flux["upgrade"]["crds"], "CreateReplace");

    // The values they set are values the chart accepts.
    for values in [&argo["helm"]["valuesObject"], &flux["values"]] {
        let answer = delivery_tests::helm(json!({"op": "validate", "values": values}));
        assert!(
            answer.get("error").is_none(),
            "{values}: {}",
            answer["error"]
        );
    }

    let set = &documents("examples/argocd/chatbots.yaml")[0]["spec"];
    assert_eq!(
        set["template"]["spec"]["destination"]["namespace"],
        "{{ .path.basename }}"
    );
}
