//! The AWS API enumerations the desired state names, as small enums: each shows and
//! serializes as the API's own string (what `plan` prints) and converts into the
//! SDK's enum where the SDK has one, so that a misspelt value does not compile.

use serde::Serialize;

/// Declares an enum whose variants stand for the API strings given, with `as_str`,
/// `Display` and `Serialize` producing those strings.
macro_rules! aws_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $value:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $value)] $variant,)+
        }

        impl $name {
            /// The value as the AWS API spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_enum! {
    /// How a target group's targets register.
    pub enum TargetType {
        /// By IP address: what Fargate tasks (`awsvpc`) need.
        Ip => "ip",
    }
}

aws_enum! {
    /// The protocol of a listener or a target group.
    pub enum Protocol {
        /// Plain HTTP.
        Http => "HTTP",
        /// TLS terminated at the load balancer.
        Https => "HTTPS",
    }
}

aws_enum! {
    /// The network mode of a task definition.
    pub enum NetworkMode {
        /// Each task has its own network interface: the only mode Fargate runs.
        AwsVpc => "awsvpc",
    }
}

aws_enum! {
    /// Where a task definition may run (`requiresCompatibilities`).
    pub enum Compatibility {
        Fargate => "FARGATE",
    }
}

aws_enum! {
    /// Where a service runs its tasks.
    pub enum LaunchType {
        Fargate => "FARGATE",
    }
}

aws_enum! {
    /// A capacity provider of a cluster. (The SDK takes capacity providers by name:
    /// custom ones are named by their owners.)
    pub enum CapacityProvider {
        /// Fargate, on demand.
        Fargate => "FARGATE",
    }
}

aws_enum! {
    /// The CPU architecture of a task definition's tasks (on Linux).
    #[allow(non_camel_case_types)]
    pub enum CpuArchitecture {
        /// Intel/AMD 64-bit.
        X86_64 => "X86_64",
        /// AWS Graviton.
        Arm64 => "ARM64",
    }
}

aws_enum! {
    /// Which tags a service's tasks get.
    pub enum PropagateTags {
        /// The service's tags, copied onto each task it starts.
        Service => "SERVICE",
    }
}

aws_enum! {
    /// Whether a user pool's users sign in with a second factor.
    pub enum MfaConfiguration {
        /// Every user, every sign-in: what the reference requires.
        On => "ON",
    }
}

aws_enum! {
    /// Whether an image tag, once pushed, may point at another image.
    pub enum TagMutability {
        /// A tag names one image for ever.
        Immutable => "IMMUTABLE",
        /// A push may move a tag.
        Mutable => "MUTABLE",
    }
}

aws_enum! {
    /// Where a load balancer takes traffic from.
    pub enum LoadBalancerScheme {
        /// From the internet, through its public subnets.
        InternetFacing => "internet-facing",
    }
}

aws_enum! {
    /// How an ECR repository encrypts its images at rest.
    pub enum RepositoryEncryption {
        /// With keys ECR manages (AES-256).
        Aes256 => "AES256",
    }
}

aws_enum! {
    /// How an S3 bucket encrypts new objects by default.
    pub enum BucketEncryption {
        /// With keys S3 manages (SSE-S3, AES-256).
        Aes256 => "AES256",
    }
}

aws_enum! {
    /// Who owns the objects written to an S3 bucket, and whether ACLs count.
    pub enum ObjectOwnership {
        /// ACLs off: the bucket's account owns every object, whoever wrote it.
        BucketOwnerEnforced => "BucketOwnerEnforced",
    }
}

aws_enum! {
    /// What users of a Cognito user pool sign in with.
    pub enum UsernameAttribute {
        /// Their email address.
        Email => "email",
    }
}

aws_enum! {
    /// What Cognito verifies itself, by sending a code, when a user signs up.
    pub enum VerifiedAttribute {
        /// The email address.
        Email => "email",
    }
}

aws_enum! {
    /// How users of a Cognito user pool get their account back.
    pub enum RecoveryOption {
        /// A code sent to their verified email address.
        VerifiedEmail => "verified_email",
    }
}

aws_enum! {
    /// An OAuth 2.0 grant a Cognito app client allows.
    pub enum OAuthFlow {
        /// Authorization code grant: what `authenticate-cognito` uses.
        Code => "code",
    }
}

aws_enum! {
    /// Where a Cognito app client's users sign in. (The SDK takes identity
    /// providers by name: federated ones are named by whoever adds them.)
    pub enum IdentityProvider {
        /// The user pool's own users.
        Cognito => "COGNITO",
    }
}

aws_enum! {
    /// What a listener rule's `authenticate-cognito` action does with a request
    /// that carries no session.
    pub enum OnUnauthenticatedRequest {
        /// Send it to the sign-in page.
        Authenticate => "authenticate",
    }
}

aws_enum! {
    /// How a listener's redirect answers.
    pub enum RedirectStatus {
        /// Moved permanently: browsers remember it and go to HTTPS straight away.
        Http301 => "HTTP_301",
    }
}

aws_enum! {
    /// The metric a target tracking policy holds at its target.
    pub enum ScalingMetric {
        /// The service's average CPU use, in percent.
        EcsServiceAverageCpuUtilization => "ECSServiceAverageCPUUtilization",
    }
}

impl From<LoadBalancerScheme> for aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum {
    fn from(value: LoadBalancerScheme) -> Self {
        match value {
            LoadBalancerScheme::InternetFacing => Self::InternetFacing,
        }
    }
}

impl From<RepositoryEncryption> for aws_sdk_ecr::types::EncryptionType {
    fn from(value: RepositoryEncryption) -> Self {
        match value {
            RepositoryEncryption::Aes256 => Self::Aes256,
        }
    }
}

impl From<MfaConfiguration> for aws_sdk_cognitoidentityprovider::types::UserPoolMfaType {
    fn from(value: MfaConfiguration) -> Self {
        match value {
            MfaConfiguration::On => Self::On,
        }
    }
}

impl From<BucketEncryption> for aws_sdk_s3::types::ServerSideEncryption {
    fn from(value: BucketEncryption) -> Self {
        match value {
            BucketEncryption::Aes256 => Self::Aes256,
        }
    }
}

impl From<ObjectOwnership> for aws_sdk_s3::types::ObjectOwnership {
    fn from(value: ObjectOwnership) -> Self {
        match value {
            ObjectOwnership::BucketOwnerEnforced => Self::BucketOwnerEnforced,
        }
    }
}

impl From<UsernameAttribute> for aws_sdk_cognitoidentityprovider::types::UsernameAttributeType {
    fn from(value: UsernameAttribute) -> Self {
        match value {
            UsernameAttribute::Email => Self::Email,
        }
    }
}

impl From<VerifiedAttribute> for aws_sdk_cognitoidentityprovider::types::VerifiedAttributeType {
    fn from(value: VerifiedAttribute) -> Self {
        match value {
            VerifiedAttribute::Email => Self::Email,
        }
    }
}

impl From<RecoveryOption> for aws_sdk_cognitoidentityprovider::types::RecoveryOptionNameType {
    fn from(value: RecoveryOption) -> Self {
        match value {
            RecoveryOption::VerifiedEmail => Self::VerifiedEmail,
        }
    }
}

impl From<OAuthFlow> for aws_sdk_cognitoidentityprovider::types::OAuthFlowType {
    fn from(value: OAuthFlow) -> Self {
        match value {
            OAuthFlow::Code => Self::Code,
        }
    }
}

impl From<OnUnauthenticatedRequest>
    for aws_sdk_elasticloadbalancingv2::types::AuthenticateCognitoActionConditionalBehaviorEnum
{
    fn from(value: OnUnauthenticatedRequest) -> Self {
        match value {
            OnUnauthenticatedRequest::Authenticate => Self::Authenticate,
        }
    }
}

impl From<RedirectStatus> for aws_sdk_elasticloadbalancingv2::types::RedirectActionStatusCodeEnum {
    fn from(value: RedirectStatus) -> Self {
        match value {
            RedirectStatus::Http301 => Self::Http301,
        }
    }
}

impl From<ScalingMetric> for aws_sdk_applicationautoscaling::types::MetricType {
    fn from(value: ScalingMetric) -> Self {
        match value {
            ScalingMetric::EcsServiceAverageCpuUtilization => Self::EcsServiceAverageCpuUtilization,
        }
    }
}

impl From<bedrock_chatbot_crds::ImageTagMutability> for TagMutability {
    fn from(value: bedrock_chatbot_crds::ImageTagMutability) -> Self {
        match value {
            bedrock_chatbot_crds::ImageTagMutability::Immutable => Self::Immutable,
            bedrock_chatbot_crds::ImageTagMutability::Mutable => Self::Mutable,
        }
    }
}

impl From<TagMutability> for aws_sdk_ecr::types::ImageTagMutability {
    fn from(value: TagMutability) -> Self {
        match value {
            TagMutability::Immutable => Self::Immutable,
            TagMutability::Mutable => Self::Mutable,
        }
    }
}

impl From<bedrock_chatbot_crds::CpuArchitecture> for CpuArchitecture {
    fn from(value: bedrock_chatbot_crds::CpuArchitecture) -> Self {
        match value {
            bedrock_chatbot_crds::CpuArchitecture::X86_64 => Self::X86_64,
            bedrock_chatbot_crds::CpuArchitecture::ARM64 => Self::Arm64,
        }
    }
}

impl From<CpuArchitecture> for aws_sdk_ecs::types::CpuArchitecture {
    fn from(value: CpuArchitecture) -> Self {
        match value {
            CpuArchitecture::X86_64 => Self::X8664,
            CpuArchitecture::Arm64 => Self::Arm64,
        }
    }
}

impl From<PropagateTags> for aws_sdk_ecs::types::PropagateTags {
    fn from(value: PropagateTags) -> Self {
        match value {
            PropagateTags::Service => Self::Service,
        }
    }
}

impl From<TargetType> for aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum {
    fn from(value: TargetType) -> Self {
        match value {
            TargetType::Ip => Self::Ip,
        }
    }
}

impl From<Protocol> for aws_sdk_elasticloadbalancingv2::types::ProtocolEnum {
    fn from(value: Protocol) -> Self {
        match value {
            Protocol::Http => Self::Http,
            Protocol::Https => Self::Https,
        }
    }
}

impl From<NetworkMode> for aws_sdk_ecs::types::NetworkMode {
    fn from(value: NetworkMode) -> Self {
        match value {
            NetworkMode::AwsVpc => Self::Awsvpc,
        }
    }
}

impl From<Compatibility> for aws_sdk_ecs::types::Compatibility {
    fn from(value: Compatibility) -> Self {
        match value {
            Compatibility::Fargate => Self::Fargate,
        }
    }
}

impl From<LaunchType> for aws_sdk_ecs::types::LaunchType {
    fn from(value: LaunchType) -> Self {
        match value {
            LaunchType::Fargate => Self::Fargate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_converts_into_the_sdk_enum_of_the_same_spelling() {
        use aws_sdk_ecs::types as ecs;
        use aws_sdk_elasticloadbalancingv2::types as elbv2;
        assert_eq!(elbv2::TargetTypeEnum::from(TargetType::Ip).as_str(), "ip");
        for protocol in [Protocol::Http, Protocol::Https] {
            assert_eq!(
                elbv2::ProtocolEnum::from(protocol).as_str(),
                protocol.as_str()
            );
        }
        assert_eq!(
            ecs::NetworkMode::from(NetworkMode::AwsVpc).as_str(),
            "awsvpc"
        );
        assert_eq!(
            ecs::Compatibility::from(Compatibility::Fargate).as_str(),
            "FARGATE"
        );
        assert_eq!(
            aws_sdk_cognitoidentityprovider::types::UserPoolMfaType::from(MfaConfiguration::On)
                .as_str(),
            "ON"
        );
        assert_eq!(
            elbv2::LoadBalancerSchemeEnum::from(LoadBalancerScheme::InternetFacing).as_str(),
            "internet-facing"
        );
        assert_eq!(
            aws_sdk_ecr::types::EncryptionType::from(RepositoryEncryption::Aes256).as_str(),
            "AES256"
        );
        for mutability in [TagMutability::Immutable, TagMutability::Mutable] {
            assert_eq!(
                aws_sdk_ecr::types::ImageTagMutability::from(mutability).as_str(),
                mutability.as_str()
            );
        }
        assert_eq!(
            ecs::LaunchType::from(LaunchType::Fargate).as_str(),
            "FARGATE"
        );
        for architecture in [CpuArchitecture::X86_64, CpuArchitecture::Arm64] {
            assert_eq!(
                ecs::CpuArchitecture::from(architecture).as_str(),
                architecture.as_str()
            );
        }
        assert_eq!(
            ecs::PropagateTags::from(PropagateTags::Service).as_str(),
            "SERVICE"
        );
    }

    #[test]
    fn bucket_and_sign_in_values_convert_into_the_sdk_enum_of_the_same_spelling() {
        use aws_sdk_cognitoidentityprovider::types as cognito;
        use aws_sdk_s3::types as s3;
        assert_eq!(
            s3::ServerSideEncryption::from(BucketEncryption::Aes256).as_str(),
            BucketEncryption::Aes256.as_str()
        );
        assert_eq!(
            s3::ObjectOwnership::from(ObjectOwnership::BucketOwnerEnforced).as_str(),
            ObjectOwnership::BucketOwnerEnforced.as_str()
        );
        assert_eq!(
            cognito::UsernameAttributeType::from(UsernameAttribute::Email).as_str(),
            UsernameAttribute::Email.as_str()
        );
        assert_eq!(
            cognito::VerifiedAttributeType::from(VerifiedAttribute::Email).as_str(),
            VerifiedAttribute::Email.as_str()
        );
        assert_eq!(
            cognito::RecoveryOptionNameType::from(RecoveryOption::VerifiedEmail).as_str(),
            RecoveryOption::VerifiedEmail.as_str()
        );
        assert_eq!(
            cognito::OAuthFlowType::from(OAuthFlow::Code).as_str(),
            OAuthFlow::Code.as_str()
        );
        assert_eq!(
            aws_sdk_elasticloadbalancingv2::types::AuthenticateCognitoActionConditionalBehaviorEnum::from(
                OnUnauthenticatedRequest::Authenticate
            )
            .as_str(),
            OnUnauthenticatedRequest::Authenticate.as_str()
        );
        assert_eq!(
            aws_sdk_elasticloadbalancingv2::types::RedirectActionStatusCodeEnum::from(
                RedirectStatus::Http301
            )
            .as_str(),
            RedirectStatus::Http301.as_str()
        );
        assert_eq!(
            aws_sdk_applicationautoscaling::types::MetricType::from(
                ScalingMetric::EcsServiceAverageCpuUtilization
            )
            .as_str(),
            ScalingMetric::EcsServiceAverageCpuUtilization.as_str()
        );
    }

    #[test]
    fn values_serialize_and_show_as_the_api_spells_them() {
        assert_eq!(
            serde_json::to_value([Protocol::Https, Protocol::Http]).unwrap(),
            serde_json::json!(["HTTPS", "HTTP"])
        );
        assert_eq!(TargetType::Ip.to_string(), "ip");
        assert_eq!(CapacityProvider::Fargate.to_string(), "FARGATE");
    }
}
