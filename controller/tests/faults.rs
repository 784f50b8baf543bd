//! Reliability under AWS's failure modes: ten teams on one platform converge with a
//! fifth of all AWS calls failing (throttling, 429, 500, 503, dropped connections,
//! latency), end with exactly one of each resource, and delete leaves nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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

// Not in the default run yet (issue 7). It found a real bug (delete was not
// idempotent once the platform's cluster was gone) and, with that fixed, passed end to
// end in 163 s on the 2-core machine: exact inventory after apply under 20 % faults,
// nothing left after delete. It joins the default run once repeated runs show it is
// not flaky. Run it with
// `cargo test -p bedrock-chatbot-operator --test faults -- --ignored`.
#[ignore = "reliability suite (issue 7): ~3 min, joins the default run once proven stable"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_teams_converge_through_twenty_percent_faults_and_delete_leaves_nothing() {
    let moto = Moto::start().unwrap();
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let proxy = FaultProxy::start(&moto.endpoint(), Faults::all(0.2, 7))
        .await
        .unwrap();
    let faulty = moto
        .sdk_config("us-west-2")
        .into_builder()
        .endpoint_url(proxy.endpoint())
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

    let remaining = file_mode::delete(&engine, &manifests, timing)
        .await
        .unwrap();
    assert!(remaining.is_empty(), "{remaining:?}");
    let left = inventory(&clean.aws("us-west-2")).await;
    assert!(left.is_empty(), "left behind: {left:?}");

    let injected = proxy.injected();
    let calls = engine.calls().len() as f64;
    assert!(
        injected.len() as f64 > calls * 0.1,
        "the proxy must really have failed many calls: {} faults for {calls} calls",
        injected.len()
    );
    for kind in [
        Fault::Throttle,
        Fault::TooManyRequests,
        Fault::InternalError,
        Fault::Unavailable,
        Fault::Reset,
    ] {
        assert!(injected.contains(&kind), "{kind:?} was never injected");
    }
}
