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
    crate::Error::Aws(AwsError {
        service,
        operation,
        class: classify(code.as_deref(), status),
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
}
