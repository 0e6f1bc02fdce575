//! StopTask: SIGTERM first, SIGKILL after the container's stopTimeout, and
//! the exit codes that follow (143 for a process that leaves on SIGTERM, 137
//! for one that had to be killed).

use std::time::Duration;

use sdk_tests::{Emulator, container, secs, sh};

const CLUSTER: &str = "stop";

#[tokio::test]
async fn stop_task_exit_codes_143_and_137() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "stoppable",
            vec![
                // Leaves on SIGTERM with 143, as most servers do.
                sh(
                    "polite",
                    "trap 'exit 143' TERM; while true; do sleep 1 & wait $!; done",
                )
                .build(),
                // Ignores SIGTERM: killed when its 2 s stopTimeout is up.
                sh("stubborn", "trap '' TERM; while true; do sleep 1; done")
                    .stop_timeout(2)
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
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    // Let both shells install their traps.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let s = emu.stop_task(CLUSTER, &arn, "maintenance window").await;
    assert_eq!(s.desired_status(), Some("STOPPED"));
    assert_eq!(s.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(s.stopped_reason(), Some("maintenance window"));

    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(container(&t, "polite").exit_code(), Some(143), "{}", json());
    assert_eq!(
        container(&t, "stubborn").exit_code(),
        Some(137),
        "{}",
        json()
    );
    assert_eq!(container(&t, "polite").reason(), None, "{}", json());
    assert_eq!(container(&t, "stubborn").reason(), None, "{}", json());
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(t.stopped_reason(), Some("maintenance window"));
    // The SIGKILL came only after the stopTimeout.
    let waited = secs(t.execution_stopped_at()) - secs(t.stopping_at());
    assert!(
        waited >= 1.9,
        "the stubborn container got its 2 s: waited {waited:.2} s"
    );
    emu.stop();
}

#[tokio::test]
async fn stop_task_twice_and_on_a_stopped_task_keeps_the_first_reason() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "twice",
            vec![
                sh(
                    "app",
                    "trap 'exit 143' TERM; while true; do sleep 1 & wait $!; done",
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
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let first = emu.stop_task(CLUSTER, &arn, "first").await;
    let second = emu.stop_task(CLUSTER, &arn, "second").await;
    assert_eq!(second.stopped_reason(), Some("first"));
    assert_eq!(secs(second.stopping_at()), secs(first.stopping_at()));
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(t.stopped_reason(), Some("first"));
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(143),
        "{}",
        emu.task_json(CLUSTER, &arn)
    );
    let again = emu.stop_task(CLUSTER, &arn, "third").await;
    assert_eq!(again.last_status(), Some("STOPPED"));
    assert_eq!(again.stopped_reason(), Some("first"));
    assert_eq!(
        again.version(),
        t.version(),
        "stopping a stopped task changes nothing"
    );
    emu.stop();
}

#[tokio::test]
async fn containers_stop_in_reverse_dependency_order() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    // app depends on db; on the way down app must be gone before db is
    // asked to stop. app leaves a marker when it gets SIGTERM; db exits 0
    // only if the marker is there when it gets its own.
    let mount = aws_sdk_ecs::types::MountPoint::builder()
        .source_volume("shared")
        .container_path("/shared")
        .build();
    let td = emu
        .register_with(
            "reverse",
            vec![
                sh(
                    "db",
                    "trap 'test -f /shared/app-stopped && exit 0; exit 9' TERM; \
                     while true; do sleep 1 & wait $!; done",
                )
                .mount_points(mount.clone())
                .build(),
                sh(
                    "app",
                    "trap 'touch /shared/app-stopped; exit 0' TERM; \
                     while true; do sleep 1 & wait $!; done",
                )
                .mount_points(mount)
                .depends_on(
                    aws_sdk_ecs::types::ContainerDependency::builder()
                        .container_name("db")
                        .condition(aws_sdk_ecs::types::ContainerCondition::Start)
                        .build()
                        .unwrap(),
                )
                .build(),
            ],
            |r| r.volumes(aws_sdk_ecs::types::Volume::builder().name("shared").build()),
        )
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    emu.stop_task(CLUSTER, &arn, "down").await;
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(container(&t, "app").exit_code(), Some(0), "{}", json());
    assert_eq!(
        container(&t, "db").exit_code(),
        Some(0),
        "db stopped after app: {}",
        json()
    );
    emu.stop();
}
