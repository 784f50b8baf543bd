//! One reconcile for both kinds. What a `ChatbotPlatform` and a `BedrockChatbot`
//! share — paused objects left alone, nothing decided on unsynced caches, dry run,
//! the finalizer around every AWS write, invalid specs held with a terminal
//! condition, status by server-side apply with kstatus's conditions, an Event per
//! transition and per AWS resource, the ordered delete until AWS confirms — is
//! written once here; what differs is the [`Kind`] each implements (in
//! `chatbot.rs` and `platform.rs`): its status type, how it is checked, converged,
//! planned and deleted. Each reconcile ends in an [`Outcome`], the `result` label
//! of the metrics; the Events it publishes itself are `Notice`s.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_chatbot_crds::Condition;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{self, Event as Finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::status::{
    self, REASON_DELETING, REASON_DELETION_BLOCKED, REASON_INVALID_SPEC, REASON_RECONCILE_FAILED,
    apply_status, not_ready, with_progress,
};
use super::{Context, FINALIZER, PAUSED_ANNOTATION, event};
use crate::desired::Owner;
use crate::engine::Deletion;
use crate::validation::FieldProblem;
use crate::{Error, Result};

/// Pause between passes while AWS is still provisioning.
const PROVISIONING: Duration = Duration::from_secs(15);
/// Pause between passes while AWS is still deleting.
const DELETING: Duration = Duration::from_secs(10);
/// How soon a reconcile that found the caches incomplete comes back.
const UNSYNCED: Duration = Duration::from_secs(2);

/// How a reconcile ended: the `result` label of `reconciles_total` (the values
/// the README lists, which dashboards and tests read) and the log's `result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// The reconcile returned an error, a deletion that waits for AWS or for the
    /// objects that use it included (`reconcile_errors_total` counts the others
    /// by class).
    Failed,
}

impl Outcome {
    /// Every outcome, in the order the metric's help lists them.
    pub const ALL: [Self; 7] = [
        Self::Ok,
        Self::Provisioning,
        Self::Waiting,
        Self::InvalidSpec,
        Self::Paused,
        Self::DryRun,
        Self::Failed,
    ];

    /// Its value of the `result` label (in `reconciles_total` and the log).
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Provisioning => "provisioning",
            Self::Waiting => "waiting",
            Self::InvalidSpec => "invalid_spec",
            Self::Paused => "paused",
            Self::DryRun => "dry_run",
            Self::Failed => "error",
        }
    }
}

/// What a reconcile that did not fail came to.
#[derive(Debug)]
struct Reconciled {
    /// When to look again.
    action: Action,
    /// What it is counted and logged as.
    outcome: Outcome,
}

impl Reconciled {
    /// Ended as `outcome`, looked at again as `action` says.
    fn new(outcome: Outcome, action: Action) -> Self {
        Self { action, outcome }
    }
}

/// The Events the reconcile publishes itself. Those of each AWS resource come
/// from the engine's progress ([`Context::publish_progress`]), that of a change
/// of `Ready` from [`status::transition`].
#[derive(Debug)]
enum Notice {
    /// `--dry-run`'s plan.
    DryRun(String),
    /// Deleted with nothing on AWS to delete (why).
    Released(String),
    /// The deletion waits for the objects that use this one (which).
    DeletionBlocked(String),
    /// The reconcile failed (the error).
    ReconcileFailed(String),
}

impl Notice {
    fn event(self) -> KubeEvent {
        let (type_, reason, action, note) = match self {
            Self::DryRun(plan) => (EventType::Normal, "DryRun", "Plan", plan),
            Self::Released(why) => (EventType::Normal, "Released", "Delete", why),
            Self::DeletionBlocked(why) => {
                (EventType::Warning, REASON_DELETION_BLOCKED, "Delete", why)
            }
            Self::ReconcileFailed(error) => (
                EventType::Warning,
                REASON_RECONCILE_FAILED,
                "Reconcile",
                error,
            ),
        };
        event(type_, reason, action, note)
    }
}

/// What one pass over an object's AWS resources came to.
#[derive(Debug)]
pub enum Converged<S> {
    /// The engine ran: the status it found, and whether everything is ready.
    Pass {
        /// The status to apply to the object (conditions included).
        status: S,
        /// Ready (a chatbot: its tasks run too).
        ready: bool,
    },
    /// Nothing was done: the object waits for something else.
    Held {
        /// The `Ready` reason.
        reason: &'static str,
        /// The `Ready` condition's message: why, for people.
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

impl From<Deletion> for Deleted {
    fn from(deletion: Deletion) -> Self {
        if deletion.is_done() {
            Self::Done
        } else {
            Self::Pending(format!(
                "waiting for AWS to delete {}",
                deletion.waiting.join(", ")
            ))
        }
    }
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
    /// The kind's `.status`, applied whole to the status subresource by
    /// server-side apply.
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
    /// `--dry-run`'s report of a valid spec: what a pass would converge (or why it
    /// would wait).
    fn plan(&self, ctx: &Context) -> String;
}

/// Reconciles one object (the controller's entry point): one pass in a span
/// with the kind, namespace and name, its outcome and duration counted, a failure
/// logged with an Event (a deletion still waiting is no failure to report), the
/// backoff ended by a success.
pub async fn reconcile<K: Kind>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    let name = object.meta().name.clone().unwrap_or_default();
    let span =
        tracing::info_span!("reconcile", kind = K::KIND, namespace = %namespace, name = %name);
    let started = Instant::now();
    let passed = pass(object.clone(), &ctx).instrument(span.clone()).await;
    let _entered = span.enter();
    let outcome = passed.as_ref().map_or(Outcome::Failed, |r| r.outcome);
    ctx.metrics.reconciled(K::KIND, outcome, started.elapsed());
    match passed {
        Ok(Reconciled { action, outcome }) => {
            ctx.requeue
                .succeeded(&ObjectRef::from_obj(&*object).erase());
            tracing::info!(result = outcome.label(), requeue = ?action, "reconciled");
            Ok(action)
        }
        Err(error) => {
            if !matches!(error, Error::DeletionPending(_)) {
                ctx.metrics.failed(K::KIND, &error);
                tracing::warn!(%error, error_class = error.label(), "reconcile failed");
                notify(&*object, &ctx, Notice::ReconcileFailed(error.to_string())).await;
            }
            Err(error)
        }
    }
}

/// The requeue after a failed reconcile: a steady pace while a deletion waits,
/// exponential backoff for transient errors, the resync period for errors that
/// only a spec change can fix.
pub fn error_policy<K: Kind>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    match error {
        Error::DeletionPending(_) => Action::requeue(DELETING),
        error if error.is_retryable() => {
            Action::requeue(ctx.requeue.failed(ObjectRef::from_obj(&*object).erase()))
        }
        _ => Action::requeue(ctx.resync()),
    }
}

/// Publishes `notice` about `object`.
async fn notify<K: Kind>(object: &K, ctx: &Context, notice: Notice) {
    ctx.publish(&object.object_ref(&()), notice.event()).await;
}

/// Whether the object carries `bedrock-chatbot.dev/paused: "true"`.
fn is_paused<K: Resource>(object: &K) -> bool {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// One reconcile: nothing for a paused object, nothing decided on unsynced caches,
/// only a plan under `--dry-run`; else [`apply`] or [`cleanup`] inside the
/// finalizer.
async fn pass<K: Kind>(object: Arc<K>, ctx: &Context) -> Result<Reconciled> {
    if is_paused(&*object) {
        return Ok(Reconciled::new(Outcome::Paused, Action::await_change()));
    }
    if !ctx.caches_synced().await {
        tracing::info!("caches not synced yet; nothing decided");
        return Ok(Reconciled::new(Outcome::Waiting, Action::requeue(UNSYNCED)));
    }
    if ctx.settings.dry_run {
        let problems = object.problems(ctx);
        let note = if problems.is_empty() {
            object.plan(ctx)
        } else {
            problems_message(&problems)
        };
        tracing::info!(plan = %note, "dry run");
        notify(&*object, ctx, Notice::DryRun(note)).await;
        return Ok(Reconciled::new(
            Outcome::DryRun,
            Action::requeue(ctx.resync()),
        ));
    }
    let api = object.api(ctx);
    let mut outcome = Outcome::Ok;
    let action = finalizer::finalizer(&api, FINALIZER, object, |event| async {
        match event {
            Finalizer::Apply(object) => {
                let applied = apply(&*object, ctx).await?;
                outcome = applied.outcome;
                Ok(applied.action)
            }
            Finalizer::Cleanup(object) => cleanup(&*object, ctx).await,
        }
    })
    .await
    .map_err(from_finalizer)?;
    Ok(Reconciled { action, outcome })
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

/// The spec realised: refused when invalid (a terminal condition, no AWS call),
/// else one engine pass, its status applied and each AWS resource's Event
/// published.
async fn apply<K: Kind>(object: &K, ctx: &Context) -> Result<Reconciled> {
    let problems = object.problems(ctx);
    if !problems.is_empty() {
        let status = held(object, REASON_INVALID_SPEC, &problems_message(&problems));
        publish_status(object, status, true, ctx).await?;
        // Nothing heals by itself: a spec change triggers a reconcile at once, the
        // resync catches a conflict resolved by another object changing.
        return Ok(Reconciled::new(
            Outcome::InvalidSpec,
            Action::requeue(ctx.resync()),
        ));
    }
    let converged = object.converge(ctx).await;
    ctx.publish_progress(&object.object_ref(&()), &object.owner())
        .await;
    match converged {
        Ok(Converged::Pass { status, ready }) => {
            publish_status(object, status, false, ctx).await?;
            Ok(if ready {
                Reconciled::new(Outcome::Ok, Action::requeue(ctx.resync()))
            } else {
                Reconciled::new(Outcome::Provisioning, Action::requeue(PROVISIONING))
            })
        }
        Ok(Converged::Held {
            reason,
            message,
            requeue,
        }) => {
            publish_status(object, held(object, reason, &message), false, ctx).await?;
            Ok(Reconciled::new(Outcome::Waiting, Action::requeue(requeue)))
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

/// One pass of the ordered delete. `Ok` lets the finalizer go; a deletion still
/// waiting (for AWS, or for the objects that use this one) is an error, so the
/// finalizer stays and [`error_policy`] comes back at a steady pace.
async fn cleanup<K: Kind>(object: &K, ctx: &Context) -> Result<Action> {
    let deleted = object.delete(ctx).await;
    ctx.publish_progress(&object.object_ref(&()), &object.owner())
        .await;
    match deleted? {
        Deleted::Done => Ok(Action::await_change()),
        Deleted::Released(note) => {
            notify(object, ctx, Notice::Released(note)).await;
            Ok(Action::await_change())
        }
        Deleted::Blocked(why) => {
            let status = held(object, REASON_DELETION_BLOCKED, &why);
            publish_status(object, status, false, ctx).await?;
            notify(object, ctx, Notice::DeletionBlocked(why.clone())).await;
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
    *K::conditions(&mut status) = status::failed(conditions, object.meta().generation, error);
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
    if let Some(event) = status::transition(&before, K::conditions(&mut status)) {
        ctx.publish(&object.object_ref(&()), event).await;
    }
    Ok(())
}

/// The problems as one condition message, each naming its field.
fn problems_message(problems: &[FieldProblem]) -> String {
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("invalid spec: {}", list.join("; "))
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    /// The `result` values of `reconciles_total`, as the README lists them.
    #[test]
    fn every_outcome_has_its_documented_label() {
        let outcomes = [
            Outcome::Ok,
            Outcome::Provisioning,
            Outcome::Waiting,
            Outcome::InvalidSpec,
            Outcome::Paused,
            Outcome::DryRun,
            Outcome::Failed,
        ];
        assert_eq!(
            outcomes.map(Outcome::label),
            [
                "ok",
                "provisioning",
                "waiting",
                "invalid_spec",
                "paused",
                "dry_run",
                "error"
            ]
        );
    }
}
