//! A [testcontainers] module for fargate-local: starts the emulator's image
//! (`make image` builds `fargate-local:dev`) with the one `docker run` line
//! of `fargate-local serve --help` (the host's network, the Docker socket,
//! `/tmp/fargate-local-instances` at the same path), waits until it is
//! healthy with Docker connected, and gives its endpoint URL, region and a
//! `reset()` between tests.
//!
//! The documented pattern: one emulator per test session, `reset()` between
//! tests, [`FargateLocalContainer::stop`] at the end (a graceful stop
//! removes the tasks of an in-memory emulator; a container merely dropped
//! is killed, and the next emulator to start sweeps what it left). Each
//! emulator listens on ports the kernel picks (read back from its log), so
//! parallel sessions on one engine neither collide nor see each other's
//! tasks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use testcontainers_fargate_local::FargateLocal;
//! let emu = FargateLocal::default().with_region("eu-west-1").start().await?;
//! let endpoint = emu.endpoint_url(); // http://127.0.0.1:<port>
//! // ... point the AWS SDK at `endpoint`, region `emu.region()` ...
//! emu.reset().await?;
//! emu.stop().await?;
//! # Ok(()) }
//! ```
//!
//! It deliberately does not publish ports or join networks: the emulator
//! must be on the host's network to reach its tasks and to serve front
//! doors on the host (see the README's "Running the emulator in Docker").

use std::borrow::Cow;
use std::time::{Duration, Instant};

use testcontainers::core::{Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, Image, ImageExt};

pub use testcontainers;

/// The image `make image` builds.
pub const IMAGE: &str = "fargate-local";
/// Its tag for the working tree's build.
pub const TAG: &str = "dev";
/// Where in-memory instances keep their lock files and run directories: at
/// the same path on the host and in the container.
pub const INSTANCES_DIR: &str = "/tmp/fargate-local-instances";
/// The Docker engine's socket, mounted into the emulator.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The log line an emulator writes once it serves.
const SERVING: &str = "fargate-local is serving";

/// An error of this module.
#[derive(Debug)]
pub enum Error {
    /// Starting, stopping or reading the container failed.
    Container(testcontainers::TestcontainersError),
    /// The emulator started but did not become usable; the text says why.
    Emulator(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Container(e) => write!(f, "fargate-local container: {e}"),
            Error::Emulator(e) => write!(f, "fargate-local: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<testcontainers::TestcontainersError> for Error {
    fn from(e: testcontainers::TestcontainersError) -> Self {
        Error::Container(e)
    }
}

/// The emulator's image and its settings; [`FargateLocal::start`] runs it.
#[derive(Debug, Clone)]
pub struct FargateLocal {
    tag: String,
    in_memory: bool,
    account_id: Option<String>,
    region: String,
    serve_args: Vec<String>,
    env: Vec<(String, String)>,
    mounts: Vec<Mount>,
}

impl Default for FargateLocal {
    fn default() -> Self {
        FargateLocal {
            tag: TAG.to_string(),
            in_memory: true,
            account_id: None,
            region: "us-east-1".to_string(),
            serve_args: Vec::new(),
            env: Vec::new(),
            mounts: vec![
                Mount::bind_mount(DOCKER_SOCKET, DOCKER_SOCKET),
                Mount::bind_mount(INSTANCES_DIR, INSTANCES_DIR),
            ],
        }
    }
}

impl FargateLocal {
    /// Another tag of `fargate-local` (default `dev`).
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    /// `false`: keep the state in the image's `/data` (lost with the
    /// container; the default, `true`, serves `--in-memory`).
    pub fn with_in_memory(mut self, in_memory: bool) -> Self {
        self.in_memory = in_memory;
        self
    }

    /// `--account-id`: the account in every ARN.
    pub fn with_account_id(mut self, account: impl Into<String>) -> Self {
        self.account_id = Some(account.into());
        self
    }

    /// `--region`: the region of unsigned requests (signed ones carry
    /// theirs), and [`FargateLocalContainer::region`].
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// More `serve` flags, as on the command line (`--front-door`,
    /// `--iam enforce`, `--forward URL` ...).
    pub fn with_serve_args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.serve_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable of the emulator (`FARGATE_LOCAL_LOG` ...).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The `serve` command line this image runs with.
    fn serve_command(&self) -> Vec<String> {
        let mut cmd: Vec<String> = [
            "serve",
            // Ports the kernel picks, read back from the log: parallel
            // sessions never race for one.
            "--listen",
            "127.0.0.1:0",
            "--s3-listen",
            "127.0.0.1:0",
            "--region",
            &self.region,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.in_memory {
            cmd.push("--in-memory".into());
        } else {
            cmd.extend(["--data-dir".into(), "/data".into()]);
        }
        if let Some(a) = &self.account_id {
            cmd.extend(["--account-id".into(), a.clone()]);
        }
        cmd.extend(self.serve_args.iter().cloned());
        cmd
    }

    /// Starts the emulator and waits until it serves with Docker connected
    /// (within 60 s).
    pub async fn start(self) -> Result<FargateLocalContainer, Error> {
        let region = self.region.clone();
        let account = self
            .account_id
            .clone()
            .unwrap_or_else(|| "000000000000".into());
        let container = self
            .with_network("host")
            .with_startup_timeout(Duration::from_secs(60))
            .start()
            .await?;
        let log = String::from_utf8_lossy(&container.stderr_to_vec().await?).into_owned();
        let serving = serving_line(&log, SERVING)
            .ok_or_else(|| Error::Emulator(format!("no `{SERVING}` line in its log:\n{log}")))?;
        let listen = field(&serving, "listen")
            .ok_or_else(|| Error::Emulator(format!("no listen address in {serving}")))?;
        let instance = field(&serving, "instance").unwrap_or_default();
        let s3 = serving_line(&log, "S3 is serving").and_then(|l| field(&l, "listen"));
        let emu = FargateLocalContainer {
            endpoint: format!("http://{listen}"),
            addr: listen,
            s3_endpoint: s3.map(|a| format!("http://{a}")),
            region,
            account,
            instance,
            container,
        };
        emu.wait_healthy(Duration::from_secs(60)).await?;
        Ok(emu)
    }
}

/// The last JSON log line whose message is `message`.
fn serving_line(log: &str, message: &str) -> Option<serde_json::Value> {
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == message)
}

fn field(line: &serde_json::Value, name: &str) -> Option<String> {
    line["fields"][name].as_str().map(str::to_string)
}

impl Image for FargateLocal {
    fn name(&self) -> &str {
        IMAGE
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stderr(SERVING)]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        let mut env = vec![
            ("FARGATE_LOCAL_LOG_FORMAT".to_string(), "json".to_string()),
            ("NO_COLOR".to_string(), "1".to_string()),
        ];
        env.extend(self.env.iter().cloned());
        env
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.serve_command()
    }
}

/// A running emulator.
pub struct FargateLocalContainer {
    container: ContainerAsync<FargateLocal>,
    addr: String,
    endpoint: String,
    s3_endpoint: Option<String>,
    region: String,
    account: String,
    instance: String,
}

impl FargateLocalContainer {
    /// `http://127.0.0.1:<port>`: every service's endpoint (S3 too).
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// The embedded S3's own port, `http://127.0.0.1:<port>`, when serving.
    pub fn s3_endpoint_url(&self) -> Option<&str> {
        self.s3_endpoint.as_deref()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account_id(&self) -> &str {
        &self.account
    }

    /// The id that labels this emulator's Docker objects
    /// (`fargate-local.instance`).
    pub fn instance_id(&self) -> &str {
        &self.instance
    }

    /// The container, for its id and logs.
    pub fn container(&self) -> &ContainerAsync<FargateLocal> {
        &self.container
    }

    /// Everything the emulator's log holds so far.
    pub async fn logs(&self) -> Result<String, Error> {
        let err = self.container.stderr_to_vec().await?;
        Ok(String::from_utf8_lossy(&err).into_owned())
    }

    /// `POST /_fargate-local/reset`: every task's containers removed, every
    /// service's state cleared (front doors of `--front-door` stay).
    pub async fn reset(&self) -> Result<(), Error> {
        match http(&self.addr, "POST", "/_fargate-local/reset").await {
            Ok((200, _)) => Ok(()),
            Ok((code, body)) => Err(Error::Emulator(format!("reset answered {code}: {body}"))),
            Err(e) => Err(Error::Emulator(format!("reset: {e}"))),
        }
    }

    /// Stops the emulator gracefully (an in-memory one removes its tasks,
    /// networks and volumes), then removes its container.
    pub async fn stop(self) -> Result<(), Error> {
        self.container.stop_with_timeout(Some(30)).await?;
        self.container.rm().await?;
        Ok(())
    }

    async fn wait_healthy(&self, within: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + within;
        loop {
            let last = match http(&self.addr, "GET", "/_fargate-local/health").await {
                Ok((200, body)) if body.contains("\"docker\":\"connected\"") => return Ok(()),
                Ok((code, body)) => format!("{code} {body}"),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                let log = self.logs().await.unwrap_or_default();
                return Err(Error::Emulator(format!(
                    "not healthy with Docker connected within {within:?} (last answer: {last}); its log:\n{log}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// One HTTP/1.0 exchange: status and body.
async fn http(addr: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
    tcp.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::other("no answer within 30 s"))??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_follows_the_settings() {
        let cmd = FargateLocal::default().serve_command().join(" ");
        assert_eq!(
            cmd,
            "serve --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 --region us-east-1 --in-memory"
        );
        let cmd = FargateLocal::default()
            .with_in_memory(false)
            .with_region("eu-west-1")
            .with_account_id("123456789012")
            .with_serve_args(["--iam", "enforce"])
            .serve_command()
            .join(" ");
        assert_eq!(
            cmd,
            "serve --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 --region eu-west-1 --data-dir /data --account-id 123456789012 --iam enforce"
        );
    }

    #[test]
    fn reads_the_addresses_from_the_json_log() {
        let log = r#"{"timestamp":"t","level":"INFO","fields":{"message":"S3 is serving","listen":"127.0.0.1:40001"},"target":"fargate_local"}
{"timestamp":"t","level":"INFO","fields":{"message":"fargate-local is serving","listen":"127.0.0.1:40000","data_dir":"None","instance":"abc123"},"target":"fargate_local"}
not json"#;
        let serving = serving_line(log, SERVING).unwrap();
        assert_eq!(
            field(&serving, "listen").as_deref(),
            Some("127.0.0.1:40000")
        );
        assert_eq!(field(&serving, "instance").as_deref(), Some("abc123"));
        let s3 = serving_line(log, "S3 is serving").unwrap();
        assert_eq!(field(&s3, "listen").as_deref(), Some("127.0.0.1:40001"));
        assert!(serving_line("nothing", SERVING).is_none());
    }
}
