//! How a chatbot's resources point at each other: a [`ChatbotRef`] is resolved
//! through the same [`Refs`] as the platform's ids, under the component key of the
//! resource it names, so a module never needs to know who converged what.

use crate::desired::RefKey;
use crate::desired::chatbot::{ChatbotRef, Input};
use crate::resources::Refs;
use crate::{Error, Result};

/// The [`Refs`] key of `reference`: the component key of the resource it names,
/// but for the user pool's ARN (its id goes under the pool's component key).
pub fn key(reference: &ChatbotRef) -> RefKey {
    match reference {
        ChatbotRef::UserPoolId => RefKey::USER_POOL,
        ChatbotRef::UserPoolArn => RefKey::USER_POOL_ARN,
        ChatbotRef::UserPoolClientId => RefKey::USER_POOL_CLIENT,
        ChatbotRef::TargetGroupArn => RefKey::TARGET_GROUP,
        ChatbotRef::TaskRoleArn => RefKey::TASK_ROLE,
        ChatbotRef::TaskDefinitionArn => RefKey::TASK_DEFINITION,
    }
}

/// The id or ARN `reference` points at, or [`Error::Unresolved`] until it exists.
pub fn resolve(refs: &Refs, reference: &ChatbotRef) -> Result<String> {
    let key = key(reference);
    refs.get(&key)
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
        refs.insert(RefKey::LOAD_BALANCER, "arn:alb");
        refs.insert(RefKey::USER_POOL_CLIENT, "client-1");
        refs.insert(RefKey::USER_POOL, "us-west-2_AbC");
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
