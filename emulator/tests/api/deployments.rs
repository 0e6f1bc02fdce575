//! Rolling deployments within minimumHealthyPercent and maximumPercent, the
//! rollout states and events they leave, and the deployment circuit breaker
//! rolling back a revision whose tasks fail.

use std::time::Duration;

use fargate_local::runtime::fake::Behaviour;
use serde_json::{Value, json};

use crate::helpers::{TestApp, events, service_body, spawn_app, stable};

const WITHIN: Duration = Duration::from_secs(20);

fn deployments(s: &Value) -> Vec<Value> {
    s["deployments"].as_array().cloned().unwrap_or_default()
}

/// The fewest and most tasks that ran on the engine since `from` (an
/// index into its history).
fn least_and_most(t: &TestApp, from: usize) -> (usize, usize) {
    let h = t.fake.running_history();
    let seen = &h[from.min(h.len() - 1)..];
    let least = seen.iter().copied().min().unwrap_or(0);
    let most = seen.iter().copied().max().unwrap_or(0);
    (least, most)
}

async fn update_to(t: &TestApp, td: &str) -> Value {
    t.ecs_ok(
        "UpdateService",
        json!({"cluster": "roll", "service": "web", "taskDefinition": td}),
    )
    .await["service"]
        .clone()
}

#[tokio::test]
async fn a_new_revision_rolls_out_above_the_minimum() {
    let t = spawn_app().await;
    t.create_cluster("roll").await;
    let v1 = t.register("roll-web", "web:1").await;
    let v2 = t.register("roll-web", "web:2").await;
    t.ecs_ok(
        "CreateService",
        service_body("roll", "web", &v1, 2, (100, 200)),
    )
    .await;
    let first = t
        .wait_service("roll", "web", "revision 1 stable", WITHIN, stable)
        .await;
    let first_id = deployments(&first)[0]["id"].as_str().unwrap().to_string();

    let from = t.fake.running_history().len() - 1;
    let during = update_to(&t, &v2).await;
    let d = deployments(&during);
    let statuses: Vec<&Value> = d.iter().map(|d| &d["status"]).collect();
    assert_eq!(statuses, ["PRIMARY", "ACTIVE"]);
    assert_eq!(d[0]["rolloutState"], "IN_PROGRESS");
    assert_eq!(d[0]["taskDefinition"], v2.as_str());
    let second = t
        .wait_service("roll", "web", "revision 2 stable", WITHIN, |s| {
            stable(s) && s["taskDefinition"] == v2.as_str()
        })
        .await;
    let (least, most) = least_and_most(&t, from);
    // minimumHealthyPercent 100 and maximumPercent 200 of 2 tasks.
    assert!(
        least >= 2,
        "as few as {least} tasks ran during the deployment"
    );
    assert!(
        most <= 4,
        "as many as {most} tasks ran during the deployment"
    );
    let second_id = deployments(&second)[0]["id"].as_str().unwrap().to_string();
    assert_ne!(first_id, second_id);
    assert_eq!(
        deployments(&second)[0]["rolloutStateReason"],
        format!("ECS deployment {second_id} completed.")
    );
    let tasks = t.service_tasks("roll", "web").await;
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t["taskDefinitionArn"] == v2.as_str()));
    let ev = events(&second);
    assert!(
        ev.contains(&format!(
            "(service web) (deployment {second_id}) deployment completed."
        )),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| e.starts_with("(service web) has stopped 2 running tasks: (task ")),
        "{ev:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_new_revision_rolls_out_within_the_maximum() {
    let t = spawn_app().await;
    t.create_cluster("roll").await;
    let v1 = t.register("roll-web", "web:1").await;
    let v2 = t.register("roll-web", "web:2").await;
    // At most 4 tasks, at least 2 of them healthy: old tasks stop first.
    t.ecs_ok(
        "CreateService",
        service_body("roll", "web", &v1, 4, (50, 100)),
    )
    .await;
    t.wait_service("roll", "web", "revision 1 stable", WITHIN, stable)
        .await;
    let from = t.fake.running_history().len() - 1;
    update_to(&t, &v2).await;
    t.wait_service("roll", "web", "revision 2 stable", WITHIN, |s| {
        stable(s) && s["taskDefinition"] == v2.as_str()
    })
    .await;
    let (least, most) = least_and_most(&t, from);
    assert!(
        most <= 4,
        "as many as {most} tasks ran during the deployment"
    );
    assert!(
        least >= 2,
        "as few as {least} tasks ran during the deployment"
    );
    assert!(
        least < 4,
        "no old task was stopped before a new one started"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_circuit_breaker_rolls_back_a_failing_revision() {
    let t = spawn_app().await;
    t.create_cluster("roll").await;
    let good = t.register("roll-web", "web:1").await;
    let broken = t.register("roll-web", "broken:1").await;
    // The broken revision's container runs for a moment, then exits 1.
    t.fake.on_image(
        "broken:1",
        Behaviour::ExitAfter(Duration::from_millis(100), 1),
    );
    t.ecs_ok(
        "CreateService",
        service_body("roll", "web", &good, 2, (100, 200)),
    )
    .await;
    let first = t
        .wait_service("roll", "web", "revision 1 stable", WITHIN, stable)
        .await;
    let good_id = deployments(&first)[0]["id"].as_str().unwrap().to_string();
    update_to(&t, &broken).await;
    let rolled = t
        .wait_service("roll", "web", "the rollback", WITHIN, |s| {
            stable(s) && events(s).iter().any(|e| e.contains("rolling back"))
        })
        .await;
    let ev = events(&rolled);
    let failed_at = ev
        .iter()
        .position(|e| e.ends_with("deployment failed: tasks failed to start."))
        .unwrap_or_else(|| panic!("no failure event: {ev:?}"));
    assert_eq!(
        ev[failed_at - 1],
        format!("(service web) rolling back to deployment {good_id}.")
    );
    assert_eq!(rolled["taskDefinition"], good.as_str());
    let primary = &deployments(&rolled)[0];
    assert_eq!(primary["taskDefinition"], good.as_str());
    assert_eq!(
        primary["rolloutStateReason"],
        format!(
            "ECS deployment {} completed.",
            primary["id"].as_str().unwrap()
        )
    );
    let tasks = t.service_tasks("roll", "web").await;
    assert!(
        tasks
            .iter()
            .all(|t| t["taskDefinitionArn"] == good.as_str())
    );

    let listed = t
        .ecs_ok(
            "ListServiceDeployments",
            json!({"cluster": "roll", "service": "web"}),
        )
        .await;
    let sds = listed["serviceDeployments"].as_array().unwrap();
    let statuses: Vec<&Value> = sds.iter().map(|d| &d["status"]).collect();
    assert_eq!(statuses, ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]);
    let described = t
        .ecs_ok(
            "DescribeServiceDeployments",
            json!({"serviceDeploymentArns": [sds[0]["serviceDeploymentArn"]]}),
        )
        .await;
    let cb = &described["serviceDeployments"][0]["deploymentCircuitBreaker"];
    assert_eq!(cb["status"], "TRIGGERED");
    assert_eq!(
        (&cb["failureCount"], &cb["threshold"]),
        (&json!(10), &json!(10))
    );
    t.stop().await;
}
