//! FireLens with real containers: a log router (the emulator's stand-in
//! engine in place of the router image) fed by Docker's fluentd driver.
//!
//! - The Rails scenario: `web` and `worker` log through a custom config baked
//!   into a locally built router image (`config-file-type: file`), which
//!   routes request logs, job logs (a Ruby backtrace joined into one event),
//!   ALB health checks and SQS polling into four groups, and archives the
//!   request logs in S3. Everything is there as soon as the task shows
//!   STOPPED.
//! - The generated config alone: an output from a container's options, an
//!   `exclude-pattern`, a secret option, the router's own awslogs.
//! - Failures: a malformed custom config stops the task as an essential
//!   container that exited, with the engine's error in the router's log; a
//!   router image that is not there fails the start; an S3 config is refused
//!   at registration on Fargate.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_ecs::types::{
    ContainerDefinition, FirelensConfiguration, FirelensConfigurationType, LogConfiguration,
    LogDriver, Secret,
};
use sdk_tests::{Emulator, TEST_IMAGE, container, docker, sh};
use serde_json::{Value, json};

const EXEC_ROLE: &str = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole";
const TASK_ROLE: &str = "arn:aws:iam::000000000000:role/rails-app";
const ROUTER_IMAGE: &str = "fargate-local-test/rails-log-router:latest";

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

fn router_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/firelens-routing/router")
}

/// Builds the example's router image FROM the local test image.
fn build_router_image() {
    let dir = router_dir();
    docker(&[
        "build",
        "-q",
        "--build-arg",
        &format!("BASE={TEST_IMAGE}"),
        "-t",
        ROUTER_IMAGE,
        dir.to_str().unwrap(),
    ]);
}

fn awslogs(group: &str, prefix: &str) -> LogConfiguration {
    LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", group)
        .options("awslogs-region", "us-east-1")
        .options("awslogs-stream-prefix", prefix)
        .options("awslogs-create-group", "true")
        .build()
        .unwrap()
}

fn firelens(opts: &[(&str, &str)]) -> LogConfiguration {
    let mut b = LogConfiguration::builder().log_driver(LogDriver::Awsfirelens);
    for (k, v) in opts {
        b = b.options(*k, *v);
    }
    b.build().unwrap()
}

fn router(image: &str, opts: &[(&str, &str)], log_group: &str) -> ContainerDefinition {
    let mut fc = FirelensConfiguration::builder().r#type(FirelensConfigurationType::Fluentbit);
    for (k, v) in opts {
        fc = fc.options(*k, *v);
    }
    ContainerDefinition::builder()
        .name("log_router")
        .image(image)
        .essential(true)
        .memory_reservation(50)
        .firelens_configuration(fc.build().unwrap())
        .log_configuration(awslogs(log_group, "firelens"))
        .build()
}

async fn messages(emu: &Emulator, group: &str, stream: &str) -> Vec<String> {
    let page = emu
        .logs_client()
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetLogEvents {group} {stream}: {e:?}\n{}", emu.log_tail(40)));
    page.events()
        .iter()
        .map(|e| e.message().unwrap().to_string())
        .collect()
}

async fn streams(emu: &Emulator, group: &str) -> Vec<String> {
    emu.logs_client()
        .describe_log_streams()
        .log_group_name(group)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeLogStreams {group}: {e:?}"))
        .log_streams()
        .iter()
        .map(|s| s.log_stream_name().unwrap().to_string())
        .collect()
}

fn json(m: &str) -> Value {
    serde_json::from_str(m).unwrap_or_else(|e| panic!("not a JSON event ({e}): {m}"))
}

/// How many times a key appears in a JSON object's text (Fluent Bit keeps
/// duplicated keys; a parsed `Value` would hide them).
fn occurrences(m: &str, key: &str) -> usize {
    m.matches(&format!("\"{key}\":")).count()
}

const WEB: &str = r#"
echo '{"method":"GET","path":"/orders","format":"html","controller":"OrdersController","action":"index","status":200,"duration":12.5,"view":7.1,"db":3.2,"request_id":"req-1"}'
echo '{"method":"GET","path":"/health","format":"*/*","controller":"HealthController","action":"show","status":200,"duration":0.4,"user_agent":"ELB-HealthChecker/2.0"}'
echo '{"method":"POST","path":"/orders","format":"json","controller":"OrdersController","action":"create","status":201,"duration":48.2,"view":0.5,"db":21.7,"request_id":"req-2"}'
sleep 2
echo '{"method":"GET","path":"/orders/42","format":"html","controller":"OrdersController","action":"show","status":404,"duration":3.3,"request_id":"req-last"}'
"#;

const WORKER: &str = r#"
echo '2026-12-01T00:00:00.000Z pid=1 tid=a1 DEBUG: Polling for messages'
echo '{"job":"ChargeCustomerJob","queue":"billing","jid":"j-1","status":"started"}'
echo '[Aws::SQS::Client 200 0.012 0 retries] ReceiveMessage(queue_url:"https://sqs.us-east-1.amazonaws.com/000000000000/billing",max_number_of_messages:10)'
echo 'E, [2026-12-01T00:00:01.000000 #1] ERROR -- : ChargeCustomerJob failed: card declined (Stripe::CardError)'
echo "/app/app/jobs/charge_customer_job.rb:12:in 'ChargeCustomerJob#perform'"
echo "/app/vendor/bundle/ruby/3.3.0/gems/shoryuken-6.2.1/lib/shoryuken/processor.rb:21:in 'Shoryuken::Processor#process'"
echo '{"job":"SendReceiptJob","queue":"mailers","jid":"j-2","status":"done","duration":0.3}'
"#;

const HEALTH_LINE: &str = r#"{"method":"GET","path":"/health","format":"*/*","controller":"HealthController","action":"show","status":200,"duration":0.4,"user_agent":"ELB-HealthChecker/2.0"}"#;

#[tokio::test]
async fn the_rails_task_routes_its_logs_through_a_custom_config() {
    build_router_image();
    let emu = Emulator::start();
    emu.create_cluster("rails").await;
    emu.s3()
        .create_bucket()
        .bucket("rails-log-archive")
        .send()
        .await
        .expect("CreateBucket");
    let web = sh("web", WEB)
        .essential(true)
        .log_configuration(firelens(&[]))
        .build();
    let worker = sh("worker", WORKER)
        .essential(false)
        .log_configuration(firelens(&[]))
        .build();
    let router = router(
        ROUTER_IMAGE,
        &[
            ("config-file-type", "file"),
            ("config-file-value", "/fluent-bit/etc/extra.conf"),
        ],
        "/ecs/rails/firelens",
    );
    let td = emu
        .register_with("rails", vec![router, web, worker], |b| {
            b.execution_role_arn(EXEC_ROLE).task_role_arn(TASK_ROLE)
        })
        .await;
    let task = emu.run_task("rails", &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let stopped = emu
        .wait_status("rails", &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        stopped.stopped_reason(),
        Some("Essential container in task exited"),
        "{stopped:#?}"
    );
    // The router stopped last, on SIGTERM, after draining: exit code 0.
    assert_eq!(container(&stopped, "log_router").exit_code(), Some(0));
    let id = task_id(&arn);

    // Groups, with the retention each output asked for.
    let groups = emu
        .logs_client()
        .describe_log_groups()
        .log_group_name_prefix("/ecs/rails/")
        .send()
        .await
        .unwrap();
    let retention: Vec<(String, Option<i32>)> = groups
        .log_groups()
        .iter()
        .map(|g| {
            (
                g.log_group_name().unwrap().to_string(),
                g.retention_in_days(),
            )
        })
        .filter(|(n, _)| n != "/ecs/rails/firelens")
        .collect();
    assert_eq!(
        retention,
        [
            ("/ecs/rails/app".to_string(), Some(30)),
            ("/ecs/rails/health-check".to_string(), Some(1)),
            ("/ecs/rails/queue-polling".to_string(), Some(3)),
            ("/ecs/rails/worker".to_string(), Some(14)),
        ]
    );

    // Request logs: parsed JSON with the ECS metadata; the last line (written
    // just before the task stopped) is there.
    let app_stream = format!("web/app.web-firelens-{id}");
    assert_eq!(streams(&emu, "/ecs/rails/app").await, [app_stream.as_str()]);
    let app = messages(&emu, "/ecs/rails/app", &app_stream).await;
    let ids: Vec<Value> = app.iter().map(|m| json(m)["request_id"].clone()).collect();
    assert_eq!(ids, [json!("req-1"), json!("req-2"), json!("req-last")]);
    let first = json(&app[0]);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/orders");
    assert_eq!(first["status"], 200);
    assert_eq!(first["duration"], 12.5);
    assert_eq!(first["controller"], "OrdersController");
    assert_eq!(first["source"], "stdout");
    assert!(first.get("log").is_none(), "the parsed key goes: {first}");
    assert!(
        first["container_name"]
            .as_str()
            .is_some_and(|n| n.starts_with('/')),
        "{first}"
    );
    assert_eq!(first["container_id"].as_str().map(str::len), Some(64));
    assert_eq!(first["ecs_cluster"], "rails");
    assert_eq!(first["ecs_task_arn"], arn.as_str());
    assert_eq!(first["ecs_task_definition"], "rails:1");
    // The metadata filter (Match *) ran once on the Docker record and once
    // more on the record rewrite_tag re-emitted: Fluent Bit appends without
    // de-duplicating, so the keys are there twice.
    assert_eq!(occurrences(&app[0], "ecs_task_arn"), 2, "{}", app[0]);

    // Health checks and queue polling: the raw lines (log_key log).
    assert_eq!(
        messages(
            &emu,
            "/ecs/rails/health-check",
            &format!("hc/health.web-firelens-{id}")
        )
        .await,
        [HEALTH_LINE]
    );
    assert_eq!(
        messages(
            &emu,
            "/ecs/rails/queue-polling",
            &format!("poll/queue.worker-firelens-{id}")
        )
        .await,
        [
            "2026-12-01T00:00:00.000Z pid=1 tid=a1 DEBUG: Polling for messages",
            r#"[Aws::SQS::Client 200 0.012 0 retries] ReceiveMessage(queue_url:"https://sqs.us-east-1.amazonaws.com/000000000000/billing",max_number_of_messages:10)"#,
        ]
    );

    // Job logs: JSON lines parsed, the backtrace one event.
    let worker = messages(
        &emu,
        "/ecs/rails/worker",
        &format!("worker/worker.worker-firelens-{id}"),
    )
    .await;
    assert_eq!(worker.len(), 3, "{worker:#?}");
    let jobs: Vec<Value> = worker
        .iter()
        .map(|m| json(m))
        .filter(|v| v.get("job").is_some())
        .map(|v| json!([v["job"], v["status"]]))
        .collect();
    assert_eq!(
        jobs,
        [
            json!(["ChargeCustomerJob", "started"]),
            json!(["SendReceiptJob", "done"])
        ]
    );
    let error = worker
        .iter()
        .map(|m| json(m))
        .find(|v| v.get("log").is_some())
        .expect("the backtrace event");
    assert_eq!(
        error["log"],
        "E, [2026-12-01T00:00:01.000000 #1] ERROR -- : ChargeCustomerJob failed: card declined (Stripe::CardError)\n\
         /app/app/jobs/charge_customer_job.rb:12:in 'ChargeCustomerJob#perform'\n\
         /app/vendor/bundle/ruby/3.3.0/gems/shoryuken-6.2.1/lib/shoryuken/processor.rb:21:in 'Shoryuken::Processor#process'"
    );
    assert_eq!(error["ecs_cluster"], "rails");

    // The request logs archived in S3, one JSON line per request.
    let s3 = emu.s3();
    let listed = s3
        .list_objects_v2()
        .bucket("rails-log-archive")
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    assert!(!keys.is_empty(), "nothing archived");
    let mut archived = Vec::new();
    for k in &keys {
        assert!(
            k.contains(&format!("web/app.web-firelens-{id}/")) && k.ends_with(".jsonl"),
            "{k}"
        );
        let body = s3
            .get_object()
            .bucket("rails-log-archive")
            .key(k)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        for line in String::from_utf8(body.to_vec()).unwrap().lines() {
            archived.push(json(line)["request_id"].clone());
        }
    }
    archived.sort_by_key(|v| v.to_string());
    assert_eq!(
        archived,
        [json!("req-1"), json!("req-2"), json!("req-last")]
    );
    emu.stop();
}

#[tokio::test]
async fn the_generated_config_alone_routes_a_container_with_secret_options() {
    let emu = Emulator::start();
    emu.create_cluster("firelens").await;
    emu.ssm()
        .put_parameter()
        .name("/firelens/stream-prefix")
        .value("from-secret/")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("PutParameter");
    let mut log = firelens(&[
        ("Name", "cloudwatch_logs"),
        ("region", "us-east-1"),
        ("log_group_name", "/ecs/firelens-generated"),
        ("auto_create_group", "true"),
        ("log_key", "log"),
        ("exclude-pattern", "^debug"),
        ("log-driver-buffer-limit", "1048576"),
    ]);
    log.secret_options = Some(vec![
        Secret::builder()
            .name("log_stream_prefix")
            .value_from("/firelens/stream-prefix")
            .build()
            .unwrap(),
    ]);
    let app = sh(
        "app",
        "echo 'debug: noise'; echo 'hello from app'; echo 'debug: more'; echo 'bye' >&2",
    )
    .essential(true)
    .log_configuration(log)
    .build();
    let router = router(TEST_IMAGE, &[], "/ecs/firelens-router");
    let td = emu
        .register_with("generated", vec![router, app], |b| {
            b.execution_role_arn(EXEC_ROLE)
        })
        .await;
    let task = emu.run_task("firelens", &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let stopped = emu
        .wait_status("firelens", &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        stopped.stopped_reason(),
        Some("Essential container in task exited")
    );
    let id = task_id(&arn);
    // The stream prefix came from the secret option (`${log_stream_prefix_1}`
    // in the router's environment).
    let stream = format!("from-secret/app-firelens-{id}");
    assert_eq!(
        streams(&emu, "/ecs/firelens-generated").await,
        [stream.as_str()]
    );
    // stdout and stderr are read apart by Docker: their order may differ.
    let mut got = messages(&emu, "/ecs/firelens-generated", &stream).await;
    got.sort();
    assert_eq!(got, ["bye", "hello from app"]);
    // The router's own output went to awslogs as usual.
    let own = streams(&emu, "/ecs/firelens-router").await;
    assert_eq!(own, [format!("firelens/log_router/{id}")]);
    // Nothing of the task is left in Docker.
    assert!(sdk_tests::task_docker_containers(&arn).is_empty());
    emu.stop();
}

#[tokio::test]
async fn a_broken_router_stops_the_task_with_aws_reasons() {
    // A malformed config baked into the router image.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {TEST_IMAGE}\nCOPY broken.conf /fluent-bit/etc/broken.conf\n"),
    )
    .unwrap();
    std::fs::write(
        ctx.path().join("broken.conf"),
        "[OUTPUT\n    Name cloudwatch_logs\n",
    )
    .unwrap();
    let image = "fargate-local-test/broken-log-router:latest";
    docker(&["build", "-q", "-t", image, ctx.path().to_str().unwrap()]);

    let emu = Emulator::start();
    emu.create_cluster("broken").await;
    let app = || {
        sh("app", sdk_tests::UNTIL_TERM)
            .essential(true)
            .log_configuration(firelens(&[]))
            .build()
    };
    let td = emu
        .register_with(
            "broken",
            vec![
                router(
                    image,
                    &[
                        ("config-file-type", "file"),
                        ("config-file-value", "/fluent-bit/etc/broken.conf"),
                    ],
                    "/ecs/broken-router",
                ),
                app(),
            ],
            |b| b.execution_role_arn(EXEC_ROLE),
        )
        .await;
    let task = emu.run_task("broken", &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let stopped = emu
        .wait_status("broken", &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        stopped.stopped_reason(),
        Some("Essential container in task exited")
    );
    assert_eq!(container(&stopped, "log_router").exit_code(), Some(1));
    let id = task_id(&arn);
    let own = messages(
        &emu,
        "/ecs/broken-router",
        &format!("firelens/log_router/{id}"),
    )
    .await;
    assert!(
        own.iter().any(|l| l.contains("[error]")),
        "the engine's error in the router's log: {own:#?}"
    );

    // A router image that is not there: the custom file cannot be read.
    let td = emu
        .register_with(
            "missing",
            vec![
                router(
                    "fargate-local-test/no-such-router:1",
                    &[
                        ("config-file-type", "file"),
                        ("config-file-value", "/fluent-bit/etc/extra.conf"),
                    ],
                    "/ecs/broken-router",
                ),
                app(),
            ],
            |b| b.execution_role_arn(EXEC_ROLE),
        )
        .await;
    let task = emu.run_task("broken", &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let stopped = emu
        .wait_status("broken", &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        stopped.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart")
    );
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError: failed to initialize the FireLens log router: unable to read the config file /fluent-bit/etc/extra.conf from image fargate-local-test/no-such-router:1"),
        "{reason}"
    );

    // An S3 config file on Fargate is refused at registration.
    let refused = emu
        .client()
        .register_task_definition()
        .family("s3config")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .execution_role_arn(EXEC_ROLE)
        .container_definitions(router(
            TEST_IMAGE,
            &[
                ("config-file-type", "s3"),
                ("config-file-value", "arn:aws:s3:::configs/extra.conf"),
            ],
            "/ecs/broken-router",
        ))
        .container_definitions(app())
        .send()
        .await
        .unwrap_err();
    let e = refused.as_service_error().unwrap();
    assert!(e.is_client_exception(), "{e:?}");
    assert_eq!(e.meta().message(), Some("Invalid arn syntax."));
    emu.stop();
}

/// AWS's suggested health check for a FireLens router runs `nc` through a
/// shell, which the stand-in's image does not have: the emulator runs the
/// same probe of the router's health-check input in its place, so the router
/// turns HEALTHY as it does on AWS.
#[tokio::test]
async fn the_routers_suggested_health_check_passes_on_the_stand_in() {
    let emu = Emulator::start();
    emu.create_cluster("firelens-health").await;
    let mut router = router(TEST_IMAGE, &[], "/ecs/firelens-health-router");
    router.health_check = Some(
        aws_sdk_ecs::types::HealthCheck::builder()
            .command("CMD-SHELL")
            .command(r#"echo '{"health": "check"}' | nc 127.0.0.1 8877 || exit 1"#)
            .interval(5)
            .timeout(2)
            .retries(2)
            .build()
            .unwrap(),
    );
    let app = sh("app", "trap 'exit 0' TERM; echo started; sleep 60 & wait")
        .essential(true)
        .log_configuration(firelens(&[
            ("Name", "cloudwatch_logs"),
            ("region", "us-east-1"),
            ("log_group_name", "/ecs/firelens-health"),
            ("log_stream_prefix", "app/"),
            ("auto_create_group", "true"),
            ("log_key", "log"),
        ]))
        .build();
    let td = emu
        .register_with("firelens-health", vec![router, app], |b| {
            b.execution_role_arn(EXEC_ROLE)
        })
        .await;
    let arn = emu
        .run_task("firelens-health", &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let t = emu
        .wait_task(
            "firelens-health",
            &arn,
            "the router to turn HEALTHY",
            Duration::from_secs(30),
            |t| {
                container(t, "log_router")
                    .health_status()
                    .map(|h| h.as_str())
                    == Some("HEALTHY")
            },
        )
        .await;
    assert_eq!(
        t.health_status().map(|h| h.as_str()),
        Some("HEALTHY"),
        "{}",
        emu.task_json("firelens-health", &arn)
    );
    emu.stop_task("firelens-health", &arn, "done").await;
    emu.wait_status("firelens-health", &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        messages(
            &emu,
            "/ecs/firelens-health",
            &format!("app/app-firelens-{}", task_id(&arn))
        )
        .await,
        ["started"]
    );
    assert!(sdk_tests::task_docker_containers(&arn).is_empty());
    emu.stop();
}
