//! Property-based tests: reading manifests never panics, whatever the bytes, and
//! the desired state of any spec the checks admit stays inside AWS's limits —
//! every name fits its service's length and characters, every resource carries the
//! ownership tags, the task role never gets `Resource: "*"`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use operator::desired::chatbot::{self, ChatbotDesired};
use operator::desired::platform::{self, PlatformDesired};
use operator::desired::{MANAGED_BY, TAG_MANAGED_BY, TAG_OWNER, Tags};
use operator::manifest::{self, Manifests};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// A string strategy from a regular expression, compiled once (a `&str` strategy
/// compiles its expression again for every value).
fn re(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Loads `text`; a rejection must be a list of problems that each say something.
fn load(text: &str) -> Result<Option<Manifests>, TestCaseError> {
    match manifest::load_str(Path::new("prop.yaml"), text) {
        Ok(manifests) => Ok(Some(manifests)),
        Err(problems) => {
            prop_assert!(!problems.0.is_empty());
            for problem in &problems.0 {
                prop_assert!(!problem.to_string().trim().is_empty(), "{problems}");
            }
            Ok(None)
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing

#[test]
fn arbitrary_bytes_never_panic() {
    runner(256)
        .run(&proptest::collection::vec(any::<u8>(), 0..2048), |bytes| {
            load(&String::from_utf8_lossy(&bytes)).map(|_| ())
        })
        .unwrap();
}

/// Strings made of YAML's syntax and the manifests' own words.
fn yaml_ish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("apiVersion: bedrock-chatbot.dev/v1alpha1\n".to_string()),
        Just("kind: ChatbotPlatform\n".to_string()),
        Just("kind: BedrockChatbot\n".to_string()),
        Just("metadata:\n  name: ".to_string()),
        Just("spec:\n".to_string()),
        Just("  ".to_string()),
        Just("\n".to_string()),
        Just("---\n".to_string()),
        Just("- ".to_string()),
        Just(": ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: *a\n".to_string()),
        Just("!!binary ".to_string()),
        Just("!Custom ".to_string()),
        Just("? ".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(", ".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("|\n".to_string()),
        Just("~".to_string()),
        Just(".nan".to_string()),
        Just("1e999".to_string()),
        Just("-0x1F".to_string()),
        Just("# comment\n".to_string()),
        re("[a-zA-Z0-9.-]{1,12}"),
        re("\\PC{1,4}"),
    ];
    proptest::collection::vec(token, 0..80).prop_map(|tokens| tokens.concat())
}

#[test]
fn yaml_ish_text_never_panics() {
    runner(256)
        .run(&yaml_ish(), |text| load(&text).map(|_| ()))
        .unwrap();
}

const CERTIFICATE: &str =
    "arn:aws:acm:us-west-2:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef";

fn valid_documents() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "bedrock-chatbot.dev/v1alpha1",
            "kind": "ChatbotPlatform",
            "metadata": { "name": "shared" },
            "spec": {
                "region": "us-west-2",
                "network": { "managed": { "vpcCidr": "10.0.0.0/16", "natGateways": "Single" } },
                "loadBalancer": { "certificateArn": CERTIFICATE, "ingressCidrs": ["0.0.0.0/0"] },
                "ecrRepository": { "name": "chatbots" },
                "tags": { "cost-center": "42" }
            }
        }),
        json!({
            "apiVersion": "bedrock-chatbot.dev/v1alpha1",
            "kind": "BedrockChatbot",
            "metadata": { "name": "assistant", "namespace": "team-a" },
            "spec": {
                "platformRef": { "name": "shared" },
                "hostname": "chat.team-a.example.com",
                "model": { "temperature": 0.5, "systemPrompt": "Be brief." },
                "cognito": { "domainPrefix": "team-a-chat" },
                "task": { "cpu": 1024, "memory": 2048, "desiredCount": 2 },
                "scaling": { "minCapacity": 1, "maxCapacity": 4 },
                "tags": { "team": "a" }
            }
        }),
    ]
}

/// JSON pointers of every value in `value`, containers included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A JSON value as a hostile user might write it.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(i64::from(i32::MAX) + 1),
            Just(50_001)
        ]
        .prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        re("\\PC{0,24}").prop_map(Value::from),
        re(".{0,8}").prop_map(Value::from),
        Just(Value::from("x".repeat(70_000))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(re("[a-zA-Z]{1,8}"), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Put a value where another was.
    Replace(Index, Value),
    /// Drop a field or an item.
    Remove(Index),
    /// Add a field next to another one.
    Add(Index, String, Value),
    /// Cut the YAML text short.
    Truncate(Index),
    /// Put text into the YAML text.
    Splice(Index, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        1 => (any::<Index>(), re("[a-zA-Z]{1,10}"), any_json()).prop_map(|(i, k, v)| Mutation::Add(i, k, v)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), prop_oneof![Just("\n".to_string()), Just(": ".to_string()), Just("- ".to_string()), Just("\t".to_string()), re("\\PC{1,6}")])
            .prop_map(|(i, s)| Mutation::Splice(i, s)),
    ]
}

fn mutate(documents: &mut [Value], text: &mut String, mutation: &Mutation) {
    let mut all = Vec::new();
    for (d, document) in documents.iter().enumerate() {
        let mut found = Vec::new();
        pointers(document, String::new(), &mut found);
        all.extend(found.into_iter().filter(|p| !p.is_empty()).map(|p| (d, p)));
    }
    let (document, pointer) = match mutation {
        Mutation::Replace(i, _) | Mutation::Remove(i) | Mutation::Add(i, _, _) => {
            all[i.index(all.len())].clone()
        }
        Mutation::Truncate(i) => {
            let cut = i.index(text.len() + 1);
            let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap();
            text.truncate(cut);
            return;
        }
        Mutation::Splice(i, s) => {
            let at = i.index(text.len() + 1);
            let at = (0..=at).rev().find(|c| text.is_char_boundary(*c)).unwrap();
            text.insert_str(at, s);
            return;
        }
    };
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = documents[document].pointer_mut(parent).unwrap();
    match (mutation, parent) {
        (Mutation::Replace(_, value), Value::Object(map)) => {
            map.insert(key.into(), value.clone());
        }
        (Mutation::Replace(_, value), Value::Array(items)) => {
            items[key.parse::<usize>().unwrap()] = value.clone();
        }
        (Mutation::Remove(_), Value::Object(map)) => {
            map.remove(key);
        }
        (Mutation::Remove(_), Value::Array(items)) => {
            items.remove(key.parse::<usize>().unwrap());
        }
        (Mutation::Add(_, new, value), Value::Object(map)) => {
            map.insert(new.clone(), value.clone());
        }
        (Mutation::Add(_, _, value), Value::Array(items)) => items.push(value.clone()),
        _ => {}
    }
}

fn to_yaml(documents: &[Value]) -> String {
    documents
        .iter()
        .map(|d| serde_norway::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn mutated_valid_manifests_never_panic_and_what_is_admitted_stays_in_limits() {
    let admitted = AtomicUsize::new(0);
    let strategy = (proptest::collection::vec(mutation(), 1..3), any::<bool>());
    runner(256)
        .run(&strategy, |(mutations, twice)| {
            let mut documents = valid_documents();
            if twice {
                // A second team, so hostnames and prefixes can clash.
                let mut other = documents[1].clone();
                other["metadata"]["namespace"] = json!("team-b");
                other["spec"]["hostname"] = json!("chat.team-b.example.com");
                other["spec"]["cognito"]["domainPrefix"] = json!("team-b-chat");
                documents.push(other);
            }
            // Changes to the objects first, then to their text.
            let (textual, structural): (Vec<&Mutation>, Vec<&Mutation>) = mutations
                .iter()
                .partition(|m| matches!(m, Mutation::Truncate(_) | Mutation::Splice(..)));
            let mut text = String::new();
            for m in structural {
                mutate(&mut documents, &mut text, m);
            }
            text = to_yaml(&documents);
            for m in textual {
                mutate(&mut documents, &mut text, m);
            }
            if let Some(manifests) = load(&text)? {
                admitted.fetch_add(1, Ordering::Relaxed);
                check_all(&manifests)?;
            }
            Ok(())
        })
        .unwrap();
    // Mutations often leave a manifest valid (a changed tag, a removed default):
    // those exercise the desired state too.
    let admitted = admitted.into_inner();
    eprintln!("{admitted} mutated manifests admitted");
    assert!(admitted >= 5, "{admitted}");
}

// ---------------------------------------------------------------------------
// Desired state

/// A DNS label of 1 to 63 characters, long ones as often as short ones (where
/// limits bite).
fn dns_label() -> impl Strategy<Value = String> {
    prop_oneof![
        re("[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"),
        re("[a-z0-9][a-z0-9-]{40,61}[a-z0-9]"),
    ]
}

/// A Kubernetes name: a DNS subdomain of up to 253 characters.
fn object_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(dns_label(), 1..5)
        .prop_map(|labels| labels.join("."))
        .prop_filter("at most 253 characters", |n| n.len() <= 253)
}

fn hostname() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(dns_label(), 1..3),
        re("[a-z]([a-z0-9-]{0,10}[a-z0-9])?"),
    )
        .prop_map(|(labels, top)| format!("{}.{top}", labels.join(".")))
        .prop_filter("at most 253 characters", |h| h.len() <= 253)
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("us-west-2".to_string()),
        Just("us-east-1".to_string()),
        Just("eu-central-1".to_string()),
        Just("ap-southeast-2".to_string()),
        Just("us-gov-west-1".to_string()),
        Just("cn-north-1".to_string()),
        re("[a-z]{2}-[a-z]{1,12}-[0-9]"),
    ]
}

/// Tags AWS accepts: letters and digits of any script, spaces and `_.:/=+@-`. (The
/// CEL library of the file mode counts a string's size in bytes where Kubernetes
/// counts characters, so non-ASCII ones are kept short enough for both.)
fn tags() -> impl Strategy<Value = Value> {
    let few = proptest::collection::btree_map(
        re("[\\p{L}\\p{N} _.:/=+@-]{1,32}"),
        re("[\\p{L}\\p{N} _.:/=+@-]{0,64}"),
        0..4,
    );
    let many_long = proptest::collection::btree_map(
        re("[a-zA-Z0-9 _.:/=+@-]{100,128}"),
        re("[a-zA-Z0-9 _.:/=+@-]{200,256}"),
        38..41,
    );
    prop_oneof![4 => few, 1 => many_long].prop_map(|tags| {
        Value::Object(
            tags.into_iter()
                .filter(|(k, _)| !k.starts_with("aws:") && !k.starts_with("bedrock-chatbot.dev/"))
                .map(|(k, v)| (k, Value::from(v)))
                .collect(),
        )
    })
}

fn platform_document() -> impl Strategy<Value = Value> {
    let network = prop_oneof![
        (
            proptest::sample::select(vec!["PerZone", "Single", "None"]),
            2usize..=6,
            proptest::collection::vec(re("[a-z]"), 6)
        )
            .prop_map(|(nat, zones, letters)| {
                json!({ "managed": {
                    "natGateways": nat,
                    "zoneLetters": letters[..zones].to_vec(),
                } })
            }),
        (1usize..=3).prop_map(|n| {
            let ids = |from: usize| {
                (from..from + n + 1)
                    .map(|i| format!("subnet-{i:08x}"))
                    .collect::<Vec<_>>()
            };
            json!({ "existing": {
                "vpcId": "vpc-0123456789abcdef0",
                "publicSubnetIds": ids(1),
                "privateSubnetIds": ids(100),
            } })
        }),
    ];
    (
        object_name(),
        region(),
        network,
        proptest::option::of(re("[a-z0-9]{1,60}(/[a-z0-9]{1,60}){0,3}")),
        tags(),
        any::<bool>(),
    )
        .prop_map(|(name, region, mut network, ecr, tags, retain)| {
            if let Some(letters) = network["managed"].get("zoneLetters").cloned() {
                let letters: Vec<String> = serde_json::from_value(letters).unwrap();
                let mut seen = std::collections::BTreeSet::new();
                let zones: Vec<String> = letters
                    .iter()
                    .map(|l| format!("{region}{l}"))
                    .filter(|z| seen.insert(z.clone()))
                    .collect();
                let count = zones.len().max(2);
                let zones = if zones.len() >= 2 { zones } else { Vec::new() };
                let managed = network["managed"].as_object_mut().unwrap();
                managed.remove("zoneLetters");
                managed.insert("availabilityZones".into(), json!(zones));
                managed.insert(
                    "publicSubnetCidrs".into(),
                    json!((0..count).map(|i| format!("10.0.{}.0/24", i + 1)).collect::<Vec<_>>()),
                );
                managed.insert(
                    "privateSubnetCidrs".into(),
                    json!((0..count).map(|i| format!("10.0.{}.0/24", i + 11)).collect::<Vec<_>>()),
                );
            }
            let mut spec = json!({
                "region": region,
                "network": network,
                "loadBalancer": {
                    "certificateArn": format!("arn:aws:acm:{region}:123456789012:certificate/01234567-89ab-cdef-0123-456789abcdef"),
                },
                "tags": tags,
                "deletionPolicy": if retain { "Retain" } else { "Delete" },
            });
            if let Some(ecr) = ecr {
                spec["ecrRepository"] = json!({ "name": ecr });
            }
            json!({
                "apiVersion": "bedrock-chatbot.dev/v1alpha1",
                "kind": "ChatbotPlatform",
                "metadata": { "name": name },
                "spec": spec,
            })
        })
}

const FARGATE_SIZES: [(i32, i32); 6] = [
    (256, 512),
    (512, 1024),
    (1024, 8192),
    (2048, 4096),
    (4096, 30720),
    (16384, 122880),
];

fn chatbot_document(platform: String) -> impl Strategy<Value = Value> {
    let model = (
        prop_oneof![
            Just("us.anthropic.claude-sonnet-4-20250514-v1:0".to_string()),
            Just("anthropic.claude-3-haiku-20240307-v1:0".to_string()),
            re("((us|us-gov|eu|apac|jp|au|ca|global)\\.)?[a-z0-9-]{1,20}\\.[A-Za-z0-9_:-]{1,60}"),
        ],
        proptest::collection::btree_set(re("[a-z]{2}-[a-z]{1,8}-[0-9]"), 0..4),
        0.0f64..=1.0,
        1i32..=64000,
        proptest::option::of(re("[\\PC\t\n]{0,400}")),
    );
    let task = (
        proptest::sample::select(FARGATE_SIZES.to_vec()),
        0i32..=100,
        proptest::option::of((0i32..=100, 0i32..=100)),
        re("/[!-~]{0,60}"),
    );
    (
        dns_label(),
        object_name(),
        hostname(),
        model,
        task,
        proptest::option::of(dns_label()),
        proptest::option::of(re("[a-zA-Z0-9./:_@#-]{1,255}")),
        tags(),
        proptest::option::of(2i32..=50000),
    )
        .prop_map(
            move |(
                namespace,
                name,
                hostname,
                (id, regions, temperature, max_tokens, prompt),
                ((cpu, memory), desired, scaling, health),
                prefix,
                image,
                tags,
                priority,
            )| {
                let mut spec = json!({
                    "platformRef": { "name": platform },
                    "hostname": hostname,
                    "model": {
                        "id": id,
                        "inferenceRegions": regions,
                        "temperature": temperature,
                        "maxTokens": max_tokens,
                        "systemPrompt": prompt,
                    },
                    "task": {
                        "cpu": cpu,
                        "memory": memory,
                        "desiredCount": desired,
                        "healthCheckPath": health,
                    },
                    "tags": tags,
                });
                if let Some((a, b)) = scaling {
                    let (low, high) = (a.min(b).min(desired), a.max(b).max(desired).max(1));
                    spec["scaling"] = json!({ "minCapacity": low, "maxCapacity": high });
                }
                if let Some(prefix) = prefix.filter(|p| {
                    !p.contains("aws") && !p.contains("amazon") && !p.contains("cognito")
                }) {
                    spec["cognito"] = json!({ "domainPrefix": prefix });
                }
                if let Some(image) = image {
                    spec["image"] = json!(image);
                }
                if let Some(priority) = priority {
                    spec["listenerRulePriority"] = json!(priority);
                }
                json!({
                    "apiVersion": "bedrock-chatbot.dev/v1alpha1",
                    "kind": "BedrockChatbot",
                    "metadata": { "name": name, "namespace": namespace },
                    "spec": spec,
                })
            },
        )
}

fn platform_and_chatbot() -> impl Strategy<Value = (Value, Value)> {
    platform_document().prop_flat_map(|platform| {
        let name = platform["metadata"]["name"].as_str().unwrap().to_string();
        (Just(platform), chatbot_document(name))
    })
}

#[test]
fn any_admitted_spec_has_a_desired_state_within_aws_limits() {
    let admitted = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    runner(192)
        .run(&platform_and_chatbot(), |(platform, chatbot)| {
            total.fetch_add(1, Ordering::Relaxed);
            if let Some(manifests) = load(&to_yaml(&[platform, chatbot]))? {
                admitted.fetch_add(1, Ordering::Relaxed);
                check_all(&manifests)?;
            }
            Ok(())
        })
        .unwrap();
    // The generator stays inside the schema, so nearly everything is admitted; what
    // is not is refused by the checks the schema cannot express (names too long
    // for their tags, hostnames too long for a rule, characters ECS refuses).
    let (admitted, total) = (admitted.into_inner(), total.into_inner());
    eprintln!("{admitted} of {total} generated specs admitted");
    assert!(admitted * 2 > total, "only {admitted} of {total} admitted");
}

// ---------------------------------------------------------------------------
// Invariants

fn check_all(manifests: &Manifests) -> Result<(), TestCaseError> {
    for located in &manifests.platforms {
        let platform = platform::desired(&located.object, "123456789012");
        check_platform(&platform)?;
        let name = located.object.metadata.name.as_deref();
        for chatbot in manifests
            .chatbots
            .iter()
            .filter(|c| Some(c.object.spec.platform_ref.name.as_str()) == name)
        {
            check_chatbot(&chatbot::desired(&chatbot.object, &platform))?;
        }
    }
    Ok(())
}

fn fits(
    what: &str,
    name: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), TestCaseError> {
    prop_assert!(!name.is_empty(), "{what} is empty");
    prop_assert!(
        name.len() <= max,
        "{what} {name:?} has {} characters, more than {max}",
        name.len()
    );
    prop_assert!(
        name.chars().all(allowed),
        "{what} {name:?} has a character AWS refuses"
    );
    Ok(())
}

fn hyphens(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn hyphens_underscores(c: char) -> bool {
    hyphens(c) || c == '_'
}

fn iam(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// AWS tags: at most 50 per resource (the operator adds a component key and a
/// `Name`), keys up to 128 and values up to 256 characters, and the ownership tags.
fn tagged(tags: &Tags, owner: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        tags.get(TAG_MANAGED_BY).map(String::as_str),
        Some(MANAGED_BY)
    );
    prop_assert_eq!(tags.get(TAG_OWNER).map(String::as_str), Some(owner));
    prop_assert!(tags.len() + 2 <= 50, "{} tags", tags.len());
    for (key, value) in tags {
        prop_assert!(
            !key.is_empty() && key.chars().count() <= 128,
            "tag key {key:?}"
        );
        prop_assert!(value.chars().count() <= 256, "tag {key} = {value:?}");
    }
    Ok(())
}

/// Every `name` in the serialized desired state of a platform (its EC2 resources'
/// `Name` tags included) fits a tag value.
fn names_fit_tags(desired: &impl serde::Serialize) -> Result<(), TestCaseError> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("name", Value::String(name)) => out.push(name.clone()),
                        _ => walk(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    walk(&serde_json::to_value(desired).unwrap(), &mut names);
    for name in names {
        prop_assert!(
            name.chars().count() <= 256,
            "name {name:?} is too long for a Name tag"
        );
    }
    Ok(())
}

fn check_platform(desired: &PlatformDesired) -> Result<(), TestCaseError> {
    tagged(&desired.tags, &desired.owner.to_string())?;
    names_fit_tags(desired)?;
    let lb = &desired.load_balancer.name;
    fits("load balancer", lb, 32, hyphens)?;
    prop_assert!(!lb.starts_with('-') && !lb.ends_with('-') && !lb.starts_with("internal-"));
    fits(
        "ECS cluster",
        &desired.cluster.name,
        255,
        hyphens_underscores,
    )?;
    fits("execution role", &desired.execution_role.name, 64, iam)?;
    for group in &desired.security_groups {
        fits("security group", &group.name, 255, |c| c.is_ascii_graphic())?;
        prop_assert!(!group.name.starts_with("sg-"), "{}", group.name);
    }
    Ok(())
}

fn check_chatbot(desired: &ChatbotDesired) -> Result<(), TestCaseError> {
    tagged(&desired.tags, &desired.owner.to_string())?;
    let tg = &desired.target_group.name;
    fits("target group", tg, 32, hyphens)?;
    prop_assert!(!tg.starts_with('-') && !tg.ends_with('-'), "{tg}");
    let pool_name = |c: char| c.is_alphanumeric() || c.is_whitespace() || "+=,.@_-".contains(c);
    fits("user pool", &desired.user_pool.name, 128, pool_name)?;
    fits(
        "user pool client",
        &desired.user_pool_client.name,
        128,
        pool_name,
    )?;
    let prefix = &desired.user_pool_domain.prefix;
    fits("Cognito domain prefix", prefix, 63, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })?;
    prop_assert!(
        !prefix.starts_with('-') && !prefix.ends_with('-'),
        "{prefix}"
    );
    for word in ["aws", "amazon", "cognito"] {
        prop_assert!(!prefix.contains(word), "{prefix}");
    }
    for url in &desired.user_pool_client.callback_urls {
        prop_assert!(url.len() <= 1024);
    }
    fits("task role", &desired.task_role.name, 64, iam)?;
    fits("log group", &desired.log_group.name, 512, |c| {
        c.is_ascii_alphanumeric() || "._-/#".contains(c)
    })?;
    fits(
        "task definition family",
        &desired.task_definition.family,
        255,
        hyphens_underscores,
    )?;
    fits(
        "ECS service",
        &desired.service.name,
        255,
        hyphens_underscores,
    )?;
    if let Some(scaling) = &desired.scaling {
        fits(
            "scaling policy",
            &scaling.policy_name,
            256,
            hyphens_underscores,
        )?;
    }
    let host = desired.listener_rule.condition.value();
    prop_assert!(host.len() <= 128, "host-header value {host:?}");
    fits(
        "image",
        &desired.task_definition.container.image,
        255,
        |c| c.is_ascii_alphanumeric() || "-_:./#@".contains(c),
    )?;
    let size = serde_json::to_vec(&desired.task_definition).unwrap().len();
    prop_assert!(size < 64 * 1024, "task definition of {size} bytes");
    // Least privilege: the task role names its model, never everything. A
    // wildcard stands only for a foundation model's region, in a statement whose
    // condition names the one inference profile the request must come through.
    prop_assert!(!desired.task_role.inline_policies.is_empty());
    for (name, policy) in &desired.task_role.inline_policies {
        if name == "history-table" {
            history_policy_is_its_table_only(desired, policy)?;
            continue;
        }
        if name == "attachments" {
            attachments_policy_is_its_prefix_only(desired, policy)?;
            continue;
        }
        prop_assert_eq!(name, "bedrock-invoke");
        for statement in &policy.statement {
            prop_assert!(!statement.resource.is_empty());
            let profile = statement
                .condition
                .as_ref()
                .and_then(|c| c["StringEquals"]["bedrock:InferenceProfileArn"].as_str());
            for resource in &statement.resource {
                prop_assert!(resource != "*", "Resource {resource:?}");
                if !resource.contains(['*', '?']) {
                    continue;
                }
                let region_wildcard = resource
                    .split_once(":bedrock:*::foundation-model/")
                    .is_some_and(|(partition, model)| {
                        partition.starts_with("arn:aws")
                            && !partition.contains(['*', '?'])
                            && !model.contains(['*', '?'])
                    });
                prop_assert!(region_wildcard, "Resource {resource:?}");
                prop_assert!(
                    profile.is_some_and(
                        |p| p.contains(":inference-profile/") && !p.contains(['*', '?'])
                    ),
                    "Resource {resource:?} without a condition naming its inference profile: {:?}",
                    statement.condition
                );
            }
            for action in &statement.action {
                prop_assert!(
                    operator::desired::iam::BEDROCK_INVOKE_ACTIONS.contains(&action.as_str()),
                    "action {action}"
                );
            }
        }
    }
    Ok(())
}

/// The history policy: the app's item actions on its own table (named without
/// wildcards, within DynamoDB's limits) and that table's indexes, nothing else.
/// The task role's files: three object actions under the chatbot's own prefix of a
/// bucket whose name S3 accepts, the one wildcard the prefix's end.
fn attachments_policy_is_its_prefix_only(
    desired: &ChatbotDesired,
    policy: &operator::desired::iam::PolicyDocument,
) -> Result<(), TestCaseError> {
    let files = desired.attachments.as_ref();
    prop_assert!(files.is_some(), "an attachments policy without attachments");
    let Some(files) = files else { return Ok(()) };
    let bucket = &files.bucket;
    prop_assert!((3..=63).contains(&bucket.len()), "bucket {bucket}");
    fits("bucket", bucket, 63, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })?;
    prop_assert!(
        !bucket.starts_with('-') && !bucket.ends_with('-'),
        "bucket {bucket}"
    );
    prop_assert!(
        files.prefix.ends_with('/') && files.prefix.matches('/').count() == 2,
        "prefix {}",
        files.prefix
    );
    prop_assert!(
        files.prefix.len() <= bedrock_chatbot::config::MAX_ATTACHMENTS_PREFIX_BYTES,
        "prefix {}",
        files.prefix
    );
    prop_assert_eq!(policy.statement.len(), 1);
    let statement = &policy.statement[0];
    let arn = format!("arn:aws:s3:::{bucket}/{}*", files.prefix);
    prop_assert!(
        statement.resource.len() == 1 && statement.resource[0].ends_with(&arn[7..]),
        "{:?}",
        statement.resource
    );
    prop_assert!(
        !statement.resource[0]
            .trim_end_matches('*')
            .contains(['*', '?'])
    );
    prop_assert!(statement.condition.is_none());
    for action in &statement.action {
        prop_assert!(
            operator::desired::iam::ATTACHMENT_ACTIONS.contains(&action.as_str()),
            "action {action}"
        );
    }
    Ok(())
}

fn history_policy_is_its_table_only(
    desired: &ChatbotDesired,
    policy: &operator::desired::iam::PolicyDocument,
) -> Result<(), TestCaseError> {
    let table = desired.history_table.as_ref();
    prop_assert!(table.is_some(), "a history policy without a history table");
    let Some(table) = table else { return Ok(()) };
    fits("history table", &table.name, 255, |c| {
        c.is_ascii_alphanumeric() || "-_.".contains(c)
    })?;
    prop_assert!(table.name.len() >= 3);
    let arn = table.arn(&desired.environment);
    prop_assert!(!arn.contains(['*', '?']), "table ARN {arn}");
    prop_assert_eq!(policy.statement.len(), 1);
    let statement = &policy.statement[0];
    prop_assert_eq!(
        &statement.resource,
        &vec![arn.clone(), format!("{arn}/index/*")]
    );
    prop_assert!(statement.condition.is_none());
    for action in &statement.action {
        prop_assert!(
            bedrock_chatbot::history_table::ITEM_ACTIONS.contains(&action.as_str()),
            "action {action}"
        );
    }
    Ok(())
}
