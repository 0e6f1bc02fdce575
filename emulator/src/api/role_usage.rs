//! What a task's roles were used for, over HTTP, for
//! `fargate-local iam policy` and the console:
//!
//! - `GET /_fargate-local/iam/usage?task=<id|arn>`: every (role kind,
//!   action, resource) decided for the task, with its outcome and count;
//! - `GET /_fargate-local/iam/policy?task=<id|arn>` or
//!   `?service=<name|arn>[&cluster=<name|arn>]`: the two least-privilege
//!   policies (task role, execution role), each in IAM Access Analyzer's
//!   `generatedPolicyResult` shape, from the task's usage or the union of
//!   the service's tasks' usage.
//!
//! Errors are JSON `{"__type","message"}`: 400 for a missing or doubled
//! selector, 404 for a task or service without any record.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiError;
use crate::app::App;
use crate::services::iam::usage::{self, RoleKind, TaskUsage};

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterException", message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "ResourceNotFoundException".into(),
        message: message.into(),
    }
}

/// A task's ARN from its id or ARN: among the tasks with recorded usage,
/// else among the tasks ECS knows.
fn task_arn(app: &App, task: &str) -> Option<String> {
    if task.starts_with("arn:") {
        let known =
            app.iam().usage().of_task(task).is_some() || app.ecs().task_record(task).is_some();
        return known.then(|| task.to_string());
    }
    let suffix = format!("/{task}");
    app.iam()
        .usage()
        .tasks()
        .into_iter()
        .rev()
        .find(|a| a.ends_with(&suffix))
        .or_else(|| {
            app.ecs()
                .all_task_arns()
                .into_iter()
                .find(|a| a.ends_with(&suffix))
        })
}

/// The tasks of a service (`service:<name>` is their group) in a cluster,
/// among those with recorded usage and those ECS still keeps.
fn service_tasks(app: &App, service: &str, cluster: &str) -> Vec<String> {
    let name = service.rsplit('/').next().unwrap_or(service);
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    let group = format!("service:{name}");
    let mut arns: BTreeSet<String> = app.iam().usage().tasks().into_iter().collect();
    arns.extend(app.ecs().all_task_arns());
    arns.into_iter()
        .filter(|arn| {
            app.ecs().task_record(arn).is_some_and(|r| {
                r.task.group.as_deref() == Some(group.as_str())
                    && r.task
                        .cluster_arn
                        .as_deref()
                        .is_some_and(|c| c.rsplit('/').next() == Some(cluster))
            })
        })
        .collect()
}

/// The two generated policies of a set of tasks.
fn policies(app: &App, tasks: &[String]) -> Value {
    let usages: Vec<TaskUsage> = tasks
        .iter()
        .map(|t| {
            app.iam().usage().of_task(t).unwrap_or_else(|| TaskUsage {
                task_arn: t.clone(),
                ..Default::default()
            })
        })
        .collect();
    let role = |kind: RoleKind| {
        let mut roles: BTreeSet<String> = usages
            .iter()
            .flat_map(|u| u.uses.iter())
            .filter(|u| u.role_kind == kind)
            .map(|u| u.role_arn.clone())
            .collect();
        // A task that used no permission still names its roles.
        for t in tasks {
            if let Some(r) = app.ecs().task_record(t) {
                let named = match kind {
                    RoleKind::Task => r.plan.task_role_arn,
                    RoleKind::Execution => r.plan.execution_role_arn,
                };
                if let Some(n) = named {
                    roles.insert(app.iam().role_arn_of(&n));
                }
            }
        }
        if roles.is_empty() {
            return Value::Null;
        }
        let uses = usages
            .iter()
            .flat_map(|u| u.uses.iter())
            .filter(|u| u.role_kind == kind)
            .map(|u| (u.action.as_str(), u.resource.as_str()));
        let truncated = usages.iter().any(|u| u.truncated);
        let unattributed =
            kind == RoleKind::Task && usages.iter().any(|u| !u.unattributed.is_empty());
        let roles: Vec<String> = roles.into_iter().collect();
        let mut result = usage::generate(&roles[0], uses, !truncated && !unattributed);
        if roles.len() > 1 {
            result["properties"]["principalArns"] = json!(roles);
        }
        json!({ "generatedPolicyResult": result })
    };
    let unattributed: BTreeSet<&str> = usages
        .iter()
        .flat_map(|u| u.unattributed.iter().map(String::as_str))
        .collect();
    json!({
        "taskArns": tasks,
        "taskRole": role(RoleKind::Task),
        "executionRole": role(RoleKind::Execution),
        "unattributedCalls": unattributed,
    })
}

fn param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

fn answer(app: &App, path: &str, query: Option<&str>) -> Result<Value, ApiError> {
    let task = param(query, "task");
    let service = param(query, "service");
    match (path, task, service) {
        ("/_fargate-local/iam/usage", Some(t), None) => {
            let arn = task_arn(app, &t).ok_or_else(|| not_found(format!("No task {t}.")))?;
            Ok(
                serde_json::to_value(app.iam().usage().of_task(&arn).unwrap_or(TaskUsage {
                    task_arn: arn,
                    ..Default::default()
                }))
                .expect("usage serializes"),
            )
        }
        ("/_fargate-local/iam/policy", Some(t), None) => {
            let arn = task_arn(app, &t).ok_or_else(|| not_found(format!("No task {t}.")))?;
            Ok(policies(app, &[arn]))
        }
        ("/_fargate-local/iam/policy", None, Some(s)) => {
            let cluster = param(query, "cluster").unwrap_or_else(|| "default".into());
            let tasks = service_tasks(app, &s, &cluster);
            if tasks.is_empty() {
                return Err(not_found(format!(
                    "No task of the service {s} in the cluster {cluster}."
                )));
            }
            Ok(policies(app, &tasks))
        }
        ("/_fargate-local/iam/usage", _, _) => Err(bad("Give task=<task id or ARN>.")),
        _ => Err(bad(
            "Give either task=<task id or ARN> or service=<service name or ARN> (with cluster=<cluster>).",
        )),
    }
}

/// `GET /_fargate-local/iam/usage` and `GET /_fargate-local/iam/policy`.
pub fn handle(app: &App, path: &str, query: Option<&str>) -> Response {
    match answer(app, path, query) {
        Ok(v) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
