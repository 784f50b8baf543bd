//! The chatbot's Cognito user pool: who may sign in, with TOTP MFA required.
//!
//! Cognito refuses `CreateUserPool` with `MfaConfiguration=ON` unless SMS is
//! configured, so the pool is created with MFA off and switched to ON with TOTP
//! by `SetUserPoolMfaConfig` right after. Pool names are not unique in Cognito, so
//! the pool is found by listing pools of its name and keeping the one our tags own.

use aws_sdk_cognitoidentityprovider::operation::describe_user_pool::DescribeUserPoolError;
use aws_sdk_cognitoidentityprovider::types::{
    AccountRecoverySettingType, AdminCreateUserConfigType, PasswordPolicyType,
    RecoveryOptionNameType, RecoveryOptionType, SoftwareTokenMfaConfigType, UserPoolMfaType,
    UserPoolPolicyType, UserPoolType, VerifiedAttributeType,
};
use bedrock_chatbot_crds::PasswordPolicy;

use super::{Ctx, Drift, Planned, Removal, Resource, Write, check_fixed, tags};
use crate::aws::or_absent;
use crate::desired::chatbot::UserPool;
use crate::desired::{TAG_COMPONENT, TAG_OWNER};
use crate::{Error, Result};

/// A user pool as found on AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedUserPool {
    /// Pool id (`<region>_<suffix>`): its recorded id, what the client and domain are made in.
    pub id: String,
    /// Pool ARN (the listener rule's `authenticate-cognito` needs it).
    pub arn: String,
    /// `OFF`, `ON` or `OPTIONAL`.
    pub mfa_configuration: String,
    /// TOTP authenticator apps allowed.
    pub software_token_mfa: bool,
    /// Password rules, with Cognito's defaults for what the pool leaves unset.
    pub password_policy: PasswordPolicy,
    /// Sign-in attributes (immutable after creation).
    pub username_attributes: Vec<String>,
    /// Attributes Cognito verifies by sending a code, as it spells them (`email`).
    pub auto_verified_attributes: Vec<String>,
    /// Account recovery mechanisms, by priority.
    pub account_recovery: Vec<String>,
    /// Only administrators create users.
    pub admin_create_user_only: bool,
}

settings! {
    /// What can change in place on a user pool.
    pub enum UserPoolSetting {
        /// The MFA mode and whether TOTP is on.
        Mfa => "mfa",
        PasswordPolicy => "passwordPolicy",
        AutoVerifiedAttributes => "autoVerifiedAttributes",
        AccountRecovery => "accountRecovery",
        AdminCreateUserOnly => "adminCreateUserOnly",
    }
}

impl Resource for UserPool {
    const KIND: &'static str = "Cognito user pool";
    type Observed = ObservedUserPool;
    type Setting = UserPoolSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedUserPool>> {
        let cognito = &ctx.aws.cognito;
        let candidates: Vec<String> = listed_pools(ctx)
            .await?
            .into_iter()
            .filter(|(name, _)| *name == self.name)
            .map(|(_, id)| id)
            .collect();
        let owner = ctx.owner.to_string();
        for id in candidates {
            let described = cognito.describe_user_pool().user_pool_id(&id).send().await;
            // None: deleted between the listing and now.
            let Some(described) = or_absent(
                described,
                DescribeUserPoolError::is_resource_not_found_exception,
            )?
            else {
                continue;
            };
            let Some(pool) = described.user_pool() else {
                continue;
            };
            // Same-named pools of others are not ours and not a conflict: Cognito
            // pool names are not unique.
            let pool_tags = pool.user_pool_tags();
            let tag = |key: &str| pool_tags.and_then(|t| t.get(key)).map(String::as_str);
            if tag(TAG_OWNER) != Some(owner.as_str()) || tag(TAG_COMPONENT) != Some(&self.key) {
                continue;
            }
            let mfa = cognito
                .get_user_pool_mfa_config()
                .user_pool_id(&id)
                .send()
                .await?;
            let software_token_mfa = mfa
                .software_token_mfa_configuration()
                .is_some_and(|c| c.enabled());
            let mut found = observed(pool, &id, software_token_mfa);
            // GetUserPoolMfaConfig is where SetUserPoolMfaConfig writes; the
            // emulator's DescribeUserPool keeps the value the pool was created with.
            if let Some(mode) = mfa.mfa_configuration() {
                found.mfa_configuration = mode.as_str().to_string();
            }
            return Ok(Some(found));
        }
        Ok(None)
    }

    fn drift(
        &self,
        observed: &ObservedUserPool,
        _ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<UserPoolSetting>>> {
        let want_username = strings(&self.username_attributes);
        check_fixed(
            self,
            &[(
                "usernameAttributes",
                &format!("{:?}", observed.username_attributes),
                &format!("{want_username:?}"),
            )],
        )?;
        Ok([
            Drift::compare(
                UserPoolSetting::Mfa,
                (
                    observed.mfa_configuration.as_str(),
                    observed.software_token_mfa,
                ),
                (self.mfa_configuration.as_str(), self.software_token_mfa),
            ),
            Drift::compare(
                UserPoolSetting::PasswordPolicy,
                &observed.password_policy,
                &self.password_policy,
            ),
            Drift::compare(
                UserPoolSetting::AutoVerifiedAttributes,
                observed.auto_verified_attributes.clone(),
                strings(&self.auto_verified_attributes),
            ),
            Drift::compare(
                UserPoolSetting::AccountRecovery,
                observed.account_recovery.clone(),
                strings(&self.account_recovery),
            ),
            Drift::compare(
                UserPoolSetting::AdminCreateUserOnly,
                observed.admin_create_user_only,
                self.admin_create_user_only,
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedUserPool> {
        let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
        let created = ctx
            .aws
            .cognito
            .create_user_pool()
            .pool_name(&self.name)
            .policies(self.policies())
            .set_username_attributes(Some(sdk_values(&self.username_attributes)))
            .set_auto_verified_attributes(Some(self.verified()))
            // ON needs SMS configured at creation; TOTP is switched on right after.
            .mfa_configuration(UserPoolMfaType::Off)
            .admin_create_user_config(self.admin_config())
            .account_recovery_setting(self.recovery()?)
            .set_user_pool_tags(Some(tags.into_iter().collect()))
            .send()
            .await?;
        let pool = created
            .user_pool()
            .ok_or_else(|| unexpected("CreateUserPool", "no user pool in the response"))?;
        let id = pool
            .id()
            .ok_or_else(|| unexpected("CreateUserPool", "no pool id in the response"))?
            .to_string();
        self.set_mfa(ctx, &id).await?;
        Ok(ObservedUserPool {
            mfa_configuration: self.mfa_configuration.to_string(),
            software_token_mfa: self.software_token_mfa,
            ..observed(pool, &id, self.software_token_mfa)
        })
    }

    async fn update(
        &self,
        observed: &ObservedUserPool,
        drift: &[Drift<UserPoolSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        // MFA has a call of its own; the other settings change in one call.
        let (mut mfa_drifted, mut settings_drifted) = (false, false);
        for change in drift {
            match change.field {
                UserPoolSetting::Mfa => mfa_drifted = true,
                UserPoolSetting::PasswordPolicy
                | UserPoolSetting::AutoVerifiedAttributes
                | UserPoolSetting::AccountRecovery
                | UserPoolSetting::AdminCreateUserOnly => settings_drifted = true,
            }
        }
        if settings_drifted {
            // UpdateUserPool resets every setting it is not given to Cognito's
            // default, tags and MFA included: give it all of them. MFA is passed as
            // ON only while TOTP is configured (else Cognito asks for SMS) and is
            // restored by SetUserPoolMfaConfig below otherwise.
            let tags = tags::for_resource(ctx.tags, &self.key, &self.name);
            let mfa = if observed.software_token_mfa {
                UserPoolMfaType::from(self.mfa_configuration)
            } else {
                UserPoolMfaType::from(observed.mfa_configuration.as_str())
            };
            ctx.aws
                .cognito
                .update_user_pool()
                .user_pool_id(&observed.id)
                .policies(self.policies())
                .set_auto_verified_attributes(Some(self.verified()))
                .mfa_configuration(mfa)
                .admin_create_user_config(self.admin_config())
                .account_recovery_setting(self.recovery()?)
                .set_user_pool_tags(Some(tags.into_iter().collect()))
                .send()
                .await?;
        }
        if mfa_drifted || (settings_drifted && !observed.software_token_mfa) {
            self.set_mfa(ctx, &observed.id).await?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedUserPool, ctx: Ctx<'_>) -> Result<Removal> {
        ctx.aws
            .cognito
            .delete_user_pool()
            .user_pool_id(&observed.id)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedUserPool) -> String {
        observed.id.clone()
    }

    fn listing(&self, _write: Write, ctx: Ctx<'_>) -> Option<String> {
        Some(listed_key(ctx))
    }
}

impl UserPool {
    fn policies(&self) -> UserPoolPolicyType {
        let p = &self.password_policy;
        UserPoolPolicyType::builder()
            .password_policy(
                PasswordPolicyType::builder()
                    .minimum_length(p.minimum_length)
                    .require_uppercase(p.require_uppercase)
                    .require_lowercase(p.require_lowercase)
                    .require_numbers(p.require_numbers)
                    .require_symbols(p.require_symbols)
                    .temporary_password_validity_days(p.temporary_password_validity_days)
                    .build(),
            )
            .build()
    }

    fn verified(&self) -> Vec<VerifiedAttributeType> {
        sdk_values(&self.auto_verified_attributes)
    }

    fn admin_config(&self) -> AdminCreateUserConfigType {
        AdminCreateUserConfigType::builder()
            .allow_admin_create_user_only(self.admin_create_user_only)
            .build()
    }

    fn recovery(&self) -> Result<AccountRecoverySettingType> {
        let mechanisms = self
            .account_recovery
            .iter()
            .zip(1..)
            .map(|(name, priority)| {
                RecoveryOptionType::builder()
                    .name(RecoveryOptionNameType::from(*name))
                    .priority(priority)
                    .build()
                    .map_err(|e| unexpected("CreateUserPool", &e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AccountRecoverySettingType::builder()
            .set_recovery_mechanisms(Some(mechanisms))
            .build())
    }

    /// TOTP on and MFA required: the only way to turn MFA ON without SMS.
    async fn set_mfa(&self, ctx: Ctx<'_>, id: &str) -> Result<()> {
        ctx.aws
            .cognito
            .set_user_pool_mfa_config()
            .user_pool_id(id)
            .software_token_mfa_configuration(
                SoftwareTokenMfaConfigType::builder()
                    .enabled(self.software_token_mfa)
                    .build(),
            )
            .mfa_configuration(UserPoolMfaType::from(self.mfa_configuration))
            .send()
            .await?;
        Ok(())
    }
}

fn observed(pool: &UserPoolType, id: &str, software_token_mfa: bool) -> ObservedUserPool {
    let password = pool.policies().and_then(|p| p.password_policy());
    ObservedUserPool {
        id: id.to_string(),
        arn: pool.arn().unwrap_or_default().to_string(),
        mfa_configuration: pool
            .mfa_configuration()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "OFF".into()),
        software_token_mfa,
        password_policy: PasswordPolicy {
            minimum_length: password.and_then(|p| p.minimum_length()).unwrap_or(8),
            require_uppercase: password.is_some_and(|p| p.require_uppercase()),
            require_lowercase: password.is_some_and(|p| p.require_lowercase()),
            require_numbers: password.is_some_and(|p| p.require_numbers()),
            require_symbols: password.is_some_and(|p| p.require_symbols()),
            temporary_password_validity_days: password
                .map(|p| p.temporary_password_validity_days())
                .unwrap_or(7),
        },
        username_attributes: pool
            .username_attributes()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        auto_verified_attributes: pool
            .auto_verified_attributes()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        account_recovery: {
            let mut mechanisms: Vec<(i32, String)> = pool
                .account_recovery_setting()
                .map(|s| {
                    s.recovery_mechanisms()
                        .iter()
                        .map(|m| (m.priority(), m.name().as_str().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            mechanisms.sort();
            mechanisms.into_iter().map(|(_, name)| name).collect()
        },
        admin_create_user_only: pool
            .admin_create_user_config()
            .is_some_and(|c| c.allow_admin_create_user_only()),
    }
}

/// Desired values as AWS spells them, to compare with what it reports.
fn strings<T: std::fmt::Display>(values: &[T]) -> Vec<String> {
    values.iter().map(T::to_string).collect()
}

/// Desired values as the SDK's enum.
fn sdk_values<T: Copy + Into<S>, S>(values: &[T]) -> Vec<S> {
    values.iter().map(|&v| v.into()).collect()
}

fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(crate::aws::AwsError::unexpected(
        "cognito-idp",
        operation,
        message,
    ))
}

fn listed_key(ctx: Ctx<'_>) -> String {
    format!("cognito-idp:{}:user-pools", ctx.aws.region)
}

/// Every user pool of the region as (name, id), listed once per pass for every
/// team ([`crate::aws::PassReads`]); pool names are not unique, so look-ups go on
/// by the candidates' tags.
async fn listed_pools(ctx: Ctx<'_>) -> Result<Vec<(String, String)>> {
    ctx.aws
        .reads
        .get_or_load(&listed_key(ctx), async {
            let pools = ctx
                .aws
                .cognito
                .list_user_pools()
                .into_paginator()
                .page_size(60)
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await?;
            Ok(pools
                .iter()
                .filter_map(|p| Some((p.name()?.to_string(), p.id()?.to_string())))
                .collect())
        })
        .await
}

impl Planned for UserPool {
    fn detail(&self) -> String {
        format!(
            "MFA {} (TOTP), passwords ≥ {} with upper/lower/digit/symbol, recovery by email, {}",
            self.mfa_configuration,
            self.password_policy.minimum_length,
            if self.admin_create_user_only {
                "admin-created users"
            } else {
                "self sign-up"
            }
        )
    }
}
