//! The Helm chart's RBAC, for real: `helm install` of the chart into a real
//! kube-apiserver, `bedrock-chatbot-operator run` authenticated as the chart's
//! ServiceAccount (a TokenRequest token) with the Deployment's own arguments —
//! leader election on, its Lease in the release namespace — through a whole
//! lifecycle driven with kubectl: the examples, a spec edit, an invalid spec, an
//! AWS outage that makes Events repeat, deletion, SIGTERM. Then the API server's
//! audit log says what the controller did: not one request may be refused (a
//! permission the chart lacks), and every verb the chart grants must have been
//! needed by some request (a grant the controller never uses is one too many).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{Cluster, Operator, OperatorSettings, condition, log_path};
use support::rbac::{Grant, Release, grants, helm_install, requests_of, used};
use testkit::{Fault, Faults};

const RELEASE: &str = "bco";
const RELEASE_NAMESPACE: &str = "chatbot-operator";

/// Grants the lifecycle cannot make the controller use, each with why it stays.
/// (group, resource, verb, why.)
const ALLOWED_UNUSED: &[(&str, &str, &str, &str)] = &[];

/// The examples' chatbots: (namespace, name).
const CHATBOTS: [(&str, &str); 3] = [
    ("team-a", "assistant"),
    ("team-b", "assistant"),
    ("team-c", "research"),
];

/// Waits until an Event about `object` (`kind/name`) has repeated: its
/// `series.count` is 2 or more.
fn wait_for_repeated_event(
    cluster: &Cluster,
    operator: &Operator,
    object: &str,
    namespace: Option<&str>,
) {
    let (_, name) = object.split_once('/').unwrap();
    let events_namespace = namespace.unwrap_or("default");
    let started = Instant::now();
    loop {
        let events: Value = serde_json::from_str(&cluster.kubectl(&[
            "get",
            "events.events.k8s.io",
            "-n",
            events_namespace,
            "-o",
            "json",
        ]))
        .unwrap();
        let about: Vec<&Value> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["regarding"]["name"] == name)
            .collect();
        if about
            .iter()
            .any(|e| e["series"]["count"].as_i64() >= Some(2))
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no Event about {object} repeated within 5 minutes: {:#?}\n{}",
            about
                .iter()
                .map(|e| format!("{} {}", e["reason"], e["note"]))
                .collect::<Vec<_>>(),
            operator.log_tail()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Installs the chart (`controller.namespaces` = `watched`, empty: all), runs the
/// controller as its ServiceAccount through a whole lifecycle of the examples,
/// and compares what it did with what the chart grants.
fn lifecycle_uses_exactly_what_the_chart_grants(watched: &[&str]) {
    let started = Instant::now();
    let cluster = Cluster::start_without_crds();
    cluster.namespaces(&["team-a", "team-b", "team-c"]);
    let values: Vec<String> = watched
        .iter()
        .enumerate()
        .map(|(i, ns)| format!("controller.namespaces[{i}]={ns}"))
        .collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let release = helm_install(&cluster, RELEASE, RELEASE_NAMESPACE, &values);
    assert!(
        release.args.contains(&"--leader-election".to_string())
            && release
                .args
                .contains(&format!("--lease-namespace={RELEASE_NAMESPACE}")),
        "the chart elects a leader through a Lease in its namespace: {:?}",
        release.args
    );
    if !watched.is_empty() {
        let flag = format!("--namespaces={}", watched.join(","));
        assert!(release.args.contains(&flag), "{:?}", release.args);
    }
    let user = format!(
        "system:serviceaccount:{}:{}",
        release.namespace, release.service_account
    );
    // AWS through a fault proxy, for an outage later on.
    let (_proxy_runtime, proxy) = cluster.fault_proxy();
    let mut operator = Operator::start(OperatorSettings {
        kubeconfig: cluster
            .plane
            .service_account_kubeconfig(&release.namespace, &release.service_account)
            .unwrap(),
        aws_endpoint: proxy.endpoint(),
        identity: release.pod_name.clone(),
        args: release.args.clone(),
        log: log_path(&format!("rbac-{}", watched.join("-"))),
        // The outage fails each pass at once, not after eight backed-off tries.
        env: vec![("AWS_MAX_ATTEMPTS".into(), "1".into())],
    });
    let reconciled: Vec<(&str, &str)> = CHATBOTS
        .into_iter()
        .filter(|(ns, _)| watched.is_empty() || watched.contains(ns))
        .collect();

    // Everything converges: the platform Ready, the watched chatbots Synced.
    let examples = cluster.examples(&["platform.yaml", "chatbot.yaml", "teams.yaml"]);
    cluster.kubectl(&["apply", "-f", &examples]);
    cluster.kubectl_wait(
        &operator,
        &["--for=condition=Ready", "chatbotplatform/shared"],
    );
    for (namespace, name) in &reconciled {
        cluster.kubectl_wait(
            &operator,
            &[
                "--for=condition=Synced",
                &format!("bcb/{name}"),
                "-n",
                namespace,
            ],
        );
    }

    // A spec edit.
    cluster.edit_chatbot();
    cluster.kubectl_wait(
        &operator,
        &[
            "--for=jsonpath={.status.observedGeneration}=2",
            "bcb/assistant",
            "-n",
            "team-a",
        ],
    );
    cluster.kubectl_wait(
        &operator,
        &["--for=condition=Synced", "bcb/assistant", "-n", "team-a"],
    );

    // A spec that cannot work (team-a's hostname, taken): InvalidSpec in status
    // and a Warning Event.
    let mut copy = support::chatbot_manifest("team-a", "chat.team-a.example.com");
    support::set(&mut copy, "/metadata/name", Value::from("copy"));
    cluster.apply(&support::yaml_documents(&[copy]));
    let invalid = cluster
        .wait_for(
            "bcb/copy",
            Some("team-a"),
            Duration::from_secs(300),
            || operator.log_tail(),
            |c| {
                c.and_then(|c| condition(c, "Synced"))
                    .is_some_and(|s| s["reason"] == "InvalidSpec")
            },
        )
        .unwrap();
    assert_eq!(
        condition(&invalid, "Synced").unwrap()["status"],
        "False",
        "{invalid}"
    );
    let events: Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "team-a",
        "-o",
        "json",
    ]))
    .unwrap();
    assert!(
        events["items"].as_array().unwrap().iter().any(|e| {
            e["regarding"]["name"] == "copy"
                && e["reason"] == "InvalidSpec"
                && e["type"] == "Warning"
        }),
        "no Warning InvalidSpec event about team-a/copy: {events}"
    );

    // An AWS outage: every pass fails alike (503s), so each object's Warning —
    // ReconcileFailed, or Failed for a resource while the pass goes on — repeats
    // and becomes a series: a patch of the Event, not a new one. A touch of each
    // object starts a pass at once.
    proxy.set_faults(Faults {
        rate: 1.0,
        kinds: vec![Fault::Unavailable],
        seed: 1,
    });
    let mut objects = vec![("chatbotplatform/shared".to_string(), None)];
    objects.extend(
        reconciled
            .iter()
            .map(|(ns, name)| (format!("bcb/{name}"), Some(*ns))),
    );
    for (object, namespace) in &objects {
        let mut args = vec!["annotate", "--overwrite", object, "rbac-test/outage=1"];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        cluster.kubectl(&args);
    }
    for (object, namespace) in &objects {
        wait_for_repeated_event(&cluster, &operator, object, *namespace);
    }
    proxy.set_faults(Faults::all(0.0, 1));
    for (object, namespace) in &objects {
        let mut args = vec!["--for=condition=Synced", object.as_str()];
        if let Some(ns) = namespace {
            args.extend(["-n", ns]);
        }
        cluster.kubectl_wait(&operator, &args);
    }

    // Everything deleted, and gone (finalizers removed once AWS confirms).
    cluster.kubectl(&["delete", "-f", &examples, "--wait=false"]);
    cluster.kubectl(&["delete", "bcb/copy", "-n", "team-a", "--wait=false"]);
    for (namespace, name) in CHATBOTS.into_iter().chain([("team-a", "copy")]) {
        cluster.kubectl_wait(
            &operator,
            &["--for=delete", &format!("bcb/{name}"), "-n", namespace],
        );
    }
    cluster.kubectl_wait(&operator, &["--for=delete", "chatbotplatform/shared"]);
    // Stopped as Kubernetes stops a pod: it hands the Lease back.
    let exit = operator.terminate(Duration::from_secs(60));
    assert!(exit.success(), "{exit}\n{}", operator.log_tail());
    eprintln!("lifecycle done in {:?}", started.elapsed());

    check_audit(&cluster, &release, &user, watched);
}

/// (a) no request of `user` was refused; (b) every grant of the release was
/// needed by one of them, or is in [`ALLOWED_UNUSED`].
fn check_audit(cluster: &Cluster, release: &Release, user: &str, watched: &[&str]) {
    let requests = requests_of(&cluster.plane.audit_log(), user);
    assert!(
        requests.iter().any(|r| r.resource == "chatbotplatforms"),
        "the audit log has no request of {user}: {requests:?}"
    );
    eprintln!("{user} used:");
    for line in used(&requests) {
        eprintln!("  {line}");
    }

    // Each refused permission once, with how often and its first request.
    let mut refused: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for request in requests.iter().filter(|r| r.code == 403) {
        let permission = format!(
            "{} {}/{} in {}",
            request.verb,
            request.group,
            request.resource,
            request.namespace.as_deref().unwrap_or("the cluster")
        );
        refused
            .entry(permission)
            .or_insert_with(|| (0, request.to_string()))
            .0 += 1;
    }
    assert!(
        refused.is_empty(),
        "the chart lacks permissions the controller uses; refused:\n{}",
        refused
            .iter()
            .map(|(permission, (count, first))| format!("{permission}: {count}x, first {first}"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let granted = grants(
        cluster,
        &release.name,
        &release.namespace,
        &release.service_account,
    );
    eprintln!("release {} grants:", release.name);
    for grant in &granted {
        eprintln!("  {grant}");
    }
    // What a release can name when it is installed: the namespaces it is told to
    // watch, its own (the Lease) and `default` (Events about cluster-scoped
    // platforms, where kube-runtime's Recorder puts them). A request in one of
    // those needs no cluster-wide grant.
    let known: BTreeSet<String> = watched
        .iter()
        .copied()
        .chain([release.namespace.as_str(), "default"])
        .map(ToString::to_string)
        .collect();
    let allowed = |g: &Grant| {
        ALLOWED_UNUSED.iter().any(|(group, resource, verb, _)| {
            g.group == *group && g.resource == *resource && g.verb == *verb
        })
    };
    let unused: Vec<String> = granted
        .iter()
        .filter(|g| !requests.iter().any(|r| g.needed_by(r, &known)))
        .filter(|g| !allowed(g))
        .map(ToString::to_string)
        .collect();
    assert!(
        unused.is_empty(),
        "the chart grants what the controller never needed:\n{}",
        unused.join("\n")
    );
    // An allow-list entry must still be granted and still be unused.
    for (group, resource, verb, why) in ALLOWED_UNUSED {
        let entry = granted
            .iter()
            .filter(|g| g.group == *group && g.resource == *resource && g.verb == *verb)
            .collect::<Vec<_>>();
        assert!(
            !entry.is_empty(),
            "allowed unused {verb} {group}/{resource} ({why}) is not granted any more: drop it from the list"
        );
        assert!(
            entry
                .iter()
                .all(|g| !requests.iter().any(|r| g.needed_by(r, &known))),
            "allowed unused {verb} {group}/{resource} ({why}) is used now: drop it from the list"
        );
    }
}

#[test]
fn the_chart_grants_exactly_what_the_controller_uses_in_a_whole_lifecycle() {
    lifecycle_uses_exactly_what_the_chart_grants(&[]);
}

#[test]
fn limited_to_namespaces_the_chart_grants_exactly_what_the_controller_uses() {
    lifecycle_uses_exactly_what_the_chart_grants(&["team-a", "team-b"]);
}
