//! What people and tools read off the objects in a real cluster: Events (`kubectl
//! get events`), the status that kstatus (Flux, Argo CD, `kubectl wait`
//! tooling) computes, and `kubectl wait` itself.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::cluster::{CONVERGE, Cluster};

/// The Events about `name` in `namespace`, as events.k8s.io/v1 objects.
fn events(plane: &testkit::KubeControlPlane, namespace: &str, name: &str) -> Vec<Value> {
    let list: Value = serde_json::from_str(
        &plane
            .kubectl_ok(&[
                "get",
                "events.events.k8s.io",
                "-n",
                namespace,
                "--field-selector",
                &format!("regarding.name={name}"),
                "-o",
                "json",
            ])
            .unwrap(),
    )
    .unwrap();
    list["items"].as_array().unwrap().clone()
}

#[test]
fn each_aws_resource_created_is_an_event_of_its_own() {
    let cluster = Cluster::start();
    let operator = cluster.operator(&["--no-leader-election"]);
    cluster.kubectl(&["apply", "-f", &cluster.examples(&["platform.yaml"])]);
    cluster.wait_for_platform_ready(&operator);
    // Events about a cluster-scoped platform land in `default`.
    let created: Vec<Value> = events(&cluster.plane, "default", "shared")
        .into_iter()
        .filter(|e| e["reason"] == "Created")
        .collect();
    let notes: BTreeSet<&str> = created
        .iter()
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    // One per resource: the VPC, four subnets, three security groups, the load
    // balancer, its two listeners, … (the examples' platform makes about 30).
    for resource in ["VPC ", "Load balancer ", "ECS cluster "] {
        assert!(
            notes.iter().any(|n| n.contains(resource)),
            "no Created event for the {resource}in {notes:#?}"
        );
    }
    assert!(notes.len() >= 20, "{notes:#?}");
    // Nothing distinct was folded into another event's series.
    for event in &created {
        assert!(event["series"].is_null(), "{event}");
    }
}

#[test]
fn the_same_outcome_repeated_is_one_event_with_a_count() {
    use kube::runtime::events::{Event, EventType, Reporter};
    use operator::in_cluster::events::Publisher;

    let plane = testkit::KubeControlPlane::shared().unwrap();
    let namespace = plane.namespace("events").unwrap();
    plane
        .kubectl_ok(&["create", "configmap", "subject", "-n", &namespace])
        .unwrap();
    let subject: Value = serde_json::from_str(
        &plane
            .kubectl_ok(&[
                "get",
                "configmap",
                "subject",
                "-n",
                &namespace,
                "-o",
                "json",
            ])
            .unwrap(),
    )
    .unwrap();
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some("subject".into()),
        namespace: Some(namespace.clone()),
        uid: subject["metadata"]["uid"].as_str().map(str::to_string),
        ..Default::default()
    };
    let note = |text: &str| Event {
        type_: EventType::Warning,
        reason: "ReconcileFailed".into(),
        note: Some(text.into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    support::cluster::block_on(async {
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(plane.kubeconfig()).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        let publisher = Publisher::new(
            kube::Client::try_from(config).unwrap(),
            Reporter {
                controller: "test".into(),
                instance: None,
            },
        );
        for text in ["throttled", "throttled", "throttled", "access denied"] {
            publisher.publish(&note(text), &reference).await.unwrap();
        }
    });
    let mut seen: Vec<(String, i64)> = events(plane, &namespace, "subject")
        .iter()
        .map(|e| {
            (
                e["note"].as_str().unwrap().to_string(),
                e["series"]["count"].as_i64().unwrap_or(1),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![("access denied".into(), 1), ("throttled".into(), 3)]
    );
}

/// What the kstatus library (Flux, Argo CD, cli-utils) computes for the object.
fn kstatus(cluster: &Cluster, object: &str, namespace: Option<&str>) -> (String, String) {
    let json = cluster.get(object, namespace).unwrap().to_string();
    let output = testkit::kube::run_with_stdin(&mut cluster.plane.kstatus(), &json).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        verdict["status"].as_str().unwrap().to_string(),
        verdict["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn kstatus_and_kubectl_wait_read_progress_readiness_and_failure_right() {
    let cluster = Cluster::start();
    cluster.namespaces(&["team-a", "team-b"]);
    let examples = cluster.examples(&["platform.yaml", "chatbot.yaml"]);
    cluster.kubectl(&["apply", "-f", &examples]);

    // Before any controller wrote a status, nothing is Current.
    for (object, namespace) in [
        ("chatbotplatform/shared", None),
        ("bcb/assistant", Some("team-a")),
    ] {
        let (status, message) = kstatus(&cluster, object, namespace);
        assert_eq!(status, "InProgress", "{object}: {message}");
    }

    let operator = cluster.operator(&["--no-leader-election"]);
    cluster.wait_for_platform_ready(&operator);
    assert_eq!(
        kstatus(&cluster, "chatbotplatform/shared", None).0,
        "Current"
    );
    cluster.wait_for_chatbot_synced(&operator);
    // Converged on AWS, but its tasks do not run (never, on the emulator).
    assert_eq!(
        kstatus(&cluster, "bcb/assistant", Some("team-a")).0,
        "InProgress"
    );

    // A spec that cannot work as written (a hostname another team has) is Failed,
    // not forever InProgress.
    let mut clash = support::chatbot_manifest("team-b", "chat.team-a.example.com");
    support::set(&mut clash, "/metadata/name", Value::from("clash"));
    cluster.apply(&support::yaml_documents(&[clash]));
    cluster.wait_for(
        "bcb/clash",
        Some("team-b"),
        CONVERGE,
        || operator.log_tail(),
        |c| {
            c.and_then(|c| support::cluster::condition(c, "Ready"))
                .is_some_and(|r| r["reason"] == "InvalidSpec")
        },
    );
    let (status, message) = kstatus(&cluster, "bcb/clash", Some("team-b"));
    assert_eq!(status, "Failed", "{message}");
    assert!(message.contains("hostname"), "{message}");

    // A Ready of an older generation is not Ready: with the controller stopped, a
    // spec edit leaves Ready=True from generation 1, which neither kstatus nor
    // `kubectl wait` may take for the new spec.
    drop(operator);
    cluster.edit_platform();
    assert_eq!(
        kstatus(&cluster, "chatbotplatform/shared", None).0,
        "InProgress"
    );
    let wait = cluster.kubectl_output(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=5s",
        "chatbotplatform/shared",
    ]);
    assert!(
        !wait.status.success(),
        "kubectl wait returned on a stale Ready: {}",
        String::from_utf8_lossy(&wait.stdout)
    );
    let operator = cluster.operator(&["--no-leader-election"]);
    let wait = cluster.kubectl_output(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=300s",
        "chatbotplatform/shared",
    ]);
    assert!(wait.status.success(), "{}", operator.log_tail());
    assert_eq!(
        kstatus(&cluster, "chatbotplatform/shared", None).0,
        "Current"
    );
}

/// The `--metrics-addr` argument the chart renders for `metrics.port=port`.
fn chart_metrics_addr(cluster: &Cluster, port: u16) -> String {
    let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/bedrock-chatbot-operator")
        .display()
        .to_string();
    let output = cluster
        .plane
        .helm()
        .args(["template", "probe", &chart, "--set"])
        .arg(format!("metrics.port={port}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = String::from_utf8(output.stdout).unwrap();
    let args: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|a| a.starts_with("--metrics-addr="))
        .collect();
    assert_eq!(args.len(), 1, "{rendered}");
    args[0].to_string()
}

/// The kubelet probes /healthz and /readyz, and Prometheus scrapes /metrics, on the
/// pod's IP, which is an IPv6 address in an IPv6 or dual-stack cluster (EKS
/// `ipFamily: ipv6`): with the chart's arguments the controller answers on both
/// families (here on their loopback addresses).
#[test]
fn with_the_charts_arguments_probes_reach_the_controller_over_ipv4_and_ipv6() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let cluster = Cluster::start();
    let addr = chart_metrics_addr(&cluster, support::cluster::free_port());
    let mut operator = cluster.operator(&["--no-leader-election", &addr]);
    let started = std::time::Instant::now();
    while operator
        .http_get_at(IpAddr::V4(Ipv4Addr::LOCALHOST), "/readyz")
        .is_none_or(|(code, _)| code != 200)
    {
        assert!(operator.exited().is_none(), "{}", operator.log_tail());
        assert!(
            started.elapsed() < CONVERGE,
            "never ready on 127.0.0.1 with {addr}:\n{}",
            operator.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = operator.http_get_at(IpAddr::V6(Ipv6Addr::LOCALHOST), path);
        assert_eq!(
            answer.as_ref().map(|(code, _)| *code),
            Some(200),
            "{path} over IPv6 with the chart's {addr}: {answer:?}"
        );
    }
}
