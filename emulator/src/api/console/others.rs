//! The console's pages for the services around ECS: SQS queues (counts and
//! attributes), IAM roles (their policies, and the calls made with them as
//! the request log records them) and Cloud Map (namespaces, services,
//! instances). Each is read through its backend's own operations, the
//! ones the API calls (ListQueues and GetQueueAttributes, ListRoles and
//! GetRolePolicy, ListNamespaces, ListServices and ListInstances): the
//! console is one more client. The rows are built by the pure functions
//! at the bottom. Messages are not peeked at: receiving one, even to look,
//! changes its receive count and visibility, as in AWS.

use serde::Serialize;
use serde_json::Value;

use super::{ConsoleError, draw, view};
use crate::app::App;
use crate::services::iam::{PageRequest, Role};
use crate::services::kit::AwsError;
use crate::services::requestlog::Entry;
use crate::services::servicediscovery::model::{Filter, ListInstancesRequest, ListRequest};
use crate::services::sqs;

/// Any other backend's refusal, with its AWS code and message.
fn aws(e: impl AwsError) -> ConsoleError {
    ConsoleError::Aws {
        status: e.status(),
        code: e.code().to_string(),
        message: e.message(),
    }
}

// ------------------------------------------------------------------ SQS

/// The attributes the queue list shows, by their AWS names.
const QUEUE_COUNTS: [&str; 3] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
];

/// Every queue URL of the region, through ListQueues, sent to `host` as an
/// SDK on this machine would (the URLs point back at it).
fn queue_urls(app: &App, host: &str) -> Result<Vec<String>, ConsoleError> {
    let principal = crate::domain::arn::iam_root(app.account_id());
    let caller = sqs::Caller {
        region: app.region(),
        host,
        principal: &principal,
    };
    let mut urls = Vec::new();
    let mut next_token = None;
    loop {
        let page = app
            .sqs()
            .list_queues(
                &caller,
                sqs::model::ListQueuesRequest {
                    queue_name_prefix: None,
                    next_token,
                    max_results: Some(1000),
                },
            )
            .map_err(aws)?;
        urls.extend(page.queue_urls);
        next_token = page.next_token;
        if next_token.is_none() {
            return Ok(urls);
        }
    }
}

/// A queue's attributes, through GetQueueAttributes (All).
fn queue_attributes(
    app: &App,
    host: &str,
    url: &str,
) -> Result<sqs::model::Attributes, ConsoleError> {
    let principal = crate::domain::arn::iam_root(app.account_id());
    let caller = sqs::Caller {
        region: app.region(),
        host,
        principal: &principal,
    };
    app.sqs()
        .get_queue_attributes(
            &caller,
            sqs::model::GetQueueAttributesRequest {
                queue_url: Some(url.to_string()),
                attribute_names: Some(vec!["All".into()]),
            },
        )
        .map(|r| r.attributes)
        .map_err(aws)
}

pub(super) fn queues_page(app: &App, host: &str) -> Result<String, ConsoleError> {
    let mut rows = Vec::new();
    for url in queue_urls(app, host)? {
        // A queue deleted between the two calls is left out.
        if let Ok(attrs) = queue_attributes(app, host, &url) {
            rows.push(queue_row(&url, &attrs));
        }
    }
    draw(app, "queues.html", minijinja::context! { queues => rows })
}

pub(super) fn queue_page(app: &App, host: &str, name: &str) -> Result<String, ConsoleError> {
    let Some(url) = queue_urls(app, host)?
        .into_iter()
        .find(|u| sqs::name_of_url(u) == Some(name))
    else {
        return Err(ConsoleError::NotFound(format!(
            "There is no queue named {name}."
        )));
    };
    let attrs = queue_attributes(app, host, &url)?;
    // The queues whose dead-letter queue this is, through their own
    // RedrivePolicy, as ListDeadLetterSourceQueues finds them.
    let mut sources = Vec::new();
    for other in queue_urls(app, host)? {
        if let Ok(a) = queue_attributes(app, host, &other)
            && queue_row(&other, &a).dead_letter_queue.as_deref() == Some(name)
        {
            sources.push(sqs::name_of_url(&other).unwrap_or_default().to_string());
        }
    }
    draw(
        app,
        "queue.html",
        minijinja::context! {
            queue => queue_row(&url, &attrs),
            attributes => attrs,
            sources => sources,
        },
    )
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueRow {
    pub name: String,
    pub url: String,
    pub fifo: bool,
    /// Visible, in flight (received, not deleted), delayed.
    pub visible: String,
    pub in_flight: String,
    pub delayed: String,
    pub visibility_timeout: String,
    /// The dead-letter queue's name, from the RedrivePolicy.
    pub dead_letter_queue: Option<String>,
    pub max_receive_count: Option<String>,
}

pub fn queue_row(url: &str, attrs: &sqs::model::Attributes) -> QueueRow {
    let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
    let redrive: Option<Value> = attrs
        .get("RedrivePolicy")
        .and_then(|p| serde_json::from_str(p).ok());
    let [visible, in_flight, delayed] = QUEUE_COUNTS.map(get);
    QueueRow {
        name: sqs::name_of_url(url).unwrap_or(url).to_string(),
        url: url.to_string(),
        fifo: get("FifoQueue") == "true",
        visible,
        in_flight,
        delayed,
        visibility_timeout: get("VisibilityTimeout"),
        dead_letter_queue: redrive
            .as_ref()
            .and_then(|r| r["deadLetterTargetArn"].as_str())
            .map(|arn| view::short(arn).to_string()),
        max_receive_count: redrive.as_ref().and_then(|r| match &r["maxReceiveCount"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            v => Some(v.to_string()),
        }),
    }
}

// ------------------------------------------------------------------ IAM

/// Every role, through ListRoles.
fn all_roles(app: &App) -> Result<Vec<Role>, ConsoleError> {
    let mut roles = Vec::new();
    let mut marker = None;
    loop {
        let page = app
            .iam()
            .list_roles(
                None,
                PageRequest {
                    marker,
                    max_items: Some(1000),
                },
            )
            .map_err(aws)?;
        roles.extend(page.items);
        marker = page.marker;
        if marker.is_none() {
            return Ok(roles);
        }
    }
}

pub(super) fn roles_page(app: &App) -> Result<String, ConsoleError> {
    let entries = app.requests().entries();
    let rows: Vec<RoleRow> = all_roles(app)?
        .iter()
        .map(|r| role_row(r, &entries))
        .collect();
    draw(
        app,
        "roles.html",
        minijinja::context! { roles => rows, mode => iam_mode(app), account => app.account_id() },
    )
}

pub(super) fn role_page(app: &App, name: &str) -> Result<String, ConsoleError> {
    let role = app.iam().get_role(Some(name.to_string())).map_err(aws)?;
    let mut inline = Vec::new();
    for policy in role.inline.keys() {
        let (_, policy_name, document) = app
            .iam()
            .get_role_policy(Some(role.name.clone()), Some(policy.clone()))
            .map_err(aws)?;
        inline.push(minijinja::context! { name => policy_name, document => pretty(&document) });
    }
    let attached = app
        .iam()
        .list_attached_role_policies(
            Some(role.name.clone()),
            None,
            PageRequest {
                marker: None,
                max_items: Some(1000),
            },
        )
        .map_err(aws)?
        .items;
    let entries = app.requests().entries();
    draw(
        app,
        "role.html",
        minijinja::context! {
            role => role_row(&role, &entries),
            trust_policy => pretty(&role.trust_policy),
            inline => inline,
            attached => attached
                .iter()
                .map(|(name, arn)| minijinja::context! { name => name, arn => arn })
                .collect::<Vec<_>>(),
            calls => role_calls(&entries, &role.arn),
            mode => iam_mode(app),
        },
    )
}

/// What `serve --iam` does with the roles' policies, said on the pages.
fn iam_mode(app: &App) -> &'static str {
    match app.args().iam {
        crate::services::iam::Mode::Off => "off: policies are stored, never evaluated",
        crate::services::iam::Mode::Warn => "warn: what AWS would refuse is logged and allowed",
        crate::services::iam::Mode::Enforce => "enforce: refused as AWS refuses it",
    }
}

/// A policy document as submitted, indented when it is JSON.
fn pretty(document: &str) -> String {
    serde_json::from_str::<Value>(document)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| document.to_string())
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleRow {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub description: Option<String>,
    pub created: Option<String>,
    /// Who may assume it: the trust policy's principals.
    pub trusted: Vec<String>,
    pub inline: usize,
    pub attached: usize,
    /// Calls made with the role's credentials, and how many were refused.
    pub calls: usize,
    pub denied: usize,
}

/// Whether a call's error is IAM's refusal.
fn is_denial(error: Option<&str>) -> bool {
    error.is_some_and(|e| e.starts_with("AccessDenied"))
}

pub fn role_row(r: &Role, entries: &[Entry]) -> RoleRow {
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.role_arn.as_deref() == Some(r.arn.as_str()))
        .collect();
    RoleRow {
        name: r.name.clone(),
        arn: r.arn.clone(),
        path: r.path.clone(),
        description: r.description.clone().filter(|d| !d.is_empty()),
        created: view::when(Some(r.create_date)),
        trusted: trusted_principals(&r.trust_policy),
        inline: r.inline.len(),
        attached: r.attached.len(),
        calls: mine.len(),
        denied: mine
            .iter()
            .filter(|e| is_denial(e.error.as_deref()))
            .count(),
    }
}

/// The principals a trust policy's Allow statements name
/// (`ecs-tasks.amazonaws.com`, an account, a role).
pub fn trusted_principals(trust_policy: &str) -> Vec<String> {
    let Ok(doc) = serde_json::from_str::<Value>(trust_policy) else {
        return Vec::new();
    };
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for s in statements.iter().filter(|s| s["Effect"] == "Allow") {
        match &s["Principal"] {
            Value::String(p) => out.push(p.clone()),
            Value::Object(kinds) => {
                for v in kinds.values() {
                    match v {
                        Value::String(p) => out.push(p.clone()),
                        Value::Array(ps) => {
                            out.extend(ps.iter().filter_map(|p| p.as_str().map(str::to_string)))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// How many of a role's calls the role page shows: the last.
pub const ROLE_PAGE_CALLS: usize = 100;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleUse {
    pub time: String,
    pub call: String,
    pub task: Option<String>,
    pub error: Option<String>,
    pub denied: bool,
    /// Allowed only because `serve --iam` is `warn`: `enforce` refuses it.
    pub would_deny: bool,
}

/// The calls made with a role's credentials (by a task, or by anyone who
/// assumed it), from the request log; the last [`ROLE_PAGE_CALLS`].
pub fn role_calls(entries: &[Entry], role_arn: &str) -> Vec<RoleUse> {
    let calls: Vec<RoleUse> = entries
        .iter()
        .filter(|e| e.role_arn.as_deref() == Some(role_arn))
        .map(|e| RoleUse {
            time: e.time.clone(),
            call: format!("{}:{}", e.service, e.operation),
            task: e.task_arn.clone(),
            denied: is_denial(e.error.as_deref()),
            would_deny: e.iam.as_ref().is_some_and(|n| n.decision == "wouldDeny"),
            error: e.error.clone(),
        })
        .collect();
    let skip = calls.len().saturating_sub(ROLE_PAGE_CALLS);
    calls.into_iter().skip(skip).collect()
}

// ------------------------------------------------------------ Cloud Map

/// Every page of a Cloud Map list operation, the items under `key`.
fn every<F>(key: &str, mut list: F) -> Result<Vec<Value>, ConsoleError>
where
    F: FnMut(Option<String>) -> Result<Value, ConsoleError>,
{
    let mut out = Vec::new();
    let mut next_token = None;
    loop {
        let page = list(next_token)?;
        out.extend(page[key].as_array().cloned().unwrap_or_default());
        next_token = page["NextToken"].as_str().map(str::to_string);
        if next_token.is_none() {
            return Ok(out);
        }
    }
}

pub(super) fn namespaces_page(app: &App) -> Result<String, ConsoleError> {
    let sd = app.servicediscovery();
    let region = app.region();
    let namespaces = every("Namespaces", |next_token| {
        sd.list_namespaces(
            region,
            ListRequest {
                next_token,
                max_results: Some(100),
                filters: None,
            },
        )
        .map_err(aws)
    })?;
    let mut out = Vec::new();
    for ns in &namespaces {
        let id = ns["Id"].as_str().unwrap_or_default().to_string();
        let services = every("Services", |next_token| {
            sd.list_services(
                region,
                ListRequest {
                    next_token,
                    max_results: Some(100),
                    filters: Some(vec![Filter {
                        name: Some("NAMESPACE_ID".into()),
                        values: Some(vec![id.clone()]),
                        condition: Some("EQ".into()),
                    }]),
                },
            )
            .map_err(aws)
        })?;
        let mut service_rows = Vec::new();
        for s in &services {
            let sid = s["Id"].as_str().unwrap_or_default().to_string();
            // A service deleted between the two calls shows no instances.
            let instances = every("Instances", |next_token| {
                sd.list_instances(
                    region,
                    ListInstancesRequest {
                        service_id: Some(sid.clone()),
                        next_token,
                        max_results: Some(100),
                    },
                )
                .map_err(aws)
            })
            .unwrap_or_default();
            service_rows.push(service_row(s, &instances));
        }
        out.push(namespace_row(ns, service_rows));
    }
    draw(
        app,
        "namespaces.html",
        minijinja::context! { namespaces => out },
    )
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NamespaceRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub services: Vec<ServiceRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub instances: Vec<InstanceRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InstanceRow {
    pub id: String,
    /// `AWS_INSTANCE_IPV4:AWS_INSTANCE_PORT` when the instance has them.
    pub address: Option<String>,
    /// Every attribute, `key=value`, sorted.
    pub attributes: Vec<String>,
}

pub fn namespace_row(ns: &Value, services: Vec<ServiceRow>) -> NamespaceRow {
    let s = |k: &str| ns[k].as_str().unwrap_or_default().to_string();
    NamespaceRow {
        id: s("Id"),
        name: s("Name"),
        kind: s("Type"),
        services,
    }
}

pub fn service_row(s: &Value, instances: &[Value]) -> ServiceRow {
    ServiceRow {
        id: s["Id"].as_str().unwrap_or_default().to_string(),
        name: s["Name"].as_str().unwrap_or_default().to_string(),
        instances: instances
            .iter()
            .map(|i| {
                let attrs = i["Attributes"].as_object();
                let attr = |k: &str| attrs.and_then(|a| a.get(k)).and_then(Value::as_str);
                let mut attributes: Vec<String> = attrs
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default();
                attributes.sort();
                InstanceRow {
                    id: i["Id"].as_str().unwrap_or_default().to_string(),
                    address: attr("AWS_INSTANCE_IPV4").map(|ip| match attr("AWS_INSTANCE_PORT") {
                        Some(port) => format!("{ip}:{port}"),
                        None => ip.to_string(),
                    }),
                    attributes,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_queue_row_names_its_counts_and_dead_letter_queue() {
        let attrs: sqs::model::Attributes = [
            ("ApproximateNumberOfMessages", "3"),
            ("ApproximateNumberOfMessagesNotVisible", "1"),
            ("ApproximateNumberOfMessagesDelayed", "0"),
            ("VisibilityTimeout", "30"),
            (
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:jobs-dlq","maxReceiveCount":3}"#,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let row = queue_row("http://127.0.0.1:4566/000000000000/jobs", &attrs);
        assert_eq!(
            (
                row.name.as_str(),
                row.visible.as_str(),
                row.in_flight.as_str()
            ),
            ("jobs", "3", "1")
        );
        assert_eq!(row.dead_letter_queue.as_deref(), Some("jobs-dlq"));
        assert_eq!(row.max_receive_count.as_deref(), Some("3"));
        assert!(!row.fifo);
    }

    fn entry(role: &str, op: &str, error: Option<&str>) -> Entry {
        Entry {
            time: "2026-12-07T18:00:00Z".into(),
            request_id: "r".into(),
            service: "s3".into(),
            operation: op.into(),
            access_key_id: None,
            task_arn: Some("arn:aws:ecs:us-east-1:000000000000:task/c/abc".into()),
            role_arn: Some(role.into()),
            error: error.map(str::to_string),
            forwarded_to: None,
            iam: None,
        }
    }

    #[test]
    fn a_call_warn_let_through_is_shown_as_one_enforce_refuses() {
        let arn = "arn:aws:iam::000000000000:role/app";
        let mut warned = entry(arn, "GetObject", None);
        warned.iam = Some(crate::services::requestlog::IamNote {
            role_kind: "task".into(),
            role_arn: arn.into(),
            action: "s3:GetObject".into(),
            resource: "arn:aws:s3:::b/k".into(),
            decision: "wouldDeny".into(),
            message: "User: ... is not authorized".into(),
            smallest_statement: json!({}),
        });
        let calls = role_calls(&[warned, entry(arn, "PutObject", None)], arn);
        assert_eq!(
            calls.iter().map(|c| c.would_deny).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn a_role_row_counts_its_calls_and_denials_and_names_who_it_trusts() {
        let arn = "arn:aws:iam::000000000000:role/app";
        let role: Role = serde_json::from_value(json!({
            "name": "app", "path": "/", "role_id": "AROA1", "arn": arn, "create_date": 1765000000.0,
            "trust_policy": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            "description": null, "max_session_duration": 3600, "tags": [],
            "inline": {"s3": "{}"}, "attached": []
        }))
        .unwrap();
        let entries = [
            entry(arn, "PutObject", None),
            entry(arn, "GetObject", Some("AccessDenied")),
            entry("arn:aws:iam::000000000000:role/other", "GetObject", None),
        ];
        let row = role_row(&role, &entries);
        assert_eq!((row.calls, row.denied, row.inline), (2, 1, 1));
        assert_eq!(row.trusted, ["ecs-tasks.amazonaws.com"]);
        let calls = role_calls(&entries, arn);
        assert_eq!(calls.len(), 2);
        assert!(calls[1].denied && !calls[0].denied);
        assert_eq!(calls[1].call, "s3:GetObject");
    }

    #[test]
    fn a_cloud_map_instance_shows_its_address() {
        let s = service_row(
            &json!({"Id": "srv-1", "Name": "api"}),
            &[
                json!({"Id": "task-1", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.5", "AWS_INSTANCE_PORT": "8080"}}),
            ],
        );
        assert_eq!(s.instances[0].address.as_deref(), Some("10.0.0.5:8080"));
        assert_eq!(
            s.instances[0].attributes,
            ["AWS_INSTANCE_IPV4=10.0.0.5", "AWS_INSTANCE_PORT=8080"]
        );
        let ns = namespace_row(
            &json!({"Id": "ns-1", "Name": "local", "Type": "DNS_PRIVATE"}),
            vec![s],
        );
        assert_eq!((ns.name.as_str(), ns.services.len()), ("local", 1));
    }
}
