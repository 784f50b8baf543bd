//! What people and tools read off the objects in a real cluster: Events (`kubectl
//! get events`), the status that kstatus (Flux, Argo CD, `kubectl wait`
//! tooling) computes, and `kubectl wait` itself.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::cluster::{Cluster, condition_is};

const CONVERGE: Duration = Duration::from_secs(300);

/// The Events about `name` in `namespace`, as events.k8s.io/v1 objects.
fn events(cluster: &Cluster, namespace: &str, name: &str) -> Vec<Value> {
    let list: Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        namespace,
        "--field-selector",
        &format!("regarding.name={name}"),
        "-o",
        "json",
    ]))
    .unwrap();
    list["items"].as_array().unwrap().clone()
}

#[test]
fn each_aws_resource_created_is_an_event_of_its_own() {
    let cluster = Cluster::start();
    let operator = cluster.operator(&["--no-leader-election"]);
    cluster.kubectl(&["apply", "-f", &cluster.examples(&["platform.yaml"])]);
    cluster.wait_for(
        "chatbotplatform/shared",
        None,
        CONVERGE,
        || operator.log_tail(),
        |p| condition_is(p, "Ready", "True"),
    );
    // Events about a cluster-scoped platform land in `default`.
    let created: Vec<Value> = events(&cluster, "default", "shared")
        .into_iter()
        .filter(|e| e["reason"] == "Created")
        .collect();
    let notes: BTreeSet<&str> = created
        .iter()
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    // One per resource: the VPC, four subnets, three security groups, the load
    // balancer, its two listeners, … (the examples' platform makes about 30).
    for resource in ["VPC ", "load balancer ", "ECS cluster "] {
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
