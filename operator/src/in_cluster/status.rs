//! What a pass writes in an object's status besides what the engine found: the
//! `Ready` and `Synced` conditions of a held, invalid or failed pass, kstatus's
//! `Reconciling` and `Stalled` derived from them, and the Event a change of `Ready`
//! makes. Status goes by server-side apply to the status subresource, so the
//! controller owns it and never conflicts with the spec's writers.

use bedrock_chatbot_crds::{
    CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, CONDITION_SYNCED, Condition,
    ConditionStatus,
};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::{FIELD_MANAGER, event};
use crate::engine::conditions::{self, Stamp, Verdict};
use crate::{Error, Result};

/// Reason of `Synced=False`/`Ready=False` for a spec that cannot work as written.
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
/// Reason of `Ready=False` on a chatbot whose platform is missing or not ready.
pub const REASON_WAITING_FOR_PLATFORM: &str = "WaitingForPlatform";
/// Reason of `Ready=False` on a platform whose deletion waits for its chatbots.
pub const REASON_DELETION_BLOCKED: &str = "DeletionBlocked";
/// Reason of `Ready=False` while AWS deletes an object's resources.
pub const REASON_DELETING: &str = "Deleting";
/// Reason of `Synced=False` after a failed reconcile.
pub const REASON_RECONCILE_FAILED: &str = "ReconcileFailed";

/// Applies `status` to the status subresource of `name` (server-side apply, forced:
/// the controller owns status).
pub async fn apply_status<K>(api: &Api<K>, name: &str, status: &impl serde::Serialize) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::Kube)?;
    Ok(())
}

/// `conditions` with `Ready` and `Synced` set to False for `reason`.
pub fn not_ready(
    mut conditions: Vec<Condition>,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Vec<Condition> {
    let stamp = Stamp::now(generation);
    for type_ in [CONDITION_READY, CONDITION_SYNCED] {
        conditions::set(
            &mut conditions,
            type_,
            Verdict::fails(reason, message),
            &stamp,
        );
    }
    conditions
}

/// Sets kstatus's `Reconciling` and `Stalled` from `Ready` (Flux, Argo CD and
/// cli-utils read these two): Stalled when the controller cannot make progress
/// until something changes (`stalled`: an invalid spec, an AWS error no retry
/// fixes), else Reconciling while not Ready; both False when Ready.
pub fn with_progress(conditions: &mut Vec<Condition>, generation: Option<i64>, stalled: bool) {
    let stamp = Stamp::now(generation);
    let (ready, reason, message) = conditions
        .iter()
        .find(|c| c.type_ == CONDITION_READY)
        .map(|c| {
            (
                c.status == ConditionStatus::True,
                c.reason.clone(),
                c.message.clone(),
            )
        })
        .unwrap_or((false, "Pending".to_string(), String::new()));
    let (stalled_status, reconciling_status) = match (ready, stalled) {
        (_, true) => (ConditionStatus::True, ConditionStatus::False),
        (true, false) => (ConditionStatus::False, ConditionStatus::False),
        (false, false) => (ConditionStatus::False, ConditionStatus::True),
    };
    for (type_, status) in [
        (CONDITION_STALLED, stalled_status),
        (CONDITION_RECONCILING, reconciling_status),
    ] {
        let message = if status == ConditionStatus::True {
            message.clone()
        } else {
            String::new()
        };
        conditions::set(
            conditions,
            type_,
            Verdict::new(status, &reason, message),
            &stamp,
        );
    }
}

/// The event for a change of the `Ready` condition between `before` and `after`,
/// if its status or reason changed.
pub fn transition(before: &[Condition], after: &[Condition]) -> Option<KubeEvent> {
    let ready = |c: &[Condition]| {
        c.iter()
            .find(|c| c.type_ == CONDITION_READY)
            .map(|c| (c.status, c.reason.clone(), c.message.clone()))
    };
    let (status, reason, message) = ready(after)?;
    if reason == REASON_RECONCILE_FAILED {
        // Every failed reconcile already has its Warning event.
        return None;
    }
    let previous = ready(before);
    if previous
        .as_ref()
        .is_some_and(|(s, r, _)| *s == status && *r == reason)
    {
        return None;
    }
    let (type_, event_reason) = match status {
        ConditionStatus::True => (EventType::Normal, "Ready".to_string()),
        _ if reason == REASON_INVALID_SPEC => (EventType::Warning, reason.clone()),
        _ => (EventType::Normal, reason.clone()),
    };
    let note = if message.is_empty() {
        format!("Ready={status:?} ({reason})")
    } else {
        format!("Ready={status:?} ({reason}): {message}")
    };
    Some(event(type_, &event_reason, "Reconcile", note))
}

/// `conditions` after a failed pass: `Synced=False ReconcileFailed` with the
/// error's text, and `Ready` told the truth. A transient failure (throttling, 5xx,
/// the network) of a pass over a spec that was Ready leaves `Ready` as the last
/// complete pass found it: the resources are still there, and dependants (a
/// platform's chatbots) need not stop. Any other failure means the spec as written
/// is not known to be realised: `Ready=False ReconcileFailed`.
pub fn failed(
    mut conditions: Vec<Condition>,
    generation: Option<i64>,
    error: &Error,
) -> Vec<Condition> {
    let stamp = Stamp::now(generation);
    let message = format!("{error} (retrying: {})", error.is_retryable());
    let still_ready = error.is_retryable()
        && conditions.iter().any(|c| {
            c.type_ == CONDITION_READY
                && c.status == ConditionStatus::True
                && c.observed_generation == generation
        });
    if !still_ready {
        let failed = Verdict::fails(REASON_RECONCILE_FAILED, message.clone());
        conditions::set(&mut conditions, CONDITION_READY, failed, &stamp);
    }
    let failed = Verdict::fails(REASON_RECONCILE_FAILED, message);
    conditions::set(&mut conditions, CONDITION_SYNCED, failed, &stamp);
    conditions
}
