//! Shared by the integration tests that run the engine against the local AWS
//! emulator.

#![allow(dead_code, clippy::unwrap_used)]

pub mod api_server;
pub mod cluster;
pub mod invalid_manifests;
pub mod inventory;
pub mod rbac;
pub mod read_back;

use std::path::Path;
use std::sync::{Arc, Mutex};

use operator::engine::Engine;
use operator::manifest::{self, Manifests};
use operator::resources::{Event, Outcome, Progress};
use testkit::Moto;

/// Collects progress events for assertions.
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<Event>>);

impl Progress for Recorder {
    fn report(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    /// Every event so far, and forget them.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Outcomes of one kind of resource among `events`.
pub fn outcomes_of(events: &[Event], kind: &str) -> Vec<Outcome> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.outcome.clone())
        .collect()
}

/// The settings reported as drifted (and corrected) for one kind of resource.
pub fn updated_fields(events: &[Event], kind: &str) -> Vec<String> {
    outcomes_of(events, kind)
        .into_iter()
        .flat_map(|o| match o {
            Outcome::Updated(drift) => drift.into_iter().map(|d| d.field).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// A fresh emulator and an engine pointed at it.
pub fn engine() -> (Moto, Engine, Arc<Recorder>) {
    let moto = Moto::start().unwrap();
    let recorder = Arc::new(Recorder::default());
    let engine = Engine::new(moto.sdk_config("us-west-2"), recorder.clone());
    (moto, engine, recorder)
}

/// The manifests of `examples/<files>`.
pub fn examples(files: &[&str]) -> Manifests {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    manifest::load(&files.iter().map(|f| dir.join(f)).collect::<Vec<_>>()).unwrap()
}

/// Raw boto-free access to the emulator for checks and for changes "behind our
/// back": the SDK clients of the engine's own region.
pub fn aws(engine: &Engine) -> operator::aws::Aws {
    engine.aws("us-west-2")
}

/// Sets `value` at the JSON pointer `path`, creating objects on the way.
pub fn set(doc: &mut serde_json::Value, path: &str, value: serde_json::Value) {
    let mut node = doc;
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert_with(|| serde_json::json!({}));
    }
    node.as_object_mut()
        .unwrap()
        .insert(parts[parts.len() - 1].to_string(), value);
}

/// The smallest `ChatbotPlatform` named `shared` in us-west-2, with `certificate` on
/// its HTTPS listener: the base the manifest catalogues change one field of.
pub fn platform_manifest(certificate: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": "ChatbotPlatform",
        "metadata": { "name": "shared" },
        "spec": { "region": "us-west-2", "loadBalancer": { "certificateArn": certificate } }
    })
}

/// The smallest `BedrockChatbot` `assistant` in `namespace` on the platform `shared`.
pub fn chatbot_manifest(namespace: &str, hostname: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": "BedrockChatbot",
        "metadata": { "name": "assistant", "namespace": namespace },
        "spec": { "platformRef": { "name": "shared" }, "hostname": hostname }
    })
}

/// `documents` as one multi-document YAML file.
pub fn yaml_documents(documents: &[serde_json::Value]) -> String {
    documents
        .iter()
        .map(|d| serde_norway::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}
