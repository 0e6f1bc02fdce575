//! One supervisor per task: it walks the plan through the task lifecycle
//! (provision the namespace, get the images, create the containers, start
//! them in `dependsOn` order, watch them, stop them in reverse order, clean
//! up) and reports every change as a `TaskUpdate`.
//!
//! It talks to the engine only through `ContainerRuntime`, so the ordering
//! and stopping rules can be tested without Docker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::plan::{Condition, ContainerPlan, TaskPlan};
use super::{
    ContainerRuntime, ContainerSpec, Control, EventKind, Hooks, InfraSpec, Instance,
    LABEL_CONTAINER, LABEL_ROLE, LABEL_TASK_ARN, RuntimeError, Start, TaskUpdate, UpdateSender,
};
use crate::domain::status::{ContainerStatus, Health, StopCode, TaskStatus};

/// The name events use for the task's infrastructure container. Container
/// names in a task definition cannot contain a dot, so it never collides.
pub const INFRA: &str = ".infra";
/// Lines of output kept from each container when the task is cleaned up.
pub const KEPT_LOG_LINES: usize = 100;

pub fn infra_name(task_id: &str) -> String {
    format!("fargate-local-{task_id}")
}

pub fn container_name(task_id: &str, container: &str) -> String {
    format!("fargate-local-{task_id}-{container}")
}

pub fn volume_name(task_id: &str, volume: &str) -> String {
    format!("fargate-local-{task_id}-{volume}")
}

#[derive(Debug, Clone)]
struct CState {
    created: bool,
    status: ContainerStatus,
    exit_code: Option<i32>,
    health: Health,
    /// When the container was started, or when waiting for it began.
    since: Instant,
    /// Stopped without ever running (failed dependency or start).
    never_ran: bool,
}

/// Why a task stops.
#[derive(Debug, Clone)]
struct StopReq {
    code: StopCode,
    reason: String,
}

impl StopReq {
    fn new(code: StopCode, reason: impl Into<String>) -> Self {
        StopReq {
            code,
            reason: reason.into(),
        }
    }
}

enum DepState {
    Ready,
    Wait(Option<Instant>),
    Fail(String),
}

pub struct Supervisor {
    plan: TaskPlan,
    rt: Arc<dyn ContainerRuntime>,
    instance: Instance,
    updates: UpdateSender,
    hooks: Hooks,
    rx: mpsc::UnboundedReceiver<Control>,
    cs: Vec<CState>,
    status: TaskStatus,
    infra: String,
}

impl Supervisor {
    pub fn new(
        plan: TaskPlan,
        rt: Arc<dyn ContainerRuntime>,
        instance: Instance,
        updates: UpdateSender,
        hooks: Hooks,
        rx: mpsc::UnboundedReceiver<Control>,
    ) -> Self {
        let now = Instant::now();
        let cs = plan
            .containers
            .iter()
            .map(|_| CState {
                created: false,
                status: ContainerStatus::Pending,
                exit_code: None,
                health: Health::Unknown,
                since: now,
                never_ran: false,
            })
            .collect();
        let infra = infra_name(&plan.task_id);
        Supervisor {
            plan,
            rt,
            instance,
            updates,
            hooks,
            rx,
            cs,
            status: TaskStatus::Provisioning,
            infra,
        }
    }

    fn send(&self, updates: Vec<TaskUpdate>) {
        let _ = self.updates.send((self.plan.task_arn.clone(), updates));
    }

    fn set_status(&mut self, s: TaskStatus) {
        if self.status.can_move_to(s) {
            self.status = s;
            self.send(vec![TaskUpdate::Status(s)]);
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.plan.containers.iter().position(|c| c.name == name)
    }

    pub async fn run(mut self, start: Start) {
        let stop = match start {
            Start::Launch => match self.provision().await {
                Ok(()) => self.watch().await,
                Err(stop) => Some(stop),
            },
            Start::Adopt {
                last_status,
                stopping,
            } => self.adopt(last_status, stopping).await,
        };
        // Without a stop, the runtime went away (the emulator is shutting
        // down): the task keeps running so the next start re-adopts it.
        if let Some(stop) = stop {
            self.teardown(stop).await;
        }
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.instance.labels();
        l.insert(LABEL_TASK_ARN.into(), self.plan.task_arn.clone());
        l
    }

    // ------------------------------------------------------------ start-up

    async fn provision(&mut self) -> Result<(), StopReq> {
        let fail = |what: &str, e: RuntimeError| {
            StopReq::new(
                StopCode::TaskFailedToStart,
                format!("ResourceInitializationError: {what}: {e}"),
            )
        };
        self.rt
            .ensure_network()
            .await
            .map_err(|e| fail("unable to create the task network", e))?;
        for v in &self.plan.volumes {
            self.rt
                .create_volume(&volume_name(&self.plan.task_id, v), &self.labels())
                .await
                .map_err(|e| fail("unable to create task volume", e))?;
        }
        self.stop_requested().await?;
        let mut labels = self.labels();
        labels.insert(LABEL_ROLE.into(), "infra".into());
        labels.insert(LABEL_CONTAINER.into(), INFRA.into());
        let mut spec = InfraSpec {
            name: self.infra.clone(),
            labels,
            ports: self
                .plan
                .ports
                .iter()
                .map(|p| (p.container_port, p.protocol.clone()))
                .collect(),
            hostname: format!(
                "ip-{}",
                &self.plan.task_id[..8.min(self.plan.task_id.len())]
            ),
            env: Vec::new(),
        };
        self.hooks.infra_spec(&self.plan, &mut spec);
        let info = self
            .rt
            .create_infra(&spec)
            .await
            .map_err(|e| fail("unable to provision the task's network namespace", e))?;
        self.status = TaskStatus::Pending;
        self.send(vec![TaskUpdate::Provisioned {
            ip: info.ip,
            mac: info.mac,
            host_ports: info.host_ports,
        }]);
        self.stop_requested().await?;

        // Images: all at once, as the agent pulls them.
        self.send(vec![TaskUpdate::PullStarted]);
        let pulls = self.plan.containers.iter().map(|c| {
            let rt = self.rt.clone();
            let image = c.image.clone();
            async move { rt.ensure_image(&image).await }
        });
        let results = futures_util::future::join_all(pulls).await;
        let mut images = Vec::new();
        for (c, r) in self.plan.containers.iter().zip(results) {
            match r {
                Ok(info) => {
                    self.send(vec![TaskUpdate::Image {
                        container: c.name.clone(),
                        digest: info.digest.clone(),
                    }]);
                    images.push(info.reference);
                }
                Err(e) => {
                    let reason = pull_failure_reason(&c.image, &e);
                    self.send(vec![
                        TaskUpdate::PullStopped,
                        TaskUpdate::Container {
                            container: c.name.clone(),
                            status: ContainerStatus::Stopped,
                            exit_code: None,
                            reason: Some(reason.clone()),
                        },
                    ]);
                    return Err(StopReq::new(StopCode::TaskFailedToStart, reason));
                }
            }
        }
        self.send(vec![TaskUpdate::PullStopped]);
        self.stop_requested().await?;

        // Environments (secrets and env files are fetched here).
        self.hooks
            .before_create(&self.plan)
            .await
            .map_err(|reason| StopReq::new(StopCode::TaskFailedToStart, reason))?;
        let mut envs = Vec::new();
        for c in &self.plan.containers {
            match self.hooks.environment(&self.plan, c).await {
                Ok(env) => envs.push(env),
                Err(reason) => {
                    return Err(StopReq::new(StopCode::TaskFailedToStart, reason));
                }
            }
        }

        // Create every container up front; volumesFrom sources first.
        for i in creation_order(&self.plan) {
            self.stop_requested().await?;
            let c = &self.plan.containers[i];
            let mut spec = container_spec(
                &self.plan,
                c,
                &envs[i],
                &images[i],
                &self.infra,
                &self.labels(),
            );
            self.hooks.container_spec(&self.plan, c, &mut spec);
            if let Err(e) = self.rt.create_container(&spec).await {
                let reason = format!("CannotCreateContainerError: {e}");
                self.send(vec![TaskUpdate::Container {
                    container: c.name.clone(),
                    status: ContainerStatus::Stopped,
                    exit_code: None,
                    reason: Some(reason.clone()),
                }]);
                return Err(StopReq::new(StopCode::TaskFailedToStart, reason));
            }
            self.cs[i].created = true;
            self.cs[i].since = Instant::now();
        }
        Ok(())
    }

    /// A stop that arrived while the task was still starting (StopTask on a
    /// PROVISIONING or PENDING task): taken before any more containers are
    /// made, so that, as on ECS, such a task ends without its containers
    /// ever running. Other messages are handled as usual.
    async fn stop_requested(&mut self) -> Result<(), StopReq> {
        while let Ok(msg) = self.rx.try_recv() {
            if let Some(stop) = self.handle(msg).await {
                return Err(stop);
            }
        }
        Ok(())
    }

    /// Whether container `i` may start now.
    fn dependencies(&self, i: usize) -> DepState {
        let mut deadline: Option<Instant> = None;
        for d in &self.plan.containers[i].depends_on {
            let Some(j) = self.index(&d.container) else {
                return DepState::Fail(format!(
                    "CannotStartContainerError: dependency container {} does not exist",
                    d.container
                ));
            };
            let dep = &self.cs[j];
            let dep_plan = &self.plan.containers[j];
            let stopped = dep.status == ContainerStatus::Stopped;
            let met = match d.condition {
                Condition::Start => dep.status != ContainerStatus::Pending,
                Condition::Complete => stopped,
                Condition::Success => {
                    if stopped && dep.exit_code != Some(0) {
                        return DepState::Fail(format!(
                            "CannotStartContainerError: dependency container {} exited with code {} and the condition is SUCCESS",
                            d.container,
                            dep.exit_code
                                .map_or("unknown".to_string(), |c| c.to_string())
                        ));
                    }
                    stopped
                }
                Condition::Healthy => {
                    if dep_plan.health_check.is_none() || stopped {
                        return DepState::Fail(format!(
                            "CannotStartContainerError: dependency container {} can never become HEALTHY",
                            d.container
                        ));
                    }
                    dep.health == Health::Healthy
                }
            };
            if !met {
                if d.condition != Condition::Start
                    && let Some(t) = dep_plan.start_timeout_secs
                {
                    let at = dep.since + Duration::from_secs(u64::from(t));
                    if Instant::now() >= at {
                        return DepState::Fail(format!(
                                "CannotStartContainerError: timed out after {t}s waiting for dependency container {} to reach {:?}",
                                d.container, d.condition
                            ).replace("Complete", "COMPLETE").replace("Success", "SUCCESS").replace("Healthy", "HEALTHY"));
                    }
                    deadline = Some(deadline.map_or(at, |d: Instant| d.min(at)));
                }
                return DepState::Wait(deadline);
            }
        }
        DepState::Ready
    }

    /// Starts every container whose dependencies are met, repeatedly, since
    /// one start can satisfy another container's START dependency. Returns
    /// the earliest dependency deadline still pending.
    async fn advance(&mut self) -> Result<Option<Instant>, StopReq> {
        loop {
            let mut progressed = false;
            let mut next: Option<Instant> = None;
            for i in 0..self.cs.len() {
                if self.cs[i].status != ContainerStatus::Pending || !self.cs[i].created {
                    continue;
                }
                match self.dependencies(i) {
                    DepState::Wait(d) => {
                        if let Some(d) = d {
                            next = Some(next.map_or(d, |n| n.min(d)));
                        }
                    }
                    DepState::Ready => {
                        progressed = true;
                        let name =
                            container_name(&self.plan.task_id, &self.plan.containers[i].name);
                        match self.rt.start_container(&name).await {
                            Ok(()) => {
                                self.cs[i].status = ContainerStatus::Running;
                                self.cs[i].since = Instant::now();
                                self.send(vec![TaskUpdate::Container {
                                    container: self.plan.containers[i].name.clone(),
                                    status: ContainerStatus::Running,
                                    exit_code: None,
                                    reason: None,
                                }]);
                            }
                            Err(e) => {
                                self.never_ran(i, None, format!("CannotStartContainerError: {e}"))?;
                            }
                        }
                    }
                    DepState::Fail(reason) => {
                        progressed = true;
                        // The agent reports a container it gave up on as
                        // stopped with 143, without starting it.
                        self.never_ran(i, Some(143), reason)?;
                    }
                }
            }
            if !progressed {
                return Ok(next);
            }
        }
    }

    fn never_ran(
        &mut self,
        i: usize,
        exit_code: Option<i32>,
        reason: String,
    ) -> Result<(), StopReq> {
        let c = &mut self.cs[i];
        c.status = ContainerStatus::Stopped;
        c.exit_code = exit_code;
        c.never_ran = true;
        let plan = &self.plan.containers[i];
        self.send(vec![TaskUpdate::Container {
            container: plan.name.clone(),
            status: ContainerStatus::Stopped,
            exit_code,
            reason: Some(reason),
        }]);
        if plan.essential {
            return Err(StopReq::new(
                StopCode::EssentialContainerExited,
                "Essential container in task exited",
            ));
        }
        Ok(())
    }

    /// Whether every container has started or finished.
    fn all_started(&self) -> bool {
        self.cs.iter().all(|c| c.status != ContainerStatus::Pending)
    }

    // ------------------------------------------------------------ running

    /// Runs until the task must stop (`Some`) or the runtime goes away
    /// (`None`).
    async fn watch(&mut self) -> Option<StopReq> {
        loop {
            let deadline = match self.advance().await {
                Ok(d) => d,
                Err(stop) => return Some(stop),
            };
            if self.all_started() && self.status < TaskStatus::Running {
                self.set_status(TaskStatus::Activating);
                self.hooks.running(&self.plan).await;
                self.set_status(TaskStatus::Running);
            }
            let msg = match deadline {
                Some(at) => tokio::select! {
                    m = self.rx.recv() => m,
                    _ = tokio::time::sleep_until(at) => continue,
                },
                None => self.rx.recv().await,
            };
            let msg = msg?;
            if let Some(stop) = self.handle(msg).await {
                return Some(stop);
            }
        }
    }

    async fn handle(&mut self, msg: Control) -> Option<StopReq> {
        match msg {
            Control::Stop { code, reason } => Some(StopReq { code, reason }),
            Control::Event { container, kind } if container == INFRA => {
                if kind == EventKind::Died {
                    Some(StopReq::new(
                        StopCode::TerminationNotice,
                        "Task stopped because its network namespace (the infrastructure container) exited",
                    ))
                } else {
                    None
                }
            }
            Control::Event { container, kind } => {
                let i = self.index(&container)?;
                match kind {
                    EventKind::Died => self.on_exit(i).await,
                    EventKind::Health(h) => {
                        if self.cs[i].health != h && self.plan.containers[i].health_check.is_some()
                        {
                            self.cs[i].health = h;
                            self.send(vec![TaskUpdate::Health {
                                container,
                                health: h,
                            }]);
                        }
                        None
                    }
                    EventKind::Oom => None,
                }
            }
            Control::Resync => {
                for i in 0..self.cs.len() {
                    if self.cs[i].status == ContainerStatus::Running {
                        let name =
                            container_name(&self.plan.task_id, &self.plan.containers[i].name);
                        if let Ok(st) = self.rt.inspect_container(&name).await
                            && st.as_ref().is_none_or(|s| !s.running)
                            && let Some(stop) = self.on_exit(i).await
                        {
                            return Some(stop);
                        }
                    }
                }
                None
            }
        }
    }

    /// A container stopped on its own (or was killed behind our back).
    async fn on_exit(&mut self, i: usize) -> Option<StopReq> {
        if self.cs[i].status != ContainerStatus::Running {
            return None;
        }
        let name = container_name(&self.plan.task_id, &self.plan.containers[i].name);
        let state = self.rt.inspect_container(&name).await.ok().flatten();
        if state.as_ref().is_some_and(|s| s.running) {
            return None;
        }
        let (exit_code, reason) = match &state {
            Some(s) if s.oom_killed => (
                s.exit_code,
                Some("OutOfMemoryError: Container killed due to memory usage".to_string()),
            ),
            Some(s) => (s.exit_code, None),
            None => (
                None,
                Some("The container was removed outside of fargate-local".to_string()),
            ),
        };
        self.cs[i].status = ContainerStatus::Stopped;
        self.cs[i].exit_code = exit_code;
        self.send(vec![TaskUpdate::Container {
            container: self.plan.containers[i].name.clone(),
            status: ContainerStatus::Stopped,
            exit_code,
            reason,
        }]);
        if self.plan.containers[i].essential {
            return Some(StopReq::new(
                StopCode::EssentialContainerExited,
                "Essential container in task exited",
            ));
        }
        None
    }

    // ------------------------------------------------------------ restart

    async fn adopt(&mut self, last_status: TaskStatus, stopping: bool) -> Option<StopReq> {
        self.status = last_status;
        let infra_alive = matches!(
            self.rt.inspect_container(&self.infra).await,
            Ok(Some(ref s)) if s.running
        );
        let mut missing = false;
        for i in 0..self.cs.len() {
            let name = container_name(&self.plan.task_id, &self.plan.containers[i].name);
            match self.rt.inspect_container(&name).await {
                Ok(Some(s)) => {
                    self.cs[i].created = true;
                    if s.running {
                        self.cs[i].status = ContainerStatus::Running;
                        self.cs[i].health = s.health.unwrap_or(Health::Unknown);
                    } else if s.exit_code.is_some() && last_status >= TaskStatus::Running {
                        // Ran and exited while we were away; on_exit reports it.
                        self.cs[i].status = ContainerStatus::Running;
                    }
                }
                Ok(None) => missing = true,
                Err(_) => missing = true,
            }
        }
        if stopping {
            return Some(StopReq::new(
                StopCode::UserInitiated,
                "Task stopped by user",
            ));
        }
        if !infra_alive || (missing && last_status >= TaskStatus::Running) {
            for i in 0..self.cs.len() {
                if self.cs[i].status == ContainerStatus::Running || !self.cs[i].created {
                    self.cs[i].status = ContainerStatus::Stopped;
                    self.send(vec![TaskUpdate::Container {
                        container: self.plan.containers[i].name.clone(),
                        status: ContainerStatus::Stopped,
                        exit_code: None,
                        reason: Some(
                            "The container disappeared while fargate-local was not running".into(),
                        ),
                    }]);
                }
            }
            return Some(StopReq::new(
                StopCode::TerminationNotice,
                "Task stopped because its containers disappeared while fargate-local was not running",
            ));
        }
        if last_status < TaskStatus::Running {
            return Some(StopReq::new(
                StopCode::TaskFailedToStart,
                "Task stopped because fargate-local restarted while the task was starting",
            ));
        }
        // Report health as found, and exits that happened while we were away.
        for i in 0..self.cs.len() {
            if self.plan.containers[i].health_check.is_some()
                && self.cs[i].status == ContainerStatus::Running
            {
                self.send(vec![TaskUpdate::Health {
                    container: self.plan.containers[i].name.clone(),
                    health: self.cs[i].health,
                }]);
            }
            if let Some(stop) = self.on_exit(i).await {
                return Some(stop);
            }
        }
        self.watch().await
    }

    // ------------------------------------------------------------ stopping

    async fn teardown(&mut self, stop: StopReq) {
        self.send(vec![TaskUpdate::StopRequested {
            code: stop.code,
            reason: stop.reason.clone(),
        }]);
        if self.status >= TaskStatus::Activating {
            self.set_status(TaskStatus::Deactivating);
        }
        self.set_status(TaskStatus::Stopping);

        for wave in self.plan.stop_waves() {
            let idx: Vec<usize> = wave.iter().filter_map(|n| self.index(n)).collect();
            let stops = idx
                .iter()
                .filter(|&&i| self.cs[i].status == ContainerStatus::Running)
                .map(|&i| {
                    let rt = self.rt.clone();
                    let name = container_name(&self.plan.task_id, &self.plan.containers[i].name);
                    let timeout = self.plan.containers[i].stop_timeout_secs;
                    async move {
                        let _ = rt.stop_container(&name, timeout).await;
                        (i, rt.inspect_container(&name).await.ok().flatten())
                    }
                });
            for (i, state) in futures_util::future::join_all(stops).await {
                self.cs[i].status = ContainerStatus::Stopped;
                let exit_code = state.as_ref().and_then(|s| s.exit_code);
                let reason = state
                    .as_ref()
                    .filter(|s| s.oom_killed)
                    .map(|_| "OutOfMemoryError: Container killed due to memory usage".to_string());
                self.cs[i].exit_code = exit_code;
                self.send(vec![TaskUpdate::Container {
                    container: self.plan.containers[i].name.clone(),
                    status: ContainerStatus::Stopped,
                    exit_code,
                    reason,
                }]);
            }
        }
        // Containers that never started.
        let never: Vec<TaskUpdate> = self
            .cs
            .iter_mut()
            .zip(&self.plan.containers)
            .filter(|(c, _)| c.status == ContainerStatus::Pending)
            .map(|(c, p)| {
                c.status = ContainerStatus::Stopped;
                TaskUpdate::Container {
                    container: p.name.clone(),
                    status: ContainerStatus::Stopped,
                    exit_code: None,
                    reason: None,
                }
            })
            .collect();
        if !never.is_empty() {
            self.send(never);
        }
        self.send(vec![TaskUpdate::ExecutionStopped]);
        self.hooks.stopped(&self.plan).await;
        self.set_status(TaskStatus::Deprovisioning);

        // Keep the last lines of output, then remove everything.
        for (i, c) in self.plan.containers.iter().enumerate() {
            if !self.cs[i].created {
                continue;
            }
            let name = container_name(&self.plan.task_id, &c.name);
            if let Ok(lines) = self.rt.logs_tail(&name, KEPT_LOG_LINES).await
                && !lines.is_empty()
            {
                self.send(vec![TaskUpdate::Logs {
                    container: c.name.clone(),
                    lines,
                }]);
            }
        }
        for c in &self.plan.containers {
            let name = container_name(&self.plan.task_id, &c.name);
            if let Err(e) = self.rt.remove_container(&name).await {
                tracing::warn!(container = %name, error = %e, "could not remove container");
            }
        }
        if let Err(e) = self.rt.remove_container(&self.infra).await {
            tracing::warn!(container = %self.infra, error = %e, "could not remove infrastructure container");
        }
        for v in &self.plan.volumes {
            let _ = self
                .rt
                .remove_volume(&volume_name(&self.plan.task_id, v))
                .await;
        }
        self.set_status(TaskStatus::Stopped);
    }
}

/// The image reference fully qualified as the agent reports it: Docker Hub
/// names gain `docker.io/` (and `library/` when they have no namespace) and
/// every reference without a tag or digest gains `:latest`.
pub fn qualified_ref(image: &str) -> String {
    let (first, _) = image.split_once('/').unwrap_or(("", image));
    let has_registry = first.contains('.') || first.contains(':') || first == "localhost";
    let mut r = if has_registry {
        image.to_string()
    } else if first.is_empty() {
        format!("docker.io/library/{image}")
    } else {
        format!("docker.io/{image}")
    };
    let last = r.rsplit('/').next().unwrap_or("");
    if !last.contains(':') && !last.contains('@') {
        r.push_str(":latest");
    }
    r
}

/// The `stoppedReason` of a task whose image could not be had, in the
/// agent's words: it names the reference, then says why.
pub fn pull_failure_reason(image: &str, e: &RuntimeError) -> String {
    format!(
        "CannotPullContainerError: failed to resolve ref {}: {e}",
        qualified_ref(image)
    )
}

/// Definition order, except that a `volumesFrom` source is created before
/// the containers that mount its volumes.
fn creation_order(plan: &TaskPlan) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::new();
    let mut pending: Vec<usize> = (0..plan.containers.len()).collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|&i| {
            let ready = plan.containers[i].volumes_from.iter().all(|(src, _)| {
                plan.containers
                    .iter()
                    .position(|c| &c.name == src)
                    .is_none_or(|j| order.contains(&j))
            });
            if ready {
                order.push(i);
            }
            !ready
        });
        if pending.len() == before {
            order.append(&mut pending);
        }
    }
    order
}

/// The Docker-facing spec of one container (pure).
pub fn container_spec(
    plan: &TaskPlan,
    c: &ContainerPlan,
    env: &[(String, String)],
    image: &str,
    infra: &str,
    base_labels: &BTreeMap<String, String>,
) -> ContainerSpec {
    let mut labels = base_labels.clone();
    for (k, v) in &c.docker_labels {
        labels.insert(k.clone(), v.clone());
    }
    labels.insert(LABEL_CONTAINER.into(), c.name.clone());
    labels.insert("com.amazonaws.ecs.cluster".into(), plan.cluster_arn.clone());
    labels.insert("com.amazonaws.ecs.container-name".into(), c.name.clone());
    labels.insert("com.amazonaws.ecs.task-arn".into(), plan.task_arn.clone());
    labels.insert(
        "com.amazonaws.ecs.task-definition-family".into(),
        plan.family.clone(),
    );
    labels.insert(
        "com.amazonaws.ecs.task-definition-version".into(),
        plan.revision.to_string(),
    );
    // Task-level limits bound every container (Docker has no shared cgroup
    // for a group of containers without a cgroup parent); container-level
    // values narrow them.
    let memory_mib = c.memory_mib.or(plan.memory_mib);
    ContainerSpec {
        name: container_name(&plan.task_id, &c.name),
        image: image.to_string(),
        labels,
        entry_point: c.entry_point.clone(),
        command: c.command.clone(),
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        working_dir: c.working_directory.clone(),
        user: c.user.clone(),
        network_of: infra.to_string(),
        health: c.health_check.clone(),
        readonly_rootfs: c.readonly_root_filesystem,
        ulimits: c
            .ulimits
            .iter()
            .map(|u| (u.name.clone(), u.soft, u.hard))
            .collect(),
        volumes: c
            .mounts
            .iter()
            .filter(|m| plan.volumes.contains(&m.volume))
            .map(|m| {
                (
                    volume_name(&plan.task_id, &m.volume),
                    m.container_path.clone(),
                    m.read_only,
                )
            })
            .collect(),
        volumes_from: c
            .volumes_from
            .iter()
            .map(|(src, ro)| (container_name(&plan.task_id, src), *ro))
            .collect(),
        cpu_shares: c.cpu_units.filter(|u| *u > 0).map(|u| i64::from(u.max(2))),
        nano_cpus: plan.cpu_units.map(|u| i64::from(u) * 1_000_000_000 / 1024),
        memory_bytes: memory_mib.map(|m| i64::from(m) * 1024 * 1024),
        memory_reservation_bytes: c.memory_reservation_mib.map(|m| i64::from(m) * 1024 * 1024),
        tty: c.pseudo_terminal,
        open_stdin: c.interactive,
        stop_timeout: c.stop_timeout_secs,
        log_driver: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_qualified_as_the_agent_reports_them() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("team/app", "docker.io/team/app:latest"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost/app:v1", "localhost/app:v1"),
            (
                "1.dkr.ecr.us-east-1.amazonaws.com/web:2",
                "1.dkr.ecr.us-east-1.amazonaws.com/web:2",
            ),
            (
                "public.ecr.aws/nginx/nginx",
                "public.ecr.aws/nginx/nginx:latest",
            ),
            ("repo@sha256:abc", "docker.io/library/repo@sha256:abc"),
        ];
        for (input, want) in cases {
            assert_eq!(qualified_ref(input), want, "{input}");
        }
    }

    #[test]
    fn a_pull_failure_names_the_reference() {
        let e = RuntimeError::Docker("pull access denied".into());
        assert_eq!(
            pull_failure_reason("team/app:1.0", &e),
            "CannotPullContainerError: failed to resolve ref docker.io/team/app:1.0: pull access denied"
        );
    }
}
