//! Tasks on Docker. `plan` turns a task definition into a `TaskPlan` (pure);
//! a supervisor per task walks the plan through the `ContainerRuntime` trait
//! and reports what happens as `TaskUpdate`s; `docker` implements the trait
//! on the Docker engine (with `docker_exec` and `infra`, the only modules
//! that import bollard), `fake` in memory for tests. The event pump and
//! every supervisor end on the emulator's shutdown signal, leaving the
//! containers as they are.
//!
//! The runtime knows nothing of the ECS wire format: the ECS backend turns
//! updates into task fields.

pub mod bounded;
pub mod conntrack;
pub mod container;
pub mod dns;
pub mod docker;
pub mod docker_exec;
pub mod egress;
pub mod fake;
pub mod infra;
pub mod plan;
pub mod service_connect;
pub mod supervisor;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::domain::status::{ContainerStatus, Health, StopCode, TaskStatus};
use crate::shutdown::Shutdown;
use plan::{ContainerPlan, HealthPlan, TaskPlan};

/// Labels every Docker object of the emulator carries.
pub const LABEL_MANAGED: &str = "fargate-local.managed";
pub const LABEL_INSTANCE: &str = "fargate-local.instance";
pub const LABEL_EPHEMERAL: &str = "fargate-local.ephemeral";
pub const LABEL_TASK_ARN: &str = "fargate-local.task-arn";
pub const LABEL_CONTAINER: &str = "fargate-local.container-name";
pub const LABEL_ROLE: &str = "fargate-local.role";

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("the Docker engine is not reachable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Docker(String),
}

/// Which emulator a Docker object belongs to.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    /// In-memory instances cannot re-adopt anything after they end.
    pub ephemeral: bool,
}

impl Instance {
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert(LABEL_MANAGED.into(), "true".into());
        l.insert(LABEL_INSTANCE.into(), self.id.clone());
        if self.ephemeral {
            l.insert(LABEL_EPHEMERAL.into(), "true".into());
        }
        l
    }
}

/// A published port of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostPort {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

#[derive(Debug, Clone)]
pub struct InfraSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<(u16, String)>,
    pub hostname: String,
    /// Environment of the infrastructure process.
    pub env: Vec<String>,
    /// Bind mounts, Docker's `host-path:container-path[:ro]`.
    pub binds: Vec<String>,
    /// `/etc/hosts` entries of the task's namespace, Docker's `name:ip`
    /// (`host-gateway` for the Docker host); every task container sees them.
    pub extra_hosts: Vec<String>,
    /// Names the namespace answers to on the emulator's network (Cloud
    /// Map's `<service>.<namespace>`), besides its container name.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InfraInfo {
    pub id: String,
    /// The address on the emulator's own network.
    pub ip: String,
    pub mac: String,
    pub host_ports: Vec<HostPort>,
    /// The addresses on the other networks it joined (a user network a
    /// subnet maps to).
    pub other_networks: Vec<NetworkAddress>,
}

/// A container's address on one Docker network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkAddress {
    pub network: String,
    pub ip: String,
    pub mac: String,
}

#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// The reference that resolved locally (after ECR mapping).
    pub reference: String,
    pub digest: Option<String>,
}

/// Everything Docker needs to create one task container.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub network_of: String,
    pub health: Option<HealthPlan>,
    pub readonly_rootfs: bool,
    pub ulimits: Vec<(String, i64, i64)>,
    /// (Docker volume name, container path, read only).
    pub volumes: Vec<(String, String, bool)>,
    /// (Docker container, read only).
    pub volumes_from: Vec<(String, bool)>,
    pub cpu_shares: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub memory_reservation_bytes: Option<i64>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stop_timeout: u32,
    /// Docker log driver and options; `None` keeps the engine's default.
    pub log_driver: Option<(String, HashMap<String, String>)>,
    /// Bind mounts, Docker's `host-path:container-path[:ro]`.
    pub binds: Vec<String>,
    /// Tar archives unpacked at the root of the container's filesystem
    /// after it is created and before it starts.
    pub archives: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
pub struct ContainerState {
    pub running: bool,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub health: Option<Health>,
    pub error: Option<String>,
}

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// When the engine received it, in nanoseconds since the epoch.
    pub ts_ns: i64,
    pub stderr: bool,
    /// Without its line ending.
    pub text: String,
}

/// A managed container found on the engine.
#[derive(Debug, Clone)]
pub struct ManagedContainer {
    pub id: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Died,
    Health(Health),
    Oom,
}

#[derive(Debug, Clone)]
pub enum RuntimeEvent {
    Container {
        task_arn: String,
        container: String,
        kind: EventKind,
    },
    /// The event stream broke and was re-established: events may be lost, so
    /// every supervisor re-inspects its containers.
    Resync,
}

/// A private registry's credentials for one pull (`repositoryCredentials`),
/// as the agent hands them to the engine. The password never reaches a
/// log: `Debug` leaves it out.
#[derive(Clone, PartialEq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    /// The registry's host, from the image reference.
    pub server_address: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server_address", &self.server_address)
            .finish()
    }
}

/// What the supervisor needs from a container engine.
#[async_trait]
pub trait ContainerRuntime: Send + Sync {
    async fn ensure_network(&self) -> Result<(), RuntimeError>;
    /// Creates the task's infrastructure container without starting it, so
    /// that the task's containers can be created (joined to its namespace)
    /// while it starts.
    async fn create_infra(&self, spec: &InfraSpec) -> Result<(), RuntimeError>;
    /// Starts the infrastructure container and reports its address.
    async fn start_infra(&self, name: &str) -> Result<InfraInfo, RuntimeError>;
    async fn inspect_infra(&self, name: &str) -> Result<Option<InfraInfo>, RuntimeError>;
    /// Finds the image locally (mapping an ECR URI to a local name when the
    /// URI itself is absent) and pulls it only when there is none, with
    /// `auth` as the registry's credentials when given.
    async fn ensure_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<ImageInfo, RuntimeError>;
    async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError>;
    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError>;
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError>;
    async fn start_container(&self, name: &str) -> Result<(), RuntimeError>;
    async fn stop_container(&self, name: &str, timeout_secs: u32) -> Result<(), RuntimeError>;
    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, RuntimeError>;
    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError>;
    /// A container's output from `since_secs` (epoch seconds), a line at a
    /// time with the engine's timestamp; with `follow`, until the container
    /// stops. Used by the log drivers the emulator runs itself (awslogs).
    async fn follow_logs(
        &self,
        _name: &str,
        _since_secs: i64,
        _follow: bool,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        Ok(Box::pin(futures_util::stream::empty()))
    }
    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError>;
    /// The emulator's own helper image (the infrastructure image), built if
    /// need be.
    async fn infra_image(&self) -> Result<String, RuntimeError> {
        Err(RuntimeError::NotFound(
            "this engine has no infrastructure image".into(),
        ))
    }
    /// Files of a local image, as a tar archive whose entries carry their
    /// full path without the leading `/`: for each path (a file or a
    /// directory), its tree; a path the image lacks is left out. Read from a
    /// container created from the image (never started) and removed again.
    async fn image_files(
        &self,
        _image: &str,
        _paths: &[String],
        _labels: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, RuntimeError> {
        Err(RuntimeError::NotFound(
            "this engine cannot read files from images".into(),
        ))
    }
    async fn remove_network(&self) -> Result<(), RuntimeError>;
    /// Whether a Docker network exists (a user's network a subnet maps to).
    async fn network_exists(&self, _network: &str) -> Result<bool, RuntimeError> {
        Ok(false)
    }
    /// Joins a container (created or running) to an existing Docker network,
    /// under these aliases besides its name. `NotFound` when the network
    /// does not exist.
    async fn connect_network(
        &self,
        network: &str,
        _container: &str,
        _aliases: &[String],
    ) -> Result<(), RuntimeError> {
        Err(RuntimeError::NotFound(format!(
            "network {network} not found"
        )))
    }
    /// Takes a container off the emulator's own task network (and so its
    /// aliases out of the network's DNS).
    async fn leave_task_network(&self, _container: &str) -> Result<(), RuntimeError> {
        Ok(())
    }
    /// Takes a container off a network; a container or network already gone
    /// is not an error.
    async fn disconnect_network(
        &self,
        _network: &str,
        _container: &str,
    ) -> Result<(), RuntimeError> {
        Ok(())
    }
    /// Docker's inspect document of a container, as the engine's JSON.
    async fn inspect_json(&self, _name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        Ok(None)
    }
    /// One sample of Docker's stats API (`stream=false`), as the engine's
    /// JSON.
    async fn stats_json(&self, _name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        Ok(None)
    }
    /// Container events of this instance, reconnecting on its own.
    fn events(&self) -> BoxStream<'static, RuntimeEvent>;
    /// The size in bytes of a local image (by id or reference), as the
    /// engine's image inspect reports it; `None` when there is no such
    /// image. What the egress lens counts as the image's pull.
    async fn image_size(&self, _image: &str) -> Result<Option<u64>, RuntimeError> {
        Ok(None)
    }
}

/// A change the supervisor reports; the ECS backend turns it into task fields.
#[derive(Debug, Clone)]
pub enum TaskUpdate {
    Status(TaskStatus),
    Provisioned {
        ip: String,
        mac: String,
        host_ports: Vec<HostPort>,
        /// The address on the emulator's own network, where every task
        /// reaches it (differs from `ip` on a mapped subnet).
        bridge_ip: String,
    },
    PullStarted,
    PullStopped,
    Image {
        container: String,
        digest: Option<String>,
    },
    Container {
        container: String,
        status: ContainerStatus,
        exit_code: Option<i32>,
        reason: Option<String>,
    },
    Health {
        container: String,
        health: Health,
    },
    /// The task is going to stop (unless it already is): sets desiredStatus,
    /// stopCode, stoppedReason and stoppingAt the first time.
    StopRequested {
        code: StopCode,
        reason: String,
    },
    ExecutionStopped,
}

pub type UpdateSender = mpsc::UnboundedSender<(String, Vec<TaskUpdate>)>;

/// What a supervisor receives.
#[derive(Debug)]
pub enum Control {
    Stop { code: StopCode, reason: String },
    Event { container: String, kind: EventKind },
    Resync,
}

/// A transform around the runtime: secrets and env files, the metadata
/// endpoint, log routing and the like plug in here instead of special paths
/// inside the supervisor. Hooks run in the order they were added; every
/// method has a do-nothing default.
#[async_trait]
pub trait TaskHook: Send + Sync {
    /// Runs once before any container is created. An error is the
    /// `stoppedReason` the task ends with (stopCode TaskFailedToStart).
    async fn before_create(&self, _plan: &TaskPlan) -> Result<(), String> {
        Ok(())
    }

    /// What the agent needs before it pulls a container's image: the
    /// execution role's registry permissions and a private registry's
    /// credentials (`repositoryCredentials`). An error is the whole
    /// `stoppedReason` the task ends with (stopCode TaskFailedToStart).
    async fn registry_auth(
        &self,
        _plan: &TaskPlan,
        _container: &ContainerPlan,
    ) -> Result<Option<RegistryAuth>, String> {
        Ok(None)
    }

    /// The image a container runs instead of its task definition's, if this
    /// hook replaces it (the FireLens stand-in router).
    async fn image(&self, _plan: &TaskPlan, _container: &ContainerPlan) -> Option<String> {
        None
    }

    /// Adds to or changes a container's environment, which starts as the
    /// plan's `environment`. An error ends the task as `before_create` does.
    async fn environment(
        &self,
        _plan: &TaskPlan,
        _container: &ContainerPlan,
        _env: &mut Vec<(String, String)>,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Adjusts the Docker spec of a task container (log driver, mounts...).
    fn container_spec(
        &self,
        _plan: &TaskPlan,
        _container: &ContainerPlan,
        _spec: &mut ContainerSpec,
    ) {
    }

    /// Adjusts the spec of the task's infrastructure container.
    fn infra_spec(&self, _plan: &TaskPlan, _spec: &mut InfraSpec) {}

    /// The infrastructure container has started; runs before any task
    /// container starts (wait here for what the namespace must offer them).
    async fn infra_started(&self, _plan: &TaskPlan) {}

    /// A container has started; runs before it counts as started for the
    /// containers that depend on it (wait here for what it must offer them
    /// first, briefly).
    async fn started(&self, _plan: &TaskPlan, _container: &ContainerPlan) {}

    /// The task reached RUNNING.
    async fn running(&self, _plan: &TaskPlan) {}

    /// Every container has stopped; runs before the containers are removed
    /// and before the task shows STOPPED (flush what they wrote, revoke what
    /// they were given).
    async fn stopped(&self, _plan: &TaskPlan) {}
}

/// The hooks of one emulator, in order.
#[derive(Clone, Default)]
pub struct Hooks {
    list: Vec<Arc<dyn TaskHook>>,
}

impl Hooks {
    pub fn new(list: Vec<Arc<dyn TaskHook>>) -> Self {
        Hooks { list }
    }

    pub async fn before_create(&self, plan: &TaskPlan) -> Result<(), String> {
        for h in &self.list {
            h.before_create(plan).await?;
        }
        Ok(())
    }

    /// The credentials of a container's pull: the first hook's, or none; the
    /// first refusal ends the task.
    pub async fn registry_auth(
        &self,
        plan: &TaskPlan,
        container: &ContainerPlan,
    ) -> Result<Option<RegistryAuth>, String> {
        let mut auth = None;
        for h in &self.list {
            if let Some(a) = h.registry_auth(plan, container).await? {
                auth.get_or_insert(a);
            }
        }
        Ok(auth)
    }

    /// The image the container runs: the first hook's replacement, or the
    /// task definition's.
    pub async fn image(&self, plan: &TaskPlan, container: &ContainerPlan) -> String {
        for h in &self.list {
            if let Some(i) = h.image(plan, container).await {
                return i;
            }
        }
        container.image.clone()
    }

    /// The container's final environment.
    pub async fn environment(
        &self,
        plan: &TaskPlan,
        container: &ContainerPlan,
    ) -> Result<Vec<(String, String)>, String> {
        let mut env = container.environment.clone();
        for h in &self.list {
            h.environment(plan, container, &mut env).await?;
        }
        Ok(env)
    }

    pub fn container_spec(
        &self,
        plan: &TaskPlan,
        container: &ContainerPlan,
        spec: &mut ContainerSpec,
    ) {
        for h in &self.list {
            h.container_spec(plan, container, spec);
        }
    }

    pub fn infra_spec(&self, plan: &TaskPlan, spec: &mut InfraSpec) {
        for h in &self.list {
            h.infra_spec(plan, spec);
        }
    }

    pub async fn infra_started(&self, plan: &TaskPlan) {
        for h in &self.list {
            h.infra_started(plan).await;
        }
    }

    pub async fn started(&self, plan: &TaskPlan, container: &ContainerPlan) {
        for h in &self.list {
            h.started(plan, container).await;
        }
    }

    pub async fn running(&self, plan: &TaskPlan) {
        for h in &self.list {
            h.running(plan).await;
        }
    }

    pub async fn stopped(&self, plan: &TaskPlan) {
        for h in &self.list {
            h.stopped(plan).await;
        }
    }
}

/// How a supervisor starts: a fresh task, or one found running after a
/// restart of the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Launch,
    Adopt {
        last_status: TaskStatus,
        stopping: bool,
    },
}

/// A supervisor's control channel and, until someone waits for it, its task.
type SupervisorHandle = (mpsc::UnboundedSender<Control>, Option<JoinHandle<()>>);

struct Inner {
    backend: Arc<dyn ContainerRuntime>,
    instance: Instance,
    updates: UpdateSender,
    hooks: Mutex<Hooks>,
    supervisors: Mutex<HashMap<String, SupervisorHandle>>,
    /// The emulator's shutdown signal: it ends the event pump and every
    /// supervisor (leaving the containers as they are).
    shutdown: Shutdown,
}

/// A cheap handle to the task runtime.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// A runtime with a shutdown signal of its own (tests).
    pub fn new(
        backend: Arc<dyn ContainerRuntime>,
        instance: Instance,
        updates: UpdateSender,
    ) -> Self {
        Self::with_shutdown(backend, instance, updates, Shutdown::new())
    }

    /// A runtime whose event pump and supervisors end on `shutdown`.
    pub fn with_shutdown(
        backend: Arc<dyn ContainerRuntime>,
        instance: Instance,
        updates: UpdateSender,
        shutdown: Shutdown,
    ) -> Self {
        let rt = Runtime {
            inner: Arc::new(Inner {
                backend,
                instance,
                updates,
                hooks: Mutex::new(Hooks::default()),
                supervisors: Mutex::new(HashMap::new()),
                shutdown,
            }),
        };
        rt.spawn_event_pump();
        rt
    }

    /// The emulator's shutdown signal, for the loops of the backends that
    /// drive this runtime.
    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    pub fn instance(&self) -> &Instance {
        &self.inner.instance
    }

    pub fn backend(&self) -> &Arc<dyn ContainerRuntime> {
        &self.inner.backend
    }

    /// Adds a hook for tasks launched from now on.
    pub fn add_hook(&self, hook: Arc<dyn TaskHook>) {
        self.inner
            .hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .list
            .push(hook);
    }

    fn spawn_event_pump(&self) {
        let weak = Arc::downgrade(&self.inner);
        let mut events = self.inner.backend.events();
        let stop = self.inner.shutdown.signalled();
        self.inner.shutdown.spawn("runtime event pump", async move {
            use futures_util::StreamExt;
            let mut stop = std::pin::pin!(stop);
            loop {
                let ev = tokio::select! {
                    _ = &mut stop => break,
                    ev = events.next() => ev,
                };
                let Some(ev) = ev else { break };
                let Some(inner) = weak.upgrade() else { break };
                let sups = inner.supervisors.lock().unwrap_or_else(|p| p.into_inner());
                match ev {
                    RuntimeEvent::Container {
                        task_arn,
                        container,
                        kind,
                    } => {
                        if let Some((tx, _)) = sups.get(&task_arn) {
                            let _ = tx.send(Control::Event { container, kind });
                        }
                    }
                    RuntimeEvent::Resync => {
                        for (tx, _) in sups.values() {
                            let _ = tx.send(Control::Resync);
                        }
                    }
                }
            }
        });
    }

    /// Starts supervising a task. A task already supervised is left alone.
    pub fn launch(&self, plan: TaskPlan, start: Start) {
        let mut sups = self
            .inner
            .supervisors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if sups.contains_key(&plan.task_arn) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let arn = plan.task_arn.clone();
        let hooks = self
            .inner
            .hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let sup = supervisor::Supervisor::new(
            plan,
            self.inner.backend.clone(),
            self.inner.instance.clone(),
            self.inner.updates.clone(),
            hooks,
            rx,
        );
        let weak = Arc::downgrade(&self.inner);
        let arn2 = arn.clone();
        // On shutdown the supervisor is dropped where it stands, leaving the
        // containers as they are: a durable emulator re-adopts them at its
        // next start, an in-memory one removes them all.
        let signal = self.inner.shutdown.signalled();
        let handle = self.inner.shutdown.spawn("supervisor", async move {
            tokio::select! {
                _ = signal => {}
                _ = sup.run(start) => {}
            }
            if let Some(inner) = weak.upgrade() {
                inner
                    .supervisors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&arn2);
            }
        });
        sups.insert(arn, (tx, Some(handle)));
    }

    /// Asks a task's supervisor to stop it. Returns false when no supervisor
    /// runs it (it has already stopped).
    pub fn stop(&self, task_arn: &str, code: StopCode, reason: &str) -> bool {
        let sups = self
            .inner
            .supervisors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match sups.get(task_arn) {
            Some((tx, _)) => tx
                .send(Control::Stop {
                    code,
                    reason: reason.to_string(),
                })
                .is_ok(),
            None => false,
        }
    }

    pub fn is_supervised(&self, task_arn: &str) -> bool {
        self.inner
            .supervisors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(task_arn)
    }

    /// Stops every supervised task and waits until each has finished
    /// (containers removed).
    pub async fn stop_all(&self, code: StopCode, reason: &str) {
        let handles: Vec<JoinHandle<()>> = {
            let mut sups = self
                .inner
                .supervisors
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            sups.values_mut()
                .filter_map(|(tx, h)| {
                    let _ = tx.send(Control::Stop {
                        code,
                        reason: reason.to_string(),
                    });
                    h.take()
                })
                .collect()
        };
        for h in handles {
            let _ = h.await;
        }
    }

    /// Ends every supervisor at once, leaving its containers as they are.
    pub fn abort_all(&self) {
        let mut sups = self
            .inner
            .supervisors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (_, (_, h)) in sups.drain() {
            if let Some(h) = h {
                h.abort();
            }
        }
    }

    /// Waits for supervisors that are already stopping on their own.
    pub async fn join_all(&self) {
        let handles: Vec<JoinHandle<()>> = {
            let mut sups = self
                .inner
                .supervisors
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            sups.values_mut().filter_map(|(_, h)| h.take()).collect()
        };
        for h in handles {
            let _ = h.await;
        }
    }

    /// Removes managed containers of this instance that belong to no known
    /// task, and volumes with them.
    pub async fn remove_orphans(&self, known: &std::collections::HashSet<String>) {
        let Ok(list) = self.inner.backend.list_managed().await else {
            return;
        };
        for c in list {
            let ours = c.labels.get(LABEL_INSTANCE) == Some(&self.inner.instance.id);
            let task = c.labels.get(LABEL_TASK_ARN).cloned().unwrap_or_default();
            if ours && !known.contains(&task) {
                tracing::info!(container = %c.id, task = %task, "removing orphaned container");
                let _ = self.inner.backend.remove_container(&c.id).await;
            }
        }
    }
}
