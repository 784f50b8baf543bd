//! Reconciles a `BedrockChatbot`: waits for its platform to be Ready, then one
//! engine pass on the platform's ids (rebuilt from the platform's status); on
//! deletion, the engine's ordered delete until AWS confirms.

use std::path::PathBuf;
use std::sync::Arc;

use bedrock_chatbot_crds::{
    BedrockChatbot, BedrockChatbotStatus, CONDITION_READY, ChatbotPlatform, ConditionStatus,
};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::{
    Context, FINALIZER, PROVISIONING, REASON_DELETING, REASON_INVALID_SPEC,
    REASON_WAITING_FOR_PLATFORM, WAIT_FOR_PLATFORM, apply_status, error_action, event, failed,
    is_paused, not_ready, observed, problems_message, transition, with_progress,
};
use crate::desired::Owner;
use crate::desired::platform as platform_desired;
use crate::engine::chatbot as engine;
use crate::manifest::{Located, Manifests, Source};
use crate::validation::{self, FieldProblem, Subject};
use crate::{Error, Result};

/// The kind, for metrics and logs.
pub const KIND: &str = "BedrockChatbot";

/// Reconciles one chatbot (the controller's entry point).
pub async fn reconcile(chatbot: Arc<BedrockChatbot>, ctx: Arc<Context>) -> Result<Action> {
    observed(
        KIND,
        &*chatbot,
        &ctx,
        reconcile_inner(chatbot.clone(), &ctx),
    )
    .await
}

/// Logs and backs off after a failed reconcile.
pub fn error_policy(chatbot: Arc<BedrockChatbot>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{KIND}/{}/{}",
        chatbot.namespace().unwrap_or_default(),
        chatbot.name_any()
    );
    error_action(&key, error, &ctx)
}

fn api(ctx: &Context, chatbot: &BedrockChatbot) -> Api<BedrockChatbot> {
    Api::namespaced(
        ctx.client.clone(),
        &chatbot.namespace().unwrap_or_else(|| "default".into()),
    )
}

fn owner(chatbot: &BedrockChatbot) -> Owner {
    Owner::BedrockChatbot {
        namespace: chatbot.namespace().unwrap_or_else(|| "default".into()),
        name: chatbot.name_any(),
    }
}

async fn reconcile_inner(
    chatbot: Arc<BedrockChatbot>,
    ctx: &Context,
) -> Result<(Action, &'static str)> {
    if is_paused(&*chatbot) {
        return Ok((Action::await_change(), "paused"));
    }
    if !ctx.caches_synced().await {
        return Ok(super::caches_not_synced());
    }
    if ctx.settings.dry_run {
        return dry_run(&chatbot, ctx).await;
    }
    let api = api(ctx, &chatbot);
    let mut result = "ok";
    let action = finalizer::finalizer(&api, FINALIZER, chatbot, |event| async {
        match event {
            Finalizer::Apply(chatbot) => {
                let (action, r) = apply(&chatbot, ctx).await?;
                result = r;
                Ok(action)
            }
            Finalizer::Cleanup(chatbot) => cleanup(&chatbot, ctx).await,
        }
    })
    .await
    .map_err(from_finalizer)?;
    Ok((action, result))
}

/// The reconcile's own error out of the finalizer's wrapping.
pub(super) fn from_finalizer(error: finalizer::Error<Error>) -> Error {
    match error {
        finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => error,
        finalizer::Error::AddFinalizer(error) | finalizer::Error::RemoveFinalizer(error) => {
            Error::Kube(error)
        }
        other => Error::Finalizer(Box::new(other)),
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
    let manifest = serde_json::json!({
        "apiVersion": BedrockChatbot::api_version(&()),
        "kind": KIND,
        "metadata": { "name": chatbot.name_any(), "namespace": chatbot.namespace() },
        "spec": chatbot.spec,
    });
    let mut problems = match ctx.admission.admit(&manifest, None) {
        Ok(_) => Vec::new(),
        Err(rejection) => rejection.problems,
    };
    problems.extend(validation::check_chatbot(chatbot));
    let mut chatbots = ctx.all_chatbots();
    let me = ObjectRef::from_obj(chatbot);
    let index = match chatbots
        .iter()
        .position(|c| ObjectRef::from_obj(&**c) == me)
    {
        Some(index) => {
            // The object being reconciled is newer than (or as new as) the cached one.
            chatbots[index] = Arc::new(chatbot.clone());
            index
        }
        None => {
            chatbots.push(Arc::new(chatbot.clone()));
            chatbots.len() - 1
        }
    };
    let platforms = ctx.all_platforms();
    let platform_refs: Vec<&ChatbotPlatform> = platforms.iter().map(|p| &**p).collect();
    let chatbot_refs: Vec<&BedrockChatbot> = chatbots.iter().map(|c| &**c).collect();
    problems.extend(
        validation::check_set(&platform_refs, &chatbot_refs)
            .into_iter()
            .filter(|p| p.subject == Subject::Chatbot(index))
            .map(|p| p.problem)
            .filter(|p| p.field != "spec.platformRef.name"),
    );
    problems
}

/// Applies `status` and publishes the transition of `Ready` it makes.
async fn publish_status(
    chatbot: &BedrockChatbot,
    status: &BedrockChatbotStatus,
    stalled: bool,
    ctx: &Context,
) -> Result<()> {
    let mut status = status.clone();
    with_progress(&mut status.conditions, chatbot.metadata.generation, stalled);
    apply_status(&api(ctx, chatbot), &chatbot.name_any(), &status).await?;
    let before = chatbot
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    if let Some(event) = transition(&before, &status.conditions) {
        ctx.publish(&chatbot.object_ref(&()), event).await;
    }
    Ok(())
}

/// The previous status with `Ready`/`Synced` False for `reason`.
fn held(chatbot: &BedrockChatbot, reason: &str, message: &str) -> BedrockChatbotStatus {
    let previous = chatbot.status.clone().unwrap_or_default();
    let generation = chatbot.metadata.generation;
    BedrockChatbotStatus {
        observed_generation: generation,
        conditions: not_ready(previous.conditions.clone(), reason, message, generation),
        ..previous
    }
}

/// The previous status, every field kept, with the conditions of a failed pass.
fn failed_status(chatbot: &BedrockChatbot, error: &Error) -> BedrockChatbotStatus {
    let previous = chatbot.status.clone().unwrap_or_default();
    let generation = chatbot.metadata.generation;
    BedrockChatbotStatus {
        observed_generation: generation,
        conditions: failed(previous.conditions.clone(), generation, error),
        ..previous
    }
}

async fn apply(chatbot: &BedrockChatbot, ctx: &Context) -> Result<(Action, &'static str)> {
    let problems = problems(chatbot, ctx);
    if !problems.is_empty() {
        let status = held(chatbot, REASON_INVALID_SPEC, &problems_message(&problems));
        publish_status(chatbot, &status, true, ctx).await?;
        // Nothing heals by itself: a spec change triggers a reconcile at once, the
        // resync catches a conflict resolved by another object changing.
        return Ok((Action::requeue(ctx.resync()), "invalid_spec"));
    }
    let platform = match ready_platform(chatbot, ctx) {
        Ok(platform) => platform,
        Err(why) => {
            let status = held(chatbot, REASON_WAITING_FOR_PLATFORM, &why);
            publish_status(chatbot, &status, false, ctx).await?;
            return Ok((Action::requeue(WAIT_FOR_PLATFORM), "waiting"));
        }
    };
    let refs = platform_refs(&platform);
    let state = engine::apply(&ctx.engine, chatbot, &platform, &refs).await;
    ctx.publish_progress(&chatbot.object_ref(&()), &owner(chatbot))
        .await;
    let state = match state {
        Ok(state) => state,
        Err(error) => {
            // Best effort: the error is what counts, and it is returned either way.
            if let Err(status_error) = publish_status(
                chatbot,
                &failed_status(chatbot, &error),
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
    publish_status(chatbot, &state.status, false, ctx).await?;
    Ok(if state.is_ready() {
        (Action::requeue(ctx.resync()), "ok")
    } else {
        (Action::requeue(PROVISIONING), "provisioning")
    })
}

/// The platform's ids, rebuilt from its status.
fn platform_refs(platform: &ChatbotPlatform) -> crate::resources::Refs {
    let status = platform.status.clone().unwrap_or_default();
    let account = status
        .account_id
        .clone()
        .unwrap_or_else(|| crate::desired::UNKNOWN_ACCOUNT.to_string());
    let desired = platform_desired::desired(platform, &account);
    engine::platform_refs(&desired, &status)
}

async fn cleanup(chatbot: &BedrockChatbot, ctx: &Context) -> Result<Action> {
    let reference = chatbot.object_ref(&());
    let name = &chatbot.spec.platform_ref.name;
    let Some(platform) = ctx.platforms.get(&ObjectRef::new(name)) else {
        // A platform is held while chatbots use it, so without one this chatbot
        // never got AWS resources: nothing to delete.
        ctx.publish(
            &reference,
            event(
                EventType::Normal,
                "Released",
                "Delete",
                format!("ChatbotPlatform {name} does not exist; nothing on AWS to delete"),
            ),
        )
        .await;
        return Ok(Action::await_change());
    };
    let refs = platform_refs(&platform);
    let deletion = engine::delete(&ctx.engine, chatbot, &platform, &refs).await;
    ctx.publish_progress(&reference, &owner(chatbot)).await;
    let deletion = deletion?;
    if deletion.is_done() {
        return Ok(Action::await_change());
    }
    let why = format!("waiting for AWS to delete {}", deletion.waiting.join(", "));
    let status = held(chatbot, REASON_DELETING, &why);
    publish_status(chatbot, &status, false, ctx).await?;
    Err(Error::DeletionPending(why))
}

/// `--dry-run`: what a pass would converge, as an Event and a log line; nothing
/// is written to AWS and no finalizer is added.
async fn dry_run(chatbot: &BedrockChatbot, ctx: &Context) -> Result<(Action, &'static str)> {
    let reference = chatbot.object_ref(&());
    let problems = problems(chatbot, ctx);
    let note = if !problems.is_empty() {
        problems_message(&problems)
    } else {
        match ready_platform(chatbot, ctx) {
            Err(why) => why,
            Ok(platform) => {
                let account = platform
                    .status
                    .as_ref()
                    .and_then(|s| s.account_id.clone())
                    .unwrap_or_else(|| crate::desired::UNKNOWN_ACCOUNT.to_string());
                let source = || Source {
                    path: PathBuf::from("cluster"),
                    document: 1,
                };
                let manifests = Manifests {
                    platforms: vec![Located {
                        source: source(),
                        object: (*platform).clone(),
                    }],
                    chatbots: vec![Located {
                        source: source(),
                        object: chatbot.clone(),
                    }],
                };
                let plan = crate::plan::plan(&manifests, &account).to_text();
                tracing::info!(%plan, "dry run");
                // The plan's chatbot part: the platform's own rows come first.
                let mine = plan
                    .split_once("BedrockChatbot/")
                    .map_or(plan.as_str(), |(_, rest)| rest);
                format!("dry run, nothing changed on AWS; desired: BedrockChatbot/{mine}")
            }
        }
    };
    ctx.publish(&reference, event(EventType::Normal, "DryRun", "Plan", note))
        .await;
    Ok((Action::requeue(ctx.resync()), "dry_run"))
}
