//! `ContainerRuntime` on the Docker Engine API, through bollard. With
//! `docker_exec` (ECS Exec's TTY sessions) and `infra` (building and pruning
//! the infrastructure image) it is one of the three modules that import
//! bollard. Its event stream ends with its reader (the runtime's event
//! pump, which stops on the emulator's shutdown signal).
//!
//! One user-defined bridge network per emulator instance carries every task;
//! each task is an infrastructure container on it, and the task's containers
//! join that container's network namespace (awsvpc: one address per task,
//! shared `localhost`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig, PortBinding,
    ResourcesUlimits, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::{OnceCell, RwLock, mpsc};

use super::{
    ContainerRuntime, ContainerSpec, ContainerState, EventKind, HostPort, ImageInfo, InfraInfo,
    InfraSpec, Instance, LABEL_CONTAINER, LABEL_EPHEMERAL, LABEL_INSTANCE, LABEL_MANAGED,
    LABEL_TASK_ARN, LogLine, ManagedContainer, NetworkAddress, RegistryAuth, RuntimeError,
    RuntimeEvent,
};
use crate::domain::status::Health;

fn err(e: DockerError) -> RuntimeError {
    match e {
        DockerError::DockerResponseServerError {
            status_code: 404,
            message,
        } => RuntimeError::NotFound(message),
        DockerError::DockerResponseServerError { message, .. } => RuntimeError::Docker(message),
        DockerError::DockerStreamError { error } => RuntimeError::Docker(error),
        DockerError::IOError { err } => RuntimeError::Unavailable(err.to_string()),
        DockerError::SocketNotFoundError(s) => RuntimeError::Unavailable(s),
        DockerError::HyperResponseError { err } => RuntimeError::Unavailable(err.to_string()),
        DockerError::RequestTimeoutError => RuntimeError::Unavailable("request timed out".into()),
        other => RuntimeError::Docker(other.to_string()),
    }
}

/// Lines of a log frame read with `timestamps=true`: each starts with the
/// engine's RFC 3339 timestamp and a space. A line without one (it cannot
/// happen with Docker) gets the current time.
fn timestamped_lines(message: &[u8], stderr: bool) -> Vec<Result<LogLine, RuntimeError>> {
    let text = String::from_utf8_lossy(message);
    text.split_inclusive('\n')
        .map(|line| {
            let line = line.strip_suffix('\n').unwrap_or(line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            let parsed = line.split_once(' ').and_then(|(ts, rest)| {
                let ns = chrono::DateTime::parse_from_rfc3339(ts)
                    .ok()?
                    .timestamp_nanos_opt()?;
                Some((ns, rest))
            });
            let (ts_ns, text) = parsed
                .unwrap_or_else(|| (chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0), line));
            Ok(LogLine {
                ts_ns,
                stderr,
                text: text.to_string(),
            })
        })
        .collect()
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// What the `cleanup` command removed, and what Docker refused to remove
/// (the object and Docker's reason).
#[derive(Debug, Default)]
pub struct CleanupReport {
    pub containers: usize,
    pub volumes: usize,
    pub networks: usize,
    pub images: usize,
    pub refused: Vec<(String, String)>,
}

/// Where published ports are bound on the host.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    pub publish_address: String,
    pub network_name: String,
}

struct Inner {
    docker: Docker,
    instance: Instance,
    opts: DockerOptions,
    /// Whether this instance's network is known to exist. Cleared when it
    /// is removed (reset), so that the next task creates it again.
    network_ready: AtomicBool,
    /// Serializes creating the network: Docker lets two concurrent creations
    /// of one name both succeed.
    network_lock: tokio::sync::Mutex<()>,
    infra_image: OnceCell<String>,
    /// Calls that create Docker objects hold this for reading until Docker
    /// has answered; removing the instance's objects holds it for writing.
    /// So nothing is created behind the back of a removal, not even by a
    /// supervisor aborted in the middle of a request (the call runs in a
    /// task of its own and completes).
    creating: Arc<RwLock<()>>,
    /// Set when the emulator shuts down: no object is created after that.
    closed: AtomicBool,
}

/// Container removals asked of the engine at once when an instance's
/// objects are removed.
const REMOVALS_AT_ONCE: usize = 16;

#[derive(Clone)]
pub struct DockerRuntime {
    inner: Arc<Inner>,
}

impl DockerRuntime {
    /// Connects (honouring `DOCKER_HOST`) and negotiates the API version,
    /// without which an older engine refuses every versioned call.
    pub async fn connect(instance: Instance, opts: DockerOptions) -> Result<Self, RuntimeError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(err)?
            .with_timeout(Duration::from_secs(600));
        let docker = docker.negotiate_version().await.map_err(err)?;
        Ok(DockerRuntime {
            inner: Arc::new(Inner {
                docker,
                instance,
                opts,
                network_ready: AtomicBool::new(false),
                network_lock: tokio::sync::Mutex::new(()),
                infra_image: OnceCell::new(),
                creating: Arc::new(RwLock::new(())),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Runs `call`, which creates Docker objects, to completion in a task of
    /// its own (see `creating`), unless the emulator is shutting down.
    async fn creating<T, F>(&self, call: F) -> Result<T, RuntimeError>
    where
        F: Future<Output = Result<T, RuntimeError>> + Send + 'static,
        T: Send + 'static,
    {
        let guard = self.inner.creating.clone().read_owned().await;
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(RuntimeError::Unavailable(
                "fargate-local is shutting down".into(),
            ));
        }
        tokio::spawn(async move {
            let out = call.await;
            drop(guard);
            out
        })
        .await
        .map_err(|e| RuntimeError::Docker(format!("a Docker call failed: {e}")))?
    }

    /// Refuses to create anything from now on, once every creation under
    /// way has been answered. Called when the emulator shuts down.
    pub async fn close(&self) {
        let _all = self.inner.creating.write().await;
        self.inner.closed.store(true, Ordering::SeqCst);
    }

    pub fn docker(&self) -> &Docker {
        &self.inner.docker
    }

    /// The container this emulator runs in, when it runs in one the engine
    /// knows (see `container::own_container_id`).
    pub async fn own_container(&self) -> Option<super::container::OwnContainer> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let id = super::container::own_container_id(&mountinfo)?;
        let c = self.inner.docker.inspect_container(&id, None).await.ok()?;
        let binds = c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.typ.as_deref() == Some("bind"))
            .filter_map(|m| Some((m.source?.into(), m.destination?.into())))
            .collect();
        Some(super::container::OwnContainer {
            id,
            network_mode: c
                .host_config
                .and_then(|h| h.network_mode)
                .unwrap_or_default(),
            binds,
        })
    }

    fn instance_filter(&self) -> HashMap<String, Vec<String>> {
        let mut f = HashMap::new();
        f.insert(
            "label".to_string(),
            vec![format!("{LABEL_INSTANCE}={}", self.inner.instance.id)],
        );
        f
    }

    async fn infra_image(&self) -> Result<String, RuntimeError> {
        self.inner
            .infra_image
            .get_or_try_init(|| super::infra::ensure_image(&self.inner.docker))
            .await
            .cloned()
    }

    /// Builds the infrastructure image now, so the first RunTask does not
    /// wait for it.
    /// Images of older builds are removed here too.
    pub async fn prepare(&self) -> Result<(), RuntimeError> {
        let current = self.infra_image().await?;
        match super::infra::prune_images(
            &self.inner.docker,
            Some(&current),
            super::infra::OTHER_IMAGES_KEPT,
        )
        .await
        {
            Ok(p) if !p.removed.is_empty() => {
                tracing::info!(removed = ?p.removed, "removed the infrastructure images of older builds");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not remove older infrastructure images"),
        }
        self.ensure_network().await
    }

    async fn pull(&self, image: &str, auth: Option<&RegistryAuth>) -> Result<(), RuntimeError> {
        let (name, tag) = split_tag(image);
        let mut opts = CreateImageOptionsBuilder::default().from_image(name);
        if let Some(tag) = tag {
            opts = opts.tag(tag);
        } else if !name.contains('@') {
            opts = opts.tag("latest");
        }
        let credentials = auth.map(|a| bollard::auth::DockerCredentials {
            username: Some(a.username.clone()),
            password: Some(a.password.clone()),
            serveraddress: Some(a.server_address.clone()),
            ..Default::default()
        });
        let mut stream = self
            .inner
            .docker
            .create_image(Some(opts.build()), None, credentials);
        while let Some(item) = stream.next().await {
            item.map_err(err)?;
        }
        Ok(())
    }

    async fn local_image(&self, image: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        match self.inner.docker.inspect_image(image).await {
            Ok(info) => {
                let digest = info
                    .repo_digests
                    .iter()
                    .flatten()
                    .find_map(|d| d.split_once('@').map(|(_, d)| d.to_string()))
                    .or(info.id);
                Ok(Some(ImageInfo {
                    reference: image.to_string(),
                    digest,
                }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// Removes every Docker object labelled managed, of any instance, and
    /// every infrastructure image: the `cleanup` command. What Docker refuses
    /// to remove is reported, not ignored.
    pub async fn remove_all_managed(&self) -> Result<CleanupReport, RuntimeError> {
        let docker = &self.inner.docker;
        let mut f = HashMap::new();
        f.insert("label".to_string(), vec![format!("{LABEL_MANAGED}=true")]);
        let mut report = CleanupReport::default();
        let list = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&f)
                    .build(),
            ))
            .await
            .map_err(err)?;
        for id in list.into_iter().filter_map(|c| c.id) {
            match self.remove_container(&id).await {
                Ok(()) => report.containers += 1,
                Err(e) => report
                    .refused
                    .push((format!("container {id}"), e.to_string())),
            }
        }
        let (volumes, refused) = self.remove_managed_volumes(&f).await?;
        report.volumes = volumes;
        report.refused.extend(refused);
        let nets = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default().filters(&f).build(),
            ))
            .await
            .map_err(err)?;
        for net in nets {
            let Some(id) = net.id else { continue };
            let name = net.name.unwrap_or_else(|| id.clone());
            match docker.remove_network(&id).await {
                Ok(()) => report.networks += 1,
                Err(e) if is_not_found(&e) => {}
                Err(e) => report
                    .refused
                    .push((format!("network {name}"), err(e).to_string())),
            }
        }
        let images = super::infra::prune_images(docker, None, 0).await?;
        report.images = images.removed.len();
        report.refused.extend(
            images
                .refused
                .into_iter()
                .map(|(tag, why)| (format!("image {tag}"), why)),
        );
        Ok(report)
    }

    /// Removes the volumes matching `f`; returns how many went and what
    /// Docker refused (the volume and its reason). Only listing them fails.
    async fn remove_managed_volumes(
        &self,
        f: &HashMap<String, Vec<String>>,
    ) -> Result<(usize, Vec<(String, String)>), RuntimeError> {
        let vols = self
            .inner
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default().filters(f).build(),
            ))
            .await
            .map_err(err)?;
        let (mut removed, mut refused) = (0, Vec::new());
        for v in vols.volumes.into_iter().flatten() {
            match self.remove_volume(&v.name).await {
                Ok(()) => removed += 1,
                Err(e) => refused.push((format!("volume {}", v.name), e.to_string())),
            }
        }
        Ok((removed, refused))
    }

    /// Removes Docker objects left by in-memory instances that ended without
    /// cleaning up (their owner process no longer holds its lock file).
    /// Returns the ended instances whose objects were all removed.
    pub async fn sweep_dead_instances(&self, is_dead: impl Fn(&str) -> bool) -> Vec<String> {
        let mut f = HashMap::new();
        f.insert("label".to_string(), vec![format!("{LABEL_EPHEMERAL}=true")]);
        let docker = &self.inner.docker;
        // An ended instance may have left only a network or a volume (it
        // was stopped while creating them), so all three kinds are looked at.
        let mut seen: Vec<String> = Vec::new();
        if let Ok(list) = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&f)
                    .build(),
            ))
            .await
        {
            seen.extend(
                list.into_iter()
                    .filter_map(|c| c.labels?.remove(LABEL_INSTANCE)),
            );
        }
        if let Ok(list) = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default().filters(&f).build(),
            ))
            .await
        {
            seen.extend(
                list.into_iter()
                    .filter_map(|n| n.labels?.remove(LABEL_INSTANCE)),
            );
        }
        if let Ok(list) = docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default().filters(&f).build(),
            ))
            .await
        {
            seen.extend(
                list.volumes
                    .into_iter()
                    .flatten()
                    .filter_map(|mut v| v.labels.remove(LABEL_INSTANCE)),
            );
        }
        let mut swept = Vec::new();
        for inst in dead_instances(&seen, &self.inner.instance.id, is_dead) {
            let mut complete = true;
            let mut f = HashMap::new();
            f.insert(
                "label".to_string(),
                vec![format!("{LABEL_INSTANCE}={inst}")],
            );
            if let Ok(list) = docker
                .list_containers(Some(
                    ListContainersOptionsBuilder::default()
                        .all(true)
                        .filters(&f)
                        .build(),
                ))
                .await
            {
                for id in list.into_iter().filter_map(|c| c.id) {
                    tracing::info!(container = %id, instance = %inst, "removing container of an ended instance");
                    complete &= self.remove_container(&id).await.is_ok();
                }
            } else {
                complete = false;
            }
            complete &= self.remove_managed_volumes(&f).await.is_ok();
            if let Ok(nets) = docker
                .list_networks(Some(
                    ListNetworksOptionsBuilder::default().filters(&f).build(),
                ))
                .await
            {
                for id in nets.into_iter().filter_map(|n| n.id) {
                    tracing::info!(network = %id, instance = %inst, "removing network of an ended instance");
                    let mut removed = docker.remove_network(&id).await;
                    if removed.as_ref().is_err_and(|e| !is_not_found(e)) {
                        // The same lingering endpoints shutdown meets.
                        self.disconnect_stale_endpoints(&f).await;
                        removed = docker.remove_network(&id).await;
                    }
                    complete &= match removed {
                        Ok(()) => true,
                        Err(e) if is_not_found(&e) => true,
                        Err(e) => {
                            tracing::warn!(network = %id, instance = %inst, error = %e, "could not remove the network of an ended instance; the next start tries again (if Docker keeps reporting endpoints it does not list, only restarting the Docker daemon clears them)");
                            false
                        }
                    };
                }
            } else {
                complete = false;
            }
            if complete {
                swept.push(inst);
            }
        }
        swept
    }

    /// How many of this instance's containers are left (0 when the
    /// engine cannot be asked).
    pub async fn count_instance_containers(&self) -> usize {
        let f = self.instance_filter();
        self.inner
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&f)
                    .build(),
            ))
            .await
            .map_or(0, |l| l.len())
    }

    /// Force-removes every container, volume and network of this instance,
    /// after the creations under way have completed and before any other
    /// starts. The engine can still report a removed container's endpoint
    /// on the network for a moment ("has active endpoints"), so the sweep is
    /// repeated, briefly, until the network goes too.
    pub async fn remove_instance_objects(&self) -> Result<(), RuntimeError> {
        // Up to 9 s: on a loaded machine Docker can take seconds to let go
        // of the endpoint of a container removed while it started.
        const ATTEMPTS: u32 = 30;
        let _no_creation = self.inner.creating.write().await;
        let f = self.instance_filter();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let list = self
                .inner
                .docker
                .list_containers(Some(
                    ListContainersOptionsBuilder::default()
                        .all(true)
                        .filters(&f)
                        .build(),
                ))
                .await
                .map_err(err)?;
            // A bounded number at once: thousands of removals asked of the
            // engine together make every one of them slower.
            use futures_util::StreamExt;
            futures_util::stream::iter(list.into_iter().filter_map(|c| c.id))
                .map(|id| async move { self.remove_container(&id).await })
                .buffer_unordered(REMOVALS_AT_ONCE)
                .for_each(|_| async {})
                .await;
            self.remove_managed_volumes(&f).await?;
            match self.remove_network().await {
                Err(e) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "network not removable yet; sweeping again");
                    if attempt >= 3 {
                        self.disconnect_stale_endpoints(&f).await;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
                done => return done,
            }
        }
    }

    /// Force-disconnects whatever is still attached to this instance's
    /// networks once every container is gone: Docker 20.10 can keep the
    /// endpoint of a container removed while it started for seconds, and the
    /// network cannot be removed meanwhile.
    async fn disconnect_stale_endpoints(&self, f: &HashMap<String, Vec<String>>) {
        let Ok(nets) = self
            .inner
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default().filters(f).build(),
            ))
            .await
        else {
            return;
        };
        for id in nets.into_iter().filter_map(|n| n.id) {
            let Ok(net) = self.inner.docker.inspect_network(&id, None).await else {
                continue;
            };
            for (cid, ep) in net.containers.unwrap_or_default() {
                let target = ep.name.unwrap_or(cid);
                tracing::debug!(network = %id, endpoint = %target, "force-disconnecting a lingering endpoint");
                let _ = self
                    .inner
                    .docker
                    .disconnect_network(
                        &id,
                        bollard::models::NetworkDisconnectRequest {
                            container: target,
                            force: Some(true),
                        },
                    )
                    .await;
            }
        }
    }

    /// Removes this instance's volumes whose task is not in `known`.
    pub async fn remove_orphan_volumes(&self, known: &std::collections::HashSet<String>) {
        let Ok(vols) = self
            .inner
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&self.instance_filter())
                    .build(),
            ))
            .await
        else {
            return;
        };
        for v in vols.volumes.into_iter().flatten() {
            let task = v.labels.get(LABEL_TASK_ARN).cloned().unwrap_or_default();
            if !known.contains(&task) {
                let _ = self.remove_volume(&v.name).await;
            }
        }
    }
}

/// The instances among `seen` (instance labels, repeats allowed) that have
/// ended, asking `is_dead` once per instance (it opens and locks a file).
/// This instance is never among them.
pub fn dead_instances(
    seen: &[String],
    own: &str,
    is_dead: impl Fn(&str) -> bool,
) -> std::collections::BTreeSet<String> {
    let distinct: std::collections::BTreeSet<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|i| !i.is_empty() && *i != own)
        .collect();
    distinct
        .into_iter()
        .filter(|i| is_dead(i))
        .map(str::to_string)
        .collect()
}

/// Splits `repo[:tag]` at the tag's colon (a colon before the last slash
/// belongs to a registry port). Digest references have no tag.
pub fn split_tag(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..])),
        None => (image, None),
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/repo:tag` becomes `repo:tag`,
/// so a task definition written for AWS runs on a locally built image.
pub fn ecr_local_name(image: &str) -> Option<&str> {
    let (host, rest) = image.split_once('/')?;
    let is_ecr = host.contains(".dkr.ecr.")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
    (is_ecr && !rest.is_empty()).then_some(rest)
}

fn health_config(h: &super::plan::HealthPlan) -> HealthConfig {
    const NS: i64 = 1_000_000_000;
    HealthConfig {
        test: Some(h.test.clone()),
        interval: Some(i64::from(h.interval_secs) * NS),
        timeout: Some(i64::from(h.timeout_secs) * NS),
        retries: Some(i64::from(h.retries)),
        start_period: Some(i64::from(h.start_period_secs) * NS),
        start_interval: None,
    }
}

fn hash(labels: &BTreeMap<String, String>) -> HashMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn ensure_network(&self) -> Result<(), RuntimeError> {
        if self.inner.network_ready.load(Ordering::SeqCst) {
            return Ok(());
        }
        let inner = self.inner.clone();
        self.creating(async move {
            let _one_at_a_time = inner.network_lock.lock().await;
            if inner.network_ready.load(Ordering::SeqCst) {
                return Ok(());
            }
            let name = &inner.opts.network_name;
            match inner.docker.inspect_network(name, None).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {
                    let req = NetworkCreateRequest {
                        name: name.clone(),
                        driver: Some("bridge".into()),
                        labels: Some(hash(&inner.instance.labels())),
                        ..Default::default()
                    };
                    match inner.docker.create_network(req).await {
                        Ok(_) => {}
                        // Another task or start-up created it first.
                        Err(DockerError::DockerResponseServerError {
                            status_code: 409, ..
                        }) => {}
                        Err(e) => return Err(err(e)),
                    }
                }
                Err(e) => return Err(err(e)),
            }
            // Set while creations are still held off, so that a removal
            // cannot come between the creation and this.
            inner.network_ready.store(true, Ordering::SeqCst);
            Ok(())
        })
        .await
    }

    async fn create_infra(&self, spec: &InfraSpec) -> Result<(), RuntimeError> {
        let image = self.infra_image().await?;
        let mut bindings = HashMap::new();
        let mut exposed = Vec::new();
        for (port, proto) in &spec.ports {
            let key = format!("{port}/{proto}");
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some(self.inner.opts.publish_address.clone()),
                    host_port: Some(String::new()),
                }]),
            );
        }
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(vec!["infra".into()]),
            env: Some(spec.env.clone()),
            hostname: Some(spec.hostname.clone()),
            labels: Some(hash(&spec.labels)),
            exposed_ports: Some(exposed),
            networking_config: (!spec.aliases.is_empty()).then(|| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.inner.opts.network_name.clone(),
                    EndpointSettings {
                        aliases: Some(spec.aliases.clone()),
                        ..Default::default()
                    },
                )])),
            }),
            host_config: Some(HostConfig {
                network_mode: Some(self.inner.opts.network_name.clone()),
                port_bindings: Some(bindings),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                extra_hosts: (!spec.extra_hosts.is_empty()).then(|| spec.extra_hosts.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let docker = self.inner.docker.clone();
        self.creating(async move {
            match docker.create_container(Some(opts.clone()), body.clone()).await {
                // Another emulator, of another build, removed this build's
                // image as an old one (`infra::prune_images`): the tag is
                // this binary's, so building it again gives the same tag.
                Err(e) if is_not_found(&e) => {
                    tracing::info!(image = ?body.image, "the infrastructure image was removed; building it again");
                    super::infra::ensure_image(&docker).await?;
                    docker.create_container(Some(opts), body).await.map_err(err)?;
                }
                other => {
                    other.map_err(err)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn start_infra(&self, name: &str) -> Result<InfraInfo, RuntimeError> {
        self.inner
            .docker
            .start_container(name, None)
            .await
            .map_err(err)?;
        self.inspect_infra(name)
            .await?
            .ok_or_else(|| RuntimeError::Docker("the infrastructure container vanished".into()))
    }

    async fn inspect_infra(&self, name: &str) -> Result<Option<InfraInfo>, RuntimeError> {
        let info = match self.inner.docker.inspect_container(name, None).await {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        let settings = info.network_settings.unwrap_or_default();
        let endpoint = settings
            .networks
            .as_ref()
            .and_then(|n| n.get(&self.inner.opts.network_name))
            .cloned()
            .unwrap_or_default();
        let mut other_networks: Vec<NetworkAddress> = settings
            .networks
            .iter()
            .flatten()
            .filter(|(n, _)| **n != self.inner.opts.network_name)
            .map(|(n, e)| NetworkAddress {
                network: n.clone(),
                ip: e.ip_address.clone().unwrap_or_default(),
                mac: e.mac_address.clone().unwrap_or_default(),
            })
            .collect();
        other_networks.sort_by(|a, b| a.network.cmp(&b.network));
        let mut host_ports = Vec::new();
        for (key, binding) in settings.ports.into_iter().flatten() {
            let Some((port, proto)) = key.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse() else { continue };
            for b in binding.into_iter().flatten() {
                // Docker lists an IPv6 binding too; keep the configured one.
                let ip = b.host_ip.unwrap_or_default();
                if ip.contains(':') {
                    continue;
                }
                if let Some(hp) = b.host_port.and_then(|p| p.parse().ok()) {
                    host_ports.push(HostPort {
                        container_port: port,
                        protocol: proto.to_string(),
                        host_ip: ip,
                        host_port: hp,
                    });
                }
            }
        }
        host_ports.sort_by_key(|h| (h.container_port, h.protocol.clone()));
        Ok(Some(InfraInfo {
            id: info.id.unwrap_or_default(),
            ip: endpoint.ip_address.unwrap_or_default(),
            mac: endpoint.mac_address.unwrap_or_default(),
            host_ports,
            other_networks,
        }))
    }

    async fn ensure_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<ImageInfo, RuntimeError> {
        if let Some(info) = self.local_image(image).await? {
            return Ok(info);
        }
        if let Some(local) = ecr_local_name(image)
            && let Some(info) = self.local_image(local).await?
        {
            return Ok(info);
        }
        self.pull(image, auth).await?;
        self.local_image(image)
            .await?
            .ok_or_else(|| RuntimeError::Docker(format!("image {image} is missing after the pull")))
    }

    async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(hash(labels)),
            ..Default::default()
        };
        let docker = self.inner.docker.clone();
        self.creating(async move { docker.create_volume(req).await.map(|_| ()).map_err(err) })
            .await
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        match self
            .inner
            .docker
            .remove_volume(
                name,
                Some(RemoveVolumeOptionsBuilder::default().force(true).build()),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let mounts: Vec<String> = spec
            .volumes
            .iter()
            .map(|(vol, path, ro)| format!("{vol}:{path}{}", if *ro { ":ro" } else { "" }))
            .collect();
        let volumes_from: Vec<String> = spec
            .volumes_from
            .iter()
            .map(|(c, ro)| format!("{c}{}", if *ro { ":ro" } else { "" }))
            .collect();
        let mut mounts = mounts;
        mounts.extend(spec.binds.iter().cloned());
        let host = HostConfig {
            network_mode: Some(format!("container:{}", spec.network_of)),
            binds: (!mounts.is_empty()).then_some(mounts),
            volumes_from: (!volumes_from.is_empty()).then_some(volumes_from),
            readonly_rootfs: Some(spec.readonly_rootfs),
            ulimits: (!spec.ulimits.is_empty()).then(|| {
                spec.ulimits
                    .iter()
                    .map(|(n, s, h)| ResourcesUlimits {
                        name: Some(n.clone()),
                        soft: Some(*s),
                        hard: Some(*h),
                    })
                    .collect()
            }),
            cpu_shares: spec.cpu_shares,
            nano_cpus: spec.nano_cpus,
            memory: spec.memory_bytes,
            memory_reservation: spec.memory_reservation_bytes,
            log_config: spec.log_driver.as_ref().map(|(d, o)| {
                bollard::models::HostConfigLogConfig {
                    typ: Some(d.clone()),
                    config: Some(o.clone()),
                }
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            labels: Some(hash(&spec.labels)),
            entrypoint: spec.entry_point.clone(),
            cmd: spec.command.clone(),
            env: Some(spec.env.clone()),
            working_dir: spec.working_dir.clone(),
            user: spec.user.clone(),
            healthcheck: spec.health.as_ref().map(health_config).or_else(|| {
                // Fargate ignores a HEALTHCHECK baked into the image.
                Some(HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                })
            }),
            tty: Some(spec.tty),
            open_stdin: Some(spec.open_stdin),
            stop_timeout: Some(i64::from(spec.stop_timeout)),
            host_config: Some(host),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let docker = self.inner.docker.clone();
        let archives = spec.archives.clone();
        self.creating(async move {
            let id = docker
                .create_container(Some(opts), body)
                .await
                .map(|resp| resp.id)
                .map_err(err)?;
            for tar in archives {
                let opts = bollard::query_parameters::UploadToContainerOptions {
                    path: "/".into(),
                    ..Default::default()
                };
                docker
                    .upload_to_container(&id, Some(opts), bollard::body_full(tar.into()))
                    .await
                    .map_err(err)?;
            }
            Ok(id)
        })
        .await
    }

    async fn infra_image(&self) -> Result<String, RuntimeError> {
        DockerRuntime::infra_image(self).await
    }

    async fn image_files(
        &self,
        image: &str,
        paths: &[String],
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, RuntimeError> {
        let name = format!(
            "fargate-local-files-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(hash(labels)),
            // Never started: the command only has to be present.
            cmd: Some(vec!["/fargate-local-never-started".into()]),
            network_disabled: Some(true),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let docker = self.inner.docker.clone();
        self.creating(async move {
            docker
                .create_container(Some(opts), body)
                .await
                .map(|_| ())
                .map_err(err)
        })
        .await?;
        let mut out = tar::Builder::new(Vec::new());
        let mut result = Ok(());
        for path in paths {
            let opts =
                bollard::query_parameters::DownloadFromContainerOptions { path: path.clone() };
            let mut stream = self.inner.docker.download_from_container(&name, Some(opts));
            let mut raw = Vec::new();
            let mut missing = false;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(b) => raw.extend_from_slice(&b),
                    Err(e) if is_not_found(&e) => {
                        missing = true;
                        break;
                    }
                    Err(e) => {
                        result = Err(err(e));
                        break;
                    }
                }
            }
            if result.is_err() {
                break;
            }
            if missing {
                continue;
            }
            // Docker names entries from the path's last component; put the
            // rest of the path back in front.
            let parent = std::path::Path::new(path.trim_start_matches('/'))
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_default();
            if let Err(e) = retar(&raw, &parent, &mut out) {
                result = Err(RuntimeError::Docker(format!(
                    "reading {path} from {image}: {e}"
                )));
                break;
            }
        }
        let _ = self
            .inner
            .docker
            .remove_container(
                &name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        result?;
        out.into_inner()
            .map_err(|e| RuntimeError::Docker(format!("reading files from {image}: {e}")))
    }

    async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
        self.inner
            .docker
            .start_container(name, None)
            .await
            .map_err(err)
    }

    async fn stop_container(&self, name: &str, timeout_secs: u32) -> Result<(), RuntimeError> {
        let opts = StopContainerOptionsBuilder::default()
            .t(timeout_secs.min(i32::MAX as u32) as i32)
            .build();
        match self.inner.docker.stop_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(DockerError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, RuntimeError> {
        let info = match self.inner.docker.inspect_container(name, None).await {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        let s = info.state.unwrap_or_default();
        let running = s.running.unwrap_or(false);
        Ok(Some(ContainerState {
            running,
            exit_code: if running {
                None
            } else {
                s.exit_code.map(|c| c as i32)
            },
            oom_killed: s.oom_killed.unwrap_or(false),
            health: s
                .health
                .and_then(|h| h.status)
                .map(|st| Health::from_docker(st.as_ref())),
            error: s.error.filter(|e| !e.is_empty()),
        }))
    }

    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.inner.docker.remove_container(name, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 409: removal already in progress.
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    async fn follow_logs(
        &self,
        name: &str,
        since_secs: i64,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(follow)
            .since(i32::try_from(since_secs.max(0)).unwrap_or(i32::MAX))
            .build();
        let stream = self.inner.docker.logs(name, Some(opts)).flat_map(|item| {
            let lines: Vec<Result<LogLine, RuntimeError>> = match item {
                Ok(LogOutput::StdErr { message }) => timestamped_lines(&message, true),
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    timestamped_lines(&message, false)
                }
                Ok(LogOutput::StdIn { .. }) => Vec::new(),
                // A container that is gone has no more output.
                Err(e) if is_not_found(&e) => Vec::new(),
                Err(e) => vec![Err(err(e))],
            };
            futures_util::stream::iter(lines)
        });
        Ok(stream.boxed())
    }

    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&self.instance_filter())
            .build();
        let list = self
            .inner
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(err)?;
        Ok(list
            .into_iter()
            .map(|c| ManagedContainer {
                id: c.id.unwrap_or_default(),
                running: c
                    .state
                    .is_some_and(|s| s.to_string().eq_ignore_ascii_case("running")),
                labels: c.labels.unwrap_or_default(),
            })
            .collect())
    }

    async fn inspect_json(&self, name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        match self.inner.docker.inspect_container(name, None).await {
            Ok(i) => Ok(serde_json::to_value(i).ok()),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    async fn image_size(&self, image: &str) -> Result<Option<u64>, RuntimeError> {
        match self.inner.docker.inspect_image(image).await {
            Ok(info) => Ok(info.size.and_then(|s| u64::try_from(s).ok())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    async fn stats_json(&self, name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        let opts = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(false)
            .build();
        let mut s = self.inner.docker.stats(name, Some(opts));
        match s.next().await {
            Some(Ok(st)) => Ok(serde_json::to_value(st).ok()),
            Some(Err(e)) if is_not_found(&e) => Ok(None),
            Some(Err(e)) => Err(err(e)),
            None => Ok(None),
        }
    }

    async fn network_exists(&self, network: &str) -> Result<bool, RuntimeError> {
        match self.inner.docker.inspect_network(network, None).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    async fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<(), RuntimeError> {
        let req = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings {
                aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
                ..Default::default()
            }),
        };
        match self.inner.docker.connect_network(network, req).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => match self.network_exists(network).await {
                Ok(false) => Err(RuntimeError::NotFound(format!(
                    "network {network} not found"
                ))),
                _ => Err(err(e)),
            },
            Err(e) => Err(err(e)),
        }
    }

    async fn leave_task_network(&self, container: &str) -> Result<(), RuntimeError> {
        let network = self.inner.opts.network_name.clone();
        self.disconnect_network(&network, container).await
    }

    async fn disconnect_network(&self, network: &str, container: &str) -> Result<(), RuntimeError> {
        let req = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        match self.inner.docker.disconnect_network(network, req).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// Removes every network labelled with this instance, by id: a name is
    /// ambiguous once Docker has let two networks share it.
    async fn remove_network(&self) -> Result<(), RuntimeError> {
        self.inner.network_ready.store(false, Ordering::SeqCst);
        let nets = self
            .inner
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&self.instance_filter())
                    .build(),
            ))
            .await
            .map_err(err)?;
        for id in nets.into_iter().filter_map(|n| n.id) {
            match self.inner.docker.remove_network(&id).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }

    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let docker = self.inner.docker.clone();
        let filter = self.instance_filter();
        tokio::spawn(async move {
            // Replaying from a little before now closes the window between
            // start-up and the stream's first byte; duplicates are harmless.
            let mut since = chrono::Utc::now().timestamp() - 2;
            let mut first = true;
            loop {
                let mut filters = filter.clone();
                filters.insert("type".into(), vec!["container".into()]);
                filters.insert(
                    "event".into(),
                    vec!["die".into(), "health_status".into(), "oom".into()],
                );
                let opts = EventsOptionsBuilder::default()
                    .since(&since.to_string())
                    .filters(&filters)
                    .build();
                let mut stream = docker.events(Some(opts));
                if !first && tx.send(RuntimeEvent::Resync).is_err() {
                    return;
                }
                first = false;
                loop {
                    // The reader is gone when the emulator shuts down: stop
                    // at once rather than at the next event.
                    let item = tokio::select! {
                        _ = tx.closed() => return,
                        item = stream.next() => item,
                    };
                    let Some(Ok(ev)) = item else { break };
                    if let Some(t) = ev.time {
                        since = since.max(t);
                    }
                    let Some(actor) = ev.actor else { continue };
                    let attrs = actor.attributes.unwrap_or_default();
                    let (Some(task), Some(container)) =
                        (attrs.get(LABEL_TASK_ARN), attrs.get(LABEL_CONTAINER))
                    else {
                        continue;
                    };
                    let action = ev.action.unwrap_or_default();
                    let kind = if action == "die" {
                        EventKind::Died
                    } else if action == "oom" {
                        EventKind::Oom
                    } else if let Some(s) = action.strip_prefix("health_status: ") {
                        EventKind::Health(Health::from_docker(s.trim()))
                    } else {
                        continue;
                    };
                    let msg = RuntimeEvent::Container {
                        task_arn: task.clone(),
                        container: container.clone(),
                        kind,
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_the_last_slash() {
        let cases = [
            ("busybox", ("busybox", None)),
            ("busybox:1.36", ("busybox", Some("1.36"))),
            ("localhost:5000/app", ("localhost:5000/app", None)),
            ("localhost:5000/app:v2", ("localhost:5000/app", Some("v2"))),
            ("repo@sha256:abc", ("repo@sha256:abc", None)),
        ];
        for (input, want) in cases {
            assert_eq!(split_tag(input), want, "{input}");
        }
    }

    #[test]
    fn each_instance_is_asked_once_whether_it_ended() {
        use std::cell::RefCell;
        let asked = RefCell::new(Vec::new());
        let ended = |i: &str| {
            asked.borrow_mut().push(i.to_string());
            i == "a" || i == "b"
        };
        let seen: Vec<String> = ["a", "a", "b", "c", "me", "", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let dead = dead_instances(&seen, "me", ended);
        assert_eq!(dead.into_iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(*asked.borrow(), ["a", "b", "c"]);
    }

    #[test]
    fn ecr_uris_map_to_local_names() {
        let cases = [
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.2",
                Some("web:1.2"),
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api",
                Some("team/api"),
            ),
            ("docker.io/library/busybox", None),
            ("busybox", None),
        ];
        for (input, want) in cases {
            assert_eq!(ecr_local_name(input), want, "{input}");
        }
    }
}

/// A `DockerRuntime` connected on first use, so the emulator answers API
/// calls before (and without) the engine; a failed connection is retried on
/// the next use.
#[derive(Clone)]
pub struct LazyDocker {
    cell: Arc<OnceCell<DockerRuntime>>,
    instance: Instance,
    opts: DockerOptions,
}

impl LazyDocker {
    pub fn new(instance: Instance, opts: DockerOptions) -> Self {
        LazyDocker {
            cell: Arc::new(OnceCell::new()),
            instance,
            opts,
        }
    }

    pub async fn get(&self) -> Result<&DockerRuntime, RuntimeError> {
        self.cell
            .get_or_try_init(|| DockerRuntime::connect(self.instance.clone(), self.opts.clone()))
            .await
    }

    /// Whether a connection has been made.
    pub fn connected(&self) -> bool {
        self.cell.initialized()
    }
}

/// Copies the entries of a tar archive into `out`, under `prefix`.
fn retar(
    raw: &[u8],
    prefix: &std::path::Path,
    out: &mut tar::Builder<Vec<u8>>,
) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(raw);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = prefix.join(entry.path()?);
        let mut header = entry.header().clone();
        if header.entry_type().is_symlink() || header.entry_type().is_hard_link() {
            let target = entry
                .link_name()?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let target = if header.entry_type().is_hard_link() {
                prefix.join(target)
            } else {
                target
            };
            out.append_link(&mut header, &path, &target)?;
        } else {
            out.append_data(&mut header, &path, &mut entry)?;
        }
    }
    Ok(())
}

#[async_trait]
impl ContainerRuntime for LazyDocker {
    async fn ensure_network(&self) -> Result<(), RuntimeError> {
        self.get().await?.ensure_network().await
    }
    async fn create_infra(&self, spec: &InfraSpec) -> Result<(), RuntimeError> {
        self.get().await?.create_infra(spec).await
    }
    async fn start_infra(&self, name: &str) -> Result<InfraInfo, RuntimeError> {
        self.get().await?.start_infra(name).await
    }
    async fn inspect_infra(&self, name: &str) -> Result<Option<InfraInfo>, RuntimeError> {
        self.get().await?.inspect_infra(name).await
    }
    async fn ensure_image(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<ImageInfo, RuntimeError> {
        self.get().await?.ensure_image(image, auth).await
    }
    async fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        self.get().await?.create_volume(name, labels).await
    }
    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        self.get().await?.remove_volume(name).await
    }
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        self.get().await?.create_container(spec).await
    }
    async fn start_container(&self, name: &str) -> Result<(), RuntimeError> {
        self.get().await?.start_container(name).await
    }
    async fn stop_container(&self, name: &str, timeout_secs: u32) -> Result<(), RuntimeError> {
        self.get().await?.stop_container(name, timeout_secs).await
    }
    async fn inspect_container(&self, name: &str) -> Result<Option<ContainerState>, RuntimeError> {
        self.get().await?.inspect_container(name).await
    }
    async fn remove_container(&self, name: &str) -> Result<(), RuntimeError> {
        self.get().await?.remove_container(name).await
    }
    async fn follow_logs(
        &self,
        name: &str,
        since_secs: i64,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        self.get()
            .await?
            .follow_logs(name, since_secs, follow)
            .await
    }
    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
        self.get().await?.list_managed().await
    }
    async fn infra_image(&self) -> Result<String, RuntimeError> {
        ContainerRuntime::infra_image(self.get().await?).await
    }
    async fn image_files(
        &self,
        image: &str,
        paths: &[String],
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, RuntimeError> {
        self.get().await?.image_files(image, paths, labels).await
    }
    async fn remove_network(&self) -> Result<(), RuntimeError> {
        self.get().await?.remove_network().await
    }
    async fn network_exists(&self, network: &str) -> Result<bool, RuntimeError> {
        self.get().await?.network_exists(network).await
    }
    async fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<(), RuntimeError> {
        self.get()
            .await?
            .connect_network(network, container, aliases)
            .await
    }
    async fn leave_task_network(&self, container: &str) -> Result<(), RuntimeError> {
        self.get().await?.leave_task_network(container).await
    }
    async fn disconnect_network(&self, network: &str, container: &str) -> Result<(), RuntimeError> {
        self.get()
            .await?
            .disconnect_network(network, container)
            .await
    }
    async fn inspect_json(&self, name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        self.get().await?.inspect_json(name).await
    }
    async fn stats_json(&self, name: &str) -> Result<Option<serde_json::Value>, RuntimeError> {
        self.get().await?.stats_json(name).await
    }
    async fn image_size(&self, image: &str) -> Result<Option<u64>, RuntimeError> {
        self.get().await?.image_size(image).await
    }
    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let this = self.clone();
        tokio::spawn(async move {
            let docker = loop {
                match this.get().await {
                    Ok(d) => break d.clone(),
                    Err(_) => tokio::select! {
                        _ = tx.closed() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    },
                }
            };
            // Ends with its reader (the runtime's event pump, which stops on
            // the emulator's shutdown signal).
            let mut events = docker.events();
            loop {
                let ev = tokio::select! {
                    _ = tx.closed() => return,
                    ev = events.next() => ev,
                };
                let Some(ev) = ev else { return };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
            .boxed()
    }
}
