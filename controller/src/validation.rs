//! Checks the CRD schema and CEL cannot express: overlapping subnets, duplicate
//! zones, and rules across objects (a hostname taken by another team, a platform
//! that does not exist, a listener out of rule slots). The file mode runs them over
//! the manifests it is given; the in-cluster controller over its caches.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform};
use ipnet::Ipv4Net;

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

/// Rules per listener an ALB allows by default (the default action not counted);
/// every chatbot takes one.
pub const LISTENER_RULE_BUDGET: usize = 100;

/// Problems of one platform on its own.
pub fn check_platform(platform: &ChatbotPlatform) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let spec = &platform.spec;
    if let Some(managed) = &spec.network.managed {
        let field = "spec.network.managed";
        let zones = &managed.availability_zones;
        if let Some(zone) = first_duplicate(zones) {
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
    if let Some(existing) = &spec.network.existing {
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
    problems
}

/// Problems of one chatbot on its own.
pub fn check_chatbot(chatbot: &BedrockChatbot) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if let Some(region) = first_duplicate(&chatbot.spec.model.inference_regions) {
        problems.push(FieldProblem::new(
            "spec.model.inferenceRegions",
            format!("{region} is listed twice"),
        ));
    }
    problems
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
    /// The object.
    pub subject: Subject,
    /// The problem.
    pub problem: FieldProblem,
}

/// Problems across a set of platforms and chatbots: references to platforms that
/// are not there, hostnames, sign-in domains and rule priorities used twice, and
/// listeners with more chatbots than rule slots.
pub fn check_set(platforms: &[&ChatbotPlatform], chatbots: &[&BedrockChatbot]) -> Vec<SetProblem> {
    let mut problems = Vec::new();
    let platform_names: BTreeMap<&str, (usize, &ChatbotPlatform)> = platforms
        .iter()
        .enumerate()
        .map(|(i, p)| (p.metadata.name.as_deref().unwrap_or_default(), (i, *p)))
        .collect();
    let mut hostnames: BTreeMap<&str, String> = BTreeMap::new();
    let mut prefixes: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut priorities: BTreeMap<(&str, i32), String> = BTreeMap::new();
    let mut per_platform: BTreeMap<usize, usize> = BTreeMap::new();

    for (index, chatbot) in chatbots.iter().enumerate() {
        let object = object_key(chatbot);
        let spec = &chatbot.spec;
        let mut report = |field: &str, message: String| {
            problems.push(SetProblem {
                subject: Subject::Chatbot(index),
                problem: FieldProblem::new(field, message),
            })
        };
        let platform_name = spec.platform_ref.name.as_str();
        let Some(&(platform_index, platform)) = platform_names.get(platform_name) else {
            report(
                "spec.platformRef.name",
                format!(
                    "ChatbotPlatform {platform_name:?} does not exist; create it first or fix the name"
                ),
            );
            continue;
        };
        *per_platform.entry(platform_index).or_default() += 1;

        if let Some(first) = hostnames.insert(spec.hostname.as_str(), object.clone()) {
            report(
                "spec.hostname",
                format!(
                    "{} is already used by BedrockChatbot {first}; every chatbot needs its own hostname",
                    spec.hostname
                ),
            );
        }
        let namespace = chatbot.metadata.namespace.as_deref().unwrap_or("default");
        let name = chatbot.metadata.name.as_deref().unwrap_or_default();
        let prefix = spec.cognito.domain_prefix.clone().unwrap_or_else(|| {
            cognito_domain_prefix(&format!("{namespace}-{name}"), &spec.hostname)
        });
        if let Some(first) = prefixes.insert(
            (platform.spec.region.clone(), prefix.clone()),
            object.clone(),
        ) {
            report(
                "spec.cognito.domainPrefix",
                format!(
                    "Cognito domain prefix {prefix:?} is already used by BedrockChatbot {first} in {}",
                    platform.spec.region
                ),
            );
        }
        if let Some(priority) = spec.listener_rule_priority
            && let Some(first) = priorities.insert((platform_name, priority), object.clone())
        {
            report(
                "spec.listenerRulePriority",
                format!(
                    "priority {priority} is already used by BedrockChatbot {first} on platform {platform_name}"
                ),
            );
        }
    }
    for (platform, count) in per_platform {
        if count > LISTENER_RULE_BUDGET {
            problems.push(SetProblem {
                subject: Subject::Platform(platform),
                problem: FieldProblem::new(
                    "",
                    format!(
                        "{count} chatbots use this platform, but its HTTPS listener holds at most {LISTENER_RULE_BUDGET} rules (one per chatbot); spread teams over more platforms"
                    ),
                ),
            });
        }
    }
    problems
}

fn object_key(chatbot: &BedrockChatbot) -> String {
    format!(
        "{}/{}",
        chatbot.metadata.namespace.as_deref().unwrap_or("default"),
        chatbot.metadata.name.as_deref().unwrap_or_default()
    )
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
