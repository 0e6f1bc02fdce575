//! ECS Service Connect (`serviceConnectConfiguration`): validated with
//! AWS's rules, echoed on the service's deployments, and planned for each
//! task of the service: the namespace's client aliases (each `dnsName`
//! with a loopback address its `/etc/hosts` points at) and the task's own
//! endpoints (`ServiceConnectPlan`), which the proxy of its infrastructure
//! container (`runtime::service_connect`) serves. [`proxy_table`] says,
//! purely, which tasks are behind each alias now. ECS makes one Cloud Map
//! service per `discoveryName` in the namespace, tagged
//! `AmazonECSManaged=true`, and registers the tasks there (the proxy's
//! `ecs-service-connect-…` container in DescribeTasks is made with the
//! task, in `tasks`). Left out: IPv6 addresses for the aliases.

use serde_json::{Value, json};

use super::Ecs;
use super::error::EcsError;
use super::model::TaskDefinition;

/// One `services[]` entry, with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub port_name: String,
    pub discovery_name: String,
    pub dns_name: String,
    pub port: Option<u16>,
    pub container_port: Option<u16>,
    pub ingress_port_override: Option<u16>,
}

/// A validated configuration: the namespace (name, id, ARN) and its
/// endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub namespace_name: String,
    pub namespace_id: String,
    pub namespace_arn: String,
    pub endpoints: Vec<Endpoint>,
}

fn name_ok(s: &str, max: usize, extra: &str) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
}

/// The port mapping named `name` in the task definition: its container
/// port.
fn named_port(td: &TaskDefinition, name: &str) -> Option<Option<u16>> {
    td.container_definitions
        .iter()
        .flatten()
        .flat_map(|c| c.port_mappings.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port.and_then(|p| u16::try_from(p).ok()))
}

impl Ecs {
    /// Checks `serviceConnectConfiguration` against the task definition and
    /// the namespaces of Cloud Map (`cluster_default` is the cluster's
    /// `serviceConnectDefaults.namespace`). `None` when Service Connect is
    /// off.
    pub(super) fn check_service_connect(
        &self,
        region: &str,
        cfg: &Value,
        cluster_default: Option<&str>,
        td: &TaskDefinition,
    ) -> Result<Option<Resolved>, EcsError> {
        let enabled = cfg.get("enabled").and_then(Value::as_bool).ok_or_else(|| {
            EcsError::invalid("serviceConnectConfiguration.enabled must not be null.")
        })?;
        if !enabled {
            return Ok(None);
        }
        let ns_ref = cfg
            .get("namespace")
            .and_then(Value::as_str)
            .or(cluster_default)
            .ok_or_else(|| {
                EcsError::invalid(
                    "Service Connect namespace must be specified when the cluster has no default namespace.",
                )
            })?;
        let ns = self
            .servicediscovery()
            .and_then(|sd| sd.namespace_by_name_or_arn(region, ns_ref))
            .ok_or_else(|| {
                EcsError::NamespaceNotFound(format!("Failed to retrieve namespace for {ns_ref}"))
            })?;
        let ns_name = ns.name.trim_end_matches('.').to_string();
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for s in cfg
            .get("services")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let port_name = s
                .get("portName")
                .and_then(Value::as_str)
                .ok_or_else(|| EcsError::invalid("portName must not be null."))?;
            let Some(container_port) = named_port(td, port_name) else {
                return Err(EcsError::invalid(format!(
                    "The portName '{port_name}' does not match any port mapping name in the task definition."
                )));
            };
            let discovery_name = s
                .get("discoveryName")
                .and_then(Value::as_str)
                .unwrap_or(port_name);
            if !name_ok(discovery_name, 64, "_-") {
                return Err(EcsError::invalid(format!(
                    "The discoveryName '{discovery_name}' is invalid. It must be 1 to 64 lowercase letters, numbers, underscores and hyphens, and not start with a hyphen."
                )));
            }
            let aliases = s
                .get("clientAliases")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if aliases.len() > 1 {
                return Err(EcsError::invalid(
                    "The maximum number of clientAliases per Service Connect service is 1.",
                ));
            }
            let (dns_name, port) = match aliases.first() {
                Some(a) => {
                    let port = a
                        .get("port")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| EcsError::invalid("clientAliases.port must not be null."))?;
                    let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                        EcsError::invalid("clientAliases.port must be between 1 and 65535.")
                    })?;
                    let dns = a
                        .get("dnsName")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{discovery_name}.{ns_name}"));
                    if !name_ok(&dns, 127, "_.-") {
                        return Err(EcsError::invalid(format!(
                            "The dnsName '{dns}' is invalid. It must be 1 to 127 lowercase letters, numbers, underscores, periods and hyphens."
                        )));
                    }
                    (dns, Some(port))
                }
                None => (format!("{discovery_name}.{ns_name}"), container_port),
            };
            let ingress_port_override = match s.get("ingressPortOverride") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|p| u16::try_from(p).ok())
                        .filter(|p| *p > 0)
                        .ok_or_else(|| {
                            EcsError::invalid("ingressPortOverride must be between 1 and 65535.")
                        })?,
                ),
            };
            if endpoints.iter().any(|e| e.discovery_name == discovery_name) {
                return Err(EcsError::invalid(format!(
                    "The discoveryName '{discovery_name}' is used more than once in the namespace {ns_name}."
                )));
            }
            if endpoints
                .iter()
                .any(|e| e.dns_name == dns_name && e.port == port)
            {
                return Err(EcsError::invalid(format!(
                    "The client alias {dns_name}:{} is used more than once.",
                    port.unwrap_or(0)
                )));
            }
            endpoints.push(Endpoint {
                port_name: port_name.to_string(),
                discovery_name: discovery_name.to_string(),
                dns_name,
                port,
                container_port,
                ingress_port_override,
            });
        }
        Ok(Some(Resolved {
            namespace_name: ns_name,
            namespace_id: ns.id,
            namespace_arn: ns.arn,
            endpoints,
        }))
    }

    /// Makes (or finds) the Cloud Map service of each endpoint:
    /// `serviceConnectResources` (`discoveryName`, `discoveryArn`).
    pub(super) fn service_connect_resources(
        &self,
        region: &str,
        r: &Resolved,
    ) -> Result<Vec<Value>, EcsError> {
        let Some(sd) = self.servicediscovery() else {
            return Ok(Vec::new());
        };
        r.endpoints
            .iter()
            .map(|e| {
                let s = sd
                    .ensure_service(region, &r.namespace_id, &e.discovery_name)
                    .map_err(|e| EcsError::invalid(e.to_string()))?;
                Ok(json!({"discoveryName": e.discovery_name, "discoveryArn": s.arn}))
            })
            .collect()
    }
}

/// A namespace's discovery names and client aliases belong to one
/// service: `r` may use none that another ACTIVE service (`own` excepted)
/// uses in the same namespace.
pub fn check_names_free<'a>(
    r: &Resolved,
    others: impl Iterator<Item = &'a super::service_model::ServiceRecord>,
    own: Option<&str>,
) -> Result<(), EcsError> {
    use super::service_model::ServiceStatus;
    for other in others {
        if other.service.status != Some(ServiceStatus::Active) || Some(other.arn()) == own {
            continue;
        }
        let Some(cfg) = other.service_connect.as_ref() else {
            continue;
        };
        if cfg.get("namespace").and_then(Value::as_str) != Some(r.namespace_arn.as_str()) {
            continue;
        }
        for theirs in endpoints_of(cfg, &r.namespace_name, None) {
            for e in &r.endpoints {
                if e.discovery_name == theirs.discovery_name {
                    return Err(EcsError::invalid(format!(
                        "The discoveryName '{}' is already used by service {} in the namespace {}.",
                        e.discovery_name,
                        other.name(),
                        r.namespace_name
                    )));
                }
                if e.dns_name == theirs.dns_name && e.port.is_some() && e.port == theirs.port {
                    return Err(EcsError::invalid(format!(
                        "The client alias {}:{} is already used by service {} in the namespace {}.",
                        e.dns_name,
                        e.port.unwrap_or(0),
                        other.name(),
                        r.namespace_name
                    )));
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------ the proxy

/// The endpoints a stored configuration (`serviceConnectConfiguration`
/// with its defaults, namespace `ns`) declares, with the container port of
/// each `portName` in `td`: what [`Ecs::check_service_connect`] accepted.
pub fn endpoints_of(cfg: &Value, ns: &str, td: Option<&TaskDefinition>) -> Vec<Endpoint> {
    if cfg.get("enabled").and_then(Value::as_bool) != Some(true) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for s in cfg
        .get("services")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(port_name) = s.get("portName").and_then(Value::as_str) else {
            continue;
        };
        let discovery_name = s
            .get("discoveryName")
            .and_then(Value::as_str)
            .unwrap_or(port_name)
            .to_string();
        let container_port = td.and_then(|td| named_port(td, port_name)).flatten();
        let alias = s
            .get("clientAliases")
            .and_then(Value::as_array)
            .and_then(|a| a.first());
        let fallback = format!("{discovery_name}.{ns}");
        let (dns_name, port) = match alias {
            Some(a) => (
                a.get("dnsName")
                    .and_then(Value::as_str)
                    .map_or(fallback, str::to_string),
                a.get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok()),
            ),
            None => (fallback, container_port),
        };
        let ingress = s
            .get("ingressPortOverride")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok());
        out.push(Endpoint {
            port_name: port_name.to_string(),
            discovery_name,
            dns_name,
            port,
            container_port,
            ingress_port_override: ingress,
        });
    }
    out
}

/// A client alias of a namespace: `dns_name:port` reaches the tasks that
/// serve `discovery_name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Alias {
    pub dns_name: String,
    pub port: u16,
    pub discovery_name: String,
}

/// The loopback address of the `i`th (0-based) client name of a task:
/// 127.255.0.1 onwards, as the ECS agent allots them (never .0 or .255).
pub fn loopback_address(i: usize) -> String {
    format!("127.255.{}.{}", (i / 254) % 256, i % 254 + 1)
}

/// A task's Service Connect plan: a listener per alias of its namespace
/// (names in sorted order get consecutive loopback addresses; one address
/// per name, whatever its ports), and its own endpoints.
pub fn task_plan(
    namespace_arn: &str,
    aliases: &[Alias],
    own: &[Endpoint],
) -> crate::runtime::plan::ServiceConnectPlan {
    use crate::runtime::plan::{ServiceConnectEndpoint, ServiceConnectListener};
    let mut aliases = aliases.to_vec();
    aliases.sort();
    aliases.dedup_by(|a, b| a.dns_name == b.dns_name && a.port == b.port);
    let mut names: Vec<&str> = aliases.iter().map(|a| a.dns_name.as_str()).collect();
    names.dedup();
    let listeners = aliases
        .iter()
        .map(|a| ServiceConnectListener {
            dns_name: a.dns_name.clone(),
            address: loopback_address(names.iter().position(|n| *n == a.dns_name).unwrap_or(0)),
            port: a.port,
            discovery_name: a.discovery_name.clone(),
        })
        .collect();
    let endpoints = own
        .iter()
        .filter_map(|e| {
            Some(ServiceConnectEndpoint {
                discovery_name: e.discovery_name.clone(),
                container_port: e.container_port?,
                ingress_port: e.ingress_port_override,
            })
        })
        .collect();
    crate::runtime::plan::ServiceConnectPlan {
        namespace_arn: namespace_arn.to_string(),
        listeners,
        endpoints,
        address: None,
    }
}

/// What a task's proxy is told: for each listener the addresses
/// (`ip:port`) of the tasks behind it that may take traffic now
/// ([`super::registries::wanted`]: RUNNING, not stopping, HEALTHY when
/// checked), and the ingress ports it forwards to its own containers.
/// Sorted, so that an unchanged table compares equal.
pub fn proxy_table(
    sc: &crate::runtime::plan::ServiceConnectPlan,
    tasks: &[super::TaskRecord],
) -> Value {
    let mut listeners = Vec::new();
    for l in &sc.listeners {
        let mut upstreams: Vec<String> = tasks
            .iter()
            .filter(|t| super::registries::wanted(t))
            .filter_map(|t| {
                let peer = t.plan.service_connect.as_ref()?;
                if peer.namespace_arn != sc.namespace_arn {
                    return None;
                }
                let e = peer
                    .endpoints
                    .iter()
                    .find(|e| e.discovery_name == l.discovery_name)?;
                let ip = match &peer.address {
                    Some(a) => a.clone(),
                    None => t
                        .task
                        .attachments
                        .iter()
                        .flatten()
                        .flat_map(|a| a.details.iter().flatten())
                        .find(|d| d.name.as_deref() == Some("privateIPv4Address"))?
                        .value
                        .clone()?,
                };
                Some(format!("{ip}:{}", e.port()))
            })
            .collect();
        upstreams.sort();
        listeners.push(json!({
            "address": l.address,
            "port": l.port,
            "upstreams": upstreams,
        }));
    }
    let ingress: Vec<Value> = sc
        .endpoints
        .iter()
        .filter_map(|e| {
            let port = e.ingress_port.filter(|p| *p != e.container_port)?;
            Some(json!({"port": port, "target": e.container_port}))
        })
        .collect();
    json!({"listeners": listeners, "ingress": ingress})
}

/// What launching a region's Service Connect tasks needs, taken before the
/// scheduler's round changes the services: every client alias of each
/// namespace (ARN), and the task definitions of the revisions that use
/// Service Connect.
#[derive(Default)]
pub struct Index {
    aliases: std::collections::BTreeMap<String, Vec<Alias>>,
    task_definitions: std::collections::HashMap<String, TaskDefinition>,
}

impl Ecs {
    /// The namespace name of a stored configuration (its namespace is an
    /// ARN), without a trailing dot.
    fn namespace_of(&self, region: &str, cfg: &Value) -> Option<(String, String)> {
        let arn = cfg.get("namespace")?.as_str()?;
        let ns = self
            .servicediscovery()?
            .namespace_by_name_or_arn(region, arn)?;
        Some((ns.arn, ns.name.trim_end_matches('.').to_string()))
    }

    pub(super) fn service_connect_index(
        &self,
        region_name: &str,
        region: &super::RegionState,
    ) -> Index {
        use super::service_model::ServiceStatus;
        let mut index = Index::default();
        for rec in region.services.values() {
            if rec.service.status != Some(ServiceStatus::Active) {
                continue;
            }
            for rev in &rec.revisions {
                if let Some(td) = rev.task_definition.as_deref()
                    && rev.service_connect_configuration.is_some()
                    && let Some(r) = region.task_definition(td)
                {
                    index.task_definitions.insert(td.to_string(), r.td.clone());
                }
            }
            let Some(cfg) = rec.service_connect.as_ref() else {
                continue;
            };
            let Some((ns_arn, ns_name)) = self.namespace_of(region_name, cfg) else {
                continue;
            };
            let td = rec
                .service
                .task_definition
                .as_deref()
                .and_then(|t| region.task_definition(t))
                .map(|r| &r.td);
            let list = index.aliases.entry(ns_arn).or_default();
            for e in endpoints_of(cfg, &ns_name, td) {
                if let Some(port) = e.port {
                    list.push(Alias {
                        dns_name: e.dns_name,
                        port,
                        discovery_name: e.discovery_name,
                    });
                }
            }
        }
        index
    }

    /// The Service Connect plan of a task of `revision` (none when the
    /// revision has Service Connect off).
    pub(super) fn service_connect_plan(
        &self,
        index: &Index,
        region: &str,
        revision: &super::service_model::ServiceRevision,
    ) -> Option<crate::runtime::plan::ServiceConnectPlan> {
        let cfg = revision.service_connect_configuration.as_ref()?;
        if cfg.get("enabled").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let (ns_arn, ns_name) = self.namespace_of(region, cfg)?;
        let td = revision
            .task_definition
            .as_deref()
            .and_then(|t| index.task_definitions.get(t));
        let own = endpoints_of(cfg, &ns_name, td);
        let aliases = index.aliases.get(&ns_arn).map(Vec::as_slice).unwrap_or(&[]);
        Some(task_plan(&ns_arn, aliases, &own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::plan::{ServiceConnectEndpoint, ServiceConnectListener};

    fn alias(dns: &str, port: u16, discovery: &str) -> Alias {
        Alias {
            dns_name: dns.into(),
            port,
            discovery_name: discovery.into(),
        }
    }

    #[test]
    fn loopback_addresses_skip_zero_and_broadcast_octets() {
        assert_eq!(loopback_address(0), "127.255.0.1");
        assert_eq!(loopback_address(253), "127.255.0.254");
        assert_eq!(loopback_address(254), "127.255.1.1");
    }

    #[test]
    fn a_name_gets_one_address_whatever_its_ports() {
        let own = [Endpoint {
            port_name: "http".into(),
            discovery_name: "web".into(),
            dns_name: "web".into(),
            port: Some(80),
            container_port: Some(8080),
            ingress_port_override: Some(9000),
        }];
        let p = task_plan(
            "arn:ns",
            &[
                alias("web", 80, "web"),
                alias("api", 8080, "api"),
                alias("api", 9090, "api-admin"),
                alias("web", 80, "web"),
            ],
            &own,
        );
        let l = |dns: &str, address: &str, port: u16, d: &str| ServiceConnectListener {
            dns_name: dns.into(),
            address: address.into(),
            port,
            discovery_name: d.into(),
        };
        assert_eq!(
            p.listeners,
            vec![
                l("api", "127.255.0.1", 8080, "api"),
                l("api", "127.255.0.1", 9090, "api-admin"),
                l("web", "127.255.0.2", 80, "web"),
            ]
        );
        assert_eq!(
            p.endpoints,
            vec![ServiceConnectEndpoint {
                discovery_name: "web".into(),
                container_port: 8080,
                ingress_port: Some(9000),
            }]
        );
    }

    #[test]
    fn defaults_are_the_discovery_name_in_the_namespace_and_the_container_port() {
        let td: TaskDefinition = serde_json::from_value(json!({
            "containerDefinitions": [{"name": "app", "portMappings": [
                {"containerPort": 8080, "name": "http"}]}]
        }))
        .unwrap();
        let cfg = json!({"enabled": true, "namespace": "arn:ns", "services": [
            {"portName": "http"},
            {"portName": "http", "discoveryName": "b",
             "clientAliases": [{"port": 80, "dnsName": "b.local"}], "ingressPortOverride": 9000}]});
        let eps = endpoints_of(&cfg, "internal", Some(&td));
        let got: Vec<_> = eps
            .iter()
            .map(|e| {
                (
                    e.dns_name.as_str(),
                    e.port,
                    e.container_port,
                    e.ingress_port_override,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("http.internal", Some(8080), Some(8080), None),
                ("b.local", Some(80), Some(8080), Some(9000)),
            ]
        );
        assert!(endpoints_of(&json!({"enabled": false}), "internal", Some(&td)).is_empty());
    }

    fn task(
        ip: &str,
        running: bool,
        desired_running: bool,
        sc: Option<&str>,
    ) -> super::super::TaskRecord {
        use crate::domain::status::TaskStatus::*;
        let mut plan: crate::runtime::plan::TaskPlan = serde_json::from_value(json!({
            "task_arn": format!("arn:{ip}"), "task_id": ip, "cluster_arn": "arn:c", "cluster_name": "c",
            "region": "us-east-1", "family": "f", "revision": 1, "task_definition_arn": "arn:td",
            "cpu_units": null, "memory_mib": null, "task_role_arn": null,
            "execution_role_arn": null, "containers": [], "volumes": [], "ports": []
        }))
        .unwrap();
        plan.service_connect = sc.map(|d| crate::runtime::plan::ServiceConnectPlan {
            namespace_arn: "arn:ns".into(),
            listeners: Vec::new(),
            endpoints: vec![ServiceConnectEndpoint {
                discovery_name: d.into(),
                container_port: 8080,
                ingress_port: (d == "over").then_some(9000),
            }],
            // On a mapped subnet: reached on the emulator's network.
            address: (ip == "10.0.0.6").then(|| "172.18.0.6".to_string()),
        });
        let task: super::super::model::Task = serde_json::from_value(json!({
            "lastStatus": if running { "RUNNING" } else { "PENDING" },
            "desiredStatus": if desired_running { "RUNNING" } else { "STOPPED" },
            "attachments": [{"details": [{"name": "privateIPv4Address", "value": ip}]}]
        }))
        .unwrap();
        let _ = (Running, Stopped);
        super::super::TaskRecord {
            task,
            plan,
            client_token: None,
        }
    }

    #[test]
    fn the_table_lists_the_running_tasks_behind_each_alias() {
        let me = task_plan(
            "arn:ns",
            &[alias("api", 80, "api"), alias("x", 1, "over")],
            &[Endpoint {
                port_name: "p".into(),
                discovery_name: "over".into(),
                dns_name: "x".into(),
                port: Some(1),
                container_port: Some(8080),
                ingress_port_override: Some(9000),
            }],
        );
        let tasks = [
            task("10.0.0.3", true, true, Some("api")),
            task("10.0.0.2", true, true, Some("api")),
            // Still starting, stopping, another endpoint, no Service Connect.
            task("10.0.0.4", false, true, Some("api")),
            task("10.0.0.5", true, false, Some("api")),
            task("10.0.0.6", true, true, Some("over")),
            task("10.0.0.7", true, true, None),
        ];
        assert_eq!(
            proxy_table(&me, &tasks),
            json!({
                "listeners": [
                    {"address": "127.255.0.1", "port": 80,
                     "upstreams": ["10.0.0.2:8080", "10.0.0.3:8080"]},
                    {"address": "127.255.0.2", "port": 1, "upstreams": ["172.18.0.6:9000"]},
                ],
                "ingress": [{"port": 9000, "target": 8080}],
            })
        );
    }
}
