//! An in-memory `ContainerRuntime` for tests of the supervisor, the ECS
//! backend and the whole emulator in-process (`tests/api`): containers are
//! records that are created, started, stopped and removed on command, and
//! nothing runs. A test drives what Docker would report: a container that
//! exits ([`FakeRuntime::exit`], or every container of an image after a
//! delay, [`Behaviour::ExitAfter`]), one that cannot start
//! ([`Behaviour::FailStart`]), a health status ([`FakeRuntime::set_health`]);
//! each change is sent as the engine event Docker would send. Every task
//! gets an address of its own, and its published ports are whatever the
//! test's [`Publisher`] says (a server of the test's on 127.0.0.1); the
//! infrastructure container reports ready in its socket directory, as the
//! infrastructure process does.
//!
//! Images are only recorded, with the credentials of each pull
//! ([`FakeRuntime::pulls`]). Left out: logs, volumes, exec (refused), and anything the
//! supervisor does not ask of an engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;

use super::infra::{READY_FILE, SOCKET_DIR};
use super::{
    ContainerRuntime, ContainerSpec, ContainerState, EventKind, HostPort, ImageInfo, InfraInfo,
    InfraSpec, LABEL_CONTAINER, LABEL_TASK_ARN, ManagedContainer, RegistryAuth, RuntimeError,
    RuntimeEvent,
};
use crate::domain::status::Health;
use crate::exec::{ExecIo, ExecRuntime};

/// What the containers of an image do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Starting one fails (Docker refuses it).
    FailStart,
    /// It exits with this code this long after it starts.
    ExitAfter(Duration, i32),
}

/// Gives a task's published container port its host port: called when the
/// task's infrastructure container starts, with the task ARN and the
/// container port.
pub type Publisher = Arc<dyn Fn(&str, u16) -> u16 + Send + Sync>;

#[derive(Debug, Clone, Default)]
struct Record {
    running: bool,
    exit_code: Option<i32>,
    health: Option<Health>,
    image: String,
    task_arn: String,
    /// The task container's name in its task definition (none for the
    /// infrastructure container).
    container: Option<String>,
    /// The infrastructure container's published container ports.
    ports: Vec<(u16, String)>,
    /// The host directory bound on the infrastructure container's socket
    /// directory, where the infrastructure process reports ready.
    socket_dir: Option<String>,
    info: Option<InfraInfo>,
}

struct Inner {
    containers: Mutex<HashMap<String, Record>>,
    behaviours: Mutex<HashMap<String, Behaviour>>,
    publisher: Mutex<Option<Publisher>>,
    events: broadcast::Sender<RuntimeEvent>,
    next_ip: AtomicU32,
    /// How many tasks had a running container, after every change of it.
    history: Mutex<Vec<usize>>,
    /// Every image asked for, with the registry credentials given.
    pulls: Mutex<Vec<(String, Option<RegistryAuth>)>>,
}

/// A cheap handle; clones share one set of containers, as two emulator
/// processes share one Docker engine.
#[derive(Clone)]
pub struct FakeRuntime {
    inner: Arc<Inner>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime {
            inner: Arc::new(Inner {
                containers: Mutex::new(HashMap::new()),
                behaviours: Mutex::new(HashMap::new()),
                publisher: Mutex::new(None),
                events: broadcast::channel(1024).0,
                next_ip: AtomicU32::new(2),
                history: Mutex::new(vec![0]),
                pulls: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl FakeRuntime {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Record>) -> R) -> R {
        let mut containers = self
            .inner
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let out = f(&mut containers);
        let running = Self::tasks_running(&containers).len();
        let mut history = self.inner.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.last() != Some(&running) {
            history.push(running);
        }
        out
    }

    fn tasks_running(containers: &HashMap<String, Record>) -> Vec<String> {
        let mut v: Vec<String> = containers
            .values()
            .filter(|r| r.running && r.container.is_some())
            .map(|r| r.task_arn.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every image the supervisor asked for, in order, with the registry
    /// credentials it gave.
    pub fn pulls(&self) -> Vec<(String, Option<RegistryAuth>)> {
        self.inner
            .pulls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many tasks had a running container, after each change of that
    /// number, from the start (0): what a test samples a deployment by,
    /// without missing a moment.
    pub fn running_history(&self) -> Vec<usize> {
        self.inner
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a container of this name exists and runs.
    pub fn running(&self, name: &str) -> bool {
        self.with(|m| m.get(name).is_some_and(|r| r.running))
    }

    /// How many containers exist (running or not).
    pub fn count(&self) -> usize {
        self.with(|m| m.len())
    }

    /// The task ARNs whose containers run now.
    pub fn running_tasks(&self) -> Vec<String> {
        self.with(|m| Self::tasks_running(m))
    }

    /// Makes the containers of `image` behave so from now on.
    pub fn on_image(&self, image: &str, b: Behaviour) {
        self.inner
            .behaviours
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(image.to_string(), b);
    }

    /// Where published ports go from now on.
    pub fn publish_with(&self, p: Publisher) {
        *self
            .inner
            .publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(p);
    }

    fn find(&self, task_arn: &str, container: &str) -> Option<String> {
        self.with(|m| {
            m.iter()
                .find(|(_, r)| r.task_arn == task_arn && r.container.as_deref() == Some(container))
                .map(|(k, _)| k.clone())
        })
    }

    fn send(&self, task_arn: &str, container: &str, kind: EventKind) {
        let _ = self.inner.events.send(RuntimeEvent::Container {
            task_arn: task_arn.to_string(),
            container: container.to_string(),
            kind,
        });
    }

    /// A task's container exits with `code` on its own (or is killed behind
    /// the emulator's back), and Docker says so. False when it does not run.
    pub fn exit(&self, task_arn: &str, container: &str, code: i32) -> bool {
        let Some(name) = self.find(task_arn, container) else {
            return false;
        };
        let exited = self.with(|m| match m.get_mut(&name) {
            Some(r) if r.running => {
                r.running = false;
                r.exit_code = Some(code);
                true
            }
            _ => false,
        });
        if exited {
            self.send(task_arn, container, EventKind::Died);
        }
        exited
    }

    /// A task's container's health check reports `health`.
    pub fn set_health(&self, task_arn: &str, container: &str, health: Health) -> bool {
        let Some(name) = self.find(task_arn, container) else {
            return false;
        };
        self.with(|m| {
            if let Some(r) = m.get_mut(&name) {
                r.health = Some(health);
            }
        });
        self.send(task_arn, container, EventKind::Health(health));
        true
    }

    fn behaviour(&self, image: &str) -> Option<Behaviour> {
        self.inner
            .behaviours
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(image)
            .copied()
    }

    fn infra_info(&self, name: &str, r: &mut Record) -> InfraInfo {
        if let Some(info) = &r.info {
            return info.clone();
        }
        let n = self.inner.next_ip.fetch_add(1, Ordering::Relaxed);
        let publisher = self
            .inner
            .publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let host_ports = match publisher {
            Some(p) => r
                .ports
                .iter()
                .map(|(port, protocol)| HostPort {
                    container_port: *port,
                    protocol: protocol.clone(),
                    host_ip: "127.0.0.1".into(),
                    host_port: p(&r.task_arn, *port),
                })
                .collect(),
            None => Vec::new(),
        };
        let info = InfraInfo {
            id: name.into(),
            ip: format!("10.0.{}.{}", n / 250, n % 250 + 2),
            mac: format!("02:00:00:00:{:02x}:{:02x}", n / 256, n % 256),
            host_ports,
            other_networks: Vec::new(),
        };
        r.info = Some(info.clone());
        info
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn ensure_network(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn create_infra(&self, spec: &InfraSpec) -> Result<(), RuntimeError> {
        let socket_dir = spec.binds.iter().find_map(|b| {
            let (host, rest) = b.split_once(':')?;
            rest.starts_with(SOCKET_DIR).then(|| host.to_string())
        });
        let r = Record {
            task_arn: spec.labels.get(LABEL_TASK_ARN).cloned().unwrap_or_default(),
            ports: spec.ports.clone(),
            socket_dir,
            ..Default::default()
        };
        self.with(|m| m.insert(spec.name.clone(), r));
        Ok(())
    }
    async fn start_infra(&self, name: &str) -> Result<InfraInfo, RuntimeError> {
        let mut r = self
            .with(|m| m.get(name).cloned())
            .ok_or_else(|| RuntimeError::NotFound(name.into()))?;
        r.running = true;
        // What the infrastructure process does once its listeners are up.
        if let Some(dir) = &r.socket_dir {
            let _ = std::fs::write(std::path::Path::new(dir).join(READY_FILE), "ok");
        }
        // The publisher runs outside the lock: it may start a server.
        let info = self.infra_info(name, &mut r);
        self.with(|m| m.insert(name.to_string(), r));
        Ok(info)
    }
    async fn inspect_infra(&self, name: &str) -> Result<Option<InfraInfo>, RuntimeError> {
        let Some(mut r) = self.with(|m| m.get(name).cloned()) else {
            return Ok(None);
        };
        let info = self.infra_info(name, &mut r);
        self.with(|m| m.insert(name.to_string(), r));
        Ok(Some(info))
    }
    async fn ensure_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<ImageInfo, RuntimeError> {
        self.inner
            .pulls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((image.to_string(), auth.cloned()));
        Ok(ImageInfo {
            reference: image.into(),
            digest: Some("sha256:fake".into()),
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
        let r = Record {
            image: spec.image.clone(),
            task_arn: spec.labels.get(LABEL_TASK_ARN).cloned().unwrap_or_default(),
            container: spec.labels.get(LABEL_CONTAINER).cloned(),
            ..Default::default()
        };
        self.with(|m| m.insert(spec.name.clone(), r));
        Ok(spec.name.clone())
    }
    async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
        let r = self
            .with(|m| m.get(name).cloned())
            .ok_or_else(|| RuntimeError::NotFound(name.into()))?;
        match self.behaviour(&r.image) {
            Some(Behaviour::FailStart) => {
                return Err(RuntimeError::Docker(format!(
                    "the fake engine refuses to start {}",
                    r.image
                )));
            }
            Some(Behaviour::ExitAfter(after, code)) => {
                if let Some(container) = r.container.clone() {
                    let this = self.clone();
                    let task = r.task_arn.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        this.exit(&task, &container, code);
                    });
                }
            }
            None => {}
        }
        self.with(|m| {
            if let Some(r) = m.get_mut(name) {
                r.running = true;
            }
        });
        Ok(())
    }
    /// A stopped container exits as a shell that leaves on SIGTERM: 143.
    async fn stop_container(&self, name: &str, _: u32) -> Result<(), RuntimeError> {
        self.with(|m| {
            if let Some(r) = m.get_mut(name).filter(|r| r.running) {
                r.running = false;
                r.exit_code = Some(143);
            }
        });
        Ok(())
    }
    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, RuntimeError> {
        Ok(self.with(|m| {
            m.get(name).map(|r| ContainerState {
                running: r.running,
                exit_code: r.exit_code,
                health: r.health,
                ..Default::default()
            })
        }))
    }
    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        self.with(|m| m.remove(name));
        Ok(())
    }
    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
        Ok(Vec::new())
    }
    async fn remove_network(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        let rx = self.inner.events.subscribe();
        // A reader that fell behind is told to look again, as after a
        // broken Docker event stream.
        futures_util::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(ev) => Some((ev, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some((RuntimeEvent::Resync, rx)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed()
    }
}

#[async_trait]
impl ExecRuntime for FakeRuntime {
    async fn exec(
        &self,
        _container: &str,
        _argv: Vec<String>,
        _env: Vec<String>,
    ) -> Result<ExecIo, RuntimeError> {
        Err(RuntimeError::Unavailable(
            "the fake engine runs no processes".into(),
        ))
    }
}
