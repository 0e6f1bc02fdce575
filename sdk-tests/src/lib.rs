//! The harness of the black-box tests: it starts a real `fargate-local serve`
//! process on a free loopback port (in memory, or on a durable data
//! directory that survives `kill -9` and a restart), hands out an
//! `aws_sdk_ecs::Client` pointed at it, and offers the helpers the tests
//! share: Fargate task definitions, RunTask with awsvpc, polling
//! DescribeTasks with a clear failure, and Docker's CLI for acting behind
//! the emulator's back.
//!
//! It deliberately knows nothing of the emulator's internals: it sees the
//! API, the process, and Docker objects through their labels. It never
//! builds anything and never skips: a missing binary, an unreachable Docker
//! engine or a missing test image fails the test with what to do about it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;
use aws_sdk_ecs::config::{Credentials, Region};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType,
    NetworkConfiguration, NetworkMode, Task,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

/// The image every test runs: Debian's static busybox on scratch, built by
/// `make setup` (scripts/build-test-images.sh). Nothing can be pulled here.
pub const TEST_IMAGE: &str = "fargate-local-test/busybox:latest";

/// The subnet every task is "placed" in.
pub const SUBNET: &str = "subnet-0123456789abcdef0";

/// A shell loop that runs until SIGTERM and then exits 0 at once: `wait`
/// returns as soon as a trapped signal arrives, where a foreground `sleep`
/// would delay the trap until it finished.
pub const UNTIL_TERM: &str = "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done";

/// Docker labels the emulator puts on its objects (the ECS agent's own
/// labels are on task containers too).
pub const LABEL_INSTANCE: &str = "fargate-local.instance";
pub const LABEL_TASK_ARN: &str = "fargate-local.task-arn";

// ------------------------------------------------------------------ preflight

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sdk-tests lives in the workspace")
        .to_path_buf()
}

/// The emulator binary: `FARGATE_LOCAL_BIN`, else the workspace's debug
/// build.
pub fn emulator_bin() -> PathBuf {
    std::env::var_os("FARGATE_LOCAL_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/fargate-local"))
}

/// `FARGATE_LOCAL_IMAGE`: run the emulator from this image (`make image`
/// builds `fargate-local:dev`) with the `docker run` line of
/// `serve --help`, instead of the binary on the host.
pub fn emulator_image() -> Option<String> {
    std::env::var("FARGATE_LOCAL_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Where in-memory instances keep their lock files and run directories:
/// bind-mounted at the same path into an emulator in a container.
const INSTANCES_DIR: &str = "/tmp/fargate-local-instances";

/// Checks, once per test binary, what every test needs; the same message
/// fails every test when something is missing.
fn preflight() -> &'static Result<(), String> {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let bin = emulator_bin();
        if let Some(image) = emulator_image() {
            let found = Command::new("docker")
                .args(["image", "inspect", "--format", "{{.Id}}", &image])
                .output()
                .map_err(|e| format!("the docker CLI cannot be run ({e})"))?;
            if !found.status.success() {
                return Err(format!(
                    "FARGATE_LOCAL_IMAGE={image}: the image is missing: run `make image`"
                ));
            }
        } else if !bin.is_file() {
            return Err(format!(
                "the emulator binary {} does not exist: build it first with `cargo build -p fargate-local` \
                 (or point FARGATE_LOCAL_BIN at one)",
                bin.display()
            ));
        }
        let info = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output();
        match info {
            Err(e) => return Err(format!("the docker CLI cannot be run ({e}); these tests need Docker")),
            Ok(o) if !o.status.success() => {
                return Err(format!(
                    "the Docker engine is not reachable (`docker info` failed: {}); these tests run real \
                     containers and cannot pass without it",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
            Ok(_) => {}
        }
        let image = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE])
            .output()
            .map_err(|e| e.to_string())?;
        if !image.status.success() {
            return Err(format!(
                "the test image {TEST_IMAGE} is missing: run `make setup` (it builds the test images \
                 locally; nothing can be pulled)"
            ));
        }
        Ok(())
    })
}

// ------------------------------------------------------------------ raw HTTP

/// A minimal HTTP/1.0 exchange (so no server answers chunked): status and
/// body. Used for the emulator's own endpoints, raw API calls and the
/// tasks' published ports.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    Ok((status, body.to_string()))
}

pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    http(addr, "GET", path, &[], b"")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ------------------------------------------------------------------ Docker CLI

/// Runs the docker CLI and returns its stdout; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}"));
    if !out.status.success() {
        panic!(
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn lines(s: String) -> Vec<String> {
    s.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The Docker container running `container` of a task, found by the ECS
/// labels every task container carries.
pub fn task_container(task_arn: &str, container: &str) -> String {
    let ids = lines(docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.amazonaws.ecs.task-arn={task_arn}"),
        "--filter",
        &format!("label=com.amazonaws.ecs.container-name={container}"),
    ]));
    match ids.as_slice() {
        [id] => id.clone(),
        other => {
            panic!("expected one Docker container for {container} of {task_arn}, found {other:?}")
        }
    }
}

/// Every Docker container of a task (its containers and the infrastructure
/// container holding its network namespace).
pub fn task_docker_containers(task_arn: &str) -> Vec<String> {
    lines(docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={LABEL_TASK_ARN}={task_arn}"),
    ]))
}

/// Containers, networks and volumes that carry an emulator instance's label.
fn instance_objects(instance: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let filter = format!("label={LABEL_INSTANCE}={instance}");
    (
        lines(docker(&["ps", "-aq", "--filter", &filter])),
        lines(docker(&["network", "ls", "-q", "--filter", &filter])),
        lines(docker(&["volume", "ls", "-q", "--filter", &filter])),
    )
}

/// Force-removes what an instance of ours left (only ever our own).
fn remove_instance_objects(instance: &str) {
    let (c, n, v) = instance_objects(instance);
    for id in c {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &id])
            .output();
    }
    for id in n {
        let _ = Command::new("docker").args(["network", "rm", &id]).output();
    }
    for id in v {
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &id])
            .output();
    }
}

// ------------------------------------------------------------------ emulator

/// An ECS client for an emulator on `port` (static test credentials,
/// us-east-1).
fn ecs_client(port: u16) -> Client {
    Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                None,
                "sdk-tests",
            ))
            .build(),
    )
}

/// A running `fargate-local serve` and an ECS client for it. Dropping it
/// stops the emulator gracefully (SIGINT), which removes every Docker object
/// an in-memory instance made; a durable instance is reset first so that it
/// too leaves nothing behind.
pub struct Emulator {
    port: u16,
    /// The embedded S3's own port.
    s3_port: u16,
    /// More `serve` arguments.
    extra: Vec<String>,
    data_dir: Option<PathBuf>,
    child: Option<Child>,
    log_dir: tempfile::TempDir,
    instance: Option<String>,
    client: Client,
}

impl Emulator {
    /// `serve --in-memory` on a free port.
    pub fn start() -> Emulator {
        Self::launch(None, Vec::new())
    }

    /// `serve --data-dir <dir>` on a free port: state survives a restart.
    pub fn start_durable(dir: &Path) -> Emulator {
        Self::launch(Some(dir.to_path_buf()), Vec::new())
    }

    /// `serve --data-dir <dir>` with more arguments.
    pub fn start_durable_with(dir: &Path, args: &[&str]) -> Emulator {
        Self::launch(
            Some(dir.to_path_buf()),
            args.iter().map(|a| a.to_string()).collect(),
        )
    }

    /// `serve --in-memory` with more arguments.
    pub fn start_with(args: &[&str]) -> Emulator {
        Self::launch(None, args.iter().map(|a| a.to_string()).collect())
    }

    fn launch(data_dir: Option<PathBuf>, extra: Vec<String>) -> Emulator {
        if let Err(e) = preflight() {
            panic!("sdk-tests cannot run: {e}");
        }
        let port = free_port();
        let mut emu = Emulator {
            port,
            s3_port: free_port(),
            extra,
            data_dir,
            child: None,
            log_dir: tempfile::tempdir().expect("a temporary directory for the emulator log"),
            instance: None,
            client: ecs_client(port),
        };
        // A port found free can be taken before the emulator binds it: by
        // an outgoing connection or a port Docker publishes, both drawn
        // from the same ephemeral range while other tests run. A first
        // start then tries other ports; a restart must keep its port.
        for attempt in 1.. {
            emu.spawn_child();
            match emu.wait_healthy() {
                Ok(()) => break,
                Err(exited)
                    if attempt < 5 && emu.log_tail(5).contains("Address already in use") =>
                {
                    eprintln!("sdk-tests: {exited}; starting it again on other ports");
                    std::fs::remove_file(emu.log_path()).ok();
                    emu.port = free_port();
                    emu.s3_port = free_port();
                    emu.client = ecs_client(emu.port);
                }
                Err(exited) => panic!("{exited}; its log:\n{}", emu.log_tail(50)),
            }
        }
        emu.instance = emu.find_instance_id();
        emu
    }

    fn log_path(&self) -> PathBuf {
        self.log_dir.path().join("emulator.log")
    }

    fn spawn(&mut self) {
        self.spawn_child();
        if let Err(exited) = self.wait_healthy() {
            panic!("{exited}; its log:\n{}", self.log_tail(50));
        }
        self.instance = self.find_instance_id();
    }

    fn spawn_child(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("the emulator log file");
        let mut cmd = match emulator_image() {
            None => Command::new(emulator_bin()),
            Some(image) => {
                // The one line of `serve --help`, plus a name to signal it
                // by, the log settings, and the data directory at its own
                // path.
                let mut cmd = Command::new("docker");
                cmd.args(["run", "--rm", "--name", &self.container_name()])
                    .args(["--network", "host"])
                    .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"])
                    .args(["-v", &format!("{INSTANCES_DIR}:{INSTANCES_DIR}")])
                    .args(["-e", "NO_COLOR=1"])
                    .args(["-e", "FARGATE_LOCAL_LOG=info,fargate_local=debug"]);
                if let Some(dir) = &self.data_dir {
                    let d = dir.display();
                    cmd.args(["-v", &format!("{d}:{d}")]);
                }
                cmd.arg(image);
                cmd
            }
        };
        cmd.arg("serve").arg("--listen").arg(self.addr());
        match &self.data_dir {
            Some(dir) => cmd.arg("--data-dir").arg(dir),
            None => cmd.arg("--in-memory"),
        };
        cmd.arg("--s3-listen")
            .arg(format!("127.0.0.1:{}", self.s3_port))
            .args(&self.extra);
        // The environment must not change what the command line says.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("FARGATE_LOCAL_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("NO_COLOR", "1")
            .env("FARGATE_LOCAL_LOG", "info,fargate_local=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", emulator_bin().display()));
        self.child = Some(child);
    }

    /// Waits until `/_fargate-local/health` answers and reports Docker
    /// connected; an emulator that exits first is an error (it says with
    /// what status). Not becoming healthy in time is a failure at once.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last: String;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!(
                    "the emulator on {} exited ({status}) before it served",
                    self.addr()
                ));
            }
            match http_get(&self.addr(), "/_fargate-local/health") {
                Ok((200, body)) => {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    if v["docker"] == "connected" {
                        return Ok(());
                    }
                    last = body;
                }
                Ok((code, body)) => last = format!("{code} {body}"),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                panic!(
                    "the emulator on {} did not become healthy with Docker connected within 20 s (last answer: {last}); its log:\n{}",
                    self.addr(),
                    self.log_tail(50)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn find_instance_id(&self) -> Option<String> {
        let log = strip_ansi(&std::fs::read_to_string(self.log_path()).unwrap_or_default());
        log.lines()
            .rev()
            .filter(|l| l.contains("fargate-local is serving"))
            .find_map(|l| {
                let rest = &l[l.find("instance=")? + "instance=".len()..];
                Some(
                    rest.split_whitespace()
                        .next()?
                        .trim_matches('"')
                        .to_string(),
                )
            })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// A Secrets Manager client for this emulator (same port as ECS).
    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version_latest()
                .endpoint_url(self.endpoint())
                .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                    "AKIDTEST",
                    "secret",
                    None,
                    None,
                    "sdk-tests",
                ))
                .build(),
        )
    }

    /// The embedded S3's own endpoint.
    pub fn s3_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// An S3 client for the embedded S3's own port: path-style, signed
    /// with the secret key the emulator checks (`--s3-secret-key`, "test").
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.s3_endpoint())
    }

    /// An SSM client for this emulator (same port as ECS).
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::Config::builder()
                .behavior_version_latest()
                .endpoint_url(self.endpoint())
                .region(aws_sdk_ssm::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                    "AKIDTEST",
                    "secret",
                    None,
                    None,
                    "sdk-tests",
                ))
                .build(),
        )
    }

    /// An SQS client for this emulator (same port as ECS; awsJson1.0).
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        sqs_client(&self.endpoint())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A CloudWatch Logs client for the same endpoint.
    pub fn logs_client(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::Config::builder()
                .behavior_version_latest()
                .endpoint_url(self.endpoint())
                .region(aws_sdk_cloudwatchlogs::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new(
                    "AKIDTEST",
                    "secret",
                    None,
                    None,
                    "sdk-tests",
                ))
                .build(),
        )
    }

    /// The emulator instance id that labels its Docker objects.
    pub fn instance_id(&self) -> &str {
        self.instance
            .as_deref()
            .expect("the emulator logs its instance id when it starts serving")
    }

    /// The last `n` lines the emulator logged (for failure messages).
    pub fn log_tail(&self, n: usize) -> String {
        let log = strip_ansi(&std::fs::read_to_string(self.log_path()).unwrap_or_default());
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(n)..].join("\n")
    }

    /// The name of the emulator's container (with FARGATE_LOCAL_IMAGE).
    fn container_name(&self) -> String {
        format!(
            "fargate-local-sdk-test-{}-{}",
            std::process::id(),
            self.port
        )
    }

    fn signal(&self, sig: Signal) {
        let Some(child) = &self.child else {
            return;
        };
        if emulator_image().is_some() {
            // To the emulator itself: `docker run` cannot pass on SIGKILL.
            let _ = Command::new("docker")
                .args(["kill", "--signal", sig.as_str(), &self.container_name()])
                .output();
        } else {
            let _ = kill(Pid::from_raw(child.id() as i32), sig);
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    self.child = None;
                    return true;
                }
                Ok(None) if Instant::now() > deadline => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// `kill -9`: the emulator dies at once and cleans nothing up.
    pub fn kill9(&mut self) {
        self.signal(Signal::SIGKILL);
        assert!(
            self.wait_exit(Duration::from_secs(10)),
            "the emulator survived SIGKILL"
        );
    }

    /// SIGINT, and wait for the emulator to exit (a durable one leaves its
    /// running tasks for the next start).
    pub fn interrupt(&mut self) {
        self.signal(Signal::SIGINT);
        assert!(
            self.wait_exit(Duration::from_secs(60)),
            "the emulator did not exit on SIGINT; its log:\n{}",
            self.log_tail(30)
        );
    }

    /// Starts the emulator again on the same port (and data directory).
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart() needs the emulator to have stopped first"
        );
        self.spawn();
    }

    /// Stops the emulator gracefully and checks that it left no Docker
    /// object behind. A durable instance is reset first (it keeps running
    /// tasks for the next start otherwise).
    pub fn stop(mut self) {
        let instance = self.instance_id().to_string();
        self.shutdown();
        let (c, n, v) = instance_objects(&instance);
        if !(c.is_empty() && n.is_empty() && v.is_empty()) {
            remove_instance_objects(&instance);
            panic!(
                "the emulator left Docker objects behind: containers {c:?}, networks {n:?}, volumes {v:?}; its log:\n{}",
                self.log_tail(40)
            );
        }
    }

    fn shutdown(&mut self) {
        if self.child.is_none() {
            return;
        }
        if self.data_dir.is_some() {
            let _ = http(&self.addr(), "POST", "/_fargate-local/reset", &[], b"");
        }
        self.signal(Signal::SIGINT);
        if !self.wait_exit(Duration::from_secs(60)) {
            self.signal(Signal::SIGKILL);
            self.wait_exit(Duration::from_secs(10));
        }
    }

    // -------------------------------------------------------------- raw API

    /// An ECS call as raw awsJson1.1 (unsigned, so the default region):
    /// the exact JSON the emulator sends, for fields and failure messages.
    pub fn raw_ecs(&self, op: &str, body: Value) -> (u16, Value) {
        let target = format!("AmazonEC2ContainerServiceV20141113.{op}");
        let (status, text) = http(
            &self.addr(),
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", &target),
            ],
            body.to_string().as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{op} failed to reach the emulator: {e}"));
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// DescribeTasks for one task, as the JSON the emulator sent.
    pub fn task_json(&self, cluster: &str, task_arn: &str) -> Value {
        let (_, v) = self.raw_ecs(
            "DescribeTasks",
            json!({"cluster": cluster, "tasks": [task_arn]}),
        );
        v["tasks"].get(0).cloned().unwrap_or(v)
    }

    // -------------------------------------------------------------- ECS helpers

    pub async fn create_cluster(&self, name: &str) {
        self.client
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateCluster {name}: {e:?}"));
    }

    /// A Fargate task definition (awsvpc, 256 CPU units, 512 MiB) with these
    /// containers; returns its ARN.
    pub async fn register(&self, family: &str, containers: Vec<ContainerDefinition>) -> String {
        self.register_with(family, containers, |b| b).await
    }

    /// As `register`, with the request adjusted by `f` (volumes, roles ...).
    pub async fn register_with(
        &self,
        family: &str,
        containers: Vec<ContainerDefinition>,
        f: impl FnOnce(
            aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
        ) -> aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
    ) -> String {
        let req = self
            .client
            .register_task_definition()
            .family(family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .set_container_definitions(Some(containers));
        let out = f(req)
            .send()
            .await
            .unwrap_or_else(|e| panic!("RegisterTaskDefinition {family}: {e:?}"));
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .expect("a registered task definition has an ARN")
            .to_string()
    }

    pub fn awsvpc() -> NetworkConfiguration {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(SUBNET)
                    .security_groups("sg-0123456789abcdef0")
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .expect("awsvpc configuration"),
            )
            .build()
    }

    /// RunTask of one Fargate task with an awsvpc network configuration.
    pub async fn run_task(&self, cluster: &str, task_definition: &str) -> Task {
        let out = self
            .client
            .run_task()
            .cluster(cluster)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .network_configuration(Self::awsvpc())
            .send()
            .await
            .unwrap_or_else(|e| panic!("RunTask {task_definition}: {e:?}"));
        assert!(
            out.failures().is_empty(),
            "RunTask failures: {:?}",
            out.failures()
        );
        assert_eq!(out.tasks().len(), 1, "RunTask returned {:?}", out.tasks());
        out.tasks()[0].clone()
    }

    pub async fn describe_task(&self, cluster: &str, task_arn: &str) -> Task {
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTasks {task_arn}: {e:?}"));
        assert!(
            out.failures().is_empty(),
            "DescribeTasks failures: {:?}",
            out.failures()
        );
        out.tasks()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("DescribeTasks returned no task for {task_arn}"))
    }

    pub async fn stop_task(&self, cluster: &str, task_arn: &str, reason: &str) -> Task {
        self.client
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason)
            .send()
            .await
            .unwrap_or_else(|e| panic!("StopTask {task_arn}: {e:?}"))
            .task()
            .cloned()
            .expect("StopTask returns the task")
    }

    /// Polls DescribeTasks every 100 ms until `done` holds; on timeout,
    /// panics with `what`, the task's JSON and the emulator's log.
    pub async fn wait_task(
        &self,
        cluster: &str,
        task_arn: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Task) -> bool,
    ) -> Task {
        let start = Instant::now();
        loop {
            let t = self.describe_task(cluster, task_arn).await;
            if done(&t) {
                return t;
            }
            if start.elapsed() > timeout {
                self.fail(
                    cluster,
                    task_arn,
                    &format!("timed out after {timeout:?} waiting for {what}"),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// RunTask of `task_definition`, then [`Emulator::wait_status`] for
    /// `status`: the task's ARN and the task as it then is.
    pub async fn run_until(
        &self,
        cluster: &str,
        task_definition: &str,
        status: &str,
        timeout: Duration,
    ) -> (String, Task) {
        let arn = self
            .run_task(cluster, task_definition)
            .await
            .task_arn()
            .expect("a task has an ARN")
            .to_string();
        let t = self.wait_status(cluster, &arn, status, timeout).await;
        (arn, t)
    }

    /// Waits for `lastStatus == status`. Waiting for RUNNING fails at once
    /// when the task stops instead, as `aws ecs wait tasks-running` does.
    pub async fn wait_status(
        &self,
        cluster: &str,
        task_arn: &str,
        status: &str,
        timeout: Duration,
    ) -> Task {
        let start = Instant::now();
        loop {
            let t = self.describe_task(cluster, task_arn).await;
            let last = t.last_status().unwrap_or_default();
            if last == status {
                return t;
            }
            if status == "RUNNING" && last == "STOPPED" {
                self.fail(
                    cluster,
                    task_arn,
                    "the task STOPPED while waiting for RUNNING",
                );
            }
            if start.elapsed() > timeout {
                self.fail(
                    cluster,
                    task_arn,
                    &format!(
                        "timed out after {timeout:?} waiting for lastStatus {status} (it is {last})"
                    ),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Panics with the task's JSON and the end of the emulator's log.
    pub fn fail(&self, cluster: &str, task_arn: &str, what: &str) -> ! {
        let json =
            serde_json::to_string_pretty(&self.task_json(cluster, task_arn)).unwrap_or_default();
        panic!(
            "{what}\n--- task {task_arn}:\n{json}\n--- emulator log (last 30 lines):\n{}",
            self.log_tail(30)
        );
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
        // Whatever is left (a test that failed between kill -9 and restart)
        // belongs to this instance alone.
        if let Some(instance) = &self.instance {
            remove_instance_objects(instance);
        }
    }
}

/// An S3 client for any S3 endpoint with the credentials test/test.
/// An SQS client for `endpoint`, signed like the other test clients.
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(endpoint)
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                None,
                "sdk-tests",
            ))
            .build(),
    )
}

pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .endpoint_url(endpoint)
            .force_path_style(true)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "sdk-tests",
            ))
            .build(),
    )
}

// ------------------------------------------------------------------ task definitions

/// A container of the test image running `sh -c <script>`, with a 2 s
/// stopTimeout so that tasks stop quickly.
pub fn sh(name: &str, script: &str) -> aws_sdk_ecs::types::builders::ContainerDefinitionBuilder {
    ContainerDefinition::builder()
        .name(name)
        .image(TEST_IMAGE)
        .command("sh")
        .command("-c")
        .command(script)
        .stop_timeout(2)
}

/// A container by name from a task.
pub fn container<'a>(task: &'a Task, name: &str) -> &'a aws_sdk_ecs::types::Container {
    task.containers()
        .iter()
        .find(|c| c.name() == Some(name))
        .unwrap_or_else(|| panic!("no container {name} in {task:#?}"))
}

/// Seconds since the epoch of an SDK timestamp.
pub fn secs(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> f64 {
    let t = t.expect("timestamp present");
    t.secs() as f64 + f64::from(t.subsec_nanos()) / 1e9
}

#[cfg(test)]
mod tests {
    #[test]
    fn ansi_sequences_are_stripped() {
        let cases = [
            ("plain", "plain"),
            (
                "\u{1b}[3minstance\u{1b}[0m\u{1b}[2m=\u{1b}[0mabc",
                "instance=abc",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(super::strip_ansi(input), want);
        }
    }
}
