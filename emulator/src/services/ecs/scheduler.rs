//! The service scheduler: one tokio task that keeps every service at its
//! desired count. It wakes on task changes, on service changes and once a
//! second, gathers each service's tasks under the state lock, asks
//! `rollout::plan` what to do, and then starts and stops tasks through the
//! same paths as RunTask and StopTask. Around the plan it keeps what AWS
//! keeps: deployment rollout states, the circuit breaker's failure count
//! and rollback, the launch throttle, and the service events.
//!
//! Everything it knows lives in the stored `ServiceRecord`, so a restarted
//! emulator picks up where it was.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::model::{NetworkConfiguration, Tag};
use super::rollout::{self, Action, DeploymentView, StopWhy, TaskView, View};
use super::service_model::{
    MonitorStatus, Rollback, RolloutState, ServiceDeploymentStatus, ServiceRecord, ServiceStatus,
};
use super::tasks::TaskLaunch;
use super::{Caller, Doc, Ecs, TaskRecord};
use crate::domain::arn;
use crate::domain::status::{Health, StopCode, TaskStatus};
use crate::domain::time::{self, Timestamp};
use crate::services::elbv2::TargetState;

/// A task without health checks counts as healthy once it has been RUNNING
/// this long (AWS waits 40 s; a local deployment should not).
pub const SETTLE_SECS: f64 = 2.0;

/// "has reached a steady state." is said again after this long.
const STEADY_REPEAT_SECS: f64 = 6.0 * 3600.0;

const THROTTLE_MESSAGE: &str = "is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

/// The delay before the next launch after `failures` tasks in a row never
/// reached RUNNING: none for the first three, then doubling from 2 s, up to
/// 15 minutes.
pub fn throttle_delay(failures: u32) -> f64 {
    if failures <= 3 {
        return 0.0;
    }
    let exp = (failures - 3).min(10);
    (f64::from(1u32 << exp)).min(900.0)
}

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

#[derive(Default)]
struct Work {
    launches: Vec<Launch>,
    stops: Vec<Stop>,
}

fn short_id(task_arn: &str) -> &str {
    arn::task_ref(task_arn).map_or(task_arn, |r| r.id)
}

fn essential_checks(t: &TaskRecord) -> bool {
    t.plan
        .containers
        .iter()
        .any(|c| c.essential && c.health_check.is_some())
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

/// A task's target: its private IP, and the host address of the container
/// port (where the load balancer reaches it).
fn target_address(t: &TaskRecord, container: &str, port: u16) -> Option<(String, String)> {
    let ip = t
        .task
        .attachments
        .iter()
        .flatten()
        .flat_map(|a| a.details.iter().flatten())
        .find(|d| d.name.as_deref() == Some("privateIPv4Address"))
        .and_then(|d| d.value.clone())?;
    let binding = t
        .task
        .containers
        .iter()
        .flatten()
        .find(|c| c.name.as_deref() == Some(container))?
        .network_bindings
        .iter()
        .flatten()
        .find(|b| b.container_port == Some(i32::from(port)))?;
    let host_ip = match binding.bind_ip.as_deref() {
        None | Some("0.0.0.0") | Some("") => "127.0.0.1",
        Some(ip) => ip,
    };
    Some((ip, format!("{host_ip}:{}", binding.host_port?)))
}

impl Ecs {
    /// Starts the scheduler loop; it ends when the backend is dropped.
    pub fn spawn_scheduler(&self) {
        let weak = Arc::downgrade(&self.inner);
        let mut changes = self.watch_tasks();
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { break };
                let ecs = Ecs { inner };
                ecs.reconcile_all().await;
                let wake = ecs.inner.scheduler_wake.clone();
                drop(ecs);
                tokio::select! {
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
        let mut work = Work::default();
        {
            let mut st = self.lock();
            let mut docs = Vec::new();
            for region in st.regions.values_mut() {
                let tasks = &region.tasks;
                for rec in region.services.values_mut() {
                    if rec.service.status == Some(ServiceStatus::Inactive) {
                        continue;
                    }
                    let before = rec.clone();
                    reconcile(self, rec, tasks, now, &mut work);
                    if *rec != before {
                        docs.push(Doc::service(rec));
                    }
                }
            }
            // Also writes whatever an earlier internal write left unsaved.
            self.persist(&mut st, docs, "the services' state");
        }
        for s in work.stops {
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
        for l in work.launches {
            let result = self.launch_tasks(&l.caller, l.launch, Some(l.network));
            let mut st = self.lock();
            let region = st.region(&l.caller.region);
            let Some(rec) = region.services.get_mut(&format!("{}/{}", l.key.0, l.key.1)) else {
                continue;
            };
            let name = rec.name().to_string();
            match result {
                Ok(tasks) => {
                    let ids: Vec<String> = tasks
                        .iter()
                        .filter_map(|t| t.task_arn.as_deref().map(|a| short_id(a).to_string()))
                        .collect();
                    for id in &ids {
                        rec.tracked.insert(
                            id.clone(),
                            super::service_model::Tracked {
                                deployment: l.deployment.clone(),
                                ..Default::default()
                            },
                        );
                    }
                    let list: Vec<String> = ids.iter().map(|i| format!("(task {i})")).collect();
                    rec.event(format!(
                        "(service {name}) has started {} tasks: {}.",
                        ids.len(),
                        list.join(" ")
                    ));
                }
                Err(e) => {
                    rec.throttle.failures += 1;
                    rec.throttle.next_launch_at =
                        time::now() + throttle_delay(rec.throttle.failures).max(1.0);
                    rec.event(format!(
                        "(service {name}) was unable to place a task. Reason: {e}."
                    ));
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

/// One service's round: account for tasks that stopped or became healthy,
/// run the circuit breaker, plan, and update counts, states and events.
fn reconcile(
    ecs: &Ecs,
    rec: &mut ServiceRecord,
    tasks: &HashMap<String, TaskRecord>,
    now: Timestamp,
    work: &mut Work,
) {
    let name = rec.name().to_string();
    let cluster_arn = rec.service.cluster_arn.clone().unwrap_or_default();
    let group = format!("service:{name}");
    let ids: HashSet<&str> = rec
        .deployment_states
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    let mine: Vec<&TaskRecord> = tasks
        .values()
        .filter(|t| {
            t.task.cluster_arn.as_deref() == Some(cluster_arn.as_str())
                && t.task.group.as_deref() == Some(group.as_str())
                && t.task
                    .started_by
                    .as_deref()
                    .is_some_and(|s| ids.contains(s))
        })
        .collect();
    let cfg = rec
        .service
        .deployment_configuration
        .clone()
        .unwrap_or_default();
    let breaker = cfg.deployment_circuit_breaker.clone().unwrap_or_default();
    let grace = f64::from(rec.service.health_check_grace_period_seconds.unwrap_or(0));

    // Live tasks nobody tracks (started just before a crash): track them.
    for t in &mine {
        if t.task.last_status != Some(TaskStatus::Stopped)
            && !rec.tracked.contains_key(&t.plan.task_id)
        {
            rec.tracked.insert(
                t.plan.task_id.clone(),
                super::service_model::Tracked {
                    deployment: t.task.started_by.clone().unwrap_or_default(),
                    ..Default::default()
                },
            );
        }
    }

    let elb = ecs.elbv2();
    let lbs = load_balancers(rec, elb);
    // Running tasks not being stopped are targets of the service's groups.
    if let Some(elb) = elb {
        let mut registered: Vec<(String, usize)> = Vec::new();
        for (id, tr) in &rec.tracked {
            let Some(t) = mine.iter().find(|t| t.plan.task_id == *id) else {
                continue;
            };
            if tr.stopping.is_some() || t.task.last_status != Some(TaskStatus::Running) {
                continue;
            }
            for (tg, container, port) in &lbs {
                let address = target_address(t, container, *port);
                if address.is_none() && elb.is_front_door(tg) && elb.front_door_mismatch(tg) {
                    tracing::warn!(
                        service = %name,
                        task = %id,
                        target_group = %tg,
                        "--front-door: the task has no container {container} publishing port {port}; the front door does not send it requests"
                    );
                }
                // A task already counted healthy is being registered again
                // after a restart: no new registration to report.
                if let Some((ip, host)) = address
                    && elb.register(tg, id, &ip, *port, &host, tr.healthy)
                    && !tr.healthy
                {
                    match registered.iter_mut().find(|(g, _)| g == tg) {
                        Some((_, n)) => *n += 1,
                        None => registered.push((tg.clone(), 1)),
                    }
                }
            }
        }
        for (tg, n) in registered {
            rec.event(format!(
                "(service {name}) registered {n} targets in (target-group {tg})"
            ));
        }
    }

    // Tracked tasks: newly running, newly healthy, or gone.
    let by_id: HashMap<&str, &TaskRecord> =
        mine.iter().map(|t| (t.plan.task_id.as_str(), *t)).collect();
    let mut gone = Vec::new();
    let mut became_healthy = Vec::new();
    for (id, tr) in rec.tracked.iter_mut() {
        let task = by_id.get(id.as_str());
        let stopped = task.is_none_or(|t| t.task.last_status == Some(TaskStatus::Stopped));
        if stopped {
            let by_scheduler = tr.stopping.is_some()
                || task
                    .is_some_and(|t| t.task.stop_code == Some(StopCode::ServiceSchedulerInitiated));
            gone.push((
                id.clone(),
                tr.deployment.clone(),
                tr.ran,
                tr.healthy,
                by_scheduler,
            ));
            continue;
        }
        let Some(t) = task else { continue };
        if t.task.last_status == Some(TaskStatus::Running) && !tr.ran {
            tr.ran = true;
            tr.running_since = Some(now);
        }
        if !tr.healthy && tr.ran {
            let ok = if essential_checks(t) {
                t.task.health_status == Some(Health::Healthy)
            } else if !lbs.is_empty() {
                t.task.last_status == Some(TaskStatus::Running)
            } else {
                t.task.last_status == Some(TaskStatus::Running)
                    && tr.running_since.is_some_and(|s| now - s >= SETTLE_SECS)
            };
            // Behind a load balancer, healthy means healthy in every target
            // group (but a front door of the flag that the task's container
            // ports do not match is no target group of the task).
            let ok = ok
                && lbs.iter().all(|(tg, container, port)| {
                    elb.is_some_and(|e| {
                        e.target_state(tg, id) == Some(TargetState::Healthy)
                            || (e.is_front_door(tg)
                                && target_address(t, container, *port).is_none())
                    })
                });
            if ok {
                tr.healthy = true;
                became_healthy.push(tr.deployment.clone());
            }
        }
    }
    for (id, deployment, ran, healthy, by_scheduler) in gone {
        rec.tracked.remove(&id);
        if let Some(elb) = elb {
            for (tg, _, _) in &lbs {
                elb.remove(tg, &id);
            }
        }
        if by_scheduler || healthy {
            continue;
        }
        if let Some(d) = rec.state_mut(&deployment) {
            d.failures += 1;
        }
        if !ran {
            rec.throttle.failures += 1;
            rec.throttle.next_launch_at = now + throttle_delay(rec.throttle.failures);
            if rec.throttle.failures >= 3 && !rec.throttle.warned {
                rec.throttle.warned = true;
                rec.event(format!("(service {name}) {THROTTLE_MESSAGE}"));
            }
        }
    }
    for deployment in became_healthy {
        rec.throttle = Default::default();
        if breaker.reset_on_healthy_task != Some(false)
            && let Some(d) = rec.state_mut(&deployment)
        {
            d.failures = 0;
        }
    }

    let draining = rec.service.status == Some(ServiceStatus::Draining);
    let desired = rec.service.desired_count.unwrap_or(0);

    // The circuit breaker, on the PRIMARY deployment only.
    if !draining {
        trip_breaker(ecs, rec, &breaker, desired, now);
    }

    // The plan.
    let deployments = rec.deployments().to_vec();
    let live = |t: &&&TaskRecord| {
        t.task.last_status != Some(TaskStatus::Stopped)
            && t.task.desired_status != Some(TaskStatus::Stopped)
    };
    let mut views = Vec::new();
    for (i, d) in deployments.iter().enumerate() {
        let id = d.id.clone().unwrap_or_default();
        let tasks: Vec<TaskView> = mine
            .iter()
            .filter(live)
            .filter(|t| t.task.started_by.as_deref() == Some(id.as_str()))
            .filter(|t| {
                rec.tracked
                    .get(&t.plan.task_id)
                    .is_none_or(|tr| tr.stopping.is_none())
            })
            .map(|t| {
                let tr = rec.tracked.get(&t.plan.task_id);
                let running = t.task.last_status == Some(TaskStatus::Running);
                let past_grace = t.task.started_at.is_some_and(|s| now - s >= grace);
                let elb_unhealthy = lbs.iter().any(|(tg, _, _)| {
                    elb.is_some_and(|e| {
                        e.target_state(tg, &t.plan.task_id) == Some(TargetState::Unhealthy)
                    })
                });
                TaskView {
                    id: t.plan.task_id.clone(),
                    running,
                    healthy: running
                        && tr.is_some_and(|tr| tr.healthy)
                        && t.task.health_status != Some(Health::Unhealthy)
                        && !elb_unhealthy,
                    unhealthy: running
                        && past_grace
                        && (t.task.health_status == Some(Health::Unhealthy) || elb_unhealthy),
                }
            })
            .collect();
        views.push(DeploymentView {
            id,
            can_launch: i == 0
                && d.rollout_state != Some(RolloutState::Failed)
                && now >= rec.throttle.next_launch_at,
            tasks,
        });
    }
    let view = View {
        desired,
        minimum_healthy_percent: cfg.minimum_healthy_percent.unwrap_or(100),
        maximum_percent: cfg.maximum_percent.unwrap_or(200),
        draining,
        deployments: views,
    };
    let primary_id = deployments
        .first()
        .and_then(|d| d.id.clone())
        .unwrap_or_default();
    let mut stopped_running = Vec::new();
    let mut stopped_pending = 0;
    let mut deregistered: Vec<String> = Vec::new();
    let mut draining_now = 0;
    // Tasks whose drain is over are stopped now.
    for (id, tr) in rec.tracked.iter_mut() {
        let (Some(reason), Some(until)) = (tr.stopping.clone(), tr.drain_until) else {
            continue;
        };
        if now < until {
            continue;
        }
        tr.drain_until = None;
        if let Some(t) = by_id.get(id.as_str()) {
            if t.task.last_status == Some(TaskStatus::Running) {
                stopped_running.push(id.clone());
            } else {
                stopped_pending += 1;
            }
            work.stops.push(Stop {
                task_arn: t.plan.task_arn.clone(),
                region: rec.region.clone(),
                cluster: rec.cluster_name.clone(),
                reason,
            });
        }
    }
    for action in rollout::plan(&view) {
        match action {
            Action::Launch { deployment, count } => {
                if let Some(l) = launch_for(ecs, rec, &deployment, count) {
                    work.launches.push(l);
                }
            }
            Action::Stop { task, why } => {
                let Some(t) = by_id.get(task.as_str()) else {
                    continue;
                };
                let reason = match why {
                    StopWhy::Scaling => {
                        format!("Scaling activity initiated by (deployment {primary_id})")
                    }
                    StopWhy::Unhealthy => {
                        let dep = t.task.started_by.clone().unwrap_or_default();
                        let was_healthy = rec.tracked.get(&task).is_some_and(|tr| tr.healthy);
                        if !was_healthy && let Some(d) = rec.state_mut(&dep) {
                            d.failures += 1;
                        }
                        let failed_tg = lbs.iter().find(|(tg, _, _)| {
                            elb.is_some_and(|e| {
                                e.target_state(tg, &task) == Some(TargetState::Unhealthy)
                            })
                        });
                        match failed_tg {
                            Some((tg, _, _)) => {
                                rec.event(format!(
                                    "(service {name}) (task {task}) failed ELB health checks in (target-group {tg})."
                                ));
                                format!("Task failed ELB health checks in (target-group {tg})")
                            }
                            None => {
                                rec.event(format!(
                                    "(service {name}) (task {task}) failed container health checks."
                                ));
                                "Task failed container health checks".to_string()
                            }
                        }
                    }
                };
                // Behind a load balancer the task drains first.
                let mut drain_until = None;
                if let Some(elb) = elb {
                    for (tg, _, _) in &lbs {
                        if let Some(until) = elb.deregister(tg, &task) {
                            drain_until =
                                Some(drain_until.map_or(until, |d: Timestamp| d.max(until)));
                            deregistered.push(tg.clone());
                        }
                    }
                }
                if let Some(tr) = rec.tracked.get_mut(&task) {
                    tr.stopping = Some(reason.clone());
                    tr.drain_until = drain_until;
                }
                if drain_until.is_some() {
                    draining_now += 1;
                    continue;
                }
                if t.task.last_status == Some(TaskStatus::Running) {
                    stopped_running.push(task.clone());
                } else {
                    stopped_pending += 1;
                }
                work.stops.push(Stop {
                    task_arn: t.plan.task_arn.clone(),
                    region: rec.region.clone(),
                    cluster: rec.cluster_name.clone(),
                    reason,
                });
            }
            Action::Stuck => {
                if let Some(d) = rec.state_mut(&primary_id)
                    && !d.stuck_reported
                {
                    d.stuck_reported = true;
                    rec.event(format!(
                        "(service {name}) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
                    ));
                }
            }
        }
    }
    if draining_now > 0 {
        let mut groups: Vec<(&String, usize)> = Vec::new();
        for tg in &deregistered {
            match groups.iter_mut().find(|(g, _)| *g == tg) {
                Some((_, n)) => *n += 1,
                None => groups.push((tg, 1)),
            }
        }
        for (tg, n) in groups {
            rec.event(format!(
                "(service {name}) deregistered {n} targets in (target-group {tg})"
            ));
        }
        rec.event(format!(
            "(service {name}) has begun draining connections on {draining_now} tasks."
        ));
    }
    if !stopped_running.is_empty() {
        let list: Vec<String> = stopped_running
            .iter()
            .map(|i| format!("(task {i})"))
            .collect();
        rec.event(format!(
            "(service {name}) has stopped {} running tasks: {}.",
            stopped_running.len(),
            list.join(" ")
        ));
    }
    if stopped_pending > 0 {
        rec.event(format!(
            "(service {name}) stopped {stopped_pending} pending tasks."
        ));
    }

    update_counts(rec, &mine, now);
    finish(rec, &mine, now);
}

/// Trips the breaker of an IN_PROGRESS PRIMARY deployment whose failures
/// reached the threshold, and rolls back where asked.
fn trip_breaker(
    _ecs: &Ecs,
    rec: &mut ServiceRecord,
    breaker: &super::service_model::DeploymentCircuitBreaker,
    desired: i32,
    now: Timestamp,
) {
    let name = rec.name().to_string();
    let Some(primary) = rec.deployments().first().cloned() else {
        return;
    };
    let id = primary.id.clone().unwrap_or_default();
    let Some(state) = rec.state(&id).cloned() else {
        return;
    };
    let threshold = rollout::breaker_threshold(
        desired,
        breaker
            .threshold_configuration
            .as_ref()
            .and_then(|t| t.kind.as_deref()),
        breaker
            .threshold_configuration
            .as_ref()
            .and_then(|t| t.value),
    );
    if let Some(sd) = rec.service_deployment_mut(&state.service_deployment_arn)
        && let Some(cb) = &mut sd.deployment_circuit_breaker
        && cb.status == Some(MonitorStatus::Monitoring)
    {
        cb.failure_count = Some(state.failures);
        cb.threshold = Some(threshold);
    }
    if !breaker.enable
        || primary.rollout_state != Some(RolloutState::InProgress)
        || state.failures < threshold
    {
        return;
    }
    let reason = "ECS deployment circuit breaker: tasks failed to start.";
    if let Some(p) = rec.deployments_mut().first_mut() {
        p.rollout_state = Some(RolloutState::Failed);
        p.rollout_state_reason = Some(reason.into());
        p.updated_at = Some(now);
    }
    rec.event(format!(
        "(service {name}) (deployment {id}) deployment failed: tasks failed to start."
    ));
    let target = rec
        .last_completed
        .clone()
        .filter(|c| *c != id)
        .and_then(|c| rec.state(&c).cloned());
    if let Some(sd) = rec.service_deployment_mut(&state.service_deployment_arn)
        && let Some(cb) = &mut sd.deployment_circuit_breaker
    {
        cb.status = Some(MonitorStatus::Triggered);
        cb.failure_count = Some(state.failures);
    }
    match (breaker.rollback, target) {
        (true, Some(target)) => {
            let Some(revision) = rec.revision(&target.revision_arn).cloned() else {
                return;
            };
            let scope = crate::domain::arn::Scope::new(rec.region.clone(), account_of(rec));
            let rollback = Rollback {
                reason: Some(
                    "Circuit breaker triggered: the deployment failed to start tasks.".into(),
                ),
                started_at: Some(now),
                service_revision_arn: Some(target.revision_arn.clone()),
            };
            super::services::start_rollback(
                rec,
                &scope,
                &revision,
                &state.service_deployment_arn,
                rollback,
            );
            rec.service.task_definition = revision.task_definition.clone();
            rec.event(format!(
                "(service {name}) rolling back to deployment {}.",
                target.id
            ));
        }
        _ => {
            if let Some(sd) = rec.service_deployment_mut(&state.service_deployment_arn) {
                sd.status = Some(ServiceDeploymentStatus::Stopped);
                sd.status_reason = Some(reason.into());
                sd.stopped_at = Some(now);
                sd.updated_at = Some(now);
            }
        }
    }
}

fn account_of(rec: &ServiceRecord) -> String {
    rec.service
        .service_arn
        .as_deref()
        .and_then(arn::parse)
        .map(|a| a.account.to_string())
        .unwrap_or_default()
}

/// The RunTask-equivalent for `count` tasks of a deployment.
fn launch_for(ecs: &Ecs, rec: &ServiceRecord, deployment: &str, count: i32) -> Option<Launch> {
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
        },
        network: revision.network_configuration.clone().unwrap_or_default(),
    })
}

/// Running and pending counts of the service, its deployments and revisions.
fn update_counts(rec: &mut ServiceRecord, mine: &[&TaskRecord], now: Timestamp) {
    let count = |id: &str, pending: bool| {
        mine.iter()
            .filter(|t| t.task.started_by.as_deref() == Some(id))
            .filter(|t| match t.task.last_status {
                Some(s) if pending => s.is_pending(),
                s => !pending && s == Some(TaskStatus::Running),
            })
            .count() as i32
    };
    let desired = rec.service.desired_count.unwrap_or(0);
    let mut running_total = 0;
    let mut pending_total = 0;
    let mut summaries = Vec::new();
    let states = rec.deployment_states.clone();
    for (i, d) in rec.deployments_mut().iter_mut().enumerate() {
        let id = d.id.clone().unwrap_or_default();
        let running = count(&id, false);
        let pending = count(&id, true);
        running_total += running;
        pending_total += pending;
        let failures = states.iter().find(|s| s.id == id).map_or(0, |s| s.failures);
        let want = if i == 0 { desired } else { running + pending };
        if d.running_count != Some(running)
            || d.pending_count != Some(pending)
            || d.desired_count != Some(want)
            || d.failed_tasks.unwrap_or(0) < failures
        {
            d.running_count = Some(running);
            d.pending_count = Some(pending);
            d.desired_count = Some(want);
            d.failed_tasks = Some(d.failed_tasks.unwrap_or(0).max(failures));
            d.updated_at = Some(now);
        }
        if let Some(st) = states.iter().find(|s| s.id == id) {
            summaries.push(super::service_model::RevisionSummary {
                arn: Some(st.revision_arn.clone()),
                requested_task_count: Some(want),
                running_task_count: Some(running),
                pending_task_count: Some(pending),
            });
        }
    }
    rec.service.running_count = Some(running_total);
    rec.service.pending_count = Some(pending_total);
    rec.service.current_service_revisions = Some(summaries.clone());
    for st in &states {
        if let Some(sum) = summaries
            .iter()
            .find(|s| s.arn.as_deref() == Some(st.revision_arn.as_str()))
            && let Some(sd) = rec.service_deployment_mut(&st.service_deployment_arn)
            && sd.status.is_some_and(ServiceDeploymentStatus::in_progress)
            && let Some(target) = &mut sd.target_service_revision
            && target.arn == sum.arn
            && (target.running_task_count != sum.running_task_count
                || target.pending_task_count != sum.pending_task_count)
        {
            target.running_task_count = sum.running_task_count;
            target.pending_task_count = sum.pending_task_count;
            target.requested_task_count = sum.requested_task_count;
            sd.updated_at = Some(now);
        }
    }
}

/// Drained deployments leave; a PRIMARY alone at its desired count of
/// healthy tasks completes; a draining service with no task left becomes
/// INACTIVE; a steady service says so.
fn finish(rec: &mut ServiceRecord, mine: &[&TaskRecord], now: Timestamp) {
    let name = rec.name().to_string();
    let alive = |id: &str| {
        mine.iter().any(|t| {
            t.task.started_by.as_deref() == Some(id)
                && t.task.last_status != Some(TaskStatus::Stopped)
        })
    };
    if rec.service.status == Some(ServiceStatus::Draining) {
        if !mine
            .iter()
            .any(|t| t.task.last_status != Some(TaskStatus::Stopped))
        {
            rec.service.status = Some(ServiceStatus::Inactive);
            rec.tracked.clear();
            for sd in &mut rec.service_deployments {
                if sd.status.is_some_and(ServiceDeploymentStatus::in_progress) {
                    sd.status = Some(ServiceDeploymentStatus::Stopped);
                    sd.status_reason = Some("The service was deleted.".into());
                    sd.stopped_at = Some(now);
                    sd.updated_at = Some(now);
                }
            }
        }
        return;
    }
    // Older deployments without a task left are gone.
    let before = rec.deployments().len();
    let keep: Vec<_> = rec
        .deployments()
        .iter()
        .enumerate()
        .filter(|(i, d)| *i == 0 || alive(d.id.as_deref().unwrap_or("")))
        .map(|(_, d)| d.clone())
        .collect();
    if keep.len() != before {
        rec.service.deployments = Some(keep);
    }

    let desired = rec.service.desired_count.unwrap_or(0);
    let Some(primary) = rec.deployments().first().cloned() else {
        return;
    };
    let id = primary.id.clone().unwrap_or_default();
    let healthy = mine
        .iter()
        .filter(|t| t.task.started_by.as_deref() == Some(id.as_str()))
        .filter(|t| {
            t.task.last_status == Some(TaskStatus::Running)
                && t.task.desired_status != Some(TaskStatus::Stopped)
                && rec
                    .tracked
                    .get(&t.plan.task_id)
                    .is_some_and(|tr| tr.healthy)
        })
        .count() as i32;
    let others_alive = mine.iter().any(|t| {
        t.task.started_by.as_deref() != Some(id.as_str())
            && t.task.last_status != Some(TaskStatus::Stopped)
    });
    let alone = rec.deployments().len() == 1 && !others_alive;
    if alone && healthy == desired && primary.rollout_state == Some(RolloutState::InProgress) {
        if let Some(p) = rec.deployments_mut().first_mut() {
            p.rollout_state = Some(RolloutState::Completed);
            p.rollout_state_reason = Some(format!("ECS deployment {id} completed."));
            p.updated_at = Some(now);
        }
        rec.last_completed = Some(id.clone());
        rec.event(format!(
            "(service {name}) (deployment {id}) deployment completed."
        ));
        if let Some(sd_arn) = rec.state(&id).map(|s| s.service_deployment_arn.clone())
            && let Some(sd) = rec.service_deployment_mut(&sd_arn)
        {
            sd.status = Some(
                if sd.status == Some(ServiceDeploymentStatus::RollbackInProgress) {
                    ServiceDeploymentStatus::RollbackSuccessful
                } else {
                    ServiceDeploymentStatus::Successful
                },
            );
            sd.finished_at = Some(now);
            sd.updated_at = Some(now);
            if let Some(cb) = &mut sd.deployment_circuit_breaker
                && cb.status == Some(MonitorStatus::Monitoring)
            {
                cb.status = Some(MonitorStatus::MonitoringComplete);
            }
        }
    }
    let running = rec.service.running_count.unwrap_or(0);
    let steady = rec.deployments().len() == 1
        && running == desired
        && healthy == desired
        && !others_alive
        && rec.deployments()[0].rollout_state == Some(RolloutState::Completed);
    if steady {
        if rec
            .steady_reported_at
            .is_none_or(|t| now - t >= STEADY_REPEAT_SECS)
        {
            rec.steady_reported_at = Some(now);
            rec.event(format!("(service {name}) has reached a steady state."));
        }
    } else if rec.steady_reported_at.is_some() && running != desired {
        rec.steady_reported_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_grows_to_fifteen_minutes() {
        let cases = [
            (1, 0.0),
            (3, 0.0),
            (4, 2.0),
            (5, 4.0),
            (8, 32.0),
            (12, 512.0),
            (13, 900.0),
            (40, 900.0),
        ];
        for (n, want) in cases {
            assert_eq!(throttle_delay(n), want, "{n}");
        }
    }
}
