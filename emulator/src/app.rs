//! The assembled emulator: store, Docker runtime and service backends behind
//! one cheap handle that the api layer holds, plus start-up (re-adoption,
//! sweeping what ended instances left) and shutdown.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::config::ServeArgs;
use crate::runtime::docker::{DockerOptions, LazyDocker};
use crate::runtime::{Instance, Runtime};
use crate::services::ecs::Ecs;
use crate::services::logs::Logs;
use crate::store::Store;

struct Inner {
    args: ServeArgs,
    store: Store,
    ecs: Ecs,
    logs: Logs,
    runtime: Runtime,
    docker: LazyDocker,
    instance: Instance,
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

/// Removes the lock file of an instance whose objects have all been removed.
fn forget_instance(id: &str) {
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
        let app = App {
            inner: Arc::new(Inner {
                args,
                store,
                ecs,
                logs,
                runtime,
                docker,
                instance,
                _lock: lock,
            }),
        };
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
                    d.remove_orphan_volumes(&app.inner.ecs.all_task_arns())
                        .await;
                    for id in d.sweep_dead_instances(instance_ended).await {
                        forget_instance(&id);
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "the Docker engine is not reachable: the API works, but tasks will fail to start until it is"
                ),
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
        if let Ok(d) = self.inner.docker.get().await {
            d.remove_instance_objects().await?;
        }
        self.inner.ecs.reset()?;
        self.inner.logs.reset()?;
        Ok(())
    }

    /// Called once the server has stopped. An in-memory instance removes
    /// everything it created; a durable one leaves running tasks for the
    /// next start to re-adopt.
    pub async fn shutdown(&self) {
        self.inner.runtime.abort_all();
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
