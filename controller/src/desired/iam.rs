//! IAM policy documents: the roles' trust policies and the task role's Bedrock
//! permissions, scoped to exactly one model.

use serde::Serialize;

use super::Environment;

/// An IAM policy document, serialized exactly as IAM expects it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: &'static str,
    /// The statements.
    pub statement: Vec<Statement>,
}

/// One statement of a policy document.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Statement id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Always `Allow`: the operator writes no deny statements.
    pub effect: &'static str,
    /// Who may assume the role (trust policies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Actions allowed.
    pub action: Vec<String>,
    /// Resources the actions apply to (permission policies only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<String>,
    /// Conditions, as `{ operator: { key: value } }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
}

/// The principal of a trust policy statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    /// The AWS service allowed to assume the role.
    pub service: String,
}

/// The IAM actions ConverseStream and Converse need. There is no `bedrock:Converse`
/// action: IAM authorizes Converse as `InvokeModel` and ConverseStream as
/// `InvokeModelWithResponseStream`.
pub const BEDROCK_INVOKE_ACTIONS: [&str; 2] = [
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
];

/// The AWS managed policy every Fargate execution role needs to pull images and
/// write logs.
pub fn execution_role_managed_policy(env: &Environment) -> String {
    format!(
        "arn:{}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        env.partition
    )
}

/// Trust policy of a chatbot's task role: ECS tasks of this account and region may
/// assume it, with the confused-deputy guard AWS documents for task roles
/// (`aws:SourceAccount` + `aws:SourceArn`,
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html>).
pub fn task_role_trust_policy(env: &Environment) -> PolicyDocument {
    ecs_tasks_trust_policy(serde_json::json!({
        "ArnLike": { "aws:SourceArn": format!("arn:{}:ecs:{}:{}:*", env.partition, env.region, env.account_id) },
        "StringEquals": { "aws:SourceAccount": env.account_id },
    }))
}

/// Trust policy of the platform's task execution role, guarded by the account
/// only. AWS documents no `aws:SourceArn` condition for the execution role
/// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html>,
/// unlike the task role's page): Fargate assumes it to pull the image and write
/// logs, and a condition on a key it does not send would fail every task launch.
pub fn execution_role_trust_policy(env: &Environment) -> PolicyDocument {
    ecs_tasks_trust_policy(serde_json::json!({
        "StringEquals": { "aws:SourceAccount": env.account_id },
    }))
}

/// `ecs-tasks.amazonaws.com` may assume the role under `condition`.
fn ecs_tasks_trust_policy(condition: serde_json::Value) -> PolicyDocument {
    PolicyDocument {
        version: "2012-10-17",
        statement: vec![Statement {
            sid: None,
            effect: "Allow",
            principal: Some(Principal {
                service: "ecs-tasks.amazonaws.com".into(),
            }),
            action: vec!["sts:AssumeRole".into()],
            resource: Vec::new(),
            condition: Some(condition),
        }],
    }
}

/// Which regions a cross-region inference profile's geography routes to, as AWS
/// documents them for Anthropic's Claude models. `None` for an in-region model id.
fn profile_regions(geography: &str) -> Option<&'static [&'static str]> {
    Some(match geography {
        "us" => &["us-east-1", "us-east-2", "us-west-2"],
        "us-gov" => &["us-gov-east-1", "us-gov-west-1"],
        "eu" => &[
            "eu-central-1",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-3",
        ],
        "apac" => &[
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-4",
        ],
        "jp" => &["ap-northeast-1", "ap-northeast-3"],
        "au" => &["ap-southeast-2", "ap-southeast-4"],
        "ca" => &["ca-central-1", "ca-west-1"],
        _ => return None,
    })
}

/// A model id split into its inference-profile geography (if any) and the
/// foundation model it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelId<'a> {
    /// `us`, `eu`, … for a cross-region inference profile.
    pub geography: Option<&'a str>,
    /// The foundation model id, e.g. `anthropic.claude-sonnet-4-20250514-v1:0`.
    pub foundation_model: &'a str,
}

impl<'a> ModelId<'a> {
    /// Splits `id`; the geography is recognised only when it is a known one.
    pub fn parse(id: &'a str) -> Self {
        match id.split_once('.') {
            Some((geo, rest)) if profile_regions(geo).is_some() => Self {
                geography: Some(geo),
                foundation_model: rest,
            },
            _ => Self {
                geography: None,
                foundation_model: id,
            },
        }
    }
}

/// The ARNs a task may invoke for `model_id`: the inference profile in the
/// platform's region plus the foundation model in every region it routes to, or
/// just the foundation model in the platform's region. Never a wildcard.
pub fn bedrock_model_arns(
    model_id: &str,
    inference_regions: &[String],
    env: &Environment,
) -> Vec<String> {
    let model = ModelId::parse(model_id);
    let foundation = |region: &str| {
        format!(
            "arn:{}:bedrock:{region}::foundation-model/{}",
            env.partition, model.foundation_model
        )
    };
    let Some(geography) = model.geography else {
        return vec![foundation(&env.region)];
    };
    let mut arns = vec![format!(
        "arn:{}:bedrock:{}:{}:inference-profile/{model_id}",
        env.partition, env.region, env.account_id
    )];
    let regions: Vec<&str> = if inference_regions.is_empty() {
        profile_regions(geography).unwrap_or_default().to_vec()
    } else {
        inference_regions.iter().map(String::as_str).collect()
    };
    arns.extend(regions.into_iter().map(foundation));
    arns
}

/// The task role's only permission: invoke (streaming or not) the configured model.
pub fn bedrock_invoke_policy(
    model_id: &str,
    inference_regions: &[String],
    env: &Environment,
) -> PolicyDocument {
    PolicyDocument {
        version: "2012-10-17",
        statement: vec![Statement {
            sid: Some("InvokeConfiguredModel".into()),
            effect: "Allow",
            principal: None,
            action: BEDROCK_INVOKE_ACTIONS
                .iter()
                .map(|a| a.to_string())
                .collect(),
            resource: bedrock_model_arns(model_id, inference_regions, env),
            condition: None,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::new("us-west-2", "123456789012")
    }

    #[test]
    fn cross_region_profile_allows_profile_and_its_regions_foundation_models() {
        let arns = bedrock_model_arns("us.anthropic.claude-sonnet-4-20250514-v1:0", &[], &env());
        assert_eq!(
            arns,
            vec![
                "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0",
                "arn:aws:bedrock:us-east-2::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0",
                "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0",
            ]
        );
    }

    #[test]
    fn in_region_model_allows_only_that_foundation_model() {
        let arns = bedrock_model_arns("anthropic.claude-sonnet-4-20250514-v1:0", &[], &env());
        assert_eq!(
            arns,
            vec![
                "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"
            ]
        );
    }

    #[test]
    fn explicit_inference_regions_override_the_table() {
        let arns = bedrock_model_arns(
            "eu.anthropic.claude-sonnet-4-20250514-v1:0",
            &["eu-west-1".into()],
            &env(),
        );
        assert_eq!(arns.len(), 2);
        assert!(arns[1].starts_with("arn:aws:bedrock:eu-west-1::foundation-model/"));
    }

    /// The task role's policy for `model_id` on a platform in `region`, as IAM gets it.
    fn policy_in(region: &str, model_id: &str, inference_regions: &[&str]) -> serde_json::Value {
        let regions: Vec<String> = inference_regions.iter().map(|r| r.to_string()).collect();
        let env = Environment::new(region, "123456789012");
        serde_json::to_value(bedrock_invoke_policy(model_id, &regions, &env)).unwrap()
    }

    /// AWS's documented policy for an inference profile
    /// (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html):
    /// the profile, then its foundation model wherever it routes — only through it.
    fn through_profile(profile: &str, foundation_models: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "InvokeInferenceProfile",
                    "Effect": "Allow",
                    "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                    "Resource": [profile]
                },
                {
                    "Sid": "InvokeFoundationModelThroughProfile",
                    "Effect": "Allow",
                    "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                    "Resource": foundation_models,
                    "Condition": { "StringEquals": { "bedrock:InferenceProfileArn": profile } }
                }
            ]
        })
    }

    #[test]
    fn us_profile_policy() {
        assert_eq!(
            policy_in(
                "us-west-2",
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                &[]
            ),
            through_profile(
                "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
                &["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"]
            )
        );
    }

    #[test]
    fn eu_profile_policy() {
        assert_eq!(
            policy_in(
                "eu-west-1",
                "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &[]
            ),
            through_profile(
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]
            )
        );
    }

    #[test]
    fn apac_profile_policy() {
        assert_eq!(
            policy_in("ap-southeast-1", "apac.amazon.nova-pro-v1:0", &[]),
            through_profile(
                "arn:aws:bedrock:ap-southeast-1:123456789012:inference-profile/apac.amazon.nova-pro-v1:0",
                &["arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0"]
            )
        );
    }

    #[test]
    fn jp_profile_policy() {
        assert_eq!(
            policy_in(
                "ap-northeast-1",
                "jp.anthropic.claude-haiku-4-5-20251001-v1:0",
                &[]
            ),
            through_profile(
                "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/jp.anthropic.claude-haiku-4-5-20251001-v1:0",
                &["arn:aws:bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0"]
            )
        );
    }

    #[test]
    fn au_profile_policy() {
        assert_eq!(
            policy_in(
                "ap-southeast-2",
                "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &[]
            ),
            through_profile(
                "arn:aws:bedrock:ap-southeast-2:123456789012:inference-profile/au.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]
            )
        );
    }

    #[test]
    fn ca_profile_policy() {
        assert_eq!(
            policy_in(
                "ca-central-1",
                "ca.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &[]
            ),
            through_profile(
                "arn:aws:bedrock:ca-central-1:123456789012:inference-profile/ca.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]
            )
        );
    }

    /// GovCloud: the partition of every ARN is `aws-us-gov`.
    #[test]
    fn us_gov_profile_policy() {
        assert_eq!(
            policy_in(
                "us-gov-west-1",
                "us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0",
                &[]
            ),
            through_profile(
                "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-3-5-sonnet-20240620-v1:0",
                &[
                    "arn:aws-us-gov:bedrock:*::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0"
                ]
            )
        );
    }

    /// A global profile routes to any commercial region; AWS names its foundation
    /// model also region-less
    /// (https://docs.aws.amazon.com/bedrock/latest/userguide/global-cross-region-inference.html).
    #[test]
    fn global_profile_policy() {
        assert_eq!(
            policy_in(
                "us-west-2",
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &[]
            ),
            through_profile(
                "arn:aws:bedrock:us-west-2:123456789012:inference-profile/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &[
                    "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
                ]
            )
        );
    }

    /// A geographic profile routing to a region no table knows (here eu-west-2 and
    /// eu-central-2, which the old table lacked) is allowed: the foundation model
    /// in any region, through the profile only.
    #[test]
    fn a_profile_routing_outside_any_table_is_covered() {
        let policy = policy_in(
            "eu-west-2",
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            &[],
        );
        assert_eq!(
            policy["Statement"][1]["Resource"],
            serde_json::json!([
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
            ])
        );
    }

    #[test]
    fn in_region_model_policy() {
        assert_eq!(
            policy_in("us-west-2", "anthropic.claude-sonnet-4-20250514-v1:0", &[]),
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "InvokeConfiguredModel",
                    "Effect": "Allow",
                    "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                    "Resource": ["arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"]
                }]
            })
        );
    }

    /// `inferenceRegions` narrows a geographic profile to the regions listed, still
    /// through the profile only.
    #[test]
    fn inference_regions_narrow_a_geographic_profile() {
        assert_eq!(
            policy_in(
                "eu-west-1",
                "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &["eu-west-1", "eu-central-1"]
            ),
            through_profile(
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &[
                    "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
                ]
            )
        );
    }

    #[test]
    fn policy_uses_only_real_invoke_actions_and_no_wildcards() {
        let policy =
            bedrock_invoke_policy("us.anthropic.claude-sonnet-4-20250514-v1:0", &[], &env());
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json["Statement"][0]["Action"],
            serde_json::json!([
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream"
            ])
        );
        for resource in json["Statement"][0]["Resource"].as_array().unwrap() {
            assert!(!resource.as_str().unwrap().contains('*'), "{resource}");
        }
        assert!(!json.to_string().contains("bedrock:Converse"));
    }

    #[test]
    fn trust_policy_is_scoped_to_ecs_tasks_of_this_account() {
        let json = serde_json::to_value(task_role_trust_policy(&env())).unwrap();
        let statement = &json["Statement"][0];
        assert_eq!(statement["Principal"]["Service"], "ecs-tasks.amazonaws.com");
        assert_eq!(statement["Action"], serde_json::json!(["sts:AssumeRole"]));
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        assert_eq!(json["Version"], "2012-10-17");
    }
}
