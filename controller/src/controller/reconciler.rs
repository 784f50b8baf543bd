//! One reconcile for both kinds. What a `ChatbotPlatform` and a `BedrockChatbot`
//! share — paused objects left alone, nothing decided on unsynced caches, dry run,
//! the finalizer around every AWS write, invalid specs held with a terminal
//! condition, status by server-side apply with kstatus's conditions, an Event per
//! transition and per AWS resource, the ordered delete until AWS confirms — is
//! written once here; what differs is the [`Kind`] each implements (in
//! `chatbot.rs` and `platform.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bedrock_chatbot_crds::Condition;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    Context, FINALIZER, PROVISIONING, REASON_DELETING, REASON_DELETION_BLOCKED,
    REASON_INVALID_SPEC, apply_status, caches_not_synced, error_action, event, failed, is_paused,
    not_ready, observed, problems_message, transition, with_progress,
};
use crate::desired::Owner;
use crate::validation::FieldProblem;
use crate::{Error, Result};

/// How a reconcile ended, for the `result` label of the metrics and the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the object asks for is there (or was deleted).
    Ok,
    /// AWS is still creating or changing something.
    Provisioning,
    /// The object waits for something outside it (its platform, the caches).
    Waiting,
    /// The spec cannot work as written; nothing was done.
    InvalidSpec,
    /// The object carries the paused annotation; nothing was looked at.
    Paused,
    /// `--dry-run`: reported, nothing changed.
    DryRun,
}

impl Outcome {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Provisioning => "provisioning",
            Self::Waiting => "waiting",
            Self::InvalidSpec => "invalid_spec",
            Self::Paused => "paused",
            Self::DryRun => "dry_run",
        }
    }
}

/// What one pass over an object's AWS resources came to.
#[derive(Debug)]
pub enum Converged<S> {
    /// The engine ran: the status it found, and whether everything is ready.
    Pass {
        /// The new status.
        status: S,
        /// Ready (a chatbot: its tasks run too).
        ready: bool,
    },
    /// Nothing was done: the object waits for something else.
    Held {
        /// The `Ready` reason.
        reason: &'static str,
        /// Why, for people.
        message: String,
        /// When to look again (a change of what it waits for comes sooner).
        requeue: Duration,
    },
}

/// What one pass of the delete came to.
#[derive(Debug)]
pub enum Deleted {
    /// Everything is gone (or retained): the finalizer may go.
    Done,
    /// There was never anything on AWS; the note says why, as an Event.
    Released(String),
    /// Other objects still use this one (the message names them).
    Blocked(String),
    /// AWS is still deleting (the message lists what).
    Pending(String),
}

/// What the reconcile needs to know of a kind.
pub trait Kind:
    Resource<DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Its status.
    type Status: Clone + Default + Serialize + Send + Sync;
    /// The kind, for metrics, logs and Events.
    const KIND: &'static str;

    /// The status the object carries, if any.
    fn status(&self) -> Option<&Self::Status>;
    /// The conditions of `status`.
    fn conditions(status: &mut Self::Status) -> &mut Vec<Condition>;
    /// Sets `status.observedGeneration`.
    fn observe(status: &mut Self::Status, generation: Option<i64>);
    /// The API of the object's own collection.
    fn api(&self, ctx: &Context) -> Api<Self>;
    /// Who owns the AWS resources made for it.
    fn owner(&self) -> Owner;
    /// What is wrong with its spec: schema and CEL as the API server checks them,
    /// and the checks across objects against the caches.
    fn problems(&self, ctx: &Context) -> Vec<FieldProblem>;
    /// One engine pass (or why it must wait).
    fn converge(
        &self,
        ctx: &Context,
    ) -> impl Future<Output = Result<Converged<Self::Status>>> + Send;
    /// One pass of the ordered delete (or why it must wait).
    fn delete(&self, ctx: &Context) -> impl Future<Output = Result<Deleted>> + Send;
    /// `--dry-run`'s report: what a pass would converge (or why it would wait).
    fn plan(&self, ctx: &Context) -> String;
}

/// Reconciles one object (the controller's entry point).
pub async fn reconcile<K: Kind>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    observed(
        K::KIND,
        &*object,
        &ctx,
        reconcile_inner(object.clone(), &ctx),
    )
    .await
}

/// Logs and backs off after a failed reconcile.
pub fn error_policy<K: Kind>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}/{}",
        K::KIND,
        object.namespace().unwrap_or_default(),
        object.name_any()
    );
    error_action(&key, error, &ctx)
}

async fn reconcile_inner<K: Kind>(object: Arc<K>, ctx: &Context) -> Result<(Action, Outcome)> {
    if is_paused(&*object) {
        return Ok((Action::await_change(), Outcome::Paused));
    }
    if !ctx.caches_synced().await {
        return Ok(caches_not_synced());
    }
    if ctx.settings.dry_run {
        let note = object.plan(ctx);
        tracing::info!(plan = %note, "dry run");
        ctx.publish(
            &object.object_ref(&()),
            event(EventType::Normal, "DryRun", "Plan", note),
        )
        .await;
        return Ok((Action::requeue(ctx.resync()), Outcome::DryRun));
    }
    let api = object.api(ctx);
    let mut outcome = Outcome::Ok;
    let action = finalizer::finalizer(&api, FINALIZER, object, |event| async {
        match event {
            Finalizer::Apply(object) => {
                let (action, how) = apply(&*object, ctx).await?;
                outcome = how;
                Ok(action)
            }
            Finalizer::Cleanup(object) => cleanup(&*object, ctx).await,
        }
    })
    .await
    .map_err(from_finalizer)?;
    Ok((action, outcome))
}

/// The reconcile's own error out of the finalizer's wrapping.
fn from_finalizer(error: finalizer::Error<Error>) -> Error {
    match error {
        finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => error,
        finalizer::Error::AddFinalizer(error) | finalizer::Error::RemoveFinalizer(error) => {
            Error::Kube(error)
        }
        other => Error::Finalizer(Box::new(other)),
    }
}

async fn apply<K: Kind>(object: &K, ctx: &Context) -> Result<(Action, Outcome)> {
    let problems = object.problems(ctx);
    if !problems.is_empty() {
        let status = held(object, REASON_INVALID_SPEC, &problems_message(&problems));
        publish_status(object, status, true, ctx).await?;
        // Nothing heals by itself: a spec change triggers a reconcile at once, the
        // resync catches a conflict resolved by another object changing.
        return Ok((Action::requeue(ctx.resync()), Outcome::InvalidSpec));
    }
    let converged = object.converge(ctx).await;
    ctx.publish_progress(&object.object_ref(&()), &object.owner())
        .await;
    match converged {
        Ok(Converged::Pass { status, ready }) => {
            publish_status(object, status, false, ctx).await?;
            Ok(if ready {
                (Action::requeue(ctx.resync()), Outcome::Ok)
            } else {
                (Action::requeue(PROVISIONING), Outcome::Provisioning)
            })
        }
        Ok(Converged::Held {
            reason,
            message,
            requeue,
        }) => {
            publish_status(object, held(object, reason, &message), false, ctx).await?;
            Ok((Action::requeue(requeue), Outcome::Waiting))
        }
        Err(error) => {
            // Best effort: the error is what counts, and it is returned either way.
            let status = failed_status(object, &error);
            if let Err(status_error) =
                publish_status(object, status, !error.is_retryable(), ctx).await
            {
                tracing::warn!(error = %status_error, "cannot report the failure in status");
            }
            Err(error)
        }
    }
}

async fn cleanup<K: Kind>(object: &K, ctx: &Context) -> Result<Action> {
    let reference = object.object_ref(&());
    let deleted = object.delete(ctx).await;
    ctx.publish_progress(&reference, &object.owner()).await;
    match deleted? {
        Deleted::Done => Ok(Action::await_change()),
        Deleted::Released(note) => {
            ctx.publish(
                &reference,
                event(EventType::Normal, "Released", "Delete", note),
            )
            .await;
            Ok(Action::await_change())
        }
        Deleted::Blocked(why) => {
            publish_status(
                object,
                held(object, REASON_DELETION_BLOCKED, &why),
                false,
                ctx,
            )
            .await?;
            ctx.publish(
                &reference,
                event(
                    EventType::Warning,
                    REASON_DELETION_BLOCKED,
                    "Delete",
                    why.clone(),
                ),
            )
            .await;
            Err(Error::DeletionPending(why))
        }
        Deleted::Pending(why) => {
            publish_status(object, held(object, REASON_DELETING, &why), false, ctx).await?;
            Err(Error::DeletionPending(why))
        }
    }
}

/// The previous status, every field kept, observed at the current generation.
fn previous<K: Kind>(object: &K) -> K::Status {
    let mut status = object.status().cloned().unwrap_or_default();
    K::observe(&mut status, object.meta().generation);
    status
}

/// The previous status with `Ready`/`Synced` False for `reason`.
fn held<K: Kind>(object: &K, reason: &str, message: &str) -> K::Status {
    let mut status = previous(object);
    let conditions = std::mem::take(K::conditions(&mut status));
    *K::conditions(&mut status) = not_ready(conditions, reason, message, object.meta().generation);
    status
}

/// The previous status with the conditions of a failed pass.
fn failed_status<K: Kind>(object: &K, error: &Error) -> K::Status {
    let mut status = previous(object);
    let conditions = std::mem::take(K::conditions(&mut status));
    *K::conditions(&mut status) = failed(conditions, object.meta().generation, error);
    status
}

/// Applies `status` with kstatus's conditions (`stalled`: nothing progresses until
/// something changes) and publishes the transition of `Ready` it makes.
async fn publish_status<K: Kind>(
    object: &K,
    mut status: K::Status,
    stalled: bool,
    ctx: &Context,
) -> Result<()> {
    with_progress(
        K::conditions(&mut status),
        object.meta().generation,
        stalled,
    );
    apply_status(&object.api(ctx), &object.name_any(), &status).await?;
    let mut before = object.status().cloned().unwrap_or_default();
    let before = std::mem::take(K::conditions(&mut before));
    if let Some(event) = transition(&before, K::conditions(&mut status)) {
        ctx.publish(&object.object_ref(&()), event).await;
    }
    Ok(())
}
