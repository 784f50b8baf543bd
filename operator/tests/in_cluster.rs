//! The operator in a real cluster, as a team uses it: `kubectl apply -f` the
//! examples, `kubectl wait` for the documented conditions, edit a spec, `kubectl
//! delete` — `bedrock-chatbot-operator run` against a real kube-apiserver and the
//! local AWS emulator.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use serde_json::Value;
use support::cluster::{Cluster, block_on};
use support::inventory::{Inventory, expected, inventory};

/// `status.<field>` of every chatbot, for comparing before and after an edit.
fn ids(chatbot: &Value) -> Vec<(String, Value)> {
    [
        "userPoolId",
        "userPoolClientId",
        "targetGroupArn",
        "listenerRuleArn",
        "taskRoleArn",
        "serviceArn",
        "logGroupName",
    ]
    .iter()
    .map(|f| (f.to_string(), chatbot["status"][f].clone()))
    .collect()
}

/// Only what the owners in `owners` own.
fn owned_by(inventory: &Inventory, owners: &[&str]) -> Inventory {
    inventory
        .iter()
        .filter_map(|(kind, by_owner)| {
            let mine: std::collections::BTreeMap<String, usize> = by_owner
                .iter()
                .filter(|(owner, _)| owners.contains(&owner.as_str()))
                .map(|(o, n)| (o.clone(), *n))
                .collect();
            (!mine.is_empty()).then_some((*kind, mine))
        })
        .collect()
}

#[test]
fn the_examples_converge_through_kubectl_and_leave_only_what_is_retained() {
    let cluster = Cluster::start();
    cluster.namespaces(&["team-a", "team-b", "team-c"]);
    let operator = cluster.operator(&["--no-leader-election"]);
    let examples = cluster.examples(&["platform.yaml", "chatbot.yaml", "teams.yaml"]);
    cluster.kubectl(&["apply", "-f", &examples]);

    // The documented conditions: a platform is Ready; a chatbot's AWS resources
    // are Synced (Ready also needs its ECS tasks running, which the emulator never
    // runs: Ready=False TasksNotRunning).
    cluster.kubectl_wait(
        &operator,
        &["--for=condition=Ready", "chatbotplatform/shared"],
    );
    for namespace in ["team-a", "team-b", "team-c"] {
        cluster.kubectl_wait(
            &operator,
            &[
                "--for=condition=Synced",
                "bedrockchatbot",
                "--all",
                "-n",
                namespace,
            ],
        );
    }
    let platform = cluster.get("chatbotplatform/shared", None).unwrap();
    let status = &platform["status"];
    assert!(
        status["vpcId"].as_str().unwrap().starts_with("vpc-"),
        "{status}"
    );
    assert!(
        status["loadBalancerArn"]
            .as_str()
            .unwrap()
            .contains(":loadbalancer/app/"),
        "{status}"
    );
    assert_eq!(
        status["observedGeneration"],
        platform["metadata"]["generation"]
    );
    let chatbot = cluster.get("bcb/assistant", Some("team-a")).unwrap();
    let ready = support::cluster::condition(&chatbot, "Ready").unwrap();
    assert_eq!(ready["reason"], "TasksNotRunning", "{chatbot}");
    assert!(
        chatbot["status"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .ends_with(":1"),
        "{chatbot}"
    );
    let chatbots = ["team-a", "team-b", "team-c"].map(|ns| {
        let name = if ns == "team-c" {
            "research"
        } else {
            "assistant"
        };
        format!("BedrockChatbot/{ns}/{name}")
    });
    let everything = block_on(inventory(&cluster.aws()));
    assert_eq!(everything, expected("shared", &chatbots));

    // A spec edit changes only what it drifts: a new task definition revision,
    // the same user pool, target group, rule, role, service and log group.
    let before = ids(&chatbot);
    cluster.edit_chatbot();
    let edited = cluster.wait_for_chatbot_synced(&operator);
    assert_eq!(edited["metadata"]["generation"], 2);
    assert!(
        edited["status"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .ends_with(":2"),
        "{edited}"
    );
    assert_eq!(ids(&edited), before);
    // The old revision stays registered until the chatbot is deleted (what a
    // deployment's circuit breaker rolls back to).
    let mut after_edit = everything.clone();
    after_edit
        .get_mut("task definition")
        .unwrap()
        .insert("BedrockChatbot/team-a/assistant".into(), 2);
    assert_eq!(block_on(inventory(&cluster.aws())), after_edit);

    // Delete: finalizers hold each object until AWS confirms; team-c's chatbot
    // says `deletionPolicy: Retain`, so its own resources stay (and only those).
    cluster.kubectl(&["delete", "-f", &examples, "--wait=false"]);
    let deleting = cluster.get("chatbotplatform/shared", None);
    if let Some(platform) = deleting {
        assert!(
            platform["metadata"]["finalizers"]
                .as_array()
                .unwrap()
                .contains(&"bedrock-chatbot.dev/cleanup".into()),
            "{platform}"
        );
    }
    cluster.kubectl_wait(
        &operator,
        &["--for=delete", "bcb/assistant", "-n", "team-a"],
    );
    cluster.kubectl_wait(
        &operator,
        &["--for=delete", "bcb/assistant", "-n", "team-b"],
    );
    cluster.kubectl_wait(&operator, &["--for=delete", "bcb/research", "-n", "team-c"]);
    cluster.kubectl_wait(&operator, &["--for=delete", "chatbotplatform/shared"]);
    let left = block_on(inventory(&cluster.aws()));
    let retained = owned_by(&everything, &["BedrockChatbot/team-c/research"]);
    let retained = retained
        .into_iter()
        // The rule lived on the platform's listener, which is gone.
        .filter(|(kind, _)| *kind != "listener rule")
        .collect::<Inventory>();
    assert_eq!(left, retained);
    for kind in ["chatbotplatforms", "bedrockchatbots"] {
        assert_eq!(cluster.kubectl(&["get", kind, "-A", "-o", "name"]), "");
    }
}

#[test]
fn a_controller_watching_some_namespaces_leaves_the_others_alone() {
    let cluster = Cluster::start();
    cluster.namespaces(&["team-a", "team-b"]);
    let operator = cluster.operator(&["--no-leader-election", "--namespaces=team-a"]);
    let examples = cluster.examples(&["platform.yaml", "chatbot.yaml"]);
    cluster.kubectl(&["apply", "-f", &examples]);
    let mut team_b = support::chatbot_manifest("team-b", "chat.team-b.example.com");
    support::set(&mut team_b, "/spec/platformRef/name", Value::from("shared"));
    cluster.apply(&support::yaml_documents(&[team_b]));

    cluster.kubectl_wait(
        &operator,
        &["--for=condition=Synced", "bcb/assistant", "-n", "team-a"],
    );
    // team-b's chatbot is not this controller's: no finalizer, no status, nothing
    // on AWS.
    let other = cluster.get("bcb/assistant", Some("team-b")).unwrap();
    assert!(other["metadata"]["finalizers"].is_null(), "{other}");
    assert!(other["status"]["conditions"].is_null(), "{other}");
    let owners: Vec<String> = block_on(inventory(&cluster.aws()))
        .values()
        .flat_map(|by_owner| by_owner.keys().cloned())
        .collect();
    assert!(owners.iter().all(|o| !o.contains("team-b")), "{owners:?}");
    assert!(
        owners
            .iter()
            .any(|o| o == "BedrockChatbot/team-a/assistant"),
        "{owners:?}"
    );

    cluster.kubectl(&["delete", "-f", &examples, "--wait=false"]);
    cluster.kubectl(&["delete", "bcb/assistant", "-n", "team-b", "--wait=false"]);
    cluster.kubectl_wait(
        &operator,
        &["--for=delete", "bcb/assistant", "-n", "team-a"],
    );
    cluster.kubectl_wait(&operator, &["--for=delete", "chatbotplatform/shared"]);
    assert!(cluster.get("bcb/assistant", Some("team-b")).is_none());
    let left = block_on(inventory(&cluster.aws()));
    assert!(left.is_empty(), "{left:?}");
}
