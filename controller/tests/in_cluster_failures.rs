//! How the in-cluster controller reports and paces failures, against a real
//! kube-apiserver (server-side apply field ownership, watch events caused by its
//! own status writes) and the emulator behind a fault proxy.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::Duration;

use serde_json::Value;
use support::cluster::{Cluster, Operator, condition, condition_is};
use testkit::{Fault, Faults};

const CONVERGE: Duration = Duration::from_secs(300);

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
    let ready = cluster
        .wait_for(
            "chatbotplatform/shared",
            None,
            CONVERGE,
            || operator.log_tail(),
            |p| condition_is(p, "Ready", "True"),
        )
        .unwrap();
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
