//! An in-memory `ContainerRuntime` for tests of the supervisor and the ECS
//! backend: containers are records that are created, started, stopped and
//! removed on command, and nothing runs. It deliberately sends no events;
//! a test that wants an exit calls `exit`, which only changes the record.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{
    ContainerRuntime, ContainerSpec, ContainerState, ImageInfo, InfraInfo, InfraSpec,
    ManagedContainer, RuntimeError, RuntimeEvent,
};

#[derive(Debug, Clone, Default)]
struct Record {
    running: bool,
    exit_code: Option<i32>,
}

/// A cheap handle; clones share one set of containers, as two emulator
/// processes share one Docker engine.
#[derive(Clone, Default)]
pub struct FakeRuntime {
    containers: Arc<Mutex<HashMap<String, Record>>>,
}

impl FakeRuntime {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Record>) -> R) -> R {
        f(&mut self.containers.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether a container of this name exists and runs.
    pub fn running(&self, name: &str) -> bool {
        self.with(|m| m.get(name).is_some_and(|r| r.running))
    }

    /// How many containers exist (running or not).
    pub fn count(&self) -> usize {
        self.with(|m| m.len())
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn ensure_network(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn create_infra(&self, spec: &InfraSpec) -> Result<(), RuntimeError> {
        self.with(|m| m.insert(spec.name.clone(), Record::default()));
        Ok(())
    }
    async fn start_infra(&self, name: &str) -> Result<InfraInfo, RuntimeError> {
        self.with(|m| match m.get_mut(name) {
            Some(r) => {
                r.running = true;
                Ok(())
            }
            None => Err(RuntimeError::NotFound(name.into())),
        })?;
        Ok(InfraInfo {
            id: name.into(),
            ip: "10.0.0.2".into(),
            mac: "02:00:00:00:00:02".into(),
            host_ports: Vec::new(),
        })
    }
    async fn inspect_infra(&self, name: &str) -> Result<Option<InfraInfo>, RuntimeError> {
        Ok(self.with(|m| m.contains_key(name)).then(|| InfraInfo {
            id: name.into(),
            ip: "10.0.0.2".into(),
            mac: "02:00:00:00:00:02".into(),
            host_ports: Vec::new(),
        }))
    }
    async fn ensure_image(&self, image: &str) -> Result<ImageInfo, RuntimeError> {
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
        self.with(|m| m.insert(spec.name.clone(), Record::default()));
        Ok(spec.name.clone())
    }
    async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
        self.with(|m| match m.get_mut(name) {
            Some(r) => {
                r.running = true;
                Ok(())
            }
            None => Err(RuntimeError::NotFound(name.into())),
        })
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
                ..Default::default()
            })
        }))
    }
    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        self.with(|m| m.remove(name));
        Ok(())
    }
    async fn logs_tail(&self, _: &str, _: usize) -> Result<Vec<String>, RuntimeError> {
        Ok(Vec::new())
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
