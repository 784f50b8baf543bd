//! The chatbot's task definition: one Fargate container, its configuration passed
//! as environment, logs to the chatbot's log group.
//!
//! Task definitions are immutable: a drift (or a spec change, such as a new
//! temperature) registers a NEW revision of the family, and the service then rolls
//! to it. The latest ACTIVE revision of the family is the one compared; on delete,
//! every ACTIVE revision we own is deregistered.
//!
//! Because a revision never changes, the engine may skip reading it: the service
//! carries a [`TAG_TASK_DEFINITION`](crate::desired::TAG_TASK_DEFINITION) tag with
//! the [`record`](TaskDefinition::record) of the revision it was pointed at, and a
//! service that still points there with the record of today's desired settings
//! runs a revision that matches them.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, HealthCheck, KeyValuePair,
    LogConfiguration, LogDriver, NetworkMode, OsFamily, PortMapping, RuntimePlatform,
    TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use serde::Serialize;

use super::{Ctx, Drift, Planned, Removal, Resource, chatbot_ref, tags};
use crate::desired::chatbot::TaskDefinition;
use crate::desired::naming::sha256_hex;
use crate::{Error, Result};

/// Container health check timing, from the reference's `HEALTHCHECK` (interval 30 s,
/// timeout 10 s, 3 retries, start period 5 s).
const HEALTH_INTERVAL: i32 = 30;
const HEALTH_TIMEOUT: i32 = 10;
const HEALTH_RETRIES: i32 = 3;
const HEALTH_START_PERIOD: i32 = 5;

/// A task definition revision as found on AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTaskDefinition {
    /// ARN of the revision.
    pub arn: String,
    /// Revision number within the family: each registration adds one.
    pub revision: i32,
    /// Its settings, comparable with the desired ones.
    pub settings: TaskSettings,
}

/// Task-level settings in a comparable shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskSettings {
    /// `awsvpc`, the only mode Fargate takes: each task gets its own network interface.
    pub network_mode: String,
    /// `FARGATE`, sorted.
    pub requires_compatibilities: Vec<String>,
    /// CPU units as the API gives them (1,024 to a vCPU).
    pub cpu: String,
    /// Memory in MiB, as the API gives it.
    pub memory: String,
    /// (`LINUX`, `X86_64` | `ARM64`).
    pub runtime_platform: (String, String),
    /// The role ECS uses to start the task (pull the image, write logs).
    pub execution_role_arn: String,
    /// The role the app itself runs with (Bedrock, its table, its files).
    pub task_role_arn: String,
    /// The containers (we write exactly one).
    pub containers: Vec<ContainerSettings>,
}

/// One container's settings in a comparable shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerSettings {
    /// The container's name, as the service's load balancer entry names it.
    pub name: String,
    /// The image reference, tag or digest as the spec gave it.
    pub image: String,
    /// Port mappings: (port, protocol).
    pub ports: Vec<(i32, String)>,
    /// Whether the task stops when this container stops (ours is the only one).
    pub essential: bool,
    pub readonly_root_filesystem: bool,
    /// Seconds between SIGTERM and SIGKILL.
    pub stop_timeout: Option<i32>,
    /// Environment, by name (ECS does not keep the order).
    pub environment: BTreeMap<String, String>,
    /// Log driver and its options.
    pub logging: Option<(String, BTreeMap<String, String>)>,
    /// The container's own health check (the binary checks itself), if any.
    pub health_check: Option<ContainerHealthCheck>,
}

/// A container's health check.
///
/// Shown in drift messages, and serialized into the service's record of the
/// revision (so records written before stay valid), as the tuple `(command,
/// interval, timeout, retries, start period)`.
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerHealthCheck {
    /// The command (`CMD`, arguments…).
    pub command: Vec<String>,
    /// Seconds between checks.
    pub interval_seconds: i32,
    /// Seconds before a check fails.
    pub timeout_seconds: i32,
    /// Failures before the container is unhealthy.
    pub retries: i32,
    /// Seconds after start when failures do not count.
    pub start_period_seconds: i32,
}

impl fmt::Debug for ContainerHealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("")
            .field(&self.command)
            .field(&self.interval_seconds)
            .field(&self.timeout_seconds)
            .field(&self.retries)
            .field(&self.start_period_seconds)
            .finish()
    }
}

impl Serialize for ContainerHealthCheck {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        (
            &self.command,
            self.interval_seconds,
            self.timeout_seconds,
            self.retries,
            self.start_period_seconds,
        )
            .serialize(serializer)
    }
}

settings! {
    /// What can differ on a task definition. Any of them registers a new revision.
    pub enum TaskDefinitionSetting {
        NetworkMode => "networkMode",
        RequiresCompatibilities => "requiresCompatibilities",
        Cpu => "cpu",
        Memory => "memory",
        RuntimePlatform => "runtimePlatform",
        ExecutionRoleArn => "executionRoleArn",
        TaskRoleArn => "taskRoleArn",
        /// How many containers (one is desired).
        Containers => "containers",
        ContainerName => "container.name",
        ContainerImage => "container.image",
        ContainerPortMappings => "container.portMappings",
        ContainerEssential => "container.essential",
        ContainerReadonlyRootFilesystem => "container.readonlyRootFilesystem",
        ContainerStopTimeout => "container.stopTimeout",
        ContainerLogConfiguration => "container.logConfiguration",
        ContainerHealthCheck => "container.healthCheck",
        ContainerEnvironment => "container.environment",
    }
}

/// The drifts between two containers, field by field; environment drift names
/// only the variables that differ.
pub fn container_drift(
    have: &ContainerSettings,
    want: &ContainerSettings,
) -> Vec<Drift<TaskDefinitionSetting>> {
    use TaskDefinitionSetting as S;
    let mut drift: Vec<_> = [
        Drift::compare(S::ContainerName, &have.name, &want.name),
        Drift::compare(S::ContainerImage, &have.image, &want.image),
        Drift::compare(S::ContainerPortMappings, &have.ports, &want.ports),
        Drift::compare(S::ContainerEssential, have.essential, want.essential),
        Drift::compare(
            S::ContainerReadonlyRootFilesystem,
            have.readonly_root_filesystem,
            want.readonly_root_filesystem,
        ),
        Drift::compare(
            S::ContainerStopTimeout,
            have.stop_timeout,
            want.stop_timeout,
        ),
        Drift::compare(S::ContainerLogConfiguration, &have.logging, &want.logging),
        Drift::compare(
            S::ContainerHealthCheck,
            &have.health_check,
            &want.health_check,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let differs = |from: &BTreeMap<String, String>, to: &BTreeMap<String, String>| {
        from.iter()
            .filter(|(k, v)| to.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    if have.environment != want.environment {
        drift.push(Drift::new(
            S::ContainerEnvironment,
            differs(&have.environment, &want.environment),
            differs(&want.environment, &have.environment),
        ));
    }
    drift
}

impl Resource for TaskDefinition {
    const KIND: &'static str = "Task definition";
    type Observed = ObservedTaskDefinition;
    type Setting = TaskDefinitionSetting;

    fn key(&self) -> &str {
        &self.key
    }

    fn name(&self) -> &str {
        &self.family
    }

    async fn observe(&self, ctx: Ctx<'_>) -> Result<Option<ObservedTaskDefinition>> {
        let revisions = self.active_revisions(ctx).await?;
        let Some((_, arn)) = revisions.into_iter().max_by_key(|(revision, _)| *revision) else {
            return Ok(None);
        };
        let described = describe(ctx, &arn).await?;
        tags::ensure_owned(
            Self::KIND,
            &self.family,
            ctx.owner,
            described
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?))),
        )?;
        let definition = described
            .task_definition()
            .ok_or_else(|| unexpected("DescribeTaskDefinition", "no task definition"))?;
        Ok(Some(ObservedTaskDefinition {
            arn,
            revision: definition.revision(),
            settings: settings_of(definition),
        }))
    }

    fn drift(
        &self,
        observed: &ObservedTaskDefinition,
        ctx: Ctx<'_>,
    ) -> Result<Vec<Drift<TaskDefinitionSetting>>> {
        use TaskDefinitionSetting as S;
        let want = self.settings(ctx)?;
        let have = &observed.settings;
        let mut drift: Vec<_> = [
            Drift::compare(S::NetworkMode, &have.network_mode, &want.network_mode),
            Drift::compare(
                S::RequiresCompatibilities,
                &have.requires_compatibilities,
                &want.requires_compatibilities,
            ),
            Drift::compare(S::Cpu, &have.cpu, &want.cpu),
            Drift::compare(S::Memory, &have.memory, &want.memory),
            Drift::compare(
                S::RuntimePlatform,
                &have.runtime_platform,
                &want.runtime_platform,
            ),
            Drift::compare(
                S::ExecutionRoleArn,
                &have.execution_role_arn,
                &want.execution_role_arn,
            ),
            Drift::compare(S::TaskRoleArn, &have.task_role_arn, &want.task_role_arn),
        ]
        .into_iter()
        .flatten()
        .collect();
        match (&have.containers[..], &want.containers[..]) {
            ([have], [want]) => drift.extend(container_drift(have, want)),
            _ => drift.push(Drift::new(
                S::Containers,
                have.containers.len(),
                want.containers.len(),
            )),
        }
        Ok(drift)
    }

    async fn create(&self, ctx: Ctx<'_>) -> Result<ObservedTaskDefinition> {
        self.register(ctx).await
    }

    async fn update(
        &self,
        _observed: &ObservedTaskDefinition,
        _drift: &[Drift<TaskDefinitionSetting>],
        ctx: Ctx<'_>,
    ) -> Result<()> {
        // Immutable: the change is a new revision; the old one stays ACTIVE until
        // delete, so a rollback by the circuit breaker still finds it.
        self.register(ctx).await.map(drop)
    }

    async fn delete(&self, _observed: &ObservedTaskDefinition, ctx: Ctx<'_>) -> Result<Removal> {
        for (_, arn) in self.active_revisions(ctx).await? {
            let described = describe(ctx, &arn).await?;
            // A revision someone else registered in our family stays.
            let ours = tags::ensure_owned(
                Self::KIND,
                &self.family,
                ctx.owner,
                described
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value()?))),
            );
            if ours.is_err() {
                continue;
            }
            ctx.aws
                .ecs
                .deregister_task_definition()
                .task_definition(&arn)
                .send()
                .await?;
        }
        Ok(Removal::Done)
    }

    fn id(observed: &ObservedTaskDefinition) -> String {
        observed.arn.clone()
    }
}

impl TaskDefinition {
    /// The record of revision `arn` holding today's desired settings: the value of
    /// the service's [`TAG_TASK_DEFINITION`](crate::desired::TAG_TASK_DEFINITION)
    /// tag once the service points at that revision.
    pub fn record(&self, arn: &str, ctx: Ctx<'_>) -> Result<String> {
        record(&self.settings(ctx)?, arn)
    }

    /// The desired settings with every reference resolved.
    fn settings(&self, ctx: Ctx<'_>) -> Result<TaskSettings> {
        let c = &self.container;
        let environment = c
            .environment
            .iter()
            .map(|(name, input)| Ok((name.clone(), chatbot_ref::value(ctx.refs, input)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        let mut compatibilities: Vec<String> = self
            .requires_compatibilities
            .iter()
            .map(|c| c.as_str().to_string())
            .collect();
        compatibilities.sort();
        Ok(TaskSettings {
            network_mode: self.network_mode.as_str().to_string(),
            requires_compatibilities: compatibilities,
            cpu: self.cpu.clone(),
            memory: self.memory.clone(),
            runtime_platform: ("LINUX".into(), self.cpu_architecture.as_str().to_string()),
            execution_role_arn: ctx.refs.resolve(&self.execution_role)?,
            task_role_arn: chatbot_ref::resolve(ctx.refs, &self.task_role)?,
            containers: vec![ContainerSettings {
                name: c.name.to_string(),
                image: c.image.clone(),
                ports: vec![(i32::from(c.port), "tcp".into())],
                essential: true,
                readonly_root_filesystem: c.readonly_root_filesystem,
                stop_timeout: Some(c.stop_timeout_seconds),
                environment,
                logging: Some((
                    "awslogs".into(),
                    BTreeMap::from([
                        ("awslogs-group".to_string(), c.log_group.clone()),
                        ("awslogs-region".to_string(), ctx.aws.region.clone()),
                        (
                            "awslogs-stream-prefix".to_string(),
                            c.log_stream_prefix.to_string(),
                        ),
                    ]),
                )),
                health_check: (!c.health_check.is_empty()).then(|| ContainerHealthCheck {
                    command: c.health_check.clone(),
                    interval_seconds: HEALTH_INTERVAL,
                    timeout_seconds: HEALTH_TIMEOUT,
                    retries: HEALTH_RETRIES,
                    start_period_seconds: HEALTH_START_PERIOD,
                }),
            }],
        })
    }

    /// Registers a revision with every desired setting.
    async fn register(&self, ctx: Ctx<'_>) -> Result<ObservedTaskDefinition> {
        let settings = self.settings(ctx)?;
        let containers = settings
            .containers
            .iter()
            .map(|c| container_definition(c, &self.container.environment))
            .collect::<Result<Vec<_>>>()?;
        let tags = tags::for_resource(ctx.tags, &self.key, &self.family);
        let registered = ctx
            .aws
            .ecs
            .register_task_definition()
            .family(&self.family)
            .network_mode(NetworkMode::from(self.network_mode))
            .set_requires_compatibilities(Some(
                self.requires_compatibilities
                    .iter()
                    .map(|c| Compatibility::from(*c))
                    .collect(),
            ))
            .cpu(&self.cpu)
            .memory(&self.memory)
            .runtime_platform(
                RuntimePlatform::builder()
                    .operating_system_family(OsFamily::Linux)
                    .cpu_architecture(CpuArchitecture::from(self.cpu_architecture))
                    .build(),
            )
            .execution_role_arn(&settings.execution_role_arn)
            .task_role_arn(&settings.task_role_arn)
            .set_container_definitions(Some(containers))
            .set_tags(Some(tags::ecs_tags(&tags)))
            .send()
            .await?;
        let definition = registered
            .task_definition()
            .ok_or_else(|| unexpected("RegisterTaskDefinition", "no task definition"))?;
        Ok(ObservedTaskDefinition {
            arn: definition
                .task_definition_arn()
                .unwrap_or_default()
                .to_string(),
            revision: definition.revision(),
            settings,
        })
    }

    /// (revision, ARN) of every ACTIVE revision of the family.
    async fn active_revisions(&self, ctx: Ctx<'_>) -> Result<Vec<(i32, String)>> {
        let arns = ctx
            .aws
            .ecs
            .list_task_definitions()
            .family_prefix(&self.family)
            .status(TaskDefinitionStatus::Active)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await?;
        // `familyPrefix` is an exact family on AWS; keep only exact matches anyway.
        Ok(arns
            .into_iter()
            .filter_map(|arn| {
                let (family, revision) = arn.rsplit_once('/')?.1.rsplit_once(':')?;
                let revision = revision.parse().ok()?;
                (family == self.family).then_some((revision, arn))
            })
            .collect())
    }
}

/// Hex SHA-256 of `settings` (as JSON: fields in declaration order, maps sorted by
/// key) and the revision ARN they were registered as.
fn record(settings: &TaskSettings, arn: &str) -> Result<String> {
    let mut input = serde_json::to_vec(settings).map_err(Error::Render)?;
    input.push(b'\n');
    input.extend_from_slice(arn.as_bytes());
    Ok(sha256_hex(&input, 32))
}

/// The container as ECS takes it, environment in the documented order.
fn container_definition(
    c: &ContainerSettings,
    order: &[(String, crate::desired::chatbot::Input)],
) -> Result<ContainerDefinition> {
    let environment = order
        .iter()
        .filter_map(|(name, _)| {
            c.environment
                .get(name)
                .map(|value| KeyValuePair::builder().name(name).value(value).build())
        })
        .collect();
    let logging = match &c.logging {
        Some((driver, options)) => Some(
            LogConfiguration::builder()
                .log_driver(LogDriver::from(driver.as_str()))
                .set_options(Some(options.clone().into_iter().collect()))
                .build()
                .map_err(|e| unexpected("RegisterTaskDefinition", &e.to_string()))?,
        ),
        None => None,
    };
    let health_check = match &c.health_check {
        Some(check) => Some(
            HealthCheck::builder()
                .set_command(Some(check.command.clone()))
                .interval(check.interval_seconds)
                .timeout(check.timeout_seconds)
                .retries(check.retries)
                .start_period(check.start_period_seconds)
                .build()
                .map_err(|e| unexpected("RegisterTaskDefinition", &e.to_string()))?,
        ),
        None => None,
    };
    Ok(ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .essential(c.essential)
        .readonly_root_filesystem(c.readonly_root_filesystem)
        .set_stop_timeout(c.stop_timeout)
        .set_port_mappings(Some(
            c.ports
                .iter()
                .map(|(port, protocol)| {
                    PortMapping::builder()
                        .container_port(*port)
                        .protocol(TransportProtocol::from(protocol.as_str()))
                        .build()
                })
                .collect(),
        ))
        .set_environment(Some(environment))
        .set_log_configuration(logging)
        .set_health_check(health_check)
        .build())
}

fn settings_of(definition: &aws_sdk_ecs::types::TaskDefinition) -> TaskSettings {
    let mut compatibilities: Vec<String> = definition
        .requires_compatibilities()
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    compatibilities.sort();
    let platform = definition.runtime_platform();
    TaskSettings {
        network_mode: definition
            .network_mode()
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
        requires_compatibilities: compatibilities,
        cpu: definition.cpu().unwrap_or_default().to_string(),
        memory: definition.memory().unwrap_or_default().to_string(),
        runtime_platform: (
            platform
                .and_then(|p| p.operating_system_family())
                .map(|f| f.as_str().to_string())
                .unwrap_or_default(),
            platform
                .and_then(|p| p.cpu_architecture())
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
        ),
        execution_role_arn: definition
            .execution_role_arn()
            .unwrap_or_default()
            .to_string(),
        task_role_arn: definition.task_role_arn().unwrap_or_default().to_string(),
        containers: definition
            .container_definitions()
            .iter()
            .map(container_settings)
            .collect(),
    }
}

fn container_settings(c: &ContainerDefinition) -> ContainerSettings {
    ContainerSettings {
        name: c.name().unwrap_or_default().to_string(),
        image: c.image().unwrap_or_default().to_string(),
        ports: c
            .port_mappings()
            .iter()
            .map(|p| {
                (
                    p.container_port().unwrap_or_default(),
                    p.protocol()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "tcp".into()),
                )
            })
            .collect(),
        // ECS's default for a task's only container.
        essential: c.essential().unwrap_or(true),
        readonly_root_filesystem: c.readonly_root_filesystem().unwrap_or(false),
        stop_timeout: c.stop_timeout(),
        environment: c
            .environment()
            .iter()
            .filter_map(|kv| Some((kv.name()?.to_string(), kv.value()?.to_string())))
            .collect(),
        logging: c.log_configuration().map(|l| {
            (
                l.log_driver().as_str().to_string(),
                l.options()
                    .map(|o| o.clone().into_iter().collect())
                    .unwrap_or_default(),
            )
        }),
        health_check: c.health_check().map(|h| ContainerHealthCheck {
            command: h.command().to_vec(),
            interval_seconds: h.interval().unwrap_or(HEALTH_INTERVAL),
            timeout_seconds: h.timeout().unwrap_or(5),
            retries: h.retries().unwrap_or(HEALTH_RETRIES),
            start_period_seconds: h.start_period().unwrap_or(0),
        }),
    }
}

fn unexpected(operation: &'static str, message: &str) -> Error {
    Error::Aws(crate::aws::AwsError::unexpected("ecs", operation, message))
}

/// A task definition revision with its tags (ECS leaves them out unless asked).
async fn describe(
    ctx: Ctx<'_>,
    arn: &str,
) -> Result<aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput> {
    Ok(ctx
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await?)
}

impl Planned for TaskDefinition {
    fn detail(&self) -> String {
        format!(
            "{} CPU / {} MiB, {}, {}, image {}",
            self.cpu, self.memory, self.cpu_architecture, self.network_mode, self.container.image
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> ContainerSettings {
        ContainerSettings {
            name: "chatbot".into(),
            image: "img:1".into(),
            ports: vec![(8501, "tcp".into())],
            essential: true,
            readonly_root_filesystem: true,
            stop_timeout: Some(120),
            environment: BTreeMap::from([
                ("A".to_string(), "1".to_string()),
                ("TEMPERATURE".to_string(), "0.9".to_string()),
            ]),
            logging: Some(("awslogs".into(), BTreeMap::new())),
            health_check: None,
        }
    }

    fn health_check(command: &[&str]) -> ContainerHealthCheck {
        ContainerHealthCheck {
            command: command.iter().map(|c| c.to_string()).collect(),
            interval_seconds: 30,
            timeout_seconds: 10,
            retries: 3,
            start_period_seconds: 5,
        }
    }

    #[test]
    fn a_health_check_shows_and_serializes_as_the_tuple_records_were_made_of() {
        let check = health_check(&["CMD"]);
        assert_eq!(format!("{check:?}"), r#"(["CMD"], 30, 10, 3, 5)"#);
        assert_eq!(
            serde_json::to_string(&check).unwrap(),
            r#"[["CMD"],30,10,3,5]"#
        );
    }

    fn settings() -> TaskSettings {
        TaskSettings {
            network_mode: "awsvpc".into(),
            requires_compatibilities: vec!["FARGATE".into()],
            cpu: "512".into(),
            memory: "1024".into(),
            runtime_platform: ("LINUX".into(), "X86_64".into()),
            execution_role_arn: "arn:aws:iam::1:role/exec".into(),
            task_role_arn: "arn:aws:iam::1:role/task".into(),
            containers: vec![container()],
        }
    }

    const REVISION: &str = "arn:aws:ecs:us-west-2:1:task-definition/team-a-assistant:1";

    #[test]
    fn the_record_is_a_stable_sha256() {
        let first = record(&settings(), REVISION).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(record(&settings(), REVISION).unwrap(), first);
    }

    #[test]
    fn the_record_changes_with_the_revision_and_with_every_setting() {
        let base = record(&settings(), REVISION).unwrap();
        let other_revision = REVISION.replace(":1", ":2");
        assert_ne!(record(&settings(), &other_revision).unwrap(), base);
        let changes: [fn(&mut TaskSettings); 6] = [
            |s| s.cpu = "1024".into(),
            |s| s.task_role_arn = "arn:aws:iam::1:role/other".into(),
            |s| s.containers[0].image = "img:2".into(),
            |s| {
                s.containers[0]
                    .environment
                    .insert("SYSTEM_PROMPT".into(), "be brief".into());
            },
            |s| s.containers[0].stop_timeout = None,
            |s| s.containers.push(container()),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = settings();
            change(&mut changed);
            assert_ne!(record(&changed, REVISION).unwrap(), base, "change {i}");
        }
    }

    #[test]
    fn identical_containers_do_not_drift() {
        assert!(container_drift(&container(), &container()).is_empty());
    }

    #[test]
    fn environment_drift_names_only_the_changed_variables() {
        let mut want = container();
        want.environment.insert("TEMPERATURE".into(), "0.2".into());
        let drift = container_drift(&container(), &want);
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].field.to_string(), "container.environment");
        assert!(drift[0].have.contains("0.9") && !drift[0].have.contains("\"A\""));
        assert!(drift[0].want.contains("0.2"));
    }

    #[test]
    fn each_changed_setting_is_its_own_drift() {
        let mut want = container();
        want.image = "img:2".into();
        want.readonly_root_filesystem = false;
        want.health_check = Some(health_check(&["CMD"]));
        let fields: Vec<String> = container_drift(&container(), &want)
            .into_iter()
            .map(|d| d.field.to_string())
            .collect();
        assert_eq!(
            fields,
            vec![
                "container.image",
                "container.readonlyRootFilesystem",
                "container.healthCheck"
            ]
        );
    }

    #[test]
    fn the_round_trip_through_the_sdk_shape_changes_nothing() {
        let mut c = container();
        c.health_check = Some(health_check(&["CMD", "/chatbot"]));
        let order = vec![
            (
                "TEMPERATURE".to_string(),
                crate::desired::chatbot::Input::Value(String::new()),
            ),
            (
                "A".to_string(),
                crate::desired::chatbot::Input::Value(String::new()),
            ),
        ];
        let sdk = container_definition(&c, &order).unwrap();
        assert_eq!(sdk.environment()[0].name(), Some("TEMPERATURE"));
        assert_eq!(container_settings(&sdk), c);
    }
}
