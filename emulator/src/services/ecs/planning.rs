//! From the ECS wire shapes to the runtime's plan: a task definition plus
//! RunTask overrides become a `TaskPlan`, in the runtime's own types. Pure.
//! The planner only fills in defaults and applies overrides; it never
//! rejects (the definition passed registration, the overrides RunTask's
//! checks). The plan's own rules (the FireLens router's dependents, the
//! stop order) are `runtime::plan`'s.

use super::model::{
    ContainerDefinition, ContainerOverride, HealthCheck, TaskDefinition, TaskOverride,
};
use crate::runtime::plan::{
    self, Condition, ContainerPlan, DEFAULT_STOP_TIMEOUT, Dependency, HealthPlan, MountPlan,
    PortPlan, TaskPlan, UlimitPlan, add_firelens_dependencies,
};

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

fn condition(s: &str) -> Option<Condition> {
    Some(match s {
        "START" => Condition::Start,
        "COMPLETE" => Condition::Complete,
        "SUCCESS" => Condition::Success,
        "HEALTHY" => Condition::Healthy,
        _ => return None,
    })
}

fn secret_refs(list: Option<&[super::model::Secret]>) -> Vec<plan::Secret> {
    list.unwrap_or_default()
        .iter()
        .map(|s| plan::Secret {
            name: s.name.clone(),
            value_from: s.value_from.clone(),
        })
        .collect()
}

fn file_refs(list: Option<&[super::model::EnvironmentFile]>) -> Vec<plan::EnvironmentFile> {
    list.unwrap_or_default()
        .iter()
        .map(|f| plan::EnvironmentFile {
            value: f.value.clone(),
            kind: f.kind.clone(),
        })
        .collect()
}

fn log_configuration(l: &super::model::LogConfiguration) -> plan::LogConfiguration {
    plan::LogConfiguration {
        log_driver: l.log_driver.clone(),
        options: l.options.clone(),
        secret_options: l.secret_options.as_deref().map(|s| secret_refs(Some(s))),
    }
}

fn health_plan(h: &HealthCheck) -> HealthPlan {
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
    ov: Option<&ContainerOverride>,
    input: &PlanInput<'_>,
) -> ContainerPlan {
    let name = def.name.clone().unwrap_or_default();
    let mut environment: Vec<(String, String)> = def
        .environment
        .iter()
        .flatten()
        .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone().unwrap_or_default())))
        .collect();
    let mut environment_files = file_refs(def.environment_files.as_deref());
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
            environment_files = file_refs(Some(files));
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
        secrets: secret_refs(def.secrets.as_deref()),
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
                    condition: condition(&d.condition)?,
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
        log_configuration: def.log_configuration.as_ref().map(log_configuration),
        pseudo_terminal: def.pseudo_terminal.unwrap_or(false),
        interactive: def.interactive.unwrap_or(false),
        firelens: def
            .firelens_configuration
            .as_ref()
            .map(|f| plan::FirelensConfiguration {
                kind: f.kind.clone(),
                options: f.options.clone(),
            }),
        repository_credentials: def
            .repository_credentials
            .as_ref()
            .and_then(|r| r.get("credentialsParameter"))
            .and_then(|p| p.as_str())
            .map(str::to_string),
        name,
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
        subnet_network: None,
        registration: None,
        service_connect: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ecs::model::{
        ContainerDependency, EnvironmentFile, FirelensConfiguration, KeyValuePair,
        LogConfiguration, Secret,
    };

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
                environment_files: Some(vec![EnvironmentFile {
                    value: "arn:aws:s3:::b/o.env".into(),
                    kind: "s3".into(),
                }]),
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
        assert_eq!(
            c.environment_files,
            vec![plan::EnvironmentFile {
                value: "arn:aws:s3:::b/o.env".into(),
                kind: "s3".into()
            }]
        );
        assert_eq!(p.cpu_units, Some(256));
        assert_eq!(p.memory_mib, Some(1024));
        assert!(c.essential);
        assert_eq!(c.stop_timeout_secs, DEFAULT_STOP_TIMEOUT);
    }

    /// The wire's references become the plan's, and the plan's rules apply
    /// (the router's implicit dependents).
    #[test]
    fn references_and_firelens_carry_over() {
        let secret = |n: &str| Secret {
            name: n.into(),
            value_from: format!("arn:aws:ssm:r:1:parameter/{n}"),
        };
        let mut router = def("log_router");
        router.firelens_configuration = Some(FirelensConfiguration {
            kind: "fluentbit".into(),
            options: Some([("enable-ecs-log-metadata".into(), "true".into())].into()),
        });
        let mut web = def("web");
        web.secrets = Some(vec![secret("A")]);
        web.log_configuration = Some(LogConfiguration {
            log_driver: "awsfirelens".into(),
            options: Some([("Name".into(), "cloudwatch".into())].into()),
            secret_options: Some(vec![secret("K")]),
        });
        web.depends_on = Some(vec![ContainerDependency {
            container_name: "init".into(),
            condition: "SUCCESS".into(),
        }]);
        let td = TaskDefinition {
            container_definitions: Some(vec![router, web, def("init")]),
            ..Default::default()
        };
        let p = plan(&td, None);
        let web = p.container("web").unwrap();
        assert_eq!(
            web.secrets,
            vec![plan::Secret {
                name: "A".into(),
                value_from: "arn:aws:ssm:r:1:parameter/A".into()
            }]
        );
        let log = web.log_configuration.as_ref().unwrap();
        assert_eq!(log.log_driver, "awsfirelens");
        assert_eq!(log.secret_options.as_ref().unwrap()[0].name, "K");
        let conditions: Vec<(&str, Condition)> = web
            .depends_on
            .iter()
            .map(|d| (d.container.as_str(), d.condition))
            .collect();
        assert_eq!(
            conditions,
            [
                ("init", Condition::Success),
                ("log_router", Condition::Start)
            ]
        );
        assert_eq!(
            p.firelens_router().map(|r| r.name.as_str()),
            Some("log_router")
        );
        assert_eq!(condition("NEVER"), None);
    }
}
