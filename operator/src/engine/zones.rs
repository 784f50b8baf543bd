//! The availability zones of a managed network, chosen once from what the account
//! and region really offer, and kept.
//!
//! Zone names differ by account (`us-east-1a` is not the same zone in two
//! accounts), not every region has an `a` and a `b` for every account
//! (ap-northeast-1 has no `b` for most accounts), and an interface endpoint can
//! only go where its service is offered ([Availability Zones](https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-regions-availability-zones.html),
//! [DescribeVpcEndpointServices](https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcEndpointServices.html)).

use std::collections::BTreeSet;

use aws_sdk_ec2::types::Filter;
use bedrock_chatbot_crds::{ChatbotPlatform, NetworkSpec};

use crate::aws::Aws;
use crate::desired::TAG_OWNER;
use crate::desired::platform::bedrock_runtime_service;
use crate::{Error, Result};

/// The zones the platform's managed network uses, in order:
/// 1. the spec's, each checked to be usable (before any write);
/// 2. the ones recorded in its status by an earlier pass;
/// 3. those of the subnets it already has (an `apply` from files keeps no status);
/// 4. else the first usable zones of the region, by name, as many as the spec has
///    public subnet CIDRs.
///
/// `None` for an existing network (its subnets are given). To find what to delete
/// (`choose` false), the spec's zones are taken unchecked and nothing is chosen.
pub async fn resolve(
    aws: &Aws,
    platform: &ChatbotPlatform,
    choose: bool,
) -> Result<Option<Vec<String>>> {
    let Some(managed) = managed(platform) else {
        return Ok(None);
    };
    let spec = &managed.availability_zones;
    if !spec.is_empty() {
        if choose {
            check_usable(aws, platform, spec).await?;
        }
        return Ok(Some(spec.clone()));
    }
    let recorded = recorded(platform);
    if !recorded.is_empty() {
        return Ok(Some(recorded));
    }
    let existing = zones_of_own_subnets(aws, platform).await?;
    if !choose {
        return Ok((!existing.is_empty()).then(|| existing.into_iter().collect()));
    }
    let wanted = managed.public_subnet_cidrs.len().max(2);
    if existing.len() >= wanted {
        return Ok(Some(existing.into_iter().collect()));
    }
    complete(aws, platform, existing, wanted).await.map(Some)
}

/// Refuses any of the spec's `zones` the platform cannot use (see [`usable`]).
async fn check_usable(aws: &Aws, platform: &ChatbotPlatform, zones: &[String]) -> Result<()> {
    let usable = usable(aws).await?;
    let unusable: Vec<&String> = zones.iter().filter(|z| !usable.contains(*z)).collect();
    if unusable.is_empty() {
        return Ok(());
    }
    Err(Error::AvailabilityZones {
        platform: platform.metadata.name.clone().unwrap_or_default(),
        problem: format!(
            "{} not among the available zones of {} that offer the Bedrock runtime endpoint (usable: {})",
            join(&unusable),
            aws.region,
            join(&usable.iter().collect::<Vec<_>>()),
        ),
    })
}

/// The zones an earlier pass recorded in the platform's status.
fn recorded(platform: &ChatbotPlatform) -> Vec<String> {
    platform
        .status
        .as_ref()
        .map(|s| s.availability_zones.clone())
        .unwrap_or_default()
}

/// The zones of the subnets tagged as the platform's, by name.
async fn zones_of_own_subnets(aws: &Aws, platform: &ChatbotPlatform) -> Result<BTreeSet<String>> {
    let owner = crate::desired::Owner::ChatbotPlatform {
        name: platform.metadata.name.clone().unwrap_or_default(),
    }
    .to_string();
    let ours = aws
        .ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name(format!("tag:{TAG_OWNER}"))
                .values(owner)
                .build(),
        )
        .send()
        .await?;
    Ok(ours
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone().map(str::to_string))
        .collect())
}

/// `existing` completed to `wanted` zones with the next usable ones, or why the
/// region has too few.
async fn complete(
    aws: &Aws,
    platform: &ChatbotPlatform,
    existing: BTreeSet<String>,
    wanted: usize,
) -> Result<Vec<String>> {
    // What a stopped pass began is kept, and completed with the next usable zones;
    // by name, as a first choice was, so each zone keeps its CIDR.
    let usable = usable(aws).await?;
    let mut chosen = existing;
    for zone in &usable {
        if chosen.len() >= wanted {
            break;
        }
        chosen.insert(zone.clone());
    }
    if chosen.len() < wanted {
        return Err(Error::AvailabilityZones {
            platform: platform.metadata.name.clone().unwrap_or_default(),
            problem: format!(
                "{} has only {} available zone(s) offering the Bedrock runtime endpoint ({}), and the network needs {wanted}",
                aws.region,
                usable.len(),
                join(&usable.iter().collect::<Vec<_>>()),
            ),
        });
    }
    Ok(chosen.into_iter().collect())
}

/// `platform` with `zones` recorded in its status, which the desired state reads
/// when the spec names none.
pub fn with_zones(platform: &ChatbotPlatform, zones: Option<Vec<String>>) -> ChatbotPlatform {
    let mut platform = platform.clone();
    if let Some(zones) = zones {
        platform
            .status
            .get_or_insert_with(Default::default)
            .availability_zones = zones;
    }
    platform
}

fn managed(platform: &ChatbotPlatform) -> Option<&bedrock_chatbot_crds::ManagedNetwork> {
    match &platform.spec.network {
        NetworkSpec {
            existing: Some(_), ..
        } => None,
        NetworkSpec { managed, .. } => Some(managed.as_ref().unwrap_or(&DEFAULT_MANAGED)),
    }
}

static DEFAULT_MANAGED: std::sync::LazyLock<bedrock_chatbot_crds::ManagedNetwork> =
    std::sync::LazyLock::new(Default::default);

/// The region's zones that are available, of type `availability-zone` (not Local
/// or Wavelength zones), and offer the Bedrock runtime endpoint service; by name.
async fn usable(aws: &Aws) -> Result<BTreeSet<String>> {
    let zones = aws
        .ec2
        .describe_availability_zones()
        .filters(Filter::builder().name("state").values("available").build())
        .filters(
            Filter::builder()
                .name("zone-type")
                .values("availability-zone")
                .build(),
        )
        .send()
        .await?;
    let service = bedrock_runtime_service(&aws.region);
    let offered = aws
        .ec2
        .describe_vpc_endpoint_services()
        .service_names(&service)
        .send()
        .await?;
    let offered: BTreeSet<&str> = offered
        .service_details()
        .iter()
        .filter(|d| d.service_name() == Some(service.as_str()))
        .flat_map(|d| d.availability_zones().iter().map(String::as_str))
        .collect();
    Ok(zones
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .filter(|z| offered.contains(z))
        .map(str::to_string)
        .collect())
}

fn join(zones: &[&String]) -> String {
    zones
        .iter()
        .map(|z| z.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
