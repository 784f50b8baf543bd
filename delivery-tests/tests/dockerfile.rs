//! The Dockerfile: hadolint-clean, both targets, distroless non-root final images
//! with no shell, the chatbot's exec-form HEALTHCHECK, a dependency layer built from
//! manifests only. (No Docker engine here: the build itself runs in CI's release job.)

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

use delivery_tests::{repo, venv_tool};

fn dockerfile() -> String {
    std::fs::read_to_string(repo().join("Dockerfile")).unwrap()
}

/// The instructions of the stage `FROM … AS name`, continuation lines joined.
fn stage(name: &str) -> Vec<String> {
    let joined = dockerfile().replace("\\\n", " ");
    let mut lines = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let header = format!(" AS {name}");
    let mut found: Vec<String> = Vec::new();
    let mut inside = false;
    for line in lines.by_ref() {
        if line.starts_with("FROM ") {
            if inside {
                break;
            }
            inside = line.ends_with(&header);
        }
        if inside {
            found.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    assert!(!found.is_empty(), "no stage {name}");
    found
}

#[test]
fn hadolint_is_clean() {
    let output = Command::new(venv_tool("hadolint"))
        .arg("Dockerfile")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn final_images_are_distroless_non_root_without_a_shell() {
    for (target, binary) in [
        ("operator", "bedrock-chatbot-operator"),
        ("chatbot", "bedrock-chatbot"),
    ] {
        let lines = stage(target);
        assert_eq!(
            lines[0],
            format!("FROM gcr.io/distroless/cc-debian12:nonroot AS {target}")
        );
        assert!(
            lines.contains(&"USER 65532:65532".to_string()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{binary}\"]")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().all(|l| !l.starts_with("RUN ")),
            "{target}: no RUN in a shell-less image"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("COPY --from=builder ")
                && l.ends_with(&format!("/usr/local/bin/{binary}"))),
            "{lines:#?}"
        );
    }
    let chatbot = stage("chatbot");
    let healthcheck = chatbot
        .iter()
        .find(|l| l.starts_with("HEALTHCHECK "))
        .unwrap();
    assert!(
        healthcheck.ends_with(r#"CMD ["/usr/local/bin/bedrock-chatbot", "healthcheck"]"#),
        "{healthcheck}"
    );
    assert!(chatbot.contains(&"EXPOSE 8501".to_string()));
    assert!(stage("operator").contains(&r#"CMD ["run"]"#.to_string()));
}

#[test]
fn dependencies_are_built_before_the_sources_arrive() {
    let lines = stage("builder");
    let sources = lines.iter().position(|l| l == "COPY . .").unwrap();
    // Each binary's dependencies are cooked with the profile it is then built with.
    for (profile, package) in [
        ("--release", "bedrock-chatbot-operator"),
        ("--profile release-small", "bedrock-chatbot"),
    ] {
        let cook = format!(
            "cargo chef cook {profile} --locked --recipe-path recipe.json --package {package}"
        );
        let build = format!("cargo build {profile} --locked --package {package} --bin {package}");
        let at = |wanted: &str| lines.iter().position(|l| l.contains(wanted));
        let (Some(cook), Some(build)) = (at(&cook), at(&build)) else {
            panic!("{package}: `{cook}` then `{build}` expected in {lines:#?}");
        };
        assert!(cook < sources && sources < build, "{lines:#?}");
    }
    assert!(
        lines[1].starts_with("COPY --from=planner"),
        "only the recipe before cooking"
    );
}

#[test]
fn the_chat_app_ships_the_small_profile() {
    // The benchmark's idle-RSS goal is met by release-small (bench/chatbot): the image
    // must carry that binary, not the release one.
    let builder = stage("builder").join("\n");
    assert!(
        builder.contains("target/release-small/bedrock-chatbot /out/bedrock-chatbot"),
        "{builder}"
    );
    assert!(
        builder.contains("target/release/bedrock-chatbot-operator /out/bedrock-chatbot-operator"),
        "{builder}"
    );
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let profile = cargo
        .split("[profile.release-small]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("[profile.release-small] in Cargo.toml");
    assert!(profile.contains("opt-level = \"s\""), "{profile}");
}

#[test]
fn the_build_context_keeps_what_cargo_needs() {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .collect();
    for heavy in ["target/", ".venv/", ".git/"] {
        assert!(
            ignored.contains(&heavy),
            "{heavy} must not be sent to the builder"
        );
    }
    // Every workspace member's sources and manifest, and the lockfile, stay in.
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find(|l| l.starts_with("members"))
        .unwrap()
        .split('"')
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>();
    for member in members {
        for kept in [
            format!("{member}/"),
            format!("{member}/src/"),
            format!("{member}/Cargo.toml"),
        ] {
            assert!(
                !ignored
                    .iter()
                    .any(|p| p.trim_end_matches('/') == kept.trim_end_matches('/')),
                "{kept} is ignored but the build needs it"
            );
        }
    }
    assert!(!ignored.iter().any(|p| *p == "Cargo.lock" || *p == "*.lock"));
}
