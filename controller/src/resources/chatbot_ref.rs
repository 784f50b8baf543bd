//! How a chatbot's resources point at each other: a [`ChatbotRef`] is resolved
//! through the same [`Refs`] as the platform's ids, under the component key of the
//! resource it names, so a module never needs to know who converged what.

use super::Refs;
use crate::desired::chatbot::{ChatbotRef, Input};
use crate::{Error, Result};

/// Key under which the user pool's id is recorded (the pool's component key).
pub const USER_POOL_ID: &str = "user-pool";

/// Key under which the user pool's ARN is recorded (its id goes under the pool's
/// component key; the listener rule needs the ARN).
pub const USER_POOL_ARN: &str = "user-pool-arn";

/// The [`Refs`] key of `reference`.
pub fn key(reference: &ChatbotRef) -> &'static str {
    match reference {
        ChatbotRef::UserPoolId => USER_POOL_ID,
        ChatbotRef::UserPoolArn => USER_POOL_ARN,
        ChatbotRef::UserPoolClientId => "user-pool-client",
        ChatbotRef::TargetGroupArn => "target-group",
        ChatbotRef::TaskRoleArn => "task-role",
        ChatbotRef::TaskDefinitionArn => "task-definition",
    }
}

/// The id or ARN `reference` points at, or [`Error::Unresolved`] until it exists.
pub fn resolve(refs: &Refs, reference: &ChatbotRef) -> Result<String> {
    let key = key(reference);
    refs.get(key)
        .map(str::to_string)
        .ok_or_else(|| Error::Unresolved(key.to_string()))
}

/// The value of an [`Input`]: as it is, or resolved through `refs`.
pub fn value(refs: &Refs, input: &Input) -> Result<String> {
    match input {
        Input::Value(value) => Ok(value.clone()),
        Input::Platform(reference) => refs.resolve(reference),
        Input::Chatbot(reference) => resolve(refs, reference),
        Input::Prefixed { prefix, reference } => {
            Ok(format!("{prefix}{}", resolve(refs, reference)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::PlatformRef;

    #[test]
    fn inputs_resolve_through_refs_or_wait() {
        let mut refs = Refs::default();
        refs.insert("load-balancer", "arn:alb");
        refs.insert("user-pool-client", "client-1");
        refs.insert("user-pool", "us-west-2_AbC");
        assert_eq!(value(&refs, &Input::Value("x".into())).unwrap(), "x");
        assert_eq!(
            value(&refs, &Input::Platform(PlatformRef::LoadBalancer)).unwrap(),
            "arn:alb"
        );
        assert_eq!(
            value(&refs, &Input::Chatbot(ChatbotRef::UserPoolClientId)).unwrap(),
            "client-1"
        );
        let issuer = Input::Prefixed {
            prefix: "https://cognito-idp.us-west-2.amazonaws.com/".into(),
            reference: ChatbotRef::UserPoolId,
        };
        assert_eq!(
            value(&refs, &issuer).unwrap(),
            "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_AbC"
        );
        assert!(matches!(
            value(&refs, &Input::Chatbot(ChatbotRef::TargetGroupArn)),
            Err(Error::Unresolved(key)) if key == "target-group"
        ));
    }
}
