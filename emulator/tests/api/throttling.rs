//! Fargate's launch-rate quotas: RunTask calls and the tasks they launch
//! are token buckets per region; over them RunTask answers
//! `ThrottlingException` and launches nothing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with};

async fn run(t: &TestApp, count: u32) -> (u16, Value) {
    t.ecs(
        "RunTask",
        json!({
            "cluster": "q",
            "taskDefinition": "q-web",
            "launchType": "FARGATE",
            "count": count,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        }),
    )
    .await
}

async fn task_count(t: &TestApp) -> usize {
    let listed = t
        .ecs_ok(
            "ListTasks",
            json!({"cluster": "q", "desiredStatus": "RUNNING"}),
        )
        .await;
    listed["taskArns"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_burst_over_the_task_quota_is_throttled_and_launches_nothing() {
    // 30 tasks at once, then (almost) nothing: a slow refill so that the
    // test's own pace does not matter.
    let t = spawn_app_with(&["--task-launch-rate", "30:0.001", "--run-task-rate", "off"]).await;
    t.create_cluster("q").await;
    t.register("q-web", "web:1").await;
    for _ in 0..3 {
        let (status, body) = run(&t, 10).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = run(&t, 1).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], "ThrottlingException");
    assert_eq!(body["message"], "Rate exceeded");
    assert_eq!(task_count(&t).await, 30);
    t.stop().await;
}

#[tokio::test]
async fn run_task_calls_have_their_own_quota() {
    let t = spawn_app_with(&["--run-task-rate", "3:0.001", "--task-launch-rate", "off"]).await;
    t.create_cluster("q").await;
    t.register("q-web", "web:1").await;
    for _ in 0..3 {
        assert_eq!(run(&t, 1).await.0, 200);
    }
    let (status, body) = run(&t, 1).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ThrottlingException"))
    );
    assert_eq!(task_count(&t).await, 3);
    t.stop().await;
}

#[tokio::test]
async fn a_refused_launch_gives_its_task_tokens_back() {
    let t = spawn_app_with(&["--task-launch-rate", "10:0.001", "--run-task-rate", "off"]).await;
    t.create_cluster("q").await;
    t.register("q-web", "web:1").await;
    // A launch that fails after the tokens were taken (a bad override).
    let (status, body) = t
        .ecs(
            "RunTask",
            json!({
                "cluster": "q", "taskDefinition": "q-web", "launchType": "FARGATE", "count": 10,
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
                "overrides": {"containerOverrides": [{"name": "no-such-container"}]},
            }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_ne!(body["__type"], "ThrottlingException", "{body}");
    assert_eq!(run(&t, 10).await.0, 200);
    assert_eq!(task_count(&t).await, 10);
    t.stop().await;
}
