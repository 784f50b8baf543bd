//! Every AWS resource that carries the operator's ownership tag, counted by kind and
//! owner — how the tests prove "exactly one of each" and "nothing left".

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use operator::aws::Aws;
use operator::desired::TAG_OWNER;

use super::read_back;

/// Count of owned resources: kind → owner tag → how many.
pub type Inventory = BTreeMap<&'static str, BTreeMap<String, usize>>;

fn add(inventory: &mut Inventory, kind: &'static str, owner: Option<String>) {
    if let Some(owner) = owner {
        *inventory.entry(kind).or_default().entry(owner).or_default() += 1;
    }
}

fn ec2_owner(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(TAG_OWNER))
        .and_then(|t| t.value().map(str::to_string))
}

/// Everything owned, by kind and owner.
pub async fn inventory(aws: &Aws) -> Inventory {
    let mut found = Inventory::new();
    let owned = || Filter::builder().name("tag-key").values(TAG_OWNER).build();
    let ec2 = &aws.ec2;

    // Every resource one EC2 `Describe*` call lists with the ownership tag, by owner.
    macro_rules! add_tagged {
        ($kind:literal, $describe:ident, $list:ident) => {
            for item in ec2
                .$describe()
                .filters(owned())
                .send()
                .await
                .unwrap()
                .$list()
            {
                add(&mut found, $kind, ec2_owner(item.tags()));
            }
        };
    }
    add_tagged!("vpc", describe_vpcs, vpcs);
    add_tagged!("subnet", describe_subnets, subnets);
    add_tagged!(
        "internet gateway",
        describe_internet_gateways,
        internet_gateways
    );
    for nat in ec2
        .describe_nat_gateways()
        .send()
        .await
        .unwrap()
        .nat_gateways()
    {
        let state = nat
            .state()
            .map(|s| s.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        if state != "deleted" {
            add(&mut found, "NAT gateway", ec2_owner(nat.tags()));
        }
    }
    add_tagged!("Elastic IP", describe_addresses, addresses);
    add_tagged!("route table", describe_route_tables, route_tables);
    add_tagged!("security group", describe_security_groups, security_groups);
    for endpoint in ec2
        .describe_vpc_endpoints()
        .filters(owned())
        .send()
        .await
        .unwrap()
        .vpc_endpoints()
    {
        let state = endpoint
            .state()
            .map(|s| s.as_str().to_ascii_lowercase())
            .unwrap_or_default();
        if state != "deleted" {
            add(&mut found, "VPC endpoint", ec2_owner(endpoint.tags()));
        }
    }

    let elb = &aws.elbv2;
    let elb_owner = |described: &aws_sdk_elasticloadbalancingv2::operation::describe_tags::DescribeTagsOutput| {
        described
            .tag_descriptions()
            .iter()
            .map(|d| {
                d.tags()
                    .iter()
                    .find(|t| t.key() == Some(TAG_OWNER))
                    .and_then(|t| t.value().map(str::to_string))
            })
            .collect::<Vec<_>>()
    };
    for lb in elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
    {
        let arn = lb.load_balancer_arn().unwrap();
        let tags = elb.describe_tags().resource_arns(arn).send().await.unwrap();
        let owner = elb_owner(&tags).pop().flatten();
        add(&mut found, "load balancer", owner.clone());
        for listener in elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap()
            .listeners()
        {
            add(&mut found, "listener", owner.clone());
            let rules = read_back::listener_rules(aws, listener.listener_arn().unwrap()).await;
            for rule in rules.iter().filter(|r| !r.is_default().unwrap_or(false)) {
                let tags = elb
                    .describe_tags()
                    .resource_arns(rule.rule_arn().unwrap())
                    .send()
                    .await
                    .unwrap();
                add(
                    &mut found,
                    "listener rule",
                    elb_owner(&tags).pop().flatten(),
                );
            }
        }
    }
    for group in elb
        .describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
    {
        let tags = elb
            .describe_tags()
            .resource_arns(group.target_group_arn().unwrap())
            .send()
            .await
            .unwrap();
        add(&mut found, "target group", elb_owner(&tags).pop().flatten());
    }

    let ecs = &aws.ecs;
    let ecs_owner = |tags: &[aws_sdk_ecs::types::Tag]| {
        tags.iter()
            .find(|t| t.key() == Some(TAG_OWNER))
            .and_then(|t| t.value().map(str::to_string))
    };
    let clusters = ecs
        .list_clusters()
        .send()
        .await
        .unwrap()
        .cluster_arns()
        .to_vec();
    if !clusters.is_empty() {
        let described = ecs
            .describe_clusters()
            .set_clusters(Some(clusters.clone()))
            .include(aws_sdk_ecs::types::ClusterField::Tags)
            .send()
            .await
            .unwrap();
        for cluster in described
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
        {
            add(&mut found, "ECS cluster", ecs_owner(cluster.tags()));
        }
    }
    for cluster in &clusters {
        let services = ecs
            .list_services()
            .cluster(cluster)
            .send()
            .await
            .unwrap()
            .service_arns()
            .to_vec();
        if services.is_empty() {
            continue;
        }
        let described = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services))
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .unwrap();
        for service in described
            .services()
            .iter()
            .filter(|s| s.status() == Some("ACTIVE"))
        {
            add(&mut found, "ECS service", ecs_owner(service.tags()));
        }
    }
    let definitions = ecs
        .list_task_definitions()
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    for arn in definitions.task_definition_arns() {
        let described = ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        add(&mut found, "task definition", ecs_owner(described.tags()));
    }

    let roles = aws
        .iam
        .list_roles()
        .path_prefix("/bedrock-chatbot/")
        .send()
        .await
        .unwrap();
    for role in roles.roles() {
        let tags = aws
            .iam
            .list_role_tags()
            .role_name(role.role_name())
            .send()
            .await
            .unwrap();
        let owner = tags
            .tags()
            .iter()
            .find(|t| t.key() == TAG_OWNER)
            .map(|t| t.value().to_string());
        add(&mut found, "IAM role", owner);
    }

    for pool in read_back::user_pools(aws).await {
        let described = read_back::user_pool(aws, pool.id().unwrap()).await;
        let owner = described
            .user_pool_tags()
            .and_then(|tags| tags.get(TAG_OWNER).cloned());
        add(&mut found, "user pool", owner);
    }

    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix("/bedrock-chatbot/")
        .send()
        .await
        .unwrap();
    for group in groups.log_groups() {
        let arn = group.arn().unwrap().trim_end_matches(":*");
        let tags = aws
            .logs
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        add(
            &mut found,
            "log group",
            tags.tags().and_then(|t| t.get(TAG_OWNER).cloned()),
        );
    }

    let tables = aws.dynamodb.list_tables().send().await.unwrap();
    for name in tables.table_names() {
        let arn = aws
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .and_then(|t| t.table_arn)
            .unwrap();
        // The emulator pages tags by ten.
        let mut owner = None;
        let mut token = None;
        loop {
            let page = aws
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(&arn)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            owner = owner.or_else(|| {
                page.tags()
                    .iter()
                    .find(|t| t.key() == TAG_OWNER)
                    .map(|t| t.value().to_string())
            });
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        add(&mut found, "DynamoDB table", owner);
    }

    for bucket in aws.s3.list_buckets().send().await.unwrap().buckets() {
        let name = bucket.name().unwrap();
        let tags = aws.s3.get_bucket_tagging().bucket(name).send().await;
        let owner = tags.ok().and_then(|t| {
            t.tag_set()
                .iter()
                .find(|t| t.key() == TAG_OWNER)
                .map(|t| t.value().to_string())
        });
        add(&mut found, "S3 bucket", owner);
    }

    for repository in aws
        .ecr
        .describe_repositories()
        .send()
        .await
        .unwrap()
        .repositories()
    {
        let tags = aws
            .ecr
            .list_tags_for_resource()
            .resource_arn(repository.repository_arn().unwrap())
            .send()
            .await
            .unwrap();
        let owner = tags
            .tags()
            .iter()
            .find(|t| t.key() == TAG_OWNER)
            .map(|t| t.value().to_string());
        add(&mut found, "ECR repository", owner);
    }
    found
}

/// The inventory a platform like `examples/platform.yaml` and `teams` default
/// chatbots should leave: one of everything per owner, two per zone where zonal.
pub fn expected(platform: &str, chatbots: &[String]) -> Inventory {
    let mut expected = Inventory::new();
    let owner = format!("ChatbotPlatform/{platform}");
    for (kind, count) in [
        ("vpc", 1),
        ("subnet", 4),
        ("internet gateway", 1),
        ("NAT gateway", 2),
        ("Elastic IP", 2),
        ("route table", 3),
        ("security group", 3),
        // bedrock-runtime, and the DynamoDB and S3 gateways.
        ("VPC endpoint", 3),
        ("load balancer", 1),
        ("listener", 2),
        // `/signed-out`, for every chatbot.
        ("listener rule", 1),
        ("ECS cluster", 1),
        ("IAM role", 1),
        ("ECR repository", 1),
        ("S3 bucket", 1),
    ] {
        expected
            .entry(kind)
            .or_default()
            .insert(owner.clone(), count);
    }
    for chatbot in chatbots {
        for kind in [
            "user pool",
            "target group",
            "listener rule",
            "log group",
            "IAM role",
            "task definition",
            "ECS service",
            "DynamoDB table",
        ] {
            expected.entry(kind).or_default().insert(chatbot.clone(), 1);
        }
    }
    expected
}
