//! AWS clients, built once from one `SdkConfig` (the standard chain: environment,
//! profiles, web identity / IRSA, EKS Pod Identity — no flags of our own), every call
//! counted, every error classified.

mod calls;
mod error;

use aws_config::SdkConfig;
use aws_types::region::Region;

pub use calls::{Call, CallLog};
pub use error::{AwsError, ErrorClass, aws_error};

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
    /// CloudWatch Logs.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// STS: who we are (account id).
    pub sts: aws_sdk_sts::Client,
    /// ECR repositories.
    pub ecr: aws_sdk_ecr::Client,
    /// Application Auto Scaling.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// Every call made through these clients.
    pub calls: CallLog,
}

/// Loads the standard AWS configuration from the environment, as every AWS tool does.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

macro_rules! client {
    ($krate:ident, $sdk:expr, $region:expr, $calls:expr) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .region(Region::new($region.to_string()))
                .interceptor($calls.interceptor())
                .build(),
        )
    };
}

impl Aws {
    /// Clients for `region`, whatever region `sdk` names: a platform says where it
    /// lives, the configuration says who we are.
    pub fn new(sdk: &SdkConfig, region: &str, calls: CallLog) -> Self {
        Self {
            region: region.to_string(),
            ec2: client!(aws_sdk_ec2, sdk, region, calls),
            elbv2: client!(aws_sdk_elasticloadbalancingv2, sdk, region, calls),
            ecs: client!(aws_sdk_ecs, sdk, region, calls),
            iam: client!(aws_sdk_iam, sdk, region, calls),
            cognito: client!(aws_sdk_cognitoidentityprovider, sdk, region, calls),
            logs: client!(aws_sdk_cloudwatchlogs, sdk, region, calls),
            sts: client!(aws_sdk_sts, sdk, region, calls),
            ecr: client!(aws_sdk_ecr, sdk, region, calls),
            autoscaling: client!(aws_sdk_applicationautoscaling, sdk, region, calls),
            calls,
        }
    }

    /// The account the credentials belong to.
    pub async fn account_id(&self) -> crate::Result<String> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("sts", "GetCallerIdentity", e))?;
        identity.account.ok_or_else(|| {
            crate::Error::Aws(AwsError::unexpected(
                "sts",
                "GetCallerIdentity",
                "no account in the response",
            ))
        })
    }
}
