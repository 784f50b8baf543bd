//! Rules on the platform's HTTPS listener: a chatbot's (requests for its hostname
//! sign in through Cognito, `authenticate-cognito`, then go to its target group)
//! and the platform's one rule for every chatbot (`/signed-out`, a fixed response
//! without sign-in).
//!
//! Many teams share one listener, so a rule is found by its tags among the
//! listener's rules, and its priority is the desired fixed one or the lowest free
//! one from [`FIRST_TEAM_PRIORITY`]. Two teams may pick the same free priority at
//! once; AWS then answers `PriorityInUse` to the second, which looks again and
//! takes the next free one. The platform's rule holds [`PLATFORM_RULE_PRIORITY`]:
//! a team's rule found there (earlier operators gave teams the lowest free
//! priority from the first) is moved to the lowest free one; a rule the operator
//! does not manage there is an error naming it.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::operation::create_rule::CreateRuleError;
use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesError;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, AuthenticateCognitoActionConditionalBehaviorEnum,
    AuthenticateCognitoActionConfig, HostHeaderConditionConfig, PathPatternConditionConfig, Rule,
    RuleCondition, RulePriorityPair,
};

use super::listener::ListenerAction;
use super::{Ctx, Drift, Planned, Removal, Resource, Write, chatbot_ref, tags};
use crate::aws::{AwsError, ErrorClass, or_absent};
use crate::desired::chatbot::{
    FIRST_TEAM_PRIORITY, ListenerRule, PLATFORM_RULE_PRIORITY, RuleMatch, RuleThen,
};
use crate::desired::{MANAGED_BY, TAG_COMPONENT, TAG_MANAGED_BY, TAG_OWNER};
use crate::{Error, Result};

/// Highest priority a listener rule may have.
const MAX_PRIORITY: i32 = 50_000;

/// Rules the operator puts on one listener before refusing: AWS's default quota is
/// 100 rules per load balancer (default rules not counted), and the HTTPS
/// listener carries all of them (HTTP only redirects). Refusing here gives a clear
/// message instead of AWS's `TooManyRules` halfway through a pass.
pub const RULE_BUDGET: usize = 100;

/// How often `CreateRule` is retried with the next free priority.
const PRIORITY_ATTEMPTS: usize = 5;

/// The condition field matching the `Host` header.
const HOST_HEADER: &str = "host-header";

/// The condition field matching the path.
const PATH_PATTERN: &str = "path-pattern";

/// A listener rule as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedListenerRule {
    /// The rule's ARN: its recorded id, what it is modified and deleted by.
    pub arn: String,
    /// Its priority on the listener: lower numbers are evaluated first.
    pub priority: i32,
    /// Conditions, normalised: (field, sorted values), sorted.
    pub conditions: Vec<(String, Vec<String>)>,
    /// Actions in order.
    pub actions: Vec<RuleAction>,
}

/// One rule action in a shape that compares by value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// Sign in through Cognito.
    AuthenticateCognito {
        /// Order among the actions.
        order: i32,
        /// ARN of the user pool users sign in to.
        user_pool_arn: String,
        /// Id of the app client the load balancer signs users in with.
        user_pool_client_id: String,
        /// Prefix of the pool's hosted sign-in domain.
        user_pool_domain: String,
        /// Scopes asked for, space-separated (AWS's default: `openid`).
        scope: String,
        /// What to do with anonymous requests.
        on_unauthenticated_request: String,
        /// Name of the load balancer's session cookie (AWS's default: `AWSELBAuthSessionCookie`).
        session_cookie_name: String,
        /// Seconds a sign-in lasts (AWS's default: 604,800, a week).
        session_timeout_seconds: i64,
    },
    /// Send to one target group.
    Forward {
        /// Order among the actions.
        order: i32,
        /// ARN of the one target group the requests go to.
        target_group_arn: String,
    },
    /// Answer from the load balancer.
    FixedResponse {
        /// Order among the actions.
        order: i32,
        /// The answer, as a listener's default action compares it.
        response: ListenerAction,
    },
    /// Anything else (someone changed the rule by hand).
    Other(String),
}

impl RuleAction {
    /// A foreign action by its type and order only: an `authenticate-oidc` action
    /// carries a client secret, which must never reach drift reports or logs.
    fn other(action: &Action) -> Self {
        Self::Other(format!(
            "{} (order {})",
            action.r#type().map_or("unknown", |t| t.as_str()),
            action.order().unwrap_or_default()
        ))
    }

    /// Reads an action from AWS, whichever of the equivalent shapes AWS used
    /// (`forward` with `TargetGroupArn` or with a one-group `ForwardConfig`).
    pub fn from_sdk(action: &Action) -> Self {
        let order = action.order().unwrap_or_default();
        match action.r#type() {
            Some(ActionTypeEnum::AuthenticateCognito) => {
                let Some(c) = action.authenticate_cognito_config() else {
                    return Self::other(action);
                };
                Self::AuthenticateCognito {
                    order,
                    user_pool_arn: c.user_pool_arn().unwrap_or_default().to_string(),
                    user_pool_client_id: c.user_pool_client_id().unwrap_or_default().to_string(),
                    user_pool_domain: c.user_pool_domain().unwrap_or_default().to_string(),
                    scope: c.scope().unwrap_or("openid").to_string(),
                    on_unauthenticated_request: c
                        .on_unauthenticated_request()
                        .map(|b| b.as_str().to_string())
                        // AWS's default when the action names none.
                        .unwrap_or_else(|| {
                            AuthenticateCognitoActionConditionalBehaviorEnum::Authenticate
                                .as_str()
                                .into()
                        }),
                    session_cookie_name: c
                        .session_cookie_name()
                        .unwrap_or("AWSELBAuthSessionCookie")
                        .to_string(),
                    session_timeout_seconds: c.session_timeout().unwrap_or(604_800),
                }
            }
            Some(ActionTypeEnum::Forward) => {
                let groups: Vec<&str> = match action.target_group_arn() {
                    Some(arn) => vec![arn],
                    None => action
                        .forward_config()
                        .map(|f| {
                            f.target_groups()
                                .iter()
                                .filter_map(|t| t.target_group_arn())
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                match groups[..] {
                    [arn] => Self::Forward {
                        order,
                        target_group_arn: arn.to_string(),
                    },
                    _ => Self::other(action),
                }
            }
            Some(ActionTypeEnum::FixedResponse) => Self::FixedResponse {
                order,
                response: ListenerAction::from(action),
            },
            _ => Self::other(action),
        }
    }

    /// The action as AWS takes it (`None` for [`RuleAction::Other`], which the
    /// operator never writes).
    pub fn to_sdk(&self) -> Option<Action> {
        match self {
            Self::AuthenticateCognito {
                order,
                user_pool_arn,
                user_pool_client_id,
                user_pool_domain,
                scope,
                on_unauthenticated_request,
                session_cookie_name,
                session_timeout_seconds,
            } => Some(
                Action::builder()
                    .r#type(ActionTypeEnum::AuthenticateCognito)
                    .order(*order)
                    .authenticate_cognito_config(
                        AuthenticateCognitoActionConfig::builder()
                            .user_pool_arn(user_pool_arn)
                            .user_pool_client_id(user_pool_client_id)
                            .user_pool_domain(user_pool_domain)
                            .scope(scope)
                            .on_unauthenticated_request(
                                AuthenticateCognitoActionConditionalBehaviorEnum::from(
                                    on_unauthenticated_request.as_str(),
                                ),
                            )
                            .session_cookie_name(session_cookie_name)
                            .session_timeout(*session_timeout_seconds)
                            .build(),
                    )
                    .build(),
            ),
            Self::Forward {
                order,
                target_group_arn,
            } => Some(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .order(*order)
                    .target_group_arn(target_group_arn)
                    .build(),
            ),
            Self::FixedResponse { order, response } => {
                let mut action = response.to_aws();
                action.order = Some(*order);
                Some(action)
            }
            Self::Other(_) => None,
        }
    }
}

/// The lowest priority a team's rule may take that is not in `taken`, if any is
/// left.
pub fn lowest_free_priority(taken: &BTreeSet<i32>) -> Option<i32> {
    (FIRST_TEAM_PRIORITY..=MAX_PRIORITY).find(|p| !taken.contains(p))
}

/// Conditions in a comparable shape: AWS reports host and path values either in
/// `Values` or in `HostHeaderConfig` / `PathPatternConfig`, depending on how the
/// rule was written.
pub fn normalise_conditions(conditions: &[RuleCondition]) -> Vec<(String, Vec<String>)> {
    let mut normalised: Vec<(String, Vec<String>)> = conditions
        .iter()
        .map(|c| {
            let mut values: BTreeSet<String> = c.values().iter().cloned().collect();
            if let Some(host) = c.host_header_config() {
                values.extend(host.values().iter().cloned());
            }
            if let Some(path) = c.path_pattern_config() {
                values.extend(path.values().iter().cloned());
            }
            (
                c.field().unwrap_or_default().to_string(),
                values.into_iter().collect(),
            )
        })
        .collect();
    normalised.sort();
    normalised
}

settings! {
    /// What can change in place on a listener rule.
    pub enum ListenerRuleSetting {
        Priority => "priority",
        Conditions => "conditions",
        Actions => "actions",
    }
}

impl Resource for ListenerRule {
    const KIND: &'static str = "Listener rule";
    type Observed = ObservedListenerRule;
    type Setting = ListenerRuleSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        self.condition.value()
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedListenerRule>> {
        // No listener, no rule on it: creating one waits for the listener.
        let Ok(listener) = ctx.refs.resolve(&self.listener.platform_ref()) else {
            return Ok(None);
        };
        let listed = listed_rules(ctx, &listener).await?;
        let owner = ctx.owner.to_string();
        let ours = listed.tags.iter().find(|(_, t)| {
            t.get(TAG_OWNER) == Some(&owner) && t.get(TAG_COMPONENT) == Some(&self.key)
        });
        let Some((arn, _)) = ours else {
            return Ok(None);
        };
        Ok(listed
            .rules
            .iter()
            .find(|r| r.rule_arn() == Some(arn.as_str()))
            .map(observed))
    }

    fn drift(
        &self,
        observed: &ObservedListenerRule,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<ListenerRuleSetting>>> {
        let priority = self.priority.and_then(|want| {
            Drift::compare(ListenerRuleSetting::Priority, observed.priority, want)
        });
        Ok([
            priority,
            Drift::compare(
                ListenerRuleSetting::Conditions,
                &observed.conditions,
                &normalise_conditions(&self.conditions()),
            ),
            Drift::compare(
                ListenerRuleSetting::Actions,
                &observed.actions,
                &self.actions(ctx)?,
            ),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedListenerRule> {
        let listener = ctx.refs.resolve(&self.listener.platform_ref())?;
        let actions = self.sdk_actions(ctx)?;
        self.require_https(ctx, &listener).await?;
        let tags = tags::for_resource(ctx.tags, &self.key, self.name());
        self.claim_priority(ctx, &listener, None).await?;
        let mut taken = taken_priorities(ctx, &listener).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let priority = self.choose_priority(&listener, &taken)?;
            let created = ctx
                .aws
                .elbv2
                .create_rule()
                .listener_arn(&listener)
                .priority(priority)
                .set_conditions(Some(self.conditions()))
                .set_actions(Some(actions.clone()))
                .set_tags(Some(tags::elbv2_tags(&tags)))
                .send()
                .await;
            match created {
                Ok(out) => {
                    let rule = out
                        .rules()
                        .first()
                        .ok_or_else(|| unexpected("CreateRule", "no rule in the response"))?;
                    return Ok(observed(rule));
                }
                Err(error) => {
                    let in_use = matches!(
                        error.as_service_error(),
                        Some(CreateRuleError::PriorityInUseException(_))
                    );
                    if !in_use || self.priority.is_some() || attempt >= PRIORITY_ATTEMPTS {
                        return Err(error.into());
                    }
                    // Someone took it between our look and our write: look again,
                    // and never pick this one again even if the listing lags.
                    taken = taken_priorities(ctx, &listener).await?;
                    taken.insert(priority);
                }
            }
        }
    }

    async fn update(
        &self,
        observed: &ObservedListenerRule,
        drift: &[Drift<ListenerRuleSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        // Conditions and actions change in one call, the priority in another.
        let (mut priority, mut conditions, mut actions) = (false, false, false);
        for change in drift {
            match change.field {
                ListenerRuleSetting::Priority => priority = true,
                ListenerRuleSetting::Conditions => conditions = true,
                ListenerRuleSetting::Actions => actions = true,
            }
        }
        if conditions || actions {
            let mut call = ctx.aws.elbv2.modify_rule().rule_arn(&observed.arn);
            if conditions {
                call = call.set_conditions(Some(self.conditions()));
            }
            if actions {
                let listener = ctx.refs.resolve(&self.listener.platform_ref())?;
                self.require_https(ctx, &listener).await?;
                call = call.set_actions(Some(self.sdk_actions(ctx)?));
            }
            call.send().await?;
        }
        if let (true, Some(priority)) = (priority, self.priority) {
            let listener = ctx.refs.resolve(&self.listener.platform_ref())?;
            self.claim_priority(ctx, &listener, Some(&observed.arn))
                .await?;
            ctx.aws
                .elbv2
                .set_rule_priorities()
                .rule_priorities(
                    RulePriorityPair::builder()
                        .rule_arn(&observed.arn)
                        .priority(priority)
                        .build(),
                )
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, observed: &ObservedListenerRule, ctx: Ctx<'_>) -> Result<Removal> {
        ctx.aws
            .elbv2
            .delete_rule()
            .rule_arn(&observed.arn)
            .send()
            .await?;
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedListenerRule) -> String {
        observed.arn.clone()
    }

    /// The rules of this rule's listener.
    fn listing(&self, _write: Write, ctx: Ctx<'_>) -> Option<String> {
        let listener = ctx.refs.resolve(&self.listener.platform_ref()).ok()?;
        Some(listed_key(&listener))
    }
}

impl ListenerRule {
    fn conditions(&self) -> Vec<RuleCondition> {
        let condition = match &self.condition {
            RuleMatch::HostHeader(host) => RuleCondition::builder()
                .field(HOST_HEADER)
                .host_header_config(HostHeaderConditionConfig::builder().values(host).build()),
            RuleMatch::PathPattern(path) => RuleCondition::builder()
                .field(PATH_PATTERN)
                .path_pattern_config(PathPatternConditionConfig::builder().values(path).build()),
        };
        vec![condition.build()]
    }

    /// Authenticate first (order 1), then forward (order 2); or the fixed response
    /// alone.
    fn actions(&self, ctx: Ctx<'_>) -> Result<Vec<RuleAction>> {
        let (a, forward_to) = match &self.action {
            RuleThen::SignInThenForward {
                authenticate,
                forward_to,
            } => (authenticate, forward_to),
            RuleThen::FixedResponse(response) => {
                return Ok(vec![RuleAction::FixedResponse {
                    order: 1,
                    response: ListenerAction::from(response),
                }]);
            }
        };
        Ok(vec![
            RuleAction::AuthenticateCognito {
                order: 1,
                user_pool_arn: chatbot_ref::resolve(ctx.refs, &a.user_pool)?,
                user_pool_client_id: chatbot_ref::resolve(ctx.refs, &a.user_pool_client)?,
                user_pool_domain: a.user_pool_domain.clone(),
                scope: a.scope.to_string(),
                on_unauthenticated_request: a.on_unauthenticated_request.to_string(),
                session_cookie_name: a.session_cookie_name.to_string(),
                session_timeout_seconds: a.session_timeout_seconds,
            },
            RuleAction::Forward {
                order: 2,
                target_group_arn: chatbot_ref::resolve(ctx.refs, forward_to)?,
            },
        ])
    }

    /// [`require_https`] for a rule that signs in; a fixed response goes anywhere.
    async fn require_https(&self, ctx: Ctx<'_>, listener: &str) -> Result<()> {
        match self.action {
            RuleThen::SignInThenForward { .. } => require_https(ctx, listener).await,
            RuleThen::FixedResponse(_) => Ok(()),
        }
    }

    /// Frees [`PLATFORM_RULE_PRIORITY`] for the platform's rule (a no-op for any
    /// other rule): a team's rule holding it moves to the lowest free priority (the
    /// team asked for none: the CRD refuses 1); a rule the operator does not
    /// manage is left alone, and the error names it. `own` is this rule's ARN, once
    /// it exists.
    async fn claim_priority(&self, ctx: Ctx<'_>, listener: &str, own: Option<&str>) -> Result<()> {
        if self.priority != Some(PLATFORM_RULE_PRIORITY) {
            return Ok(());
        }
        let wanted = PLATFORM_RULE_PRIORITY.to_string();
        let listed = listed_rules(ctx, listener).await?;
        let Some(holder) = listed
            .rules
            .iter()
            .filter(|r| r.is_default() != Some(true) && r.rule_arn() != own)
            .find(|r| r.priority() == Some(wanted.as_str()))
        else {
            return Ok(());
        };
        let arn = holder.rule_arn().unwrap_or_default();
        let tags = listed.tags.iter().find(|(a, _)| a == arn).map(|(_, t)| t);
        let team_rule = tags.is_some_and(|t| {
            t.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
                && t.get(TAG_OWNER)
                    .is_some_and(|o| o.starts_with("BedrockChatbot/"))
        });
        if !team_rule {
            return Err(priority_held(listener, arn));
        }
        let taken = taken_priorities(ctx, listener).await?;
        let free =
            lowest_free_priority(&taken).ok_or_else(|| budget_exhausted(listener, taken.len()))?;
        ctx.aws
            .elbv2
            .set_rule_priorities()
            .rule_priorities(
                RulePriorityPair::builder()
                    .rule_arn(arn)
                    .priority(free)
                    .build(),
            )
            .send()
            .await?;
        // The listing the pass shares no longer holds the priorities AWS has.
        ctx.aws.reads.forget(&listed_key(listener));
        Ok(())
    }

    fn sdk_actions(&self, ctx: Ctx<'_>) -> Result<Vec<Action>> {
        Ok(self
            .actions(ctx)?
            .iter()
            .filter_map(RuleAction::to_sdk)
            .collect())
    }

    fn choose_priority(&self, listener: &str, taken: &BTreeSet<i32>) -> Result<i32> {
        if let Some(fixed) = self.priority {
            return Ok(fixed);
        }
        if taken.len() >= RULE_BUDGET {
            return Err(budget_exhausted(listener, taken.len()));
        }
        lowest_free_priority(taken).ok_or_else(|| budget_exhausted(listener, taken.len()))
    }
}

/// A listener's rules and the tags of those that are not its default rule, as
/// DescribeRules and DescribeTags (20 ARNs a call) answer.
#[derive(Clone, Debug, Default)]
struct ListedRules {
    rules: Vec<Rule>,
    tags: Vec<(String, crate::desired::Tags)>,
}

fn listed_key(listener: &str) -> String {
    format!("elbv2:rules:{listener}")
}

/// The listener's rules with their tags, listed once per pass for every team
/// whose rule is on it ([`crate::aws::PassReads`]).
async fn listed_rules(ctx: Ctx<'_>, listener: &str) -> Result<ListedRules> {
    ctx.aws
        .reads
        .get_or_load(&listed_key(listener), async {
            let rules = rules_of(ctx, listener).await?;
            let arns: Vec<String> = rules
                .iter()
                .filter(|r| r.is_default() != Some(true))
                .filter_map(|r| r.rule_arn().map(str::to_string))
                .collect();
            let tags = tags::elbv2_tags_of(ctx, &arns).await?;
            Ok(ListedRules { rules, tags })
        })
        .await
}

async fn rules_of(ctx: Ctx<'_>, listener: &str) -> Result<Vec<Rule>> {
    let listed = ctx
        .aws
        .elbv2
        .describe_rules()
        .listener_arn(listener)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await;
    // No listener, no rule of ours on it.
    Ok(or_absent(listed, DescribeRulesError::is_listener_not_found_exception)?.unwrap_or_default())
}

async fn taken_priorities(ctx: Ctx<'_>, listener: &str) -> Result<BTreeSet<i32>> {
    Ok(rules_of(ctx, listener)
        .await?
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .filter_map(|r| r.priority().and_then(|p| p.parse().ok()))
        .collect())
}

fn observed(rule: &Rule) -> ObservedListenerRule {
    let mut actions: Vec<RuleAction> = rule.actions().iter().map(RuleAction::from_sdk).collect();
    actions.sort_by_key(|a| match a {
        RuleAction::AuthenticateCognito { order, .. }
        | RuleAction::Forward { order, .. }
        | RuleAction::FixedResponse { order, .. } => *order,
        RuleAction::Other(_) => i32::MAX,
    });
    ObservedListenerRule {
        arn: rule.rule_arn().unwrap_or_default().to_string(),
        priority: rule
            .priority()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default(),
        conditions: normalise_conditions(rule.conditions()),
        actions,
    }
}

/// Refuses to write `authenticate-cognito` unless `listener` is an HTTPS listener.
///
/// AWS enforces this too, but the emulator does not, and a listener ARN comes from
/// the platform's status, which a person (or a bug) may have got wrong: a rule on
/// the HTTP listener must never be written, whatever AWS would answer.
async fn require_https(ctx: Ctx<'_>, listener: &str) -> Result<()> {
    let found = ctx
        .aws
        .elbv2
        .describe_listeners()
        .listener_arns(listener)
        .send()
        .await?;
    let protocol = found
        .listeners()
        .iter()
        .find(|l| l.listener_arn() == Some(listener))
        .and_then(|l| l.protocol())
        .map(|p| p.as_str());
    https_only(listener, protocol)
}

/// The rule behind [`require_https`]: `authenticate-cognito` goes on HTTPS
/// listeners only; anything else is a terminal error naming the listener.
pub fn https_only(listener: &str, protocol: Option<&str>) -> Result<()> {
    if protocol == Some("HTTPS") {
        return Ok(());
    }
    Err(Error::Aws(AwsError {
        service: "elasticloadbalancing".into(),
        operation: "CreateRule".into(),
        code: Some("AuthenticateCognitoNeedsHttps".into()),
        message: format!(
            "listener {listener} is {}, not HTTPS: authenticate-cognito works only on an HTTPS listener, so the chatbot's rule is not written there; point the platform's httpsListenerArn at its HTTPS:443 listener",
            protocol.unwrap_or("not found")
        ),
        status: None,
        class: ErrorClass::Terminal,
        source: None,
    }))
}

/// Priority [`PLATFORM_RULE_PRIORITY`] held by a rule the operator does not manage:
/// moving someone else's rule could change what their listener serves.
fn priority_held(listener: &str, rule: &str) -> Error {
    Error::Aws(AwsError {
        service: "elasticloadbalancing".into(),
        operation: "CreateRule".into(),
        code: Some("PlatformPriorityHeld".into()),
        message: format!(
            "priority {PLATFORM_RULE_PRIORITY} of listener {listener} is held by rule {rule}, which the operator does not manage; the platform's /signed-out rule needs it (it must be evaluated before every chatbot's host rule): give that rule another priority (aws elbv2 set-rule-priorities --rule-priorities RuleArn={rule},Priority=<free priority>)"
        ),
        status: None,
        class: ErrorClass::Terminal,
        source: None,
    })
}

fn budget_exhausted(listener: &str, rules: usize) -> Error {
    Error::Aws(AwsError {
        service: "elasticloadbalancing".into(),
        operation: "CreateRule".into(),
        code: Some("RuleBudgetExhausted".into()),
        message: format!(
            "listener {listener} already has {rules} rules (budget {RULE_BUDGET}, AWS's default quota per load balancer); raise the quota or put further chatbots on another platform"
        ),
        status: None,
        class: ErrorClass::Terminal,
        source: None,
    })
}

fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(AwsError::unexpected(
        "elasticloadbalancing",
        operation,
        message,
    ))
}

impl Planned for ListenerRule {
    fn shown_name(&self) -> String {
        match self.priority {
            Some(priority) => format!("priority {priority}"),
            None => format!(
                "priority: lowest free from {}",
                crate::desired::chatbot::FIRST_TEAM_PRIORITY
            ),
        }
    }

    fn detail(&self) -> String {
        let condition = match &self.condition {
            RuleMatch::HostHeader(host) => format!("host {host}"),
            RuleMatch::PathPattern(path) => format!("path {path} (any host)"),
        };
        let action = match &self.action {
            RuleThen::SignInThenForward { .. } => "authenticate-cognito → forward".to_string(),
            RuleThen::FixedResponse(response) => format!(
                "fixed {} {}, no sign-in",
                response.status_code, response.content_type
            ),
        };
        format!("{condition} → {action}, on {}", self.listener)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticloadbalancingv2::types::{ForwardActionConfig, TargetGroupTuple};

    use super::*;
    use crate::desired::aws_enums::OnUnauthenticatedRequest;

    fn authenticate() -> RuleAction {
        RuleAction::AuthenticateCognito {
            order: 1,
            user_pool_arn: "arn:pool".into(),
            user_pool_client_id: "client".into(),
            user_pool_domain: "prefix".into(),
            scope: "openid email profile".into(),
            on_unauthenticated_request: "authenticate".into(),
            session_cookie_name: "AWSELBAuthSessionCookie".into(),
            session_timeout_seconds: 28_800,
        }
    }

    #[test]
    fn lowest_free_priority_fills_gaps_first_and_never_takes_the_platforms() {
        assert_eq!(lowest_free_priority(&BTreeSet::new()), Some(2));
        assert_eq!(lowest_free_priority(&[1, 2, 4].into()), Some(3));
        assert_eq!(lowest_free_priority(&[3, 4].into()), Some(2));
        let full: BTreeSet<i32> = (2..=MAX_PRIORITY).collect();
        assert_eq!(lowest_free_priority(&full), None);
    }

    #[test]
    fn the_rule_budget_is_refused_before_aws_refuses() {
        let rule = ListenerRule {
            key: "listener-rule".into(),
            listener: crate::desired::chatbot::HttpsListener,
            priority: None,
            condition: RuleMatch::HostHeader("chat.example.com".into()),
            action: RuleThen::SignInThenForward {
                authenticate: crate::desired::chatbot::AuthenticateCognito {
                    user_pool: crate::desired::chatbot::ChatbotRef::UserPoolArn,
                    user_pool_client: crate::desired::chatbot::ChatbotRef::UserPoolClientId,
                    user_pool_domain: "p".into(),
                    scope: "openid",
                    on_unauthenticated_request: OnUnauthenticatedRequest::Authenticate,
                    session_cookie_name: "c",
                    session_timeout_seconds: 1,
                },
                forward_to: crate::desired::chatbot::ChatbotRef::TargetGroupArn,
            },
        };
        let taken: BTreeSet<i32> = (1..=99).collect();
        assert_eq!(rule.choose_priority("l", &taken).unwrap(), 100);
        let full: BTreeSet<i32> = (1..=100).collect();
        let error = rule.choose_priority("l", &full).unwrap_err();
        assert!(!error.is_retryable());
        assert!(
            error.to_string().contains("already has 100 rules"),
            "{error}"
        );
        let fixed = ListenerRule {
            priority: Some(7),
            ..rule
        };
        assert_eq!(fixed.choose_priority("l", &full).unwrap(), 7);
    }

    /// AWS's rule, which the emulator does not enforce: `authenticate-cognito` only
    /// on an HTTPS listener.
    #[test]
    fn authenticate_cognito_is_written_on_https_listeners_only() {
        assert!(https_only("arn:https", Some("HTTPS")).is_ok());
        for protocol in [Some("HTTP"), Some("https"), Some("TCP"), None] {
            let error = https_only("arn:http", protocol).unwrap_err();
            assert!(!error.is_retryable(), "{error}");
            let message = error.to_string();
            assert!(
                message.contains("arn:http") && message.contains("only on an HTTPS listener"),
                "{message}"
            );
        }
    }

    #[test]
    fn actions_survive_the_round_trip_through_the_sdk_shape() {
        let forward = RuleAction::Forward {
            order: 2,
            target_group_arn: "arn:tg".into(),
        };
        let fixed = RuleAction::FixedResponse {
            order: 1,
            response: ListenerAction::from(&crate::desired::platform::FixedResponse {
                status_code: 200,
                content_type: "text/html",
                body: "<p>bye</p>",
            }),
        };
        for action in [authenticate(), forward, fixed] {
            let sdk = action.to_sdk().unwrap();
            assert_eq!(RuleAction::from_sdk(&sdk), action);
        }
    }

    #[test]
    fn forward_through_a_one_group_forward_config_is_the_same_forward() {
        let sdk = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .order(2)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn("arn:tg")
                            .weight(1)
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(
            RuleAction::from_sdk(&sdk),
            RuleAction::Forward {
                order: 2,
                target_group_arn: "arn:tg".into()
            }
        );
    }

    #[test]
    fn changed_or_foreign_actions_compare_unequal() {
        let mut changed = authenticate();
        if let RuleAction::AuthenticateCognito {
            on_unauthenticated_request,
            ..
        } = &mut changed
        {
            *on_unauthenticated_request = "allow".into();
        }
        assert_ne!(changed, authenticate());
        let redirect = Action::builder()
            .r#type(ActionTypeEnum::Redirect)
            .order(1)
            .build();
        assert!(matches!(
            RuleAction::from_sdk(&redirect),
            RuleAction::Other(_)
        ));
        // The default session timeout AWS reports when none was set is a drift
        // from an explicit one.
        let bare = Action::builder()
            .r#type(ActionTypeEnum::AuthenticateCognito)
            .order(1)
            .authenticate_cognito_config(
                AuthenticateCognitoActionConfig::builder()
                    .user_pool_arn("arn:pool")
                    .user_pool_client_id("client")
                    .user_pool_domain("prefix")
                    .build(),
            )
            .build();
        assert_ne!(RuleAction::from_sdk(&bare), authenticate());
    }

    #[test]
    fn a_foreign_oidc_action_is_reported_without_its_secret() {
        let oidc = Action::builder()
            .r#type(ActionTypeEnum::AuthenticateOidc)
            .order(1)
            .authenticate_oidc_config(
                aws_sdk_elasticloadbalancingv2::types::AuthenticateOidcActionConfig::builder()
                    .client_id("id")
                    .client_secret("s3cr3t")
                    .build(),
            )
            .build();
        let shown = format!("{:?}", RuleAction::from_sdk(&oidc));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("authenticate-oidc"), "{shown}");
    }

    #[test]
    fn path_values_compare_alike_in_either_shape() {
        let via_config = RuleCondition::builder()
            .field(PATH_PATTERN)
            .path_pattern_config(
                PathPatternConditionConfig::builder()
                    .values("/signed-out")
                    .build(),
            )
            .build();
        let via_values = RuleCondition::builder()
            .field(PATH_PATTERN)
            .values("/signed-out")
            .build();
        assert_eq!(
            normalise_conditions(&[via_config]),
            normalise_conditions(&[via_values])
        );
    }

    #[test]
    fn host_values_compare_alike_in_either_shape() {
        let via_config = RuleCondition::builder()
            .field(HOST_HEADER)
            .host_header_config(
                HostHeaderConditionConfig::builder()
                    .values("a.example.com")
                    .build(),
            )
            .build();
        let via_values = RuleCondition::builder()
            .field(HOST_HEADER)
            .values("a.example.com")
            .build();
        assert_eq!(
            normalise_conditions(&[via_config]),
            normalise_conditions(&[via_values])
        );
    }
}
