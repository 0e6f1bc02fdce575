//! Leaving nothing behind: an in-memory emulator removes every Docker object
//! it made when it is interrupted, whatever its tasks were doing, and the
//! reset endpoint removes them while the emulator goes on serving. An
//! emulator that starts removes the infrastructure images of older builds
//! (all but the two newest), never its own or one a container still uses.

use std::time::Duration;

use sdk_tests::{Emulator, UNTIL_TERM, container, docker, http, sh, task_docker_containers};

const CLUSTER: &str = "clean";
/// Leaves on SIGTERM with 143.
const SERVER: &str = "trap 'exit 143' TERM; while true; do sleep 1 & wait $!; done";

#[tokio::test]
async fn an_in_memory_emulator_removes_running_tasks_when_interrupted() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("left-running", vec![sh("app", SERVER).build()])
        .await;
    let out = emu
        .client()
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&td)
        .count(2)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .send()
        .await
        .unwrap();
    assert_eq!(out.tasks().len(), 2);
    let mut arns = Vec::new();
    for t in out.tasks() {
        let arn = t.task_arn().unwrap().to_string();
        emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
            .await;
        assert_eq!(
            task_docker_containers(&arn).len(),
            2,
            "app and infrastructure"
        );
        arns.push(arn);
    }
    // stop() sends SIGINT and fails if any container, network or volume of
    // this instance is left.
    emu.stop();
    for arn in &arns {
        assert!(task_docker_containers(arn).is_empty());
    }
}

#[tokio::test]
async fn interrupting_the_emulator_while_tasks_start_leaves_nothing() {
    // SIGINT at several points of the tasks' start-up: before the network
    // exists, while containers are being created, while they start.
    for delay_ms in [0, 40, 120, 250] {
        let emu = Emulator::start();
        emu.create_cluster(CLUSTER).await;
        let td = emu
            .register(
                "interrupted",
                vec![
                    sh("app", UNTIL_TERM).build(),
                    sh("side", UNTIL_TERM).build(),
                ],
            )
            .await;
        emu.run_task(CLUSTER, &td).await;
        emu.run_task(CLUSTER, &td).await;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        // Fails, naming them, if any container, network or volume is left.
        emu.stop();
    }
}

#[tokio::test]
async fn reset_removes_everything_and_the_emulator_keeps_working() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("before-reset", vec![sh("app", SERVER).build()])
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;

    let (status, body) = http(&emu.addr(), "POST", "/_fargate-local/reset", &[], b"").unwrap();
    assert_eq!((status, body.as_str()), (200, "{\"reset\":true}"));
    assert!(
        task_docker_containers(&arn).is_empty(),
        "the task's containers are gone"
    );
    let described = emu
        .client()
        .describe_clusters()
        .clusters(CLUSTER)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.failures()[0].reason(),
        Some("MISSING"),
        "and so is the state"
    );

    // Tasks run again afterwards (the task network is made again).
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("after-reset", vec![sh("app", SERVER).build()])
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    emu.stop_task(CLUSTER, &arn, "done").await;
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
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
async fn the_next_emulator_sweeps_what_a_killed_in_memory_one_left() {
    let mut killed = Emulator::start();
    killed.create_cluster(CLUSTER).await;
    let td = killed
        .register("orphaned", vec![sh("app", UNTIL_TERM).build()])
        .await;
    let arn = killed
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    killed
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    let instance = killed.instance_id().to_string();
    let filter = format!("label=fargate-local.instance={instance}");
    // kill -9 cleans nothing up: its task and network stay.
    killed.kill9();
    assert_eq!(task_docker_containers(&arn).len(), 2);

    // The next in-memory emulator to start sweeps them.
    let next = Emulator::start();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let containers = docker(&["ps", "-aq", "--filter", &filter]);
        let networks = docker(&["network", "ls", "-q", "--filter", &filter]);
        if containers.is_empty() && networks.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left by {instance}: containers {containers:?}, networks {networks:?}; log:\n{}",
            next.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    next.stop();
}

/// Builds a tiny image tagged `tag` that looks like an infrastructure image
/// of another build: the managed label, a distinct configuration (so the
/// build cache cannot make two tags one image).
fn fake_infra_image(tag: &str, uniq: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM fargate-local-test/busybox:latest\n\
             LABEL fargate-local.managed=true fargate-local.test-build={uniq}-{tag}\n"
        ),
    )
    .unwrap();
    docker(&["build", "-q", "-t", tag, dir.path().to_str().unwrap()]);
}

fn image_exists(tag: &str) -> bool {
    !docker(&["images", "-q", tag]).is_empty()
}

#[tokio::test]
async fn an_emulator_removes_the_infrastructure_images_of_older_builds() {
    let uniq = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    // Oldest first, a second apart: Docker lists creation times in seconds.
    let tags: Vec<String> = (0..4)
        .map(|n| format!("fargate-local-infra:zz-test-{uniq}-{n}"))
        .collect();
    // The oldest is used by a (never started) container from the moment it
    // exists: other tests' emulators may be starting, and pruning, now.
    let holder = format!("fargate-local-test-holder-{uniq}");
    for (n, tag) in tags.iter().enumerate() {
        fake_infra_image(tag, &uniq);
        if n == 0 {
            docker(&[
                "create",
                "--label",
                "fargate-local.managed=true",
                "--name",
                &holder,
                tag,
                "true",
            ]);
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }

    let emu = Emulator::start();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while image_exists(&tags[1]) {
        assert!(
            std::time::Instant::now() < deadline,
            "{} is still there; log:\n{}",
            tags[1],
            emu.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept: Vec<bool> = tags.iter().map(|t| image_exists(t)).collect();
    docker(&["rm", "-f", &holder]);
    // Another emulator starting now may remove some of them first.
    for tag in &tags {
        let _ = std::process::Command::new("docker")
            .args(["rmi", tag])
            .output();
    }
    // The two newest others are kept; the used one is not forced out.
    assert_eq!(kept, vec![true, false, true, true]);

    // This build's own image is never removed: a task still runs on it.
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("after-prune", vec![sh("app", "exit 0").build()])
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
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(0),
        "{}",
        emu.task_json(CLUSTER, &arn)
    );
    emu.stop();
}
