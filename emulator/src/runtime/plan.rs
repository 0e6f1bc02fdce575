//! The plan of a task: everything the supervisor needs to run it on Docker
//! and nothing it has to look up again, in the runtime's own types. Plans
//! are stored with the task, so a restarted emulator can re-adopt a task
//! from its plan alone.
//!
//! Pure, and deliberately free of the ECS wire shapes: a task definition
//! and RunTask overrides become a plan in `services::ecs::planning`, on the
//! ECS side. What stays here are the rules of the plan itself: the
//! FireLens router's implicit dependents and the order containers stop in.
//!
//! Resolved secrets and env-file values are never part of a plan (it is
//! stored on disk); the plan keeps the references and the supervisor resolves
//! them just before it creates the containers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// Fargate's default and the agent's: seconds between SIGTERM and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    Start,
    Complete,
    Success,
    Healthy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    pub container: String,
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthPlan {
    /// Docker's form: `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub test: Vec<String>,
    pub interval_secs: u32,
    pub timeout_secs: u32,
    pub retries: u32,
    pub start_period_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountPlan {
    /// The task volume's name in the task definition.
    pub volume: String,
    pub container_path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UlimitPlan {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortPlan {
    pub container: String,
    pub container_port: u16,
    pub protocol: String,
}

/// A reference to an environment file (`environmentFiles`), resolved when
/// the container is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentFile {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A reference to a secret: the variable's name and where its value is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub name: String,
    pub value_from: String,
}

/// How a container logs: the driver, its options and the options whose
/// values are secrets.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: Option<BTreeMap<String, String>>,
    pub secret_options: Option<Vec<Secret>>,
}

/// The FireLens log router's configuration: `fluentbit` or `fluentd`, and
/// its options (`config-file-type`, `enable-ecs-log-metadata`, ...).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirelensConfiguration {
    #[serde(rename = "type")]
    pub kind: String,
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerPlan {
    pub name: String,
    pub image: String,
    /// Fargate-shaped `<taskId>-<digits>`; also the metadata URI id.
    pub runtime_id: String,
    pub container_arn: String,
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// `environment` after overrides, in definition order.
    pub environment: Vec<(String, String)>,
    /// References only; resolved at container creation.
    #[serde(default)]
    pub environment_files: Vec<EnvironmentFile>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    pub working_directory: Option<String>,
    pub user: Option<String>,
    pub essential: bool,
    pub depends_on: Vec<Dependency>,
    pub start_timeout_secs: Option<u32>,
    pub stop_timeout_secs: u32,
    pub health_check: Option<HealthPlan>,
    pub readonly_root_filesystem: bool,
    pub ulimits: Vec<UlimitPlan>,
    pub mounts: Vec<MountPlan>,
    /// Containers whose volumes this one mounts (`volumesFrom`).
    pub volumes_from: Vec<(String, bool)>,
    /// CPU units (1024 = one vCPU), as `cpu` in the container definition.
    pub cpu_units: Option<u32>,
    pub memory_mib: Option<u32>,
    pub memory_reservation_mib: Option<u32>,
    pub docker_labels: BTreeMap<String, String>,
    pub log_configuration: Option<LogConfiguration>,
    pub pseudo_terminal: bool,
    pub interactive: bool,
    /// Set on the FireLens log router.
    #[serde(default)]
    pub firelens: Option<FirelensConfiguration>,
    /// `repositoryCredentials.credentialsParameter`: the Secrets Manager
    /// secret holding a private registry's user name and password (a
    /// reference only; read with the execution role before the pull).
    /// Left out when absent, so plans stored before it keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPlan {
    pub task_arn: String,
    pub task_id: String,
    pub cluster_arn: String,
    pub cluster_name: String,
    pub region: String,
    pub family: String,
    pub revision: i32,
    pub task_definition_arn: String,
    /// Task-level CPU units and memory (MiB), after overrides.
    pub cpu_units: Option<u32>,
    pub memory_mib: Option<u32>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub containers: Vec<ContainerPlan>,
    /// Task volumes without a host path: shared, emptied when the task stops.
    pub volumes: Vec<String>,
    pub ports: Vec<PortPlan>,
    #[serde(default)]
    pub enable_execute_command: bool,
    /// The user's Docker network the task's subnet is mapped to
    /// (`serve --subnet`), joined besides the emulator's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_network: Option<SubnetNetwork>,
    /// The Cloud Map service a service's task is registered with
    /// (`serviceRegistries`), and the names it answers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// Service Connect: the client aliases the task's proxy listens on and
    /// the endpoints it serves (`runtime::service_connect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect: Option<ServiceConnectPlan>,
}

/// A service task's Service Connect: fixed when the task is planned, as
/// AWS fixes a task's `/etc/hosts` when it starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceConnectPlan {
    /// The Cloud Map namespace (ARN).
    pub namespace_arn: String,
    /// One per client alias (`dnsName:port`) of the namespace when the task
    /// was planned: the proxy listens on `address:port`.
    #[serde(default)]
    pub listeners: Vec<ServiceConnectListener>,
    /// The task's own endpoints (`services[]` of its configuration).
    #[serde(default)]
    pub endpoints: Vec<ServiceConnectEndpoint>,
    /// Where peers' proxies reach the task: its address on the emulator's
    /// network, known once it is provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A client alias and the loopback address (`127.255.x.y`) its `dnsName`
/// resolves to in the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceConnectListener {
    pub dns_name: String,
    pub address: String,
    pub port: u16,
    /// The endpoint behind it (unique in the namespace).
    pub discovery_name: String,
}

/// An endpoint a task serves: peers' proxies reach it on `ingress_port`
/// (`ingressPortOverride`), forwarded to `container_port`, or on
/// `container_port` itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceConnectEndpoint {
    pub discovery_name: String,
    pub container_port: u16,
    #[serde(default)]
    pub ingress_port: Option<u16>,
}

impl ServiceConnectEndpoint {
    /// The port peers connect to.
    pub fn port(&self) -> u16 {
        self.ingress_port.unwrap_or(self.container_port)
    }
}

/// A task's Cloud Map registration: the registry (a Cloud Map service
/// ARN), the ECS service and the port. `aliases` are network aliases of
/// the infrastructure container on the emulator's network: no longer
/// given (the task's DNS server answers Cloud Map names), kept so that a
/// task planned by an earlier version still leaves the network when it
/// stops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub registry_arn: String,
    pub service_name: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A subnet of the task's `awsvpcConfiguration` and the existing Docker
/// network it stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetNetwork {
    pub subnet: String,
    pub network: String,
}

impl ContainerPlan {
    /// Whether the container logs through FireLens (`awsfirelens`).
    pub fn uses_firelens(&self) -> bool {
        self.log_configuration
            .as_ref()
            .is_some_and(|l| l.log_driver == "awsfirelens")
    }
}

impl TaskPlan {
    /// The FireLens log router: the first container with a
    /// `firelensConfiguration`, as the agent picks it.
    pub fn firelens_router(&self) -> Option<&ContainerPlan> {
        self.containers.iter().find(|c| c.firelens.is_some())
    }

    pub fn container(&self, name: &str) -> Option<&ContainerPlan> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// Containers in the order they may be stopped: a container stops only
    /// after every container that depends on it has stopped, and the
    /// FireLens log router after every container that logs to it (so that
    /// it ships their last lines), even when it has a `dependsOn` of its own.
    pub fn stop_waves(&self) -> Vec<Vec<String>> {
        let mut remaining: Vec<&ContainerPlan> = self.containers.iter().collect();
        let mut waves = Vec::new();
        let waits_for = |c: &ContainerPlan, o: &ContainerPlan| {
            o.depends_on.iter().any(|d| d.container == c.name)
                || (c.firelens.is_some() && o.name != c.name && o.uses_firelens())
        };
        while !remaining.is_empty() {
            let wave: Vec<String> = remaining
                .iter()
                .filter(|c| !remaining.iter().any(|o| waits_for(c, o)))
                .map(|c| c.name.clone())
                .collect();
            // A cycle cannot pass registration; stop the rest together if one
            // does anyway rather than looping forever.
            let wave = if wave.is_empty() {
                remaining.iter().map(|c| c.name.clone()).collect()
            } else {
                wave
            };
            remaining.retain(|c| !wave.contains(&c.name));
            waves.push(wave);
        }
        waves
    }
}

/// The agent's implicit dependency: every `awsfirelens` container without
/// a dependency on the log router waits for it to START. Skipped when the
/// router has a `dependsOn` of its own (which could make a cycle). The task
/// definition and DescribeTasks do not show it; only the plan has it.
pub fn add_firelens_dependencies(containers: &mut [ContainerPlan]) {
    let Some(router) = containers.iter().find(|c| c.firelens.is_some()) else {
        return;
    };
    if !router.depends_on.is_empty() {
        return;
    }
    let router = router.name.clone();
    for c in containers.iter_mut() {
        if c.name != router
            && c.uses_firelens()
            && !c.depends_on.iter().any(|d| d.container == router)
        {
            c.depends_on.push(Dependency {
                container: router.clone(),
                condition: Condition::Start,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, depends_on: &[(&str, Condition)]) -> ContainerPlan {
        ContainerPlan {
            name: name.into(),
            essential: true,
            depends_on: depends_on
                .iter()
                .map(|(c, condition)| Dependency {
                    container: c.to_string(),
                    condition: *condition,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn plan(containers: Vec<ContainerPlan>) -> TaskPlan {
        TaskPlan {
            task_arn: "arn:t".into(),
            task_id: "t".into(),
            cluster_arn: "arn:c".into(),
            cluster_name: "c".into(),
            region: "us-east-1".into(),
            family: "f".into(),
            revision: 1,
            task_definition_arn: "arn:td".into(),
            cpu_units: None,
            memory_mib: None,
            task_role_arn: None,
            execution_role_arn: None,
            containers,
            volumes: Vec::new(),
            ports: Vec::new(),
            enable_execute_command: false,
            subnet_network: None,
            registration: None,
            service_connect: None,
        }
    }

    #[test]
    fn stop_order_is_reverse_dependency_order() {
        let p = plan(vec![
            container("db", &[]),
            container("app", &[("db", Condition::Start)]),
            container("sidecar", &[("app", Condition::Start)]),
        ]);
        assert_eq!(
            p.stop_waves(),
            vec![vec!["sidecar"], vec!["app"], vec!["db"]]
        );
    }

    fn firelens_containers(router_depends: bool) -> Vec<ContainerPlan> {
        let mut router = container("log_router", &[]);
        router.firelens = Some(FirelensConfiguration {
            kind: "fluentbit".into(),
            options: None,
        });
        if router_depends {
            router.depends_on = container("", &[("init", Condition::Success)]).depends_on;
        }
        let firelens = LogConfiguration {
            log_driver: "awsfirelens".into(),
            options: None,
            secret_options: None,
        };
        let mut web = container("web", &[]);
        web.log_configuration = Some(firelens.clone());
        let mut worker = container("worker", &[("log_router", Condition::Healthy)]);
        worker.log_configuration = Some(firelens);
        let mut init = container("init", &[]);
        init.essential = false;
        let mut containers = vec![init, router, web, worker];
        add_firelens_dependencies(&mut containers);
        containers
    }

    #[test]
    fn firelens_containers_wait_for_the_router_and_stop_before_it() {
        let p = plan(firelens_containers(false));
        let deps = |n: &str| p.container(n).unwrap().depends_on.clone();
        assert_eq!(
            deps("web"),
            vec![Dependency {
                container: "log_router".into(),
                condition: Condition::Start
            }]
        );
        // An explicit dependency on the router is kept as it is.
        assert_eq!(deps("worker").len(), 1);
        assert_eq!(deps("worker")[0].condition, Condition::Healthy);
        assert!(deps("init").is_empty());
        assert_eq!(
            p.stop_waves(),
            vec![vec!["init", "web", "worker"], vec!["log_router"]]
        );

        // A router with dependencies of its own gets no dependents, but
        // still stops last.
        let p = plan(firelens_containers(true));
        assert!(p.container("web").unwrap().depends_on.is_empty());
        assert_eq!(
            p.stop_waves(),
            vec![vec!["web", "worker"], vec!["log_router"], vec!["init"]]
        );
    }
}
