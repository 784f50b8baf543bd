//! AWS clients, built once from one `SdkConfig` (the standard chain: environment,
//! profiles, web identity / IRSA, EKS Pod Identity — no flags of our own), every call
//! counted, every error classified.

mod calls;
mod error;
mod fence;
mod pass_reads;
mod retry;

use aws_config::SdkConfig;
use aws_sdk_iam::operation::create_service_linked_role::CreateServiceLinkedRoleError;
use aws_types::region::Region;

pub use calls::{Call, CallLog};
pub use error::{AwsError, ErrorClass, no_ecs_service_linked_role, or_absent};
pub use fence::Fence;
pub use pass_reads::{PassReads, PassScope};

/// One client per AWS service the controller uses, all for one region and all
/// sharing one [`CallLog`].
#[derive(Clone, Debug)]
pub struct Aws {
    /// The region the clients talk to.
    pub region: String,
    /// EC2: VPC, subnets, gateways, routes, security groups, endpoints.
    pub ec2: aws_sdk_ec2::Client,
    /// Elastic Load Balancing v2: ALB, listeners, rules, target groups.
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// ECS: cluster, task definitions, services.
    pub ecs: aws_sdk_ecs::Client,
    /// IAM: roles and their policies.
    pub iam: aws_sdk_iam::Client,
    /// Cognito user pools.
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    /// CloudWatch Logs: each chatbot's log group.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// STS: who we are (account id).
    pub sts: aws_sdk_sts::Client,
    /// ECR repositories.
    pub ecr: aws_sdk_ecr::Client,
    /// Application Auto Scaling: a chatbot service's scalable target and policy.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// ACM: the listener's certificate is checked before anything is created.
    pub acm: aws_sdk_acm::Client,
    /// DynamoDB: each chatbot's history table.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// S3: the platform's attachments bucket.
    pub s3: aws_sdk_s3::Client,
    /// Every call made through these clients.
    pub calls: CallLog,
    /// Listings shared by the owners of one pass (see [`PassReads`]).
    pub reads: PassReads,
    /// The account, once known (credentials do not change accounts).
    account: std::sync::Arc<std::sync::OnceLock<String>>,
    /// Set once ECS's service-linked role is known to exist.
    ecs_service_linked_role: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

/// Loads the standard AWS configuration from the environment, as every AWS tool does.
/// Unless `AWS_MAX_ATTEMPTS` says otherwise, each call is tried up to
/// [`MAX_ATTEMPTS`] times: an operator converging hundreds of resources under
/// throttling needs more patience than the SDK's default of 3.
pub async fn load_config() -> SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let loader = if std::env::var_os("AWS_MAX_ATTEMPTS").is_some() {
        loader
    } else {
        loader.retry_config(retry_config())
    };
    loader.load().await
}

/// Attempts per AWS call (the first try included).
pub const MAX_ATTEMPTS: u32 = 8;

/// The operator's retry policy: the SDK's standard mode (exponential backoff with
/// jitter, throttling and transient errors only) with [`MAX_ATTEMPTS`] attempts.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_max_backoff(std::time::Duration::from_secs(20))
}

/// Retry tokens per service client. The SDK's default bucket (500) is sized for a
/// process making a few calls; an operator converging hundreds of resources under
/// sustained throttling would empty it and stop retrying altogether. Backoff and
/// [`MAX_ATTEMPTS`] still bound every call.
const RETRY_TOKENS: usize = 5000;

macro_rules! client {
    ($krate:ident, $sdk:expr, $region:expr, $calls:expr, $fence:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .region(Region::new($region.to_string()))
                .interceptor($fence.interceptor())
                .interceptor($calls.interceptor())
                .interceptor(retry::NoBlindRetry)
                .interceptor(error::NameCalls)
                .retry_partition(
                    aws_smithy_runtime::client::retries::RetryPartition::custom(concat!(
                        "bedrock-chatbot-operator/",
                        stringify!($krate)
                    ))
                    .token_bucket(aws_smithy_runtime::client::retries::TokenBucket::new(
                        RETRY_TOKENS,
                    ))
                    .build(),
                )
                .build(),
        )
    };
}

impl Aws {
    /// Clients for `region`, whatever region `sdk` names: a platform says where it
    /// lives, the configuration says who we are.
    pub fn new(sdk: &SdkConfig, region: &str, calls: CallLog) -> Self {
        Self::fenced(sdk, region, calls, &Fence::open())
    }

    /// [`Aws::new`] whose writes leave only while `fence` allows them (the leader
    /// Lease is held).
    pub fn fenced(sdk: &SdkConfig, region: &str, calls: CallLog, fence: &Fence) -> Self {
        Self {
            region: region.to_string(),
            ec2: client!(aws_sdk_ec2, sdk, region, calls, fence),
            elbv2: client!(aws_sdk_elasticloadbalancingv2, sdk, region, calls, fence),
            ecs: client!(aws_sdk_ecs, sdk, region, calls, fence),
            iam: client!(aws_sdk_iam, sdk, region, calls, fence),
            cognito: client!(aws_sdk_cognitoidentityprovider, sdk, region, calls, fence),
            logs: client!(aws_sdk_cloudwatchlogs, sdk, region, calls, fence),
            sts: client!(aws_sdk_sts, sdk, region, calls, fence),
            ecr: client!(aws_sdk_ecr, sdk, region, calls, fence),
            autoscaling: client!(aws_sdk_applicationautoscaling, sdk, region, calls, fence),
            acm: client!(aws_sdk_acm, sdk, region, calls, fence),
            dynamodb: client!(aws_sdk_dynamodb, sdk, region, calls, fence),
            s3: client!(aws_sdk_s3, sdk, region, calls, fence),
            calls,
            reads: PassReads::default(),
            account: std::sync::Arc::default(),
            ecs_service_linked_role: std::sync::Arc::default(),
        }
    }

    /// These clients, sharing listings through `reads` (the engine's, for all regions).
    pub fn sharing(self, reads: PassReads) -> Self {
        Self { reads, ..self }
    }

    /// The account the credentials belong to, asked once per set of clients.
    pub async fn account_id(&self) -> crate::Result<String> {
        if let Some(account) = self.account.get() {
            return Ok(account.clone());
        }
        let identity = self.sts.get_caller_identity().send().await?;
        let account = identity.account.ok_or_else(|| {
            crate::Error::Aws(AwsError::unexpected(
                "sts",
                "GetCallerIdentity",
                "no account in the response",
            ))
        })?;
        Ok(self.account.get_or_init(|| account).clone())
    }

    /// `created`, the result of an ECS create, as it is; when it failed because the
    /// account has no ECS service-linked role yet, that role is created first (the
    /// error, propagating, then has the step try again).
    pub async fn after_ecs_create<T>(&self, created: crate::Result<T>) -> crate::Result<T> {
        if let Err(error) = &created
            && no_ecs_service_linked_role(error)
        {
            self.ensure_ecs_service_linked_role().await?;
        }
        created
    }

    /// Creates ECS's service-linked role, once per set of clients, after ECS said
    /// it cannot assume it: a brand-new account has none until something creates
    /// it ([Using service-linked roles for Amazon
    /// ECS](https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using-service-linked-roles.html)).
    /// One that exists already ("has been taken") is what was wanted.
    pub async fn ensure_ecs_service_linked_role(&self) -> crate::Result<()> {
        self.ecs_service_linked_role
            .get_or_try_init(|| async {
                let created = self
                    .iam
                    .create_service_linked_role()
                    .aws_service_name("ecs.amazonaws.com")
                    .send()
                    .await;
                match created {
                    Ok(_) => Ok(()),
                    Err(error) if has_been_taken(&error) => Ok(()),
                    Err(error) => Err(error.into()),
                }
            })
            .await
            .copied()
    }
}

/// Whether IAM refused to create a service-linked role because it exists already.
fn has_been_taken(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        CreateServiceLinkedRoleError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool {
    matches!(
        error.as_service_error(),
        Some(CreateServiceLinkedRoleError::InvalidInputException(e))
            if e.message().is_some_and(|m| m.contains("has been taken"))
    )
}
