//! The command line as a user runs it: exit codes, output, errors.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn operator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot-operator"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_remove("AWS_ACCOUNT_ID")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn plan_shows_every_owner_and_its_resources() {
    let output = operator(&["plan", "-f", "examples/"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "ChatbotPlatform/shared  (region us-west-2, account <account-id>",
        "BedrockChatbot/team-a/assistant  → https://chat.team-a.example.com",
        "BedrockChatbot/team-c/research",
        "com.amazonaws.us-west-2.bedrock-runtime",
        "routing.http.drop_invalid_header_fields.enabled=true",
        "MFA ON (TOTP)",
        "host chat.team-a.example.com → authenticate-cognito → forward",
        "1 platform(s), 3 chatbot(s),",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn plan_as_json_carries_the_full_desired_state() {
    let output = operator(&[
        "plan",
        "-f",
        "examples/platform.yaml",
        "examples/chatbot.yaml",
        "-o",
        "json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let platform = &plan["platforms"][0]["platform"];
    assert_eq!(platform["network"]["mode"], "managed");
    assert_eq!(platform["network"]["vpc"]["cidr"], "10.0.0.0/16");
    let chatbot = &plan["platforms"][0]["chatbots"][0];
    assert_eq!(chatbot["userPool"]["mfaConfiguration"], "ON");
    assert_eq!(chatbot["taskDefinition"]["cpu"], "512");
    let actions = &chatbot["taskRole"]["inlinePolicies"][0][1]["Statement"][0]["Action"];
    assert_eq!(
        actions,
        &serde_json::json!([
            "bedrock:InvokeModel",
            "bedrock:InvokeModelWithResponseStream"
        ])
    );
}

#[test]
fn plan_uses_the_account_from_the_standard_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot-operator"))
        .args(["plan", "-f", "examples/", "-o", "json"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("AWS_ACCOUNT_ID", "111122223333")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("arn:aws:bedrock:us-west-2:111122223333:inference-profile/"));
    assert!(!text.contains("<account-id>"));
}

#[test]
fn invalid_manifest_fails_naming_file_object_and_field() {
    let dir = std::env::temp_dir().join(format!("bcb-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    let chatbot = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/chatbot.yaml"),
    )
    .unwrap()
    .replace("temperature: 0.9", "temperature: 7");
    std::fs::write(&bad, chatbot).unwrap();
    let bad_arg = bad.to_string_lossy().to_string();
    let output = operator(&["plan", "-f", "examples/platform.yaml", &bad_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).is_empty(),
        "nothing is planned from invalid input"
    );
    let err = stderr(&output);
    assert!(
        err.contains(
            "bad.yaml (document 1, BedrockChatbot team-a/assistant): spec.model.temperature"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn missing_file_is_a_clear_error() {
    let output = operator(&["plan", "-f", "examples/nope.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("examples/nope.yaml does not exist"));
}

#[test]
fn crd_prints_what_the_chart_holds() {
    let output = operator(&["crd"]);
    assert!(output.status.success());
    let committed: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/bedrock-chatbot-operator/crds/crds.yaml");
    assert_eq!(stdout(&output), std::fs::read_to_string(committed).unwrap());
}

#[test]
fn plan_without_files_is_a_usage_error() {
    let output = operator(&["plan"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--filename"));
}
