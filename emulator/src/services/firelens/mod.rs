//! FireLens on the ECS side: a `TaskHook` that does what the ECS agent does
//! for a task with a log router (a container with `firelensConfiguration`).
//!
//! - Before the containers are created it renders the agent's generated
//!   config ([`config::generate`]) to `<dir>/<taskId>/config/fluent.conf`
//!   (temp file + rename) and makes `<dir>/<taskId>/socket/`.
//! - The router gets both as bind mounts (`/fluent-bit/etc/fluent-bit.conf`,
//!   `/var/run/`). By default it runs the stand-in router instead of its
//!   image: the infrastructure image (this binary) with
//!   `fargate-local firelens --config /fluent-bit/etc/fluent-bit.conf`,
//!   keeping the container's name, essential flag, environment, dependencies,
//!   health check and log configuration. A `config-file-type: file` file
//!   baked into the router's image is copied out of the image (with the
//!   files it includes) into the stand-in's container at the same path.
//!   With `--firelens-router image` the router's own image runs unchanged.
//! - Every `awsfirelens` container logs with Docker's fluentd driver to the
//!   router's unix socket, tagged `<container>-firelens-<taskId>`, and gets
//!   `FLUENT_HOST` / `FLUENT_PORT`.
//! - Ordering (the implicit `dependsOn: START`, the router stopping last) is
//!   in the planner; secret options resolve with the other secrets
//!   (`taskconfig`), as `<name>_<index>` variables of the router.
//! - When the task has stopped, its directory goes.

pub mod config;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::runtime::plan::Secret;
use crate::runtime::plan::{ContainerPlan, TaskPlan};
use crate::runtime::{
    ContainerRuntime, ContainerSpec, Instance, LABEL_ROLE, LABEL_TASK_ARN, TaskHook,
};
use config::{ExternalConfig, RouterType};

/// What runs as the log router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RouterMode {
    /// The emulator's own engine (`fargate-local firelens`) in the
    /// infrastructure image: no registry needed, outputs call the emulator.
    StandIn,
    /// The router container's own image (e.g. the real aws-for-fluent-bit),
    /// unchanged.
    Image,
}

/// The generated config's name in the task's config directory.
pub const CONFIG_FILE: &str = "fluent.conf";
/// The socket's name in the task's socket directory.
pub const SOCKET_FILE: &str = "fluent.sock";
/// The longest path a unix socket address holds (sun_path less its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// The stand-in engine's program and subcommand in the infrastructure image.
const STAND_IN_PROGRAM: &str = "/fargate-local";
const STAND_IN_SUBCOMMAND: &str = "firelens";
/// The stand-in's health check, in place of the router's own.
const STAND_IN_HEALTH_SUBCOMMAND: &str = "firelens-health";
/// How long the containers logging to the router wait for it to listen.
const LISTEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Prefix of the reasons a task fails to start with.
const FAILURE: &str = "ResourceInitializationError: failed to initialize the FireLens log router";

/// The directory of an instance's FireLens files, next to its task sockets.
pub fn firelens_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("firelens")
}

/// The secrets a log router gets from the `secretOptions` of the containers
/// that log to it: `<name>_<index>` (the container's position in the task
/// definition), fetched like its own `secrets`.
pub fn router_secrets(plan: &TaskPlan, c: &ContainerPlan) -> Vec<Secret> {
    if plan.firelens_router().map(|r| r.name.as_str()) != Some(c.name.as_str()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (index, other) in plan.containers.iter().enumerate() {
        if !other.uses_firelens() {
            continue;
        }
        let log = other.log_configuration.as_ref();
        for s in log
            .and_then(|l| l.secret_options.clone())
            .unwrap_or_default()
        {
            out.push(Secret {
                name: config::secret_variable(&s.name, index),
                value_from: s.value_from,
            });
        }
    }
    out
}

/// What `before_create` found for a task, used when its specs are made.
#[derive(Default)]
struct Prepared {
    /// Files of the router's image for the stand-in (a tar archive).
    archive: Option<Vec<u8>>,
}

pub struct FireLens {
    dir: PathBuf,
    instance: Instance,
    mode: RouterMode,
    runtime: Arc<dyn ContainerRuntime>,
    prepared: Mutex<HashMap<String, Prepared>>,
}

impl FireLens {
    pub fn new(
        dir: PathBuf,
        instance: Instance,
        mode: RouterMode,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> Self {
        FireLens {
            dir,
            instance,
            mode,
            runtime,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    fn task_dir(&self, task_id: &str) -> PathBuf {
        self.dir.join(task_id)
    }

    fn config_path(&self, task_id: &str) -> PathBuf {
        self.task_dir(task_id).join("config").join(CONFIG_FILE)
    }

    /// The task's socket directory: under the task's directory, or, when
    /// that would make the socket's path too long for a unix address, a
    /// short directory in the temporary directory.
    pub fn socket_dir(&self, task_id: &str) -> PathBuf {
        let dir = self.task_dir(task_id).join("socket");
        if dir.join(SOCKET_FILE).as_os_str().len() <= MAX_SOCKET_PATH {
            dir
        } else {
            short_socket_dir(task_id)
        }
    }

    /// Removes the directories of tasks that are not in `live` (after a
    /// restart).
    pub fn sweep(&self, live: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().to_string();
            if !live.contains(&id) {
                let _ = std::fs::remove_dir_all(e.path());
                let _ = std::fs::remove_dir_all(short_socket_dir(&id));
            }
        }
    }

    /// Copies the router image's custom config file (and what it includes)
    /// for the stand-in.
    async fn image_files(
        &self,
        plan: &TaskPlan,
        router: &ContainerPlan,
        path: &str,
    ) -> Result<Vec<u8>, String> {
        let fail = |e: String| {
            format!(
                "{FAILURE}: unable to read the config file {path} from image {}: {e}",
                router.image
            )
        };
        let image = self
            .runtime
            .ensure_image(&router.image, None)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut labels = self.instance.labels();
        labels.insert(LABEL_TASK_ARN.into(), plan.task_arn.clone());
        labels.insert(LABEL_ROLE.into(), "firelens-files".into());
        // The file's directory, then the files its configs include that lie
        // elsewhere (parsers files, other includes), one level deep.
        let dir = Path::new(path)
            .parent()
            .map(|p| p.to_string_lossy().to_string())
            .filter(|p| p != "/")
            .unwrap_or_else(|| path.to_string());
        let first = self
            .runtime
            .image_files(&image.reference, std::slice::from_ref(&dir), &labels)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let more: Vec<String> = referenced_files(&first)
            .into_iter()
            .filter(|p| !Path::new(p).starts_with(&dir))
            .collect();
        if more.is_empty() {
            return Ok(first);
        }
        let second = self
            .runtime
            .image_files(&image.reference, &more, &labels)
            .await
            .map_err(|e| fail(e.to_string()))?;
        concat_tars(&first, &second).map_err(|e| fail(e.to_string()))
    }
}

fn short_socket_dir(task_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fargate-local-fl-{task_id}"))
}

/// Absolute paths named by `@INCLUDE` and `Parsers_File` lines of the
/// files in a tar archive.
fn referenced_files(tar_bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar_bytes);
    let Ok(entries) = archive.entries() else {
        return out;
    };
    for entry in entries.flatten() {
        let mut entry = entry;
        if !entry.header().entry_type().is_file() || entry.size() > 1 << 20 {
            continue;
        }
        let mut text = String::new();
        if std::io::Read::read_to_string(&mut entry, &mut text).is_err() {
            continue;
        }
        for line in text.lines() {
            let line = line.trim();
            let mut parts = line.splitn(2, char::is_whitespace);
            let key = parts.next().unwrap_or("").to_ascii_lowercase();
            let value = parts.next().unwrap_or("").trim();
            if (key == "@include" || key == "parsers_file")
                && value.starts_with('/')
                && !value.contains('*')
                && !out.iter().any(|p| p == value)
            {
                out.push(value.to_string());
            }
        }
    }
    out
}

/// Two tar archives as one.
fn concat_tars(a: &[u8], b: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = tar::Builder::new(Vec::new());
    for bytes in [a, b] {
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            let mut header = entry.header().clone();
            if header.entry_type().is_symlink() || header.entry_type().is_hard_link() {
                let target = entry
                    .link_name()?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                out.append_link(&mut header, &path, &target)?;
            } else {
                out.append_data(&mut header, &path, &mut entry)?;
            }
        }
    }
    out.into_inner()
}

/// Writes a file whole: a temporary file renamed over it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, path)
}

/// The uid (and gid) of a container's `user` when it is numeric.
fn numeric_user(user: &str) -> Option<(u32, Option<u32>)> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    Some((u.parse().ok()?, g.and_then(|g| g.parse().ok())))
}

/// The Docker fluentd driver options of an `awsfirelens` container.
pub fn fluentd_log_options(
    plan: &TaskPlan,
    c: &ContainerPlan,
    socket_dir: &Path,
) -> HashMap<String, String> {
    let mut o = HashMap::new();
    o.insert(
        "tag".to_string(),
        format!("{}-firelens-{}", c.name, plan.task_id),
    );
    o.insert(
        "fluentd-address".to_string(),
        format!("unix://{}", socket_dir.join(SOCKET_FILE).display()),
    );
    o.insert(
        "fluentd-sub-second-precision".to_string(),
        "true".to_string(),
    );
    // Docker 20.10 and later (`fluentd-async-connect` before; removed in 28).
    o.insert("fluentd-async".to_string(), "true".to_string());
    if let Some(limit) = c
        .log_configuration
        .as_ref()
        .and_then(|l| l.options.as_ref())
        .and_then(|o| o.get("log-driver-buffer-limit"))
    {
        o.insert("fluentd-buffer-limit".to_string(), limit.clone());
    }
    o
}

/// Whether a path of the router lies on one of its mount points (a volume,
/// which the stand-in mounts too).
fn on_volume(router: &ContainerPlan, path: &str) -> bool {
    router
        .mounts
        .iter()
        .any(|m| Path::new(path).starts_with(&m.container_path))
        || !router.volumes_from.is_empty()
}

#[async_trait]
impl TaskHook for FireLens {
    async fn image(&self, plan: &TaskPlan, c: &ContainerPlan) -> Option<String> {
        if self.mode != RouterMode::StandIn || c.firelens.is_none() {
            return None;
        }
        if plan.firelens_router().map(|r| r.name.as_str()) != Some(c.name.as_str()) {
            return None;
        }
        match self.runtime.infra_image().await {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::warn!(error = %e, "no image for the stand-in log router");
                None
            }
        }
    }

    async fn before_create(&self, plan: &TaskPlan) -> Result<(), String> {
        let Some(router) = plan.firelens_router() else {
            return Ok(());
        };
        let settings = config::router_settings(router).map_err(|e| format!("{FAILURE}: {e}"))?;
        if let Some(w) = &settings.warning {
            tracing::warn!(task = %plan.task_arn, "{w}");
        }
        let text = config::generate(plan).map_err(|e| format!("{FAILURE}: {e}"))?;
        let mut prepared = Prepared::default();
        if self.mode == RouterMode::StandIn {
            if settings.kind == RouterType::Fluentd {
                return Err(format!(
                    "{FAILURE}: the stand-in log router interprets Fluent Bit configurations only; a firelensConfiguration of type fluentd needs its Fluentd image (fargate-local serve --firelens-router image)"
                ));
            }
            match &settings.external {
                Some(ExternalConfig::File(path)) if !on_volume(router, path) => {
                    prepared.archive = Some(self.image_files(plan, router, path).await?);
                }
                Some(ExternalConfig::S3(arn)) => {
                    // Registration refuses it for Fargate; kept for EC2-only
                    // definitions, which the emulator runs as Fargate tasks.
                    return Err(format!(
                        "{FAILURE}: config-file-type s3 is not supported on Fargate ({arn}); use config-file-type file"
                    ));
                }
                _ => {}
            }
        }
        let io = |what: &str, e: std::io::Error| format!("{FAILURE}: unable to {what}: {e}");
        let config = self.config_path(&plan.task_id);
        if let Some(parent) = config.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create the config directory", e))?;
        }
        write_atomically(&config, &text).map_err(|e| io("write the config file", e))?;
        let socket = self.socket_dir(&plan.task_id);
        std::fs::create_dir_all(&socket).map_err(|e| io("create the socket directory", e))?;
        let _ = std::fs::remove_file(socket.join(SOCKET_FILE));
        if let Some((uid, gid)) = router.user.as_deref().and_then(numeric_user) {
            let _ = std::os::unix::fs::chown(&socket, Some(uid), gid);
        }
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(plan.task_arn.clone(), prepared);
        Ok(())
    }

    async fn environment(
        &self,
        plan: &TaskPlan,
        c: &ContainerPlan,
        env: &mut Vec<(String, String)>,
    ) -> Result<(), String> {
        let Some(router) = plan.firelens_router() else {
            return Ok(());
        };
        let mut add = |k: &str, v: &str| {
            if !env.iter().any(|(ek, _)| ek == k) {
                env.push((k.to_string(), v.to_string()));
            }
        };
        if c.name == router.name {
            if router
                .firelens
                .as_ref()
                .is_some_and(|f| f.kind == "fluentd")
            {
                add("FLUENT_UID", "0");
            }
        } else if c.uses_firelens() {
            add("FLUENT_HOST", "127.0.0.1");
            add("FLUENT_PORT", &config::FORWARD_PORT.to_string());
        }
        Ok(())
    }

    fn container_spec(&self, plan: &TaskPlan, c: &ContainerPlan, spec: &mut ContainerSpec) {
        let Some(router) = plan.firelens_router() else {
            return;
        };
        let socket = self.socket_dir(&plan.task_id);
        if c.name == router.name {
            let kind = router
                .firelens
                .as_ref()
                .and_then(|f| RouterType::parse(&f.kind))
                .unwrap_or(RouterType::FluentBit);
            spec.binds.push(format!(
                "{}:{}",
                self.config_path(&plan.task_id).display(),
                kind.config_path()
            ));
            spec.binds.push(format!(
                "{}:{}",
                socket.display(),
                config::SOCKET_DIR_IN_ROUTER
            ));
            if self.mode == RouterMode::StandIn && kind == RouterType::FluentBit {
                spec.entry_point = Some(vec![STAND_IN_PROGRAM.into()]);
                spec.command = Some(vec![
                    STAND_IN_SUBCOMMAND.into(),
                    "--config".into(),
                    config::FLUENTBIT_CONFIG.into(),
                ]);
                spec.working_dir = None;
                // The stand-in has no shell and none of the router image's
                // programs: its health check (AWS suggests `nc` to the
                // health-check input) is run as the same probe by the
                // emulator's own binary, keeping the timings.
                if let Some(h) = spec.health.as_mut()
                    && h.test.first().is_some_and(|t| t != "NONE")
                {
                    h.test = vec![
                        "CMD".into(),
                        STAND_IN_PROGRAM.into(),
                        STAND_IN_HEALTH_SUBCOMMAND.into(),
                    ];
                }
                if let Some(p) = self
                    .prepared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_mut(&plan.task_arn)
                    && let Some(a) = p.archive.take()
                {
                    spec.archives.push(a);
                }
            }
        } else if c.uses_firelens() {
            spec.log_driver = Some(("fluentd".into(), fluentd_log_options(plan, c, &socket)));
        }
    }

    /// The router counts as started once it listens on its socket (up to
    /// [`LISTEN_TIMEOUT`], or until it exits): Docker's fluentd driver in
    /// async mode drops what a container wrote before the router listened
    /// if the container exits first, which a quick job would.
    async fn started(&self, plan: &TaskPlan, c: &ContainerPlan) {
        if plan.firelens_router().map(|r| r.name.as_str()) != Some(c.name.as_str()) {
            return;
        }
        let socket = self.socket_dir(&plan.task_id).join(SOCKET_FILE);
        let name = crate::runtime::supervisor::container_name(&plan.task_id, &c.name);
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        let mut checks = 0u32;
        while tokio::time::Instant::now() < deadline {
            if std::fs::metadata(&socket).is_ok() {
                return;
            }
            checks += 1;
            if checks.is_multiple_of(20)
                && !matches!(self.runtime.inspect_container(&name).await, Ok(Some(ref s)) if s.running)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tracing::warn!(task = %plan.task_arn, "the log router did not listen on its socket in time");
    }

    async fn stopped(&self, plan: &TaskPlan) {
        if plan.firelens_router().is_none() {
            return;
        }
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&plan.task_arn);
        let _ = std::fs::remove_dir_all(self.task_dir(&plan.task_id));
        let _ = std::fs::remove_dir_all(short_socket_dir(&plan.task_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_included_files() {
        let mut b = tar::Builder::new(Vec::new());
        let conf = "[SERVICE]\n    Parsers_File /fluent-bit/parsers/custom.conf\n@INCLUDE /fluent-bit/etc/more.conf\n@include /etc/x/*.conf\n@INCLUDE relative.conf\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(conf.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "fluent-bit/etc/extra.conf", conf.as_bytes())
            .unwrap();
        let bytes = b.into_inner().unwrap();
        assert_eq!(
            referenced_files(&bytes),
            vec![
                "/fluent-bit/parsers/custom.conf",
                "/fluent-bit/etc/more.conf"
            ]
        );
    }

    #[test]
    fn numeric_users() {
        assert_eq!(numeric_user("1000"), Some((1000, None)));
        assert_eq!(numeric_user("1000:50"), Some((1000, Some(50))));
        assert_eq!(numeric_user("1000:staff"), Some((1000, None)));
        assert_eq!(numeric_user("fluent"), None);
    }
}
