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
    ContainerRuntime, ContainerSpec, Control, EventKind, Hooks, ImageInfo, InfraSpec, Instance,
    LABEL_CONTAINER, LABEL_ROLE, LABEL_TASK_ARN, RuntimeError, Start, TaskUpdate, UpdateSender,
};
use crate::domain::status::{ContainerStatus, Health, StopCode, TaskStatus};

/// The name events use for the task's infrastructure container. Container
/// names in a task definition cannot contain a dot, so it never collides.
pub const INFRA: &str = ".infra";

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
    /// The spec of a container created only when its dependencies are met.
    deferred: Option<ContainerSpec>,
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
                deferred: None,
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
        // down): the task is left running so the next start re-adopts it.
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
            binds: Vec::new(),
            // As Docker Desktop offers it: the host, from every container.
            extra_hosts: vec![format!("{HOST_NAME}:host-gateway")],
            aliases: self
                .plan
                .registration
                .as_ref()
                .map(|r| r.aliases.clone())
                .unwrap_or_default(),
        };
        super::service_connect::infra_spec(&self.plan, &mut spec);
        self.hooks.infra_spec(&self.plan, &mut spec);
        self.rt
            .create_infra(&spec)
            .await
            .map_err(|e| fail("unable to provision the task's network namespace", e))?;
        // The subnet's network is joined before the namespace starts, so that
        // its names resolve from the first process on.
        if let Some(sn) = &self.plan.subnet_network {
            match self.rt.connect_network(&sn.network, &self.infra, &[]).await {
                Ok(()) => {}
                Err(RuntimeError::NotFound(_)) => {
                    return Err(StopReq::new(
                        StopCode::TaskFailedToStart,
                        missing_network_reason(sn),
                    ));
                }
                Err(e) => {
                    return Err(fail(
                        &format!(
                            "unable to attach the task to subnet {} (Docker network {})",
                            sn.subnet, sn.network
                        ),
                        e,
                    ));
                }
            }
        }

        // Starting the infrastructure container (its namespace on the bridge)
        // is most of a task's start-up. A container can join a namespace that
        // exists but has not started, so the images are checked and the
        // task's containers created meanwhile; what happened is reported
        // afterwards, in the order the agent reports it.
        let labels = self.labels();
        let (infra, prepared) = tokio::join!(
            self.rt.start_infra(&self.infra),
            prepare(&self.plan, &self.rt, &self.hooks, &self.infra, &labels)
        );
        for (i, r) in &prepared.created {
            if r.is_ok() {
                self.cs[*i].created = true;
                self.cs[*i].since = Instant::now();
            }
        }
        for (i, spec) in prepared.deferred {
            self.cs[i].deferred = Some(spec);
            self.cs[i].since = Instant::now();
        }
        let info =
            infra.map_err(|e| fail("unable to provision the task's network namespace", e))?;
        self.hooks.infra_started(&self.plan).await;
        self.stop_requested().await?;
        self.status = TaskStatus::Pending;
        // On a mapped subnet the task's address is the one its peers on that
        // network reach it at; the emulator keeps reaching it on its own
        // network and through the published ports.
        let bridge_ip = info.ip.clone();
        let (ip, mac) = match self.plan.subnet_network.as_ref().and_then(|sn| {
            info.other_networks
                .iter()
                .find(|n| n.network == sn.network && !n.ip.is_empty())
        }) {
            Some(n) => (n.ip.clone(), n.mac.clone()),
            None => (info.ip, info.mac),
        };
        self.send(vec![TaskUpdate::Provisioned {
            ip,
            mac,
            host_ports: info.host_ports,
            bridge_ip,
        }]);

        // Images: all at once, as the agent pulls them.
        self.send(vec![TaskUpdate::PullStarted]);
        for (c, r) in self.plan.containers.iter().zip(&prepared.images) {
            match r {
                Ok(info) => {
                    self.send(vec![TaskUpdate::Image {
                        container: c.name.clone(),
                        digest: info.digest.clone(),
                    }]);
                }
                Err(reason) => {
                    let reason = reason.clone();
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

        // Environments (secrets and env files are fetched there).
        if let Some(reason) = prepared.env_error {
            return Err(StopReq::new(StopCode::TaskFailedToStart, reason));
        }

        // Containers, in creation order; the first that failed stops the task.
        for (i, r) in prepared.created {
            if let Err(e) = r {
                let reason = format!("CannotCreateContainerError: {e}");
                self.send(vec![TaskUpdate::Container {
                    container: self.plan.containers[i].name.clone(),
                    status: ContainerStatus::Stopped,
                    exit_code: None,
                    reason: Some(reason.clone()),
                }]);
                return Err(StopReq::new(StopCode::TaskFailedToStart, reason));
            }
        }
        Ok(())
    }

    /// A stop that arrived while the task was still starting (StopTask on a
    /// PROVISIONING or PENDING task): taken before the task goes further, so
    /// that, as on ECS, such a task ends without its containers ever running.
    /// Other messages are handled as usual.
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
    ///
    /// Containers are considered in definition order; those found ready are
    /// started together (as the agent does), and a container that gives up
    /// on its dependencies is reported only after the ready ones before it
    /// have started, as when they were started one by one.
    async fn advance(&mut self) -> Result<Option<Instant>, StopReq> {
        loop {
            let mut progressed = false;
            let mut next: Option<Instant> = None;
            let mut ready = Vec::new();
            for i in 0..self.cs.len() {
                let c = &self.cs[i];
                if c.status != ContainerStatus::Pending || !(c.created || c.deferred.is_some()) {
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
                        ready.push(i);
                    }
                    DepState::Fail(reason) => {
                        progressed = true;
                        self.start_together(std::mem::take(&mut ready)).await?;
                        // The agent reports a container it gave up on as
                        // stopped with 143, without starting it.
                        self.never_ran(i, Some(143), reason)?;
                    }
                }
            }
            self.start_together(ready).await?;
            if !progressed {
                return Ok(next);
            }
        }
    }

    /// Creates those of the containers whose creation waited for their
    /// turn, then starts them concurrently and reports each in definition
    /// order; a failed creation or start of an essential container stops
    /// the task.
    async fn start_together(&mut self, mut ready: Vec<usize>) -> Result<(), StopReq> {
        if ready.is_empty() {
            return Ok(());
        }
        let specs: Vec<(usize, ContainerSpec)> = ready
            .iter()
            .filter_map(|&i| self.cs[i].deferred.take().map(|s| (i, s)))
            .collect();
        let creates = specs.into_iter().map(|(i, spec)| {
            let rt = self.rt.clone();
            async move { (i, rt.create_container(&spec).await) }
        });
        let results = futures_util::future::join_all(creates).await;
        let mut not_created = Vec::new();
        for (i, r) in results {
            match r {
                Ok(_) => self.cs[i].created = true,
                Err(e) => not_created.push((i, e)),
            }
        }
        ready.retain(|&i| self.cs[i].created);
        let started = self.start_created(ready).await;
        for (i, e) in not_created {
            self.never_ran(i, None, format!("CannotCreateContainerError: {e}"))?;
        }
        started
    }

    async fn start_created(&mut self, ready: Vec<usize>) -> Result<(), StopReq> {
        if ready.is_empty() {
            return Ok(());
        }
        let (hooks, plan) = (&self.hooks, &self.plan);
        let starts = ready.into_iter().map(|i| {
            let rt = self.rt.clone();
            let name = container_name(&plan.task_id, &plan.containers[i].name);
            async move {
                let r = rt.start_container(&name).await;
                if r.is_ok() {
                    hooks.started(plan, &plan.containers[i]).await;
                }
                (i, r)
            }
        });
        let results = futures_util::future::join_all(starts).await;
        let mut failed = Vec::new();
        for (i, r) in results {
            match r {
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
                Err(e) => failed.push((i, e)),
            }
        }
        for (i, e) in failed {
            self.never_ran(i, None, format!("CannotStartContainerError: {e}"))?;
        }
        Ok(())
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
        // Off the user's network as soon as nothing runs on it, so that the
        // user's own teardown (`docker compose down`) never finds the task.
        if let Some(sn) = &self.plan.subnet_network
            && let Err(e) = self.rt.disconnect_network(&sn.network, &self.infra).await
        {
            tracing::warn!(network = %sn.network, error = %e, "could not leave the subnet's network");
        }
        // Its Cloud Map names stop resolving once nothing answers behind them.
        if self
            .plan
            .registration
            .as_ref()
            .is_some_and(|r| !r.aliases.is_empty())
            && let Err(e) = self.rt.leave_task_network(&self.infra).await
        {
            tracing::warn!(error = %e, "could not take the task's names off the network");
        }
        self.hooks.stopped(&self.plan).await;
        self.set_status(TaskStatus::Deprovisioning);

        // Then remove everything.
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

/// The name every task container resolves to the Docker host.
pub const HOST_NAME: &str = "host.docker.internal";

/// Why a task on a subnet whose Docker network is missing stops.
pub fn missing_network_reason(sn: &super::plan::SubnetNetwork) -> String {
    format!(
        "ResourceInitializationError: unable to attach the task to subnet {}: the Docker network {} it is mapped to (serve --subnet {}={}) does not exist",
        sn.subnet, sn.network, sn.subnet, sn.network
    )
}

/// What was done while the infrastructure container started.
struct Prepared {
    /// One result per container, in definition order: the image, or the
    /// task's `stoppedReason`.
    images: Vec<Result<ImageInfo, String>>,
    /// Why an environment could not be resolved (no container was created).
    env_error: Option<String>,
    /// (container, result) in creation order, up to the first wave with a
    /// failure.
    created: Vec<(usize, Result<(), RuntimeError>)>,
    /// The containers created when it is their turn to start, with their
    /// specs.
    deferred: Vec<(usize, ContainerSpec)>,
}

/// Checks (or pulls) every image at once, resolves the environments, then
/// creates the containers that start first wave by wave: each wave
/// concurrently, a `volumesFrom` source in a wave before its users. The
/// others ([`created_at_their_turn`]) are only specified: made while the
/// task waits for nothing else, they would sit half-made in the engine.
async fn prepare(
    plan: &TaskPlan,
    rt: &Arc<dyn ContainerRuntime>,
    hooks: &Hooks,
    infra: &str,
    labels: &BTreeMap<String, String>,
) -> Prepared {
    // The registry's permissions and credentials (the execution role's)
    // come before each pull, as the agent gets them first.
    let pulls = plan.containers.iter().map(|c| async move {
        let auth = hooks.registry_auth(plan, c).await?;
        let image = hooks.image(plan, c).await;
        rt.ensure_image(&image, auth.as_ref())
            .await
            .map_err(|e| pull_failure_reason(&c.image, &e))
    });
    let images = futures_util::future::join_all(pulls).await;
    let mut out = Prepared {
        images,
        env_error: None,
        created: Vec::new(),
        deferred: Vec::new(),
    };
    let Some(refs) = out
        .images
        .iter()
        .map(|r| r.as_ref().ok().map(|i| i.reference.clone()))
        .collect::<Option<Vec<String>>>()
    else {
        return out;
    };
    if let Err(reason) = hooks.before_create(plan).await {
        out.env_error = Some(reason);
        return out;
    }
    let mut envs = Vec::new();
    for c in &plan.containers {
        match hooks.environment(plan, c).await {
            Ok(e) => envs.push(e),
            Err(reason) => {
                out.env_error = Some(reason);
                return out;
            }
        }
    }
    let later = created_at_their_turn(plan);
    for wave in creation_waves(plan) {
        let mut creates = Vec::new();
        for i in wave {
            let mut spec =
                container_spec(plan, &plan.containers[i], &envs[i], &refs[i], infra, labels);
            hooks.container_spec(plan, &plan.containers[i], &mut spec);
            if later[i] {
                out.deferred.push((i, spec));
            } else {
                creates.push(async move { (i, rt.create_container(&spec).await.map(|_| ())) });
            }
        }
        let results = futures_util::future::join_all(creates).await;
        let failed = results.iter().any(|(_, r)| r.is_err());
        out.created.extend(results);
        if failed {
            break;
        }
    }
    out
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

/// Which containers are created only once their dependencies are met:
/// those with a `dependsOn`, unless another container
/// mounts their volumes (`volumesFrom` needs its source created first).
/// The others are created while the infrastructure container starts.
fn created_at_their_turn(plan: &TaskPlan) -> Vec<bool> {
    plan.containers
        .iter()
        .map(|c| {
            !c.depends_on.is_empty()
                && !plan
                    .containers
                    .iter()
                    .any(|o| o.volumes_from.iter().any(|(src, _)| src == &c.name))
        })
        .collect()
}

/// The containers in waves that can be created concurrently: definition
/// order, except that a `volumesFrom` source is in an earlier wave than the
/// containers that mount its volumes. Containers caught in a cycle (which
/// registration rejects) come last, one per wave.
fn creation_waves(plan: &TaskPlan) -> Vec<Vec<usize>> {
    let mut waves: Vec<Vec<usize>> = Vec::new();
    let mut done: Vec<usize> = Vec::new();
    let mut pending: Vec<usize> = (0..plan.containers.len()).collect();
    while !pending.is_empty() {
        let wave: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|&i| {
                plan.containers[i].volumes_from.iter().all(|(src, _)| {
                    plan.containers
                        .iter()
                        .position(|c| &c.name == src)
                        .is_none_or(|j| done.contains(&j))
                })
            })
            .collect();
        if wave.is_empty() {
            waves.extend(pending.drain(..).map(|i| vec![i]));
            break;
        }
        pending.retain(|i| !wave.contains(i));
        done.extend(&wave);
        waves.push(wave);
    }
    waves
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
        binds: Vec::new(),
        archives: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    //! The start-up order through a fake engine that records every call and
    //! can be told to fail one.

    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use futures_util::StreamExt;
    use futures_util::stream::BoxStream;
    use tokio::sync::mpsc;

    use super::*;
    use crate::runtime::{
        ContainerState, HostPort, ImageInfo, InfraInfo, ManagedContainer, RuntimeEvent,
    };
    use crate::services::ecs::model::{
        ContainerDefinition, ContainerDependency, TaskDefinition, VolumeFrom,
    };
    use crate::services::ecs::planning::{PlanInput, plan_task};

    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<String>>,
        /// Call (as recorded) that fails.
        fail: Option<String>,
        running: Mutex<HashMap<String, bool>>,
    }

    impl Fake {
        fn call(&self, c: String) -> Result<(), RuntimeError> {
            self.calls.lock().unwrap().push(c.clone());
            if self.fail.as_deref() == Some(c.as_str()) {
                return Err(RuntimeError::Docker(format!("{c} failed")));
            }
            Ok(())
        }
        /// Calls with the task's name prefix removed.
        fn calls(&self) -> Vec<String> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .map(|c| c.replace("fargate-local-t-", ""))
                .collect()
        }
    }

    #[async_trait]
    impl ContainerRuntime for Fake {
        async fn ensure_network(&self) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn create_infra(&self, spec: &InfraSpec) -> Result<(), RuntimeError> {
            self.call(format!("create {}", spec.name))
        }
        async fn start_infra(&self, name: &str) -> Result<InfraInfo, RuntimeError> {
            self.call(format!("start {name}"))?;
            Ok(InfraInfo {
                id: name.into(),
                ip: "10.0.0.2".into(),
                mac: "02:42:0a:00:00:02".into(),
                host_ports: Vec::<HostPort>::new(),
                other_networks: Vec::new(),
            })
        }
        async fn inspect_infra(&self, _name: &str) -> Result<Option<InfraInfo>, RuntimeError> {
            Ok(None)
        }
        async fn ensure_image(
            &self,
            image: &str,
            _: Option<&crate::runtime::RegistryAuth>,
        ) -> Result<ImageInfo, RuntimeError> {
            self.call(format!("image {image}"))?;
            Ok(ImageInfo {
                reference: image.into(),
                digest: Some(format!("sha256:{image}")),
            })
        }
        async fn create_volume(
            &self,
            _: &str,
            _: &BTreeMap<String, String>,
        ) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn remove_volume(&self, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
            self.call(format!("create {}", spec.name))?;
            Ok(spec.name.clone())
        }
        async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
            self.call(format!("start {name}"))?;
            self.running.lock().unwrap().insert(name.into(), true);
            Ok(())
        }
        async fn stop_container(&self, name: &str, _: u32) -> Result<(), RuntimeError> {
            self.running.lock().unwrap().insert(name.into(), false);
            Ok(())
        }
        async fn inspect_container(
            &self,
            name: &str,
        ) -> Result<Option<ContainerState>, RuntimeError> {
            let running = self
                .running
                .lock()
                .unwrap()
                .get(name)
                .copied()
                .unwrap_or(false);
            Ok(Some(ContainerState {
                running,
                exit_code: (!running).then_some(137),
                ..Default::default()
            }))
        }
        async fn remove_container(&self, _: &str) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
            Ok(Vec::new())
        }
        async fn remove_network(&self) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn events(&self) -> BoxStream<'static, RuntimeEvent> {
            futures_util::stream::pending().boxed()
        }
    }

    fn def(name: &str, image: &str) -> ContainerDefinition {
        ContainerDefinition {
            name: Some(name.into()),
            image: Some(image.into()),
            essential: Some(true),
            ..Default::default()
        }
    }

    fn plan(containers: Vec<ContainerDefinition>) -> TaskPlan {
        let td = TaskDefinition {
            family: Some("f".into()),
            revision: Some(1),
            container_definitions: Some(containers),
            ..Default::default()
        };
        plan_task(PlanInput {
            task_definition: &td,
            overrides: None,
            task_arn: "arn:t".into(),
            task_id: "t".into(),
            cluster_arn: "arn:c".into(),
            cluster_name: "c".into(),
            region: "us-east-1".into(),
            container_arn: &|n| format!("arn:container/{n}"),
            runtime_id: &|| "t-1".into(),
            enable_execute_command: false,
        })
    }

    /// A short name for each update, in the order they were sent.
    fn name(u: &TaskUpdate) -> String {
        match u {
            TaskUpdate::Status(s) => format!("status {}", s.as_str()),
            TaskUpdate::Provisioned { .. } => "provisioned".into(),
            TaskUpdate::PullStarted => "pull started".into(),
            TaskUpdate::PullStopped => "pull stopped".into(),
            TaskUpdate::Image { container, .. } => format!("image {container}"),
            TaskUpdate::Container {
                container,
                status,
                reason,
                ..
            } => {
                let why = reason
                    .as_deref()
                    .map(|r| r.split(':').next().unwrap_or("").to_string());
                format!(
                    "{container} {}{}",
                    status.as_str(),
                    why.map(|w| format!(" {w}")).unwrap_or_default()
                )
            }
            TaskUpdate::Health { container, .. } => format!("health {container}"),
            TaskUpdate::StopRequested { reason, .. } => format!("stop: {reason}"),
            TaskUpdate::ExecutionStopped => "execution stopped".into(),
        }
    }

    /// Runs a task on `fake` until it is RUNNING or STOPPED (then stops it),
    /// and returns the updates it reported before that point.
    async fn start(fake: Arc<Fake>, plan: TaskPlan) -> Vec<String> {
        let (utx, mut urx) = mpsc::unbounded_channel();
        let (ctx, crx) = mpsc::unbounded_channel();
        let instance = Instance {
            id: "i".into(),
            ephemeral: true,
        };
        let sup = Supervisor::new(plan, fake, instance, utx, Hooks::default(), crx);
        let handle = tokio::spawn(sup.run(Start::Launch));
        let mut seen = Vec::new();
        while let Some((_, list)) = urx.recv().await {
            let names: Vec<String> = list.iter().map(name).collect();
            let done = names
                .iter()
                .any(|n| n == "status RUNNING" || n.starts_with("stop: "));
            seen.extend(names);
            if done {
                break;
            }
        }
        let _ = ctx.send(Control::Stop {
            code: StopCode::UserInitiated,
            reason: "test".into(),
        });
        handle.await.unwrap();
        seen
    }

    /// Where the fake runtime's call `c` is in `calls`.
    fn at(calls: &[String], c: &str) -> usize {
        calls
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("{c} in {calls:?}"))
    }

    #[tokio::test]
    async fn containers_are_created_while_the_namespace_starts_and_reported_in_order() {
        let fake = Arc::new(Fake::default());
        let updates = start(
            fake.clone(),
            plan(vec![def("web", "a"), def("sidecar", "b")]),
        )
        .await;
        assert_eq!(
            updates,
            [
                "provisioned",
                "pull started",
                "image web",
                "image sidecar",
                "pull stopped",
                "web RUNNING",
                "sidecar RUNNING",
                "status ACTIVATING",
                "status RUNNING",
            ]
        );
        let calls = fake.calls();
        let at = |c: &str| at(&calls, c);
        assert_eq!(at("create fargate-local-t"), 0);
        // Both containers exist before either starts; neither starts before
        // the namespace has.
        assert!(
            at("create web").max(at("create sidecar")) < at("start web").min(at("start sidecar"))
        );
        assert!(at("start fargate-local-t") < at("start web").min(at("start sidecar")));
    }

    /// A START dependency orders the starts, and the container that waits
    /// is created only when its turn comes: `init`, with nothing to wait
    /// for, is made while the namespace starts; `app` once `init` has
    /// started.
    #[tokio::test]
    async fn a_container_that_waits_is_created_and_started_when_its_turn_comes() {
        let fake = Arc::new(Fake::default());
        let mut app = def("app", "a");
        app.depends_on = Some(vec![ContainerDependency {
            container_name: "init".into(),
            condition: "START".into(),
        }]);
        let updates = start(fake.clone(), plan(vec![app, def("init", "b")])).await;
        assert_eq!(&updates[5..7], ["init RUNNING", "app RUNNING"]);
        let calls = fake.calls();
        let at = |c: &str| at(&calls, c);
        assert!(at("create init") < at("start init"));
        assert!(at("start init") < at("create app"), "{calls:?}");
        assert!(at("create app") < at("start app"));
    }

    #[tokio::test]
    async fn a_volumes_from_source_is_created_first() {
        let fake = Arc::new(Fake::default());
        let mut reader = def("reader", "a");
        reader.volumes_from = Some(vec![VolumeFrom {
            source_container: Some("data".into()),
            read_only: Some(true),
        }]);
        start(fake.clone(), plan(vec![reader, def("data", "b")])).await;
        let calls = fake.calls();
        assert!(at(&calls, "create data") < at(&calls, "create reader"));
    }

    /// Each failure ends the task with the reason the agent gives. Ready
    /// containers start together, so a sibling of a container that fails to
    /// start has started (and is then stopped with the task).
    #[tokio::test]
    async fn failures_stop_the_task_with_the_agents_reason() {
        let cases = [
            (
                "image b",
                vec![
                    "provisioned",
                    "pull started",
                    "image web",
                    "pull stopped",
                    "sidecar STOPPED CannotPullContainerError",
                ],
            ),
            (
                "create fargate-local-t-sidecar",
                vec![
                    "provisioned",
                    "pull started",
                    "image web",
                    "image sidecar",
                    "pull stopped",
                    "sidecar STOPPED CannotCreateContainerError",
                ],
            ),
            ("start fargate-local-t", vec![]),
            (
                "start fargate-local-t-web",
                vec![
                    "provisioned",
                    "pull started",
                    "image web",
                    "image sidecar",
                    "pull stopped",
                    "sidecar RUNNING",
                    "web STOPPED CannotStartContainerError",
                ],
            ),
        ];
        for (fail, want) in cases {
            let fake = Arc::new(Fake {
                fail: Some(fail.into()),
                ..Default::default()
            });
            let updates = start(fake, plan(vec![def("web", "a"), def("sidecar", "b")])).await;
            let before_stop: Vec<&str> = updates
                .iter()
                .map(String::as_str)
                .take_while(|u| !u.starts_with("stop: "))
                .collect();
            assert_eq!(before_stop, want, "{fail}");
        }
    }

    #[tokio::test]
    async fn a_subnet_whose_network_is_missing_stops_the_task_before_it_starts() {
        let fake = Arc::new(Fake::default());
        let mut p = plan(vec![def("web", "a")]);
        p.subnet_network = Some(crate::runtime::plan::SubnetNetwork {
            subnet: "subnet-1".into(),
            network: "myapp_default".into(),
        });
        let updates = start(fake.clone(), p).await;
        assert_eq!(
            updates[0],
            "stop: ResourceInitializationError: unable to attach the task to subnet subnet-1: \
             the Docker network myapp_default it is mapped to (serve --subnet subnet-1=myapp_default) does not exist"
        );
        assert!(!updates.iter().any(|u| u == "provisioned"), "{updates:?}");
        assert!(
            !fake.calls().iter().any(|c| c.starts_with("start")),
            "{:?}",
            fake.calls()
        );
    }
}

#[cfg(test)]
mod reference_tests {
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
