//! Leader election against a real kube-apiserver: two (or one) `run` processes,
//! each reaching AWS through a proxy of its own, so the emulator-side log shows
//! which process made which AWS call; each authenticates as a ServiceAccount of
//! its own, so the API server's audit log shows who wrote the Lease when.
//!
//! The properties, as client-go's leader election has them: the standby takes over
//! a killed leader within the lease duration; a leader cut off from the API server
//! stops its AWS writes before a standby could take the Lease (every renewal
//! attempt is bounded); expiry is judged by when this process saw the Lease change,
//! not by the holder's clock; the renewals stop before the Lease is released.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{CONVERGE, Cluster, Operator, OperatorSettings, condition_is, log_path};
use support::read_back;
use testkit::{FaultProxy, Faults};

/// The Lease's duration (`run`'s, 15 s).
const LEASE: Duration = Duration::from_secs(15);
const LEASE_NAME: &str = "bedrock-chatbot-operator";

/// One `run` process with leader election, its own ServiceAccount and its own
/// AWS proxy.
struct Replica {
    identity: String,
    operator: Operator,
    proxy: FaultProxy,
}

impl Replica {
    /// The AWS writes this process made, with when they arrived.
    fn writes(&self) -> Vec<(String, Instant)> {
        self.proxy
            .journal()
            .into_iter()
            .filter(|e| e.is_write())
            .map(|e| (e.operation, e.at))
            .collect()
    }
}

/// The processes' namespace: ServiceAccounts and the Lease.
const OPS: &str = "ops";

fn account(cluster: &Cluster, identity: &str) -> PathBuf {
    cluster.kubectl(&["create", "serviceaccount", identity, "-n", OPS]);
    cluster.kubectl(&[
        "create",
        "clusterrolebinding",
        &format!("{identity}-admin"),
        "--clusterrole=cluster-admin",
        &format!("--serviceaccount={OPS}:{identity}"),
    ]);
    cluster
        .plane
        .service_account_kubeconfig(OPS, identity)
        .unwrap()
}

fn replica(cluster: &Cluster, runtime: &tokio::runtime::Runtime, identity: &str) -> Replica {
    let kubeconfig = account(cluster, identity);
    let proxy = runtime
        .block_on(FaultProxy::start(
            &cluster.moto.endpoint(),
            Faults::all(0.0, 1),
        ))
        .unwrap();
    let operator = Operator::start(OperatorSettings {
        kubeconfig,
        aws_endpoint: proxy.endpoint(),
        identity: identity.to_string(),
        args: vec![
            "--leader-election".into(),
            format!("--lease-namespace={OPS}"),
            "--resync-seconds=10".into(),
        ],
        log: log_path(identity),
        env: Vec::new(),
    });
    Replica {
        identity: identity.to_string(),
        operator,
        proxy,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The Lease's holder, if any.
fn holder(cluster: &Cluster) -> Option<String> {
    cluster
        .get(&format!("lease/{LEASE_NAME}"), Some(OPS))
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
        .filter(|h| !h.is_empty())
}

fn wait_for_holder(cluster: &Cluster, limit: Duration, accept: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        if let Some(holder) = holder(cluster).filter(|h| accept(h)) {
            return holder;
        }
        assert!(
            started.elapsed() < limit,
            "no acceptable holder within {limit:?}; holder: {:?}",
            holder(cluster)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn platform_ready(cluster: &Cluster, context: impl Fn() -> String) {
    cluster.kubectl(&["apply", "-f", &cluster.examples(&["platform.yaml"])]);
    cluster.wait_for("chatbotplatform/shared", None, CONVERGE, context, |p| {
        condition_is(p, "Ready", "True") && condition_is(p, "Synced", "True")
    });
}

fn logs(replicas: &[&Replica]) -> String {
    replicas
        .iter()
        .map(|r| format!("--- {} ---\n{}", r.identity, r.operator.log_tail()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_killed_leader_is_replaced_within_the_lease_duration() {
    let cluster = Cluster::start();
    cluster.namespaces(&[OPS]);
    let runtime = runtime();
    let mut a = replica(&cluster, &runtime, "replica-a");
    let mut b = replica(&cluster, &runtime, "replica-b");
    let first = wait_for_holder(&cluster, Duration::from_secs(60), |_| true);
    platform_ready(&cluster, || logs(&[&a, &b]));

    let (leader, standby) = if first == a.identity {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    leader.operator.signal("KILL");
    let killed = Instant::now();
    let standby_identity = standby.identity.clone();
    wait_for_holder(&cluster, LEASE + Duration::from_secs(10), |h| {
        h == standby_identity
    });
    let took = killed.elapsed();
    // The Lease lasts 15 s from the leader's last renewal (at most one retry period
    // before the kill); the standby retries every 2 s.
    assert!(
        took <= LEASE + Duration::from_secs(3),
        "took over after {took:?}"
    );

    // The new leader reconciles: a spec edit converges through its proxy alone.
    let leader_writes = leader.writes().len();
    cluster.edit_platform();
    cluster.wait_for(
        "chatbotplatform/shared",
        None,
        CONVERGE,
        || logs(&[&*standby]),
        |p| {
            condition_is(p, "Synced", "True")
                && p.is_some_and(|p| p["status"]["observedGeneration"] == 2)
        },
    );
    assert!(
        standby
            .writes()
            .iter()
            .any(|(op, _)| op == "ModifyLoadBalancerAttributes"),
        "{:?}",
        standby.writes()
    );
    assert_eq!(leader.writes().len(), leader_writes);
}

#[test]
fn a_leader_cut_off_from_the_api_server_stops_its_aws_writes_before_anyone_could_take_over() {
    let cluster = Cluster::start();
    cluster.namespaces(&[OPS]);
    let runtime = runtime();
    let a = replica(&cluster, &runtime, "replica-a");
    let b = replica(&cluster, &runtime, "replica-b");
    let first = wait_for_holder(&cluster, Duration::from_secs(60), |_| true);
    platform_ready(&cluster, || logs(&[&a, &b]));
    let (leader, standby) = if first == a.identity {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let standby_writes_before = standby.writes();
    assert!(
        standby_writes_before.is_empty(),
        "a standby wrote to AWS: {standby_writes_before:?}"
    );

    // The API server stops answering. No renewal can succeed from now on, so the
    // leader may write for at most its renew deadline (10 s) after its last
    // renewal; from 15 s on, a standby could hold the Lease.
    cluster.plane.freeze().unwrap();
    let frozen = Instant::now();
    // Drift the leader would correct at its next resync (every 10 s), made after
    // the renew deadline has certainly passed.
    std::thread::sleep(Duration::from_secs(12));
    let aws = cluster.aws();
    support::cluster::block_on(async {
        let balancer = read_back::load_balancer_named(&aws, "bcb-shared").await;
        aws.elbv2
            .modify_load_balancer_attributes()
            .load_balancer_arn(balancer.load_balancer_arn().unwrap())
            .attributes(
                aws_sdk_elasticloadbalancingv2::types::LoadBalancerAttribute::builder()
                    .key("idle_timeout.timeout_seconds")
                    .value("300")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    std::thread::sleep(Duration::from_secs(20));
    let thawed = Instant::now();
    cluster.plane.thaw().unwrap();

    // The fence is checked as a call starts: one the leader began just before its
    // deadline reaches the recording proxy a moment later on a loaded machine (seen:
    // 56 ms). A second's allowance still ends before the drift was made, so a
    // leader that corrected it would fail here.
    let fenced = frozen + Duration::from_secs(11);
    for replica in [leader, standby] {
        let late: Vec<_> = replica
            .writes()
            .into_iter()
            .filter(|(_, at)| *at > fenced && *at < thawed)
            .map(|(op, at)| (op, at.duration_since(frozen)))
            .collect();
        assert!(
            late.is_empty(),
            "{} wrote to AWS without a renewable Lease (seconds after the freeze): {late:?}\n{}",
            replica.identity,
            logs(&[leader, standby])
        );
    }

    // Once the API server answers again, one of them leads and the drift goes.
    wait_for_holder(&cluster, Duration::from_secs(60), |_| true);
    let started = Instant::now();
    loop {
        let idle = support::cluster::block_on(async {
            let balancer = read_back::load_balancer_named(&aws, "bcb-shared").await;
            read_back::load_balancer_attribute(
                &aws,
                balancer.load_balancer_arn().unwrap(),
                "idle_timeout.timeout_seconds",
            )
            .await
        });
        if idle.as_deref() == Some("60") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the drift was never corrected\n{}",
            logs(&[leader, standby])
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `now - 1 h` as a Lease's MicroTime: the clock of a holder an hour behind.
fn an_hour_ago() -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "-d", "1 hour ago", "+%Y-%m-%dT%H:%M:%S.%6NZ"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn a_holder_whose_clock_is_behind_keeps_its_live_lease() {
    let cluster = Cluster::start();
    cluster.namespaces(&[OPS]);
    let runtime = runtime();
    // Another replica holds the Lease and renews it every 2 s — with a clock an
    // hour behind, so every renewTime it writes looks long expired.
    let lease = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": OPS},
        "spec": {
            "holderIdentity": "elsewhere",
            "leaseDurationSeconds": 15,
            "acquireTime": an_hour_ago(),
            "renewTime": an_hour_ago(),
            "leaseTransitions": 0,
        }
    });
    cluster.apply(&lease.to_string());
    let renewing = Arc::new(AtomicBool::new(true));
    let renewer = {
        let renewing = renewing.clone();
        let kubeconfig = cluster.plane.kubeconfig();
        let kubectl = cluster.plane.bin().join("kubectl");
        std::thread::spawn(move || {
            while renewing.load(Ordering::Relaxed) {
                let patch = format!(r#"{{"spec":{{"renewTime":"{}"}}}}"#, an_hour_ago());
                let _ = std::process::Command::new(&kubectl)
                    .env("KUBECONFIG", &kubeconfig)
                    .args([
                        "patch",
                        "lease",
                        LEASE_NAME,
                        "-n",
                        OPS,
                        "--type=merge",
                        "-p",
                        &patch,
                    ])
                    .output();
                std::thread::sleep(Duration::from_secs(2));
            }
        })
    };

    let a = replica(&cluster, &runtime, "replica-a");
    cluster.kubectl(&["apply", "-f", &cluster.examples(&["platform.yaml"])]);
    std::thread::sleep(LEASE * 2);
    assert_eq!(
        holder(&cluster).as_deref(),
        Some("elsewhere"),
        "a live Lease was taken over\n{}",
        a.operator.log_tail()
    );
    assert!(a.writes().is_empty(), "{:?}", a.writes());

    // When the other holder stops renewing, the Lease expires (by this process's
    // own clock: 15 s after it last saw a change) and is taken over.
    renewing.store(false, Ordering::Relaxed);
    renewer.join().unwrap();
    let stopped = Instant::now();
    wait_for_holder(&cluster, LEASE + Duration::from_secs(15), |h| {
        h == "replica-a"
    });
    assert!(
        stopped.elapsed() >= LEASE - Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    cluster.wait_for_platform_ready(&a.operator);
}

/// The Lease requests of `user`, in order: (verb, holder in the answer).
fn lease_writes(cluster: &Cluster, user: &str) -> Vec<(String, Option<String>)> {
    cluster
        .plane
        .audit_log()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|e| e["user"]["username"] == user)
        .filter(|e| e["objectRef"]["resource"] == "leases")
        .filter(|e| ["create", "update", "patch"].contains(&e["verb"].as_str().unwrap_or("")))
        .filter(|e| {
            e["responseStatus"]["code"]
                .as_i64()
                .is_some_and(|c| c < 300)
        })
        .map(|e| {
            (
                e["verb"].as_str().unwrap().to_string(),
                e["responseObject"]["spec"]["holderIdentity"]
                    .as_str()
                    .map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn a_leader_stopped_gracefully_renews_no_more_after_releasing_and_hands_over_at_once() {
    let cluster = Cluster::start();
    cluster.namespaces(&[OPS]);
    let runtime = runtime();
    let mut a = replica(&cluster, &runtime, "replica-a");
    let first = wait_for_holder(&cluster, Duration::from_secs(60), |_| true);
    assert_eq!(first, "replica-a");
    let b = replica(&cluster, &runtime, "replica-b");
    // Let it renew a few times (and the standby try).
    std::thread::sleep(Duration::from_secs(6));

    let status = a.operator.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{}", a.operator.log_tail());
    let exited = Instant::now();
    wait_for_holder(&cluster, Duration::from_secs(8), |h| h == "replica-b");
    assert!(exited.elapsed() < Duration::from_secs(8));

    let writes = lease_writes(&cluster, &format!("system:serviceaccount:{OPS}:replica-a"));
    let (last_verb, last_holder) = writes.last().unwrap().clone();
    assert_eq!(
        (last_verb.as_str(), last_holder),
        ("update", None),
        "the last Lease write of the stopped leader must be its release: {writes:?}"
    );
    assert!(
        writes.iter().filter(|(_, h)| h.is_none()).count() == 1,
        "{writes:?}"
    );
    drop(b);
}
