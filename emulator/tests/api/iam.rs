//! `serve --iam`: RunTask and the service scheduler check that ECS can
//! assume a task's roles (the role exists and trusts
//! `ecs-tasks.amazonaws.com`). `enforce` refuses with ECS's text, and a
//! fixed trust policy takes effect at once; `warn` (the default) and `off`
//! launch anyway.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, events, run_web, service_body, signed, spawn_app_with, wait_task};

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

#[tokio::test]
async fn enforce_refuses_a_role_ecs_cannot_assume_until_it_is_fixed() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    setup(&t, ROLE, None).await;
    // The role does not exist.
    let (status, v) = run_web(&t).await;
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
    let (status, v) = run_web(&t).await;
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
    let (status, v) = run_web(&t).await;
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
    let (status, v) = run_web(&t).await;
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
    let (status, v) = run_web(&t).await;
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
        let (status, v) = run_web(&t).await;
        assert_eq!(status, 200, "{args:?}: {v}");
        t.stop().await;
    }
}

#[tokio::test]
async fn the_task_role_is_enforced_on_an_apps_calls() {
    let task = "arn:aws:ecs:us-east-1:000000000000:task/c/0123456789abcdef0123456789abcdef";
    for mode in ["enforce", "warn", "off"] {
        let t = spawn_app_with(&["--iam", mode]).await;
        t.iam(
            "CreateRole",
            &[("RoleName", "app"), ("AssumeRolePolicyDocument", ECS_TRUST)],
        )
        .await;
        let (status, v) = signed(
            &t,
            "AKIDHOST",
            "AmazonSSM.PutParameter",
            json!({"Name": "/web/key", "Value": "v", "Type": "String"}),
        )
        .await;
        assert_eq!(status, 200, "the host's caller is the root: {v}");
        let key = t.app.credentials().issue(task, ROLE).access_key_id;
        let get = json!({"Name": "/web/key"});
        let (status, v) = signed(&t, &key, "AmazonSSM.GetParameter", get.clone()).await;
        if mode != "enforce" {
            assert_eq!(status, 200, "{mode}: {v}");
            t.stop().await;
            continue;
        }
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["__type"], "AccessDeniedException");
        assert_eq!(
            v["message"],
            "User: arn:aws:sts::000000000000:assumed-role/app/0123456789abcdef0123456789abcdef is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:us-east-1:000000000000:parameter/web/key because no identity-based policy allows the ssm:GetParameter action"
        );
        // Allowed once the role's policy says so, no restart.
        let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter*","Resource":"arn:aws:ssm:*:*:parameter/web/*"}]}"#;
        let (status, xml) = t
            .iam(
                "PutRolePolicy",
                &[
                    ("RoleName", "app"),
                    ("PolicyName", "read"),
                    ("PolicyDocument", allow),
                ],
            )
            .await;
        assert_eq!(status, 200, "{xml}");
        let (status, v) = signed(&t, &key, "AmazonSSM.GetParameter", get.clone()).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["Parameter"]["Value"], "v");
        // Another parameter is still denied; an explicit deny wins.
        let (status, _) = signed(
            &t,
            &key,
            "AmazonSSM.GetParameters",
            json!({"Names": ["/web/key", "/db/password"]}),
        )
        .await;
        assert_eq!(status, 400);
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ssm:*","Resource":"*"}]}"#;
        t.iam(
            "PutRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyName", "deny"),
                ("PolicyDocument", deny),
            ],
        )
        .await;
        let (status, v) = signed(&t, &key, "AmazonSSM.GetParameter", get).await;
        assert_eq!(status, 400);
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .ends_with("with an explicit deny in an identity-based policy"),
            "{v}"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn the_execution_role_must_be_allowed_to_read_the_secrets() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    let exec_role = "arn:aws:iam::000000000000:role/exec";
    t.iam(
        "CreateRole",
        &[
            ("RoleName", "exec"),
            ("AssumeRolePolicyDocument", ECS_TRUST),
        ],
    )
    .await;
    t.iam(
        "AttachRolePolicy",
        &[
            ("RoleName", "exec"),
            (
                "PolicyArn",
                "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            ),
        ],
    )
    .await;
    let (status, v) = signed(
        &t,
        "AKIDHOST",
        "AmazonSSM.PutParameter",
        json!({"Name": "/web/key", "Value": "v", "Type": "SecureString"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    t.create_cluster("c").await;
    t.ecs_ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": exec_role,
            "containerDefinitions": [{
                "name": "app", "image": "web:1", "essential": true,
                "secrets": [{"name": "KEY", "valueFrom": "/web/key"}],
            }],
        }),
    )
    .await;
    let (status, v) = run_web(&t).await;
    assert_eq!(status, 200, "{v}");
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let task_id = arn.rsplit('/').next().unwrap().to_string();
    let task = wait_task(&t, &arn, "STOPPED").await;
    let reason = task["stoppedReason"].as_str().unwrap();
    let want = format!(
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role/exec/{task_id} is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-east-1:000000000000:parameter/web/key because no identity-based policy allows the ssm:GetParameters action status code: 400, request id: "
    );
    assert!(reason.starts_with(&want), "{reason}");
    assert_eq!(task["stopCode"], "TaskFailedToStart");

    // Allowed on the execution role: the next task runs.
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameters","Resource":"arn:aws:ssm:us-east-1:000000000000:parameter/web/*"}]}"#;
    let (status, xml) = t
        .iam(
            "PutRolePolicy",
            &[
                ("RoleName", "exec"),
                ("PolicyName", "secrets"),
                ("PolicyDocument", allow),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    let (_, v) = run_web(&t).await;
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_task(&t, &arn, "RUNNING").await;
    t.stop().await;
}

#[tokio::test]
async fn env_files_need_the_execution_role_not_the_task_role() {
    // The classic mistake: the env file's permission on the task role.
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    let read = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::conf","arn:aws:s3:::conf/*"]}]}"#;
    for role in ["exec", "app"] {
        t.iam(
            "CreateRole",
            &[("RoleName", role), ("AssumeRolePolicyDocument", ECS_TRUST)],
        )
        .await;
    }
    t.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyName", "env"),
            ("PolicyDocument", read),
        ],
    )
    .await;
    t.create_cluster("c").await;
    t.ecs_ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "taskRoleArn": "app",
            "executionRoleArn": "exec",
            "containerDefinitions": [{
                "name": "app", "image": "web:1", "essential": true,
                "environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::conf/web.env"}],
            }],
        }),
    )
    .await;
    let (status, v) = run_web(&t).await;
    assert_eq!(status, 200, "{v}");
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let task = wait_task(&t, &arn, "STOPPED").await;
    assert_eq!(
        task["stoppedReason"],
        "ResourceInitializationError: failed to download env files: service call has been retried 1 time(s): operation error S3: HeadObject, https response error StatusCode: 403, api error Forbidden: Forbidden."
    );
    // On the execution role the permission is enough: the task gets as far
    // as the object, which does not exist here.
    t.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "exec"),
            ("PolicyName", "env"),
            ("PolicyDocument", read),
        ],
    )
    .await;
    let (_, v) = run_web(&t).await;
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let task = wait_task(&t, &arn, "STOPPED").await;
    let reason = task["stoppedReason"].as_str().unwrap();
    assert!(
        reason.starts_with("ResourceInitializationError: failed to download env files: ")
            && !reason.contains("403"),
        "{reason}"
    );
    t.stop().await;
}

#[tokio::test]
async fn awslogs_needs_create_log_group_on_the_execution_role() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    t.iam(
        "CreateRole",
        &[
            ("RoleName", "exec"),
            ("AssumeRolePolicyDocument", ECS_TRUST),
        ],
    )
    .await;
    // The managed policy has CreateLogStream and PutLogEvents, not
    // CreateLogGroup.
    t.iam(
        "AttachRolePolicy",
        &[
            ("RoleName", "exec"),
            (
                "PolicyArn",
                "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            ),
        ],
    )
    .await;
    t.create_cluster("c").await;
    t.ecs_ok(
        "RegisterTaskDefinition",
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "executionRoleArn": "exec",
            "containerDefinitions": [{
                "name": "app", "image": "web:1", "essential": true,
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "web", "awslogs-create-group": "true"}},
            }],
        }),
    )
    .await;
    let (_, v) = run_web(&t).await;
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    let task_id = arn.rsplit('/').next().unwrap().to_string();
    let task = wait_task(&t, &arn, "STOPPED").await;
    let reason = task["stoppedReason"].as_str().unwrap();
    let want = format!(
        "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log group: AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role/exec/{task_id} is not authorized to perform: logs:CreateLogGroup on resource: arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:log-stream: because no identity-based policy allows the logs:CreateLogGroup action status code: 400, request id: "
    );
    assert!(reason.starts_with(&want), "{reason}");
    assert!(reason.ends_with(" : exit status 1"), "{reason}");
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:CreateLogGroup","Resource":"*"}]}"#;
    t.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "exec"),
            ("PolicyName", "group"),
            ("PolicyDocument", allow),
        ],
    )
    .await;
    let (_, v) = run_web(&t).await;
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_task(&t, &arn, "RUNNING").await;
    t.stop().await;
}

#[tokio::test]
async fn ecs_exec_needs_ssmmessages_on_the_task_role() {
    let t = spawn_app_with(&["--iam", "enforce"]).await;
    t.iam(
        "CreateRole",
        &[("RoleName", "app"), ("AssumeRolePolicyDocument", ECS_TRUST)],
    )
    .await;
    setup(&t, ROLE, None).await;
    let (status, v) = t
        .ecs(
            "RunTask",
            json!({
                "cluster": "c",
                "taskDefinition": "web",
                "launchType": "FARGATE",
                "enableExecuteCommand": true,
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
            }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let arn = v["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    wait_task(&t, &arn, "RUNNING").await;
    let exec = json!({"cluster": "c", "task": arn, "command": "sh", "interactive": true});
    // The agent may report RUNNING a moment after the task.
    let start = std::time::Instant::now();
    let (status, v) = loop {
        let (status, v) = t.ecs("ExecuteCommand", exec.clone()).await;
        if v["__type"] != "InvalidParameterException" || start.elapsed() > Duration::from_secs(5) {
            break (status, v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["__type"], "TargetNotConnectedException");
    assert_eq!(
        v["message"],
        "The execute command failed due to an internal error. Try again later."
    );
    let allow = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssmmessages:CreateControlChannel","ssmmessages:CreateDataChannel","ssmmessages:OpenControlChannel","ssmmessages:OpenDataChannel"],"Resource":"*"}]}"#;
    t.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyName", "exec"),
            ("PolicyDocument", allow),
        ],
    )
    .await;
    let (status, v) = t.ecs("ExecuteCommand", exec).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["session"]["streamUrl"].is_string(), "{v}");
    t.stop().await;
}
