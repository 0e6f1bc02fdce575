//! Service wire shapes (botocore model: Service, Deployment,
//! DeploymentConfiguration, ServiceDeployment, ServiceRevision, ...) and the
//! record the backend stores for each service. Sub-shapes the emulator only
//! stores and echoes (placement, service registries, Service Connect,
//! alarms) are kept as JSON values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use super::model::{CapacityProviderStrategyItem, NetworkConfiguration, Tag};
use crate::domain::status::{LaunchType, aws_enum};
use crate::domain::time::Timestamp;

aws_enum! {
    /// A service's `status`: DeleteService makes it DRAINING, and INACTIVE
    /// once its last task has stopped.
    pub enum ServiceStatus {
        Active = "ACTIVE",
        Draining = "DRAINING",
        Inactive = "INACTIVE",
    }
}

aws_enum! {
    /// A deployment's `status`: the newest is PRIMARY, older ones still
    /// running tasks are ACTIVE.
    pub enum DeploymentStatus {
        Primary = "PRIMARY",
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

aws_enum! {
    /// A deployment's `rolloutState`.
    pub enum RolloutState {
        Completed = "COMPLETED",
        Failed = "FAILED",
        InProgress = "IN_PROGRESS",
    }
}

aws_enum! {
    /// A service deployment's `status` (DescribeServiceDeployments,
    /// ListServiceDeployments).
    pub enum ServiceDeploymentStatus {
        Pending = "PENDING",
        Successful = "SUCCESSFUL",
        Stopped = "STOPPED",
        StopRequested = "STOP_REQUESTED",
        InProgress = "IN_PROGRESS",
        RollbackRequested = "ROLLBACK_REQUESTED",
        RollbackInProgress = "ROLLBACK_IN_PROGRESS",
        RollbackSuccessful = "ROLLBACK_SUCCESSFUL",
        RollbackFailed = "ROLLBACK_FAILED",
    }
}

impl ServiceDeploymentStatus {
    /// Still moving: its counts follow the tasks.
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            ServiceDeploymentStatus::InProgress | ServiceDeploymentStatus::RollbackInProgress
        )
    }
}

aws_enum! {
    /// The model's `ServiceDeploymentRollbackMonitorsStatus`: the status of
    /// a service deployment's circuit breaker and of its alarms.
    pub enum MonitorStatus {
        Triggered = "TRIGGERED",
        Monitoring = "MONITORING",
        MonitoringComplete = "MONITORING_COMPLETE",
        Disabled = "DISABLED",
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCircuitBreaker {
    #[serde(default)]
    pub enable: bool,
    #[serde(default)]
    pub rollback: bool,
    pub reset_on_healthy_task: Option<bool>,
    pub threshold_configuration: Option<ThresholdConfiguration>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdConfiguration {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub value: Option<i32>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    pub maximum_percent: Option<i32>,
    pub minimum_healthy_percent: Option<i32>,
    pub alarms: Option<Value>,
    pub strategy: Option<String>,
    pub bake_time_in_minutes: Option<i32>,
    pub lifecycle_hooks: Option<Value>,
    pub linear_configuration: Option<Value>,
    pub canary_configuration: Option<Value>,
    pub early_success_criteria: Option<Value>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    pub target_group_arn: Option<String>,
    pub load_balancer_name: Option<String>,
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
    pub advanced_configuration: Option<Value>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentController {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub id: Option<String>,
    pub created_at: Option<Timestamp>,
    pub message: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: Option<String>,
    pub status: Option<DeploymentStatus>,
    pub task_definition: Option<String>,
    pub desired_count: Option<i32>,
    pub pending_count: Option<i32>,
    pub running_count: Option<i32>,
    pub failed_tasks: Option<i32>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub launch_type: Option<LaunchType>,
    pub platform_version: Option<String>,
    pub platform_family: Option<String>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub rollout_state: Option<RolloutState>,
    pub rollout_state_reason: Option<String>,
    pub service_connect_configuration: Option<Value>,
    pub service_connect_resources: Option<Value>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionSummary {
    pub arn: Option<String>,
    pub requested_task_count: Option<i32>,
    pub running_task_count: Option<i32>,
    pub pending_task_count: Option<i32>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service_arn: Option<String>,
    pub service_name: Option<String>,
    pub cluster_arn: Option<String>,
    pub load_balancers: Option<Vec<LoadBalancer>>,
    pub service_registries: Option<Value>,
    pub status: Option<ServiceStatus>,
    pub desired_count: Option<i32>,
    pub running_count: Option<i32>,
    pub pending_count: Option<i32>,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub platform_version: Option<String>,
    pub platform_family: Option<String>,
    pub task_definition: Option<String>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    pub deployments: Option<Vec<Deployment>>,
    pub role_arn: Option<String>,
    pub events: Option<Vec<ServiceEvent>>,
    pub created_at: Option<Timestamp>,
    pub current_service_deployment: Option<String>,
    pub current_service_revisions: Option<Vec<RevisionSummary>>,
    pub placement_constraints: Option<Value>,
    pub placement_strategy: Option<Value>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub scheduling_strategy: Option<String>,
    pub deployment_controller: Option<DeploymentController>,
    pub tags: Option<Vec<Tag>>,
    pub created_by: Option<String>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub propagate_tags: Option<String>,
    pub enable_execute_command: Option<bool>,
    pub availability_zone_rebalancing: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    pub container_name: Option<String>,
    pub image_digest: Option<String>,
    pub image: Option<String>,
}

/// What a deployment runs: DescribeServiceRevisions' shape.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRevision {
    pub service_revision_arn: Option<String>,
    pub service_arn: Option<String>,
    pub cluster_arn: Option<String>,
    pub task_definition: Option<String>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub launch_type: Option<LaunchType>,
    pub platform_version: Option<String>,
    pub platform_family: Option<String>,
    pub load_balancers: Option<Vec<LoadBalancer>>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub container_images: Option<Vec<ContainerImage>>,
    pub guard_duty_enabled: Option<bool>,
    pub created_at: Option<Timestamp>,
    pub service_connect_configuration: Option<Value>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentCircuitBreaker {
    pub status: Option<MonitorStatus>,
    pub failure_count: Option<i32>,
    pub threshold: Option<i32>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    pub reason: Option<String>,
    pub started_at: Option<Timestamp>,
    pub service_revision_arn: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentAlarms {
    pub status: Option<MonitorStatus>,
}

/// One UpdateService (or CreateService) as DescribeServiceDeployments shows it.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeployment {
    pub service_deployment_arn: Option<String>,
    pub service_arn: Option<String>,
    pub cluster_arn: Option<String>,
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub source_service_revisions: Option<Vec<RevisionSummary>>,
    pub target_service_revision: Option<RevisionSummary>,
    pub status: Option<ServiceDeploymentStatus>,
    pub status_reason: Option<String>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    pub rollback: Option<Rollback>,
    pub deployment_circuit_breaker: Option<ServiceDeploymentCircuitBreaker>,
    pub alarms: Option<ServiceDeploymentAlarms>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentBrief {
    pub service_deployment_arn: Option<String>,
    pub service_arn: Option<String>,
    pub cluster_arn: Option<String>,
    pub started_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub target_service_revision_arn: Option<String>,
    pub status: Option<ServiceDeploymentStatus>,
    pub status_reason: Option<String>,
}

/// What the scheduler remembers of a deployment (an `ecs-svc/...` id),
/// including after it left `deployments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentState {
    pub id: String,
    pub revision_arn: String,
    pub service_deployment_arn: String,
    /// Consecutive tasks that stopped before they were ever healthy.
    pub failures: i32,
    /// The "unable to stop or start tasks" event was sent.
    #[serde(default)]
    pub stuck_reported: bool,
    /// The "unable to place a task" event was sent (a deployment on EC2 or
    /// EXTERNAL capacity, of which the emulator has none). Left out of the
    /// stored document while false, so that documents stored before it
    /// existed keep their bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unplaceable_reported: bool,
}

/// A task the scheduler started and has not yet seen stopped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub deployment: String,
    /// Reached RUNNING.
    pub ran: bool,
    /// Counted as healthy at least once.
    pub healthy: bool,
    /// When it was seen RUNNING first (for the settle time).
    #[serde(default)]
    pub running_since: Option<Timestamp>,
    /// Stopped by the scheduler itself, with this reason.
    #[serde(default)]
    pub stopping: Option<String>,
    /// Its load balancer targets drain until then; the task is stopped
    /// once the drain is over.
    #[serde(default)]
    pub drain_until: Option<Timestamp>,
}

/// Tasks that repeatedly never reach RUNNING slow the scheduler down.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttle {
    pub failures: u32,
    pub next_launch_at: Timestamp,
    pub warned: bool,
}

/// A service: its wire form (deployments and events included) and what the
/// scheduler keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub service: Service,
    pub region: String,
    pub cluster_name: String,
    #[serde(default)]
    pub client_token: Option<String>,
    /// Every deployment the service has had, oldest first.
    pub deployment_states: Vec<DeploymentState>,
    /// Newest last.
    pub service_deployments: Vec<ServiceDeployment>,
    pub revisions: Vec<ServiceRevision>,
    /// Task id -> what the scheduler knows of it.
    pub tracked: BTreeMap<String, Tracked>,
    pub throttle: Throttle,
    /// The deployment that last reached COMPLETED (rollback target).
    pub last_completed: Option<String>,
    /// When "has reached a steady state." was last said.
    pub steady_reported_at: Option<Timestamp>,
    /// `serviceConnectConfiguration` as the next deployment gets it
    /// (namespace as an ARN), and the Cloud Map services it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_resources: Option<Value>,
}

impl ServiceRecord {
    pub fn name(&self) -> &str {
        self.service.service_name.as_deref().unwrap_or("")
    }

    pub fn arn(&self) -> &str {
        self.service.service_arn.as_deref().unwrap_or("")
    }

    pub fn deployments(&self) -> &[Deployment] {
        self.service.deployments.as_deref().unwrap_or(&[])
    }

    pub fn deployments_mut(&mut self) -> &mut Vec<Deployment> {
        self.service.deployments.get_or_insert_with(Vec::new)
    }

    pub fn state(&self, id: &str) -> Option<&DeploymentState> {
        self.deployment_states.iter().find(|d| d.id == id)
    }

    pub fn state_mut(&mut self, id: &str) -> Option<&mut DeploymentState> {
        self.deployment_states.iter_mut().find(|d| d.id == id)
    }

    pub fn revision(&self, arn: &str) -> Option<&ServiceRevision> {
        self.revisions
            .iter()
            .find(|r| r.service_revision_arn.as_deref() == Some(arn))
    }

    pub fn service_deployment_mut(&mut self, arn: &str) -> Option<&mut ServiceDeployment> {
        self.service_deployments
            .iter_mut()
            .find(|d| d.service_deployment_arn.as_deref() == Some(arn))
    }

    /// Adds an event made at `now`, newest first, keeping the 100 most
    /// recent.
    pub fn event_at(&mut self, now: Timestamp, message: String) {
        let events = self.service.events.get_or_insert_with(Vec::new);
        events.insert(
            0,
            ServiceEvent {
                id: Some(crate::domain::ids::uuid()),
                created_at: Some(now),
                message: Some(message),
            },
        );
        events.truncate(100);
    }
}
