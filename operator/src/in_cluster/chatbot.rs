//! Reconciles a `BedrockChatbot` (see [`super::reconciler`] for what both kinds
//! share): waits for its platform to be Ready, then one engine pass on the
//! platform's ids (rebuilt from the platform's status); on deletion, the engine's
//! ordered delete until AWS confirms.

use std::sync::Arc;
use std::time::Duration;

use bedrock_chatbot_crds::{
    BedrockChatbot, BedrockChatbotStatus, CONDITION_READY, ChatbotPlatform, Condition,
    ConditionStatus,
};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::reconciler::{Converged, Deleted, Kind};
use super::status::REASON_WAITING_FOR_PLATFORM;
use super::{Context, problems_across, put};
use crate::Result;
use crate::desired::Owner;
use crate::desired::platform as platform_desired;
use crate::engine::chatbot as engine;
use crate::validation::{self, FieldProblem, Subject};

/// The kind, for metrics and logs.
pub const KIND: &str = "BedrockChatbot";

/// How long a chatbot waits before looking at its platform again (a platform
/// change requeues it sooner).
const WAIT_FOR_PLATFORM: Duration = Duration::from_secs(60);

impl Kind for BedrockChatbot {
    type Status = BedrockChatbotStatus;
    const KIND: &'static str = KIND;

    fn status(&self) -> Option<&BedrockChatbotStatus> {
        self.status.as_ref()
    }

    fn conditions(status: &mut BedrockChatbotStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }

    fn observe(status: &mut BedrockChatbotStatus, generation: Option<i64>) {
        status.observed_generation = generation;
    }

    fn api(&self, ctx: &Context) -> Api<Self> {
        Api::namespaced(
            ctx.client.clone(),
            &self.namespace().unwrap_or_else(|| "default".into()),
        )
    }

    fn owner(&self) -> Owner {
        Owner::BedrockChatbot {
            namespace: self.namespace().unwrap_or_else(|| "default".into()),
            name: self.name_any(),
        }
    }

    fn problems(&self, ctx: &Context) -> Vec<FieldProblem> {
        problems(self, ctx)
    }

    async fn converge(&self, ctx: &Context) -> Result<Converged<BedrockChatbotStatus>> {
        let platform = match ready_platform(self, ctx) {
            Ok(platform) => platform,
            Err(why) => {
                return Ok(Converged::Held {
                    reason: REASON_WAITING_FOR_PLATFORM,
                    message: why,
                    requeue: WAIT_FOR_PLATFORM,
                });
            }
        };
        let refs = platform_refs(&platform);
        let state = engine::apply(&ctx.engine, self, &platform, &refs).await?;
        Ok(Converged::Pass {
            ready: state.is_ready(),
            status: state.status,
        })
    }

    async fn delete(&self, ctx: &Context) -> Result<Deleted> {
        let name = &self.spec.platform_ref.name;
        let Some(platform) = ctx.platforms.get(&ObjectRef::new(name)) else {
            // A platform is held while chatbots use it (and nothing is decided on
            // a cache that has not synced), so without one this chatbot never got
            // AWS resources: nothing to delete.
            return Ok(Deleted::Released(format!(
                "ChatbotPlatform {name} does not exist; nothing on AWS to delete"
            )));
        };
        let refs = platform_refs(&platform);
        Ok(engine::delete(&ctx.engine, self, &platform, &refs)
            .await?
            .into())
    }

    fn plan(&self, ctx: &Context) -> String {
        let platform = match ready_platform(self, ctx) {
            Ok(platform) => platform,
            Err(why) => return why,
        };
        let plan = super::platform::plan(&platform, Some(self));
        // The plan's chatbot part: the platform's own rows come first.
        let mine = plan
            .split_once("BedrockChatbot/")
            .map_or(plan.as_str(), |(_, rest)| rest);
        format!("dry run, nothing changed on AWS; desired: BedrockChatbot/{mine}")
    }
}

/// The chatbot's platform, if it exists and is Ready; else why it is not.
fn ready_platform(chatbot: &BedrockChatbot, ctx: &Context) -> Result<Arc<ChatbotPlatform>, String> {
    let name = &chatbot.spec.platform_ref.name;
    let Some(platform) = ctx.platforms.get(&ObjectRef::new(name)) else {
        return Err(format!(
            "ChatbotPlatform {name} does not exist; create it or fix spec.platformRef.name"
        ));
    };
    if platform.metadata.deletion_timestamp.is_some() {
        return Err(format!("ChatbotPlatform {name} is being deleted"));
    }
    let ready = platform
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION_READY));
    match ready {
        Some(c) if c.status == ConditionStatus::True => Ok(platform),
        Some(c) => Err(format!(
            "ChatbotPlatform {name} is not Ready yet ({}: {})",
            c.reason, c.message
        )),
        None => Err(format!(
            "ChatbotPlatform {name} has not been reconciled yet"
        )),
    }
}

/// Problems of the chatbot: schema and CEL as the API server checks them, then
/// the checks across objects against the caches. A missing platform is not one of
/// them: the chatbot waits for it.
pub fn problems(chatbot: &BedrockChatbot, ctx: &Context) -> Vec<FieldProblem> {
    let mut problems = ctx.admission_problems(&serde_json::json!({
        "apiVersion": BedrockChatbot::api_version(&()),
        "kind": KIND,
        "metadata": { "name": chatbot.name_any(), "namespace": chatbot.namespace() },
        "spec": chatbot.spec,
    }));
    problems.extend(validation::check_chatbot(chatbot));
    let mut chatbots = ctx.all_chatbots();
    let index = put(&mut chatbots, chatbot);
    problems.extend(
        problems_across(&ctx.all_platforms(), &chatbots, Subject::Chatbot(index))
            .into_iter()
            .filter(|p| p.field != "spec.platformRef.name"),
    );
    problems
}

/// The platform's ids, rebuilt from its status.
fn platform_refs(platform: &ChatbotPlatform) -> crate::resources::Refs {
    let status = platform.status.clone().unwrap_or_default();
    let desired = platform_desired::desired(platform, &super::platform::account(platform));
    engine::platform_refs(&desired, &status)
}
