//! The task role, enforced on the calls an app makes with its task
//! credentials (`serve --iam`): which IAM action and resource a request is
//! (from its service, operation and body), and the decision of the role's
//! policies through the one evaluator (`services::iam::eval`). Calls signed
//! with any other credentials are the account's root and always allowed;
//! forwarded calls are not judged.
//!
//! Judged today: Secrets Manager calls naming a secret, SSM parameter
//! reads and writes, CloudWatch Logs stream and group writes and reads, and
//! ECS DescribeClusters. Other operations are not judged yet (allowed).

use serde_json::Value;

use crate::app::App;
use crate::services::iam::Mode;

/// An awsJson request's IAM action and resources, or `None` when the
/// operation is not judged.
pub fn json_resources(
    app: &App,
    region: &str,
    service: &str,
    op: &str,
    body: &[u8],
) -> Option<(String, Vec<String>)> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let acct = app.account_id();
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let action = format!("{service}:{op}");
    let resources: Vec<String> = match (service, op) {
        ("secretsmanager", _) => {
            let id = s("SecretId")?;
            vec![
                app.secrets_manager()
                    .arn_of(region, &id)
                    .unwrap_or_else(|| {
                        if id.starts_with("arn:") {
                            id.clone()
                        } else {
                            format!("arn:aws:secretsmanager:{region}:{acct}:secret:{id}")
                        }
                    }),
            ]
        }
        ("ssm", "GetParameter" | "PutParameter" | "DeleteParameter") => {
            vec![parameter_arn(region, acct, &s("Name")?)]
        }
        ("ssm", "GetParameters" | "DeleteParameters") => v
            .get("Names")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(|n| parameter_arn(region, acct, n))
            .collect(),
        ("ssm", "GetParametersByPath") => vec![parameter_arn(region, acct, &s("Path")?)],
        ("logs", "CreateLogStream" | "PutLogEvents" | "GetLogEvents") => {
            let group = s("logGroupName")?;
            let stream = s("logStreamName")?;
            vec![format!(
                "arn:aws:logs:{region}:{acct}:log-group:{group}:log-stream:{stream}"
            )]
        }
        ("logs", "CreateLogGroup" | "DeleteLogGroup") => {
            let group = s("logGroupName")?;
            vec![format!(
                "arn:aws:logs:{region}:{acct}:log-group:{group}:log-stream:"
            )]
        }
        ("ecs", "DescribeClusters") => {
            let names: Vec<String> = v
                .get("clusters")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .filter(|a: &Vec<String>| !a.is_empty())
                .unwrap_or_else(|| vec!["default".into()]);
            names
                .into_iter()
                .map(|c| {
                    if c.starts_with("arn:") {
                        c
                    } else {
                        format!("arn:aws:ecs:{region}:{acct}:cluster/{c}")
                    }
                })
                .collect()
        }
        _ => return None,
    };
    Some((action, resources))
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

/// Whether a call is judged at all: `--iam` is not `off` and the call is
/// signed with a task's role credentials (checked before any parsing, so
/// other calls pay nothing).
pub fn is_task_call(app: &App, access_key: Option<&str>) -> bool {
    app.args().iam != Mode::Off
        && access_key
            .is_some_and(|k| k.starts_with("ASIA") && app.credentials().principal(k).is_some())
}

/// A denial: the message AWS gives, for the protocol's error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Denied {
    pub message: String,
}

/// Judges a call signed with `access_key` under `serve --iam`: `Err` only
/// when `enforce` denies it; `warn` logs what it would deny.
pub fn judge(
    app: &App,
    access_key: Option<&str>,
    action: &str,
    resources: &[String],
) -> Result<(), Denied> {
    let mode = app.args().iam;
    if mode == Mode::Off {
        return Ok(());
    }
    let Some(task) = access_key.and_then(|k| app.credentials().principal(k)) else {
        // The host's credentials (the root) or an assumed role's session
        // (not judged yet).
        return Ok(());
    };
    let session = task.task_arn.rsplit('/').next().unwrap_or_default();
    if let Err((message, smallest)) =
        app.iam()
            .judge_role(&task.role_arn, session, action, resources)
    {
        if mode == Mode::Enforce {
            tracing::warn!(
                role = %task.role_arn,
                task = %task.task_arn,
                "iam (enforce): denied to the task role: {message}; the smallest statement that would allow it: {smallest}"
            );
            return Err(Denied { message });
        }
        tracing::warn!(
            role = %task.role_arn,
            task = %task.task_arn,
            "iam (warn): `--iam enforce` would deny this to the task role: {message}; the smallest statement that would allow it: {smallest}"
        );
    }
    Ok(())
}
