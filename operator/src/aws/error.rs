//! AWS errors, classified once: what to retry, what to re-observe, what needs a
//! person.
//!
//! An [`AwsError`] keeps the SDK's error as its source, so a caller can still match
//! the service's typed error ([`AwsError::service_error`]); its service and operation
//! come from the SDK's own metadata of the call, put on the error by the
//! [`NameCalls`] interceptor, not from the caller. Throttling and transient codes
//! are the SDK's own retry classifiers' lists.

use std::fmt;

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ProvideErrorKind;
use aws_types::SigningName;

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
#[derive(Debug, thiserror::Error)]
pub struct AwsError {
    /// Service, by its IAM prefix (the SDK's signing name), e.g. `ec2`,
    /// `elasticloadbalancing`.
    pub service: String,
    /// Operation, e.g. `CreateVpc`.
    pub operation: String,
    /// AWS error code, e.g. `DependencyViolation`.
    pub code: Option<String>,
    /// AWS's message.
    pub message: String,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// What to do about it.
    pub class: ErrorClass,
    /// The SDK's error (an `SdkError<E, HttpResponse>`), when the SDK gave one.
    #[source]
    pub source: Option<BoxError>,
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
    pub fn unexpected(service: &str, operation: &str, message: &str) -> Self {
        Self {
            service: service.to_string(),
            operation: operation.to_string(),
            code: None,
            message: message.to_string(),
            status: None,
            class: ErrorClass::Retryable,
            source: None,
        }
    }

    /// The service's own error of the operation whose error type is `E` (e.g.
    /// `CreateRuleError::PriorityInUseException`), when this is one.
    pub fn service_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source
            .as_deref()?
            .downcast_ref::<SdkError<E, HttpResponse>>()?
            .as_service_error()
    }
}

/// Classifies an error from a code and an HTTP status. Throttling and transient
/// codes are those the SDK's standard retry retries
/// (`aws_runtime::retries::classifiers`); by then it has retried them already.
pub fn classify(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    match (code, status) {
        (Some(code), _)
            if THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code) =>
        {
            ErrorClass::Retryable
        }
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
/// - EC2's `Invalid…ID.NotFound` on a call that uses a resource just created;
/// - S3's `NoSuchBucket` on a `Put…` of a bucket's settings: the bucket was just
///   created, and not every S3 host knows it yet (the operator puts settings only
///   on a bucket it has found or created).
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
        ("s3", "NoSuchBucket") => {
            operation.starts_with("PutBucket") || operation == "PutPublicAccessBlock"
        }
        _ => false,
    }
}

/// Whether the error says this account has no ECS service-linked role (yet).
pub fn no_ecs_service_linked_role(error: &crate::Error) -> bool {
    matches!(error, crate::Error::Aws(e)
        if e.service == "ecs" && e.message.contains("Unable to assume the service linked role"))
}

impl<E> From<SdkError<E, HttpResponse>> for crate::Error
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
{
    /// The operator's error for an SDK error, classified, named after the call it
    /// came from, with the SDK's error as its source.
    fn from(error: SdkError<E, HttpResponse>) -> Self {
        crate::Error::Aws(AwsError::from(error))
    }
}

impl<E> From<SdkError<E, HttpResponse>> for AwsError
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> Self {
        let status = error.raw_response().map(|r| r.status().as_u16());
        let named = Named::of(&error);
        let call = error
            .raw_response()
            .and_then(|r| r.extension::<CallName>())
            .or(named.map(|n| &n.call))
            .cloned()
            .unwrap_or_else(CallName::unknown);
        let (code, message, modeled_retryable) = match &error {
            SdkError::ServiceError(service) => (
                error.code().map(str::to_string),
                error.message().unwrap_or("no message").to_string(),
                service.err().retryable_error_kind().is_some(),
            ),
            other => {
                let message = match named {
                    Some(named) => DisplayErrorContext(&*named.source).to_string(),
                    None => DisplayErrorContext(other).to_string(),
                };
                (None, message, false)
            }
        };
        let class = if propagating(&call.service, &call.operation, code.as_deref(), &message) {
            ErrorClass::Propagating
        } else if modeled_retryable {
            ErrorClass::Retryable
        } else {
            classify(code.as_deref(), status)
        };
        AwsError {
            service: call.service,
            operation: call.operation,
            class,
            code,
            message,
            status,
            source: Some(Box::new(error)),
        }
    }
}

/// The output of a look-up, `None` when the service answers that what was looked
/// up does not exist: `absent` is the SDK's test for the operation's typed error
/// (e.g. `DescribeTableError::is_resource_not_found_exception`).
pub fn or_absent<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    absent: impl FnOnce(&E) -> bool,
) -> crate::Result<Option<T>>
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(error) if error.as_service_error().is_some_and(absent) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Which AWS call an error came from: the service by its IAM prefix (the SDK's
/// signing name) and the operation, as the SDK names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallName {
    service: String,
    operation: String,
}

impl CallName {
    fn of(cfg: &ConfigBag) -> Option<Self> {
        let metadata = cfg.load::<Metadata>()?;
        let service = cfg
            .load::<SigningName>()
            .map(|s| s.as_ref().to_string())
            .unwrap_or_else(|| metadata.service().to_ascii_lowercase());
        Some(Self {
            service,
            operation: metadata.name().to_string(),
        })
    }

    /// An error from a client without [`NameCalls`] (none of the operator's).
    fn unknown() -> Self {
        Self {
            service: "aws".into(),
            operation: "call".into(),
        }
    }
}

/// An SDK error that came without a response, wrapped with the call it came from.
/// Displays as the error it wraps.
#[derive(Debug)]
struct Named {
    call: CallName,
    source: BoxError,
}

impl Named {
    /// The [`Named`] in `error`'s chain of sources.
    fn of<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Named> {
        let mut next = error.source();
        while let Some(error) = next {
            if let Some(named) = error.downcast_ref::<Named>() {
                return Some(named);
            }
            next = error.source();
        }
        None
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for Named {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// Puts the name of every failed call on its error, once the SDK is done with it
/// (after its retries): on the response, when one arrived; else around the error,
/// keeping its kind (timeout, connector error and which one), so that what reads
/// the error — the SDK's display, [`AwsError`] — sees the same kind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NameCalls;

impl Intercept for NameCalls {
    fn name(&self) -> &'static str {
        "NameCalls"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = CallName::of(cfg) else {
            return Ok(());
        };
        let Some(Err(error)) = context.output_or_error_mut() else {
            return Ok(());
        };
        if error.is_operation_error() {
            if let Some(response) = context.response_mut() {
                response.add_extension(call);
            }
            return Ok(());
        }
        let placeholder = OrchestratorError::other("named below");
        let original = std::mem::replace(error, placeholder);
        let connector = original
            .as_connector_error()
            .map(|c| (c.is_io(), c.is_timeout(), c.is_user(), c.as_other()));
        let timeout = original.is_timeout_error();
        let response = original.is_response_error();
        let named: BoxError = Box::new(Named {
            call,
            source: Box::new(original),
        });
        *error = match connector {
            Some((true, _, _, _)) => OrchestratorError::connector(ConnectorError::io(named)),
            Some((_, true, _, _)) => OrchestratorError::connector(ConnectorError::timeout(named)),
            Some((_, _, true, _)) => OrchestratorError::connector(ConnectorError::user(named)),
            Some((_, _, _, kind)) => {
                OrchestratorError::connector(ConnectorError::other(named, kind))
            }
            None if timeout => OrchestratorError::timeout(named),
            None if response => OrchestratorError::response(named),
            None => OrchestratorError::other(named),
        };
        Ok(())
    }
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

    #[tokio::test]
    async fn an_error_is_named_by_the_sdk_keeps_its_source_and_its_typed_service_error() {
        use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersError;

        let moto = testkit::Moto::start().unwrap();
        let aws = crate::aws::Aws::new(
            &moto.sdk_config("us-west-2"),
            "us-west-2",
            crate::aws::CallLog::default(),
        );
        let error = AwsError::from(
            aws.ec2
                .describe_vpcs()
                .vpc_ids("vpc-00000000000000000")
                .send()
                .await
                .unwrap_err(),
        );
        assert_eq!(
            (error.service.as_str(), error.operation.as_str()),
            ("ec2", "DescribeVpcs")
        );
        assert_eq!(error.code.as_deref(), Some("InvalidVpcID.NotFound"));
        assert_eq!(error.class, ErrorClass::NotFound);
        assert!(std::error::Error::source(&error).is_some());

        let arn = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/none/0123456789abcdef";
        let error = AwsError::from(
            aws.elbv2
                .describe_load_balancers()
                .load_balancer_arns(arn)
                .send()
                .await
                .unwrap_err(),
        );
        assert_eq!(
            (error.service.as_str(), error.operation.as_str()),
            ("elasticloadbalancing", "DescribeLoadBalancers")
        );
        assert!(matches!(
            error.service_error::<DescribeLoadBalancersError>(),
            Some(DescribeLoadBalancersError::LoadBalancerNotFoundException(_))
        ));
        assert_eq!(error.class, ErrorClass::NotFound);
    }

    #[tokio::test]
    async fn an_error_without_a_response_is_named_too() {
        // A closed port: the call never gets an answer.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_types::region::Region::new("us-west-2"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::for_tests(),
                ),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .build();
        let aws = crate::aws::Aws::new(&sdk, "us-west-2", crate::aws::CallLog::default());
        let error = AwsError::from(aws.sts.get_caller_identity().send().await.unwrap_err());
        assert_eq!(
            (error.service.as_str(), error.operation.as_str()),
            ("sts", "GetCallerIdentity")
        );
        assert_eq!((error.status, error.class), (None, ErrorClass::Retryable));
        assert!(error.message.contains("connect"), "{}", error.message);
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
