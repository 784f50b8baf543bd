//! Conditions keyed by `type`, kstatus style: the transition time changes only when
//! the status does.

use bedrock_chatbot_crds::{Condition, ConditionStatus};

/// Sets the condition of `type_` in `conditions`, keeping its transition time when
/// its status is unchanged.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: &str,
) {
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = now.to_string();
            }
            existing.status = status;
            existing.reason = reason.to_string();
            existing.message = message;
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message,
            last_transition_time: now.to_string(),
            observed_generation: generation,
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
            ConditionStatus::False,
            "Creating",
            "a",
            Some(1),
            "t1",
        );
        set(
            &mut conditions,
            "Ready",
            ConditionStatus::False,
            "Waiting",
            "b",
            Some(1),
            "t2",
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, "t1");
        assert_eq!(conditions[0].reason, "Waiting");
        set(
            &mut conditions,
            "Ready",
            ConditionStatus::True,
            "Ready",
            "c",
            Some(2),
            "t3",
        );
        assert_eq!(conditions[0].last_transition_time, "t3");
        assert_eq!(conditions[0].observed_generation, Some(2));
        set(
            &mut conditions,
            "Synced",
            ConditionStatus::True,
            "Synced",
            "",
            Some(2),
            "t4",
        );
        assert_eq!(conditions.len(), 2);
        assert_eq!(
            status_of(&conditions, "Synced"),
            Some(ConditionStatus::True)
        );
        assert!(now().ends_with('Z'));
    }
}
