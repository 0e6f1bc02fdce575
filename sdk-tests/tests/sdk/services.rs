//! Services with the AWS SDK for Rust and real containers: the scheduler
//! keeps the desired count (scale up and down, a task killed behind the
//! emulator's back is replaced), a rolling deployment from revision 1 to 2,
//! a revision whose container exits at once trips the circuit breaker and
//! rolls back, delete with and without `force`, and a durable emulator
//! killed in the middle of a deployment finishes it after a restart.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration, LaunchType, Service};
use sdk_tests::{Emulator, docker, sh, task_container};

/// Leaves on SIGTERM at once.
const SERVER: &str = "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done";

async fn describe(emu: &Emulator, cluster: &str, name: &str) -> Service {
    let out = emu
        .client()
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeServices {name}: {e:?}"));
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.services()[0].clone()
}

fn events(s: &Service) -> Vec<String> {
    s.events()
        .iter()
        .filter_map(|e| e.message().map(str::to_string))
        .collect()
}

/// Polls DescribeServices until `done` holds.
async fn wait(
    emu: &Emulator,
    cluster: &str,
    name: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Service) -> bool,
) -> Service {
    let start = Instant::now();
    loop {
        let s = describe(emu, cluster, name).await;
        if done(&s) {
            return s;
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n--- service:\n{s:#?}\n--- emulator log:\n{}",
                emu.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the `services-stable` waiter checks, plus a COMPLETED rollout.
fn stable(s: &Service) -> bool {
    s.deployments().len() == 1
        && s.running_count() == s.desired_count()
        && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
}

async fn service_tasks(emu: &Emulator, cluster: &str, name: &str) -> Vec<aws_sdk_ecs::types::Task> {
    let arns = emu
        .client()
        .list_tasks()
        .cluster(cluster)
        .service_name(name)
        .send()
        .await
        .expect("ListTasks")
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return Vec::new();
    }
    emu.client()
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .expect("DescribeTasks")
        .tasks()
        .to_vec()
}

async fn create(emu: &Emulator, cluster: &str, name: &str, td: &str, desired: i32) -> Service {
    emu.client()
        .create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(td)
        .desired_count(desired)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(true)
                        .build(),
                )
                .maximum_percent(200)
                .minimum_healthy_percent(100)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateService {name}: {e:?}"))
        .service()
        .cloned()
        .expect("CreateService returns the service")
}

async fn set_desired(emu: &Emulator, cluster: &str, name: &str, desired: i32) {
    emu.client()
        .update_service()
        .cluster(cluster)
        .service(name)
        .desired_count(desired)
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateService {name}: {e:?}"));
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn scale_replace_and_delete() {
    let emu = Emulator::start();
    let cluster = "svc";
    emu.create_cluster(cluster).await;
    let td = emu
        .register("svc-web", vec![sh("app", SERVER).build()])
        .await;
    let created = create(&emu, cluster, "web", &td, 2).await;
    let deployment = created.deployments()[0].id().unwrap().to_string();
    let s = wait(&emu, cluster, "web", "2 tasks", MINUTE, stable).await;
    assert_eq!(s.running_count(), 2);
    let tasks = service_tasks(&emu, cluster, "web").await;
    assert_eq!(tasks.len(), 2);
    for t in &tasks {
        assert_eq!(t.group(), Some("service:web"));
        assert_eq!(t.started_by(), Some(deployment.as_str()));
    }
    let ev = events(&s);
    assert_eq!(ev[0], "(service web) has reached a steady state.");
    assert_eq!(
        ev[1],
        format!("(service web) (deployment {deployment}) deployment completed.")
    );
    assert!(
        ev[2].starts_with("(service web) has started 2 tasks: (task "),
        "{ev:?}"
    );

    // Scale up.
    set_desired(&emu, cluster, "web", 3).await;
    wait(&emu, cluster, "web", "3 tasks", MINUTE, |s| {
        s.running_count() == 3 && stable(s)
    })
    .await;

    // A container killed behind the emulator's back: the task stops and
    // the scheduler starts a replacement.
    let victim = service_tasks(&emu, cluster, "web").await[0].clone();
    let victim_arn = victim.task_arn().unwrap().to_string();
    docker(&["kill", &task_container(&victim_arn, "app")]);
    let s = wait(&emu, cluster, "web", "a replacement", MINUTE, |s| {
        s.running_count() == 3
            && events(s)
                .iter()
                .filter(|e| e.contains("has started 1 tasks"))
                .count()
                >= 2
    })
    .await;
    let ids: Vec<String> = service_tasks(&emu, cluster, "web")
        .await
        .iter()
        .map(|t| t.task_arn().unwrap().to_string())
        .collect();
    assert!(!ids.contains(&victim_arn), "the killed task is not counted");
    assert_eq!(ids.len(), 3, "{s:#?}");

    // Scale in: the scheduler stops tasks with its own stop code.
    set_desired(&emu, cluster, "web", 1).await;
    let s = wait(&emu, cluster, "web", "1 task", MINUTE, |s| {
        s.running_count() == 1 && s.pending_count() == 0
    })
    .await;
    assert!(
        events(&s)
            .iter()
            .any(|e| e.starts_with("(service web) has stopped 2 running tasks: (task ")),
        "{:?}",
        events(&s)
    );
    let stopped = emu
        .client()
        .list_tasks()
        .cluster(cluster)
        .service_name("web")
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    let scaled: Vec<_> = emu
        .client()
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(stopped))
        .send()
        .await
        .unwrap()
        .tasks()
        .iter()
        .filter(|t| {
            t.stopped_reason()
                .is_some_and(|r| r.starts_with("Scaling activity"))
        })
        .cloned()
        .collect();
    assert_eq!(scaled.len(), 2);
    for t in scaled {
        assert_eq!(
            t.stop_code().map(|c| c.as_str()),
            Some("ServiceSchedulerInitiated")
        );
        assert_eq!(
            t.stopped_reason(),
            Some(format!("Scaling activity initiated by (deployment {deployment})").as_str())
        );
    }

    // Delete: refused while scaled above 0; at 0 it drains to INACTIVE.
    let err = emu
        .client()
        .delete_service()
        .cluster(cluster)
        .service("web")
        .send()
        .await
        .expect_err("DeleteService of a scaled service");
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidParameterException")
    );
    set_desired(&emu, cluster, "web", 0).await;
    let out = emu
        .client()
        .delete_service()
        .cluster(cluster)
        .service("web")
        .send()
        .await
        .expect("DeleteService at 0");
    assert_eq!(out.service().unwrap().status(), Some("DRAINING"));
    wait(&emu, cluster, "web", "INACTIVE", MINUTE, |s| {
        s.status() == Some("INACTIVE")
    })
    .await;
    assert!(service_tasks(&emu, cluster, "web").await.is_empty());
    emu.stop();
}

#[tokio::test]
async fn rolling_deployment_then_circuit_breaker_rollback() {
    let emu = Emulator::start();
    let cluster = "roll";
    emu.create_cluster(cluster).await;
    let v1 = emu
        .register("roll-web", vec![sh("app", SERVER).build()])
        .await;
    let v2 = emu
        .register("roll-web", vec![sh("app", SERVER).build()])
        .await;
    let broken = emu
        .register("roll-web", vec![sh("app", "exit 1").build()])
        .await;
    create(&emu, cluster, "web", &v1, 2).await;
    let first = wait(&emu, cluster, "web", "revision 1 stable", MINUTE, stable).await;
    let first_id = first.deployments()[0].id().unwrap().to_string();

    // Revision 2 rolls out: a new PRIMARY, the old one ACTIVE until drained.
    let out = emu
        .client()
        .update_service()
        .cluster(cluster)
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .expect("UpdateService to revision 2");
    let during = out.service().unwrap();
    let statuses: Vec<_> = during.deployments().iter().map(|d| d.status()).collect();
    assert_eq!(statuses, [Some("PRIMARY"), Some("ACTIVE")]);
    let second = wait(&emu, cluster, "web", "revision 2 stable", MINUTE, |s| {
        stable(s)
            && s.task_definition() == Some(v2.as_str())
            && s.deployments()[0].id() != Some(first_id.as_str())
    })
    .await;
    let second_id = second.deployments()[0].id().unwrap().to_string();
    let tasks = service_tasks(&emu, cluster, "web").await;
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|t| t.task_definition_arn() == Some(v2.as_str()))
    );

    // A revision whose container exits at once: the breaker trips after 10
    // failed tasks (desiredCount 2) and the service rolls back.
    emu.client()
        .update_service()
        .cluster(cluster)
        .service("web")
        .task_definition(&broken)
        .send()
        .await
        .expect("UpdateService to the broken revision");
    let rolled = wait(
        &emu,
        cluster,
        "web",
        "the rollback",
        Duration::from_secs(120),
        |s| stable(s) && events(s).iter().any(|e| e.contains("rolling back")),
    )
    .await;
    let ev = events(&rolled);
    let failed_at = ev
        .iter()
        .position(|e| e.ends_with("deployment failed: tasks failed to start."))
        .unwrap_or_else(|| panic!("no failure event: {ev:?}"));
    assert_eq!(
        ev[failed_at - 1],
        format!("(service web) rolling back to deployment {second_id}.")
    );
    assert_eq!(rolled.task_definition(), Some(v2.as_str()));
    let primary = &rolled.deployments()[0];
    assert_eq!(primary.task_definition(), Some(v2.as_str()));
    assert_eq!(
        primary.rollout_state_reason(),
        Some(format!("ECS deployment {} completed.", primary.id().unwrap()).as_str())
    );
    let tasks = service_tasks(&emu, cluster, "web").await;
    assert!(
        tasks
            .iter()
            .all(|t| t.task_definition_arn() == Some(v2.as_str()))
    );

    // The service deployments tell the same story.
    let listed = emu
        .client()
        .list_service_deployments()
        .cluster(cluster)
        .service("web")
        .send()
        .await
        .expect("ListServiceDeployments");
    let statuses: Vec<_> = listed
        .service_deployments()
        .iter()
        .map(|d| {
            d.status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        statuses,
        ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL"]
    );
    let arn = listed.service_deployments()[0]
        .service_deployment_arn()
        .unwrap()
        .to_string();
    let sd = emu
        .client()
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .expect("DescribeServiceDeployments");
    let cb = sd.service_deployments()[0]
        .deployment_circuit_breaker()
        .expect("circuit breaker");
    assert_eq!(cb.status().map(|s| s.as_str()), Some("TRIGGERED"));
    assert_eq!((cb.failure_count(), cb.threshold()), (10, 10));

    // Delete with force while running.
    let out = emu
        .client()
        .delete_service()
        .cluster(cluster)
        .service("web")
        .force(true)
        .send()
        .await
        .expect("DeleteService --force");
    assert_eq!(out.service().unwrap().status(), Some("DRAINING"));
    wait(&emu, cluster, "web", "INACTIVE", MINUTE, |s| {
        s.status() == Some("INACTIVE")
    })
    .await;
    emu.stop();
}

#[tokio::test]
async fn restart_in_the_middle_of_a_deployment() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    let cluster = "resume";
    emu.create_cluster(cluster).await;
    let v1 = emu
        .register("resume-web", vec![sh("app", SERVER).build()])
        .await;
    let v2 = emu
        .register("resume-web", vec![sh("app", SERVER).build()])
        .await;
    create(&emu, cluster, "web", &v1, 2).await;
    wait(&emu, cluster, "web", "revision 1 stable", MINUTE, stable).await;
    emu.client()
        .update_service()
        .cluster(cluster)
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .expect("UpdateService to revision 2");
    // Killed once the new tasks exist, before the old ones are gone.
    wait(
        &emu,
        cluster,
        "web",
        "the deployment to start",
        MINUTE,
        |s| {
            s.deployments().len() == 2
                && s.deployments()[0].pending_count() + s.deployments()[0].running_count() > 0
        },
    )
    .await;
    emu.kill9();
    emu.restart();
    let s = wait(
        &emu,
        cluster,
        "web",
        "revision 2 stable after the restart",
        MINUTE,
        |s| stable(s) && s.task_definition() == Some(v2.as_str()),
    )
    .await;
    let tasks = service_tasks(&emu, cluster, "web").await;
    assert_eq!(tasks.len(), 2, "{s:#?}");
    assert!(
        tasks
            .iter()
            .all(|t| t.task_definition_arn() == Some(v2.as_str()))
    );
    emu.stop();
}
