//! The task lifecycle as DescribeTasks shows it: the fields of a Fargate
//! task from RunTask to STOPPED, essential containers, containers killed
//! behind the emulator's back, and `aws ecs wait`-style MISSING failures.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use aws_sdk_ecs::client::Waiters;
use aws_sdk_ecs::types::{Connectivity, Task};
use aws_sdk_ecs::waiters::tasks_running::WaitUntilTasksRunningError;
use sdk_tests::{Emulator, SUBNET, UNTIL_TERM, container, docker, secs, sh, task_container};

const CLUSTER: &str = "life";

fn detail<'a>(task: &'a Task, name: &str) -> Option<&'a str> {
    task.attachments()
        .first()?
        .details()
        .iter()
        .find(|d| d.name() == Some(name))?
        .value()
}

async fn cluster_counts(emu: &Emulator) -> (i32, i32) {
    let out = emu
        .client()
        .describe_clusters()
        .clusters(CLUSTER)
        .send()
        .await
        .unwrap();
    let c = &out.clusters()[0];
    (c.running_tasks_count(), c.pending_tasks_count())
}

#[tokio::test]
async fn task_fields_from_run_task_to_stopped() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("fields", vec![sh("app", UNTIL_TERM).build()])
        .await;

    // RunTask answers before anything has happened.
    let t = emu.run_task(CLUSTER, &td).await;
    let arn = t.task_arn().unwrap().to_string();
    let id = arn.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        arn,
        format!("arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}/{id}")
    );
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "task id {id}"
    );
    assert_eq!(t.last_status(), Some("PROVISIONING"));
    assert_eq!(t.desired_status(), Some("RUNNING"));
    assert_eq!(t.version(), 1);
    assert_eq!(t.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    assert_eq!(t.platform_version(), Some("1.4.0"));
    assert_eq!(t.platform_family(), Some("Linux"));
    assert_eq!(t.cpu(), Some("256"));
    assert_eq!(t.memory(), Some("512"));
    assert_eq!(t.group(), Some("family:fields"));
    assert_eq!(t.task_definition_arn(), Some(td.as_str()));
    assert!(t.created_at().is_some());
    assert!(t.started_at().is_none() && t.stopping_at().is_none() && t.stopped_at().is_none());
    assert_eq!(container(&t, "app").last_status(), Some("PENDING"));
    assert!(container(&t, "app").network_interfaces().is_empty());
    let a = &t.attachments()[0];
    assert_eq!(a.r#type(), Some("ElasticNetworkInterface"));
    assert_eq!(a.status(), Some("PRECREATED"));
    assert_eq!(detail(&t, "subnetId"), Some(SUBNET));

    // Watch it start: lastStatus only moves forward, version only grows.
    let order = [
        "PROVISIONING",
        "PENDING",
        "ACTIVATING",
        "RUNNING",
        "DEACTIVATING",
        "STOPPING",
        "DEPROVISIONING",
        "STOPPED",
    ];
    let rank = |s: Option<&str>| {
        order
            .iter()
            .position(|o| Some(*o) == s)
            .expect("a known lastStatus")
    };
    let mut last = t.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    while last.last_status() != Some("RUNNING") {
        assert!(
            Instant::now() < deadline,
            "not RUNNING in time: {}",
            emu.task_json(CLUSTER, &arn)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = emu.describe_task(CLUSTER, &arn).await;
        assert!(
            rank(now.last_status()) >= rank(last.last_status()),
            "lastStatus went back: {:?} -> {:?}",
            last.last_status(),
            now.last_status()
        );
        assert!(now.version() >= last.version(), "version went back");
        last = now;
    }
    let running = last;
    assert!(running.version() > 1, "version grows with each change");
    let (created, pull_started, pull_stopped, started) = (
        secs(running.created_at()),
        secs(running.pull_started_at()),
        secs(running.pull_stopped_at()),
        secs(running.started_at()),
    );
    assert!(
        created <= pull_started && pull_started <= pull_stopped && pull_stopped <= started,
        "created {created} <= pullStarted {pull_started} <= pullStopped {pull_stopped} <= started {started}"
    );
    assert_eq!(running.connectivity(), Some(&Connectivity::Connected));
    assert_eq!(running.health_status().map(|h| h.as_str()), Some("UNKNOWN"));
    assert!(running.stopping_at().is_none() && running.execution_stopped_at().is_none());

    // The ENI: attached, with an address, and the container's interface on it.
    let a = &running.attachments()[0];
    assert_eq!(a.status(), Some("ATTACHED"));
    assert_eq!(detail(&running, "subnetId"), Some(SUBNET));
    let ip: Ipv4Addr = detail(&running, "privateIPv4Address")
        .expect("privateIPv4Address")
        .parse()
        .expect("an IPv4 address");
    assert!(!ip.is_unspecified());
    let eni = detail(&running, "networkInterfaceId").expect("networkInterfaceId");
    assert!(eni.starts_with("eni-") && eni.len() == 21, "{eni}");
    assert_eq!(detail(&running, "macAddress").map(str::len), Some(17));
    assert_eq!(
        detail(&running, "privateDnsName").map(str::to_string),
        Some(format!(
            "ip-{}.us-east-1.compute.internal",
            ip.to_string().replace('.', "-")
        ))
    );
    let app = container(&running, "app");
    assert_eq!(app.last_status(), Some("RUNNING"));
    let ni = &app.network_interfaces()[0];
    assert_eq!(ni.private_ipv4_address(), Some(ip.to_string().as_str()));
    assert_eq!(ni.attachment_id(), a.id());
    let runtime_id = app.runtime_id().expect("runtimeId once started");
    let (rid_task, rid_n) = runtime_id.split_once('-').expect("<taskId>-<digits>");
    assert_eq!(rid_task, id);
    assert!(
        rid_n.len() == 10 && rid_n.chars().all(|c| c.is_ascii_digit()),
        "{runtime_id}"
    );
    assert!(
        app.image_digest().is_some_and(|d| d.starts_with("sha256:")),
        "{:?}",
        app.image_digest()
    );
    assert!(app.container_arn().is_some_and(|c| c.starts_with(&format!(
        "arn:aws:ecs:us-east-1:000000000000:container/{CLUSTER}/{id}/"
    ))));
    assert_eq!(app.exit_code(), None);

    // The cluster counts it.
    let c = cluster_counts(&emu).await;
    assert_eq!(c, (1, 0), "(running, pending) tasks in the cluster");

    // StopTask answers at once: desired STOPPED, still RUNNING.
    let s = emu.stop_task(CLUSTER, &arn, "sdk-tests says stop").await;
    assert_eq!(s.desired_status(), Some("STOPPED"));
    assert_eq!(s.last_status(), Some("RUNNING"));
    assert_eq!(s.stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert_eq!(s.stopped_reason(), Some("sdk-tests says stop"));
    assert!(s.stopping_at().is_some());
    assert!(s.version() > running.version());

    let stopped = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(20))
        .await;
    assert!(stopped.version() > s.version());
    let (stopping, exec_stopped, stopped_at) = (
        secs(stopped.stopping_at()),
        secs(stopped.execution_stopped_at()),
        secs(stopped.stopped_at()),
    );
    assert!(
        started <= stopping && stopping <= exec_stopped && exec_stopped <= stopped_at,
        "started {started} <= stopping {stopping} <= executionStopped {exec_stopped} <= stopped {stopped_at}"
    );
    assert_eq!(
        secs(stopped.started_at()),
        started,
        "startedAt does not change"
    );
    assert_eq!(
        stopped.stop_code().map(|c| c.as_str()),
        Some("UserInitiated")
    );
    assert_eq!(stopped.stopped_reason(), Some("sdk-tests says stop"));
    assert_eq!(stopped.connectivity(), Some(&Connectivity::Disconnected));
    assert_eq!(
        stopped.connectivity_at(),
        running.connectivity_at(),
        "connectivityAt is when it last went CONNECTED"
    );
    assert_eq!(stopped.attachments()[0].status(), Some("DELETED"));
    let app = container(&stopped, "app");
    assert_eq!(app.last_status(), Some("STOPPED"));
    assert_eq!(
        app.exit_code(),
        Some(0),
        "the shell leaves on SIGTERM with 0"
    );
    assert_eq!(app.runtime_id(), Some(runtime_id));
    assert_eq!(cluster_counts(&emu).await, (0, 0));
    // A STOPPED task stays describable and out of the RUNNING list.
    let listed = emu
        .client()
        .list_tasks()
        .cluster(CLUSTER)
        .send()
        .await
        .unwrap();
    assert!(listed.task_arns().is_empty(), "{:?}", listed.task_arns());
    let listed = emu
        .client()
        .list_tasks()
        .cluster(CLUSTER)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.task_arns(), std::slice::from_ref(&arn));
    emu.stop();
}

#[tokio::test]
async fn essential_container_exit_stops_the_task() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "essential-exit",
            vec![
                sh("main", "sleep 1; exit 3").build(),
                // Not essential: it is stopped with the task, and leaves on
                // SIGTERM with 143 as a shell with a TERM trap does.
                sh(
                    "sidecar",
                    "trap 'exit 143' TERM; while true; do sleep 1 & wait $!; done",
                )
                .essential(false)
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
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited"),
        "{}",
        json()
    );
    assert_eq!(
        t.stopped_reason(),
        Some("Essential container in task exited"),
        "{}",
        json()
    );
    assert_eq!(t.desired_status(), Some("STOPPED"));
    assert!(t.started_at().is_some(), "it did run: {}", json());
    assert_eq!(container(&t, "main").exit_code(), Some(3), "{}", json());
    assert_eq!(
        container(&t, "main").reason(),
        None,
        "a normal exit has no reason"
    );
    assert_eq!(
        container(&t, "sidecar").exit_code(),
        Some(143),
        "{}",
        json()
    );
    assert_eq!(container(&t, "sidecar").last_status(), Some("STOPPED"));
    assert!(
        sdk_tests::task_docker_containers(&arn).is_empty(),
        "a stopped task's containers are removed"
    );
    emu.stop();
}

#[tokio::test]
async fn docker_kill_behind_the_emulators_back_is_noticed() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("killed", vec![sh("app", UNTIL_TERM).build()])
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;

    let id = task_container(&arn, "app");
    docker(&["kill", &id]);
    let killed = Instant::now();
    let t = emu
        .wait_task(
            CLUSTER,
            &arn,
            "the kill to be noticed",
            Duration::from_secs(2),
            |t| t.desired_status() == Some("STOPPED") && container(t, "app").exit_code().is_some(),
        )
        .await;
    let noticed = killed.elapsed();
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(137),
        "SIGKILL: {}",
        emu.task_json(CLUSTER, &arn)
    );
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited")
    );
    assert_eq!(
        t.stopped_reason(),
        Some("Essential container in task exited")
    );
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(10))
        .await;
    assert_eq!(container(&t, "app").exit_code(), Some(137));
    assert!(
        noticed < Duration::from_secs(2),
        "noticed after {noticed:?}"
    );
    emu.stop();
}

#[tokio::test]
async fn describe_tasks_reports_unknown_tasks_as_missing() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("short", vec![sh("app", "exit 0").build()])
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;

    let unknown_id = "0123456789abcdef0123456789abcdef";
    let unknown_arn = format!(
        "arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}/fedcba9876543210fedcba9876543210"
    );
    let out = emu
        .client()
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(&arn)
        .tasks(unknown_id)
        .tasks(&unknown_arn)
        .send()
        .await
        .expect("partial failures are not errors");
    assert_eq!(out.tasks().len(), 1);
    assert_eq!(out.tasks()[0].task_arn(), Some(arn.as_str()));
    let failures: Vec<(Option<&str>, Option<&str>)> = out
        .failures()
        .iter()
        .map(|f| (f.arn(), f.reason()))
        .collect();
    let expected_arn = format!("arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}/{unknown_id}");
    assert_eq!(
        failures,
        vec![
            (Some(expected_arn.as_str()), Some("MISSING")),
            (Some(unknown_arn.as_str()), Some("MISSING"))
        ]
    );

    // `aws ecs wait tasks-running` gives up on MISSING at the first poll
    // instead of waiting ten minutes.
    let started = Instant::now();
    let err = emu
        .client()
        .wait_until_tasks_running()
        .cluster(CLUSTER)
        .tasks(unknown_id)
        .wait(Duration::from_secs(60))
        .await
        .expect_err("a MISSING task never runs");
    assert!(
        matches!(err, WaitUntilTasksRunningError::FailureState(_)),
        "{err:?}"
    );
    // ... and so does it on a task that is STOPPED.
    let err = emu
        .client()
        .wait_until_tasks_running()
        .cluster(CLUSTER)
        .tasks(&arn)
        .wait(Duration::from_secs(60))
        .await
        .expect_err("a STOPPED task never runs");
    assert!(
        matches!(err, WaitUntilTasksRunningError::FailureState(_)),
        "{err:?}"
    );
    // `aws ecs wait tasks-stopped` succeeds at once on it.
    emu.client()
        .wait_until_tasks_stopped()
        .cluster(CLUSTER)
        .tasks(&arn)
        .wait(Duration::from_secs(60))
        .await
        .expect("the task is STOPPED");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the waiters decided at their first poll"
    );

    // An unknown cluster is an error, not a failure entry.
    let err = emu
        .client()
        .describe_tasks()
        .cluster("no-such-cluster")
        .tasks(unknown_id)
        .send()
        .await
        .expect_err("unknown cluster");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_cluster_not_found_exception()),
        "{err:?}"
    );
    emu.stop();
}

#[tokio::test]
async fn a_container_that_cannot_start_stops_the_task() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "no-binary",
            vec![
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image(sdk_tests::TEST_IMAGE)
                    .command("/no/such/binary")
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
    let reason = app.reason().unwrap_or_default();
    assert!(
        reason.starts_with("CannotStartContainerError:"),
        "{}",
        json()
    );
    assert!(
        reason.contains("/no/such/binary"),
        "says what could not start: {reason}"
    );
    assert_eq!(app.runtime_id(), None, "{}", json());
    assert!(t.started_at().is_none(), "{}", json());
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("EssentialContainerExited"),
        "{}",
        json()
    );
    assert!(sdk_tests::task_docker_containers(&arn).is_empty());
    emu.stop();
}

#[tokio::test]
async fn losing_the_network_namespace_stops_the_task() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("no-namespace", vec![sh("app", UNTIL_TERM).build()])
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;
    let app = task_container(&arn, "app");
    let infra: Vec<String> = sdk_tests::task_docker_containers(&arn)
        .into_iter()
        .filter(|id| !app.starts_with(id.as_str()) && !id.starts_with(app.as_str()))
        .collect();
    assert_eq!(infra.len(), 1, "one infrastructure container");
    docker(&["kill", &infra[0]]);
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("TerminationNotice"),
        "{}",
        json()
    );
    assert!(container(&t, "app").exit_code().is_some(), "{}", json());
    assert!(sdk_tests::task_docker_containers(&arn).is_empty());
    emu.stop();
}
