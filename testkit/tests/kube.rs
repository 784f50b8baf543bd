//! The control plane itself: a real kube-apiserver that authenticates, authorizes
//! with RBAC, issues ServiceAccount tokens, audits, and is gone when dropped.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use testkit::KubeControlPlane;

#[test]
fn serves_with_rbac_service_account_tokens_and_an_audit_log_and_stops_when_dropped() {
    let started = Instant::now();
    let plane = KubeControlPlane::start().unwrap();
    eprintln!("control plane ready in {:?}", started.elapsed());

    let version = plane.kubectl_ok(&["version", "-o", "json"]).unwrap();
    let release = testkit::kube::release().unwrap();
    assert!(
        version.contains(&format!("\"gitVersion\": \"{release}\"")),
        "the server reports the release it was built from ({release}): {version}"
    );

    // The administrator may do anything; a fresh ServiceAccount nothing, until a
    // Role grants it, and then exactly what the Role says.
    let namespace = plane.namespace("kit").unwrap();
    plane
        .kubectl_ok(&["create", "serviceaccount", "reader", "-n", &namespace])
        .unwrap();
    let kubeconfig = plane
        .service_account_kubeconfig(&namespace, "reader")
        .unwrap();
    let as_reader = |args: &[&str]| {
        plane
            .kubectl()
            .env("KUBECONFIG", &kubeconfig)
            .args(args)
            .output()
            .unwrap()
    };
    let denied = as_reader(&["get", "configmaps", "-n", &namespace]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Forbidden"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    plane
        .kubectl_ok(&[
            "create",
            "role",
            "read-configmaps",
            "--verb=list",
            "--resource=configmaps",
            "-n",
            &namespace,
        ])
        .unwrap();
    plane
        .kubectl_ok(&[
            "create",
            "rolebinding",
            "reader",
            "--role=read-configmaps",
            &format!("--serviceaccount={namespace}:reader"),
            "-n",
            &namespace,
        ])
        .unwrap();
    let allowed = as_reader(&["get", "configmaps", "-n", &namespace]);
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(
        !as_reader(&["get", "secrets", "-n", &namespace])
            .status
            .success()
    );

    // Every request of the ServiceAccount is in the audit log with its answer.
    let user = format!("system:serviceaccount:{namespace}:reader");
    let answers: Vec<(String, String, i64)> = plane
        .audit_log()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["user"]["username"] == user.as_str())
        .map(|event| {
            (
                event["verb"].as_str().unwrap_or_default().to_string(),
                event["objectRef"]["resource"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                event["responseStatus"]["code"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("list", "configmaps", 403),
        ("list", "configmaps", 200),
        ("list", "secrets", 403),
    ] {
        assert!(
            answers
                .iter()
                .any(|(v, r, c)| (v.as_str(), r.as_str(), *c) == expected),
            "{expected:?} not in {answers:?}"
        );
    }

    let server = plane.server();
    let dir = plane.dir().to_path_buf();
    drop(plane);
    let port: u16 = server.rsplit(':').next().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || dir.exists())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the API server must stop with the value"
    );
    assert!(!dir.exists(), "its directory must be removed");
}

#[test]
fn the_oldest_supported_release_runs_beside_the_current_one() {
    let oldest = testkit::kube::oldest_apiserver().unwrap();
    let plane = KubeControlPlane::start_with(oldest).unwrap();
    let old = plane.server_version().unwrap();
    let current = testkit::kube::release().unwrap();
    let minor = |v: &str| v.split('.').nth(1).unwrap().parse::<u32>().unwrap();
    assert!(
        minor(&old) < minor(&current),
        "oldest {old}, current {current}"
    );
    assert!(plane.namespace("old").is_ok());
}

/// A port chosen free can be taken before etcd or the API server binds it (by any
/// process's outgoing connection, or another test's server): the start tries again
/// on other ports instead of failing the test that wanted a control plane.
#[test]
fn a_port_taken_before_the_control_plane_binds_it_is_chosen_again() {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = |listener: &TcpListener| listener.local_addr().unwrap().port();
    let (taken, free) = (bind(), [bind(), bind()]);
    let ports = [port(&free[0]), port(&taken), port(&free[1])];
    drop(free);
    // etcd's peer port is held by this test.
    let plane = KubeControlPlane::start_first_on(ports).unwrap();
    assert_eq!(
        plane
            .kubectl_ok(&["get", "--raw", "/readyz"])
            .unwrap()
            .trim(),
        "ok"
    );
    drop(taken);
}
