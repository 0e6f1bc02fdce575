//! The emulator's image through the Rust testcontainers module
//! (`testcontainers-modules/fargate-local`), as an integration suite uses it:
//! one emulator, a task whose output reaches CloudWatch Logs, `reset()`
//! between tests, settings (account, region) on the command line, parallel
//! sessions on one engine that do not see each other's tasks, and a stop
//! that leaves nothing on the engine. Needs `make image` (fargate-local:dev).

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, LaunchType, LogConfiguration, LogDriver, NetworkMode,
};
use sdk_tests::{Emulator, UNTIL_TERM, docker, sh};
use testcontainers_fargate_local::{FargateLocal, FargateLocalContainer};

const CLUSTER: &str = "tc";

async fn start(image: FargateLocal) -> FargateLocalContainer {
    let found = std::process::Command::new("docker")
        .args(["image", "inspect", "fargate-local:dev"])
        .output()
        .expect("the docker CLI runs");
    assert!(
        found.status.success(),
        "the image fargate-local:dev is missing: run `make image`"
    );
    image
        .start()
        .await
        .unwrap_or_else(|e| panic!("the emulator's image did not start: {e}"))
}

fn ecs(emu: &FargateLocalContainer) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(emu.endpoint_url())
            .region(aws_sdk_ecs::config::Region::new(emu.region().to_string()))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                None,
                "sdk-tests",
            ))
            .build(),
    )
}

fn logs(emu: &FargateLocalContainer) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(emu.endpoint_url())
            .region(aws_sdk_cloudwatchlogs::config::Region::new(
                emu.region().to_string(),
            ))
            .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                None,
                "sdk-tests",
            ))
            .build(),
    )
}

async fn register(client: &aws_sdk_ecs::Client, family: &str, c: ContainerDefinition) -> String {
    client
        .register_task_definition()
        .family(family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .execution_role_arn("arn:aws:iam::000000000000:role/ecsTaskExecutionRole")
        .container_definitions(c)
        .send()
        .await
        .unwrap_or_else(|e| panic!("RegisterTaskDefinition {family}: {e:?}"))
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap()
        .to_string()
}

async fn run(client: &aws_sdk_ecs::Client, td: &str) -> String {
    let out = client
        .run_task()
        .cluster(CLUSTER)
        .task_definition(td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .send()
        .await
        .unwrap_or_else(|e| panic!("RunTask: {e:?}"));
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.tasks()[0].task_arn().unwrap().to_string()
}

async fn wait_status(client: &aws_sdk_ecs::Client, arn: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = client
            .describe_tasks()
            .cluster(CLUSTER)
            .tasks(arn)
            .send()
            .await
            .unwrap();
        let last = out.tasks().first().and_then(|t| t.last_status());
        if last == Some(status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "task {arn} is {last:?}, not {status}, after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stops the emulator and checks that none of its Docker objects is left.
async fn stop_and_check(emu: FargateLocalContainer) {
    let instance = emu.instance_id().to_string();
    assert!(!instance.is_empty(), "the module read the instance id");
    let id = emu.container().id().to_string();
    emu.stop()
        .await
        .unwrap_or_else(|e| panic!("stopping the emulator: {e}"));
    let filter = format!("label=fargate-local.instance={instance}");
    let left = [
        docker(&["ps", "-aq", "--filter", &filter]),
        docker(&["network", "ls", "-q", "--filter", &filter]),
        docker(&["volume", "ls", "-q", "--filter", &filter]),
        docker(&["ps", "-aq", "--filter", &format!("id={id}")]),
    ];
    assert!(
        left.iter().all(String::is_empty),
        "the emulator of the image left Docker objects behind: {left:?}"
    );
}

#[tokio::test]
async fn a_task_runs_its_output_reaches_the_logs_and_reset_clears_it() {
    let emu = start(FargateLocal::default()).await;
    assert!(emu.endpoint_url().starts_with("http://127.0.0.1:"));
    assert!(emu.s3_endpoint_url().is_some(), "S3's own port is served");
    let client = ecs(&emu);
    client
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .unwrap();
    let td = register(
        &client,
        "hello",
        sh("app", "echo hello from the image; exit 0")
            .log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-group", "/tc/hello")
                    .options("awslogs-region", emu.region())
                    .options("awslogs-stream-prefix", "ecs")
                    .options("awslogs-create-group", "true")
                    .build()
                    .unwrap(),
            )
            .build(),
    )
    .await;
    let arn = run(&client, &td).await;
    wait_status(&client, &arn, "STOPPED").await;
    let task = client
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(&arn)
        .send()
        .await
        .unwrap()
        .tasks()[0]
        .clone();
    assert_eq!(task.containers()[0].exit_code(), Some(0), "{task:?}");
    let task_id = arn.rsplit('/').next().unwrap();
    let events = logs(&emu)
        .get_log_events()
        .log_group_name("/tc/hello")
        .log_stream_name(format!("ecs/app/{task_id}"))
        .start_from_head(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetLogEvents: {e:?}"));
    let lines: Vec<&str> = events.events().iter().filter_map(|e| e.message()).collect();
    assert_eq!(lines, ["hello from the image"]);

    emu.reset().await.unwrap();
    let clusters = client.list_clusters().send().await.unwrap();
    assert!(
        clusters.cluster_arns().is_empty(),
        "reset leaves no cluster: {clusters:?}"
    );
    stop_and_check(emu).await;
}

#[tokio::test]
async fn parallel_sessions_keep_to_their_own_tasks_and_settings() {
    let (a, b) = tokio::join!(
        start(FargateLocal::default()),
        start(
            FargateLocal::default()
                .with_region("eu-west-1")
                .with_account_id("123456789012")
        )
    );
    assert_ne!(a.endpoint_url(), b.endpoint_url());
    assert_ne!(a.instance_id(), b.instance_id());
    let (ca, cb) = (ecs(&a), ecs(&b));
    for c in [&ca, &cb] {
        c.create_cluster()
            .cluster_name(CLUSTER)
            .send()
            .await
            .unwrap();
    }
    let td = register(&ca, "long", sh("app", UNTIL_TERM).build()).await;
    let arn = run(&ca, &td).await;
    wait_status(&ca, &arn, "RUNNING").await;
    let listed = |c: aws_sdk_ecs::Client| async move {
        c.list_tasks()
            .cluster(CLUSTER)
            .send()
            .await
            .unwrap()
            .task_arns()
            .to_vec()
    };
    assert_eq!(listed(ca.clone()).await, std::slice::from_ref(&arn));
    assert!(listed(cb.clone()).await.is_empty(), "b sees a's task");
    let cluster = cb
        .describe_clusters()
        .clusters(CLUSTER)
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .cluster_arn()
        .unwrap()
        .to_string();
    assert_eq!(
        cluster,
        format!("arn:aws:ecs:eu-west-1:123456789012:cluster/{CLUSTER}")
    );
    assert!(arn.starts_with("arn:aws:ecs:us-east-1:000000000000:task/"));
    // A stop with a task running: the in-memory emulator removes it.
    stop_and_check(a).await;
    stop_and_check(b).await;
}
