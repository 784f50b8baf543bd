//! The file mode shares listings between the teams of one pass (`PassReads`): the
//! HTTPS listener's rules, the region's user pools, the chatbots' log groups,
//! target groups and ECS scalable targets are listed once per pass, not once per
//! team, and what the operator changes within a pass is never read stale — teams
//! created in the same pass get distinct rule priorities, and a rule deleted behind
//! the operator's back is put back by the next pass.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::Duration;

use operator::aws::Call;
use operator::engine::Engine;
use operator::file_mode::{self, ApplyReport, ReadyWhen, Timing};
use operator::manifest::Manifests;
use support::{aws, engine, examples};

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

fn statuses<'a>(report: &'a ApplyReport, field: &str) -> Vec<&'a serde_json::Value> {
    report
        .items
        .iter()
        .filter(|i| i.kind == "BedrockChatbot")
        .map(|i| &i.status[field])
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
