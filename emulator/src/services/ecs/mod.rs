//! The ECS backend: one method per ECS operation (named after it in
//! snake_case), split by resource family. State lives in memory in a kit
//! `Backend` (one std mutex, the store beside it), partitioned by region as
//! AWS partitions it, and every change is written to the store before the
//! method returns.
//!
//! Tasks are run by the runtime; its `TaskUpdate`s come back through
//! `apply_updates`, the only place task status fields change after RunTask.

#[cfg(test)]
mod atomicity;
pub mod clusters;
pub mod error;
pub mod execute_command;
pub mod model;
pub mod planning;
pub mod reconcile;
pub mod registries;
pub mod rollout;
pub mod scheduler;
pub mod service_connect;
pub mod service_model;
pub mod services;
pub mod settings;
pub mod task_definitions;
pub mod tasks;
#[cfg(test)]
pub(crate) mod test_support;
pub mod validation;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, LazyLock, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use crate::domain::arn::Scope;
use crate::domain::status::TaskStatus;
use crate::runtime::plan::TaskPlan;
use crate::runtime::{Runtime, TaskUpdate};
use crate::services::kit::backend::region_of;
use crate::services::kit::{Backend, Page, Paging, Regional};
use crate::store::{Op, Store, StoreError};
pub use error::EcsError;
use model::{Cluster, Setting, Tag, Task, TaskDefinition};

pub type Result<T> = std::result::Result<T, EcsError>;

const KIND_CLUSTER: &str = "ecs.cluster";
const KIND_TASK_DEFINITION: &str = "ecs.task-definition";
const KIND_TASK: &str = "ecs.task";
const KIND_SETTING: &str = "ecs.account-setting";

/// Who is calling and where: the region comes from the request's SigV4
/// credential scope.
#[derive(Debug, Clone)]
pub struct Caller {
    pub region: String,
    pub account: String,
    /// The principal ARN used for `registeredBy` and account settings.
    pub principal: String,
}

impl Caller {
    pub fn scope(&self) -> Scope {
        Scope::new(self.region.clone(), self.account.clone())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDefinitionRecord {
    pub td: TaskDefinition,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A task: its wire form, the plan it runs, and what only the emulator
/// needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task: Task,
    pub plan: TaskPlan,
    #[serde(default)]
    pub client_token: Option<String>,
}

#[derive(Default)]
pub(crate) struct RegionState {
    pub clusters: BTreeMap<String, Cluster>,
    /// family -> revision -> definition
    pub families: BTreeMap<String, BTreeMap<i32, TaskDefinitionRecord>>,
    /// task id -> task
    pub tasks: HashMap<String, TaskRecord>,
    /// (principal or "" for the account default, name) -> setting
    pub settings: BTreeMap<(String, String), Setting>,
    /// "<cluster>/<service name>" -> service
    pub services: BTreeMap<String, service_model::ServiceRecord>,
}

#[derive(Default)]
pub(crate) struct State {
    pub regions: Regional<RegionState>,
    /// ARNs of tasks that were live in the stored state when the emulator
    /// started and that `recover` has not re-adopted yet. Until it has, no
    /// supervisor runs them, yet their containers may well be running: a
    /// StopTask in that window must leave the stopping to the adopting
    /// supervisor rather than declare the task over.
    pub awaiting_adoption: HashSet<String>,
    /// Documents whose latest state is in memory but not in the store: an
    /// internal write (a runtime report, a scheduler round) failed. They
    /// are written with the next internal write that succeeds.
    pub unsaved: BTreeSet<Doc>,
}

/// A document an internal writer keeps: a task or a service, by its place
/// in memory. A document no longer in memory is deleted from the store.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Doc {
    Task {
        region: String,
        id: String,
        arn: String,
    },
    /// `key` is `<cluster>/<service name>`.
    Service { region: String, key: String },
}

impl Doc {
    pub fn task(rec: &TaskRecord) -> Doc {
        Doc::Task {
            region: rec.plan.region.clone(),
            id: rec.plan.task_id.clone(),
            arn: rec.plan.task_arn.clone(),
        }
    }

    pub fn service(rec: &service_model::ServiceRecord) -> Doc {
        Doc::Service {
            region: rec.region.clone(),
            key: format!("{}/{}", rec.cluster_name, rec.name()),
        }
    }

    /// The write that makes the store hold what memory holds.
    fn op(&self, st: &State) -> Op<'static> {
        match self {
            Doc::Task { region, id, arn } => match st.region_ref(region).tasks.get(id) {
                Some(rec) => Ecs::task_op(rec),
                None => Ecs::task_delete_op(arn),
            },
            Doc::Service { region, key } => match st.region_ref(region).services.get(key) {
                Some(rec) => Ecs::service_op(rec),
                None => Op::delete(services::KIND_SERVICE, format!("{region}/{key}")),
            },
        }
    }
}

/// What an empty region reads as.
static NO_REGION: LazyLock<RegionState> = LazyLock::new(RegionState::default);

impl State {
    /// The region's state, made empty on first use.
    pub fn region(&mut self, region: &str) -> &mut RegionState {
        self.regions.get_mut(region)
    }

    /// The region's state to read (empty when the region has none).
    pub fn region_ref(&self, region: &str) -> &RegionState {
        self.regions.get(region).unwrap_or(&NO_REGION)
    }
}

/// A change to a task, announced to whoever watches (the service scheduler).
#[derive(Debug, Clone)]
pub struct TaskChanged {
    pub region: String,
    pub task_arn: String,
}

struct Inner {
    /// The state, the store and the account.
    backend: Backend<State>,
    default_region: String,
    runtime: Runtime,
    changes: broadcast::Sender<TaskChanged>,
    /// Wakes the service scheduler when a service changes.
    scheduler_wake: Arc<tokio::sync::Notify>,
    /// The load balancers services register their tasks with.
    elb: std::sync::OnceLock<crate::services::elbv2::Elbv2>,
    /// IAM and `serve --iam`, to check that ECS can assume a task's roles.
    iam: std::sync::OnceLock<(crate::services::iam::Iam, crate::services::iam::Mode)>,
    /// Fargate's launch-rate quotas, per region: RunTask calls, and tasks
    /// launched by RunTask. No limit unless `set_launch_quotas` says.
    launch_quotas: std::sync::Mutex<LaunchQuotas>,
    /// Subnet ids mapped to existing Docker networks (`serve --subnet`).
    subnets: std::sync::OnceLock<BTreeMap<String, String>>,
    /// Cloud Map, where services' tasks are registered.
    servicediscovery: std::sync::OnceLock<crate::services::servicediscovery::ServiceDiscovery>,
}

/// Fargate's two token buckets per account and region (AWS's defaults: 20
/// RunTask calls a second; 100 tasks at once, then 20 a second).
struct LaunchQuotas {
    run_task: crate::domain::rate::Quota,
    tasks: crate::domain::rate::Quota,
    started: std::time::Instant,
    buckets: HashMap<String, [crate::domain::rate::TokenBucket; 2]>,
}

/// A cheap handle to the ECS backend.
#[derive(Clone)]
pub struct Ecs {
    inner: Arc<Inner>,
}

impl Ecs {
    /// Loads the stored state. Task updates from the runtime arrive on
    /// `updates`; the backend applies them until the channel closes.
    pub fn load(
        store: Store,
        account: String,
        default_region: String,
        runtime: Runtime,
        updates: mpsc::UnboundedReceiver<(String, Vec<TaskUpdate>)>,
    ) -> std::result::Result<Ecs, StoreError> {
        let mut state = State::default();
        for (key, c) in store.load::<Cluster>(KIND_CLUSTER)? {
            let (region, name) = key.split_once('/').unwrap_or(("", &key));
            state.region(region).clusters.insert(name.to_string(), c);
        }
        for (key, r) in store.load::<TaskDefinitionRecord>(KIND_TASK_DEFINITION)? {
            let region = region_of(&key);
            let family = r.td.family.clone().unwrap_or_default();
            let rev = r.td.revision.unwrap_or(0);
            state
                .region(region)
                .families
                .entry(family)
                .or_default()
                .insert(rev, r);
        }
        for (_, t) in store.load::<TaskRecord>(KIND_TASK)? {
            let region = t.plan.region.clone();
            if t.task.last_status != Some(TaskStatus::Stopped) {
                state.awaiting_adoption.insert(t.plan.task_arn.clone());
            }
            state
                .region(&region)
                .tasks
                .insert(t.plan.task_id.clone(), t);
        }
        for (key, s) in store.load::<Setting>(KIND_SETTING)? {
            let mut parts = key.splitn(3, '/');
            let region = parts.next().unwrap_or("");
            let principal = parts.next().unwrap_or("").to_string();
            let name = parts.next().unwrap_or("").to_string();
            state.region(region).settings.insert((principal, name), s);
        }
        for (_, s) in store.load::<service_model::ServiceRecord>(services::KIND_SERVICE)? {
            let region = s.region.clone();
            let key = format!("{}/{}", s.cluster_name, s.name());
            state.region(&region).services.insert(key, s);
        }
        let (changes, _) = broadcast::channel(1024);
        let ecs = Ecs {
            inner: Arc::new(Inner {
                backend: Backend::new(store, account, "ecs.", state),
                default_region,
                runtime,
                changes,
                scheduler_wake: Arc::new(tokio::sync::Notify::new()),
                elb: std::sync::OnceLock::new(),
                iam: std::sync::OnceLock::new(),
                launch_quotas: std::sync::Mutex::new(LaunchQuotas {
                    run_task: crate::domain::rate::Quota::UNLIMITED,
                    tasks: crate::domain::rate::Quota::UNLIMITED,
                    started: std::time::Instant::now(),
                    buckets: HashMap::new(),
                }),
                subnets: std::sync::OnceLock::new(),
                servicediscovery: std::sync::OnceLock::new(),
            }),
        };
        let weak = Arc::downgrade(&ecs.inner);
        let shutdown = ecs.inner.runtime.shutdown();
        let stop = shutdown.signalled();
        shutdown.spawn("task update pump", async move {
            let mut updates = updates;
            let mut stop = std::pin::pin!(stop);
            loop {
                // Updates already sent are applied before the pump stops.
                let next = tokio::select! {
                    biased;
                    next = updates.recv() => next,
                    _ = &mut stop => None,
                };
                let Some((arn, list)) = next else { break };
                let Some(inner) = weak.upgrade() else { break };
                Ecs { inner }.apply_updates(&arn, list);
            }
        });
        Ok(ecs)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.backend.lock()
    }

    pub(crate) fn store(&self) -> &Store {
        self.inner.backend.store()
    }

    pub(crate) fn backend(&self) -> &Backend<State> {
        &self.inner.backend
    }

    /// Stores what memory holds of `docs`, and of every document an earlier
    /// internal write left unsaved. For the internal writers only (runtime
    /// reports, the scheduler): what they record has happened, so memory
    /// takes it first; when the store refuses, the documents are kept as
    /// unsaved, logged, and written by the next internal write that
    /// succeeds (the scheduler makes one every second). API operations never
    /// come here: they write first and change memory only after.
    pub(crate) fn persist(&self, st: &mut State, docs: impl IntoIterator<Item = Doc>, what: &str) {
        st.unsaved.extend(docs);
        if st.unsaved.is_empty() {
            return;
        }
        let ops: Vec<Op<'static>> = st.unsaved.iter().map(|d| d.op(st)).collect();
        match self.store().write(ops) {
            Ok(()) => st.unsaved.clear(),
            Err(e) => tracing::error!(
                error = %e,
                unsaved = st.unsaved.len(),
                "could not store {what}; kept in memory and written with the next internal write"
            ),
        }
    }

    /// Sets Fargate's launch-rate quotas (at start-up; `serve` gives AWS's).
    pub fn set_launch_quotas(
        &self,
        run_task: crate::domain::rate::Quota,
        tasks: crate::domain::rate::Quota,
    ) {
        let mut q = self.launch_quotas();
        q.run_task = run_task;
        q.tasks = tasks;
        q.buckets.clear();
    }

    /// Maps subnet ids to existing Docker networks: a task placed in one
    /// joins its network. Set once, at start-up.
    pub fn set_subnets(&self, subnets: BTreeMap<String, String>) {
        let _ = self.inner.subnets.set(subnets);
    }

    /// The subnet-to-network map (empty unless `set_subnets` said).
    pub fn subnets(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.inner.subnets.get().unwrap_or(&NONE)
    }

    fn launch_quotas(&self) -> std::sync::MutexGuard<'_, LaunchQuotas> {
        // The buckets are plain numbers: a panic elsewhere cannot leave them
        // half-changed, so a poisoned lock is used as it is.
        self.inner
            .launch_quotas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a RunTask call's token and, if `tasks` tokens are there too,
    /// those: `Throttling` (and nothing taken) otherwise. The call's token
    /// is spent either way, as AWS counts calls, not successes.
    pub(crate) fn take_launch_tokens(&self, region: &str, tasks: u32) -> Result<()> {
        use crate::domain::rate::TokenBucket;
        let mut q = self.launch_quotas();
        let now = q.started.elapsed();
        let quotas = [q.run_task, q.tasks];
        let [calls, launched] = q
            .buckets
            .entry(region.to_string())
            .or_insert_with(|| quotas.map(|quota| TokenBucket::new(quota, now)));
        if !calls.take(1.0, now) || !launched.take(f64::from(tasks), now) {
            return Err(EcsError::Throttling);
        }
        Ok(())
    }

    /// Gives back the task tokens of a RunTask that launched nothing.
    pub(crate) fn give_back_launch_tokens(&self, region: &str, tasks: u32) {
        if let Some([_, launched]) = self.launch_quotas().buckets.get_mut(region) {
            launched.give_back(f64::from(tasks));
        }
    }

    /// Connects the ELBv2 backend (once, at start-up).
    pub fn attach_elbv2(&self, elb: crate::services::elbv2::Elbv2) {
        let _ = self.inner.elb.set(elb);
    }

    /// Connects the Cloud Map backend (once, at start-up).
    pub fn attach_servicediscovery(&self, sd: crate::services::servicediscovery::ServiceDiscovery) {
        let _ = self.inner.servicediscovery.set(sd);
    }

    pub(crate) fn servicediscovery(
        &self,
    ) -> Option<&crate::services::servicediscovery::ServiceDiscovery> {
        self.inner.servicediscovery.get()
    }

    pub fn attach_iam(&self, iam: crate::services::iam::Iam, mode: crate::services::iam::Mode) {
        let _ = self.inner.iam.set((iam, mode));
    }

    /// ECS Exec under `serve --iam`: the SSM agent in the task opens its
    /// channels with the task role, so the role needs the four
    /// `ssmmessages` actions; without them (or without a task role)
    /// `enforce` answers TargetNotConnectedException as AWS does, `warn`
    /// logs it.
    pub(crate) fn check_exec_permissions(
        &self,
        task_role: Option<&str>,
        task_arn: &str,
    ) -> Result<()> {
        use crate::services::iam::Mode;
        let Some((iam, mode)) = self.inner.iam.get() else {
            return Ok(());
        };
        let Some(role) = task_role else {
            if *mode == Mode::Off {
                return Ok(());
            }
            if *mode == Mode::Enforce {
                tracing::warn!(task = %task_arn, "iam (enforce): ECS Exec's agent cannot open its channels: the task has no task role");
                return Err(EcsError::TargetNotConnected(
                    execute_command::EXEC_AGENT_FAILED.into(),
                ));
            }
            tracing::warn!(task = %task_arn, "iam (warn): `--iam enforce` would refuse ExecuteCommand: the task has no task role");
            return Ok(());
        };
        let who = crate::services::iam::Subject {
            kind: crate::services::iam::usage::RoleKind::Task,
            role,
            task_arn,
        };
        for action in execute_command::SSM_MESSAGES_ACTIONS {
            if iam
                .decide(*mode, who, None, action, &["*".to_string()])
                .is_err()
            {
                return Err(EcsError::TargetNotConnected(
                    execute_command::EXEC_AGENT_FAILED.into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether ECS can assume a new task's roles (task role, execution
    /// role), under `serve --iam`: `enforce` refuses with ECS's
    /// ClientException, `warn` logs what it would refuse, `off` and an
    /// emulator without IAM skip it.
    pub(crate) fn check_task_roles(
        &self,
        plan: &crate::runtime::plan::TaskPlan,
        execution_role: Option<&str>,
    ) -> Result<()> {
        use crate::services::iam::Mode;
        let Some((iam, mode)) = self.inner.iam.get() else {
            return Ok(());
        };
        if *mode == Mode::Off {
            return Ok(());
        }
        let roles = [
            ("task role", plan.task_role_arn.as_deref()),
            ("execution role", execution_role),
        ];
        for (which, role) in roles {
            let Some(role) = role.filter(|r| !r.is_empty()) else {
                continue;
            };
            if let Err(message) = iam.ecs_can_assume(role, &plan.task_arn) {
                if *mode == Mode::Enforce {
                    return Err(EcsError::Client(message));
                }
                tracing::warn!(
                    task = %plan.task_arn,
                    role = %role,
                    "iam (warn): ECS could not assume the {which}; `--iam enforce` would refuse this launch: {message}"
                );
            }
        }
        Ok(())
    }

    pub(crate) fn elbv2(&self) -> Option<&crate::services::elbv2::Elbv2> {
        self.inner.elb.get()
    }

    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    pub fn account(&self) -> &str {
        self.inner.backend.account()
    }

    pub fn default_region(&self) -> &str {
        &self.inner.default_region
    }

    /// Subscribes to task changes.
    pub fn watch_tasks(&self) -> broadcast::Receiver<TaskChanged> {
        self.inner.changes.subscribe()
    }

    pub(crate) fn announce(&self, region: &str, task_arn: &str) {
        let _ = self.inner.changes.send(TaskChanged {
            region: region.to_string(),
            task_arn: task_arn.to_string(),
        });
    }

    pub(crate) fn cluster_op(region: &str, c: &Cluster) -> Op<'static> {
        Op::put(
            KIND_CLUSTER,
            format!("{region}/{}", c.cluster_name.as_deref().unwrap_or("")),
            c,
        )
    }

    pub(crate) fn task_definition_op(region: &str, r: &TaskDefinitionRecord) -> Op<'static> {
        Op::put(
            KIND_TASK_DEFINITION,
            format!(
                "{region}/{}:{}",
                r.td.family.as_deref().unwrap_or(""),
                r.td.revision.unwrap_or(0)
            ),
            r,
        )
    }

    pub(crate) fn task_op(r: &TaskRecord) -> Op<'static> {
        Op::put(KIND_TASK, r.plan.task_arn.clone(), r)
    }

    pub(crate) fn task_delete_op(arn: &str) -> Op<'static> {
        Op::delete(KIND_TASK, arn.to_string())
    }

    pub(crate) fn setting_op(region: &str, principal: &str, s: &Setting) -> Op<'static> {
        Op::put(
            KIND_SETTING,
            format!("{region}/{principal}/{}", s.name.as_deref().unwrap_or("")),
            s,
        )
    }

    pub(crate) fn setting_delete_op(region: &str, principal: &str, name: &str) -> Op<'static> {
        Op::delete(KIND_SETTING, format!("{region}/{principal}/{name}"))
    }

    /// Clears every ECS resource (the reset endpoint). Tasks must have been
    /// stopped first.
    pub fn reset(&self) -> Result<()> {
        self.inner.backend.reset()
    }

    /// Every task that is not STOPPED, with its plan: for re-adoption.
    pub fn live_tasks(&self) -> Vec<TaskRecord> {
        let st = self.lock();
        st.regions
            .values()
            .flat_map(|r| r.tasks.values())
            .filter(|t| t.task.last_status != Some(TaskStatus::Stopped))
            .cloned()
            .collect()
    }

    /// Every task ARN the backend knows.
    pub fn all_task_arns(&self) -> std::collections::HashSet<String> {
        let st = self.lock();
        st.regions
            .values()
            .flat_map(|r| r.tasks.values())
            .map(|t| t.plan.task_arn.clone())
            .collect()
    }
}

/// The list operations' page sizes: 1 to 100, 100 unless asked.
pub(crate) const PAGE_100: Paging = Paging::up_to(100);
/// ListAccountSettings and DescribeCapacityProviders: 1 to 10.
pub(crate) const PAGE_10: Paging = Paging::up_to(10);
/// ListServices and ListServicesByNamespace: 1 to 100, 10 unless asked.
pub(crate) const PAGE_SERVICES: Paging = Paging::up_to(100).default_size(10);

/// The page of `items` (filtered and sorted) that a list request asks for;
/// a bad token or size is ECS's InvalidParameterException.
pub(crate) fn page<T: Clone>(
    paging: Paging,
    items: &[T],
    next_token: Option<&str>,
    max_results: Option<i32>,
) -> Result<Page<T>> {
    Ok(paging.page(items, next_token, max_results.map(i64::from))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use serde::de::DeserializeOwned;
    use test_support::{TempDir, caller, ecs_on, req};

    /// Documents a durable emulator stored before its statuses were enums
    /// (written by the binary of commit bf56c4f: clusters, an INACTIVE
    /// cluster, task definitions ACTIVE, DELETE_IN_PROGRESS and with
    /// FireLens, tasks stopped by the user, by the scheduler and failed to
    /// start, a deleted service, an account setting).
    const STORED_V1: &str = include_str!("testdata/stored_v1.json");

    fn stored_v1() -> Vec<(String, String, String)> {
        serde_json::from_str(STORED_V1).unwrap()
    }

    /// Each document decodes into today's types and encodes to the very
    /// same bytes: the store's JSON has not changed shape. One field has
    /// gone: tasks no longer keep their containers' last lines of output
    /// (`last_logs`, always empty in the fixture, which nothing read); an
    /// old document's is ignored and dropped at its next write.
    #[test]
    fn stored_documents_keep_their_bytes() {
        fn same<T: DeserializeOwned + Serialize>(kind: &str, text: &str) {
            let value: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let expected = text.replace(",\"last_logs\":{}", "");
            assert_eq!(serde_json::to_string(&value).unwrap(), expected, "{kind}");
        }
        let mut kinds = std::collections::BTreeSet::new();
        for (kind, _, text) in stored_v1() {
            match kind.as_str() {
                KIND_CLUSTER => same::<Cluster>(&kind, &text),
                KIND_TASK_DEFINITION => same::<TaskDefinitionRecord>(&kind, &text),
                KIND_TASK => same::<TaskRecord>(&kind, &text),
                KIND_SETTING => same::<Setting>(&kind, &text),
                services::KIND_SERVICE => same::<service_model::ServiceRecord>(&kind, &text),
                other => panic!("a kind the test does not know: {other}"),
            }
            kinds.insert(kind);
        }
        assert_eq!(kinds.len(), 5, "every ECS kind is in the fixture");
    }

    /// A backend started on those documents describes them as before.
    #[tokio::test]
    async fn stored_documents_load() {
        let dir = TempDir::new();
        let store = Store::open(&dir.0, false).unwrap();
        let ops = stored_v1()
            .into_iter()
            .map(|(kind, key, text)| Op::Put {
                kind: Box::leak(kind.into_boxed_str()),
                key,
                value: text.into_bytes(),
            })
            .collect();
        store.write(ops).unwrap();
        drop(store);
        let (ecs, _rt) = ecs_on(&dir.0, &FakeRuntime::default());
        let c = caller();
        let clusters = ecs
            .describe_clusters(&c, req(serde_json::json!({"clusters": ["fx", "gone"]})))
            .unwrap();
        let statuses: Vec<_> = clusters.clusters.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [
                Some(model::ClusterStatus::Active),
                Some(model::ClusterStatus::Inactive)
            ]
        );
        let tds = ecs
            .list_task_definitions(&c, req(serde_json::json!({"status": "DELETE_IN_PROGRESS"})))
            .unwrap();
        assert_eq!(tds.task_definition_arns.len(), 1);
        let tasks = ecs
            .list_tasks(
                &c,
                req(serde_json::json!({"cluster": "fx", "desiredStatus": "STOPPED"})),
            )
            .unwrap();
        assert_eq!(tasks.task_arns.len(), 3);
        let described = ecs
            .describe_tasks(
                &c,
                req(serde_json::json!({"cluster": "fx", "tasks": tasks.task_arns})),
            )
            .unwrap();
        use crate::domain::status::StopCode;
        let codes: HashSet<StopCode> = described.tasks.iter().filter_map(|t| t.stop_code).collect();
        assert_eq!(codes.len(), 3, "user, scheduler and failed to start");
        assert!(
            described
                .tasks
                .iter()
                .all(|t| t.last_status == Some(TaskStatus::Stopped))
        );
        assert!(
            described
                .tasks
                .iter()
                .any(|t| t.stop_code == Some(StopCode::TaskFailedToStart))
        );
        let svc = ecs
            .describe_services(
                &c,
                req(serde_json::json!({"cluster": "fx", "services": ["web"]})),
            )
            .unwrap();
        assert_eq!(
            svc.services[0].status,
            Some(service_model::ServiceStatus::Inactive)
        );
        assert!(ecs.live_tasks().is_empty());
    }

    /// ECS's messages for the kit's paging errors, and the token is the
    /// kit's.
    #[test]
    fn pages_walk_the_whole_list() {
        let items: Vec<i32> = (0..25).collect();
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let p = page(PAGE_100, &items, token.as_deref(), Some(10)).unwrap();
            seen.extend(p.items);
            match p.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let msg = |r: Result<Page<i32>>| r.map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            msg(page(PAGE_100, &items, Some("garbage"), None)),
            "Invalid nextToken."
        );
        assert_eq!(
            msg(page(PAGE_100, &items, None, Some(0))),
            "maxResults must be between 1 and 100."
        );
        assert_eq!(
            msg(page(PAGE_10, &items, None, Some(11))),
            "maxResults must be between 1 and 10."
        );
        let p = page(PAGE_SERVICES, &items, None, None).unwrap();
        assert_eq!(p.items.len(), 10);
        assert_eq!(
            p.next_token.as_deref(),
            Some(crate::services::kit::paging::token(10).as_str())
        );
    }
}
