//! The kube layer against the tower-test mock API server; the AWS side against
//! the local AWS emulator (or, where no AWS call may happen, an address nothing
//! listens on, so that any call would show in the call log as a failure).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform};
use kube::runtime::reflector;
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::fixtures::{ApiServer, Served};
use super::reconciler::{self, Outcome};
use super::{Context, FINALIZER, PAUSED_ANNOTATION, Settings, chatbot, status};
use crate::Error;
use crate::aws::Call;
use crate::desired::fixtures::{reference_chatbot, reference_platform};
use crate::metrics::Metrics;

/// AWS at an address where nothing listens: any call fails and is recorded.
fn unreachable_aws() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "test"),
            ),
        )
        .build()
}

/// What one reconcile did: its result, the API requests, the AWS calls.
struct Step {
    result: Result<kube::runtime::controller::Action, Error>,
    served: Vec<Served>,
    calls: Vec<Call>,
    ctx_metrics: Arc<Metrics>,
}

impl Step {
    fn statuses(&self) -> Vec<&Value> {
        self.served.iter().filter_map(Served::status).collect()
    }

    fn events(&self) -> Vec<&Value> {
        self.served.iter().filter_map(Served::event).collect()
    }

    fn last_status(&self) -> &Value {
        self.statuses().last().copied().expect("a status patch")
    }

    fn writes(&self) -> usize {
        self.calls.iter().filter(|c| c.is_write()).count()
    }
}

/// The requeue delay of `action` (kube's `Action` shows it only in `Debug`).
fn requeue_seconds(action: &kube::runtime::controller::Action) -> f64 {
    let text = format!("{action:?}");
    text.split("Some(")
        .nth(1)
        .and_then(|rest| rest.split("s)").next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(f64::INFINITY)
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

enum Object {
    Platform(ChatbotPlatform),
    Chatbot(BedrockChatbot),
}

/// Reconciles `object` once with the caches holding `platforms` and `chatbots`.
async fn step(
    object: Object,
    platforms: &[ChatbotPlatform],
    chatbots: &[BedrockChatbot],
    sdk: SdkConfig,
    settings: Settings,
) -> Step {
    let (client, server) = ApiServer::new();
    // Caches after their first full list, as a watcher fills them.
    let (platform_store, mut platform_writer) = reflector::store();
    platform_writer.apply_watcher_event(&watcher::Event::Init);
    for p in platforms {
        platform_writer.apply_watcher_event(&watcher::Event::InitApply(p.clone()));
    }
    platform_writer.apply_watcher_event(&watcher::Event::InitDone);
    let (chatbot_store, mut chatbot_writer) = reflector::store();
    chatbot_writer.apply_watcher_event(&watcher::Event::Init);
    for c in chatbots {
        chatbot_writer.apply_watcher_event(&watcher::Event::InitApply(c.clone()));
    }
    chatbot_writer.apply_watcher_event(&watcher::Event::InitDone);
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(Context::new(
        client,
        sdk,
        platform_store,
        vec![chatbot_store],
        metrics.clone(),
        settings,
    ));
    let json = match &object {
        Object::Platform(p) => serde_json::to_value(p).unwrap(),
        Object::Chatbot(c) => serde_json::to_value(c).unwrap(),
    };
    let log = ctx.engine.calls().clone();
    let serving = server.serve(json, log.clone());
    let result = match object {
        Object::Platform(p) => reconciler::reconcile(Arc::new(p), ctx.clone()).await,
        Object::Chatbot(c) => reconciler::reconcile(Arc::new(c), ctx.clone()).await,
    };
    drop(ctx);
    let served = tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("every client dropped")
        .unwrap();
    Step {
        result,
        served,
        calls: log.calls(),
        ctx_metrics: metrics,
    }
}

fn finalized<K: kube::Resource>(mut object: K) -> K {
    object.meta_mut().finalizers = Some(vec![FINALIZER.to_string()]);
    object.meta_mut().generation = Some(1);
    object
}

fn deleting<K: kube::Resource>(mut object: K) -> K {
    object.meta_mut().deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    object
}

fn with_status<K: kube::Resource + serde::Serialize + serde::de::DeserializeOwned>(
    object: &K,
    status: &Value,
) -> K {
    let mut json = serde_json::to_value(object).unwrap();
    json["status"] = status.clone();
    serde_json::from_value(json).unwrap()
}

fn ready_platform() -> ChatbotPlatform {
    with_status(
        &finalized(reference_platform()),
        &json!({
            "accountId": "123456789012",
            "conditions": [{ "type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z" }]
        }),
    )
}

#[tokio::test]
async fn a_paused_object_is_left_alone() {
    let mut chatbot = reference_chatbot();
    chatbot
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(PAUSED_ANNOTATION.into(), "true".into());
    let step = step(
        Object::Chatbot(chatbot),
        &[ready_platform()],
        &[],
        unreachable_aws(),
        Settings::default(),
    )
    .await;
    assert!(step.result.is_ok());
    assert!(step.served.is_empty(), "API requests: {:?}", step.served);
    assert!(step.calls.is_empty(), "AWS calls: {:?}", step.calls);
    assert_eq!(
        step.ctx_metrics
            .reconcile_count(chatbot::KIND, Outcome::Paused),
        1
    );

    let mut platform = deleting(finalized(reference_platform()));
    platform
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(PAUSED_ANNOTATION.into(), "true".into());
    let step = step_platform(platform, &[], unreachable_aws()).await;
    assert!(step.served.is_empty() && step.calls.is_empty());
}

async fn step_platform(
    platform: ChatbotPlatform,
    chatbots: &[BedrockChatbot],
    sdk: SdkConfig,
) -> Step {
    step(
        Object::Platform(platform.clone()),
        &[platform],
        chatbots,
        sdk,
        Settings::default(),
    )
    .await
}

#[tokio::test]
async fn the_finalizer_is_added_before_any_aws_call() {
    let step = step(
        Object::Chatbot(reference_chatbot()),
        &[ready_platform()],
        &[],
        unreachable_aws(),
        Settings::default(),
    )
    .await;
    step.result.as_ref().unwrap();
    assert_eq!(step.served.len(), 1, "{:?}", step.served);
    let patch = &step.served[0];
    assert!(patch.adds_finalizer(FINALIZER), "{:?}", patch.seen);
    assert_eq!(
        patch.seen.path,
        "/apis/bedrock-chatbot.dev/v1alpha1/namespaces/team-a/bedrockchatbots/assistant"
    );
    assert_eq!(patch.aws_writes_before, 0);
    assert!(step.calls.is_empty(), "{:?}", step.calls);
}

#[tokio::test]
async fn an_invalid_spec_is_a_terminal_condition_and_an_event_without_aws_calls() {
    let mut chatbot = finalized(reference_chatbot());
    chatbot.spec.model.temperature = 3.0;
    chatbot.spec.model.inference_regions = vec!["us-east-1".into(), "us-east-1".into()];
    // Another team's chatbot, older, has the hostname already.
    let mut other = reference_chatbot();
    other.metadata.namespace = Some("team-b".into());
    other.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    ));
    let step = step(
        Object::Chatbot(chatbot.clone()),
        &[ready_platform()],
        &[other, chatbot],
        unreachable_aws(),
        Settings::default(),
    )
    .await;
    let action = step.result.as_ref().unwrap();
    assert!(
        requeue_seconds(action) >= 500.0,
        "a long requeue, not a hot loop: {action:?}"
    );
    assert!(step.calls.is_empty(), "{:?}", step.calls);
    let status = step.last_status();
    let synced = condition(status, "Synced");
    assert_eq!(synced["status"], "False");
    assert_eq!(synced["reason"], "InvalidSpec");
    let message = synced["message"].as_str().unwrap();
    for field in [
        "spec.model.temperature",
        "spec.model.inferenceRegions",
        "spec.hostname",
    ] {
        assert!(message.contains(field), "{field} missing from {message}");
    }
    assert!(message.contains("team-b/assistant"), "{message}");
    assert_eq!(condition(status, "Ready")["reason"], "InvalidSpec");
    assert_eq!(status["observedGeneration"], 1);
    let events = step.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "InvalidSpec");
    assert_eq!(events[0]["regarding"]["name"], "assistant");
    let query = &step
        .served
        .iter()
        .find(|s| s.status().is_some())
        .unwrap()
        .seen
        .query;
    assert!(
        query.contains("fieldManager=bedrock-chatbot-operator") && query.contains("force=true"),
        "{query}"
    );
}

#[tokio::test]
async fn a_chatbot_waits_for_its_platform() {
    let provisioning = with_status(
        &finalized(reference_platform()),
        &json!({ "conditions": [{ "type": "Ready", "status": "False", "reason": "Provisioning", "message": "NAT gateway nat-a: pending", "lastTransitionTime": "2026-01-01T00:00:00Z" }] }),
    );
    let step = step(
        Object::Chatbot(finalized(reference_chatbot())),
        &[provisioning],
        &[],
        unreachable_aws(),
        Settings::default(),
    )
    .await;
    step.result.as_ref().unwrap();
    assert!(step.calls.is_empty(), "{:?}", step.calls);
    let ready = condition(step.last_status(), "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "WaitingForPlatform");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains(
            "ChatbotPlatform shared is not Ready yet (Provisioning: NAT gateway nat-a: pending)"
        ),
        "{message}"
    );
    assert_eq!(step.events()[0]["reason"], "WaitingForPlatform");

    // No platform at all: the same wait, saying so.
    let step = step_chatbot_alone(finalized(reference_chatbot())).await;
    let message = condition(step.last_status(), "Ready")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("ChatbotPlatform shared does not exist"),
        "{message}"
    );
    assert!(step.calls.is_empty());
}

async fn step_chatbot_alone(chatbot: BedrockChatbot) -> Step {
    step(
        Object::Chatbot(chatbot),
        &[],
        &[],
        unreachable_aws(),
        Settings::default(),
    )
    .await
}

#[tokio::test]
async fn deleting_a_platform_in_use_is_held_and_names_the_chatbots() {
    let platform = deleting(ready_platform());
    let step = step_platform(platform, &[reference_chatbot()], unreachable_aws()).await;
    assert!(
        matches!(step.result, Err(Error::DeletionPending(_))),
        "{:?}",
        step.result
    );
    assert!(step.calls.is_empty(), "{:?}", step.calls);
    assert!(!step.served.iter().any(Served::removes_finalizer));
    let ready = condition(step.last_status(), "Ready");
    assert_eq!(ready["reason"], "DeletionBlocked");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("team-a/assistant")
    );
    let warning = step
        .events()
        .into_iter()
        .find(|e| e["type"] == "Warning")
        .expect("a warning event");
    assert!(
        warning["note"]
            .as_str()
            .unwrap()
            .contains("team-a/assistant")
    );
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_writes_nothing() {
    let settings = Settings {
        dry_run: true,
        ..Settings::default()
    };
    let step = step(
        Object::Platform(reference_platform()),
        &[reference_platform()],
        &[],
        unreachable_aws(),
        settings,
    )
    .await;
    step.result.as_ref().unwrap();
    assert!(step.calls.is_empty());
    assert_eq!(step.served.len(), 1, "only an event: {:?}", step.served);
    let note = step.events()[0]["note"].as_str().unwrap().to_string();
    assert!(note.contains("dry run") && note.contains("VPC"), "{note}");
}

/// Create, converge and delete a platform and a chatbot through the reconcilers,
/// with the real engine against the emulator.
/// A platform whose certificate ACM does not have fails before any AWS write, says
/// why in `Synced`, and is not retryable (requeued at the resync period, not in a
/// hot loop).
#[tokio::test]
async fn a_certificate_acm_does_not_have_fails_the_platform_before_any_write() {
    let moto = testkit::Moto::start().unwrap();
    let mut platform = finalized(reference_platform());
    let arn = "arn:aws:acm:us-west-2:123456789012:certificate/00000000-0000-4000-8000-000000000000";
    platform.spec.load_balancer.certificate_arn = arn.into();
    let step = step_platform(platform, &[], moto.sdk_config("us-west-2")).await;
    let error = step.result.as_ref().unwrap_err();
    assert!(matches!(error, Error::Certificate { .. }), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(step.writes(), 0, "{:?}", step.calls);
    assert!(
        step.calls
            .iter()
            .any(|c| c.operation == "DescribeCertificate"),
        "{:?}",
        step.calls
    );
    let synced = condition(step.last_status(), "Synced");
    assert_eq!(synced["status"], "False");
    assert_eq!(synced["reason"], "ReconcileFailed");
    let message = synced["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "spec.loadBalancer.certificateArn: {arn} does not exist in us-west-2"
        )) && message.contains("retrying: false"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_against_the_emulator() {
    let moto = testkit::Moto::start().unwrap();
    let sdk = moto.sdk_config("us-west-2");
    let mut platform = reference_platform();
    platform.spec.load_balancer.certificate_arn =
        moto.certificate("*.example.com", "us-west-2").unwrap();
    platform.metadata.generation = Some(1);

    // 1. New platform: the finalizer, and nothing on AWS yet.
    let first = step_platform(platform.clone(), &[], sdk.clone()).await;
    first.result.as_ref().unwrap();
    assert!(first.served.iter().any(|s| s.adds_finalizer(FINALIZER)));
    assert_eq!(first.writes(), 0);

    // 2. Passes until Ready; the first creates the VPC and says so.
    let mut platform = finalized(platform);
    let mut created_vpc = false;
    for pass in 0.. {
        assert!(pass < 15, "the platform never got Ready");
        let step = step_platform(platform.clone(), &[], sdk.clone()).await;
        step.result.as_ref().unwrap();
        created_vpc |= step
            .events()
            .iter()
            .any(|e| e["reason"] == "Created" && e["note"].as_str().unwrap().starts_with("VPC "));
        let status = step.last_status().clone();
        assert_eq!(condition(&status, "Synced")["status"], "True");
        assert_eq!(status["observedGeneration"], 1);
        assert!(status["vpcId"].as_str().unwrap().starts_with("vpc-"));
        platform = with_status(&platform, &status);
        if condition(&status, "Ready")["status"] == "True" {
            assert!(step.events().iter().any(|e| e["reason"] == "Ready"));
            break;
        }
    }
    assert!(created_vpc);

    // 3. The chatbot converges on it (the emulator never runs tasks).
    let mut chatbot = finalized(reference_chatbot());
    for pass in 0.. {
        assert!(pass < 10, "the chatbot never converged");
        let step = step(
            Object::Chatbot(chatbot.clone()),
            std::slice::from_ref(&platform),
            std::slice::from_ref(&chatbot),
            sdk.clone(),
            Settings::default(),
        )
        .await;
        step.result.as_ref().unwrap();
        let status = step.last_status().clone();
        chatbot = with_status(&chatbot, &status);
        if condition(&status, "Synced")["status"] == "True" {
            assert_eq!(condition(&status, "Ready")["reason"], "TasksNotRunning");
            assert!(status["serviceArn"].as_str().unwrap().contains(":service/"));
            assert_eq!(status["url"], "https://chat.team-a.example.com");
            break;
        }
    }

    // 4. Deleting the platform first is held: the chatbot still uses it.
    let held = step_platform(
        deleting(platform.clone()),
        std::slice::from_ref(&chatbot),
        sdk.clone(),
    )
    .await;
    assert!(matches!(held.result, Err(Error::DeletionPending(_))));
    assert_eq!(held.writes(), 0);

    // 5. Deleting the chatbot: cleanup until AWS confirms, then the finalizer goes.
    let chatbot = deleting(chatbot);
    for pass in 0.. {
        assert!(pass < 20, "the chatbot's deletion never finished");
        let step = step(
            Object::Chatbot(chatbot.clone()),
            std::slice::from_ref(&platform),
            std::slice::from_ref(&chatbot),
            sdk.clone(),
            Settings::default(),
        )
        .await;
        match &step.result {
            Ok(_) => {
                assert!(step.served.iter().any(Served::removes_finalizer));
                break;
            }
            Err(Error::DeletionPending(why)) => {
                assert!(!step.served.iter().any(Served::removes_finalizer));
                assert_eq!(
                    condition(step.last_status(), "Ready")["reason"],
                    "Deleting",
                    "{why}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("{error}"),
        }
    }

    // 6. Now the platform goes too.
    let platform = deleting(platform);
    for pass in 0.. {
        assert!(pass < 30, "the platform's deletion never finished");
        let step = step_platform(platform.clone(), &[], sdk.clone()).await;
        match &step.result {
            Ok(_) => {
                assert!(step.served.iter().any(Served::removes_finalizer));
                assert!(step.calls.iter().any(|c| c.operation == "DeleteVpc"));
                break;
            }
            Err(Error::DeletionPending(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(error) => panic!("{error}"),
        }
    }
}

mod client_secret;

#[test]
fn a_transient_failure_keeps_a_ready_of_this_generation_and_any_other_failure_clears_it() {
    use bedrock_chatbot_crds::{CONDITION_READY, CONDITION_SYNCED, ConditionStatus};

    use crate::aws::{AwsError, ErrorClass};
    use crate::engine::conditions::{self, Stamp, Verdict};

    let error = |class| {
        Error::Aws(AwsError {
            service: "ec2".into(),
            operation: "DescribeVpcs".into(),
            code: Some("Code".into()),
            message: "it failed".into(),
            status: Some(400),
            class,
            source: None,
        })
    };
    let mut ready = Vec::new();
    for type_ in [CONDITION_READY, CONDITION_SYNCED] {
        conditions::set(
            &mut ready,
            type_,
            Verdict::new(ConditionStatus::True, "Ready", ""),
            &Stamp::at(Some(3), "t0"),
        );
    }
    let status = |conditions: &[bedrock_chatbot_crds::Condition], type_: &str| {
        let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status, c.reason.clone())
    };

    let throttled = status::failed(ready.clone(), Some(3), &error(ErrorClass::Retryable));
    assert_eq!(
        status(&throttled, CONDITION_READY),
        (ConditionStatus::True, "Ready".into())
    );
    assert_eq!(
        status(&throttled, CONDITION_SYNCED),
        (ConditionStatus::False, "ReconcileFailed".into())
    );
    let message = &throttled
        .iter()
        .find(|c| c.type_ == CONDITION_SYNCED)
        .unwrap()
        .message;
    assert!(message.contains("it failed (retrying: true)"), "{message}");

    // A new generation that fails is not Ready, even transiently: it was never seen to be.
    let changed = status::failed(ready.clone(), Some(4), &error(ErrorClass::Retryable));
    assert_eq!(
        status(&changed, CONDITION_READY),
        (ConditionStatus::False, "ReconcileFailed".into())
    );
    let refused = status::failed(ready, Some(3), &error(ErrorClass::Terminal));
    assert_eq!(
        status(&refused, CONDITION_READY),
        (ConditionStatus::False, "ReconcileFailed".into())
    );
}

#[tokio::test]
async fn nothing_is_decided_before_the_caches_have_synced() {
    let (client, server) = ApiServer::new();
    // Stores whose watchers have not finished a first list (the writers live on).
    let (platforms, _platform_writer) = reflector::store::<ChatbotPlatform>();
    let (chatbots, _chatbot_writer) = reflector::store::<BedrockChatbot>();
    let ctx = Arc::new(Context::new(
        client,
        unreachable_aws(),
        platforms,
        vec![chatbots],
        Arc::new(Metrics::default()),
        Settings::default(),
    ));
    let chatbot = deleting(finalized(reference_chatbot()));
    let log = ctx.engine.calls().clone();
    let serving = server.serve(serde_json::to_value(&chatbot).unwrap(), log.clone());
    let action = reconciler::reconcile(Arc::new(chatbot), ctx.clone())
        .await
        .unwrap();
    drop(ctx);
    let served = tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("every client dropped")
        .unwrap();
    assert!(served.is_empty(), "no Kubernetes request: {}", served.len());
    assert!(log.is_empty(), "no AWS call: {:?}", log.calls());
    assert!(requeue_seconds(&action) <= 5.0, "{action:?}");
}
