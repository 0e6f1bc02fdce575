//! A durable emulator killed with `kill -9` while tasks run: after a restart
//! on the same data directory it still describes everything, re-adopts the
//! tasks whose containers still run (and keeps supervising them), and marks
//! STOPPED a task whose containers went away while it was down. Ctrl-C on
//! a durable emulator with a running service returns within 2 s, every
//! background loop stopped, and leaves the task running for the next start.

use std::time::{Duration, Instant};

use sdk_tests::{Emulator, container, docker, sh, task_container, task_docker_containers};

const CLUSTER: &str = "durable";
/// Leaves on SIGTERM with 143.
const SERVER: &str = "trap 'exit 143' TERM; while true; do sleep 1 & wait $!; done";

#[tokio::test]
async fn kill_9_and_restart_re_adopts_running_tasks() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("survivor", vec![sh("app", SERVER).build()])
        .await;
    let killed = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let removed = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let stopped = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let exited = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let mut before = Vec::new();
    for arn in [&killed, &removed, &stopped, &exited] {
        before.push(
            emu.wait_status(CLUSTER, arn, "RUNNING", Duration::from_secs(60))
                .await,
        );
    }
    let app_container = task_container(&killed, "app");

    emu.kill9();
    // While it is down, one task's containers disappear entirely.
    let gone = task_docker_containers(&removed);
    assert_eq!(
        gone.len(),
        2,
        "the app and the infrastructure container: {gone:?}"
    );
    for id in &gone {
        docker(&["rm", "-f", id]);
    }
    // ... and another's app container is killed (it stays, exited).
    docker(&["kill", &task_container(&exited, "app")]);
    emu.restart();

    // Everything is still described, from the durable state.
    let clusters = emu
        .client()
        .describe_clusters()
        .clusters(CLUSTER)
        .send()
        .await
        .unwrap();
    assert_eq!(clusters.clusters()[0].status(), Some("ACTIVE"));
    let described = emu
        .client()
        .describe_task_definition()
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described
            .task_definition()
            .and_then(|t| t.task_definition_arn()),
        Some(td.as_str())
    );

    // StopTask at once, before re-adoption may have happened: the task must
    // still be stopped for real, with its exit code.
    let s = emu.stop_task(CLUSTER, &stopped, "after the restart").await;
    assert_eq!(s.desired_status(), Some("STOPPED"));

    let t = emu
        .wait_status(CLUSTER, &removed, "STOPPED", Duration::from_secs(30))
        .await;
    let json = |arn: &str| emu.task_json(CLUSTER, arn);
    let reason = t.stopped_reason().unwrap_or_default();
    assert!(reason.contains("disappeared"), "{}", json(&removed));
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("TerminationNotice"),
        "{}",
        json(&removed)
    );
    assert!(
        container(&t, "app").reason().is_some(),
        "{}",
        json(&removed)
    );

    let t = emu
        .wait_status(CLUSTER, &stopped, "STOPPED", Duration::from_secs(30))
        .await;
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(143),
        "{}",
        json(&stopped)
    );
    assert_eq!(t.stopped_reason(), Some("after the restart"));
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert!(
        task_docker_containers(&stopped).is_empty(),
        "its containers were removed"
    );

    // The exit that happened while the emulator was down is reported.
    let t = emu
        .wait_status(CLUSTER, &exited, "STOPPED", Duration::from_secs(30))
        .await;
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(137),
        "{}",
        json(&exited)
    );
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited"),
        "{}",
        json(&exited)
    );
    assert!(task_docker_containers(&exited).is_empty());

    // The other one is still RUNNING, in the same container, unchanged.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = emu.describe_task(CLUSTER, &killed).await;
    assert_eq!(t.last_status(), Some("RUNNING"), "{}", json(&killed));
    assert_eq!(t.desired_status(), Some("RUNNING"));
    assert_eq!(
        container(&t, "app").runtime_id(),
        container(&before[0], "app").runtime_id()
    );
    assert_eq!(t.started_at(), before[0].started_at());
    assert_eq!(
        task_container(&killed, "app"),
        app_container,
        "not recreated"
    );
    let listed = emu
        .client()
        .list_tasks()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.task_arns(), std::slice::from_ref(&killed));

    // ... and supervised: a kill behind our back is still noticed.
    docker(&["kill", &app_container]);
    let t = emu
        .wait_status(CLUSTER, &killed, "STOPPED", Duration::from_secs(30))
        .await;
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(137),
        "{}",
        json(&killed)
    );
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );

    emu.stop();
}

#[tokio::test]
async fn a_graceful_restart_keeps_tasks_running() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    emu.create_cluster(CLUSTER).await;
    let td = emu.register("kept", vec![sh("app", SERVER).build()]).await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let before = emu
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    let id = task_container(&arn, "app");

    // SIGINT to a durable emulator leaves running tasks for the next start.
    emu.interrupt();
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Running}}", &id]),
        "true"
    );
    emu.restart();
    let t = emu.describe_task(CLUSTER, &arn).await;
    assert_eq!(
        t.last_status(),
        Some("RUNNING"),
        "{}",
        emu.task_json(CLUSTER, &arn)
    );
    assert_eq!(t.version(), before.version(), "nothing happened to it");

    // Stopped right away, most likely before the restarted emulator has
    // re-adopted it: the stop must still reach the container.
    emu.stop_task(CLUSTER, &arn, "done").await;
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(143),
        "{}",
        emu.task_json(CLUSTER, &arn)
    );
    emu.stop();
}

#[tokio::test]
async fn a_task_caught_starting_by_kill_9_fails_to_start_after_restart() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    emu.create_cluster(CLUSTER).await;
    // app waits for db to be HEALTHY, which it never is: the task stays
    // PENDING with db running.
    let never = aws_sdk_ecs::types::HealthCheck::builder()
        .command("CMD-SHELL")
        .command("exit 1")
        .interval(5)
        .retries(1)
        .build()
        .unwrap();
    let td = emu
        .register(
            "caught-starting",
            vec![
                sh("db", SERVER).health_check(never).build(),
                sh("app", SERVER)
                    .depends_on(
                        aws_sdk_ecs::types::ContainerDependency::builder()
                            .container_name("db")
                            .condition(aws_sdk_ecs::types::ContainerCondition::Healthy)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ],
        )
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_task(CLUSTER, &arn, "db to run", Duration::from_secs(60), |t| {
        container(t, "db").last_status() == Some("RUNNING")
    })
    .await;

    emu.kill9();
    emu.restart();
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart"),
        "{}",
        json()
    );
    assert!(t.started_at().is_none(), "{}", json());
    assert_eq!(
        container(&t, "db").exit_code(),
        Some(143),
        "db was stopped: {}",
        json()
    );
    assert_eq!(
        container(&t, "app").runtime_id(),
        None,
        "app never ran: {}",
        json()
    );
    assert!(
        task_docker_containers(&arn).is_empty(),
        "everything removed"
    );
    emu.stop();
}

/// The ARN of the service's first task, once it has one.
async fn service_task(emu: &Emulator, service: &str) -> String {
    let start = Instant::now();
    loop {
        let listed = emu
            .client()
            .list_tasks()
            .cluster(CLUSTER)
            .service_name(service)
            .send()
            .await
            .expect("ListTasks");
        if let Some(arn) = listed.task_arns().first() {
            return arn.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the service started no task; the log:\n{}",
            emu.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sigint_with_a_running_service_returns_within_2_s() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("served", vec![sh("app", SERVER).build()])
        .await;
    emu.client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .send()
        .await
        .expect("CreateService");
    let arn = service_task(&emu, "web").await;
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    let id = task_container(&arn, "app");

    let began = Instant::now();
    emu.interrupt();
    let took = began.elapsed();
    let log = emu.log_tail(30);
    assert!(
        took < Duration::from_secs(2),
        "SIGINT took {took:?} to end the emulator; its log:\n{log}"
    );
    assert!(
        log.contains("every background loop has stopped"),
        "not every loop stopped; the log:\n{log}"
    );
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Running}}", &id]),
        "true",
        "the service's task runs on for the next start"
    );
    emu.restart();
    let t = emu.describe_task(CLUSTER, &arn).await;
    assert_eq!(t.last_status(), Some("RUNNING"));
    emu.stop();
}
