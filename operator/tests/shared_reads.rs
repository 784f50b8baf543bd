//! The file mode shares listings between the teams of one pass (`PassReads`): the
//! HTTPS listener's rules, the region's user pools, the chatbots' log groups,
//! target groups and ECS scalable targets are listed once per pass, not once per
//! team, and what the operator changes within a pass is never read stale — teams
//! created in the same pass get distinct rule priorities, and a rule deleted behind
//! the operator's back is put back by the next pass. The cluster's ECS services are
//! described ten a call, and the task definition revision a service records
//! (`bedrock-chatbot.dev/task-definition`) is not read again until the spec, the
//! record or the service's revision changes.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::time::Duration;

use aws_sdk_ecs::types::{ServiceField, Tag};
use operator::aws::Call;
use operator::desired::TAG_TASK_DEFINITION;
use operator::engine::Engine;
use operator::file_mode::{self, ApplyReport, ReadyWhen, Timing};
use operator::manifest::{self, Manifests};
use support::{aws, chatbot_manifest, engine, examples, platform_manifest, yaml_documents};

fn timing() -> Timing {
    Timing {
        timeout: Duration::from_secs(120),
        interval: Duration::from_millis(200),
        ready_when: ReadyWhen::Converged,
    }
}

async fn apply(engine: &Engine, manifests: &Manifests) -> (ApplyReport, Vec<Call>) {
    let before = engine.calls().len();
    let report = file_mode::apply(engine, manifests, timing()).await.unwrap();
    assert!(report.not_ready.is_empty(), "{:?}", report.not_ready);
    (report, engine.calls().since(before))
}

fn count(calls: &[Call], operation: &str) -> usize {
    calls.iter().filter(|c| c.operation == operation).count()
}

fn statuses(report: &ApplyReport, field: &str) -> Vec<serde_json::Value> {
    report
        .items
        .iter()
        .filter(|i| i.kind == "BedrockChatbot")
        .map(|i| serde_json::to_value(&i.status).unwrap()[field].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_lists_the_listener_rules_and_user_pools_once_for_all_teams() {
    let (moto, engine, _recorder) = engine();
    let mut manifests = examples(&["platform.yaml", "chatbot.yaml", "teams.yaml"]);
    manifests.platforms[0]
        .object
        .spec
        .load_balancer
        .certificate_arn = moto.certificate("*.example.com", "us-west-2").unwrap();
    assert_eq!(manifests.chatbots.len(), 3);

    // Three teams created in one pass: each sees the rules the others just made.
    let (created, _) = apply(&engine, &manifests).await;
    let mut priorities: Vec<i64> = statuses(&created, "listenerRulePriority")
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    priorities.sort_unstable();
    priorities.dedup();
    assert_eq!(priorities.len(), 3, "distinct priorities: {priorities:?}");

    // A no-op resync: one pass, nothing written, each listing asked once.
    let (_, resync) = apply(&engine, &manifests).await;
    assert!(
        resync.iter().all(|c| !c.is_write()),
        "{:?}",
        resync.iter().filter(|c| c.is_write()).collect::<Vec<_>>()
    );
    assert_eq!(count(&resync, "DescribeRules"), 1, "{resync:?}");
    assert_eq!(count(&resync, "ListUserPools"), 1, "{resync:?}");
    assert_eq!(count(&resync, "DescribeLogGroups"), 1, "{resync:?}");
    assert_eq!(count(&resync, "DescribeScalableTargets"), 1, "{resync:?}");
    assert_eq!(count(&resync, "DescribeTargetGroups"), 1, "{resync:?}");
    // The load balancer and its two listeners, then every rule and every target
    // group 20 at a time: no DescribeTags per team.
    assert_eq!(count(&resync, "DescribeTags"), 3 + 1 + 1, "{resync:?}");
    assert_eq!(count(&resync, "ListRoleTags"), 0, "GetRole has the tags");
    // The cluster's services, ten a call; no task definition read at all.
    assert_eq!(count(&resync, "ListServices"), 1, "{resync:?}");
    assert_eq!(count(&resync, "DescribeServices"), 1, "{resync:?}");
    assert_eq!(count(&resync, "ListTaskDefinitions"), 0, "{resync:?}");
    assert_eq!(count(&resync, "DescribeTaskDefinition"), 0, "{resync:?}");

    // A rule deleted behind the operator's back is put back, and only that one.
    let rule = statuses(&created, "listenerRuleArn")[0]
        .as_str()
        .unwrap()
        .to_string();
    aws(&engine)
        .elbv2
        .delete_rule()
        .rule_arn(&rule)
        .send()
        .await
        .unwrap();
    let (_, restored) = apply(&engine, &manifests).await;
    let writes: Vec<&str> = restored
        .iter()
        .filter(|c| c.is_write())
        .map(|c| c.operation.as_str())
        .collect();
    assert_eq!(writes, ["CreateRule"]);
    let (_, again) = apply(&engine, &manifests).await;
    assert!(again.iter().all(|c| !c.is_write()), "{again:?}");
}

fn writes(calls: &[Call]) -> Vec<&str> {
    calls
        .iter()
        .filter(|c| c.is_write())
        .map(|c| c.operation.as_str())
        .collect()
}

/// The revision an ECS service runs and its `TAG_TASK_DEFINITION` record.
async fn service_revision(engine: &Engine, cluster: &str, service: &str) -> (String, String) {
    let found = aws(engine)
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let service = &found.services()[0];
    let record = service
        .tags()
        .iter()
        .find(|t| t.key() == Some(TAG_TASK_DEFINITION))
        .and_then(|t| t.value())
        .unwrap_or_default();
    (
        service.task_definition().unwrap().to_string(),
        record.to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resync_reads_no_task_definition_until_the_spec_the_record_or_the_revision_changes() {
    const TEAMS: usize = 11;
    let (moto, engine, _recorder) = engine();
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let manifests_with = |prompt: &str| {
        let mut documents = vec![platform_manifest(&certificate)];
        documents.extend((0..TEAMS).map(|i| {
            let mut chatbot =
                chatbot_manifest(&format!("team-{i}"), &format!("team-{i}.example.com"));
            if i == 0 {
                support::set(&mut chatbot, "/spec/model/systemPrompt", prompt.into());
            }
            chatbot
        }));
        manifest::load_str(Path::new("teams.yaml"), &yaml_documents(&documents)).unwrap()
    };
    let manifests = manifests_with("Answer concisely.");
    let (created, _) = apply(&engine, &manifests).await;
    let platform = created
        .items
        .iter()
        .find(|i| i.kind == "ChatbotPlatform")
        .unwrap();
    let cluster = serde_json::to_value(&platform.status).unwrap()["clusterArn"]
        .as_str()
        .unwrap()
        .to_string();
    let services: Vec<String> = statuses(&created, "serviceArn")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(services.len(), TEAMS);
    let (first_revision, first_record) = service_revision(&engine, &cluster, &services[0]).await;
    assert_eq!(
        first_record.len(),
        64,
        "recorded at creation: {first_record:?}"
    );

    // A no-op resync: the cluster's services ten a call, no revision read.
    let (_, resync) = apply(&engine, &manifests).await;
    assert_eq!(writes(&resync), Vec::<&str>::new());
    assert_eq!(count(&resync, "ListServices"), 1, "{resync:?}");
    assert_eq!(count(&resync, "DescribeServices"), TEAMS.div_ceil(10));
    assert_eq!(count(&resync, "ListTaskDefinitions"), 0);
    assert_eq!(count(&resync, "DescribeTaskDefinition"), 0);

    // A changed spec still rolls a new revision, and the service records it.
    let changed = manifests_with("Answer in French.");
    let (_, rolled) = apply(&engine, &changed).await;
    assert_eq!(
        writes(&rolled),
        ["RegisterTaskDefinition", "UpdateService", "TagResource"]
    );
    let (revision, record) = service_revision(&engine, &cluster, &services[0]).await;
    assert!(
        first_revision.ends_with(":1") && revision.ends_with(":2"),
        "{first_revision} → {revision}"
    );
    assert_ne!(record, first_record);
    let (_, resync) = apply(&engine, &changed).await;
    assert_eq!(writes(&resync), Vec::<&str>::new());
    assert_eq!(count(&resync, "ListTaskDefinitions"), 0);
    assert_eq!(count(&resync, "DescribeTaskDefinition"), 0);

    // A record edited by hand: that team's family is read, the record put back.
    aws(&engine)
        .ecs
        .tag_resource()
        .resource_arn(&services[1])
        .tags(
            Tag::builder()
                .key(TAG_TASK_DEFINITION)
                .value("0".repeat(64))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (_, retagged) = apply(&engine, &changed).await;
    assert_eq!(writes(&retagged), ["TagResource"]);
    assert_eq!(count(&retagged, "ListTaskDefinitions"), 1);
    let (_, record) = service_revision(&engine, &cluster, &services[1]).await;
    assert_eq!(record.len(), 64);
    assert_ne!(record, "0".repeat(64));

    // The service pointed back at the previous revision by hand: rolled forward
    // again; its record (of the newer revision) already holds.
    aws(&engine)
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&services[0])
        .task_definition(&first_revision)
        .send()
        .await
        .unwrap();
    let (_, restored) = apply(&engine, &changed).await;
    assert_eq!(writes(&restored), ["UpdateService"]);
    assert_eq!(count(&restored, "ListTaskDefinitions"), 1);
    assert_eq!(
        service_revision(&engine, &cluster, &services[0]).await.0,
        revision
    );

    let (_, resync) = apply(&engine, &changed).await;
    assert_eq!(writes(&resync), Vec::<&str>::new());
    assert_eq!(count(&resync, "DescribeServices"), TEAMS.div_ceil(10));
    assert_eq!(count(&resync, "ListTaskDefinitions"), 0);
    assert_eq!(count(&resync, "DescribeTaskDefinition"), 0);
}
