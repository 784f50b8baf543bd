//! The examples are valid, and a catalogue of invalid manifests is refused with a
//! message that names the field and says what to fix — checked against the
//! generated CRD schema and CEL rules, as an API server would.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::{Path, PathBuf};

use operator::manifest;
use serde_json::json;
use support::invalid_manifests::{admissible_cases, cases, load, platform};
use support::{chatbot_manifest as chatbot, set};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

#[test]
fn every_example_is_admitted_together() {
    let manifests = manifest::load(&[examples()]).unwrap();
    assert_eq!(manifests.platforms.len(), 1);
    assert_eq!(manifests.chatbots.len(), 3);
    let team_b = manifests
        .chatbots
        .iter()
        .find(|c| c.object.metadata.namespace.as_deref() == Some("team-b"))
        .unwrap();
    // Defaults are filled in as the API server would.
    assert_eq!(
        team_b.object.spec.model.id,
        "us.anthropic.claude-sonnet-4-20250514-v1:0"
    );
    assert_eq!(team_b.object.spec.model.max_tokens, 2000);
    assert_eq!(team_b.object.spec.task.cpu, 512);
    assert_eq!(team_b.source.document, 1);
    assert!(team_b.source.path.ends_with("teams.yaml"));
}

#[test]
fn each_example_file_is_admitted_with_the_platform() {
    for file in ["chatbot.yaml", "teams.yaml"] {
        let loaded = manifest::load(&[examples().join("platform.yaml"), examples().join(file)]);
        assert!(loaded.is_ok(), "{file}: {}", loaded.unwrap_err());
    }
    assert_eq!(
        manifest::load(&[examples().join("platform.yaml")])
            .unwrap()
            .platforms
            .len(),
        1
    );
}

#[test]
fn a_chatbot_without_its_platform_is_refused_naming_file_and_object() {
    let err = manifest::load(&[examples().join("chatbot.yaml")]).unwrap_err();
    assert_eq!(err.0.len(), 1);
    let text = err.0[0].to_string();
    assert!(
        text.contains("chatbot.yaml (document 1, BedrockChatbot team-a/assistant)"),
        "{text}"
    );
    assert!(
        text.contains("spec.platformRef.name: ChatbotPlatform \"shared\" does not exist"),
        "{text}"
    );
}

#[test]
fn invalid_manifests_are_refused_with_the_expected_message() {
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "the catalogue should stay broad: {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in cases {
        match load(&case.documents) {
            Ok(_) => failures.push(format!("{}: was admitted", case.what)),
            Err(problems) => {
                let hit = problems.0.iter().any(|p| {
                    p.problem.field == case.field && p.problem.message.contains(case.message)
                });
                if !hit {
                    failures.push(format!(
                        "{}: expected {:?}: …{}…, got:\n{problems}",
                        case.what, case.field, case.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_edge_cases_of_the_catalogue_are_admitted() {
    let refused: Vec<String> = admissible_cases()
        .iter()
        .filter_map(|case| {
            load(&case.documents)
                .err()
                .map(|problems| format!("{}: {problems}", case.what))
        })
        .collect();
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

#[test]
fn a_platform_with_a_namespace_is_admitted_without_it() {
    // As the API server does for a cluster-scoped object.
    let mut p = platform();
    set(&mut p, "/metadata/namespace", json!("team-a"));
    let manifests = load(&[p]).unwrap();
    assert_eq!(manifests.platforms[0].object.metadata.namespace, None);
    assert!(manifests.platform("shared").is_some());
}

#[test]
fn the_valid_base_of_the_catalogue_is_admitted() {
    // Guards the catalogue: every case fails for its own reason, not the base's.
    let loaded = load(&[platform(), chatbot("team-a", "chat.team-a.example.com")]);
    assert!(loaded.is_ok(), "{}", loaded.unwrap_err());
}

#[test]
fn invalid_yaml_names_the_file_and_document() {
    let text = "apiVersion: v1\nkind: ChatbotPlatform\n---\nkey: [unclosed\n";
    let err = manifest::load_str(Path::new("broken.yaml"), text).unwrap_err();
    let rendered = err.to_string();
    assert!(
        rendered.contains("broken.yaml (document 2): not valid YAML"),
        "{rendered}"
    );
}

#[test]
fn a_key_given_twice_is_refused_not_silently_overridden() {
    let text = "apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: ChatbotPlatform\nmetadata:\n  name: a\n  name: b\n";
    let err = manifest::load_str(Path::new("twice.yaml"), text).unwrap_err();
    let rendered = err.to_string();
    assert!(
        rendered.contains(
            "twice.yaml (document 1): not valid YAML: metadata: duplicate entry with key \"name\""
        ),
        "{rendered}"
    );
}

#[test]
fn too_many_chatbots_for_one_listener_are_refused() {
    let mut documents = vec![platform()];
    for i in 0..=operator::validation::LISTENER_RULE_BUDGET {
        documents.push(chatbot(
            &format!("team-{i}"),
            &format!("chat{i}.example.com"),
        ));
    }
    let err = load(&documents).unwrap_err();
    assert!(
        err.0
            .iter()
            .any(|p| p.object.as_deref() == Some("ChatbotPlatform shared")
                && p.problem.message.contains("holds at most 100 rules")),
        "{err}"
    );
}

#[test]
fn nulls_are_treated_as_absent_fields() {
    let mut c = chatbot("team-a", "chat.example.com");
    set(&mut c, "/spec/model", json!({ "systemPrompt": null }));
    let manifests = load(&[platform(), c]).unwrap();
    assert_eq!(manifests.chatbots[0].object.spec.model.system_prompt, None);
    assert_eq!(
        manifests.chatbots[0].object.metadata.namespace.as_deref(),
        Some("team-a")
    );
}
