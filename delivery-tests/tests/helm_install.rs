//! The chart with the real `helm` against a real kube-apiserver (testkit's
//! control plane): the install, upgrade, CRD upgrade and uninstall commands of
//! docs/install.md run as written — only the chart reference becomes this
//! repository's chart and `--version` goes — on the newest and the oldest
//! Kubernetes release the chart claims. Every object Helm renders must be stored
//! by the API server; nothing runs the pods (there is no kubelet).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use testkit::KubeControlPlane;

const PUBLISHED_CHART: &str = "oci://ghcr.io/bedrock-chatbot/charts/bedrock-chatbot-operator";
const CRDS: [&str; 2] = [
    "crd/chatbotplatforms.bedrock-chatbot.dev",
    "crd/bedrockchatbots.bedrock-chatbot.dev",
];

fn chart() -> PathBuf {
    delivery_tests::chart_dir()
}

/// The fenced `sh` blocks of docs/install.md's section whose heading starts with
/// `heading`, as commands: comments dropped, `\` continuations joined, the
/// published chart replaced by `chart` and `--version <v>` removed.
fn documented_commands(heading: &str, chart: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(delivery_tests::repo().join("docs/install.md")).unwrap();
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no `## {heading}` in docs/install.md"));
    let mut commands = Vec::new();
    for block in section.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let joined = block.replace("\\\n", " ");
        for line in joined.lines() {
            let line = line.split(" #").next().unwrap().trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words: Vec<&str> = line.split_whitespace().collect();
            while let Some(i) = words.iter().position(|w| *w == "--version") {
                words.drain(i..=i + 1);
            }
            let chart = chart.display().to_string();
            let words: Vec<&str> = words
                .into_iter()
                .map(|w| if w == PUBLISHED_CHART { &chart } else { w })
                .collect();
            commands.push(words.join(" "));
        }
    }
    assert!(!commands.is_empty(), "no commands under `## {heading}`");
    commands
}

/// `sh -c script` with the control plane's kubectl and helm first on PATH, as the
/// administrator.
fn shell(plane: &KubeControlPlane, script: &str) -> Output {
    let helm = plane.helm();
    let path = format!(
        "{}:{}",
        plane.bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", &format!("set -e\n{script}")])
        .envs(helm.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("PATH", path)
        .output()
        .unwrap()
}

fn shell_ok(plane: &KubeControlPlane, script: &str) -> String {
    let output = shell(plane, script);
    assert!(
        output.status.success(),
        "{script}\nfailed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(plane: &KubeControlPlane, args: &[&str]) -> Value {
    serde_json::from_str(&plane.kubectl_ok(args).unwrap()).unwrap()
}

/// `kind/name` (with `-n namespace` where namespaced) of every object in the
/// release's manifest.
fn manifest_objects(plane: &KubeControlPlane, release: &str, namespace: &str) -> Vec<Vec<String>> {
    let manifest = shell_ok(
        plane,
        &format!("helm get manifest {release} --namespace {namespace}"),
    );
    let mut objects = Vec::new();
    for document in manifest.split("\n---") {
        let field = |key: &str| {
            document
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        let (Some(kind), Some(api_version)) = (field("kind:"), field("apiVersion:")) else {
            continue;
        };
        let name = document
            .lines()
            .skip_while(|l| !l.starts_with("metadata:"))
            .find_map(|l| l.strip_prefix("  name:"))
            .unwrap()
            .trim()
            .to_string();
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let resource = if group.is_empty() {
            kind.clone()
        } else {
            format!("{kind}.{group}")
        };
        let mut object = vec![format!("{resource}/{name}")];
        if let Some(ns) = document
            .lines()
            .skip_while(|l| !l.starts_with("metadata:"))
            .find_map(|l| l.strip_prefix("  namespace:"))
        {
            object.extend(["-n".to_string(), ns.trim().to_string()]);
        }
        objects.push(object);
    }
    assert!(objects.len() >= 6, "{manifest}");
    objects
}

fn exists(plane: &KubeControlPlane, object: &[String]) -> bool {
    let mut args = vec!["get"];
    args.extend(object.iter().map(String::as_str));
    args.extend(["-o", "name", "--ignore-not-found"]);
    !plane.kubectl_ok(&args).unwrap().trim().is_empty()
}

fn controller_args(plane: &KubeControlPlane) -> Vec<String> {
    let deployment = json(
        plane,
        &[
            "get",
            "deployment/bedrock-chatbot-operator",
            "-n",
            "bedrock-chatbot-system",
            "-o",
            "json",
        ],
    );
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// A copy of the chart whose CRDs differ from the installed ones the way a new
/// release's do: a printer column gains a description (additionalPrinterColumns
/// is an atomic list, which Helm's create owns), so applying them server-side meets a conflict.
fn next_chart(dir: &Path) -> PathBuf {
    let copy = dir.join("bedrock-chatbot-operator");
    shell_ok_local(&format!(
        "cp -R '{}' '{}'",
        chart().display(),
        copy.display()
    ));
    let crds = copy.join("crds/crds.yaml");
    let text = std::fs::read_to_string(&crds).unwrap();
    let marker = "jsonPath: .status.conditions[?(@.type==\"Ready\")].status";
    assert!(text.contains(marker), "{crds:?} has no Ready column");
    let changed = text.replace(
        marker,
        &format!("{marker}\n      description: Ready, as of the next release"),
    );
    std::fs::write(&crds, changed).unwrap();
    copy
}

fn shell_ok_local(script: &str) {
    let status = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(status.success(), "{script}");
}

fn install_upgrade_crd_upgrade_and_uninstall(plane: &KubeControlPlane) {
    let version = plane.server_version().unwrap();
    let install = documented_commands("2. Install the controller", &chart());
    let helm_install: Vec<&String> = install.iter().filter(|c| c.starts_with("helm ")).collect();
    assert_eq!(helm_install.len(), 1, "{install:?}");
    shell_ok(plane, helm_install[0]);

    // Every rendered object is stored; the CRDs are served.
    let objects = manifest_objects(plane, "bedrock-chatbot-operator", "bedrock-chatbot-system");
    for object in &objects {
        assert!(exists(plane, object), "{version}: {object:?} is not stored");
    }
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    wait.extend(CRDS);
    plane.kubectl_ok(&wait).unwrap();
    let args = controller_args(plane);
    assert!(args.contains(&"--leader-election".to_string()), "{args:?}");

    // helm upgrade with changed values: a second revision with exactly those.
    plane
        .kubectl_ok(&["create", "namespace", "team-a"])
        .unwrap();
    shell_ok(
        plane,
        &format!(
            "helm upgrade bedrock-chatbot-operator {} --namespace bedrock-chatbot-system \
             --reuse-values --set controller.concurrency=8 --set controller.namespaces[0]=team-a",
            chart().display()
        ),
    );
    let args = controller_args(plane);
    for arg in [
        "--concurrency=8",
        "--namespaces=team-a",
        "--leader-election",
    ] {
        assert!(
            args.contains(&arg.to_string()),
            "{version}: {arg} not in {args:?}"
        );
    }
    let history: Value = serde_json::from_str(&shell_ok(
        plane,
        "helm history bedrock-chatbot-operator --namespace bedrock-chatbot-system -o json",
    ))
    .unwrap();
    let revisions: Vec<(i64, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(revisions, [(1, "superseded"), (2, "deployed")], "{history}");
    let upgraded = manifest_objects(plane, "bedrock-chatbot-operator", "bedrock-chatbot-system");
    for object in &upgraded {
        assert!(exists(plane, object), "{version}: {object:?} is not stored");
    }
    assert!(
        upgraded
            .iter()
            .any(|o| o.ends_with(&["-n".into(), "team-a".into()])),
        "the upgrade grants in team-a: {upgraded:?}"
    );

    // The documented upgrade, as written, to a chart whose CRDs changed. Without
    // --force-conflicts the server-side apply conflicts with Helm's ownership:
    // the reason the documentation has it.
    let dir = tempdir(plane, "next");
    let next = next_chart(&dir);
    let upgrade = documented_commands("Upgrading", &next);
    assert_eq!(upgrade.len(), 2, "{upgrade:?}");
    assert!(upgrade[0].contains("--force-conflicts"), "{upgrade:?}");
    let without = upgrade[0].replace(" --force-conflicts", "");
    let refused = shell(plane, &without);
    assert!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("conflict"),
        "{version}: {without} should conflict: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
    for command in &upgrade {
        shell_ok(plane, command);
    }
    let crd = json(
        plane,
        &[
            "get",
            "crd/bedrockchatbots.bedrock-chatbot.dev",
            "-o",
            "json",
        ],
    );
    assert!(
        crd.to_string().contains("Ready, as of the next release"),
        "{version}: the CRD was not upgraded: {crd}"
    );
    let args = controller_args(plane);
    assert!(
        args.contains(&"--namespaces=team-a".to_string()),
        "--reuse-values keeps the values: {args:?}"
    );

    // helm uninstall removes every object of the release and leaves the CRDs
    // (and so every chatbot) in place.
    shell_ok(
        plane,
        "helm uninstall bedrock-chatbot-operator --namespace bedrock-chatbot-system",
    );
    for object in &upgraded {
        assert!(
            !exists(plane, object),
            "{version}: {object:?} outlived the uninstall"
        );
    }
    for crd in CRDS {
        plane.kubectl_ok(&["get", crd]).unwrap();
    }
}

fn tempdir(plane: &KubeControlPlane, name: &str) -> PathBuf {
    let dir = plane.dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_documented_install_upgrade_and_uninstall_work_on_the_newest_release() {
    let plane = KubeControlPlane::start().unwrap();
    install_upgrade_crd_upgrade_and_uninstall(&plane);
}

#[test]
fn the_documented_install_upgrade_and_uninstall_work_on_the_oldest_release() {
    let plane = KubeControlPlane::start_with(testkit::kube::oldest_apiserver().unwrap()).unwrap();
    install_upgrade_crd_upgrade_and_uninstall(&plane);
}

fn helm_install(plane: &KubeControlPlane, release: &str, namespace: &str) -> Output {
    plane
        .helm()
        .args(["install", release])
        .arg(chart())
        .args(["--namespace", namespace, "--create-namespace"])
        .output()
        .unwrap()
}

/// Two releases would both reconcile every ChatbotPlatform (cluster-scoped) and
/// every chatbot: the second `helm install` is refused, naming the first, and
/// leaves nothing behind; the first still upgrades; once it is gone, a release
/// elsewhere installs.
#[test]
fn a_second_release_in_the_cluster_is_refused_naming_the_first() {
    let plane = KubeControlPlane::start().unwrap();
    let first = helm_install(&plane, "first", "ops-a");
    assert!(first.status.success(), "{first:?}");

    let second = helm_install(&plane, "second", "ops-b");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success()
            && stderr.contains("release first in namespace ops-a")
            && stderr.contains("one release per cluster"),
        "the second install should be refused naming the first: {second:?}"
    );
    let left = plane
        .kubectl_ok(&[
            "get",
            "deployments,serviceaccounts,clusterroles,clusterrolebindings,roles,rolebindings,services",
            "-A",
            "-l",
            "app.kubernetes.io/instance=second",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(left.trim(), "", "the refused release left objects behind");

    let upgrade = plane
        .helm()
        .args(["upgrade", "first"])
        .arg(chart())
        .args([
            "--namespace",
            "ops-a",
            "--reuse-values",
            "--set",
            "replicaCount=2",
        ])
        .output()
        .unwrap();
    assert!(
        upgrade.status.success(),
        "the first release still upgrades: {upgrade:?}"
    );

    let uninstall = plane
        .helm()
        .args(["uninstall", "first", "--namespace", "ops-a"])
        .output()
        .unwrap();
    assert!(uninstall.status.success(), "{uninstall:?}");
    let third = helm_install(&plane, "third", "ops-b");
    assert!(third.status.success(), "{third:?}");
}
