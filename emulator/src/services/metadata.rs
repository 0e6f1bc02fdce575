//! The task metadata endpoint's documents (v4, also served on the v3
//! paths), built from what the ECS backend knows of a task and what Docker
//! knows of its containers. Pure: the api layer fetches the task record,
//! Docker's inspect and stats documents, and asks this module for the JSON.
//!
//! Field names and shapes follow the ECS agent's `ContainerResponse` and
//! `TaskResponse` (v2/v4) as Fargate fills them. Left out: `VPCID`
//! (tasks are not in a VPC), `EphemeralStorageMetrics` (not measured),
//! `RestartCount` (no restart policies).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::domain::status::{ContainerStatus, Health, TaskStatus};
use crate::domain::time::rfc3339;
use crate::runtime::plan::ContainerPlan;
use crate::services::ecs::TaskRecord;

/// What Docker reports of one container, from its inspect document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerFacts {
    pub image_id: Option<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl DockerFacts {
    /// Reads Docker's inspect JSON. Docker writes `0001-01-01T00:00:00Z`
    /// for a time that has not happened.
    pub fn from_inspect(v: &Value) -> DockerFacts {
        let time = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.starts_with("0001-"))
                .map(str::to_string)
        };
        DockerFacts {
            image_id: v.get("Image").and_then(Value::as_str).map(str::to_string),
            created_at: time("/Created"),
            started_at: time("/State/StartedAt"),
            finished_at: time("/State/FinishedAt"),
        }
    }
}

fn attachment_detail(rec: &TaskRecord, name: &str) -> Option<String> {
    rec.task
        .attachments
        .iter()
        .flatten()
        .flat_map(|a| a.details.iter().flatten())
        .find(|d| d.name.as_deref() == Some(name))
        .and_then(|d| d.value.clone())
}

/// The container whose metadata URI id is `id`.
pub fn container_by_id<'a>(rec: &'a TaskRecord, id: &str) -> Option<&'a ContainerPlan> {
    rec.plan.containers.iter().find(|c| c.runtime_id == id)
}

/// `GET ${ECS_CONTAINER_METADATA_URI_V4}`: one container.
pub fn container_document(rec: &TaskRecord, c: &ContainerPlan, docker: &DockerFacts) -> Value {
    let task = &rec.task;
    let status = task
        .containers
        .iter()
        .flatten()
        .find(|tc| tc.name.as_deref() == Some(c.name.as_str()));
    let mut m = Map::new();
    m.insert("DockerId".into(), json!(c.runtime_id));
    m.insert("Name".into(), json!(c.name));
    m.insert("DockerName".into(), json!(c.name));
    m.insert("Image".into(), json!(c.image));
    if let Some(id) = docker
        .image_id
        .clone()
        .or_else(|| status.and_then(|s| s.image_digest.clone()))
    {
        m.insert("ImageID".into(), json!(id));
    }
    let mut labels: BTreeMap<String, String> = c.docker_labels.clone();
    labels.insert(
        "com.amazonaws.ecs.cluster".into(),
        rec.plan.cluster_arn.clone(),
    );
    labels.insert("com.amazonaws.ecs.container-name".into(), c.name.clone());
    labels.insert(
        "com.amazonaws.ecs.task-arn".into(),
        rec.plan.task_arn.clone(),
    );
    labels.insert(
        "com.amazonaws.ecs.task-definition-family".into(),
        rec.plan.family.clone(),
    );
    labels.insert(
        "com.amazonaws.ecs.task-definition-version".into(),
        rec.plan.revision.to_string(),
    );
    m.insert("Labels".into(), json!(labels));
    m.insert(
        "DesiredStatus".into(),
        json!(task.desired_status.unwrap_or(TaskStatus::Running).as_str()),
    );
    let known = status
        .and_then(|s| s.last_status)
        .unwrap_or(ContainerStatus::Pending);
    m.insert("KnownStatus".into(), json!(known.as_str()));
    let mut limits = Map::new();
    limits.insert("CPU".into(), json!(c.cpu_units.unwrap_or(0)));
    if let Some(mem) = c.memory_mib {
        limits.insert("Memory".into(), json!(mem));
    }
    m.insert("Limits".into(), Value::Object(limits));
    for (key, v) in [
        ("CreatedAt", &docker.created_at),
        ("StartedAt", &docker.started_at),
    ] {
        if let Some(v) = v {
            m.insert(key.into(), json!(v));
        }
    }
    if known == ContainerStatus::Stopped {
        if let Some(v) = &docker.finished_at {
            m.insert("FinishedAt".into(), json!(v));
        }
        if let Some(code) = status.and_then(|s| s.exit_code) {
            m.insert("ExitCode".into(), json!(code));
        }
    }
    m.insert("Type".into(), json!("NORMAL"));
    let ports: Vec<Value> = rec
        .plan
        .ports
        .iter()
        .filter(|p| p.container == c.name)
        .map(|p| {
            json!({
                "ContainerPort": p.container_port,
                "Protocol": p.protocol,
                "HostPort": p.container_port,
            })
        })
        .collect();
    if !ports.is_empty() {
        m.insert("Ports".into(), Value::Array(ports));
    }
    if c.health_check.is_some() {
        let health = status
            .and_then(|s| s.health_status)
            .unwrap_or(Health::Unknown);
        m.insert("Health".into(), json!({ "status": health.as_str() }));
    }
    if let Some(log) = &c.log_configuration {
        m.insert("LogDriver".into(), json!(log.log_driver));
        m.insert(
            "LogOptions".into(),
            json!(log.options.clone().unwrap_or_default()),
        );
    }
    m.insert("ContainerARN".into(), json!(c.container_arn));
    m.insert("Snapshotter".into(), json!("overlayfs"));
    m.insert("Networks".into(), json!([network(rec)]));
    Value::Object(m)
}

/// The task's one awsvpc network, as every container reports it.
fn network(rec: &TaskRecord) -> Value {
    let ip = attachment_detail(rec, "privateIPv4Address");
    let mut n = Map::new();
    n.insert("NetworkMode".into(), json!("awsvpc"));
    n.insert("IPv4Addresses".into(), json!(ip.iter().collect::<Vec<_>>()));
    n.insert("AttachmentIndex".into(), json!(0));
    if let Some(mac) = attachment_detail(rec, "macAddress") {
        n.insert("MACAddress".into(), json!(mac));
    }
    if let Some(dns) = attachment_detail(rec, "privateDnsName") {
        n.insert("PrivateDNSName".into(), json!(dns));
    }
    n.insert(
        "DomainNameSearchList".into(),
        json!([format!("{}.compute.internal", rec.plan.region)]),
    );
    Value::Object(n)
}

/// `GET ${ECS_CONTAINER_METADATA_URI_V4}/task` (and `/taskWithTags`).
pub fn task_document(
    rec: &TaskRecord,
    docker: &HashMap<String, DockerFacts>,
    with_tags: bool,
) -> Value {
    let task = &rec.task;
    let plan = &rec.plan;
    let mut m = Map::new();
    m.insert("Cluster".into(), json!(plan.cluster_arn));
    m.insert("TaskARN".into(), json!(plan.task_arn));
    m.insert("Family".into(), json!(plan.family));
    m.insert("Revision".into(), json!(plan.revision.to_string()));
    m.insert(
        "DesiredStatus".into(),
        json!(task.desired_status.unwrap_or(TaskStatus::Running).as_str()),
    );
    m.insert(
        "KnownStatus".into(),
        json!(
            task.last_status
                .unwrap_or(TaskStatus::Provisioning)
                .as_str()
        ),
    );
    let mut limits = Map::new();
    if let Some(cpu) = plan.cpu_units {
        limits.insert("CPU".into(), json!(cpu as f64 / 1024.0));
    }
    if let Some(mem) = plan.memory_mib {
        limits.insert("Memory".into(), json!(mem));
    }
    m.insert("Limits".into(), Value::Object(limits));
    for (key, ts) in [
        ("PullStartedAt", task.pull_started_at),
        ("PullStoppedAt", task.pull_stopped_at),
        ("ExecutionStoppedAt", task.execution_stopped_at),
    ] {
        if let Some(ts) = ts {
            m.insert(key.into(), json!(rfc3339(ts)));
        }
    }
    if let Some(az) = &task.availability_zone {
        m.insert("AvailabilityZone".into(), json!(az));
    }
    if let Some(group) = &task.group {
        m.insert("Group".into(), json!(group));
        if let Some(service) = group.strip_prefix("service:") {
            m.insert("ServiceName".into(), json!(service));
        }
    }
    m.insert("LaunchType".into(), json!("FARGATE"));
    let containers: Vec<Value> = plan
        .containers
        .iter()
        .map(|c| {
            container_document(
                rec,
                c,
                docker.get(&c.name).unwrap_or(&DockerFacts::default()),
            )
        })
        .collect();
    m.insert("Containers".into(), Value::Array(containers));
    m.insert(
        "ClockDrift".into(),
        json!({
            "ClockErrorBound": 0.5,
            "ReferenceTimestamp": rfc3339(crate::domain::time::now()),
            "ClockSynchronizationStatus": "SYNCHRONIZED",
        }),
    );
    m.insert("FaultInjectionEnabled".into(), json!(false));
    if with_tags {
        let tags: BTreeMap<String, String> = task
            .tags
            .iter()
            .flatten()
            .filter_map(|t| Some((t.key.clone()?, t.value.clone().unwrap_or_default())))
            .collect();
        m.insert("TaskTags".into(), json!(tags));
    }
    Value::Object(m)
}

/// A stats document: Docker's, plus the agent's `network_rate_stats`
/// computed against the previous sample of the same container (zero on the
/// first).
pub fn stats_document(
    mut docker: Value,
    previous: Option<(f64, u64, u64)>,
) -> (Value, (f64, u64, u64)) {
    let (rx, tx) = docker
        .get("networks")
        .and_then(Value::as_object)
        .map(|nets| {
            nets.values().fold((0u64, 0u64), |(r, t), n| {
                (
                    r + n.get("rx_bytes").and_then(Value::as_u64).unwrap_or(0),
                    t + n.get("tx_bytes").and_then(Value::as_u64).unwrap_or(0),
                )
            })
        })
        .unwrap_or((0, 0));
    let now = crate::domain::time::now();
    let (rx_rate, tx_rate) = match previous {
        Some((at, prx, ptx)) if now > at => (
            rx.saturating_sub(prx) as f64 / (now - at),
            tx.saturating_sub(ptx) as f64 / (now - at),
        ),
        _ => (0.0, 0.0),
    };
    if let Some(obj) = docker.as_object_mut() {
        obj.insert(
            "network_rate_stats".into(),
            json!({ "rx_bytes_per_sec": rx_rate, "tx_bytes_per_sec": tx_rate }),
        );
    }
    (docker, (now, rx, tx))
}
