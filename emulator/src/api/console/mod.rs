//! The console: server-rendered HTML pages at `/_fargate-local/console/`
//! that show a user's own ECS objects and how they relate (cluster →
//! service → task → container), with a legend naming each concept.
//!
//! Pages read state through the ECS backend's own operations, the ones the
//! API calls (ListClusters, DescribeServices, DescribeTasks,
//! DescribeTaskDefinition): the console is one more client, not a second
//! path into the state. `view.rs` turns their answers into rows (pure),
//! `render.rs` draws them from the templates in `templates/`. The console
//! fetches nothing from the internet and works without JavaScript.

pub mod egress_panel;
pub mod others;
pub mod render;
pub mod view;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::App;
use crate::services::ecs::model::{Cluster, Task};
use crate::services::ecs::service_model::Service;
use crate::services::ecs::{Caller, EcsError, clusters, services, task_definitions, tasks};
use crate::services::kit::AwsError;
use crate::services::logs::{FilterLogEventsRequest, LogsError};

/// Every console path starts with this.
pub const PREFIX: &str = "/_fargate-local/console";

/// What the console can fail with: an ECS error (a cluster, service or
/// task that does not exist), a page that does not exist, or a template
/// that could not be drawn.
#[derive(Debug)]
enum ConsoleError {
    Ecs(EcsError),
    Logs(LogsError),
    NotFound(String),
    Render(String),
    /// An action the backend refused, or a form that does not parse.
    Refused(String),
    /// A cross-site form post.
    Forbidden(String),
    /// Another backend's error (SQS, IAM, Cloud Map), as its API says it.
    Aws {
        status: u16,
        code: String,
        message: String,
    },
}

impl From<LogsError> for ConsoleError {
    fn from(e: LogsError) -> Self {
        ConsoleError::Logs(e)
    }
}

impl From<EcsError> for ConsoleError {
    fn from(e: EcsError) -> Self {
        ConsoleError::Ecs(e)
    }
}

/// Serves one console request.
pub async fn handle(app: &App, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return not_found(app, &path);
    };
    if rest.is_empty() {
        return Redirect::permanent(render::ROOT).into_response();
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    if method == Method::POST {
        return action(app, req, &segments_owned(&segments)).await;
    }
    let query = req.uri().query().map(str::to_string);
    if method != Method::GET {
        return error_page(
            app,
            ConsoleError::NotFound(format!("{method} {path} is not a page of the console.")),
        );
    }
    match segments.as_slice() {
        ["live"] => {
            let page = query_param(query.as_deref(), "page").unwrap_or_default();
            let version = query_param(query.as_deref(), "v").unwrap_or_default();
            return live(app.clone(), page, version, host).into_response();
        }
        [
            "clusters",
            cluster,
            "tasks",
            task,
            "containers",
            container,
            "logs",
            "tail",
        ] => {
            let filter = query_param(query.as_deref(), "filter").filter(|f| !f.trim().is_empty());
            let since = query_param(query.as_deref(), "since").and_then(|s| s.parse().ok());
            return match container_logs(app, cluster, task, container) {
                Ok(loc) => tail(app.clone(), loc, filter, since).into_response(),
                Err(e) => error_page(app, e),
            };
        }
        _ => {}
    }
    let page_path = match &query {
        Some(q) => format!("{}?{q}", rest.trim_start_matches('/')),
        None => rest.trim_start_matches('/').to_string(),
    };
    let started = std::time::Instant::now();
    let mut resp = match get_page(app, &segments, query.as_deref(), &host) {
        Ok(html) => html_response(StatusCode::OK, with_live_url(html, &page_path)),
        Err(e) => error_page(app, e),
    };
    // The time the page took to read and draw, for people and for `make
    // bench` (the browser's developer tools show it beside the request).
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("page;dur={ms:.3}")) {
        resp.headers_mut().insert("server-timing", v);
    }
    resp
}

/// Draws the page at `segments` (the path below the console's root) with
/// its query. A page that updates live carries [`LIVE_PLACEHOLDER`] where
/// its live address goes.
fn get_page(
    app: &App,
    segments: &[&str],
    query: Option<&str>,
    host: &str,
) -> Result<String, ConsoleError> {
    let filter = query_param(query, "filter").filter(|f| !f.trim().is_empty());
    match segments {
        [""] => clusters_page(app),
        ["clusters", cluster] => cluster_page(app, cluster),
        ["task-definitions"] => task_definitions_page(app),
        ["task-definitions", family] => {
            let rev = |n| query_param(query, n).and_then(|v| v.parse::<i32>().ok());
            family_page(app, family, rev("a"), rev("b"))
        }
        ["clusters", cluster, "services", service] => service_page(app, cluster, service),
        ["clusters", cluster, "tasks", task] => task_page(app, cluster, task, host_name(host)),
        ["queues"] => others::queues_page(app, host),
        ["queues", name] => others::queue_page(app, host, name),
        ["roles"] => others::roles_page(app),
        ["roles", name] => others::role_page(app, name),
        ["namespaces"] => others::namespaces_page(app),
        [
            "clusters",
            cluster,
            "tasks",
            task,
            "containers",
            container,
            "logs",
        ] => logs_page(app, cluster, task, container, filter),
        _ => Err(ConsoleError::NotFound(format!(
            "GET {}{} is not a page of the console.",
            render::ROOT,
            segments.join("/")
        ))),
    }
}

/// Where a live page's templates put its live address (`base.html`'s
/// `live` block); replaced once the page is drawn, since the address names
/// a digest of the page itself.
pub const LIVE_PLACEHOLDER: &str = "__FARGATE_LOCAL_LIVE__";

/// A digest of a drawn page: the live stream compares it with the one of
/// the page the browser shows.
fn digest(html: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    html.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The page with its live address filled in: the stream of the page at
/// `page_path`, from the digest of this drawing of it.
fn with_live_url(html: String, page_path: &str) -> String {
    if !html.contains(LIVE_PLACEHOLDER) {
        return html;
    }
    let url = format!(
        "{}live?{}",
        render::ROOT,
        form_urlencoded::Serializer::new(String::new())
            .append_pair("page", page_path)
            .append_pair("v", &digest(&html))
            .finish()
    );
    html.replacen(LIVE_PLACEHOLDER, &render::escape_html(&url), 1)
}

/// How often a live page is drawn again when no task changed (a service's
/// desired count or events change without a task changing).
const LIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A live page: a server-sent `change` event whenever the page at
/// `page_path`, drawn again, differs from the drawing the browser has
/// (`version`, its digest). The page is drawn again when a task changes,
/// and every second; the browser then fetches the page and swaps its
/// content in place.
fn live(
    app: App,
    page_path: String,
    version: String,
    host: String,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let shutdown = app.shutdown_signal().token();
    let changes = app.ecs().watch_tasks();
    let state = (app, page_path, version, host, changes, true);
    let stream = futures_util::stream::unfold(
        state,
        move |(app, page_path, mut version, host, mut changes, first)| {
            let shutdown = shutdown.clone();
            async move {
                let mut first = first;
                loop {
                    if !first {
                        tokio::select! {
                            _ = shutdown.cancelled() => return None,
                            r = changes.recv() => {
                                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                                    return None;
                                }
                                // Let the rest of a burst of changes land first.
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                                changes = changes.resubscribe();
                            }
                            _ = tokio::time::sleep(LIVE_EVERY) => {}
                        }
                    }
                    first = false;
                    let (path, query) = match page_path.split_once('?') {
                        Some((p, q)) => (p, Some(q)),
                        None => (page_path.as_str(), None),
                    };
                    let segments: Vec<&str> = path.split('/').collect();
                    // A page that can no longer be drawn (its cluster was
                    // deleted) changed too: the browser shows the error.
                    let now = match get_page(&app, &segments, query, &host) {
                        Ok(html) => digest(&html),
                        Err(e) => format!("error: {e:?}"),
                    };
                    if now != version {
                        version = now;
                        let event = Event::default().event("change").data(&version);
                        return Some((Ok(event), (app, page_path, version, host, changes, false)));
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn segments_owned(segments: &[&str]) -> Vec<String> {
    segments.iter().map(|s| s.to_string()).collect()
}

/// The token every console form carries: random for each emulator
/// process, so a page of another site, which cannot read the console's
/// pages, cannot know it.
static FORM_TOKEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
});

pub fn form_token() -> &'static str {
    &FORM_TOKEN
}

/// Whether a form post may act: it comes from the console itself
/// (`Sec-Fetch-Site` same-origin or none, an `Origin` naming the host it
/// was sent to) and carries the form token. A browser on another site
/// sends its own origin and cannot read the token.
pub fn same_site(headers: &axum::http::HeaderMap, token: Option<&str>) -> Result<(), String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return Err(format!("a {site} request cannot act on the console"));
    }
    if let Some(origin) = header("origin") {
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        if Some(origin_host) != header("host") {
            return Err(format!("a request from {origin} cannot act on the console"));
        }
    }
    if token != Some(form_token()) {
        return Err("the form token is missing or wrong: reload the page and try again".into());
    }
    Ok(())
}

/// A console action: a form post that calls the same ECS operation as the
/// API (StopTask, UpdateService), then sends the browser back to the page
/// it came from.
async fn action(app: &App, req: Request, segments: &[String]) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return error_page(
            app,
            ConsoleError::Refused("The form is larger than 64 KiB.".into()),
        );
    };
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    if let Err(why) = same_site(&parts.headers, form.get("token").map(String::as_str)) {
        return error_page(app, ConsoleError::Forbidden(format!("Refused: {why}.")));
    }
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let caller = caller(app);
    let (result, back) = match seg.as_slice() {
        ["clusters", cluster, "tasks", task, "stop"] => (
            app.ecs()
                .stop_task(
                    &caller,
                    tasks::StopTaskRequest {
                        cluster: Some(cluster.to_string()),
                        task: Some(task.to_string()),
                        reason: Some("Stopped from the fargate-local console".into()),
                    },
                )
                .map(|_| ()),
            format!("{}clusters/{cluster}/tasks/{task}", render::ROOT),
        ),
        ["clusters", cluster, "services", service, "update"] => {
            let desired_count = match form.get("desired_count").map(|v| v.trim()) {
                None | Some("") => None,
                Some(v) => match v.parse::<i32>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        return error_page(
                            app,
                            ConsoleError::Refused(format!(
                                "The desired count must be a whole number, not {v:?}."
                            )),
                        );
                    }
                },
            };
            (
                app.ecs()
                    .update_service(
                        &caller,
                        services::UpdateServiceRequest {
                            cluster: Some(cluster.to_string()),
                            service: Some(service.to_string()),
                            desired_count,
                            task_definition: form
                                .get("task_definition")
                                .map(|v| v.trim().to_string())
                                .filter(|v| !v.is_empty()),
                            force_new_deployment: form
                                .get("force_new_deployment")
                                .map(|v| v == "true"),
                            ..Default::default()
                        },
                    )
                    .map(|_| ()),
                format!("{}clusters/{cluster}/services/{service}", render::ROOT),
            )
        }
        _ => {
            return error_page(
                app,
                ConsoleError::NotFound(format!(
                    "POST {} is not an action of the console.",
                    parts.uri.path()
                )),
            );
        }
    };
    match result {
        Ok(()) => Redirect::to(&back).into_response(),
        Err(e) => error_page(
            app,
            ConsoleError::Refused(format!("{}: {}", e.code(), e.message())),
        ),
    }
}

/// A parameter of a query string, decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The host name of a `Host` header, without its port (`[::1]:4566` →
/// `[::1]`).
fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() => name,
        _ => host,
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    // Nothing is loaded from anywhere but the console itself, and no other
    // site may frame it.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn not_found(app: &App, path: &str) -> Response {
    error_page(
        app,
        ConsoleError::NotFound(format!("{path} is not a page of the console.")),
    )
}

fn error_page(app: &App, e: ConsoleError) -> Response {
    let (status, title, message) = match e {
        ConsoleError::Ecs(e) => {
            let status = if e.status() >= 500 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::NOT_FOUND
            };
            (status, e.code().to_string(), e.message())
        }
        ConsoleError::Logs(e) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.code().to_string(),
            e.message(),
        ),
        ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found".to_string(), m),
        ConsoleError::Refused(m) => (StatusCode::BAD_REQUEST, "Not done".to_string(), m),
        ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, "Forbidden".to_string(), m),
        ConsoleError::Aws {
            status,
            code,
            message,
        } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message,
        ),
        ConsoleError::Render(m) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The page could not be drawn".to_string(),
            m,
        ),
    };
    let html = render::page(
        "error.html",
        app.region(),
        minijinja::context! { title => title, message => message },
    )
    .unwrap_or_else(|e| format!("<!doctype html><title>error</title><p>{e}"));
    html_response(status, html)
}

/// The console reads as the account's root principal in the emulator's
/// region, as an unsigned API request would.
fn caller(app: &App) -> Caller {
    Caller {
        region: app.region().to_string(),
        account: app.account_id().to_string(),
        principal: crate::domain::arn::iam_root(app.account_id()),
    }
}

fn draw(app: &App, template: &str, page: impl serde::Serialize) -> Result<String, ConsoleError> {
    render::page(template, app.region(), page).map_err(ConsoleError::Render)
}

/// Every cluster, through ListClusters and DescribeClusters.
fn all_clusters(app: &App) -> Result<Vec<Cluster>, ConsoleError> {
    let caller = caller(app);
    let mut arns = Vec::new();
    let mut next_token = None;
    loop {
        let page = app.ecs().list_clusters(
            &caller,
            clusters::ListClustersRequest {
                next_token,
                max_results: Some(100),
            },
        )?;
        arns.extend(page.cluster_arns);
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let resp = app.ecs().describe_clusters(
            &caller,
            clusters::DescribeClustersRequest {
                clusters: Some(chunk.to_vec()),
                include: None,
            },
        )?;
        out.extend(resp.clusters);
    }
    Ok(out)
}

/// One cluster, through DescribeClusters: a cluster that is not there is
/// ClusterNotFoundException, as the API's other operations say it.
fn one_cluster(app: &App, name: &str) -> Result<Cluster, ConsoleError> {
    let resp = app.ecs().describe_clusters(
        &caller(app),
        clusters::DescribeClustersRequest {
            clusters: Some(vec![name.to_string()]),
            include: None,
        },
    )?;
    resp.clusters
        .into_iter()
        .next()
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no cluster named {name}.")))
}

/// A cluster's services, through ListServices and DescribeServices.
fn cluster_services(app: &App, cluster: &str) -> Result<Vec<Service>, ConsoleError> {
    let caller = caller(app);
    let mut arns = Vec::new();
    let mut next_token = None;
    loop {
        let page = app.ecs().list_services(
            &caller,
            services::ListServicesRequest {
                cluster: Some(cluster.to_string()),
                next_token,
                max_results: Some(100),
                ..Default::default()
            },
        )?;
        arns.extend(page.service_arns);
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(10) {
        let resp = app.ecs().describe_services(
            &caller,
            services::DescribeServicesRequest {
                cluster: Some(cluster.to_string()),
                services: Some(chunk.to_vec()),
                include: None,
            },
        )?;
        out.extend(resp.services);
    }
    Ok(out)
}

/// A cluster's tasks, running and stopped (as long as the emulator keeps
/// stopped tasks), through ListTasks and DescribeTasks; newest first.
fn cluster_tasks(app: &App, cluster: &str) -> Result<Vec<Task>, ConsoleError> {
    tasks_of(app, cluster, None)
}

/// The tasks of a cluster, or of one of its services (ListTasks'
/// `serviceName`), running and stopped; newest first.
fn tasks_of(app: &App, cluster: &str, service: Option<&str>) -> Result<Vec<Task>, ConsoleError> {
    let caller = caller(app);
    let mut arns = Vec::new();
    for desired in ["RUNNING", "STOPPED"] {
        let mut next_token = None;
        loop {
            let page = app.ecs().list_tasks(
                &caller,
                tasks::ListTasksRequest {
                    cluster: Some(cluster.to_string()),
                    desired_status: Some(desired.to_string()),
                    service_name: service.map(str::to_string),
                    next_token,
                    max_results: Some(100),
                    ..Default::default()
                },
            )?;
            arns.extend(page.task_arns);
            next_token = page.next_token;
            if next_token.is_none() {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let resp = app.ecs().describe_tasks(
            &caller,
            tasks::DescribeTasksRequest {
                cluster: Some(cluster.to_string()),
                tasks: Some(chunk.to_vec()),
                include: None,
            },
        )?;
        out.extend(resp.tasks);
    }
    out.sort_by(|a, b| {
        b.created_at
            .partial_cmp(&a.created_at)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(out)
}

fn clusters_page(app: &App) -> Result<String, ConsoleError> {
    let mut rows: Vec<view::ClusterRow> =
        all_clusters(app)?.iter().map(view::cluster_row).collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    draw(
        app,
        "clusters.html",
        minijinja::context! { clusters => rows },
    )
}

fn cluster_page(app: &App, name: &str) -> Result<String, ConsoleError> {
    let cluster = one_cluster(app, name)?;
    let services = cluster_services(app, name)?;
    let tasks = cluster_tasks(app, name)?;
    let page = view::cluster_page(&cluster, &services, &tasks);
    draw(app, "cluster.html", minijinja::context! { cluster => page })
}

fn service_page(app: &App, cluster: &str, name: &str) -> Result<String, ConsoleError> {
    one_cluster(app, cluster)?;
    let resp = app.ecs().describe_services(
        &caller(app),
        services::DescribeServicesRequest {
            cluster: Some(cluster.to_string()),
            services: Some(vec![name.to_string()]),
            include: None,
        },
    )?;
    let Some(service) = resp.services.first() else {
        return Err(ConsoleError::NotFound(format!(
            "There is no service named {name} in cluster {cluster}."
        )));
    };
    let tasks = tasks_of(app, cluster, Some(name))?;
    let page = view::service_view(service, &tasks, 100);
    draw(
        app,
        "service.html",
        minijinja::context! { cluster => cluster, service => page },
    )
}

fn task_page(app: &App, cluster: &str, id: &str, host: &str) -> Result<String, ConsoleError> {
    let caller = caller(app);
    let resp = app.ecs().describe_tasks(
        &caller,
        tasks::DescribeTasksRequest {
            cluster: Some(cluster.to_string()),
            tasks: Some(vec![id.to_string()]),
            include: None,
        },
    )?;
    let Some(task) = resp.tasks.first() else {
        return Err(ConsoleError::NotFound(format!(
            "There is no task {id} in cluster {cluster} (stopped tasks are forgotten after a while)."
        )));
    };
    // The definition may have been deleted since; the page then shows the
    // task without what only the definition knows.
    let td = task.task_definition_arn.as_ref().and_then(|arn| {
        app.ecs()
            .describe_task_definition(
                &caller,
                task_definitions::DescribeTaskDefinitionRequest {
                    task_definition: Some(arn.clone()),
                    include: None,
                },
            )
            .ok()
    });
    let page = view::task_page(cluster, task, td.as_ref().map(|r| &r.task_definition), host);
    let calls = view::role_calls(&app.requests().entries(), &page.arn);
    let egress = egress_panel::panel(
        &app.egress().snapshot(),
        &page.arn,
        app.region(),
        app.args().nat_price_per_gb,
    );
    let uses = match (&td, &page.execution_role) {
        (Some(td), Some(role)) => {
            let region = page.arn.split(':').nth(3).unwrap_or(app.region());
            let mut uses =
                view::execution_role_uses(&td.task_definition, &page.id, region, app.account_id());
            judge_execution_uses(app, role, &page.id, &mut uses);
            uses
        }
        _ => Vec::new(),
    };
    draw(
        app,
        "task.html",
        minijinja::context! { task => page, role_calls => calls, execution_uses => uses, egress => egress },
    )
}

/// IAM's decision on each use of the execution role, as `serve --iam`
/// judges it when the task starts (the role's policies now, which may
/// have changed since the task started).
fn judge_execution_uses(app: &App, role: &str, task_id: &str, uses: &mut [view::ExecutionUse]) {
    use crate::services::iam::Mode;
    for u in uses {
        u.decision = Some(match app.args().iam {
            Mode::Off => "not evaluated (serve --iam off)".to_string(),
            mode => match app.iam().judge_role(
                role,
                task_id,
                u.action,
                std::slice::from_ref(&u.resource),
            ) {
                Ok(()) => "allowed".to_string(),
                Err((message, smallest)) => {
                    u.denied = true;
                    let outcome = if mode == Mode::Enforce {
                        "denied (the task fails to start)"
                    } else {
                        "would be denied (serve --iam warn lets it through)"
                    };
                    format!("{outcome}: {message}. A statement that allows it: {smallest}")
                }
            },
        });
    }
}

/// A family's revisions, newest last, through ListTaskDefinitions (whose
/// `familyPrefix` is a prefix: other families are left out here).
fn revisions(app: &App, family: &str) -> Result<Vec<i32>, ConsoleError> {
    let mut revs = Vec::new();
    let mut next_token = None;
    loop {
        let page = app.ecs().list_task_definitions(
            &caller(app),
            task_definitions::ListTaskDefinitionsRequest {
                family_prefix: Some(family.to_string()),
                next_token,
                max_results: Some(100),
                ..Default::default()
            },
        )?;
        revs.extend(page.task_definition_arns.iter().filter_map(|arn| {
            let (f, r) = view::family_revision(arn).rsplit_once(':')?;
            (f == family).then(|| r.parse::<i32>().ok()).flatten()
        }));
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    revs.sort_unstable();
    Ok(revs)
}

fn task_definitions_page(app: &App) -> Result<String, ConsoleError> {
    let mut families = Vec::new();
    let mut next_token = None;
    loop {
        let page = app.ecs().list_task_definition_families(
            &caller(app),
            task_definitions::ListTaskDefinitionFamiliesRequest {
                next_token,
                max_results: Some(100),
                ..Default::default()
            },
        )?;
        families.extend(page.families);
        next_token = page.next_token;
        if next_token.is_none() {
            break;
        }
    }
    let mut rows = Vec::new();
    for family in families {
        let revisions = revisions(app, &family)?;
        rows.push(minijinja::context! { family => family, revisions => revisions });
    }
    draw(
        app,
        "task_definitions.html",
        minijinja::context! { families => rows },
    )
}

fn family_page(
    app: &App,
    family: &str,
    a: Option<i32>,
    b: Option<i32>,
) -> Result<String, ConsoleError> {
    let revs = revisions(app, family)?;
    let Some(&last) = revs.last() else {
        return Err(ConsoleError::NotFound(format!(
            "There is no active task definition in family {family}."
        )));
    };
    // By default the newest revision against the one before it.
    let b = b.unwrap_or(last);
    let a = a.unwrap_or_else(|| revs.iter().rev().nth(1).copied().unwrap_or(last));
    let describe = |rev: i32| {
        app.ecs()
            .describe_task_definition(
                &caller(app),
                task_definitions::DescribeTaskDefinitionRequest {
                    task_definition: Some(format!("{family}:{rev}")),
                    include: None,
                },
            )
            .map(|r| view::definition_text(&r.task_definition))
    };
    let rows = view::diff_lines(&describe(a)?, &describe(b)?);
    draw(
        app,
        "family.html",
        minijinja::context! { family => family, revisions => revs, a => a, b => b, rows => rows },
    )
}

/// Where a container's awslogs output is, from DescribeTasks and
/// DescribeTaskDefinition.
fn container_logs(
    app: &App,
    cluster: &str,
    id: &str,
    container: &str,
) -> Result<view::LogLocation, ConsoleError> {
    let caller = caller(app);
    let resp = app.ecs().describe_tasks(
        &caller,
        tasks::DescribeTasksRequest {
            cluster: Some(cluster.to_string()),
            tasks: Some(vec![id.to_string()]),
            include: None,
        },
    )?;
    let Some(task) = resp.tasks.first() else {
        return Err(ConsoleError::NotFound(format!(
            "There is no task {id} in cluster {cluster}."
        )));
    };
    let td = app.ecs().describe_task_definition(
        &caller,
        task_definitions::DescribeTaskDefinitionRequest {
            task_definition: task.task_definition_arn.clone(),
            include: None,
        },
    )?;
    let def = td
        .task_definition
        .container_definitions
        .iter()
        .flatten()
        .find(|d| d.name.as_deref() == Some(container));
    let runtime_id = task
        .containers
        .iter()
        .flatten()
        .find(|c| c.name.as_deref() == Some(container))
        .and_then(|c| c.runtime_id.as_deref());
    let task_arn = task.task_arn.as_deref().unwrap_or_default();
    def.and_then(|d| {
        view::awslogs_location(d, runtime_id, view::short(task_arn), app.region())
    })
    .ok_or_else(|| {
        ConsoleError::NotFound(format!(
            "Container {container} of task {id} does not log to CloudWatch Logs through the awslogs driver."
        ))
    })
}

/// How many lines the logs page shows: the last ones.
const LOG_LINES_SHOWN: usize = 500;

/// The stream's events matching `filter`, through FilterLogEvents, from
/// `since` (milliseconds) on; every page is read.
fn read_logs(
    app: &App,
    loc: &view::LogLocation,
    filter: Option<&str>,
    since: Option<i64>,
) -> Result<Vec<crate::services::logs::FilteredLogEvent>, LogsError> {
    let mut events = Vec::new();
    let mut next_token = None;
    loop {
        let page = app.logs().filter_log_events(
            &loc.region,
            FilterLogEventsRequest {
                log_group_name: Some(loc.group.clone()),
                log_stream_names: Some(vec![loc.stream.clone()]),
                filter_pattern: filter.map(str::to_string),
                start_time: since,
                next_token,
                ..Default::default()
            },
        )?;
        events.extend(page.events);
        next_token = page.next_token;
        if next_token.is_none() {
            return Ok(events);
        }
    }
}

fn tail_url(
    cluster: &str,
    task: &str,
    container: &str,
    filter: Option<&str>,
    since: i64,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(f) = filter {
        q.append_pair("filter", f);
    }
    q.append_pair("since", &since.to_string());
    format!(
        "{}clusters/{cluster}/tasks/{task}/containers/{container}/logs/tail?{}",
        render::ROOT,
        q.finish()
    )
}

fn logs_page(
    app: &App,
    cluster: &str,
    task: &str,
    container: &str,
    filter: Option<String>,
) -> Result<String, ConsoleError> {
    let loc = container_logs(app, cluster, task, container)?;
    // A group or stream not there yet (nothing written) is an empty page
    // that tails; a bad filter pattern is said on the page.
    let (events, error) = match read_logs(app, &loc, filter.as_deref(), None) {
        Ok(events) => (events, None),
        Err(e) if e.code() == "ResourceNotFoundException" => (Vec::new(), None),
        Err(e) => (Vec::new(), Some(e.message())),
    };
    let truncated = events.len() > LOG_LINES_SHOWN;
    let last = events.iter().map(|e| e.timestamp).max().unwrap_or(0);
    let lines: Vec<view::LogLine> = events
        .iter()
        .skip(events.len().saturating_sub(LOG_LINES_SHOWN))
        .map(|e| view::log_line(e.timestamp, &e.message))
        .collect();
    let since = if events.is_empty() { -1 } else { last };
    draw(
        app,
        "logs.html",
        minijinja::context! {
            cluster => cluster,
            task => task,
            container => container,
            location => loc,
            filter => filter.clone().unwrap_or_default(),
            lines => lines,
            truncated => truncated,
            error => error,
            tail_url => tail_url(cluster, task, container, filter.as_deref(), since),
        },
    )
}

/// How often the live tail looks for new lines.
const TAIL_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// The live tail: server-sent `line` events for each new event of the
/// stream that matches `filter`, found by FilterLogEvents from the last
/// timestamp sent; ends with the emulator's shutdown or the client.
fn tail(
    app: App,
    loc: view::LogLocation,
    filter: Option<String>,
    since: Option<i64>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use std::collections::HashSet;
    let shutdown = app.shutdown_signal().token();
    // The tail starts one millisecond after the last line the page showed:
    // a line written later within that same millisecond is missed (rare),
    // rather than the page's last lines being sent twice.
    let start = since.map(|s| s.saturating_add(1).max(0)).unwrap_or(0);
    let state = (
        app,
        loc,
        filter,
        start,
        HashSet::<String>::new(),
        std::collections::VecDeque::new(),
    );
    let stream = futures_util::stream::unfold(
        state,
        move |(app, loc, filter, mut since, mut seen, mut queue)| {
            let shutdown = shutdown.clone();
            async move {
                loop {
                    if let Some(line) = queue.pop_front() {
                        return Some((Ok(line), (app, loc, filter, since, seen, queue)));
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(TAIL_EVERY) => {}
                    }
                    let Ok(events) = read_logs(&app, &loc, filter.as_deref(), Some(since)) else {
                        continue;
                    };
                    let newest = events.iter().map(|e| e.timestamp).max();
                    for e in &events {
                        if seen.contains(&e.event_id) {
                            continue;
                        }
                        let data = serde_json::to_string(&view::log_line(e.timestamp, &e.message))
                            .unwrap_or_default();
                        queue.push_back(Event::default().event("line").data(data));
                    }
                    if let Some(newest) = newest {
                        // Lines are searched again from the newest millisecond
                        // sent, and told apart from those already sent by id.
                        seen = events
                            .iter()
                            .filter(|e| e.timestamp == newest)
                            .map(|e| e.event_id.clone())
                            .collect();
                        since = newest;
                    }
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests;
