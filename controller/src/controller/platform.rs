//! Reconciles a `ChatbotPlatform`: one engine pass per reconcile; on deletion, held
//! while chatbots still use it, then the engine's ordered delete until AWS confirms.

use std::path::PathBuf;
use std::sync::Arc;

use bedrock_chatbot_crds::{ChatbotPlatform, ChatbotPlatformStatus};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::{Api, Resource, ResourceExt};

use super::chatbot::from_finalizer;
use super::{
    Context, FINALIZER, PROVISIONING, REASON_DELETING, REASON_DELETION_BLOCKED,
    REASON_INVALID_SPEC, apply_status, error_action, event, failed, is_paused, not_ready, observed,
    problems_message, transition, with_progress,
};
use crate::desired::Owner;
use crate::engine::platform as engine;
use crate::manifest::{Located, Manifests, Source};
use crate::validation::{self, FieldProblem, Subject};
use crate::{Error, Result};

/// The kind, for metrics and logs.
pub const KIND: &str = "ChatbotPlatform";

/// Reconciles one platform (the controller's entry point).
pub async fn reconcile(platform: Arc<ChatbotPlatform>, ctx: Arc<Context>) -> Result<Action> {
    observed(
        KIND,
        &*platform,
        &ctx,
        reconcile_inner(platform.clone(), &ctx),
    )
    .await
}

/// Logs and backs off after a failed reconcile.
pub fn error_policy(platform: Arc<ChatbotPlatform>, error: &Error, ctx: Arc<Context>) -> Action {
    error_action(&format!("{KIND}//{}", platform.name_any()), error, &ctx)
}

fn api(ctx: &Context) -> Api<ChatbotPlatform> {
    Api::all(ctx.client.clone())
}

fn owner(platform: &ChatbotPlatform) -> Owner {
    Owner::ChatbotPlatform {
        name: platform.name_any(),
    }
}

async fn reconcile_inner(
    platform: Arc<ChatbotPlatform>,
    ctx: &Context,
) -> Result<(Action, &'static str)> {
    if is_paused(&*platform) {
        return Ok((Action::await_change(), "paused"));
    }
    if !ctx.caches_synced().await {
        return Ok(super::caches_not_synced());
    }
    if ctx.settings.dry_run {
        return dry_run(&platform, ctx).await;
    }
    let api = api(ctx);
    let mut result = "ok";
    let action = finalizer::finalizer(&api, FINALIZER, platform, |event| async {
        match event {
            Finalizer::Apply(platform) => {
                let (action, r) = apply(&platform, ctx).await?;
                result = r;
                Ok(action)
            }
            Finalizer::Cleanup(platform) => cleanup(&platform, ctx).await,
        }
    })
    .await
    .map_err(from_finalizer)?;
    Ok((action, result))
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

async fn publish_status(
    platform: &ChatbotPlatform,
    status: &ChatbotPlatformStatus,
    stalled: bool,
    ctx: &Context,
) -> Result<()> {
    let mut status = status.clone();
    with_progress(
        &mut status.conditions,
        platform.metadata.generation,
        stalled,
    );
    apply_status(&api(ctx), &platform.name_any(), &status).await?;
    let before = platform
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    if let Some(event) = transition(&before, &status.conditions) {
        ctx.publish(&platform.object_ref(&()), event).await;
    }
    Ok(())
}

fn held(platform: &ChatbotPlatform, reason: &str, message: &str) -> ChatbotPlatformStatus {
    let previous = platform.status.clone().unwrap_or_default();
    let generation = platform.metadata.generation;
    ChatbotPlatformStatus {
        observed_generation: generation,
        conditions: not_ready(previous.conditions.clone(), reason, message, generation),
        ..previous
    }
}

/// The previous status, every field kept, with the conditions of a failed pass.
fn failed_status(platform: &ChatbotPlatform, error: &Error) -> ChatbotPlatformStatus {
    let previous = platform.status.clone().unwrap_or_default();
    let generation = platform.metadata.generation;
    ChatbotPlatformStatus {
        observed_generation: generation,
        conditions: failed(previous.conditions.clone(), generation, error),
        ..previous
    }
}

async fn apply(platform: &ChatbotPlatform, ctx: &Context) -> Result<(Action, &'static str)> {
    let problems = problems(platform, ctx);
    if !problems.is_empty() {
        let status = held(platform, REASON_INVALID_SPEC, &problems_message(&problems));
        publish_status(platform, &status, true, ctx).await?;
        return Ok((Action::requeue(ctx.resync()), "invalid_spec"));
    }
    let state = engine::apply(&ctx.engine, platform).await;
    ctx.publish_progress(&platform.object_ref(&()), &owner(platform))
        .await;
    let state = match state {
        Ok(state) => state,
        Err(error) => {
            // Best effort: the error is what counts, and it is returned either way.
            if let Err(status_error) = publish_status(
                platform,
                &failed_status(platform, &error),
                !error.is_retryable(),
                ctx,
            )
            .await
            {
                tracing::warn!(error = %status_error, "cannot report the failure in status");
            }
            return Err(error);
        }
    };
    publish_status(platform, &state.status, false, ctx).await?;
    Ok(if state.is_ready() {
        (Action::requeue(ctx.resync()), "ok")
    } else {
        (Action::requeue(PROVISIONING), "provisioning")
    })
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

async fn cleanup(platform: &ChatbotPlatform, ctx: &Context) -> Result<Action> {
    let users = users(platform, ctx);
    if !users.is_empty() {
        let why = format!(
            "still used by BedrockChatbot {}; delete them (or point them at another platform) first",
            users.join(", ")
        );
        let status = held(platform, REASON_DELETION_BLOCKED, &why);
        publish_status(platform, &status, false, ctx).await?;
        ctx.publish(
            &platform.object_ref(&()),
            event(
                EventType::Warning,
                REASON_DELETION_BLOCKED,
                "Delete",
                why.clone(),
            ),
        )
        .await;
        return Err(Error::DeletionPending(why));
    }
    let deletion = engine::delete(&ctx.engine, platform).await;
    ctx.publish_progress(&platform.object_ref(&()), &owner(platform))
        .await;
    let deletion = deletion?;
    if deletion.is_done() {
        return Ok(Action::await_change());
    }
    let why = format!("waiting for AWS to delete {}", deletion.waiting.join(", "));
    let status = held(platform, REASON_DELETING, &why);
    publish_status(platform, &status, false, ctx).await?;
    Err(Error::DeletionPending(why))
}

/// `--dry-run`: the platform's desired AWS resources, as an Event and a log line.
async fn dry_run(platform: &ChatbotPlatform, ctx: &Context) -> Result<(Action, &'static str)> {
    let problems = problems(platform, ctx);
    let note = if problems.is_empty() {
        let account = platform
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
                object: platform.clone(),
            }],
            chatbots: Vec::new(),
        };
        let plan = crate::plan::plan(&manifests, &account).to_text();
        tracing::info!(%plan, "dry run");
        format!("dry run, nothing changed on AWS; desired: {plan}")
    } else {
        problems_message(&problems)
    };
    ctx.publish(
        &platform.object_ref(&()),
        event(EventType::Normal, "DryRun", "Plan", note),
    )
    .await;
    Ok((Action::requeue(ctx.resync()), "dry_run"))
}
