//! Images: nothing can be pulled here, so an image that is not local ends
//! the task as AWS does when a pull fails, and an ECR URI runs from the
//! local image of the same repository and tag.

use std::time::Duration;

use sdk_tests::{Emulator, TEST_IMAGE, UNTIL_TERM, container, sh};

const CLUSTER: &str = "img";
const ECR_IMAGE: &str =
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/fargate-local-test/busybox:latest";
const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";

#[tokio::test]
async fn an_image_that_cannot_be_had_fails_the_task_to_start() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "no-image",
            vec![
                sh("app", UNTIL_TERM)
                    .image("fargate-local-test/does-not-exist:1.0")
                    .build(),
                sh("sidecar", UNTIL_TERM).essential(false).build(),
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
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    let json = || emu.task_json(CLUSTER, &arn);
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart"),
        "{}",
        json()
    );
    let reason = t.stopped_reason().unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError:"), "{reason}");
    assert!(
        reason.starts_with(
            "CannotPullContainerError: failed to resolve ref docker.io/fargate-local-test/does-not-exist:1.0: "
        ),
        "names the reference as the agent does: {reason}"
    );
    let app = container(&t, "app");
    assert_eq!(app.last_status(), Some("STOPPED"));
    assert!(
        app.reason()
            .is_some_and(|r| r.starts_with("CannotPullContainerError:")),
        "{}",
        json()
    );
    assert_eq!(app.exit_code(), None, "it never ran");
    assert_eq!(container(&t, "sidecar").last_status(), Some("STOPPED"));
    assert_eq!(
        container(&t, "sidecar").exit_code(),
        None,
        "nothing started: {}",
        json()
    );
    assert!(t.started_at().is_none(), "{}", json());
    assert!(
        t.pull_started_at().is_some() && t.pull_stopped_at().is_some(),
        "{}",
        json()
    );
    assert!(t.stopped_at().is_some() && t.stopping_at().is_some());
    emu.stop();
}

#[tokio::test]
async fn an_ecr_image_uri_runs_from_the_local_image() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;

    // As on AWS, an ECR image needs an execution role to be pulled with.
    let err = emu
        .client()
        .register_task_definition()
        .family("ecr")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(sh("app", UNTIL_TERM).image(ECR_IMAGE).build())
        .send()
        .await
        .expect_err("no execution role");
    let svc = err.as_service_error().expect("a service error");
    assert!(svc.is_client_exception(), "{err:?}");
    assert_eq!(
        aws_sdk_ecs::error::ProvideErrorMetadata::message(svc),
        Some("Fargate requires task definition to have execution role ARN to support ECR images.")
    );

    let td = emu
        .register_with(
            "ecr",
            vec![sh("app", UNTIL_TERM).image(ECR_IMAGE).build()],
            |r| r.execution_role_arn(EXECUTION_ROLE),
        )
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let t = emu
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(60))
        .await;
    let app = container(&t, "app");
    assert_eq!(
        app.image(),
        Some(ECR_IMAGE),
        "the task shows the image it was given"
    );
    let local = sdk_tests::docker(&["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE]);
    assert_eq!(
        app.image_digest(),
        Some(local.as_str()),
        "and runs the local image"
    );

    emu.stop_task(CLUSTER, &arn, "done").await;
    let t = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        container(&t, "app").exit_code(),
        Some(0),
        "{}",
        emu.task_json(CLUSTER, &arn)
    );
    emu.stop();
}
