//! `spawn_app()`: the real emulator (`App` and the api router) on
//! 127.0.0.1:0 over the fake container engine, in this test's process, and
//! the calls a test makes to it over HTTP (awsJson for ECS, the awsQuery
//! form for ELBv2). Each task's published ports are tiny HTTP servers of the
//! test's, so the load balancer's health checks and forwarding are real
//! HTTP. Left out: Docker, and every client but raw HTTP.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use fargate_local::app::{App, Engine};
use fargate_local::config::{Cli, Command, ServeArgs};
use fargate_local::runtime::fake::FakeRuntime;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

pub const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";

/// One task's web server: what its published port answers.
#[derive(Clone)]
pub struct TaskServer {
    pub port: u16,
    /// The status every request is answered with (200 at first).
    pub status: Arc<AtomicU16>,
}

/// An emulator running in this process.
pub struct TestApp {
    pub addr: SocketAddr,
    pub app: App,
    pub fake: FakeRuntime,
    client: Client<HttpConnector, Body>,
    /// Task ARN → its server, for every task that published a port.
    servers: Arc<Mutex<HashMap<String, TaskServer>>>,
}

fn serve_args(extra: &[&str]) -> ServeArgs {
    // In memory unless a data directory is given.
    let memory = (!extra.contains(&"--data-dir")).then_some("--in-memory");
    let argv = ["fargate-local", "serve"]
        .into_iter()
        .chain(memory)
        .chain(extra.iter().copied());
    match <Cli as clap::Parser>::try_parse_from(argv)
        .expect("serve arguments")
        .command
    {
        Command::Serve(a) => a,
        _ => unreachable!("serve was asked for"),
    }
}

/// A server on 127.0.0.1:0 that answers every request with `status` and
/// the task's ARN.
fn task_server(task_arn: &str) -> TaskServer {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    std_listener.set_nonblocking(true).expect("non-blocking");
    let port = std_listener.local_addr().expect("its address").port();
    let status = Arc::new(AtomicU16::new(200));
    let (answer, arn) = (status.clone(), task_arn.to_string());
    let router = axum::Router::new().fallback(move || {
        let code = answer.load(Ordering::SeqCst);
        let arn = arn.clone();
        async move {
            (
                axum::http::StatusCode::from_u16(code).expect("a status"),
                arn,
            )
        }
    });
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener).expect("a listener");
        let _ = axum::serve(listener, router).await;
    });
    TaskServer { port, status }
}

/// Starts an in-memory emulator on the fake engine; `extra` are more
/// `serve` arguments.
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let fake = FakeRuntime::default();
    let servers: Arc<Mutex<HashMap<String, TaskServer>>> = Arc::default();
    let published = servers.clone();
    fake.publish_with(Arc::new(move |task_arn: &str, _port: u16| {
        let server = task_server(task_arn);
        let port = server.port;
        published
            .lock()
            .unwrap()
            .insert(task_arn.to_string(), server);
        port
    }));
    let base = ["--listen", "127.0.0.1:0", "--s3-listen", "off"];
    let args = serve_args(&[&base[..], extra].concat());
    let app = App::start_with(args, Engine::custom(fake.clone()))
        .await
        .expect("the emulator starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    let router = fargate_local::api::router(app.clone());
    let stop = app.shutdown_signal().signalled();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await;
    });
    TestApp {
        addr,
        app,
        fake,
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        servers,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

impl TestApp {
    pub async fn post(&self, headers: &[(&str, &str)], body: String) -> (u16, String) {
        let mut req = axum::http::Request::post(format!("http://{}/", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .client
            .request(req.body(Body::from(body)).expect("a request"))
            .await
            .expect("the emulator answers");
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// An ECS call: its HTTP status and JSON answer.
    pub async fn ecs(&self, op: &str, body: Value) -> (u16, Value) {
        let target = format!("{ECS_TARGET}.{op}");
        let (status, text) = self
            .post(
                &[
                    ("x-amz-target", &target),
                    ("content-type", "application/x-amz-json-1.1"),
                ],
                body.to_string(),
            )
            .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An ECS call that must succeed.
    pub async fn ecs_ok(&self, op: &str, body: Value) -> Value {
        let (status, v) = self.ecs(op, body).await;
        assert_eq!(status, 200, "{op}: {v}");
        v
    }

    /// An ELBv2 call (the awsQuery form): its HTTP status and XML.
    pub async fn elbv2(&self, action: &str, params: &[(&str, &str)]) -> (u16, String) {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action)
            .append_pair("Version", "2015-12-01");
        for (k, v) in params {
            form.append_pair(k, v);
        }
        self.post(
            &[("content-type", "application/x-www-form-urlencoded")],
            form.finish(),
        )
        .await
    }

    /// An IAM call (the awsQuery form): its HTTP status and XML.
    pub async fn iam(&self, action: &str, params: &[(&str, &str)]) -> (u16, String) {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action)
            .append_pair("Version", "2010-05-08");
        for (k, v) in params {
            form.append_pair(k, v);
        }
        self.post(
            &[("content-type", "application/x-www-form-urlencoded")],
            form.finish(),
        )
        .await
    }

    /// An ELBv2 call that must succeed.
    pub async fn elbv2_ok(&self, action: &str, params: &[(&str, &str)]) -> String {
        let (status, xml) = self.elbv2(action, params).await;
        assert_eq!(status, 200, "{action}: {xml}");
        xml
    }

    /// The web server of a task's published port.
    pub fn server(&self, task_arn: &str) -> TaskServer {
        self.servers
            .lock()
            .unwrap()
            .get(task_arn)
            .cloned()
            .unwrap_or_else(|| panic!("task {task_arn} published no port"))
    }

    pub async fn create_cluster(&self, name: &str) {
        self.ecs_ok("CreateCluster", json!({ "clusterName": name }))
            .await;
    }

    /// Registers a revision of `family` with one essential container `app`
    /// of `image`, publishing 8080.
    pub async fn register(&self, family: &str, image: &str) -> String {
        let v = self
            .ecs_ok(
                "RegisterTaskDefinition",
                json!({
                    "family": family,
                    "networkMode": "awsvpc",
                    "requiresCompatibilities": ["FARGATE"],
                    "cpu": "256",
                    "memory": "512",
                    "containerDefinitions": [{
                        "name": "app",
                        "image": image,
                        "essential": true,
                        "portMappings": [{ "containerPort": 8080 }],
                    }],
                }),
            )
            .await;
        v["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .expect("the revision's ARN")
            .to_string()
    }

    pub async fn describe_service(&self, cluster: &str, name: &str) -> Value {
        let v = self
            .ecs_ok(
                "DescribeServices",
                json!({ "cluster": cluster, "services": [name] }),
            )
            .await;
        v["services"][0].clone()
    }

    /// The service's tasks (desired RUNNING), described.
    pub async fn service_tasks(&self, cluster: &str, name: &str) -> Vec<Value> {
        let arns = self
            .ecs_ok(
                "ListTasks",
                json!({ "cluster": cluster, "serviceName": name }),
            )
            .await["taskArns"]
            .clone();
        if arns.as_array().is_none_or(|a| a.is_empty()) {
            return Vec::new();
        }
        self.ecs_ok(
            "DescribeTasks",
            json!({ "cluster": cluster, "tasks": arns }),
        )
        .await["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Polls DescribeServices until `done` holds; fails with the service as
    /// described after `timeout`.
    pub async fn wait_service(
        &self,
        cluster: &str,
        name: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let s = self.describe_service(cluster, name).await;
            if done(&s) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; the service:\n{s:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shuts the emulator down as `serve` does and checks that every
    /// background loop ended.
    pub async fn stop(self) {
        self.app.shutdown().await;
        assert_eq!(
            self.app.shutdown_signal().running(),
            vec![],
            "background loops still running after shutdown"
        );
    }
}

/// Polls `check` until it gives a value, for up to `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The service's event messages, newest first.
pub fn events(s: &Value) -> Vec<String> {
    s["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect()
}

/// A service with one deployment, COMPLETED, running its desired count.
pub fn stable(s: &Value) -> bool {
    let d = s["deployments"].as_array().cloned().unwrap_or_default();
    d.len() == 1 && s["runningCount"] == s["desiredCount"] && d[0]["rolloutState"] == "COMPLETED"
}

/// The text of every `<tag>` in an XML answer.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

/// A service's CreateService body: FARGATE, awsvpc, the circuit breaker
/// with rollback, and the given percentages.
pub fn service_body(
    cluster: &str,
    name: &str,
    td: &str,
    desired: i64,
    (min, max): (i64, i64),
) -> Value {
    json!({
        "cluster": cluster,
        "serviceName": name,
        "taskDefinition": td,
        "desiredCount": desired,
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            "minimumHealthyPercent": min,
            "maximumPercent": max,
        },
    })
}

/// An awsJson 1.1 call signed (in scope only; signatures are not checked)
/// with the access key `key`, as an app's SDK signs it with its task
/// credentials.
pub async fn signed(t: &TestApp, key: &str, target: &str, body: Value) -> (u16, Value) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261207/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=x"
    );
    let (status, text) = t
        .post(
            &[
                ("x-amz-target", target),
                ("content-type", "application/x-amz-json-1.1"),
                ("authorization", &auth),
            ],
            body.to_string(),
        )
        .await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// RunTask of the task definition `web` on the cluster `c`.
pub async fn run_web(t: &TestApp) -> (u16, Value) {
    t.ecs(
        "RunTask",
        json!({
            "cluster": "c",
            "taskDefinition": "web",
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        }),
    )
    .await
}

/// Polls DescribeTasks (cluster `c`) until the task reaches `status`; the
/// task. Fails after 10 s, or at once if the task stopped short of it.
pub async fn wait_task(t: &TestApp, arn: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = t
            .ecs_ok("DescribeTasks", json!({"cluster": "c", "tasks": [arn]}))
            .await;
        let task = v["tasks"][0].clone();
        if task["lastStatus"] == status {
            return task;
        }
        assert!(
            task["lastStatus"] != "STOPPED" && start.elapsed() < Duration::from_secs(10),
            "the task never reached {status}: {task:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
