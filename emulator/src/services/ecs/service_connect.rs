//! ECS Service Connect (`serviceConnectConfiguration`): validated with
//! AWS's rules, echoed on the service's deployments, and made to work with
//! the same mechanism as `serviceRegistries`: each task of the service
//! carries its client aliases (`dnsName`, default
//! `<discoveryName>.<namespace>`) as Docker network aliases on the
//! emulator's network, so `dnsName:port` reaches the service's tasks when
//! the alias port is the container port (Docker does no port remapping;
//! see README's "Where it differs from AWS"). ECS makes one Cloud Map
//! service per `discoveryName` in the namespace, tagged
//! `AmazonECSManaged=true`, and registers the tasks there.

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

/// The network aliases of a task of a service whose deployment carries
/// `cfg` in namespace `ns`: every endpoint's `dnsName` (and
/// `<discoveryName>.<namespace>`).
pub fn aliases(cfg: &Value, ns: &str) -> Vec<String> {
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
        let discovery = s
            .get("discoveryName")
            .and_then(Value::as_str)
            .unwrap_or(port_name);
        let fallback = format!("{discovery}.{ns}");
        for a in s
            .get("clientAliases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let dns = a
                .get("dnsName")
                .and_then(Value::as_str)
                .map_or(fallback.clone(), str::to_string);
            if !out.contains(&dns) {
                out.push(dns);
            }
        }
        if !out.contains(&fallback) {
            out.push(fallback);
        }
    }
    out
}
