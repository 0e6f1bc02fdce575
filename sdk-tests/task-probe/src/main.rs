//! An application as it would run on Fargate, for the task-probe test
//! image: the AWS SDK for Rust with its default configuration, no keys and
//! no endpoint given. It reads its task metadata, then asks ECS (through
//! the credentials and the endpoint the task provides) to describe its own
//! task, and, when `PROBE_BUCKET` names a bucket, writes the object
//! `from-task` there holding its task ARN (or, when `PROBE_OBJECT_BYTES`
//! is a number, that many bytes of `x`); when `PROBE_QUEUE` names an SQS
//! queue, it sends its task ARN there, receives and deletes it, and sends
//! `done <task ARN>` for the test to find. What happened is the exit code,
//! which the emulator reports:
//!
//! - 0: metadata read, the task-role credentials obtained, the task
//!   described as RUNNING (asked again while it is still starting; and the
//!   object written);
//! - 3: the SDK found no credentials (a task without a task role);
//! - 1: an API call failed otherwise, 2: the description was wrong,
//!   4: the S3 write failed, 5: an SQS call failed or answered wrong,
//!   10: the metadata endpoint failed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::exit;
use std::time::Duration;

use aws_config::BehaviorVersion;
use serde_json::Value;

/// The object `from-task` holds: the task ARN, or `PROBE_OBJECT_BYTES`
/// bytes (a known volume for the egress lens's test).
fn object_body(task_arn: &str) -> Vec<u8> {
    match std::env::var("PROBE_OBJECT_BYTES")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => vec![b'x'; n],
        None => task_arn.as_bytes().to_vec(),
    }
}

/// GET over HTTP/1.0 of `http://host[:port]/path`: the body.
fn get(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not http: {url}"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut s = TcpStream::connect(&addr).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("GET {url}: {head}"));
    }
    Ok(body.to_string())
}

/// Whether the call failed because no provider of the default chain gave
/// credentials (on Fargate without a task role: the container provider is
/// not configured and the instance metadata service is not there).
fn no_credentials(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn fail(code: i32, what: String) -> ! {
    eprintln!("task-probe: {what}");
    exit(code)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let uri = std::env::var("ECS_CONTAINER_METADATA_URI_V4")
        .unwrap_or_else(|_| fail(10, "ECS_CONTAINER_METADATA_URI_V4 is not set".into()));
    let task: Value = get(&format!("{uri}/task"))
        .and_then(|b| serde_json::from_str(&b).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| fail(10, e));
    let (Some(cluster), Some(task_arn)) = (task["Cluster"].as_str(), task["TaskARN"].as_str())
    else {
        fail(
            10,
            format!("the task metadata lacks Cluster or TaskARN: {task}"),
        );
    };
    println!("task-probe: I am {task_arn} in {cluster}");

    let conf = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    // A container runs before its task is RUNNING (the task becomes RUNNING
    // once every essential container has started, as on Fargate): the
    // description is asked for again until it says RUNNING, for up to 30 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = match ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let code = if no_credentials(&e) { 3 } else { 1 };
                fail(code, format!("DescribeTasks failed: {e:?}"));
            }
        };
        match out.tasks().first() {
            Some(t) if t.task_arn() == Some(task_arn) && t.last_status() == Some("RUNNING") => {
                println!("task-probe: DescribeTasks says RUNNING");
                break;
            }
            Some(t)
                if t.task_arn() == Some(task_arn)
                    && matches!(
                        t.last_status(),
                        Some("PROVISIONING" | "PENDING" | "ACTIVATING")
                    )
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => fail(2, format!("DescribeTasks answered {other:?}")),
        }
    }

    if let Ok(bucket) = std::env::var("PROBE_BUCKET") {
        let s3 = aws_sdk_s3::Client::new(&conf);
        if let Err(e) = s3
            .put_object()
            .bucket(&bucket)
            .key("from-task")
            .body(object_body(task_arn).into())
            .send()
            .await
        {
            fail(4, format!("PutObject to {bucket} failed: {e:?}"));
        }
        println!("task-probe: wrote s3://{bucket}/from-task");
    }

    if let Ok(queue) = std::env::var("PROBE_QUEUE") {
        if let Err(e) = sqs_round_trip(&conf, &queue, task_arn).await {
            fail(5, format!("SQS on {queue}: {e}"));
        }
        println!("task-probe: sent and received on {queue}");
    }
}

/// GetQueueUrl, SendMessage, ReceiveMessage (long polling), DeleteMessage,
/// and a last SendMessage for the test to receive.
async fn sqs_round_trip(
    conf: &aws_config::SdkConfig,
    queue: &str,
    task_arn: &str,
) -> Result<(), String> {
    let sqs = aws_sdk_sqs::Client::new(conf);
    let url = sqs
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| format!("GetQueueUrl: {e:?}"))?
        .queue_url
        .ok_or("GetQueueUrl: no QueueUrl")?;
    sqs.send_message()
        .queue_url(&url)
        .message_body(task_arn)
        .send()
        .await
        .map_err(|e| format!("SendMessage: {e:?}"))?;
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .map_err(|e| format!("ReceiveMessage: {e:?}"))?;
    let m = got.messages().first().ok_or("ReceiveMessage: no message")?;
    if m.body() != Some(task_arn) {
        return Err(format!("ReceiveMessage answered {m:?}"));
    }
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap_or_default())
        .send()
        .await
        .map_err(|e| format!("DeleteMessage: {e:?}"))?;
    sqs.send_message()
        .queue_url(&url)
        .message_body(format!("done {task_arn}"))
        .send()
        .await
        .map_err(|e| format!("SendMessage: {e:?}"))?;
    Ok(())
}
