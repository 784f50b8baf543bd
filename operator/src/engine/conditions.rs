//! Conditions keyed by `type`, kstatus style: the transition time changes only when
//! the status does.

use bedrock_chatbot_crds::{Condition, ConditionStatus};

/// What one condition says: its status, why (a CamelCase reason) and, for people, a
/// message (empty when there is nothing to add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

impl Verdict {
    pub fn new(status: ConditionStatus, reason: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// Status `True`.
    pub fn holds(reason: &str, message: impl Into<String>) -> Self {
        Self::new(ConditionStatus::True, reason, message)
    }

    /// Status `False`.
    pub fn fails(reason: &str, message: impl Into<String>) -> Self {
        Self::new(ConditionStatus::False, reason, message)
    }
}

/// What every condition one pass sets carries: the generation the pass acted on, and
/// the time it stamps on a condition whose status changes.
#[derive(Clone, Debug)]
pub struct Stamp {
    generation: Option<i64>,
    now: String,
}

impl Stamp {
    /// For `generation`, at the current time.
    pub fn now(generation: Option<i64>) -> Self {
        Self::at(generation, &now())
    }

    /// For `generation`, at `time` (RFC 3339).
    pub fn at(generation: Option<i64>, time: &str) -> Self {
        Self {
            generation,
            now: time.to_string(),
        }
    }
}

/// Sets the condition of `type_` in `conditions` to `verdict`, keeping its transition
/// time when its status is unchanged.
pub fn set(conditions: &mut Vec<Condition>, type_: &str, verdict: Verdict, stamp: &Stamp) {
    let Verdict {
        status,
        reason,
        message,
    } = verdict;
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time.clone_from(&stamp.now);
            }
            existing.status = status;
            existing.reason = reason;
            existing.message = message;
            existing.observed_generation = stamp.generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason,
            message,
            last_transition_time: stamp.now.clone(),
            observed_generation: stamp.generation,
        }),
    }
}

/// The status of condition `type_`, if set.
pub fn status_of(conditions: &[Condition], type_: &str) -> Option<ConditionStatus> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status)
}

/// Now, as RFC 3339 with second precision (what Kubernetes stores).
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_changes_only_with_the_status() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            "Ready",
            Verdict::new(ConditionStatus::False, "Creating", "a"),
            &Stamp::at(Some(1), "t1"),
        );
        set(
            &mut conditions,
            "Ready",
            Verdict::new(ConditionStatus::False, "Waiting", "b"),
            &Stamp::at(Some(1), "t2"),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, "t1");
        assert_eq!(conditions[0].reason, "Waiting");
        set(
            &mut conditions,
            "Ready",
            Verdict::new(ConditionStatus::True, "Ready", "c"),
            &Stamp::at(Some(2), "t3"),
        );
        assert_eq!(conditions[0].last_transition_time, "t3");
        assert_eq!(conditions[0].observed_generation, Some(2));
        set(
            &mut conditions,
            "Synced",
            Verdict::new(ConditionStatus::True, "Synced", ""),
            &Stamp::at(Some(2), "t4"),
        );
        assert_eq!(conditions.len(), 2);
        assert_eq!(
            status_of(&conditions, "Synced"),
            Some(ConditionStatus::True)
        );
        assert!(now().ends_with('Z'));
    }
}
