//! Real AWS behaviour the emulator lacks, replayed by testkit's scenarios in front
//! of it (`testkit::scenarios`): each test converges through one — or fails with the
//! message a person needs.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use operator::engine::Engine;
use operator::file_mode::{self, ReadyWhen, Timing};
use operator::manifest::{self, Manifests};
use operator::resources::Outcome;
use support::inventory::inventory;
use testkit::scenarios::{self, Rule};
use testkit::{FaultProxy, Faults, Moto};

/// The emulator, a proxy replaying `rules` in front of it, and an engine that
/// reaches AWS through the proxy.
struct Replay {
    moto: Moto,
    proxy: FaultProxy,
    engine: Engine,
    recorder: Arc<support::Recorder>,
}

impl Replay {
    async fn start(rules: Vec<Rule>) -> Self {
        let moto = Moto::start().unwrap();
        let proxy = FaultProxy::start(
            &moto.endpoint(),
            Faults {
                rate: 0.0,
                kinds: Vec::new(),
                seed: 0,
            },
        )
        .await
        .unwrap();
        proxy.replay(rules);
        // The SDK's standard retries, in milliseconds: a burst of a few seconds
        // outlives them, as AWS's do in production.
        let retries = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(20))
            .with_max_backoff(Duration::from_millis(200));
        let config = moto
            .sdk_config("us-west-2")
            .into_builder()
            .endpoint_url(proxy.endpoint())
            .retry_config(retries)
            .build();
        let recorder = Arc::new(support::Recorder::default());
        let engine = Engine::new(config, recorder.clone());
        Self {
            moto,
            proxy,
            engine,
            recorder,
        }
    }

    /// The platform `shared` and team-a's chatbot, on the emulator's certificate.
    fn manifests(&self) -> Manifests {
        let certificate = self.moto.certificate("*.example.com", "us-west-2").unwrap();
        let text = support::yaml_documents(&[
            support::platform_manifest(&certificate),
            support::chatbot_manifest("team-a", "chat.team-a.example.com"),
        ]);
        manifest::load_str(Path::new("replay.yaml"), &text).unwrap()
    }

    /// `apply` of `manifests` through the proxy, which must converge.
    async fn apply(&self, manifests: &Manifests) {
        let report = file_mode::apply(&self.engine, manifests, timing()).await;
        let report = report.unwrap_or_else(|e| panic!("apply failed: {e}"));
        assert!(report.not_ready.is_empty(), "{:?}", report.not_ready);
    }

    /// `apply` of the replay's manifests, then `delete` of them, which must finish,
    /// having read a state the rule `waited_through` replayed.
    async fn apply_then_delete(&self, waited_through: &str) {
        let manifests = self.manifests();
        self.apply(&manifests).await;
        let remaining = file_mode::delete(&self.engine, &manifests, timing()).await;
        let remaining = remaining.unwrap_or_else(|e| panic!("delete failed: {e}"));
        assert!(remaining.is_empty(), "{remaining:?}");
        assert!(
            self.replayed(waited_through) > 0,
            "{waited_through}: {:?}",
            self.proxy.replayed()
        );
    }

    /// How many requests for `operation` reached the proxy.
    fn requests(&self, operation: &str) -> usize {
        self.proxy
            .journal()
            .iter()
            .filter(|e| e.operation == operation)
            .count()
    }

    /// How many requests the rule `name` answered.
    fn replayed(&self, name: &str) -> u64 {
        self.proxy.replayed().get(name).copied().unwrap_or(0)
    }

    /// What is left in the account, read past the proxy.
    async fn left(&self) -> support::inventory::Inventory {
        let clean = Engine::new(
            self.moto.sdk_config("us-west-2"),
            Arc::new(support::Recorder::default()),
        );
        inventory(&clean.aws("us-west-2")).await
    }
}

fn timing() -> Timing {
    Timing {
        timeout: Duration::from_secs(180),
        interval: Duration::from_millis(250),
        ready_when: ReadyWhen::Converged,
    }
}

/// A listener rule that AWS throttles for a while: the service waits for it, since
/// ECS refuses a service whose target group no load balancer forwards to — a
/// terminal error that would stop the pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_waits_until_its_listener_rule_exists() {
    let mut rules = scenarios::throttling_burst("CreateRule", Duration::from_secs(4));
    rules.extend(scenarios::target_group_needs_a_listener_rule());
    let replay = Replay::start(rules).await;
    let manifests = replay.manifests();

    replay.apply(&manifests).await;
    assert!(
        replay.replayed("throttling burst") > 3,
        "the burst must have outlived the SDK's retries: {:?}",
        replay.proxy.replayed()
    );
    assert_eq!(
        replay.replayed("target group has no load balancer yet"),
        0,
        "CreateService was sent before the listener rule existed"
    );
    assert_eq!(replay.requests("CreateService"), 1);
}

/// A new Cognito domain is CREATING for a while, and sign-in through it fails
/// until it is ACTIVE: `apply` waits for ACTIVE rather than reporting the chatbot
/// converged on the answer of `CreateUserPoolDomain`, which says nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_waits_until_a_new_cognito_domain_is_active() {
    let replay = Replay::start(scenarios::cognito_domain_states(Duration::from_secs(3))).await;
    replay.apply(&replay.manifests()).await;
    assert!(
        replay.replayed("domain CREATING") > 0,
        "the domain's state was never read after its creation: {:?}",
        replay.proxy.replayed()
    );
}

/// `DeleteUserPoolDomain` returns while the domain is still DELETING: `delete`
/// waits for it to be gone before it deletes the user pool (which AWS refuses while
/// a domain is configured), and does not delete the domain twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_chatbot_waits_until_its_cognito_domain_is_gone() {
    let replay = Replay::start(scenarios::cognito_domain_states(Duration::from_secs(3))).await;
    replay.apply_then_delete("domain DELETING").await;
    assert_eq!(
        replay.replayed("user pool still has a domain"),
        0,
        "DeleteUserPool was sent while the domain was still being deleted"
    );
    assert_eq!(replay.requests("DeleteUserPoolDomain"), 1);
    // The deferred deletion has reached the emulator by now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left = replay.left().await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `apply` converges through `rules`, and its progress says it waited for AWS to
/// propagate a change (rather than failing the pass) while the rule named `name`
/// answered.
async fn converges_through_propagation(rules: Vec<Rule>, name: &str) -> Replay {
    let replay = Replay::start(rules).await;
    replay.apply(&replay.manifests()).await;
    assert!(
        replay.replayed(name) > 0,
        "{name} never answered: {:?}",
        replay.proxy.replayed()
    );
    let waited: Vec<String> = replay
        .recorder
        .take()
        .iter()
        .filter_map(|e| match &e.outcome {
            Outcome::Waiting(why) if why.contains("waiting for AWS to propagate") => {
                Some(format!("{} {}: {why}", e.kind, e.name))
            }
            _ => None,
        })
        .collect();
    assert!(
        !waited.is_empty(),
        "no progress line said what it waited for"
    );
    replay
}

/// For seconds after `CreateRole`, ECS does not know the new task role yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_task_role_is_waited_for_until_ecs_sees_it() {
    converges_through_propagation(
        scenarios::iam_propagation(Duration::from_secs(3)),
        "role not yet visible to RegisterTaskDefinition",
    )
    .await;
}

/// EC2 does not know a VPC or subnet it has just created, for a moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_vpc_and_subnets_are_waited_for_until_ec2_sees_them() {
    converges_through_propagation(
        scenarios::ec2_eventual_consistency(Duration::from_secs(2)),
        "new VPC not yet visible",
    )
    .await;
}

/// A brand-new account has no ECS service-linked role: the operator creates it
/// (once) and waits for it to propagate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_gets_the_ecs_service_linked_role_and_waits_for_it() {
    let replay = converges_through_propagation(
        scenarios::new_account_without_ecs_role(Duration::from_secs(3)),
        "no ECS service-linked role yet",
    )
    .await;
    assert_eq!(replay.requests("CreateServiceLinkedRole"), 1);
}

/// NAT gateways and the Bedrock endpoint stay `deleting` for a while, and the
/// subnets, groups, gateway and VPC refuse deletion until their network interfaces
/// are released: `delete` waits through both and leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_platform_waits_for_asynchronous_network_deletions() {
    let replay = Replay::start(scenarios::network_deletions_take_time(Duration::from_secs(
        3,
    )))
    .await;
    let manifests = replay.manifests();
    replay.apply(&manifests).await;

    let remaining = file_mode::delete(&replay.engine, &manifests, timing()).await;
    let remaining = remaining.unwrap_or_else(|e| panic!("delete failed: {e}"));
    assert!(remaining.is_empty(), "{remaining:?}");
    let replayed = replay.proxy.replayed();
    for rule in ["deleting", "network interfaces still detaching"] {
        assert!(
            replayed.get(rule).is_some_and(|n| *n > 0),
            "{rule}: {replayed:?}"
        );
    }
    // A NAT gateway or endpoint deleting is not deleted again: one request for
    // each of the two NAT gateways and the three endpoints (Bedrock, DynamoDB, S3).
    assert_eq!(replay.requests("DeleteNatGateway"), 2);
    assert_eq!(replay.requests("DeleteVpcEndpoints"), 3);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let left = replay.left().await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A quota is not a transient error: `apply` stops at once, naming the call, AWS's
/// code and message, and writes nothing after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reached_quota_stops_apply_with_awss_message() {
    let replay = Replay::start(scenarios::quota_reached(
        "CreateVpc",
        "VpcLimitExceeded",
        "The maximum number of VPCs has been reached.",
    ))
    .await;
    let error = file_mode::apply(&replay.engine, &replay.manifests(), timing())
        .await
        .expect_err("apply must fail on a quota");
    let message = error.to_string();
    assert!(
        message.contains("CreateVpc")
            && message.contains("VpcLimitExceeded")
            && message.contains("maximum number of VPCs"),
        "{message}"
    );
    assert!(!error.is_retryable(), "{message}");
    assert_eq!(replay.requests("CreateVpc"), 1, "a quota is not retried");
}

/// DynamoDB answers `CreateTable` with a `CREATING` table and refuses backup and
/// time-to-live changes until it is `ACTIVE`: `apply` waits for it, then turns
/// point-in-time recovery and time to live on, and only then calls it converged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_history_table_gets_its_backups_and_expiry_once_active() {
    let replay = Replay::start(scenarios::dynamodb_table_states(Duration::from_secs(3))).await;
    replay.apply(&replay.manifests()).await;
    assert!(replay.replayed("table CREATING") > 0);
    assert!(
        replay.replayed("table still CREATING") > 0,
        "the table's state was never read while it was created: {:?}",
        replay.proxy.replayed()
    );
    for refused in [
        "backups of a CREATING table",
        "time to live of a CREATING table",
    ] {
        assert_eq!(replay.replayed(refused), 0, "{refused}");
    }
    assert_eq!(replay.requests("UpdateContinuousBackups"), 1);
    assert_eq!(replay.requests("UpdateTimeToLive"), 1);
    let left = replay.left().await;
    assert_eq!(
        left.get("DynamoDB table").map(|owners| owners.len()),
        Some(1),
        "{left:?}"
    );
}

/// `DeleteTable` returns while the table is `DELETING`: `delete` waits until it is
/// gone, and does not delete it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_chatbot_waits_until_its_history_table_is_gone() {
    let replay = Replay::start(scenarios::dynamodb_table_states(Duration::from_secs(3))).await;
    replay.apply_then_delete("table DELETING").await;
    assert_eq!(replay.requests("DeleteTable"), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left = replay.left().await;
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// DynamoDB refuses a second time-to-live change within an hour: turning expiry
/// off right after it was turned on waits for later passes instead of failing,
/// says why, and gets there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_expiry_change_within_the_hour_waits_and_gets_there() {
    let replay = Replay::start(scenarios::time_to_live_once_an_hour(3)).await;
    let mut manifests = replay.manifests();
    replay.apply(&manifests).await;
    replay.recorder.take();

    manifests.chatbots[0].object.spec.history.retention_days = 0;
    replay.apply(&manifests).await;
    assert!(
        replay.replayed("time to live changed within the hour") > 0,
        "{:?}",
        replay.proxy.replayed()
    );
    let said: Vec<String> = replay
        .recorder
        .take()
        .iter()
        .filter(|e| e.kind == "DynamoDB table")
        .filter_map(|e| match &e.outcome {
            Outcome::Failed(why) => Some(why.clone()),
            _ => None,
        })
        .collect();
    assert!(
        said.iter()
            .any(|why| why.contains("one time-to-live change per table per hour")),
        "{said:?}"
    );
    let aws = Engine::new(
        replay.moto.sdk_config("us-west-2"),
        Arc::new(support::Recorder::default()),
    )
    .aws("us-west-2");
    let table = manifests.chatbots[0].object.metadata.name.clone().unwrap();
    let tables = aws.dynamodb.list_tables().send().await.unwrap();
    let name = tables
        .table_names()
        .iter()
        .find(|n| n.contains(&table))
        .unwrap();
    let ttl = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .unwrap();
    assert_ne!(
        ttl.time_to_live_description()
            .and_then(|d| d.time_to_live_status())
            .map(|s| s.as_str()),
        Some("ENABLED")
    );
}
