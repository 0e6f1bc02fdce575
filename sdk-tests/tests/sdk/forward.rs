//! `serve --forward`: requests for services fargate-local does not serve go
//! to a companion emulator, here a real moto server started by the test,
//! from the host (the AWS CLI: awsJson DynamoDB, awsQuery SNS, REST Lambda)
//! and from inside a task (through its `AWS_ENDPOINT_URL`); the request log
//! records them; a stopped target gives a clear 502; without `--forward` the
//! refusal names the service and the flag.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sdk_tests::*;

/// The workspace's `.venv` (made by `make setup`).
fn venv_bin(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: run `make setup` (it installs requirements-test.txt into .venv)",
        p.display()
    );
    p
}

/// A moto server on a free loopback port, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The AWS CLI (the pinned one of `.venv`) against `endpoint`.
fn aws(endpoint: &str, args: &[&str]) -> Output {
    Command::new(venv_bin("aws"))
        .args(args)
        .args([
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the AWS CLI runs")
}

fn aws_ok(endpoint: &str, args: &[&str]) -> serde_json::Value {
    let out = aws(endpoint, args);
    assert!(
        out.status.success(),
        "aws {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("aws {args:?}: {e}: {text}"))
    }
}

fn requests(emu: &Emulator) -> Vec<serde_json::Value> {
    let (status, body) = http_get(&emu.addr(), "/_fargate-local/requests").expect("request log");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("request log JSON");
    v["requests"].as_array().cloned().unwrap_or_default()
}

const TABLE: [&str; 10] = [
    "dynamodb",
    "create-table",
    "--table-name",
    "orders",
    "--attribute-definitions",
    "AttributeName=id,AttributeType=S",
    "--key-schema",
    "AttributeName=id,KeyType=HASH",
    "--billing-mode",
    "PAY_PER_REQUEST",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_services_reach_the_companion_from_the_host_and_from_a_task() {
    let moto = Moto::start();
    let emu = Emulator::start_with(&["--forward", &moto.url()]);
    let ep = emu.endpoint();

    // awsJson (DynamoDB), from the host.
    let created = aws_ok(&ep, &TABLE);
    assert_eq!(created["TableDescription"]["TableName"], "orders");
    aws_ok(
        &ep,
        &[
            "dynamodb",
            "put-item",
            "--table-name",
            "orders",
            "--item",
            r#"{"id":{"S":"host-1"},"total":{"N":"42"}}"#,
        ],
    );
    // The item is in moto itself: asked directly, not through the emulator.
    let direct = aws_ok(
        &moto.url(),
        &[
            "dynamodb",
            "get-item",
            "--table-name",
            "orders",
            "--key",
            r#"{"id":{"S":"host-1"}}"#,
        ],
    );
    assert_eq!(direct["Item"]["total"]["N"], "42", "{direct}");

    // awsQuery (SNS) and a REST service (Lambda) the same way.
    let topic = aws_ok(&ep, &["sns", "create-topic", "--name", "events"]);
    let arn = topic["TopicArn"].as_str().unwrap_or_default();
    assert!(arn.ends_with(":events"), "{topic}");
    let functions = aws_ok(&ep, &["lambda", "list-functions"]);
    assert!(functions["Functions"].is_array(), "{functions}");

    // ECS is still the emulator's own.
    emu.create_cluster("fwd").await;

    // From inside a task: an unmodified HTTP call to AWS_ENDPOINT_URL.
    let script = r#"wget -q -O - \
        --header 'X-Amz-Target: DynamoDB_20120810.PutItem' \
        --header 'Content-Type: application/x-amz-json-1.0' \
        --header 'Authorization: AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
        --post-data '{"TableName":"orders","Item":{"id":{"S":"from-task"}}}' \
        "$AWS_ENDPOINT_URL/" && exit 0; exit 7"#;
    let td = emu
        .register("fwd-probe", vec![sh("app", script).essential(true).build()])
        .await;
    let task = emu.run_task("fwd", &td).await;
    let arn_task = task.task_arn().unwrap_or_default().to_string();
    let stopped = emu
        .wait_status("fwd", &arn_task, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        container(&stopped, "app").exit_code(),
        Some(0),
        "the task's PutItem through the emulator failed: {stopped:#?}"
    );
    let from_task = aws_ok(
        &ep,
        &[
            "dynamodb",
            "get-item",
            "--table-name",
            "orders",
            "--key",
            r#"{"id":{"S":"from-task"}}"#,
        ],
    );
    assert_eq!(from_task["Item"]["id"]["S"], "from-task", "{from_task}");

    // The request log names each forwarded call and where it went.
    let log = requests(&emu);
    let forwarded = |service: &str, op: &str| {
        log.iter().any(|e| {
            e["service"] == service
                && e["operation"].as_str().unwrap_or_default().contains(op)
                && e["forwardedTo"] == moto.url().as_str()
        })
    };
    assert!(forwarded("dynamodb", "CreateTable"), "{log:#?}");
    assert!(forwarded("dynamodb", "PutItem"), "{log:#?}");
    assert!(forwarded("sns", "CreateTopic"), "{log:#?}");
    assert!(forwarded("lambda", "GET /"), "{log:#?}");
    assert!(
        log.iter()
            .filter(|e| e["service"] == "ecs")
            .all(|e| e.get("forwardedTo").is_none()),
        "{log:#?}"
    );

    // The target goes away: a clear 502 naming it; the emulator goes on.
    let target = moto.url();
    drop(moto);
    let out = aws(&ep, &["dynamodb", "list-tables"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("ServiceUnavailable") && err.contains(&target),
        "{err}"
    );
    let out = aws(&ep, &["sns", "list-topics"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ServiceUnavailable") && err.contains(&target),
        "the awsQuery caller gets the error in its own shape: {err}"
    );
    let (status, _) = http_get(&emu.addr(), "/_fargate-local/health").expect("health");
    assert_eq!(status, 200);
    emu.create_cluster("still-serving").await;
    emu.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_target_the_refusal_names_the_service_and_the_flag() {
    let emu = Emulator::start();
    let ep = emu.endpoint();
    for args in [
        &["dynamodb", "list-tables"][..],
        &["sns", "list-topics"][..],
        &["lambda", "list-functions"][..],
    ] {
        let out = aws(&ep, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains(&format!("does not serve the AWS service '{}'", args[0]))
                && err.contains("--forward"),
            "{args:?}: {err}"
        );
    }
    emu.stop();
}
