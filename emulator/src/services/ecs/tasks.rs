//! Tasks: RunTask (Fargate validation, the task record, the plan handed to
//! the runtime), StopTask, DescribeTasks, ListTasks, and `apply_updates`,
//! which turns the runtime's reports into task fields.

use serde::{Deserialize, Serialize};

use super::model::{
    Attachment, Attribute, CapacityProviderStrategyItem, Container, ContainerOverride,
    EphemeralStorage, Failure, KeyValuePair, NetworkBinding, NetworkConfiguration,
    NetworkInterface, Tag, Task, TaskDefinition, TaskDefinitionStatus, TaskEphemeralStorage,
    TaskOverride, enums,
};
use super::planning::{PlanInput, parse_cpu, parse_memory, plan_task};
use super::validation::{
    check_enum, check_enum_in, check_enum_list, check_enum_opt, check_tags, fargate_pair_valid,
};
use super::{
    Caller, Doc, Ecs, EcsError, PAGE_100, RegionState, Result, State, TaskDefinitionRecord,
    TaskRecord, page,
};
use crate::domain::arn::Scope;
use crate::domain::status::{
    AttachmentStatus, Connectivity, ContainerStatus, Health, LaunchType, StopCode, TaskStatus,
    task_health,
};
use crate::domain::time::Timestamp;
use crate::domain::{arn, ids, time};
use crate::runtime::plan::SubnetNetwork;
use crate::runtime::{Start, TaskUpdate};
use crate::services::kit::{Change, Page};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTaskRequest {
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub cluster: Option<String>,
    pub count: Option<i32>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub enable_execute_command: Option<bool>,
    pub group: Option<String>,
    pub launch_type: Option<String>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub overrides: Option<TaskOverride>,
    pub placement_constraints: Option<serde_json::Value>,
    pub placement_strategy: Option<serde_json::Value>,
    pub platform_version: Option<String>,
    pub propagate_tags: Option<String>,
    pub reference_id: Option<String>,
    pub started_by: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub task_definition: Option<String>,
    pub client_token: Option<String>,
    pub volume_configurations: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct RunTaskResponse {
    pub tasks: Vec<Task>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTaskRequest {
    pub cluster: Option<String>,
    pub task: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StopTaskResponse {
    pub task: Task,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTasksRequest {
    pub cluster: Option<String>,
    pub tasks: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct DescribeTasksResponse {
    pub tasks: Vec<Task>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksRequest {
    pub cluster: Option<String>,
    pub container_instance: Option<String>,
    pub family: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub started_by: Option<String>,
    pub service_name: Option<String>,
    pub desired_status: Option<String>,
    pub launch_type: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksResponse {
    pub task_arns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// What RunTask (and the service scheduler) asks for, after validation.
#[derive(Debug, Clone)]
pub struct TaskLaunch {
    pub cluster: String,
    pub task_definition: String,
    pub count: i32,
    pub capacity_provider: Option<String>,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub overrides: Option<TaskOverride>,
    pub network: NetworkConfiguration,
    pub platform_version: Option<String>,
    pub tags: Vec<Tag>,
    pub propagate_tags: Option<String>,
    pub enable_ecs_managed_tags: bool,
    pub enable_execute_command: bool,
    pub client_token: Option<String>,
    /// The service scheduler keeps running a deregistered revision, as AWS
    /// does; RunTask refuses it.
    pub allow_inactive_definition: bool,
    /// A service's Cloud Map registration (`serviceRegistries`).
    pub registration: Option<crate::runtime::plan::Registration>,
    /// A service's Service Connect (its proxy's listeners and endpoints).
    pub service_connect: Option<crate::runtime::plan::ServiceConnectPlan>,
}

const OVERRIDES_LIMIT: usize = 8192;

pub(crate) fn check_network(nc: &Option<NetworkConfiguration>) -> Result<NetworkConfiguration> {
    let Some(nc) = nc else {
        return Err(EcsError::invalid(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    };
    let Some(vpc) = &nc.awsvpc_configuration else {
        return Err(EcsError::invalid(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    };
    if vpc.subnets.is_empty() {
        return Err(EcsError::invalid("subnets can not be empty."));
    }
    if vpc.subnets.len() > 16 {
        return Err(EcsError::invalid("subnets can have at most 16 items."));
    }
    if vpc.security_groups.as_ref().is_some_and(|s| s.len() > 5) {
        return Err(EcsError::invalid(
            "securityGroups can have at most 5 items.",
        ));
    }
    check_enum_opt(
        "assignPublicIp",
        vpc.assign_public_ip.as_deref(),
        enums::ASSIGN_PUBLIC_IP,
    )?;
    Ok(nc.clone())
}

/// Every enum member of a RunTask request, checked before anything else.
fn check_run_task_enums(req: &RunTaskRequest) -> Result<()> {
    check_enum_opt("launchType", req.launch_type.as_deref(), enums::LAUNCH_TYPE)?;
    check_enum_opt(
        "propagateTags",
        req.propagate_tags.as_deref(),
        enums::PROPAGATE_TAGS,
    )?;
    let vpc = req
        .network_configuration
        .as_ref()
        .and_then(|n| n.awsvpc_configuration.as_ref());
    if let Some(vpc) = vpc {
        check_enum_opt(
            "assignPublicIp",
            vpc.assign_public_ip.as_deref(),
            enums::ASSIGN_PUBLIC_IP,
        )?;
    }
    check_enum_in(
        req.placement_constraints.as_ref(),
        &["*", "type"],
        enums::PLACEMENT_CONSTRAINT_TYPE,
    )?;
    check_enum_in(
        req.placement_strategy.as_ref(),
        &["*", "type"],
        enums::PLACEMENT_STRATEGY_TYPE,
    )?;
    let overrides = req.overrides.as_ref();
    for co in overrides
        .and_then(|o| o.container_overrides.as_ref())
        .into_iter()
        .flatten()
    {
        for f in co.environment_files.iter().flatten() {
            check_enum("type", &f.kind, enums::ENVIRONMENT_FILE_TYPE)?;
        }
        check_enum_in(
            co.resource_requirements.as_ref(),
            &["*", "type"],
            enums::RESOURCE_TYPE,
        )?;
    }
    Ok(())
}

/// RunTask's `overrides` against the definition: size, container names,
/// variable names, task cpu and memory (parsed once, and on Fargate a valid
/// pair with what the definition leaves), ephemeral storage.
fn check_overrides(ov: &TaskOverride, td: &TaskDefinition) -> Result<()> {
    let len = serde_json::to_vec(ov).map(|v| v.len()).unwrap_or(0);
    if len > OVERRIDES_LIMIT {
        return Err(EcsError::invalid(format!(
            "Container Overrides length must be at most {OVERRIDES_LIMIT}"
        )));
    }
    let container_names: Vec<&str> = td
        .container_definitions
        .iter()
        .flatten()
        .filter_map(|c| c.name.as_deref())
        .collect();
    for co in ov.container_overrides.iter().flatten() {
        let name = co.name.as_deref().unwrap_or("");
        if !container_names.contains(&name) {
            return Err(EcsError::invalid(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
        for kv in co.environment.iter().flatten() {
            if kv.name.as_deref().unwrap_or("").trim().is_empty() {
                return Err(EcsError::client(
                    "Environment variable name cannot be null or blank.",
                ));
            }
        }
    }
    let cpu = ov
        .cpu
        .as_deref()
        .map(|c| parse_cpu(c).ok_or_else(|| EcsError::client("Invalid 'cpu' setting for task.")))
        .transpose()?;
    let memory = ov
        .memory
        .as_deref()
        .map(|m| {
            parse_memory(m).ok_or_else(|| EcsError::client("Invalid 'memory' setting for task."))
        })
        .transpose()?;
    if let Some(e) = &ov.ephemeral_storage
        && !(21..=200).contains(&e.size_in_gib)
    {
        return Err(EcsError::client(
            "The ephemeral storage size must be between 21 and 200 GiB.",
        ));
    }
    if cpu.is_some() || memory.is_some() {
        // What the overrides leave is the definition's (stored as units and
        // MiB at registration).
        let cpu = cpu
            .or_else(|| td.cpu.as_deref().and_then(parse_cpu))
            .unwrap_or(0);
        let mem = memory
            .or_else(|| td.memory.as_deref().and_then(parse_memory))
            .unwrap_or(0);
        if !fargate_pair_valid(cpu, mem) {
            return Err(EcsError::client(format!(
                "No Fargate configuration exists for given values: {cpu} CPU, {mem} memory. See the Amazon ECS documentation for the valid values."
            )));
        }
    }
    Ok(())
}

/// The definition a launch runs: known, ACTIVE (the scheduler may run a
/// deregistered one), able to run on Fargate.
fn launchable_definition(
    region: &RegionState,
    launch: &TaskLaunch,
) -> Result<TaskDefinitionRecord> {
    let record = region
        .task_definition(&launch.task_definition)
        .ok_or_else(|| EcsError::client("TaskDefinition not found."))?;
    if record.td.status != Some(TaskDefinitionStatus::Active) && !launch.allow_inactive_definition {
        return Err(EcsError::client("TaskDefinition is inactive"));
    }
    if !record
        .td
        .compatibilities
        .iter()
        .flatten()
        .any(|c| *c == LaunchType::Fargate)
    {
        return Err(EcsError::invalid(
            "Task definition does not support launch_type FARGATE.",
        ));
    }
    Ok(record.clone())
}

/// A task's tags: the request's, the definition's when propagated (a
/// request's key wins), and ECS's managed tag.
fn task_tags(launch: &TaskLaunch, definition_tags: &[Tag], cluster_name: &str) -> Vec<Tag> {
    let mut tags = launch.tags.clone();
    if launch.propagate_tags.as_deref() == Some("TASK_DEFINITION") {
        for t in definition_tags {
            if !tags.iter().any(|x| x.key == t.key) {
                tags.push(t.clone());
            }
        }
    }
    if launch.enable_ecs_managed_tags {
        tags.push(Tag {
            key: Some("aws:ecs:clusterName".into()),
            value: Some(cluster_name.to_string()),
        });
    }
    tags
}

/// What every task of one launch shares.
struct NewTask<'a> {
    scope: &'a Scope,
    region: &'a str,
    cluster_name: &'a str,
    cluster_arn: &'a str,
    td: &'a TaskDefinition,
    launch: &'a TaskLaunch,
    tags: &'a [Tag],
    now: Timestamp,
    /// Subnets mapped to Docker networks (`serve --subnet`).
    subnets: &'a std::collections::BTreeMap<String, String>,
}

/// The subnet a task is placed in: the first listed that is mapped to a
/// Docker network, else the first listed (AWS picks one of them too), and
/// the network it joins.
pub fn place_in_subnet(
    subnets: &[String],
    mapped: &std::collections::BTreeMap<String, String>,
) -> (String, Option<SubnetNetwork>) {
    match subnets.iter().find_map(|s| mapped.get(s).map(|n| (s, n))) {
        Some((s, n)) => (
            s.clone(),
            Some(SubnetNetwork {
                subnet: s.clone(),
                network: n.clone(),
            }),
        ),
        None => (subnets.first().cloned().unwrap_or_default(), None),
    }
}

/// The prefix of the Service Connect agent's container name.
pub const SERVICE_CONNECT_CONTAINER: &str = "ecs-service-connect-";

/// `ecs-service-connect-` and 5 random letters and digits, as AWS names
/// the Service Connect agent's container (`ecs-service-connect-oRK9o`).
fn service_connect_container_name() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{SERVICE_CONNECT_CONTAINER}{suffix}")
}

/// One new task, PROVISIONING: its plan and its record as DescribeTasks
/// shows it before the runtime reports anything.
fn new_task(n: &NewTask<'_>, task_id: &str) -> TaskRecord {
    let task_arn = n.scope.task(n.cluster_name, task_id);
    let overrides = n.launch.overrides.as_ref();
    let mut plan = plan_task(PlanInput {
        task_definition: n.td,
        overrides,
        task_arn: task_arn.clone(),
        task_id: task_id.to_string(),
        cluster_arn: n.cluster_arn.to_string(),
        cluster_name: n.cluster_name.to_string(),
        region: n.region.to_string(),
        container_arn: &|_| n.scope.container(n.cluster_name, task_id, &ids::uuid()),
        runtime_id: &|| ids::runtime_id(task_id),
        enable_execute_command: n.launch.enable_execute_command,
    });
    let listed = n
        .launch
        .network
        .awsvpc_configuration
        .as_ref()
        .map(|v| v.subnets.as_slice())
        .unwrap_or_default();
    let (subnet, subnet_network) = place_in_subnet(listed, n.subnets);
    plan.subnet_network = subnet_network;
    plan.registration = n.launch.registration.clone();
    plan.service_connect = n.launch.service_connect.clone();
    let mut containers: Vec<Container> = plan
        .containers
        .iter()
        .map(|c| Container {
            container_arn: Some(c.container_arn.clone()),
            task_arn: Some(task_arn.clone()),
            name: Some(c.name.clone()),
            image: Some(c.image.clone()),
            last_status: Some(ContainerStatus::Pending),
            network_interfaces: Some(Vec::new()),
            health_status: Some(Health::Unknown),
            cpu: Some(c.cpu_units.unwrap_or(0).to_string()),
            memory: c.memory_mib.map(|m| m.to_string()),
            memory_reservation: c.memory_reservation_mib.map(|m| m.to_string()),
            managed_agents: plan.enable_execute_command.then(|| {
                vec![super::model::ManagedAgent {
                    name: Some("ExecuteCommandAgent".into()),
                    last_status: Some(ContainerStatus::Pending),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        })
        .collect();
    // The Service Connect agent's container, as AWS lists it: its role is
    // played by the infrastructure container, which it follows.
    let sc_container = plan.service_connect.as_ref().map(|_| {
        let name = service_connect_container_name();
        containers.push(Container {
            container_arn: Some(n.scope.container(n.cluster_name, task_id, &ids::uuid())),
            task_arn: Some(task_arn.clone()),
            name: Some(name.clone()),
            last_status: Some(ContainerStatus::Pending),
            network_interfaces: Some(Vec::new()),
            health_status: Some(Health::Unknown),
            ..Default::default()
        });
        name
    });
    // Every container has an entry in the echoed overrides.
    let mut container_overrides: Vec<ContainerOverride> =
        n.td.container_definitions
            .iter()
            .flatten()
            .filter_map(|c| c.name.clone())
            .map(|name| {
                overrides
                    .and_then(|o| o.container_overrides.as_ref())
                    .and_then(|l| l.iter().find(|c| c.name.as_deref() == Some(name.as_str())))
                    .cloned()
                    .unwrap_or(ContainerOverride {
                        name: Some(name),
                        ..Default::default()
                    })
            })
            .collect();
    if let Some(name) = sc_container {
        container_overrides.push(ContainerOverride {
            name: Some(name),
            ..Default::default()
        });
    }
    let mut echoed = overrides.cloned().unwrap_or_default();
    echoed.container_overrides = Some(container_overrides);
    echoed
        .inference_accelerator_overrides
        .get_or_insert_with(Vec::new);
    let storage = overrides
        .and_then(|o| o.ephemeral_storage.clone())
        .or_else(|| n.td.ephemeral_storage.clone())
        .map_or(20, |e| e.size_in_gib);
    let task = Task {
        attachments: Some(vec![Attachment {
            id: Some(ids::uuid()),
            kind: Some("ElasticNetworkInterface".into()),
            status: Some(AttachmentStatus::Precreated),
            details: Some(vec![KeyValuePair::new("subnetId", subnet)]),
        }]),
        attributes: Some(vec![Attribute {
            name: "ecs.cpu-architecture".into(),
            value: Some("x86_64".into()),
            ..Default::default()
        }]),
        availability_zone: Some(format!("{}a", n.region)),
        capacity_provider_name: n.launch.capacity_provider.clone(),
        cluster_arn: Some(n.cluster_arn.to_string()),
        containers: Some(containers),
        cpu: plan.cpu_units.map(|c| c.to_string()),
        created_at: Some(n.now),
        desired_status: Some(TaskStatus::Running),
        enable_execute_command: Some(n.launch.enable_execute_command),
        group: Some(
            n.launch
                .group
                .clone()
                .unwrap_or_else(|| format!("family:{}", plan.family)),
        ),
        health_status: Some(Health::Unknown),
        last_status: Some(TaskStatus::Provisioning),
        launch_type: Some(LaunchType::Fargate),
        memory: plan.memory_mib.map(|m| m.to_string()),
        overrides: Some(echoed),
        platform_version: Some(
            match n.launch.platform_version.as_deref() {
                None | Some("LATEST") => "1.4.0",
                Some(v) => v,
            }
            .to_string(),
        ),
        platform_family: Some("Linux".into()),
        started_by: n.launch.started_by.clone(),
        tags: Some(n.tags.to_vec()),
        task_arn: Some(task_arn),
        task_definition_arn: n.td.task_definition_arn.clone(),
        version: Some(1),
        ephemeral_storage: Some(EphemeralStorage {
            size_in_gib: storage,
        }),
        fargate_ephemeral_storage: Some(TaskEphemeralStorage {
            size_in_gib: Some(storage),
            kms_key_id: None,
        }),
        ..Default::default()
    };
    TaskRecord {
        task,
        plan,
        client_token: n.launch.client_token.clone(),
    }
}

impl Ecs {
    pub fn run_task(&self, caller: &Caller, req: RunTaskRequest) -> Result<RunTaskResponse> {
        check_run_task_enums(&req)?;
        let td_ref = req
            .task_definition
            .clone()
            .ok_or_else(|| EcsError::invalid("taskDefinition must not be null."))?;
        let count = req.count.unwrap_or(1);
        if !(1..=10).contains(&count) {
            return Err(EcsError::invalid("count must be between 1 and 10."));
        }
        if let Some(tags) = &req.tags {
            check_tags(tags)?;
        }
        if req.launch_type.is_some() && req.capacity_provider_strategy.is_some() {
            return Err(EcsError::invalid(
                "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
            ));
        }
        if let Some(pv) = req.platform_version.as_deref()
            && !["LATEST", "1.4.0", "1.3.0"].contains(&pv)
        {
            return Err(EcsError::Client(format!(
                "The specified platform version '{pv}' does not exist."
            )));
        }
        let cluster_ref = req.cluster.clone().unwrap_or_else(|| "default".into());

        // Which capacity: FARGATE, or a failure AWS reports in `failures`.
        let (capacity_provider, launch_failure) = {
            let mut st = self.lock();
            let region = st.region(&caller.region);
            let cluster = region.active_cluster(&cluster_ref)?;
            let strategy = req
                .capacity_provider_strategy
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| {
                    if req.launch_type.is_none() {
                        cluster
                            .default_capacity_provider_strategy
                            .clone()
                            .filter(|s| !s.is_empty())
                    } else {
                        None
                    }
                });
            match (req.launch_type.as_deref(), strategy) {
                (Some("FARGATE"), _) => (None, None),
                (Some(_), _) => (
                    None,
                    Some("No Container Instances were found in your cluster."),
                ),
                (None, Some(strategy)) => {
                    let associated = cluster.capacity_providers.clone().unwrap_or_default();
                    for item in &strategy {
                        if !associated.contains(&item.capacity_provider) {
                            return Err(EcsError::invalid(format!(
                                "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again. Capacity provider: {}",
                                item.capacity_provider
                            )));
                        }
                    }
                    // The provider with a base runs first; otherwise the
                    // heaviest weight.
                    let chosen = strategy
                        .iter()
                        .find(|i| i.base.unwrap_or(0) > 0)
                        .or_else(|| strategy.iter().max_by_key(|i| i.weight.unwrap_or(0)))
                        .map(|i| i.capacity_provider.clone());
                    (chosen, None)
                }
                (None, None) => (
                    None,
                    Some("No Container Instances were found in your cluster."),
                ),
            }
        };
        if let Some(reason) = launch_failure {
            // Resolve the cluster and definition first so that their errors win.
            let mut st = self.lock();
            let region = st.region(&caller.region);
            let cluster_arn = region.active_cluster(&cluster_ref)?.cluster_arn.clone();
            region
                .task_definition(&td_ref)
                .ok_or_else(|| EcsError::client("TaskDefinition not found."))?;
            return Ok(RunTaskResponse {
                tasks: Vec::new(),
                failures: vec![Failure {
                    arn: cluster_arn,
                    reason: Some(reason.into()),
                    detail: None,
                }],
            });
        }
        let launch = TaskLaunch {
            cluster: cluster_ref,
            task_definition: td_ref,
            count,
            capacity_provider,
            group: req.group,
            started_by: req.started_by,
            overrides: req.overrides,
            network: NetworkConfiguration::default(),
            platform_version: req.platform_version,
            tags: req.tags.unwrap_or_default(),
            propagate_tags: req.propagate_tags,
            enable_ecs_managed_tags: req.enable_ecs_managed_tags.unwrap_or(false),
            enable_execute_command: req.enable_execute_command.unwrap_or(false),
            client_token: req.client_token,
            allow_inactive_definition: false,
            registration: None,
            service_connect: None,
        };
        self.take_launch_tokens(&caller.region, count as u32)?;
        let tasks = self
            .launch_tasks(caller, launch, req.network_configuration)
            .inspect_err(|_| self.give_back_launch_tokens(&caller.region, count as u32))?;
        Ok(RunTaskResponse {
            tasks,
            failures: Vec::new(),
        })
    }

    /// Creates, stores and starts `count` Fargate tasks. Shared by RunTask and
    /// the service scheduler. Nothing is launched, and nothing changes,
    /// unless the tasks are stored.
    pub fn launch_tasks(
        &self,
        caller: &Caller,
        mut launch: TaskLaunch,
        network: Option<NetworkConfiguration>,
    ) -> Result<Vec<Task>> {
        let scope = caller.scope();
        let region_name = caller.region.clone();
        let (tasks, plans) = self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let cluster = region.active_cluster(&launch.cluster)?;
            // Idempotency: the same client token returns the same tasks.
            if let Some(token) = &launch.client_token {
                let existing: Vec<Task> = region
                    .tasks
                    .values()
                    .filter(|t| t.client_token.as_deref() == Some(token.as_str()))
                    .map(|t| t.task.clone())
                    .collect();
                if !existing.is_empty() {
                    return Ok::<_, EcsError>(Change::answer((existing, Vec::new())));
                }
            }
            let record = launchable_definition(region, &launch)?;
            launch.network = check_network(&network)?;
            if let Some(ov) = &launch.overrides {
                check_overrides(ov, &record.td)?;
            }
            let cluster_name = cluster.cluster_name.clone().unwrap_or_default();
            let tags = task_tags(&launch, &record.tags, &cluster_name);
            let new = NewTask {
                scope: &scope,
                region: &region_name,
                cluster_name: &cluster_name,
                cluster_arn: cluster.cluster_arn.as_deref().unwrap_or_default(),
                td: &record.td,
                launch: &launch,
                tags: &tags,
                now: time::now(),
                subnets: self.subnets(),
            };
            let records: Vec<TaskRecord> = (0..launch.count)
                .map(|_| new_task(&new, &ids::task_id()))
                .collect();
            if let Some(first) = records.first() {
                let execution_role = launch
                    .overrides
                    .as_ref()
                    .and_then(|o| o.execution_role_arn.clone())
                    .or_else(|| record.td.execution_role_arn.clone());
                self.check_task_roles(&first.plan, execution_role.as_deref())?;
            }
            let ops: Vec<_> = records.iter().map(Self::task_op).collect();
            let answer = (
                records.iter().map(|r| r.task.clone()).collect::<Vec<_>>(),
                records.iter().map(|r| r.plan.clone()).collect::<Vec<_>>(),
            );
            Ok(Change::answer(answer)
                .writes(ops)
                .then(move |st: &mut State| {
                    let region = st.region(&region_name);
                    for rec in records {
                        region.tasks.insert(rec.plan.task_id.clone(), rec);
                    }
                }))
        })?;
        for plan in plans {
            self.announce(&caller.region, &plan.task_arn);
            self.runtime().launch(plan, Start::Launch);
        }
        Ok(tasks)
    }

    pub fn stop_task(&self, caller: &Caller, req: StopTaskRequest) -> Result<StopTaskResponse> {
        let reference = req
            .task
            .ok_or_else(|| EcsError::invalid("task must not be null."))?;
        let reason = req.reason.unwrap_or_else(|| "Task stopped by user".into());
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let task = self.stop_task_with_code(
            caller,
            &cluster_ref,
            &reference,
            StopCode::UserInitiated,
            reason,
        )?;
        Ok(StopTaskResponse { task })
    }

    /// StopTask with a stop code: UserInitiated for StopTask,
    /// ServiceSchedulerInitiated for the service scheduler.
    pub(crate) fn stop_task_with_code(
        &self,
        caller: &Caller,
        cluster_ref: &str,
        reference: &str,
        code: StopCode,
        reason: String,
    ) -> Result<Task> {
        let region_name = caller.region.clone();
        let (task, supervised) = self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let cluster = region.active_cluster(cluster_ref)?;
            let cluster_arn = cluster.cluster_arn.clone().unwrap_or_default();
            let tref = arn::task_ref(reference)
                .ok_or_else(|| EcsError::invalid("The referenced task was not found."))?;
            let rec = region
                .tasks
                .get(tref.id)
                .filter(|r| r.task.cluster_arn.as_deref() == Some(cluster_arn.as_str()))
                .ok_or_else(|| EcsError::invalid("The referenced task was not found."))?;
            let arn = rec.plan.task_arn.clone();
            // Checked under the state lock, which `recover` holds while it
            // adopts: either the task is supervised by now, or its adopter
            // will find desiredStatus STOPPED and stop it.
            let supervised =
                self.runtime().is_supervised(&arn) || st.awaiting_adoption.contains(&arn);
            if rec.task.desired_status == Some(TaskStatus::Stopped) {
                return Ok::<_, EcsError>(Change::answer((rec.task.clone(), supervised)));
            }
            let mut next = rec.clone();
            let t = &mut next.task;
            t.desired_status = Some(TaskStatus::Stopped);
            t.stop_code = Some(code);
            t.stopped_reason = Some(reason.clone());
            t.stopping_at = Some(time::now());
            t.version = Some(t.version.unwrap_or(0) + 1);
            Ok(Change::answer((next.task.clone(), supervised))
                .write(Self::task_op(&next))
                .then(move |st: &mut State| {
                    st.region(&region_name)
                        .tasks
                        .insert(next.plan.task_id.clone(), next);
                }))
        })?;
        let arn = task.task_arn.clone().unwrap_or_default();
        if !self.runtime().stop(&arn, code, &reason)
            && !supervised
            && task.last_status != Some(TaskStatus::Stopped)
        {
            // Nothing runs it (the engine was unreachable): it is simply over.
            self.apply_updates(
                &arn,
                vec![
                    TaskUpdate::StopRequested {
                        code,
                        reason: reason.clone(),
                    },
                    TaskUpdate::Status(TaskStatus::Stopped),
                ],
            );
        }
        self.announce(&caller.region, &arn);
        Ok(task)
    }

    pub fn describe_tasks(
        &self,
        caller: &Caller,
        req: DescribeTasksRequest,
    ) -> Result<DescribeTasksResponse> {
        let refs = req
            .tasks
            .ok_or_else(|| EcsError::invalid("tasks must not be null."))?;
        if refs.len() > 100 {
            return Err(EcsError::invalid("tasks can have at most 100 items."));
        }
        if refs.is_empty() {
            return Err(EcsError::invalid("Tasks cannot be empty."));
        }
        check_enum_list("include", req.include.as_deref(), enums::TASK_FIELD)?;
        let with_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let cluster = region.active_cluster(&cluster_ref)?;
        let cluster_arn = cluster.cluster_arn.clone().unwrap_or_default();
        let cluster_name = cluster.cluster_name.clone().unwrap_or_default();
        let mut tasks = Vec::new();
        let mut failures = Vec::new();
        for reference in refs {
            let found = arn::task_ref(&reference).and_then(|r| {
                region
                    .tasks
                    .get(r.id)
                    .filter(|t| t.task.cluster_arn.as_deref() == Some(cluster_arn.as_str()))
            });
            match found {
                Some(rec) => {
                    let mut t = rec.task.clone();
                    if !with_tags {
                        t.tags = None;
                    }
                    tasks.push(t);
                }
                None => {
                    let arn = if reference.starts_with("arn:") {
                        reference
                    } else {
                        caller.scope().task(&cluster_name, &reference)
                    };
                    failures.push(Failure::missing(arn));
                }
            }
        }
        Ok(DescribeTasksResponse { tasks, failures })
    }

    pub fn list_tasks(&self, caller: &Caller, req: ListTasksRequest) -> Result<ListTasksResponse> {
        if let Some(f) = &req.family
            && !super::validation::valid_name(f)
        {
            return Err(EcsError::invalid("family must match ^[a-zA-Z0-9\\-_]+$"));
        }
        let desired = req.desired_status.unwrap_or_else(|| "RUNNING".into());
        check_enum("desiredStatus", &desired, enums::DESIRED_STATUS)?;
        let desired = TaskStatus::parse(&desired);
        let launch_type = req.launch_type.as_deref().and_then(LaunchType::parse);
        check_enum_opt("launchType", req.launch_type.as_deref(), enums::LAUNCH_TYPE)?;
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let cluster_arn = region
            .active_cluster(&cluster_ref)?
            .cluster_arn
            .clone()
            .unwrap_or_default();
        if let Some(svc) = &req.service_name
            && !region.service_exists(&cluster_arn, svc)
        {
            return Err(EcsError::ServiceNotFound);
        }
        let mut matching: Vec<&TaskRecord> = region
            .tasks
            .values()
            .filter(|r| {
                let t = &r.task;
                t.cluster_arn.as_deref() == Some(cluster_arn.as_str())
                    && t.desired_status == desired
                    && req.family.as_deref().is_none_or(|f| r.plan.family == f)
                    && req
                        .started_by
                        .as_deref()
                        .is_none_or(|s| t.started_by.as_deref() == Some(s))
                    && req
                        .service_name
                        .as_deref()
                        .is_none_or(|s| t.group.as_deref() == Some(format!("service:{s}").as_str()))
                    && launch_type.is_none_or(|l| t.launch_type == Some(l))
                    && req.container_instance.is_none()
            })
            .collect();
        matching.sort_by(|a, b| {
            a.task
                .created_at
                .partial_cmp(&b.task.created_at)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.plan.task_arn.cmp(&b.plan.task_arn))
        });
        let arns: Vec<String> = matching.iter().map(|r| r.plan.task_arn.clone()).collect();
        let Page {
            items: task_arns,
            next_token,
        } = page(PAGE_100, &arns, req.next_token.as_deref(), req.max_results)?;
        Ok(ListTasksResponse {
            task_arns,
            next_token,
        })
    }

    /// Applies the runtime's reports to a task; bumps `version` once per
    /// batch that changed anything. What the runtime reports has happened,
    /// so memory takes it even when the store refuses the write; the task
    /// is then kept unsaved and written with the next internal write
    /// (`Ecs::persist`).
    pub fn apply_updates(&self, task_arn: &str, updates: Vec<TaskUpdate>) {
        let Some(tref) = arn::task_ref(task_arn) else {
            return;
        };
        let region_name = arn::parse(task_arn)
            .map(|a| a.region.to_string())
            .unwrap_or_default();
        let mut st = self.lock();
        let region = st.region(&region_name);
        let Some(rec) = region.tasks.get_mut(tref.id) else {
            return;
        };
        let before = rec.task.clone();
        for u in updates {
            apply(rec, u);
        }
        let changed = rec.task != before;
        if changed {
            rec.task.version = Some(before.version.unwrap_or(0) + 1);
        }
        let doc = changed.then(|| Doc::task(rec));
        self.persist(&mut st, doc, "a task update");
        drop(st);
        if changed {
            self.announce(&region_name, task_arn);
        }
    }

    /// Supervises again every task that was live when the emulator stopped
    /// (only those: a task RunTask started since has its own supervisor, and
    /// adopting it would declare its not-yet-created containers gone), and
    /// removes managed containers that belong to no task.
    pub async fn recover(&self) {
        {
            // Held while launching (which does not block) so that StopTask
            // sees each task either awaiting adoption or supervised.
            let mut st = self.lock();
            let st = &mut *st;
            let awaiting = std::mem::take(&mut st.awaiting_adoption);
            for rec in st.regions.values().flat_map(|r| r.tasks.values()) {
                if !awaiting.contains(&rec.plan.task_arn)
                    || rec.task.last_status == Some(TaskStatus::Stopped)
                {
                    continue;
                }
                let last = rec.task.last_status.unwrap_or(TaskStatus::Provisioning);
                let stopping = rec.task.desired_status == Some(TaskStatus::Stopped);
                tracing::info!(task = %rec.plan.task_arn, status = last.as_str(), "re-adopting task");
                self.runtime().launch(
                    rec.plan.clone(),
                    Start::Adopt {
                        last_status: last,
                        stopping,
                    },
                );
            }
        }
        self.runtime().remove_orphans(&self.all_task_arns()).await;
    }

    /// Forgets STOPPED tasks that stopped more than `retention_secs` ago, as
    /// AWS does after about an hour, and, in each region, all but the
    /// `keep_at_most` that stopped last, so what stopped tasks cost in memory
    /// stays bounded however fast tasks come and go. They leave memory only
    /// once their deletion is stored; when the store refuses, they stay, and
    /// the next sweep tries again.
    pub fn prune_stopped(&self, retention_secs: f64, keep_at_most: usize) {
        let cutoff = time::now() - retention_secs;
        let result = self.backend().update(|st: &State| {
            let mut old: Vec<(String, String, String)> = Vec::new();
            for (region, r) in st.regions.iter() {
                let mut stopped: Vec<&TaskRecord> = r
                    .tasks
                    .values()
                    .filter(|r| r.task.last_status == Some(TaskStatus::Stopped))
                    .collect();
                // Newest first; a task without a stop time counts as oldest.
                stopped.sort_by(|a, b| {
                    let at = |r: &TaskRecord| r.task.stopped_at.unwrap_or(f64::MIN);
                    at(b).total_cmp(&at(a))
                });
                for (rank, rec) in stopped.into_iter().enumerate() {
                    let expired = rec.task.stopped_at.is_some_and(|t| t < cutoff);
                    if expired || rank >= keep_at_most {
                        old.push((
                            region.clone(),
                            rec.plan.task_id.clone(),
                            rec.plan.task_arn.clone(),
                        ));
                    }
                }
            }
            let ops: Vec<_> = old
                .iter()
                .map(|(_, _, arn)| Self::task_delete_op(arn))
                .collect();
            Ok::<_, EcsError>(Change::answer(()).writes(ops).then(move |st: &mut State| {
                for (region, id, _) in old {
                    st.region(&region).tasks.remove(&id);
                }
            }))
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "could not prune stopped tasks; they stay until the next sweep");
        }
    }

    /// A task's record (for the metadata endpoint and exec).
    pub fn task_record(&self, task_arn: &str) -> Option<TaskRecord> {
        let tref = arn::task_ref(task_arn)?;
        let region = arn::parse(task_arn)?.region.to_string();
        let mut st = self.lock();
        st.region(&region).tasks.get(tref.id).cloned()
    }
}

fn container_mut<'a>(task: &'a mut Task, name: &str) -> Option<&'a mut Container> {
    task.containers
        .iter_mut()
        .flatten()
        .find(|c| c.name.as_deref() == Some(name))
}

fn apply(rec: &mut TaskRecord, u: TaskUpdate) {
    let now = time::now();
    let task = &mut rec.task;
    match u {
        TaskUpdate::Status(s) => {
            if task.last_status.is_some_and(|c| !c.can_move_to(s)) {
                return;
            }
            task.last_status = Some(s);
            match s {
                TaskStatus::Running => {
                    task.started_at.get_or_insert(now);
                    let exec = rec.plan.enable_execute_command;
                    // The Service Connect agent's container is up (and its
                    // proxy listening) before the task's containers start.
                    for c in task.containers.iter_mut().flatten() {
                        if c.name
                            .as_deref()
                            .is_some_and(|n| n.starts_with(SERVICE_CONNECT_CONTAINER))
                            && c.last_status == Some(ContainerStatus::Pending)
                        {
                            c.last_status = Some(ContainerStatus::Running);
                            c.health_status = Some(Health::Healthy);
                        }
                    }
                    for c in task.containers.iter_mut().flatten() {
                        if exec && c.last_status == Some(ContainerStatus::Running) {
                            for a in c.managed_agents.iter_mut().flatten() {
                                a.last_status = Some(ContainerStatus::Running);
                                a.last_started_at = Some(now);
                            }
                        }
                    }
                }
                TaskStatus::Stopping => {
                    task.stopping_at.get_or_insert(now);
                }
                TaskStatus::Deprovisioning => {
                    for a in task.attachments.iter_mut().flatten() {
                        a.status = Some(AttachmentStatus::Detached);
                    }
                }
                TaskStatus::Stopped => {
                    task.stopped_at.get_or_insert(now);
                    task.execution_stopped_at.get_or_insert(now);
                    task.stopping_at.get_or_insert(now);
                    task.desired_status = Some(TaskStatus::Stopped);
                    // connectivityAt is when the task last went CONNECTED
                    // (the model's words); DISCONNECTED leaves it.
                    task.connectivity = Some(Connectivity::Disconnected);
                    for a in task.attachments.iter_mut().flatten() {
                        a.status = Some(AttachmentStatus::Deleted);
                    }
                    for c in task.containers.iter_mut().flatten() {
                        c.last_status = Some(ContainerStatus::Stopped);
                        for a in c.managed_agents.iter_mut().flatten() {
                            a.last_status = Some(ContainerStatus::Stopped);
                        }
                    }
                }
                _ => {}
            }
        }
        TaskUpdate::Provisioned {
            ip,
            mac,
            host_ports,
            bridge_ip,
        } => {
            // Service Connect peers reach the task on the emulator's
            // network, whatever subnet it is on (as any task of a VPC
            // reaches any other).
            if let Some(sc) = rec.plan.service_connect.as_mut() {
                sc.address = Some(bridge_ip);
            }
            if task.last_status == Some(TaskStatus::Provisioning) {
                task.last_status = Some(TaskStatus::Pending);
            }
            task.connectivity = Some(Connectivity::Connected);
            task.connectivity_at = Some(now);
            let region = rec.plan.region.clone();
            let mut attachment_id = None;
            for a in task.attachments.iter_mut().flatten() {
                a.status = Some(AttachmentStatus::Attached);
                attachment_id = a.id.clone();
                let subnet = a
                    .details
                    .iter()
                    .flatten()
                    .find(|d| d.name.as_deref() == Some("subnetId"))
                    .and_then(|d| d.value.clone())
                    .unwrap_or_default();
                a.details = Some(vec![
                    KeyValuePair::new("subnetId", subnet),
                    KeyValuePair::new("networkInterfaceId", ids::eni_id()),
                    KeyValuePair::new("macAddress", mac.clone()),
                    KeyValuePair::new(
                        "privateDnsName",
                        format!("ip-{}.{region}.compute.internal", ip.replace('.', "-")),
                    ),
                    KeyValuePair::new("privateIPv4Address", ip.clone()),
                ]);
            }
            let plan = rec.plan.clone();
            for c in task.containers.iter_mut().flatten() {
                c.network_interfaces = Some(vec![NetworkInterface {
                    attachment_id: attachment_id.clone(),
                    private_ipv4_address: Some(ip.clone()),
                    ipv6_address: None,
                }]);
                let name = c.name.clone().unwrap_or_default();
                let bindings: Vec<NetworkBinding> = plan
                    .ports
                    .iter()
                    .filter(|p| p.container == name)
                    .filter_map(|p| {
                        let hp = host_ports.iter().find(|h| {
                            h.container_port == p.container_port && h.protocol == p.protocol
                        })?;
                        Some(NetworkBinding {
                            bind_ip: Some(hp.host_ip.clone()),
                            container_port: Some(i32::from(p.container_port)),
                            host_port: Some(i32::from(hp.host_port)),
                            protocol: Some(p.protocol.clone()),
                        })
                    })
                    .collect();
                c.network_bindings = Some(bindings);
            }
        }
        TaskUpdate::PullStarted => {
            task.pull_started_at.get_or_insert(now);
        }
        TaskUpdate::PullStopped => {
            task.pull_stopped_at.get_or_insert(now);
        }
        TaskUpdate::Image { container, digest } => {
            if let Some(c) = container_mut(task, &container) {
                c.image_digest = digest;
            }
        }
        TaskUpdate::Container {
            container,
            status,
            exit_code,
            reason,
        } => {
            let runtime_id = rec.plan.container(&container).map(|c| c.runtime_id.clone());
            if let Some(c) = container_mut(task, &container) {
                if c.last_status == Some(ContainerStatus::Stopped)
                    && status != ContainerStatus::Stopped
                {
                    return;
                }
                c.last_status = Some(status);
                // Only a container that started has a runtime id: one that
                // failed to start, or was stopped while it waited for a
                // dependency, never had a process.
                if status == ContainerStatus::Running {
                    c.runtime_id = runtime_id;
                }
                if exit_code.is_some() {
                    c.exit_code = exit_code;
                }
                if let Some(r) = reason {
                    c.reason = Some(r.chars().take(1024).collect());
                }
            }
        }
        TaskUpdate::Health { container, health } => {
            if let Some(c) = container_mut(task, &container) {
                c.health_status = Some(health);
            }
            let plan = &rec.plan;
            let essential_with_checks = plan
                .containers
                .iter()
                .filter(|c| c.essential && c.health_check.is_some())
                .map(|c| {
                    task.containers
                        .iter()
                        .flatten()
                        .find(|x| x.name.as_deref() == Some(c.name.as_str()))
                        .and_then(|x| x.health_status)
                        .unwrap_or(Health::Unknown)
                });
            task.health_status = Some(task_health(essential_with_checks));
        }
        TaskUpdate::StopRequested { code, reason } => {
            task.desired_status = Some(TaskStatus::Stopped);
            if task.stop_code.is_none() {
                task.stop_code = Some(code);
            }
            if task.stopped_reason.is_none() {
                task.stopped_reason = Some(reason);
            }
            task.stopping_at.get_or_insert(now);
        }
        TaskUpdate::ExecutionStopped => {
            task.execution_stopped_at.get_or_insert(now);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_task_is_placed_in_the_first_mapped_subnet() {
        let mapped: std::collections::BTreeMap<String, String> =
            [("s2".to_string(), "net".to_string())].into();
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            place_in_subnet(&list(&["s1", "s3"]), &mapped),
            ("s1".into(), None)
        );
        assert_eq!(
            place_in_subnet(&list(&["s1", "s2"]), &mapped),
            (
                "s2".into(),
                Some(SubnetNetwork {
                    subnet: "s2".into(),
                    network: "net".into()
                })
            )
        );
        assert_eq!(place_in_subnet(&[], &mapped), (String::new(), None));
    }

    use super::*;

    fn check_enums(body: serde_json::Value, expected: Option<&str>) {
        let req: RunTaskRequest = serde_json::from_value(body).unwrap();
        let got = check_run_task_enums(&req).err().map(|e| e.to_string());
        assert_eq!(got.as_deref(), expected);
    }

    #[test]
    fn run_task_enums() {
        check_enums(serde_json::json!({"launchType": "FARGATE"}), None);
        check_enums(
            serde_json::json!({"propagateTags": "ALL"}),
            Some("propagateTags should be one of [TASK_DEFINITION,SERVICE,NONE]"),
        );
        check_enums(
            serde_json::json!({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s"], "assignPublicIp": "YES"}}}),
            Some("assignPublicIp should be one of [ENABLED,DISABLED]"),
        );
        check_enums(
            serde_json::json!({"placementStrategy": [{"type": "spread"}, {"type": "pack"}]}),
            Some("type should be one of [random,spread,binpack]"),
        );
        check_enums(
            serde_json::json!({"overrides": {"containerOverrides": [{"name": "a", "environmentFiles": [{"value": "v", "type": "ftp"}]}]}}),
            Some("type should be one of [s3]"),
        );
    }

    use crate::services::ecs::model::{ContainerDefinition, TaskDefinition};

    fn definition() -> TaskDefinition {
        TaskDefinition {
            family: Some("f".into()),
            cpu: Some("256".into()),
            memory: Some("512".into()),
            container_definitions: Some(vec![ContainerDefinition {
                name: Some("app".into()),
                image: Some("busybox".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    /// RunTask overrides -> the first refused rule.
    fn check_ov(ov: serde_json::Value, expected: Option<&str>) {
        let ov: TaskOverride = serde_json::from_value(ov.clone()).unwrap();
        let got = check_overrides(&ov, &definition())
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), expected, "{ov:?}");
    }

    #[test]
    fn overrides_are_checked_once_in_order() {
        let no_pair = |c, m| {
            format!(
                "No Fargate configuration exists for given values: {c} CPU, {m} memory. See the Amazon ECS documentation for the valid values."
            )
        };
        check_ov(serde_json::json!({"memory": "1024"}), None);
        check_ov(
            serde_json::json!({"cpu": "0.5 vcpu", "memory": "1GB"}),
            None,
        );
        check_ov(
            serde_json::json!({"cpu": "1024"}),
            Some(&no_pair(1024, 512)),
        );
        check_ov(
            serde_json::json!({"memory": "4096"}),
            Some(&no_pair(256, 4096)),
        );
        check_ov(
            serde_json::json!({"cpu": "lots"}),
            Some("Invalid 'cpu' setting for task."),
        );
        check_ov(
            serde_json::json!({"memory": "0"}),
            Some("Invalid 'memory' setting for task."),
        );
        // The ephemeral storage before the pair.
        check_ov(
            serde_json::json!({"cpu": "1024", "ephemeralStorage": {"sizeInGiB": 10}}),
            Some("The ephemeral storage size must be between 21 and 200 GiB."),
        );
        check_ov(
            serde_json::json!({"containerOverrides": [{"name": "web"}]}),
            Some("Override for container named web is not a container in the TaskDefinition."),
        );
        check_ov(
            serde_json::json!({"containerOverrides": [{"name": "app", "environment": [{"name": " "}]}]}),
            Some("Environment variable name cannot be null or blank."),
        );
    }

    #[test]
    fn task_tags_propagate_and_managed_tags_come_last() {
        let tag = |k: &str, v: &str| Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        };
        let launch = |propagate: Option<&str>, managed: bool| TaskLaunch {
            cluster: "c".into(),
            task_definition: "f".into(),
            count: 1,
            capacity_provider: None,
            group: None,
            started_by: None,
            overrides: None,
            network: NetworkConfiguration::default(),
            platform_version: None,
            tags: vec![tag("a", "request")],
            propagate_tags: propagate.map(String::from),
            enable_ecs_managed_tags: managed,
            enable_execute_command: false,
            client_token: None,
            allow_inactive_definition: false,
            registration: None,
            service_connect: None,
        };
        let td_tags = [tag("a", "definition"), tag("b", "definition")];
        let cases = [
            (launch(None, false), vec![tag("a", "request")]),
            (
                launch(Some("TASK_DEFINITION"), false),
                vec![tag("a", "request"), tag("b", "definition")],
            ),
            (
                launch(Some("TASK_DEFINITION"), true),
                vec![
                    tag("a", "request"),
                    tag("b", "definition"),
                    tag("aws:ecs:clusterName", "c"),
                ],
            ),
            (
                launch(Some("SERVICE"), true),
                vec![tag("a", "request"), tag("aws:ecs:clusterName", "c")],
            ),
        ];
        for (l, want) in cases {
            assert_eq!(task_tags(&l, &td_tags, "c"), want, "{:?}", l.propagate_tags);
        }
    }

    fn record(names: &[&str]) -> TaskRecord {
        let td = TaskDefinition {
            family: Some("f".into()),
            container_definitions: Some(
                names
                    .iter()
                    .map(|n| ContainerDefinition {
                        name: Some(n.to_string()),
                        image: Some("busybox".into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        let plan = plan_task(PlanInput {
            task_definition: &td,
            overrides: None,
            task_arn: "arn:aws:ecs:us-east-1:0:task/c/t".into(),
            task_id: "t".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:0:cluster/c".into(),
            cluster_name: "c".into(),
            region: "us-east-1".into(),
            container_arn: &|n| format!("arn:container/{n}"),
            runtime_id: &|| "t-1234567890".into(),
            enable_execute_command: false,
        });
        let task = Task {
            containers: Some(
                names
                    .iter()
                    .map(|n| Container {
                        name: Some(n.to_string()),
                        last_status: Some(ContainerStatus::Pending),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        TaskRecord {
            task,
            plan,
            client_token: None,
        }
    }

    fn stopped(container: &str, exit_code: Option<i32>, reason: Option<&str>) -> TaskUpdate {
        TaskUpdate::Container {
            container: container.into(),
            status: ContainerStatus::Stopped,
            exit_code,
            reason: reason.map(str::to_string),
        }
    }

    /// (updates, expected runtimeId set?) for one container.
    fn check(updates: Vec<TaskUpdate>, has_runtime_id: bool) {
        let mut rec = record(&["app"]);
        for u in updates.clone() {
            apply(&mut rec, u);
        }
        let c = container_mut(&mut rec.task, "app").unwrap();
        assert_eq!(c.runtime_id.is_some(), has_runtime_id, "{updates:?}");
    }

    #[test]
    fn connectivity_at_is_when_the_task_last_connected() {
        let mut rec = record(&["app"]);
        rec.task.last_status = Some(TaskStatus::Provisioning);
        apply(
            &mut rec,
            TaskUpdate::Provisioned {
                ip: "10.0.0.2".into(),
                mac: "02:00:00:00:00:02".into(),
                host_ports: Vec::new(),
                bridge_ip: "10.0.0.2".into(),
            },
        );
        assert_eq!(rec.task.connectivity, Some(Connectivity::Connected));
        let connected = rec.task.connectivity_at.expect("set when CONNECTED");
        std::thread::sleep(std::time::Duration::from_millis(5));
        apply(&mut rec, TaskUpdate::Status(TaskStatus::Stopped));
        assert_eq!(rec.task.connectivity, Some(Connectivity::Disconnected));
        assert_eq!(rec.task.connectivity_at, Some(connected));
    }

    #[test]
    fn only_a_container_that_started_has_a_runtime_id() {
        let running = TaskUpdate::Container {
            container: "app".into(),
            status: ContainerStatus::Running,
            exit_code: None,
            reason: None,
        };
        check(vec![running.clone()], true);
        check(vec![running, stopped("app", Some(0), None)], true);
        // Stopped while it waited for a dependency (teardown).
        check(vec![stopped("app", None, None)], false);
        // Gave up on a dependency, failed to start, no image.
        check(
            vec![stopped(
                "app",
                Some(143),
                Some("CannotStartContainerError: x"),
            )],
            false,
        );
        check(
            vec![stopped("app", None, Some("CannotPullContainerError: x"))],
            false,
        );
    }

    // ---------------------------------------------------------- re-adoption

    use crate::runtime::fake::FakeRuntime;
    use crate::runtime::supervisor::container_name;
    use crate::services::ecs::test_support::{caller, ecs_on, req};

    async fn wait_for(ecs: &Ecs, arn: &str, what: impl Fn(&Task) -> bool) -> Task {
        for _ in 0..500 {
            let out = ecs
                .describe_tasks(
                    &caller(),
                    req(serde_json::json!({"cluster": "c", "tasks": [arn]})),
                )
                .unwrap();
            if what(&out.tasks[0]) {
                return out.tasks[0].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("task {arn} never got there");
    }

    #[tokio::test]
    async fn stop_task_before_re_adoption_still_stops_the_containers() {
        let dir = std::env::temp_dir().join(format!("fargate-local-test-{}", ids::task_id()));
        let engine = FakeRuntime::default();

        // First life: a running task, then the process dies (its supervisors
        // vanish, its containers stay).
        let (ecs, runtime) = ecs_on(&dir, &engine);
        ecs.create_cluster(&caller(), req(serde_json::json!({"clusterName": "c"})))
            .unwrap();
        ecs.register_task_definition(
            &caller(),
            req(serde_json::json!({
                "family": "f", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                "cpu": "256", "memory": "512",
                "containerDefinitions": [{"name": "app", "image": "busybox"}]
            })),
            0,
        )
        .unwrap();
        let run = ecs
            .run_task(
                &caller(),
                req(serde_json::json!({
                    "cluster": "c", "taskDefinition": "f", "launchType": "FARGATE",
                    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}
                })),
            )
            .unwrap();
        let arn = run.tasks[0].task_arn.clone().unwrap();
        let id = arn.rsplit('/').next().unwrap().to_string();
        wait_for(&ecs, &arn, |t| t.last_status == Some(TaskStatus::Running)).await;
        runtime.abort_all();
        drop(ecs);
        let app = container_name(&id, "app");
        assert!(engine.running(&app));

        // Second life: StopTask arrives before recover() has adopted it.
        let (ecs, _runtime) = ecs_on(&dir, &engine);
        ecs.stop_task(
            &caller(),
            req(serde_json::json!({"cluster": "c", "task": arn, "reason": "bye"})),
        )
        .unwrap();
        let t = wait_for(&ecs, &arn, |_| true).await;
        assert_eq!(
            t.last_status,
            Some(TaskStatus::Running),
            "not over while its container runs"
        );
        assert_eq!(t.desired_status, Some(TaskStatus::Stopped));
        assert!(engine.running(&app));

        ecs.recover().await;
        let t = wait_for(&ecs, &arn, |t| t.last_status == Some(TaskStatus::Stopped)).await;
        assert_eq!(t.stopped_reason.as_deref(), Some("bye"));
        assert_eq!(t.stop_code, Some(StopCode::UserInitiated));
        let c = &t.containers.as_ref().unwrap()[0];
        assert_eq!(c.exit_code, Some(143), "stopped for real");
        assert_eq!(engine.count(), 0, "and removed");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
