//! The service scheduler keeps the desired count: scale out and in (with
//! its stop code and reason) and a replacement for a task whose essential
//! container exited.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{events, service_body, spawn_app, stable};

const WITHIN: Duration = Duration::from_secs(15);

#[tokio::test]
async fn desired_count_up_down_and_replacement() {
    let t = spawn_app().await;
    t.create_cluster("svc").await;
    let td = t.register("svc-web", "web:1").await;
    let created = t
        .ecs_ok(
            "CreateService",
            service_body("svc", "web", &td, 2, (100, 200)),
        )
        .await;
    let deployment = created["service"]["deployments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = t
        .wait_service("svc", "web", "2 tasks", WITHIN, stable)
        .await;
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
    let tasks = t.service_tasks("svc", "web").await;
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        assert_eq!(task["group"], "service:web");
        assert_eq!(task["startedBy"], deployment.as_str());
        assert_eq!(task["lastStatus"], "RUNNING");
    }
    assert_eq!(t.fake.running_tasks().len(), 2);

    // Scale out.
    t.ecs_ok(
        "UpdateService",
        json!({"cluster": "svc", "service": "web", "desiredCount": 3}),
    )
    .await;
    t.wait_service("svc", "web", "3 tasks", WITHIN, |s| {
        s["runningCount"] == 3 && stable(s)
    })
    .await;

    // The essential container of one task exits: the task stops and the
    // scheduler starts another.
    let victim = t.service_tasks("svc", "web").await[0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(t.fake.exit(&victim, "app", 1));
    let s = t
        .wait_service("svc", "web", "a replacement", WITHIN, |s| {
            s["runningCount"] == 3
                && events(s)
                    .iter()
                    .filter(|e| e.contains("has started 1 tasks"))
                    .count()
                    >= 2
        })
        .await;
    let arns: Vec<String> = t
        .service_tasks("svc", "web")
        .await
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(arns.len(), 3, "{s:#}");
    assert!(!arns.contains(&victim));
    let stopped = t
        .ecs_ok(
            "DescribeTasks",
            json!({"cluster": "svc", "tasks": [victim]}),
        )
        .await;
    let stopped = &stopped["tasks"][0];
    assert_eq!(stopped["lastStatus"], "STOPPED");
    assert_eq!(stopped["stopCode"], "EssentialContainerExited");
    assert_eq!(stopped["containers"][0]["exitCode"], 1);

    // Scale in: the scheduler stops tasks with its own code and reason.
    t.ecs_ok(
        "UpdateService",
        json!({"cluster": "svc", "service": "web", "desiredCount": 1}),
    )
    .await;
    let s = t
        .wait_service("svc", "web", "1 task", WITHIN, |s| {
            s["runningCount"] == 1 && s["pendingCount"] == 0 && stable(s)
        })
        .await;
    assert!(
        events(&s)
            .iter()
            .any(|e| e.starts_with("(service web) has stopped 2 running tasks: (task ")),
        "{:?}",
        events(&s)
    );
    let stopped = t
        .ecs_ok(
            "ListTasks",
            json!({"cluster": "svc", "serviceName": "web", "desiredStatus": "STOPPED"}),
        )
        .await["taskArns"]
        .clone();
    let stopped = t
        .ecs_ok("DescribeTasks", json!({"cluster": "svc", "tasks": stopped}))
        .await;
    let scaled: Vec<_> = stopped["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["stopCode"] == "ServiceSchedulerInitiated")
        .collect();
    assert_eq!(scaled.len(), 2, "{stopped:#}");
    for task in scaled {
        assert_eq!(
            task["stoppedReason"],
            format!("Scaling activity initiated by (deployment {deployment})")
        );
    }
    assert_eq!(t.fake.running_tasks().len(), 1);
    t.stop().await;
}
