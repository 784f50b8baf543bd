//! Tags in each service's own shape, and the ownership check every module makes
//! before it touches a resource it found by name.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::desired::{Owner, TAG_COMPONENT, TAG_OWNER, Tags, resource_tags};
use crate::resources::{Ctx, Drift};
use crate::{Error, Result};

/// The tags of one resource: its owner's plus its component key and `Name`.
pub fn for_resource(owner_tags: &Tags, component: &str, name: &str) -> Tags {
    resource_tags(owner_tags, component, Some(name))
}

/// The tags of one resource (see [`for_resource`]) that `have` lacks, or holds with
/// another value; tags someone else added are left alone.
pub fn missing(owner_tags: &Tags, component: &str, name: &str, have: &Tags) -> Tags {
    for_resource(owner_tags, component, name)
        .into_iter()
        .filter(|(k, v)| have.get(k) != Some(v))
        .collect()
}

/// The drift of a resource's tags when some are [`missing`], as `setting`.
pub fn drift<S>(setting: S, missing: Tags) -> Option<Drift<S>> {
    (!missing.is_empty()).then(|| Drift::new(setting, "missing or changed", missing))
}

/// EC2 tag specification for a resource being created.
pub fn ec2_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

/// `tags` in the EC2 SDK's form.
pub fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// `tags` in the ECS SDK's form.
pub fn ecs_tags(tags: &Tags) -> Vec<aws_sdk_ecs::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// `tags` in the ELBv2 SDK's form.
pub fn elbv2_tags(tags: &Tags) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

/// Tags of ELBv2 resources by ARN (DescribeTags takes at most 20 ARNs a call).
pub async fn elbv2_tags_of(ctx: Ctx<'_>, arns: &[String]) -> Result<Vec<(String, Tags)>> {
    let mut found = Vec::new();
    for chunk in arns.chunks(20) {
        let out = ctx
            .aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await?;
        found.extend(out.tag_descriptions().iter().map(|d| {
            (
                d.resource_arn().unwrap_or_default().to_string(),
                d.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect(),
            )
        }));
    }
    Ok(found)
}

/// [`ensure_owned`] for an ELBv2 resource (load balancer, listener, target group)
/// found by name or port, by its ARN's tags.
pub async fn elbv2_ensure_owned(
    ctx: Ctx<'_>,
    kind: &'static str,
    name: &str,
    arn: &str,
) -> Result<()> {
    let described = elbv2_tags_of(ctx, &[arn.to_string()]).await?;
    let tags = described
        .into_iter()
        .find(|(a, _)| a == arn)
        .map(|(_, t)| t)
        .unwrap_or_default();
    ensure_owned(kind, name, ctx.owner, &tags)
}

/// EC2 filters that find exactly the resource with `component` of `owner`.
pub fn ec2_owned(owner: &Owner, component: &str) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_OWNER}"))
            .values(owner.to_string())
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_COMPONENT}"))
            .values(component)
            .build(),
    ]
}

/// Refuses to touch a resource found by name unless `owner` owns it: a same-named
/// resource made by someone else is never modified or deleted.
pub fn ensure_owned<K: AsRef<str>, V: AsRef<str>>(
    kind: &'static str,
    name: &str,
    owner: &Owner,
    tags: impl IntoIterator<Item = (K, V)>,
) -> Result<()> {
    let found = tags
        .into_iter()
        .find(|(key, _)| key.as_ref() == TAG_OWNER)
        .map(|(_, value)| value.as_ref().to_string());
    if found.as_deref() == Some(owner.to_string().as_str()) {
        Ok(())
    } else {
        Err(Error::NotOwned {
            kind,
            name: name.to_string(),
            owner: found,
        })
    }
}
