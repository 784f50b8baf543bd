//! `apply` and `delete` on manifests from files: the engine's passes, repeated until
//! everything is ready (or gone), then the same status the in-cluster mode writes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bedrock_chatbot_crds::{
    BedrockChatbot, BedrockChatbotStatus, ChatbotPlatform, ChatbotPlatformStatus, Condition,
};
use serde::Serialize;

use crate::backoff::Backoff;
use crate::desired::PlatformRef;
use crate::engine::{Engine, chatbot, platform};
use crate::manifest::Manifests;
use crate::resources::Refs;
use crate::{Error, Result};

/// How long to keep passing, how long between passes, and what counts as done.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Give up waiting after this long (what is not ready is reported).
    pub timeout: Duration,
    /// Pause between passes while something is pending.
    pub interval: Duration,
    /// What `apply` waits for.
    pub ready_when: ReadyWhen,
}

/// What `apply` waits for before it reports success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyWhen {
    /// Every object `Ready`: AWS resources converged and chatbots' tasks running.
    Ready,
    /// Every AWS resource converged (`Synced`), whether or not tasks run yet — for
    /// emulators that never run tasks, and for pipelines that only provision.
    Converged,
}

/// One object's outcome, as `kubectl get -o yaml` would show its status.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    /// `bedrock-chatbot.dev/v1alpha1`.
    pub api_version: &'static str,
    /// `ChatbotPlatform` or `BedrockChatbot`, as in the manifest.
    pub kind: &'static str,
    pub metadata: Metadata,
    /// The status this run's pass gave it; a chatbot whose platform is not ready
    /// keeps the one its manifest had (usually none).
    pub status: ObjectStatus,
}

/// A reported object's status, as its kind's status type: serialized as that type
/// (`null` when there is none), for the printed output only.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ObjectStatus {
    Platform(Option<ChatbotPlatformStatus>),
    Chatbot(Option<BedrockChatbotStatus>),
}

impl ObjectStatus {
    /// The conditions (none without a status).
    pub fn conditions(&self) -> &[Condition] {
        match self {
            Self::Platform(status) => status.as_ref().map_or(&[], |s| &s.conditions),
            Self::Chatbot(status) => status.as_ref().map_or(&[], |s| &s.conditions),
        }
    }

    /// The condition of type `type_`, if there is one.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions().iter().find(|c| c.type_ == type_)
    }
}

/// Name and namespace of a reported object.
#[derive(Clone, Debug, Serialize)]
pub struct Metadata {
    /// The object's name, as in its manifest.
    pub name: String,
    /// Namespace (chatbots only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The result of `apply`: each object's status and whether all are ready.
#[derive(Clone, Debug, Serialize)]
pub struct ApplyReport {
    /// Each object with its status.
    pub items: Vec<ObjectReport>,
    /// What is not ready, in words; empty when everything is.
    #[serde(skip)]
    pub not_ready: Vec<String>,
}

fn platform_report(platform: &ChatbotPlatform) -> ObjectReport {
    ObjectReport {
        api_version: "bedrock-chatbot.dev/v1alpha1",
        kind: "ChatbotPlatform",
        metadata: Metadata {
            name: platform.metadata.name.clone().unwrap_or_default(),
            namespace: None,
        },
        status: ObjectStatus::Platform(platform.status.clone()),
    }
}

fn chatbot_report(chatbot: &BedrockChatbot) -> ObjectReport {
    ObjectReport {
        api_version: "bedrock-chatbot.dev/v1alpha1",
        kind: "BedrockChatbot",
        metadata: Metadata {
            name: chatbot.metadata.name.clone().unwrap_or_default(),
            namespace: chatbot.metadata.namespace.clone(),
        },
        status: ObjectStatus::Chatbot(chatbot.status.clone()),
    }
}

fn chatbot_label(chatbot: &BedrockChatbot) -> String {
    format!(
        "BedrockChatbot/{}/{}",
        chatbot.metadata.namespace.as_deref().unwrap_or("default"),
        chatbot.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Converges AWS to the manifests: passes until everything is ready or `timing`
/// runs out. A pass that fails with a retryable error (throttling, 5xx, a conflict)
/// is repeated after a capped exponential backoff; a terminal error ends the run.
pub async fn apply(engine: &Engine, manifests: &Manifests, timing: Timing) -> Result<ApplyReport> {
    let mut platforms: Vec<ChatbotPlatform> = manifests
        .platforms
        .iter()
        .map(|p| p.object.clone())
        .collect();
    let mut chatbots: Vec<BedrockChatbot> = manifests
        .chatbots
        .iter()
        .map(|c| c.object.clone())
        .collect();
    repeat(
        timing,
        async || apply_pass(engine, &mut platforms, &mut chatbots, timing.ready_when).await,
        |report: &ApplyReport| report.not_ready.is_empty(),
    )
    .await
}

/// One pass: each platform, then — once it is ready — its chatbots.
async fn apply_pass(
    engine: &Engine,
    platforms: &mut [ChatbotPlatform],
    chatbots: &mut [BedrockChatbot],
    ready_when: ReadyWhen,
) -> Result<ApplyReport> {
    // Listings every team needs (the listener's rules, …) are read once per pass.
    let _shared = engine.share_reads();
    let mut not_ready = Vec::new();
    let mut items = Vec::new();
    for platform in platforms.iter_mut() {
        let state = platform::apply(engine, platform).await?;
        let name = platform.metadata.name.clone().unwrap_or_default();
        not_ready.extend(
            state
                .waiting
                .iter()
                .map(|w| format!("ChatbotPlatform/{name}: {w}")),
        );
        platform.status = Some(state.status.clone());
        items.push(platform_report(platform));
        for chatbot in chatbots
            .iter_mut()
            .filter(|c| c.spec.platform_ref.name == name)
        {
            if !state.is_ready() {
                not_ready.push(format!(
                    "{}: waiting for ChatbotPlatform/{name} to be ready",
                    chatbot_label(chatbot)
                ));
                items.push(chatbot_report(chatbot));
                continue;
            }
            let bot = chatbot::apply(engine, chatbot, platform, &state.refs).await?;
            let label = chatbot_label(chatbot);
            not_ready.extend(bot.waiting.iter().map(|w| format!("{label}: {w}")));
            if ready_when == ReadyWhen::Ready && bot.is_synced() && !bot.is_ready() {
                not_ready.push(format!("{label}: {} ECS tasks running", bot.tasks));
            }
            chatbot.status = Some(bot.status);
            items.push(chatbot_report(chatbot));
        }
    }
    Ok(ApplyReport { items, not_ready })
}

/// Deletes what `apply` made, chatbots before their platform, passing until AWS
/// confirms every deletion or `timing` runs out. Returns what is still there.
///
/// The platform of a chatbot whose platform is not in the files is found on AWS
/// first, every one of them before anything is deleted: a platform that cannot be
/// found stops the delete with nothing touched.
pub async fn delete(engine: &Engine, manifests: &Manifests, timing: Timing) -> Result<Vec<String>> {
    let elsewhere = platforms_elsewhere(engine, manifests)?;
    let found = repeat(
        timing,
        async || find_platforms(engine, &elsewhere).await,
        |_| true,
    )
    .await?;
    let mut gone = BTreeSet::new();
    repeat(
        timing,
        async || delete_pass(engine, manifests, &found, &mut gone).await,
        |remaining: &Vec<String>| remaining.is_empty(),
    )
    .await
}

/// A platform the files do not hold, as found on AWS: what its chatbots' deletion
/// needs of it. It is never deleted.
struct FoundPlatform {
    /// The platform given with `--platform`, or a stand-in of its name.
    platform: ChatbotPlatform,
    /// Its ids, found by name and ownership tags (the cluster and HTTPS listener
    /// among them): they do not change while its chatbots are deleted.
    refs: Refs,
}

/// One pass: every chatbot of a platform, then the platform once they are gone.
/// Chatbots confirmed gone (in `gone`) are not looked at again: once the platform's
/// own deletion has begun, their cluster and listener may no longer exist. Chatbots
/// whose platform is not in the files are deleted on their platform as `found`.
async fn delete_pass(
    engine: &Engine,
    manifests: &Manifests,
    found: &[FoundPlatform],
    gone: &mut BTreeSet<String>,
) -> Result<Vec<String>> {
    let mut remaining = Vec::new();
    for located in &manifests.platforms {
        let platform = &located.object;
        let name = platform.metadata.name.clone().unwrap_or_default();
        let mut chatbots_left = Vec::new();
        if !left_on(manifests, &name, gone).is_empty() {
            let observed = platform::observe(engine, platform).await?;
            chatbots_left =
                delete_chatbots(engine, manifests, platform, &observed.refs, gone).await?;
        }
        if chatbots_left.is_empty() {
            let deletion = platform::delete(engine, platform).await?;
            remaining.extend(
                deletion
                    .waiting
                    .iter()
                    .map(|w| format!("ChatbotPlatform/{name}: {w}")),
            );
        } else {
            remaining.extend(chatbots_left);
            remaining.push(format!(
                "ChatbotPlatform/{name}: waiting for its chatbots to be deleted"
            ));
        }
    }
    for elsewhere in found {
        remaining.extend(
            delete_chatbots(
                engine,
                manifests,
                &elsewhere.platform,
                &elsewhere.refs,
                gone,
            )
            .await?,
        );
    }
    Ok(remaining)
}

/// The chatbots of the files on platform `name` not confirmed gone yet.
fn left_on<'a>(
    manifests: &'a Manifests,
    name: &str,
    gone: &BTreeSet<String>,
) -> Vec<&'a BedrockChatbot> {
    manifests
        .chatbots
        .iter()
        .map(|c| &c.object)
        .filter(|c| c.spec.platform_ref.name == name && !gone.contains(&chatbot_label(c)))
        .collect()
}

/// Deletes the chatbots of `platform` not yet gone, on the platform's resources in
/// `refs`; returns what they still wait for.
async fn delete_chatbots(
    engine: &Engine,
    manifests: &Manifests,
    platform: &ChatbotPlatform,
    refs: &Refs,
    gone: &mut BTreeSet<String>,
) -> Result<Vec<String>> {
    let name = platform.metadata.name.clone().unwrap_or_default();
    let mut left = Vec::new();
    for chatbot in left_on(manifests, &name, gone) {
        let deletion = chatbot::delete(engine, chatbot, platform, refs).await?;
        let label = chatbot_label(chatbot);
        if deletion.is_done() {
            gone.insert(label);
        } else {
            left.extend(deletion.waiting.iter().map(|w| format!("{label}: {w}")));
        }
    }
    Ok(left)
}

/// Each of `platforms` on AWS, or an error naming the first one whose ECS cluster
/// or HTTPS listener is not found: without them its chatbots' services and rules
/// cannot be found either, and deleting the rest (their IAM roles are global) would
/// leave a running service without its role.
async fn find_platforms(
    engine: &Engine,
    platforms: &[ChatbotPlatform],
) -> Result<Vec<FoundPlatform>> {
    let mut found = Vec::new();
    for platform in platforms {
        let observed = platform::observe(engine, platform).await?;
        let refs = observed.refs;
        if refs.resolve(&PlatformRef::Cluster).is_err()
            || refs.resolve(&PlatformRef::HttpsListener).is_err()
        {
            return Err(Error::PlatformNotFound {
                platform: platform.metadata.name.clone().unwrap_or_default(),
                region: platform.spec.region.clone(),
            });
        }
        found.push(FoundPlatform {
            platform: platform.clone(),
            refs,
        });
    }
    Ok(found)
}

/// The platforms of the chatbots whose platform is not in the files: the one given
/// as context (`--platform`), else one of that name in the region of the standard
/// AWS configuration, with the default settings — its resources are found by their
/// names and ownership tags.
fn platforms_elsewhere(engine: &Engine, manifests: &Manifests) -> Result<Vec<ChatbotPlatform>> {
    let in_files: BTreeSet<&str> = manifests
        .platforms
        .iter()
        .filter_map(|p| p.object.metadata.name.as_deref())
        .collect();
    let names: BTreeSet<&str> = manifests
        .chatbots
        .iter()
        .map(|c| c.object.spec.platform_ref.name.as_str())
        .filter(|name| !in_files.contains(name))
        .collect();
    names
        .into_iter()
        .map(|name| platform_elsewhere(engine, manifests, name))
        .collect()
}

/// [`platforms_elsewhere`] for one name.
fn platform_elsewhere(
    engine: &Engine,
    manifests: &Manifests,
    name: &str,
) -> Result<ChatbotPlatform> {
    if let Some(context) = manifests
        .context
        .iter()
        .find(|p| p.object.metadata.name.as_deref() == Some(name))
    {
        return Ok(context.object.clone());
    }
    let region = engine
        .default_region()
        .ok_or_else(|| Error::PlatformRegionUnknown {
            platform: name.to_string(),
        })?;
    let stand_in = serde_json::json!({
        "apiVersion": "bedrock-chatbot.dev/v1alpha1",
        "kind": "ChatbotPlatform",
        "metadata": { "name": name },
        "spec": {
            "region": region,
            // Only looked up, never applied: no certificate is read.
            "loadBalancer": { "certificateArn": format!("arn:aws:acm:{region}:000000000000:certificate/unused") }
        }
    });
    serde_json::from_value(stand_in).map_err(Error::Render)
}

/// How many passes in a row may fail with the same kind of non-transient error
/// (a conflict, something not found) before the error is returned: enough for
/// eventual consistency to settle, not enough to hide a real problem for long.
const PERSISTENT_FAILURES: u32 = 5;

/// Runs `pass` until `done` says so or time runs out, waiting `timing.interval`
/// between passes that are not done and backing off ([`Backoff::PASS`]) after
/// passes that failed with a retryable error. Throttling, 5xx and connection
/// errors are retried until the timeout; conflicts and not-found errors only
/// [`PERSISTENT_FAILURES`] times in a row (see [`crate::backoff`] for the whole
/// retry policy).
async fn repeat<T>(
    timing: Timing,
    mut pass: impl AsyncFnMut() -> Result<T>,
    done: impl Fn(&T) -> bool,
) -> Result<T> {
    let started = Instant::now();
    let mut failures = 0;
    let mut persistent = 0;
    loop {
        match pass().await {
            Ok(result) => {
                if done(&result) || started.elapsed() >= timing.timeout {
                    return Ok(result);
                }
                failures = 0;
                persistent = 0;
                tokio::time::sleep(timing.interval).await;
            }
            Err(error) if error.is_retryable() && started.elapsed() < timing.timeout => {
                if error.class() != Some(crate::aws::ErrorClass::Retryable) {
                    persistent += 1;
                    if persistent >= PERSISTENT_FAILURES {
                        return Err(error);
                    }
                }
                failures += 1;
                let backoff = Backoff::PASS.delay(failures);
                tracing::warn!(%error, retry_in = ?backoff, "pass failed, retrying");
                tokio::time::sleep(backoff).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use bedrock_chatbot_crds::ConditionStatus;

    use super::*;

    #[test]
    fn a_status_serializes_as_its_kind_s_status_and_finds_its_conditions() {
        let ready = Condition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            reason: "Ready".into(),
            message: String::new(),
            last_transition_time: "2026-01-01T00:00:00Z".into(),
            observed_generation: Some(1),
        };
        let status = ChatbotPlatformStatus {
            observed_generation: Some(1),
            conditions: vec![ready.clone()],
            ..ChatbotPlatformStatus::default()
        };
        let reported = ObjectStatus::Platform(Some(status.clone()));
        assert_eq!(
            serde_json::to_value(&reported).unwrap(),
            serde_json::to_value(Some(status)).unwrap()
        );
        assert_eq!(reported.condition("Ready"), Some(&ready));
        let none = ObjectStatus::Chatbot(None);
        assert_eq!(
            serde_json::to_value(&none).unwrap(),
            serde_json::Value::Null
        );
        assert!(none.conditions().is_empty());
    }
}
