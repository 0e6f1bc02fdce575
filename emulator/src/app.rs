//! The assembled emulator: store, Docker runtime and service backends behind
//! one cheap handle that the api layer holds, plus start-up (re-adoption,
//! sweeping what ended instances left) and shutdown.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::api::task_endpoint::{self, EndpointHook, TaskEndpoints};
use crate::config::ServeArgs;
use crate::exec::Exec;
use crate::lb::Doors;
use crate::runtime::docker::{DockerOptions, LazyDocker};
use crate::runtime::{Instance, Runtime};
use crate::services::credentials::Credentials;
use crate::services::ecs::Ecs;
use crate::services::elbv2::Elbv2;
use crate::services::logs::Logs;
use crate::services::requestlog::RequestLog;
use crate::services::s3::EmbeddedS3;
use crate::services::secretsmanager::SecretsManager;
use crate::services::ssm::Ssm;
use crate::store::Store;

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
    s3: EmbeddedS3,
    runtime: Runtime,
    docker: LazyDocker,
    instance: Instance,
    credentials: Credentials,
    requests: RequestLog,
    endpoints: std::sync::OnceLock<Arc<TaskEndpoints>>,
    firelens: std::sync::OnceLock<Arc<crate::services::firelens::FireLens>>,
    /// Held for the life of an in-memory instance; a sweeper that can lock
    /// it knows the instance has ended.
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
fn forget_instance(id: &str) {
    let _ = std::fs::remove_dir_all(s3_temp_dir(id));
    let _ = std::fs::remove_dir_all(crate::api::task_endpoint::run_dir(None, id));
    let _ = std::fs::remove_file(lock_path(id));
}

impl App {
    pub async fn start(args: ServeArgs) -> anyhow::Result<App> {
        let (store, instance, lock) = match args.data_dir() {
            Some(dir) => {
                let store = Store::open(&dir, args.fsync)
                    .with_context(|| format!("opening the state in {}", dir.display()))?;
                let id = match store.meta("instance")? {
                    Some(id) => id,
                    None => {
                        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
                        store.set_meta("instance", &id)?;
                        id
                    }
                };
                (
                    store,
                    Instance {
                        id,
                        ephemeral: false,
                    },
                    None,
                )
            }
            None => {
                let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
                std::fs::create_dir_all(locks_dir())?;
                let f = File::create(locks_dir().join(format!("{id}.lock")))?;
                f.lock()?;
                (
                    Store::in_memory(),
                    Instance {
                        id,
                        ephemeral: true,
                    },
                    Some(f),
                )
            }
        };
        let docker = LazyDocker::new(
            instance.clone(),
            DockerOptions {
                publish_address: args.publish_address.clone(),
                network_name: format!("fargate-local-{}", instance.id),
            },
        );
        let logs = Logs::open(&store, &args.account_id).context("opening the log store")?;
        logs.spawn_retention(Duration::from_secs(60));
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = Runtime::new(Arc::new(docker.clone()), instance.clone(), tx);
        let ecs = Ecs::load(
            store.clone(),
            args.account_id.clone(),
            args.region.clone(),
            runtime.clone(),
            rx,
        )?;
        let exec = Exec::new(ecs.clone(), Arc::new(docker.clone()));
        let elbv2 = Elbv2::load(store.clone(), args.account_id.clone())?;
        ecs.attach_elbv2(elbv2.clone());
        let doors = Doors::new(elbv2.clone(), args.publish_address.clone());
        // The flag's front doors first: a port they cannot have is fatal.
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
        doors.spawn_health_checks();
        let secrets_manager = SecretsManager::load(store.clone(), args.account_id.clone())?;
        let ssm = Ssm::load(store.clone(), args.account_id.clone())?;
        let s3_root = match args.data_dir() {
            Some(dir) => dir.join("s3"),
            None => s3_temp_dir(&instance.id),
        };
        // The secret behind credentials ids must outlive a restart: the ids
        // are in running containers' environments.
        let secret = match store.meta("credentials-secret")? {
            Some(s) => s,
            None => {
                let s = Credentials::new_secret();
                store.set_meta("credentials-secret", &s)?;
                s
            }
        };
        let credentials = Credentials::new(secret.into_bytes());
        // Tasks' SDKs sign S3 calls with their role's credentials.
        let requests = RequestLog::default();
        let s3 = EmbeddedS3::open(
            &s3_root,
            &args.s3.s3_secret_key,
            Some(credentials.clone()),
            Some(requests.clone()),
        )?;
        let run_dir = task_endpoint::run_dir(args.data_dir().as_deref(), &instance.id);
        let endpoint_url = args.task_endpoint_url;
        let app = App {
            inner: Arc::new(Inner {
                args,
                store,
                ecs,
                logs,
                exec,
                elbv2,
                doors,
                secrets_manager,
                ssm,
                s3,
                runtime,
                docker,
                instance,
                credentials,
                requests,
                endpoints: std::sync::OnceLock::new(),
                firelens: std::sync::OnceLock::new(),
                _lock: lock,
            }),
        };
        // Before the endpoint hook: agent variables (AWS_REGION...) only
        // fill what the task's own configuration left unset.
        app.inner
            .runtime
            .add_hook(Arc::new(crate::services::taskconfig::ConfigSources {
                secrets_manager: app.inner.secrets_manager.clone(),
                ssm: app.inner.ssm.clone(),
                files: Some(match &app.inner.args.s3.s3_endpoint {
                    Some(url) => Arc::new(crate::services::s3::ExternalS3::new(
                        url,
                        &app.inner.args.s3.s3_access_key,
                        &app.inner.args.s3.s3_secret_key,
                        &app.inner.args.region,
                    )),
                    None => Arc::new(app.inner.s3.clone()),
                }),
            }));
        let endpoints = TaskEndpoints::new(app.clone(), run_dir, endpoint_url);
        app.inner
            .runtime
            .add_hook(Arc::new(EndpointHook(endpoints.clone())));
        let _ = app.inner.endpoints.set(endpoints);
        app.inner
            .runtime
            .add_hook(Arc::new(crate::services::logs::awslogs::AwsLogs::new(
                app.inner.logs.clone(),
                app.inner.runtime.backend().clone(),
            )));
        let firelens = Arc::new(crate::services::firelens::FireLens::new(
            crate::services::firelens::firelens_dir(&task_endpoint::run_dir(
                app.inner.args.data_dir().as_deref(),
                &app.inner.instance.id,
            )),
            app.inner.instance.clone(),
            app.inner.args.firelens_router,
            app.inner.runtime.backend().clone(),
        ));
        app.inner.runtime.add_hook(firelens.clone());
        let _ = app.inner.firelens.set(firelens);
        app.spawn_background();
        Ok(app)
    }

    /// Work that must not delay the first answered request.
    fn spawn_background(&self) {
        let app = self.clone();
        tokio::spawn(async move {
            match app.inner.docker.get().await {
                Ok(d) => {
                    if let Err(e) = d.prepare().await {
                        tracing::error!(error = %e, "could not prepare the Docker engine for tasks");
                    }
                    app.inner.ecs.recover().await;
                    // Re-adopted tasks get their endpoint back.
                    if let Some(ep) = app.inner.endpoints.get() {
                        for rec in app.inner.ecs.live_tasks() {
                            ep.open(&rec.plan);
                        }
                    }
                    // FireLens files of tasks that ended while away.
                    if let Some(f) = app.inner.firelens.get() {
                        let live: Vec<String> = app
                            .inner
                            .ecs
                            .live_tasks()
                            .iter()
                            .map(|r| r.plan.task_id.clone())
                            .collect();
                        f.sweep(&live);
                    }
                    app.inner.ecs.spawn_scheduler();
                    d.remove_orphan_volumes(&app.inner.ecs.all_task_arns())
                        .await;
                    for id in d.sweep_dead_instances(instance_ended).await {
                        forget_instance(&id);
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "the Docker engine is not reachable: the API works, but tasks will fail to start until it is"
                    );
                    app.inner.ecs.spawn_scheduler();
                }
            }
        });
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                app.inner
                    .ecs
                    .prune_stopped(app.inner.args.stopped_task_retention as f64);
            }
        });
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

    pub fn docker_status(&self) -> &'static str {
        if self.inner.docker.connected() {
            "connected"
        } else {
            "not connected"
        }
    }

    /// Removes every task's containers at once and forgets all state.
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.inner.runtime.abort_all();
        if let Some(ep) = self.inner.endpoints.get() {
            ep.close_all(true);
        }
        if let Ok(d) = self.inner.docker.get().await {
            d.remove_instance_objects().await?;
        }
        self.inner.ecs.reset()?;
        self.inner.logs.reset()?;
        self.inner.elbv2.reset()?;
        // The front doors of --front-door stay open.
        self.inner.doors.retain(&self.inner.elbv2.listeners());
        self.inner.secrets_manager.reset()?;
        self.inner.ssm.reset()?;
        self.inner.s3.reset()?;
        self.inner.credentials.clear();
        self.inner.requests.clear();
        Ok(())
    }

    /// Called once the server has stopped. An in-memory instance removes
    /// everything it created; a durable one leaves running tasks for the
    /// next start to re-adopt.
    pub async fn shutdown(&self) {
        self.inner.doors.close_all();
        self.inner.runtime.abort_all();
        if self.inner.instance.ephemeral {
            let _ = std::fs::remove_dir_all(self.inner.s3.root());
        }
        if let Some(ep) = self.inner.endpoints.get() {
            ep.close_all(self.inner.instance.ephemeral);
        }
        let Ok(d) = self.inner.docker.get().await else {
            return;
        };
        if !self.inner.instance.ephemeral && !self.inner.ecs.live_tasks().is_empty() {
            return;
        }
        // Nothing may be created after the removal: not by a supervisor that
        // was aborted in the middle of a request, nor by start-up work.
        d.close().await;
        match d.remove_instance_objects().await {
            // Nothing is left for a sweep to find: the lock file can go.
            Ok(()) if self.inner.instance.ephemeral => forget_instance(&self.inner.instance.id),
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "could not remove this instance's Docker objects"),
        }
    }
}
