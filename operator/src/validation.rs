//! Checks the CRD schema and CEL cannot express: overlapping subnets, duplicate
//! zones, and rules across objects (a hostname taken by another team, a platform
//! that does not exist, a listener out of rule slots). The file mode runs them over
//! the manifests it is given; the in-cluster controller over its caches.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bedrock_chatbot_crds::{
    BedrockChatbot, ChatbotPlatform, ExistingNetwork, ManagedNetwork, ModelSpec,
};
use ipnet::Ipv4Net;

use crate::desired::Environment;
use crate::desired::iam::ModelId;
use crate::desired::naming::cognito_domain_prefix;

/// One thing wrong with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// Dotted path of the field (`spec.model.temperature`), empty for the whole object.
    pub field: String,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// `text` quoted for a message, cut to its first 64 characters when longer, so that a
/// hostile megabyte-long value cannot flood the terminal or the object's status.
pub fn excerpt(text: &str) -> String {
    const SHOWN: usize = 64;
    let count = text.chars().count();
    if count <= SHOWN {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("{head:?}… ({count} characters)")
    }
}

/// Rules per listener an ALB allows by default (the default action not counted);
/// every chatbot takes one.
pub const LISTENER_RULE_BUDGET: usize = 100;

/// Longest `ChatbotPlatform` name whose derived AWS names and tags fit: the owner
/// tag `ChatbotPlatform/<name>` and the `Name` tags such as
/// `bcb-<name>-private-subnet-a` hold at most 256 characters.
pub const PLATFORM_NAME_MAX: usize = 235;

/// Longest `<namespace>` + `<name>` of a `BedrockChatbot`: its owner tag
/// `BedrockChatbot/<namespace>/<name>` holds at most 256 characters.
pub const CHATBOT_NAMESPACE_AND_NAME_MAX: usize = 240;

/// Longest hostname an ALB host-header condition matches.
pub const HOSTNAME_MAX: usize = 128;

/// Longest image reference ECS takes in a container definition.
pub const IMAGE_MAX: usize = 255;

/// Most bytes (UTF-8) of a system prompt: it travels as an environment variable in
/// the task definition, and ECS refuses task definitions over 64 KiB.
pub const SYSTEM_PROMPT_MAX_BYTES: usize = 48 * 1024;

/// Problems of one platform on its own.
pub fn check_platform(platform: &ChatbotPlatform) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let name = platform.metadata.name.as_deref().unwrap_or_default();
    if name.len() > PLATFORM_NAME_MAX {
        problems.push(FieldProblem::new(
            "metadata.name",
            format!(
                "is {} characters; a ChatbotPlatform name may have at most {PLATFORM_NAME_MAX}, because AWS tags derived from it (ChatbotPlatform/<name>, bcb-<name>-private-subnet-a) hold at most 256",
                name.len()
            ),
        ));
    }
    if let Some(managed) = &platform.spec.network.managed {
        check_managed_network(managed, &mut problems);
    }
    if let Some(existing) = &platform.spec.network.existing {
        check_existing_network(existing, &mut problems);
    }
    problems
}

/// A network the operator makes: each zone once, no two subnets overlapping.
fn check_managed_network(managed: &ManagedNetwork, problems: &mut Vec<FieldProblem>) {
    let field = "spec.network.managed";
    if let Some(zone) = first_duplicate(&managed.availability_zones) {
        problems.push(FieldProblem::new(
            format!("{field}.availabilityZones"),
            format!("{zone} is listed twice; each zone gets one public and one private subnet"),
        ));
    }
    let subnets: Vec<(String, Ipv4Net)> = [
        ("publicSubnetCidrs", &managed.public_subnet_cidrs),
        ("privateSubnetCidrs", &managed.private_subnet_cidrs),
    ]
    .into_iter()
    .flat_map(|(list, cidrs)| {
        cidrs.iter().enumerate().filter_map(move |(i, cidr)| {
            cidr.parse::<Ipv4Net>()
                .ok()
                .map(|net| (format!("{field}.{list}[{i}]"), net))
        })
    })
    .collect();
    for (i, (path_a, a)) in subnets.iter().enumerate() {
        for (path_b, b) in &subnets[i + 1..] {
            if a.contains(&b.network()) || b.contains(&a.network()) {
                problems.push(FieldProblem::new(
                    path_b.clone(),
                    format!("{b} overlaps {a} ({path_a}); subnets of a VPC must not overlap"),
                ));
            }
        }
    }
}

/// A network the platform is given: each subnet once, public or private.
fn check_existing_network(existing: &ExistingNetwork, problems: &mut Vec<FieldProblem>) {
    let all: Vec<&String> = existing
        .public_subnet_ids
        .iter()
        .chain(&existing.private_subnet_ids)
        .collect();
    if let Some(id) = first_duplicate(&all) {
        problems.push(FieldProblem::new(
            "spec.network.existing",
            format!("subnet {id} is listed twice; public and private subnets must be distinct"),
        ));
    }
}

/// Problems of one chatbot on its own.
pub fn check_chatbot(chatbot: &BedrockChatbot) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let spec = &chatbot.spec;
    check_owner_tag_fits(chatbot, &mut problems);
    check_hostname(&spec.hostname, &mut problems);
    check_image(&spec.image, &mut problems);
    check_health_check_path(&spec.task.health_check_path, &mut problems);
    if let Some(prompt) = &spec.model.system_prompt {
        check_system_prompt(prompt, &mut problems);
    }
    check_inference_regions(&spec.model, &mut problems);
    problems
}

/// The owner tag `BedrockChatbot/<namespace>/<name>` fits in an AWS tag value.
fn check_owner_tag_fits(chatbot: &BedrockChatbot, problems: &mut Vec<FieldProblem>) {
    let namespace = chatbot.metadata.namespace.as_deref().unwrap_or("default");
    let name = chatbot.metadata.name.as_deref().unwrap_or_default();
    if namespace.len() + name.len() > CHATBOT_NAMESPACE_AND_NAME_MAX {
        problems.push(FieldProblem::new(
            "metadata.name",
            format!(
                "namespace and name have {} characters together; at most {CHATBOT_NAMESPACE_AND_NAME_MAX} fit the owner tag BedrockChatbot/<namespace>/<name>, which AWS limits to 256",
                namespace.len() + name.len()
            ),
        ));
    }
}

/// The hostname fits in the load balancer's host-header rule.
fn check_hostname(hostname: &str, problems: &mut Vec<FieldProblem>) {
    if hostname.len() > HOSTNAME_MAX {
        problems.push(FieldProblem::new(
            "spec.hostname",
            format!(
                "is {} characters; the load balancer's host-header rule matches at most {HOSTNAME_MAX}",
                hostname.len()
            ),
        ));
    }
}

/// The image reference is one ECS takes: short enough, of the characters it allows.
fn check_image(image: &str, problems: &mut Vec<FieldProblem>) {
    if image.len() > IMAGE_MAX {
        problems.push(FieldProblem::new(
            "spec.image",
            format!(
                "is {} characters; ECS takes image references of at most {IMAGE_MAX}",
                image.len()
            ),
        ));
    } else if let Some(c) = image
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_:./#@".contains(*c)))
    {
        problems.push(FieldProblem::new(
            "spec.image",
            format!(
                "contains {c:?}; ECS image references hold only ASCII letters, digits and - _ : . / # @"
            ),
        ));
    }
}

/// The health check path is printable ASCII, as the load balancer requires.
fn check_health_check_path(path: &str, problems: &mut Vec<FieldProblem>) {
    if let Some(c) = path.chars().find(|c| !c.is_ascii_graphic()) {
        problems.push(FieldProblem::new(
            "spec.task.healthCheckPath",
            format!(
                "contains {c:?}; the load balancer's health check path must be printable ASCII (percent-encode the rest)"
            ),
        ));
    }
}

/// The system prompt fits in the task definition as an environment variable.
fn check_system_prompt(prompt: &str, problems: &mut Vec<FieldProblem>) {
    if prompt.len() > SYSTEM_PROMPT_MAX_BYTES {
        problems.push(FieldProblem::new(
            "spec.model.systemPrompt",
            format!(
                "is {} bytes in UTF-8; at most {SYSTEM_PROMPT_MAX_BYTES} fit in the task definition (ECS limits it to 64 KiB)",
                prompt.len()
            ),
        ));
    }
    if let Some(c) = prompt
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        problems.push(FieldProblem::new(
            "spec.model.systemPrompt",
            format!(
                "contains the control character {c:?}; only tabs and line breaks are allowed (it is passed as an environment variable)"
            ),
        ));
    }
}

/// No inference region listed twice, for the model or any alternative.
fn check_inference_regions(model: &ModelSpec, problems: &mut Vec<FieldProblem>) {
    if let Some(region) = first_duplicate(&model.inference_regions) {
        problems.push(FieldProblem::new(
            "spec.model.inferenceRegions",
            format!("{region} is listed twice"),
        ));
    }
    for (i, alternative) in model.alternatives.iter().enumerate() {
        if let Some(region) = first_duplicate(&alternative.inference_regions) {
            problems.push(FieldProblem::new(
                format!("spec.model.alternatives[{i}].inferenceRegions"),
                format!("{region} is listed twice"),
            ));
        }
    }
}

/// The object a [`SetProblem`] belongs to, by position in the slices given to
/// [`check_set`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// `platforms[i]`.
    Platform(usize),
    /// `chatbots[i]`.
    Chatbot(usize),
}

/// A problem found only by looking at several objects together, attached to the
/// object that has to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetProblem {
    /// The object that has to change for the problem to go away.
    pub subject: Subject,
    /// Its field at fault, and what is wrong across the objects.
    pub problem: FieldProblem,
}

/// The field of a chatbot whose platform is not in the set.
pub const PLATFORM_REF_FIELD: &str = "spec.platformRef.name";

/// Problems across a set of platforms and chatbots: references to platforms that
/// are not there, hostnames, sign-in domains and rule priorities used twice,
/// listeners with more chatbots than rule slots, and inference profiles of another
/// partition than their platform's.
pub fn check_set(platforms: &[&ChatbotPlatform], chatbots: &[&BedrockChatbot]) -> Vec<SetProblem> {
    let mut problems = Vec::new();
    let platform_names: BTreeMap<&str, (usize, &ChatbotPlatform)> = platforms
        .iter()
        .enumerate()
        .map(|(i, p)| (p.metadata.name.as_deref().unwrap_or_default(), (i, *p)))
        .collect();
    let mut taken = Taken::default();
    let mut per_platform: BTreeMap<usize, usize> = BTreeMap::new();
    for (index, chatbot) in chatbots.iter().enumerate() {
        let mut found = Vec::new();
        let platform_name = chatbot.spec.platform_ref.name.as_str();
        match platform_names.get(platform_name) {
            None => found.push(FieldProblem::new(
                PLATFORM_REF_FIELD,
                format!(
                    "ChatbotPlatform {platform_name:?} does not exist; create it first or fix the name"
                ),
            )),
            Some(&(platform_index, platform)) => {
                *per_platform.entry(platform_index).or_default() += 1;
                check_profile_partitions(chatbot, platform, &mut found);
                taken.take(chatbot, platform, &mut found);
            }
        }
        problems.extend(found.into_iter().map(|problem| SetProblem {
            subject: Subject::Chatbot(index),
            problem,
        }));
    }
    problems.extend(listeners_out_of_slots(&per_platform));
    problems
}

/// The inference profiles of a chatbot's models that do not exist in its
/// platform's partition.
fn check_profile_partitions(
    chatbot: &BedrockChatbot,
    platform: &ChatbotPlatform,
    problems: &mut Vec<FieldProblem>,
) {
    let model = &chatbot.spec.model;
    let platform_name = chatbot.spec.platform_ref.name.as_str();
    let region = &platform.spec.region;
    if let Some(message) = profile_outside_its_partition(&model.id, platform_name, region) {
        problems.push(FieldProblem::new("spec.model.id", message));
    }
    for (i, alternative) in model.alternatives.iter().enumerate() {
        if let Some(message) = profile_outside_its_partition(&alternative.id, platform_name, region)
        {
            problems.push(FieldProblem::new(
                format!("spec.model.alternatives[{i}].id"),
                message,
            ));
        }
    }
}

/// What the chatbots checked so far have taken that no other may, each with the
/// `namespace/name` of the first to take it.
#[derive(Debug, Default)]
struct Taken<'a> {
    /// Hostnames: each chatbot needs its own.
    hostnames: BTreeMap<&'a str, String>,
    /// Cognito domain prefixes, by region: unique within a region.
    domain_prefixes: BTreeMap<(String, String), String>,
    /// Listener rule priorities, by platform: unique on a platform's listener.
    priorities: BTreeMap<(&'a str, i32), String>,
}

impl<'a> Taken<'a> {
    /// Takes the hostname, Cognito domain prefix and rule priority of `chatbot` on
    /// `platform`, with a problem for each an earlier chatbot took already.
    fn take(
        &mut self,
        chatbot: &'a BedrockChatbot,
        platform: &ChatbotPlatform,
        problems: &mut Vec<FieldProblem>,
    ) {
        let object = object_key(chatbot);
        let spec = &chatbot.spec;
        if let Some(first) = self
            .hostnames
            .insert(spec.hostname.as_str(), object.clone())
        {
            problems.push(FieldProblem::new(
                "spec.hostname",
                format!(
                    "{} is already used by BedrockChatbot {first}; every chatbot needs its own hostname",
                    spec.hostname
                ),
            ));
        }
        let namespace = chatbot.metadata.namespace.as_deref().unwrap_or("default");
        let name = chatbot.metadata.name.as_deref().unwrap_or_default();
        let prefix = spec.cognito.domain_prefix.clone().unwrap_or_else(|| {
            cognito_domain_prefix(&format!("{namespace}-{name}"), &spec.hostname)
        });
        let region = &platform.spec.region;
        if let Some(first) = self
            .domain_prefixes
            .insert((region.clone(), prefix.clone()), object.clone())
        {
            problems.push(FieldProblem::new(
                "spec.cognito.domainPrefix",
                format!(
                    "Cognito domain prefix {prefix:?} is already used by BedrockChatbot {first} in {region}"
                ),
            ));
        }
        let platform_name = spec.platform_ref.name.as_str();
        if let Some(priority) = spec.listener_rule_priority
            && let Some(first) = self.priorities.insert((platform_name, priority), object)
        {
            problems.push(FieldProblem::new(
                "spec.listenerRulePriority",
                format!(
                    "priority {priority} is already used by BedrockChatbot {first} on platform {platform_name}"
                ),
            ));
        }
    }
}

/// Platforms with more chatbots than their HTTPS listener has rule slots, given
/// the number of chatbots on each (by position).
fn listeners_out_of_slots(per_platform: &BTreeMap<usize, usize>) -> Vec<SetProblem> {
    per_platform
        .iter()
        .filter(|&(_, &count)| count > LISTENER_RULE_BUDGET)
        .map(|(&platform, count)| SetProblem {
            subject: Subject::Platform(platform),
            problem: FieldProblem::new(
                "",
                format!(
                    "{count} chatbots use this platform, but its HTTPS listener holds at most {LISTENER_RULE_BUDGET} rules (one per chatbot); spread teams over more platforms"
                ),
            ),
        })
        .collect()
}

fn object_key(chatbot: &BedrockChatbot) -> String {
    format!(
        "{}/{}",
        chatbot.metadata.namespace.as_deref().unwrap_or("default"),
        chatbot.metadata.name.as_deref().unwrap_or_default()
    )
}

/// An inference profile of one partition on a platform in another: `us-gov.`
/// profiles exist only in AWS GovCloud (US), and GovCloud has no other kind (the
/// geographic ones and `global.` route between commercial regions). A task role
/// naming the profile in the platform's partition could never use it.
fn profile_outside_its_partition(model_id: &str, platform: &str, region: &str) -> Option<String> {
    let ModelId::Profile { prefix, .. } = ModelId::parse(model_id) else {
        return None;
    };
    let govcloud = Environment::new(region, "").partition == "aws-us-gov";
    match (prefix == "us-gov", govcloud) {
        (true, false) => Some(format!(
            "{} is an AWS GovCloud (US) inference profile, but platform {platform} is in {region}, outside GovCloud: use a profile of its partition (us., eu., global., …) or an in-region model id",
            excerpt(model_id)
        )),
        (false, true) => Some(format!(
            "{prefix}. inference profiles do not exist in AWS GovCloud (US), where platform {platform} is ({region}): use a us-gov. profile or an in-region model id"
        )),
        _ => None,
    }
}

fn first_duplicate<T: Ord>(items: impl IntoIterator<Item = T>) -> Option<T> {
    let mut seen = BTreeSet::new();
    items.into_iter().find_map(|item| {
        if seen.contains(&item) {
            Some(item)
        } else {
            seen.insert(item);
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::fixtures::{reference_chatbot, reference_platform};
    use crate::desired::{TAG_OWNER, chatbot, platform};

    fn fields(problems: &[FieldProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn the_reference_objects_have_no_problems() {
        assert_eq!(check_platform(&reference_platform()), []);
        assert_eq!(check_chatbot(&reference_chatbot()), []);
    }

    #[test]
    fn platform_name_limit_is_exactly_what_the_derived_tags_allow() {
        let mut longest = reference_platform();
        longest.metadata.name = Some("p".repeat(PLATFORM_NAME_MAX));
        assert_eq!(check_platform(&longest), []);
        let desired = platform::desired(&longest, "123456789012");
        assert!(desired.tags[TAG_OWNER].len() <= 256);
        let json = serde_json::to_value(&desired).unwrap_or_default();
        let mut names = Vec::new();
        collect_names(&json, &mut names);
        let longest_name = names.iter().map(|n| n.len()).max().unwrap_or_default();
        assert_eq!(longest_name, 256, "the limit is tight: {names:?}");

        longest.metadata.name = Some("p".repeat(PLATFORM_NAME_MAX + 1));
        let problems = check_platform(&longest);
        assert_eq!(fields(&problems), ["metadata.name"]);
        assert!(problems[0].message.contains("at most 235"), "{problems:?}");
    }

    fn collect_names(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("name", serde_json::Value::String(name)) => out.push(name.clone()),
                        _ => collect_names(child, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| collect_names(i, out)),
            _ => {}
        }
    }

    #[test]
    fn chatbot_owner_tag_must_fit_aws_tag_values() {
        let mut fits = reference_chatbot();
        fits.metadata.namespace = Some("n".repeat(63));
        fits.metadata.name = Some("c".repeat(CHATBOT_NAMESPACE_AND_NAME_MAX - 63));
        assert_eq!(check_chatbot(&fits), []);
        let desired = chatbot::desired(&fits, &platform::desired(&reference_platform(), "1"));
        assert_eq!(desired.tags[TAG_OWNER].len(), 256);

        let mut too_long = fits;
        too_long.metadata.name = Some("c".repeat(CHATBOT_NAMESPACE_AND_NAME_MAX - 62));
        let problems = check_chatbot(&too_long);
        assert_eq!(fields(&problems), ["metadata.name"]);
        assert!(problems[0].message.contains("owner tag"), "{problems:?}");
    }

    #[test]
    fn hostname_longer_than_a_host_header_rule_is_refused() {
        let mut chatbot = reference_chatbot();
        chatbot.spec.hostname = format!("{}.example.com", vec!["a".repeat(60); 2].join("."));
        assert!(chatbot.spec.hostname.len() > HOSTNAME_MAX);
        let problems = check_chatbot(&chatbot);
        assert_eq!(fields(&problems), ["spec.hostname"]);
        assert!(problems[0].message.contains("at most 128"));
    }

    #[test]
    fn image_references_ecs_cannot_take_are_refused() {
        let mut chatbot = reference_chatbot();
        chatbot.spec.image = "registry.example.com/team/chat@sha256:abc#1".into();
        assert_eq!(check_chatbot(&chatbot), []);
        chatbot.spec.image = format!("registry.example.com/{}", "x".repeat(240));
        assert!(check_chatbot(&chatbot)[0].message.contains("at most 255"));
        chatbot.spec.image = "registry.example.com/tëam/chat:1".into();
        let problems = check_chatbot(&chatbot);
        assert_eq!(fields(&problems), ["spec.image"]);
        assert!(problems[0].message.contains("'ë'"), "{problems:?}");
    }

    #[test]
    fn health_check_path_must_be_printable_ascii() {
        let mut chatbot = reference_chatbot();
        chatbot.spec.task.health_check_path = "/health\u{7f}".into();
        assert_eq!(
            fields(&check_chatbot(&chatbot)),
            ["spec.task.healthCheckPath"]
        );
        chatbot.spec.task.health_check_path = "/gesundheit?ü=1".into();
        assert_eq!(
            fields(&check_chatbot(&chatbot)),
            ["spec.task.healthCheckPath"]
        );
    }

    #[test]
    fn system_prompt_fits_the_task_definition_and_has_no_control_characters() {
        let mut chatbot = reference_chatbot();
        chatbot.spec.model.system_prompt = Some("Antworte kurz.\n\tSei höflich. 😀".into());
        assert_eq!(check_chatbot(&chatbot), []);
        // 20 000 characters pass the schema, but in four-byte characters they are
        // 80 000 bytes.
        chatbot.spec.model.system_prompt = Some("😀".repeat(20_000));
        let problems = check_chatbot(&chatbot);
        assert_eq!(fields(&problems), ["spec.model.systemPrompt"]);
        assert!(problems[0].message.contains("80000 bytes"), "{problems:?}");
        for control in ['\0', '\u{1b}', '\u{85}'] {
            chatbot.spec.model.system_prompt = Some(format!("be nice{control}"));
            let problems = check_chatbot(&chatbot);
            assert_eq!(
                fields(&problems),
                ["spec.model.systemPrompt"],
                "{control:?}"
            );
            assert!(problems[0].message.contains("control character"));
        }
    }
}
