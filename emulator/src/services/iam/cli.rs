//! `fargate-local iam policy`: asks a running emulator
//! (`GET /_fargate-local/iam/policy`) for the least-privilege policies of a
//! task or a service, and prints them: the whole answer (both roles, in IAM
//! Access Analyzer's shape), or with `--role` one policy document ready for
//! `aws iam put-role-policy --policy-document file://...`.

use serde_json::Value;

use super::usage::{PolicyDocument, Statement};

/// `fargate-local iam`'s commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum IamCommand {
    /// Print the least-privilege policies of what a task's roles (or a
    /// service's tasks' roles) were used for, as observed by the emulator.
    Policy(PolicyArgs),
}

/// Which roles a policy is printed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Task,
    Execution,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("of").required(true).args(["task", "service"])))]
pub struct PolicyArgs {
    /// The emulator's endpoint.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub endpoint_url: String,
    /// Task id or ARN.
    #[arg(long)]
    pub task: Option<String>,
    /// Service name or ARN: the union of its tasks' usage.
    #[arg(long)]
    pub service: Option<String>,
    /// The service's cluster.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Print only this role's policy document (all its statements in one
    /// document).
    #[arg(long, value_enum)]
    pub role: Option<Role>,
}

/// One policy document with every statement of a role's generated
/// policies (`generatedPolicyResult.generatedPolicies[].policy`), members in
/// Access Analyzer's order.
pub fn merged_document(result: &Value) -> PolicyDocument {
    let statement: Vec<Statement> = result["generatedPolicyResult"]["generatedPolicies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["policy"].as_str())
        .filter_map(|text| serde_json::from_str::<PolicyDocument>(text).ok())
        .flat_map(|doc| doc.statement)
        .collect();
    PolicyDocument {
        version: "2012-10-17".into(),
        statement,
    }
}

async fn get(endpoint: &str, path_and_query: &str) -> anyhow::Result<(u16, Value)> {
    use http_body_util::{BodyExt, Empty};
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("the endpoint must be an http:// URL: {endpoint}"))?
        .trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the emulator at {endpoint}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path_and_query)
        .header("host", authority)
        .body(Empty::<bytes::Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or_default()))
}

/// Runs `fargate-local iam ...`: the exit code.
pub async fn run(cmd: IamCommand) -> anyhow::Result<i32> {
    let IamCommand::Policy(args) = cmd;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let query = match (&args.task, &args.service) {
        (Some(t), _) => format!("task={}", enc(t)),
        (None, Some(s)) => format!("service={}&cluster={}", enc(s), enc(&args.cluster)),
        (None, None) => unreachable!("clap requires --task or --service"),
    };
    let (status, v) = get(
        &args.endpoint_url,
        &format!("/_fargate-local/iam/policy?{query}"),
    )
    .await?;
    if status != 200 {
        eprintln!(
            "fargate-local iam policy: {}: {}",
            v["__type"].as_str().unwrap_or("error"),
            v["message"]
                .as_str()
                .unwrap_or("the emulator refused the request")
        );
        return Ok(1);
    }
    let text = match args.role {
        None => serde_json::to_string_pretty(&v)?,
        Some(role) => {
            let key = match role {
                Role::Task => "taskRole",
                Role::Execution => "executionRole",
            };
            if v[key].is_null() {
                eprintln!("fargate-local iam policy: the task has no {key}");
                return Ok(1);
            }
            // The document's own member order, for a person to read.
            serde_json::to_string_pretty(&merged_document(&v[key]))?
        }
    };
    println!("{text}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_roles_policies_merge_into_one_document() {
        let result = json!({"generatedPolicyResult": {"generatedPolicies": [
            {"policy": r#"{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/k"}]}"#},
            {"policy": r#"{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid1","Effect":"Allow","Action":"sqs:SendMessage","Resource":"*"}]}"#},
        ]}});
        let doc = merged_document(&result);
        assert_eq!(doc.version, "2012-10-17");
        assert_eq!(doc.statement.len(), 2);
        assert_eq!(doc.statement[1].action, "sqs:SendMessage");
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            text.starts_with(r#"{"Version":"2012-10-17","Statement":[{"Sid":"SupportedServiceSid0","Effect":"Allow","Action":"s3:GetObject""#),
            "{text}"
        );
        assert!(
            merged_document(&json!({})).statement.is_empty(),
            "no policy, no statement"
        );
    }
}
