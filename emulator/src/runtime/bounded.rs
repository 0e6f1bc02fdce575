//! A bound on the work the emulator puts on the container engine at once.
//!
//! An engine given more creates and starts than it can do gets slower at
//! all of them: under a sustained stream of tasks, half-made containers pile
//! up and the machine's load climbs with no task getting further. Wrapped in
//! [`Bounded`], at most `limit` creates, starts and removals (and `4 *
//! limit` stops, which mostly wait on the containers' stop timeouts) run at
//! once; the rest wait their turn, and their tasks stay PROVISIONING or
//! PENDING meanwhile, as Fargate's do when capacity is short. A permit is
//! held for one engine call only, never across calls, so a task waiting on
//! another (dependsOn) holds nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use tokio::sync::Semaphore;

use super::*;

/// How many stops may run at once for each create/start/removal slot.
const STOPS_PER_SLOT: usize = 4;

/// A [`ContainerRuntime`] that bounds the engine calls that make or unmake
/// containers; reads (inspect, logs, events) are not bounded.
pub struct Bounded {
    inner: Arc<dyn ContainerRuntime>,
    work: Semaphore,
    stops: Semaphore,
}

impl Bounded {
    pub fn new(inner: Arc<dyn ContainerRuntime>, limit: usize) -> Bounded {
        let limit = limit.max(1);
        Bounded {
            inner,
            work: Semaphore::new(limit),
            stops: Semaphore::new(limit.saturating_mul(STOPS_PER_SLOT)),
        }
    }
}

/// Runs `$call` with a permit of `$sem` (the semaphore is never closed, so
/// acquiring only fails if it were; the call then runs unbounded).
macro_rules! bounded {
    ($sem:expr, $call:expr) => {{
        let _permit = $sem.acquire().await.ok();
        $call.await
    }};
}

#[async_trait]
impl ContainerRuntime for Bounded {
    async fn ensure_network(&self) -> Result<(), RuntimeError> {
        self.inner.ensure_network().await
    }
    async fn create_infra(&self, spec: &InfraSpec) -> Result<(), RuntimeError> {
        bounded!(self.work, self.inner.create_infra(spec))
    }
    async fn start_infra(&self, name: &str) -> Result<InfraInfo, RuntimeError> {
        bounded!(self.work, self.inner.start_infra(name))
    }
    async fn inspect_infra(&self, name: &str) -> Result<Option<InfraInfo>, RuntimeError> {
        self.inner.inspect_infra(name).await
    }
    async fn ensure_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<ImageInfo, RuntimeError> {
        self.inner.ensure_image(image, auth).await
    }
    async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        bounded!(self.work, self.inner.create_volume(name, labels))
    }
    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        bounded!(self.work, self.inner.remove_volume(name))
    }
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        bounded!(self.work, self.inner.create_container(spec))
    }
    async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
        bounded!(self.work, self.inner.start_container(name))
    }
    async fn stop_container(&self, name: &str, timeout_secs: u32) -> Result<(), RuntimeError> {
        bounded!(self.stops, self.inner.stop_container(name, timeout_secs))
    }
    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, RuntimeError> {
        self.inner.inspect_container(name).await
    }
    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        bounded!(self.work, self.inner.remove_container(name))
    }
    async fn follow_logs(
        &self,
        name: &str,
        since_secs: i64,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        self.inner.follow_logs(name, since_secs, follow).await
    }
    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
        self.inner.list_managed().await
    }
    async fn infra_image(&self) -> Result<String, RuntimeError> {
        self.inner.infra_image().await
    }
    async fn image_files(
        &self,
        image: &str,
        paths: &[String],
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, RuntimeError> {
        bounded!(self.work, self.inner.image_files(image, paths, labels))
    }
    async fn remove_network(&self) -> Result<(), RuntimeError> {
        self.inner.remove_network().await
    }
    async fn inspect_json(&self, name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        self.inner.inspect_json(name).await
    }
    async fn stats_json(&self, name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        self.inner.stats_json(name).await
    }
    async fn image_size(&self, image: &str) -> Result<Option<u64>, RuntimeError> {
        self.inner.image_size(image).await
    }
    async fn network_exists(&self, network: &str) -> Result<bool, RuntimeError> {
        self.inner.network_exists(network).await
    }
    async fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<(), RuntimeError> {
        bounded!(
            self.work,
            self.inner.connect_network(network, container, aliases)
        )
    }
    async fn leave_task_network(&self, container: &str) -> Result<(), RuntimeError> {
        bounded!(self.work, self.inner.leave_task_network(container))
    }
    async fn disconnect_network(&self, network: &str, container: &str) -> Result<(), RuntimeError> {
        bounded!(self.work, self.inner.disconnect_network(network, container))
    }
    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        self.inner.events()
    }
}

/// Every method of the trait is passed on: one left to its default would
/// quietly do nothing in place of the engine.
#[cfg(test)]
#[test]
fn every_method_is_passed_on() {
    fn count<'a>(src: &'a str, start: &str) -> Vec<&'a str> {
        let body = &src[src.find(start).expect(start)..];
        let body = &body[..body.find("\n}\n").expect("end of block")];
        let mut names: Vec<&str> = body
            .split("fn ")
            .skip(1)
            .filter_map(|s| s.split(['(', '<']).next())
            .collect();
        names.sort_unstable();
        names
    }
    let runtime = include_str!("mod.rs");
    let this = include_str!("bounded.rs");
    assert_eq!(
        count(runtime, "pub trait ContainerRuntime"),
        count(this, "impl ContainerRuntime for Bounded")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// An engine whose creates, starts, stops and removals take 20 ms and
    /// count how many ran at once.
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        most: AtomicUsize,
        stops_now: AtomicUsize,
        stops_most: AtomicUsize,
    }

    impl Gauge {
        async fn work(now: &AtomicUsize, most: &AtomicUsize) {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl ContainerRuntime for Gauge {
        async fn ensure_network(&self) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn create_infra(&self, _: &InfraSpec) -> Result<(), RuntimeError> {
            unimplemented!()
        }
        async fn start_infra(&self, _: &str) -> Result<InfraInfo, RuntimeError> {
            unimplemented!()
        }
        async fn inspect_infra(&self, _: &str) -> Result<Option<InfraInfo>, RuntimeError> {
            Ok(None)
        }
        async fn ensure_image(
            &self,
            _: &str,
            _: Option<&RegistryAuth>,
        ) -> Result<ImageInfo, RuntimeError> {
            unimplemented!()
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
        async fn create_container(&self, _: &ContainerSpec) -> Result<String, RuntimeError> {
            unimplemented!()
        }
        async fn start_container(&self, _: &str) -> Result<(), RuntimeError> {
            Self::work(&self.now, &self.most).await;
            Ok(())
        }
        async fn stop_container(&self, _: &str, _: u32) -> Result<(), RuntimeError> {
            Self::work(&self.stops_now, &self.stops_most).await;
            Ok(())
        }
        async fn inspect_container(&self, _: &str) -> Result<Option<ContainerState>, RuntimeError> {
            Ok(None)
        }
        async fn remove_container(&self, _: &str) -> Result<(), RuntimeError> {
            Self::work(&self.now, &self.most).await;
            Ok(())
        }
        async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
            Ok(Vec::new())
        }
        async fn remove_network(&self) -> Result<(), RuntimeError> {
            Ok(())
        }
        fn events(&self) -> BoxStream<'static, RuntimeEvent> {
            Box::pin(futures_util::stream::empty())
        }
    }

    #[tokio::test]
    async fn no_more_than_the_limit_run_at_once_and_all_finish() {
        let gauge = Arc::new(Gauge::default());
        let bounded = Arc::new(Bounded::new(gauge.clone(), 3));
        let mut done = 0;
        for step in ["start", "stop", "remove"] {
            let mut calls = tokio::task::JoinSet::new();
            for i in 0..30 {
                let b = bounded.clone();
                calls.spawn(async move {
                    let name = format!("c{i}");
                    match step {
                        "start" => b.start_container(&name).await,
                        "stop" => b.stop_container(&name, 0).await,
                        _ => b.remove_container(&name).await,
                    }
                });
            }
            while let Some(r) = calls.join_next().await {
                r.expect("no panic").expect("the call succeeds");
                done += 1;
            }
        }
        assert_eq!(done, 90);
        assert_eq!(gauge.most.load(Ordering::SeqCst), 3);
        assert_eq!(gauge.stops_most.load(Ordering::SeqCst), 12);
        // Reads are not held back.
        let _hold = bounded.work.acquire_many(3).await.expect("all permits");
        let read = tokio::time::timeout(Duration::from_secs(1), bounded.inspect_container("x"));
        assert!(read.await.is_ok(), "an inspect waited for a permit");
    }
}
