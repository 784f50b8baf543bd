//! AWS errors, classified once: what to retry, what to re-observe, what needs a
//! person.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How to react to an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, a broken connection: retry with backoff.
    Retryable,
    /// The world moved (in use, dependency, already exists, eventual consistency):
    /// observe again, then retry.
    Conflict,
    /// The resource is gone.
    NotFound,
    /// AWS has not propagated a change it accepted (a new role, VPC or subnet, a
    /// new account's service-linked role): the same request succeeds after seconds
    /// to minutes. Retried for a bounded time, then a person must look.
    Propagating,
    /// Permissions or a request AWS will never accept: a person must act.
    Terminal,
}

/// An AWS call that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct AwsError {
    /// Service, e.g. `ec2`.
    pub service: &'static str,
    /// Operation, e.g. `CreateVpc`.
    pub operation: &'static str,
    /// AWS error code, e.g. `DependencyViolation`.
    pub code: Option<String>,
    /// AWS's message.
    pub message: String,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// What to do about it.
    pub class: ErrorClass,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed", self.service, self.operation)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl AwsError {
    /// A response that parsed but made no sense (a missing id, say).
    pub fn unexpected(service: &'static str, operation: &'static str, message: &str) -> Self {
        Self {
            service,
            operation,
            code: None,
            message: message.to_string(),
            status: None,
            class: ErrorClass::Retryable,
        }
    }

    /// Whether the error code is `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorityRequestThrottled",
];

const CONFLICT: &[&str] = &[
    "DependencyViolation",
    "ResourceInUse",
    "ResourceInUseException",
    "PriorityInUse",
    "ConcurrentModification",
    "ConcurrentModificationException",
    "ConcurrentUpdateException",
    "IncorrectState",
    "InvalidState",
    "OperationAborted",
    "ResourceConflictException",
    "InvalidParameterException.Eventual",
];

const ACCESS: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
];

/// Classifies an error from a code and an HTTP status.
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    match (code, status) {
        (Some(code), _) if THROTTLING.contains(&code) => ErrorClass::Retryable,
        (Some(code), _) if ACCESS.contains(&code) => ErrorClass::Terminal,
        (Some(code), _) if CONFLICT.contains(&code) => ErrorClass::Conflict,
        (Some(code), _)
            if code.contains("NotFound")
                || code.starts_with("NoSuch")
                || code.ends_with(".NotFound") =>
        {
            ErrorClass::NotFound
        }
        (_, Some(429)) => ErrorClass::Retryable,
        (_, Some(status)) if status >= 500 => ErrorClass::Retryable,
        (_, None) => ErrorClass::Retryable,
        _ => ErrorClass::Terminal,
    }
}

/// The EC2 calls that take a resource just created as an argument: a `.NotFound`
/// for it is eventual consistency, not absence ([Eventual consistency in the
/// Amazon EC2 API](https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)).
/// (A `Delete*`'s `.NotFound` is a resource already gone.)
const EC2_USES: &[&str] = &[
    "Create",
    "Attach",
    "Associate",
    "Modify",
    "Authorize",
    "Replace",
];

/// Whether an error is AWS still propagating a change, by service, operation,
/// code and message (AWS gives these errors no code of their own):
/// - ECS on a new account before (or just after) its service-linked role exists:
///   `InvalidParameterException: Unable to assume the service linked role`
///   ([Using service-linked roles for Amazon ECS](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html));
/// - ECS right after `CreateRole`: `ClientException: Role is not valid`,
///   `InvalidParameterException: Unable to assume role`, or AccessDenied on
///   `iam:PassRole` ([IAM eventual consistency](https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency));
/// - EC2's `Invalid…ID.NotFound` on a call that uses a resource just created.
pub fn propagating(service: &str, operation: &str, code: Option<&str>, message: &str) -> bool {
    let Some(code) = code else { return false };
    match (service, code) {
        ("ecs", "InvalidParameterException") => {
            message.contains("Unable to assume the service linked role")
                || message.contains("Unable to assume role")
        }
        ("ecs", "ClientException") => message.contains("Role is not valid"),
        ("ecs", "AccessDeniedException") => message.contains("iam:PassRole"),
        ("ec2", code) => {
            code.starts_with("Invalid")
                && code.ends_with(".NotFound")
                && EC2_USES.iter().any(|verb| operation.starts_with(verb))
        }
        _ => false,
    }
}

/// Whether the error says this account has no ECS service-linked role (yet).
pub fn no_ecs_service_linked_role(error: &crate::Error) -> bool {
    matches!(error, crate::Error::Aws(e)
        if e.service == "ecs" && e.message.contains("Unable to assume the service linked role"))
}

/// Turns an SDK error into the operator's error, classified.
pub fn aws_error<E>(
    service: &'static str,
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
) -> crate::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let (code, message) = match &error {
        SdkError::ServiceError(_) => (
            error.code().map(str::to_string),
            error.message().unwrap_or("no message").to_string(),
        ),
        other => (
            None,
            format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(other)
            ),
        ),
    };
    let class = if propagating(service, operation, code.as_deref(), &message) {
        ErrorClass::Propagating
    } else {
        classify(code.as_deref(), status)
    };
    crate::Error::Aws(AwsError {
        service,
        operation,
        class,
        code,
        message,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify(Some("ThrottlingException"), Some(400)),
            ErrorClass::Retryable
        );
        assert_eq!(
            classify(Some("RequestLimitExceeded"), Some(503)),
            ErrorClass::Retryable
        );
        assert_eq!(classify(None, Some(503)), ErrorClass::Retryable);
        assert_eq!(classify(None, Some(429)), ErrorClass::Retryable);
        assert_eq!(classify(None, None), ErrorClass::Retryable);
        assert_eq!(
            classify(Some("AccessDenied"), Some(403)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify(Some("UnauthorizedOperation"), Some(403)),
            ErrorClass::Terminal
        );
        assert_eq!(
            classify(Some("DependencyViolation"), Some(400)),
            ErrorClass::Conflict
        );
        assert_eq!(
            classify(Some("PriorityInUse"), Some(400)),
            ErrorClass::Conflict
        );
        assert_eq!(
            classify(Some("InvalidVpcID.NotFound"), Some(400)),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(Some("NoSuchEntity"), Some(404)),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(Some("LoadBalancerNotFound"), Some(400)),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(Some("InvalidParameterValue"), Some(400)),
            ErrorClass::Terminal
        );
    }

    #[test]
    fn propagation_is_told_apart_from_absence_and_refusal() {
        let slr = "Unable to assume the service linked role. Please verify that the ECS service linked role exists.";
        assert!(propagating(
            "ecs",
            "CreateCluster",
            Some("InvalidParameterException"),
            slr
        ));
        assert!(propagating(
            "ecs",
            "RegisterTaskDefinition",
            Some("ClientException"),
            "Role is not valid"
        ));
        assert!(propagating(
            "ecs",
            "CreateService",
            Some("AccessDeniedException"),
            "User: x is not authorized to perform: iam:PassRole on resource: y"
        ));
        assert!(propagating(
            "ec2",
            "CreateSubnet",
            Some("InvalidVpcID.NotFound"),
            "The vpc ID 'vpc-1' does not exist"
        ));
        assert!(propagating(
            "ec2",
            "AssociateRouteTable",
            Some("InvalidSubnetID.NotFound"),
            "x"
        ));
        // Gone, not propagating: a delete, or a look-up.
        assert!(!propagating(
            "ec2",
            "DeleteSubnet",
            Some("InvalidSubnetID.NotFound"),
            "x"
        ));
        assert!(!propagating(
            "ec2",
            "DescribeVpcs",
            Some("InvalidVpcID.NotFound"),
            "x"
        ));
        // Refusals stay refusals.
        assert!(!propagating(
            "ecs",
            "CreateService",
            Some("InvalidParameterException"),
            "The target group does not have an associated load balancer."
        ));
        assert!(!propagating(
            "ecs",
            "CreateService",
            Some("AccessDeniedException"),
            "not authorized to perform: ecs:CreateService"
        ));
        assert!(!propagating(
            "iam",
            "CreateRole",
            Some("InvalidParameterException"),
            slr
        ));
        assert!(!propagating("ecs", "CreateCluster", None, slr));
    }
}
