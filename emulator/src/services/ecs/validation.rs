//! RegisterTaskDefinition validation and normalisation for Fargate, with the
//! messages AWS sends. Pure: a request in, a normalised task definition or an
//! `EcsError` out.

use std::collections::HashSet;

use serde_json::Value;

use super::EcsError;
use super::model::{ContainerDefinition, HealthCheck, Tag, TaskDefinition, enums};
use super::planning::{parse_cpu, parse_memory};
use crate::services::kit::tags::{self, TagRules};

type Result<T> = std::result::Result<T, EcsError>;

/// 1 to 255 letters, digits, hyphens and underscores: families, container
/// names, cluster names.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// ECS's tag limits: AWS's usual ones, and the same key twice in one
/// request is refused.
pub const TAG_RULES: TagRules = TagRules {
    refuse_duplicates: true,
    ..tags::AWS
};

/// Tags a request gives a new resource (CreateCluster, RunTask, ...).
pub fn check_tags(list: &[Tag]) -> Result<()> {
    Ok(tags::validate(list, &TAG_RULES)?)
}

/// A request member whose model shape is an enum. ECS refuses a value
/// outside the list with InvalidParameterException "<member> should be one
/// of [A,B]", the values comma-joined in the model's order: real output
/// quoted in hashicorp/terraform-provider-aws#23342 reads "include should be
/// one of [ATTACHMENTS,SETTINGS,STATISTICS,TAGS]". A nested member is named
/// by its own member name (no real sample of a nested one was found).
pub fn check_enum(member: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(EcsError::invalid(format!(
        "{member} should be one of [{}]",
        allowed.join(",")
    )))
}

pub fn check_enum_opt(member: &str, value: Option<&str>, allowed: &[&str]) -> Result<()> {
    value.map_or(Ok(()), |v| check_enum(member, v, allowed))
}

pub fn check_enum_list(member: &str, values: Option<&[String]>, allowed: &[&str]) -> Result<()> {
    values
        .unwrap_or_default()
        .iter()
        .try_for_each(|v| check_enum(member, v, allowed))
}

/// The enum members inside a sub-shape the emulator keeps as plain JSON
/// (volume configurations, placement constraints, ...). `path` walks
/// objects by key and arrays with "*"; the member is the last key.
pub fn check_enum_in(value: Option<&Value>, path: &[&str], allowed: &[&str]) -> Result<()> {
    let Some(value) = value else { return Ok(()) };
    match path {
        [] => Ok(()),
        ["*", rest @ ..] => value
            .as_array()
            .into_iter()
            .flatten()
            .try_for_each(|v| check_enum_in(Some(v), rest, allowed)),
        [member] => match value.get(member) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(v)) => check_enum(member, v, allowed),
            Some(_) => check_enum(member, "", allowed),
        },
        [key, rest @ ..] => check_enum_in(value.get(key), rest, allowed),
    }
}

/// Every enum member of a RegisterTaskDefinition request. Checked before
/// any other rule, as the service checks the request's shape first, and so
/// that nothing outside the model is ever stored and echoed back.
fn check_task_definition_enums(td: &TaskDefinition) -> Result<()> {
    check_enum_opt(
        "networkMode",
        td.network_mode.as_deref(),
        enums::NETWORK_MODE,
    )?;
    check_enum_list(
        "requiresCompatibilities",
        td.requires_compatibilities.as_deref(),
        enums::COMPATIBILITY,
    )?;
    check_enum_opt("pidMode", td.pid_mode.as_deref(), enums::PID_MODE)?;
    check_enum_opt("ipcMode", td.ipc_mode.as_deref(), enums::IPC_MODE)?;
    if let Some(p) = &td.runtime_platform {
        check_enum_opt(
            "cpuArchitecture",
            p.cpu_architecture.as_deref(),
            enums::CPU_ARCHITECTURE,
        )?;
        check_enum_opt(
            "operatingSystemFamily",
            p.operating_system_family.as_deref(),
            enums::OS_FAMILY,
        )?;
    }
    for c in td.placement_constraints.iter().flatten() {
        check_enum_in(
            Some(c),
            &["type"],
            enums::TASK_DEFINITION_PLACEMENT_CONSTRAINT_TYPE,
        )?;
    }
    check_enum_in(
        td.trusted_execution_configuration.as_ref(),
        &["isolationMode"],
        enums::ISOLATION_MODE,
    )?;
    check_enum_in(
        td.proxy_configuration.as_ref(),
        &["type"],
        enums::PROXY_CONFIGURATION_TYPE,
    )?;
    for v in td.volumes.iter().flatten() {
        let docker = v.docker_volume_configuration.as_ref();
        check_enum_in(docker, &["scope"], enums::SCOPE)?;
        let efs = v.efs_volume_configuration.as_ref();
        check_enum_in(efs, &["transitEncryption"], enums::EFS_TRANSIT_ENCRYPTION)?;
        check_enum_in(
            efs,
            &["authorizationConfig", "iam"],
            enums::EFS_AUTHORIZATION_CONFIG_IAM,
        )?;
    }
    for c in td.container_definitions.iter().flatten() {
        for pm in c.port_mappings.iter().flatten() {
            check_enum_opt(
                "protocol",
                pm.protocol.as_deref(),
                enums::TRANSPORT_PROTOCOL,
            )?;
            check_enum_opt(
                "appProtocol",
                pm.app_protocol.as_deref(),
                enums::APPLICATION_PROTOCOL,
            )?;
        }
        for d in c.depends_on.iter().flatten() {
            check_enum("condition", &d.condition, enums::CONTAINER_CONDITION)?;
        }
        if let Some(log) = &c.log_configuration {
            check_enum("logDriver", &log.log_driver, enums::LOG_DRIVER)?;
        }
        for u in c.ulimits.iter().flatten() {
            check_enum("name", &u.name, enums::ULIMIT_NAME)?;
        }
        for f in c.environment_files.iter().flatten() {
            check_enum("type", &f.kind, enums::ENVIRONMENT_FILE_TYPE)?;
        }
        check_enum_opt(
            "versionConsistency",
            c.version_consistency.as_deref(),
            enums::VERSION_CONSISTENCY,
        )?;
        check_enum_in(
            c.resource_requirements.as_ref(),
            &["*", "type"],
            enums::RESOURCE_TYPE,
        )?;
        if let Some(f) = &c.firelens_configuration {
            check_enum("type", &f.kind, enums::FIRELENS_CONFIGURATION_TYPE)?;
        }
    }
    Ok(())
}

/// The valid Fargate (cpu units, memory MiB) pairs.
pub fn fargate_pair_valid(cpu: u32, memory: u32) -> bool {
    let range = |lo: u32, hi: u32, step: u32| {
        memory >= lo && memory <= hi && (memory - lo).is_multiple_of(step)
    };
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => false,
    }
}

pub fn is_ecr_image(image: &str) -> bool {
    crate::runtime::docker::ecr_local_name(image).is_some()
}

fn client(msg: impl Into<String>) -> EcsError {
    EcsError::client(msg)
}

fn check_container(c: &ContainerDefinition, awsvpc: bool, fargate: bool) -> Result<()> {
    let name = c.name.as_deref().unwrap_or("");
    if name.is_empty() {
        return Err(client("Container.name should not be null or empty."));
    }
    if !valid_name(name) {
        return Err(client("Container.name contains invalid characters."));
    }
    if c.image.as_deref().unwrap_or("").trim().is_empty() {
        return Err(client("Container.image should not be null or empty."));
    }
    if c.cpu.is_some_and(|v| v < 0) {
        return Err(client(format!(
            "Invalid 'cpu' setting for container '{name}'."
        )));
    }
    if c.memory.is_some_and(|v| v < 6) {
        return Err(client(format!(
            "Invalid 'memory' setting for container '{name}'. The minimum is 6 MiB."
        )));
    }
    if let (Some(m), Some(r)) = (c.memory, c.memory_reservation)
        && r > m
    {
        return Err(client(format!(
            "Invalid 'memoryReservation' setting for container '{name}'. memoryReservation must be less than or equal to memory."
        )));
    }
    for pm in c.port_mappings.iter().flatten() {
        let port = pm.container_port.unwrap_or(0);
        if pm.container_port_range.is_none() && !(1..=65535).contains(&port) {
            return Err(client(format!(
                "Invalid 'containerPort' setting for container '{name}'."
            )));
        }
        if awsvpc
            && let Some(hp) = pm.host_port
            && hp != port
            && pm.container_port_range.is_none()
        {
            return Err(client(
                "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
            ));
        }
    }
    if awsvpc {
        if c.hostname.is_some() {
            return Err(client(
                "hostname is not supported on container when networkMode=awsvpc.",
            ));
        }
        if c.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(client("links are not supported when networkMode=awsvpc."));
        }
    }
    if fargate && c.privileged == Some(true) {
        return Err(client(
            "Fargate does not support privileged containers. Remove the privileged parameter and try again.",
        ));
    }
    for (what, v) in [
        ("startTimeout", c.start_timeout),
        ("stopTimeout", c.stop_timeout),
    ] {
        if let Some(v) = v
            && fargate
            && !(2..=120).contains(&v)
        {
            return Err(client(format!(
                "Invalid '{what}' setting for container '{name}'. For Fargate the value must be between 2 and 120 seconds."
            )));
        }
    }
    if let Some(h) = &c.health_check {
        check_health_check(h, name)?;
    }
    for u in c.ulimits.iter().flatten() {
        if u.soft_limit > u.hard_limit {
            return Err(client(format!(
                "Invalid ulimit '{}' for container '{name}': the soft limit cannot exceed the hard limit.",
                u.name
            )));
        }
    }
    check_environment(c)?;
    if c.environment_files.as_ref().is_some_and(|f| f.len() > 10) {
        return Err(client(format!(
            "Too many environment files for container '{name}'. A container can have up to 10 environment files."
        )));
    }
    Ok(())
}

/// A container's health check: CMD or CMD-SHELL and a command, or NONE;
/// the timings within AWS's ranges.
fn check_health_check(h: &HealthCheck, name: &str) -> Result<()> {
    match h.command.first().map(String::as_str) {
        Some("CMD" | "CMD-SHELL") if h.command.len() >= 2 => {}
        Some("NONE") => {}
        _ => {
            return Err(client(format!(
                "Invalid 'healthCheck' setting for container '{name}'. The command must start with CMD or CMD-SHELL."
            )));
        }
    }
    let ranges = [
        ("interval", h.interval, 5, 300),
        ("timeout", h.timeout, 2, 60),
        ("retries", h.retries, 1, 10),
        ("startPeriod", h.start_period, 0, 300),
    ];
    for (what, v, lo, hi) in ranges {
        if let Some(v) = v
            && !(lo..=hi).contains(&v)
        {
            return Err(client(format!(
                "Invalid 'healthCheck.{what}' setting for container '{name}'. It must be between {lo} and {hi}."
            )));
        }
    }
    Ok(())
}

/// Environment variable names are not blank; secret names are unique and
/// not also variables.
fn check_environment(c: &ContainerDefinition) -> Result<()> {
    let mut env_names = HashSet::new();
    for kv in c.environment.iter().flatten() {
        let n = kv.name.as_deref().unwrap_or("");
        if n.trim().is_empty() {
            return Err(client("Environment variable name cannot be null or blank."));
        }
        env_names.insert(n);
    }
    let mut secret_names = HashSet::new();
    for s in c.secrets.iter().flatten() {
        if !secret_names.insert(s.name.as_str()) {
            return Err(client(format!(
                "Duplicate secret names found: {}. Each secret name must be unique.",
                s.name
            )));
        }
        if env_names.contains(s.name.as_str()) {
            return Err(client(format!(
                "The secret name must be unique and not shared with any new or existing environment variables set on the container, such as '{}'.",
                s.name
            )));
        }
    }
    Ok(())
}

/// Checks a RegisterTaskDefinition request and fills in the defaults AWS
/// fills in. `td` holds the request's members; the caller sets the ARN,
/// revision, status and registration fields. The checks run in the order
/// the service makes them, so the first refused rule is the one reported.
pub fn normalize_task_definition(mut td: TaskDefinition, raw_len: usize) -> Result<TaskDefinition> {
    if raw_len > 65536 {
        return Err(client(format!(
            "Actual length: '{raw_len}'. Max allowed length is '65536' bytes."
        )));
    }
    check_task_definition_enums(&td)?;
    check_family(td.family.as_deref().unwrap_or_default())?;
    let requires = td.requires_compatibilities.clone().unwrap_or_default();
    let fargate = requires.iter().any(|r| r == "FARGATE");
    let network_mode = td.network_mode.clone().unwrap_or_else(|| "bridge".into());
    let awsvpc = network_mode == "awsvpc";
    let containers = td.container_definitions.clone().unwrap_or_default();
    if containers.is_empty() {
        return Err(client("Container list cannot be empty."));
    }
    if containers.len() > 10 {
        return Err(client("Too many containers."));
    }
    if fargate {
        check_fargate_task(&td, awsvpc)?;
    }
    let (cpu, memory) = task_size(&td, fargate)?;
    // Task-level cpu and memory are stored as unit and MiB strings.
    td.cpu = cpu.map(|c| c.to_string());
    td.memory = memory.map(|m| m.to_string());
    let names = check_containers(&td, &containers, awsvpc, fargate)?;
    check_firelens(&containers, fargate)?;
    check_container_sizes(&containers, cpu, memory, fargate)?;
    check_dependencies(&containers)?;
    check_volumes(&td, &containers, &names, fargate)?;

    td.container_definitions = Some(with_defaults(containers, awsvpc, fargate));
    td.network_mode = Some(network_mode);
    td.volumes.get_or_insert_with(Vec::new);
    td.placement_constraints.get_or_insert_with(Vec::new);
    td.requires_compatibilities = Some(requires);
    Ok(td)
}

fn check_family(family: &str) -> Result<()> {
    if family.trim().is_empty() {
        return Err(client("Family can not be blank."));
    }
    if !valid_name(family) {
        return Err(client("Family contains invalid characters."));
    }
    Ok(())
}

/// The task-level rules of a definition that requires FARGATE.
fn check_fargate_task(td: &TaskDefinition, awsvpc: bool) -> Result<()> {
    if !awsvpc {
        return Err(client(
            "Fargate only supports network mode \u{2018}awsvpc\u{2019}.",
        ));
    }
    if td.cpu.is_none() {
        return Err(client(
            "Fargate requires that 'cpu' be defined at the task level.",
        ));
    }
    if td.memory.is_none() {
        return Err(client(
            "Fargate requires that 'memory' be defined at the task level.",
        ));
    }
    if td.ipc_mode.is_some() {
        return Err(client(
            "Tasks using the Fargate launch type do not support ipcMode.",
        ));
    }
    if let Some(p) = td.pid_mode.as_deref()
        && p != "task"
    {
        return Err(client(format!(
            "Tasks using the Fargate launch type do not support pidMode '{p}'. The supported value for pidMode is 'task'."
        )));
    }
    Ok(())
}

/// The task's cpu units and memory MiB, parsed; on Fargate a valid pair.
/// Also the ephemeral storage size.
fn task_size(td: &TaskDefinition, fargate: bool) -> Result<(Option<u32>, Option<u32>)> {
    let cpu = match td.cpu.as_deref() {
        None => None,
        Some(s) => Some(parse_cpu(s).ok_or_else(|| client("Invalid 'cpu' setting for task."))?),
    };
    let memory = match td.memory.as_deref() {
        None => None,
        Some(s) => {
            Some(parse_memory(s).ok_or_else(|| client("Invalid 'memory' setting for task."))?)
        }
    };
    if fargate {
        let (c, m) = (cpu.unwrap_or(0), memory.unwrap_or(0));
        if !fargate_pair_valid(c, m) {
            return Err(client(format!(
                "No Fargate configuration exists for given values: {c} CPU, {m} memory. See the Amazon ECS documentation for the valid values."
            )));
        }
    }
    if let Some(e) = &td.ephemeral_storage
        && !(21..=200).contains(&e.size_in_gib)
    {
        return Err(client(
            "The ephemeral storage size must be between 21 and 200 GiB.",
        ));
    }
    Ok((cpu, memory))
}

/// Each container's own rules, names unique, and what a container needs of
/// the task (an execution role for ECR images, awslogs and secrets on
/// Fargate). Returns the container names.
fn check_containers(
    td: &TaskDefinition,
    containers: &[ContainerDefinition],
    awsvpc: bool,
    fargate: bool,
) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    for c in containers {
        check_container(c, awsvpc, fargate)?;
        let name = c.name.as_deref().unwrap_or("");
        if !names.insert(name.to_string()) {
            return Err(client(format!(
                "Duplicate container name '{name}'. Container names must be unique within a task definition."
            )));
        }
        check_repository_credentials(td, c)?;
        if fargate
            && is_ecr_image(c.image.as_deref().unwrap_or(""))
            && td.execution_role_arn.is_none()
        {
            return Err(client(
                "Fargate requires task definition to have execution role ARN to support ECR images.",
            ));
        }
        if let Some(log) = &c.log_configuration {
            if fargate && !["awslogs", "splunk", "awsfirelens"].contains(&log.log_driver.as_str()) {
                return Err(client(format!(
                    "Fargate only supports log drivers awslogs, splunk and awsfirelens; '{}' is not supported.",
                    log.log_driver
                )));
            }
            if log.log_driver == "awslogs" {
                if fargate && td.execution_role_arn.is_none() {
                    return Err(client(
                        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
                    ));
                }
                let opts = log.options.clone().unwrap_or_default();
                let missing: Vec<&str> = ["awslogs-region", "awslogs-group"]
                    .into_iter()
                    .filter(|k| !opts.contains_key(*k))
                    .collect();
                if !missing.is_empty() {
                    return Err(client(format!(
                        "Log driver awslogs requires options: {}",
                        missing.join(", ")
                    )));
                }
            }
        }
        if c.secrets.as_ref().is_some_and(|s| !s.is_empty())
            && fargate
            && td.execution_role_arn.is_none()
        {
            return Err(client(
                "Fargate requires task definition to have execution role ARN to support secrets.",
            ));
        }
    }
    Ok(names)
}

/// A container's `repositoryCredentials` (private registry authentication,
/// on every launch type): not for an ECR image, whose pull the execution
/// role authorizes (checked first: a console-made definition with an ECR
/// image, an empty `credentialsParameter` and no execution role got this
/// text, aws-actions/amazon-ecs-deploy-task-definition#48 and #52); a
/// secret named (the model requires `credentialsParameter`; the SDKs check
/// it before sending, so the text, in the shape of ECS's
/// `Container.image should not be null or empty.`, is the emulator's); and
/// an execution role to read it with (sil-org/ecs-deploy#188). Any
/// non-empty value is accepted: a name or an ARN of a secret, perhaps in
/// another account, read only at launch.
fn check_repository_credentials(td: &TaskDefinition, c: &ContainerDefinition) -> Result<()> {
    let Some(credentials) = &c.repository_credentials else {
        return Ok(());
    };
    if is_ecr_image(c.image.as_deref().unwrap_or("")) {
        return Err(client(
            "Private repository credentials are not a supported authentication method for ECR repositories.",
        ));
    }
    let parameter = credentials
        .get("credentialsParameter")
        .and_then(Value::as_str)
        .unwrap_or("");
    if parameter.trim().is_empty() {
        return Err(client(
            "RepositoryCredentials.credentialsParameter should not be null or empty.",
        ));
    }
    if td.execution_role_arn.is_none() {
        return Err(client(
            "Private repository authentication requires that the task definition specify a value for executionRoleArn.",
        ));
    }
    Ok(())
}

/// The FireLens rules: a router needs a container that logs to it and the
/// other way round, at most one router, and no S3 config on Fargate.
fn check_firelens(containers: &[ContainerDefinition], fargate: bool) -> Result<()> {
    let uses_firelens = containers.iter().any(|c| {
        c.log_configuration
            .as_ref()
            .is_some_and(|l| l.log_driver == "awsfirelens")
    });
    let routers = containers
        .iter()
        .filter(|c| c.firelens_configuration.is_some())
        .count();
    if routers > 0 && !uses_firelens {
        return Err(client(
            "When a firelensConfiguration object is specified, at least one container has to be configured with the awsfirelens log driver.",
        ));
    }
    if uses_firelens && routers == 0 {
        return Err(client(
            "When awsfirelens log driver is specified in log configuration, a firelens configuration object must be configured in one of the containers.",
        ));
    }
    if routers > 1 {
        return Err(client(
            "At most one container in a task definition can have a firelensConfiguration.",
        ));
    }
    // Fargate takes only a config file in the image; an S3 config is
    // refused with this (misleading) message, even with a well-formed ARN.
    if fargate
        && containers.iter().any(|c| {
            c.firelens_configuration
                .as_ref()
                .and_then(|f| f.options.as_ref())
                .and_then(|o| o.get("config-file-type"))
                .is_some_and(|t| t == "s3")
        })
    {
        return Err(client("Invalid arn syntax."));
    }
    Ok(())
}

/// Container cpu and memory against the task's.
fn check_container_sizes(
    containers: &[ContainerDefinition],
    cpu: Option<u32>,
    memory: Option<u32>,
    fargate: bool,
) -> Result<()> {
    if let Some(sum) = containers
        .iter()
        .map(|c| c.cpu.unwrap_or(0).max(0) as u64)
        .reduce(|a, b| a + b)
        && let Some(task_cpu) = cpu
        && sum > u64::from(task_cpu)
    {
        return Err(client(
            "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
        ));
    }
    if let Some(task_mem) = memory {
        for c in containers {
            let m = c.memory.or(c.memory_reservation).unwrap_or(0).max(0) as u32;
            if m > task_mem {
                return Err(client(format!(
                    "Invalid 'memory' setting for container '{}'. The container memory must not exceed the task memory.",
                    c.name.as_deref().unwrap_or("")
                )));
            }
        }
    } else if !fargate {
        for c in containers {
            if c.memory.is_none() && c.memory_reservation.is_none() {
                return Err(client(format!(
                    "Invalid setting for container '{}'. At least one of 'memory' or 'memoryReservation' must be specified.",
                    c.name.as_deref().unwrap_or("")
                )));
            }
        }
    }
    Ok(())
}

/// At least one essential container, and `dependsOn` naming existing
/// containers, not themselves, without a cycle.
fn check_dependencies(containers: &[ContainerDefinition]) -> Result<()> {
    if !containers.iter().any(|c| c.essential.unwrap_or(true)) {
        return Err(client(
            "Task definition doesn't have any essential container.",
        ));
    }
    for c in containers {
        for d in c.depends_on.iter().flatten() {
            let Some(target) = containers
                .iter()
                .find(|o| o.name.as_deref() == Some(d.container_name.as_str()))
            else {
                return Err(client(format!(
                    "Cannot depend on container + '{}' because it does not exist",
                    d.container_name
                )));
            };
            // The condition itself was checked by check_task_definition_enums.
            if matches!(d.condition.as_str(), "COMPLETE" | "SUCCESS")
                && target.essential.unwrap_or(true)
            {
                return Err(client(
                    "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                ));
            }
            if d.container_name == c.name.as_deref().unwrap_or("") {
                return Err(client(format!(
                    "Container '{}' cannot depend on itself.",
                    d.container_name
                )));
            }
        }
    }
    if has_cycle(containers) {
        return Err(client("The container dependencies contain a cycle."));
    }
    Ok(())
}

/// Volume names, host paths on Fargate, and the volumes and containers
/// that `mountPoints` and `volumesFrom` name.
fn check_volumes(
    td: &TaskDefinition,
    containers: &[ContainerDefinition],
    names: &HashSet<String>,
    fargate: bool,
) -> Result<()> {
    let volume_names: HashSet<String> = td
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.name.clone())
        .collect();
    for v in td.volumes.iter().flatten() {
        let n = v.name.as_deref().unwrap_or("");
        if !valid_name(n) {
            return Err(client(
                "Volume name contains invalid characters or is empty.",
            ));
        }
        if fargate
            && v.host
                .as_ref()
                .is_some_and(|h| h.get("sourcePath").is_some())
        {
            return Err(client(
                "Fargate compatible task definitions do not support sourcePath in host volumes.",
            ));
        }
    }
    for c in containers {
        for m in c.mount_points.iter().flatten() {
            let src = m.source_volume.as_deref().unwrap_or("");
            if !volume_names.contains(src) {
                return Err(client(format!(
                    "Invalid 'mountPoints' setting for container '{}'. Volume '{src}' is not defined in the task definition.",
                    c.name.as_deref().unwrap_or("")
                )));
            }
        }
        for vf in c.volumes_from.iter().flatten() {
            let src = vf.source_container.as_deref().unwrap_or("");
            if !names.contains(src) {
                return Err(client(format!(
                    "Invalid 'volumesFrom' setting for container '{}'. Container '{src}' does not exist.",
                    c.name.as_deref().unwrap_or("")
                )));
            }
        }
    }

    Ok(())
}

/// The container defaults AWS fills in and echoes.
fn with_defaults(
    mut containers: Vec<ContainerDefinition>,
    awsvpc: bool,
    fargate: bool,
) -> Vec<ContainerDefinition> {
    for c in &mut containers {
        if c.essential.is_none() {
            c.essential = Some(true);
        }
        for pm in c.port_mappings.iter_mut().flatten() {
            if awsvpc && pm.host_port.is_none() && pm.container_port_range.is_none() {
                pm.host_port = pm.container_port;
            }
            if pm.protocol.is_none() {
                pm.protocol = Some("tcp".into());
            }
        }
        // AWS echoes these lists as empty when they were not given.
        c.port_mappings.get_or_insert_with(Vec::new);
        c.environment.get_or_insert_with(Vec::new);
        c.mount_points.get_or_insert_with(Vec::new);
        c.volumes_from.get_or_insert_with(Vec::new);
        if c.cpu.is_none() {
            c.cpu = Some(0);
        }
        if fargate {
            c.system_controls
                .get_or_insert(serde_json::Value::Array(Vec::new()));
        }
    }
    containers
}

fn has_cycle(containers: &[ContainerDefinition]) -> bool {
    fn visit(
        name: &str,
        containers: &[ContainerDefinition],
        stack: &mut Vec<String>,
        done: &mut HashSet<String>,
    ) -> bool {
        if stack.iter().any(|s| s == name) {
            return true;
        }
        if done.contains(name) {
            return false;
        }
        stack.push(name.to_string());
        let c = containers.iter().find(|c| c.name.as_deref() == Some(name));
        for d in c.and_then(|c| c.depends_on.as_ref()).into_iter().flatten() {
            if visit(&d.container_name, containers, stack, done) {
                return true;
            }
        }
        stack.pop();
        done.insert(name.to_string());
        false
    }
    let mut done = HashSet::new();
    containers.iter().any(|c| {
        visit(
            c.name.as_deref().unwrap_or(""),
            containers,
            &mut Vec::new(),
            &mut done,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ecs::model::{ContainerDependency, LogConfiguration, PortMapping};
    use crate::services::kit::AwsError;

    fn base() -> TaskDefinition {
        TaskDefinition {
            family: Some("web".into()),
            network_mode: Some("awsvpc".into()),
            requires_compatibilities: Some(vec!["FARGATE".into()]),
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

    fn check(f: impl FnOnce(&mut TaskDefinition), expected: Option<&str>) {
        let mut td = base();
        f(&mut td);
        let got = normalize_task_definition(td, 100)
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), expected);
    }

    fn c0(td: &mut TaskDefinition) -> &mut ContainerDefinition {
        &mut td.container_definitions.as_mut().unwrap()[0]
    }

    #[test]
    fn repository_credentials() {
        let creds =
            |v: Value| move |td: &mut TaskDefinition| c0(td).repository_credentials = Some(v);
        let with_role = |v: Value| {
            move |td: &mut TaskDefinition| {
                td.execution_role_arn = Some("exec".into());
                c0(td).repository_credentials = Some(v);
            }
        };
        let secret = || serde_json::json!({"credentialsParameter": "registry"});
        check(with_role(secret()), None);
        check(
            creds(secret()),
            Some(
                "Private repository authentication requires that the task definition specify a value for executionRoleArn.",
            ),
        );
        let blank = "RepositoryCredentials.credentialsParameter should not be null or empty.";
        for v in [
            serde_json::json!({}),
            serde_json::json!({"credentialsParameter": ""}),
            serde_json::json!({"credentialsParameter": 7}),
            serde_json::json!("registry"),
        ] {
            check(with_role(v), Some(blank));
        }
        // An ECR image is refused first, whatever else is wrong.
        check(
            |td| {
                td.requires_compatibilities = Some(vec!["EC2".into()]);
                c0(td).image =
                    Some("848213930039.dkr.ecr.us-east-2.amazonaws.com/app:latest".into());
                c0(td).repository_credentials =
                    Some(serde_json::json!({"credentialsParameter": ""}));
            },
            Some(
                "Private repository credentials are not a supported authentication method for ECR repositories.",
            ),
        );
    }

    #[test]
    fn fargate_rules() {
        check(|_| {}, None);
        check(
            |td| td.network_mode = None,
            Some("Fargate only supports network mode \u{2018}awsvpc\u{2019}."),
        );
        check(
            |td| td.cpu = None,
            Some("Fargate requires that 'cpu' be defined at the task level."),
        );
        check(
            |td| td.memory = Some("256".into()),
            Some(
                "No Fargate configuration exists for given values: 256 CPU, 256 memory. See the Amazon ECS documentation for the valid values.",
            ),
        );
        check(
            |td| td.cpu = Some("1 vCPU".into()),
            Some(
                "No Fargate configuration exists for given values: 1024 CPU, 512 memory. See the Amazon ECS documentation for the valid values.",
            ),
        );
        check(
            |td| td.family = Some("a b".into()),
            Some("Family contains invalid characters."),
        );
        check(
            |td| td.container_definitions = Some(vec![]),
            Some("Container list cannot be empty."),
        );
        check(
            |td| {
                let c = c0(td).clone();
                td.container_definitions = Some(
                    (0..11)
                        .map(|i| ContainerDefinition {
                            name: Some(format!("c{i}")),
                            ..c.clone()
                        })
                        .collect(),
                );
            },
            Some("Too many containers."),
        );
        check(
            |td| c0(td).essential = Some(false),
            Some("Task definition doesn't have any essential container."),
        );
        check(
            |td| c0(td).image = None,
            Some("Container.image should not be null or empty."),
        );
        check(
            |td| c0(td).name = Some("a.b".into()),
            Some("Container.name contains invalid characters."),
        );
        check(
            |td| {
                c0(td).port_mappings = Some(vec![PortMapping {
                    container_port: Some(80),
                    host_port: Some(8080),
                    ..Default::default()
                }])
            },
            Some(
                "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
            ),
        );
        check(
            |td| c0(td).cpu = Some(512),
            Some(
                "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
            ),
        );
        check(
            |td| {
                c0(td).depends_on = Some(vec![ContainerDependency {
                    container_name: "nope".into(),
                    condition: "START".into(),
                }])
            },
            Some("Cannot depend on container + 'nope' because it does not exist"),
        );
        check(
            |td| {
                c0(td).log_configuration = Some(LogConfiguration {
                    log_driver: "awslogs".into(),
                    options: None,
                    secret_options: None,
                })
            },
            Some(
                "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
            ),
        );
        check(
            |td| c0(td).image = Some("1.dkr.ecr.us-east-1.amazonaws.com/web:1".into()),
            Some(
                "Fargate requires task definition to have execution role ARN to support ECR images.",
            ),
        );
        check(
            |td| c0(td).hostname = Some("h".into()),
            Some("hostname is not supported on container when networkMode=awsvpc."),
        );
    }

    /// The later phases: task size, FireLens, container sizes, volumes.
    #[test]
    fn later_phases() {
        use crate::services::ecs::model::{
            EphemeralStorage, FirelensConfiguration, MountPoint, VolumeFrom,
        };
        check(
            |td| {
                td.ephemeral_storage = Some(EphemeralStorage { size_in_gib: 20 });
            },
            Some("The ephemeral storage size must be between 21 and 200 GiB."),
        );
        check(
            |td| {
                c0(td).firelens_configuration = Some(FirelensConfiguration {
                    kind: "fluentbit".into(),
                    options: None,
                })
            },
            Some(
                "When a firelensConfiguration object is specified, at least one container has to be configured with the awsfirelens log driver.",
            ),
        );
        check(
            |td| c0(td).memory = Some(1024),
            Some(
                "Invalid 'memory' setting for container 'app'. The container memory must not exceed the task memory.",
            ),
        );
        check(
            |td| {
                c0(td).mount_points = Some(vec![MountPoint {
                    source_volume: Some("data".into()),
                    container_path: Some("/data".into()),
                    read_only: None,
                }])
            },
            Some(
                "Invalid 'mountPoints' setting for container 'app'. Volume 'data' is not defined in the task definition.",
            ),
        );
        check(
            |td| {
                c0(td).volumes_from = Some(vec![VolumeFrom {
                    source_container: Some("ghost".into()),
                    read_only: None,
                }])
            },
            Some(
                "Invalid 'volumesFrom' setting for container 'app'. Container 'ghost' does not exist.",
            ),
        );
        // The first refused rule wins: the task size before the containers.
        check(
            |td| {
                td.memory = Some("3".into());
                c0(td).image = None;
            },
            Some(
                "No Fargate configuration exists for given values: 256 CPU, 3 memory. See the Amazon ECS documentation for the valid values.",
            ),
        );
        check(
            |td| {
                c0(td).health_check = Some(crate::services::ecs::model::HealthCheck {
                    command: vec!["CMD".into(), "true".into()],
                    interval: Some(1),
                    ..Default::default()
                })
            },
            Some(
                "Invalid 'healthCheck.interval' setting for container 'app'. It must be between 5 and 300.",
            ),
        );
    }

    #[test]
    fn success_dependency_may_not_be_essential() {
        let mut td = base();
        let mut init = c0(&mut td).clone();
        init.name = Some("init".into());
        c0(&mut td).depends_on = Some(vec![ContainerDependency {
            container_name: "init".into(),
            condition: "SUCCESS".into(),
        }]);
        td.container_definitions.as_mut().unwrap().push(init);
        let e = normalize_task_definition(td.clone(), 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
        );
        td.container_definitions.as_mut().unwrap()[1].essential = Some(false);
        assert!(normalize_task_definition(td, 1).is_ok());
    }

    #[test]
    fn defaults_are_filled() {
        let mut td = base();
        c0(&mut td).port_mappings = Some(vec![PortMapping {
            container_port: Some(80),
            ..Default::default()
        }]);
        let td = normalize_task_definition(td, 1).unwrap();
        let c = &td.container_definitions.unwrap()[0];
        assert_eq!(c.essential, Some(true));
        let pm = &c.port_mappings.as_ref().unwrap()[0];
        assert_eq!(
            (pm.host_port, pm.protocol.as_deref()),
            (Some(80), Some("tcp"))
        );
    }

    #[test]
    fn enum_members_are_refused_as_ecs_refuses_them() {
        let msg = |r: Result<()>| r.err().map(|e| (e.code(), e.to_string()));
        assert_eq!(msg(check_enum("include", "TAGS", enums::TASK_FIELD)), None);
        assert_eq!(
            msg(check_enum("include", "ALL", enums::CLUSTER_FIELD)),
            Some((
                "InvalidParameterException",
                "include should be one of [ATTACHMENTS,CONFIGURATIONS,SETTINGS,STATISTICS,TAGS]"
                    .to_string()
            ))
        );
        let list = ["TAGS".to_string(), "X".to_string()];
        assert!(check_enum_list("include", Some(&list), enums::TASK_FIELD).is_err());
        assert!(check_enum_list("include", None, enums::TASK_FIELD).is_ok());
        let cases = [
            (serde_json::json!([{"type": "memberOf"}]), true),
            (
                serde_json::json!([{"type": "memberOf"}, {"type": "x"}]),
                false,
            ),
            (serde_json::json!([{"type": 3}]), false),
            (serde_json::json!([{"expression": "y"}]), true),
            (serde_json::json!({"type": "x"}), true),
        ];
        for (v, ok) in cases {
            let got = check_enum_in(Some(&v), &["*", "type"], &["memberOf"]);
            assert_eq!(got.is_ok(), ok, "{v}");
        }
        let efs = serde_json::json!({"authorizationConfig": {"iam": "MAYBE"}});
        let e = check_enum_in(
            Some(&efs),
            &["authorizationConfig", "iam"],
            enums::EFS_AUTHORIZATION_CONFIG_IAM,
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "iam should be one of [ENABLED,DISABLED]"
        );
    }

    #[test]
    fn task_definition_enums_come_first() {
        check(
            |td| {
                td.network_mode = Some("bridge".into());
                c0(td).port_mappings = Some(vec![PortMapping {
                    container_port: Some(80),
                    protocol: Some("sctp".into()),
                    ..Default::default()
                }]);
            },
            Some("protocol should be one of [tcp,udp]"),
        );
        check(
            |td| td.pid_mode = Some("shared".into()),
            Some("pidMode should be one of [host,task]"),
        );
        check(
            |td| c0(td).version_consistency = Some("sometimes".into()),
            Some("versionConsistency should be one of [enabled,disabled]"),
        );
    }

    #[test]
    fn fargate_pairs() {
        let cases = [
            (256, 512, true),
            (256, 4096, false),
            (512, 3072, true),
            (1024, 8192, true),
            (4096, 30720, true),
            (8192, 20480, true),
            (8192, 18432, false),
            (16384, 40960, true),
            (300, 512, false),
        ];
        for (c, m, ok) in cases {
            assert_eq!(fargate_pair_valid(c, m), ok, "{c}/{m}");
        }
    }
}
