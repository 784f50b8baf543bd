//! IAM roles: the platform's task execution role and each chatbot's task role, with
//! their trust policy, managed policy attachments and inline policies — exactly
//! those, nothing more.

use std::collections::BTreeSet;

use aws_sdk_iam::operation::get_role::GetRoleError;
use aws_sdk_iam::types::Tag;

use super::{Ctx, Drift, Planned, Removal, Resource, tags};
use crate::Result;
use crate::aws::or_absent;
use crate::desired::platform::Role;

/// A role as found on AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedRole {
    /// The role's ARN: its recorded id, what task definitions name.
    pub arn: String,
    /// Who may assume the role, parsed from IAM's URL-encoded document.
    pub trust_policy: serde_json::Value,
    /// What the role is for, as IAM shows it; corrected when it drifts.
    pub description: String,
    /// ARNs of attached managed policies.
    pub managed_policy_arns: BTreeSet<String>,
    /// Inline policies by name, parsed.
    pub inline_policies: Vec<(String, serde_json::Value)>,
    /// ARN of the permissions boundary, if any.
    pub permissions_boundary: Option<String>,
}

settings! {
    /// What can change in place on a role.
    pub enum RoleSetting {
        PermissionsBoundary => "permissionsBoundary",
        TrustPolicy => "trustPolicy",
        Description => "description",
        ManagedPolicies => "managedPolicies",
        InlinePolicies => "inlinePolicies",
    }
}

impl Resource for Role {
    const KIND: &'static str = "IAM role";
    type Observed = ObservedRole;
    type Setting = RoleSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedRole>> {
        let iam = &ctx.aws.iam;
        let found = iam.get_role().role_name(&self.name).send().await;
        let Some(found) = or_absent(found, GetRoleError::is_no_such_entity_exception)? else {
            return Ok(None);
        };
        let role = found
            .role
            .ok_or_else(|| unexpected("GetRole", "no role in the response"))?;
        // GetRole returns every tag (a role holds at most 50): no ListRoleTags.
        tags::ensure_owned(
            Self::KIND,
            &self.name,
            ctx.owner,
            role.tags().iter().map(|t| (t.key(), t.value())),
        )?;
        let attached = iam
            .list_attached_role_policies()
            .role_name(&self.name)
            .send()
            .await?;
        let names = iam
            .list_role_policies()
            .role_name(&self.name)
            .send()
            .await?;
        let mut inline_policies = Vec::new();
        for name in names.policy_names() {
            let policy = iam
                .get_role_policy()
                .role_name(&self.name)
                .policy_name(name)
                .send()
                .await?;
            inline_policies.push((name.to_string(), policy_json(policy.policy_document())));
        }
        Ok(Some(ObservedRole {
            arn: role.arn().to_string(),
            trust_policy: policy_json(role.assume_role_policy_document().unwrap_or_default()),
            description: role.description().unwrap_or_default().to_string(),
            managed_policy_arns: attached
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string))
                .collect(),
            inline_policies,
            permissions_boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
        }))
    }

    fn drift(&self, observed: &ObservedRole, _ctx: Ctx<'_>) -> Result<Vec<Drift<RoleSetting>>> {
        let want_trust = serde_json::to_value(&self.trust_policy).map_err(crate::Error::Render)?;
        let want_managed: BTreeSet<String> = self.managed_policy_arns.iter().cloned().collect();
        let want_inline = self.inline_json()?;
        let mut have_inline = observed.inline_policies.clone();
        have_inline.sort_by(|a, b| a.0.cmp(&b.0));
        // The boundary first: a controller whose own policy requires the boundary
        // may change the role's policies only once the role has it.
        Ok([
            Drift::compare(
                RoleSetting::PermissionsBoundary,
                &observed.permissions_boundary,
                &self.permissions_boundary,
            ),
            Drift::compare(
                RoleSetting::TrustPolicy,
                &observed.trust_policy,
                &want_trust,
            ),
            Drift::compare(
                RoleSetting::Description,
                &observed.description,
                &self.description,
            ),
            Drift::compare(
                RoleSetting::ManagedPolicies,
                &observed.managed_policy_arns,
                &want_managed,
            ),
            Drift::compare(RoleSetting::InlinePolicies, &have_inline, &want_inline),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedRole> {
        let trust = serde_json::to_string(&self.trust_policy).map_err(crate::Error::Render)?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .iam
            .create_role()
            .role_name(&self.name)
            .path(self.path)
            .description(&self.description)
            .assume_role_policy_document(trust)
            .set_permissions_boundary(self.permissions_boundary.clone())
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| unexpected("CreateRole", &e.to_string()))?,
            ))
            .send()
            .await?;
        let arn = created
            .role()
            .map(|r| r.arn().to_string())
            .ok_or_else(|| unexpected("CreateRole", "no role in the response"))?;
        let fresh = ObservedRole {
            arn,
            trust_policy: serde_json::to_value(&self.trust_policy).map_err(crate::Error::Render)?,
            description: self.description.clone(),
            managed_policy_arns: BTreeSet::new(),
            inline_policies: Vec::new(),
            permissions_boundary: self.permissions_boundary.clone(),
        };
        let drift = self.drift(&fresh, ctx)?;
        self.update(&fresh, &drift, ctx).await?;
        Ok(ObservedRole {
            managed_policy_arns: self.managed_policy_arns.iter().cloned().collect(),
            inline_policies: self.inline_json()?,
            ..fresh
        })
    }

    async fn update(
        &self,
        observed: &ObservedRole,
        drift: &[Drift<RoleSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        for change in drift {
            match change.field {
                RoleSetting::TrustPolicy => self.put_trust_policy(ctx).await?,
                RoleSetting::PermissionsBoundary => self.put_permissions_boundary(ctx).await?,
                RoleSetting::Description => self.put_description(ctx).await?,
                RoleSetting::ManagedPolicies => self.sync_managed_policies(observed, ctx).await?,
                RoleSetting::InlinePolicies => self.sync_inline_policies(observed, ctx).await?,
            }
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedRole, ctx: Ctx<'_>) -> Result<Removal> {
        for arn in &observed.managed_policy_arns {
            detach(ctx, &self.name, arn).await?;
        }
        for (name, _) in &observed.inline_policies {
            delete_inline(ctx, &self.name, name).await?;
        }
        ctx.aws
            .iam
            .delete_role()
            .role_name(&self.name)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedRole) -> String {
        observed.arn.clone()
    }
}

/// Writes of the role's settings, as `update` makes them.
impl Role {
    async fn put_trust_policy(&self, ctx: Ctx<'_>) -> Result<()> {
        let trust = serde_json::to_string(&self.trust_policy).map_err(crate::Error::Render)?;
        ctx.aws
            .iam
            .update_assume_role_policy()
            .role_name(&self.name)
            .policy_document(trust)
            .send()
            .await?;
        Ok(())
    }

    /// Sets the desired boundary, or removes the one found when none is desired.
    async fn put_permissions_boundary(&self, ctx: Ctx<'_>) -> Result<()> {
        let iam = &ctx.aws.iam;
        match &self.permissions_boundary {
            Some(boundary) => {
                iam.put_role_permissions_boundary()
                    .role_name(&self.name)
                    .permissions_boundary(boundary)
                    .send()
                    .await?;
            }
            None => {
                iam.delete_role_permissions_boundary()
                    .role_name(&self.name)
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    async fn put_description(&self, ctx: Ctx<'_>) -> Result<()> {
        ctx.aws
            .iam
            .update_role()
            .role_name(&self.name)
            .description(&self.description)
            .send()
            .await?;
        Ok(())
    }

    /// Attaches the desired managed policies not attached yet, then detaches
    /// those attached and not desired.
    async fn sync_managed_policies(&self, observed: &ObservedRole, ctx: Ctx<'_>) -> Result<()> {
        for arn in self
            .managed_policy_arns
            .iter()
            .filter(|a| !observed.managed_policy_arns.contains(*a))
        {
            ctx.aws
                .iam
                .attach_role_policy()
                .role_name(&self.name)
                .policy_arn(arn)
                .send()
                .await?;
        }
        for arn in observed
            .managed_policy_arns
            .iter()
            .filter(|a| !self.managed_policy_arns.contains(*a))
        {
            detach(ctx, &self.name, arn).await?;
        }
        Ok(())
    }

    /// Writes every desired inline policy, then deletes those found and not
    /// desired.
    async fn sync_inline_policies(&self, observed: &ObservedRole, ctx: Ctx<'_>) -> Result<()> {
        for (name, document) in &self.inline_policies {
            let document = serde_json::to_string(document).map_err(crate::Error::Render)?;
            ctx.aws
                .iam
                .put_role_policy()
                .role_name(&self.name)
                .policy_name(name)
                .policy_document(document)
                .send()
                .await?;
        }
        for (name, _) in &observed.inline_policies {
            if !self.inline_policies.iter().any(|(n, _)| n == name) {
                delete_inline(ctx, &self.name, name).await?;
            }
        }
        Ok(())
    }
}

impl Role {
    fn inline_json(&self) -> Result<Vec<(String, serde_json::Value)>> {
        let mut inline = self
            .inline_policies
            .iter()
            .map(|(name, doc)| {
                Ok((
                    name.clone(),
                    serde_json::to_value(doc).map_err(crate::Error::Render)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        inline.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(inline)
    }
}

async fn detach(ctx: Ctx<'_>, role: &str, arn: &str) -> Result<()> {
    ctx.aws
        .iam
        .detach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await?;
    Ok(())
}

async fn delete_inline(ctx: Ctx<'_>, role: &str, name: &str) -> Result<()> {
    ctx.aws
        .iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await?;
    Ok(())
}

/// IAM returns policy documents URL-encoded; compare them as JSON.
fn policy_json(document: &str) -> serde_json::Value {
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or(serde_json::Value::String(decoded.into_owned()))
}

fn unexpected(operation: &'static str, message: &str) -> crate::Error {
    crate::Error::Aws(crate::aws::AwsError::unexpected("iam", operation, message))
}

impl Planned for Role {
    fn detail(&self) -> String {
        let mut grants: Vec<String> = self
            .managed_policy_arns
            .iter()
            .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_string())
            .collect();
        for (name, policy) in &self.inline_policies {
            for statement in &policy.statement {
                grants.push(format!(
                    "{name}: {} on {} ARN(s)",
                    statement.action.join(" + "),
                    statement.resource.len()
                ));
            }
        }
        format!("trusted by ecs-tasks; {}", grants.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::policy_json;

    #[test]
    fn policy_documents_are_decoded_from_iam_url_encoding() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            policy_json(encoded),
            serde_json::json!({"Version": "2012-10-17", "Statement": []})
        );
        assert_eq!(policy_json(r#"{"a":1}"#), serde_json::json!({"a": 1}));
    }
}
