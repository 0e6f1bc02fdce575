//! The egress lens: what each task's traffic would cost behind a NAT
//! gateway, from bytes measured while it runs.
//!
//! Per task ([`TaskTraffic`], the `egress.task` document keyed by task ARN,
//! so a stopped task keeps its figures across restarts):
//! - `aws`: HTTP bytes through the task's API socket (`169.254.170.2:4566`),
//!   by the service each request was for (`api::egress` meters the socket);
//! - `awslogs`: what the awslogs driver would send for the lines the
//!   emulator shipped itself: AWS's PutLogEvents batch size, each event's
//!   UTF-8 message plus 26 bytes;
//! - `images`: the size of each image the task's containers start from
//!   (Fargate pulls at every start, as ECR traffic);
//! - `vpc` and `nat`: IP bytes the namespace's connections moved
//!   (`runtime::egress`), read from the counters file the infrastructure
//!   process writes.
//!
//! What it leaves out: IPv6, and calls a task makes to the emulator's
//! published port instead of its endpoint (they count by address, as NAT
//! when through the Docker host). Pricing and the report are `price` and
//! `report`, pure.

pub mod cli;
pub mod price;
pub mod report;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::runtime::egress::{COUNTERS_FILE, Counters, EGRESS_ENV, FLUSH_FILE};
use crate::runtime::plan::TaskPlan;
use crate::runtime::supervisor::container_name;
use crate::runtime::{ContainerRuntime, InfraSpec, TaskHook};
use crate::shutdown::Shutdown;
use crate::store::Store;

/// The store's document kind.
pub const KIND: &str = "egress.task";
/// AWS counts each PutLogEvents event as its message's UTF-8 bytes plus
/// this (the batch size limit's formula, PutLogEvents API reference).
pub const LOG_EVENT_OVERHEAD: u64 = 26;
/// How often live tasks' counters are read and changed records written.
const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// How long a stopping task's final counters are waited for.
const FINAL_READ_WITHIN: Duration = Duration::from_secs(2);

/// Bytes both ways, from the task's side: `sent` left the task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub sent: u64,
    pub received: u64,
}

impl Traffic {
    pub fn total(&self) -> u64 {
        self.sent + self.received
    }
    pub fn add(&mut self, o: Traffic) {
        self.sent += o.sent;
        self.received += o.received;
    }
}

/// One image a task started from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePull {
    pub container: String,
    pub image: String,
    pub bytes: u64,
}

/// What one task's traffic was.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskTraffic {
    pub task_arn: String,
    pub cluster_arn: String,
    /// `service:<name>` for a service's task, as the task's `group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub region: String,
    /// Epoch seconds.
    pub started_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<f64>,
    /// Through the task endpoint, by service (`s3`, `logs`, `sqs`...).
    #[serde(default)]
    pub aws: BTreeMap<String, Traffic>,
    /// The awslogs driver's batches (sent), in AWS's batch-size bytes.
    #[serde(default)]
    pub awslogs: Traffic,
    #[serde(default)]
    pub awslogs_events: u64,
    #[serde(default)]
    pub images: Vec<ImagePull>,
    /// `None`: the namespace's counters were not available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<Traffic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<Traffic>,
}

impl TaskTraffic {
    pub fn task_id(&self) -> &str {
        self.task_arn.rsplit('/').next().unwrap_or(&self.task_arn)
    }
    pub fn image_bytes(&self) -> u64 {
        self.images.iter().map(|i| i.bytes).sum()
    }
}

/// A cheap handle to every task's figures.
#[derive(Clone)]
pub struct Egress {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// The task endpoints' directory (one sub-directory per task id).
    run_dir: PathBuf,
    /// `serve --egress on`: the namespace counters and socket metering.
    enabled: bool,
    /// std mutex: held for map updates only, never across an await.
    tasks: Mutex<State>,
}

#[derive(Default)]
struct State {
    tasks: BTreeMap<String, TaskTraffic>,
    /// Changed since last written.
    dirty: BTreeSet<String>,
}

/// Now in epoch seconds, to the millisecond as AWS's timestamps are: such
/// a value reads back from the store exactly (serde_json's default float
/// parser is exact for it, not always for a full-precision one).
fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

impl Egress {
    pub fn load(store: Store, run_dir: PathBuf, enabled: bool) -> anyhow::Result<Egress> {
        let tasks = store.load::<TaskTraffic>(KIND)?.into_iter().collect();
        Ok(Egress {
            inner: Arc::new(Inner {
                store,
                run_dir,
                enabled,
                tasks: Mutex::new(State {
                    tasks,
                    dirty: BTreeSet::new(),
                }),
            }),
        })
    }

    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    fn with<R>(&self, task_arn: &str, f: impl FnOnce(&mut TaskTraffic) -> R) -> Option<R> {
        let mut st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let r = st.tasks.get_mut(task_arn).map(f);
        if r.is_some() {
            st.dirty.insert(task_arn.to_string());
        }
        r
    }

    /// Starts a task's record (a re-adopted task keeps the one it has).
    pub fn begin(&self, task_arn: &str, cluster_arn: &str, region: &str, group: Option<String>) {
        let mut st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if st.tasks.contains_key(task_arn) {
            return;
        }
        st.tasks.insert(
            task_arn.to_string(),
            TaskTraffic {
                task_arn: task_arn.to_string(),
                cluster_arn: cluster_arn.to_string(),
                group,
                region: region.to_string(),
                started_at: now_secs(),
                ..TaskTraffic::default()
            },
        );
        st.dirty.insert(task_arn.to_string());
    }

    /// Bytes of one request and its answer on a task's API socket.
    pub fn add_api(&self, task_arn: &str, service: &str, t: Traffic) {
        if t == Traffic::default() {
            return;
        }
        self.with(task_arn, |r| {
            r.aws.entry(service.to_string()).or_default().add(t)
        });
    }

    /// A batch the awslogs driver shipped: its messages' sizes.
    pub fn add_awslogs<'a>(&self, task_arn: &str, messages: impl Iterator<Item = &'a str>) {
        let (mut bytes, mut n) = (0u64, 0u64);
        for m in messages {
            bytes += m.len() as u64 + LOG_EVENT_OVERHEAD;
            n += 1;
        }
        self.with(task_arn, |r| {
            r.awslogs.sent += bytes;
            r.awslogs_events += n;
        });
    }

    pub fn set_images(&self, task_arn: &str, images: Vec<ImagePull>) {
        self.with(task_arn, |r| r.images = images);
    }

    /// The namespace's counters (totals since the task started); a record
    /// they do not change is not written again.
    pub fn set_counters(&self, task_arn: &str, c: &Counters) {
        let vpc = Some(Traffic {
            sent: c.vpc_out.bytes,
            received: c.vpc_in.bytes,
        });
        let nat = Some(Traffic {
            sent: c.nat_out.bytes,
            received: c.nat_in.bytes,
        });
        let mut st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = st.tasks.get_mut(task_arn)
            && (r.vpc != vpc || r.nat != nat)
        {
            r.vpc = vpc;
            r.nat = nat;
            st.dirty.insert(task_arn.to_string());
        }
    }

    fn task_dir(&self, task_id: &str) -> PathBuf {
        self.inner.run_dir.join(task_id)
    }

    fn read_counters(dir: &Path) -> Option<Counters> {
        let text = std::fs::read_to_string(dir.join(COUNTERS_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Every task's figures (a copy).
    pub fn snapshot(&self) -> Vec<TaskTraffic> {
        let st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        st.tasks.values().cloned().collect()
    }

    /// Reads live tasks' counters files.
    fn refresh(&self) {
        let live: Vec<(String, String)> = {
            let st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
            st.tasks
                .values()
                .filter(|t| t.stopped_at.is_none())
                .map(|t| (t.task_arn.clone(), t.task_id().to_string()))
                .collect()
        };
        for (arn, id) in live {
            if let Some(c) = Self::read_counters(&self.task_dir(&id)) {
                self.set_counters(&arn, &c);
            }
        }
    }

    /// Writes the records changed since the last write. A failed write
    /// keeps them to be written next time.
    pub fn flush(&self) {
        let docs: Vec<(String, TaskTraffic)> = {
            let mut st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
            let dirty = std::mem::take(&mut st.dirty);
            dirty
                .into_iter()
                .filter_map(|k| st.tasks.get(&k).map(|t| (k, t.clone())))
                .collect()
        };
        if docs.is_empty() {
            return;
        }
        let ops = docs
            .iter()
            .map(|(k, t)| crate::store::Op::put(KIND, k.clone(), t))
            .collect();
        if let Err(e) = self.inner.store.write(ops) {
            tracing::warn!(error = %e, "egress: the task figures could not be stored; retrying");
            let mut st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
            st.dirty.extend(docs.into_iter().map(|(k, _)| k));
        }
    }

    /// Forgets the figures of the tasks ECS no longer knows: a STOPPED
    /// task pruned by the stopped-task limit or its retention takes its
    /// figures with it (AWS keeps no figures of a task it has forgotten
    /// either). `known` (every task ARN ECS has) is asked after the figures
    /// are listed: a task's record is made before its figures, so a task
    /// starting meanwhile is never taken for gone. The deletions are
    /// stored first; when the store refuses, the figures stay for the next
    /// sweep. Returns how many were forgotten.
    pub fn forget_gone(&self, known: impl FnOnce() -> HashSet<String>) -> usize {
        let listed: Vec<String> = {
            let st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
            st.tasks.keys().cloned().collect()
        };
        if listed.is_empty() {
            return 0;
        }
        let known = known();
        let gone: Vec<String> = listed
            .into_iter()
            .filter(|arn| !known.contains(arn))
            .collect();
        if gone.is_empty() {
            return 0;
        }
        let ops = gone
            .iter()
            .map(|k| crate::store::Op::delete(KIND, k.clone()))
            .collect();
        if let Err(e) = self.inner.store.write(ops) {
            tracing::warn!(error = %e, "egress: the figures of forgotten tasks could not be deleted; retrying");
            return 0;
        }
        let mut st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for k in &gone {
            st.tasks.remove(k);
            st.dirty.remove(k);
        }
        gone.len()
    }

    /// Forgets every task (the reset endpoint).
    pub fn reset(&self) {
        let mut st = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        st.tasks.clear();
        st.dirty.clear();
        let _ = self.inner.store.clear_prefix(KIND);
    }

    /// Reads the counters of live tasks and writes what changed, until
    /// shutdown (and once more then).
    pub fn spawn(&self, shutdown: &Shutdown) {
        let me = self.clone();
        let stop = shutdown.signalled();
        shutdown.spawn("egress figures", async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            let mut stop = std::pin::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tick.tick() => {}
                }
                me.refresh();
                me.flush();
            }
            me.flush();
        });
    }

    /// The counters once the task's containers have stopped: asks the
    /// infrastructure process to write them now and waits (briefly) until
    /// it has.
    async fn final_counters(&self, task_id: &str) -> Option<Counters> {
        let dir = self.task_dir(task_id);
        if !dir.join(COUNTERS_FILE).exists() {
            return None;
        }
        let flush = dir.join(FLUSH_FILE);
        if std::fs::write(&flush, b"").is_ok() {
            let deadline = tokio::time::Instant::now() + FINAL_READ_WITHIN;
            while flush.exists() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Self::read_counters(&dir)
    }
}

/// The task hook: a record when the task is placed, the images when it
/// runs, the final counters when its containers have stopped. Added before
/// the task endpoint's hook, whose `stopped` removes the directory the
/// counters are in.
pub struct EgressHook {
    pub egress: Egress,
    pub ecs: crate::services::ecs::Ecs,
    pub runtime: Arc<dyn ContainerRuntime>,
}

#[async_trait]
impl TaskHook for EgressHook {
    fn infra_spec(&self, _plan: &TaskPlan, spec: &mut InfraSpec) {
        if self.egress.enabled() {
            spec.env.push(format!("{EGRESS_ENV}=on"));
        }
    }

    async fn before_create(&self, plan: &TaskPlan) -> Result<(), String> {
        let group = self
            .ecs
            .task_record(&plan.task_arn)
            .and_then(|r| r.task.group.clone());
        self.egress
            .begin(&plan.task_arn, &plan.cluster_arn, &plan.region, group);
        Ok(())
    }

    async fn running(&self, plan: &TaskPlan) {
        let mut images = Vec::new();
        for c in &plan.containers {
            let name = container_name(&plan.task_id, &c.name);
            let id = match self.runtime.inspect_json(&name).await {
                Ok(Some(v)) => v.get("Image").and_then(|i| i.as_str()).map(str::to_string),
                _ => None,
            };
            let Some(id) = id else { continue };
            if let Ok(Some(bytes)) = self.runtime.image_size(&id).await {
                images.push(ImagePull {
                    container: c.name.clone(),
                    image: c.image.clone(),
                    bytes,
                });
            }
        }
        self.egress.set_images(&plan.task_arn, images);
    }

    async fn stopped(&self, plan: &TaskPlan) {
        if let Some(c) = self.egress.final_counters(&plan.task_id).await {
            self.egress.set_counters(&plan.task_arn, &c);
        }
        self.egress.with(&plan.task_arn, |r| {
            r.stopped_at = Some(now_secs());
        });
        self.egress.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::egress::Flow;

    const ARN: &str = "arn:aws:ecs:us-east-1:000000000000:task/c1/t1";

    fn egress(store: &Store) -> Egress {
        Egress::load(store.clone(), PathBuf::from("/nonexistent"), true).unwrap()
    }

    #[test]
    fn figures_are_kept_in_the_store_and_a_failed_write_is_retried() {
        let dir = std::env::temp_dir().join(format!("fl-egress-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir, false).unwrap();
        let e = egress(&store);
        e.begin(
            ARN,
            "arn:aws:ecs:us-east-1:000000000000:cluster/c1",
            "us-east-1",
            None,
        );
        e.add_api(
            ARN,
            "s3",
            Traffic {
                sent: 100,
                received: 20,
            },
        );
        e.add_api(
            ARN,
            "s3",
            Traffic {
                sent: 1,
                received: 2,
            },
        );
        e.add_awslogs(ARN, ["abc", "de"].into_iter());
        e.set_counters(
            ARN,
            &Counters {
                nat_in: Flow {
                    bytes: 5000,
                    packets: 4,
                },
                ..Counters::default()
            },
        );
        // A task not begun is not recorded.
        e.add_api(
            "arn:other",
            "s3",
            Traffic {
                sent: 1,
                received: 1,
            },
        );
        store.fail_writes(true);
        e.flush();
        assert!(store.load::<TaskTraffic>(KIND).unwrap().is_empty());
        store.fail_writes(false);
        e.flush();
        let again = egress(&store).snapshot();
        assert_eq!(again, e.snapshot());
        assert_eq!(again.len(), 1);
        let t = &again[0];
        assert_eq!(
            t.aws["s3"],
            Traffic {
                sent: 101,
                received: 22
            }
        );
        assert_eq!(t.awslogs.sent, 3 + 2 + 2 * LOG_EVENT_OVERHEAD);
        assert_eq!(t.awslogs_events, 2);
        assert_eq!(
            t.nat,
            Some(Traffic {
                sent: 0,
                received: 5000
            })
        );
        // Beginning again (a re-adopted task) keeps the figures.
        e.begin(ARN, "x", "y", None);
        assert_eq!(e.snapshot()[0].aws["s3"].sent, 101);
        e.reset();
        assert!(e.snapshot().is_empty());
        assert!(store.load::<TaskTraffic>(KIND).unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn figures_go_with_the_task_record() {
        let dir = std::env::temp_dir().join(format!("fl-egress-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir, false).unwrap();
        let e = egress(&store);
        let other = "arn:aws:ecs:us-east-1:000000000000:task/c1/t2";
        for arn in [ARN, other] {
            e.begin(
                arn,
                "arn:aws:ecs:us-east-1:000000000000:cluster/c1",
                "us-east-1",
                None,
            );
            e.add_awslogs(arn, ["line"].into_iter());
        }
        e.flush();
        let known = || HashSet::from([other.to_string()]);
        // A refused deletion forgets nothing, in memory or in the store.
        store.fail_writes(true);
        assert_eq!(e.forget_gone(known), 0);
        store.fail_writes(false);
        assert_eq!(e.snapshot().len(), 2);
        assert_eq!(store.load::<TaskTraffic>(KIND).unwrap().len(), 2);
        // Then the task ECS forgot goes, from memory and from the store.
        assert_eq!(e.forget_gone(known), 1);
        let left: Vec<String> = e.snapshot().into_iter().map(|t| t.task_arn).collect();
        assert_eq!(left, [other]);
        let stored = egress(&store).snapshot();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].task_arn, other);
        // Figures added for a forgotten task are not recorded again.
        e.add_awslogs(ARN, ["late"].into_iter());
        e.flush();
        assert_eq!(egress(&store).snapshot().len(), 1);
        assert_eq!(e.forget_gone(known), 0);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
