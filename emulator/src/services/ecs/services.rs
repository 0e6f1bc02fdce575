//! Services: CreateService, DescribeServices, ListServices, UpdateService,
//! DeleteService, ListServicesByNamespace, and the deployment inspection
//! operations (DescribeServiceDeployments, ListServiceDeployments,
//! DescribeServiceRevisions). These only record what is wanted; the
//! scheduler (`scheduler.rs`) starts and stops the tasks.
//!
//! A service without a launch type or a capacity provider strategy (and
//! without a cluster default) runs on EC2, as on AWS: it is created, and
//! since the emulator has no container instances its events say that no
//! task could be placed.
//!
//! Left out: task sets and the CODE_DEPLOY / EXTERNAL controllers, the
//! BLUE_GREEN / LINEAR / CANARY strategies, Service Connect and Cloud Map
//! (stored and echoed only), running anything on EC2 capacity.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::{
    CapacityProviderStrategyItem, Failure, NetworkConfiguration, Tag, TaskDefinition,
    TaskDefinitionStatus, enums,
};
use super::service_model::{
    Deployment, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController,
    DeploymentState, DeploymentStatus, LoadBalancer, MonitorStatus, RevisionSummary, RolloutState,
    Service, ServiceDeployment, ServiceDeploymentAlarms, ServiceDeploymentBrief,
    ServiceDeploymentCircuitBreaker, ServiceDeploymentStatus, ServiceRecord, ServiceRevision,
    ServiceStatus,
};
use super::tasks::check_network;
use super::validation::{check_enum, check_enum_list, check_enum_opt, check_tags, valid_name};
use super::{Caller, Ecs, EcsError, PAGE_100, PAGE_SERVICES, RegionState, Result, State, page};
use crate::domain::arn::{Arn, Scope};
use crate::domain::status::LaunchType;
use crate::domain::time::{self, Timestamp};
use crate::services::kit::{Change, Page};
use crate::store::Op;

pub(crate) const KIND_SERVICE: &str = "ecs.service";

const SCHEDULING_STRATEGY: &[&str] = &["REPLICA", "DAEMON"];
const DEPLOYMENT_CONTROLLER: &[&str] = &["ECS", "CODE_DEPLOY", "EXTERNAL"];
const DEPLOYMENT_STRATEGY: &[&str] = &["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"];
const AZ_REBALANCING: &[&str] = &["ENABLED", "DISABLED"];
const THRESHOLD_TYPE: &[&str] = &["COUNT", "BOUNDED_PERCENT", "UNBOUNDED_PERCENT"];
const SERVICE_FIELD: &[&str] = &["TAGS"];
const SERVICE_DEPLOYMENT_STATUS: &[&str] = &[
    "PENDING",
    "SUCCESSFUL",
    "STOPPED",
    "STOP_REQUESTED",
    "IN_PROGRESS",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_SUCCESSFUL",
    "ROLLBACK_FAILED",
];

// ---------------------------------------------------------------- requests

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateServiceRequest {
    pub cluster: Option<String>,
    pub service_name: Option<String>,
    pub task_definition: Option<String>,
    pub availability_zone_rebalancing: Option<String>,
    pub load_balancers: Option<Vec<LoadBalancer>>,
    pub service_registries: Option<Value>,
    pub desired_count: Option<i32>,
    pub client_token: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub platform_version: Option<String>,
    pub role: Option<String>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    pub placement_constraints: Option<Value>,
    pub placement_strategy: Option<Value>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub scheduling_strategy: Option<String>,
    pub deployment_controller: Option<DeploymentController>,
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub propagate_tags: Option<String>,
    pub enable_execute_command: Option<bool>,
    pub service_connect_configuration: Option<Value>,
    pub volume_configurations: Option<Value>,
    pub vpc_lattice_configurations: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateServiceRequest {
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub desired_count: Option<i32>,
    pub task_definition: Option<String>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    pub availability_zone_rebalancing: Option<String>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub placement_constraints: Option<Value>,
    pub placement_strategy: Option<Value>,
    pub platform_version: Option<String>,
    pub force_new_deployment: Option<bool>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub deployment_controller: Option<DeploymentController>,
    pub enable_execute_command: Option<bool>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub load_balancers: Option<Vec<LoadBalancer>>,
    pub propagate_tags: Option<String>,
    pub service_registries: Option<Value>,
    pub service_connect_configuration: Option<Value>,
    pub volume_configurations: Option<Value>,
    pub vpc_lattice_configurations: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteServiceRequest {
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub force: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct ServiceResponse {
    pub service: Service,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServicesRequest {
    pub cluster: Option<String>,
    pub services: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct DescribeServicesResponse {
    pub services: Vec<Service>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServicesRequest {
    pub cluster: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
    pub launch_type: Option<String>,
    pub scheduling_strategy: Option<String>,
    pub resource_management_type: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServicesResponse {
    pub service_arns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServicesByNamespaceRequest {
    pub namespace: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServiceDeploymentsRequest {
    pub service_deployment_arns: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServiceDeploymentsResponse {
    pub service_deployments: Vec<ServiceDeployment>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CreatedAt {
    pub before: Option<f64>,
    pub after: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServiceDeploymentsRequest {
    pub service: Option<String>,
    pub cluster: Option<String>,
    pub status: Option<Vec<String>>,
    pub created_at: Option<CreatedAt>,
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServiceDeploymentsResponse {
    pub service_deployments: Vec<ServiceDeploymentBrief>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServiceRevisionsRequest {
    pub service_revision_arns: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServiceRevisionsResponse {
    pub service_revisions: Vec<ServiceRevision>,
    pub failures: Vec<Failure>,
}

// ---------------------------------------------------------------- ids and ARNs

/// A deployment id: `ecs-svc/` and 19 digits.
pub fn deployment_id() -> String {
    format!("ecs-svc/{}", digits19())
}

fn digits19() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random_range(1_000_000_000_000_000_000..=9_999_999_999_999_999_999);
    n.to_string()
}

fn service_deployment_arn(scope: &Scope, cluster: &str, service: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    let id: String = (0..21)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    scope.arn(
        "ecs",
        &format!("service-deployment/{cluster}/{service}/{id}"),
    )
}

fn service_revision_arn(scope: &Scope, cluster: &str, service: &str) -> String {
    scope.arn(
        "ecs",
        &format!("service-revision/{cluster}/{service}/{}", digits19()),
    )
}

/// The service name from a name or ARN (`service/<cluster>/<name>`, or the
/// old `service/<name>`).
pub fn service_name(reference: &str) -> Option<&str> {
    if reference.starts_with("arn:") {
        let rest = Arn::of_service(reference, "ecs")?.resource_of("service/")?;
        return rest.rsplit('/').next().filter(|n| !n.is_empty());
    }
    (!reference.is_empty()).then_some(reference)
}

// ---------------------------------------------------------------- helpers

impl RegionState {
    /// Whether a service of this name exists (in any status) in the cluster.
    pub(crate) fn service_exists(&self, cluster_arn: &str, name: &str) -> bool {
        self.services
            .values()
            .any(|s| s.service.cluster_arn.as_deref() == Some(cluster_arn) && s.name() == name)
    }

    /// ACTIVE services of a cluster on (EC2, Fargate, EXTERNAL): a service
    /// with a capacity provider strategy runs on Fargate.
    pub(crate) fn active_services_by_launch_type(&self, cluster_arn: &str) -> (i32, i32, i32) {
        let mut counts = (0, 0, 0);
        for s in self.services.values().map(|s| &s.service) {
            if s.cluster_arn.as_deref() != Some(cluster_arn)
                || s.status != Some(ServiceStatus::Active)
            {
                continue;
            }
            match s.launch_type {
                Some(LaunchType::Ec2) => counts.0 += 1,
                Some(LaunchType::External) => counts.2 += 1,
                _ => counts.1 += 1,
            }
        }
        counts
    }

    pub(crate) fn active_services_count(&self, cluster_arn: &str) -> i32 {
        self.services
            .values()
            .filter(|s| {
                s.service.cluster_arn.as_deref() == Some(cluster_arn)
                    && s.service.status == Some(ServiceStatus::Active)
            })
            .count() as i32
    }
}

fn key(cluster: &str, name: &str) -> String {
    format!("{cluster}/{name}")
}

fn circuit_breaker(cfg: &DeploymentConfiguration) -> DeploymentCircuitBreaker {
    cfg.deployment_circuit_breaker.clone().unwrap_or_default()
}

/// The deployment configuration as AWS echoes it, defaults filled in.
fn with_defaults(mut cfg: DeploymentConfiguration) -> DeploymentConfiguration {
    cfg.deployment_circuit_breaker
        .get_or_insert_with(DeploymentCircuitBreaker::default);
    cfg.maximum_percent.get_or_insert(200);
    cfg.minimum_healthy_percent.get_or_insert(100);
    cfg.strategy.get_or_insert_with(|| "ROLLING".into());
    cfg
}

fn check_deployment_configuration(cfg: &DeploymentConfiguration) -> Result<()> {
    check_enum_opt("strategy", cfg.strategy.as_deref(), DEPLOYMENT_STRATEGY)?;
    if let Some(s) = cfg.strategy.as_deref()
        && s != "ROLLING"
    {
        return Err(EcsError::UnsupportedFeature(format!(
            "fargate-local supports only the ROLLING deployment strategy, not {s}."
        )));
    }
    if let Some(t) = cfg
        .deployment_circuit_breaker
        .as_ref()
        .and_then(|b| b.threshold_configuration.as_ref())
    {
        check_enum_opt("type", t.kind.as_deref(), THRESHOLD_TYPE)?;
    }
    if let Some(min) = cfg.minimum_healthy_percent
        && !(0..=100).contains(&min)
    {
        return Err(EcsError::invalid(
            "minimumHealthyPercent must be between 0 and 100.",
        ));
    }
    if let Some(max) = cfg.maximum_percent
        && max < 0
    {
        return Err(EcsError::invalid("maximumPercent must be at least 0."));
    }
    Ok(())
}

fn check_platform_version(pv: Option<&str>) -> Result<()> {
    match pv {
        None | Some("LATEST" | "1.4.0" | "1.3.0") => Ok(()),
        Some(_) => Err(EcsError::PlatformUnknown(
            "The specified platform version does not exist.".into(),
        )),
    }
}

/// The service's load balancers against its task definition and the ELBv2
/// backend: the container port exists, the target group exists and (when
/// `given`, the load balancers being set by this call) a listener forwards
/// to it.
fn check_load_balancers(
    lbs: &[LoadBalancer],
    td: &TaskDefinition,
    elb: Option<&crate::services::elbv2::Elbv2>,
    given: bool,
) -> Result<()> {
    for lb in lbs {
        let name = lb.container_name.as_deref().unwrap_or("");
        let port = lb.container_port.unwrap_or(0);
        let container = td
            .container_definitions
            .iter()
            .flatten()
            .find(|c| c.name.as_deref() == Some(name));
        let has_port = container.is_some_and(|c| {
            c.port_mappings
                .iter()
                .flatten()
                .any(|p| p.container_port == Some(port))
        });
        if !has_port {
            return Err(EcsError::invalid(format!(
                "The container {name} did not have a container port {port} defined."
            )));
        }
        let Some(tg) = &lb.target_group_arn else {
            return Err(EcsError::invalid(
                "targetGroupArn must be specified for a load balancer of a Fargate service.",
            ));
        };
        if let Some(elb) = elb {
            if elb.target_group(tg).is_none() {
                return Err(EcsError::invalid(format!(
                    "The target group with targetGroupArn {tg} does not exist."
                )));
            }
            if given && !elb.has_listener(tg) {
                return Err(EcsError::invalid(format!(
                    "The target group with targetGroupArn {tg} does not have an associated load balancer."
                )));
            }
        }
    }
    Ok(())
}

/// Where a service's tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// FARGATE, or a strategy of the cluster's FARGATE providers.
    Fargate,
    /// Container instances of this launch type, of which the emulator has
    /// none: the service is created, and its events say that no task could
    /// be placed.
    Instances(LaunchType),
}

/// What runs the service's tasks, checked as RunTask checks it. Without a
/// launch type or a strategy (of the request or the cluster's default) a
/// service runs on EC2, as on AWS.
fn check_capacity(
    region: &RegionState,
    cluster_ref: &str,
    launch_type: Option<&str>,
    strategy: Option<&[CapacityProviderStrategyItem]>,
) -> Result<Placement> {
    if launch_type.is_some() && strategy.is_some_and(|s| !s.is_empty()) {
        return Err(EcsError::invalid(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ));
    }
    let cluster = region.active_cluster(cluster_ref)?;
    let strategy = strategy.filter(|s| !s.is_empty()).or_else(|| {
        if launch_type.is_none() {
            cluster
                .default_capacity_provider_strategy
                .as_deref()
                .filter(|s| !s.is_empty())
        } else {
            None
        }
    });
    match (launch_type.map(LaunchType::parse), strategy) {
        (Some(Some(LaunchType::Fargate)), _) => Ok(Placement::Fargate),
        (None, Some(strategy)) => {
            let associated = cluster.capacity_providers.clone().unwrap_or_default();
            for item in strategy {
                if !associated.contains(&item.capacity_provider) {
                    return Err(EcsError::invalid(format!(
                        "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again. Capacity provider: {}",
                        item.capacity_provider
                    )));
                }
            }
            Ok(Placement::Fargate)
        }
        (None, None) | (Some(Some(LaunchType::Ec2)), _) => {
            Ok(Placement::Instances(LaunchType::Ec2))
        }
        (Some(Some(LaunchType::External)), _) => Ok(Placement::Instances(LaunchType::External)),
        _ => Err(EcsError::invalid(
            "fargate-local runs only Fargate: give the service launchType FARGATE or a FARGATE capacity provider strategy.",
        )),
    }
}

/// The task definition a service may run: known and ACTIVE.
fn service_task_definition(region: &RegionState, reference: &str) -> Result<TaskDefinition> {
    let rec = region
        .task_definition(reference)
        .ok_or_else(|| EcsError::client("TaskDefinition not found."))?;
    if rec.td.status != Some(TaskDefinitionStatus::Active) {
        return Err(EcsError::client("TaskDefinition is inactive"));
    }
    Ok(rec.td.clone())
}

/// A definition a Fargate service runs must be Fargate-compatible (every
/// definition is EC2-compatible).
fn check_compatible(td: &TaskDefinition, placement: Placement) -> Result<()> {
    let fargate = td
        .compatibilities
        .iter()
        .flatten()
        .any(|c| *c == LaunchType::Fargate);
    if placement == Placement::Fargate && !fargate {
        return Err(EcsError::invalid(
            "Task definition does not support launch_type FARGATE.",
        ));
    }
    Ok(())
}

/// The service's network configuration: required for awsvpc (always on
/// Fargate), refused for another network mode.
fn service_network(
    placement: Placement,
    td: &TaskDefinition,
    given: &Option<NetworkConfiguration>,
) -> Result<Option<NetworkConfiguration>> {
    let awsvpc = td.network_mode.as_deref() == Some("awsvpc");
    if placement == Placement::Fargate || awsvpc {
        return Ok(Some(check_network(given)?));
    }
    if given.is_some() {
        return Err(EcsError::invalid(
            "Network Configuration is not valid for the given networkMode of this task definition.",
        ));
    }
    Ok(None)
}

/// A new deployment of `revision`, PRIMARY and IN_PROGRESS, made at
/// `now`, with its service deployment; returned for the caller to put in
/// front.
fn start_deployment(
    rec: &mut ServiceRecord,
    scope: &Scope,
    revision: &ServiceRevision,
    reason_sd: Option<(&str, super::service_model::Rollback)>,
    now: Timestamp,
) -> Deployment {
    let id = deployment_id();
    let cfg = rec
        .service
        .deployment_configuration
        .clone()
        .unwrap_or_default();
    let breaker = circuit_breaker(&cfg);
    let desired = rec.service.desired_count.unwrap_or(0);
    let deployment = Deployment {
        id: Some(id.clone()),
        status: Some(DeploymentStatus::Primary),
        task_definition: revision.task_definition.clone(),
        desired_count: Some(desired),
        pending_count: Some(0),
        running_count: Some(0),
        failed_tasks: Some(0),
        created_at: Some(now),
        updated_at: Some(now),
        capacity_provider_strategy: revision.capacity_provider_strategy.clone(),
        launch_type: revision.launch_type,
        platform_version: revision.platform_version.clone(),
        platform_family: Some("Linux".into()),
        network_configuration: revision.network_configuration.clone(),
        rollout_state: Some(RolloutState::InProgress),
        rollout_state_reason: Some(format!("ECS deployment {id} in progress.")),
        service_connect_configuration: revision.service_connect_configuration.clone(),
        service_connect_resources: revision
            .service_connect_configuration
            .as_ref()
            .and(rec.service_connect_resources.clone()),
    };
    let revision_arn = revision.service_revision_arn.clone().unwrap_or_default();
    let sd_arn = match reason_sd {
        // A rollback belongs to the service deployment that failed.
        Some((sd_arn, rollback)) => {
            if let Some(sd) = rec.service_deployment_mut(sd_arn) {
                sd.status = Some(ServiceDeploymentStatus::RollbackInProgress);
                sd.rollback = Some(rollback);
                sd.updated_at = Some(now);
            }
            sd_arn.to_string()
        }
        None => {
            let arn = service_deployment_arn(scope, &rec.cluster_name, rec.name());
            let sources: Vec<RevisionSummary> = rec
                .deployments()
                .iter()
                .filter_map(|d| {
                    let st = rec.state(d.id.as_deref()?)?;
                    Some(RevisionSummary {
                        arn: Some(st.revision_arn.clone()),
                        requested_task_count: d.desired_count,
                        running_task_count: d.running_count,
                        pending_task_count: d.pending_count,
                    })
                })
                .collect();
            // The deployment it replaces stops where it is.
            for sd in &mut rec.service_deployments {
                if matches!(
                    sd.status,
                    Some(ServiceDeploymentStatus::InProgress | ServiceDeploymentStatus::Pending)
                ) {
                    sd.status = Some(ServiceDeploymentStatus::Stopped);
                    sd.status_reason =
                        Some("Service deployment was superseded by a newer deployment.".into());
                    sd.stopped_at = Some(now);
                    sd.updated_at = Some(now);
                    if let Some(cb) = &mut sd.deployment_circuit_breaker
                        && cb.status == Some(MonitorStatus::Monitoring)
                    {
                        cb.status = Some(MonitorStatus::MonitoringComplete);
                    }
                }
            }
            rec.service_deployments.push(ServiceDeployment {
                service_deployment_arn: Some(arn.clone()),
                service_arn: rec.service.service_arn.clone(),
                cluster_arn: rec.service.cluster_arn.clone(),
                created_at: Some(now),
                started_at: Some(now),
                updated_at: Some(now),
                source_service_revisions: Some(sources),
                target_service_revision: Some(RevisionSummary {
                    arn: Some(revision_arn.clone()),
                    requested_task_count: Some(desired),
                    running_task_count: Some(0),
                    pending_task_count: Some(0),
                }),
                status: Some(ServiceDeploymentStatus::InProgress),
                deployment_configuration: Some(cfg.clone()),
                deployment_circuit_breaker: Some(ServiceDeploymentCircuitBreaker {
                    status: Some(if breaker.enable {
                        MonitorStatus::Monitoring
                    } else {
                        MonitorStatus::Disabled
                    }),
                    failure_count: Some(0),
                    threshold: Some(super::rollout::breaker_threshold(
                        desired,
                        breaker
                            .threshold_configuration
                            .as_ref()
                            .and_then(|t| t.kind.as_deref()),
                        breaker
                            .threshold_configuration
                            .as_ref()
                            .and_then(|t| t.value),
                    )),
                }),
                alarms: Some(ServiceDeploymentAlarms {
                    status: Some(MonitorStatus::Disabled),
                }),
                ..Default::default()
            });
            arn
        }
    };
    rec.deployment_states.push(DeploymentState {
        id: id.clone(),
        revision_arn,
        service_deployment_arn: sd_arn.clone(),
        failures: 0,
        stuck_reported: false,
        unplaceable_reported: false,
    });
    rec.service.current_service_deployment = Some(sd_arn);
    rec.throttle = Default::default();
    rec.steady_reported_at = None;
    // The former PRIMARY gives way.
    for d in rec.deployments_mut() {
        d.status = Some(DeploymentStatus::Active);
    }
    rec.deployments_mut().insert(0, deployment.clone());
    deployment
}

/// The rollback of a deployment whose circuit breaker tripped: a new
/// PRIMARY deployment of `revision`, part of the failed service deployment.
pub(crate) fn start_rollback(
    rec: &mut ServiceRecord,
    scope: &Scope,
    revision: &ServiceRevision,
    service_deployment: &str,
    rollback: super::service_model::Rollback,
    now: Timestamp,
) {
    start_deployment(
        rec,
        scope,
        revision,
        Some((service_deployment, rollback)),
        now,
    );
}

fn new_revision(
    rec: &ServiceRecord,
    scope: &Scope,
    td: &TaskDefinition,
    network: Option<NetworkConfiguration>,
) -> ServiceRevision {
    let s = &rec.service;
    ServiceRevision {
        service_revision_arn: Some(service_revision_arn(scope, &rec.cluster_name, rec.name())),
        service_arn: s.service_arn.clone(),
        cluster_arn: s.cluster_arn.clone(),
        task_definition: td.task_definition_arn.clone(),
        capacity_provider_strategy: s.capacity_provider_strategy.clone(),
        launch_type: s.launch_type,
        platform_version: Some(
            match s.platform_version.as_deref() {
                None | Some("LATEST") => "1.4.0",
                Some(v) => v,
            }
            .into(),
        ),
        platform_family: Some("Linux".into()),
        load_balancers: s.load_balancers.clone(),
        network_configuration: network,
        service_connect_configuration: rec.service_connect.clone(),
        container_images: Some(
            td.container_definitions
                .iter()
                .flatten()
                .map(|c| super::service_model::ContainerImage {
                    container_name: c.name.clone(),
                    image: c.image.clone(),
                    image_digest: None,
                })
                .collect(),
        ),
        guard_duty_enabled: Some(false),
        created_at: Some(time::now()),
    }
}

/// The service as Describe shows it: tags only when asked for.
fn render(rec: &ServiceRecord, with_tags: bool) -> Service {
    let mut s = rec.service.clone();
    if !with_tags {
        s.tags = None;
    }
    s
}

impl Ecs {
    pub(crate) fn service_op(rec: &ServiceRecord) -> Op<'static> {
        Op::put(
            KIND_SERVICE,
            format!("{}/{}", rec.region, key(&rec.cluster_name, rec.name())),
            rec,
        )
    }

    /// `serviceRegistries`: at most one entry, whose `registryArn` is a
    /// Cloud Map service of this region, with `port` or
    /// `containerName`+`containerPort`, not both.
    fn check_service_registries(&self, region: &str, v: Option<&Value>) -> Result<()> {
        let Some(v) = v else { return Ok(()) };
        let list = v
            .as_array()
            .ok_or_else(|| EcsError::invalid("serviceRegistries must be a list."))?;
        if list.len() > 1 {
            return Err(EcsError::invalid(
                "Multiple service registries for each service isn't supported.",
            ));
        }
        for r in list {
            let arn = r
                .get("registryArn")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let is_service = crate::domain::arn::parse(arn).is_some_and(|a| {
                a.service == "servicediscovery" && a.resource.starts_with("service/")
            });
            if !is_service {
                return Err(EcsError::invalid(format!(
                    "The service registry ARN '{arn}' is not a valid AWS Cloud Map service ARN."
                )));
            }
            if let Some(sd) = self.servicediscovery()
                && sd.service_by_arn(region, arn).is_none()
            {
                return Err(EcsError::invalid(format!(
                    "The service registry {arn} does not exist."
                )));
            }
            if r.get("port").is_some() && r.get("containerName").is_some() {
                return Err(EcsError::invalid(
                    "A service registry can specify either a port or a containerName and containerPort, not both.",
                ));
            }
        }
        Ok(())
    }

    /// `serviceConnectConfiguration` checked against the task definition
    /// and Cloud Map, with the namespace as an ARN, and the Cloud Map
    /// services it uses (made when absent). `None` when not given or
    /// disabled.
    /// `others` are the region's services; `own` is the ARN of the service
    /// being updated (its own names do not clash with themselves).
    fn service_connect_for(
        &self,
        region: &str,
        cfg: Option<&Value>,
        cluster: &super::model::Cluster,
        td: &TaskDefinition,
        others: &std::collections::BTreeMap<String, ServiceRecord>,
        own: Option<&str>,
    ) -> Result<Option<(Value, Value)>> {
        let Some(cfg) = cfg else { return Ok(None) };
        let default = cluster
            .service_connect_defaults
            .as_ref()
            .and_then(|d| d.get("namespace"))
            .and_then(Value::as_str);
        let Some(resolved) = self.check_service_connect(region, cfg, default, td)? else {
            return Ok(None);
        };
        super::service_connect::check_names_free(&resolved, others.values(), own)?;
        let resources = self.service_connect_resources(region, &resolved)?;
        let mut cfg = cfg.clone();
        cfg["namespace"] = Value::String(resolved.namespace_arn.clone());
        Ok(Some((cfg, Value::Array(resources))))
    }

    pub fn create_service(
        &self,
        caller: &Caller,
        req: CreateServiceRequest,
    ) -> Result<ServiceResponse> {
        self.check_service_registries(&caller.region, req.service_registries.as_ref())?;
        check_enum_opt("launchType", req.launch_type.as_deref(), enums::LAUNCH_TYPE)?;
        check_enum_opt(
            "propagateTags",
            req.propagate_tags.as_deref(),
            enums::PROPAGATE_TAGS,
        )?;
        check_enum_opt(
            "schedulingStrategy",
            req.scheduling_strategy.as_deref(),
            SCHEDULING_STRATEGY,
        )?;
        check_enum_opt(
            "availabilityZoneRebalancing",
            req.availability_zone_rebalancing.as_deref(),
            AZ_REBALANCING,
        )?;
        if let Some(dc) = &req.deployment_controller {
            check_enum(
                "type",
                dc.kind.as_deref().unwrap_or(""),
                DEPLOYMENT_CONTROLLER,
            )?;
            if dc.kind.as_deref() != Some("ECS") {
                return Err(EcsError::UnsupportedFeature(
                    "fargate-local supports only the ECS deployment controller.".into(),
                ));
            }
        }
        let cfg = req.deployment_configuration.clone().unwrap_or_default();
        check_deployment_configuration(&cfg)?;
        let name = req
            .service_name
            .clone()
            .ok_or_else(|| EcsError::invalid("serviceName must not be null."))?;
        if !valid_name(&name) {
            return Err(EcsError::invalid(
                "Service name must be 1 to 255 letters (uppercase and lowercase), numbers, hyphens and underscores.",
            ));
        }
        if let Some(tags) = &req.tags {
            check_tags(tags)?;
        }
        check_platform_version(req.platform_version.as_deref())?;
        if req.scheduling_strategy.as_deref() == Some("DAEMON") {
            return Err(EcsError::invalid(
                "The DAEMON scheduling strategy is not supported for the FARGATE launch type.",
            ));
        }
        let desired = req.desired_count.ok_or_else(|| {
            EcsError::invalid("desiredCount must be specified for a service using the REPLICA scheduling strategy.")
        })?;
        if desired < 0 {
            return Err(EcsError::invalid("desiredCount must be at least 0."));
        }
        if req
            .health_check_grace_period_seconds
            .is_some_and(|g| !(0..=2_147_483_647).contains(&g))
        {
            return Err(EcsError::invalid(
                "healthCheckGracePeriodSeconds must be at least 0.",
            ));
        }
        let cluster_ref = req.cluster.clone().unwrap_or_else(|| "default".into());
        let scope = caller.scope();
        let region_name = caller.region.clone();
        let out = self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let cluster = region.active_cluster(&cluster_ref)?.clone();
            let cluster_name = cluster.cluster_name.clone().unwrap_or_default();
            let cluster_arn = cluster.cluster_arn.clone().unwrap_or_default();
            if let Some(existing) = region.services.get(&key(&cluster_name, &name)) {
                match existing.service.status {
                    Some(ServiceStatus::Active) => {
                        if req.client_token.is_some() && existing.client_token == req.client_token {
                            return Ok(Change::answer(ServiceResponse {
                                service: render(existing, true),
                            }));
                        }
                        return Err(EcsError::invalid("Creation of service was not idempotent."));
                    }
                    Some(ServiceStatus::Draining) => {
                        return Err(EcsError::invalid(
                            "Unable to Start a service that is still Draining.",
                        ));
                    }
                    _ => {}
                }
            }
            let td_ref = req
                .task_definition
                .clone()
                .ok_or_else(|| EcsError::invalid("taskDefinition must not be null."))?;
            let td = service_task_definition(region, &td_ref)?;
            let placement = check_capacity(
                region,
                &cluster_ref,
                req.launch_type.as_deref(),
                req.capacity_provider_strategy.as_deref(),
            )?;
            check_compatible(&td, placement)?;
            let network = service_network(placement, &td, &req.network_configuration)?;
            let lbs = req.load_balancers.clone().unwrap_or_default();
            check_load_balancers(&lbs, &td, self.elbv2(), true)?;
            let sc = self.service_connect_for(
                &region_name,
                req.service_connect_configuration.as_ref(),
                &cluster,
                &td,
                &region.services,
                None,
            )?;

            let now = time::now();
            let strategy = req
                .capacity_provider_strategy
                .clone()
                .filter(|s| !s.is_empty());
            let launch_type = match placement {
                Placement::Fargate if strategy.is_some() => None,
                Placement::Fargate => Some(LaunchType::Fargate),
                Placement::Instances(l) => Some(l),
            };
            let service = Service {
                service_arn: Some(scope.service(&cluster_name, &name)),
                service_name: Some(name.clone()),
                cluster_arn: Some(cluster_arn),
                load_balancers: Some(lbs),
                service_registries: Some(req.service_registries.unwrap_or(Value::Array(vec![]))),
                status: Some(ServiceStatus::Active),
                desired_count: Some(desired),
                running_count: Some(0),
                pending_count: Some(0),
                launch_type,
                capacity_provider_strategy: strategy,
                platform_version: Some(
                    req.platform_version
                        .clone()
                        .unwrap_or_else(|| "LATEST".into()),
                ),
                platform_family: Some("Linux".into()),
                task_definition: td.task_definition_arn.clone(),
                deployment_configuration: Some(with_defaults(cfg)),
                deployments: Some(Vec::new()),
                role_arn: Some(scope.global_arn(
                    "iam",
                    "role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
                )),
                events: Some(Vec::new()),
                created_at: Some(now),
                placement_constraints: Some(
                    req.placement_constraints.unwrap_or(Value::Array(vec![])),
                ),
                placement_strategy: Some(req.placement_strategy.unwrap_or(Value::Array(vec![]))),
                network_configuration: network.clone(),
                health_check_grace_period_seconds: Some(
                    req.health_check_grace_period_seconds.unwrap_or(0),
                ),
                scheduling_strategy: Some("REPLICA".into()),
                deployment_controller: Some(DeploymentController {
                    kind: Some("ECS".into()),
                }),
                tags: Some(req.tags.unwrap_or_default()),
                created_by: Some(caller.principal.clone()),
                enable_ecs_managed_tags: Some(req.enable_ecs_managed_tags.unwrap_or(false)),
                propagate_tags: Some(req.propagate_tags.unwrap_or_else(|| "NONE".into())),
                enable_execute_command: Some(req.enable_execute_command.unwrap_or(false)),
                availability_zone_rebalancing: Some(
                    req.availability_zone_rebalancing
                        .unwrap_or_else(|| "DISABLED".into()),
                ),
                ..Default::default()
            };
            let mut rec = ServiceRecord {
                service,
                region: caller.region.clone(),
                cluster_name: cluster_name.clone(),
                client_token: req.client_token,
                ..Default::default()
            };
            if let Some((cfg, resources)) = sc {
                rec.service_connect = Some(cfg);
                rec.service_connect_resources = Some(resources);
            }
            let revision = new_revision(&rec, &scope, &td, network);
            rec.revisions.push(revision.clone());
            start_deployment(&mut rec, &scope, &revision, None, now);
            let out = render(&rec, true);
            Ok(Change::answer(ServiceResponse { service: out })
                .write(Self::service_op(&rec))
                .then(move |st: &mut State| {
                    st.region(&region_name)
                        .services
                        .insert(key(&cluster_name, &name), rec);
                }))
        })?;
        self.wake_scheduler();
        Ok(out)
    }

    pub fn describe_services(
        &self,
        caller: &Caller,
        req: DescribeServicesRequest,
    ) -> Result<DescribeServicesResponse> {
        let refs = req
            .services
            .ok_or_else(|| EcsError::invalid("services must not be null."))?;
        if refs.is_empty() {
            return Err(EcsError::invalid("Services cannot be empty."));
        }
        if refs.len() > 10 {
            return Err(EcsError::invalid("services can have at most 10 items."));
        }
        check_enum_list("include", req.include.as_deref(), SERVICE_FIELD)?;
        let with_tags = req.include.unwrap_or_default().iter().any(|i| i == "TAGS");
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let cluster = region.active_cluster(&cluster_ref)?;
        let cluster_name = cluster.cluster_name.clone().unwrap_or_default();
        let mut services = Vec::new();
        let mut failures = Vec::new();
        for reference in refs {
            let found =
                service_name(&reference).and_then(|n| region.services.get(&key(&cluster_name, n)));
            match found {
                Some(rec) => services.push(render(rec, with_tags)),
                None => {
                    let arn = if reference.starts_with("arn:") {
                        reference
                    } else {
                        caller.scope().service(&cluster_name, &reference)
                    };
                    failures.push(Failure::missing(arn));
                }
            }
        }
        Ok(DescribeServicesResponse { services, failures })
    }

    pub fn list_services(
        &self,
        caller: &Caller,
        req: ListServicesRequest,
    ) -> Result<ListServicesResponse> {
        check_enum_opt("launchType", req.launch_type.as_deref(), enums::LAUNCH_TYPE)?;
        check_enum_opt(
            "schedulingStrategy",
            req.scheduling_strategy.as_deref(),
            SCHEDULING_STRATEGY,
        )?;
        check_enum_opt(
            "resourceManagementType",
            req.resource_management_type.as_deref(),
            &["CUSTOMER", "ECS"],
        )?;
        let launch_type = req.launch_type.as_deref().and_then(LaunchType::parse);
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let cluster_arn = region
            .active_cluster(&cluster_ref)?
            .cluster_arn
            .clone()
            .unwrap_or_default();
        let arns: Vec<String> = region
            .services
            .values()
            .filter(|s| {
                let sv = &s.service;
                sv.cluster_arn.as_deref() == Some(cluster_arn.as_str())
                    && sv.status == Some(ServiceStatus::Active)
                    && launch_type.is_none_or(|l| sv.launch_type == Some(l))
                    && req
                        .scheduling_strategy
                        .as_deref()
                        .is_none_or(|l| sv.scheduling_strategy.as_deref() == Some(l))
                    && req.resource_management_type.as_deref() != Some("ECS")
            })
            .map(|s| s.arn().to_string())
            .collect();
        let Page {
            items: service_arns,
            next_token,
        } = page(
            PAGE_SERVICES,
            &arns,
            req.next_token.as_deref(),
            req.max_results,
        )?;
        Ok(ListServicesResponse {
            service_arns,
            next_token,
        })
    }

    pub fn list_services_by_namespace(
        &self,
        caller: &Caller,
        req: ListServicesByNamespaceRequest,
    ) -> Result<ListServicesResponse> {
        let ns = req
            .namespace
            .ok_or_else(|| EcsError::invalid("namespace must not be null."))?;
        if ns.is_empty() {
            return Err(EcsError::invalid("namespace must not be empty."));
        }
        // The ACTIVE services whose Service Connect uses the namespace
        // (stored as an ARN), across clusters.
        let arn = self
            .servicediscovery()
            .and_then(|sd| sd.namespace_by_name_or_arn(&caller.region, &ns))
            .map(|n| n.arn);
        let arns: Vec<String> = match arn {
            None => Vec::new(),
            Some(arn) => self.backend().read(|st| {
                st.region_ref(&caller.region)
                    .services
                    .values()
                    .filter(|r| r.service.status == Some(ServiceStatus::Active))
                    .filter(|r| {
                        r.service_connect
                            .as_ref()
                            .and_then(|c| c.get("namespace"))
                            .and_then(Value::as_str)
                            == Some(arn.as_str())
                    })
                    .map(|r| r.arn().to_string())
                    .collect()
            }),
        };
        let Page {
            items: service_arns,
            next_token,
        } = page::<String>(
            PAGE_SERVICES,
            &arns,
            req.next_token.as_deref(),
            req.max_results,
        )?;
        Ok(ListServicesResponse {
            service_arns,
            next_token,
        })
    }

    pub fn update_service(
        &self,
        caller: &Caller,
        req: UpdateServiceRequest,
    ) -> Result<ServiceResponse> {
        self.check_service_registries(&caller.region, req.service_registries.as_ref())?;
        check_enum_opt(
            "propagateTags",
            req.propagate_tags.as_deref(),
            enums::PROPAGATE_TAGS,
        )?;
        check_enum_opt(
            "availabilityZoneRebalancing",
            req.availability_zone_rebalancing.as_deref(),
            AZ_REBALANCING,
        )?;
        if let Some(dc) = &req.deployment_controller {
            check_enum(
                "type",
                dc.kind.as_deref().unwrap_or(""),
                DEPLOYMENT_CONTROLLER,
            )?;
            if dc.kind.as_deref() != Some("ECS") {
                return Err(EcsError::UnsupportedFeature(
                    "fargate-local supports only the ECS deployment controller.".into(),
                ));
            }
        }
        if let Some(cfg) = &req.deployment_configuration {
            check_deployment_configuration(cfg)?;
        }
        check_platform_version(req.platform_version.as_deref())?;
        if req.desired_count.is_some_and(|d| d < 0) {
            return Err(EcsError::invalid("desiredCount must be at least 0."));
        }
        let reference = req
            .service
            .clone()
            .ok_or_else(|| EcsError::invalid("service must not be null."))?;
        let cluster_ref = req.cluster.clone().unwrap_or_else(|| "default".into());
        let scope = caller.scope();
        let region_name = caller.region.clone();
        let out = self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let cluster_name = region
                .active_cluster(&cluster_ref)?
                .cluster_name
                .clone()
                .unwrap_or_default();
            let k = key(
                &cluster_name,
                service_name(&reference).ok_or(EcsError::ServiceNotFound)?,
            );
            let rec = region.services.get(&k).ok_or(EcsError::ServiceNotFound)?;
            if rec.service.status != Some(ServiceStatus::Active) {
                return Err(EcsError::ServiceNotActive);
            }
            let mut rec = rec.clone();

            // What the new tasks would run.
            let current_rev = rec
                .deployments()
                .first()
                .and_then(|d| rec.state(d.id.as_deref()?))
                .and_then(|s| rec.revision(&s.revision_arn))
                .cloned()
                .unwrap_or_default();
            let td = match &req.task_definition {
                Some(r) => service_task_definition(region, r)?,
                None => {
                    let arn = rec.service.task_definition.clone().unwrap_or_default();
                    region
                        .task_definition(&arn)
                        .map(|r| r.td.clone())
                        .ok_or_else(|| EcsError::client("TaskDefinition not found."))?
                }
            };
            // A new strategy moves the service to Fargate; else it stays
            // where it runs.
            let placement = if req.launch_type_change(&rec) {
                check_capacity(
                    region,
                    &cluster_ref,
                    None,
                    req.capacity_provider_strategy.as_deref(),
                )?
            } else {
                match rec.service.launch_type {
                    Some(l) if l != LaunchType::Fargate => Placement::Instances(l),
                    _ => Placement::Fargate,
                }
            };
            if req.task_definition.is_some() {
                check_compatible(&td, placement)?;
            }
            let network = match &req.network_configuration {
                Some(_) => service_network(placement, &td, &req.network_configuration)?,
                None => rec.service.network_configuration.clone(),
            };
            if req.service_connect_configuration.is_some() {
                let cluster = region.active_cluster(&cluster_ref)?.clone();
                let sc = self.service_connect_for(
                    &region_name,
                    req.service_connect_configuration.as_ref(),
                    &cluster,
                    &td,
                    &region.services,
                    Some(rec.arn()),
                )?;
                rec.service_connect = sc.as_ref().map(|(c, _)| c.clone());
                rec.service_connect_resources = sc.map(|(_, r)| r);
            } else if req.task_definition.is_some()
                && let Some(cfg) = rec.service_connect.clone()
            {
                // The new task definition must still name the ports.
                let cluster = region.active_cluster(&cluster_ref)?.clone();
                self.service_connect_for(
                    &region_name,
                    Some(&cfg),
                    &cluster,
                    &td,
                    &region.services,
                    Some(rec.arn()),
                )?;
            }
            let lbs = req
                .load_balancers
                .clone()
                .or_else(|| rec.service.load_balancers.clone())
                .unwrap_or_default();
            check_load_balancers(&lbs, &td, self.elbv2(), req.load_balancers.is_some())?;

            let s = &mut rec.service;
            if let Some(d) = req.desired_count {
                s.desired_count = Some(d);
            }
            if let Some(cfg) = req.deployment_configuration.clone() {
                let mut merged = s.deployment_configuration.clone().unwrap_or_default();
                if cfg.deployment_circuit_breaker.is_some() {
                    merged.deployment_circuit_breaker = cfg.deployment_circuit_breaker;
                }
                if cfg.maximum_percent.is_some() {
                    merged.maximum_percent = cfg.maximum_percent;
                }
                if cfg.minimum_healthy_percent.is_some() {
                    merged.minimum_healthy_percent = cfg.minimum_healthy_percent;
                }
                if cfg.alarms.is_some() {
                    merged.alarms = cfg.alarms;
                }
                if cfg.strategy.is_some() {
                    merged.strategy = cfg.strategy;
                }
                s.deployment_configuration = Some(with_defaults(merged));
            }
            if let Some(g) = req.health_check_grace_period_seconds {
                s.health_check_grace_period_seconds = Some(g.max(0));
            }
            if let Some(v) = req.enable_execute_command {
                s.enable_execute_command = Some(v);
            }
            if let Some(v) = req.enable_ecs_managed_tags {
                s.enable_ecs_managed_tags = Some(v);
            }
            if let Some(v) = req.propagate_tags.clone() {
                s.propagate_tags = Some(v);
            }
            if let Some(v) = req.availability_zone_rebalancing.clone() {
                s.availability_zone_rebalancing = Some(v);
            }
            if let Some(v) = req.placement_constraints.clone() {
                s.placement_constraints = Some(v);
            }
            if let Some(v) = req.placement_strategy.clone() {
                s.placement_strategy = Some(v);
            }
            if let Some(v) = req.service_registries.clone() {
                s.service_registries = Some(v);
            }
            if let Some(v) = req.platform_version.clone() {
                s.platform_version = Some(v);
            }
            if let Some(strategy) = req
                .capacity_provider_strategy
                .clone()
                .filter(|s| !s.is_empty())
            {
                s.capacity_provider_strategy = Some(strategy);
                s.launch_type = None;
            }
            s.load_balancers = Some(lbs);
            s.network_configuration = network.clone();
            s.task_definition = td.task_definition_arn.clone();

            let mut revision = new_revision(&rec, &scope, &td, network);
            let same = revision.task_definition == current_rev.task_definition
                && revision.network_configuration == current_rev.network_configuration
                && revision.platform_version == current_rev.platform_version
                && revision.load_balancers == current_rev.load_balancers
                && revision.launch_type == current_rev.launch_type
                && revision.capacity_provider_strategy == current_rev.capacity_provider_strategy
                && revision.service_connect_configuration
                    == current_rev.service_connect_configuration;
            if !same || req.force_new_deployment == Some(true) {
                if same {
                    // Same configuration: the revision is reused.
                    revision = current_rev;
                } else {
                    rec.revisions.push(revision.clone());
                }
                start_deployment(&mut rec, &scope, &revision, None, time::now());
            } else if let Some(d) = req.desired_count {
                // A new desired count alone adjusts the PRIMARY deployment.
                if let Some(p) = rec.deployments_mut().first_mut() {
                    p.desired_count = Some(d);
                    p.updated_at = Some(time::now());
                }
                rec.steady_reported_at = None;
            }
            let out = render(&rec, true);
            Ok(Change::answer(ServiceResponse { service: out })
                .write(Self::service_op(&rec))
                .then(move |st: &mut State| {
                    st.region(&region_name).services.insert(k, rec);
                }))
        })?;
        self.wake_scheduler();
        Ok(out)
    }

    pub fn delete_service(
        &self,
        caller: &Caller,
        req: DeleteServiceRequest,
    ) -> Result<ServiceResponse> {
        let reference = req
            .service
            .ok_or_else(|| EcsError::invalid("service must not be null."))?;
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let region_name = caller.region.clone();
        let out = self.backend().update(|st| {
            let region = st.region_ref(&region_name);
            let cluster_name = region
                .active_cluster(&cluster_ref)?
                .cluster_name
                .clone()
                .unwrap_or_default();
            let k = key(
                &cluster_name,
                service_name(&reference).ok_or(EcsError::ServiceNotFound)?,
            );
            let rec = region
                .services
                .get(&k)
                .filter(|r| r.service.status != Some(ServiceStatus::Inactive))
                .ok_or(EcsError::ServiceNotFound)?;
            if rec.service.status != Some(ServiceStatus::Active) {
                // Already DRAINING: nothing to change.
                return Ok(Change::answer(ServiceResponse {
                    service: render(rec, true),
                }));
            }
            if rec.service.desired_count.unwrap_or(0) > 0 && req.force != Some(true) {
                return Err(EcsError::invalid(
                    "The service cannot be stopped while it is scaled above 0.",
                ));
            }
            let mut next = rec.clone();
            next.service.status = Some(ServiceStatus::Draining);
            next.service.desired_count = Some(0);
            for d in next.deployments_mut() {
                d.desired_count = Some(0);
            }
            let out = render(&next, true);
            Ok(Change::answer(ServiceResponse { service: out })
                .write(Self::service_op(&next))
                .then(move |st: &mut State| {
                    st.region(&region_name).services.insert(k, next);
                }))
        })?;
        self.wake_scheduler();
        Ok(out)
    }

    pub fn describe_service_deployments(
        &self,
        caller: &Caller,
        req: DescribeServiceDeploymentsRequest,
    ) -> Result<DescribeServiceDeploymentsResponse> {
        let arns = req
            .service_deployment_arns
            .ok_or_else(|| EcsError::invalid("serviceDeploymentArns must not be null."))?;
        if arns.is_empty() || arns.len() > 20 {
            return Err(EcsError::invalid(
                "serviceDeploymentArns must have between 1 and 20 items.",
            ));
        }
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let mut service_deployments = Vec::new();
        let mut failures = Vec::new();
        for arn in arns {
            let found = region
                .services
                .values()
                .flat_map(|s| &s.service_deployments)
                .find(|d| d.service_deployment_arn.as_deref() == Some(arn.as_str()));
            match found {
                Some(d) => service_deployments.push(d.clone()),
                None => failures.push(Failure::missing(arn)),
            }
        }
        Ok(DescribeServiceDeploymentsResponse {
            service_deployments,
            failures,
        })
    }

    pub fn list_service_deployments(
        &self,
        caller: &Caller,
        req: ListServiceDeploymentsRequest,
    ) -> Result<ListServiceDeploymentsResponse> {
        let reference = req
            .service
            .ok_or_else(|| EcsError::invalid("service must not be null."))?;
        check_enum_list("status", req.status.as_deref(), SERVICE_DEPLOYMENT_STATUS)?;
        let cluster_ref = req.cluster.unwrap_or_else(|| "default".into());
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let cluster_name = region
            .active_cluster(&cluster_ref)?
            .cluster_name
            .clone()
            .unwrap_or_default();
        let rec = service_name(&reference)
            .and_then(|n| region.services.get(&key(&cluster_name, n)))
            .ok_or(EcsError::ServiceNotFound)?;
        let statuses: Vec<ServiceDeploymentStatus> = req
            .status
            .unwrap_or_default()
            .iter()
            .filter_map(|s| ServiceDeploymentStatus::parse(s))
            .collect();
        let (before, after) = req
            .created_at
            .map(|c| (c.before, c.after))
            .unwrap_or_default();
        let briefs: Vec<ServiceDeploymentBrief> = rec
            .service_deployments
            .iter()
            .rev()
            .filter(|d| {
                (statuses.is_empty() || statuses.iter().any(|s| d.status == Some(*s)))
                    && before.is_none_or(|b| d.created_at.is_some_and(|c| c < b))
                    && after.is_none_or(|a| d.created_at.is_some_and(|c| c > a))
            })
            .map(|d| ServiceDeploymentBrief {
                service_deployment_arn: d.service_deployment_arn.clone(),
                service_arn: d.service_arn.clone(),
                cluster_arn: d.cluster_arn.clone(),
                started_at: d.started_at,
                created_at: d.created_at,
                finished_at: d.finished_at,
                target_service_revision_arn: d
                    .target_service_revision
                    .as_ref()
                    .and_then(|r| r.arn.clone()),
                status: d.status,
                status_reason: d.status_reason.clone(),
            })
            .collect();
        let Page {
            items: service_deployments,
            next_token,
        } = page(
            PAGE_100,
            &briefs,
            req.next_token.as_deref(),
            req.max_results,
        )?;
        Ok(ListServiceDeploymentsResponse {
            service_deployments,
            next_token,
        })
    }

    pub fn describe_service_revisions(
        &self,
        caller: &Caller,
        req: DescribeServiceRevisionsRequest,
    ) -> Result<DescribeServiceRevisionsResponse> {
        let arns = req
            .service_revision_arns
            .ok_or_else(|| EcsError::invalid("serviceRevisionArns must not be null."))?;
        if arns.is_empty() || arns.len() > 20 {
            return Err(EcsError::invalid(
                "serviceRevisionArns must have between 1 and 20 items.",
            ));
        }
        let mut st = self.lock();
        let region = st.region(&caller.region);
        let mut service_revisions = Vec::new();
        let mut failures = Vec::new();
        for arn in arns {
            match region.services.values().find_map(|s| s.revision(&arn)) {
                Some(r) => service_revisions.push(r.clone()),
                None => failures.push(Failure::missing(arn)),
            }
        }
        Ok(DescribeServiceRevisionsResponse {
            service_revisions,
            failures,
        })
    }
}

impl UpdateServiceRequest {
    fn launch_type_change(&self, _rec: &ServiceRecord) -> bool {
        self.capacity_provider_strategy
            .as_ref()
            .is_some_and(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use crate::services::ecs::reconcile::NO_INSTANCES;
    use crate::services::ecs::test_support::{caller, ecs_with, req};
    use crate::services::kit::AwsError;
    use crate::store::Store;
    use serde_json::json;

    const SUBNETS: &str = r#"{"awsvpcConfiguration": {"subnets": ["s"]}}"#;

    fn subnets() -> serde_json::Value {
        serde_json::from_str(SUBNETS).unwrap()
    }

    /// A cluster `c` (`default`: with a default FARGATE strategy), an
    /// EC2-only definition `ec2` (bridge mode) and a Fargate one `web`.
    fn world(default_strategy: bool) -> Ecs {
        let (ecs, _rt) = ecs_with(Store::in_memory(), &FakeRuntime::default());
        let c = caller();
        let mut cluster = json!({"clusterName": "c"});
        if default_strategy {
            cluster["capacityProviders"] = json!(["FARGATE"]);
            cluster["defaultCapacityProviderStrategy"] = json!([{"capacityProvider": "FARGATE"}]);
        }
        ecs.create_cluster(&c, req(cluster)).unwrap();
        let ec2 = ecs
            .register_task_definition(
                &c,
                req(json!({"family": "ec2",
                    "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]})),
                0,
            )
            .unwrap();
        assert_eq!(
            ec2.task_definition.compatibilities,
            Some(vec![LaunchType::Ec2])
        );
        ecs.register_task_definition(
            &c,
            req(json!({"family": "web", "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
                "containerDefinitions": [{"name": "app", "image": "busybox"}]})),
            0,
        )
        .unwrap();
        ecs
    }

    fn create(ecs: &Ecs, body: serde_json::Value) -> Result<Service> {
        let mut r = json!({"cluster": "c", "serviceName": "svc", "desiredCount": 1});
        for (k, v) in body.as_object().unwrap() {
            r[k] = v.clone();
        }
        ecs.create_service(&caller(), req(r)).map(|o| o.service)
    }

    fn error(r: Result<Service>) -> (&'static str, String) {
        let e = r.unwrap_err();
        (e.code(), e.to_string())
    }

    #[tokio::test]
    async fn service_connect_is_checked_echoed_and_registered_in_cloud_map() {
        let ecs = world(false);
        let sd = crate::services::servicediscovery::ServiceDiscovery::load(
            Store::in_memory(),
            "000000000000".into(),
        )
        .unwrap();
        ecs.attach_servicediscovery(sd.clone());
        sd.create_http_namespace("us-east-1", req(json!({"Name": "internal"})))
            .unwrap();
        let ns = sd
            .namespace_by_name_or_arn("us-east-1", "internal")
            .unwrap();
        ecs.register_task_definition(
            &caller(),
            req(json!({"family": "named", "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
                "containerDefinitions": [{"name": "app", "image": "busybox",
                    "portMappings": [{"containerPort": 8080, "name": "http"}]}]})),
            0,
        )
        .unwrap();
        let with = |sc: serde_json::Value| {
            json!({"taskDefinition": "named", "launchType": "FARGATE",
                "networkConfiguration": subnets(), "serviceConnectConfiguration": sc})
        };
        for (sc, code, text) in [
            (
                json!({"enabled": true, "namespace": "nope"}),
                "NamespaceNotFoundException",
                "Failed to retrieve namespace for nope",
            ),
            (
                json!({"enabled": true}),
                "InvalidParameterException",
                "namespace must be specified",
            ),
            (
                json!({"enabled": true, "namespace": "internal",
                    "services": [{"portName": "grpc"}]}),
                "InvalidParameterException",
                "portName 'grpc'",
            ),
            (
                json!({"enabled": true, "namespace": "internal",
                    "services": [{"portName": "http", "clientAliases": [{"port": 80}, {"port": 81}]}]}),
                "InvalidParameterException",
                "clientAliases",
            ),
            (
                json!({"enabled": true, "namespace": "internal",
                    "services": [{"portName": "http", "discoveryName": "Bad!"}]}),
                "InvalidParameterException",
                "discoveryName",
            ),
        ] {
            let (c, m) = error(create(&ecs, with(sc.clone())));
            assert_eq!(c, code, "{sc}");
            assert!(m.contains(text), "{sc}: {m}");
        }
        // Nothing was made by the refusals.
        assert_eq!(
            sd.list_services("us-east-1", req(json!({}))).unwrap()["Services"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        let s = create(
            &ecs,
            with(json!({"enabled": true, "namespace": "internal",
                "services": [{"portName": "http", "discoveryName": "api",
                    "clientAliases": [{"port": 8080, "dnsName": "api"}]}]})),
        )
        .unwrap();
        let d = &s.deployments.as_ref().unwrap()[0];
        let cfg = d.service_connect_configuration.as_ref().unwrap();
        assert_eq!(cfg["namespace"], json!(ns.arn));
        let res = d.service_connect_resources.as_ref().unwrap();
        assert_eq!(res[0]["discoveryName"], "api");
        let arn = res[0]["discoveryArn"].as_str().unwrap();
        let (svc, _) = sd.service_by_arn("us-east-1", arn).unwrap();
        assert_eq!(svc.name, "api");
        let eps = crate::services::ecs::service_connect::endpoints_of(cfg, "internal", None);
        assert_eq!(
            eps.iter()
                .map(|e| (e.dns_name.as_str(), e.port, e.discovery_name.as_str()))
                .collect::<Vec<_>>(),
            vec![("api", Some(8080), "api")]
        );
        for ns_ref in ["internal", ns.arn.as_str()] {
            let listed = ecs
                .list_services_by_namespace(&caller(), req(json!({"namespace": ns_ref})))
                .unwrap();
            assert_eq!(listed.service_arns, vec![s.service_arn.clone().unwrap()]);
        }
        // Another service may not take its discovery name or alias; a
        // refusal makes nothing.
        let clash = |sc: serde_json::Value| {
            let mut b = with(sc);
            b["serviceName"] = json!("other");
            create(&ecs, b)
        };
        let before = sd.list_services("us-east-1", req(json!({}))).unwrap()["Services"]
            .as_array()
            .unwrap()
            .len();
        for (sc, text) in [
            (
                json!({"enabled": true, "namespace": "internal",
                    "services": [{"portName": "http", "discoveryName": "api"}]}),
                "discoveryName 'api' is already used by service svc",
            ),
            (
                json!({"enabled": true, "namespace": "internal",
                    "services": [{"portName": "http", "discoveryName": "api2",
                        "clientAliases": [{"port": 8080, "dnsName": "api"}]}]}),
                "client alias api:8080 is already used by service svc",
            ),
        ] {
            let (c, m) = error(clash(sc.clone()));
            assert_eq!(c, "InvalidParameterException", "{sc}");
            assert!(m.contains(text), "{sc}: {m}");
        }
        assert_eq!(
            sd.list_services("us-east-1", req(json!({}))).unwrap()["Services"]
                .as_array()
                .unwrap()
                .len(),
            before
        );
        // Another port on the same name, for another endpoint, is fine.
        clash(json!({"enabled": true, "namespace": "internal",
            "services": [{"portName": "http", "discoveryName": "api-admin",
                "clientAliases": [{"port": 9090, "dnsName": "api"}]}]}))
        .unwrap();
        ecs.delete_service(
            &caller(),
            req(json!({"cluster": "c", "service": "other", "force": true})),
        )
        .unwrap();
        // A changed configuration is a new deployment; a refused one
        // changes nothing.
        let bad = ecs.update_service(
            &caller(),
            req(json!({"cluster": "c", "service": "svc",
                "serviceConnectConfiguration": {"enabled": true, "namespace": "nope"}})),
        );
        assert_eq!(bad.unwrap_err().code(), "NamespaceNotFoundException");
        let u = ecs
            .update_service(
                &caller(),
                req(json!({"cluster": "c", "service": "svc",
                    "serviceConnectConfiguration": {"enabled": true, "namespace": "internal",
                        "services": [{"portName": "http", "discoveryName": "web"}]}})),
            )
            .unwrap()
            .service;
        let ds = u.deployments.as_ref().unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(
            ds[0].service_connect_resources.as_ref().unwrap()[0]["discoveryName"],
            "web"
        );
        assert_eq!(
            ds[1].service_connect_resources.as_ref().unwrap()[0]["discoveryName"],
            "api"
        );
        // A task definition without the named port is refused.
        let bad = ecs.update_service(
            &caller(),
            req(json!({"cluster": "c", "service": "svc", "taskDefinition": "web"})),
        );
        assert!(bad.unwrap_err().to_string().contains("portName 'http'"));
    }

    #[tokio::test]
    async fn service_registries_name_one_existing_cloud_map_service() {
        let ecs = world(false);
        let sd = crate::services::servicediscovery::ServiceDiscovery::load(
            Store::in_memory(),
            "000000000000".into(),
        )
        .unwrap();
        ecs.attach_servicediscovery(sd.clone());
        let op = sd
            .create_http_namespace("us-east-1", req(json!({"Name": "ns"})))
            .unwrap();
        let op = sd
            .get_operation("us-east-1", req(json!({"OperationId": op["OperationId"]})))
            .unwrap();
        let ns = op["Operation"]["Targets"]["NAMESPACE"].as_str().unwrap();
        let svc = sd
            .create_service("us-east-1", req(json!({"Name": "api", "NamespaceId": ns})))
            .unwrap();
        let arn = svc["Service"]["Arn"].as_str().unwrap();
        let base = json!({"taskDefinition": "web", "launchType": "FARGATE",
            "networkConfiguration": subnets()});
        let with = |regs: serde_json::Value| {
            let mut b = base.clone();
            b["serviceRegistries"] = regs;
            b
        };
        let missing = arn.replace("srv-", "srv-x");
        for (regs, msg) in [
            (
                json!([{"registryArn": arn}, {"registryArn": arn}]),
                "Multiple",
            ),
            (
                json!([{"registryArn": "arn:aws:ecs:us-east-1:000000000000:service/c/x"}]),
                "not a valid",
            ),
            (json!([{"registryArn": missing}]), "does not exist"),
            (
                json!([{"registryArn": arn, "port": 80, "containerName": "app"}]),
                "not both",
            ),
        ] {
            let (code, m) = error(create(&ecs, with(regs.clone())));
            assert_eq!(code, "InvalidParameterException", "{regs}");
            assert!(m.contains(msg), "{regs}: {m}");
        }
        let s = create(&ecs, with(json!([{"registryArn": arn}]))).unwrap();
        assert_eq!(s.service_registries, Some(json!([{"registryArn": arn}])));
    }

    /// Without a launch type or a strategy a service runs on EC2, as on
    /// AWS: it is created, and says that no task can be placed (once).
    #[tokio::test]
    async fn a_service_without_launch_type_runs_on_ec2_capacity_the_cluster_lacks() {
        let ecs = world(false);
        let s = create(&ecs, json!({"taskDefinition": "ec2"})).unwrap();
        assert_eq!(s.launch_type, Some(LaunchType::Ec2));
        assert_eq!(
            s.deployments.as_ref().unwrap()[0].launch_type,
            Some(LaunchType::Ec2)
        );
        assert_eq!(s.network_configuration, None);
        ecs.reconcile_all().await;
        ecs.reconcile_all().await;
        let c = caller();
        let tasks = ecs
            .list_tasks(&c, req(json!({"cluster": "c"})))
            .unwrap()
            .task_arns;
        assert!(tasks.is_empty(), "nothing runs: {tasks:?}");
        let s = &ecs
            .describe_services(&c, req(json!({"cluster": "c", "services": ["svc"]})))
            .unwrap()
            .services[0];
        let events: Vec<&str> = s
            .events
            .iter()
            .flatten()
            .filter_map(|e| e.message.as_deref())
            .collect();
        assert_eq!(events, [format!("(service svc) {NO_INSTANCES}")]);
        assert_eq!(
            s.deployments.as_ref().unwrap()[0].rollout_state,
            Some(RolloutState::InProgress)
        );
        let stats = ecs
            .describe_clusters(
                &c,
                req(json!({"clusters": ["c"], "include": ["STATISTICS"]})),
            )
            .unwrap()
            .clusters[0]
            .statistics
            .clone()
            .unwrap();
        let stat = |n: &str| {
            stats
                .iter()
                .find(|kv| kv.name.as_deref() == Some(n))
                .and_then(|kv| kv.value.clone())
        };
        assert_eq!(stat("activeEC2ServiceCount").as_deref(), Some("1"));
        assert_eq!(stat("activeFargateServiceCount").as_deref(), Some("0"));
    }

    #[tokio::test]
    async fn where_a_service_runs_decides_what_its_definition_must_support() {
        let ecs = world(false);
        let fargate_only = (
            "InvalidParameterException",
            "Task definition does not support launch_type FARGATE.".to_string(),
        );
        // Explicitly on Fargate, an EC2-only definition is refused as before.
        assert_eq!(
            error(create(
                &ecs,
                json!({"taskDefinition": "ec2", "launchType": "FARGATE", "networkConfiguration": subnets()})
            )),
            fargate_only
        );
        // On EC2 a bridge-mode definition takes no network configuration...
        assert_eq!(
            error(create(
                &ecs,
                json!({"taskDefinition": "ec2", "networkConfiguration": subnets()})
            )),
            (
                "InvalidParameterException",
                "Network Configuration is not valid for the given networkMode of this task definition."
                    .to_string()
            )
        );
        // ... and an awsvpc one needs it, wherever it runs.
        assert_eq!(
            error(create(&ecs, json!({"taskDefinition": "web"}))).1,
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        );
        let s = create(
            &ecs,
            json!({"taskDefinition": "web", "launchType": "EC2", "networkConfiguration": subnets()}),
        )
        .unwrap();
        assert_eq!(s.launch_type, Some(LaunchType::Ec2));
        // A cluster whose default strategy is FARGATE runs it on Fargate.
        let ecs = world(true);
        assert_eq!(
            error(create(&ecs, json!({"taskDefinition": "ec2"}))),
            fargate_only
        );
    }

    /// RunTask without a launch type or a strategy runs on EC2 too: a 200
    /// with a failure naming the cluster, for any definition.
    #[tokio::test]
    async fn run_task_without_launch_type_reports_no_container_instances() {
        let ecs = world(false);
        let c = caller();
        for td in ["ec2", "web"] {
            let out = ecs
                .run_task(&c, req(json!({"cluster": "c", "taskDefinition": td})))
                .unwrap();
            assert!(out.tasks.is_empty());
            assert_eq!(
                out.failures,
                [Failure {
                    arn: Some(c.scope().cluster("c")),
                    reason: Some("No Container Instances were found in your cluster.".into()),
                    detail: None,
                }],
                "{td}"
            );
        }
        let e = ecs
            .run_task(
                &c,
                req(
                    json!({"cluster": "c", "taskDefinition": "ec2", "launchType": "FARGATE",
                    "networkConfiguration": subnets()}),
                ),
            )
            .unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            (
                "InvalidParameterException",
                "Task definition does not support launch_type FARGATE."
            )
        );
    }

    #[test]
    fn service_names_from_references() {
        let cases = [
            ("web", Some("web")),
            ("arn:aws:ecs:us-east-1:0:service/dev/web", Some("web")),
            ("arn:aws:ecs:us-east-1:0:service/web", Some("web")),
            ("arn:aws:ecs:us-east-1:0:task/dev/abc", None),
            ("arn:aws:s3:::bucket", None),
            ("", None),
        ];
        for (r, want) in cases {
            assert_eq!(service_name(r), want, "{r}");
        }
        let id = deployment_id();
        let digits = id.strip_prefix("ecs-svc/").unwrap();
        assert_eq!(digits.len(), 19);
        assert!(digits.chars().all(|c| c.is_ascii_digit()));
    }
}
