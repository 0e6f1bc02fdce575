//! The AWS Cloud Map backend (`servicediscovery`): private DNS and HTTP
//! namespaces, services, instances, their health, DiscoverInstances and
//! tags. One method per operation, named after it; state on the kit's
//! [`Backend`], partitioned by region, so that every change is validated,
//! written to the store, and only then made in memory: an error changes
//! nothing.
//!
//! The operations AWS runs asynchronously (namespaces, UpdateService,
//! RegisterInstance, DeregisterInstance) are done at once here; they still
//! answer an `OperationId`, and GetOperation reports it `SUCCESS`.
//!
//! Left out: public DNS namespaces, Update*Namespace, service attributes,
//! Route 53 health checks (a service with `HealthCheckConfig` reports its
//! instances HEALTHY). DNS answers are not made here: [`dns_table`] gives
//! the record sets of the private DNS namespaces, which each task's DNS
//! server (`runtime::dns`) follows through the task's metadata socket.

pub mod model;

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;
use serde_json::{Value, json};

use crate::domain::arn::Scope;
use crate::domain::time::now;
use crate::services::kit::tags::{self, TagError, TagPair, TagRules};
use crate::services::kit::{AwsError, Backend, Change, PageError, Paging, Regional, backend};
use crate::store::{Op, Store, StoreError};
use model::*;

const KIND_NAMESPACE: &str = "servicediscovery.namespace";
const KIND_SERVICE: &str = "servicediscovery.service";
const KIND_OPERATION: &str = "servicediscovery.operation";
/// List operations' `MaxResults`: 1 to 100, 100 by default.
const LIST: Paging = Paging::up_to(100);
/// Cloud Map's tag limits: 200 tags a resource.
const TAG_RULES: TagRules = TagRules {
    max_tags: 200,
    ..tags::AWS
};

/// Every error Cloud Map answers with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceDiscoveryError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NamespaceNotFound(String),
    #[error("{0}")]
    ServiceNotFound(String),
    #[error("{0}")]
    InstanceNotFound(String),
    #[error("{0}")]
    OperationNotFound(String),
    #[error("{0}")]
    CustomHealthNotFound(String),
    #[error("{0}")]
    NamespaceAlreadyExists(String),
    #[error("{0}")]
    ServiceAlreadyExists(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    Internal(String),
}

impl AwsError for ServiceDiscoveryError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "InvalidInput",
            Self::NamespaceNotFound(_) => "NamespaceNotFound",
            Self::ServiceNotFound(_) => "ServiceNotFound",
            Self::InstanceNotFound(_) => "InstanceNotFound",
            Self::OperationNotFound(_) => "OperationNotFound",
            Self::CustomHealthNotFound(_) => "CustomHealthNotFound",
            Self::NamespaceAlreadyExists(_) => "NamespaceAlreadyExists",
            Self::ServiceAlreadyExists(_) => "ServiceAlreadyExists",
            Self::ResourceInUse(_) => "ResourceInUse",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::TooManyTags(_) => "TooManyTagsException",
            Self::Internal(_) => "InternalFailure",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, Self::Internal(_))
    }

    /// The model's HTTP codes: not-found errors are 404, conflicts 409.
    fn status(&self) -> u16 {
        match self {
            Self::NamespaceNotFound(_)
            | Self::ServiceNotFound(_)
            | Self::InstanceNotFound(_)
            | Self::OperationNotFound(_)
            | Self::CustomHealthNotFound(_)
            | Self::ResourceNotFound(_) => 404,
            Self::ResourceInUse(_) => 409,
            Self::Internal(_) => 500,
            _ => 400,
        }
    }

    fn store_failed(e: StoreError) -> Self {
        Self::Internal(crate::services::kit::error::store_message(&e))
    }
}

pub type Result<T> = std::result::Result<T, ServiceDiscoveryError>;
use ServiceDiscoveryError as E;

fn invalid(msg: impl Into<String>) -> E {
    E::InvalidInput(msg.into())
}

fn page_error(e: PageError) -> E {
    match e {
        PageError::InvalidToken => invalid("The NextToken is not valid."),
        PageError::MaxResults { value, min, max } => invalid(format!(
            "1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: Member must have value between {min} and {max}"
        )),
    }
}

fn tag_error(e: TagError) -> E {
    match e {
        TagError::TooMany { limit, .. } => {
            E::TooManyTags(format!("The resource would have more than {limit} tags."))
        }
        other => invalid(format!("Invalid tags: {other}.")),
    }
}

impl TagPair for Tag {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> &str {
        &self.value
    }
}

/// A namespace, its tags, and the operation that created it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NamespaceRecord {
    pub namespace: Namespace,
    pub tags: Vec<Tag>,
    pub operation_id: String,
}

/// An instance and its health (`HEALTHY`, `UNHEALTHY` or `UNKNOWN`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InstanceRecord {
    pub instance: Instance,
    pub health: String,
}

/// A service, its tags and its instances.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServiceRecord {
    pub service: Service,
    pub tags: Vec<Tag>,
    pub instances: BTreeMap<String, InstanceRecord>,
    /// Grows on every change of the instances (`InstancesRevision`).
    pub revision: i64,
}

/// One region's Cloud Map, by id.
#[derive(Debug, Default)]
pub struct RegionState {
    pub namespaces: BTreeMap<String, NamespaceRecord>,
    pub services: BTreeMap<String, ServiceRecord>,
    pub operations: BTreeMap<String, Operation>,
}

type State = Regional<RegionState>;

/// A cheap handle to the Cloud Map backend.
#[derive(Clone)]
pub struct ServiceDiscovery {
    inner: Arc<Backend<State>>,
    /// Bumped after every change, for those who follow the DNS table.
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

/// `<prefix>` and 16 random lowercase letters and digits, as Cloud Map's
/// ids (`ns-…`, `srv-…`).
fn resource_id(prefix: &str) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let s: String = (0..16)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{s}")
}

/// An operation id in Cloud Map's shape (32 characters, a dash, 8).
fn operation_id() -> String {
    let a = resource_id("");
    let b = resource_id("");
    let c = resource_id("");
    format!("{a}{b}-{}", &c[..8])
}

fn hosted_zone_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let s: String = (0..20)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("Z{s}")
}

/// The id in an id-or-ARN parameter (`ns-…` or `arn:…:namespace/ns-…`).
fn id_of(s: &str) -> &str {
    if s.starts_with("arn:") {
        s.rsplit('/').next().unwrap_or(s)
    } else {
        s
    }
}

fn required<'a>(v: &'a Option<String>, member: &str) -> Result<&'a str> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))),
    }
}

fn op_targets(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether a filter keeps `value` (`EQ` by default; `IN` any of the
/// values; `BEGINS_WITH` a prefix).
fn filter_keeps(f: &Filter, value: &str) -> bool {
    let values = f.values.as_deref().unwrap_or_default();
    match f.condition.as_deref().unwrap_or("EQ") {
        "IN" => values.iter().any(|v| v == value),
        "BEGINS_WITH" => values.iter().any(|v| value.starts_with(v.as_str())),
        _ => values.first().is_some_and(|v| v == value),
    }
}

/// A list answer, with `NextToken` only when there is more (AWS leaves
/// unset members out).
fn with_token(mut v: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        v["NextToken"] = Value::String(t);
    }
    v
}

fn summary(n: &Namespace) -> NamespaceSummary {
    NamespaceSummary {
        id: n.id.clone(),
        arn: n.arn.clone(),
        resource_owner: n.resource_owner.clone(),
        name: n.name.clone(),
        kind: n.kind.clone(),
        description: n.description.clone(),
        service_count: n.service_count,
        properties: n.properties.clone(),
        create_date: n.create_date,
    }
}

fn service_summary(s: &Service) -> ServiceSummary {
    ServiceSummary {
        id: s.id.clone(),
        arn: s.arn.clone(),
        resource_owner: s.resource_owner.clone(),
        name: s.name.clone(),
        kind: s.kind.clone(),
        description: s.description.clone(),
        instance_count: s.instance_count,
        dns_config: s.dns_config.clone(),
        health_check_config: s.health_check_config.clone(),
        health_check_custom_config: s.health_check_custom_config.clone(),
        create_date: s.create_date,
        created_by_account: s.created_by_account.clone(),
    }
}

fn check_dns_config(d: &DnsConfig) -> Result<()> {
    let records = d.dns_records.as_deref().unwrap_or_default();
    if records.is_empty() {
        return Err(invalid("DnsConfig must have at least one DnsRecord."));
    }
    for r in records {
        if !["SRV", "A", "AAAA", "CNAME"].contains(&r.kind.as_str()) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{}' at 'dnsConfig.dnsRecords.member.type' failed to satisfy constraint: Member must satisfy enum value set: [SRV, A, AAAA, CNAME]",
                r.kind
            )));
        }
        if !(0..=2_147_483_647).contains(&r.ttl) {
            return Err(invalid("TTL must be between 0 and 2147483647."));
        }
    }
    if let Some(p) = &d.routing_policy
        && !["MULTIVALUE", "WEIGHTED"].contains(&p.as_str())
    {
        return Err(invalid(format!(
            "1 validation error detected: Value '{p}' at 'dnsConfig.routingPolicy' failed to satisfy constraint: Member must satisfy enum value set: [WEIGHTED, MULTIVALUE]"
        )));
    }
    if records.iter().any(|r| r.kind == "CNAME")
        && d.routing_policy.as_deref() == Some("MULTIVALUE")
    {
        return Err(invalid(
            "CNAME records require the WEIGHTED routing policy.",
        ));
    }
    Ok(())
}

/// Route 53's record sets for a region's private DNS namespaces, as Cloud
/// Map keeps them for its instances: at `<service>.<namespace>`, per
/// record type of the service's `DnsConfig` (with its TTL), the A
/// (`AWS_INSTANCE_IPV4`), AAAA (`AWS_INSTANCE_IPV6`), CNAME
/// (`AWS_INSTANCE_CNAME`) and SRV (`1 1 <AWS_INSTANCE_PORT>
/// <instanceId>.<service>.<namespace>`) values; with SRV, the A and AAAA
/// records at `<instanceId>.<service>.<namespace>` its targets name. A
/// service with a health check answers its healthy instances, or all of
/// them when none is healthy, as Route 53 does. Sorted, so that an
/// unchanged table compares equal.
pub fn dns_table(region: &RegionState) -> crate::runtime::dns::Table {
    use crate::runtime::dns::{RecordSet, Table, Zone};
    let mut zones = Vec::new();
    for ns in region.namespaces.values() {
        if ns.namespace.kind != "DNS_PRIVATE" {
            continue;
        }
        let zone_name = ns.namespace.name.trim_end_matches('.').to_ascii_lowercase();
        // Not found in a primary source: 15 s is the console's default.
        let soa_ttl = ns
            .namespace
            .properties
            .dns_properties
            .as_ref()
            .and_then(|d| d.soa.as_ref())
            .and_then(|s| s.ttl)
            .unwrap_or(15);
        let mut sets: Vec<RecordSet> = Vec::new();
        for svc in region.services.values() {
            let s = &svc.service;
            if s.namespace_id != ns.namespace.id {
                continue;
            }
            let Some(dns) = &s.dns_config else { continue };
            let records = dns.dns_records.as_deref().unwrap_or_default();
            let one = dns.routing_policy.as_deref() == Some("WEIGHTED");
            let name = format!("{}.{zone_name}", s.name.to_ascii_lowercase());
            let checked = s.health_check_config.is_some() || s.health_check_custom_config.is_some();
            let all: Vec<&InstanceRecord> = svc.instances.values().collect();
            let healthy: Vec<&InstanceRecord> = all
                .iter()
                .copied()
                .filter(|i| !checked || i.health != "UNHEALTHY")
                .collect();
            let answering = if healthy.is_empty() { &all } else { &healthy };
            let attr = |i: &InstanceRecord, k: &str| i.instance.attributes.get(k).cloned();
            let ttl = |t: i64| u32::try_from(t).unwrap_or(u32::MAX);
            for r in records {
                let values: Vec<String> = answering
                    .iter()
                    .filter_map(|i| match r.kind.as_str() {
                        "A" => attr(i, "AWS_INSTANCE_IPV4"),
                        "AAAA" => attr(i, "AWS_INSTANCE_IPV6"),
                        "CNAME" => attr(i, "AWS_INSTANCE_CNAME"),
                        "SRV" => {
                            let port = attr(i, "AWS_INSTANCE_PORT")?;
                            Some(format!(
                                "1 1 {port} {}.{name}",
                                i.instance.id.to_ascii_lowercase()
                            ))
                        }
                        _ => None,
                    })
                    .collect();
                if values.is_empty() {
                    continue;
                }
                sets.push(RecordSet {
                    name: name.clone(),
                    kind: r.kind.clone(),
                    ttl: ttl(r.ttl),
                    one,
                    values: {
                        let mut v = values;
                        v.sort();
                        v
                    },
                });
                if r.kind == "SRV" {
                    for i in &all {
                        let host = format!("{}.{name}", i.instance.id.to_ascii_lowercase());
                        for (kind, key) in
                            [("A", "AWS_INSTANCE_IPV4"), ("AAAA", "AWS_INSTANCE_IPV6")]
                        {
                            if let Some(v) = attr(i, key) {
                                sets.push(RecordSet {
                                    name: host.clone(),
                                    kind: kind.into(),
                                    ttl: ttl(r.ttl),
                                    one: false,
                                    values: vec![v],
                                });
                            }
                        }
                    }
                }
            }
        }
        sets.sort_by(|a, b| (&a.name, &a.kind).cmp(&(&b.name, &b.kind)));
        zones.push(Zone {
            name: zone_name,
            soa_ttl: u32::try_from(soa_ttl).unwrap_or(15),
            record_sets: sets,
        });
    }
    zones.sort_by(|a, b| a.name.cmp(&b.name));
    Table { zones }
}

impl ServiceDiscovery {
    pub fn load(store: Store, account: String) -> std::result::Result<Self, StoreError> {
        let mut state = State::default();
        for (k, n) in backend::load::<NamespaceRecord>(&store, KIND_NAMESPACE)? {
            state
                .get_mut(backend::region_of(&k))
                .namespaces
                .insert(n.namespace.id.clone(), n);
        }
        for (k, s) in backend::load::<ServiceRecord>(&store, KIND_SERVICE)? {
            state
                .get_mut(backend::region_of(&k))
                .services
                .insert(s.service.id.clone(), s);
        }
        for (k, o) in backend::load::<Operation>(&store, KIND_OPERATION)? {
            state
                .get_mut(backend::region_of(&k))
                .operations
                .insert(o.id.clone(), o);
        }
        Ok(ServiceDiscovery {
            inner: Arc::new(Backend::new(store, account, "servicediscovery.", state)),
            changed: Arc::new(tokio::sync::watch::channel(0).0),
        })
    }

    pub fn reset(&self) -> Result<()> {
        self.inner.reset()?;
        self.announce();
        Ok(())
    }

    fn announce(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The kit's validate-write-apply, then a change announced.
    fn update<'a, R>(
        &self,
        decide: impl FnOnce(&State) -> Result<Change<'a, State, R>>,
    ) -> Result<R> {
        let r = self.inner.update(decide)?;
        self.announce();
        Ok(r)
    }

    /// Wakes on every change (for the tasks' DNS tables).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The DNS table of a region's private DNS namespaces, for the tasks'
    /// DNS servers (`runtime::dns`).
    pub fn dns_table(&self, region: &str) -> crate::runtime::dns::Table {
        self.read(region, dns_table)
    }

    fn account(&self) -> String {
        self.inner.account().to_string()
    }

    fn arn(&self, region: &str, resource: &str) -> String {
        Scope::new(region, self.inner.account()).arn("servicediscovery", resource)
    }

    fn key(region: &str, id: &str) -> String {
        format!("{region}/{id}")
    }

    fn read<R>(&self, region: &str, f: impl FnOnce(&RegionState) -> R) -> R {
        self.inner.read(|st| match st.get(region) {
            Some(r) => f(r),
            None => f(&RegionState::default()),
        })
    }

    /// A finished operation (the emulator does the work at once).
    fn operation(&self, kind: &str, targets: BTreeMap<String, String>) -> Operation {
        let t = now();
        Operation {
            id: operation_id(),
            owner_account: self.account(),
            kind: kind.into(),
            status: "SUCCESS".into(),
            error_message: None,
            error_code: None,
            create_date: t,
            update_date: t,
            targets,
        }
    }

    // ------------------------------------------------------------ namespaces

    pub fn create_private_dns_namespace(
        &self,
        region: &str,
        r: CreateNamespaceRequest,
    ) -> Result<Value> {
        required(&r.vpc, "vpc")?;
        self.create_namespace(region, r, "DNS_PRIVATE")
    }

    pub fn create_http_namespace(&self, region: &str, r: CreateNamespaceRequest) -> Result<Value> {
        self.create_namespace(region, r, "HTTP")
    }

    fn create_namespace(
        &self,
        region: &str,
        r: CreateNamespaceRequest,
        kind: &'static str,
    ) -> Result<Value> {
        let name = required(&r.name, "name")?.to_string();
        let max = if kind == "HTTP" { 1024 } else { 253 };
        if name.len() > max || name.starts_with("arn:") {
            return Err(invalid(format!(
                "Namespace name '{name}' is not valid: it must be 1 to {max} characters and not an ARN."
            )));
        }
        if kind != "HTTP"
            && !name.trim_end_matches('.').split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
        {
            return Err(invalid(format!(
                "Namespace name '{name}' is not a valid DNS name."
            )));
        }
        let tags_in = r.tags.clone().unwrap_or_default();
        tags::validate(&tags_in, &TAG_RULES).map_err(tag_error)?;
        let tags = tags::merge(&[], &tags_in, &TAG_RULES).map_err(tag_error)?;
        self.update(|st| {
            let reg = st.get(region);
            let same_name = |n: &NamespaceRecord| {
                let a = n.namespace.name.trim_end_matches('.');
                let b = name.trim_end_matches('.');
                a.eq_ignore_ascii_case(b)
            };
            if let Some(existing) = reg.and_then(|g| g.namespaces.values().find(|n| same_name(n))) {
                // A retry with the same CreatorRequestId is the same request.
                if r.creator_request_id.is_some()
                    && existing.namespace.creator_request_id == r.creator_request_id
                {
                    return Ok(Change::answer(
                        json!({"OperationId": existing.operation_id}),
                    ));
                }
                return Err(E::NamespaceAlreadyExists(format!(
                    "Namespace with name {name} already exists."
                )));
            }
            let id = resource_id("ns-");
            let ttl = r
                .properties
                .as_ref()
                .and_then(|p| p.dns_properties.as_ref())
                .and_then(|d| d.soa.as_ref())
                .and_then(|s| s.ttl)
                .unwrap_or(15);
            let properties = NamespaceProperties {
                dns_properties: (kind != "HTTP").then(|| DnsProperties {
                    hosted_zone_id: Some(hosted_zone_id()),
                    soa: Some(Soa { ttl: Some(ttl) }),
                }),
                http_properties: Some(HttpProperties {
                    http_name: Some(name.clone()),
                }),
            };
            let op = self.operation("CREATE_NAMESPACE", op_targets(&[("NAMESPACE", &id)]));
            let rec = NamespaceRecord {
                namespace: Namespace {
                    id: id.clone(),
                    arn: self.arn(region, &format!("namespace/{id}")),
                    resource_owner: self.account(),
                    name: name.clone(),
                    kind: kind.into(),
                    description: r.description.clone(),
                    service_count: 0,
                    properties,
                    create_date: now(),
                    creator_request_id: r.creator_request_id.clone(),
                },
                tags,
                operation_id: op.id.clone(),
            };
            Ok(Change::answer(json!({"OperationId": op.id}))
                .write(Op::put(KIND_NAMESPACE, Self::key(region, &id), &rec))
                .write(Op::put(KIND_OPERATION, Self::key(region, &op.id), &op))
                .then(move |st: &mut State| {
                    let g = st.get_mut(region);
                    g.namespaces.insert(id, rec);
                    g.operations.insert(op.id.clone(), op);
                }))
        })
    }

    fn namespace_of<'a>(&self, g: &'a RegionState, id: &str) -> Result<&'a NamespaceRecord> {
        g.namespaces
            .get(id_of(id))
            .ok_or_else(|| E::NamespaceNotFound(format!("Namespace {id} not found.")))
    }

    fn with_count(g: &RegionState, n: &Namespace) -> Namespace {
        let mut n = n.clone();
        n.service_count = g
            .services
            .values()
            .filter(|s| s.service.namespace_id == n.id)
            .count() as i64;
        n
    }

    pub fn get_namespace(&self, region: &str, r: IdRequest) -> Result<Value> {
        let id = required(&r.id, "id")?;
        self.read(region, |g| {
            let n = self.namespace_of(g, id)?;
            Ok(json!({"Namespace": Self::with_count(g, &n.namespace)}))
        })
    }

    pub fn list_namespaces(&self, region: &str, r: ListRequest) -> Result<Value> {
        for f in r.filters.iter().flatten() {
            let name = f.name.as_deref().unwrap_or_default();
            if !["TYPE", "NAME", "HTTP_NAME", "RESOURCE_OWNER"].contains(&name) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{name}' at 'filters.member.name' failed to satisfy constraint: Member must satisfy enum value set: [TYPE, NAME, HTTP_NAME, RESOURCE_OWNER]"
                )));
            }
        }
        let all: Vec<NamespaceSummary> = self.read(region, |g| {
            g.namespaces
                .values()
                .map(|n| Self::with_count(g, &n.namespace))
                .filter(|n| {
                    r.filters.iter().flatten().all(|f| {
                        let v = match f.name.as_deref() {
                            Some("TYPE") => n.kind.clone(),
                            Some("NAME") => n.name.clone(),
                            Some("HTTP_NAME") => n
                                .properties
                                .http_properties
                                .as_ref()
                                .and_then(|h| h.http_name.clone())
                                .unwrap_or_default(),
                            _ => n.resource_owner.clone(),
                        };
                        filter_keeps(f, &v)
                    })
                })
                .map(|n| summary(&n))
                .collect()
        });
        let page = LIST
            .page(&all, r.next_token.as_deref(), r.max_results)
            .map_err(page_error)?;
        Ok(with_token(
            json!({"Namespaces": page.items}),
            page.next_token,
        ))
    }

    pub fn delete_namespace(&self, region: &str, r: IdRequest) -> Result<Value> {
        let id = required(&r.id, "id")?.to_string();
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::NamespaceNotFound(format!("Namespace {id} not found.")))?;
            let ns = self.namespace_of(g, &id)?.namespace.id.clone();
            if g.services.values().any(|s| s.service.namespace_id == ns) {
                return Err(E::ResourceInUse(format!(
                    "Namespace {ns} has associated services and cannot be deleted."
                )));
            }
            let op = self.operation("DELETE_NAMESPACE", op_targets(&[("NAMESPACE", &ns)]));
            Ok(Change::answer(json!({"OperationId": op.id}))
                .write(Op::delete(KIND_NAMESPACE, Self::key(region, &ns)))
                .write(Op::put(KIND_OPERATION, Self::key(region, &op.id), &op))
                .then(move |st: &mut State| {
                    let g = st.get_mut(region);
                    g.namespaces.remove(&ns);
                    g.operations.insert(op.id.clone(), op);
                }))
        })
    }

    pub fn get_operation(&self, region: &str, r: OperationIdRequest) -> Result<Value> {
        let id = required(&r.operation_id, "operationId")?;
        self.read(region, |g| {
            g.operations
                .get(id)
                .map(|o| json!({"Operation": o}))
                .ok_or_else(|| E::OperationNotFound(format!("Operation {id} not found.")))
        })
    }

    pub fn list_operations(&self, region: &str, r: ListRequest) -> Result<Value> {
        let all: Vec<Value> = self.read(region, |g| {
            let mut ops: Vec<&Operation> = g
                .operations
                .values()
                .filter(|o| {
                    r.filters.iter().flatten().all(|f| match f.name.as_deref() {
                        Some("STATUS") => filter_keeps(f, &o.status),
                        Some("TYPE") => filter_keeps(f, &o.kind),
                        Some("NAMESPACE_ID") => {
                            filter_keeps(f, o.targets.get("NAMESPACE").map_or("", String::as_str))
                        }
                        Some("SERVICE_ID") => {
                            filter_keeps(f, o.targets.get("SERVICE").map_or("", String::as_str))
                        }
                        _ => true,
                    })
                })
                .collect();
            ops.sort_by(|a, b| a.create_date.total_cmp(&b.create_date));
            ops.iter()
                .map(|o| json!({"Id": o.id, "Status": o.status}))
                .collect()
        });
        let page = LIST
            .page(&all, r.next_token.as_deref(), r.max_results)
            .map_err(page_error)?;
        Ok(with_token(
            json!({"Operations": page.items}),
            page.next_token,
        ))
    }

    // ------------------------------------------------------------ services

    pub fn create_service(&self, region: &str, r: CreateServiceRequest) -> Result<Value> {
        let name = required(&r.name, "name")?.to_string();
        let dns_name = name.strip_prefix('_').map_or(name.as_str(), |n| n);
        if name.len() > 127
            || !dns_name.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            })
        {
            return Err(invalid(format!(
                "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?=^.{{1,127}}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{{0,61}}[a-zA-Z0-9_]|[a-zA-Z0-9])(\\.([a-zA-Z0-9_][a-zA-Z0-9-_]{{0,61}}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\\.$)"
            )));
        }
        let ns_ref = r
            .namespace_id
            .clone()
            .or_else(|| r.dns_config.as_ref().and_then(|d| d.namespace_id.clone()))
            .ok_or_else(|| invalid("NamespaceId is required."))?;
        if r.health_check_config.is_some() && r.health_check_custom_config.is_some() {
            return Err(invalid(
                "HealthCheckConfig and HealthCheckCustomConfig cannot both be specified.",
            ));
        }
        if let Some(d) = &r.dns_config {
            check_dns_config(d)?;
        }
        if let Some(k) = &r.kind
            && k != "HTTP"
        {
            return Err(invalid(format!(
                "1 validation error detected: Value '{k}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [HTTP]"
            )));
        }
        let tags_in = r.tags.clone().unwrap_or_default();
        let tags = tags::merge(&[], &tags_in, &TAG_RULES).map_err(tag_error)?;
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::NamespaceNotFound(format!("Namespace {ns_ref} not found.")))?;
            let ns = &self.namespace_of(g, &ns_ref)?.namespace;
            let dns = ns.kind != "HTTP";
            if !dns && r.dns_config.is_some() {
                return Err(invalid(
                    "DnsConfig can't be specified for a service in an HTTP namespace.",
                ));
            }
            let clash = g.services.values().find(|s| {
                s.service.namespace_id == ns.id
                    && if dns {
                        s.service.name.eq_ignore_ascii_case(&name)
                    } else {
                        s.service.name == name
                    }
            });
            if let Some(s) = clash {
                if r.creator_request_id.is_some()
                    && s.service.creator_request_id == r.creator_request_id
                {
                    return Ok(Change::answer(json!({"Service": s.service})));
                }
                return Err(E::ServiceAlreadyExists(format!(
                    "Service with name {name} already exists in namespace {}.",
                    ns.id
                )));
            }
            let id = resource_id("srv-");
            let kind = if r.kind.is_some() || !dns || r.dns_config.is_none() {
                "HTTP"
            } else {
                "DNS_HTTP"
            };
            let dns_config = r.dns_config.clone().map(|mut d| {
                d.namespace_id = None;
                d.routing_policy.get_or_insert_with(|| "MULTIVALUE".into());
                d
            });
            let service = Service {
                id: id.clone(),
                arn: self.arn(region, &format!("service/{id}")),
                resource_owner: self.account(),
                name: name.clone(),
                namespace_id: ns.id.clone(),
                description: r.description.clone(),
                instance_count: 0,
                dns_config,
                kind: kind.into(),
                health_check_config: r.health_check_config.clone(),
                health_check_custom_config: r.health_check_custom_config.clone().map(|_| {
                    // AWS ignores the threshold and always reports 1.
                    HealthCheckCustomConfig {
                        failure_threshold: Some(1),
                    }
                }),
                create_date: now(),
                creator_request_id: r.creator_request_id.clone(),
                created_by_account: self.account(),
            };
            let rec = ServiceRecord {
                service: service.clone(),
                tags,
                instances: BTreeMap::new(),
                revision: 1,
            };
            Ok(Change::answer(json!({"Service": service}))
                .write(Op::put(KIND_SERVICE, Self::key(region, &id), &rec))
                .then(move |st: &mut State| {
                    st.get_mut(region).services.insert(id, rec);
                }))
        })
    }

    fn service_of<'a>(g: &'a RegionState, id: &str) -> Result<&'a ServiceRecord> {
        g.services
            .get(id_of(id))
            .ok_or_else(|| E::ServiceNotFound(format!("Service {id} not found.")))
    }

    fn with_instances(s: &ServiceRecord) -> Service {
        let mut out = s.service.clone();
        out.instance_count = s.instances.len() as i64;
        out
    }

    pub fn get_service(&self, region: &str, r: IdRequest) -> Result<Value> {
        let id = required(&r.id, "id")?;
        self.read(region, |g| {
            Ok(json!({"Service": Self::with_instances(Self::service_of(g, id)?)}))
        })
    }

    pub fn list_services(&self, region: &str, r: ListRequest) -> Result<Value> {
        for f in r.filters.iter().flatten() {
            let name = f.name.as_deref().unwrap_or_default();
            if !["NAMESPACE_ID", "RESOURCE_OWNER"].contains(&name) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{name}' at 'filters.member.name' failed to satisfy constraint: Member must satisfy enum value set: [NAMESPACE_ID, RESOURCE_OWNER]"
                )));
            }
        }
        let all: Vec<ServiceSummary> = self.read(region, |g| {
            g.services
                .values()
                .map(Self::with_instances)
                .filter(|s| {
                    r.filters.iter().flatten().all(|f| match f.name.as_deref() {
                        Some("NAMESPACE_ID") => filter_keeps(f, &s.namespace_id),
                        _ => filter_keeps(f, &s.resource_owner),
                    })
                })
                .map(|s| service_summary(&s))
                .collect()
        });
        let page = LIST
            .page(&all, r.next_token.as_deref(), r.max_results)
            .map_err(page_error)?;
        Ok(with_token(json!({"Services": page.items}), page.next_token))
    }

    pub fn update_service(&self, region: &str, r: UpdateServiceRequest) -> Result<Value> {
        let id = required(&r.id, "id")?.to_string();
        let change = r
            .service
            .clone()
            .ok_or_else(|| invalid("Service is required."))?;
        if let Some(d) = &change.dns_config {
            let records = d.dns_records.as_deref().unwrap_or_default();
            if records.is_empty() {
                return Err(invalid("DnsConfig must have at least one DnsRecord."));
            }
        }
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::ServiceNotFound(format!("Service {id} not found.")))?;
            let mut rec = Self::service_of(g, &id)?.clone();
            if let Some(d) = &change.dns_config {
                let Some(cur) = rec.service.dns_config.as_mut() else {
                    return Err(invalid("The service has no DnsConfig to update."));
                };
                let new = d.dns_records.clone().unwrap_or_default();
                let mut old = cur.dns_records.clone().unwrap_or_default();
                let mut kinds: Vec<&str> = old.iter().map(|r| r.kind.as_str()).collect();
                let mut want: Vec<&str> = new.iter().map(|r| r.kind.as_str()).collect();
                kinds.sort_unstable();
                want.sort_unstable();
                if kinds != want {
                    return Err(invalid(
                        "The record types of a service's DnsConfig can't be changed.",
                    ));
                }
                old.clone_from(&new);
                cur.dns_records = Some(old);
            }
            if let Some(h) = &change.health_check_config {
                if rec.service.health_check_config.is_none() {
                    return Err(invalid(
                        "HealthCheckConfig can only be updated on a service that has one.",
                    ));
                }
                rec.service.health_check_config = Some(h.clone());
            }
            if let Some(d) = &change.description {
                rec.service.description = Some(d.clone());
            }
            let sid = rec.service.id.clone();
            let op = self.operation("UPDATE_SERVICE", op_targets(&[("SERVICE", &sid)]));
            Ok(Change::answer(json!({"OperationId": op.id}))
                .write(Op::put(KIND_SERVICE, Self::key(region, &sid), &rec))
                .write(Op::put(KIND_OPERATION, Self::key(region, &op.id), &op))
                .then(move |st: &mut State| {
                    let g = st.get_mut(region);
                    g.services.insert(sid, rec);
                    g.operations.insert(op.id.clone(), op);
                }))
        })
    }

    pub fn delete_service(&self, region: &str, r: IdRequest) -> Result<Value> {
        let id = required(&r.id, "id")?.to_string();
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::ServiceNotFound(format!("Service {id} not found.")))?;
            let rec = Self::service_of(g, &id)?;
            if !rec.instances.is_empty() {
                return Err(E::ResourceInUse(format!(
                    "Service {} has registered instances and cannot be deleted.",
                    rec.service.id
                )));
            }
            let sid = rec.service.id.clone();
            Ok(Change::answer(json!({}))
                .write(Op::delete(KIND_SERVICE, Self::key(region, &sid)))
                .then(move |st: &mut State| {
                    st.get_mut(region).services.remove(&sid);
                }))
        })
    }

    // ------------------------------------------------------------ instances

    pub fn register_instance(&self, region: &str, r: RegisterInstanceRequest) -> Result<Value> {
        let sid = required(&r.service_id, "serviceId")?.to_string();
        let iid = required(&r.instance_id, "instanceId")?.to_string();
        if iid.len() > 64
            || !iid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_/:.@-".contains(c))
        {
            return Err(invalid(format!(
                "1 validation error detected: Value '{iid}' at 'instanceId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z_/:.@-]+$"
            )));
        }
        let attributes = r
            .attributes
            .clone()
            .ok_or_else(|| invalid("Attributes is required."))?;
        if attributes.len() > 30 + 8 {
            return Err(invalid(
                "An instance can have at most 30 custom attributes.",
            ));
        }
        for (k, v) in &attributes {
            if k.is_empty() || k.len() > 255 || v.len() > 1024 {
                return Err(invalid(format!(
                    "Attribute {k} is not valid: keys are 1 to 255 characters, values up to 1024."
                )));
            }
        }
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::ServiceNotFound(format!("Service {sid} not found.")))?;
            let mut rec = Self::service_of(g, &sid)?.clone();
            let kinds: Vec<String> = rec
                .service
                .dns_config
                .iter()
                .flat_map(|d| d.dns_records.iter().flatten())
                .map(|r| r.kind.clone())
                .collect();
            let has = |k: &str| attributes.get(k).is_some_and(|v| !v.is_empty());
            if kinds.iter().any(|k| k == "A") && !has("AWS_INSTANCE_IPV4") {
                return Err(invalid(
                    "AWS_INSTANCE_IPV4 is required for a service with an A record.",
                ));
            }
            if kinds.iter().any(|k| k == "SRV") && !has("AWS_INSTANCE_PORT") {
                return Err(invalid(
                    "AWS_INSTANCE_PORT is required for a service with an SRV record.",
                ));
            }
            if let Some(ip) = attributes.get("AWS_INSTANCE_IPV4")
                && ip.parse::<std::net::Ipv4Addr>().is_err()
            {
                return Err(invalid(format!(
                    "AWS_INSTANCE_IPV4 {ip} is not an IPv4 address."
                )));
            }
            let health = if rec.service.health_check_custom_config.is_some() {
                match attributes.get("AWS_INIT_HEALTH_STATUS").map(String::as_str) {
                    None | Some("HEALTHY") => "HEALTHY",
                    Some("UNHEALTHY") => "UNHEALTHY",
                    Some(other) => {
                        return Err(invalid(format!(
                            "AWS_INIT_HEALTH_STATUS must be HEALTHY or UNHEALTHY, not {other}."
                        )));
                    }
                }
            } else if rec.service.health_check_config.is_some() {
                "HEALTHY"
            } else {
                "UNKNOWN"
            };
            rec.instances.insert(
                iid.clone(),
                InstanceRecord {
                    instance: Instance {
                        id: iid.clone(),
                        creator_request_id: r.creator_request_id.clone(),
                        attributes: attributes.clone(),
                        created_by_account: self.account(),
                    },
                    health: health.into(),
                },
            );
            rec.revision += 1;
            let sid = rec.service.id.clone();
            let op = self.operation(
                "REGISTER_INSTANCE",
                op_targets(&[("SERVICE", &sid), ("INSTANCE", &iid)]),
            );
            Ok(Change::answer(json!({"OperationId": op.id}))
                .write(Op::put(KIND_SERVICE, Self::key(region, &sid), &rec))
                .write(Op::put(KIND_OPERATION, Self::key(region, &op.id), &op))
                .then(move |st: &mut State| {
                    let g = st.get_mut(region);
                    g.services.insert(sid, rec);
                    g.operations.insert(op.id.clone(), op);
                }))
        })
    }

    pub fn deregister_instance(&self, region: &str, r: InstanceRequest) -> Result<Value> {
        let sid = required(&r.service_id, "serviceId")?.to_string();
        let iid = required(&r.instance_id, "instanceId")?.to_string();
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::ServiceNotFound(format!("Service {sid} not found.")))?;
            let mut rec = Self::service_of(g, &sid)?.clone();
            if rec.instances.remove(&iid).is_none() {
                return Err(E::InstanceNotFound(format!("Instance {iid} not found.")));
            }
            rec.revision += 1;
            let sid = rec.service.id.clone();
            let op = self.operation(
                "DEREGISTER_INSTANCE",
                op_targets(&[("SERVICE", &sid), ("INSTANCE", &iid)]),
            );
            Ok(Change::answer(json!({"OperationId": op.id}))
                .write(Op::put(KIND_SERVICE, Self::key(region, &sid), &rec))
                .write(Op::put(KIND_OPERATION, Self::key(region, &op.id), &op))
                .then(move |st: &mut State| {
                    let g = st.get_mut(region);
                    g.services.insert(sid, rec);
                    g.operations.insert(op.id.clone(), op);
                }))
        })
    }

    pub fn get_instance(&self, region: &str, r: InstanceRequest) -> Result<Value> {
        let sid = required(&r.service_id, "serviceId")?;
        let iid = required(&r.instance_id, "instanceId")?;
        self.read(region, |g| {
            let s = Self::service_of(g, sid)?;
            let i = s
                .instances
                .get(iid)
                .ok_or_else(|| E::InstanceNotFound(format!("Instance {iid} not found.")))?;
            Ok(json!({"Instance": i.instance, "ResourceOwner": s.service.resource_owner}))
        })
    }

    pub fn list_instances(&self, region: &str, r: ListInstancesRequest) -> Result<Value> {
        let sid = required(&r.service_id, "serviceId")?;
        let (owner, all) = self.read(region, |g| {
            let s = Self::service_of(g, sid)?;
            let list: Vec<InstanceSummary> = s
                .instances
                .values()
                .map(|i| InstanceSummary {
                    id: i.instance.id.clone(),
                    attributes: i.instance.attributes.clone(),
                    created_by_account: i.instance.created_by_account.clone(),
                })
                .collect();
            Ok::<_, E>((s.service.resource_owner.clone(), list))
        })?;
        let page = LIST
            .page(&all, r.next_token.as_deref(), r.max_results)
            .map_err(page_error)?;
        Ok(with_token(
            json!({"Instances": page.items, "ResourceOwner": owner}),
            page.next_token,
        ))
    }

    pub fn get_instances_health_status(
        &self,
        region: &str,
        r: GetInstancesHealthStatusRequest,
    ) -> Result<Value> {
        let sid = required(&r.service_id, "serviceId")?;
        let all: Vec<(String, String)> = self.read(region, |g| {
            let s = Self::service_of(g, sid)?;
            match &r.instances {
                Some(ids) if !ids.is_empty() => ids
                    .iter()
                    .map(|id| {
                        s.instances
                            .get(id)
                            .map(|i| (id.clone(), i.health.clone()))
                            .ok_or_else(|| E::InstanceNotFound(format!("Instance {id} not found.")))
                    })
                    .collect(),
                _ => Ok(s
                    .instances
                    .values()
                    .map(|i| (i.instance.id.clone(), i.health.clone()))
                    .collect()),
            }
        })?;
        let page = LIST
            .page(&all, r.next_token.as_deref(), r.max_results)
            .map_err(page_error)?;
        let status: BTreeMap<String, String> = page.items.into_iter().collect();
        Ok(with_token(json!({"Status": status}), page.next_token))
    }

    pub fn update_instance_custom_health_status(
        &self,
        region: &str,
        r: UpdateInstanceCustomHealthStatusRequest,
    ) -> Result<Value> {
        let sid = required(&r.service_id, "serviceId")?.to_string();
        let iid = required(&r.instance_id, "instanceId")?.to_string();
        let status = required(&r.status, "status")?.to_string();
        if status != "HEALTHY" && status != "UNHEALTHY" {
            return Err(invalid(format!(
                "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [HEALTHY, UNHEALTHY]"
            )));
        }
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::ServiceNotFound(format!("Service {sid} not found.")))?;
            let mut rec = Self::service_of(g, &sid)?.clone();
            if rec.service.health_check_custom_config.is_none() {
                return Err(E::CustomHealthNotFound(format!(
                    "Service {} has no custom health check.",
                    rec.service.id
                )));
            }
            let i = rec
                .instances
                .get_mut(&iid)
                .ok_or_else(|| E::InstanceNotFound(format!("Instance {iid} not found.")))?;
            if i.health == status {
                return Ok(Change::answer(json!({})));
            }
            i.health = status.clone();
            rec.revision += 1;
            let sid = rec.service.id.clone();
            Ok(Change::answer(json!({}))
                .write(Op::put(KIND_SERVICE, Self::key(region, &sid), &rec))
                .then(move |st: &mut State| {
                    st.get_mut(region).services.insert(sid, rec);
                }))
        })
    }

    pub fn discover_instances(&self, region: &str, r: DiscoverInstancesRequest) -> Result<Value> {
        let ns_name = required(&r.namespace_name, "namespaceName")?;
        let svc_name = required(&r.service_name, "serviceName")?;
        let max = match r.max_results {
            None => 100,
            Some(v) if (1..=1000).contains(&v) => v as usize,
            Some(v) => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        };
        let wanted = r.health_status.as_deref().unwrap_or("ALL");
        if !["HEALTHY", "UNHEALTHY", "ALL", "HEALTHY_OR_ELSE_ALL"].contains(&wanted) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{wanted}' at 'healthStatus' failed to satisfy constraint: Member must satisfy enum value set: [HEALTHY, UNHEALTHY, ALL, HEALTHY_OR_ELSE_ALL]"
            )));
        }
        self.read(region, |g| {
            let ns = g
                .namespaces
                .values()
                .find(|n| {
                    n.namespace
                        .properties
                        .http_properties
                        .as_ref()
                        .and_then(|h| h.http_name.as_deref())
                        == Some(ns_name)
                })
                .ok_or_else(|| E::NamespaceNotFound(format!("Namespace {ns_name} not found.")))?;
            let svc = g
                .services
                .values()
                .find(|s| s.service.namespace_id == ns.namespace.id && s.service.name == svc_name)
                .ok_or_else(|| E::ServiceNotFound(format!("Service {svc_name} not found.")))?;
            let checked = svc.service.health_check_config.is_some()
                || svc.service.health_check_custom_config.is_some();
            let matches = |i: &&InstanceRecord| {
                r.query_parameters
                    .iter()
                    .flatten()
                    .all(|(k, v)| i.instance.attributes.get(k) == Some(v))
            };
            let mut list: Vec<&InstanceRecord> = svc.instances.values().filter(matches).collect();
            if checked {
                let healthy: Vec<&InstanceRecord> = list
                    .iter()
                    .copied()
                    .filter(|i| i.health == "HEALTHY")
                    .collect();
                list = match wanted {
                    "HEALTHY" => healthy,
                    "UNHEALTHY" => list
                        .into_iter()
                        .filter(|i| i.health == "UNHEALTHY")
                        .collect(),
                    "HEALTHY_OR_ELSE_ALL" if !healthy.is_empty() => healthy,
                    _ => list,
                };
            }
            if let Some(opt) = r.optional_parameters.as_ref().filter(|o| !o.is_empty()) {
                let preferred: Vec<&InstanceRecord> = list
                    .iter()
                    .copied()
                    .filter(|i| {
                        opt.iter()
                            .all(|(k, v)| i.instance.attributes.get(k) == Some(v))
                    })
                    .collect();
                if !preferred.is_empty() {
                    list = preferred;
                }
            }
            // AWS answers in random order.
            let mut rng = rand::rng();
            for i in (1..list.len()).rev() {
                list.swap(i, rng.random_range(0..=i));
            }
            list.truncate(max);
            let out: Vec<HttpInstanceSummary> = list
                .into_iter()
                .map(|i| HttpInstanceSummary {
                    instance_id: i.instance.id.clone(),
                    namespace_name: ns_name.to_string(),
                    service_name: svc.service.name.clone(),
                    health_status: i.health.clone(),
                    attributes: i.instance.attributes.clone(),
                })
                .collect();
            Ok(json!({"Instances": out, "InstancesRevision": svc.revision}))
        })
    }

    pub fn discover_instances_revision(
        &self,
        region: &str,
        r: DiscoverInstancesRequest,
    ) -> Result<Value> {
        let v = self.discover_instances(region, r)?;
        Ok(json!({"InstancesRevision": v["InstancesRevision"]}))
    }

    // ------------------------------------------------------------ tags

    /// Which resource an ARN names: a namespace or a service id.
    fn resource<'a>(g: &'a RegionState, arn: &str) -> Result<(bool, &'a Vec<Tag>)> {
        let not_found = || E::ResourceNotFound(format!("Resource {arn} not found."));
        if let Some(n) = g.namespaces.values().find(|n| n.namespace.arn == arn) {
            return Ok((true, &n.tags));
        }
        if let Some(s) = g.services.values().find(|s| s.service.arn == arn) {
            return Ok((false, &s.tags));
        }
        Err(not_found())
    }

    fn set_tags(
        &self,
        region: &str,
        arn: &str,
        f: impl FnOnce(&[Tag]) -> Result<Vec<Tag>>,
    ) -> Result<Value> {
        self.update(|st| {
            let g = st
                .get(region)
                .ok_or_else(|| E::ResourceNotFound(format!("Resource {arn} not found.")))?;
            let (is_ns, existing) = Self::resource(g, arn)?;
            let new = f(existing)?;
            if is_ns {
                let mut rec = g
                    .namespaces
                    .values()
                    .find(|n| n.namespace.arn == arn)
                    .cloned()
                    .expect("found above");
                rec.tags = new;
                let id = rec.namespace.id.clone();
                Ok(Change::answer(json!({}))
                    .write(Op::put(KIND_NAMESPACE, Self::key(region, &id), &rec))
                    .then(move |st: &mut State| {
                        st.get_mut(region).namespaces.insert(id, rec);
                    }))
            } else {
                let mut rec = g
                    .services
                    .values()
                    .find(|s| s.service.arn == arn)
                    .cloned()
                    .expect("found above");
                rec.tags = new;
                let id = rec.service.id.clone();
                Ok(Change::answer(json!({}))
                    .write(Op::put(KIND_SERVICE, Self::key(region, &id), &rec))
                    .then(move |st: &mut State| {
                        st.get_mut(region).services.insert(id, rec);
                    }))
            }
        })
    }

    pub fn tag_resource(&self, region: &str, r: TagResourceRequest) -> Result<Value> {
        let arn = required(&r.resource_arn, "resourceARN")?.to_string();
        let add = r.tags.clone().ok_or_else(|| invalid("Tags is required."))?;
        self.set_tags(region, &arn, |old| {
            tags::merge(old, &add, &TAG_RULES).map_err(tag_error)
        })
    }

    pub fn untag_resource(&self, region: &str, r: TagResourceRequest) -> Result<Value> {
        let arn = required(&r.resource_arn, "resourceARN")?.to_string();
        let keys = r
            .tag_keys
            .clone()
            .ok_or_else(|| invalid("TagKeys is required."))?;
        self.set_tags(region, &arn, |old| {
            tags::remove(old, &keys, &TAG_RULES).map_err(tag_error)
        })
    }

    pub fn list_tags_for_resource(&self, region: &str, r: TagResourceRequest) -> Result<Value> {
        let arn = required(&r.resource_arn, "resourceARN")?;
        self.read(region, |g| {
            let (_, tags) = Self::resource(g, arn)?;
            Ok(json!({"Tags": tags}))
        })
    }

    // ------------------------------------------------------------ for ECS

    /// The service an ARN names, with its namespace: what ECS needs to
    /// register a task (`serviceRegistries[].registryArn`).
    pub fn service_by_arn(&self, region: &str, arn: &str) -> Option<(Service, Namespace)> {
        self.read(region, |g| {
            let s = g.services.values().find(|s| s.service.arn == arn)?;
            let n = g.namespaces.get(&s.service.namespace_id)?;
            Some((s.service.clone(), n.namespace.clone()))
        })
    }

    /// The namespace a name or an ARN names (Service Connect's
    /// `namespace`).
    pub fn namespace_by_name_or_arn(&self, region: &str, r: &str) -> Option<Namespace> {
        self.read(region, |g| {
            g.namespaces
                .values()
                .find(|n| n.namespace.arn == r || n.namespace.name == r)
                .map(|n| n.namespace.clone())
        })
    }

    /// The service named `name` in a namespace, made (tagged
    /// `AmazonECSManaged=true`, as ECS does for Service Connect) when absent.
    pub fn ensure_service(&self, region: &str, namespace_id: &str, name: &str) -> Result<Service> {
        let found = self.read(region, |g| {
            g.services
                .values()
                .find(|s| s.service.namespace_id == namespace_id && s.service.name == name)
                .map(|s| s.service.clone())
        });
        if let Some(s) = found {
            return Ok(s);
        }
        let out = self.create_service(
            region,
            CreateServiceRequest {
                name: Some(name.to_string()),
                namespace_id: Some(namespace_id.to_string()),
                tags: Some(vec![Tag {
                    key: "AmazonECSManaged".into(),
                    value: "true".into(),
                }]),
                ..Default::default()
            },
        )?;
        serde_json::from_value(out["Service"].clone())
            .map_err(|e| ServiceDiscoveryError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "us-east-1";

    fn sd() -> ServiceDiscovery {
        ServiceDiscovery::load(Store::in_memory(), "000000000000".into()).unwrap()
    }

    fn req<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn namespace(sd: &ServiceDiscovery, name: &str) -> String {
        let op = sd
            .create_private_dns_namespace(R, req(json!({"Name": name, "Vpc": "vpc-1"})))
            .unwrap();
        let op = sd
            .get_operation(R, req(json!({"OperationId": op["OperationId"]})))
            .unwrap();
        assert_eq!(op["Operation"]["Status"], "SUCCESS");
        op["Operation"]["Targets"]["NAMESPACE"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn service(sd: &ServiceDiscovery, ns: &str, name: &str) -> Value {
        sd.create_service(
            R,
            req(json!({"Name": name, "NamespaceId": ns,
                "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 10}]},
                "HealthCheckCustomConfig": {"FailureThreshold": 3}})),
        )
        .unwrap()["Service"]
            .clone()
    }

    #[test]
    fn namespaces_services_and_instances() {
        let sd = sd();
        let ns = namespace(&sd, "corp.local");
        let e = sd
            .create_private_dns_namespace(R, req(json!({"Name": "CORP.local", "Vpc": "v"})))
            .unwrap_err();
        assert_eq!(e.code(), "NamespaceAlreadyExists");
        let svc = service(&sd, &ns, "backend");
        assert_eq!(svc["Type"], "DNS_HTTP");
        assert_eq!(svc["HealthCheckCustomConfig"]["FailureThreshold"], 1);
        let sid = svc["Id"].as_str().unwrap();
        let e = sd
            .create_service(R, req(json!({"Name": "Backend", "NamespaceId": ns})))
            .unwrap_err();
        assert_eq!(e.code(), "ServiceAlreadyExists");

        // An A record needs an address.
        let e = sd
            .register_instance(
                R,
                req(json!({"ServiceId": sid, "InstanceId": "i1", "Attributes": {"X": "1"}})),
            )
            .unwrap_err();
        assert_eq!(e.code(), "InvalidInput");
        for (id, ip) in [("i1", "10.0.0.1"), ("i2", "10.0.0.2")] {
            sd.register_instance(
                R,
                req(json!({"ServiceId": sid, "InstanceId": id,
                    "Attributes": {"AWS_INSTANCE_IPV4": ip}})),
            )
            .unwrap();
        }
        sd.update_instance_custom_health_status(
            R,
            req(json!({"ServiceId": sid, "InstanceId": "i2", "Status": "UNHEALTHY"})),
        )
        .unwrap();
        let found = sd
            .discover_instances(
                R,
                req(
                    json!({"NamespaceName": "corp.local", "ServiceName": "backend",
                    "HealthStatus": "HEALTHY"}),
                ),
            )
            .unwrap();
        assert_eq!(found["Instances"].as_array().unwrap().len(), 1);
        assert_eq!(found["Instances"][0]["InstanceId"], "i1");
        let health = sd
            .get_instances_health_status(R, req(json!({"ServiceId": sid})))
            .unwrap();
        assert_eq!(
            health["Status"],
            json!({"i1": "HEALTHY", "i2": "UNHEALTHY"})
        );
        let got = sd.get_service(R, req(json!({"Id": sid}))).unwrap();
        assert_eq!(got["Service"]["InstanceCount"], 2);
        let got = sd.get_namespace(R, req(json!({"Id": ns}))).unwrap();
        assert_eq!(got["Namespace"]["ServiceCount"], 1);

        // In use: neither the service nor the namespace can go.
        assert_eq!(
            sd.delete_service(R, req(json!({"Id": sid})))
                .unwrap_err()
                .code(),
            "ResourceInUse"
        );
        assert_eq!(
            sd.delete_namespace(R, req(json!({"Id": ns})))
                .unwrap_err()
                .code(),
            "ResourceInUse"
        );
        for id in ["i1", "i2"] {
            sd.deregister_instance(R, req(json!({"ServiceId": sid, "InstanceId": id})))
                .unwrap();
        }
        let e = sd
            .deregister_instance(R, req(json!({"ServiceId": sid, "InstanceId": "i1"})))
            .unwrap_err();
        assert_eq!((e.code(), e.status()), ("InstanceNotFound", 404));
        sd.delete_service(R, req(json!({"Id": sid}))).unwrap();
        sd.delete_namespace(R, req(json!({"Id": ns}))).unwrap();
        let e = sd.get_namespace(R, req(json!({"Id": ns}))).unwrap_err();
        assert_eq!((e.code(), e.status()), ("NamespaceNotFound", 404));
    }

    #[test]
    fn an_error_changes_nothing() {
        let sd = sd();
        let ns = namespace(&sd, "a.local");
        let svc = service(&sd, &ns, "web");
        let sid = svc["Id"].as_str().unwrap().to_string();
        let arn = svc["Arn"].as_str().unwrap().to_string();
        let snapshot = |sd: &ServiceDiscovery| {
            (
                sd.list_namespaces(R, ListRequest::default()).unwrap(),
                sd.list_services(R, ListRequest::default()).unwrap(),
                sd.list_instances(R, req(json!({"ServiceId": sid})))
                    .unwrap(),
                sd.list_tags_for_resource(R, req(json!({"ResourceARN": arn})))
                    .unwrap(),
            )
        };
        let before = snapshot(&sd);
        sd.inner.store().fail_writes(true);
        let calls: Vec<Result<Value>> = vec![
            sd.create_http_namespace(R, req(json!({"Name": "h"}))),
            sd.create_service(R, req(json!({"Name": "api", "NamespaceId": ns}))),
            sd.register_instance(
                R,
                req(json!({"ServiceId": sid, "InstanceId": "i",
                    "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.9"}})),
            ),
            sd.tag_resource(
                R,
                req(json!({"ResourceARN": arn, "Tags": [{"Key": "k", "Value": "v"}]})),
            ),
            sd.delete_service(R, req(json!({"Id": sid}))),
        ];
        for c in calls {
            let e = c.unwrap_err();
            assert_eq!((e.code(), e.status()), ("InternalFailure", 500));
        }
        sd.inner.store().fail_writes(false);
        assert_eq!(snapshot(&sd), before);
        // And refusals by validation leave it too.
        assert!(
            sd.create_service(R, req(json!({"Name": "x", "NamespaceId": "ns-nope"})))
                .is_err()
        );
        assert_eq!(snapshot(&sd), before);
    }

    #[test]
    fn state_survives_a_reload() {
        let dir = std::env::temp_dir().join(format!("fl-sd-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir, false).unwrap();
        let sd = ServiceDiscovery::load(store.clone(), "1".into()).unwrap();
        let ns = namespace(&sd, "b.local");
        let sid = service(&sd, &ns, "db")["Id"].as_str().unwrap().to_string();
        sd.register_instance(
            R,
            req(json!({"ServiceId": sid, "InstanceId": "t",
                "Attributes": {"AWS_INSTANCE_IPV4": "10.1.1.1"}})),
        )
        .unwrap();
        drop(sd);
        let sd = ServiceDiscovery::load(store, "1".into()).unwrap();
        let got = sd
            .get_instance(R, req(json!({"ServiceId": sid, "InstanceId": "t"})))
            .unwrap();
        assert_eq!(
            got["Instance"]["Attributes"]["AWS_INSTANCE_IPV4"],
            "10.1.1.1"
        );
        drop(sd);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Route 53's record sets: SRV `1 1 port <id>.<service>.<ns>` and A per
    /// healthy instance with the DnsConfig's TTLs, an A record at each
    /// SRV target (healthy or not), nothing for an HTTP namespace; every
    /// change is announced.
    #[test]
    fn the_dns_table_follows_instances_and_health() {
        use crate::runtime::dns::RecordSet;
        let sd = sd();
        let mut changes = sd.watch();
        let ns = namespace(&sd, "Corp.Local");
        let svc = sd
            .create_service(
                R,
                req(json!({"Name": "Api", "NamespaceId": ns,
                    "DnsConfig": {"DnsRecords": [{"Type": "SRV", "TTL": 20}, {"Type": "A", "TTL": 10}]},
                    "HealthCheckCustomConfig": {}})),
            )
            .unwrap()["Service"]
            .clone();
        sd.create_http_namespace(R, req(json!({"Name": "plain"})))
            .unwrap();
        let sid = svc["Id"].as_str().unwrap();
        for (id, ip) in [("T1", "10.0.0.1"), ("t2", "10.0.0.2")] {
            sd.register_instance(
                R,
                req(json!({"ServiceId": sid, "InstanceId": id,
                    "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8080"}})),
            )
            .unwrap();
        }
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        sd.update_instance_custom_health_status(
            R,
            req(json!({"ServiceId": sid, "InstanceId": "t2", "Status": "UNHEALTHY"})),
        )
        .unwrap();
        assert!(changes.has_changed().unwrap());
        let set = |name: &str, kind: &str, ttl: u32, values: &[&str]| RecordSet {
            name: name.into(),
            kind: kind.into(),
            ttl,
            one: false,
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let t = sd.dns_table(R);
        assert_eq!(t.zones.len(), 1, "{t:?}");
        assert_eq!(t.zones[0].name, "corp.local");
        assert_eq!(t.zones[0].soa_ttl, 15);
        assert_eq!(
            t.zones[0].record_sets,
            vec![
                set("api.corp.local", "A", 10, &["10.0.0.1"]),
                set("api.corp.local", "SRV", 20, &["1 1 8080 t1.api.corp.local"]),
                set("t1.api.corp.local", "A", 20, &["10.0.0.1"]),
                set("t2.api.corp.local", "A", 20, &["10.0.0.2"]),
            ]
        );
        // None healthy: all of them answer.
        sd.update_instance_custom_health_status(
            R,
            req(json!({"ServiceId": sid, "InstanceId": "T1", "Status": "UNHEALTHY"})),
        )
        .unwrap();
        let t = sd.dns_table(R);
        assert_eq!(
            t.zones[0].record_sets[0],
            set("api.corp.local", "A", 10, &["10.0.0.1", "10.0.0.2"])
        );
        assert_eq!(
            sd.dns_table("eu-west-1"),
            crate::runtime::dns::Table::default()
        );
    }
}
