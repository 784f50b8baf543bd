//! `apply` and `delete` as a person runs them: the real binary, configured only
//! through the standard AWS environment variables, against the local emulator.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use testkit::Moto;

/// The real binary with `args`, configured only through the standard AWS
/// environment of the emulator (region us-west-2).
fn command(moto: &Moto, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot-operator"));
    command
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    for (key, value) in moto.env("us-west-2") {
        command.env(key, value);
    }
    command
}

fn operator(moto: &Moto, args: &[&str]) -> Output {
    command(moto, args).output().unwrap()
}

/// `examples/<file>` copied into `dir` with the emulator's certificate: the
/// emulator, like AWS, refuses a listener whose certificate does not exist.
fn example(moto: &Moto, dir: &Path, file: &str) -> String {
    let certificate = moto.certificate("*.example.com", "us-west-2").unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file);
    let text = std::fs::read_to_string(source).unwrap().replace(
        "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef",
        &certificate,
    );
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn platform_manifest(moto: &Moto, dir: &Path) -> String {
    example(moto, dir, "platform.yaml")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bcb-cli-aws-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that the binary succeeded, and returns its progress (standard error).
fn succeeded(output: &Output) -> String {
    let progress = text(&output.stderr);
    assert!(output.status.success(), "{progress}");
    progress
}

/// `command -f <file>…`, checking every second and giving up after `timeout` seconds.
fn polling<'a>(command: &'a str, files: &[&'a str], timeout: &'a str) -> Vec<&'a str> {
    let mut args = vec![command];
    for file in files {
        args.extend(["-f", file]);
    }
    args.extend(["--poll-interval", "1", "--timeout", timeout]);
    args
}

#[test]
fn apply_twice_then_delete_once() {
    let moto = Moto::start().unwrap();
    let dir = scratch("twice");
    let platform = platform_manifest(&moto, &dir);
    let args = polling("apply", &[&platform], "120");

    let first = operator(&moto, &args);
    let progress = succeeded(&first);
    assert!(
        progress.contains("ChatbotPlatform/shared VPC bcb-shared (vpc-"),
        "{progress}"
    );
    assert!(progress.contains(": created"), "{progress}");
    assert_eq!(
        text(&first.stdout).trim(),
        "ChatbotPlatform shared: Ready=True (Ready)"
    );

    let second = operator(&moto, &[&args[..], &["-o", "yaml"]].concat());
    let progress = succeeded(&second);
    assert!(
        !progress.contains("created") && !progress.contains("updated"),
        "{progress}"
    );
    let list: serde_json::Value = serde_norway::from_slice(&second.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    let item = &list["items"][0];
    assert_eq!(item["kind"], "ChatbotPlatform");
    assert!(
        item["status"]["vpcId"]
            .as_str()
            .unwrap()
            .starts_with("vpc-")
    );
    let ready = item["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True");

    let deleted = operator(&moto, &polling("delete", &[&platform], "120"));
    let progress = succeeded(&deleted);
    assert!(
        progress.contains("VPC bcb-shared") && progress.contains(": deleted"),
        "{progress}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn apply_refuses_invalid_manifests_before_any_aws_call() {
    let moto = Moto::start().unwrap();
    let output = operator(&moto, &["apply", "-f", "examples/chatbot.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(
        err.contains("ChatbotPlatform \"shared\" does not exist"),
        "{err}"
    );
    assert!(!err.contains("AWS calls"), "no AWS call may be made: {err}");
}

#[test]
fn apply_without_an_endpoint_and_credentials_fails_clearly() {
    // A closed port stands in for unreachable AWS: no real AWS is ever contacted.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let output = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot-operator"))
        .args([
            "apply",
            "-f",
            "examples/platform.yaml",
            "--timeout",
            "3",
            "--poll-interval",
            "1",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_clear()
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_REGION", "us-west-2")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert!(err.contains("sts GetCallerIdentity failed"), "{err}");
}

/// The examples end to end: the platform and three teams applied twice (the second
/// run changes nothing), then deleted — with the emulator, which never runs ECS
/// tasks, waited for with `--ready-when converged`.
#[test]
fn examples_apply_twice_then_delete_once() {
    let moto = Moto::start().unwrap();
    let dir = scratch("examples");
    for file in ["platform.yaml", "chatbot.yaml", "teams.yaml"] {
        example(&moto, &dir, file);
    }
    let dir_arg = dir.to_string_lossy().into_owned();
    let apply = [
        polling("apply", &[&dir_arg], "120"),
        vec!["--ready-when", "converged"],
    ]
    .concat();

    let first = operator(&moto, &apply);
    let progress = succeeded(&first);
    for expected in [
        "BedrockChatbot/team-a/assistant Cognito user pool",
        "BedrockChatbot/team-b/assistant Auto scaling",
        "BedrockChatbot/team-c/research ECS service",
    ] {
        assert!(
            progress.contains(expected),
            "missing {expected:?} in {progress}"
        );
    }
    let summary = text(&first.stdout);
    assert!(
        summary.contains("ChatbotPlatform shared: Ready=True (Ready)"),
        "{summary}"
    );
    assert!(
        summary.contains("BedrockChatbot team-a/assistant: Ready=False (TasksNotRunning)"),
        "{summary}"
    );

    let second = operator(&moto, &apply);
    let progress = succeeded(&second);
    assert!(
        !progress.contains("created") && !progress.contains("updated"),
        "{progress}"
    );

    // Waiting for Ready (the default) cannot succeed where tasks never run: the exit
    // code says so, with the reason.
    let strict = operator(&moto, &polling("apply", &[&dir_arg], "2"));
    assert_eq!(strict.status.code(), Some(1));
    let err = text(&strict.stderr);
    assert!(
        err.contains("BedrockChatbot/team-a/assistant: 0/1 ECS tasks running"),
        "{err}"
    );

    let deleted = operator(&moto, &polling("delete", &[&dir_arg], "120"));
    let progress = succeeded(&deleted);
    assert!(
        progress.contains("retained (deletionPolicy: Retain)"),
        "team C keeps its resources: {progress}"
    );
    assert!(
        progress.contains("BedrockChatbot/team-a/assistant Cognito user pool"),
        "{progress}"
    );
    // Deleting again finds nothing left to delete, although the platform the
    // chatbots lived in (their cluster, their listener) is gone.
    let again = operator(&moto, &polling("delete", &[&dir_arg], "60"));
    let progress = succeeded(&again);
    assert!(
        !progress.contains("deleted"),
        "nothing was left to delete: {progress}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The owners that still have AWS resources, read from the emulator.
fn owners_left(moto: &Moto) -> BTreeSet<String> {
    owned(moto)
        .into_values()
        .flat_map(|owners| owners.into_keys())
        .collect()
}

/// One team leaves: `delete -f` of its file alone deletes its chatbot and nothing
/// else — the platform's resources are found by their tags in the configured region,
/// or through `--platform FILE`, given only as context and never deleted. A platform
/// that cannot be found stops the delete before it touches anything.
#[test]
fn one_team_is_deleted_from_its_own_file_and_the_platform_stays() {
    let moto = Moto::start().unwrap();
    let dir = scratch("one-team");
    let platform = example(&moto, &dir, "platform.yaml");
    let team_a = example(&moto, &dir, "chatbot.yaml");
    let teams = example(&moto, &dir, "teams.yaml");
    let apply = operator(
        &moto,
        &[
            polling("apply", &[&platform, &team_a, &teams], "120"),
            vec!["--ready-when", "converged"],
        ]
        .concat(),
    );
    succeeded(&apply);
    let everyone: BTreeSet<String> = [
        "ChatbotPlatform/shared",
        "BedrockChatbot/team-a/assistant",
        "BedrockChatbot/team-b/assistant",
        "BedrockChatbot/team-c/research",
    ]
    .map(String::from)
    .into();
    assert_eq!(owners_left(&moto), everyone);

    // A chatbot on a platform that is neither in the files nor on AWS.
    let stray = dir.join("stray.yaml");
    std::fs::write(
        &stray,
        std::fs::read_to_string(&team_a)
            .unwrap()
            .replace("name: shared", "name: elsewhere"),
    )
    .unwrap();
    let refused = operator(
        &moto,
        &["delete", "-f", stray.to_str().unwrap(), "--timeout", "60"],
    );
    let message = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{message}");
    assert!(
        message.contains("ChatbotPlatform elsewhere") && message.contains("--platform"),
        "{message}"
    );
    assert_eq!(
        owners_left(&moto),
        everyone,
        "a refused delete touched something"
    );

    let by_tags = operator(&moto, &polling("delete", &[&team_a], "120"));
    succeeded(&by_tags);
    let mut left = everyone.clone();
    left.remove("BedrockChatbot/team-a/assistant");
    assert_eq!(owners_left(&moto), left);

    let with_context = operator(
        &moto,
        &[
            polling("delete", &[&teams], "120"),
            vec!["--platform", &platform],
        ]
        .concat(),
    );
    succeeded(&with_context);
    // team-c's chatbot has deletionPolicy: Retain; the platform given as context
    // is never deleted.
    let kept: BTreeSet<String> = ["ChatbotPlatform/shared", "BedrockChatbot/team-c/research"]
        .map(String::from)
        .into();
    assert_eq!(owners_left(&moto), kept);

    // A context file must hold platforms only.
    let wrong = operator(&moto, &["delete", "-f", &teams, "--platform", &team_a]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("--platform"),
        "{}",
        text(&wrong.stderr)
    );
    assert_eq!(owners_left(&moto), kept);
}

/// Every owned AWS resource, counted by kind and owner tag.
fn owned(moto: &Moto) -> support::inventory::Inventory {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let engine = operator::engine::Engine::new(
            moto.sdk_config("us-west-2"),
            std::sync::Arc::new(support::Recorder::default()),
        );
        support::inventory::inventory(&engine.aws("us-west-2")).await
    })
}

/// `inventory` without what `owner` owns.
fn except(inventory: &support::inventory::Inventory, owner: &str) -> support::inventory::Inventory {
    inventory
        .iter()
        .map(|(kind, owners)| {
            let others = owners
                .iter()
                .filter(|(o, _)| o.as_str() != owner)
                .map(|(o, n)| (o.clone(), *n))
                .collect();
            (*kind, others)
        })
        .filter(|(_, owners): &(_, std::collections::BTreeMap<String, usize>)| !owners.is_empty())
        .collect()
}

/// The real binary as [`operator`] runs it, with `region` as `AWS_REGION`, or with
/// no `AWS_REGION` and the region in the profile `team` of an AWS config file.
fn operator_in(moto: &Moto, region: Region<'_>, args: &[&str]) -> Output {
    let mut command = command(moto, args);
    match region {
        Region::Environment(region) => {
            command.env("AWS_REGION", region);
        }
        Region::Profile(config) => {
            command
                .env_remove("AWS_REGION")
                .env("AWS_CONFIG_FILE", config)
                .env("AWS_PROFILE", "team");
        }
        Region::None => {
            command.env_remove("AWS_REGION");
        }
    }
    command.output().unwrap()
}

/// Where the binary's standard AWS configuration takes its region from.
enum Region<'a> {
    /// `AWS_REGION`.
    Environment(&'a str),
    /// The profile `team` of this AWS config file.
    Profile(&'a Path),
    /// Nowhere.
    None,
}

/// Team B's document of `examples/teams.yaml`, alone in `dir/team-b.yaml`.
fn team_b_file(dir: &Path) -> String {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/teams.yaml");
    let text = std::fs::read_to_string(source).unwrap();
    let team_b = text
        .split("\n---\n")
        .find(|document| document.contains("namespace: team-b"))
        .unwrap();
    let path = dir.join("team-b.yaml");
    std::fs::write(&path, team_b).unwrap();
    path.to_string_lossy().into_owned()
}

/// Issue 14 item 12, as a team runs it: `delete -f team-b.yaml` alone removes every
/// resource team B owns and leaves each of the platform's and team A's as it was —
/// with the region from an AWS profile, or the platform's manifest given with
/// `--platform` (whose region wins over the configured one). Refused before anything
/// is deleted: a `--platform` file naming another platform or holding none, a
/// second chatbot whose platform cannot be found, and no region at all.
#[test]
fn one_team_alone_is_deleted_and_every_other_resource_stays() {
    let moto = Moto::start().unwrap();
    let dir = scratch("team-b");
    let platform = example(&moto, &dir, "platform.yaml");
    let team_a = example(&moto, &dir, "chatbot.yaml");
    let team_b = team_b_file(&dir);
    let apply_args = [
        polling("apply", &[&platform, &team_a, &team_b], "120"),
        vec!["--ready-when", "converged"],
    ]
    .concat();
    let apply = operator(&moto, &apply_args);
    succeeded(&apply);
    let before = owned(&moto);
    let team_b_owner = "BedrockChatbot/team-b/assistant";
    for owner in [
        "ChatbotPlatform/shared",
        "BedrockChatbot/team-a/assistant",
        team_b_owner,
    ] {
        assert!(
            before.values().any(|owners| owners.contains_key(owner)),
            "{owner} owns nothing after apply: {before:?}"
        );
    }
    let deleted = |args: &[&str], region: Region<'_>| {
        let all = [
            &["delete"][..],
            args,
            &["--poll-interval", "1", "--timeout", "120"],
        ]
        .concat();
        operator_in(&moto, region, &all)
    };
    let refused = |output: Output, words: &[&str]| {
        let message = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{message}");
        for word in words {
            assert!(message.contains(word), "{word:?} missing from: {message}");
        }
        assert_eq!(
            owned(&moto),
            before,
            "a refused delete changed AWS: {message}"
        );
    };

    // A --platform file that names another platform than team B's.
    let other = dir.join("other.yaml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&platform)
            .unwrap()
            .replace("name: shared", "name: other"),
    )
    .unwrap();
    let other = other.to_str().unwrap();
    refused(
        deleted(
            &["-f", &team_b, "--platform", other],
            Region::Environment("us-west-2"),
        ),
        &["--platform", "ChatbotPlatform other", "shared"],
    );
    // A --platform file that holds no platform at all.
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, "# the platform's manifest was here\n").unwrap();
    refused(
        deleted(
            &["-f", &team_b, "--platform", empty.to_str().unwrap()],
            Region::Environment("us-west-2"),
        ),
        &["--platform", "empty.yaml", "no ChatbotPlatform"],
    );
    // Next to team B, a chatbot whose platform exists nowhere: team B stays too.
    let stray = dir.join("stray.yaml");
    std::fs::write(
        &stray,
        std::fs::read_to_string(&team_a)
            .unwrap()
            .replace("name: shared", "name: vanished")
            .replace("team-a", "team-z"),
    )
    .unwrap();
    refused(
        deleted(
            &["-f", &team_b, "-f", stray.to_str().unwrap()],
            Region::Environment("us-west-2"),
        ),
        &["ChatbotPlatform vanished", "nothing was deleted"],
    );
    // No region anywhere: the platform cannot be looked for.
    refused(
        deleted(&["-f", &team_b], Region::None),
        &["ChatbotPlatform shared", "AWS_REGION"],
    );

    // The platform found by its names and tags, in the region of an AWS profile.
    let config = dir.join("aws-config");
    std::fs::write(&config, "[profile team]\nregion = us-west-2\n").unwrap();
    let by_tags = deleted(&["-f", &team_b], Region::Profile(&config));
    succeeded(&by_tags);
    let after = owned(&moto);
    assert_eq!(except(&after, team_b_owner), except(&before, team_b_owner));
    assert_eq!(
        after,
        except(&before, team_b_owner),
        "team B left resources"
    );

    // Again, the platform given as context; its region (us-west-2) is the one used.
    let again = operator(&moto, &apply_args);
    succeeded(&again);
    assert_eq!(
        except(&owned(&moto), team_b_owner),
        except(&before, team_b_owner)
    );
    let with_context = deleted(
        &["-f", &team_b, "--platform", &platform],
        Region::Environment("eu-west-1"),
    );
    succeeded(&with_context);
    assert_eq!(owned(&moto), except(&before, team_b_owner));
    std::fs::remove_dir_all(dir).unwrap();
}
