//! What a container gets from its task: RunTask overrides, the Fargate task
//! size as cgroup limits, and what happens when it runs out of memory. Each
//! container checks its own environment and reports through its exit code.

use std::time::Duration;

use aws_sdk_ecs::types::{ContainerOverride, KeyValuePair, LaunchType, TaskOverride};
use sdk_tests::{Emulator, container, sh};

const CLUSTER: &str = "box";

#[tokio::test]
async fn run_task_overrides_reach_the_container() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "overridden",
            vec![
                sh("app", "exit 1")
                    .environment(KeyValuePair::builder().name("KEEP").value("kept").build())
                    .environment(
                        KeyValuePair::builder()
                            .name("MODE")
                            .value("definition")
                            .build(),
                    )
                    .build(),
            ],
        )
        .await;
    let out = emu
        .client()
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name("app")
                        .command("sh")
                        .command("-c")
                        .command(
                            r#"test "$KEEP/$MODE/$ADDED" = kept/override/new || exit 6; exit 5"#,
                        )
                        .environment(
                            KeyValuePair::builder()
                                .name("MODE")
                                .value("override")
                                .build(),
                        )
                        .environment(KeyValuePair::builder().name("ADDED").value("new").build())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let t = &out.tasks()[0];
    let arn = t.task_arn().unwrap().to_string();
    let ov = t.overrides().expect("overrides echoed");
    assert_eq!(
        ov.container_overrides()[0].command(),
        [
            "sh",
            "-c",
            r#"test "$KEEP/$MODE/$ADDED" = kept/override/new || exit 6; exit 5"#
        ]
    );

    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    // 5: the overriding command ran, and saw the merged environment.
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(5),
        "{}",
        emu.task_json(CLUSTER, &arn)
    );
    emu.stop();
}

#[tokio::test]
async fn the_task_size_is_enforced_as_cgroup_limits() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    // 256 CPU units = a quarter of a CPU; 512 MiB. cgroup v1 or v2 paths.
    let script = r#"
        mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)
        test "$mem" = 536870912 || exit 8
        quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max)
        period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cut -d' ' -f2 /sys/fs/cgroup/cpu.max)
        test $((quota * 4)) = "$period" || exit 9
        exit 0
    "#;
    let td = emu.register("sized", vec![sh("app", script).build()]).await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(0),
        "8: memory, 9: cpu: {}",
        emu.task_json(CLUSTER, &arn)
    );
    emu.stop();
}

#[tokio::test]
async fn a_container_out_of_memory_is_reported_as_such() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    // The shell holds 100 MiB in a variable against a 64 MiB limit.
    let td = emu
        .register(
            "oom",
            vec![
                sh(
                    "hog",
                    r#"x=$(head -c 100m /dev/zero | tr '\0' a); echo ${#x}"#,
                )
                .memory(64)
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
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    let hog = container(&t, "hog");
    assert_eq!(hog.exit_code(), Some(137), "{}", json());
    assert_eq!(
        hog.reason(),
        Some("OutOfMemoryError: Container killed due to memory usage"),
        "{}",
        json()
    );
    assert_eq!(hog.memory(), Some("64"));
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited"),
        "{}",
        json()
    );
    emu.stop();
}
