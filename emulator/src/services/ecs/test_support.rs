//! Helpers for the ECS backend's in-process tests: a backend over the fake
//! engine (in memory or on a data directory), a caller, and requests built
//! from JSON as the api layer would decode them. Test-only; nothing here
//! runs a real container.

use std::path::Path;
use std::sync::Arc;

use super::{Caller, Ecs};
use crate::runtime::fake::FakeRuntime;
use crate::runtime::{Instance, Runtime};
use crate::store::Store;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "000000000000";

pub fn caller() -> Caller {
    Caller {
        region: REGION.into(),
        account: ACCOUNT.into(),
        principal: crate::domain::arn::iam_root(ACCOUNT),
    }
}

/// A request decoded from JSON, as the api layer decodes it.
pub fn req<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("the test's request decodes")
}

/// A backend over `store` and the fake engine `engine`. Must run inside a
/// tokio runtime (the backend spawns its update loop).
pub fn ecs_with(store: Store, engine: &FakeRuntime) -> (Ecs, Runtime) {
    let instance = Instance {
        id: "test".into(),
        ephemeral: false,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let runtime = Runtime::new(Arc::new(engine.clone()), instance, tx);
    let ecs = Ecs::load(store, ACCOUNT.into(), REGION.into(), runtime.clone(), rx)
        .expect("the stored state loads");
    (ecs, runtime)
}

/// One life of a durable emulator on `dir`, over a shared fake engine.
pub fn ecs_on(dir: &Path, engine: &FakeRuntime) -> (Ecs, Runtime) {
    ecs_with(Store::open(dir, false).expect("the store opens"), engine)
}

/// A scratch directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "fargate-local-test-{}",
            crate::domain::ids::task_id()
        ));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
