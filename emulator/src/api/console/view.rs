//! What the console's pages show, as plain values: pure functions from the
//! ECS wire types (what DescribeClusters, DescribeServices, DescribeTasks and
//! DescribeTaskDefinition answer) to the rows a template draws. No IO and no
//! HTML here: the handlers in `mod.rs` fetch, `render.rs` draws.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::time::Timestamp;
use crate::services::ecs::model::{Cluster, ContainerDefinition, Task, TaskDefinition};
use crate::services::ecs::service_model::Service;

/// What a masked secret value shows instead of the value.
pub const MASK: &str = "••••••••";

/// How many of a service's events the cluster and service pages show.
pub const EVENTS_SHOWN: usize = 5;

/// One sentence per ECS concept, shown next to the user's objects.
pub const LEGEND: [(&str, &str); 6] = [
    (
        "Cluster",
        "A named place where tasks and services run; on Fargate it is only a grouping, there are no machines to manage.",
    ),
    (
        "Service",
        "The centre of ECS: it keeps a desired number of copies of one task definition running, replacing any that stop.",
    ),
    (
        "Deployment",
        "A service's move from one task definition revision to another, with a rollout state (IN_PROGRESS, COMPLETED, FAILED).",
    ),
    (
        "Task definition",
        "A versioned recipe (family:revision) naming the containers, their images, environment, ports and roles.",
    ),
    (
        "Task",
        "One running copy of a task definition: a few containers sharing a network address, started by a service or by RunTask.",
    ),
    (
        "Container",
        "One process image in a task; if an essential container stops, the whole task stops.",
    ),
];

/// A timestamp as a person reads it, in UTC to the millisecond.
pub fn when(ts: Option<Timestamp>) -> Option<String> {
    let ts = ts?;
    let secs = ts.floor();
    let nanos = ((ts - secs) * 1e9) as u32;
    let t = chrono::DateTime::from_timestamp(secs as i64, nanos.min(999_999_999))?;
    Some(t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
}

/// The last segment of an ARN (`.../name` or `...:name`).
pub fn short(arn: &str) -> &str {
    arn.rsplit(['/', ':'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(arn)
}

/// `family:revision` of a task definition ARN.
pub fn family_revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterRow {
    pub name: String,
    pub status: String,
    pub running: i32,
    pub pending: i32,
    pub services: i32,
}

pub fn cluster_row(c: &Cluster) -> ClusterRow {
    ClusterRow {
        name: c.cluster_name.clone().unwrap_or_default(),
        status: c.status.map(|s| s.to_string()).unwrap_or_default(),
        running: c.running_tasks_count.unwrap_or(0),
        pending: c.pending_tasks_count.unwrap_or(0),
        services: c.active_services_count.unwrap_or(0),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskRow {
    pub id: String,
    pub last_status: String,
    pub desired_status: String,
    pub health: String,
    pub task_definition: String,
    pub started_by: String,
    pub created: Option<String>,
    pub stopped_reason: Option<String>,
}

pub fn task_row(t: &Task) -> TaskRow {
    TaskRow {
        id: short(t.task_arn.as_deref().unwrap_or_default()).to_string(),
        last_status: t.last_status.map(|s| s.to_string()).unwrap_or_default(),
        desired_status: t.desired_status.map(|s| s.to_string()).unwrap_or_default(),
        health: t
            .health_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "UNKNOWN".into()),
        task_definition: family_revision(t.task_definition_arn.as_deref().unwrap_or_default())
            .to_string(),
        started_by: t.started_by.clone().unwrap_or_default(),
        created: when(t.created_at),
        stopped_reason: t.stopped_reason.clone(),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentRow {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
    pub rollout_state: String,
    pub rollout_state_reason: String,
    pub created: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventRow {
    pub at: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceView {
    pub name: String,
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub task_definition: String,
    /// Whether the deployment circuit breaker is on, and whether it rolls back.
    pub circuit_breaker: String,
    pub deployments: Vec<DeploymentRow>,
    /// Newest first, as DescribeServices gives them.
    pub events: Vec<EventRow>,
    pub tasks: Vec<TaskRow>,
}

/// A service with its tasks (those whose `group` is `service:<name>`) and
/// its last `events` events.
pub fn service_view(s: &Service, tasks: &[Task], events: usize) -> ServiceView {
    let name = s.service_name.clone().unwrap_or_default();
    let group = format!("service:{name}");
    let breaker = s
        .deployment_configuration
        .as_ref()
        .and_then(|c| c.deployment_circuit_breaker.as_ref());
    ServiceView {
        status: s.status.map(|s| s.to_string()).unwrap_or_default(),
        desired: s.desired_count.unwrap_or(0),
        running: s.running_count.unwrap_or(0),
        pending: s.pending_count.unwrap_or(0),
        task_definition: family_revision(s.task_definition.as_deref().unwrap_or_default())
            .to_string(),
        circuit_breaker: match breaker {
            Some(b) if b.enable && b.rollback => "on, rolls back".into(),
            Some(b) if b.enable => "on, no rollback".into(),
            _ => "off".into(),
        },
        deployments: s
            .deployments
            .iter()
            .flatten()
            .map(|d| DeploymentRow {
                id: d.id.clone().unwrap_or_default(),
                status: d.status.map(|s| s.to_string()).unwrap_or_default(),
                task_definition: family_revision(d.task_definition.as_deref().unwrap_or_default())
                    .to_string(),
                desired: d.desired_count.unwrap_or(0),
                running: d.running_count.unwrap_or(0),
                pending: d.pending_count.unwrap_or(0),
                failed: d.failed_tasks.unwrap_or(0),
                rollout_state: d.rollout_state.map(|s| s.to_string()).unwrap_or_default(),
                rollout_state_reason: d.rollout_state_reason.clone().unwrap_or_default(),
                created: when(d.created_at),
            })
            .collect(),
        events: s
            .events
            .iter()
            .flatten()
            .take(events)
            .map(|e| EventRow {
                at: when(e.created_at),
                message: e.message.clone().unwrap_or_default(),
            })
            .collect(),
        tasks: tasks
            .iter()
            .filter(|t| t.group.as_deref() == Some(group.as_str()))
            .map(task_row)
            .collect(),
        name,
    }
}

/// Standalone tasks (not started by a service) under the task definition
/// revision they run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RevisionGroup {
    pub task_definition: String,
    pub tasks: Vec<TaskRow>,
}

pub fn standalone_groups(tasks: &[Task]) -> Vec<RevisionGroup> {
    let mut groups: BTreeMap<String, Vec<TaskRow>> = BTreeMap::new();
    for t in tasks {
        if t.group
            .as_deref()
            .is_some_and(|g| g.starts_with("service:"))
        {
            continue;
        }
        let row = task_row(t);
        groups
            .entry(row.task_definition.clone())
            .or_default()
            .push(row);
    }
    groups
        .into_iter()
        .map(|(task_definition, tasks)| RevisionGroup {
            task_definition,
            tasks,
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterPage {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub services: Vec<ServiceView>,
    pub standalone: Vec<RevisionGroup>,
}

pub fn cluster_page(c: &Cluster, services: &[Service], tasks: &[Task]) -> ClusterPage {
    let mut services: Vec<ServiceView> = services
        .iter()
        .map(|s| service_view(s, tasks, EVENTS_SHOWN))
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    ClusterPage {
        name: c.cluster_name.clone().unwrap_or_default(),
        arn: c.cluster_arn.clone().unwrap_or_default(),
        status: c.status.map(|s| s.to_string()).unwrap_or_default(),
        services,
        standalone: standalone_groups(tasks),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    pub status: &'static str,
    pub at: Option<String>,
}

/// The status timeline: each lifecycle step with the time the task reached
/// it, from the timestamps DescribeTasks gives; steps not reached have none.
pub fn timeline(t: &Task) -> Vec<Step> {
    let steps: [(&'static str, Option<Timestamp>); 8] = [
        ("PROVISIONING", t.created_at),
        ("PENDING", t.pull_started_at.or(t.connectivity_at)),
        ("ACTIVATING", t.pull_stopped_at),
        ("RUNNING", t.started_at),
        ("DEACTIVATING", t.stopping_at),
        ("STOPPING", t.stopping_at),
        ("DEPROVISIONING", t.execution_stopped_at),
        ("STOPPED", t.stopped_at),
    ];
    steps
        .into_iter()
        .map(|(status, at)| Step {
            status,
            at: when(at),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvVar {
    pub name: String,
    /// Where the value comes from: the task definition, a RunTask
    /// override, Secrets Manager, SSM Parameter Store or an environment file.
    pub source: String,
    /// The value, or [`MASK`] for a secret; the reference for a secret or a
    /// file.
    pub value: String,
    pub reference: Option<String>,
}

/// Where a secret's `valueFrom` points.
pub fn secret_source(value_from: &str) -> &'static str {
    if value_from.starts_with("arn:aws:secretsmanager:") {
        "Secrets Manager"
    } else {
        "SSM Parameter Store"
    }
}

/// The environment a container is given, by name, with where each value
/// comes from; secret values are never shown.
pub fn environment(def: &ContainerDefinition, overrides: &[(String, String)]) -> Vec<EnvVar> {
    let mut vars: Vec<EnvVar> = Vec::new();
    for kv in def.environment.iter().flatten() {
        let name = kv.name.clone().unwrap_or_default();
        if overrides.iter().any(|(n, _)| *n == name) {
            continue;
        }
        vars.push(EnvVar {
            name,
            source: "task definition".into(),
            value: kv.value.clone().unwrap_or_default(),
            reference: None,
        });
    }
    for (name, value) in overrides {
        vars.push(EnvVar {
            name: name.clone(),
            source: "RunTask override".into(),
            value: value.clone(),
            reference: None,
        });
    }
    for s in def.secrets.iter().flatten() {
        vars.push(EnvVar {
            name: s.name.clone(),
            source: secret_source(&s.value_from).into(),
            value: MASK.into(),
            reference: Some(s.value_from.clone()),
        });
    }
    for f in def.environment_files.iter().flatten() {
        vars.push(EnvVar {
            name: "(every variable in the file)".into(),
            source: format!("environment file ({})", f.kind),
            value: String::new(),
            reference: Some(f.value.clone()),
        });
    }
    vars
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortLink {
    pub container: String,
    pub container_port: i32,
    pub protocol: String,
    pub host_port: i32,
    /// An `http://` link for a TCP port, opened against the host the
    /// console was reached on (published ports bind there).
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub last_status: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub health: String,
    pub essential: bool,
    pub depends_on: Vec<String>,
    pub environment: Vec<EnvVar>,
    /// Where the awslogs driver writes its output, if it logs there.
    pub logs: Option<LogLocation>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskPage {
    pub cluster: String,
    pub id: String,
    pub arn: String,
    pub service: Option<String>,
    pub last_status: String,
    pub desired_status: String,
    pub health: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub task_definition: String,
    pub started_by: String,
    pub timeline: Vec<Step>,
    pub address: Option<String>,
    pub ports: Vec<PortLink>,
    pub containers: Vec<ContainerView>,
    pub task_role: Option<String>,
    pub execution_role: Option<String>,
}

/// The task page: the task as DescribeTasks gives it, the definition it
/// runs (for `dependsOn`, `essential`, the environment and the roles) and
/// the host name the console was reached on (for port links).
pub fn task_page(cluster: &str, t: &Task, td: Option<&TaskDefinition>, host: &str) -> TaskPage {
    let overrides = t.overrides.as_ref();
    let task_arn = t.task_arn.as_deref().unwrap_or_default();
    let task_id = short(task_arn).to_string();
    let task_region = task_arn.split(':').nth(3).unwrap_or_default().to_string();
    let role_override = |f: fn(&crate::services::ecs::model::TaskOverride) -> Option<&String>| {
        overrides.and_then(f).cloned()
    };
    let mut ports = Vec::new();
    let mut containers = Vec::new();
    for c in t.containers.iter().flatten() {
        let name = c.name.clone().unwrap_or_default();
        for b in c.network_bindings.iter().flatten() {
            let (Some(cp), Some(hp)) = (b.container_port, b.host_port) else {
                continue;
            };
            let protocol = b.protocol.clone().unwrap_or_else(|| "tcp".into());
            ports.push(PortLink {
                container: name.clone(),
                container_port: cp,
                url: (protocol == "tcp").then(|| format!("http://{host}:{hp}/")),
                protocol,
                host_port: hp,
            });
        }
        let def = td
            .and_then(|td| td.container_definitions.as_ref())
            .and_then(|defs| defs.iter().find(|d| d.name.as_deref() == Some(&name)));
        let env_overrides: Vec<(String, String)> = overrides
            .and_then(|o| o.container_overrides.as_ref())
            .and_then(|cos| cos.iter().find(|co| co.name.as_deref() == Some(&name)))
            .and_then(|co| co.environment.as_ref())
            .map(|env| {
                env.iter()
                    .map(|kv| {
                        (
                            kv.name.clone().unwrap_or_default(),
                            kv.value.clone().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        containers.push(ContainerView {
            image: c.image.clone().unwrap_or_default(),
            last_status: c.last_status.map(|s| s.to_string()).unwrap_or_default(),
            exit_code: c.exit_code,
            reason: c.reason.clone(),
            health: c
                .health_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
            essential: def.is_none_or(|d| d.essential.unwrap_or(true)),
            depends_on: def
                .and_then(|d| d.depends_on.as_ref())
                .map(|deps| {
                    deps.iter()
                        .map(|d| format!("{} {}", d.container_name, d.condition))
                        .collect()
                })
                .unwrap_or_default(),
            environment: def
                .map(|d| environment(d, &env_overrides))
                .unwrap_or_default(),
            logs: def
                .and_then(|d| awslogs_location(d, c.runtime_id.as_deref(), &task_id, &task_region)),
            name,
        });
    }
    let address = t
        .attachments
        .iter()
        .flatten()
        .flat_map(|a| a.details.iter().flatten())
        .find(|d| d.name.as_deref() == Some("privateIPv4Address"))
        .and_then(|d| d.value.clone());
    TaskPage {
        cluster: cluster.to_string(),
        id: short(t.task_arn.as_deref().unwrap_or_default()).to_string(),
        arn: t.task_arn.clone().unwrap_or_default(),
        service: t
            .group
            .as_deref()
            .and_then(|g| g.strip_prefix("service:"))
            .map(str::to_string),
        last_status: t.last_status.map(|s| s.to_string()).unwrap_or_default(),
        desired_status: t.desired_status.map(|s| s.to_string()).unwrap_or_default(),
        health: t
            .health_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "UNKNOWN".into()),
        stop_code: t.stop_code.map(|s| s.to_string()),
        stopped_reason: t.stopped_reason.clone(),
        task_definition: family_revision(t.task_definition_arn.as_deref().unwrap_or_default())
            .to_string(),
        started_by: t.started_by.clone().unwrap_or_default(),
        timeline: timeline(t),
        address,
        ports,
        containers,
        task_role: role_override(|o| o.task_role_arn.as_ref())
            .or_else(|| td.and_then(|td| td.task_role_arn.clone())),
        execution_role: role_override(|o| o.execution_role_arn.as_ref())
            .or_else(|| td.and_then(|td| td.execution_role_arn.clone())),
    }
}

/// Where the awslogs driver writes a container's output: the group and
/// stream (`<prefix>/<container>/<task id>`, or the container's runtime id
/// without a prefix), in `awslogs-region` or the task's region.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogLocation {
    pub region: String,
    pub group: String,
    pub stream: String,
}

pub fn awslogs_location(
    def: &ContainerDefinition,
    runtime_id: Option<&str>,
    task_id: &str,
    task_region: &str,
) -> Option<LogLocation> {
    let log = def.log_configuration.as_ref()?;
    if log.log_driver != "awslogs" {
        return None;
    }
    let opts = log.options.as_ref()?;
    let name = def.name.as_deref()?;
    let stream = match opts.get("awslogs-stream-prefix") {
        Some(p) => format!("{p}/{name}/{task_id}"),
        None => runtime_id?.to_string(),
    };
    Some(LogLocation {
        region: opts
            .get("awslogs-region")
            .cloned()
            .unwrap_or_else(|| task_region.to_string()),
        group: opts.get("awslogs-group")?.clone(),
        stream,
    })
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogLine {
    pub at: Option<String>,
    pub message: String,
}

/// A CloudWatch Logs timestamp (milliseconds) as a log line shows it.
pub fn log_line(timestamp_ms: i64, message: &str) -> LogLine {
    LogLine {
        at: when(Some(timestamp_ms as f64 / 1000.0)),
        message: message.to_string(),
    }
}

/// One row of a side-by-side diff: the left line, the right line, and
/// whether they are the same, changed, only left or only right.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffRow {
    pub left: Option<String>,
    pub right: Option<String>,
    pub kind: &'static str,
}

/// A side-by-side diff of two texts by lines (longest common subsequence);
/// a removed line next to an added one is shown as one changed row.
pub fn diff_lines(a: &str, b: &str) -> Vec<DiffRow> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut rows: Vec<DiffRow> = Vec::new();
    let (mut removed, mut added): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let flush = |rows: &mut Vec<DiffRow>, removed: &mut Vec<&str>, added: &mut Vec<&str>| {
        let n = removed.len().max(added.len());
        for k in 0..n {
            let (l, r) = (removed.get(k), added.get(k));
            rows.push(DiffRow {
                left: l.map(|s| s.to_string()),
                right: r.map(|s| s.to_string()),
                kind: match (l, r) {
                    (Some(_), Some(_)) => "changed",
                    (Some(_), None) => "removed",
                    _ => "added",
                },
            });
        }
        removed.clear();
        added.clear();
    };
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            flush(&mut rows, &mut removed, &mut added);
            rows.push(DiffRow {
                left: Some(a[i].to_string()),
                right: Some(b[j].to_string()),
                kind: "same",
            });
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            added.push(b[j]);
            j += 1;
        } else {
            removed.push(a[i]);
            i += 1;
        }
    }
    flush(&mut rows, &mut removed, &mut added);
    rows
}

/// A task definition as the diff shows it: its JSON, without what differs
/// between any two revisions (ARN, revision, registration time and
/// principal), which the page shows above the diff.
pub fn definition_text(td: &TaskDefinition) -> String {
    let mut td = td.clone();
    td.task_definition_arn = None;
    td.revision = None;
    td.registered_at = None;
    td.registered_by = None;
    td.deregistered_at = None;
    serde_json::to_string_pretty(&td).unwrap_or_default()
}

/// How many of a task's calls with its role the task page shows: the last.
pub const ROLE_CALLS_SHOWN: usize = 50;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleCall {
    pub time: String,
    pub call: String,
    pub role: String,
    pub error: Option<String>,
}

/// The calls a task made with its task role's credentials, from the
/// request log (which attributes each signed call to its task and role).
pub fn role_calls(entries: &[crate::services::requestlog::Entry], task_arn: &str) -> Vec<RoleCall> {
    let calls: Vec<RoleCall> = entries
        .iter()
        .filter(|e| e.task_arn.as_deref() == Some(task_arn))
        .map(|e| RoleCall {
            time: e.time.clone(),
            call: format!("{}:{}", e.service, e.operation),
            role: e.role_arn.clone().unwrap_or_default(),
            error: e.error.clone(),
        })
        .collect();
    let skip = calls.len().saturating_sub(ROLE_CALLS_SHOWN);
    calls.into_iter().skip(skip).collect()
}

/// One thing ECS does with a task's execution role: the action, on what,
/// and for what, as `serve --iam` judges it when the task starts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExecutionUse {
    pub purpose: String,
    pub action: &'static str,
    pub resource: String,
    /// IAM's decision (filled in by the handler): `allowed`, the denial's
    /// AWS text, or why it is not evaluated.
    pub decision: Option<String>,
    pub denied: bool,
}

/// What ECS uses a task's execution role for, from its definition: an ECR
/// image's registry token and repository, a private registry's
/// `repositoryCredentials` secret, the awslogs driver's log group and
/// stream, each secret (Secrets Manager or SSM Parameter Store, a log
/// driver's `secretOptions` too) and each environment file in S3.
pub fn execution_role_uses(
    td: &TaskDefinition,
    task_id: &str,
    region: &str,
    account: &str,
) -> Vec<ExecutionUse> {
    let mut uses = Vec::new();
    let mut push = |purpose: String, action: &'static str, resource: String| {
        uses.push(ExecutionUse {
            purpose,
            action,
            resource,
            decision: None,
            denied: false,
        })
    };
    for def in td.container_definitions.iter().flatten() {
        let name = def.name.clone().unwrap_or_default();
        let image = def.image.clone().unwrap_or_default();
        if let Some(ecr) = crate::services::taskconfig::registry::ecr_image(&image) {
            push(
                format!("{name}: the registry token for {}", ecr.host),
                "ecr:GetAuthorizationToken",
                "*".into(),
            );
            for action in [
                "ecr:BatchGetImage",
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
            ] {
                push(
                    format!("{name}: pull {}", ecr.qualified()),
                    action,
                    ecr.repository_arn(),
                );
            }
        }
        if let Some(secret) = def
            .repository_credentials
            .as_ref()
            .and_then(|r| r.get("credentialsParameter"))
            .and_then(|p| p.as_str())
        {
            push(
                format!("{name}: the registry credentials for {image}"),
                "secretsmanager:GetSecretValue",
                secret.to_string(),
            );
        }
        if let Some(loc) = awslogs_location(def, Some("<container id>"), task_id, region) {
            let group_arn = format!(
                "arn:aws:logs:{}:{account}:log-group:{}:log-stream:",
                loc.region, loc.group
            );
            let opts = def
                .log_configuration
                .as_ref()
                .and_then(|l| l.options.as_ref());
            if opts
                .and_then(|o| o.get("awslogs-create-group"))
                .is_some_and(|v| v == "true")
            {
                push(
                    format!("{name}: create the log group {}", loc.group),
                    "logs:CreateLogGroup",
                    group_arn.clone(),
                );
            }
            push(
                format!("{name}: create the log stream {}", loc.stream),
                "logs:CreateLogStream",
                format!("{group_arn}{}", loc.stream),
            );
            push(
                format!("{name}: send its output to {}", loc.stream),
                "logs:PutLogEvents",
                format!("{group_arn}{}", loc.stream),
            );
        }
        let log_secrets = def
            .log_configuration
            .as_ref()
            .and_then(|l| l.secret_options.as_deref())
            .unwrap_or_default();
        for s in def.secrets.iter().flatten().chain(log_secrets) {
            if secret_source(&s.value_from) == "Secrets Manager" {
                push(
                    format!("{name}: the secret {}", s.name),
                    "secretsmanager:GetSecretValue",
                    s.value_from.clone(),
                );
            } else {
                push(
                    format!("{name}: the parameter {}", s.name),
                    "ssm:GetParameters",
                    crate::api::authz::parameter_arn(region, account, &s.value_from),
                );
            }
        }
        for f in def.environment_files.iter().flatten() {
            let object = f.value.trim_start_matches("arn:aws:s3:::");
            let bucket = object.split('/').next().unwrap_or_default();
            push(
                format!("{name}: the environment file {object}"),
                "s3:GetObject",
                format!("arn:aws:s3:::{object}"),
            );
            push(
                format!("{name}: the environment file's bucket"),
                "s3:GetBucketLocation",
                format!("arn:aws:s3:::{bucket}"),
            );
        }
    }
    uses
}
