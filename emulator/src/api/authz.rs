//! The task role, enforced on the calls an app makes with its task
//! credentials (`serve --iam`): which IAM action and resource a request is
//! (from its service, operation and body), and the decision of the role's
//! policies through the one evaluator (`services::iam::eval`). Calls signed
//! with any other credentials are the account's root and always allowed;
//! forwarded calls are not judged.
//!
//! Judged: every operation of the awsJson services served (ECS, CloudWatch
//! Logs, Secrets Manager, SSM, Cloud Map; SQS in `sqs.rs`, S3 in
//! `services::s3`), and of ELBv2 and IAM on the awsQuery wire
//! ([`query_resources`]). STS is judged as AWS judges it:
//! `GetCallerIdentity` never, `AssumeRole` by the role's trust policy
//! (`services::iam::sts`).

use serde_json::Value;

use crate::app::App;
use crate::services::iam::Subject;
use crate::services::iam::usage::RoleKind;

/// An awsJson request's IAM action and resources, or `None` when its body
/// is not a JSON object (the call then fails on its own). Each operation's
/// resource is the one IAM's service authorization reference gives it
/// (the cluster, task, service, task definition, secret, parameter, log
/// group or stream, Cloud Map namespace or service it names); an operation
/// without resource-level permissions, or one not mapped here, is judged
/// on `*`.
pub fn json_resources(
    app: &App,
    region: &str,
    service: &str,
    op: &str,
    body: &[u8],
) -> Option<(String, Vec<String>)> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).ok()?
    };
    v.as_object()?;
    let acct = app.account_id();
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let arn = |kind: &str, id: &str| {
        if id.starts_with("arn:") {
            id.to_string()
        } else {
            format!("arn:aws:{service}:{region}:{acct}:{kind}/{id}")
        }
    };
    let action = format!("{service}:{op}");
    let any = || vec!["*".to_string()];
    let resources: Vec<String> = match service {
        "secretsmanager" => match (s("SecretId"), op) {
            (Some(id), _) => vec![
                app.secrets_manager()
                    .arn_of(region, &id)
                    .unwrap_or_else(|| {
                        if id.starts_with("arn:") {
                            id.clone()
                        } else {
                            format!("arn:aws:secretsmanager:{region}:{acct}:secret:{id}")
                        }
                    }),
            ],
            (None, "CreateSecret") => match s("Name") {
                Some(n) => vec![format!(
                    "arn:aws:secretsmanager:{region}:{acct}:secret:{n}-*"
                )],
                None => any(),
            },
            _ => any(),
        },
        "ssm" => match op {
            "GetParameter"
            | "PutParameter"
            | "DeleteParameter"
            | "GetParameterHistory"
            | "LabelParameterVersion" => match s("Name") {
                Some(n) => vec![parameter_arn(region, acct, &n)],
                None => any(),
            },
            "GetParameters" | "DeleteParameters" => list("Names")
                .iter()
                .map(|n| parameter_arn(region, acct, n))
                .collect(),
            "GetParametersByPath" => match s("Path") {
                Some(p) => vec![parameter_arn(region, acct, &p)],
                None => any(),
            },
            _ => any(),
        },
        "logs" => {
            let group = s("logGroupName").or_else(|| {
                s("logGroupIdentifier").map(|g| {
                    g.strip_prefix(&format!("arn:aws:logs:{region}:{acct}:log-group:"))
                        .map(|x| x.trim_end_matches(":*").to_string())
                        .unwrap_or(g)
                })
            });
            let group_arn =
                |g: &str| format!("arn:aws:logs:{region}:{acct}:log-group:{g}:log-stream:");
            match (op, group) {
                (
                    "CreateLogStream" | "PutLogEvents" | "GetLogEvents" | "DeleteLogStream",
                    Some(g),
                ) => match s("logStreamName") {
                    Some(st) => vec![format!("{}{st}", group_arn(&g))],
                    None => vec![group_arn(&g)],
                },
                ("CreateLogGroup" | "DeleteLogGroup", Some(g)) => vec![group_arn(&g)],
                (_, Some(g)) => vec![format!("arn:aws:logs:{region}:{acct}:log-group:{g}:*")],
                (_, None) => any(),
            }
        }
        "ecs" => {
            let cluster = || s("cluster").unwrap_or_else(|| "default".into());
            let cluster_name = || {
                let c = cluster();
                c.rsplit('/').next().unwrap_or(&c).to_string()
            };
            // A task or service named by id in the request's cluster, or by
            // its ARN.
            let in_cluster = |kind: &str, id: &str| {
                if id.starts_with("arn:") {
                    id.to_string()
                } else {
                    arn(kind, &format!("{}/{id}", cluster_name()))
                }
            };
            match op {
                "DescribeClusters" => {
                    let mut names = list("clusters");
                    if names.is_empty() {
                        names.push("default".into());
                    }
                    names.iter().map(|c| arn("cluster", c)).collect()
                }
                "DeleteCluster"
                | "UpdateCluster"
                | "UpdateClusterSettings"
                | "PutClusterCapacityProviders" => vec![arn("cluster", &cluster())],
                "RunTask" | "StartTask" => match s("taskDefinition") {
                    Some(td) => vec![arn("task-definition", &td)],
                    None => any(),
                },
                "StopTask" => match s("task") {
                    Some(t) => vec![in_cluster("task", &t)],
                    None => any(),
                },
                "DescribeTasks" => list("tasks")
                    .iter()
                    .map(|t| in_cluster("task", t))
                    .collect(),
                "ExecuteCommand" => {
                    let mut out = vec![arn("cluster", &cluster())];
                    if let Some(t) = s("task") {
                        out.push(in_cluster("task", &t));
                    }
                    out
                }
                "CreateService" => match s("serviceName") {
                    Some(n) => vec![in_cluster("service", &n)],
                    None => any(),
                },
                "UpdateService" | "DeleteService" => match s("service") {
                    Some(n) => vec![in_cluster("service", &n)],
                    None => any(),
                },
                "DescribeServices" => list("services")
                    .iter()
                    .map(|n| in_cluster("service", n))
                    .collect(),
                "TagResource" | "UntagResource" | "ListTagsForResource" => match s("resourceArn") {
                    Some(r) => vec![r],
                    None => any(),
                },
                _ => any(),
            }
        }
        "servicediscovery" => match op {
            "GetService" | "DeleteService" | "UpdateService" => match s("Id") {
                Some(id) => vec![arn("service", &id)],
                None => any(),
            },
            "ListInstances"
            | "RegisterInstance"
            | "DeregisterInstance"
            | "GetInstance"
            | "GetInstancesHealthStatus"
            | "UpdateInstanceCustomHealthStatus" => match s("ServiceId") {
                Some(id) => vec![arn("service", &id)],
                None => any(),
            },
            "GetNamespace" | "DeleteNamespace" => match s("Id") {
                Some(id) => vec![arn("namespace", &id)],
                None => any(),
            },
            "CreateService" => match s("NamespaceId") {
                Some(id) => vec![arn("namespace", &id)],
                None => any(),
            },
            _ => any(),
        },
        _ => return None,
    };
    // An operation naming no resource in its list (an empty `Names`) is
    // judged on `*`, so that it is judged at all.
    let resources = if resources.is_empty() {
        any()
    } else {
        resources
    };
    Some((action, resources))
}

/// An awsQuery request's IAM action and resources (ELBv2 and IAM), or
/// `None` for a service judged elsewhere or not at all. The resource is
/// the ARN the request names (a load balancer, target group, listener or
/// rule; a role or a policy), else `*`.
pub fn query_resources(
    app: &App,
    service: &str,
    action: &str,
    p: &super::query::Params,
) -> Option<(String, Vec<String>)> {
    let mut resources: Vec<String> = Vec::new();
    match service {
        "elasticloadbalancing" => {
            for k in [
                "LoadBalancerArn",
                "TargetGroupArn",
                "ListenerArn",
                "RuleArn",
            ] {
                resources.extend(p.get(k));
            }
            for k in [
                "LoadBalancerArns",
                "TargetGroupArns",
                "ListenerArns",
                "RuleArns",
                "ResourceArns",
            ] {
                resources.extend(p.list(k, None));
            }
        }
        "iam" => {
            let iam = app.iam();
            if let Some(role) = p.get("RoleName") {
                resources.push(
                    iam.get_role(Some(role.clone()))
                        .map(|r| r.arn)
                        .unwrap_or_else(|_| iam.role_arn_of(&role)),
                );
            }
            if let Some(arn) = p.get("PolicyArn") {
                resources.push(arn);
            } else if let Some(name) = p.get("PolicyName")
                && action == "CreatePolicy"
            {
                let path = p.get("Path").unwrap_or_else(|| "/".into());
                resources.push(format!("arn:aws:iam::{}:policy{path}{name}", iam.account()));
            }
        }
        _ => return None,
    }
    if resources.is_empty() {
        resources.push("*".into());
    }
    Some((format!("{service}:{action}"), resources))
}

/// An SSM parameter's ARN: `parameter` + the name when it starts with `/`,
/// else `parameter/` + the name.
pub fn parameter_arn(region: &str, account: &str, name: &str) -> String {
    if name.starts_with("arn:") {
        return name.to_string();
    }
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!("arn:aws:ssm:{region}:{account}:parameter{sep}{name}")
}

/// The keys a read decrypts with, and the service's text for a refusal.
type KmsKeys = (Vec<String>, fn() -> String);

/// The customer KMS keys an app's read decrypts with, and the text the
/// service answers when the task role may not use one: SSM's GetParameter
/// and GetParameters with decryption (a SecureString under a customer key;
/// SSM passes KMS's refusal on), Secrets Manager's GetSecretValue (a secret
/// under a customer key). Both texts name no role, as observed from AWS.
/// Judged after the call's own action, as the service asks KMS only once
/// it reads the value; other operations cost one match.
fn kms_keys(app: &App, region: &str, service: &str, op: &str, body: &[u8]) -> Option<KmsKeys> {
    let v: Value = match (service, op) {
        ("ssm", "GetParameter" | "GetParameters") | ("secretsmanager", "GetSecretValue") => {
            serde_json::from_slice(body).ok()?
        }
        _ => return None,
    };
    if service == "secretsmanager" {
        let id = v.get("SecretId")?.as_str()?;
        let key = app.secrets_manager().kms_key_of(region, id)?;
        return Some((vec![key], || "Access to KMS is not allowed".into()));
    }
    if v.get("WithDecryption").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let names: Vec<&str> = match v.get("Names").and_then(Value::as_array) {
        Some(list) => list.iter().filter_map(Value::as_str).collect(),
        None => vec![v.get("Name")?.as_str()?],
    };
    let mut keys: Vec<String> = names
        .iter()
        .filter_map(|n| app.ssm().kms_key_of(region, n))
        .collect();
    keys.dedup();
    (!keys.is_empty()).then_some((keys, crate::services::taskconfig::ssm_kms_denied))
}

/// Whether an operation may read a value under a KMS key ([`kms_keys`]):
/// checked first, so other calls pay nothing more.
pub fn may_decrypt(op: &str) -> bool {
    matches!(op, "GetParameter" | "GetParameters" | "GetSecretValue")
}

/// `kms:Decrypt` for an app's read of a value under a customer key (see
/// [`kms_keys`]), judged as its task role like the call itself: `Err` with
/// the service's text only when `enforce` denies it.
pub fn judge_kms(
    app: &App,
    request_id: &str,
    access_key: Option<&str>,
    region: &str,
    service: &str,
    op: &str,
    body: &[u8],
) -> Result<(), Denied> {
    let Some((keys, text)) = kms_keys(app, region, service, op, body) else {
        return Ok(());
    };
    judge(app, request_id, access_key, "kms:Decrypt", &keys).map_err(|_| Denied { message: text() })
}

/// Whether a call is judged at all: it is signed with a task's role
/// credentials (checked before any parsing, so other calls pay nothing).
/// In every mode: under `off` nothing is evaluated, but the task's usage is
/// recorded for `fargate-local iam policy`.
pub fn is_task_call(app: &App, access_key: Option<&str>) -> bool {
    access_key.is_some_and(|k| k.starts_with("ASIA") && app.credentials().principal(k).is_some())
}

/// A denial: the message AWS gives, for the protocol's error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Denied {
    pub message: String,
}

/// Judges a call signed with `access_key` under `serve --iam` (through
/// [`crate::services::iam::Iam::decide`], which records the task's usage
/// and notes a denial on the call `request_id`): `Err` only when `enforce`
/// denies it; `warn` logs what it would deny.
pub fn judge(
    app: &App,
    request_id: &str,
    access_key: Option<&str>,
    action: &str,
    resources: &[String],
) -> Result<(), Denied> {
    let Some(task) = access_key.and_then(|k| app.credentials().principal(k)) else {
        // The host's credentials (the root) or an assumed role's session
        // (not judged yet).
        return Ok(());
    };
    let who = Subject {
        kind: RoleKind::Task,
        role: &task.role_arn,
        task_arn: &task.task_arn,
    };
    app.iam()
        .decide(app.args().iam, who, Some(request_id), action, resources)
        .map_err(|d| Denied { message: d.message })
}
