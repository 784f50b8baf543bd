//! One pass over a chatbot: converge its AWS resources in dependency order on its
//! platform, or delete them in reverse order.
//!
//! The platform's resources are given as [`Refs`] by component key (`vpc`,
//! `private-subnet-a`, `tasks-sg`, `https-listener`, …), so the same code serves the
//! file mode (refs from the platform pass) and the in-cluster controller (refs
//! rebuilt from the platform's status by [`platform_refs`]). The chatbot's own
//! resources join the same refs under their component keys as they converge.

use bedrock_chatbot_crds::{
    BedrockChatbot, BedrockChatbotStatus, CONDITION_DEGRADED, CONDITION_READY, CONDITION_SYNCED,
    ChatbotPlatform, ChatbotPlatformStatus, Condition, DeletionPolicy,
};

pub use super::Deletion;
use super::conditions::{self, Stamp, Verdict};
use super::{Engine, Pass, Teardown, deletion_scope};
use super::{find, remove};
use crate::desired::RefKey;
use crate::desired::chatbot::{self as desired, ChatbotDesired};
use crate::desired::chatbot::{
    AttachmentsExpiry, AttachmentsPrefix, HistoryTable, Scaling, Service, TaskDefinition,
};
use crate::desired::platform::{
    self as platform_desired, ENDPOINTS_SG, LOAD_BALANCER_SG, Network, PlatformDesired, TASKS_SG,
};
use crate::resources::listener_rule::ObservedListenerRule;
use crate::resources::service::ObservedService;
use crate::resources::task_definition::ObservedTaskDefinition;
use crate::resources::{Event, Outcome, Progress, Refs, Resource, Scope};
use crate::{Error, Result};

/// A look-up before deleting: when what the resource lives in is gone (the
/// platform's cluster, say, after the platform was deleted), so is the resource.
fn gone_if_unresolved<T>(found: Result<Option<T>>) -> Result<Option<T>> {
    match found {
        Err(Error::Unresolved(_)) => Ok(None),
        other => other,
    }
}

/// Reason of `Ready=False` while AWS resources are still being created or changed.
pub const REASON_CONVERGING: &str = "ResourcesConverging";
/// Reason of `Ready=False` when every resource matches but tasks are not running.
pub const REASON_TASKS_NOT_RUNNING: &str = "TasksNotRunning";

/// Where a chatbot stands after a pass.
#[derive(Clone, Debug)]
pub struct ChatbotState {
    /// The spec on its platform, as this pass applied it: the service's desired
    /// count and task definition record are settled from what AWS had.
    pub desired: ChatbotDesired,
    /// Ids and ARNs by component key (the platform's and the chatbot's).
    pub refs: Refs,
    /// AWS resources not converged yet, in words (empty: Synced).
    pub waiting: Vec<String>,
    /// The service's tasks, running and wanted.
    pub tasks: Tasks,
    /// The object's new status, from its previous conditions: the controller
    /// writes it to the status subresource, the file mode puts it in its report.
    pub status: BedrockChatbotStatus,
}

impl ChatbotState {
    /// Whether every AWS resource matches the spec.
    pub fn is_synced(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Synced, and the service runs its desired count.
    pub fn is_ready(&self) -> bool {
        self.is_synced() && self.tasks.running >= self.tasks.wanted
    }
}

/// A chatbot service's tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tasks {
    /// Running now; 0 while the service does not exist.
    pub running: i32,
    /// The service's desired count.
    pub wanted: i32,
}

impl std::fmt::Display for Tasks {
    /// `running/wanted`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.running, self.wanted)
    }
}

/// The chatbot's desired state on `platform`, in the platform's account.
async fn desired_state(
    engine: &Engine,
    chatbot: &BedrockChatbot,
    platform: &ChatbotPlatform,
) -> Result<(crate::aws::Aws, ChatbotDesired)> {
    let aws = engine.aws(&platform.spec.region);
    let account = aws.account_id().await?;
    let platform = platform_desired::desired(platform, &account);
    Ok((aws, desired::desired(chatbot, &platform)))
}

/// Where the chatbot's resources are made: its platform's account and region,
/// tagged as the chatbot's.
fn chatbot_scope<'a>(aws: &'a crate::aws::Aws, desired: &'a ChatbotDesired) -> Scope<'a> {
    Scope {
        aws,
        owner: &desired.owner,
        tags: &desired.tags,
    }
}

/// Converges the chatbot's AWS resources to its spec, one pass. `platform_refs`
/// holds the platform's ids by component key.
pub async fn apply(
    engine: &Engine,
    chatbot: &BedrockChatbot,
    platform: &ChatbotPlatform,
    platform_refs: &Refs,
) -> Result<ChatbotState> {
    let (aws, mut desired) = desired_state(engine, chatbot, platform).await?;
    let mut pass = Pass::from(platform_refs.clone());
    let scope = chatbot_scope(&aws, &desired);
    let rule = converge_up_to_listener_rule(&desired, scope, &mut pass, engine).await?;
    // ECS refuses a service whose target group no load balancer forwards to yet
    // ("The target group … does not have an associated load balancer"), and that
    // error is terminal: while the listener rule is not there (its step failed
    // for a moment, say), the service waits for it.
    let rule_missing = rule.is_none() && !pass.observe_only;
    settle_service(&mut desired, &aws, &mut pass, engine).await?;
    let scope = chatbot_scope(&aws, &desired);
    let service = if rule_missing {
        wait_for_listener_rule(&desired, &mut pass, engine);
        None
    } else {
        pass.step(&desired.service, scope, engine).await?
    };
    converge_scaling(&desired, scope, &mut pass, engine).await?;

    let tasks = Tasks {
        running: service.map_or(0, |s| s.running_count),
        wanted: desired.service.desired_count,
    };
    let status = status(chatbot, &desired, &pass, tasks, rule.map(|r| r.priority));
    Ok(ChatbotState {
        desired,
        refs: pass.refs,
        waiting: pass.waiting,
        tasks,
        status,
    })
}

/// Converges, in dependency order, what the service needs besides its task
/// definition: logs, history, files, the task role, sign-in, and the target group
/// and listener rule that bring it requests. Returns the listener rule, unless it
/// could not be worked on.
async fn converge_up_to_listener_rule(
    desired: &ChatbotDesired,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<Option<ObservedListenerRule>> {
    pass.step(&desired.log_group, scope, engine).await?;
    converge_history_table(desired, scope, pass, engine).await?;
    converge_attachments(desired, scope, pass, engine).await?;
    pass.step(&desired.task_role, scope, engine).await?;
    if let Some(pool) = pass.step(&desired.user_pool, scope, engine).await? {
        pass.refs.insert(RefKey::USER_POOL_ARN, pool.arn);
    }
    pass.step(&desired.user_pool_domain, scope, engine).await?;
    pass.step(&desired.user_pool_client, scope, engine).await?;
    pass.step(&desired.target_group, scope, engine).await?;
    pass.step(&desired.listener_rule, scope, engine).await
}

/// Completes the desired service from the service as it is now: the task
/// definition revision it is to run (converged, unless the service's record of it
/// still holds) and, with auto scaling, the count the scaler set.
async fn settle_service(
    desired: &mut ChatbotDesired,
    aws: &crate::aws::Aws,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
    let scope = chatbot_scope(aws, desired);
    // The service as it is now: the revision it runs and the record it keeps of it,
    // and (with auto scaling) the count the scaler set. In file mode it comes from
    // the pass's shared listing of the cluster's services.
    let current = find(&desired.service, scope.with(&pass.refs)).await;
    let task_definition = &desired.task_definition;
    let converged_revision = match recorded_revision(task_definition, &current, scope, &pass.refs) {
        Some(arn) => {
            keep_recorded_revision(task_definition, &arn, scope, pass, engine);
            Some(arn)
        }
        None => converge_task_definition(task_definition, scope, pass, engine).await?,
    };
    // The service records the revision only once it points at it (see
    // `Service::update`), and only one known to match the spec.
    let record = converged_revision
        .as_deref()
        .and_then(|arn| task_definition.record(arn, scope.with(&pass.refs)).ok());
    desired.service.task_definition_record = record;
    if let Some(scaling) = &desired.scaling
        && let Some(count) = scaler_count(scaling, current)?
    {
        desired.service.desired_count = count;
    }
    Ok(())
}

/// Takes the revision the service runs as converged, its record vouching for it
/// (see [`recorded_revision`]): revisions never change, so nothing of the family
/// is read.
fn keep_recorded_revision(
    task_definition: &TaskDefinition,
    arn: &str,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) {
    pass.refs.record(task_definition, arn);
    engine.progress().report(Event {
        owner: scope.owner.clone(),
        kind: TaskDefinition::KIND,
        name: task_definition.family.clone(),
        id: Some(arn.to_string()),
        outcome: Outcome::Unchanged,
    });
}

/// The desired count to keep with auto scaling on: the count the scaler set, when
/// it is within [min, max] (the scaler's to set; only a count outside it is
/// corrected). `None` when the spec's count applies.
fn scaler_count(
    scaling: &Scaling,
    current: Result<Option<ObservedService>>,
) -> Result<Option<i32>> {
    // A service that cannot be looked at yet is reported blocked by its step.
    let current = match current {
        Ok(current) => current,
        Err(Error::Unresolved(_)) => None,
        Err(error) => return Err(error),
    };
    Ok(current
        .map(|current| current.desired_count)
        .filter(|count| (scaling.min_capacity..=scaling.max_capacity).contains(count)))
}

/// Reports the service blocked until its listener rule exists, and notes it as
/// waiting.
fn wait_for_listener_rule(desired: &ChatbotDesired, pass: &mut Pass, engine: &Engine) {
    let why = format!("waiting for listener rule {}", desired.listener_rule.name());
    engine.progress().report(Event {
        owner: desired.owner.clone(),
        kind: Service::KIND,
        name: desired.service.name.clone(),
        id: None,
        outcome: Outcome::Blocked(why.clone()),
    });
    pass.waiting
        .push(format!("{} {}: {why}", Service::KIND, desired.service.name));
}

/// Converges the service's auto scaling when the spec asks for it. When it does
/// not, a scalable target an earlier spec set up is removed: left in place, it
/// would keep moving the desired count the spec now fixes.
async fn converge_scaling(
    desired: &ChatbotDesired,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
    if let Some(scaling) = &desired.scaling {
        pass.step(scaling, scope, engine).await?;
        return Ok(());
    }
    let off = &desired.scaling_off;
    if !remove_leftover(off, scope, &pass.refs, engine.progress()).await? {
        pass.waiting
            .push(format!("{} {}: being removed", Scaling::KIND, off.name()));
    }
    Ok(())
}

/// Converges the history table when history is on. When it is off, a table an
/// earlier spec made follows `deletionPolicy`: deleted under `Delete`; kept and
/// reported as retained under `Retain` (its name stays in status).
async fn converge_history_table(
    desired: &ChatbotDesired,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
    if let Some(table) = &desired.history_table {
        pass.step(table, scope, engine).await?;
        return Ok(());
    }
    let off = &desired.history_table_off;
    if desired.deletion_policy == DeletionPolicy::Delete {
        if !remove_leftover(off, scope, &pass.refs, engine.progress()).await? {
            pass.waiting.push(format!(
                "{} {}: being deleted",
                HistoryTable::KIND,
                off.name
            ));
        }
        return Ok(());
    }
    if let Some(kept) = find(off, scope.with(&pass.refs)).await? {
        let id = HistoryTable::id(&kept);
        engine.progress().report(Event {
            owner: desired.owner.clone(),
            kind: HistoryTable::KIND,
            name: off.name.clone(),
            id: Some(id.clone()),
            outcome: Outcome::Retained,
        });
        pass.refs.record(off, id);
    }
    Ok(())
}

/// Converges the expiry of the chatbot's files while they are kept (none with a
/// retention of 0: a rule an earlier spec made goes). When they are not kept, the
/// files and rule an earlier spec left follow `deletionPolicy`: deleted under
/// `Delete`, left as they are under `Retain`.
async fn converge_attachments(
    desired: &ChatbotDesired,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<()> {
    let progress = engine.progress();
    let expiry_off = &desired.attachments_expiry_off;
    let files_off = &desired.attachments_off;
    if let Some(files) = &desired.attachments {
        if let Some(expiry) = &desired.attachments_expiry {
            pass.step(expiry, scope, engine).await?;
        } else if !pass.observe_only
            && !remove_leftover(expiry_off, scope, &pass.refs, progress).await?
        {
            pass.waiting.push(format!(
                "{} {}: being removed",
                AttachmentsExpiry::KIND,
                expiry_off.rule_id
            ));
        }
        pass.refs.record(files, files.location());
        return Ok(());
    }
    if pass.observe_only || desired.deletion_policy == DeletionPolicy::Retain {
        return Ok(());
    }
    let files_gone = remove_leftover(files_off, scope, &pass.refs, progress).await?;
    if !files_gone {
        pass.waiting.push(format!(
            "{} {}: being deleted",
            AttachmentsPrefix::KIND,
            files_off.prefix
        ));
    }
    if files_gone && !remove_leftover(expiry_off, scope, &pass.refs, progress).await? {
        pass.waiting.push(format!(
            "{} {}: being removed",
            AttachmentsExpiry::KIND,
            expiry_off.rule_id
        ));
    }
    Ok(())
}

/// Deletes the chatbot's resources in reverse dependency order, one pass; with
/// `deletionPolicy: Retain`, reports them as retained and deletes nothing.
///
/// The service goes first and is waited for: until its tasks stopped they still
/// use the target group, the task role and the log group, so nothing after it is
/// touched while it drains.
pub async fn delete(
    engine: &Engine,
    chatbot: &BedrockChatbot,
    platform: &ChatbotPlatform,
    platform_refs: &Refs,
) -> Result<Deletion> {
    let (aws, desired) = desired_state(engine, chatbot, platform).await?;
    let Some(scope) = deletion_scope(
        engine,
        &aws,
        &desired.owner,
        &desired.tags,
        desired.deletion_policy,
    ) else {
        return Ok(Deletion::default());
    };
    let refs = deletion_refs(&desired, scope, platform_refs).await?;
    let mut teardown = Teardown::new(scope, &refs, engine);
    remove_scaling(&mut teardown, &desired).await?;
    if !teardown.remove(&desired.service).await? {
        return Ok(teardown.finish());
    }
    teardown
        .remove_as("task definition", &desired.task_definition)
        .await?;
    teardown
        .remove_as("listener rule", &desired.listener_rule)
        .await?;
    teardown
        .remove_as("target group", &desired.target_group)
        .await?;
    remove_sign_in(&mut teardown, &desired).await?;
    teardown.remove(&desired.task_role).await?;
    teardown.remove_as("log group", &desired.log_group).await?;
    // On or off, the table an earlier spec may have made has this identity.
    teardown.remove(&desired.history_table_off).await?;
    remove_attachments(&mut teardown, &desired).await?;
    Ok(teardown.finish())
}

/// The ids later removals find their resources by, added to the platform's: the
/// pool's (for its domain and client) and the service's (for its scalable target).
async fn deletion_refs(
    desired: &ChatbotDesired,
    scope: Scope<'_>,
    platform_refs: &Refs,
) -> Result<Refs> {
    let mut refs = platform_refs.clone();
    if let Some(pool) = gone_if_unresolved(find(&desired.user_pool, scope.with(&refs)).await)? {
        refs.record(&desired.user_pool, pool.id);
        refs.insert(RefKey::USER_POOL_ARN, pool.arn);
    }
    if let Some(service) = gone_if_unresolved(find(&desired.service, scope.with(&refs)).await)? {
        refs.record(&desired.service, service.arn);
    }
    Ok(refs)
}

/// Removes the service's auto scaling: the spec's, or one an earlier spec set up
/// even if this one has none.
async fn remove_scaling(teardown: &mut Teardown<'_>, desired: &ChatbotDesired) -> Result<()> {
    if let Some(scaling) = &desired.scaling {
        teardown.remove_as("auto scaling", scaling).await?;
        return Ok(());
    }
    let off = &desired.scaling_off;
    if !remove_leftover(off, teardown.scope, teardown.refs, teardown.progress).await? {
        teardown.wait_for("auto scaling", off.name());
    }
    Ok(())
}

/// Removes the app client, the domain and the user pool. AWS refuses to delete a
/// pool that still has a domain, and a domain stays DELETING for a while after
/// DeleteUserPoolDomain returns: the pool waits for it.
async fn remove_sign_in(teardown: &mut Teardown<'_>, desired: &ChatbotDesired) -> Result<()> {
    teardown
        .remove_as("app client", &desired.user_pool_client)
        .await?;
    if teardown
        .remove_as("domain", &desired.user_pool_domain)
        .await?
    {
        teardown.remove_as("user pool", &desired.user_pool).await?;
    } else {
        teardown.wait_for("user pool", desired.user_pool.name());
    }
    Ok(())
}

/// Removes the chatbot's files, then the lifecycle rule that expired them.
async fn remove_attachments(teardown: &mut Teardown<'_>, desired: &ChatbotDesired) -> Result<()> {
    let expiry = &desired.attachments_expiry_off;
    if teardown
        .remove_as("attachments", &desired.attachments_off)
        .await?
    {
        teardown.remove_as("lifecycle rule", expiry).await?;
    } else {
        teardown.wait_for("lifecycle rule", expiry.name());
    }
    Ok(())
}

/// The revision `current` (the service as found) runs, when its
/// [`TAG_TASK_DEFINITION`](crate::desired::TAG_TASK_DEFINITION) tag is the record
/// of that very revision with today's desired settings.
///
/// Safe to trust without reading the revision: the tag is on a service we own (the
/// service's look-up checked its owner tag), the engine writes it only for a
/// revision it registered or found ours and matching, and only after the service
/// points at it; revision ARNs are never reused and a revision's settings never
/// change. A service pointed elsewhere, or a spec that changed, no longer matches.
fn recorded_revision(
    task_definition: &TaskDefinition,
    current: &Result<Option<ObservedService>>,
    scope: Scope<'_>,
    refs: &Refs,
) -> Option<String> {
    let Ok(Some(service)) = current else {
        return None;
    };
    let recorded = service.task_definition_record.as_deref()?;
    let want = task_definition
        .record(&service.task_definition, scope.with(refs))
        .ok()?;
    (recorded == want).then(|| service.task_definition.clone())
}

/// Converges the task definition by reading its family: returns the ARN of the
/// revision the service is to run when it is known to match the spec, and puts
/// that revision into `pass.refs`.
async fn converge_task_definition(
    task_definition: &TaskDefinition,
    scope: Scope<'_>,
    pass: &mut Pass,
    engine: &Engine,
) -> Result<Option<String>> {
    let Some(observed) = pass.step(task_definition, scope, engine).await? else {
        return Ok(None);
    };
    let matches = |found: &ObservedTaskDefinition, refs: &Refs| match task_definition
        .drift(found, scope.with(refs))
    {
        Ok(drift) => drift.is_empty(),
        Err(_) => false,
    };
    if matches(&observed, &pass.refs) {
        return Ok(Some(observed.arn));
    }
    // A drift registered a new revision: the service must roll to that one, not to
    // the revision observed before it.
    let Some(fresh) = find(task_definition, scope.with(&pass.refs)).await? else {
        return Ok(None);
    };
    pass.refs.record(task_definition, fresh.arn.clone());
    Ok(matches(&fresh, &pass.refs).then_some(fresh.arn))
}

/// Removes what the spec no longer asks for, if AWS still has it; reports only a
/// removal (nothing when it was not there, nor when what it lives in is gone: a
/// lifecycle rule of a bucket that does not exist). Returns whether it is gone.
async fn remove_leftover<R: Resource>(
    resource: &R,
    scope: Scope<'_>,
    refs: &Refs,
    progress: &dyn Progress,
) -> Result<bool> {
    match gone_if_unresolved(find(resource, scope.with(refs)).await)? {
        None => Ok(true),
        Some(_) => remove(resource, scope, refs, progress).await,
    }
}

/// The platform's ids by component key, rebuilt from its status (what the
/// in-cluster controller knows of a platform). Subnet ids in the status are in zone
/// order, as the desired subnets are.
pub fn platform_refs(desired: &PlatformDesired, status: &ChatbotPlatformStatus) -> Refs {
    let mut refs = Refs::default();
    let mut put = |key: RefKey, id: &Option<String>| {
        if let Some(id) = id {
            refs.insert(key, id.clone());
        }
    };
    put(RefKey::VPC, &status.vpc_id);
    put(
        RefKey::component(LOAD_BALANCER_SG),
        &status.load_balancer_security_group_id,
    );
    put(RefKey::component(TASKS_SG), &status.tasks_security_group_id);
    put(
        RefKey::component(ENDPOINTS_SG),
        &status.endpoints_security_group_id,
    );
    put(RefKey::LOAD_BALANCER, &status.load_balancer_arn);
    put(RefKey::HTTPS_LISTENER, &status.https_listener_arn);
    put(RefKey::CLUSTER, &status.cluster_arn);
    put(RefKey::EXECUTION_ROLE, &status.execution_role_arn);
    if let Network::Managed(network) = &desired.network {
        for (subnet, id) in network.public_subnets.iter().zip(&status.public_subnet_ids) {
            refs.record(subnet, id.clone());
        }
        for (subnet, id) in network
            .private_subnets
            .iter()
            .zip(&status.private_subnet_ids)
        {
            refs.record(subnet, id.clone());
        }
    }
    refs
}

/// The chatbot's status after `pass`: the ids of what exists, the tasks running
/// against `wanted`, and the Synced, Ready and Degraded conditions.
fn status(
    chatbot: &BedrockChatbot,
    desired: &ChatbotDesired,
    pass: &Pass,
    tasks: Tasks,
    priority: Option<i32>,
) -> BedrockChatbotStatus {
    let generation = chatbot.metadata.generation;
    let previous = chatbot.status.clone().unwrap_or_default();
    let get = |key: &str| pass.refs.get(&RefKey::component(key)).map(str::to_string);
    let mut status = BedrockChatbotStatus {
        observed_generation: generation,
        conditions: previous.conditions,
        url: Some(desired.url.clone()),
        user_pool_id: get(&desired.user_pool.key),
        // The client id only: its secret is never read into the operator.
        user_pool_client_id: get(&desired.user_pool_client.key),
        user_pool_domain: get(&desired.user_pool_domain.key),
        target_group_arn: get(&desired.target_group.key),
        listener_rule_arn: get(&desired.listener_rule.key),
        listener_rule_priority: priority,
        log_group_name: get(&desired.log_group.key),
        task_role_arn: get(&desired.task_role.key),
        task_definition_arn: get(&desired.task_definition.key),
        service_arn: get(&desired.service.key),
        running_count: get(&desired.service.key).map(|_| tasks.running),
        history_table_name: get(&desired.history_table_off.key),
        attachments_location: get(&desired.attachments_off.key),
    };
    set_conditions(&mut status.conditions, &pass.waiting, tasks, generation);
    status
}

/// Sets Synced and Ready from what is `waiting` and the tasks running; a chatbot
/// pass never finds it Degraded.
fn set_conditions(
    conditions: &mut Vec<Condition>,
    waiting: &[String],
    tasks: Tasks,
    generation: Option<i64>,
) {
    let stamp = Stamp::now(generation);
    let synced = synced_condition(waiting);
    conditions::set(conditions, CONDITION_SYNCED, synced, &stamp);
    let ready = ready_condition(waiting, tasks);
    conditions::set(conditions, CONDITION_READY, ready, &stamp);
    let healthy = Verdict::fails("Healthy", "");
    conditions::set(conditions, CONDITION_DEGRADED, healthy, &stamp);
}

/// Synced: true once nothing is `waiting`; else false, saying what is.
fn synced_condition(waiting: &[String]) -> Verdict {
    if waiting.is_empty() {
        Verdict::holds(
            "Converged",
            "every AWS resource of the chatbot matches the spec",
        )
    } else {
        Verdict::fails(REASON_CONVERGING, waiting.join("; "))
    }
}

/// Ready: true once synced with all the wanted tasks running.
fn ready_condition(waiting: &[String], tasks: Tasks) -> Verdict {
    let running = format!("{tasks} tasks running");
    if !waiting.is_empty() {
        Verdict::fails(REASON_CONVERGING, waiting.join("; "))
    } else if tasks.running < tasks.wanted {
        Verdict::fails(REASON_TASKS_NOT_RUNNING, running)
    } else {
        Verdict::holds("Ready", running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::fixtures::reference_platform;

    #[test]
    fn platform_refs_pair_zone_ordered_subnets_with_their_keys() {
        let desired = platform_desired::desired(&reference_platform(), "1");
        let status = ChatbotPlatformStatus {
            vpc_id: Some("vpc-1".into()),
            private_subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            public_subnet_ids: vec!["subnet-pa".into(), "subnet-pb".into()],
            tasks_security_group_id: Some("sg-t".into()),
            load_balancer_arn: Some("arn:alb".into()),
            https_listener_arn: Some("arn:https".into()),
            cluster_arn: Some("arn:cluster".into()),
            execution_role_arn: Some("arn:exec".into()),
            ..Default::default()
        };
        let refs = platform_refs(&desired, &status);
        let get = |key: &str| refs.get(&RefKey::component(key));
        assert_eq!(get("private-subnet-a"), Some("subnet-a"));
        assert_eq!(get("private-subnet-b"), Some("subnet-b"));
        assert_eq!(get("public-subnet-a"), Some("subnet-pa"));
        for (key, id) in [
            ("vpc", "vpc-1"),
            ("tasks-sg", "sg-t"),
            ("load-balancer", "arn:alb"),
            ("https-listener", "arn:https"),
            ("cluster", "arn:cluster"),
            ("execution-role", "arn:exec"),
        ] {
            assert_eq!(get(key), Some(id), "{key}");
        }
        assert_eq!(get(LOAD_BALANCER_SG), None);
    }
}
