//! The platform engine against the local AWS emulator: create, no-op second pass,
//! drift restored, ownership respected, delete leaves nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter};
use operator::engine::platform;
use operator::resources::Outcome;
use support::{engine, examples, outcomes_of};

const OWNER_TAG: &str = "tag:bedrock-chatbot.dev/owner";

#[tokio::test]
async fn platform_is_created_then_left_alone_then_deleted() {
    let (_moto, engine, recorder) = engine();
    let manifests = examples(&["platform.yaml"]);
    let platform_object = &manifests.platforms[0].object;

    let state = platform::apply(&engine, platform_object).await.unwrap();
    let created: Vec<_> = engine
        .calls()
        .calls()
        .into_iter()
        .filter(|c| c.is_write())
        .map(|c| c.operation)
        .collect();
    assert!(
        created.contains(&"CreateVpc".to_string()) && created.contains(&"CreateRole".to_string()),
        "{created:?}"
    );
    let events = recorder.take();
    assert_eq!(outcomes_of(&events, "VPC"), vec![Outcome::Created]);
    assert_eq!(outcomes_of(&events, "IAM role"), vec![Outcome::Created]);
    let vpc_id = state.status.vpc_id.clone().unwrap();
    assert!(
        state
            .status
            .execution_role_arn
            .as_deref()
            .unwrap()
            .ends_with("-execution")
    );
    assert_eq!(
        state.status.account_id.as_deref(),
        Some(testkit::moto::ACCOUNT_ID)
    );

    let aws = support::aws(&engine);
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .vpc_ids(&vpc_id)
        .send()
        .await
        .unwrap();
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    let tags: Vec<(&str, &str)> = vpc
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert!(tags.contains(&("bedrock-chatbot.dev/owner", "ChatbotPlatform/shared")));
    assert!(tags.contains(&("bedrock-chatbot.dev/managed-by", "bedrock-chatbot-operator")));
    assert!(tags.contains(&("bedrock-chatbot.dev/component", "vpc")));
    let hostnames = aws
        .ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hostnames.enable_dns_hostnames().and_then(|v| v.value()),
        Some(true)
    );
    let role = state.desired.execution_role.name.clone();
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_arn(),
        Some("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
    );

    // A second pass changes nothing and writes nothing.
    let before = engine.calls().len();
    let again = platform::apply(&engine, platform_object).await.unwrap();
    let calls = engine.calls().since(before);
    assert!(
        calls
            .iter()
            .any(|c| c.service == "ec2" && c.operation == "DescribeVpcs"),
        "{calls:?}"
    );
    let writes: Vec<_> = calls.into_iter().filter(|c| c.is_write()).collect();
    assert!(writes.is_empty(), "second apply wrote: {writes:?}");
    assert!(
        outcomes_of(&recorder.take(), "VPC")
            .iter()
            .all(|o| *o == Outcome::Unchanged)
    );
    assert_eq!(again.status.vpc_id.as_deref(), Some(vpc_id.as_str()));

    // Drift behind our back is found and restored.
    aws.ec2
        .modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();
    aws.iam
        .detach_role_policy()
        .role_name(&role)
        .policy_arn("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
        .send()
        .await
        .unwrap();
    platform::apply(&engine, platform_object).await.unwrap();
    let events = recorder.take();
    assert!(
        matches!(&outcomes_of(&events, "VPC")[..], [Outcome::Updated(d)] if d[0].field == "enableDnsHostnames"),
        "{events:?}"
    );
    assert!(
        matches!(&outcomes_of(&events, "IAM role")[..], [Outcome::Updated(d)] if d[0].field == "managedPolicies")
    );
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies().len(), 1);

    // Delete leaves nothing tagged as ours.
    let deletion = platform::delete(&engine, platform_object).await.unwrap();
    assert!(deletion.is_done(), "{deletion:?}");
    let left = aws
        .ec2
        .describe_vpcs()
        .filters(
            Filter::builder()
                .name(OWNER_TAG)
                .values("ChatbotPlatform/shared")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(left.vpcs().is_empty());
    assert!(
        aws.iam.get_role().role_name(&role).send().await.is_err(),
        "role must be gone"
    );
    // Deleting again finds nothing and fails nothing.
    assert!(
        platform::delete(&engine, platform_object)
            .await
            .unwrap()
            .is_done()
    );
}

#[tokio::test]
async fn a_same_named_role_of_someone_else_is_never_touched() {
    let (_moto, engine, _recorder) = engine();
    let manifests = examples(&["platform.yaml"]);
    let platform_object = &manifests.platforms[0].object;
    let name = operator::desired::platform::desired(platform_object, "1")
        .execution_role
        .name;
    let aws = support::aws(&engine);
    aws.iam
        .create_role()
        .role_name(&name)
        .path("/bedrock-chatbot/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();

    let error = platform::apply(&engine, platform_object).await.unwrap_err();
    assert!(matches!(error, operator::Error::NotOwned { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("is not managed by this operator")
    );
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(&name)
        .send()
        .await
        .unwrap();
    assert!(
        attached.attached_policies().is_empty(),
        "the foreign role must stay as it was"
    );
    let error = platform::delete(&engine, platform_object)
        .await
        .unwrap_err();
    assert!(matches!(error, operator::Error::NotOwned { .. }));
    assert!(
        aws.iam.get_role().role_name(&name).send().await.is_ok(),
        "the foreign role must survive delete"
    );
}
