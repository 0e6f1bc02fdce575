//! The endpoint inside a task at `169.254.170.2`: the task metadata
//! endpoint (v4, and the v3 paths), the credentials endpoint, and the
//! emulator's API on port 4566 for `AWS_ENDPOINT_URL`.
//!
//! Each task gets a directory of two Unix sockets, mounted into its
//! infrastructure container only (see `runtime::infra`), which pipes the
//! task's connections to them. A connection on a task's socket can only
//! come from that task, so the socket says who asks: a task sees its own
//! metadata and credentials and nobody else's, with no token to steal from
//! a container's environment. The sockets open before any container of
//! the task is created (`before_create`), are opened again for tasks
//! re-adopted after a restart, and close when the task stops, so a stopped
//! task's endpoint stops answering.
//!
//! Also the `TaskHook` that injects the Fargate environment
//! (`ECS_CONTAINER_METADATA_URI_V4`, `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`...).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::app::App;
use crate::runtime::infra::{
    API_SOCKET, ENDPOINT_API_PORT, ENDPOINT_IP, METADATA_SOCKET, READY_FILE, SOCKET_DIR,
};
use crate::runtime::plan::{ContainerPlan, TaskPlan};
use crate::runtime::supervisor::container_name;
use crate::runtime::{InfraSpec, TaskHook};
use crate::services::metadata::{self, DockerFacts};

/// The task endpoints of one emulator.
pub struct TaskEndpoints {
    app: App,
    /// One sub-directory per task holds its sockets.
    run_dir: PathBuf,
    /// Closes a task's servers.
    open: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
    /// The previous network sample of each container (network_rate_stats).
    samples: Mutex<HashMap<String, (f64, u64, u64)>>,
    /// Whether `AWS_ENDPOINT_URL` is injected.
    endpoint_url: bool,
}

/// How long a task's containers wait for its endpoint to be set up.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a request on a task's socket knows about its caller.
#[derive(Clone)]
struct TaskCtx {
    endpoints: Arc<TaskEndpoints>,
    task_arn: String,
}

impl TaskEndpoints {
    pub fn new(app: App, run_dir: PathBuf, endpoint_url: bool) -> Arc<Self> {
        Arc::new(TaskEndpoints {
            app,
            run_dir,
            open: Mutex::new(HashMap::new()),
            samples: Mutex::new(HashMap::new()),
            endpoint_url,
        })
    }

    /// The directory of this instance's task sockets.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn task_dir(&self, task_id: &str) -> PathBuf {
        self.run_dir.join(task_id)
    }

    /// Opens a task's sockets (again, after a restart). A task whose sockets
    /// are open is left alone.
    pub fn open(self: &Arc<Self>, plan: &TaskPlan) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.contains_key(&plan.task_arn) {
            return;
        }
        let dir = self.task_dir(&plan.task_id);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the task's socket directory");
            return;
        }
        let ctx = TaskCtx {
            endpoints: self.clone(),
            task_arn: plan.task_arn.clone(),
        };
        let metadata = Router::new()
            .fallback(metadata_request)
            .with_state(ctx.clone());
        let api = Router::new()
            .fallback(api_request)
            .with_state(ctx.app().clone());
        let mut closers = Vec::new();
        for (name, router) in [(METADATA_SOCKET, metadata), (API_SOCKET, api)] {
            let metered = name == API_SOCKET && self.app.egress().enabled();
            let path = dir.join(name);
            let _ = std::fs::remove_file(&path);
            let listener = match tokio::net::UnixListener::bind(&path) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(socket = %path.display(), error = %e, "cannot open the task endpoint");
                    continue;
                }
            };
            let (tx, rx) = oneshot::channel::<()>();
            closers.push(tx);
            // Closed with the task, or when the emulator shuts down.
            let stop = self.app.shutdown_signal().signalled();
            let closed = async move {
                tokio::select! {
                    _ = rx => {}
                    _ = stop => {}
                }
            };
            if metered {
                // The API socket's bytes, by service, for the egress lens.
                let listener = super::egress::MeteredListener {
                    inner: listener,
                    egress: self.app.egress().clone(),
                    task_arn: plan.task_arn.clone(),
                };
                let service =
                    router.into_make_service_with_connect_info::<super::egress::ConnMeter>();
                self.app
                    .shutdown_signal()
                    .spawn("task endpoint socket", async move {
                        let _ = axum::serve(listener, service)
                            .with_graceful_shutdown(closed)
                            .await;
                    });
                continue;
            }
            self.app
                .shutdown_signal()
                .spawn("task endpoint socket", async move {
                    let _ = axum::serve(listener, router)
                        .with_graceful_shutdown(closed)
                        .await;
                });
        }
        open.insert(plan.task_arn.clone(), closers);
    }

    /// Closes a task's sockets and removes its directory.
    pub fn close(&self, plan: &TaskPlan) {
        let closers = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&plan.task_arn);
        drop(closers);
        let _ = std::fs::remove_dir_all(self.task_dir(&plan.task_id));
        self.app.credentials().task_stopped(&plan.task_arn);
        let prefix = format!("{}/", plan.task_arn);
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| !k.starts_with(&prefix));
    }

    /// Closes every task's sockets (reset, shutdown).
    pub fn close_all(&self, remove_dir: bool) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if remove_dir {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }

    /// The environment Fargate injects into every container of a task.
    pub fn fargate_environment(&self, plan: &TaskPlan, c: &ContainerPlan) -> Vec<(String, String)> {
        let id = &c.runtime_id;
        let mut env = vec![
            (
                "ECS_CONTAINER_METADATA_URI_V4".to_string(),
                format!("http://{ENDPOINT_IP}/v4/{id}"),
            ),
            (
                "ECS_CONTAINER_METADATA_URI".into(),
                format!("http://{ENDPOINT_IP}/v3/{id}"),
            ),
            (
                "ECS_AGENT_URI".into(),
                format!("http://{ENDPOINT_IP}/api/{id}"),
            ),
            ("AWS_EXECUTION_ENV".into(), "AWS_ECS_FARGATE".into()),
            ("AWS_REGION".into(), plan.region.clone()),
            ("AWS_DEFAULT_REGION".into(), plan.region.clone()),
        ];
        if plan.task_role_arn.is_some() {
            env.push((
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".into(),
                format!(
                    "/v2/credentials/{}",
                    self.app.credentials().id_for(&plan.task_arn)
                ),
            ));
        }
        if self.endpoint_url {
            env.push((
                "AWS_ENDPOINT_URL".into(),
                format!("http://{ENDPOINT_IP}:{ENDPOINT_API_PORT}"),
            ));
        }
        env
    }
}

impl TaskCtx {
    fn app(&self) -> &App {
        &self.endpoints.app
    }
}

/// The hook half: sockets follow the task's life, and every container gets
/// the Fargate environment (a variable the task definition sets itself
/// keeps its value).
pub struct EndpointHook(pub Arc<TaskEndpoints>);

#[async_trait]
impl TaskHook for EndpointHook {
    fn infra_spec(&self, plan: &TaskPlan, spec: &mut InfraSpec) {
        let dir = self.0.task_dir(&plan.task_id);
        let _ = std::fs::remove_file(dir.join(READY_FILE));
        if std::fs::create_dir_all(&dir).is_ok() {
            spec.binds.push(format!("{}:{SOCKET_DIR}", dir.display()));
        }
    }

    async fn before_create(&self, plan: &TaskPlan) -> Result<(), String> {
        self.0.open(plan);
        Ok(())
    }

    /// The task's containers start only once the endpoint answers in the
    /// namespace (an application asks for its credentials first thing).
    async fn infra_started(&self, plan: &TaskPlan) {
        let ready = self.0.task_dir(&plan.task_id).join(READY_FILE);
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(status) = std::fs::read_to_string(&ready) {
                if status != "ok" {
                    tracing::warn!(task = %plan.task_arn, reason = %status, "the task endpoint 169.254.170.2 is not available in this task");
                }
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(task = %plan.task_arn, "the task endpoint did not report ready; starting the containers anyway");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    async fn environment(
        &self,
        plan: &TaskPlan,
        container: &ContainerPlan,
        env: &mut Vec<(String, String)>,
    ) -> Result<(), String> {
        for (k, v) in self.0.fargate_environment(plan, container) {
            if !env.iter().any(|(ek, _)| *ek == k) {
                env.push((k, v));
            }
        }
        Ok(())
    }

    async fn stopped(&self, plan: &TaskPlan) {
        self.0.close(plan);
    }
}

// ------------------------------------------------------------------ HTTP

fn json_reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The agent answers an unknown path or id with 404 and a JSON string.
fn not_found(what: &str) -> Response {
    json_reply(StatusCode::NOT_FOUND, json!(what))
}

fn credentials_error(code: &str, message: &str) -> Response {
    json_reply(
        StatusCode::BAD_REQUEST,
        json!({ "code": code, "message": message }),
    )
}

/// The emulator's API, as tasks reach it at `169.254.170.2:4566`: the AWS
/// protocols only, not the emulator's own endpoints.
async fn api_request(State(app): State<App>, req: Request) -> Response {
    if let Some(axum::extract::ConnectInfo(meter)) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<super::egress::ConnMeter>>()
    {
        meter.begin(super::egress::service_of(req.headers(), req.uri().query()));
    }
    if req.uri().path().starts_with("/_fargate-local/") {
        return super::ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound".into(),
            message: "The emulator's own endpoints are not served inside tasks.".into(),
        }
        .into_response();
    }
    super::dispatch(State(app), req).await
}

/// What wakes a long-poll: `false` when no more changes can come.
trait Changes {
    fn changed(&mut self) -> impl std::future::Future<Output = bool> + Send;
}

/// A receiver that fell behind has missed changes: that is a change.
impl<T: Clone + Send> Changes for tokio::sync::broadcast::Receiver<T> {
    async fn changed(&mut self) -> bool {
        !matches!(
            self.recv().await,
            Err(tokio::sync::broadcast::error::RecvError::Closed)
        )
    }
}

impl<T: Send + Sync> Changes for tokio::sync::watch::Receiver<T> {
    async fn changed(&mut self) -> bool {
        tokio::sync::watch::Receiver::changed(self).await.is_ok()
    }
}

/// A table a task's infrastructure process long-polls: `read` (or its
/// not-found message) at once, or
/// with `?version=<v>` once it differs from `v` (woken by `changes`, which
/// says `false` when no more changes can come), answered unchanged after
/// [`LONG_POLL`](crate::runtime::service_connect::LONG_POLL) and at once
/// when the emulator begins to shut down (the socket's graceful shutdown
/// waits for requests in flight).
async fn long_polled(
    ctx: &TaskCtx,
    query: &str,
    mut read: impl FnMut() -> Result<Value, &'static str>,
    changes: &mut impl Changes,
) -> Response {
    use crate::runtime::service_connect::{LONG_POLL, version};
    let since: Option<u64> = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("version="))
        .and_then(|v| v.parse().ok());
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    let stopping = ctx.app().shutdown_signal().signalled();
    tokio::pin!(stopping);
    loop {
        let table = match read() {
            Ok(t) => t,
            Err(message) => return not_found(message),
        };
        if since != Some(version(&table)) || tokio::time::Instant::now() >= deadline {
            return json_reply(StatusCode::OK, table);
        }
        tokio::select! {
            open = changes.changed() => if !open {
                return json_reply(StatusCode::OK, table);
            },
            _ = tokio::time::sleep_until(deadline) => {}
            () = &mut stopping => return json_reply(StatusCode::OK, table),
        }
    }
}

/// The Service Connect table of the task's proxy
/// (`runtime::service_connect`), woken by every task change.
async fn service_connect_table(ctx: &TaskCtx, query: &str) -> Response {
    let ecs = ctx.app().ecs();
    let mut changes = ecs.watch_tasks();
    let read = || {
        let Some(rec) = ecs.task_record(&ctx.task_arn) else {
            return Err("Task metadata handler: task not found");
        };
        let Some(sc) = rec.plan.service_connect.as_ref() else {
            return Err("The task has no Service Connect");
        };
        Ok(crate::services::ecs::service_connect::proxy_table(
            sc,
            &ecs.live_tasks(),
        ))
    };
    long_polled(ctx, query, read, &mut changes).await
}

/// The DNS table of the task's DNS server (`runtime::dns`): the Cloud Map
/// private DNS namespaces of the task's region, woken by every Cloud Map
/// change.
async fn dns_table(ctx: &TaskCtx, query: &str) -> Response {
    let sd = ctx.app().servicediscovery().clone();
    // Subscribed before the first read: a change after it wakes the poll.
    let mut changes = sd.watch();
    let read = || {
        let Some(rec) = ctx.app().ecs().task_record(&ctx.task_arn) else {
            return Err("Task metadata handler: task not found");
        };
        Ok(serde_json::to_value(sd.dns_table(&rec.plan.region)).unwrap_or_default())
    };
    long_polled(ctx, query, read, &mut changes).await
}

async fn metadata_request(State(ctx): State<TaskCtx>, req: Request) -> Response {
    if req.method() != axum::http::Method::GET {
        return not_found("Only GET is served here");
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if path == crate::runtime::service_connect::TABLE_PATH {
        return service_connect_table(&ctx, &query).await;
    }
    if path == crate::runtime::dns::TABLE_PATH {
        return dns_table(&ctx, &query).await;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some(rec) = ctx.app().ecs().task_record(&ctx.task_arn) else {
        return not_found("Task metadata handler: task not found");
    };
    if rec.task.last_status == Some(crate::domain::status::TaskStatus::Stopped) {
        return not_found("Task metadata handler: task not found");
    }
    match segs.as_slice() {
        ["v2", "credentials", id] => credentials(&ctx, &rec, Some(id), "CredentialsV2Request"),
        ["v2", "credentials"] => credentials(&ctx, &rec, None, "CredentialsV2Request"),
        ["v1", "credentials"] => {
            let id = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("id="))
                .filter(|v| !v.is_empty());
            credentials(&ctx, &rec, id, "CredentialsV1Request")
        }
        [v @ ("v3" | "v4"), id, rest @ ..] => {
            let Some(c) = metadata::container_by_id(&rec, id) else {
                return not_found(&format!(
                    "{} container metadata handler: unable to get task arn from request: unknown container id {id}",
                    v.to_ascii_uppercase()
                ));
            };
            match rest {
                [] => {
                    let facts = facts(&ctx, &rec.plan, c).await;
                    json_reply(
                        StatusCode::OK,
                        metadata::container_document(&rec, c, &facts),
                    )
                }
                ["task"] | ["taskWithTags"] => {
                    let mut all = HashMap::new();
                    for c in &rec.plan.containers {
                        all.insert(c.name.clone(), facts(&ctx, &rec.plan, c).await);
                    }
                    let tags = rest == ["taskWithTags"];
                    json_reply(StatusCode::OK, metadata::task_document(&rec, &all, tags))
                }
                ["stats"] => match stats(&ctx, &rec.plan, c).await {
                    Some(s) => json_reply(StatusCode::OK, s),
                    None => not_found("stats are not available for this container"),
                },
                ["task", "stats"] => {
                    let futs = rec.plan.containers.iter().map(|c| {
                        let ctx = ctx.clone();
                        let plan = rec.plan.clone();
                        async move { (c.runtime_id.clone(), stats(&ctx, &plan, c).await) }
                    });
                    let all = futures_util::future::join_all(futs).await;
                    let map: serde_json::Map<String, Value> = all
                        .into_iter()
                        .map(|(id, s)| (id, s.unwrap_or(Value::Null)))
                        .collect();
                    json_reply(StatusCode::OK, Value::Object(map))
                }
                _ => not_found(&format!("{path} is not a task metadata path")),
            }
        }
        _ => not_found(&format!("{path} is not a task metadata path")),
    }
}

async fn facts(ctx: &TaskCtx, plan: &TaskPlan, c: &ContainerPlan) -> DockerFacts {
    let name = container_name(&plan.task_id, &c.name);
    match ctx.app().runtime().backend().inspect_json(&name).await {
        Ok(Some(v)) => DockerFacts::from_inspect(&v),
        _ => DockerFacts::default(),
    }
}

async fn stats(ctx: &TaskCtx, plan: &TaskPlan, c: &ContainerPlan) -> Option<Value> {
    let name = container_name(&plan.task_id, &c.name);
    let raw = ctx
        .app()
        .runtime()
        .backend()
        .stats_json(&name)
        .await
        .ok()
        .flatten()?;
    let key = format!("{}/{}", plan.task_arn, c.name);
    let prev = ctx
        .endpoints
        .samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .copied();
    let (doc, sample) = metadata::stats_document(raw, prev);
    ctx.endpoints
        .samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, sample);
    Some(doc)
}

fn credentials(
    ctx: &TaskCtx,
    rec: &crate::services::ecs::TaskRecord,
    id: Option<&str>,
    handler: &str,
) -> Response {
    let Some(id) = id else {
        return credentials_error("NoIdInRequest", &format!("{handler}: No ID in the request"));
    };
    let creds = ctx.app().credentials();
    match &rec.plan.task_role_arn {
        // Another task's id is refused like an unknown one: the socket the
        // request came in on says which task asks.
        Some(role) if creds.id_for(&rec.plan.task_arn) == id => {
            // A role named by its bare name is served as its ARN, as ECS
            // fills in the account.
            let c = creds.issue(&rec.plan.task_arn, &ctx.app().iam().role_arn_of(role));
            json_reply(StatusCode::OK, serde_json::to_value(c).unwrap_or_default())
        }
        _ => credentials_error(
            "InvalidIdInRequest",
            &format!("{handler}: Credentials not found"),
        ),
    }
}

/// The directory of an instance's task sockets: under `--run-dir`, else in
/// the data directory, else with the in-memory instances' lock files.
pub fn run_dir(run_dir: Option<&Path>, data_dir: Option<&Path>, instance_id: &str) -> PathBuf {
    match (run_dir, data_dir) {
        (Some(r), _) => std::path::absolute(r)
            .unwrap_or_else(|_| r.to_path_buf())
            .join(format!("{instance_id}.run")),
        (None, Some(d)) => d.join("run"),
        (None, None) => std::env::temp_dir()
            .join("fargate-local-instances")
            .join(format!("{instance_id}.run")),
    }
}
