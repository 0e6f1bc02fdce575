//! ECS `serviceRegistries`: a service's task is registered with its Cloud
//! Map service while it is RUNNING (and HEALTHY, when its essential
//! containers have health checks), and deregistered when it leaves, with the
//! attributes ECS registers (instance id = task id). A loop on the task
//! change feed applies [`wanted`] (pure); Cloud Map's own
//! `RegisterInstance` makes a repeat harmless.
//!
//! The DNS name `<service>.<namespace>` is not made here: every task's DNS
//! server (`runtime::dns`) answers it from the Cloud Map instances
//! (`servicediscovery::dns_table`), so it follows these registrations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Ecs, TaskRecord};
use crate::domain::status::{Health, TaskStatus};
use crate::services::servicediscovery::model::{InstanceRequest, RegisterInstanceRequest};

/// Whether the task should be a Cloud Map instance now.
pub fn wanted(t: &TaskRecord) -> bool {
    let checked = t
        .plan
        .containers
        .iter()
        .any(|c| c.essential && c.health_check.is_some());
    t.task.last_status == Some(TaskStatus::Running)
        && t.task.desired_status == Some(TaskStatus::Running)
        && (!checked || t.task.health_status == Some(Health::Healthy))
}

/// The attributes ECS registers for a Fargate task.
pub fn attributes(t: &TaskRecord, port: Option<u16>) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let ip = t
        .task
        .attachments
        .iter()
        .flatten()
        .flat_map(|a| a.details.iter().flatten())
        .find(|d| d.name.as_deref() == Some("privateIPv4Address"))
        .and_then(|d| d.value.clone());
    if let Some(ip) = ip {
        a.insert("AWS_INSTANCE_IPV4".into(), ip);
    }
    if let Some(p) = port {
        a.insert("AWS_INSTANCE_PORT".into(), p.to_string());
    }
    if let Some(az) = &t.task.availability_zone {
        a.insert("AVAILABILITY_ZONE".into(), az.clone());
    }
    a.insert("REGION".into(), t.plan.region.clone());
    a.insert("ECS_CLUSTER_NAME".into(), t.plan.cluster_name.clone());
    if let Some(r) = &t.plan.registration {
        a.insert("ECS_SERVICE_NAME".into(), r.service_name.clone());
    }
    a.insert("ECS_TASK_DEFINITION_FAMILY".into(), t.plan.family.clone());
    a
}

impl Ecs {
    /// Brings one task's Cloud Map registration in line with [`wanted`].
    fn sync_registration(&self, t: &TaskRecord, registered: &mut BTreeMap<String, bool>) {
        let (Some(r), Some(sd)) = (&t.plan.registration, self.servicediscovery()) else {
            return;
        };
        let want = wanted(t);
        if registered.get(&t.plan.task_arn) == Some(&want) {
            return;
        }
        let service_id = r.registry_arn.rsplit('/').next().unwrap_or_default();
        let result = if want {
            sd.register_instance(
                &t.plan.region,
                RegisterInstanceRequest {
                    service_id: Some(service_id.to_string()),
                    instance_id: Some(t.plan.task_id.clone()),
                    creator_request_id: None,
                    attributes: Some(attributes(t, r.port)),
                },
            )
            .map(|_| ())
        } else {
            match sd.deregister_instance(
                &t.plan.region,
                InstanceRequest {
                    service_id: Some(service_id.to_string()),
                    instance_id: Some(t.plan.task_id.clone()),
                },
            ) {
                Err(
                    crate::services::servicediscovery::ServiceDiscoveryError::InstanceNotFound(_),
                ) => Ok(()),
                other => other.map(|_| ()),
            }
        };
        match result {
            Ok(()) => {
                registered.insert(t.plan.task_arn.clone(), want);
            }
            Err(e) => {
                tracing::warn!(task = %t.plan.task_arn, registry = %r.registry_arn, error = %e, "Cloud Map registration failed");
            }
        }
        if t.task.last_status == Some(TaskStatus::Stopped) {
            registered.remove(&t.plan.task_arn);
        }
    }

    /// Follows task changes and keeps services' tasks registered in Cloud
    /// Map (every second too, in case a change was missed).
    pub fn spawn_registrations(&self) {
        let weak = Arc::downgrade(&self.inner);
        let mut changes = self.watch_tasks();
        let shutdown = self.runtime().shutdown().clone();
        let stop = shutdown.signalled();
        shutdown.spawn("cloud map registrations", async move {
            let mut stop = std::pin::pin!(stop);
            let mut registered: BTreeMap<String, bool> = BTreeMap::new();
            loop {
                let arns: Vec<String> = tokio::select! {
                    _ = &mut stop => break,
                    r = changes.recv() => match r {
                        Ok(c) => vec![c.task_arn],
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        Err(_) => Vec::new(),
                    },
                    _ = tokio::time::sleep(Duration::from_secs(1)) => Vec::new(),
                };
                let Some(inner) = weak.upgrade() else { break };
                let ecs = Ecs { inner };
                if arns.is_empty() {
                    let live_tasks = ecs.live_tasks();
                    for t in &live_tasks {
                        ecs.sync_registration(t, &mut registered);
                    }
                    // Tasks gone from the live list are no longer wanted.
                    let live: std::collections::HashSet<&str> = live_tasks
                        .iter()
                        .map(|t| t.plan.task_arn.as_str())
                        .collect();
                    let gone: Vec<String> = registered
                        .iter()
                        .filter(|(a, w)| **w && !live.contains(a.as_str()))
                        .map(|(a, _)| a.clone())
                        .collect();
                    for a in gone {
                        if let Some(t) = ecs.task_record(&a) {
                            ecs.sync_registration(&t, &mut registered);
                        }
                    }
                } else {
                    for a in arns {
                        if let Some(t) = ecs.task_record(&a) {
                            ecs.sync_registration(&t, &mut registered);
                        }
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::plan::{ContainerPlan, HealthPlan, TaskPlan};
    use crate::services::ecs::model::Task;

    fn record(last: TaskStatus, desired: TaskStatus, health: Health, checked: bool) -> TaskRecord {
        let c = ContainerPlan {
            name: "app".into(),
            essential: true,
            health_check: checked.then(|| HealthPlan {
                test: vec!["CMD".into(), "true".into()],
                interval_secs: 5,
                timeout_secs: 2,
                retries: 1,
                start_period_secs: 0,
            }),
            ..Default::default()
        };
        let plan: TaskPlan = serde_json::from_value(serde_json::json!({
            "task_arn": "arn:t", "task_id": "t", "cluster_arn": "arn:c", "cluster_name": "c",
            "region": "us-east-1", "family": "f", "revision": 1, "task_definition_arn": "arn:td",
            "cpu_units": null, "memory_mib": null, "task_role_arn": null,
            "execution_role_arn": null, "containers": [], "volumes": [], "ports": []
        }))
        .unwrap();
        TaskRecord {
            task: Task {
                last_status: Some(last),
                desired_status: Some(desired),
                health_status: Some(health),
                ..Default::default()
            },
            plan: TaskPlan {
                containers: vec![c],
                ..plan
            },
            client_token: None,
        }
    }

    #[test]
    fn registered_while_running_and_healthy_when_checked() {
        use Health::*;
        use TaskStatus::*;
        let cases = [
            (Running, Running, Unknown, false, true),
            (Pending, Running, Unknown, false, false),
            (Running, Stopped, Unknown, false, false),
            (Running, Running, Unknown, true, false),
            (Running, Running, Healthy, true, true),
            (Running, Running, Unhealthy, true, false),
            (Stopped, Stopped, Healthy, true, false),
        ];
        for (last, desired, health, checked, want) in cases {
            let r = record(last, desired, health, checked);
            assert_eq!(
                wanted(&r),
                want,
                "{last:?} {desired:?} {health:?} {checked}"
            );
        }
    }
}
