//! `environmentFiles` end to end on real Docker: files uploaded with
//! aws-sdk-s3 to the embedded S3 reach the container with the agent's line
//! rules and precedence (environment > secrets > first file > later files,
//! last duplicate within a file wins); an override's list replaces the
//! definition's; every failure stops the task before its containers exist;
//! the external-S3 path (`--s3-endpoint`) reads from another S3 server.

use std::time::Duration;

use aws_sdk_ecs::types::{
    ContainerOverride, EnvironmentFile, EnvironmentFileType, KeyValuePair, LaunchType, Secret,
    TaskOverride,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::types::ParameterType;
use sdk_tests::{Emulator, UNTIL_TERM, container, docker, s3_client, sh, task_container};

const CLUSTER: &str = "files";
const EXEC_ROLE: &str = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole";

fn file(arn: &str) -> EnvironmentFile {
    EnvironmentFile::builder()
        .value(arn)
        .r#type(EnvironmentFileType::S3)
        .build()
        .expect("an env file")
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
}

/// The container's environment, printed by `env` before it waits.
async fn env_of(task_arn: &str) -> Vec<String> {
    let name = task_container(task_arn, "app");
    for _ in 0..100 {
        let out = docker(&["logs", &name]);
        if out.contains("END") {
            return out.lines().map(str::to_string).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} printed no environment");
}

async fn register(emu: &Emulator, family: &str, files: Vec<EnvironmentFile>, role: bool) -> String {
    let secret = Secret::builder()
        .name("S")
        .value_from("/files/s")
        .build()
        .unwrap();
    let c = sh("app", &format!("env; echo END; {UNTIL_TERM}"))
        .environment(KeyValuePair::builder().name("E").value("env").build())
        .set_environment_files(Some(files));
    let c = if role { c.secrets(secret) } else { c };
    emu.register_with(family, vec![c.build()], |r| {
        if role {
            r.execution_role_arn(EXEC_ROLE)
        } else {
            r
        }
    })
    .await
}

async fn run_and_read(emu: &Emulator, td: &str, overrides: Option<TaskOverride>) -> Vec<String> {
    let out = emu
        .client()
        .run_task()
        .cluster(CLUSTER)
        .task_definition(td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .set_overrides(overrides)
        .send()
        .await
        .unwrap();
    let arn = out.tasks()[0].task_arn().unwrap().to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    let env = env_of(&arn).await;
    emu.stop_task(CLUSTER, &arn, "read").await;
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    env
}

fn has(env: &[String], line: &str) -> bool {
    env.iter().any(|l| l == line)
}

#[tokio::test]
async fn env_files_follow_the_agent_rules_and_precedence() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let s3 = emu.s3();
    s3.create_bucket()
        .bucket("app-config")
        .send()
        .await
        .unwrap();
    put(
        &s3,
        "app-config",
        "web/first.env",
        b"# a comment\nA=first\nB=first\nB=first-last\nE=file\nS=file\nQ=\"quoted value\" \nEQ=x=y\nNOEQUALS\n=novar\nCR=crlf\r\n",
    )
    .await;
    put(&s3, "app-config", "web/second.env", b"A=second\nC=second\n").await;
    emu.ssm()
        .put_parameter()
        .name("/files/s")
        .value("secret")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let td = register(
        &emu,
        "with-files",
        vec![
            file("arn:aws:s3:::app-config/web/first.env"),
            file("arn:aws:s3:::app-config/web/second.env"),
        ],
        true,
    )
    .await;

    let env = run_and_read(&emu, &td, None).await;
    for want in [
        "E=env",
        "S=secret",
        "A=first",
        "B=first-last",
        "C=second",
        "Q=\"quoted value\" ",
        "EQ=x=y",
        "CR=crlf",
    ] {
        assert!(has(&env, want), "{want} missing from {env:#?}");
    }
    assert!(!env.iter().any(|l| l.starts_with("NOEQUALS")));

    // An override's list replaces the definition's.
    let ov = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name("app")
                .environment_files(file("arn:aws:s3:::app-config/web/second.env"))
                .build(),
        )
        .build();
    let env = run_and_read(&emu, &td, Some(ov)).await;
    assert!(has(&env, "A=second"), "{env:#?}");
    assert!(!env.iter().any(|l| l.starts_with("B=")), "{env:#?}");
    emu.stop();
}

#[tokio::test]
async fn env_file_failures_stop_the_task_before_its_containers_exist() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let s3 = emu.s3();
    s3.create_bucket().bucket("cfg").send().await.unwrap();
    put(&s3, "cfg", "bad.env", b"A=1\nB=\xff\n").await;
    emu.ssm()
        .put_parameter()
        .name("/files/s")
        .value("secret")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    const PREFIX: &str = "ResourceInitializationError: failed to download env files: ";
    let cases: Vec<(&str, &str, bool, String)> = vec![
        (
            "missing-object",
            "arn:aws:s3:::cfg/nope.env",
            true,
            format!(
                "{PREFIX}service call has been retried 1 time(s): operation error S3: HeadObject, https response error StatusCode: 404, RequestID: "
            ),
        ),
        (
            "missing-bucket",
            "arn:aws:s3:::no-such-bucket/app.env",
            true,
            format!(
                "{PREFIX}service call has been retried 1 time(s): operation error S3: HeadObject, https response error StatusCode: 404, RequestID: "
            ),
        ),
        (
            "bad-arn",
            "s3://cfg/app.env",
            true,
            format!(
                "{PREFIX}unable to parse bucket and key from s3 ARN specified in environmentFile s3://cfg/app.env, error: invalid s3 arn: s3://cfg/app.env"
            ),
        ),
        (
            "bad-utf8",
            "arn:aws:s3:::cfg/bad.env",
            true,
            format!("{PREFIX}env file bad.env contains invalid utf8 bytes at line 2"),
        ),
        (
            "no-role",
            "arn:aws:s3:::cfg/bad.env",
            false,
            format!("{PREFIX}environment file resource: unable to find execution role credentials"),
        ),
    ];
    let mut runs = Vec::new();
    for (family, arn, role, reason) in cases {
        let td = register(&emu, family, vec![file(arn)], role).await;
        let t = emu.run_task(CLUSTER, &td).await;
        runs.push((t.task_arn().unwrap().to_string(), reason));
    }
    for (arn, reason) in runs {
        let t = emu
            .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
            .await;
        assert_eq!(t.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
        let got = t.stopped_reason().unwrap_or_default();
        assert!(got.starts_with(&reason), "{got}\nwanted: {reason}");
        assert_eq!(container(&t, "app").exit_code(), None);
    }

    // Registration allows at most 10 files per container.
    let eleven: Vec<EnvironmentFile> = (0..11)
        .map(|i| file(&format!("arn:aws:s3:::cfg/{i}.env")))
        .collect();
    let e = emu
        .client()
        .register_task_definition()
        .family("eleven")
        .container_definitions(
            sh("app", "true")
                .set_environment_files(Some(eleven))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ecs::error::ProvideErrorMetadata::code(&e),
        Some("ClientException")
    );
    emu.stop();
}

/// `--s3-endpoint`: env files come from another S3 server (here a second
/// fargate-local's S3 port, a separate process), not the embedded one.
#[tokio::test]
async fn env_files_from_an_external_s3() {
    let external = Emulator::start();
    let ext = s3_client(&external.s3_endpoint());
    ext.create_bucket().bucket("remote").send().await.unwrap();
    put(&ext, "remote", "app.env", b"FROM=external\n").await;

    let endpoint = external.s3_endpoint();
    let emu = Emulator::start_with(&["--s3-endpoint", &endpoint]);
    emu.create_cluster(CLUSTER).await;
    // The same bucket in the embedded S3 must not be read.
    emu.s3()
        .create_bucket()
        .bucket("remote")
        .send()
        .await
        .unwrap();
    put(&emu.s3(), "remote", "app.env", b"FROM=embedded\n").await;
    emu.ssm()
        .put_parameter()
        .name("/files/s")
        .value("secret")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    let td = register(
        &emu,
        "external",
        vec![file("arn:aws:s3:::remote/app.env")],
        true,
    )
    .await;
    let env = run_and_read(&emu, &td, None).await;
    assert!(has(&env, "FROM=external"), "{env:#?}");

    // The external S3 going away is a failure to start.
    external.stop();
    let t = emu.run_task(CLUSTER, &td).await;
    let arn = t.task_arn().unwrap();
    let t = emu
        .wait_status(CLUSTER, arn, "STOPPED", Duration::from_secs(90))
        .await;
    let reason = t.stopped_reason().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError: failed to download env files: service call has been retried 1 time(s): RequestCanceled"),
        "{reason}"
    );
    emu.stop();
}
