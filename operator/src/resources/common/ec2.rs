//! What the EC2-based modules (subnets, gateways, route tables, security groups,
//! endpoints) share: the client-side ownership check and the reading of
//! "still in use" as "wait".

use aws_sdk_ec2::types::Tag;

use crate::aws::{AwsError, ErrorClass};
use crate::desired::{Owner, TAG_COMPONENT, TAG_OWNER};
use crate::resources::Removal;
use crate::{Error, Result};

/// Whether `tags` mark a resource as component `component` of `owner`.
///
/// Every describe call already filters by these tags; checking again on our side
/// keeps a resource that an API (or an emulator) returned unfiltered from being
/// taken for ours.
pub fn is_owned(tags: &[Tag], owner: &Owner, component: &str) -> bool {
    let value = |key: &str| {
        tags.iter()
            .find(|t| t.key() == Some(key))
            .and_then(Tag::value)
    };
    value(TAG_OWNER) == Some(owner.to_string().as_str()) && value(TAG_COMPONENT) == Some(component)
}

/// What an EC2 `Describe*` operation (`$describe`, its output's list `$items`)
/// finds of component `$key` of the context's owner: asked for by the ownership
/// tags (and any `$extra` filters; `$set_filters` where the operation names its
/// filters otherwise) and checked against them again on our side ([`is_owned`]),
/// as a `Result` of the owned items. (A macro: every `Describe*` has a builder of
/// its own.)
macro_rules! describe_owned {
    ($ctx:expr, $key:expr, $describe:ident, $items:ident) => {
        $crate::resources::ec2::describe_owned!($ctx, $key, $describe, $items, set_filters, [])
    };
    ($ctx:expr, $key:expr, $describe:ident, $items:ident, $set_filters:ident, [$($extra:expr),*]) => {
        $ctx.aws
            .ec2
            .$describe()
            .$set_filters(Some(
                $crate::resources::tags::ec2_owned($ctx.owner, $key)
                    .into_iter()
                    .chain([$($extra),*])
                    .collect(),
            ))
            .send()
            .await
            .map(|found| {
                found
                    .$items()
                    .iter()
                    .filter(|item| $crate::resources::ec2::is_owned(item.tags(), $ctx.owner, $key))
                    .cloned()
                    .collect::<Vec<_>>()
            })
    };
}
pub(crate) use describe_owned;

/// A deletion that AWS refused because something still uses the resource (ENIs
/// of a deleted load balancer or endpoint still releasing, a NAT gateway still
/// deleting) is not a failure: it finishes once the dependency is gone.
/// (`result` as the SDK answers it, or as one of our steps does.)
pub fn in_use_is_waiting<T, E>(result: std::result::Result<T, E>, what: &str) -> Result<Removal>
where
    Error: From<E>,
{
    match result.map_err(Error::from) {
        Ok(_) => Ok(Removal::Done),
        Err(Error::Aws(error)) if error.class == ErrorClass::Conflict => Ok(Removal::Waiting(
            format!("{what} still in use ({})", error.message),
        )),
        Err(error) => Err(error),
    }
}

/// A response that parsed but lacks what the operation promises.
pub fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(AwsError::unexpected("ec2", operation, message))
}

/// A client token that is the same for every attempt to create one resource, so a
/// retried create after a lost response returns the first result instead of a twin.
/// It includes the ids the resource is created in (`within`): AWS remembers tokens
/// for a while, and a platform deleted and created again must not be handed the
/// gateway of its previous life.
pub fn client_token(owner: &Owner, component: &str, within: &[&str]) -> String {
    let key = format!("{owner}/{component}/{}", within.join("/"));
    crate::desired::naming::sha256_hex(key.as_bytes(), 24)
}
