//! The chatbot engine against the local AWS emulator: every chatbot resource is
//! created with the reference's settings, left alone by a second pass, restored
//! after drift, changed in place by a spec change, shared fairly between teams on
//! one listener, and deleted (or retained) cleanly.
//!
//! The platform's resources are created here directly with the SDK (its engine is
//! tested on its own), and handed over as refs by component key.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use aws_sdk_applicationautoscaling::types::{ScalableTarget, ScalingPolicy, ServiceNamespace};
use aws_sdk_cognitoidentityprovider::types::{SoftwareTokenMfaConfigType, UserPoolMfaType};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    PointInTimeRecoveryStatus, ScalarAttributeType, SseStatus, SseType, TableDescription, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_ecs::types::{Service, TaskDefinitionStatus};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, HostHeaderConditionConfig,
    ProtocolEnum, RuleCondition,
};
use bedrock_chatbot_crds::{BedrockChatbot, ChatbotPlatform, ConditionStatus, DeletionPolicy};
use operator::aws::Aws;
use operator::desired::RefKey;
use operator::engine::Engine;
use operator::engine::chatbot::{self, ChatbotState, Tasks};
use operator::resources::{Event, Outcome, Refs};
use support::{engine, examples, outcomes_of, read_back};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The platform's resources a chatbot needs, made directly, as refs by key.
/// The attachments bucket of the platform `shared` in the emulator's account.
fn attachments_bucket() -> String {
    operator::desired::platform::bucket_name("shared", testkit::moto::ACCOUNT_ID, "us-west-2")
}

async fn platform_prerequisites(aws: &Aws) -> Refs {
    let ec2 = &aws.ec2;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let subnet = async |cidr: &str, zone: &str| {
        ec2.create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap()
            .subnet
            .unwrap()
            .subnet_id
            .unwrap()
    };
    let public_a = subnet("10.0.1.0/24", "us-west-2a").await;
    let public_b = subnet("10.0.2.0/24", "us-west-2b").await;
    let private_a = subnet("10.0.3.0/24", "us-west-2a").await;
    let private_b = subnet("10.0.4.0/24", "us-west-2b").await;
    let tasks_sg = ec2
        .create_security_group()
        .group_name("shared-tasks")
        .description("tasks")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let alb = aws
        .elbv2
        .create_load_balancer()
        .name("shared")
        .subnets(&public_a)
        .subnets(&public_b)
        .send()
        .await
        .unwrap()
        .load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    // AWS (and moto) refuse an HTTPS listener with an unknown certificate; an IAM
    // server certificate stands in for the ACM one (moto does not parse its body).
    let certificate = aws
        .iam
        .upload_server_certificate()
        .server_certificate_name("chat-example-com")
        .certificate_body("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----")
        .private_key("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----")
        .send()
        .await
        .unwrap()
        .server_certificate_metadata()
        .unwrap()
        .arn()
        .to_string();
    let listener = aws
        .elbv2
        .create_listener()
        .load_balancer_arn(&alb)
        .protocol(ProtocolEnum::Https)
        .port(443)
        .certificates(Certificate::builder().certificate_arn(certificate).build())
        .default_actions(not_found())
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_string();
    // The platform's attachments bucket, as the platform `shared` names it.
    aws.s3
        .create_bucket()
        .bucket(attachments_bucket())
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let cluster = aws
        .ecs
        .create_cluster()
        .cluster_name("shared")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
        .cluster_arn
        .unwrap();
    let execution_role = aws
        .iam
        .create_role()
        .role_name("shared-execution")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let mut refs = Refs::default();
    for (key, id) in [
        (RefKey::VPC, vpc),
        (RefKey::component("public-subnet-a"), public_a),
        (RefKey::component("public-subnet-b"), public_b),
        (RefKey::component("private-subnet-a"), private_a),
        (RefKey::component("private-subnet-b"), private_b),
        (RefKey::component("tasks-sg"), tasks_sg),
        (RefKey::LOAD_BALANCER, alb),
        (RefKey::HTTPS_LISTENER, listener),
        (RefKey::CLUSTER, cluster),
        (RefKey::EXECUTION_ROLE, execution_role),
    ] {
        refs.insert(key, id);
    }
    refs
}

struct World {
    _moto: testkit::Moto,
    engine: Engine,
    recorder: std::sync::Arc<support::Recorder>,
    aws: Aws,
    platform: ChatbotPlatform,
    chatbot: BedrockChatbot,
    refs: Refs,
}

async fn world() -> World {
    let (moto, engine, recorder) = engine();
    let manifests = examples(&["platform.yaml", "chatbot.yaml"]);
    let aws = support::aws(&engine);
    let refs = platform_prerequisites(&aws).await;
    World {
        _moto: moto,
        platform: manifests.platforms[0].object.clone(),
        chatbot: manifests.chatbots[0].object.clone(),
        engine,
        recorder,
        aws,
        refs,
    }
}

impl World {
    async fn apply(&self, chatbot: &BedrockChatbot) -> ChatbotState {
        chatbot::apply(&self.engine, chatbot, &self.platform, &self.refs)
            .await
            .unwrap()
    }

    /// Delete passes until done (the service drains first).
    async fn delete(&self, chatbot: &BedrockChatbot) {
        for _ in 0..5 {
            let deletion = chatbot::delete(&self.engine, chatbot, &self.platform, &self.refs)
                .await
                .unwrap();
            if deletion.is_done() {
                return;
            }
        }
        panic!("deletion did not finish");
    }

    /// Applies `chatbot` once more and asserts that the pass finds nothing to change.
    async fn assert_next_pass_writes_nothing(&self, chatbot: &BedrockChatbot) -> ChatbotState {
        let before = self.engine.calls().len();
        let state = self.apply(chatbot).await;
        assert_eq!(self.writes_since(before), Vec::<String>::new());
        state
    }

    fn writes_since(&self, since: usize) -> Vec<String> {
        self.engine
            .calls()
            .since(since)
            .into_iter()
            .filter(|c| c.is_write())
            .map(|c| c.operation)
            .collect()
    }

    /// The teams' rules on the HTTPS listener: neither its default rule nor the
    /// platform's `/signed-out` rule (priority 1).
    async fn rules(&self) -> Vec<aws_sdk_elasticloadbalancingv2::types::Rule> {
        let mut rules =
            read_back::listener_rules(&self.aws, self.refs.get(&RefKey::HTTPS_LISTENER).unwrap())
                .await;
        rules.retain(|r| r.is_default() != Some(true) && r.priority() != Some("1"));
        rules
    }

    /// The ECS service `name` in the platform's cluster, as ECS describes it.
    async fn services(&self, name: &str) -> Vec<Service> {
        self.aws
            .ecs
            .describe_services()
            .cluster(self.refs.get(&RefKey::CLUSTER).unwrap())
            .services(name)
            .send()
            .await
            .unwrap()
            .services()
            .to_vec()
    }

    /// The auto scaling targets of the ECS service `resource_id`.
    async fn scalable_targets(&self, resource_id: &str) -> Vec<ScalableTarget> {
        self.aws
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(resource_id)
            .send()
            .await
            .unwrap()
            .scalable_targets()
            .to_vec()
    }

    /// The auto scaling policies of the ECS service `resource_id`.
    async fn scaling_policies(&self, resource_id: &str) -> Vec<ScalingPolicy> {
        self.aws
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id)
            .send()
            .await
            .unwrap()
            .scaling_policies()
            .to_vec()
    }
}

fn team_b(chatbot: &BedrockChatbot) -> BedrockChatbot {
    let mut other = chatbot.clone();
    other.metadata.namespace = Some("team-b".into());
    other.spec.hostname = "chat.team-b.example.com".into();
    other
}

/// The reference chatbot with auto scaling at its defaults.
fn scaled(chatbot: &BedrockChatbot) -> BedrockChatbot {
    let mut scaled = chatbot.clone();
    scaled.spec.scaling = Some(serde_json::from_value(serde_json::json!({})).unwrap());
    scaled
}

/// The settings of one kind of resource reported drifted, when it is reported
/// exactly once and as updated.
fn updated_once(events: &[Event], kind: &str) -> Vec<String> {
    match &outcomes_of(events, kind)[..] {
        [Outcome::Updated(drift)] => drift.iter().map(|d| d.field.clone()).collect(),
        other => panic!("{kind}: {other:?}"),
    }
}

/// The default action of a listener that has no rule for a request.
fn not_found() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("404")
                .content_type("text/plain")
                .build(),
        )
        .build()
}

fn outcome_kinds(events: &[Event]) -> Vec<(&'static str, Outcome)> {
    events.iter().map(|e| (e.kind, e.outcome.clone())).collect()
}

#[tokio::test]
async fn chatbot_is_created_as_the_reference_then_left_alone_then_deleted() {
    let w = world().await;
    let state = w.apply(&w.chatbot).await;
    let events = w.recorder.take();
    for kind in [
        "Log group",
        "IAM role",
        "Cognito user pool",
        "Cognito domain",
        "Cognito app client",
        "Target group",
        "Listener rule",
        "Task definition",
        "ECS service",
        "DynamoDB table",
    ] {
        assert_eq!(
            outcomes_of(&events, kind),
            vec![Outcome::Created],
            "{kind}: {events:?}"
        );
    }

    // Synced, but not Ready: the emulator never runs tasks, and the status says so.
    assert!(state.is_synced(), "{:?}", state.waiting);
    assert_eq!(
        state.tasks,
        Tasks {
            running: 0,
            wanted: 1
        }
    );
    assert!(!state.is_ready());
    let status = &state.status;
    let condition = |t: &str| status.conditions.iter().find(|c| c.type_ == t).unwrap();
    assert_eq!(condition("Synced").status, ConditionStatus::True);
    assert_eq!(condition("Ready").status, ConditionStatus::False);
    assert_eq!(condition("Ready").reason, "TasksNotRunning");
    assert_eq!(condition("Ready").message, "0/1 tasks running");
    assert_eq!(
        status.url.as_deref(),
        Some("https://chat.team-a.example.com")
    );
    // Priority 1 is the platform's /signed-out rule.
    assert_eq!(status.listener_rule_priority, Some(2));
    assert_eq!(status.running_count, Some(0));
    assert_eq!(
        status.log_group_name.as_deref(),
        Some("/bedrock-chatbot/team-a/assistant")
    );
    for (field, value) in [
        ("userPoolId", &status.user_pool_id),
        ("userPoolClientId", &status.user_pool_client_id),
        ("userPoolDomain", &status.user_pool_domain),
        ("targetGroupArn", &status.target_group_arn),
        ("listenerRuleArn", &status.listener_rule_arn),
        ("taskRoleArn", &status.task_role_arn),
        ("taskDefinitionArn", &status.task_definition_arn),
        ("serviceArn", &status.service_arn),
        ("historyTableName", &status.history_table_name),
    ] {
        assert!(value.is_some(), "{field} missing from the status");
    }

    // User pool: MFA required with TOTP, the reference password policy, email.
    let pool_id = status.user_pool_id.clone().unwrap();
    assert_eq!(read_back::user_pools(&w.aws).await.len(), 1);
    let mfa = read_back::mfa_config(&w.aws, &pool_id).await;
    assert_eq!(mfa.mfa_configuration(), Some(&UserPoolMfaType::On));
    assert!(mfa.software_token_mfa_configuration().unwrap().enabled());
    let pool = read_back::user_pool(&w.aws, &pool_id).await;
    let password = pool.policies().unwrap().password_policy().unwrap();
    assert_eq!(password.minimum_length(), Some(12));
    assert!(password.require_symbols() && password.require_numbers());
    assert_eq!(pool.username_attributes()[0].as_str(), "email");
    assert!(
        pool.admin_create_user_config()
            .unwrap()
            .allow_admin_create_user_only()
    );
    assert_eq!(
        pool.user_pool_tags().unwrap()["bedrock-chatbot.dev/owner"],
        "BedrockChatbot/team-a/assistant"
    );

    // Client: confidential, code grant, the ALB callback.
    let client_id = status.user_pool_client_id.clone().unwrap();
    let client = read_back::user_pool_client(&w.aws, &pool_id, &client_id).await;
    let secret = client.client_secret().unwrap().to_string();
    assert!(!secret.is_empty());
    assert_eq!(client.allowed_o_auth_flows()[0].as_str(), "code");
    assert_eq!(
        client.callback_urls(),
        ["https://chat.team-a.example.com/oauth2/idpresponse"]
    );

    // Target group: the reference health check.
    let tg_arn = status.target_group_arn.clone().unwrap();
    let groups = w.aws.elbv2.describe_target_groups().send().await.unwrap();
    assert_eq!(groups.target_groups().len(), 1);
    let tg = &groups.target_groups()[0];
    assert_eq!(tg.port(), Some(8501));
    assert_eq!(tg.target_type().unwrap().as_str(), "ip");
    assert_eq!(tg.health_check_path(), Some("/?health=check"));
    assert_eq!(
        (
            tg.health_check_interval_seconds(),
            tg.health_check_timeout_seconds(),
            tg.healthy_threshold_count(),
            tg.unhealthy_threshold_count()
        ),
        (Some(30), Some(5), Some(2), Some(2))
    );

    // Rule: host header → authenticate-cognito → forward.
    let rules = w.rules().await;
    assert_eq!(rules.len(), 1);
    let hosts = read_back::host_header_values(&rules[0].conditions()[0]);
    assert_eq!(hosts, ["chat.team-a.example.com"]);
    let mut actions = rules[0].actions().to_vec();
    actions.sort_by_key(|a| a.order());
    assert_eq!(
        actions[0].r#type(),
        Some(&ActionTypeEnum::AuthenticateCognito)
    );
    let cognito_config = actions[0].authenticate_cognito_config().unwrap();
    assert_eq!(
        cognito_config.user_pool_client_id(),
        Some(client_id.as_str())
    );
    assert_eq!(cognito_config.user_pool_arn(), Some(pool.arn().unwrap()));
    assert_eq!(actions[1].r#type(), Some(&ActionTypeEnum::Forward));
    assert_eq!(actions[1].target_group_arn(), Some(tg_arn.as_str()));

    // Log group with 30 days.
    let groups = w
        .aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/bedrock-chatbot/")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1);
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));

    // Task role: may invoke the model and nothing else.
    let role_name = state.desired.task_role.name.clone();
    let document = read_back::role_policy(&w.aws, &role_name, "bedrock-invoke").await;
    assert!(document.contains("bedrock:InvokeModel"), "{document}");
    assert!(document.contains("bedrock:InvokeModelWithResponseStream"));
    assert!(!document.contains("\"*\""), "{document}");

    // Task definition: size, roles, environment.
    let td =
        read_back::task_definition(&w.aws, status.task_definition_arn.as_deref().unwrap()).await;
    assert_eq!((td.cpu(), td.memory()), (Some("512"), Some("1024")));
    assert_eq!(td.task_role_arn(), status.task_role_arn.as_deref());
    assert_eq!(td.execution_role_arn(), w.refs.get(&RefKey::EXECUTION_ROLE));
    let env: std::collections::HashMap<&str, &str> = td.container_definitions()[0]
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    assert_eq!(env.get("CHATBOT_TEMPERATURE"), Some(&"0.9"), "{env:?}");
    // The app accepts tokens of this chatbot's own pool only.
    assert_eq!(
        env.get("CHATBOT_TOKEN_ISSUER").copied(),
        Some(format!("https://cognito-idp.us-west-2.amazonaws.com/{pool_id}").as_str())
    );
    assert!(env.values().any(|v| *v == client_id));
    assert!(
        env.values()
            .any(|v| Some(*v) == w.refs.get(&RefKey::LOAD_BALANCER))
    );
    assert!(
        td.container_definitions()[0]
            .readonly_root_filesystem()
            .unwrap()
    );

    // Service: private subnets, no public IP, the tasks SG, the target group.
    let services = w.services(&state.desired.service.name).await;
    let service = &services[0];
    let vpc = service
        .network_configuration()
        .unwrap()
        .awsvpc_configuration()
        .unwrap();
    let mut subnets = vpc.subnets().to_vec();
    subnets.sort();
    let mut private = vec![
        w.refs
            .get(&RefKey::component("private-subnet-a"))
            .unwrap()
            .to_string(),
        w.refs
            .get(&RefKey::component("private-subnet-b"))
            .unwrap()
            .to_string(),
    ];
    private.sort();
    assert_eq!(subnets, private);
    assert_eq!(
        vpc.security_groups(),
        [w.refs.get(&RefKey::component("tasks-sg")).unwrap()]
    );
    assert_eq!(vpc.assign_public_ip().unwrap().as_str(), "DISABLED");
    assert_eq!(
        service.load_balancers()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );

    // A second pass writes nothing.
    let again = w.assert_next_pass_writes_nothing(&w.chatbot).await;
    let events_again = w.recorder.take();
    assert!(
        events_again.iter().all(|e| e.outcome == Outcome::Unchanged),
        "{:?}",
        outcome_kinds(&events_again)
    );
    assert_eq!(again.status.listener_rule_priority, Some(2));

    // The client secret is nowhere in what the operator shows.
    let shown = format!(
        "{events:?}{events_again:?}{}{:?}",
        serde_json::to_string(&again.status).unwrap(),
        again.refs
    );
    assert!(!shown.contains(&secret), "the client secret leaked");

    // Delete leaves nothing of ours, of any type.
    w.delete(&w.chatbot).await;
    let deleted = w.recorder.take();
    assert!(
        !deleted
            .iter()
            .any(|e| matches!(e.outcome, Outcome::Failed(_))),
        "{deleted:?}"
    );
    assert!(!format!("{deleted:?}").contains(&secret));
    assert_nothing_left(&w, &state).await;
    // Deleting again finds nothing and fails nothing.
    w.delete(&w.chatbot).await;
}

async fn assert_nothing_left(w: &World, state: &ChatbotState) {
    let aws = &w.aws;
    assert!(read_back::user_pools(aws).await.is_empty());
    let domain = aws
        .cognito
        .describe_user_pool_domain()
        .domain(&state.desired.user_pool_domain.prefix)
        .send()
        .await
        .unwrap();
    assert!(
        domain
            .domain_description()
            .is_none_or(|d| d.user_pool_id().is_none())
    );
    assert!(
        aws.elbv2
            .describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .is_empty()
    );
    assert!(w.rules().await.is_empty());
    assert!(
        aws.logs
            .describe_log_groups()
            .log_group_name_prefix("/bedrock-chatbot/")
            .send()
            .await
            .unwrap()
            .log_groups()
            .is_empty()
    );
    assert!(
        aws.iam
            .get_role()
            .role_name(&state.desired.task_role.name)
            .send()
            .await
            .is_err()
    );
    assert!(
        aws.ecs
            .list_task_definitions()
            .family_prefix(&state.desired.task_definition.family)
            .status(TaskDefinitionStatus::Active)
            .send()
            .await
            .unwrap()
            .task_definition_arns()
            .is_empty()
    );
    assert!(
        table(w, &state.desired.history_table_off.name)
            .await
            .is_none()
    );
    let services = w.services(&state.desired.service.name).await;
    assert!(services.iter().all(|s| s.status() == Some("INACTIVE")));
}

#[tokio::test]
async fn drift_behind_our_back_is_restored() {
    let w = world().await;
    let state = w.apply(&w.chatbot).await;
    w.recorder.take();
    let pool_id = state.status.user_pool_id.clone().unwrap();
    let rule_arn = state.status.listener_rule_arn.clone().unwrap();
    let cluster = w.refs.get(&RefKey::CLUSTER).unwrap().to_string();
    let service_name = state.desired.service.name.clone();

    w.aws
        .cognito
        .set_user_pool_mfa_config()
        .user_pool_id(&pool_id)
        .software_token_mfa_configuration(
            SoftwareTokenMfaConfigType::builder().enabled(false).build(),
        )
        .mfa_configuration(UserPoolMfaType::Off)
        .send()
        .await
        .unwrap();
    w.aws
        .logs
        .put_retention_policy()
        .log_group_name("/bedrock-chatbot/team-a/assistant")
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&service_name)
        .desired_count(3)
        .send()
        .await
        .unwrap();
    w.aws
        .elbv2
        .modify_rule()
        .rule_arn(&rule_arn)
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .values("evil.example.com")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let restored = w.apply(&w.chatbot).await;
    let events = w.recorder.take();
    let updated = |kind: &str| updated_once(&events, kind);
    assert_eq!(updated("Cognito user pool"), ["mfa"]);
    assert_eq!(updated("Log group"), ["retentionInDays"]);
    assert_eq!(updated("ECS service"), ["desiredCount"]);
    assert_eq!(updated("Listener rule"), ["conditions"]);
    for kind in ["Target group", "Task definition", "Cognito app client"] {
        assert_eq!(
            outcomes_of(&events, kind),
            vec![Outcome::Unchanged],
            "{kind}"
        );
    }
    assert!(restored.is_synced());

    let mfa = read_back::mfa_config(&w.aws, &pool_id).await;
    assert_eq!(mfa.mfa_configuration(), Some(&UserPoolMfaType::On));
    assert!(mfa.software_token_mfa_configuration().unwrap().enabled());
    let groups = w
        .aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/bedrock-chatbot/team-a/assistant")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));
    let services = w.services(&service_name).await;
    assert_eq!(services[0].desired_count(), 1);
    let rules = w.rules().await;
    let hosts = read_back::host_header_values(&rules[0].conditions()[0]);
    assert_eq!(hosts, ["chat.team-a.example.com"]);

    // Restored means restored: the next pass writes nothing.
    w.assert_next_pass_writes_nothing(&w.chatbot).await;
}

#[tokio::test]
async fn a_model_setting_change_rolls_a_new_revision_and_replaces_nothing_else() {
    let w = world().await;
    let first = w.apply(&w.chatbot).await;
    w.recorder.take();
    let mut changed = w.chatbot.clone();
    changed.spec.model.temperature = 0.2;

    let before = w.engine.calls().len();
    let second = w.apply(&changed).await;
    let writes = w.writes_since(before);
    // The service rolls to the new revision, then records it (its tag).
    assert_eq!(
        writes,
        ["RegisterTaskDefinition", "UpdateService", "TagResource"]
    );
    let events = w.recorder.take();
    assert!(matches!(
        &outcomes_of(&events, "Task definition")[..],
        [Outcome::Updated(d)] if d.iter().any(|d| d.field == "container.environment")
    ));
    assert!(matches!(
        &outcomes_of(&events, "ECS service")[..],
        [Outcome::Updated(d)] if d.len() == 2
            && d[0].field == "taskDefinition"
            && d[1].field == "taskDefinitionRecord"
    ));
    let old = first.status.task_definition_arn.clone().unwrap();
    let new = second.status.task_definition_arn.clone().unwrap();
    assert!(old.ends_with(":1") && new.ends_with(":2"), "{old} → {new}");
    for (a, b) in [
        (&first.status.user_pool_id, &second.status.user_pool_id),
        (
            &first.status.user_pool_client_id,
            &second.status.user_pool_client_id,
        ),
        (
            &first.status.target_group_arn,
            &second.status.target_group_arn,
        ),
        (
            &first.status.listener_rule_arn,
            &second.status.listener_rule_arn,
        ),
        (&first.status.service_arn, &second.status.service_arn),
    ] {
        assert_eq!(a, b);
    }
    let services = w.services(&first.desired.service.name).await;
    assert_eq!(services[0].task_definition(), Some(new.as_str()));
    let td = read_back::task_definition(&w.aws, &new).await;
    assert!(
        td.container_definitions()[0]
            .environment()
            .iter()
            .any(|kv| kv.name() == Some("CHATBOT_TEMPERATURE") && kv.value() == Some("0.2"))
    );

    // And then it is stable.
    w.assert_next_pass_writes_nothing(&changed).await;
    // Delete deregisters both revisions.
    w.delete(&changed).await;
    assert_nothing_left(&w, &second).await;
}

#[tokio::test]
async fn two_teams_share_a_listener_and_deleting_one_leaves_the_other() {
    let w = world().await;
    let a = w.apply(&w.chatbot).await;
    let b_object = team_b(&w.chatbot);
    let b = w.apply(&b_object).await;
    assert_eq!(a.status.listener_rule_priority, Some(2));
    assert_eq!(b.status.listener_rule_priority, Some(3));
    assert_ne!(a.status.user_pool_id, b.status.user_pool_id);
    assert_ne!(a.status.target_group_arn, b.status.target_group_arn);
    assert_eq!(w.rules().await.len(), 2);
    // Each pass sees only its own rule: nothing written the second time round.
    let before = w.engine.calls().len();
    w.apply(&w.chatbot).await;
    w.apply(&b_object).await;
    assert_eq!(w.writes_since(before), Vec::<String>::new());

    w.delete(&w.chatbot).await;
    let rules = w.rules().await;
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].rule_arn(), b.status.listener_rule_arn.as_deref());
    let still = w.apply(&b_object).await;
    w.recorder.take();
    assert!(still.is_synced());
    assert_eq!(still.status.user_pool_id, b.status.user_pool_id);
    assert_eq!(still.status.service_arn, b.status.service_arn);
    assert_eq!(read_back::user_pools(&w.aws).await.len(), 1);

    // A new team takes the freed lowest priority.
    let mut c_object = team_b(&w.chatbot);
    c_object.metadata.namespace = Some("team-c".into());
    c_object.spec.hostname = "chat.team-c.example.com".into();
    let c = w.apply(&c_object).await;
    assert_eq!(c.status.listener_rule_priority, Some(2));
}

#[tokio::test]
async fn retain_leaves_everything_in_place() {
    let w = world().await;
    let mut kept = w.chatbot.clone();
    kept.spec.deletion_policy = DeletionPolicy::Retain;
    let state = w.apply(&kept).await;
    w.recorder.take();
    let before = w.engine.calls().len();
    let deletion = chatbot::delete(&w.engine, &kept, &w.platform, &w.refs)
        .await
        .unwrap();
    assert!(deletion.is_done());
    assert_eq!(w.writes_since(before), Vec::<String>::new());
    let events = w.recorder.take();
    assert_eq!(
        outcome_kinds(&events),
        [("BedrockChatbot", Outcome::Retained)]
    );
    let again = w.apply(&kept).await;
    assert_eq!(again.status, {
        let mut s = state.status.clone();
        s.conditions = again.status.conditions.clone();
        s
    });
    assert_eq!(w.rules().await.len(), 1);
}

#[tokio::test]
async fn auto_scaling_tracks_cpu_and_owns_the_desired_count() {
    let w = world().await;
    let scaled = scaled(&w.chatbot);
    let state = w.apply(&scaled).await;
    let events = w.recorder.take();
    assert_eq!(outcomes_of(&events, "Auto scaling"), vec![Outcome::Created]);
    assert!(state.is_synced(), "{:?}", state.waiting);
    let scaling = state.desired.scaling.clone().unwrap();
    let resource_id = format!("service/shared/{}", state.desired.service.name);
    let targets = w.scalable_targets(&resource_id).await;
    let target = &targets[0];
    assert_eq!(
        (target.min_capacity(), target.max_capacity()),
        (scaling.min_capacity, scaling.max_capacity)
    );
    let policies = w.scaling_policies(&resource_id).await;
    let policy = policies[0]
        .target_tracking_scaling_policy_configuration()
        .unwrap();
    assert!((policy.target_value() - scaling.target_value).abs() < f64::EPSILON);

    // The scaler moving the count within [min, max] is not drift.
    w.aws
        .ecs
        .update_service()
        .cluster(w.refs.get(&RefKey::CLUSTER).unwrap())
        .service(&state.desired.service.name)
        .desired_count(scaling.max_capacity)
        .send()
        .await
        .unwrap();
    w.assert_next_pass_writes_nothing(&scaled).await;

    w.delete(&scaled).await;
    let targets = w.scalable_targets(&resource_id).await;
    assert!(targets.is_empty());
    assert_nothing_left(&w, &state).await;
}

#[tokio::test]
async fn a_same_named_target_group_of_someone_else_is_never_touched() {
    let w = world().await;
    let desired = {
        let platform = operator::desired::platform::desired(&w.platform, testkit::moto::ACCOUNT_ID);
        operator::desired::chatbot::desired(&w.chatbot, &platform)
    };
    let foreign = w
        .aws
        .elbv2
        .create_target_group()
        .name(&desired.target_group.name)
        .protocol(ProtocolEnum::Http)
        .port(8501)
        .vpc_id(w.refs.get(&RefKey::VPC).unwrap())
        .health_check_path("/foreign")
        .send()
        .await
        .unwrap();
    let error = chatbot::apply(&w.engine, &w.chatbot, &w.platform, &w.refs)
        .await
        .unwrap_err();
    assert!(matches!(error, operator::Error::NotOwned { .. }), "{error}");
    let group = w
        .aws
        .elbv2
        .describe_target_groups()
        .target_group_arns(foreign.target_groups()[0].target_group_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        group.target_groups()[0].health_check_path(),
        Some("/foreign")
    );
    // Delete leaves it alone too.
    assert!(
        chatbot::delete(&w.engine, &w.chatbot, &w.platform, &w.refs)
            .await
            .is_err()
    );
    assert_eq!(
        w.aws
            .elbv2
            .describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .len(),
        1
    );
}

#[tokio::test]
async fn every_other_chatbot_setting_changed_behind_our_back_is_restored() {
    use aws_sdk_applicationautoscaling::types::ScalableDimension;

    let w = world().await;
    let scaled = scaled(&w.chatbot);
    let state = w.apply(&scaled).await;
    w.recorder.take();
    let pool_id = state.status.user_pool_id.clone().unwrap();
    let client_id = state.status.user_pool_client_id.clone().unwrap();
    let tg_arn = state.status.target_group_arn.clone().unwrap();
    let role = state.desired.task_role.name.clone();
    let prefix = state.desired.user_pool_domain.prefix.clone();
    let scaling = state.desired.scaling.clone().unwrap();
    let resource_id = format!("service/shared/{}", state.desired.service.name);

    // Target group: health check path and interval.
    w.aws
        .elbv2
        .modify_target_group()
        .target_group_arn(&tg_arn)
        .health_check_path("/")
        .health_check_interval_seconds(120)
        .send()
        .await
        .unwrap();
    // App client: a callback to somewhere else (UpdateUserPoolClient resets what
    // it is not given; the operator restores every setting).
    w.aws
        .cognito
        .update_user_pool_client()
        .user_pool_id(&pool_id)
        .client_id(&client_id)
        .callback_urls("https://evil.example.com/oauth2/idpresponse")
        .send()
        .await
        .unwrap();
    // Domain: it carries no setting of its own; drift is its loss.
    w.aws
        .cognito
        .delete_user_pool_domain()
        .domain(&prefix)
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    // Task role: the inline policy widened to every Bedrock action on everything.
    w.aws
        .iam
        .put_role_policy()
        .role_name(&role)
        .policy_name("bedrock-invoke")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    // Auto scaling: other bounds.
    w.aws
        .autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(0)
        .max_capacity(10)
        .send()
        .await
        .unwrap();

    let restored = w.apply(&scaled).await;
    let events = w.recorder.take();
    let updated = |kind: &str| updated_once(&events, kind);
    assert_eq!(updated("Target group"), ["healthCheck"]);
    assert!(
        updated("Cognito app client").contains(&"callbackUrls".to_string()),
        "{events:?}"
    );
    assert_eq!(updated("IAM role"), ["inlinePolicies"]);
    assert_eq!(updated("Auto scaling"), ["capacity"]);
    assert_eq!(
        outcomes_of(&events, "Cognito domain"),
        vec![Outcome::Created]
    );
    assert!(restored.is_synced(), "{:?}", restored.waiting);
    // The client keeps its id (and its secret): restored in place, not replaced.
    assert_eq!(
        restored.status.user_pool_client_id.as_deref(),
        Some(client_id.as_str())
    );

    let tg = w
        .aws
        .elbv2
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .unwrap();
    let tg = &tg.target_groups()[0];
    assert_eq!(tg.health_check_path(), Some("/?health=check"));
    assert_eq!(tg.health_check_interval_seconds(), Some(30));
    let client = read_back::user_pool_client(&w.aws, &pool_id, &client_id).await;
    assert_eq!(
        client.callback_urls(),
        ["https://chat.team-a.example.com/oauth2/idpresponse"]
    );
    assert_eq!(client.allowed_o_auth_flows()[0].as_str(), "code");
    let domain = w
        .aws
        .cognito
        .describe_user_pool_domain()
        .domain(&prefix)
        .send()
        .await
        .unwrap();
    assert_eq!(
        domain.domain_description().and_then(|d| d.user_pool_id()),
        Some(pool_id.as_str())
    );
    let document = read_back::role_policy(&w.aws, &role, "bedrock-invoke").await;
    // No `bedrock:*` action (the policy's foundation-model ARNs hold `bedrock:*:` as
    // their region wildcard, so the text alone cannot tell).
    let parsed: serde_json::Value = serde_json::from_str(&document).unwrap();
    for statement in parsed["Statement"].as_array().unwrap() {
        for action in statement["Action"].as_array().unwrap() {
            assert!(!action.as_str().unwrap().contains('*'), "{document}");
        }
    }
    assert!(!document.contains("\"*\""), "{document}");
    assert!(document.contains("bedrock:InvokeModelWithResponseStream"));
    // Exactly the desired policy again.
    assert_eq!(
        parsed,
        serde_json::to_value(&state.desired.task_role.inline_policies[0].1).unwrap()
    );
    let targets = w.scalable_targets(&resource_id).await;
    let target = &targets[0];
    assert_eq!(
        (target.min_capacity(), target.max_capacity()),
        (scaling.min_capacity, scaling.max_capacity)
    );

    // Restored means restored: the next pass writes nothing.
    w.assert_next_pass_writes_nothing(&scaled).await;
}

#[tokio::test]
async fn dropping_scaling_from_the_spec_removes_the_target_and_its_policy() {
    let w = world().await;
    let scaled = scaled(&w.chatbot);
    let state = w.apply(&scaled).await;
    w.recorder.take();
    let resource_id = format!("service/shared/{}", state.desired.service.name);
    let targets = async || w.scalable_targets(&resource_id).await.len();
    let policies = async || w.scaling_policies(&resource_id).await.len();
    assert_eq!((targets().await, policies().await), (1, 1));

    // The spec fixes the count again; the scaler must not keep moving it.
    let unscaled = w.chatbot.clone();
    let before = w.engine.calls().len();
    let state = w.apply(&unscaled).await;
    let writes = w.writes_since(before);
    assert!(
        writes.contains(&"DeregisterScalableTarget".to_string()),
        "{writes:?}"
    );
    let events = w.recorder.take();
    assert_eq!(outcomes_of(&events, "Auto scaling"), vec![Outcome::Deleted]);
    assert!(state.is_synced(), "{:?}", state.waiting);
    assert_eq!((targets().await, policies().await), (0, 0));

    // Gone means gone: nothing more to do, and nothing reported.
    w.assert_next_pass_writes_nothing(&unscaled).await;
    assert!(outcomes_of(&w.recorder.take(), "Auto scaling").is_empty());

    // A target an earlier spec left is removed on delete too.
    w.apply(&scaled).await;
    w.delete(&unscaled).await;
    assert_eq!((targets().await, policies().await), (0, 0));
    assert_nothing_left(&w, &state).await;
}

/// AWS refuses `authenticate-cognito` on an HTTP listener, the emulator does not:
/// the operator must never write the rule there, even when the platform's refs
/// point at the wrong listener.
#[tokio::test]
async fn the_rule_is_never_written_on_a_plain_http_listener() {
    let mut w = world().await;
    let http = w
        .aws
        .elbv2
        .create_listener()
        .load_balancer_arn(w.refs.get(&RefKey::LOAD_BALANCER).unwrap())
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(not_found())
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_string();
    w.refs.insert(RefKey::HTTPS_LISTENER, http.clone());

    let error = chatbot::apply(&w.engine, &w.chatbot, &w.platform, &w.refs)
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(
        error.to_string().contains("only on an HTTPS listener"),
        "{error}"
    );
    let rules = read_back::listener_rules(&w.aws, &http).await;
    assert!(
        rules.iter().all(|r| r.is_default() == Some(true)),
        "{rules:?}"
    );
    assert!(
        !w.writes_since(0).contains(&"CreateRule".to_string()),
        "no rule may be written"
    );
}

/// The history table as DynamoDB describes it, if it exists.
async fn table(w: &World, name: &str) -> Option<TableDescription> {
    match w
        .aws
        .dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
    {
        Ok(out) => out.table,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("DescribeTable: {e:?}"),
    }
}

/// Point-in-time recovery, and the attribute time to live expires items by.
async fn backups_and_expiry(w: &World, name: &str) -> (bool, Option<String>) {
    let dynamodb = &w.aws.dynamodb;
    let backups = dynamodb
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .unwrap();
    let recovery = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        == Some(&PointInTimeRecoveryStatus::Enabled);
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .unwrap();
    let expiry = ttl
        .time_to_live_description()
        .filter(|d| d.time_to_live_status() == Some(&TimeToLiveStatus::Enabled))
        .and_then(|d| d.attribute_name().map(str::to_string));
    (recovery, expiry)
}

async fn table_tags(w: &World, arn: &str) -> std::collections::BTreeMap<String, String> {
    let mut tags = std::collections::BTreeMap::new();
    let mut token = None;
    loop {
        let page = w
            .aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        tags.extend(
            page.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string())),
        );
        token = page.next_token;
        if token.is_none() {
            return tags;
        }
    }
}

#[tokio::test]
async fn the_history_table_is_laid_out_for_the_app_and_restored_after_drift() {
    use bedrock_chatbot::history_table::{
        BY_UPDATED_INDEX, EXPIRES_AT, PARTITION_KEY, SORT_KEY, UPDATED_AT,
    };

    let mut w = world().await;
    w.chatbot
        .spec
        .tags
        .insert("cost-center".into(), "4711".into());
    let state = w.apply(&w.chatbot).await;
    let name = state.desired.history_table.clone().unwrap().name;
    assert_eq!(
        state.status.history_table_name.as_deref(),
        Some(name.as_str())
    );
    let found = table(&w, &name).await.unwrap();
    let keys: Vec<(&str, &str)> = found
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [(PARTITION_KEY, "HASH"), (SORT_KEY, "RANGE")]);
    let index = &found.local_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some(BY_UPDATED_INDEX));
    let index_keys: Vec<&str> = index
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(index_keys, [PARTITION_KEY, UPDATED_AT]);
    assert_eq!(
        found.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let sse = found.sse_description().unwrap();
    assert_eq!(
        (sse.status(), sse.sse_type()),
        (Some(&SseStatus::Enabled), Some(&SseType::Kms))
    );
    assert_eq!(
        backups_and_expiry(&w, &name).await,
        (true, Some(EXPIRES_AT.to_string()))
    );
    let arn = found.table_arn().unwrap().to_string();
    let tags = table_tags(&w, &arn).await;
    assert_eq!(
        tags.get(operator::desired::TAG_OWNER).map(String::as_str),
        Some("BedrockChatbot/team-a/assistant")
    );
    for (key, value) in &w.chatbot.spec.tags {
        assert_eq!(tags.get(key), Some(value), "{key}");
    }

    // Behind our back: backups off, time to live off, a tag removed.
    let dynamodb = &w.aws.dynamodb;
    dynamodb
        .update_continuous_backups()
        .table_name(&name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    dynamodb
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(false)
                .attribute_name(EXPIRES_AT)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let removed = "cost-center".to_string();
    dynamodb
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys(&removed)
        .send()
        .await
        .unwrap();
    w.recorder.take();
    let state = w.apply(&w.chatbot).await;
    assert!(state.is_synced(), "{:?}", state.waiting);
    let fields = support::updated_fields(&w.recorder.take(), "DynamoDB table");
    assert_eq!(fields, ["pointInTimeRecovery", "timeToLive", "tags"]);
    assert_eq!(
        backups_and_expiry(&w, &name).await,
        (true, Some(EXPIRES_AT.to_string()))
    );
    assert!(table_tags(&w, &arn).await.contains_key(&removed));

    // Restored means restored: the next pass writes nothing.
    w.assert_next_pass_writes_nothing(&w.chatbot).await;
}

#[tokio::test]
async fn retention_zero_keeps_items_for_ever_and_a_retention_turns_expiry_back_on() {
    use bedrock_chatbot::history_table::EXPIRES_AT;

    let w = world().await;
    let mut forever = w.chatbot.clone();
    forever.spec.history.retention_days = 0;
    let state = w.apply(&forever).await;
    let name = state.desired.history_table.clone().unwrap().name;
    assert_eq!(backups_and_expiry(&w, &name).await, (true, None));
    let environment = &state.desired.task_definition.container.environment;
    assert!(environment.iter().any(|(k, v)| {
        k == bedrock_chatbot::config::ENV_HISTORY_RETENTION_DAYS && v.to_string() == "0"
    }));

    w.recorder.take();
    let state = w.apply(&w.chatbot).await;
    assert!(state.is_synced(), "{:?}", state.waiting);
    assert_eq!(
        support::updated_fields(&w.recorder.take(), "DynamoDB table"),
        ["timeToLive"]
    );
    assert_eq!(
        backups_and_expiry(&w, &name).await,
        (true, Some(EXPIRES_AT.to_string()))
    );
}

#[tokio::test]
async fn switching_history_off_deletes_the_table_under_delete_and_keeps_it_under_retain() {
    let w = world().await;
    let state = w.apply(&w.chatbot).await;
    let name = state.desired.history_table.clone().unwrap().name;
    let mut off = w.chatbot.clone();
    off.spec.history.enabled = false;
    w.recorder.take();
    let state = w.apply(&off).await;
    assert!(state.is_synced(), "{:?}", state.waiting);
    assert_eq!(
        outcomes_of(&w.recorder.take(), "DynamoDB table"),
        [Outcome::Deleted]
    );
    assert!(table(&w, &name).await.is_none());
    assert_eq!(state.status.history_table_name, None);
    // The app is told no more, and may touch no table: its role keeps only its
    // models' invoke policies (the example offers two models).
    assert_eq!(
        read_back::role_policy_names(&w.aws, &state.desired.task_role.name).await,
        ["bedrock-invoke", "bedrock-invoke-2"]
    );
    let variables = task_variables(&w, &state).await;
    assert!(
        variables
            .iter()
            .all(|(name, _)| name != bedrock_chatbot::config::ENV_HISTORY_TABLE),
        "{variables:?}"
    );

    // Under Retain, what users saved stays, and the status says where.
    let mut kept = w.chatbot.clone();
    kept.spec.deletion_policy = DeletionPolicy::Retain;
    w.apply(&kept).await;
    kept.spec.history.enabled = false;
    w.recorder.take();
    let state = w.apply(&kept).await;
    assert!(state.is_synced(), "{:?}", state.waiting);
    assert_eq!(
        outcomes_of(&w.recorder.take(), "DynamoDB table"),
        [Outcome::Retained]
    );
    assert!(table(&w, &name).await.is_some());
    assert_eq!(
        state.status.history_table_name.as_deref(),
        Some(name.as_str())
    );

    // Switched on again, the kept table is the chatbot's again, as it was.
    let before = w.engine.calls().len();
    kept.spec.history.enabled = true;
    w.apply(&kept).await;
    let writes = w.writes_since(before);
    assert!(!writes.contains(&"CreateTable".to_string()), "{writes:?}");
}

#[tokio::test]
async fn a_table_of_ours_laid_out_otherwise_is_reported_and_left_alone() {
    let w = world().await;
    let state = w.apply(&w.chatbot).await;
    let name = state.desired.history_table.clone().unwrap().name;
    let tags = table_tags(&w, table(&w, &name).await.unwrap().table_arn().unwrap()).await;
    w.aws
        .dynamodb
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    // Made by hand with the chatbot's name and tags, keyed otherwise.
    w.aws
        .dynamodb
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    let before = w.engine.calls().len();
    let error = chatbot::apply(&w.engine, &w.chatbot, &w.platform, &w.refs)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(&name), "{error}");
    assert!(error.contains("layout"), "{error}");
    assert!(error.contains("AWS cannot change it in place"), "{error}");
    let writes = w.writes_since(before);
    assert!(
        !writes
            .iter()
            .any(|op| op.contains("Table") || op.contains("TimeToLive")),
        "{writes:?}"
    );
    let keys = table(&w, &name).await.unwrap().key_schema().len();
    assert_eq!(keys, 1);
}

/// The ids, prefixes and days of the attachments bucket's lifecycle rules.
async fn expiry_rules(w: &World) -> Vec<(String, String, Option<i32>)> {
    let read = w
        .aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(attachments_bucket())
        .send()
        .await;
    let Ok(read) = read else {
        return Vec::new();
    };
    let mut rules: Vec<_> = read
        .rules()
        .iter()
        .map(|r| {
            (
                r.id().unwrap_or_default().to_string(),
                r.filter()
                    .and_then(|f| f.prefix())
                    .unwrap_or_default()
                    .to_string(),
                r.expiration().and_then(|e| e.days()),
            )
        })
        .collect();
    rules.sort();
    rules
}

/// The keys in the attachments bucket.
async fn files(w: &World) -> Vec<String> {
    let listed = w
        .aws
        .s3
        .list_objects_v2()
        .bucket(attachments_bucket())
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

async fn put_file(w: &World, key: &str) {
    w.aws
        .s3
        .put_object()
        .bucket(attachments_bucket())
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"%PDF"))
        .send()
        .await
        .unwrap();
}

/// The variables of the task definition the service runs.
async fn task_variables(w: &World, state: &ChatbotState) -> Vec<(String, String)> {
    let revision =
        read_back::task_definition(&w.aws, state.status.task_definition_arn.as_deref().unwrap())
            .await;
    revision.container_definitions()[0]
        .environment()
        .iter()
        .map(|v| {
            (
                v.name().unwrap_or_default().to_string(),
                v.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Attachments (issue 17 §2): each chatbot's files under its prefix of the
/// platform's bucket, told to the app, expired with its conversations by a rule of
/// its own (none for a retention of 0), and deleted with the chatbot — or when
/// switched off — under `Delete`, another team's files untouched; kept under
/// `Retain`.
#[tokio::test]
async fn attachments_are_kept_per_chatbot_expire_with_history_and_go_with_the_chatbot() {
    let w = world().await;
    let bucket = attachments_bucket();
    let state = w.apply(&w.chatbot).await;
    assert!(state.is_synced(), "{:?}", state.waiting);
    assert_eq!(
        state.status.attachments_location,
        Some(format!("s3://{bucket}/team-a/assistant/"))
    );
    let variables = task_variables(&w, &state).await;
    for (name, value) in [
        ("CHATBOT_ATTACHMENTS_BUCKET", bucket.as_str()),
        ("CHATBOT_ATTACHMENTS_PREFIX", "team-a/assistant/"),
    ] {
        assert!(
            variables.contains(&(name.to_string(), value.to_string())),
            "{variables:?}"
        );
    }
    let retention = w.chatbot.spec.history.retention_days;
    let rule_a = state.desired.attachments_expiry.clone().unwrap().rule_id;
    assert_eq!(
        expiry_rules(&w).await,
        [(rule_a.clone(), "team-a/assistant/".into(), Some(retention))]
    );
    let b_object = team_b(&w.chatbot);
    let b = w.apply(&b_object).await;
    let rule_b = b.desired.attachments_expiry.clone().unwrap().rule_id;
    assert_eq!(expiry_rules(&w).await.len(), 2, "a rule per chatbot");
    let before = w.engine.calls().len();
    w.apply(&w.chatbot).await;
    w.apply(&b_object).await;
    assert_eq!(w.writes_since(before), Vec::<String>::new());

    // Changed behind our back, or with the spec: the team's rule only.
    let mut forever = w.chatbot.clone();
    forever.spec.history.retention_days = 0;
    w.apply(&forever).await;
    let rules = expiry_rules(&w).await;
    assert_eq!(
        rules,
        [(rule_b.clone(), "team-b/assistant/".into(), Some(retention))]
    );
    let mut shorter = w.chatbot.clone();
    shorter.spec.history.retention_days = 7;
    w.apply(&shorter).await;
    assert!(expiry_rules(&w).await.contains(&(
        rule_a.clone(),
        "team-a/assistant/".into(),
        Some(7)
    )));

    // Switched off under Delete: team A's files and rule go, team B's stay.
    put_file(&w, "team-a/assistant/user-1/report.pdf").await;
    put_file(&w, "team-b/assistant/user-2/photo.png").await;
    let mut off = shorter.clone();
    off.spec.attachments.enabled = false;
    let state = w.apply(&off).await;
    assert!(state.is_synced(), "{:?}", state.waiting);
    assert_eq!(state.status.attachments_location, None);
    assert_eq!(files(&w).await, ["team-b/assistant/user-2/photo.png"]);
    assert_eq!(expiry_rules(&w).await.len(), 1);
    let variables = task_variables(&w, &state).await;
    assert!(
        variables
            .iter()
            .all(|(name, _)| !name.starts_with("CHATBOT_ATTACHMENTS_")),
        "{variables:?}"
    );
    let policies = read_back::role_policy_names(&w.aws, &state.desired.task_role.name).await;
    assert!(!policies.contains(&"attachments".to_string()));

    // Team B kept under Retain: its files stay when it goes.
    let mut kept = b_object.clone();
    kept.spec.deletion_policy = DeletionPolicy::Retain;
    w.delete(&kept).await;
    assert_eq!(files(&w).await, ["team-b/assistant/user-2/photo.png"]);
    // Under Delete they go with it, and its rule.
    w.delete(&b_object).await;
    assert_eq!(files(&w).await, Vec::<String>::new());
    assert_eq!(expiry_rules(&w).await, Vec::new());
    w.delete(&off).await;
}

/// The platform's bucket not there (yet): a chatbot keeping files for ever has
/// nothing of its own in it to remove and converges; one with an expiry to write
/// waits for the bucket and says so.
#[tokio::test]
async fn without_the_platforms_bucket_an_expiry_waits_and_none_needs_nothing() {
    let w = world().await;
    w.aws
        .s3
        .delete_bucket()
        .bucket(attachments_bucket())
        .send()
        .await
        .unwrap();
    let mut forever = w.chatbot.clone();
    forever.spec.history.retention_days = 0;
    let state = w.apply(&forever).await;
    assert!(state.is_synced(), "{:?}", state.waiting);
    let state = w.apply(&w.chatbot).await;
    assert!(
        state
            .waiting
            .iter()
            .any(|why| why.contains("waiting for attachments-bucket")),
        "{:?}",
        state.waiting
    );
}
