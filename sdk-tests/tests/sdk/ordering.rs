//! `dependsOn` (SUCCESS and HEALTHY) and container health checks. Ordering
//! is proved from inside the task: the dependent container checks a marker
//! in a shared volume that only the dependency's completion (or its passing
//! health check) writes, and exits 7 if it is not there yet.

use std::time::Duration;

use aws_sdk_ecs::types::{
    ContainerCondition, ContainerDependency, HealthCheck, MountPoint, Volume,
};
use sdk_tests::{Emulator, UNTIL_TERM, container, sh};

const CLUSTER: &str = "order";

fn shared() -> MountPoint {
    MountPoint::builder()
        .source_volume("shared")
        .container_path("/shared")
        .build()
}

fn depends(on: &str, condition: ContainerCondition) -> ContainerDependency {
    ContainerDependency::builder()
        .container_name(on)
        .condition(condition)
        .build()
        .expect("dependency")
}

fn health(cmd: &str) -> HealthCheck {
    HealthCheck::builder()
        .command("CMD-SHELL")
        .command(cmd)
        .interval(5)
        .timeout(2)
        .retries(1)
        .build()
        .expect("health check")
}

#[tokio::test]
async fn depends_on_success_starts_the_app_after_init_exits_zero() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register_with(
            "init-ok",
            vec![
                sh("init", "sleep 1; echo ready > /shared/ready; exit 0")
                    .essential(false)
                    .mount_points(shared())
                    .build(),
                sh(
                    "app",
                    &format!("test -f /shared/ready || exit 7; {UNTIL_TERM}"),
                )
                .depends_on(depends("init", ContainerCondition::Success))
                .mount_points(shared())
                .build(),
            ],
            |r| r.volumes(Volume::builder().name("shared").build()),
        )
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let t = emu
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(
        container(&t, "init").last_status(),
        Some("STOPPED"),
        "{}",
        json()
    );
    assert_eq!(container(&t, "init").exit_code(), Some(0), "{}", json());
    assert_eq!(
        container(&t, "app").last_status(),
        Some("RUNNING"),
        "{}",
        json()
    );
    // Still running a moment later: the marker was there when it started.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = emu.describe_task(CLUSTER, &arn).await;
    assert_eq!(t.last_status(), Some("RUNNING"), "{}", json());
    assert_eq!(
        container(&t, "app").last_status(),
        Some("RUNNING"),
        "{}",
        json()
    );

    emu.stop_task(CLUSTER, &arn, "done").await;
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(20))
        .await;
    assert_eq!(container(&t, "app").exit_code(), Some(0), "{}", json());
    assert_eq!(container(&t, "init").exit_code(), Some(0), "{}", json());
    emu.stop();
}

#[tokio::test]
async fn depends_on_success_never_starts_the_app_when_init_fails() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "init-fails",
            vec![
                sh("init", "exit 3").essential(false).build(),
                sh("app", UNTIL_TERM)
                    .depends_on(depends("init", ContainerCondition::Success))
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
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(container(&t, "init").exit_code(), Some(3), "{}", json());
    let app = container(&t, "app");
    assert_eq!(app.last_status(), Some("STOPPED"), "{}", json());
    // The agent gives up on a dependent container with 143 and a
    // CannotStartContainerError, without starting it.
    assert_eq!(app.exit_code(), Some(143), "{}", json());
    let reason = app.reason().unwrap_or_default();
    assert!(reason.starts_with("CannotStartContainerError:"), "{reason}");
    assert!(
        reason.contains("init") && reason.contains("SUCCESS"),
        "{reason}"
    );
    assert_eq!(app.runtime_id(), None, "app never ran: {}", json());
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited"),
        "{}",
        json()
    );
    assert_eq!(
        t.stopped_reason(),
        Some("Essential container in task exited")
    );
    assert!(t.started_at().is_none(), "the task never ran: {}", json());
    assert!(t.stopped_at().is_some() && t.execution_stopped_at().is_some());
    emu.stop();
}

#[tokio::test]
async fn depends_on_healthy_waits_for_the_health_check() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register_with(
            "healthy-first",
            vec![
                // The check writes the marker when it passes, so the marker
                // exists before Docker (and ECS) call the container healthy.
                sh("db", &format!("touch /tmp/up; {UNTIL_TERM}"))
                    .health_check(health("test -f /tmp/up && touch /shared/healthy"))
                    .mount_points(shared())
                    .build(),
                sh(
                    "app",
                    &format!("test -f /shared/healthy || exit 7; {UNTIL_TERM}"),
                )
                .depends_on(depends("db", ContainerCondition::Healthy))
                .mount_points(shared())
                .build(),
            ],
            |r| r.volumes(Volume::builder().name("shared").build()),
        )
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let json = || emu.task_json(CLUSTER, &arn);
    // Until the first check (5 s in) app waits and the task is PENDING.
    let t = emu
        .wait_task(CLUSTER, &arn, "db to start", Duration::from_secs(30), |t| {
            container(t, "db").last_status() == Some("RUNNING")
        })
        .await;
    assert_eq!(
        container(&t, "app").last_status(),
        Some("PENDING"),
        "{}",
        json()
    );
    assert_eq!(t.last_status(), Some("PENDING"), "{}", json());

    let t = emu
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;
    assert_eq!(
        container(&t, "db").health_status().map(|h| h.as_str()),
        Some("HEALTHY"),
        "{}",
        json()
    );
    assert_eq!(
        t.health_status().map(|h| h.as_str()),
        Some("HEALTHY"),
        "{}",
        json()
    );
    assert_eq!(
        container(&t, "app").health_status().map(|h| h.as_str()),
        Some("UNKNOWN"),
        "no check: {}",
        json()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = emu.describe_task(CLUSTER, &arn).await;
    assert_eq!(
        container(&t, "app").last_status(),
        Some("RUNNING"),
        "{}",
        json()
    );

    emu.stop_task(CLUSTER, &arn, "done").await;
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(20))
        .await;
    assert_eq!(container(&t, "app").exit_code(), Some(0), "{}", json());
    emu.stop();
}

#[tokio::test]
async fn a_failing_health_check_makes_the_task_unhealthy_but_it_keeps_running() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "unhealthy",
            vec![
                sh("app", UNTIL_TERM).health_check(health("exit 1")).build(),
                sh("helper", UNTIL_TERM).essential(false).build(),
            ],
        )
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let json = || emu.task_json(CLUSTER, &arn);
    let t = emu
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;
    assert_eq!(
        t.health_status().map(|h| h.as_str()),
        Some("UNKNOWN"),
        "before the first check: {}",
        json()
    );

    let t = emu
        .wait_task(
            CLUSTER,
            &arn,
            "the task to turn UNHEALTHY",
            Duration::from_secs(20),
            |t| t.health_status().map(|h| h.as_str()) == Some("UNHEALTHY"),
        )
        .await;
    assert_eq!(
        container(&t, "app").health_status().map(|h| h.as_str()),
        Some("UNHEALTHY"),
        "{}",
        json()
    );
    // A standalone task is not replaced: it keeps running, unhealthy.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = emu.describe_task(CLUSTER, &arn).await;
    assert_eq!(t.last_status(), Some("RUNNING"), "{}", json());
    assert_eq!(t.desired_status(), Some("RUNNING"), "{}", json());
    assert_eq!(
        t.health_status().map(|h| h.as_str()),
        Some("UNHEALTHY"),
        "{}",
        json()
    );
    assert_eq!(container(&t, "app").last_status(), Some("RUNNING"));

    emu.stop_task(CLUSTER, &arn, "done").await;
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(20))
        .await;
    emu.stop();
}

#[tokio::test]
async fn depends_on_healthy_gives_up_after_the_start_timeout() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "never-healthy",
            vec![
                sh("db", UNTIL_TERM)
                    .health_check(health("exit 1"))
                    .start_timeout(2)
                    .build(),
                sh("app", UNTIL_TERM)
                    .depends_on(depends("db", ContainerCondition::Healthy))
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
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    let app = container(&t, "app");
    assert_eq!(app.exit_code(), Some(143), "{}", json());
    let reason = app.reason().unwrap_or_default();
    assert!(reason.starts_with("CannotStartContainerError:"), "{reason}");
    assert!(
        reason.contains("timed out") && reason.contains("HEALTHY"),
        "{reason}"
    );
    assert_eq!(app.runtime_id(), None, "app never ran: {}", json());
    assert_eq!(
        container(&t, "db").exit_code(),
        Some(0),
        "db was stopped: {}",
        json()
    );
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited"),
        "{}",
        json()
    );
    assert!(t.started_at().is_none(), "{}", json());
    emu.stop();
}

#[tokio::test]
async fn stop_task_while_a_container_waits_for_its_dependency() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "stopped-pending",
            vec![
                sh("db", UNTIL_TERM).health_check(health("exit 1")).build(),
                sh("app", UNTIL_TERM)
                    .depends_on(depends("db", ContainerCondition::Healthy))
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
    let json = || emu.task_json(CLUSTER, &arn);
    emu.wait_task(CLUSTER, &arn, "db to start", Duration::from_secs(30), |t| {
        container(t, "db").last_status() == Some("RUNNING")
    })
    .await;
    let s = emu.stop_task(CLUSTER, &arn, "not waiting").await;
    assert_eq!(s.last_status(), Some("PENDING"), "{}", json());

    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("UserInitiated"),
        "{}",
        json()
    );
    assert_eq!(t.stopped_reason(), Some("not waiting"));
    assert!(t.started_at().is_none(), "it never ran: {}", json());
    let app = container(&t, "app");
    assert_eq!(app.last_status(), Some("STOPPED"), "{}", json());
    assert_eq!(app.exit_code(), None, "{}", json());
    assert_eq!(app.runtime_id(), None, "{}", json());
    assert_eq!(container(&t, "db").exit_code(), Some(0), "{}", json());
    assert!(sdk_tests::task_docker_containers(&arn).is_empty());
    emu.stop();
}

#[tokio::test]
async fn depends_on_complete_accepts_any_exit_code() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "complete",
            vec![
                sh("init", "exit 3").essential(false).build(),
                sh("app", UNTIL_TERM)
                    .depends_on(depends("init", ContainerCondition::Complete))
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
    let t = emu
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(container(&t, "init").exit_code(), Some(3), "{}", json());
    assert_eq!(
        container(&t, "app").last_status(),
        Some("RUNNING"),
        "{}",
        json()
    );
    emu.stop_task(CLUSTER, &arn, "done").await;
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    emu.stop();
}
