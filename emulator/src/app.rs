//! The assembled emulator: store, container runtime and service backends
//! behind one cheap handle that the api layer holds, plus start-up (by
//! phase: state, backends, front doors, hooks, background work; then
//! re-adoption and sweeping what ended instances left) and the orderly
//! shutdown that one signal starts.
//!
//! Left out: serving HTTP (the caller binds and serves `api::router`).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::api::task_endpoint::{self, EndpointHook, TaskEndpoints};
use crate::config::ServeArgs;
use crate::exec::Exec;
use crate::exec::ExecRuntime;
use crate::lb::Doors;
use crate::runtime::docker::{DockerOptions, LazyDocker};
use crate::runtime::{ContainerRuntime, Instance, Runtime};
use crate::services::credentials::Credentials;
use crate::services::ecs::Ecs;
use crate::services::elbv2::Elbv2;
use crate::services::iam::Iam;
use crate::services::logs::Logs;
use crate::services::requestlog::RequestLog;
use crate::services::s3::EmbeddedS3;
use crate::services::secretsmanager::SecretsManager;
use crate::services::servicediscovery::ServiceDiscovery;
use crate::services::sqs::Sqs;
use crate::services::ssm::Ssm;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// The container engine tasks run on.
pub enum Engine {
    /// The local Docker engine, connected on first use.
    Docker,
    /// Another engine (the fake of the in-process tests). Start-up and
    /// shutdown work that only Docker has (the infrastructure image,
    /// sweeping other instances' objects, removing this instance's) is
    /// skipped.
    Custom {
        containers: Arc<dyn ContainerRuntime>,
        exec: Arc<dyn ExecRuntime>,
    },
}

impl Engine {
    /// A custom engine that runs containers and exec sessions both.
    pub fn custom<E: ContainerRuntime + ExecRuntime + 'static>(engine: E) -> Engine {
        let engine = Arc::new(engine);
        Engine::Custom {
            containers: engine.clone(),
            exec: engine,
        }
    }
}

struct Inner {
    args: ServeArgs,
    store: Store,
    ecs: Ecs,
    logs: Logs,
    exec: Exec,
    elbv2: Elbv2,
    doors: Doors,
    secrets_manager: SecretsManager,
    ssm: Ssm,
    sqs: Sqs,
    servicediscovery: ServiceDiscovery,
    iam: Iam,
    s3: EmbeddedS3,
    runtime: Runtime,
    /// `None` for a custom engine.
    docker: Option<LazyDocker>,
    instance: Instance,
    credentials: Credentials,
    requests: RequestLog,
    /// `--forward`: where requests for services not served go.
    forwarder: Option<crate::api::forward::Forwarder>,
    endpoints: std::sync::OnceLock<Arc<TaskEndpoints>>,
    firelens: std::sync::OnceLock<Arc<crate::services::firelens::FireLens>>,
    /// Every task's measured traffic (the egress lens).
    egress: crate::services::egress::Egress,
    /// Reaches every background loop, front door and supervisor.
    shutdown: Shutdown,
    /// Held for the life of the instance: an in-memory instance's lock file
    /// (a sweeper that can lock it knows the instance has ended), or the
    /// data directory's (one emulator at a time uses it).
    _lock: Option<File>,
}

#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

fn locks_dir() -> PathBuf {
    std::env::temp_dir().join("fargate-local-instances")
}

fn lock_path(id: &str) -> PathBuf {
    locks_dir().join(format!("{id}.lock"))
}

/// Whether an in-memory instance has ended: its lock file exists and nobody
/// holds it. Instances whose lock file is not on this machine are left alone.
/// The file stays until the instance's objects are gone (`forget_instance`):
/// a sweep cut short must leave the next one able to tell.
fn instance_ended(id: &str) -> bool {
    let Ok(f) = File::options().read(true).write(true).open(lock_path(id)) else {
        return false;
    };
    f.try_lock().is_ok()
}

/// Where an in-memory instance keeps its S3 objects.
fn s3_temp_dir(id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fargate-local-s3-{id}"))
}

/// Removes the lock file (and the S3 objects and task sockets) of an
/// in-memory instance whose Docker objects have all been removed.
fn forget_instance(id: &str, run_dir: Option<&std::path::Path>) {
    let _ = std::fs::remove_dir_all(s3_temp_dir(id));
    let _ = std::fs::remove_dir_all(crate::api::task_endpoint::run_dir(run_dir, None, id));
    let _ = std::fs::remove_file(lock_path(id));
}

/// How long shutdown waits for the background loops to end before it goes
/// on without them (and names them in the log).
const LOOPS_STOP_WITHIN: Duration = Duration::from_secs(1);

/// How long shutdown spends removing an in-memory instance's objects: Ctrl-C
/// returns within about 10 s whatever the backlog.
const REMOVAL_WITHIN: Duration = Duration::from_secs(8);

fn new_instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// The state and identity an emulator starts from.
struct Opened {
    store: Store,
    instance: Instance,
    lock: Option<File>,
}

/// Phase 1: the durable state (and its instance id), or a fresh in-memory
/// instance holding its lock file.
fn open_state(args: &ServeArgs) -> anyhow::Result<Opened> {
    let Some(dir) = args.data_dir() else {
        let id = new_instance_id();
        std::fs::create_dir_all(locks_dir())?;
        if crate::runtime::container::in_container() {
            crate::runtime::container::share_dir(&locks_dir());
        }
        let f = File::create(lock_path(&id))?;
        f.lock()?;
        return Ok(Opened {
            store: Store::in_memory(),
            instance: Instance {
                id,
                ephemeral: true,
            },
            lock: Some(f),
        });
    };
    let lock = lock_data_dir(&dir)?;
    let store = Store::open(&dir, args.fsync).with_context(|| {
        format!(
            "cannot open the state in {}; give another --data-dir (FARGATE_LOCAL_DATA_DIR), or --in-memory",
            dir.display()
        )
    })?;
    let id = match store.meta("instance")? {
        Some(id) => id,
        None => {
            let id = new_instance_id();
            store.set_meta("instance", &id)?;
            id
        }
    };
    Ok(Opened {
        store,
        instance: Instance {
            id,
            ephemeral: false,
        },
        lock: Some(lock),
    })
}

/// The lock file of a data directory: one emulator at a time uses a
/// directory, and a second one is told so before it touches the state.
const DATA_DIR_LOCK: &str = "fargate-local.lock";

fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<File> {
    let cannot = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot use the data directory {}: {e}. Give a directory this user can write with --data-dir (FARGATE_LOCAL_DATA_DIR), or --in-memory",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let path = dir.join(DATA_DIR_LOCK);
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(cannot)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
            "the data directory {} is in use by another fargate-local (it holds {}). Stop that one, or give this one another --data-dir (FARGATE_LOCAL_DATA_DIR), or --in-memory",
            dir.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(cannot(e)),
    }
}

/// The secret behind credentials ids, made once per state: the ids are in
/// running containers' environments, so it must outlive a restart.
fn credentials(store: &Store) -> anyhow::Result<Credentials> {
    let secret = match store.meta("credentials-secret")? {
        Some(s) => s,
        None => {
            let s = Credentials::new_secret();
            store.set_meta("credentials-secret", &s)?;
            s
        }
    };
    Ok(Credentials::new(secret.into_bytes()))
}

impl App {
    /// Starts the emulator on the local Docker engine.
    pub async fn start(args: ServeArgs) -> anyhow::Result<App> {
        Self::start_with(args, Engine::Docker).await
    }

    /// Starts the emulator on `engine`: opens the state, builds the
    /// backends, opens the load balancers' front doors, adds the task hooks
    /// and starts the background work. The caller serves `api::router`.
    pub async fn start_with(args: ServeArgs, engine: Engine) -> anyhow::Result<App> {
        let Opened {
            store,
            instance,
            lock,
        } = open_state(&args)?;
        let app = Self::build(args, store, instance, lock, engine)?;
        app.open_front_doors()?;
        app.add_hooks();
        app.spawn_background();
        Ok(app)
    }

    /// Phase 2: the backends, wired to each other and to the runtime.
    fn build(
        args: ServeArgs,
        store: Store,
        instance: Instance,
        lock: Option<File>,
        engine: Engine,
    ) -> anyhow::Result<App> {
        let shutdown = Shutdown::new();
        let (docker, containers, exec_engine): (
            Option<LazyDocker>,
            Arc<dyn ContainerRuntime>,
            Arc<dyn ExecRuntime>,
        ) = match engine {
            Engine::Docker => {
                let docker = LazyDocker::new(
                    instance.clone(),
                    DockerOptions {
                        publish_address: args.publish_address.clone(),
                        network_name: format!("fargate-local-{}", instance.id),
                    },
                );
                let bounded = crate::runtime::bounded::Bounded::new(
                    Arc::new(docker.clone()),
                    args.engine_concurrency(),
                );
                (Some(docker.clone()), Arc::new(bounded), Arc::new(docker))
            }
            Engine::Custom { containers, exec } => (None, containers, exec),
        };
        let logs = Logs::open(&store, &args.account_id).context("opening the log store")?;
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = Runtime::with_shutdown(containers, instance.clone(), tx, shutdown.clone());
        let ecs = Ecs::load(
            store.clone(),
            args.account_id.clone(),
            args.region.clone(),
            runtime.clone(),
            rx,
        )?;
        let egress = crate::services::egress::Egress::load(
            store.clone(),
            task_endpoint::run_dir(
                args.run_dir.as_deref(),
                args.data_dir().as_deref(),
                &instance.id,
            ),
            args.egress_on(),
        )
        .context("loading the egress figures")?;
        let exec = Exec::new(ecs.clone(), exec_engine, egress.clone());
        let elbv2 = Elbv2::load(store.clone(), args.account_id.clone())?;
        let doors = Doors::new(
            elbv2.clone(),
            args.publish_address.clone(),
            shutdown.clone(),
        );
        elbv2.attach_ports(Arc::new(doors.clone()));
        ecs.attach_elbv2(elbv2.clone());
        ecs.set_launch_quotas(args.run_task_rate, args.task_launch_rate);
        ecs.set_subnets(args.subnets());
        let secrets_manager = SecretsManager::load(store.clone(), args.account_id.clone())?;
        let ssm = Ssm::load(store.clone(), args.account_id.clone())?;
        let sqs = Sqs::load(store.clone(), args.account_id.clone())?;
        let servicediscovery = ServiceDiscovery::load(store.clone(), args.account_id.clone())?;
        ecs.attach_servicediscovery(servicediscovery.clone());
        let iam = Iam::load(store.clone(), args.account_id.clone())?;
        ecs.attach_iam(iam.clone(), args.iam);
        let credentials = credentials(&store)?;
        // Tasks' SDKs sign S3 calls with their role's credentials.
        let requests = RequestLog::default();
        iam.attach_request_log(requests.clone());
        let s3_root = match args.data_dir() {
            Some(dir) => dir.join("s3"),
            None => s3_temp_dir(&instance.id),
        };
        let s3 = EmbeddedS3::open(
            &s3_root,
            &args.s3.s3_secret_key,
            Some(credentials.clone()),
            Some(requests.clone()),
            Some(crate::services::s3::TaskRoles {
                iam: iam.clone(),
                mode: args.iam,
            }),
        )?;
        let forwarder = args
            .forward
            .as_deref()
            .map(crate::api::forward::Forwarder::parse)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--forward: {e}"))?;
        Ok(App {
            inner: Arc::new(Inner {
                forwarder,
                args,
                store,
                ecs,
                logs,
                exec,
                elbv2,
                doors,
                secrets_manager,
                ssm,
                sqs,
                servicediscovery,
                iam,
                s3,
                runtime,
                docker,
                instance,
                credentials,
                requests,
                endpoints: std::sync::OnceLock::new(),
                firelens: std::sync::OnceLock::new(),
                egress,
                shutdown,
                _lock: lock,
            }),
        })
    }

    /// Phase 3: the flag's front doors (a port they cannot have is fatal),
    /// then the stored listeners' (a port taken since is only a warning).
    fn open_front_doors(&self) -> anyhow::Result<()> {
        let (args, elbv2, doors) = (&self.inner.args, &self.inner.elbv2, &self.inner.doors);
        for spec in args.front_doors() {
            let l = elbv2
                .install_front_door(&args.region, spec)
                .map_err(|e| anyhow::anyhow!("--front-door: {e}"))?;
            doors.open(&l).map_err(|e| {
                anyhow::anyhow!("--front-door {}/{}: {e}", spec.cluster, spec.service)
            })?;
            tracing::info!(
                cluster = %spec.cluster,
                service = %spec.service,
                target_group = %l.target_group_arn,
                "front door on {}:{} for container {} port {}",
                args.publish_address,
                l.port,
                spec.container,
                spec.container_port
            );
        }
        for l in elbv2.listeners() {
            if let Err(e) = doors.open(&l) {
                tracing::warn!(listener = %l.arn, error = %e, "could not reopen a load balancer listener");
            }
        }
        Ok(())
    }

    /// Phase 4: the transforms around the runtime, in the order they run:
    /// secrets and env files, the task endpoint (whose agent variables
    /// only fill what the task's own configuration left unset), awslogs,
    /// FireLens.
    fn add_hooks(&self) {
        let inner = &self.inner;
        let args = &inner.args;
        let files: Arc<dyn crate::services::taskconfig::ObjectSource> = match &args.s3.s3_endpoint {
            Some(url) => Arc::new(crate::services::s3::ExternalS3::new(
                url,
                &args.s3.s3_access_key,
                &args.s3.s3_secret_key,
                &args.region,
            )),
            None => Arc::new(inner.s3.clone()),
        };
        inner
            .runtime
            .add_hook(Arc::new(crate::services::taskconfig::ConfigSources {
                secrets_manager: inner.secrets_manager.clone(),
                ssm: inner.ssm.clone(),
                files: Some(files),
                iam: Some((inner.iam.clone(), args.iam)),
            }));
        let run_dir = task_endpoint::run_dir(
            args.run_dir.as_deref(),
            args.data_dir().as_deref(),
            &inner.instance.id,
        );
        // Before the endpoint's hook: its `stopped` removes the directory
        // the final counters are read from.
        inner
            .runtime
            .add_hook(Arc::new(crate::services::egress::EgressHook {
                egress: inner.egress.clone(),
                ecs: inner.ecs.clone(),
                runtime: inner.runtime.backend().clone(),
            }));
        let endpoints = TaskEndpoints::new(self.clone(), run_dir.clone(), args.task_endpoint_url);
        inner
            .runtime
            .add_hook(Arc::new(EndpointHook(endpoints.clone())));
        let _ = inner.endpoints.set(endpoints);
        inner.runtime.add_hook(Arc::new(
            crate::services::logs::awslogs::AwsLogs::new(
                inner.logs.clone(),
                inner.runtime.backend().clone(),
                inner.shutdown.clone(),
            )
            .with_iam(inner.iam.clone(), args.iam)
            .with_egress(inner.egress.clone()),
        ));
        let firelens = Arc::new(crate::services::firelens::FireLens::new(
            crate::services::firelens::firelens_dir(&run_dir),
            inner.instance.clone(),
            args.firelens_router,
            inner.runtime.backend().clone(),
        ));
        inner.runtime.add_hook(firelens.clone());
        let _ = inner.firelens.set(firelens);
    }

    /// Phase 5: work that must not delay the first answered request, and
    /// the loops that run until shutdown.
    fn spawn_background(&self) {
        let inner = &self.inner;
        inner
            .logs
            .spawn_retention(Duration::from_secs(60), &inner.shutdown);
        inner.doors.spawn_health_checks();
        inner.egress.spawn(&inner.shutdown);
        let app = self.clone();
        // Once: not a loop, but tracked so that shutdown does not remove
        // what it is in the middle of adopting.
        inner
            .shutdown
            .spawn_until_signalled("start-up", async move { app.resume().await });
        let app = self.clone();
        let stop = inner.shutdown.signalled();
        inner.shutdown.spawn("stopped task pruning", async move {
            // Often enough that the count limit holds within a few seconds'
            // worth of stopped tasks; a sweep is one pass over the records.
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            let mut stop = std::pin::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tick.tick() => {}
                }
                app.inner.ecs.prune_stopped(
                    app.inner.args.stopped_task_retention as f64,
                    app.inner.args.stopped_task_limit,
                );
                // A pruned task's traffic figures go with it (and those a
                // crash left behind, at the first sweep).
                app.inner
                    .egress
                    .forget_gone(|| app.inner.ecs.all_task_arns());
            }
        });
    }

    /// Re-adopts the tasks that were live, then starts the scheduler and
    /// sweeps what is left of this and ended instances.
    async fn resume(&self) {
        let inner = &self.inner;
        let docker = match &inner.docker {
            None => None,
            Some(lazy) => match lazy.get().await {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "the Docker engine is not reachable: the API works, but tasks will fail to start until it is"
                    );
                    if crate::runtime::container::in_container() {
                        tracing::warn!("{}", crate::runtime::container::NO_SOCKET_HINT);
                    }
                    inner.ecs.spawn_scheduler();
                    return;
                }
            },
        };
        if let Some(d) = docker
            && let Err(e) = d.prepare().await
        {
            tracing::error!(error = %e, "could not prepare the Docker engine for tasks");
        }
        if let Some(d) = docker {
            self.check_own_container(d).await;
        }
        for (subnet, network) in inner.ecs.subnets() {
            match inner.runtime.backend().network_exists(network).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    subnet = %subnet,
                    network = %network,
                    "--subnet {subnet}={network}: the Docker network does not exist; tasks placed in {subnet} will stop with ResourceInitializationError until it does"
                ),
                Err(e) => {
                    tracing::warn!(network = %network, error = %e, "could not check a --subnet network")
                }
            }
        }
        inner.ecs.recover().await;
        // Re-adopted tasks get their endpoint back.
        if let Some(ep) = inner.endpoints.get() {
            for rec in inner.ecs.live_tasks() {
                ep.open(&rec.plan);
            }
        }
        // FireLens files of tasks that ended while away.
        if let Some(f) = inner.firelens.get() {
            let live: Vec<String> = inner
                .ecs
                .live_tasks()
                .iter()
                .map(|r| r.plan.task_id.clone())
                .collect();
            f.sweep(&live);
        }
        inner.ecs.spawn_scheduler();
        inner.ecs.spawn_registrations();
        if let Some(d) = docker {
            d.remove_orphan_volumes(&inner.ecs.all_task_arns()).await;
            for id in d.sweep_dead_instances(instance_ended).await {
                forget_instance(&id, inner.args.run_dir.as_deref());
            }
        }
    }

    /// In a container: says in the log what the emulator can and cannot
    /// reach from there, and how to fix what it cannot.
    async fn check_own_container(&self, d: &crate::runtime::docker::DockerRuntime) {
        use crate::runtime::container;
        if !container::in_container() {
            tracing::debug!("fargate-local runs on its host, not in a container");
            return;
        }
        let Some(own) = d.own_container().await else {
            tracing::warn!(
                "fargate-local runs in a container the Docker engine does not know (another engine, or a nested one): tasks cannot reach its task endpoint unless the run directory and the network are shared with the engine's host"
            );
            return;
        };
        let Some(run_dir) = self
            .inner
            .endpoints
            .get()
            .map(|e| e.run_dir().to_path_buf())
        else {
            return;
        };
        for f in container::check(&own, &run_dir) {
            if f.ok {
                tracing::info!("{}", f.message);
            } else {
                tracing::warn!("{}", f.message);
            }
        }
    }

    pub fn ecs(&self) -> &Ecs {
        &self.inner.ecs
    }

    pub fn logs(&self) -> &Logs {
        &self.inner.logs
    }

    pub fn exec(&self) -> &Exec {
        &self.inner.exec
    }

    pub fn elbv2(&self) -> &Elbv2 {
        &self.inner.elbv2
    }

    pub fn doors(&self) -> &Doors {
        &self.inner.doors
    }

    pub fn secrets_manager(&self) -> &SecretsManager {
        &self.inner.secrets_manager
    }

    pub fn s3(&self) -> &EmbeddedS3 {
        &self.inner.s3
    }

    pub fn ssm(&self) -> &Ssm {
        &self.inner.ssm
    }

    pub fn sqs(&self) -> &Sqs {
        &self.inner.sqs
    }

    pub fn servicediscovery(&self) -> &ServiceDiscovery {
        &self.inner.servicediscovery
    }

    pub fn iam(&self) -> &Iam {
        &self.inner.iam
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn region(&self) -> &str {
        &self.inner.args.region
    }

    pub fn account_id(&self) -> &str {
        &self.inner.args.account_id
    }

    pub fn args(&self) -> &ServeArgs {
        &self.inner.args
    }

    pub fn instance(&self) -> &Instance {
        &self.inner.instance
    }

    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    pub fn egress(&self) -> &crate::services::egress::Egress {
        &self.inner.egress
    }

    pub fn requests(&self) -> &RequestLog {
        &self.inner.requests
    }

    /// Records an API call in the request log, with the task and role
    /// whose credentials signed it.
    pub fn record_request(
        &self,
        ctx: &crate::api::RequestContext,
        service: &str,
        operation: &str,
        error: Option<&str>,
    ) {
        let key = ctx.access_key.as_deref();
        let principal = key.and_then(|k| self.inner.credentials.principal(k));
        self.inner.requests.record(
            &ctx.request_id,
            service,
            operation,
            key,
            principal.as_ref(),
            error,
        );
    }

    /// The forward target of requests for services not served, if any.
    pub fn forwarder(&self) -> Option<&crate::api::forward::Forwarder> {
        self.inner.forwarder.as_ref()
    }

    /// Records a request passed to the forward target (`error`: the
    /// target's HTTP status when it was not a success, or the emulator's
    /// error code when the target could not be reached).
    pub fn record_forwarded(
        &self,
        ctx: &crate::api::RequestContext,
        service: &str,
        operation: &str,
        target: &str,
        error: Option<&str>,
    ) {
        let key = ctx.access_key.as_deref();
        let principal = key.and_then(|k| self.inner.credentials.principal(k));
        // Not judged, and its resource unknown: the task's generated
        // policies say they are incomplete.
        if let Some(p) = &principal {
            self.inner
                .iam
                .usage()
                .record_unattributed(&p.task_arn, &format!("{service}:{operation}"));
        }
        self.inner.requests.record_forwarded(
            &ctx.request_id,
            service,
            operation,
            key,
            principal.as_ref(),
            error,
            target,
        );
    }

    /// The shutdown signal every background loop watches.
    pub fn shutdown_signal(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    pub fn docker_status(&self) -> &'static str {
        match &self.inner.docker {
            Some(d) if d.connected() => "connected",
            Some(_) => "not connected",
            // A custom engine is there from the start.
            None => "connected",
        }
    }

    /// Removes every task's containers at once and forgets all state.
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.inner.runtime.abort_all();
        if let Some(ep) = self.inner.endpoints.get() {
            ep.close_all(true);
        }
        if let Some(lazy) = &self.inner.docker
            && let Ok(d) = lazy.get().await
        {
            d.remove_instance_objects().await?;
        }
        self.inner.ecs.reset()?;
        self.inner.logs.reset()?;
        self.inner.elbv2.reset()?;
        // The front doors of --front-door stay open.
        self.inner.doors.retain(&self.inner.elbv2.listeners());
        self.inner.secrets_manager.reset()?;
        self.inner.ssm.reset()?;
        self.inner.sqs.reset()?;
        self.inner.servicediscovery.reset()?;
        self.inner.iam.reset()?;
        self.inner.s3.reset()?;
        self.inner.credentials.clear();
        self.inner.requests.clear();
        self.inner.egress.reset();
        Ok(())
    }

    /// Called once the API has stopped accepting requests. In order: the
    /// shutdown signal closes the load balancers' front doors, the S3 port
    /// and the task endpoints and stops every background loop and
    /// supervisor (each at a point where it waits, so no half-made change);
    /// once they have ended (or after [`LOOPS_STOP_WITHIN`]), an in-memory
    /// instance removes everything it created, and a durable one leaves
    /// running tasks for the next start to re-adopt.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutdown.signal();
        match inner.shutdown.wait(LOOPS_STOP_WITHIN).await {
            Ok(()) => tracing::info!("every background loop has stopped"),
            Err(left) => {
                tracing::warn!(running = ?left, "background loops still running at shutdown")
            }
        }
        inner.doors.close_all();
        inner.runtime.abort_all();
        if inner.instance.ephemeral {
            let _ = std::fs::remove_dir_all(inner.s3.root());
        }
        if let Some(ep) = inner.endpoints.get() {
            ep.close_all(inner.instance.ephemeral);
        }
        let Some(lazy) = &inner.docker else {
            // A custom engine has no objects of its own to remove.
            if inner.instance.ephemeral {
                forget_instance(&inner.instance.id, inner.args.run_dir.as_deref());
            }
            return;
        };
        let Ok(d) = lazy.get().await else {
            return;
        };
        if !inner.instance.ephemeral && !inner.ecs.live_tasks().is_empty() {
            return;
        }
        // Nothing may be created after the removal: not by a supervisor that
        // was dropped in the middle of a request, nor by start-up work.
        d.close().await;
        match tokio::time::timeout(REMOVAL_WITHIN, d.remove_instance_objects()).await {
            // Nothing is left for a sweep to find: the lock file can go.
            Ok(Ok(())) if inner.instance.ephemeral => {
                forget_instance(&inner.instance.id, inner.args.run_dir.as_deref())
            }
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not remove this instance's Docker objects")
            }
            // The lock file stays: the next `serve` or `cleanup` finds the
            // instance ended and removes the rest.
            Err(_) => tracing::warn!(
                containers_left = d.count_instance_containers().await,
                instance = %inner.instance.id,
                "shutdown did not finish removing this instance's containers within {}s; the next `fargate-local serve` (or `fargate-local cleanup`) removes the rest",
                REMOVAL_WITHIN.as_secs()
            ),
        }
    }
}
