//! The file mode admits manifests as the API server would: against a real
//! kube-apiserver with the committed CRDs, every case of the invalid-manifest
//! catalogue gets the same verdict from both and is refused by exactly the layer it
//! is marked with, and the defaults the API server writes equal the file mode's.
//!
//! kubectl is run as people run it. `kubectl create` validates fields strictly by
//! default (`--validate=strict`, the API server's `fieldValidation=Strict`): an
//! unknown field is refused, where the API server alone would prune it silently.
//! The file mode refuses it too, so a misspelt field is never dropped unnoticed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use operator::admission::{Admission, Admitted};
use operator::manifest;
use operator::validation;
use serde_json::{Value, json};
use support::api_server;
use support::invalid_manifests::{self, Admissible, Case, Layer};
use testkit::KubeControlPlane;

const CRDS: [&str; 2] = [
    "chatbotplatforms.bedrock-chatbot.dev",
    "bedrockchatbots.bedrock-chatbot.dev",
];

#[test]
fn both_crds_are_established() {
    crds_are_established(api_server::with_crds());
}

#[test]
fn both_crds_are_established_on_the_oldest_release_claimed() {
    let plane = api_server::oldest_with_crds();
    let version = plane.server_version().unwrap();
    assert!(version.starts_with("v1.36."), "{version}");
    crds_are_established(plane);
}

fn crds_are_established(plane: &KubeControlPlane) {
    for name in CRDS {
        let crd: Value = serde_json::from_str(
            &plane
                .kubectl_ok(&["get", "crd", name, "-o", "json"])
                .unwrap(),
        )
        .unwrap();
        for type_ in ["NamesAccepted", "Established"] {
            let condition = crd["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == type_);
            assert_eq!(
                condition.map(|c| &c["status"]),
                Some(&json!("True")),
                "{name}: {type_}: {condition:?}"
            );
        }
    }
}

/// The layer of the file mode that refused `case`, or `None` when it admitted it.
fn refused_by_file_mode(admission: &Admission, case: &Case) -> Option<Layer> {
    let mut admitted = Vec::new();
    for document in &case.documents {
        match admission.admit(document, None) {
            Ok(object) => admitted.push(object),
            Err(_) => return Some(Layer::ApiServer),
        }
    }
    let problems_of_one_object = admitted.iter().any(|object| {
        let problems = match object {
            Admitted::Platform(platform) => validation::check_platform(platform),
            Admitted::Chatbot(chatbot) => validation::check_chatbot(chatbot),
        };
        !problems.is_empty()
    });
    if problems_of_one_object {
        Some(Layer::Operator)
    } else if invalid_manifests::load(&case.documents).is_err() {
        Some(Layer::AcrossObjects)
    } else {
        None
    }
}

/// `kubectl create --dry-run=server -o <format>` of the documents as one file:
/// kubectl's output, or `Err(stderr)` when any object was refused.
fn dry_run_create(
    plane: &KubeControlPlane,
    documents: &[Value],
    format: &str,
) -> Result<Vec<u8>, String> {
    let output = plane
        .kubectl_stdin(
            &[
                "create",
                "--dry-run=server",
                "--validate=strict",
                "-o",
                format,
                "-f",
                "-",
            ],
            &support::yaml_documents(documents),
        )
        .unwrap();
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `kubectl create --dry-run=server` of the documents as one file: `Err(stderr)`
/// when any object was refused.
fn api_server_verdict(plane: &KubeControlPlane, documents: &[Value]) -> Result<(), String> {
    dry_run_create(plane, documents, "name").map(|_| ())
}

/// What the API server's refusal must contain to name the field the file mode
/// names: the field itself (`spec.x: Invalid value…`, `unknown field "spec.x"`),
/// or — where the file mode names the object that lacks or has a field — that
/// field's own path. An unknown apiVersion or kind is told by kubectl, which maps
/// it to a resource before anything is sent.
fn field_as_the_api_server_names_it(case: &Case) -> Vec<String> {
    let changed = case.documents.last().unwrap();
    match case.field {
        "" => Vec::new(),
        "kind" => vec![format!("kind {}", changed["kind"])],
        "apiVersion" => vec![format!("version {}", changed["apiVersion"])],
        // An object in a namespace that cannot exist is refused before it is
        // validated: the namespace is looked up first.
        "metadata.namespace" => vec![format!("namespaces {}", changed["metadata"]["namespace"])],
        field => {
            let child = case
                .message
                .strip_prefix("missing required field ")
                .or_else(|| case.message.strip_prefix("unknown field(s) "));
            let path = match child {
                Some(child) => format!("{field}.{child}"),
                None => field.to_string(),
            };
            // Before 1.37 the API server left the index out of some list paths
            // (`metadata.ownerReferences.kind`).
            let unindexed = without_indices(&path);
            vec![
                format!("{path}: "),
                format!("\"{path}\""),
                format!("{unindexed}: "),
            ]
        }
    }
}

/// `path` without its list indices (`a[0].b` → `a.b`).
fn without_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            c if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

/// Why `case` is not handled alike by the API server and the file mode, if it is not.
fn disagreement(plane: &KubeControlPlane, admission: &Admission, case: &Case) -> Option<String> {
    let file_mode = refused_by_file_mode(admission, case);
    if file_mode != Some(case.layer) {
        let found = match file_mode {
            Some(layer) => format!("refused it in its {layer:?} layer"),
            None => "admitted it".into(),
        };
        return Some(format!(
            "marked as refused by {:?}, but the file mode {found}",
            case.layer
        ));
    }
    let api_server = api_server_verdict(plane, &case.documents);
    match (case.layer, api_server) {
        (Layer::ApiServer, Ok(())) => Some("the API server accepted it".into()),
        (Layer::ApiServer, Err(refusal)) => {
            let names = field_as_the_api_server_names_it(case);
            if names.is_empty() || names.iter().any(|name| refusal.contains(name.as_str())) {
                None
            } else {
                Some(format!(
                    "the API server refused it without naming {:?}: {}",
                    case.field,
                    refusal.trim()
                ))
            }
        }
        (_, Ok(())) => None,
        (_, Err(refusal)) => Some(format!(
            "the API server refused it, which only the file mode should: {}",
            refusal.trim()
        )),
    }
}

#[test]
fn the_api_server_and_the_file_mode_agree_on_every_catalogue_case() {
    catalogue_agrees(api_server::with_crds());
}

#[test]
fn the_oldest_release_claimed_and_the_file_mode_agree_on_every_catalogue_case() {
    catalogue_agrees(api_server::oldest_with_crds());
}

fn catalogue_agrees(plane: &KubeControlPlane) {
    api_server::ensure_namespaces(plane, &["team-a", "team-b"]);
    let admission = Admission::default();
    let cases = invalid_manifests::cases();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    // A case is one kubectl process; a few at a time keep the API server busy.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Some(why) = disagreement(plane, &admission, case) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{}: {why}", case.what));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases ({:?}):\n{}",
        failures.len(),
        cases.len(),
        started.elapsed(),
        failures.join("\n")
    );
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// `examples/*.yaml` (not the Argo CD and Flux directories, which hold other kinds).
fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The documents of a YAML file as JSON.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .filter(|document: &Value| !document.is_null())
        .collect()
}

/// Creates `documents` for real and reads each back, in order.
fn create_and_read_back(plane: &KubeControlPlane, documents: &[Value]) -> Vec<Value> {
    let output = plane
        .kubectl_stdin(&["create", "-f", "-"], &support::yaml_documents(documents))
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    documents
        .iter()
        .map(|document| {
            let kind = document["kind"].as_str().unwrap();
            let name = document["metadata"]["name"].as_str().unwrap();
            let mut args = vec!["get", kind, name, "-o", "json"];
            if let Some(namespace) = document["metadata"]["namespace"].as_str() {
                args.extend(["-n", namespace]);
            }
            serde_json::from_str(&plane.kubectl_ok(&args).unwrap()).unwrap()
        })
        .collect()
}

/// Where two specs differ, one line per place. Numbers compare by value: JSON does
/// not tell 1.0 from 1, and the API server writes `topP: 1.0` back as `1`. A field
/// the API server keeps as `null` (it keeps an explicit null on a nullable field)
/// is the same as one the file mode leaves out: the controller reads both as unset.
fn differences(path: &str, file_mode: &Value, api_server: &Value, found: &mut Vec<String>) {
    match (file_mode, api_server) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let here = format!("{path}.{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => differences(&here, x, y, found),
                    (None, Some(Value::Null)) => {}
                    (x, y) => found.push(format!(
                        "{here}: file mode {}, API server {}",
                        x.map_or("absent".into(), Value::to_string),
                        y.map_or("absent".into(), Value::to_string)
                    )),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, found);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => found.push(format!("{path}: file mode {a}, API server {b}")),
    }
}

/// `Kind name`, or `Kind namespace/name` for an object with a namespace.
fn label(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{kind} {namespace}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Each object as the file mode admits it, with its spec serialized as the
/// controller would write it.
fn file_mode_specs(manifests: &manifest::Manifests) -> Vec<(String, Value)> {
    let platforms = manifests.platforms.iter().map(|p| {
        let meta = &p.object.metadata;
        (
            label(
                "ChatbotPlatform",
                meta.namespace.as_deref(),
                meta.name.as_deref().unwrap(),
            ),
            serde_json::to_value(&p.object.spec).unwrap(),
        )
    });
    let chatbots = manifests.chatbots.iter().map(|c| {
        let meta = &c.object.metadata;
        (
            label(
                "BedrockChatbot",
                meta.namespace.as_deref(),
                meta.name.as_deref().unwrap(),
            ),
            serde_json::to_value(&c.object.spec).unwrap(),
        )
    });
    platforms.chain(chatbots).collect()
}

/// Creates `documents` on the API server under other names (the catalogue's
/// dry runs use `shared` and `team-a`, which must stay free), reads them back and
/// compares each spec with the file mode's.
fn assert_same_defaults(
    what: &str,
    plane: &KubeControlPlane,
    file_mode: &manifest::Manifests,
    documents: &[Value],
) {
    let mut renamed = documents.to_vec();
    let mut namespaces = BTreeMap::new();
    for document in &mut renamed {
        let metadata = document["metadata"].as_object_mut().unwrap();
        match metadata.get("namespace").and_then(Value::as_str) {
            Some(namespace) => {
                let fresh = namespaces
                    .entry(namespace.to_string())
                    .or_insert_with(|| plane.namespace("defaults").unwrap())
                    .clone();
                metadata.insert("namespace".into(), json!(fresh));
            }
            None => {
                static PLATFORMS: AtomicUsize = AtomicUsize::new(0);
                let name = metadata["name"].as_str().unwrap();
                let unique = format!("{name}-{}", PLATFORMS.fetch_add(1, Ordering::Relaxed));
                metadata.insert("name".into(), json!(unique));
            }
        }
    }
    let read_back = create_and_read_back(plane, &renamed);
    let expected = file_mode_specs(file_mode);
    assert_eq!(expected.len(), read_back.len(), "{what}");
    let mut found = Vec::new();
    for ((object, file_mode_spec), api_object) in expected.iter().zip(&read_back) {
        let mut here = Vec::new();
        differences("spec", file_mode_spec, &api_object["spec"], &mut here);
        found.extend(here.into_iter().map(|d| format!("{object}: {d}")));
    }
    assert!(
        found.is_empty(),
        "{what}: the file mode's defaults differ from the API server's:\n{}",
        found.join("\n")
    );
}

#[test]
fn minimal_objects_get_the_same_defaults() {
    let plane = api_server::with_crds();
    let documents = [
        invalid_manifests::platform(),
        support::chatbot_manifest("team-a", "chat.team-a.example.com"),
    ];
    let file_mode = invalid_manifests::load(&documents).unwrap();
    assert_same_defaults(
        "minimal platform and chatbot",
        plane,
        &file_mode,
        &documents,
    );
}

#[test]
fn the_examples_are_accepted_and_get_the_same_defaults() {
    examples_get_the_same_defaults(api_server::with_crds());
}

#[test]
fn the_oldest_release_claimed_accepts_the_examples_with_the_same_defaults() {
    examples_get_the_same_defaults(api_server::oldest_with_crds());
}

fn examples_get_the_same_defaults(plane: &KubeControlPlane) {
    let files = example_files();
    let documents: Vec<Value> = files.iter().flat_map(|f| documents(f)).collect();
    let namespaces: Vec<&str> = documents
        .iter()
        .filter_map(|d| d["metadata"]["namespace"].as_str())
        .collect();
    api_server::ensure_namespaces(plane, &namespaces);
    // The files as they are, as `kubectl apply -f examples/` reads them.
    let mut args = vec!["create", "--dry-run=server", "--validate=strict"];
    let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    for path in &paths {
        args.extend(["-f", path.as_str()]);
    }
    plane.kubectl_ok(&args).unwrap_or_else(|e| panic!("{e}"));

    let file_mode = manifest::load(&files).unwrap();
    // The file mode lists platforms first; so must the documents created.
    let (platforms, chatbots): (Vec<Value>, Vec<Value>) = documents
        .into_iter()
        .partition(|d| d["kind"] == "ChatbotPlatform");
    let in_file_mode_order: Vec<Value> = platforms.into_iter().chain(chatbots).collect();
    assert_same_defaults("examples", plane, &file_mode, &in_file_mode_order);
}

/// `kubectl create --dry-run=server -o json` of the documents as one file: the
/// objects as the API server would store them, by [`label`], or its refusal.
fn api_server_would_store(
    plane: &KubeControlPlane,
    documents: &[Value],
) -> Result<BTreeMap<String, Value>, String> {
    let stored = dry_run_create(plane, documents, "json")?;
    Ok(serde_json::Deserializer::from_slice(&stored)
        .into_iter::<Value>()
        .map(|object| {
            let object = object.unwrap();
            let meta = &object["metadata"];
            let key = label(
                object["kind"].as_str().unwrap(),
                meta["namespace"].as_str(),
                meta["name"].as_str().unwrap(),
            );
            (key, object["spec"].clone())
        })
        .collect())
}

/// Why the API server and the file mode do not store `case` alike, if they do not.
fn stored_differently(plane: &KubeControlPlane, case: &Admissible) -> Option<String> {
    let file_mode = match invalid_manifests::load(&case.documents) {
        Ok(manifests) => file_mode_specs(&manifests),
        Err(problems) => return Some(format!("the file mode refused it: {problems}")),
    };
    let mut api_server = match api_server_would_store(plane, &case.documents) {
        Ok(objects) => objects,
        Err(refusal) => return Some(format!("the API server refused it: {}", refusal.trim())),
    };
    let mut found = Vec::new();
    for (object, spec) in &file_mode {
        match api_server.remove(object) {
            Some(stored) => {
                let mut here = Vec::new();
                differences("spec", spec, &stored, &mut here);
                found.extend(here.into_iter().map(|d| format!("{object}: {d}")));
            }
            None => found.push(format!("{object}: the API server stores no such object")),
        }
    }
    found.extend(
        api_server
            .keys()
            .map(|object| format!("{object}: the file mode admits no such object")),
    );
    (!found.is_empty()).then(|| found.join("; "))
}

#[test]
fn the_api_server_and_the_file_mode_store_every_edge_case_alike() {
    let plane = api_server::with_crds();
    api_server::ensure_namespaces(plane, &["team-a", "team-b"]);
    let failures: Vec<String> = invalid_manifests::admissible_cases()
        .iter()
        .filter_map(|case| {
            stored_differently(plane, case).map(|why| format!("{}: {why}", case.what))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An update of `object` to `changed`: the API server's verdict (`kubectl replace
/// --dry-run=server`) and the file mode's (`Admission::admit` with the old
/// object), each `Err` naming what refused it.
fn update_verdicts(
    plane: &KubeControlPlane,
    admission: &Admission,
    object: &Value,
    changed: &Value,
) -> (Result<(), String>, Result<(), String>) {
    let output = plane
        .kubectl_stdin(
            &["replace", "--dry-run=server", "-o", "name", "-f", "-"],
            &support::yaml_documents(std::slice::from_ref(changed)),
        )
        .unwrap();
    let api_server = if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let file_mode = admission
        .admit(changed, Some(object))
        .map(drop)
        .map_err(|rejection| format!("{:?}", rejection.problems));
    (api_server, file_mode)
}

#[test]
fn immutable_fields_are_refused_alike_on_update() {
    let plane = api_server::with_crds();
    let admission = Admission::default();
    let namespace = plane.namespace("update").unwrap();
    let mut platform = invalid_manifests::platform();
    support::set(&mut platform, "/metadata/name", json!("update-immutable"));
    let chatbot = support::chatbot_manifest(&namespace, "chat.team-a.example.com");
    create_and_read_back(plane, &[platform.clone(), chatbot.clone()]);

    let change = |object: &Value, path: &str, value: Value| {
        let mut changed = object.clone();
        support::set(&mut changed, path, value);
        changed
    };
    let refused = [
        (&platform, "/spec/region", json!("us-east-1"), "spec.region"),
        (
            &chatbot,
            "/spec/hostname",
            json!("chat.team-b.example.com"),
            "spec.hostname",
        ),
        (
            &chatbot,
            "/spec/platformRef/name",
            json!("elsewhere"),
            "spec.platformRef",
        ),
    ];
    let mut failures = Vec::new();
    for (object, path, value, field) in refused {
        let changed = change(object, path, value);
        match update_verdicts(plane, &admission, object, &changed) {
            (Err(api_server), Err(file_mode))
                if api_server.contains(&format!("{field}: "))
                    && file_mode.contains(&format!("field: \"{field}\"")) => {}
            verdicts => failures.push(format!("{path}: {verdicts:?}")),
        }
    }
    // A field that may change, in the same objects.
    for (object, path, value) in [
        (&chatbot, "/spec/model/temperature", json!(0.2)),
        (&platform, "/spec/ecs/containerInsights", json!(false)),
    ] {
        let changed = change(object, path, value);
        let verdicts = update_verdicts(plane, &admission, object, &changed);
        if verdicts != (Ok(()), Ok(())) {
            failures.push(format!("{path}: {verdicts:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A chatbot in YAML with one line changed to `line` (the line of `marker`).
fn chatbot_yaml_with(marker: &str, line: &str) -> (String, usize) {
    let base = "\
apiVersion: bedrock-chatbot.dev/v1alpha1
kind: BedrockChatbot
metadata:
  name: assistant
  namespace: team-a
  labels:
    team: a
spec:
  platformRef:
    name: shared
  hostname: chat.team-a.example.com
  model:
    maxTokens: 2000
    systemPrompt: You answer team A.
  cognito:
    selfSignUp: false
  task:
    cpu: 512
";
    let number = base
        .lines()
        .position(|l| l.trim_start().starts_with(marker))
        .unwrap_or_else(|| panic!("no line {marker}"));
    let text = base
        .lines()
        .enumerate()
        .map(|(i, l)| if i == number { line } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    (text + "\n", number + 1)
}

/// kubectl (and Helm, Argo CD, Flux: sigs.k8s.io/yaml) reads YAML 1.1, where a
/// plain `yes`, `no`, `on`, `off`, `y` or `n` is a boolean, `01000` an octal
/// number and `2_000` a number with a separator; YAML 1.2, which the file mode
/// reads, takes them all as strings. One file must not mean two things: where the
/// readings differ, the file mode refuses the file and says where and how to
/// write it — and the same file quoted means the same thing to both.
#[test]
fn plain_scalars_kubectl_reads_otherwise_are_refused_where_they_are() {
    let plane = api_server::with_crds();
    let kubectl_reads = |text: &str| -> Value {
        let output = plane
            .kubectl_stdin(
                &["create", "--dry-run=client", "-o", "json", "-f", "-"],
                text,
            )
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let yaml_1_2_reads = |text: &str| -> Value { serde_norway::from_str(text).unwrap() };
    let cases = [
        ("selfSignUp:", "    selfSignUp: yes", "yes"),
        ("selfSignUp:", "    selfSignUp: off", "off"),
        ("cpu:", "    cpu: 01000", "01000"),
        ("maxTokens:", "    maxTokens: 2_000", "2_000"),
        ("systemPrompt:", "    systemPrompt: no", "no"),
        ("team:", "    y: a", "y"),
    ];
    let mut failures = Vec::new();
    for (marker, line, scalar) in cases {
        let (text, number) = chatbot_yaml_with(marker, line);
        // The case is real: kubectl reads the file otherwise than YAML 1.2.
        let kubectl = kubectl_reads(&text);
        assert_ne!(kubectl, yaml_1_2_reads(&text), "{line}: both read it alike");
        match manifest::load_str(Path::new("case.yaml"), &text) {
            Err(problems)
                if problems.0.iter().any(|p| {
                    let message = p.to_string();
                    message.contains(&format!("line {number}"))
                        && message.contains(&format!("`{scalar}`"))
                        && message.contains("YAML 1.1")
                }) => {}
            verdict => failures.push(format!("{line}: {verdict:?}")),
        }
        // Quoted, it is one string to every reader.
        let quoted = line.replace(&format!(" {scalar}"), &format!(" \"{scalar}\""));
        let quoted = if scalar == "y" {
            line.replace("y:", "\"y\":")
        } else {
            quoted
        };
        let (text, _) = chatbot_yaml_with(marker, &quoted);
        assert_eq!(kubectl_reads(&text), yaml_1_2_reads(&text), "{quoted}");
        if let Err(problems) = manifest::load_str(Path::new("case.yaml"), &text)
            && problems.to_string().contains("YAML 1.1")
        {
            failures.push(format!("{quoted}: {problems}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
