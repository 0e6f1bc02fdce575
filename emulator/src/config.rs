//! Command-line and environment configuration (`FARGATE_LOCAL_*`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fargate-local",
    version,
    about = "A local AWS ECS-on-Fargate emulator: the ECS API on one endpoint, tasks as real Docker containers."
)]
pub struct Cli {
    /// The emulator's own log: `text` (coloured only on a terminal, and
    /// never when NO_COLOR is set) or `json` (one JSON object a line, for
    /// CI systems and log collectors). The filter is FARGATE_LOCAL_LOG.
    #[arg(
        long,
        global = true,
        env = "FARGATE_LOCAL_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once at start-up: the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the AWS APIs and run tasks on the local Docker engine.
    #[command(after_help = IN_A_CONTAINER)]
    Serve(ServeArgs),
    /// Remove every Docker container, network and volume labelled
    /// fargate-local.managed=true (of any emulator instance), and every
    /// fargate-local-infra image; exits 1 if Docker refuses any.
    Cleanup,
    /// Open a shell (or run a command) in a running task's container through
    /// ECS Exec, as `aws ecs execute-command --interactive` does, without
    /// the session-manager-plugin. Exits with the command's exit code.
    Exec(crate::exec::client::ExecArgs),
    /// What the tasks' traffic would cost behind a NAT gateway: bytes by
    /// class (AWS APIs by service, image pulls, inside the VPC, other) and
    /// the VPC endpoint what-ifs, from a running emulator (its
    /// `GET /_fargate-local/egress`).
    Egress(crate::services::egress::cli::EgressArgs),
    /// Ask a running emulator what a task's roles were used for:
    /// `iam policy --task <id|arn>` prints the least-privilege policies of
    /// its task role and execution role.
    #[command(subcommand)]
    Iam(crate::services::iam::cli::IamCommand),
    /// Run the FireLens log router stand-in (a Fluent Bit subset) with a
    /// classic-mode Fluent Bit config, as a task's log router does.
    Firelens(crate::firelens::FirelensArgs),
    /// The health check of the stand-in router (internal): sends a record to
    /// its health-check input, 127.0.0.1:8877, as AWS's suggested FireLens
    /// check does with `nc`; exits 0 when the router took it.
    #[command(hide = true)]
    FirelensHealth,
    /// The process of a task's infrastructure container (internal).
    #[command(hide = true)]
    Infra,
    /// The image's health check (internal): GET /_fargate-local/health on
    /// the serving address (FARGATE_LOCAL_LISTEN); exits 0 on a 200.
    #[command(hide = true)]
    Health {
        #[arg(long, env = "FARGATE_LOCAL_LISTEN", default_value = "127.0.0.1:4566")]
        listen: SocketAddr,
    },
}

/// `fargate-local health`: the image has no curl. A listener on every
/// address is asked on loopback.
pub fn health_check(listen: SocketAddr) -> i32 {
    use std::io::{Read, Write};
    use std::time::Duration;
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let answer = (|| -> std::io::Result<String> {
        let mut tcp = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        tcp.set_read_timeout(Some(Duration::from_secs(2)))?;
        tcp.write_all(b"GET /_fargate-local/health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 16];
        let n = tcp.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    })();
    match answer {
        Ok(a) if a.starts_with("HTTP/1.1 200") || a.starts_with("HTTP/1.0 200") => 0,
        Ok(a) => {
            eprintln!(
                "fargate-local health: {addr} answered {:?}",
                a.lines().next().unwrap_or("")
            );
            1
        }
        Err(e) => {
            eprintln!("fargate-local health: {addr}: {e}");
            1
        }
    }
}

/// The one `docker run` line of the emulator's image (README, compose.yaml
/// and the testcontainers modules use it unchanged), printed by
/// `serve --help`.
pub const IN_A_CONTAINER: &str = "\
In a container (the image `make image` builds), as on the host:
  docker run --rm --network host \\
    -v /var/run/docker.sock:/var/run/docker.sock \\
    -v /tmp/fargate-local-instances:/tmp/fargate-local-instances \\
    fargate-local:dev
The host's network (required): the API, S3's port and front doors are on
the host's 127.0.0.1, and the emulator reaches its tasks (health checks,
load balancers). The socket: tasks run on the host's engine. The instances
directory at the same path on both sides: the engine bind-mounts the task
endpoint's sockets and FireLens configs from it (--run-dir). Add
`-v fargate-local-data:/data` to keep the state (the image serves with
--data-dir /data), or pass `serve --in-memory`.";

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback only by default.
    #[arg(long, env = "FARGATE_LOCAL_LISTEN", default_value = "127.0.0.1:4566")]
    pub listen: SocketAddr,

    /// Directory of the durable state (default: $XDG_DATA_HOME/fargate-local,
    /// or ~/.local/share/fargate-local).
    #[arg(long, env = "FARGATE_LOCAL_DATA_DIR", conflicts_with = "in_memory")]
    pub data_dir: Option<PathBuf>,

    /// Keep no state on disk; every task is removed when the emulator exits.
    #[arg(long, env = "FARGATE_LOCAL_IN_MEMORY")]
    pub in_memory: bool,

    /// Where the task endpoint's sockets and FireLens configs go, in
    /// `<DIR>/<instance>.run`; the Docker engine bind-mounts them into
    /// tasks, so an emulator in a container needs DIR mounted at the same
    /// path on both sides. Default: the data directory's `run`, or
    /// `$TMPDIR/fargate-local-instances` in memory.
    #[arg(long, env = "FARGATE_LOCAL_RUN_DIR", value_name = "DIR")]
    pub run_dir: Option<PathBuf>,

    /// The AWS account id in every ARN.
    #[arg(long, env = "FARGATE_LOCAL_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,

    /// The region used when a request is not signed (signed requests carry
    /// their region in the SigV4 credential scope).
    #[arg(long, env = "FARGATE_LOCAL_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Host address on which tasks' container ports are published.
    #[arg(
        long,
        env = "FARGATE_LOCAL_PUBLISH_ADDRESS",
        default_value = "127.0.0.1"
    )]
    pub publish_address: String,

    /// fsync every state write (survives power loss; slower). Without it a
    /// write survives a crash of the emulator.
    #[arg(long, env = "FARGATE_LOCAL_FSYNC")]
    pub fsync: bool,

    /// Set AWS_ENDPOINT_URL in every task container to this emulator (as
    /// http://169.254.170.2:4566), so SDKs inside tasks call it.
    #[arg(
        long,
        env = "FARGATE_LOCAL_TASK_ENDPOINT_URL",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub task_endpoint_url: bool,

    /// Seconds a STOPPED task stays describable (AWS keeps them about an hour).
    #[arg(
        long,
        env = "FARGATE_LOCAL_STOPPED_TASK_RETENTION",
        default_value_t = 3600
    )]
    pub stopped_task_retention: u64,

    /// At most this many STOPPED tasks are kept per region (those that
    /// stopped last); older ones are forgotten before their retention ends,
    /// so a long test run's memory stays bounded. AWS sets no such count.
    #[arg(long, env = "FARGATE_LOCAL_STOPPED_TASK_LIMIT", default_value_t = 1000)]
    pub stopped_task_limit: usize,

    /// Pass every request for an AWS service fargate-local does not serve
    /// (DynamoDB, SNS, ...) unchanged to this emulator (a moto server,
    /// LocalStack), e.g. `http://127.0.0.1:5000`, and its answer back.
    #[arg(
        long,
        env = "FARGATE_LOCAL_FORWARD",
        value_name = "URL",
        value_parser = parse_forward
    )]
    pub forward: Option<String>,

    /// How many container creates, starts and removals the emulator asks
    /// of the Docker engine at once (and four times as many stops); tasks
    /// past it wait in PROVISIONING or PENDING, as on Fargate when capacity
    /// is short. Default: twice the CPUs, at least 4.
    #[arg(long, env = "FARGATE_LOCAL_ENGINE_CONCURRENCY", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub engine_concurrency: Option<u16>,

    /// Roles: `off` (never evaluated), `warn` (evaluated; what `enforce`
    /// would refuse is logged and allowed) or `enforce` (refused with AWS's
    /// errors). Today: RunTask and the service scheduler check that ECS can
    /// assume the task role and the execution role (the role exists and
    /// trusts `ecs-tasks.amazonaws.com`).
    #[arg(
        long = "iam",
        env = "FARGATE_LOCAL_IAM",
        value_name = "MODE",
        default_value = "warn",
        value_enum
    )]
    pub iam: crate::services::iam::Mode,

    /// Fargate's rate quota on RunTask calls, per region, as a token bucket:
    /// `BURST:RATE` a second, `RATE`, or `off`. AWS's: 20 calls a second.
    /// Over it, RunTask answers `ThrottlingException` (SDKs retry it).
    #[arg(
        long,
        env = "FARGATE_LOCAL_RUN_TASK_RATE",
        value_name = "QUOTA",
        default_value = "20:20",
        value_parser = crate::domain::rate::Quota::parse
    )]
    pub run_task_rate: crate::domain::rate::Quota,

    /// Fargate's rate quota on tasks launched by RunTask, per region:
    /// `BURST:RATE`, `RATE` or `off`. AWS's: 100 at once, then 20 a second.
    #[arg(
        long,
        env = "FARGATE_LOCAL_TASK_LAUNCH_RATE",
        value_name = "QUOTA",
        default_value = "100:20",
        value_parser = crate::domain::rate::Quota::parse
    )]
    pub task_launch_rate: crate::domain::rate::Quota,

    /// What runs as a task's FireLens log router: `stand-in` (this
    /// binary's engine, `fargate-local firelens`, in place of the router's
    /// image; its outputs call this emulator) or `image` (the router's own
    /// image unchanged, such as the real aws-for-fluent-bit; its AWS outputs
    /// then need `endpoint` options pointing at this emulator).
    #[arg(
        long,
        env = "FARGATE_LOCAL_FIRELENS_ROUTER",
        value_enum,
        default_value = "stand-in"
    )]
    pub firelens_router: crate::services::firelens::RouterMode,

    /// Give a service a local load balancer without the ELBv2 API:
    /// `[<cluster>/]<service>:<container>:<containerPort>=<hostPort>`, then
    /// optionally `,<setting>=<value>` for the target group's
    /// health-check-path, health-check-interval-seconds,
    /// health-check-timeout-seconds, healthy-threshold-count,
    /// unhealthy-threshold-count, matcher and deregistration-delay (AWS's
    /// defaults otherwise). The host port round-robins HTTP to the
    /// service's healthy tasks. Repeatable; the environment variable takes
    /// several, separated by spaces.
    #[arg(
        long = "front-door",
        env = "FARGATE_LOCAL_FRONT_DOOR",
        value_name = "SPEC",
        value_delimiter = ' '
    )]
    pub front_door: Vec<FrontDoorArg>,

    /// `SUBNET_ID=NETWORK`: a task whose awsvpcConfiguration names the subnet
    /// also joins the existing Docker network (a compose project's
    /// `myapp_default`), so that its containers reach that network's
    /// containers by name and they reach the task at the address
    /// DescribeTasks reports. Repeatable; the environment variable takes
    /// several, separated by spaces.
    #[arg(
        long = "subnet",
        env = "FARGATE_LOCAL_SUBNETS",
        value_name = "SUBNET_ID=NETWORK",
        value_delimiter = ' '
    )]
    pub subnet: Vec<SubnetArg>,

    /// The egress lens: `on` counts each task's bytes by destination
    /// (connection tracking's counters in its namespace, its API socket by
    /// AWS service)
    /// for `fargate-local egress`; `off` counts nothing.
    #[arg(
        long,
        env = "FARGATE_LOCAL_EGRESS",
        value_name = "on|off",
        default_value = "on",
        value_parser = clap::builder::PossibleValuesParser::new(["on", "off"])
    )]
    pub egress: String,

    /// The NAT gateway's processing charge in US dollars per GB the egress
    /// lens prices with, instead of the region's from its table.
    #[arg(long, env = "FARGATE_LOCAL_NAT_PRICE_PER_GB", value_name = "USD", value_parser = parse_price)]
    pub nat_price_per_gb: Option<f64>,

    #[command(flatten)]
    pub s3: S3Args,
}

fn parse_price(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Ok(p),
        _ => Err(format!(
            "`{s}` is not a price in dollars (for instance 0.045)"
        )),
    }
}

/// S3: the embedded one and where tasks' env files come from. Kept in one
/// group so that `serve` stays readable.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// Address of the embedded S3's own port (path-style, SigV4); default
    /// 127.0.0.1:4572, skipped with a warning when that is taken. Requests
    /// without X-Amz-Target on the main port go to S3 as well. `off`
    /// serves S3 on the main port only.
    #[arg(long, env = "FARGATE_LOCAL_S3_LISTEN")]
    pub s3_listen: Option<String>,

    /// The secret key SigV4 signatures are checked with by the embedded S3
    /// (any access key is accepted), and the credentials used with
    /// --s3-endpoint.
    #[arg(long, env = "FARGATE_LOCAL_S3_SECRET_KEY", default_value = "test")]
    pub s3_secret_key: String,

    /// Access key used with --s3-endpoint.
    #[arg(long, env = "FARGATE_LOCAL_S3_ACCESS_KEY", default_value = "test")]
    pub s3_access_key: String,

    /// An external S3 (such as MinIO) to read tasks' env files from,
    /// instead of the embedded one: `http://127.0.0.1:9000`.
    #[arg(long, env = "FARGATE_LOCAL_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
}

/// One `--front-door` value; blank (an empty or doubly spaced
/// `FARGATE_LOCAL_FRONT_DOOR`) is none.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontDoorArg(pub Option<crate::lb::FrontDoorSpec>);

impl std::str::FromStr for FrontDoorArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(FrontDoorArg(None));
        }
        s.parse().map(|f| FrontDoorArg(Some(f)))
    }
}

/// One `--subnet` value; blank (an empty or doubly spaced
/// `FARGATE_LOCAL_SUBNETS`) is none.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetArg(pub Option<(String, String)>);

impl std::str::FromStr for SubnetArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(SubnetArg(None));
        }
        let bad =
            || format!("`{s}` is not SUBNET_ID=NETWORK (for instance subnet-0abc=myapp_default)");
        let (subnet, network) = s.split_once('=').ok_or_else(bad)?;
        let (subnet, network) = (subnet.trim(), network.trim());
        if subnet.is_empty() || network.is_empty() || network.contains('=') {
            return Err(bad());
        }
        // Docker's rule for network names.
        let docker_name = network
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && network
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if !docker_name {
            return Err(format!("`{network}` is not a Docker network name"));
        }
        Ok(SubnetArg(Some((subnet.to_string(), network.to_string()))))
    }
}

impl ServeArgs {
    /// `--egress on`.
    pub fn egress_on(&self) -> bool {
        self.egress == "on"
    }

    /// The `--subnet` values, subnet id to Docker network (a subnet given
    /// twice: the last wins).
    pub fn subnets(&self) -> std::collections::BTreeMap<String, String> {
        self.subnet.iter().filter_map(|s| s.0.clone()).collect()
    }

    /// The `--front-door` values given.
    pub fn front_doors(&self) -> impl Iterator<Item = &crate::lb::FrontDoorSpec> {
        self.front_door.iter().filter_map(|f| f.0.as_ref())
    }

    /// `--engine-concurrency`, or its default for this machine.
    pub fn engine_concurrency(&self) -> usize {
        self.engine_concurrency.map(usize::from).unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            (2 * cpus).max(4)
        })
    }

    /// Always absolute: task directories under it are bind-mounted, and
    /// Docker takes a relative source for a volume name (`make run` passes
    /// `--data-dir .fargate-local`).
    pub fn data_dir(&self) -> Option<PathBuf> {
        if self.in_memory {
            return None;
        }
        let dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        Some(std::path::absolute(&dir).unwrap_or(dir))
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("fargate-local");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/fargate-local")
}

/// `--forward`: an http:// URL (checked here, so that a bad one is refused
/// before anything starts).
fn parse_forward(url: &str) -> Result<String, String> {
    crate::api::forward::Forwarder::parse(url).map(|f| f.target().to_string())
}

/// What to do when an address cannot be bound: the address, the likely
/// cause and the flag that changes it (`what`: "the API", ...).
pub fn listen_error(addr: SocketAddr, e: &std::io::Error, what: &str, flag: &str) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::AddrInUse => format!(
            "cannot listen on {addr} for {what}: the address is already in use, probably by another \
             fargate-local or another AWS emulator (LocalStack also takes 4566). Stop it, or choose another \
             address with {flag}."
        ),
        ErrorKind::PermissionDenied => format!(
            "cannot listen on {addr} for {what}: permission denied (ports below 1024 need privileges). \
             Choose another address with {flag}."
        ),
        ErrorKind::AddrNotAvailable => format!(
            "cannot listen on {addr} for {what}: no interface of this machine has that address. \
             Choose another address with {flag} (127.0.0.1:PORT, or 0.0.0.0:PORT in a container)."
        ),
        _ => {
            format!("cannot listen on {addr} for {what}: {e}. Choose another address with {flag}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let argv = ["fargate-local", "serve"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(a) => a,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn subnets_map_to_docker_networks() {
        let a = serve(&["--subnet", "subnet-1=myapp_default", "--subnet", "s2=net.b"]);
        let m = a.subnets();
        assert_eq!(m.get("subnet-1").map(String::as_str), Some("myapp_default"));
        assert_eq!(m.get("s2").map(String::as_str), Some("net.b"));
        for bad in [
            "subnet-1",
            "=net",
            "subnet-1=",
            "s=a=b",
            "s=-net",
            "s=my net!",
        ] {
            let argv = ["fargate-local", "serve", "--subnet", bad];
            let e = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(
                e.contains("SUBNET_ID=NETWORK") || e.contains("Docker network name"),
                "{bad}: {e}"
            );
        }
        assert_eq!(" ".parse::<SubnetArg>(), Ok(SubnetArg(None)));
    }

    #[test]
    fn a_relative_data_dir_is_made_absolute() {
        let dir = serve(&["--data-dir", ".fargate-local"]).data_dir().unwrap();
        assert!(dir.is_absolute(), "{}", dir.display());
        assert_eq!(dir, std::env::current_dir().unwrap().join(".fargate-local"));
        assert_eq!(serve(&["--in-memory"]).data_dir(), None);
    }
}
