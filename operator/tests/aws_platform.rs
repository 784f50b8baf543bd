//! The platform engine against the local AWS emulator: create, no-op second pass,
//! drift restored, ownership respected, delete leaves nothing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, InternetGateway, IpPermission, IpRange, RouteTable, Subnet,
};

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, LoadBalancerAttribute,
};
use bedrock_chatbot_crds::{
    ChatbotPlatform, ChatbotPlatformStatus, Condition, ConditionStatus, NatGatewayMode,
};
use operator::aws::Aws;
use operator::engine::Engine;
use operator::engine::platform::{self, PlatformState};
use operator::resources::Outcome;
use support::{engine, examples, outcomes_of, read_back};
use testkit::Moto;

const OWNER_TAG: &str = "tag:bedrock-chatbot.dev/owner";

#[tokio::test]
async fn platform_is_created_then_left_alone_then_deleted() {
    let (moto, engine, recorder) = engine();
    let platform_object = &reference(&moto);

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
    let attached = read_back::attached_policy_arns(&aws, &role).await;
    assert_eq!(
        attached.first().map(String::as_str),
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
    let attached = read_back::attached_policy_arns(&aws, &role).await;
    assert_eq!(attached.len(), 1);

    // Delete leaves nothing tagged as ours.
    delete_until_done(&engine, platform_object).await;
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
    let (moto, engine, _recorder) = engine();
    let platform_object = &reference(&moto);
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
    assert!(
        read_back::attached_policy_arns(&aws, &name)
            .await
            .is_empty(),
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

const OWNER: &str = "ChatbotPlatform/shared";

/// The reference platform with a certificate that exists: AWS (and moto) refuse an
/// HTTPS listener whose certificate is unknown.
fn reference(moto: &Moto) -> ChatbotPlatform {
    let manifests = examples(&["platform.yaml"]);
    let mut object = manifests.platforms[0].object.clone();
    object.spec.load_balancer.certificate_arn =
        moto.certificate("*.example.com", "us-west-2").unwrap();
    object
}

fn owned() -> Filter {
    Filter::builder().name(OWNER_TAG).values(OWNER).build()
}

/// Applies until everything is ready, as the file mode does (AWS and the emulator
/// provision some resources asynchronously).
async fn apply_until_ready(engine: &Engine, object: &ChatbotPlatform) -> PlatformState {
    for _ in 0..10 {
        let state = platform::apply(engine, object).await.unwrap();
        if state.is_ready() {
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("platform never became ready")
}

/// Deletes in passes until AWS confirms everything is gone.
async fn delete_until_done(engine: &Engine, object: &ChatbotPlatform) {
    let mut last = None;
    for _ in 0..10 {
        let deletion = platform::delete(engine, object).await.unwrap();
        if deletion.is_done() {
            return;
        }
        last = Some(deletion);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("deletion never finished: {last:?}")
}

fn writes_since(engine: &Engine, before: usize) -> Vec<String> {
    engine
        .calls()
        .since(before)
        .into_iter()
        .filter(|c| c.is_write())
        .map(|c| format!("{} {}", c.service, c.operation))
        .collect()
}

/// Applies once more and asserts that the pass finds nothing to change.
async fn assert_next_pass_writes_nothing(engine: &Engine, object: &ChatbotPlatform) {
    let before = engine.calls().len();
    platform::apply(engine, object).await.unwrap();
    assert_eq!(writes_since(engine, before), Vec::<String>::new());
}

/// The subnets tagged as ours.
async fn owned_subnets(aws: &Aws) -> Vec<Subnet> {
    aws.ec2
        .describe_subnets()
        .filters(owned())
        .send()
        .await
        .unwrap()
        .subnets()
        .to_vec()
}

/// The internet gateways tagged as ours.
async fn owned_internet_gateways(aws: &Aws) -> Vec<InternetGateway> {
    aws.ec2
        .describe_internet_gateways()
        .filters(owned())
        .send()
        .await
        .unwrap()
        .internet_gateways()
        .to_vec()
}

/// The route tables tagged as ours.
async fn owned_route_tables(aws: &Aws) -> Vec<RouteTable> {
    aws.ec2
        .describe_route_tables()
        .filters(owned())
        .send()
        .await
        .unwrap()
        .route_tables()
        .to_vec()
}

async fn assert_no_owned_ec2_left(aws: &Aws) {
    let found = owned_ec2(aws).await;
    assert!(found.iter().all(|(_, n)| *n == 0), "{found:?}");
}

/// Every live EC2 resource tagged as ours, by type (NAT gateways and endpoints in
/// state `deleted` linger on AWS and are not counted).
async fn owned_ec2(aws: &Aws) -> Vec<(&'static str, usize)> {
    let ec2 = &aws.ec2;
    let vpcs = ec2.describe_vpcs().filters(owned()).send().await.unwrap();
    let subnets = owned_subnets(aws).await;
    let igws = owned_internet_gateways(aws).await;
    let tables = owned_route_tables(aws).await;
    let groups = ec2
        .describe_security_groups()
        .filters(owned())
        .send()
        .await
        .unwrap();
    let addresses = ec2
        .describe_addresses()
        .filters(owned())
        .send()
        .await
        .unwrap();
    // moto ignores tag filters on NAT gateways: check the tags here.
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    let nats = nats
        .nat_gateways()
        .iter()
        .filter(|g| {
            g.state().map(|s| s.as_str()) != Some("deleted")
                && g.tags().iter().any(|t| t.value() == Some(OWNER))
        })
        .count();
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(owned())
        .send()
        .await
        .unwrap();
    let endpoints = endpoints
        .vpc_endpoints()
        .iter()
        .filter(|e| {
            !e.state()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
        })
        .count();
    vec![
        ("vpc", vpcs.vpcs().len()),
        ("subnet", subnets.len()),
        ("internet gateway", igws.len()),
        ("route table", tables.len()),
        ("security group", groups.security_groups().len()),
        ("elastic ip", addresses.addresses().len()),
        ("nat gateway", nats),
        ("vpc endpoint", endpoints),
    ]
}

fn count(found: &[(&str, usize)], kind: &str) -> usize {
    found.iter().find(|(k, _)| *k == kind).unwrap().1
}

/// Ingress or egress rules of a group as (port, peer) pairs.
async fn rules(aws: &Aws, group: &str, egress: bool) -> BTreeSet<(i32, String)> {
    read_back::security_group_rules(aws, group)
        .await
        .iter()
        .filter(|r| r.is_egress() == Some(egress))
        .map(|r| {
            (
                r.from_port().unwrap(),
                r.cidr_ipv4()
                    .map(str::to_string)
                    .or_else(|| {
                        r.referenced_group_info()
                            .and_then(|g| g.group_id())
                            .map(str::to_string)
                    })
                    .unwrap(),
            )
        })
        .collect()
}

/// The load balancer attribute the platform turns on so that requests with
/// malformed headers never reach a chatbot.
const DROP_INVALID_HEADERS: &str = "routing.http.drop_invalid_header_fields.enabled";

#[tokio::test]
async fn reference_platform_has_every_resource_then_drift_is_restored_then_nothing_is_left() {
    let (moto, engine, recorder) = engine();
    let object = &reference(&moto);
    let aws = support::aws(&engine);

    let state = apply_until_ready(&engine, object).await;
    let status = &state.status;
    let found = owned_ec2(&aws).await;
    assert_eq!(
        found,
        vec![
            ("vpc", 1),
            ("subnet", 4),
            ("internet gateway", 1),
            ("route table", 3),
            ("security group", 3),
            ("elastic ip", 2),
            ("nat gateway", 2),
            // bedrock-runtime, and the DynamoDB and S3 gateways.
            ("vpc endpoint", 3),
        ]
    );
    let vpc = status.vpc_id.clone().unwrap();
    assert_eq!(status.public_subnet_ids.len(), 2);
    assert_eq!(status.private_subnet_ids.len(), 2);
    assert_eq!(status.nat_gateway_ids.len(), 2);

    // Subnets: the reference's ranges and zones, no public IPs on launch.
    let mut layout: Vec<_> = owned_subnets(&aws)
        .await
        .iter()
        .map(|s| {
            assert_eq!(s.vpc_id(), Some(vpc.as_str()));
            assert_eq!(s.map_public_ip_on_launch(), Some(false));
            (
                s.cidr_block().unwrap().to_string(),
                s.availability_zone().unwrap().to_string(),
            )
        })
        .collect();
    layout.sort();
    assert_eq!(
        layout,
        [
            ("10.0.1.0/24", "us-west-2a"),
            ("10.0.2.0/24", "us-west-2b"),
            ("10.0.3.0/24", "us-west-2a"),
            ("10.0.4.0/24", "us-west-2b"),
        ]
        .map(|(c, z)| (c.to_string(), z.to_string()))
    );

    // The internet gateway is attached to our VPC.
    let igws = owned_internet_gateways(&aws).await;
    let igw = &igws[0];
    assert_eq!(igw.attachments()[0].vpc_id(), Some(vpc.as_str()));
    let igw = igw.internet_gateway_id().unwrap().to_string();

    // One NAT gateway per zone, each in its zone's public subnet.
    let nats = aws
        .ec2
        .describe_nat_gateways()
        .set_nat_gateway_ids(Some(status.nat_gateway_ids.clone()))
        .send()
        .await
        .unwrap();
    let nat_subnets: BTreeSet<_> = nats
        .nat_gateways()
        .iter()
        .map(|g| g.subnet_id().unwrap().to_string())
        .collect();
    assert_eq!(
        nat_subnets,
        status.public_subnet_ids.iter().cloned().collect()
    );

    // Routes: public → IGW for both public subnets; each private subnet → its
    // zone's NAT gateway.
    let tables = owned_route_tables(&aws).await;
    let mut routing = Vec::new();
    for table in &tables {
        let default = table
            .routes()
            .iter()
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .map(|r| r.nat_gateway_id().or(r.gateway_id()).unwrap().to_string());
        let mut subnets: Vec<_> = table
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect();
        subnets.sort();
        routing.push((default, subnets));
    }
    let public: Vec<String> = {
        let mut p = status.public_subnet_ids.clone();
        p.sort();
        p
    };
    assert!(
        routing.contains(&(Some(igw.clone()), public)),
        "{routing:?}"
    );
    for (nat, subnet) in nats.nat_gateways().iter().map(|g| {
        let zone_index = status
            .public_subnet_ids
            .iter()
            .position(|s| Some(s.as_str()) == g.subnet_id())
            .unwrap();
        (
            g.nat_gateway_id().unwrap().to_string(),
            status.private_subnet_ids[zone_index].clone(),
        )
    }) {
        assert!(routing.contains(&(Some(nat), vec![subnet])), "{routing:?}");
    }

    // Security groups hold exactly the desired rules; the default egress is gone.
    let lb_sg = status.load_balancer_security_group_id.clone().unwrap();
    let tasks_sg = status.tasks_security_group_id.clone().unwrap();
    let endpoints_sg = status.endpoints_security_group_id.clone().unwrap();
    let anywhere = "0.0.0.0/0".to_string();
    assert_eq!(
        rules(&aws, &lb_sg, false).await,
        [(443, anywhere.clone()), (80, anywhere.clone())].into()
    );
    assert_eq!(
        rules(&aws, &lb_sg, true).await,
        [(8501, tasks_sg.clone()), (443, anywhere.clone())].into()
    );
    assert_eq!(
        rules(&aws, &tasks_sg, false).await,
        [(8501, lb_sg.clone())].into()
    );
    assert_eq!(
        rules(&aws, &tasks_sg, true).await,
        [(443, anywhere.clone())].into()
    );
    assert_eq!(
        rules(&aws, &endpoints_sg, false).await,
        [(443, tasks_sg.clone())].into()
    );
    assert!(rules(&aws, &endpoints_sg, true).await.is_empty());

    // The bedrock-runtime endpoint: private DNS, private subnets, endpoints SG.
    assert_eq!(status.vpc_endpoint_ids.len(), 3);
    let endpoints = aws
        .ec2
        .describe_vpc_endpoints()
        .set_vpc_endpoint_ids(Some(status.vpc_endpoint_ids.clone()))
        .send()
        .await
        .unwrap();
    let service = |name: &str| {
        endpoints
            .vpc_endpoints()
            .iter()
            .find(|e| e.service_name() == Some(&format!("com.amazonaws.us-west-2.{name}")))
            .unwrap()
    };
    let endpoint = service("bedrock-runtime");
    assert_eq!(endpoint.private_dns_enabled(), Some(true));
    let endpoint_subnets: BTreeSet<_> = endpoint.subnet_ids().iter().cloned().collect();
    assert_eq!(
        endpoint_subnets,
        status.private_subnet_ids.iter().cloned().collect()
    );
    assert_eq!(endpoint.groups()[0].group_id(), Some(endpoints_sg.as_str()));
    // The DynamoDB gateway endpoint: the history tables, through both private
    // route tables.
    let dynamodb = service("dynamodb");
    assert_eq!(
        dynamodb.vpc_endpoint_type().map(|t| t.as_str()),
        Some("Gateway")
    );
    assert_eq!(dynamodb.route_table_ids().len(), 2);

    // Load balancer, its attributes and listeners.
    let lb_arn = status.load_balancer_arn.clone().unwrap();
    assert!(status.load_balancer_dns_name.is_some());
    let lb = read_back::load_balancer(&aws, &lb_arn).await;
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.security_groups(), std::slice::from_ref(&lb_sg));
    assert_eq!(
        read_back::load_balancer_attribute(&aws, &lb_arn, DROP_INVALID_HEADERS)
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        read_back::load_balancer_attribute(&aws, &lb_arn, "idle_timeout.timeout_seconds")
            .await
            .as_deref(),
        Some("60")
    );
    let listeners = aws
        .elbv2
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listeners.listeners().len(), 2);
    let https = listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(443))
        .unwrap();
    assert_eq!(status.https_listener_arn.as_deref(), https.listener_arn());
    assert_eq!(
        https.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(
        https.default_actions()[0]
            .fixed_response_config()
            .and_then(|c| c.status_code()),
        Some("404")
    );
    let http = listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(80))
        .unwrap();
    let http_arn = http.listener_arn().unwrap().to_string();
    let redirect = http.default_actions()[0].redirect_config().unwrap();
    assert_eq!(
        (redirect.protocol(), redirect.port()),
        (Some("HTTPS"), Some("443"))
    );

    // Cluster, ECR repository.
    let clusters = aws
        .ecs
        .describe_clusters()
        .clusters(status.cluster_arn.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(clusters.clusters()[0].status(), Some("ACTIVE"));
    let uri = status.ecr_repository_uri.clone().unwrap();
    assert!(uri.ends_with("/bedrock-chatbot"), "{uri}");
    let repos = aws
        .ecr
        .describe_repositories()
        .repository_names("bedrock-chatbot")
        .send()
        .await
        .unwrap();
    let repo = &repos.repositories()[0];
    assert_eq!(
        repo.image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE")
    );
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    recorder.take();

    // A second pass writes nothing.
    let before = engine.calls().len();
    let again = platform::apply(&engine, object).await.unwrap();
    assert!(again.is_ready(), "{:?}", again.waiting);
    let events = recorder.take();
    assert_eq!(
        writes_since(&engine, before),
        Vec::<String>::new(),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e.outcome == Outcome::Unchanged),
        "{events:?}"
    );

    // Drift behind our back: an SG rule removed and a foreign one added, a route
    // deleted, an ALB attribute flipped, the HTTP listener's default action changed.
    // Revoked by rule id: moto matches a group-pair permission only together with
    // its description.
    let from_lb = read_back::security_group_rules(&aws, &tasks_sg)
        .await
        .iter()
        .find(|r| r.is_egress() == Some(false))
        .and_then(|r| r.security_group_rule_id())
        .unwrap()
        .to_string();
    aws.ec2
        .revoke_security_group_ingress()
        .group_id(&tasks_sg)
        .security_group_rule_ids(from_lb)
        .send()
        .await
        .unwrap();
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(&tasks_sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let private_table = tables
        .iter()
        .find(|t| t.routes().iter().any(|r| r.nat_gateway_id().is_some()))
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    aws.ec2
        .delete_route()
        .route_table_id(&private_table)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    aws.elbv2
        .modify_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key("routing.http.drop_invalid_header_fields.enabled")
                .value("false")
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.elbv2
        .modify_listener()
        .listener_arn(&http_arn)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("200")
                        .content_type("text/plain")
                        .message_body("hello")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.ec2
        .modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .unwrap();

    platform::apply(&engine, object).await.unwrap();
    let events = recorder.take();
    let updated = |kind: &str| support::updated_fields(&events, kind);
    assert_eq!(
        updated("Security group rules"),
        vec!["ingress"],
        "{events:?}"
    );
    assert_eq!(updated("Route table"), vec!["routes"], "{events:?}");
    assert_eq!(
        updated("Load balancer"),
        vec!["attribute routing.http.drop_invalid_header_fields.enabled"]
    );
    assert_eq!(updated("Listener"), vec!["defaultAction"]);
    assert_eq!(updated("VPC"), vec!["enableDnsHostnames"]);
    assert_eq!(
        rules(&aws, &tasks_sg, false).await,
        [(8501, lb_sg.clone())].into()
    );
    assert_eq!(
        read_back::load_balancer_attribute(&aws, &lb_arn, DROP_INVALID_HEADERS)
            .await
            .as_deref(),
        Some("true")
    );
    let http_now = aws
        .elbv2
        .describe_listeners()
        .listener_arns(&http_arn)
        .send()
        .await
        .unwrap();
    assert!(
        http_now.listeners()[0].default_actions()[0]
            .redirect_config()
            .is_some()
    );
    let table_now = aws
        .ec2
        .describe_route_tables()
        .route_table_ids(&private_table)
        .send()
        .await
        .unwrap();
    assert!(
        table_now.route_tables()[0]
            .routes()
            .iter()
            .any(
                |r| r.destination_cidr_block() == Some("0.0.0.0/0") && r.nat_gateway_id().is_some()
            )
    );
    // Restored means restored: the next pass writes nothing again.
    assert_next_pass_writes_nothing(&engine, object).await;

    // Delete leaves nothing of ours, of any type.
    delete_until_done(&engine, object).await;
    assert_no_owned_ec2_left(&aws).await;
    let lbs = aws.elbv2.describe_load_balancers().send().await.unwrap();
    assert!(lbs.load_balancers().is_empty());
    let clusters = aws
        .ecs
        .describe_clusters()
        .clusters(status.cluster_arn.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        clusters
            .clusters()
            .iter()
            .all(|c| c.status() == Some("INACTIVE"))
    );
    assert!(
        aws.ecr
            .describe_repositories()
            .repository_names("bedrock-chatbot")
            .send()
            .await
            .is_err()
    );
    assert!(
        aws.iam
            .get_role()
            .role_name(&state.desired.execution_role.name)
            .send()
            .await
            .is_err()
    );
}

/// A VPC made by hand (not the operator's).
async fn new_vpc(aws: &Aws, cidr: &str) -> String {
    let created = aws.ec2.create_vpc().cidr_block(cidr).send().await.unwrap();
    created.vpc().unwrap().vpc_id().unwrap().to_string()
}

/// An internet gateway made by hand, attached nowhere.
async fn new_gateway(aws: &Aws) -> String {
    let created = aws.ec2.create_internet_gateway().send().await.unwrap();
    let gateway = created.internet_gateway().unwrap();
    gateway.internet_gateway_id().unwrap().to_string()
}

/// The platform's `Degraded` condition.
fn degraded(status: &ChatbotPlatformStatus) -> &Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap()
}

fn with_nat(moto: &Moto, mode: NatGatewayMode) -> ChatbotPlatform {
    let mut object = reference(moto);
    object.spec.network.managed.as_mut().unwrap().nat_gateways = mode;
    object
}

#[tokio::test]
async fn without_nat_the_image_and_log_endpoints_replace_it() {
    let (moto, engine, _recorder) = engine();
    let object = with_nat(&moto, NatGatewayMode::None);
    let aws = support::aws(&engine);

    let state = apply_until_ready(&engine, &object).await;
    // Ready, but the chatbots cannot verify sign-ins without a way out: said so.
    let degraded = degraded(&state.status);
    assert_eq!(
        (degraded.status, degraded.reason.as_str()),
        (ConditionStatus::True, "NoEgress")
    );
    assert!(
        degraded
            .message
            .contains("public-keys.auth.elb.us-west-2.amazonaws.com"),
        "{}",
        degraded.message
    );
    let found = owned_ec2(&aws).await;
    assert_eq!(count(&found, "nat gateway"), 0);
    assert_eq!(count(&found, "elastic ip"), 0);
    assert_eq!(count(&found, "vpc endpoint"), 6);
    let endpoints = aws
        .ec2
        .describe_vpc_endpoints()
        .set_vpc_endpoint_ids(Some(state.status.vpc_endpoint_ids.clone()))
        .send()
        .await
        .unwrap();
    let services: BTreeSet<_> = endpoints
        .vpc_endpoints()
        .iter()
        .map(|e| e.service_name().unwrap().to_string())
        .collect();
    assert_eq!(
        services,
        [
            "bedrock-runtime",
            "dynamodb",
            "ecr.api",
            "ecr.dkr",
            "logs",
            "s3"
        ]
        .map(|s| format!("com.amazonaws.us-west-2.{s}"))
        .into()
    );
    // Images from S3, and the chatbots' history in DynamoDB and files in S3,
    // without NAT.
    for gateway in ["s3", "dynamodb"] {
        let endpoint = endpoints
            .vpc_endpoints()
            .iter()
            .find(|e| e.service_name() == Some(&format!("com.amazonaws.us-west-2.{gateway}")))
            .unwrap();
        assert_eq!(
            endpoint.route_table_ids().len(),
            2,
            "{gateway}: both private route tables"
        );
    }
    // Private route tables have no default route.
    let tables = owned_route_tables(&aws).await;
    let defaults = tables
        .iter()
        .flat_map(|t| t.routes())
        .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .count();
    assert_eq!(defaults, 1, "only the public table routes to the internet");

    assert_next_pass_writes_nothing(&engine, &object).await;

    delete_until_done(&engine, &object).await;
    assert_no_owned_ec2_left(&aws).await;
}

#[tokio::test]
async fn a_single_nat_gateway_serves_both_zones() {
    let (moto, engine, _recorder) = engine();
    let object = with_nat(&moto, NatGatewayMode::Single);
    let aws = support::aws(&engine);

    let state = apply_until_ready(&engine, &object).await;
    let healthy = degraded(&state.status);
    assert_eq!(
        (healthy.status, healthy.reason.as_str()),
        (ConditionStatus::False, "Healthy")
    );
    let found = owned_ec2(&aws).await;
    assert_eq!(count(&found, "nat gateway"), 1);
    assert_eq!(count(&found, "elastic ip"), 1);
    assert_eq!(
        count(&found, "vpc endpoint"),
        3,
        "Bedrock, and the DynamoDB and S3 gateways"
    );
    let nat = state.status.nat_gateway_ids[0].clone();
    let tables = owned_route_tables(&aws).await;
    let via_nat = tables
        .iter()
        .filter(|t| {
            t.routes()
                .iter()
                .any(|r| r.nat_gateway_id() == Some(nat.as_str()))
        })
        .count();
    assert_eq!(via_nat, 2);

    delete_until_done(&engine, &object).await;
    assert_no_owned_ec2_left(&aws).await;
}

/// What a VPC needs for private endpoints with private DNS (off by default).
async fn enable_dns_hostnames(aws: &Aws, vpc: &str) {
    aws.ec2
        .modify_vpc_attribute()
        .vpc_id(vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
}

/// A VPC and two public and two private subnets made by hand in it.
async fn new_network(aws: &Aws, dns_hostnames: bool) -> (String, Vec<String>) {
    let vpc = new_vpc(aws, "10.9.0.0/16").await;
    if dns_hostnames {
        enable_dns_hostnames(aws, &vpc).await;
    }
    let mut subnet_ids = Vec::new();
    for (cidr, zone) in [
        ("10.9.1.0/24", "us-west-2a"),
        ("10.9.2.0/24", "us-west-2b"),
        ("10.9.3.0/24", "us-west-2a"),
        ("10.9.4.0/24", "us-west-2b"),
    ] {
        let subnet = aws
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnet_ids.push(subnet.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    (vpc, subnet_ids)
}

fn on_existing_network(moto: &Moto, vpc: &str, subnet_ids: &[String]) -> ChatbotPlatform {
    let mut object = reference(moto);
    object.spec.network = serde_json::from_value(serde_json::json!({
        "existing": {
            "vpcId": vpc,
            "publicSubnetIds": subnet_ids[..2],
            "privateSubnetIds": subnet_ids[2..],
        }
    }))
    .unwrap();
    object
}

/// A private Bedrock endpoint needs DNS support and DNS hostnames on in the VPC, and
/// AWS refuses a second endpoint with private DNS for the same service in a VPC: an
/// existing network that cannot take the platform is refused before any write,
/// naming the setting or the endpoint in the way.
#[tokio::test]
async fn an_existing_network_that_cannot_take_the_endpoint_is_refused_before_any_write() {
    let (moto, engine, _recorder) = engine();
    let aws = support::aws(&engine);
    // A new VPC has DNS hostnames off, as on AWS.
    let (vpc, subnet_ids) = new_network(&aws, false).await;
    let object = on_existing_network(&moto, &vpc, &subnet_ids);
    let before = engine.calls().len();
    let error = platform::apply(&engine, &object).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&vpc) && message.contains("enableDnsHostnames"),
        "{message}"
    );
    assert!(!error.is_retryable(), "{message}");
    assert_eq!(writes_since(&engine, before), Vec::<String>::new());

    enable_dns_hostnames(&aws, &vpc).await;
    let theirs = aws
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name("com.amazonaws.us-west-2.bedrock-runtime")
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .private_dns_enabled(true)
        .set_subnet_ids(Some(subnet_ids[2..].to_vec()))
        .send()
        .await
        .unwrap();
    let theirs = theirs
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    let before = engine.calls().len();
    let message = platform::apply(&engine, &object)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&theirs) && message.contains("private DNS"),
        "{message}"
    );
    assert_eq!(writes_since(&engine, before), Vec::<String>::new());
}

#[tokio::test]
async fn an_existing_network_is_used_and_never_created_or_deleted() {
    let (moto, engine, _recorder) = engine();
    let aws = support::aws(&engine);
    let (vpc, subnet_ids) = new_network(&aws, true).await;
    let object = on_existing_network(&moto, &vpc, &subnet_ids);

    let before = engine.calls().len();
    let state = apply_until_ready(&engine, &object).await;
    let writes = writes_since(&engine, before);
    for network_level in [
        "CreateVpc",
        "CreateSubnet",
        "CreateInternetGateway",
        "CreateNatGateway",
        "AllocateAddress",
        "CreateRouteTable",
    ] {
        assert!(
            !writes.iter().any(|w| w.ends_with(network_level)),
            "{network_level} in {writes:?}"
        );
    }
    assert_eq!(state.status.vpc_id.as_deref(), Some(vpc.as_str()));
    assert_eq!(state.status.private_subnet_ids, subnet_ids[2..]);
    let groups = aws
        .ec2
        .describe_security_groups()
        .filters(owned())
        .send()
        .await
        .unwrap();
    assert!(
        groups
            .security_groups()
            .iter()
            .all(|g| g.vpc_id() == Some(vpc.as_str()))
    );
    assert_eq!(groups.security_groups().len(), 3);

    let before = engine.calls().len();
    delete_until_done(&engine, &object).await;
    let writes = writes_since(&engine, before);
    for network_level in [
        "DeleteVpc",
        "DeleteSubnet",
        "DeleteInternetGateway",
        "DeleteNatGateway",
        "ReleaseAddress",
        "DeleteRouteTable",
    ] {
        assert!(
            !writes.iter().any(|w| w.ends_with(network_level)),
            "{network_level} in {writes:?}"
        );
    }
    let still = aws
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(subnet_ids.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(still.subnets().len(), 4, "the user's subnets survive");
    assert_eq!(
        aws.ec2
            .describe_vpcs()
            .vpc_ids(&vpc)
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
        1,
        "the user's VPC survives"
    );
    assert_no_owned_ec2_left(&aws).await;
}

/// One JSON-protocol call to the emulator, without the SDK (which omits some
/// default values the test needs to send); panics unless it answers 200.
fn moto_json(moto: &Moto, service: &str, target: &str, body: &str) {
    use std::io::{Read, Write};
    let endpoint = moto.endpoint();
    let host = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    // The emulator takes the region from the credential scope; it checks no signature.
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: {target}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-west-2/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A Docker image manifest, enough for the emulator's PutImage.
const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":"sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]}"#;

/// The drifts the reference test does not make, one per resource: each found,
/// reported by field and restored; then an ECR repository holding an image is
/// reported, never emptied.
#[tokio::test]
async fn every_other_platform_resource_drift_is_restored_and_images_are_never_deleted() {
    use aws_sdk_ecr::types::{ImageIdentifier, ImageTagMutability};
    use aws_sdk_ecs::types::{ClusterSetting, ClusterSettingName};

    let (moto, engine, recorder) = engine();
    let object = &reference(&moto);
    let aws = support::aws(&engine);
    let state = apply_until_ready(&engine, object).await;
    recorder.take();
    let status = &state.status;
    let vpc = status.vpc_id.clone().unwrap();
    let cluster = status.cluster_arn.clone().unwrap();
    let private_a = status.private_subnet_ids[0].clone();
    let endpoint = status.vpc_endpoint_ids[0].clone();
    let stale_nat = status.nat_gateway_ids[0].clone();
    let role = state.desired.execution_role.name.clone();
    let igw = owned_internet_gateways(&aws).await[0]
        .internet_gateway_id()
        .unwrap()
        .to_string();

    // ECS cluster: Container Insights off.
    aws.ecs
        .update_cluster()
        .cluster(&cluster)
        .settings(
            ClusterSetting::builder()
                .name(ClusterSettingName::ContainerInsights)
                .value("disabled")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // ECR repository: no scan on push, tags mutable.
    // The Rust SDK leaves `scanOnPush: false` out of the request (a default), which
    // AWS reads as false but moto as "no change": sent raw, as other tools do.
    moto_json(
        &moto,
        "ecr",
        "AmazonEC2ContainerRegistry_V20150921.PutImageScanningConfiguration",
        r#"{"repositoryName":"bedrock-chatbot","imageScanningConfiguration":{"scanOnPush":false}}"#,
    );
    aws.ecr
        .put_image_tag_mutability()
        .repository_name("bedrock-chatbot")
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    // VPC endpoint: out of one private subnet. (Private DNS cannot be drifted
    // here: moto's ModifyVpcEndpoint ignores PrivateDnsEnabled.)
    aws.ec2
        .modify_vpc_endpoint()
        .vpc_endpoint_id(&endpoint)
        .remove_subnet_ids(&private_a)
        .send()
        .await
        .unwrap();
    // Subnet: a private subnet handing out public IPs.
    aws.ec2
        .modify_subnet_attribute()
        .subnet_id(&private_a)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .unwrap();
    // Internet gateway: detached. (AWS refuses this while public addresses are
    // mapped in the VPC; moto does not check.)
    aws.ec2
        .detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    // NAT gateway: it has no setting to drift (subnet and address are fixed for
    // its life), so the meaningful drift is its loss. moto deletes at once.
    let address = aws
        .ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&stale_nat)
        .send()
        .await
        .unwrap()
        .nat_gateways()[0]
        .nat_gateway_addresses()[0]
        .allocation_id()
        .unwrap()
        .to_string();
    aws.ec2
        .delete_nat_gateway()
        .nat_gateway_id(&stale_nat)
        .send()
        .await
        .unwrap();
    // AWS releases the gateway's Elastic IP once the gateway reads `deleted`;
    // moto marks it deleted but keeps the address associated: release it as AWS
    // would.
    let association = aws
        .ec2
        .describe_addresses()
        .allocation_ids(&address)
        .send()
        .await
        .unwrap()
        .addresses()[0]
        .association_id()
        .map(str::to_string);
    if let Some(association) = association {
        aws.ec2
            .disassociate_address()
            .association_id(association)
            .send()
            .await
            .unwrap();
    }
    // Execution role: trusted by EC2 instead of ECS tasks.
    aws.iam
        .update_assume_role_policy()
        .role_name(&role)
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();

    platform::apply(&engine, object).await.unwrap();
    let events = recorder.take();
    let updated = |kind: &str| support::updated_fields(&events, kind);
    assert_eq!(updated("ECS cluster"), ["containerInsights"], "{events:?}");
    let mut ecr = updated("ECR repository");
    ecr.sort();
    assert_eq!(ecr, ["imageTagMutability", "scanOnPush"]);
    assert_eq!(updated("VPC endpoint"), ["subnets"]);
    assert_eq!(updated("Subnet"), ["mapPublicIpOnLaunch"]);
    assert_eq!(updated("Internet gateway"), ["attachment"]);
    assert_eq!(updated("IAM role"), ["trustPolicy"]);
    assert!(
        outcomes_of(&events, "NAT gateway").contains(&Outcome::Created),
        "{events:?}"
    );
    // The private table routed through the lost gateway now uses the new one.
    assert_eq!(updated("Route table"), ["routes"]);

    let restored = apply_until_ready(&engine, object).await;
    let fresh_nat = restored.status.nat_gateway_ids[0].clone();
    assert_ne!(fresh_nat, stale_nat);
    assert_eq!(restored.status.nat_gateway_ids.len(), 2);
    let tables = owned_route_tables(&aws).await;
    assert!(tables.iter().any(|t| {
        t.routes()
            .iter()
            .any(|r| r.nat_gateway_id() == Some(fresh_nat.as_str()))
    }));
    let clusters = aws
        .ecs
        .describe_clusters()
        .clusters(&cluster)
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .unwrap();
    assert_eq!(
        clusters.clusters()[0].settings()[0].value(),
        Some("enabled")
    );
    let repo = aws
        .ecr
        .describe_repositories()
        .repository_names("bedrock-chatbot")
        .send()
        .await
        .unwrap();
    let repo = &repo.repositories()[0];
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    let endpoints = aws
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&endpoint)
        .send()
        .await
        .unwrap();
    let subnets: BTreeSet<_> = endpoints.vpc_endpoints()[0]
        .subnet_ids()
        .iter()
        .cloned()
        .collect();
    assert_eq!(subnets, status.private_subnet_ids.iter().cloned().collect());
    let subnet = aws
        .ec2
        .describe_subnets()
        .subnet_ids(&private_a)
        .send()
        .await
        .unwrap();
    assert_eq!(subnet.subnets()[0].map_public_ip_on_launch(), Some(false));
    let gateway = aws
        .ec2
        .describe_internet_gateways()
        .internet_gateway_ids(&igw)
        .send()
        .await
        .unwrap();
    assert_eq!(
        gateway.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(vpc.as_str())
    );
    let trust = aws
        .iam
        .get_role()
        .role_name(&role)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust = percent_encoding::percent_decode_str(trust.assume_role_policy_document().unwrap())
        .decode_utf8_lossy()
        .into_owned();
    assert!(trust.contains("ecs-tasks.amazonaws.com"), "{trust}");
    assert!(!trust.contains("ec2.amazonaws.com"), "{trust}");

    // Restored means restored: the next pass writes nothing.
    assert_next_pass_writes_nothing(&engine, object).await;
    recorder.take();

    // A repository holding an image: the deletion says so and deletes no image.
    aws.ecr
        .put_image()
        .repository_name("bedrock-chatbot")
        .image_manifest(MANIFEST)
        .image_tag("v1")
        .send()
        .await
        .unwrap();
    let before = engine.calls().len();
    let deletion = platform::delete(&engine, object).await.unwrap();
    assert!(!deletion.is_done());
    let writes = writes_since(&engine, before);
    assert!(
        !writes
            .iter()
            .any(|w| w.contains("BatchDeleteImage") || w.contains("DeleteRepository")),
        "{writes:?}"
    );
    let events = recorder.take();
    let reported = outcomes_of(&events, "ECR repository");
    assert!(
        matches!(&reported[..], [Outcome::Deleting(why)]
            if why.contains("still holds images") && why.contains("never deletes")),
        "{reported:?}"
    );
    let images = aws
        .ecr
        .list_images()
        .repository_name("bedrock-chatbot")
        .send()
        .await
        .unwrap();
    assert_eq!(images.image_ids().len(), 1, "the image survives");
    // Once a person removed the image, the deletion finishes.
    aws.ecr
        .batch_delete_image()
        .repository_name("bedrock-chatbot")
        .image_ids(ImageIdentifier::builder().image_tag("v1").build())
        .send()
        .await
        .unwrap();
    delete_until_done(&engine, object).await;
    assert_no_owned_ec2_left(&aws).await;
    assert!(
        aws.ecr
            .describe_repositories()
            .repository_names("bedrock-chatbot")
            .send()
            .await
            .is_err()
    );
}

/// An attach or detach whose answer was lost is repeated by the engine and finds
/// the work done: AWS says `Resource.AlreadyAssociated` / `Gateway.NotAttached`,
/// which for our own VPC means done, not a failure (the fault-injection run found
/// a delete stopped by it).
#[tokio::test]
async fn a_repeated_gateway_attach_or_detach_is_done_not_failed() {
    use operator::desired::RefKey;
    use operator::resources::internet_gateway::ObservedInternetGateway;
    use operator::resources::{Refs, Removal, Resource, Scope};

    let (moto, engine, _recorder) = engine();
    let aws = support::aws(&engine);
    let desired = operator::desired::platform::desired(&reference(&moto), "123456789012");
    let operator::desired::platform::Network::Managed(network) = &desired.network else {
        panic!("the example platform builds its network")
    };
    let gateway = &network.internet_gateway;
    let vpc = new_vpc(&aws, "10.9.0.0/16").await;
    let id = new_gateway(&aws).await;
    let mut refs = Refs::default();
    refs.insert(RefKey::VPC, vpc.clone());
    let scope = Scope {
        aws: &aws,
        owner: &desired.owner,
        tags: &desired.tags,
    };
    let attach_by_hand = || {
        aws.ec2
            .attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(&vpc)
            .send()
    };

    // Seen detached, but attached by the time the engine attaches it.
    attach_by_hand().await.unwrap();
    let detached = ObservedInternetGateway {
        id: id.clone(),
        attached_vpcs: Vec::new(),
    };
    gateway
        .update(&detached, &[], scope.with(&refs))
        .await
        .unwrap();

    // Seen attached, but detached by the time the engine detaches it.
    aws.ec2
        .detach_internet_gateway()
        .internet_gateway_id(&id)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap();
    let attached = ObservedInternetGateway {
        id: id.clone(),
        attached_vpcs: vec![vpc.clone()],
    };
    let removal = gateway.delete(&attached, scope.with(&refs)).await.unwrap();
    assert!(matches!(removal, Removal::Done), "{removal:?}");
    let left = aws
        .ec2
        .describe_internet_gateways()
        .internet_gateway_ids(&id)
        .send()
        .await;
    assert!(
        left.map(|l| l.internet_gateways().is_empty())
            .unwrap_or(true),
        "the gateway is deleted"
    );

    // Attached to another VPC is still an error, not adopted.
    let other = new_gateway(&aws).await;
    let elsewhere = new_vpc(&aws, "10.8.0.0/16").await;
    aws.ec2
        .attach_internet_gateway()
        .internet_gateway_id(&other)
        .vpc_id(&elsewhere)
        .send()
        .await
        .unwrap();
    let seen_detached = ObservedInternetGateway {
        id: other,
        attached_vpcs: Vec::new(),
    };
    assert!(
        gateway
            .update(&seen_detached, &[], scope.with(&refs))
            .await
            .is_err()
    );
}

/// The zones of every subnet of the platform, as AWS has them.
async fn subnet_zones(aws: &Aws) -> BTreeSet<String> {
    owned_subnets(aws)
        .await
        .iter()
        .map(|s| s.availability_zone().unwrap().to_string())
        .collect()
}

/// The reference platform in ap-northeast-1 (no `b` zone for most accounts, as the
/// emulator models it), naming no zones as the README's minimal platform, on a
/// certificate of that region.
fn in_tokyo_without_zones(moto: &Moto) -> ChatbotPlatform {
    let mut object = reference(moto);
    object.spec.region = "ap-northeast-1".into();
    object
        .spec
        .network
        .managed
        .as_mut()
        .unwrap()
        .availability_zones
        .clear();
    object.spec.load_balancer.certificate_arn =
        moto.certificate("*.example.com", "ap-northeast-1").unwrap();
    object
}

/// Without zones in the spec, the platform goes where the region has zones that
/// are available and offer the Bedrock endpoint: ap-northeast-1 has no `b` zone for
/// most accounts (the emulator models it so). Applying again moves nothing.
#[tokio::test]
async fn zones_are_chosen_among_those_the_region_offers_and_never_move() {
    let (moto, engine, _recorder) = engine();
    let object = in_tokyo_without_zones(&moto);
    let state = apply_until_ready(&engine, &object).await;
    let aws = engine.aws("ap-northeast-1");
    let zones = subnet_zones(&aws).await;
    assert_eq!(
        zones,
        BTreeSet::from(["ap-northeast-1a".to_string(), "ap-northeast-1c".to_string()]),
    );
    assert_eq!(
        state.status.availability_zones,
        ["ap-northeast-1a", "ap-northeast-1c"]
    );

    let before = engine.calls().len();
    apply_until_ready(&engine, &object).await;
    assert_eq!(writes_since(&engine, before), Vec::<String>::new());
    delete_until_done(&engine, &object).await;
}

/// Zones given in the spec that the region does not offer (or whose Bedrock
/// endpoint service is not there) are refused before any write, with the usable
/// ones named.
#[tokio::test]
async fn unusable_zones_in_the_spec_are_refused_before_any_write() {
    let (moto, engine, _recorder) = engine();
    let mut object = reference(&moto);
    object.spec.network = serde_json::from_value(serde_json::json!({
        "managed": { "availabilityZones": ["us-west-2a", "us-west-2x"] }
    }))
    .unwrap();
    let before = engine.calls().len();
    let error = platform::apply(&engine, &object).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("availabilityZones")
            && message.contains("us-west-2x")
            && message.contains("us-west-2a, us-west-2b, us-west-2c, us-west-2d"),
        "{message}"
    );
    assert!(!error.is_retryable(), "{message}");
    assert_eq!(writes_since(&engine, before), Vec::<String>::new());
}

/// An `apply` from files stopped after the first subnet keeps no status: the next
/// one must still choose a whole set of zones — the one it has plus the next usable
/// ones — not a network of that single zone (an ALB needs two).
#[tokio::test]
async fn zones_of_a_half_made_network_are_completed() {
    let (moto, engine, _recorder) = engine();
    let object = in_tokyo_without_zones(&moto);
    let aws = engine.aws("ap-northeast-1");
    let vpc = new_vpc(&aws, "10.0.0.0/16").await;
    aws.ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.2.0/24")
        .availability_zone("ap-northeast-1c")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Subnet)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key(operator::desired::TAG_OWNER)
                        .value(OWNER)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let zones = operator::engine::zones::resolve(&aws, &object, true)
        .await
        .unwrap();
    assert_eq!(
        zones,
        Some(vec![
            "ap-northeast-1a".to_string(),
            "ap-northeast-1c".to_string()
        ])
    );
}

/// The HTTPS listener's rules other than its default, by priority.
async fn listener_rules(
    aws: &Aws,
    listener: &str,
) -> Vec<aws_sdk_elasticloadbalancingv2::types::Rule> {
    let mut rules = read_back::listener_rules(aws, listener).await;
    rules.retain(|r| r.is_default() != Some(true));
    rules.sort_by_key(|r| {
        r.priority()
            .unwrap_or_default()
            .parse::<i32>()
            .unwrap_or_default()
    });
    rules
}

/// A rule at `priority` answering `body`, tagged with `tags` (none: not the
/// operator's).
async fn hand_made_rule(
    aws: &Aws,
    listener: &str,
    priority: i32,
    host: &str,
    tags: &[(&str, &str)],
) -> String {
    use aws_sdk_elasticloadbalancingv2::types::{HostHeaderConditionConfig, RuleCondition, Tag};
    let created = aws
        .elbv2
        .create_rule()
        .listener_arn(listener)
        .priority(priority)
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
                .build(),
        )
        .actions(
            Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .order(1)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("200")
                        .content_type("text/plain")
                        .message_body(host)
                        .build(),
                )
                .build(),
        )
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    created.rules()[0].rule_arn().unwrap().to_string()
}

/// After sign-out Cognito sends users to `https://<hostname>/signed-out`, which the
/// chatbot's own rule would send straight back to sign-in: one platform rule at
/// priority 1 answers it for every chatbot, without sign-in. A team's rule an
/// earlier operator put at priority 1 is moved; a rule the operator does not
/// manage is never moved, and the error names it.
#[tokio::test]
async fn signed_out_is_answered_before_every_team_rule_without_sign_in() {
    let (moto, engine, _recorder) = engine();
    let object = &reference(&moto);
    let aws = support::aws(&engine);
    let state = apply_until_ready(&engine, object).await;
    let listener = state.status.https_listener_arn.clone().unwrap();

    let rules = listener_rules(&aws, &listener).await;
    assert_eq!(rules.len(), 1, "one rule for every chatbot: {rules:?}");
    let rule = &rules[0];
    assert_eq!(rule.priority(), Some("1"));
    let paths: Vec<&String> = rule.conditions()[0]
        .path_pattern_config()
        .map(|p| p.values().iter().collect())
        .unwrap_or_else(|| rule.conditions()[0].values().iter().collect());
    assert_eq!(paths, ["/signed-out"]);
    assert_eq!(rule.conditions().len(), 1, "any host");
    assert_eq!(rule.actions().len(), 1, "no authenticate action");
    let page = rule.actions()[0].fixed_response_config().unwrap();
    assert_eq!(
        (page.status_code(), page.content_type()),
        (Some("200"), Some("text/html"))
    );
    assert_eq!(
        page.message_body(),
        Some(operator::desired::platform::SIGNED_OUT_PAGE)
    );
    assert_next_pass_writes_nothing(&engine, object).await;

    // A listener as an operator before this rule left it: a team's rule at 1.
    let signed_out = rule.rule_arn().unwrap().to_string();
    aws.elbv2
        .delete_rule()
        .rule_arn(&signed_out)
        .send()
        .await
        .unwrap();
    let team = hand_made_rule(
        &aws,
        &listener,
        1,
        "chat.team-a.example.com",
        &[
            ("bedrock-chatbot.dev/managed-by", "bedrock-chatbot-operator"),
            (
                "bedrock-chatbot.dev/owner",
                "BedrockChatbot/team-a/assistant",
            ),
            ("bedrock-chatbot.dev/component", "listener-rule"),
        ],
    )
    .await;
    hand_made_rule(
        &aws,
        &listener,
        2,
        "chat.team-b.example.com",
        &[
            ("bedrock-chatbot.dev/managed-by", "bedrock-chatbot-operator"),
            (
                "bedrock-chatbot.dev/owner",
                "BedrockChatbot/team-b/assistant",
            ),
            ("bedrock-chatbot.dev/component", "listener-rule"),
        ],
    )
    .await;
    platform::apply(&engine, object).await.unwrap();
    let rules = listener_rules(&aws, &listener).await;
    let by_priority: Vec<(&str, bool)> = rules
        .iter()
        .map(|r| (r.priority().unwrap(), r.rule_arn() == Some(team.as_str())))
        .collect();
    assert_eq!(
        by_priority,
        [("1", false), ("2", false), ("3", true)],
        "the team's rule moved to the lowest free priority"
    );
    assert!(rules[0].actions()[0].fixed_response_config().is_some());
    assert_next_pass_writes_nothing(&engine, object).await;

    // Someone's own rule at 1: left where it is, and the platform says which.
    let signed_out = rules[0].rule_arn().unwrap().to_string();
    aws.elbv2
        .delete_rule()
        .rule_arn(&signed_out)
        .send()
        .await
        .unwrap();
    let foreign = hand_made_rule(&aws, &listener, 1, "status.example.com", &[]).await;
    let error = platform::apply(&engine, object).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&foreign) && message.contains("does not manage"),
        "{message}"
    );
    let rules = listener_rules(&aws, &listener).await;
    assert_eq!(rules[0].rule_arn(), Some(foreign.as_str()));
    assert_eq!(rules[0].priority(), Some("1"));
}

/// The platform's attachments bucket as S3 describes it: public access block,
/// default encryption, policy, object ownership, the platform's lifecycle rule id
/// and every rule id, and the owner tag.
async fn bucket_settings(aws: &Aws, bucket: &str) -> serde_json::Value {
    let s3 = &aws.s3;
    let block = s3.get_public_access_block().bucket(bucket).send().await;
    let block = block
        .ok()
        .and_then(|b| b.public_access_block_configuration)
        .map(|c| {
            [
                c.block_public_acls,
                c.ignore_public_acls,
                c.block_public_policy,
                c.restrict_public_buckets,
            ]
        });
    let encryption = s3.get_bucket_encryption().bucket(bucket).send().await;
    let encryption = encryption
        .ok()
        .and_then(|e| e.server_side_encryption_configuration)
        .map(|c| {
            c.rules()
                .iter()
                .filter_map(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_string())
                .collect::<Vec<_>>()
        });
    let policy = s3.get_bucket_policy().bucket(bucket).send().await;
    let policy: Option<serde_json::Value> = policy
        .ok()
        .and_then(|p| p.policy)
        .map(|p| serde_json::from_str(&p).unwrap());
    let ownership = s3
        .get_bucket_ownership_controls()
        .bucket(bucket)
        .send()
        .await;
    let ownership = ownership.ok().and_then(|o| o.ownership_controls).map(|c| {
        c.rules()
            .iter()
            .map(|r| r.object_ownership().as_str().to_string())
            .collect::<Vec<_>>()
    });
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await;
    let rules: Vec<String> = lifecycle
        .ok()
        .map(|l| l.rules().iter().filter_map(|r| r.id.clone()).collect())
        .unwrap_or_default();
    let tags = s3.get_bucket_tagging().bucket(bucket).send().await;
    let owner = tags.ok().and_then(|t| {
        t.tag_set()
            .iter()
            .find(|t| t.key() == "bedrock-chatbot.dev/owner")
            .map(|t| t.value().to_string())
    });
    serde_json::json!({
        "publicAccessBlock": block,
        "encryption": encryption,
        "policy": policy,
        "ownership": ownership,
        "lifecycleRules": rules,
        "owner": owner,
    })
}

/// The attachments bucket (issue 17 §2): one per platform, encrypted, public access
/// blocked, TLS only, ACLs off, unfinished uploads cleared; restored after drift
/// with the chatbots' lifecycle rules kept; emptied (every version) before it is
/// deleted, since S3 refuses to delete a bucket that holds anything.
#[tokio::test]
async fn the_attachments_bucket_is_locked_down_restored_and_emptied_before_deletion() {
    let (moto, engine, recorder) = engine();
    let object = &reference(&moto);
    let aws = support::aws(&engine);
    let state = apply_until_ready(&engine, object).await;
    let bucket = state.status.attachments_bucket_name.clone().unwrap();
    assert_eq!(bucket, state.desired.attachments_bucket.name);
    let policy = state.desired.attachments_bucket.policy.clone();
    let locked_down = serde_json::json!({
        "publicAccessBlock": [true, true, true, true],
        "encryption": ["AES256"],
        "policy": policy,
        "ownership": ["BucketOwnerEnforced"],
        "lifecycleRules": ["bcb-platform-cleanup"],
        "owner": "ChatbotPlatform/shared",
    });
    assert_eq!(bucket_settings(&aws, &bucket).await, locked_down);
    assert_next_pass_writes_nothing(&engine, object).await;

    // Behind our back: every setting undone; a chatbot's rule is there too.
    let s3 = &aws.s3;
    s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    s3.delete_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    s3.delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    s3.put_bucket_ownership_controls()
        .bucket(&bucket)
        .ownership_controls(
            aws_sdk_s3::types::OwnershipControls::builder()
                .rules(
                    aws_sdk_s3::types::OwnershipControlsRule::builder()
                        .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let team_rule = aws_sdk_s3::types::LifecycleRule::builder()
        .id("expire team-a/assistant 1234abcd")
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .filter(
            aws_sdk_s3::types::LifecycleRuleFilter::builder()
                .prefix("team-a/assistant/")
                .build(),
        )
        .expiration(
            aws_sdk_s3::types::LifecycleExpiration::builder()
                .days(30)
                .build(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                .rules(team_rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let owned_by = |owner: &str| {
        aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key("bedrock-chatbot.dev/owner")
                    .value(owner)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(owned_by("ChatbotPlatform/other"))
        .send()
        .await
        .unwrap();
    recorder.take();
    // Owned by someone else, the bucket is not ours: nothing is touched.
    let error = platform::apply(&engine, object).await.unwrap_err();
    assert!(
        error.to_string().contains("not managed by this operator"),
        "{error}"
    );
    assert_eq!(
        bucket_settings(&aws, &bucket).await["publicAccessBlock"],
        serde_json::Value::Null
    );
    // Without any tag (a create cut off before its tags were kept): ours, tagged.
    s3.delete_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    platform::apply(&engine, object).await.unwrap();
    let mut fixed = support::updated_fields(&recorder.take(), "S3 bucket");
    fixed.sort();
    assert_eq!(
        fixed,
        [
            "encryption",
            "lifecycle",
            "objectOwnership",
            "policy",
            "publicAccessBlock",
            "tags"
        ]
    );
    let mut restored = locked_down.clone();
    restored["lifecycleRules"] =
        serde_json::json!(["expire team-a/assistant 1234abcd", "bcb-platform-cleanup"]);
    assert_eq!(bucket_settings(&aws, &bucket).await, restored);
    assert_next_pass_writes_nothing(&engine, object).await;

    // Files under two prefixes, one of them in two versions: all go, then the bucket.
    // (Moto gap: it denies every object request under a Deny statement whose
    // condition does not hold — its policy evaluation denies on any unmet
    // condition — so the TLS-only policy, which only reading it back can prove
    // here, is taken off before the test writes files over the emulator's HTTP.)
    s3.delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for key in [
        "team-a/assistant/u1/a.png",
        "team-a/assistant/u1/a.png",
        "team-b/x/u2/b.pdf",
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"file"))
            .send()
            .await
            .unwrap();
    }
    delete_until_done(&engine, object).await;
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
}

/// S3 outside us-east-1 takes the region as `LocationConstraint` and refuses it in
/// us-east-1; a create repeated after its answer was lost finds the bucket ours
/// (`BucketAlreadyOwnedByYou`, or in us-east-1 plain success) and settles it.
#[tokio::test]
async fn a_bucket_is_created_in_either_kind_of_region_and_a_repeated_create_is_ours() {
    use operator::desired::{Environment, Owner, owner_tags};
    use operator::engine::converge;
    use operator::resources::{Refs, Resource, Scope};
    let (_moto, engine, recorder) = engine();
    let owner = Owner::ChatbotPlatform {
        name: "shared".into(),
    };
    let tags = owner_tags(&owner, "shared", &Default::default());
    for region in ["us-east-1", "eu-west-1"] {
        let aws = engine.aws(region);
        let env = Environment::new(region, testkit::moto::ACCOUNT_ID);
        let platform = operator::desired::platform::desired(
            &{
                let mut p = reference(&_moto);
                p.spec.region = region.into();
                p
            },
            testkit::moto::ACCOUNT_ID,
        );
        let bucket = platform.attachments_bucket;
        assert!(bucket.name.ends_with(region));
        assert_eq!(env.region, region);
        let scope = Scope {
            aws: &aws,
            owner: &owner,
            tags: &tags,
        };
        let mut refs = Refs::default();
        converge(&bucket, scope, &mut refs, recorder.as_ref())
            .await
            .unwrap();
        let location = aws
            .s3
            .get_bucket_location()
            .bucket(&bucket.name)
            .send()
            .await
            .unwrap();
        let location = location
            .location_constraint()
            .map(|l| l.as_str().to_string());
        assert_eq!(
            location
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "us-east-1".into()),
            region
        );
        // The create again, as after a lost answer: no error, the bucket as wanted.
        let again = bucket.create(scope.with(&refs)).await.unwrap();
        assert!(bucket.drift(&again, scope.with(&refs)).unwrap().is_empty());
    }
}
