//! The user pool's hosted sign-in domain (`<prefix>.auth.<region>.amazoncognito.com`),
//! where the load balancer sends users to sign in. Domains carry no tags: one is
//! ours when it belongs to our user pool; a prefix taken by another pool is never
//! touched.

use std::convert::Infallible;

use super::{Ctx, Drift, Planned, Readiness, Removal, Resource};
use crate::desired::RefKey;
use crate::desired::chatbot::UserPoolDomain;
use crate::{Error, Result};

/// The state of a domain AWS is still creating.
const CREATING: &str = "CREATING";
/// The state of a domain AWS is still deleting.
const DELETING: &str = "DELETING";

/// A domain as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedUserPoolDomain {
    /// `<prefix>` of `<prefix>.auth.<region>.amazoncognito.com`: its recorded id.
    pub prefix: String,
    /// The pool it belongs to.
    pub user_pool_id: String,
    /// `CREATING`, `ACTIVE`, … (empty when AWS says nothing).
    pub status: String,
}

impl Resource for UserPoolDomain {
    const KIND: &'static str = "Cognito domain";
    type Observed = ObservedUserPoolDomain;
    /// Nothing changes in place: the prefix is the domain's identity.
    type Setting = Infallible;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.prefix
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedUserPoolDomain>> {
        // Without our pool there is no domain of ours (and `create` waits for it).
        let Some(pool) = ctx.refs.get(&RefKey::USER_POOL) else {
            return Ok(None);
        };
        let out = ctx
            .aws
            .cognito
            .describe_user_pool_domain()
            .domain(&self.prefix)
            .send()
            .await?;
        // An unknown domain comes back as an empty description.
        let Some(found) = out
            .domain_description()
            .and_then(|d| d.user_pool_id().map(|id| (d, id)))
        else {
            return Ok(None);
        };
        let (description, owner_pool) = found;
        if owner_pool != pool {
            return Err(Error::NotOwned {
                kind: Self::KIND,
                name: self.prefix.clone(),
                owner: Some(format!("user pool {owner_pool}")),
            });
        }
        Ok(Some(ObservedUserPoolDomain {
            prefix: self.prefix.clone(),
            user_pool_id: owner_pool.to_string(),
            status: description
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        }))
    }

    fn drift(&self, _: &ObservedUserPoolDomain, _: Ctx<'_>) -> Result<Vec<Drift<Infallible>>> {
        // The prefix is the domain's identity and the pool is checked in observe.
        Ok(Vec::new())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedUserPoolDomain> {
        let pool = ctx
            .refs
            .get(&RefKey::USER_POOL)
            .ok_or_else(|| Error::Unresolved(RefKey::USER_POOL.to_string()))?
            .to_string();
        ctx.aws
            .cognito
            .create_user_pool_domain()
            .domain(&self.prefix)
            .user_pool_id(&pool)
            .send()
            .await?;
        // CreateUserPoolDomain says nothing of the state, and sign-in fails until
        // the domain is ACTIVE: read it. A domain not visible yet is CREATING (the
        // first DomainStatusType); the next pass reads it again.
        Ok(self
            .observe(ctx)
            .await?
            .unwrap_or_else(|| ObservedUserPoolDomain {
                prefix: self.prefix.clone(),
                user_pool_id: pool,
                status: CREATING.to_string(),
            }))
    }

    nothing_changes_in_place!(ObservedUserPoolDomain);

    async fn delete(&self, observed: &ObservedUserPoolDomain, ctx: Ctx<'_>) -> Result<Removal> {
        // Deleted already, and AWS is not done yet: deleting again does not help.
        if observed.status == DELETING {
            return Ok(Removal::Waiting(format!("domain {DELETING}")));
        }
        ctx.aws
            .cognito
            .delete_user_pool_domain()
            .domain(&observed.prefix)
            .user_pool_id(&observed.user_pool_id)
            .send()
            .await?;
        // DeleteUserPoolDomain returns while the domain is still DELETING, and the
        // pool cannot go before it: done only once it is no longer found.
        match self.observe(ctx).await? {
            None => Ok(Removal::Done),
            Some(found) => Ok(Removal::Waiting(format!(
                "domain {}",
                if found.status.is_empty() {
                    DELETING
                } else {
                    &found.status
                }
            ))),
        }
    }

    fn id(observed: &ObservedUserPoolDomain) -> String {
        observed.prefix.clone()
    }

    fn readiness(observed: &ObservedUserPoolDomain) -> Readiness {
        // A new domain takes a while to become ACTIVE on AWS; sign-in fails until then.
        match observed.status.as_str() {
            "" | "ACTIVE" => Readiness::Ready,
            other => Readiness::Waiting(format!("domain {other}")),
        }
    }
}

impl Planned for UserPoolDomain {
    fn detail(&self) -> String {
        self.url.clone()
    }
}
