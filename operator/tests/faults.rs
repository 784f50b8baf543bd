//! Reliability under AWS's failure modes: ten teams on one platform converge with a
//! fifth of all AWS requests failing (`ThrottlingException` and its query-protocol
//! cousins, `TooManyRequestsException`, bare 429, 500, 503, dropped connections,
//! latency), end with exactly one of each resource, and delete leaves nothing. Every
//! fault kind must have been injected, and the figures are printed (`--nocapture`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use operator::aws::{Aws, CallLog, ErrorClass};
use operator::engine::Engine;
use operator::file_mode::{self, ReadyWhen, Timing};
use operator::manifest;
use support::inventory::{expected, inventory};
use testkit::{Fault, FaultProxy, Faults, Moto};

fn manifests(certificate: &str, teams: usize) -> manifest::Manifests {
    let platform = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/platform.yaml"),
    )
    .unwrap()
    .replace(
        "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef",
        certificate,
    );
    let mut text = platform;
    for team in 0..teams {
        text.push_str(&format!(
            "---\napiVersion: bedrock-chatbot.dev/v1alpha1\nkind: BedrockChatbot\nmetadata:\n  name: assistant\n  namespace: team-{team}\nspec:\n  platformRef:\n    name: shared\n  hostname: chat.team-{team}.example.com\n"
        ));
    }
    manifest::load_str(Path::new("ten-teams.yaml"), &text).unwrap()
}

/// The seed of the injected faults: `FAULT_SEED` when set (to repeat or vary a
/// run), else a fixed one so CI runs the same mix every time.
fn seed() -> u64 {
    std::env::var("FAULT_SEED")
        .ok()
        .map(|s| s.parse().expect("FAULT_SEED must be a number"))
        .unwrap_or(7)
}

/// The SDK's standard retries (three attempts per call, as without the operator's
/// production policy, so a fair share of faults outlives them and reaches the
/// engine's own step and pass retries) with backoff in milliseconds instead of
/// seconds: the emulator does not need to cool down, and the test stays short.
fn fast_retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_teams_converge_through_twenty_percent_faults_and_delete_leaves_nothing() {
    let started = Instant::now();
    let seed = seed();
    let moto = Moto::start().unwrap();
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let proxy = FaultProxy::start(&moto.endpoint(), Faults::all(0.2, seed))
        .await
        .unwrap();
    let faulty = moto
        .sdk_config("us-west-2")
        .into_builder()
        .endpoint_url(proxy.endpoint())
        .retry_config(fast_retries())
        .build();
    let recorder = Arc::new(support::Recorder::default());
    let engine = Engine::new(faulty, recorder);
    let manifests = manifests(&certificate, 10);
    let timing = Timing {
        timeout: Duration::from_secs(600),
        interval: Duration::from_millis(200),
        ready_when: ReadyWhen::Converged,
    };

    let report = file_mode::apply(&engine, &manifests, timing).await.unwrap();
    assert!(report.not_ready.is_empty(), "{:?}", report.not_ready);
    let applied = started.elapsed();

    // Counted straight from the emulator, past the proxy.
    let clean = Engine::new(
        moto.sdk_config("us-west-2"),
        Arc::new(support::Recorder::default()),
    );
    let teams: Vec<String> = (0..10)
        .map(|t| format!("BedrockChatbot/team-{t}/assistant"))
        .collect();
    assert_eq!(
        inventory(&clean.aws("us-west-2")).await,
        expected("shared", &teams)
    );
    let apply_calls = engine.calls().len();

    let remaining = file_mode::delete(&engine, &manifests, timing)
        .await
        .unwrap();
    assert!(remaining.is_empty(), "{remaining:?}");
    let left = inventory(&clean.aws("us-west-2")).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    let calls = engine.calls().calls();
    let counts = proxy.counts();
    let injected: u64 = counts.values().sum();
    // Faults that still let the request through are counted among the forwarded.
    let forwarded_anyway: u64 = counts
        .iter()
        .filter(|(f, _)| matches!(f, Fault::Latency(_) | Fault::LostResponse))
        .map(|(_, n)| n)
        .sum();
    // Calls whose last attempt still failed with an injected status or no answer:
    // what the engine itself had to retry.
    // (The SDK retries no bare 429: only the engine does.)
    let mut outlived = std::collections::BTreeMap::<Option<u16>, usize>::new();
    for call in calls
        .iter()
        .filter(|c| matches!(c.status, None | Some(429 | 500 | 503)))
    {
        *outlived.entry(call.status).or_default() += 1;
    }
    println!(
        "seed {seed}: {} AWS calls ({apply_calls} apply, {} delete, {} writes), {} HTTP \
         requests, {injected} faults injected {counts:?}, calls failed past the SDK's retries \
         by status {outlived:?}; apply {applied:.0?}, total {:.0?}",
        calls.len(),
        calls.len() - apply_calls,
        calls.iter().filter(|c| c.is_write()).count(),
        proxy.forwarded() + injected - forwarded_anyway,
        started.elapsed(),
    );
    // About a fifth of all requests (each retry is a request too), so never vacuous.
    let requests = (proxy.forwarded() + injected - forwarded_anyway) as f64;
    assert!(
        injected as f64 > requests * 0.1,
        "the proxy must really have failed many requests: {injected} of {requests}"
    );
    for kind in Faults::all(0.2, seed).kinds {
        assert!(
            counts.get(&kind).is_some_and(|n| *n > 0),
            "{kind:?} was never injected"
        );
    }
}

#[tokio::test]
async fn the_sdk_never_repeats_a_write_whose_answer_was_lost() {
    let moto = Moto::start().unwrap();
    let lost = Faults {
        rate: 1.0,
        kinds: vec![Fault::LostResponse],
        seed: 1,
    };
    let proxy = FaultProxy::start(&moto.endpoint(), lost).await.unwrap();
    let sdk = moto
        .sdk_config("us-west-2")
        .into_builder()
        .endpoint_url(proxy.endpoint())
        .retry_config(fast_retries())
        .build();
    let aws = Aws::new(&sdk, "us-west-2", CallLog::default());

    // The create reaches AWS, its answer is lost: the SDK does not send it again
    // (that would fail with "already exists", or make a twin where names are not
    // unique), and the engine gets a retryable error to look again after.
    let error = aws
        .logs
        .create_log_group()
        .log_group_name("/bedrock-chatbot/lost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(proxy.forwarded(), 1, "the SDK repeated the create");
    let error = operator::Error::from(error);
    assert_eq!(error.class(), Some(ErrorClass::Retryable), "{error}");
    let clean = Aws::new(
        &moto.sdk_config("us-west-2"),
        "us-west-2",
        CallLog::default(),
    );
    let groups = clean
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/bedrock-chatbot/lost")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1);

    // A read is safe to repeat, and the SDK still does (three attempts).
    let _ = aws.logs.describe_log_groups().send().await.unwrap_err();
    assert_eq!(proxy.forwarded(), 1 + 3);
}
