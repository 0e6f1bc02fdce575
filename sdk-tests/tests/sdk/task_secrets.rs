//! `secrets` in a task definition, end to end on real Docker: values from
//! Secrets Manager (whole secret, JSON key, version stage) and SSM (name,
//! ARN, SecureString) reach the container's environment; every failure
//! ends the task STOPPED with TaskFailedToStart and Fargate's reason before
//! any container is created; values never show in DescribeTasks, labels or
//! the emulator's log.

use std::time::Duration;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{KeyValuePair, Secret};
use aws_sdk_ssm::types::ParameterType;
use sdk_tests::{Emulator, UNTIL_TERM, container, docker, sh, task_container};

const CLUSTER: &str = "config";
const EXEC_ROLE: &str = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole";

fn secret(name: &str, value_from: &str) -> Secret {
    Secret::builder()
        .name(name)
        .value_from(value_from)
        .build()
        .expect("a secret")
}

async fn register(emu: &Emulator, family: &str, secrets: Vec<Secret>, script: &str) -> String {
    emu.register_with(
        family,
        vec![
            sh("app", script)
                .environment(KeyValuePair::builder().name("E").value("env").build())
                .set_secrets(Some(secrets))
                .build(),
        ],
        |r| r.execution_role_arn(EXEC_ROLE),
    )
    .await
}

#[tokio::test]
async fn secrets_reach_the_environment_and_nowhere_else() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let sm = emu.secrets_manager();
    let arn = sm
        .create_secret()
        .name("prod/db")
        .secret_string(r#"{"password":"s3cr3t-old","port":5432}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    sm.put_secret_value()
        .secret_id("prod/db")
        .secret_string(r#"{"password":"s3cr3t-new"}"#)
        .send()
        .await
        .unwrap();
    sm.create_secret()
        .name("token")
        .secret_string("t0ken-value")
        .send()
        .await
        .unwrap();
    let ssm = emu.ssm();
    ssm.put_parameter()
        .name("/web/api-key")
        .value("ap1-key")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/web/plain")
        .value("pl4in")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();

    let partial = arn.rsplit_once('-').unwrap().0.to_string();
    let td = register(
        &emu,
        "with-secrets",
        vec![
            secret("DB_PASSWORD", &format!("{partial}:password::")),
            secret("OLD_PASSWORD", &format!("{arn}:password:AWSPREVIOUS:")),
            secret("PORT", &format!("{partial}:port:AWSPREVIOUS:")),
            secret("WHOLE", &arn),
            secret(
                "TOKEN",
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:token",
            ),
            secret("API_KEY", "/web/api-key"),
            secret(
                "PLAIN",
                "arn:aws:ssm:us-east-1:000000000000:parameter/web/plain",
            ),
        ],
        &format!("env | sort; echo END; {UNTIL_TERM}"),
    )
    .await;
    let arn_task = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn_task, "RUNNING", Duration::from_secs(60))
        .await;
    let name = task_container(&arn_task, "app");
    let mut out = String::new();
    for _ in 0..50 {
        out = docker(&["logs", &name]);
        if out.contains("END") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let env: Vec<&str> = out.lines().collect();
    for want in [
        "E=env",
        "DB_PASSWORD=s3cr3t-new",
        "OLD_PASSWORD=s3cr3t-old",
        "PORT=5432",
        r#"WHOLE={"password":"s3cr3t-new"}"#,
        "TOKEN=t0ken-value",
        "API_KEY=ap1-key",
        "PLAIN=pl4in",
    ] {
        assert!(env.contains(&want), "{want} missing from:\n{out}");
    }

    // Nowhere else: not DescribeTasks, not labels, not the log.
    let described = emu.task_json(CLUSTER, &arn_task).to_string();
    let labels = docker(&["inspect", "--format", "{{json .Config.Labels}}", &name]);
    let log = emu.log_tail(100_000);
    for value in ["s3cr3t", "t0ken-value", "ap1-key", "pl4in"] {
        assert!(!described.contains(value), "{value} in DescribeTasks");
        assert!(!labels.contains(value), "{value} in the labels");
        assert!(!log.contains(value), "{value} in the emulator's log");
    }
    emu.stop_task(CLUSTER, &arn_task, "done").await;
    emu.wait_status(CLUSTER, &arn_task, "STOPPED", Duration::from_secs(30))
        .await;
    emu.stop();
}

#[tokio::test]
async fn every_failure_stops_the_task_before_its_containers_exist() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let sm = emu.secrets_manager();
    let arn = sm
        .create_secret()
        .name("json")
        .secret_string(r#"{"a":"1"}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    sm.create_secret()
        .name("doomed")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    sm.delete_secret()
        .secret_id("doomed")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    const PREFIX: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: ";
    let base = "arn:aws:secretsmanager:us-east-1:000000000000:secret";
    let cases: Vec<(&str, Secret, String)> = vec![
        (
            "missing-param",
            secret("P", "/no/such/param"),
            format!(
                "{PREFIX}unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /no/such/param"
            ),
        ),
        (
            "missing-secret",
            secret("S", &format!("{base}:nope")),
            format!(
                "{PREFIX}unable to retrieve secret from asm: service call has been retried 5 time(s): ResourceNotFoundException: Secrets Manager can't find the specified secret."
            ),
        ),
        (
            "missing-key",
            secret("K", &format!("{arn}:b::")),
            format!(
                "{PREFIX}unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret from Secrets Manager did not contain json key b"
            ),
        ),
        (
            "bad-arn",
            secret("B", &format!("{arn}:a")),
            format!(
                "{PREFIX}an invalid ARN format for the AWS Secrets Manager secret was specified. Specify a valid ARN and try again."
            ),
        ),
        (
            "unknown-version",
            secret(
                "V",
                &format!("{arn}:a::00000000-0000-0000-0000-000000000000"),
            ),
            format!(
                "{PREFIX}unable to retrieve secret from asm: service call has been retried 5 time(s): ResourceNotFoundException: Secrets Manager can't find the specified secret value for VersionId: 00000000-0000-0000-0000-000000000000"
            ),
        ),
        (
            "deleted",
            secret("D", &format!("{base}:doomed")),
            format!(
                "{PREFIX}unable to retrieve secret from asm: service call has been retried 1 time(s): InvalidRequestException: You can't perform this operation on the secret because it was marked for deletion."
            ),
        ),
    ];
    let mut runs = Vec::new();
    for (family, s, reason) in cases {
        let td = register(&emu, family, vec![s], "exit 0").await;
        let arn = emu
            .run_task(CLUSTER, &td)
            .await
            .task_arn()
            .unwrap()
            .to_string();
        runs.push((arn, reason));
    }
    for (arn, reason) in runs {
        let t = emu
            .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
            .await;
        assert_eq!(
            t.stop_code().map(|c| c.as_str()),
            Some("TaskFailedToStart"),
            "{arn}"
        );
        assert_eq!(t.stopped_reason(), Some(reason.as_str()));
        let app = container(&t, "app");
        assert_eq!(app.exit_code(), None, "the container never ran");
        assert!(t.started_at().is_none());
    }

    // Registration: a secret named like an environment variable, and
    // secrets without an execution role.
    let e = emu
        .client()
        .register_task_definition()
        .family("clash")
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .execution_role_arn(EXEC_ROLE)
        .container_definitions(
            sh("app", "true")
                .environment(KeyValuePair::builder().name("X").value("1").build())
                .secrets(secret("X", "/p"))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ClientException"));
    assert_eq!(
        e.message(),
        Some(
            "The secret name must be unique and not shared with any new or existing environment variables set on the container, such as 'X'."
        )
    );
    let e = emu
        .client()
        .register_task_definition()
        .family("no-role")
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(sh("app", "true").secrets(secret("X", "/p")).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ClientException"));
    assert_eq!(
        e.message(),
        Some("Fargate requires task definition to have execution role ARN to support secrets.")
    );
    emu.stop();
}
