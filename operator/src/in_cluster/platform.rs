//! Reconciles a `ChatbotPlatform` (see [`super::reconciler`] for what both kinds
//! share): one engine pass per reconcile; on deletion, held while chatbots still
//! use it, then the engine's ordered delete until AWS confirms.

use std::path::PathBuf;

use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform, ChatbotPlatformStatus, Condition};
use kube::{Api, Resource, ResourceExt};

use super::reconciler::{Converged, Deleted, Kind};
use super::{Context, problems_across, put};
use crate::Result;
use crate::desired::Owner;
use crate::engine::platform as engine;
use crate::manifest::{Located, Manifests, Source};
use crate::validation::{self, FieldProblem, Subject};

/// The kind, for metrics and logs.
pub const KIND: &str = "ChatbotPlatform";

impl Kind for ChatbotPlatform {
    type Status = ChatbotPlatformStatus;
    const KIND: &'static str = KIND;

    fn status(&self) -> Option<&ChatbotPlatformStatus> {
        self.status.as_ref()
    }

    fn conditions(status: &mut ChatbotPlatformStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }

    fn observe(status: &mut ChatbotPlatformStatus, generation: Option<i64>) {
        status.observed_generation = generation;
    }

    fn api(&self, ctx: &Context) -> Api<Self> {
        Api::all(ctx.client.clone())
    }

    fn owner(&self) -> Owner {
        Owner::ChatbotPlatform {
            name: self.name_any(),
        }
    }

    fn problems(&self, ctx: &Context) -> Vec<FieldProblem> {
        problems(self, ctx)
    }

    async fn converge(&self, ctx: &Context) -> Result<Converged<ChatbotPlatformStatus>> {
        let state = engine::apply(&ctx.engine, self).await?;
        Ok(Converged::Pass {
            ready: state.is_ready(),
            status: state.status,
        })
    }

    async fn delete(&self, ctx: &Context) -> Result<Deleted> {
        let users = users(self, ctx);
        if !users.is_empty() {
            return Ok(Deleted::Blocked(format!(
                "still used by BedrockChatbot {}; delete them (or point them at another platform) first",
                users.join(", ")
            )));
        }
        Ok(engine::delete(&ctx.engine, self).await?.into())
    }

    fn plan(&self, _ctx: &Context) -> String {
        format!(
            "dry run, nothing changed on AWS; desired: {}",
            plan(self, None)
        )
    }
}

/// Problems of the platform: schema and CEL as the API server checks them, its own
/// consistency, and the chatbots it would have to hold.
pub fn problems(platform: &ChatbotPlatform, ctx: &Context) -> Vec<FieldProblem> {
    let mut problems = ctx.admission_problems(&serde_json::json!({
        "apiVersion": ChatbotPlatform::api_version(&()),
        "kind": KIND,
        "metadata": { "name": platform.name_any() },
        "spec": platform.spec,
    }));
    problems.extend(validation::check_platform(platform));
    let mut platforms = ctx.all_platforms();
    let index = put(&mut platforms, platform);
    problems.extend(problems_across(
        &platforms,
        &ctx.all_chatbots(),
        Subject::Platform(index),
    ));
    problems
}

/// The plan of `platform` and `chatbots` as `plan` prints it, on the account in
/// the platform's status (a placeholder before the first pass found it).
pub(super) fn plan(platform: &ChatbotPlatform, chatbots: Option<&BedrockChatbot>) -> String {
    let source = || Source {
        path: PathBuf::from("cluster"),
        document: 1,
    };
    let manifests = Manifests {
        platforms: vec![Located {
            source: source(),
            object: platform.clone(),
        }],
        chatbots: chatbots
            .into_iter()
            .map(|chatbot| Located {
                source: source(),
                object: chatbot.clone(),
            })
            .collect(),
        context: Vec::new(),
    };
    crate::plan::plan(&manifests, &account(platform)).to_text()
}

/// The platform's AWS account as its status has it, or a placeholder before the
/// first pass found it.
pub(super) fn account(platform: &ChatbotPlatform) -> String {
    platform
        .status
        .as_ref()
        .and_then(|s| s.account_id.clone())
        .unwrap_or_else(|| crate::desired::UNKNOWN_ACCOUNT.to_string())
}

/// The chatbots (`namespace/name`) that use the platform.
fn users(platform: &ChatbotPlatform, ctx: &Context) -> Vec<String> {
    let name = platform.name_any();
    ctx.all_chatbots()
        .iter()
        .filter(|c| c.spec.platform_ref.name == name)
        .map(|c| format!("{}/{}", c.namespace().unwrap_or_default(), c.name_any()))
        .collect()
}
