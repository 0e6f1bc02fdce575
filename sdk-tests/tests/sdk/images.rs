//! Images: nothing can be pulled from the internet here, so an image that
//! is not local ends the task as AWS does when a pull fails, and an ECR URI
//! runs from the local image of the same repository and tag. A private
//! registry's `repositoryCredentials` are checked against a real registry
//! the test runs itself (Debian's `docker-registry`, with htpasswd auth).

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

/// A private registry on 127.0.0.1 (Debian's `docker-registry`, the
/// Distribution registry Docker Hub runs) that wants a user and password;
/// stopped and removed when dropped. The Docker engine treats 127.0.0.0/8
/// registries as plain HTTP ones.
struct Registry {
    child: std::process::Child,
    dir: std::path::PathBuf,
    host: String,
}

impl Registry {
    fn start(user: &str, password: &str) -> Registry {
        use std::process::{Command, Stdio};
        let dir = std::env::temp_dir().join(format!("fl-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd (Debian's apache2-utils; make setup installs it) is in PATH");
        assert!(out.status.success(), "htpasswd: {out:?}");
        std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        std::fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {host}\nauth:\n  htpasswd:\n    realm: fargate-local-test\n    path: {}\n",
                dir.join("data").display(),
                dir.join("htpasswd").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "docker-registry (Debian's docker-registry; make setup installs it) is in PATH",
            );
        let registry = Registry { child, dir, host };
        // Up once /v2/ asks for credentials.
        let start = std::time::Instant::now();
        loop {
            if let Ok((401, _)) = sdk_tests::http_get(&registry.host, "/v2/") {
                return registry;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the registry at {} did not answer",
                registry.host
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The docker CLI with a configuration of its own (a login here does not
    /// touch the user's).
    fn docker(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("docker");
        cmd.arg("--config")
            .arg(self.dir.join("docker-config"))
            .args(args);
        cmd
    }

    /// Pushes an image of its own (the test image with a label, so that
    /// the push's digest does not land on the image other tests compare
    /// with) as `<registry>/<repo>` and removes it locally, so that it can
    /// only be had by a pull. Returns the reference and the image's id.
    fn push(&self, user: &str, password: &str, repo: &str) -> (String, String) {
        let image = format!("{}/{repo}", self.host);
        let mut build = std::process::Command::new("docker")
            .args(["build", "-q", "-t", &image, "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker build");
        {
            use std::io::Write;
            let mut stdin = build.stdin.take().unwrap();
            write!(
                stdin,
                "FROM {TEST_IMAGE}\nLABEL fargate-local.managed=true fargate-local-test.registry={}\n",
                self.host
            )
            .unwrap();
        }
        let out = build.wait_with_output().unwrap();
        assert!(out.status.success(), "docker build: {out:?}");
        let id = sdk_tests::docker(&["image", "inspect", "--format", "{{.Id}}", &image]);
        let mut login = self
            .docker(&["login", &self.host, "-u", user, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker login");
        {
            use std::io::Write;
            let mut stdin = login.stdin.take().unwrap();
            stdin.write_all(password.as_bytes()).unwrap();
        }
        let out = login.wait_with_output().unwrap();
        assert!(out.status.success(), "docker login: {out:?}");
        let out = self
            .docker(&["push", &image])
            .output()
            .expect("docker push");
        assert!(out.status.success(), "docker push: {out:?}");
        sdk_tests::docker(&["rmi", &image]);
        (image, id)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `repositoryCredentials`: the image of a private registry is pulled with
/// the user and password of a Secrets Manager secret (read as the execution
/// role); a wrong password fails the task to start as Fargate does, with a
/// CannotPullContainerError naming the image.
#[tokio::test]
async fn a_private_registry_image_is_pulled_with_its_repository_credentials() {
    let registry = Registry::start("deploy", "s3cret");
    let (image, pushed) = registry.push("deploy", "s3cret", "private/busybox:t1");
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let secret = |name: &str, password: &str| {
        let sm = emu.secrets_manager();
        let value = format!(r#"{{"username":"deploy","password":"{password}"}}"#);
        let name = name.to_string();
        async move {
            sm.create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .expect("CreateSecret")
                .arn()
                .unwrap()
                .to_string()
        }
    };
    let register = |family: &'static str, secret_arn: String| {
        let (emu, image) = (&emu, image.clone());
        async move {
            emu.register_with(
                family,
                vec![
                    sh("app", UNTIL_TERM)
                        .image(&image)
                        .repository_credentials(
                            aws_sdk_ecs::types::RepositoryCredentials::builder()
                                .credentials_parameter(secret_arn)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                ],
                |r| r.execution_role_arn(EXECUTION_ROLE),
            )
            .await
        }
    };

    // A wrong password first, while the image is not local.
    let wrong = secret("registry/wrong", "not-it").await;
    let td = register("private-wrong", wrong).await;
    let (arn, t) = emu
        .run_until(CLUSTER, &td, "STOPPED", Duration::from_secs(60))
        .await;
    assert_eq!(
        t.stop_code().map(|c| c.as_str()),
        Some("TaskFailedToStart"),
        "{}",
        emu.task_json(CLUSTER, &arn)
    );
    let reason = t.stopped_reason().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "CannotPullContainerError: failed to resolve ref {image}: "
        )),
        "{reason}"
    );
    assert!(
        reason.to_lowercase().contains("unauthorized")
            || reason.to_lowercase().contains("authentication required"),
        "the registry's refusal: {reason}"
    );

    // The right one: pulled, and the task runs the registry's image.
    let right = secret("registry/right", "s3cret").await;
    let td = register("private-right", right).await;
    let (arn, t) = emu
        .run_until(CLUSTER, &td, "RUNNING", Duration::from_secs(60))
        .await;
    let pulled = sdk_tests::docker(&["image", "inspect", "--format", "{{.Id}}", &image]);
    assert_eq!(pulled, pushed, "the pushed image came back");
    assert_eq!(container(&t, "app").image(), Some(image.as_str()));
    emu.stop_task(CLUSTER, &arn, "done").await;
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(60))
        .await;
    emu.stop();
    sdk_tests::docker(&["rmi", &image]);
    drop(registry);
}
