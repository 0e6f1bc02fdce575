//! The awslogs log driver with real containers: output reaches
//! `<group>/<prefix>/<container>/<task id>` with multi-line joining, a fast
//! writer loses nothing, the last lines are there as soon as the task shows
//! STOPPED, a missing group without `awslogs-create-group` fails the task as
//! on Fargate, and registration needs an execution role.

use std::time::Duration;

use aws_sdk_ecs::types::{LogConfiguration, LogDriver};
use sdk_tests::{Emulator, sh};

const EXEC_ROLE: &str = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole";

fn awslogs(group: &str, extra: &[(&str, &str)]) -> LogConfiguration {
    let mut b = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", group)
        .options("awslogs-region", "us-east-1")
        .options("awslogs-stream-prefix", "ecs");
    for (k, v) in extra {
        b = b.options(*k, *v);
    }
    b.build().unwrap()
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

async fn messages(emu: &Emulator, group: &str, stream: &str) -> Vec<String> {
    let logs = emu.logs_client();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetLogEvents {group} {stream}: {e:?}"));
        out.extend(
            page.events()
                .iter()
                .map(|e| e.message().unwrap().to_string()),
        );
        let next = page.next_forward_token().unwrap().to_string();
        if token.as_deref() == Some(next.as_str()) {
            return out;
        }
        token = Some(next);
    }
}

#[tokio::test]
async fn output_reaches_the_group_with_multiline_and_nothing_lost() {
    let emu = Emulator::start();
    emu.create_cluster("awslogs").await;
    let app = sh(
        "app",
        "echo 'Started GET /'; echo '  Completed 200 OK'; echo 'Started GET /boom'; \
         echo '  RuntimeError: boom'; echo '  app.rb:12'; sleep 0.3; echo 'Started shutdown' >&2",
    )
    .essential(true)
    .log_configuration(awslogs(
        "/ecs/awslogs-test",
        &[
            ("awslogs-create-group", "true"),
            ("awslogs-multiline-pattern", "^Started"),
        ],
    ))
    .build();
    let worker = sh(
        "worker",
        "i=0; while [ $i -lt 3000 ]; do echo \"job $i\"; i=$((i+1)); done",
    )
    .essential(false)
    .log_configuration(awslogs(
        "/ecs/awslogs-test",
        &[("mode", "non-blocking"), ("max-buffer-size", "4m")],
    ))
    .build();
    let td = emu
        .register_with("awslogs", vec![app, worker], |b| {
            b.execution_role_arn(EXEC_ROLE)
        })
        .await;
    let task = emu.run_task("awslogs", &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let stopped = emu
        .wait_status("awslogs", &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        stopped.stopped_reason(),
        Some("Essential container in task exited")
    );
    let id = task_id(&arn);

    // No waiting: STOPPED means the last lines are stored.
    let app_events = messages(&emu, "/ecs/awslogs-test", &format!("ecs/app/{id}")).await;
    assert_eq!(
        app_events,
        [
            "Started GET /\n  Completed 200 OK\n",
            "Started GET /boom\n  RuntimeError: boom\n  app.rb:12\n",
            "Started shutdown\n",
        ]
    );
    let worker_events = messages(&emu, "/ecs/awslogs-test", &format!("ecs/worker/{id}")).await;
    assert_eq!(worker_events.len(), 3000, "the worker's lines");
    for (i, m) in worker_events.iter().enumerate() {
        assert_eq!(m, &format!("job {i}"));
    }
    emu.stop();
}

#[tokio::test]
async fn a_missing_group_fails_the_task_and_registration_needs_a_role() {
    let emu = Emulator::start();
    emu.create_cluster("awslogs").await;
    let c = || {
        sh("app", "echo hi")
            .log_configuration(awslogs("/ecs/does-not-exist", &[]))
            .build()
    };
    let refused = emu
        .client()
        .register_task_definition()
        .family("norole")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(c())
        .send()
        .await
        .unwrap_err();
    let e = refused.as_service_error().unwrap();
    assert!(e.is_client_exception(), "{e:?}");
    assert_eq!(
        e.meta().message(),
        Some(
            "Fargate requires task definition to have execution role ARN to support log driver awslogs."
        )
    );

    let td = emu
        .register_with("nogroup", vec![c()], |b| b.execution_role_arn(EXEC_ROLE))
        .await;
    let task = emu.run_task("awslogs", &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let stopped = emu
        .wait_status("awslogs", &arn, "STOPPED", Duration::from_secs(60))
        .await;
    let reason = stopped.stopped_reason().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError: failed to validate logger args:")
            && reason
                .contains("ResourceNotFoundException: The specified log group does not exist."),
        "{reason}"
    );
    emu.stop();
}
