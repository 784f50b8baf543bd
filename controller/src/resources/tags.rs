//! Tags in each service's own shape, and the ownership check every module makes
//! before it touches a resource it found by name.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::desired::{Owner, TAG_COMPONENT, TAG_OWNER, Tags, resource_tags};
use crate::{Error, Result};

/// The tags of one resource: its owner's plus its component key and `Name`.
pub fn for_resource(owner_tags: &Tags, component: &str, name: &str) -> Tags {
    resource_tags(owner_tags, component, Some(name))
}

/// EC2 tag specification for a resource being created.
pub fn ec2_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

/// EC2 tags.
pub fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
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
pub fn ensure_owned<'a>(
    kind: &'static str,
    name: &str,
    owner: &Owner,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    let found = tags
        .into_iter()
        .find(|(key, _)| *key == TAG_OWNER)
        .map(|(_, value)| value.to_string());
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
