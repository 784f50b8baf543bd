//! How the in-cluster controller reports and paces failures, against a real
//! kube-apiserver (server-side apply field ownership, watch events caused by its
//! own status writes) and the emulator behind a fault proxy.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::Duration;

use serde_json::Value;
use support::cluster::{CONVERGE, Cluster, Operator, condition, condition_is};
use testkit::{Fault, Faults};

/// Every request fails with a client error whose message names the request.
fn refuse_everything() -> Faults {
    Faults {
        rate: 1.0,
        kinds: vec![Fault::Refused],
        seed: 1,
    }
}

fn heal() -> Faults {
    Faults::all(0.0, 1)
}

/// The status without its conditions.
fn fields(object: &Value) -> serde_json::Map<String, Value> {
    let mut status = object["status"].as_object().unwrap().clone();
    status.remove("conditions");
    status
}

#[test]
fn a_failed_pass_keeps_every_status_field_and_ready_tells_the_truth() {
    let cluster = Cluster::start();
    let (_runtime, proxy) = cluster.fault_proxy();
    let mut settings = cluster.settings(
        "operator-0",
        &proxy.endpoint(),
        &["--no-leader-election", "--resync-seconds=10"],
    );
    // Fail fast: no SDK retries of the injected errors.
    settings.env.push(("AWS_MAX_ATTEMPTS".into(), "1".into()));
    let operator = Operator::start(settings);
    cluster.kubectl(&["apply", "-f", &cluster.examples(&["platform.yaml"])]);
    let ready = cluster.wait_for_platform_ready(&operator);
    let before = fields(&ready);
    assert!(before.contains_key("vpcId"), "{before:?}");
    assert!(before.contains_key("observedGeneration"), "{before:?}");

    // The next resync fails on AWS.
    proxy.set_faults(refuse_everything());
    let failed = cluster
        .wait_for(
            "chatbotplatform/shared",
            None,
            CONVERGE,
            || operator.log_tail(),
            |p| {
                p.and_then(|p| condition(p, "Synced"))
                    .is_some_and(|c| c["reason"] == "ReconcileFailed")
            },
        )
        .unwrap();
    assert_eq!(
        fields(&failed),
        before,
        "a failure must not wipe what the status knew"
    );
    let synced = condition(&failed, "Synced").unwrap();
    assert!(
        synced["message"]
            .as_str()
            .unwrap()
            .contains("refused (injected)"),
        "{synced}"
    );
    // Ready says what is known: the pass that should confirm the platform failed
    // for a reason no retry fixes, so it is not Ready (and says why).
    let ready = condition(&failed, "Ready").unwrap();
    assert_eq!(ready["status"], "False", "{failed}");
    assert_eq!(ready["reason"], "ReconcileFailed", "{failed}");

    // Healed, it is Ready again with the same resources.
    proxy.set_faults(heal());
    let healed = cluster
        .wait_for(
            "chatbotplatform/shared",
            None,
            CONVERGE,
            || operator.log_tail(),
            |p| condition_is(p, "Ready", "True") && condition_is(p, "Synced", "True"),
        )
        .unwrap();
    assert_eq!(fields(&healed), before);
}

/// `bedrock_chatbot_operator_reconciles_total` of `kind`, all results together.
fn reconciles(operator: &Operator, kind: &str) -> u64 {
    let (_, metrics) = operator.http_get("/metrics").unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("bedrock_chatbot_operator_reconciles_total{"))
        .filter(|l| l.contains(&format!("kind=\"{kind}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_persistent_error_whose_message_changes_does_not_make_the_controller_spin() {
    let cluster = Cluster::start();
    let (_runtime, proxy) = cluster.fault_proxy();
    let mut settings = cluster.settings("operator-0", &proxy.endpoint(), &["--no-leader-election"]);
    settings.env.push(("AWS_MAX_ATTEMPTS".into(), "1".into()));
    let operator = Operator::start(settings);
    cluster.kubectl(&["apply", "-f", &cluster.examples(&["platform.yaml"])]);
    cluster.wait_for_platform_ready(&operator);

    // Every AWS answer is now an error that names its request, and a spec edit
    // makes the controller look: each failure writes a new message into status,
    // and each status write is a watch event.
    proxy.set_faults(refuse_everything());
    cluster.edit_platform();
    let started = std::time::Instant::now();
    let reconciles_before = reconciles(&operator, "ChatbotPlatform");
    let requests_before = proxy.journal().len();
    std::thread::sleep(Duration::from_secs(60));
    let reconciled = reconciles(&operator, "ChatbotPlatform") - reconciles_before;
    let requests = proxy.journal().len() - requests_before;
    let elapsed = started.elapsed();
    let status = cluster.get("chatbotplatform/shared", None).unwrap();
    let synced = condition(&status, "Synced").unwrap();
    assert_eq!(synced["reason"], "ReconcileFailed", "{status}");
    // An error no retry fixes waits for a change (or the resync); the backoff of
    // errors that do heal starts at 5 s. Either way a handful per minute, not a
    // loop driven by the controller's own status writes.
    assert!(
        reconciled <= 6,
        "{reconciled} reconciles and {requests} AWS requests in {elapsed:?}\n{}",
        operator.log_tail()
    );
    assert!(requests <= 30, "{requests} AWS requests in {elapsed:?}");
}

#[test]
fn a_platform_throttled_for_a_while_does_not_send_its_chatbots_waiting() {
    let cluster = Cluster::start();
    cluster.namespaces(&["team-a"]);
    let (_runtime, proxy) = cluster.fault_proxy();
    let mut settings = cluster.settings(
        "operator-0",
        &proxy.endpoint(),
        &["--no-leader-election", "--resync-seconds=10"],
    );
    settings.env.push(("AWS_MAX_ATTEMPTS".into(), "2".into()));
    let operator = Operator::start(settings);
    cluster.kubectl(&[
        "apply",
        "-f",
        &cluster.examples(&["platform.yaml", "chatbot.yaml"]),
    ]);
    cluster.wait_for_chatbot_synced(&operator);

    proxy.set_faults(Faults {
        rate: 1.0,
        kinds: vec![Fault::Throttle],
        seed: 1,
    });
    // Resyncs every 10 s: three rounds of throttled passes on both objects.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let mut platform_failed = false;
    while std::time::Instant::now() < until {
        let platform = cluster.get("chatbotplatform/shared", None).unwrap();
        platform_failed |=
            condition(&platform, "Synced").is_some_and(|c| c["reason"] == "ReconcileFailed");
        let ready = condition(&platform, "Ready").unwrap();
        assert_eq!(ready["status"], "True", "{platform}");
        let chatbot = cluster.get("bcb/assistant", Some("team-a")).unwrap();
        let ready = condition(&chatbot, "Ready").unwrap();
        assert_ne!(ready["reason"], "WaitingForPlatform", "{chatbot}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        platform_failed,
        "the platform's passes were never throttled"
    );
    proxy.set_faults(heal());
    cluster.wait_for(
        "chatbotplatform/shared",
        None,
        CONVERGE,
        || operator.log_tail(),
        |p| condition_is(p, "Synced", "True"),
    );
}
