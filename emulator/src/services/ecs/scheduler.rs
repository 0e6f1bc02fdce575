//! The service scheduler: one tokio task that keeps every service at its
//! desired count. It wakes on task changes, on service changes and once a
//! second. Each round it takes the state lock once, and for every service
//! reads what the load balancers hold for it, hands the service's record
//! and the region's tasks to `reconcile::apply` (pure: the decisions), makes
//! the load balancer calls it asks for and keeps the new record; after the
//! lock it starts and stops tasks through the same paths as RunTask and
//! StopTask.
//!
//! Everything it knows lives in the stored `ServiceRecord`, so a restarted
//! emulator picks up where it was.

use std::sync::Arc;
use std::time::Duration;

use super::model::{NetworkConfiguration, Tag};
use super::reconcile::{self, Balancers, ElbCall, Group, Observations, throttle_delay};
use super::service_model::{ServiceRecord, ServiceStatus, Tracked};
use super::tasks::TaskLaunch;
use super::{Caller, Doc, Ecs};
use crate::domain::arn;
use crate::domain::status::StopCode;
use crate::domain::time;
use crate::services::elbv2::Elbv2;

/// A launch the scheduler decided on, carried out once the lock is released.
struct Launch {
    key: (String, String),
    deployment: String,
    caller: Caller,
    launch: TaskLaunch,
    network: NetworkConfiguration,
}

struct Stop {
    task_arn: String,
    region: String,
    cluster: String,
    reason: String,
}

fn short_id(task_arn: &str) -> &str {
    arn::task_ref(task_arn).map_or(task_arn, |r| r.id)
}

/// The service's load balancers: (target group, container, port), those of
/// its `loadBalancers` and those `serve --front-door` gives it.
fn load_balancers(
    rec: &ServiceRecord,
    elb: Option<&crate::services::elbv2::Elbv2>,
) -> Vec<(String, String, u16)> {
    let mut out: Vec<(String, String, u16)> = rec
        .service
        .load_balancers
        .iter()
        .flatten()
        .filter_map(|lb| {
            Some((
                lb.target_group_arn.clone()?,
                lb.container_name.clone()?,
                u16::try_from(lb.container_port?).ok()?,
            ))
        })
        .collect();
    if let Some(elb) = elb {
        for door in elb.front_doors_of(&rec.cluster_name, rec.name()) {
            if !out.contains(&door) {
                out.push(door);
            }
        }
    }
    out
}

/// What the load balancers hold for a service: its groups and their
/// targets.
fn balancers(rec: &ServiceRecord, elb: Option<&Elbv2>) -> Balancers {
    let Some(elb) = elb else {
        return Balancers::default();
    };
    let lbs = load_balancers(rec, Some(elb));
    let mut b = Balancers {
        present: true,
        lbs,
        ..Default::default()
    };
    for (tg, _, _) in &b.lbs {
        let Some((group, targets)) = elb.group_and_targets(tg) else {
            continue;
        };
        b.groups.insert(
            tg.clone(),
            Group {
                delay: group.deregistration_delay(),
                front_door: elb.is_front_door(tg),
            },
        );
        for t in targets {
            b.targets.insert((tg.clone(), t.task_id), t.state);
        }
    }
    b
}

/// Makes a round's load balancer calls.
fn call_balancers(elb: Option<&Elbv2>, rec: &ServiceRecord, calls: Vec<ElbCall>) {
    let Some(elb) = elb else { return };
    for call in calls {
        match call {
            ElbCall::Register {
                tg,
                task,
                ip,
                port,
                host,
                healthy,
            } => {
                elb.register(&tg, &task, &ip, port, &host, healthy);
            }
            ElbCall::Deregister { tg, task } => {
                elb.deregister(&tg, &task);
            }
            ElbCall::Remove { tg, task } => {
                elb.remove(&tg, &task);
            }
            ElbCall::FrontDoorMismatch {
                tg,
                task,
                container,
                port,
            } => {
                if elb.front_door_mismatch(&tg) {
                    tracing::warn!(
                        service = %rec.name(),
                        task = %task,
                        target_group = %tg,
                        "--front-door: the task has no container {container} publishing port {port}; the front door does not send it requests"
                    );
                }
            }
        }
    }
}

impl Ecs {
    /// Starts the scheduler loop; it ends on the emulator's shutdown signal
    /// (after the round under way) or when the backend is dropped.
    pub fn spawn_scheduler(&self) {
        let weak = Arc::downgrade(&self.inner);
        let mut changes = self.watch_tasks();
        let shutdown = self.runtime().shutdown().clone();
        let stop = shutdown.signalled();
        shutdown.spawn("service scheduler", async move {
            let mut stop = std::pin::pin!(stop);
            loop {
                let Some(inner) = weak.upgrade() else { break };
                let ecs = Ecs { inner };
                ecs.reconcile_all().await;
                let wake = ecs.inner.scheduler_wake.clone();
                drop(ecs);
                tokio::select! {
                    _ = &mut stop => break,
                    _ = wake.notified() => {}
                    r = changes.recv() => {
                        if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                            break;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                // Let a burst of changes settle, then take them all at once.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while changes.try_recv().is_ok() {}
            }
        });
    }

    /// Wakes the scheduler (a service changed).
    pub(crate) fn wake_scheduler(&self) {
        self.inner.scheduler_wake.notify_one();
    }

    /// One round over every service: decide under the lock, act after it.
    pub async fn reconcile_all(&self) {
        let now = time::now();
        let mut launches = Vec::new();
        let mut stops = Vec::new();
        {
            let mut st = self.lock();
            let mut docs = Vec::new();
            let elb = self.elbv2();
            let sc: std::collections::HashMap<String, super::service_connect::Index> = st
                .regions
                .iter()
                .map(|(name, r)| (name.clone(), self.service_connect_index(name, r)))
                .collect();
            for region in st.regions.values_mut() {
                let tasks = &region.tasks;
                for rec in region.services.values_mut() {
                    if rec.service.status == Some(ServiceStatus::Inactive) {
                        continue;
                    }
                    let obs = Observations {
                        tasks,
                        balancers: balancers(rec, elb),
                    };
                    let (next, work) = reconcile::apply(now, rec, &obs);
                    call_balancers(elb, &next, work.elb);
                    for l in work.launches {
                        let index = sc.get(&next.region);
                        if let Some(l) = launch_for(self, &next, &l.deployment, l.count, index) {
                            launches.push(l);
                        }
                    }
                    for s in work.stops {
                        stops.push(Stop {
                            task_arn: s.task_arn,
                            region: next.region.clone(),
                            cluster: next.cluster_name.clone(),
                            reason: s.reason,
                        });
                    }
                    if next != *rec {
                        docs.push(Doc::service(&next));
                        *rec = next;
                    }
                }
            }
            // Also writes whatever an earlier internal write left unsaved.
            self.persist(&mut st, docs, "the services' state");
        }
        for s in stops {
            let caller = self.scheduler_caller(&s.region);
            if let Err(e) = self.stop_task_with_code(
                &caller,
                &s.cluster,
                &s.task_arn,
                StopCode::ServiceSchedulerInitiated,
                s.reason,
            ) {
                tracing::warn!(task = %s.task_arn, error = %e, "the scheduler could not stop a task");
            }
        }
        for l in launches {
            let result = self.launch_tasks(&l.caller, l.launch, Some(l.network));
            let mut st = self.lock();
            let region = st.region(&l.caller.region);
            let Some(rec) = region.services.get_mut(&format!("{}/{}", l.key.0, l.key.1)) else {
                continue;
            };
            let name = rec.name().to_string();
            let now = time::now();
            match result {
                Ok(tasks) => {
                    let ids: Vec<String> = tasks
                        .iter()
                        .filter_map(|t| t.task_arn.as_deref().map(|a| short_id(a).to_string()))
                        .collect();
                    for id in &ids {
                        rec.tracked.insert(
                            id.clone(),
                            Tracked {
                                deployment: l.deployment.clone(),
                                ..Default::default()
                            },
                        );
                    }
                    let list: Vec<String> = ids.iter().map(|i| format!("(task {i})")).collect();
                    rec.event_at(
                        now,
                        format!(
                            "(service {name}) has started {} tasks: {}.",
                            ids.len(),
                            list.join(" ")
                        ),
                    );
                }
                Err(e) => {
                    rec.throttle.failures += 1;
                    rec.throttle.next_launch_at =
                        now + throttle_delay(rec.throttle.failures).max(1.0);
                    // ECS words a role it cannot assume differently.
                    let text = e.to_string();
                    let event = if text.starts_with("ECS was unable to assume the role") {
                        format!("service {name} failed to launch a task with (error {text}).")
                    } else {
                        format!("(service {name}) was unable to place a task. Reason: {e}.")
                    };
                    rec.event_at(now, event);
                }
            }
            let doc = Doc::service(rec);
            self.persist(&mut st, [doc], "a service");
        }
    }

    fn scheduler_caller(&self, region: &str) -> Caller {
        Caller {
            region: region.to_string(),
            account: self.account().to_string(),
            principal: arn::iam_root(self.account()),
        }
    }
}

/// The Cloud Map registration of a service's tasks: its one
/// `serviceRegistries` entry.
///
/// With Service Connect and no `serviceRegistries`, the tasks are
/// registered with the Cloud Map service of the first endpoint; Service
/// Connect's names are not DNS names (see `ServiceConnectPlan`).
fn registration(rec: &ServiceRecord) -> Option<crate::runtime::plan::Registration> {
    let entry = rec
        .service
        .service_registries
        .as_ref()
        .and_then(|v| v.as_array())
        .and_then(|v| v.first());
    let Some(entry) = entry else {
        // Service Connect alone.
        let registry_arn = rec
            .service_connect_resources
            .as_ref()?
            .as_array()?
            .first()?
            .get("discoveryArn")?
            .as_str()?
            .to_string();
        return Some(crate::runtime::plan::Registration {
            registry_arn,
            service_name: rec.name().to_string(),
            port: None,
            aliases: Vec::new(),
        });
    };
    let registry_arn = entry.get("registryArn")?.as_str()?.to_string();
    let port = entry
        .get("port")
        .or_else(|| entry.get("containerPort"))
        .and_then(|p| p.as_u64())
        .and_then(|p| u16::try_from(p).ok());
    // No network alias: the task's DNS server (`runtime::dns`) answers
    // the Cloud Map name from what is registered.
    Some(crate::runtime::plan::Registration {
        registry_arn,
        service_name: rec.name().to_string(),
        port,
        aliases: Vec::new(),
    })
}

/// The RunTask-equivalent for `count` tasks of a deployment.
fn launch_for(
    ecs: &Ecs,
    rec: &ServiceRecord,
    deployment: &str,
    count: i32,
    sc: Option<&super::service_connect::Index>,
) -> Option<Launch> {
    let state = rec.state(deployment)?;
    let revision = rec.revision(&state.revision_arn)?;
    let s = &rec.service;
    let name = rec.name().to_string();
    let mut tags: Vec<Tag> = Vec::new();
    if s.propagate_tags.as_deref() == Some("SERVICE") {
        tags.extend(s.tags.iter().flatten().cloned());
    }
    let managed = s.enable_ecs_managed_tags == Some(true);
    if managed {
        tags.push(Tag {
            key: Some("aws:ecs:serviceName".into()),
            value: Some(name.clone()),
        });
    }
    let capacity_provider = revision.capacity_provider_strategy.as_ref().and_then(|st| {
        st.iter()
            .find(|i| i.base.unwrap_or(0) > 0)
            .or_else(|| st.iter().max_by_key(|i| i.weight.unwrap_or(0)))
            .map(|i| i.capacity_provider.clone())
    });
    Some(Launch {
        key: (rec.cluster_name.clone(), name.clone()),
        deployment: deployment.to_string(),
        caller: ecs.scheduler_caller(&rec.region),
        launch: TaskLaunch {
            cluster: rec.cluster_name.clone(),
            task_definition: revision.task_definition.clone().unwrap_or_default(),
            count,
            capacity_provider,
            group: Some(format!("service:{name}")),
            started_by: Some(deployment.to_string()),
            overrides: None,
            network: NetworkConfiguration::default(),
            platform_version: revision.platform_version.clone(),
            tags,
            propagate_tags: s.propagate_tags.clone(),
            enable_ecs_managed_tags: managed,
            enable_execute_command: s.enable_execute_command == Some(true),
            client_token: None,
            allow_inactive_definition: true,
            registration: registration(rec),
            service_connect: sc
                .and_then(|index| ecs.service_connect_plan(index, &rec.region, revision)),
        },
        network: revision.network_configuration.clone().unwrap_or_default(),
    })
}
