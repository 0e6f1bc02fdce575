//! `serve --iam`: RunTask and the service scheduler check that ECS can
//! assume a task's roles (the role exists and trusts
//! `ecs-tasks.amazonaws.com`). `enforce` refuses with ECS's text, and a
//! fixed trust policy takes effect at once; `warn` (the default) and `off`
//! launch anyway.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, events, service_body, spawn_app_with};

const ROLE: &str = "arn:aws:iam::000000000000:role/app";
const ECS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn unable(role: &str) -> String {
    format!(
        "ECS was unable to assume the role '{role}' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role."
    )
}

async fn setup(t: &TestApp, task_role: &str, execution_role: Option<&str>) {
    t.create_cluster("c").await;
    let mut td = json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "taskRoleArn": task_role,
        "containerDefinitions": [{"name": "app", "image": "web:1", "essential": true}],
    });
    if let Some(r) = execution_role {
        td["executionRoleArn"] = json!(r);
    }
    t.ecs_ok("RegisterTaskDefinition", td).await;
}

async fn run(t: &TestApp) -> (u16, Value) {
    t.ecs(
        "RunTask",
        json!({
            "cluster": "c",
            "taskDefinition": "web",
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        }),
    )
    .await
}

#[tokio::test]
async fn enforce_refuses_a_role_ecs_cannot_assume_until_it_is_fixed() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    setup(&t, ROLE, None).await;
    // The role does not exist.
    let (status, v) = run(&t).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["__type"], "ClientException");
    assert_eq!(v["message"], unable(ROLE));
    // It exists but trusts another service.
    let (status, xml) = t
        .iam(
            "CreateRole",
            &[
                ("RoleName", "app"),
                ("AssumeRolePolicyDocument", LAMBDA_TRUST),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    let (status, v) = run(&t).await;
    assert_eq!((status, v["message"].clone()), (400, json!(unable(ROLE))));
    let listed = t.ecs_ok("ListTasks", json!({"cluster": "c"})).await;
    assert_eq!(listed["taskArns"], json!([]), "nothing was launched");
    // Fixed, no restart: the task runs.
    let (status, xml) = t
        .iam(
            "UpdateAssumeRolePolicy",
            &[("RoleName", "app"), ("PolicyDocument", ECS_TRUST)],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    let (status, v) = run(&t).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    t.stop().await;
}

#[tokio::test]
async fn enforce_checks_the_execution_role_and_bare_names_too() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    t.iam(
        "CreateRole",
        &[("RoleName", "app"), ("AssumeRolePolicyDocument", ECS_TRUST)],
    )
    .await;
    setup(&t, "app", Some("ecsTaskExecutionRole")).await;
    let (status, v) = run(&t).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["message"],
        unable("arn:aws:iam::000000000000:role/ecsTaskExecutionRole")
    );
    t.iam(
        "CreateRole",
        &[
            ("RoleName", "ecsTaskExecutionRole"),
            ("AssumeRolePolicyDocument", ECS_TRUST),
        ],
    )
    .await;
    let (status, v) = run(&t).await;
    assert_eq!(status, 200, "{v}");
    t.stop().await;
}

#[tokio::test]
async fn a_service_whose_role_cannot_be_assumed_says_so_in_its_events() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    setup(&t, ROLE, None).await;
    t.ecs_ok(
        "CreateService",
        service_body("c", "api", "web", 1, (100, 200)),
    )
    .await;
    let want = format!(
        "service api failed to launch a task with (error {}).",
        unable(ROLE)
    );
    let s = t
        .wait_service("c", "api", "the role event", Duration::from_secs(10), |s| {
            events(s).contains(&want)
        })
        .await;
    assert_eq!(s["runningCount"], 0, "{s:#}");
    t.stop().await;
}

#[tokio::test]
async fn warn_and_off_launch_anyway() {
    for args in [&[][..], &["--iam", "warn"][..], &["--iam", "off"][..]] {
        let t = spawn_app_with(args).await;
        setup(&t, ROLE, None).await;
        let (status, v) = run(&t).await;
        assert_eq!(status, 200, "{args:?}: {v}");
        t.stop().await;
    }
}
