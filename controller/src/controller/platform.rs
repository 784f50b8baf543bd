//! Reconciles a `ChatbotPlatform` (see [`super::reconciler`] for what both kinds
//! share): one engine pass per reconcile; on deletion, held while chatbots still
//! use it, then the engine's ordered delete until AWS confirms.

use std::path::PathBuf;
use std::sync::Arc;

use bedrock_chatbot_crds::{ChatbotPlatform, ChatbotPlatformStatus, Condition};
use kube::{Api, Resource, ResourceExt};

use super::Context;
use super::reconciler::{Converged, Deleted, Kind, problems_message};
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
        let deletion = engine::delete(&ctx.engine, self).await?;
        Ok(if deletion.is_done() {
            Deleted::Done
        } else {
            Deleted::Pending(format!(
                "waiting for AWS to delete {}",
                deletion.waiting.join(", ")
            ))
        })
    }

    fn plan(&self, ctx: &Context) -> String {
        let problems = problems(self, ctx);
        if !problems.is_empty() {
            return problems_message(&problems);
        }
        let account = self
            .status
            .as_ref()
            .and_then(|s| s.account_id.clone())
            .unwrap_or_else(|| crate::desired::UNKNOWN_ACCOUNT.to_string());
        let manifests = Manifests {
            platforms: vec![Located {
                source: Source {
                    path: PathBuf::from("cluster"),
                    document: 1,
                },
                object: self.clone(),
            }],
            chatbots: Vec::new(),
            context: Vec::new(),
        };
        let plan = crate::plan::plan(&manifests, &account).to_text();
        format!("dry run, nothing changed on AWS; desired: {plan}")
    }
}

/// Problems of the platform: schema and CEL as the API server checks them, its own
/// consistency, and the chatbots it would have to hold.
pub fn problems(platform: &ChatbotPlatform, ctx: &Context) -> Vec<FieldProblem> {
    let manifest = serde_json::json!({
        "apiVersion": ChatbotPlatform::api_version(&()),
        "kind": KIND,
        "metadata": { "name": platform.name_any() },
        "spec": platform.spec,
    });
    let mut problems = match ctx.admission.admit(&manifest, None) {
        Ok(_) => Vec::new(),
        Err(rejection) => rejection.problems,
    };
    problems.extend(validation::check_platform(platform));
    let mut platforms = ctx.all_platforms();
    let name = platform.name_any();
    let index = match platforms.iter().position(|p| p.name_any() == name) {
        Some(index) => {
            platforms[index] = Arc::new(platform.clone());
            index
        }
        None => {
            platforms.push(Arc::new(platform.clone()));
            platforms.len() - 1
        }
    };
    let chatbots = ctx.all_chatbots();
    let platform_refs: Vec<&ChatbotPlatform> = platforms.iter().map(|p| &**p).collect();
    let chatbot_refs: Vec<_> = chatbots.iter().map(|c| &**c).collect();
    problems.extend(
        validation::check_set(&platform_refs, &chatbot_refs)
            .into_iter()
            .filter(|p| p.subject == Subject::Platform(index))
            .map(|p| p.problem),
    );
    problems
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
