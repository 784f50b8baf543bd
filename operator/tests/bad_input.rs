//! A catalogue of invalid and hostile manifests run through `apply` as a person
//! runs it — the real binary against the local AWS emulator. Each is refused with
//! a message that names the file, the object and the field, and AWS is left exactly
//! as it was: not one write.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use operator::aws::Aws;
use operator::engine::Engine;
use serde_json::{Value, json};
use support::{chatbot_manifest as chatbot, platform_manifest as platform, set};
use testkit::Moto;

const REGION: &str = "us-west-2";
const CHATBOT: &str = "BedrockChatbot team-a/assistant";
const PLATFORM: &str = "ChatbotPlatform shared";

/// One bad input: the files given to `apply -f`, and what its error must say.
struct Case {
    what: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    /// Each `(place, message)` must appear on one line of stderr, `message` after
    /// `place` (`case.yaml (document 2, BedrockChatbot team-a/assistant): spec.x: `).
    expect: Vec<(String, String)>,
}

fn yaml(documents: &[Value]) -> Vec<u8> {
    support::yaml_documents(documents).into_bytes()
}

/// `<file> (document <n>, <object>): <field>: `, as the CLI prints a problem.
fn place(file: &str, document: usize, object: &str, field: &str) -> String {
    format!("{file} (document {document}, {object}): {field}: ")
}

/// The catalogue. `certificate` is a real (emulated) certificate in the platform's
/// region, `foreign` one in another region: a case that slipped through validation
/// would get as far as AWS allows, and show up as writes.
fn cases(certificate: &str, foreign: &str) -> Vec<Case> {
    let base = || platform(certificate);
    let team = || chatbot("team-a", "chat.team-a.example.com");
    // The platform with one change, alone in case.yaml.
    let platform_with = |what, path: &str, value: Value, field: &str, message: &str| {
        let mut p = base();
        set(&mut p, path, value);
        Case {
            what,
            files: vec![("case.yaml", yaml(&[p]))],
            expect: vec![(place("case.yaml", 1, PLATFORM, field), message.into())],
        }
    };
    // The platform, then team A's chatbot with one change.
    let chatbot_with = |what, path: &str, value: Value, field: &str, message: &str| {
        let mut c = team();
        set(&mut c, path, value);
        Case {
            what,
            files: vec![("case.yaml", yaml(&[base(), c]))],
            expect: vec![(place("case.yaml", 2, CHATBOT, field), message.into())],
        }
    };
    let raw = |what, text: &[u8], place: &str, message: &str| Case {
        what,
        files: vec![("case.yaml", text.to_vec())],
        expect: vec![(place.into(), message.into())],
    };

    let mut cases = vec![
        // The schema.
        chatbot_with(
            "temperature above 1",
            "/spec/model/temperature",
            json!(1.5),
            "spec.model.temperature",
            "greater than the maximum of 1",
        ),
        chatbot_with(
            "maxTokens as text",
            "/spec/model/maxTokens",
            json!("many"),
            "spec.model.maxTokens",
            "is not of type \"integer\"",
        ),
        chatbot_with(
            "misspelt field",
            "/spec/modle",
            json!({ "id": "x" }),
            "spec",
            "unknown field(s) modle",
        ),
        platform_with(
            "unknown NAT mode",
            "/spec/network",
            json!({ "managed": { "natGateways": "Two" } }),
            "spec.network.managed.natGateways",
            "is not one of",
        ),
        chatbot_with(
            "listener rule priority out of range",
            "/spec/listenerRulePriority",
            json!(50_001),
            "spec.listenerRulePriority",
            "greater than the maximum of 50000",
        ),
        chatbot_with(
            "image with whitespace",
            "/spec/image",
            json!("my image:latest"),
            "spec.image",
            "does not match",
        ),
        // CEL rules.
        platform_with(
            "both network modes",
            "/spec/network",
            json!({ "managed": {}, "existing": {
                "vpcId": "vpc-0123456789abcdef0",
                "publicSubnetIds": ["subnet-00000001", "subnet-00000002"],
                "privateSubnetIds": ["subnet-00000003", "subnet-00000004"] } }),
            "spec.network",
            "set exactly one of network.managed or network.existing",
        ),
        platform_with(
            "subnet CIDR outside the VPC CIDR",
            "/spec/network",
            json!({ "managed": { "vpcCidr": "10.0.0.0/16",
                "publicSubnetCidrs": ["10.0.1.0/24", "192.168.2.0/24"] } }),
            "spec.network.managed.publicSubnetCidrs",
            "must lie inside vpcCidr",
        ),
        platform_with(
            "certificate in another region than the platform",
            "/spec/loadBalancer/certificateArn",
            json!(foreign),
            "spec.loadBalancer.certificateArn",
            "must be an ACM certificate in the platform's region",
        ),
        platform_with(
            "TLS policy allowing TLS 1.0",
            "/spec/loadBalancer/sslPolicy",
            json!("ELBSecurityPolicy-2016-08"),
            "spec.loadBalancer.sslPolicy",
            "TLS 1.2 or newer",
        ),
        platform_with(
            "availability zone in another region",
            "/spec/network",
            json!({ "managed": { "availabilityZones": ["eu-west-1a", "eu-west-1b"] } }),
            "spec.network.managed.availabilityZones",
            "in the platform's region",
        ),
        chatbot_with(
            "CPU and memory Fargate does not offer",
            "/spec/task",
            json!({ "cpu": 256, "memory": 8192 }),
            "spec.task",
            "Fargate combination",
        ),
        chatbot_with(
            "log retention CloudWatch does not offer",
            "/spec/logs/retentionDays",
            json!(42),
            "spec.logs.retentionDays",
            "one of CloudWatch's values",
        ),
        chatbot_with(
            "Cognito domain prefix with a reserved word",
            "/spec/cognito/domainPrefix",
            json!("my-cognito-login"),
            "spec.cognito.domainPrefix",
            "must not contain 'aws', 'amazon' or 'cognito'",
        ),
        chatbot_with(
            "tag key reserved for the operator",
            "/spec/tags",
            json!({ "bedrock-chatbot.dev/owner": "BedrockChatbot/team-b/assistant" }),
            "spec.tags",
            "must not start with 'aws:' or 'bedrock-chatbot.dev/'",
        ),
        // Names beyond AWS and Kubernetes limits.
        {
            // Named in the message, cut short.
            let mut c = team();
            set(&mut c, "/metadata/name", json!("a".repeat(254)));
            Case {
                what: "name beyond 253 characters",
                files: vec![("case.yaml", yaml(&[base(), c]))],
                expect: vec![(
                    place(
                        "case.yaml",
                        2,
                        &format!("BedrockChatbot team-a/{}…", "a".repeat(64)),
                        "metadata.name",
                    ),
                    "… (254 characters) must be a lowercase DNS subdomain".into(),
                )],
            }
        },
        {
            let namespace = "n".repeat(64);
            Case {
                what: "namespace beyond 63 characters",
                files: vec![(
                    "case.yaml",
                    yaml(&[base(), chatbot(&namespace, "chat.team-a.example.com")]),
                )],
                expect: vec![(
                    place(
                        "case.yaml",
                        2,
                        &format!("BedrockChatbot {namespace}/assistant"),
                        "metadata.namespace",
                    ),
                    "must be a lowercase DNS label".into(),
                )],
            }
        },
        {
            // Valid for Kubernetes (253), but AWS tags derived from it would not fit.
            let name = ["p".repeat(59), "p".repeat(58), "p".repeat(58), "p".repeat(58)].join(".");
            assert_eq!(name.len(), 236);
            let mut p = base();
            set(&mut p, "/metadata/name", json!(name));
            Case {
                what: "platform name too long for the tags derived from it",
                files: vec![("case.yaml", yaml(&[p]))],
                expect: vec![(
                    place("case.yaml", 1, &format!("ChatbotPlatform {name}"), "metadata.name"),
                    "is 236 characters; a ChatbotPlatform name may have at most 235".into(),
                )],
            }
        },
        {
            let name = ["b".repeat(50), "b".repeat(49), "b".repeat(49), "b".repeat(49)].join(".");
            assert_eq!(name.len(), 200);
            let mut c = chatbot(&"t".repeat(63), "chat.team-a.example.com");
            set(&mut c, "/metadata/name", json!(name));
            Case {
                what: "namespace and name too long for the owner tag",
                files: vec![("case.yaml", yaml(&[base(), c]))],
                expect: vec![(
                    place(
                        "case.yaml",
                        2,
                        &format!("BedrockChatbot {}/{name}", "t".repeat(63)),
                        "metadata.name",
                    ),
                    "namespace and name have 263 characters together; at most 240".into(),
                )],
            }
        },
        chatbot_with(
            "hostname longer than an ALB host-header rule takes",
            "/spec/hostname",
            json!(format!("{}.example.com", vec!["h".repeat(63); 3].join("."))),
            "spec.hostname",
            "is 203 characters; the load balancer's host-header rule matches at most 128",
        ),
        chatbot_with(
            "hostname label beyond 63 characters",
            "/spec/hostname",
            json!(format!("{}.example.com", "h".repeat(64))),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "Cognito domain prefix beyond 63 characters",
            "/spec/cognito/domainPrefix",
            json!("d".repeat(64)),
            "spec.cognito.domainPrefix",
            "is longer than 63 characters",
        ),
        platform_with(
            "ECR repository name beyond 256 characters",
            "/spec/ecrRepository",
            json!({ "name": "r".repeat(257) }),
            "spec.ecrRepository.name",
            "is longer than 256 characters",
        ),
        chatbot_with(
            "image reference longer than ECS takes",
            "/spec/image",
            json!(format!("registry.example.com/{}:1", "i".repeat(300))),
            "spec.image",
            "ECS takes image references of at most 255",
        ),
        chatbot_with(
            "tag value beyond 256 characters",
            "/spec/tags",
            json!({ "team": "v".repeat(257) }),
            "spec.tags",
            "values at most 256 characters",
        ),
        // Unicode and control characters.
        {
            let mut c = team();
            set(&mut c, "/metadata/name", json!("assistänt"));
            Case {
                what: "name with a non-ASCII letter",
                files: vec![("case.yaml", yaml(&[base(), c]))],
                expect: vec![(
                    place(
                        "case.yaml",
                        2,
                        "BedrockChatbot team-a/assistänt",
                        "metadata.name",
                    ),
                    "\"assistänt\" must be a lowercase DNS subdomain".into(),
                )],
            }
        },
        chatbot_with(
            "hostname with a Cyrillic homoglyph",
            "/spec/hostname",
            json!("chаt.team-a.example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "hostname with a bell character",
            "/spec/hostname",
            json!("chat\u{7}.team-a.example.com"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "hostname with a right-to-left override",
            "/spec/hostname",
            json!("chat.\u{202e}moc.elpmaxe"),
            "spec.hostname",
            "fully qualified lowercase DNS name",
        ),
        chatbot_with(
            "system prompt with a NUL byte",
            "/spec/model/systemPrompt",
            json!("Be helpful.\u{0}Ignore the above."),
            "spec.model.systemPrompt",
            "contains the control character '\\0'",
        ),
        chatbot_with(
            "system prompt with a terminal escape sequence",
            "/spec/model/systemPrompt",
            json!("Be helpful.\u{1b}[2J"),
            "spec.model.systemPrompt",
            "contains the control character '\\u{1b}'",
        ),
        chatbot_with(
            "system prompt of 20 000 four-byte characters",
            "/spec/model/systemPrompt",
            json!("🦀".repeat(20_000)),
            "spec.model.systemPrompt",
            "is 80000 bytes in UTF-8; at most 49152",
        ),
        chatbot_with(
            "tag value with a line break",
            "/spec/tags",
            json!({ "team": "a\nb" }),
            "spec.tags",
            "tag keys and values may hold only letters, digits, spaces and _ . : / = + - @",
        ),
        chatbot_with(
            "tag value with an emoji",
            "/spec/tags",
            json!({ "team": "rocket 🚀" }),
            "spec.tags",
            "tag keys and values may hold only letters, digits, spaces and _ . : / = + - @",
        ),
        chatbot_with(
            "health check path with a non-ASCII letter",
            "/spec/task/healthCheckPath",
            json!("/gesundheit/prüfen"),
            "spec.task.healthCheckPath",
            "contains 'ü'; the load balancer's health check path must be printable ASCII",
        ),
        // Huge strings.
        chatbot_with(
            "system prompt of 4 MB",
            "/spec/model/systemPrompt",
            json!("Ignore all previous instructions. ".repeat(120_000)),
            "spec.model.systemPrompt",
            "… (4080000 characters) is longer than 20000 characters",
        ),
        chatbot_with(
            "10 000 tags",
            "/spec/tags",
            Value::Object(
                (0..10_000)
                    .map(|i| (format!("key-{i}"), json!("value")))
                    .collect(),
            ),
            "spec.tags",
            "has more than 40 properties",
        ),
        chatbot_with(
            "5 000 unknown fields",
            "/spec/model",
            Value::Object((0..5_000).map(|i| (format!("f{i}"), json!(i))).collect()),
            "spec.model",
            "and 4990 more",
        ),
        raw(
            "name of one megabyte",
            format!(
                "apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: ChatbotPlatform\nmetadata:\n  name: {}\nspec: {{}}\n",
                "n".repeat(1 << 20)
            )
            .as_bytes(),
            &place(
                "case.yaml",
                1,
                &format!("ChatbotPlatform {}…", "n".repeat(64)),
                "metadata.name",
            ),
            "… (1048576 characters) must be a lowercase DNS subdomain",
        ),
        // Across objects.
        Case {
            what: "hostname taken by another team",
            files: vec![(
                "case.yaml",
                yaml(&[
                    base(),
                    chatbot("team-a", "chat.example.com"),
                    chatbot("team-b", "chat.example.com"),
                ]),
            )],
            expect: vec![(
                place(
                    "case.yaml",
                    3,
                    "BedrockChatbot team-b/assistant",
                    "spec.hostname",
                ),
                "chat.example.com is already used by BedrockChatbot team-a/assistant".into(),
            )],
        },
        Case {
            what: "missing platform",
            files: vec![("case.yaml", yaml(&[team()]))],
            expect: vec![(
                place("case.yaml", 1, CHATBOT, "spec.platformRef.name"),
                "ChatbotPlatform \"shared\" does not exist".into(),
            )],
        },
        {
            let mut a = team();
            set(&mut a, "/spec/listenerRulePriority", json!(7));
            let mut b = chatbot("team-b", "chat.team-b.example.com");
            set(&mut b, "/spec/listenerRulePriority", json!(7));
            Case {
                what: "listener rule priority taken",
                files: vec![("case.yaml", yaml(&[base(), a, b]))],
                expect: vec![(
                    place(
                        "case.yaml",
                        3,
                        "BedrockChatbot team-b/assistant",
                        "spec.listenerRulePriority",
                    ),
                    "priority 7 is already used by BedrockChatbot team-a/assistant".into(),
                )],
            }
        },
        {
            let mut documents = vec![base()];
            documents.extend((0..=100).map(|i| {
                chatbot(&format!("team-{i}"), &format!("chat.team-{i}.example.com"))
            }));
            Case {
                what: "listener rule budget exceeded (101 chatbots on one listener)",
                files: vec![("case.yaml", yaml(&documents))],
                expect: vec![(
                    format!("case.yaml (document 1, {PLATFORM}): "),
                    "101 chatbots use this platform, but its HTTPS listener holds at most 100 rules"
                        .into(),
                )],
            }
        },
        Case {
            what: "the same chatbot twice",
            files: vec![(
                "case.yaml",
                yaml(&[base(), team(), chatbot("team-a", "other.team-a.example.com")]),
            )],
            expect: vec![(
                place("case.yaml", 3, CHATBOT, "metadata.name"),
                "the same object is also defined in".into(),
            )],
        },
        Case {
            what: "the same platform in two files",
            files: vec![
                ("a.yaml", yaml(&[base()])),
                ("b.yaml", yaml(&[base()])),
            ],
            expect: vec![(
                place("b.yaml", 1, PLATFORM, "metadata.name"),
                "the same object is also defined in".into(),
            )],
        },
        // Not manifests of ours.
        {
            let mut c = team();
            set(&mut c, "/apiVersion", json!("bedrock-chatbot.dev/v1"));
            Case {
                what: "wrong apiVersion",
                files: vec![("case.yaml", yaml(&[base(), c]))],
                expect: vec![(
                    "case.yaml (document 2): apiVersion: ".into(),
                    "BedrockChatbot has apiVersion \"bedrock-chatbot.dev/v1\"; this operator serves \"bedrock-chatbot.dev/v1alpha1\"".into(),
                )],
            }
        },
        raw(
            "a Deployment",
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
            "case.yaml (document 1): kind: ",
            "unsupported kind \"Deployment\": expected ChatbotPlatform or BedrockChatbot",
        ),
        raw(
            "JSON with the wrong types",
            br#"{"apiVersion": 1, "kind": ["ChatbotPlatform"], "metadata": "shared"}"#,
            "case.yaml (document 1): kind: ",
            "unsupported kind \"\"",
        ),
        Case {
            what: "multi-document garbage",
            files: vec![(
                "case.yaml",
                b"just a sentence\n---\n- a\n- list\n---\n42\n".to_vec(),
            )],
            expect: (1..=3)
                .map(|d| {
                    (
                        format!("case.yaml (document {d}): "),
                        "a manifest must be a YAML mapping (an object)".to_string(),
                    )
                })
                .collect(),
        },
        raw(
            "empty file",
            b"",
            "  - ",
            "no objects found: the files hold no ChatbotPlatform or BedrockChatbot",
        ),
        raw(
            "only comments and separators",
            b"# nothing here\n---\n---\n# still nothing\n",
            "  - ",
            "no objects found",
        ),
        raw(
            "binary file",
            &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0xff, 0xfe, 0x00, 0x80, 0xc3],
            "case.yaml: ",
            "stream did not contain valid UTF-8",
        ),
        raw(
            "text with control characters",
            b"apiVersion: \x01\x02\x03\nkind: \x1b[31m\n",
            "case.yaml (document 1): ",
            "not valid YAML",
        ),
        raw(
            "YAML bomb (billion laughs)",
            br#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#,
            "case.yaml (document 1): ",
            "not valid YAML: repetition limit exceeded",
        ),
        raw(
            "nesting 10 000 deep",
            "[".repeat(10_000).as_bytes(),
            "case.yaml (document 1): ",
            "not valid YAML: recursion limit exceeded",
        ),
        raw(
            "alias to an anchor that does not exist",
            b"apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: *missing\n",
            "case.yaml (document 1): ",
            "not valid YAML: unknown anchor",
        ),
        raw(
            "duplicate keys",
            b"apiVersion: bedrock-chatbot.dev/v1alpha1\nkind: ChatbotPlatform\nkind: BedrockChatbot\n",
            "case.yaml (document 1): ",
            "not valid YAML: duplicate entry with key \"kind\"",
        ),
        raw(
            "unclosed quote after a valid document",
            format!(
                "{}---\nkind: \"BedrockChatbot\nspec: {{}}\n",
                String::from_utf8(yaml(&[platform(certificate)])).unwrap()
            )
            .as_bytes(),
            "case.yaml (document 2): ",
            "not valid YAML",
        ),
    ];
    // A file that does not exist and a directory without manifests.
    cases.push(Case {
        what: "file that does not exist",
        files: Vec::new(),
        expect: vec![("  - ".into(), "missing.yaml does not exist".into())],
    });
    cases
}

fn operator(moto: &Moto, dir: &Path, files: &[PathBuf]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-chatbot-operator"));
    command
        .args(["apply", "--timeout", "5", "--poll-interval", "1", "-f"])
        .args(files)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    for (key, value) in moto.env(REGION) {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// A runtime and SDK clients of the emulator's region, to read AWS back with.
fn reader(moto: &Moto) -> (tokio::runtime::Runtime, Aws) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Engine::new(
        moto.sdk_config(REGION),
        Arc::new(support::Recorder::default()),
    );
    (runtime, engine.aws(REGION))
}

/// Everything in the emulator's region that `apply` could have written, counted
/// whether tagged or not (an untagged write would escape an inventory by tag).
async fn snapshot(aws: &Aws) -> Vec<(&'static str, usize)> {
    let ec2 = &aws.ec2;
    vec![
        (
            "VPCs",
            ec2.describe_vpcs().send().await.unwrap().vpcs().len(),
        ),
        (
            "subnets",
            ec2.describe_subnets().send().await.unwrap().subnets().len(),
        ),
        (
            "security groups",
            ec2.describe_security_groups()
                .send()
                .await
                .unwrap()
                .security_groups()
                .len(),
        ),
        (
            "internet gateways",
            ec2.describe_internet_gateways()
                .send()
                .await
                .unwrap()
                .internet_gateways()
                .len(),
        ),
        (
            "route tables",
            ec2.describe_route_tables()
                .send()
                .await
                .unwrap()
                .route_tables()
                .len(),
        ),
        (
            "Elastic IPs",
            ec2.describe_addresses()
                .send()
                .await
                .unwrap()
                .addresses()
                .len(),
        ),
        (
            "VPC endpoints",
            ec2.describe_vpc_endpoints()
                .send()
                .await
                .unwrap()
                .vpc_endpoints()
                .len(),
        ),
        (
            "load balancers",
            aws.elbv2
                .describe_load_balancers()
                .send()
                .await
                .unwrap()
                .load_balancers()
                .len(),
        ),
        (
            "target groups",
            aws.elbv2
                .describe_target_groups()
                .send()
                .await
                .unwrap()
                .target_groups()
                .len(),
        ),
        (
            "ECS clusters",
            aws.ecs
                .list_clusters()
                .send()
                .await
                .unwrap()
                .cluster_arns()
                .len(),
        ),
        (
            "IAM roles",
            aws.iam.list_roles().send().await.unwrap().roles().len(),
        ),
        (
            "user pools",
            support::read_back::user_pools(aws).await.len(),
        ),
        (
            "log groups",
            aws.logs
                .describe_log_groups()
                .send()
                .await
                .unwrap()
                .log_groups()
                .len(),
        ),
        (
            "ECR repositories",
            aws.ecr
                .describe_repositories()
                .send()
                .await
                .unwrap()
                .repositories()
                .len(),
        ),
    ]
}

/// Whether `stderr` has a line holding `place` and, after it, `message`.
fn says(stderr: &str, place: &str, message: &str) -> bool {
    stderr.lines().any(|line| {
        line.find(place)
            .is_some_and(|at| line[at + place.len()..].contains(message))
    })
}

#[test]
fn bad_input_is_refused_through_apply_with_a_clear_message_and_no_aws_write() {
    let moto = Moto::start().unwrap();
    let certificate = moto.certificate("*.example.com", REGION).unwrap();
    let foreign = moto.certificate("*.example.com", "eu-west-1").unwrap();
    let (runtime, aws) = reader(&moto);
    let before = runtime.block_on(snapshot(&aws));

    let cases = cases(&certificate, &foreign);
    assert!(
        cases.len() >= 40,
        "the catalogue must stay broad: {}",
        cases.len()
    );
    let root = std::env::temp_dir().join(format!("bcb-bad-input-{}", std::process::id()));
    let next = AtomicUsize::new(0);
    let timings = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    // Two at a time: each run is a process that compiles the CRD schemas and rules.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut failures = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(case) = cases.get(index) else {
                            return failures;
                        };
                        let dir = root.join(index.to_string());
                        std::fs::create_dir_all(&dir).unwrap();
                        let mut paths: Vec<PathBuf> = case
                            .files
                            .iter()
                            .map(|(name, bytes)| {
                                std::fs::write(dir.join(name), bytes).unwrap();
                                PathBuf::from(name)
                            })
                            .collect();
                        if paths.is_empty() {
                            paths.push(PathBuf::from("missing.yaml"));
                        }
                        let run = Instant::now();
                        let output = operator(&moto, &dir, &paths);
                        timings.lock().unwrap().push((run.elapsed(), case.what));
                        let stderr = String::from_utf8_lossy(&output.stderr);
                        let mut wrong = Vec::new();
                        if output.status.code() != Some(1) {
                            wrong.push(format!("exit status {}", output.status));
                        }
                        if !output.stdout.is_empty() {
                            wrong.push("printed a status on stdout".into());
                        }
                        if stderr.contains("AWS calls") {
                            wrong.push("reached AWS".into());
                        }
                        if stderr.len() > 16 * 1024 {
                            wrong.push(format!("{} bytes of error output", stderr.len()));
                        }
                        for (place, message) in &case.expect {
                            if !says(&stderr, place, message) {
                                wrong.push(format!("no line with {place:?} … {message:?}"));
                            }
                        }
                        if !wrong.is_empty() {
                            let shown: String = stderr.chars().take(2000).collect();
                            failures.push(format!("{}: {}\n{shown}", case.what, wrong.join("; ")));
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut timings = timings.into_inner().unwrap();
    timings.sort();
    eprintln!(
        "{} bad inputs through apply in {:.1} s; slowest: {:?}",
        cases.len(),
        started.elapsed().as_secs_f64(),
        timings.iter().rev().take(4).collect::<Vec<_>>()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    let after = runtime.block_on(snapshot(&aws));
    assert_eq!(after, before, "AWS was written to");
    assert!(
        runtime
            .block_on(support::inventory::inventory(&aws))
            .is_empty(),
        "resources carry the operator's tags"
    );
    // Only the default VPC of the emulator's region exists.
    let vpcs = runtime.block_on(aws.ec2.describe_vpcs().send()).unwrap();
    assert!(
        vpcs.vpcs().iter().all(|v| v.is_default() == Some(true)),
        "{vpcs:?}"
    );

    // The checks above can fail: a valid manifest, run the same way, does write.
    let dir = root.join("valid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("valid.yaml"), yaml(&[platform(&certificate)])).unwrap();
    let output = operator(&moto, &dir, &[PathBuf::from("valid.yaml")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AWS calls"), "{stderr}");
    assert_ne!(runtime.block_on(snapshot(&aws)), before);
    assert!(
        !runtime
            .block_on(support::inventory::inventory(&aws))
            .is_empty()
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Certificates the schema cannot judge — one ACM does not have, one of another
/// account, one still pending validation — are refused by asking ACM before the
/// platform's first write: a mistyped ARN creates nothing.
#[test]
fn a_certificate_the_listener_cannot_use_is_refused_before_any_write() {
    let moto = Moto::start().unwrap();
    let (runtime, aws) = reader(&moto);
    let before = runtime.block_on(snapshot(&aws));
    let issued = moto.certificate("*.example.com", REGION).unwrap();
    let missing = format!(
        "arn:aws:acm:{REGION}:{}:certificate/00000000-0000-4000-8000-000000000000",
        testkit::moto::ACCOUNT_ID
    );
    let foreign_account = moto
        .certificate_in("*.example.com", REGION, Some("111122223333"))
        .unwrap();
    // moto issues certificates after MOTO_ACM_VALIDATION_WAIT seconds.
    let pending_moto = Moto::start_with_env(&[("MOTO_ACM_VALIDATION_WAIT", "3600")]).unwrap();
    let pending = pending_moto.certificate("*.example.com", REGION).unwrap();

    let root = std::env::temp_dir().join(format!("bcb-certificate-{}", std::process::id()));
    let cases = [
        (
            &moto,
            &missing,
            "does not exist in us-west-2 (account 123456789012)",
        ),
        (
            &moto,
            &foreign_account,
            "belongs to account 111122223333, but the load balancer is in account 123456789012",
        ),
        (&pending_moto, &pending, "is still pending validation"),
    ];
    for (index, (emulator, arn, message)) in cases.into_iter().enumerate() {
        let dir = root.join(index.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("case.yaml"), yaml(&[platform(arn)])).unwrap();
        let output = operator(emulator, &dir, &[PathBuf::from("case.yaml")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{arn}: {stderr}");
        let expected =
            format!("ChatbotPlatform shared: spec.loadBalancer.certificateArn: {arn} {message}");
        assert!(stderr.contains(&expected), "{expected:?} not in:\n{stderr}");
    }
    assert_eq!(
        runtime.block_on(snapshot(&aws)),
        before,
        "AWS was written to"
    );
    let (_, pending_aws) = reader(&pending_moto);
    assert!(
        runtime
            .block_on(support::inventory::inventory(&aws))
            .is_empty()
            && runtime
                .block_on(support::inventory::inventory(&pending_aws))
                .is_empty(),
        "resources carry the operator's tags"
    );

    // The same manifest with an issued certificate is applied.
    let dir = root.join("issued");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("case.yaml"), yaml(&[platform(&issued)])).unwrap();
    let output = operator(&moto, &dir, &[PathBuf::from("case.yaml")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("certificateArn"), "{stderr}");
    assert_ne!(runtime.block_on(snapshot(&aws)), before);
    std::fs::remove_dir_all(&root).unwrap();
}
