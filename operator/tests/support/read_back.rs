//! AWS read back with the SDK — not the engine's own view — for the tests'
//! assertions: each function answers one question several test files ask.

use aws_sdk_cognitoidentityprovider::operation::get_user_pool_mfa_config::GetUserPoolMfaConfigOutput;
use aws_sdk_cognitoidentityprovider::types::{
    UserPoolClientType, UserPoolDescriptionType, UserPoolType,
};
use aws_sdk_ec2::types::{Filter, SecurityGroupRule};
use aws_sdk_ecs::types::TaskDefinition;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancer, Rule, RuleCondition};
use operator::aws::Aws;

/// Every rule of the security group `group`, ingress and egress.
pub async fn security_group_rules(aws: &Aws, group: &str) -> Vec<SecurityGroupRule> {
    aws.ec2
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(group).build())
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .to_vec()
}

/// The load balancer `arn`.
pub async fn load_balancer(aws: &Aws, arn: &str) -> LoadBalancer {
    aws.elbv2
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .clone()
}

/// The load balancer named `name`.
pub async fn load_balancer_named(aws: &Aws, name: &str) -> LoadBalancer {
    aws.elbv2
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .clone()
}

/// The value of the load balancer attribute `key`, if set.
pub async fn load_balancer_attribute(aws: &Aws, arn: &str, key: &str) -> Option<String> {
    let attributes = aws
        .elbv2
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .unwrap();
    attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some(key))
        .and_then(|a| a.value().map(str::to_string))
}

/// Every rule of the listener `listener`, its default rule included.
pub async fn listener_rules(aws: &Aws, listener: &str) -> Vec<Rule> {
    aws.elbv2
        .describe_rules()
        .listener_arn(listener)
        .send()
        .await
        .unwrap()
        .rules()
        .to_vec()
}

/// The hosts a `host-header` condition matches (in its config, or in the older
/// `values` field).
pub fn host_header_values(condition: &RuleCondition) -> Vec<String> {
    condition
        .host_header_config()
        .map(|h| h.values().to_vec())
        .unwrap_or_else(|| condition.values().to_vec())
}

/// Every user pool of the region (the emulator's and the tests' few fit one page).
pub async fn user_pools(aws: &Aws) -> Vec<UserPoolDescriptionType> {
    aws.cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap()
        .user_pools()
        .to_vec()
}

/// The user pool `id`, described.
pub async fn user_pool(aws: &Aws, id: &str) -> UserPoolType {
    aws.cognito
        .describe_user_pool()
        .user_pool_id(id)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
}

/// The MFA settings of the user pool `id`.
pub async fn mfa_config(aws: &Aws, id: &str) -> GetUserPoolMfaConfigOutput {
    aws.cognito
        .get_user_pool_mfa_config()
        .user_pool_id(id)
        .send()
        .await
        .unwrap()
}

/// The app client `client` of the user pool `pool`, with its secret.
pub async fn user_pool_client(aws: &Aws, pool: &str, client: &str) -> UserPoolClientType {
    aws.cognito
        .describe_user_pool_client()
        .user_pool_id(pool)
        .client_id(client)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap()
}

/// The inline policy `name` of the role `role`, as JSON text (IAM returns it
/// URL-encoded).
pub async fn role_policy(aws: &Aws, role: &str, name: &str) -> String {
    let policy = aws
        .iam
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .unwrap();
    percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8_lossy()
        .into_owned()
}

/// The names of the inline policies of the role `role`, as IAM lists them.
pub async fn role_policy_names(aws: &Aws, role: &str) -> Vec<String> {
    aws.iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec()
}

/// The ARNs of the managed policies attached to the role `role`.
pub async fn attached_policy_arns(aws: &Aws, role: &str) -> Vec<String> {
    aws.iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect()
}

/// The task definition `arn` (or `family:revision`).
pub async fn task_definition(aws: &Aws, arn: &str) -> TaskDefinition {
    aws.ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
}
