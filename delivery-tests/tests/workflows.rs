//! The GitHub workflows: actionlint-clean, every action pinned by a full commit SHA,
//! least-privilege token permissions, and the team workflow reaching AWS only through
//! OIDC (`role-to-assume`), never with stored keys.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

use delivery_tests::{repo, venv_tool};

fn workflows() -> Vec<(String, String)> {
    let dir = repo().join(".github/workflows");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn actionlint_is_clean() {
    let output = Command::new(venv_tool("actionlint"))
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_expected_workflows_exist() {
    let names: Vec<String> = workflows().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["ci.yml", "release.yml", "team-chatbot.yml"]);
}

#[test]
fn every_action_is_pinned_by_commit_sha() {
    for (name, text) in workflows() {
        for line in text.lines() {
            let Some(rest) = line.trim().trim_start_matches("- ").strip_prefix("uses:") else {
                continue;
            };
            let reference = rest.split('#').next().unwrap().trim();
            if reference.starts_with("./") {
                continue;
            }
            let (_, sha) = reference
                .split_once('@')
                .unwrap_or_else(|| panic!("{name}: {reference} has no version"));
            assert!(
                sha.len() == 40
                    && sha
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{name}: {reference} is not pinned by a full commit SHA"
            );
            assert!(
                rest.contains("# v"),
                "{name}: {reference} needs a `# vX.Y.Z` comment naming the version"
            );
        }
    }
}

#[test]
fn tokens_get_least_privilege_and_no_untrusted_triggers() {
    for (name, text) in workflows() {
        assert!(
            text.contains("\npermissions:\n  contents: read\n"),
            "{name}: the default token must be read-only"
        );
        assert!(!text.contains("pull_request_target"), "{name}");
        assert!(!text.contains("write-all"), "{name}");
        assert!(
            !text.contains("${{ github.event."),
            "{name}: event data only through env, never spliced into scripts"
        );
    }
}

#[test]
fn the_team_workflow_uses_oidc_and_no_stored_aws_keys() {
    let text = std::fs::read_to_string(repo().join(".github/workflows/team-chatbot.yml")).unwrap();
    assert!(text.contains("\n  workflow_call:\n"));
    assert!(text.contains("role-to-assume: ${{ inputs.role-to-assume }}"));
    assert!(text.contains("id-token: write"));
    for forbidden in [
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(!text.contains(forbidden), "{forbidden}");
    }
    assert!(
        text.contains(".spec.image"),
        "bumps the BedrockChatbot's image"
    );
}

#[test]
fn releases_are_multi_arch_signed_with_sbom_and_provenance() {
    let text = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    for needed in [
        "platforms: linux/amd64,linux/arm64",
        "sbom: true",
        "provenance: mode=max",
        "cosign sign --yes",
        "oci://ghcr.io/bedrock-chatbot/charts",
        "gh release create",
    ] {
        assert!(text.contains(needed), "release.yml lacks {needed}");
    }
}
