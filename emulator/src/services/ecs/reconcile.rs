//! One service's scheduler round as a pure function:
//! [`apply`]`(now, record, observations) -> (record, work)`. The
//! observations are the tasks of the service's region and what the load
//! balancers hold for it, read before the round; the work is what the
//! scheduler loop (`scheduler.rs`) then does: load balancer calls, task
//! launches and stops. No IO and no clock: `now` is given, so the same
//! inputs give the same record (event and deployment ids aside, which are
//! random).
//!
//! The round, in phases: track live tasks nobody tracks, register running
//! tasks as targets, note which tracked tasks became RUNNING, healthy or
//! gone (and what that means for the circuit breaker and the launch
//! throttle), trip the breaker, build the rollout view and act on
//! `rollout::plan`, then update counts, rollout states and events.
//!
//! Left out: the load balancers themselves (a [`Balancers`] snapshot stands
//! for them, updated as the round's own calls would update them) and the
//! launches (a [`Launch`] names the deployment and count; the loop builds
//! the RunTask-equivalent).

use std::collections::{HashMap, HashSet};

use super::TaskRecord;
use super::rollout::{self, Action, DeploymentView, StopWhy, TaskView, View};
use super::service_model::{
    DeploymentCircuitBreaker, DeploymentConfiguration, MonitorStatus, RevisionSummary, Rollback,
    RolloutState, ServiceDeploymentStatus, ServiceRecord, ServiceStatus, Tracked,
};
use crate::domain::arn::{self, Scope};
use crate::domain::status::{Health, LaunchType, StopCode, TaskStatus};
use crate::domain::time::Timestamp;
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

// ---------------------------------------------------------------- inputs

/// A target group of the service, as the load balancers hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// `deregistration_delay.timeout_seconds`.
    pub delay: f64,
    /// Installed by `serve --front-door`.
    pub front_door: bool,
}

/// What the load balancers hold for one service at the start of a round.
/// The round's own calls update it as they would update the balancers, so
/// each phase sees what it saw when the calls were made in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Balancers {
    /// Whether there is a load balancer backend at all.
    pub present: bool,
    /// (target group, container, port): the service's `loadBalancers` and
    /// the front doors `serve --front-door` gives it.
    pub lbs: Vec<(String, String, u16)>,
    /// The target groups that exist.
    pub groups: HashMap<String, Group>,
    /// (target group, task id) -> the target's state.
    pub targets: HashMap<(String, String), TargetState>,
}

impl Balancers {
    fn state(&self, tg: &str, task: &str) -> Option<TargetState> {
        self.targets
            .get(&(tg.to_string(), task.to_string()))
            .copied()
    }

    fn is_front_door(&self, tg: &str) -> bool {
        self.groups.get(tg).is_some_and(|g| g.front_door)
    }
}

/// What a round sees besides the service's own record.
pub struct Observations<'a> {
    /// Every task of the service's region (the round picks the service's).
    pub tasks: &'a HashMap<String, TaskRecord>,
    pub balancers: Balancers,
}

// ---------------------------------------------------------------- outputs

/// A call to the load balancers, made by the loop in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum ElbCall {
    /// A running task becomes a target (`healthy`: it was counted healthy
    /// before a restart).
    Register {
        tg: String,
        task: String,
        ip: String,
        port: u16,
        host: String,
        healthy: bool,
    },
    /// The task's target starts draining.
    Deregister { tg: String, task: String },
    /// The task stopped: its target goes at once.
    Remove { tg: String, task: String },
    /// A front door met a task without its container port (logged once).
    FrontDoorMismatch {
        tg: String,
        task: String,
        container: String,
        port: u16,
    },
}

/// `count` tasks of a deployment to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub deployment: String,
    pub count: i32,
}

/// A task to stop, and why (its `stoppedReason`).
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    pub task_arn: String,
    pub reason: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Work {
    pub elb: Vec<ElbCall>,
    pub launches: Vec<Launch>,
    pub stops: Vec<Stop>,
}

/// The round's load balancer calls, made on the snapshot as they are
/// recorded.
struct Elb<'w> {
    b: Balancers,
    calls: &'w mut Vec<ElbCall>,
}

impl Elb<'_> {
    /// True when the task was not a target yet.
    fn register(&mut self, call: ElbCall) -> bool {
        let ElbCall::Register {
            tg, task, healthy, ..
        } = &call
        else {
            return false;
        };
        let k = (tg.clone(), task.clone());
        if !self.b.groups.contains_key(tg) || self.b.targets.contains_key(&k) {
            return false;
        }
        let state = if *healthy {
            TargetState::Healthy
        } else {
            TargetState::Initial
        };
        self.b.targets.insert(k, state);
        self.calls.push(call);
        true
    }

    /// When the drain ends (None when the task was no target, or drains
    /// already).
    fn deregister(&mut self, tg: &str, task: &str, now: Timestamp) -> Option<Timestamp> {
        let delay = self.b.groups.get(tg)?.delay;
        let state = self
            .b
            .targets
            .get_mut(&(tg.to_string(), task.to_string()))?;
        if *state == TargetState::Draining {
            return None;
        }
        *state = TargetState::Draining;
        self.calls.push(ElbCall::Deregister {
            tg: tg.into(),
            task: task.into(),
        });
        Some(now + delay)
    }

    fn remove(&mut self, tg: &str, task: &str) {
        self.b.targets.remove(&(tg.to_string(), task.to_string()));
        self.calls.push(ElbCall::Remove {
            tg: tg.into(),
            task: task.into(),
        });
    }
}

// ---------------------------------------------------------------- the round

/// One service's round. `record` is the service as stored; the answer is
/// the service as it should be stored after the round, and what to do.
pub fn apply(
    now: Timestamp,
    record: &ServiceRecord,
    obs: &Observations<'_>,
) -> (ServiceRecord, Work) {
    let mut rec = record.clone();
    let mut work = Work::default();
    let mine = service_tasks(&rec, obs.tasks);
    let cfg = rec
        .service
        .deployment_configuration
        .clone()
        .unwrap_or_default();
    let breaker = cfg.deployment_circuit_breaker.clone().unwrap_or_default();
    let mut elb = Elb {
        b: obs.balancers.clone(),
        calls: &mut work.elb,
    };

    track_untracked(&mut rec, &mine);
    register_targets(&mut rec, &mine, &mut elb, now);
    let (gone, became_healthy) = observe_tracked(&mut rec, &mine, &elb.b, now);
    account_for_gone(&mut rec, gone, &mut elb, now);
    for deployment in became_healthy {
        rec.throttle = Default::default();
        if breaker.reset_on_healthy_task != Some(false)
            && let Some(d) = rec.state_mut(&deployment)
        {
            d.failures = 0;
        }
    }
    let draining = rec.service.status == Some(ServiceStatus::Draining);
    // The circuit breaker, on the PRIMARY deployment only.
    if !draining {
        trip_breaker(&mut rec, &breaker, now);
    }
    let view = rollout_view(&rec, &cfg, &mine, &elb.b, now);
    act(
        &mut rec,
        &view,
        &mine,
        &mut elb,
        now,
        &mut work.launches,
        &mut work.stops,
    );
    update_counts(&mut rec, &mine, now);
    finish(&mut rec, &mine, now);
    (rec, work)
}

/// The service's tasks: its group, started by one of its deployments.
fn service_tasks<'t>(
    rec: &ServiceRecord,
    tasks: &'t HashMap<String, TaskRecord>,
) -> Vec<&'t TaskRecord> {
    let cluster_arn = rec.service.cluster_arn.as_deref().unwrap_or_default();
    let group = format!("service:{}", rec.name());
    let ids: HashSet<&str> = rec
        .deployment_states
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    let mut mine: Vec<&TaskRecord> = tasks
        .values()
        .filter(|t| {
            t.task.cluster_arn.as_deref() == Some(cluster_arn)
                && t.task.group.as_deref() == Some(group.as_str())
                && t.task
                    .started_by
                    .as_deref()
                    .is_some_and(|s| ids.contains(s))
        })
        .collect();
    // A stable order, whatever the map's.
    mine.sort_by(|a, b| a.plan.task_id.cmp(&b.plan.task_id));
    mine
}

fn essential_checks(t: &TaskRecord) -> bool {
    t.plan
        .containers
        .iter()
        .any(|c| c.essential && c.health_check.is_some())
}

/// A task's target: its private IP, and the host address of the container
/// port (where the load balancer reaches it).
pub fn target_address(t: &TaskRecord, container: &str, port: u16) -> Option<(String, String)> {
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

/// Live tasks nobody tracks (started just before a crash): track them.
fn track_untracked(rec: &mut ServiceRecord, mine: &[&TaskRecord]) {
    for t in mine {
        if t.task.last_status != Some(TaskStatus::Stopped)
            && !rec.tracked.contains_key(&t.plan.task_id)
        {
            rec.tracked.insert(
                t.plan.task_id.clone(),
                Tracked {
                    deployment: t.task.started_by.clone().unwrap_or_default(),
                    ..Default::default()
                },
            );
        }
    }
}

/// Running tasks not being stopped are targets of the service's groups.
fn register_targets(
    rec: &mut ServiceRecord,
    mine: &[&TaskRecord],
    elb: &mut Elb<'_>,
    now: Timestamp,
) {
    if !elb.b.present {
        return;
    }
    let name = rec.name().to_string();
    let lbs = elb.b.lbs.clone();
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
            if address.is_none() && elb.b.is_front_door(tg) {
                elb.calls.push(ElbCall::FrontDoorMismatch {
                    tg: tg.clone(),
                    task: id.clone(),
                    container: container.clone(),
                    port: *port,
                });
            }
            // A task already counted healthy is being registered again
            // after a restart: no new registration to report.
            if let Some((ip, host)) = address
                && elb.register(ElbCall::Register {
                    tg: tg.clone(),
                    task: id.clone(),
                    ip,
                    port: *port,
                    host,
                    healthy: tr.healthy,
                })
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
        rec.event_at(
            now,
            format!("(service {name}) registered {n} targets in (target-group {tg})"),
        );
    }
}

/// A tracked task that is gone: its id, deployment, whether it ran, was
/// healthy, and was stopped by the scheduler.
struct Gone {
    id: String,
    deployment: String,
    ran: bool,
    healthy: bool,
    by_scheduler: bool,
}

/// Tracked tasks: newly running, newly healthy, or gone. Returns the gone
/// ones and the deployments of the newly healthy ones.
fn observe_tracked(
    rec: &mut ServiceRecord,
    mine: &[&TaskRecord],
    b: &Balancers,
    now: Timestamp,
) -> (Vec<Gone>, Vec<String>) {
    let by_id: HashMap<&str, &TaskRecord> =
        mine.iter().map(|t| (t.plan.task_id.as_str(), *t)).collect();
    let mut gone = Vec::new();
    let mut became_healthy = Vec::new();
    for (id, tr) in rec.tracked.iter_mut() {
        let task = by_id.get(id.as_str());
        let stopped = task.is_none_or(|t| t.task.last_status == Some(TaskStatus::Stopped));
        if stopped {
            gone.push(Gone {
                id: id.clone(),
                deployment: tr.deployment.clone(),
                ran: tr.ran,
                healthy: tr.healthy,
                by_scheduler: tr.stopping.is_some()
                    || task.is_some_and(|t| {
                        t.task.stop_code == Some(StopCode::ServiceSchedulerInitiated)
                    }),
            });
            continue;
        }
        let Some(t) = task else { continue };
        if t.task.last_status == Some(TaskStatus::Running) && !tr.ran {
            tr.ran = true;
            tr.running_since = Some(now);
        }
        if !tr.healthy && tr.ran && counts_healthy(t, tr, b, now) {
            tr.healthy = true;
            became_healthy.push(tr.deployment.clone());
        }
    }
    (gone, became_healthy)
}

/// Whether a running tracked task counts as healthy now: HEALTHY where its
/// essential containers have checks, else RUNNING (for `SETTLE_SECS`
/// without a load balancer); behind a load balancer, also healthy in every
/// target group (a front door whose port the task does not publish is no
/// target group of the task).
fn counts_healthy(t: &TaskRecord, tr: &Tracked, b: &Balancers, now: Timestamp) -> bool {
    let running = t.task.last_status == Some(TaskStatus::Running);
    let ok = if essential_checks(t) {
        t.task.health_status == Some(Health::Healthy)
    } else if !b.lbs.is_empty() {
        running
    } else {
        running && tr.running_since.is_some_and(|s| now - s >= SETTLE_SECS)
    };
    ok && b.lbs.iter().all(|(tg, container, port)| {
        b.present
            && (b.state(tg, &t.plan.task_id) == Some(TargetState::Healthy)
                || (b.is_front_door(tg) && target_address(t, container, *port).is_none()))
    })
}

/// Gone tasks leave the targets and the tracked set; one that stopped
/// before it was ever healthy, and not by the scheduler, is a failure of
/// its deployment, and one that never ran also feeds the launch throttle.
fn account_for_gone(rec: &mut ServiceRecord, gone: Vec<Gone>, elb: &mut Elb<'_>, now: Timestamp) {
    let name = rec.name().to_string();
    for g in gone {
        rec.tracked.remove(&g.id);
        if elb.b.present {
            for (tg, _, _) in elb.b.lbs.clone() {
                elb.remove(&tg, &g.id);
            }
        }
        if g.by_scheduler || g.healthy {
            continue;
        }
        if let Some(d) = rec.state_mut(&g.deployment) {
            d.failures += 1;
        }
        if !g.ran {
            rec.throttle.failures += 1;
            rec.throttle.next_launch_at = now + throttle_delay(rec.throttle.failures);
            if rec.throttle.failures >= 3 && !rec.throttle.warned {
                rec.throttle.warned = true;
                rec.event_at(now, format!("(service {name}) {THROTTLE_MESSAGE}"));
            }
        }
    }
}

/// Trips the breaker of an IN_PROGRESS PRIMARY deployment whose failures
/// reached the threshold, and rolls back where asked.
fn trip_breaker(rec: &mut ServiceRecord, breaker: &DeploymentCircuitBreaker, now: Timestamp) {
    let name = rec.name().to_string();
    let desired = rec.service.desired_count.unwrap_or(0);
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
    rec.event_at(
        now,
        format!("(service {name}) (deployment {id}) deployment failed: tasks failed to start."),
    );
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
            let scope = Scope::new(rec.region.clone(), account_of(rec));
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
                now,
            );
            rec.service.task_definition = revision.task_definition.clone();
            rec.event_at(
                now,
                format!("(service {name}) rolling back to deployment {}.", target.id),
            );
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

/// What `rollout::plan` sees: each deployment (PRIMARY first) with its live
/// tasks that are not being stopped, and whether they are healthy or
/// failing their checks.
pub fn rollout_view(
    rec: &ServiceRecord,
    cfg: &DeploymentConfiguration,
    mine: &[&TaskRecord],
    b: &Balancers,
    now: Timestamp,
) -> View {
    let grace = f64::from(rec.service.health_check_grace_period_seconds.unwrap_or(0));
    let live = |t: &&&TaskRecord| {
        t.task.last_status != Some(TaskStatus::Stopped)
            && t.task.desired_status != Some(TaskStatus::Stopped)
    };
    let deployments = rec
        .deployments()
        .iter()
        .enumerate()
        .map(|(i, d)| {
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
                    let elb_unhealthy = b.present
                        && b.lbs.iter().any(|(tg, _, _)| {
                            b.state(tg, &t.plan.task_id) == Some(TargetState::Unhealthy)
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
            DeploymentView {
                id,
                can_launch: i == 0
                    && d.rollout_state != Some(RolloutState::Failed)
                    && now >= rec.throttle.next_launch_at,
                tasks,
            }
        })
        .collect();
    View {
        desired: rec.service.desired_count.unwrap_or(0),
        minimum_healthy_percent: cfg.minimum_healthy_percent.unwrap_or(100),
        maximum_percent: cfg.maximum_percent.unwrap_or(200),
        draining: rec.service.status == Some(ServiceStatus::Draining),
        deployments,
    }
}

/// `(service <name>) was unable to place a task ...`: AWS's event for a
/// service on EC2 capacity without container instances.
pub const NO_INSTANCES: &str = "was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

/// Whether a deployment runs on container instances (EC2, EXTERNAL), which
/// the emulator does not have.
fn on_instances(rec: &ServiceRecord, deployment: &str) -> bool {
    rec.deployments()
        .iter()
        .find(|d| d.id.as_deref() == Some(deployment))
        .and_then(|d| d.launch_type)
        .is_some_and(|l| l != LaunchType::Fargate)
}

/// A task of a deployment on container instances cannot be placed: said
/// once per deployment, and nothing is launched.
fn unplaceable(rec: &mut ServiceRecord, deployment: &str, now: Timestamp) {
    let name = rec.name().to_string();
    if let Some(d) = rec.state_mut(deployment)
        && !d.unplaceable_reported
    {
        d.unplaceable_reported = true;
        rec.event_at(now, format!("(service {name}) {NO_INSTANCES}"));
    }
}

/// Acts on the plan: tasks whose drain is over are stopped, the plan's
/// launches and stops are recorded (a task behind a load balancer drains
/// first), and the round's events said.
fn act(
    rec: &mut ServiceRecord,
    view: &View,
    mine: &[&TaskRecord],
    elb: &mut Elb<'_>,
    now: Timestamp,
    launches: &mut Vec<Launch>,
    stops: &mut Vec<Stop>,
) {
    let name = rec.name().to_string();
    let by_id: HashMap<&str, &TaskRecord> =
        mine.iter().map(|t| (t.plan.task_id.as_str(), *t)).collect();
    let primary_id = rec
        .deployments()
        .first()
        .and_then(|d| d.id.clone())
        .unwrap_or_default();
    let lbs = elb.b.lbs.clone();
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
            stops.push(Stop {
                task_arn: t.plan.task_arn.clone(),
                reason,
            });
        }
    }
    for action in rollout::plan(view) {
        match action {
            Action::Launch { deployment, count } => {
                if on_instances(rec, &deployment) {
                    unplaceable(rec, &deployment, now);
                } else {
                    launches.push(Launch { deployment, count });
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
                            elb.b.present && elb.b.state(tg, &task) == Some(TargetState::Unhealthy)
                        });
                        match failed_tg {
                            Some((tg, _, _)) => {
                                rec.event_at(now, format!(
                                    "(service {name}) (task {task}) failed ELB health checks in (target-group {tg})."
                                ));
                                format!("Task failed ELB health checks in (target-group {tg})")
                            }
                            None => {
                                rec.event_at(
                                    now,
                                    format!(
                                        "(service {name}) (task {task}) failed container health checks."
                                    ),
                                );
                                "Task failed container health checks".to_string()
                            }
                        }
                    }
                };
                // Behind a load balancer the task drains first.
                let mut drain_until = None;
                if elb.b.present {
                    for (tg, _, _) in &lbs {
                        if let Some(until) = elb.deregister(tg, &task, now) {
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
                stops.push(Stop {
                    task_arn: t.plan.task_arn.clone(),
                    reason,
                });
            }
            Action::Stuck => {
                if let Some(d) = rec.state_mut(&primary_id)
                    && !d.stuck_reported
                {
                    d.stuck_reported = true;
                    rec.event_at(now, format!(
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
            rec.event_at(
                now,
                format!("(service {name}) deregistered {n} targets in (target-group {tg})"),
            );
        }
        rec.event_at(
            now,
            format!("(service {name}) has begun draining connections on {draining_now} tasks."),
        );
    }
    if !stopped_running.is_empty() {
        let list: Vec<String> = stopped_running
            .iter()
            .map(|i| format!("(task {i})"))
            .collect();
        rec.event_at(
            now,
            format!(
                "(service {name}) has stopped {} running tasks: {}.",
                stopped_running.len(),
                list.join(" ")
            ),
        );
    }
    if stopped_pending > 0 {
        rec.event_at(
            now,
            format!("(service {name}) stopped {stopped_pending} pending tasks."),
        );
    }
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
            summaries.push(RevisionSummary {
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
        rec.event_at(
            now,
            format!("(service {name}) (deployment {id}) deployment completed."),
        );
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
            rec.event_at(now, format!("(service {name}) has reached a steady state."));
        }
    } else if rec.steady_reported_at.is_some() && running != desired {
        rec.steady_reported_at = None;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::domain::status::ContainerStatus;
    use crate::runtime::fake::FakeRuntime;
    use crate::services::ecs::model::{
        Attachment, Container, KeyValuePair, NetworkBinding, Task, TaskDefinition,
    };
    use crate::services::ecs::planning::{PlanInput, plan_task};
    use crate::services::ecs::test_support::{REGION, caller, ecs_with, req};
    use crate::store::Store;

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

    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1";

    /// A service as CreateService stores it (`extra` adds request members).
    async fn service(desired: i32, extra: serde_json::Value) -> ServiceRecord {
        let (ecs, _rt) = ecs_with(Store::in_memory(), &FakeRuntime::default());
        let c = caller();
        ecs.create_cluster(&c, req(json!({"clusterName": "c"})))
            .unwrap();
        ecs.register_task_definition(
            &c,
            req(json!({
                "family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                "cpu": "256", "memory": "512",
                "containerDefinitions": [{"name": "app", "image": "busybox",
                    "portMappings": [{"containerPort": 80}]}]
            })),
            0,
        )
        .unwrap();
        let mut body = json!({"cluster": "c", "serviceName": "svc", "taskDefinition": "web",
            "desiredCount": desired, "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s"]}}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        ecs.create_service(&c, req(body)).unwrap();
        let mut st = ecs.lock();
        st.region(REGION).services["c/svc"].clone()
    }

    fn primary(rec: &ServiceRecord) -> String {
        rec.deployments()[0].id.clone().unwrap()
    }

    /// A task of the service's deployment `deployment`, in `status`.
    fn task(rec: &ServiceRecord, id: &str, deployment: &str, status: TaskStatus) -> TaskRecord {
        let td = TaskDefinition {
            family: Some("web".into()),
            container_definitions: Some(vec![Default::default()]),
            ..Default::default()
        };
        let mut td = td;
        td.container_definitions.as_mut().unwrap()[0].name = Some("app".into());
        let arn = format!("arn:aws:ecs:us-east-1:000000000000:task/c/{id}");
        let plan = plan_task(PlanInput {
            task_definition: &td,
            overrides: None,
            task_arn: arn.clone(),
            task_id: id.into(),
            cluster_arn: rec.service.cluster_arn.clone().unwrap(),
            cluster_name: "c".into(),
            region: REGION.into(),
            container_arn: &|n| format!("arn:container/{n}"),
            runtime_id: &|| format!("{id}-1"),
            enable_execute_command: false,
        });
        let task = Task {
            task_arn: Some(arn),
            cluster_arn: rec.service.cluster_arn.clone(),
            group: Some("service:svc".into()),
            started_by: Some(deployment.into()),
            last_status: Some(status),
            desired_status: Some(if status == TaskStatus::Stopped {
                TaskStatus::Stopped
            } else {
                TaskStatus::Running
            }),
            started_at: (status >= TaskStatus::Running).then_some(0.0),
            attachments: Some(vec![Attachment {
                details: Some(vec![KeyValuePair::new("privateIPv4Address", "10.0.0.2")]),
                ..Default::default()
            }]),
            containers: Some(vec![Container {
                name: Some("app".into()),
                last_status: Some(ContainerStatus::Running),
                network_bindings: Some(vec![NetworkBinding {
                    bind_ip: Some("0.0.0.0".into()),
                    container_port: Some(80),
                    host_port: Some(32768),
                    protocol: Some("tcp".into()),
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        };
        TaskRecord {
            task,
            plan,
            client_token: None,
        }
    }

    /// A load balancer snapshot: the service's one target group (delay 5 s)
    /// and its targets.
    fn balancer(targets: &[(&str, TargetState)]) -> Balancers {
        Balancers {
            present: true,
            lbs: vec![(TG.into(), "app".into(), 80)],
            groups: [(
                TG.to_string(),
                Group {
                    delay: 5.0,
                    front_door: false,
                },
            )]
            .into(),
            targets: targets
                .iter()
                .map(|(id, s)| ((TG.to_string(), id.to_string()), *s))
                .collect(),
        }
    }

    /// What a round did, in words that do not depend on random ids: the
    /// primary deployment is "primary".
    #[derive(Debug, PartialEq)]
    struct Outcome {
        launches: Vec<(String, i32)>,
        stops: Vec<(String, String)>,
        elb: Vec<String>,
        /// The events the round added, oldest first, without the service
        /// name.
        events: Vec<String>,
        /// Task id -> (ran, healthy, being stopped).
        tracked: BTreeMap<String, (bool, bool, bool)>,
        rollout: Option<RolloutState>,
        status: Option<ServiceStatus>,
        /// The primary deployment's failure count, and the throttle's.
        failures: (i32, u32),
    }

    /// One round of `rec` over `tasks` and `balancers` at `now`.
    fn check(
        rec: &ServiceRecord,
        tasks: &[TaskRecord],
        balancers: Balancers,
        now: Timestamp,
    ) -> (ServiceRecord, Outcome) {
        let map: HashMap<String, TaskRecord> = tasks
            .iter()
            .map(|t| (t.plan.task_id.clone(), t.clone()))
            .collect();
        let obs = Observations {
            tasks: &map,
            balancers,
        };
        let (next, work) = apply(now, rec, &obs);
        // Pure: the same round again gives the same decisions.
        let (again, work_again) = apply(now, rec, &obs);
        assert_eq!(work, work_again);
        assert_eq!(next.tracked, again.tracked);
        let p = primary(&next);
        let name = |d: &str| {
            if d == p {
                "primary".to_string()
            } else {
                d.to_string()
            }
        };
        let before = rec.service.events.as_ref().map_or(0, Vec::len);
        let events = next.service.events.clone().unwrap_or_default();
        let added = events.len().min(100) - before.min(events.len());
        let outcome = Outcome {
            launches: work
                .launches
                .iter()
                .map(|l| (name(&l.deployment), l.count))
                .collect(),
            stops: work
                .stops
                .iter()
                .map(|s| (short(&s.task_arn), s.reason.replace(&p, "primary")))
                .collect(),
            elb: work
                .elb
                .iter()
                .map(|c| match c {
                    ElbCall::Register { task, healthy, .. } => format!("register {task} {healthy}"),
                    ElbCall::Deregister { task, .. } => format!("deregister {task}"),
                    ElbCall::Remove { task, .. } => format!("remove {task}"),
                    ElbCall::FrontDoorMismatch { task, .. } => format!("mismatch {task}"),
                })
                .collect(),
            events: events[..added]
                .iter()
                .rev()
                .map(|e| {
                    e.message
                        .clone()
                        .unwrap()
                        .replace("(service svc) ", "")
                        .replace(&p, "primary")
                })
                .collect(),
            tracked: next
                .tracked
                .iter()
                .map(|(id, t)| (id.clone(), (t.ran, t.healthy, t.stopping.is_some())))
                .collect(),
            rollout: next.deployments().first().and_then(|d| d.rollout_state),
            status: next.service.status,
            failures: (
                next.state(&p).map_or(0, |s| s.failures),
                next.throttle.failures,
            ),
        };
        (next, outcome)
    }

    fn short(arn: &str) -> String {
        arn.rsplit('/').next().unwrap().to_string()
    }

    fn tracked(list: &[(&str, (bool, bool, bool))]) -> BTreeMap<String, (bool, bool, bool)> {
        list.iter().map(|(id, t)| (id.to_string(), *t)).collect()
    }

    fn outcome() -> Outcome {
        Outcome {
            launches: vec![],
            stops: vec![],
            elb: vec![],
            events: vec![],
            tracked: BTreeMap::new(),
            rollout: Some(RolloutState::InProgress),
            status: Some(ServiceStatus::Active),
            failures: (0, 0),
        }
    }

    #[tokio::test]
    async fn a_new_service_starts_its_tasks_and_completes_once_they_settle() {
        let rec = service(2, json!({})).await;
        let p = primary(&rec);
        // No task yet: two to start.
        let (_, got) = check(&rec, &[], Balancers::default(), 100.0);
        assert_eq!(
            got,
            Outcome {
                launches: vec![("primary".into(), 2)],
                ..outcome()
            }
        );
        // Started and running, not yet settled.
        let mut rec = rec;
        for id in ["t1", "t2"] {
            rec.tracked.insert(
                id.into(),
                Tracked {
                    deployment: p.clone(),
                    ..Default::default()
                },
            );
        }
        let tasks = [
            task(&rec, "t1", &p, TaskStatus::Running),
            task(&rec, "t2", &p, TaskStatus::Running),
        ];
        let (rec, got) = check(&rec, &tasks, Balancers::default(), 100.0);
        assert_eq!(
            got,
            Outcome {
                tracked: tracked(&[("t1", (true, false, false)), ("t2", (true, false, false))]),
                ..outcome()
            }
        );
        // Settled: healthy, completed, steady.
        let (rec, got) = check(&rec, &tasks, Balancers::default(), 100.0 + SETTLE_SECS);
        assert_eq!(
            got,
            Outcome {
                tracked: tracked(&[("t1", (true, true, false)), ("t2", (true, true, false))]),
                rollout: Some(RolloutState::Completed),
                events: vec![
                    "(deployment primary) deployment completed.".into(),
                    "has reached a steady state.".into()
                ],
                ..outcome()
            }
        );
        assert_eq!(rec.service.running_count, Some(2));
        // Nothing more to do or say.
        let (_, got) = check(&rec, &tasks, Balancers::default(), 200.0);
        assert_eq!(got.events, Vec::<String>::new());
        assert_eq!((got.launches, got.stops), (vec![], vec![]));
    }

    #[tokio::test]
    async fn tasks_that_never_run_feed_the_breaker_and_the_throttle() {
        let breaker = json!({"deploymentConfiguration":
            {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}});
        let mut rec = service(1, breaker).await;
        let p = primary(&rec);
        let throttle = "is unable to consistently start tasks successfully. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";
        let mut now = 100.0;
        for round in 1..=10 {
            let id = format!("t{round}");
            rec.tracked.insert(
                id.clone(),
                Tracked {
                    deployment: p.clone(),
                    ..Default::default()
                },
            );
            let gone = task(&rec, &id, &p, TaskStatus::Stopped);
            let (next, got) = check(&rec, &[gone], Balancers::default(), now);
            let mut want = Outcome {
                elb: vec![],
                failures: (round, round as u32),
                ..outcome()
            };
            // The throttle: no delay for three, then 2 s, 4 s, ...
            let delay = throttle_delay(round as u32);
            if delay == 0.0 {
                want.launches = vec![("primary".into(), 1)];
            }
            if round == 3 {
                want.events = vec![throttle.into()];
            }
            if round == 10 {
                // The default threshold is 10: the breaker trips, and with
                // no completed deployment to go back to, it only stops.
                want.rollout = Some(RolloutState::Failed);
                want.launches = vec![];
                want.events =
                    vec!["(deployment primary) deployment failed: tasks failed to start.".into()];
            }
            assert_eq!(got, want, "round {round}");
            assert_eq!(next.throttle.next_launch_at, now + delay, "round {round}");
            rec = next;
            now += 1000.0;
        }
        let sd = rec.service_deployments.last().unwrap();
        assert_eq!(sd.status, Some(ServiceDeploymentStatus::Stopped));
        assert_eq!(
            sd.deployment_circuit_breaker.as_ref().unwrap().status,
            Some(MonitorStatus::Triggered)
        );
    }

    #[tokio::test]
    async fn an_unhealthy_task_is_replaced() {
        let mut rec = service(1, json!({})).await;
        let p = primary(&rec);
        rec.tracked.insert(
            "t1".into(),
            Tracked {
                deployment: p.clone(),
                ran: true,
                running_since: Some(0.0),
                ..Default::default()
            },
        );
        let mut t = task(&rec, "t1", &p, TaskStatus::Running);
        let (rec, got) = check(&rec, &[t.clone()], Balancers::default(), 100.0);
        assert_eq!(got.rollout, Some(RolloutState::Completed));
        t.task.health_status = Some(Health::Unhealthy);
        let (_, got) = check(&rec, &[t], Balancers::default(), 101.0);
        assert_eq!(
            got,
            Outcome {
                launches: vec![("primary".into(), 1)],
                stops: vec![("t1".into(), "Task failed container health checks".into())],
                tracked: tracked(&[("t1", (true, true, true))]),
                events: vec![
                    "(task t1) failed container health checks.".into(),
                    "has stopped 1 running tasks: (task t1).".into()
                ],
                rollout: Some(RolloutState::Completed),
                ..outcome()
            }
        );
    }

    #[tokio::test]
    async fn behind_a_load_balancer_tasks_register_count_healthy_and_drain() {
        let lb = json!({"loadBalancers":
            [{"targetGroupArn": TG, "containerName": "app", "containerPort": 80}]});
        let mut rec = service(1, lb).await;
        let p = primary(&rec);
        rec.tracked.insert(
            "t1".into(),
            Tracked {
                deployment: p.clone(),
                ..Default::default()
            },
        );
        let tasks = [task(&rec, "t1", &p, TaskStatus::Running)];
        // Running: registered, not yet healthy (its target is initial).
        let (rec, got) = check(&rec, &tasks, balancer(&[]), 100.0);
        assert_eq!(
            got,
            Outcome {
                elb: vec!["register t1 false".into()],
                events: vec![format!("registered 1 targets in (target-group {TG})")],
                tracked: tracked(&[("t1", (true, false, false))]),
                ..outcome()
            }
        );
        // Initial still: not healthy, whatever the time.
        let (rec, got) = check(
            &rec,
            &tasks,
            balancer(&[("t1", TargetState::Initial)]),
            200.0,
        );
        assert_eq!(got.tracked, tracked(&[("t1", (true, false, false))]));
        // The target is healthy: so is the task, and the deployment is done.
        let (mut rec, got) = check(
            &rec,
            &tasks,
            balancer(&[("t1", TargetState::Healthy)]),
            201.0,
        );
        assert_eq!(got.tracked, tracked(&[("t1", (true, true, false))]));
        assert_eq!(got.rollout, Some(RolloutState::Completed));
        // Scaled to 0: the target drains first (5 s), then the task stops.
        rec.service.desired_count = Some(0);
        let (rec, got) = check(
            &rec,
            &tasks,
            balancer(&[("t1", TargetState::Healthy)]),
            300.0,
        );
        assert_eq!(
            (got.elb, got.stops, got.events),
            (
                vec!["deregister t1".to_string()],
                vec![],
                vec![
                    format!("deregistered 1 targets in (target-group {TG})"),
                    "has begun draining connections on 1 tasks.".to_string()
                ]
            )
        );
        assert_eq!(rec.tracked["t1"].drain_until, Some(305.0));
        let draining = balancer(&[("t1", TargetState::Draining)]);
        let (rec, got) = check(&rec, &tasks, draining.clone(), 304.0);
        assert_eq!((got.stops, got.elb), (vec![], vec![]));
        let (_, got) = check(&rec, &tasks, draining, 305.0);
        assert_eq!(
            (got.stops, got.events),
            (
                vec![(
                    "t1".to_string(),
                    "Scaling activity initiated by (deployment primary)".to_string()
                )],
                vec!["has stopped 1 running tasks: (task t1).".to_string()]
            )
        );
    }

    /// A deployment on EC2 (a service created without a launch type) can
    /// place no task: it says so once and launches nothing.
    #[tokio::test]
    async fn a_deployment_on_container_instances_places_nothing() {
        let rec = service(2, json!({"launchType": "EC2"})).await;
        assert_eq!(rec.service.launch_type, Some(LaunchType::Ec2));
        let (rec, got) = check(&rec, &[], Balancers::default(), 100.0);
        assert_eq!(
            got,
            Outcome {
                events: vec![NO_INSTANCES.into()],
                ..outcome()
            }
        );
        let (_, got) = check(&rec, &[], Balancers::default(), 101.0);
        assert_eq!(got, outcome());
    }

    #[tokio::test]
    async fn a_deleted_service_goes_inactive_once_its_tasks_are_gone() {
        let mut rec = service(0, json!({})).await;
        let p = primary(&rec);
        rec.service.status = Some(ServiceStatus::Draining);
        let live = task(&rec, "t1", &p, TaskStatus::Running);
        let (_, got) = check(&rec, &[live], Balancers::default(), 100.0);
        assert_eq!(got.status, Some(ServiceStatus::Draining));
        assert_eq!(
            got.stops,
            vec![(
                "t1".to_string(),
                "Scaling activity initiated by (deployment primary)".to_string()
            )]
        );
        let gone = task(&rec, "t1", &p, TaskStatus::Stopped);
        let (next, got) = check(&rec, &[gone], Balancers::default(), 100.0);
        assert_eq!(got.status, Some(ServiceStatus::Inactive));
        let sd = next.service_deployments.last().unwrap();
        assert_eq!(
            (sd.status, sd.status_reason.as_deref()),
            (
                Some(ServiceDeploymentStatus::Stopped),
                Some("The service was deleted.")
            )
        );
    }
}
