//! The pure planner: a task definition plus RunTask overrides become a
//! `TaskPlan`, everything the supervisor needs to run the task on Docker and
//! nothing it has to look up again. Plans are stored with the task, so a
//! restarted emulator can re-adopt a task from its plan alone.
//!
//! Resolved secrets and env-file values are never part of a plan (it is
//! stored on disk); the plan keeps the references and the supervisor resolves
//! them just before it creates the containers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::services::ecs::model::{
    ContainerDefinition, EnvironmentFile, LogConfiguration, Secret, TaskDefinition, TaskOverride,
};

/// Fargate's default and the agent's: seconds between SIGTERM and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    Start,
    Complete,
    Success,
    Healthy,
}

impl Condition {
    pub fn parse(s: &str) -> Option<Condition> {
        Some(match s {
            "START" => Condition::Start,
            "COMPLETE" => Condition::Complete,
            "SUCCESS" => Condition::Success,
            "HEALTHY" => Condition::Healthy,
            _ => return None,
        })
    }
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub firelens: Option<crate::services::ecs::model::FirelensConfiguration>,
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

/// What the planner needs besides the task definition.
pub struct PlanInput<'a> {
    pub task_definition: &'a TaskDefinition,
    pub overrides: Option<&'a TaskOverride>,
    pub task_arn: String,
    pub task_id: String,
    pub cluster_arn: String,
    pub cluster_name: String,
    pub region: String,
    pub container_arn: &'a dyn Fn(&str) -> String,
    pub runtime_id: &'a dyn Fn() -> String,
    pub enable_execute_command: bool,
}

/// Parses a Fargate cpu value ("256", "1 vCPU", "0.25 vcpu") to CPU units.
pub fn parse_cpu(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("vcpu") {
        let v: f64 = v.trim().parse().ok()?;
        let units = (v * 1024.0).round();
        return (units > 0.0).then_some(units as u32);
    }
    t.parse().ok().filter(|v| *v > 0)
}

/// Parses a memory value ("512", "1GB", "2 gb") to MiB.
pub fn parse_memory(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("gb") {
        let v: f64 = v.trim().parse().ok()?;
        let mib = (v * 1024.0).round();
        return (mib > 0.0).then_some(mib as u32);
    }
    if let Some(v) = t.strip_suffix("mb") {
        return v.trim().parse().ok().filter(|v| *v > 0);
    }
    t.parse().ok().filter(|v| *v > 0)
}

fn health_plan(h: &crate::services::ecs::model::HealthCheck) -> HealthPlan {
    HealthPlan {
        test: h.command.clone(),
        interval_secs: h.interval.unwrap_or(30).max(1) as u32,
        timeout_secs: h.timeout.unwrap_or(5).max(1) as u32,
        retries: h.retries.unwrap_or(3).max(1) as u32,
        start_period_secs: h.start_period.unwrap_or(0).max(0) as u32,
    }
}

fn container_plan(
    def: &ContainerDefinition,
    ov: Option<&crate::services::ecs::model::ContainerOverride>,
    input: &PlanInput<'_>,
) -> ContainerPlan {
    let name = def.name.clone().unwrap_or_default();
    let mut environment: Vec<(String, String)> = def
        .environment
        .iter()
        .flatten()
        .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone().unwrap_or_default())))
        .collect();
    let mut environment_files = def.environment_files.clone().unwrap_or_default();
    let mut command = def.command.clone();
    let mut cpu_units = def.cpu.map(|c| c.max(0) as u32);
    let mut memory_mib = def.memory.map(|m| m.max(0) as u32);
    let mut memory_reservation_mib = def.memory_reservation.map(|m| m.max(0) as u32);
    if let Some(ov) = ov {
        // Override variables replace same-named ones and add new ones.
        for kv in ov.environment.iter().flatten() {
            let Some(k) = kv.name.clone() else { continue };
            let v = kv.value.clone().unwrap_or_default();
            match environment.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = v,
                None => environment.push((k, v)),
            }
        }
        // An override's list replaces the definition's ("instead of the
        // value from the container definition").
        if let Some(files) = &ov.environment_files {
            environment_files = files.clone();
        }
        if ov.command.is_some() {
            command = ov.command.clone();
        }
        if let Some(c) = ov.cpu {
            cpu_units = Some(c.max(0) as u32);
        }
        if let Some(m) = ov.memory {
            memory_mib = Some(m.max(0) as u32);
        }
        if let Some(m) = ov.memory_reservation {
            memory_reservation_mib = Some(m.max(0) as u32);
        }
    }
    ContainerPlan {
        runtime_id: (input.runtime_id)(),
        container_arn: (input.container_arn)(&name),
        image: def.image.clone().unwrap_or_default(),
        entry_point: def.entry_point.clone(),
        command,
        environment,
        environment_files,
        secrets: def.secrets.clone().unwrap_or_default(),
        working_directory: def.working_directory.clone(),
        user: def.user.clone(),
        essential: def.essential.unwrap_or(true),
        depends_on: def
            .depends_on
            .iter()
            .flatten()
            .filter_map(|d| {
                Some(Dependency {
                    container: d.container_name.clone(),
                    condition: Condition::parse(&d.condition)?,
                })
            })
            .collect(),
        start_timeout_secs: def.start_timeout.map(|t| t.max(0) as u32),
        stop_timeout_secs: def
            .stop_timeout
            .map(|t| t.max(0) as u32)
            .unwrap_or(DEFAULT_STOP_TIMEOUT),
        health_check: def.health_check.as_ref().map(health_plan),
        readonly_root_filesystem: def.readonly_root_filesystem.unwrap_or(false),
        ulimits: def
            .ulimits
            .iter()
            .flatten()
            .map(|u| UlimitPlan {
                name: u.name.clone(),
                soft: u.soft_limit,
                hard: u.hard_limit,
            })
            .collect(),
        mounts: def
            .mount_points
            .iter()
            .flatten()
            .filter_map(|m| {
                Some(MountPlan {
                    volume: m.source_volume.clone()?,
                    container_path: m.container_path.clone()?,
                    read_only: m.read_only.unwrap_or(false),
                })
            })
            .collect(),
        volumes_from: def
            .volumes_from
            .iter()
            .flatten()
            .filter_map(|v| Some((v.source_container.clone()?, v.read_only.unwrap_or(false))))
            .collect(),
        cpu_units,
        memory_mib,
        memory_reservation_mib,
        docker_labels: def.docker_labels.clone().unwrap_or_default(),
        log_configuration: def.log_configuration.clone(),
        pseudo_terminal: def.pseudo_terminal.unwrap_or(false),
        interactive: def.interactive.unwrap_or(false),
        firelens: def.firelens_configuration.clone(),
        name,
    }
}

/// The agent's implicit dependency: every `awsfirelens` container without
/// a dependency on the log router waits for it to START. Skipped when the
/// router has a `dependsOn` of its own (which could make a cycle). The task
/// definition and DescribeTasks do not show it; only the plan has it.
fn add_firelens_dependencies(containers: &mut [ContainerPlan]) {
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

/// Builds the plan. The task definition has passed registration, so the
/// planner only fills in defaults; it never rejects.
pub fn plan_task(input: PlanInput<'_>) -> TaskPlan {
    let td = input.task_definition;
    let ov = input.overrides;
    let overrides_for = |name: &str| {
        ov.and_then(|o| o.container_overrides.as_ref())
            .and_then(|list| list.iter().find(|c| c.name.as_deref() == Some(name)))
    };
    let mut containers: Vec<ContainerPlan> = td
        .container_definitions
        .iter()
        .flatten()
        .map(|def| {
            container_plan(
                def,
                overrides_for(def.name.as_deref().unwrap_or("")),
                &input,
            )
        })
        .collect();
    add_firelens_dependencies(&mut containers);
    let mut ports = Vec::new();
    for def in td.container_definitions.iter().flatten() {
        for pm in def.port_mappings.iter().flatten() {
            if let Some(p) = pm.container_port.and_then(|p| u16::try_from(p).ok()) {
                let protocol = pm.protocol.clone().unwrap_or_else(|| "tcp".into());
                if !ports
                    .iter()
                    .any(|x: &PortPlan| x.container_port == p && x.protocol == protocol)
                {
                    ports.push(PortPlan {
                        container: def.name.clone().unwrap_or_default(),
                        container_port: p,
                        protocol,
                    });
                }
            }
        }
    }
    let cpu = ov
        .and_then(|o| o.cpu.as_deref())
        .or(td.cpu.as_deref())
        .and_then(parse_cpu);
    let memory = ov
        .and_then(|o| o.memory.as_deref())
        .or(td.memory.as_deref())
        .and_then(parse_memory);
    TaskPlan {
        task_arn: input.task_arn.clone(),
        task_id: input.task_id.clone(),
        cluster_arn: input.cluster_arn.clone(),
        cluster_name: input.cluster_name.clone(),
        region: input.region.clone(),
        family: td.family.clone().unwrap_or_default(),
        revision: td.revision.unwrap_or(1),
        task_definition_arn: td.task_definition_arn.clone().unwrap_or_default(),
        cpu_units: cpu,
        memory_mib: memory,
        task_role_arn: ov
            .and_then(|o| o.task_role_arn.clone())
            .or_else(|| td.task_role_arn.clone()),
        execution_role_arn: ov
            .and_then(|o| o.execution_role_arn.clone())
            .or_else(|| td.execution_role_arn.clone()),
        containers,
        volumes: td
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| v.name.clone())
            .collect(),
        ports,
        enable_execute_command: input.enable_execute_command,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ecs::model::{ContainerDependency, ContainerOverride, KeyValuePair};

    fn def(name: &str) -> ContainerDefinition {
        ContainerDefinition {
            name: Some(name.into()),
            image: Some("busybox".into()),
            ..Default::default()
        }
    }

    fn plan(td: &TaskDefinition, ov: Option<&TaskOverride>) -> TaskPlan {
        plan_task(PlanInput {
            task_definition: td,
            overrides: ov,
            task_arn: "arn:t".into(),
            task_id: "t".into(),
            cluster_arn: "arn:c".into(),
            cluster_name: "c".into(),
            region: "us-east-1".into(),
            container_arn: &|n| format!("arn:container/{n}"),
            runtime_id: &|| "t-1".into(),
            enable_execute_command: false,
        })
    }

    #[test]
    fn cpu_and_memory_values() {
        let cases = [
            ("256", Some(256)),
            ("1 vCPU", Some(1024)),
            ("0.25 vcpu", Some(256)),
            ("x", None),
            ("0", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_cpu(s), want, "{s}");
        }
        let cases = [
            ("512", Some(512)),
            ("1GB", Some(1024)),
            ("2 gb", Some(2048)),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_memory(s), want, "{s}");
        }
    }

    #[test]
    fn overrides_apply() {
        let mut web = def("web");
        web.environment = Some(vec![
            KeyValuePair::new("A", "1"),
            KeyValuePair::new("B", "2"),
        ]);
        web.command = Some(vec!["old".into()]);
        let td = TaskDefinition {
            family: Some("f".into()),
            cpu: Some("256".into()),
            memory: Some("512".into()),
            container_definitions: Some(vec![web]),
            ..Default::default()
        };
        let ov = TaskOverride {
            container_overrides: Some(vec![ContainerOverride {
                name: Some("web".into()),
                command: Some(vec!["new".into()]),
                environment: Some(vec![
                    KeyValuePair::new("B", "3"),
                    KeyValuePair::new("C", "4"),
                ]),
                ..Default::default()
            }]),
            memory: Some("1024".into()),
            ..Default::default()
        };
        let p = plan(&td, Some(&ov));
        let c = &p.containers[0];
        assert_eq!(c.command.as_deref(), Some(&["new".to_string()][..]));
        let env: Vec<(&str, &str)> = c
            .environment
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(env, vec![("A", "1"), ("B", "3"), ("C", "4")]);
        assert_eq!(p.cpu_units, Some(256));
        assert_eq!(p.memory_mib, Some(1024));
        assert!(c.essential);
        assert_eq!(c.stop_timeout_secs, DEFAULT_STOP_TIMEOUT);
    }

    #[test]
    fn stop_order_is_reverse_dependency_order() {
        let mut app = def("app");
        app.depends_on = Some(vec![ContainerDependency {
            container_name: "db".into(),
            condition: "START".into(),
        }]);
        let mut sidecar = def("sidecar");
        sidecar.depends_on = Some(vec![ContainerDependency {
            container_name: "app".into(),
            condition: "START".into(),
        }]);
        let td = TaskDefinition {
            container_definitions: Some(vec![def("db"), app, sidecar]),
            ..Default::default()
        };
        let waves = plan(&td, None).stop_waves();
        assert_eq!(waves, vec![vec!["sidecar"], vec!["app"], vec!["db"]]);
    }

    fn firelens_task(router_depends: bool) -> TaskDefinition {
        use crate::services::ecs::model::{FirelensConfiguration, LogConfiguration};
        let mut router = def("log_router");
        router.firelens_configuration = Some(FirelensConfiguration {
            kind: "fluentbit".into(),
            options: None,
        });
        if router_depends {
            router.depends_on = Some(vec![ContainerDependency {
                container_name: "init".into(),
                condition: "SUCCESS".into(),
            }]);
        }
        let firelens = LogConfiguration {
            log_driver: "awsfirelens".into(),
            options: None,
            secret_options: None,
        };
        let mut web = def("web");
        web.log_configuration = Some(firelens.clone());
        let mut worker = def("worker");
        worker.log_configuration = Some(firelens);
        worker.depends_on = Some(vec![ContainerDependency {
            container_name: "log_router".into(),
            condition: "HEALTHY".into(),
        }]);
        let mut init = def("init");
        init.essential = Some(false);
        TaskDefinition {
            container_definitions: Some(vec![init, router, web, worker]),
            ..Default::default()
        }
    }

    #[test]
    fn firelens_containers_wait_for_the_router_and_stop_before_it() {
        let p = plan(&firelens_task(false), None);
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
        let p = plan(&firelens_task(true), None);
        assert!(p.container("web").unwrap().depends_on.is_empty());
        assert_eq!(
            p.stop_waves(),
            vec![vec!["web", "worker"], vec!["log_router"], vec!["init"]]
        );
    }
}
