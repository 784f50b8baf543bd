//! IAM policy documents: the roles' trust policies and the task role's Bedrock
//! permissions, scoped to exactly one model.

use serde::Serialize;

use bedrock_chatbot_crds::INFERENCE_PROFILE_PREFIXES;

use super::Environment;

/// An IAM policy document, serialized exactly as IAM expects it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: &'static str,
    /// What the policy allows, statement by statement.
    pub statement: Vec<Statement>,
}

/// One statement of a policy document.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Statement id, naming what a permission statement is for
    /// (`InvokeInferenceProfile`, `HistoryItems`); none in trust policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Always `Allow`: the operator writes no deny statements.
    pub effect: &'static str,
    /// Who may assume the role (trust policies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Actions allowed (`service:Action`).
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

/// What a model id names, as the task role's policy must scope it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelId<'a> {
    /// A foundation model, invoked in the platform's region only.
    InRegion {
        /// The foundation model id, e.g. `anthropic.claude-sonnet-4-20250514-v1:0`.
        foundation_model: &'a str,
    },
    /// A system-defined cross-region inference profile: `us.`, `us-gov.`, `eu.`,
    /// `apac.`, `jp.`, `au.` or `ca.` route within their geography, `global.` to
    /// any commercial region.
    Profile {
        /// The prefix: `us`, `us-gov`, …, `global`.
        prefix: &'a str,
        /// The profile id, the whole model id (`us.anthropic.claude-…`).
        profile: &'a str,
        /// The foundation model it routes to, the id without its prefix.
        foundation_model: &'a str,
    },
}

impl<'a> ModelId<'a> {
    /// Reads `id`: a profile when it starts with one of
    /// [`INFERENCE_PROFILE_PREFIXES`] followed by `<provider>.<model>`, otherwise a
    /// foundation model. The CRD admits nothing else (`MODEL_ID_RULE`).
    pub fn parse(id: &'a str) -> Self {
        match id.split_once('.') {
            Some((prefix, rest))
                if INFERENCE_PROFILE_PREFIXES.contains(&prefix) && rest.contains('.') =>
            {
                Self::Profile {
                    prefix,
                    profile: id,
                    foundation_model: rest,
                }
            }
            _ => Self::InRegion {
                foundation_model: id,
            },
        }
    }

    /// Whether this is a `global.` profile.
    pub fn is_global(&self) -> bool {
        matches!(self, Self::Profile { prefix, .. } if *prefix == "global")
    }
}

fn invoke(sid: &str, resource: Vec<String>, condition: Option<serde_json::Value>) -> Statement {
    Statement {
        sid: Some(sid.into()),
        effect: "Allow",
        principal: None,
        action: BEDROCK_INVOKE_ACTIONS
            .iter()
            .map(|a| a.to_string())
            .collect(),
        resource,
        condition,
    }
}

/// The task role's only permission: invoke (streaming or not) the configured model.
///
/// An in-region model id: that foundation model in the platform's region. An
/// inference profile, as AWS documents it
/// (<https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html>):
/// the profile in the platform's region, and its foundation model in any region
/// under the condition that the request comes through that profile
/// (`bedrock:InferenceProfileArn`) — so no table of destination regions can fall
/// behind the regions AWS routes to. A `global.` profile's foundation model is also
/// named region-less, as AWS lists it
/// (<https://docs.aws.amazon.com/bedrock/latest/userguide/global-cross-region-inference.html>).
/// `inference_regions`, when given, narrows a geographic profile's foundation
/// model to those regions (the CRD refuses it for `global.`, and it means nothing
/// for an in-region model). Never `Resource: "*"`, and a wildcard only in a
/// foundation model's region, under that condition.
pub fn bedrock_invoke_policy(
    model_id: &str,
    inference_regions: &[String],
    env: &Environment,
) -> PolicyDocument {
    let foundation = |region: &str, model: &str| {
        format!(
            "arn:{}:bedrock:{region}::foundation-model/{model}",
            env.partition
        )
    };
    let model = ModelId::parse(model_id);
    let statement = match model {
        ModelId::InRegion { foundation_model } => vec![invoke(
            "InvokeConfiguredModel",
            vec![foundation(&env.region, foundation_model)],
            None,
        )],
        ModelId::Profile {
            profile,
            foundation_model,
            ..
        } => {
            let profile_arn = format!(
                "arn:{}:bedrock:{}:{}:inference-profile/{profile}",
                env.partition, env.region, env.account_id
            );
            let foundation_models = if model.is_global() {
                vec![
                    foundation("*", foundation_model),
                    foundation("", foundation_model),
                ]
            } else if inference_regions.is_empty() {
                vec![foundation("*", foundation_model)]
            } else {
                inference_regions
                    .iter()
                    .map(|region| foundation(region, foundation_model))
                    .collect()
            };
            vec![
                invoke("InvokeInferenceProfile", vec![profile_arn.clone()], None),
                invoke(
                    "InvokeFoundationModelThroughProfile",
                    foundation_models,
                    Some(serde_json::json!({
                        "StringEquals": { "bedrock:InferenceProfileArn": profile_arn }
                    })),
                ),
            ]
        }
    };
    PolicyDocument {
        version: "2012-10-17",
        statement,
    }
}

/// The task role's access to its chatbot's history table: the item actions the app
/// calls ([`bedrock_chatbot::history_table::ITEM_ACTIONS`]), on that one table and
/// its indexes. No Scan, no table management, no other table; which user's items a
/// request may touch is the app's to enforce (it keys them by the verified token).
pub fn history_table_policy(table_arn: &str) -> PolicyDocument {
    PolicyDocument {
        version: "2012-10-17",
        statement: vec![Statement {
            sid: Some("HistoryItems".into()),
            effect: "Allow",
            principal: None,
            action: bedrock_chatbot::history_table::ITEM_ACTIONS
                .iter()
                .map(|a| a.to_string())
                .collect(),
            resource: vec![table_arn.to_string(), format!("{table_arn}/index/*")],
            condition: None,
        }],
    }
}

/// What a chatbot's task role may do with its files: put, get and delete objects
/// under its own prefix of the platform's bucket (`objects_arn`, ending in
/// `<namespace>/<name>/*`). No `s3:ListBucket`: the app finds a conversation's
/// files through the conversation, never by listing, so no other chatbot's (or
/// user's) names can be listed either.
pub fn attachments_policy(objects_arn: &str) -> PolicyDocument {
    PolicyDocument {
        version: "2012-10-17",
        statement: vec![Statement {
            sid: Some("AttachmentObjects".into()),
            effect: "Allow",
            principal: None,
            action: ATTACHMENT_ACTIONS.iter().map(|a| a.to_string()).collect(),
            resource: vec![objects_arn.to_string()],
            condition: None,
        }],
    }
}

/// The object actions the chatbot's attachments need (upload, reopen, delete
/// with the conversation).
pub const ATTACHMENT_ACTIONS: [&str; 3] = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"];

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::new("us-west-2", "123456789012")
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

    /// The CRD's rule and the parser agree on every prefix: what the API server
    /// admits as a profile is scoped as one, and an unknown prefix never reaches
    /// the policy as a provider.
    #[test]
    fn every_prefix_the_crd_admits_is_scoped_as_a_profile() {
        let admission = crate::admission::Admission::default();
        let admits = |id: &str| {
            let chatbot = serde_json::json!({
                "apiVersion": "bedrock-chatbot.dev/v1alpha1",
                "kind": "BedrockChatbot",
                "metadata": { "name": "a", "namespace": "t" },
                "spec": {
                    "platformRef": { "name": "p" },
                    "hostname": "chat.example.com",
                    "model": { "id": id }
                }
            });
            admission.admit(&chatbot, None).is_ok()
        };
        for prefix in INFERENCE_PROFILE_PREFIXES {
            let id = format!("{prefix}.anthropic.claude-sonnet-4-5-20250929-v1:0");
            assert!(admits(&id), "{id}");
            assert_eq!(
                ModelId::parse(&id),
                ModelId::Profile {
                    prefix,
                    profile: &id,
                    foundation_model: "anthropic.claude-sonnet-4-5-20250929-v1:0"
                }
            );
            // A prefix alone before a name would read as a provider.
            assert!(!admits(&format!("{prefix}.claude-sonnet-4-5")), "{prefix}");
        }
        assert!(admits("anthropic.claude-sonnet-4-20250514-v1:0"));
        for refused in [
            "xx.anthropic.claude-sonnet-4-20250514-v1:0",
            "usa.anthropic.claude-sonnet-4-20250514-v1:0",
            "us.eu.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude.sonnet-4",
        ] {
            assert!(!admits(refused), "{refused}");
        }
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
