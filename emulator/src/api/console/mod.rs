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

/// Every console path starts with this.
pub const PREFIX: &str = "/_fargate-local/console";

/// What the console can fail with: an ECS error (a cluster, service or
/// task that does not exist), a page that does not exist, or a template
/// that could not be drawn.
#[derive(Debug)]
enum ConsoleError {
    Ecs(EcsError),
    NotFound(String),
    Render(String),
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
        .map(host_name)
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
    let result = match (&method, segments.as_slice()) {
        (&Method::GET, [""]) => clusters_page(app),
        (&Method::GET, ["clusters", cluster]) => cluster_page(app, cluster),
        (&Method::GET, ["clusters", cluster, "services", service]) => {
            service_page(app, cluster, service)
        }
        (&Method::GET, ["clusters", cluster, "tasks", task]) => {
            task_page(app, cluster, task, &host)
        }
        _ => Err(ConsoleError::NotFound(format!(
            "{method} {path} is not a page of the console."
        ))),
    };
    match result {
        Ok(html) => html_response(StatusCode::OK, html),
        Err(e) => error_page(app, e),
    }
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
        ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found".to_string(), m),
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
    let tasks = cluster_tasks(app, cluster)?;
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
    draw(app, "task.html", minijinja::context! { task => page })
}

#[cfg(test)]
mod tests;
