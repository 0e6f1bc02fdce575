//! ECS wire shapes: the members of the botocore model that the emulator reads
//! or writes, with the model's member names and JSON types. Requests decode
//! into these, responses encode from them, and stored state uses the same
//! types so that what is described is exactly what was stored.
//!
//! Unset members are left out of responses, as AWS does. Sub-shapes the
//! emulator only stores and echoes (linuxParameters, ...) are kept as JSON
//! values, and so is repositoryCredentials, of which the planner reads
//! `credentialsParameter`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_with::skip_serializing_none;

use crate::domain::status::{
    AttachmentStatus, Compatibility, Connectivity, ContainerStatus, Health, LaunchType, StopCode,
    TaskStatus, aws_enum,
};
use crate::domain::time::Timestamp;

aws_enum! {
    /// A cluster's `status`. A deleted cluster stays INACTIVE.
    pub enum ClusterStatus {
        Active = "ACTIVE",
        Provisioning = "PROVISIONING",
        Deprovisioning = "DEPROVISIONING",
        Failed = "FAILED",
        Inactive = "INACTIVE",
    }
}

aws_enum! {
    /// A capacity provider's `status`.
    pub enum CapacityProviderStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }
}

aws_enum! {
    /// A task definition revision's `status`: deregistered is INACTIVE,
    /// DeleteTaskDefinitions makes it DELETE_IN_PROGRESS.
    pub enum TaskDefinitionStatus {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        DeleteInProgress = "DELETE_IN_PROGRESS",
    }
}

/// Members of a task definition that only AWS sets, which a
/// RegisterTaskDefinition request may still carry (a described definition
/// fed back with `--cli-input-json` does): ignored on input, so a value
/// outside the enum is dropped rather than refused. A value of the wrong
/// JSON type is still a serialization error, as before.
mod set_by_aws {
    use serde::de::{DeserializeOwned, IntoDeserializer, value};
    use serde::{Deserialize, Deserializer};

    fn known<T: DeserializeOwned>(s: String) -> Option<T> {
        let de: value::StringDeserializer<value::Error> = s.into_deserializer();
        T::deserialize(de).ok()
    }

    pub fn one<'de, D: Deserializer<'de>, T: DeserializeOwned>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.and_then(known))
    }

    pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(
        d: D,
    ) -> Result<Option<Vec<T>>, D::Error> {
        Ok(Option::<Vec<String>>::deserialize(d)?
            .map(|v| v.into_iter().filter_map(known).collect()))
    }
}

/// A tag. `value` is optional in the model (a tag may be a bare key); an
/// unset one is left out rather than sent as `null`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// The kit's tag merge sees an unset key or value as empty.
impl crate::services::kit::tags::TagPair for Tag {
    fn key(&self) -> &str {
        self.key.as_deref().unwrap_or("")
    }
    fn value(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValuePair {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl KeyValuePair {
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        KeyValuePair {
            name: Some(name.to_string()),
            value: Some(value.into()),
        }
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub arn: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

impl Failure {
    pub fn missing(arn: impl Into<String>) -> Self {
        Failure {
            arn: Some(arn.into()),
            reason: Some("MISSING".into()),
            detail: None,
        }
    }
}

// ---------------------------------------------------------------- clusters

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSetting {
    pub name: Option<String>,
    pub value: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    pub capacity_provider: String,
    pub weight: Option<i32>,
    pub base: Option<i32>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub cluster_arn: Option<String>,
    pub cluster_name: Option<String>,
    pub configuration: Option<Value>,
    pub status: Option<ClusterStatus>,
    pub registered_container_instances_count: Option<i32>,
    pub running_tasks_count: Option<i32>,
    pub pending_tasks_count: Option<i32>,
    pub active_services_count: Option<i32>,
    pub statistics: Option<Vec<KeyValuePair>>,
    pub tags: Option<Vec<Tag>>,
    pub settings: Option<Vec<ClusterSetting>>,
    pub capacity_providers: Option<Vec<String>>,
    pub default_capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub attachments: Option<Vec<Attachment>>,
    pub attachments_status: Option<String>,
    pub service_connect_defaults: Option<Value>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProvider {
    pub capacity_provider_arn: Option<String>,
    pub name: Option<String>,
    pub status: Option<CapacityProviderStatus>,
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

// ---------------------------------------------------------------- task definitions

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub container_port: Option<i32>,
    pub host_port: Option<i32>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub app_protocol: Option<String>,
    pub container_port_range: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub command: Vec<String>,
    pub interval: Option<i32>,
    pub timeout: Option<i32>,
    pub retries: Option<i32>,
    pub start_period: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    pub container_name: String,
    pub condition: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub source_volume: Option<String>,
    pub container_path: Option<String>,
    pub read_only: Option<bool>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    pub source_container: Option<String>,
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    pub name: String,
    pub soft_limit: i64,
    pub hard_limit: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentFile {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub name: String,
    pub value_from: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: Option<BTreeMap<String, String>>,
    pub secret_options: Option<Vec<Secret>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirelensConfiguration {
    #[serde(rename = "type")]
    pub kind: String,
    pub options: Option<BTreeMap<String, String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: Option<String>,
    pub image: Option<String>,
    pub repository_credentials: Option<Value>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    pub links: Option<Vec<String>>,
    pub port_mappings: Option<Vec<PortMapping>>,
    pub essential: Option<bool>,
    pub restart_policy: Option<Value>,
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub environment: Option<Vec<KeyValuePair>>,
    pub environment_files: Option<Vec<EnvironmentFile>>,
    pub mount_points: Option<Vec<MountPoint>>,
    pub volumes_from: Option<Vec<VolumeFrom>>,
    pub linux_parameters: Option<Value>,
    pub secrets: Option<Vec<Secret>>,
    pub depends_on: Option<Vec<ContainerDependency>>,
    pub start_timeout: Option<i32>,
    pub stop_timeout: Option<i32>,
    pub version_consistency: Option<String>,
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub working_directory: Option<String>,
    pub disable_networking: Option<bool>,
    pub privileged: Option<bool>,
    pub readonly_root_filesystem: Option<bool>,
    pub dns_servers: Option<Vec<String>>,
    pub dns_search_domains: Option<Vec<String>>,
    pub extra_hosts: Option<Value>,
    pub docker_security_options: Option<Vec<String>>,
    pub interactive: Option<bool>,
    pub pseudo_terminal: Option<bool>,
    pub docker_labels: Option<BTreeMap<String, String>>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub log_configuration: Option<LogConfiguration>,
    pub health_check: Option<HealthCheck>,
    pub system_controls: Option<Value>,
    pub resource_requirements: Option<Value>,
    pub firelens_configuration: Option<FirelensConfiguration>,
    pub credential_specs: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: Option<String>,
    pub host: Option<Value>,
    pub docker_volume_configuration: Option<Value>,
    pub efs_volume_configuration: Option<Value>,
    pub fsx_windows_file_server_volume_configuration: Option<Value>,
    pub s3files_volume_configuration: Option<Value>,
    pub configured_at_launch: Option<bool>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralStorage {
    #[serde(rename = "sizeInGiB")]
    pub size_in_gib: i32,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    pub cpu_architecture: Option<String>,
    pub operating_system_family: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub task_definition_arn: Option<String>,
    pub container_definitions: Option<Vec<ContainerDefinition>>,
    pub family: Option<String>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub network_mode: Option<String>,
    pub revision: Option<i32>,
    pub volumes: Option<Vec<Volume>>,
    #[serde(default, deserialize_with = "set_by_aws::one")]
    pub status: Option<TaskDefinitionStatus>,
    pub requires_attributes: Option<Vec<Attribute>>,
    pub placement_constraints: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "set_by_aws::list")]
    pub compatibilities: Option<Vec<Compatibility>>,
    pub runtime_platform: Option<RuntimePlatform>,
    pub requires_compatibilities: Option<Vec<String>>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub inference_accelerators: Option<Vec<Value>>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub proxy_configuration: Option<Value>,
    pub registered_at: Option<Timestamp>,
    pub deregistered_at: Option<Timestamp>,
    pub delete_requested_at: Option<Timestamp>,
    pub registered_by: Option<String>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub enable_fault_injection: Option<bool>,
    pub trusted_execution_configuration: Option<Value>,
}

// ---------------------------------------------------------------- tasks

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfiguration {
    #[serde(default)]
    pub subnets: Vec<String>,
    pub security_groups: Option<Vec<String>>,
    pub assign_public_ip: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    pub awsvpc_configuration: Option<AwsVpcConfiguration>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverride {
    pub name: Option<String>,
    pub command: Option<Vec<String>>,
    pub environment: Option<Vec<KeyValuePair>>,
    pub environment_files: Option<Vec<EnvironmentFile>>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    pub resource_requirements: Option<Value>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskOverride {
    pub container_overrides: Option<Vec<ContainerOverride>>,
    pub cpu: Option<String>,
    pub inference_accelerator_overrides: Option<Vec<Value>>,
    pub execution_role_arn: Option<String>,
    pub memory: Option<String>,
    pub task_role_arn: Option<String>,
    pub ephemeral_storage: Option<EphemeralStorage>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<AttachmentStatus>,
    pub details: Option<Vec<KeyValuePair>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkBinding {
    #[serde(rename = "bindIP")]
    pub bind_ip: Option<String>,
    pub container_port: Option<i32>,
    pub host_port: Option<i32>,
    pub protocol: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub attachment_id: Option<String>,
    pub private_ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedAgent {
    pub last_started_at: Option<Timestamp>,
    pub name: Option<String>,
    pub reason: Option<String>,
    pub last_status: Option<ContainerStatus>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub container_arn: Option<String>,
    pub task_arn: Option<String>,
    pub name: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub runtime_id: Option<String>,
    pub last_status: Option<ContainerStatus>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Option<Vec<NetworkBinding>>,
    pub network_interfaces: Option<Vec<NetworkInterface>>,
    pub health_status: Option<Health>,
    pub managed_agents: Option<Vec<ManagedAgent>>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
    pub gpu_ids: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEphemeralStorage {
    #[serde(rename = "sizeInGiB")]
    pub size_in_gib: Option<i32>,
    pub kms_key_id: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub attachments: Option<Vec<Attachment>>,
    pub attributes: Option<Vec<Attribute>>,
    pub availability_zone: Option<String>,
    pub capacity_provider_name: Option<String>,
    pub cluster_arn: Option<String>,
    pub connectivity: Option<Connectivity>,
    pub connectivity_at: Option<Timestamp>,
    pub containers: Option<Vec<Container>>,
    pub cpu: Option<String>,
    pub created_at: Option<Timestamp>,
    pub desired_status: Option<TaskStatus>,
    pub enable_execute_command: Option<bool>,
    pub execution_stopped_at: Option<Timestamp>,
    pub group: Option<String>,
    pub health_status: Option<Health>,
    pub last_status: Option<TaskStatus>,
    pub launch_type: Option<LaunchType>,
    pub memory: Option<String>,
    pub overrides: Option<TaskOverride>,
    pub platform_version: Option<String>,
    pub platform_family: Option<String>,
    pub pull_started_at: Option<Timestamp>,
    pub pull_stopped_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub started_by: Option<String>,
    pub stop_code: Option<StopCode>,
    pub stopped_at: Option<Timestamp>,
    pub stopped_reason: Option<String>,
    pub stopping_at: Option<Timestamp>,
    pub tags: Option<Vec<Tag>>,
    pub task_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub version: Option<i64>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub fargate_ephemeral_storage: Option<TaskEphemeralStorage>,
}

// ---------------------------------------------------------------- account settings

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    pub name: Option<String>,
    pub value: Option<String>,
    pub principal_arn: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

// ---------------------------------------------------------------- enums

/// The value lists of the model's enum shapes that requests carry, in the
/// model's order (botocore 1.44.8), named after their shapes. Responses
/// must never hold a value outside them, so requests are checked against
/// them before anything is stored.
pub mod enums {
    pub const CLUSTER_FIELD: &[&str] = &[
        "ATTACHMENTS",
        "CONFIGURATIONS",
        "SETTINGS",
        "STATISTICS",
        "TAGS",
    ];
    pub const CAPACITY_PROVIDER_FIELD: &[&str] = &["TAGS"];
    pub const TASK_DEFINITION_FIELD: &[&str] = &["TAGS"];
    pub const TASK_FIELD: &[&str] = &["TAGS"];
    pub const CONTAINER_INSTANCE_FIELD: &[&str] = &["TAGS", "CONTAINER_INSTANCE_HEALTH"];
    pub const TASK_DEFINITION_STATUS: &[&str] = &["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"];
    pub const TASK_DEFINITION_FAMILY_STATUS: &[&str] = &["ACTIVE", "INACTIVE", "ALL"];
    pub const SORT_ORDER: &[&str] = &["ASC", "DESC"];
    pub const DESIRED_STATUS: &[&str] = &["RUNNING", "PENDING", "STOPPED"];
    pub const LAUNCH_TYPE: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
    pub const CONTAINER_INSTANCE_STATUS: &[&str] = &[
        "ACTIVE",
        "DRAINING",
        "REGISTERING",
        "DEREGISTERING",
        "REGISTRATION_FAILED",
    ];
    pub const PROPAGATE_TAGS: &[&str] = &["TASK_DEFINITION", "SERVICE", "NONE"];
    pub const ASSIGN_PUBLIC_IP: &[&str] = &["ENABLED", "DISABLED"];
    pub const CLUSTER_SETTING_NAME: &[&str] = &["containerInsights"];
    pub const EXECUTE_COMMAND_LOGGING: &[&str] = &["NONE", "DEFAULT", "OVERRIDE"];
    pub const NETWORK_MODE: &[&str] = &["bridge", "host", "awsvpc", "none"];
    pub const COMPATIBILITY: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
    pub const PID_MODE: &[&str] = &["host", "task"];
    pub const IPC_MODE: &[&str] = &["host", "task", "none"];
    pub const CPU_ARCHITECTURE: &[&str] = &["X86_64", "ARM64"];
    pub const OS_FAMILY: &[&str] = &[
        "WINDOWS_SERVER_2019_FULL",
        "WINDOWS_SERVER_2019_CORE",
        "WINDOWS_SERVER_2016_FULL",
        "WINDOWS_SERVER_2004_CORE",
        "WINDOWS_SERVER_2022_CORE",
        "WINDOWS_SERVER_2022_FULL",
        "WINDOWS_SERVER_2025_CORE",
        "WINDOWS_SERVER_2025_FULL",
        "WINDOWS_SERVER_20H2_CORE",
        "LINUX",
    ];
    pub const TRANSPORT_PROTOCOL: &[&str] = &["tcp", "udp"];
    pub const APPLICATION_PROTOCOL: &[&str] = &["http", "http2", "grpc"];
    pub const CONTAINER_CONDITION: &[&str] = &["START", "COMPLETE", "SUCCESS", "HEALTHY"];
    pub const LOG_DRIVER: &[&str] = &[
        "json-file",
        "syslog",
        "journald",
        "gelf",
        "fluentd",
        "awslogs",
        "splunk",
        "awsfirelens",
    ];
    pub const ULIMIT_NAME: &[&str] = &[
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    pub const ENVIRONMENT_FILE_TYPE: &[&str] = &["s3"];
    pub const VERSION_CONSISTENCY: &[&str] = &["enabled", "disabled"];
    pub const RESOURCE_TYPE: &[&str] = &["GPU", "InferenceAccelerator", "NeuronDevice"];
    pub const FIRELENS_CONFIGURATION_TYPE: &[&str] = &["fluentd", "fluentbit"];
    pub const SCOPE: &[&str] = &["task", "shared"];
    pub const EFS_TRANSIT_ENCRYPTION: &[&str] = &["ENABLED", "DISABLED"];
    pub const EFS_AUTHORIZATION_CONFIG_IAM: &[&str] = &["ENABLED", "DISABLED"];
    pub const TASK_DEFINITION_PLACEMENT_CONSTRAINT_TYPE: &[&str] = &["memberOf"];
    pub const PROXY_CONFIGURATION_TYPE: &[&str] = &["APPMESH"];
    pub const PLACEMENT_CONSTRAINT_TYPE: &[&str] = &["distinctInstance", "memberOf"];
    pub const PLACEMENT_STRATEGY_TYPE: &[&str] = &["random", "spread", "binpack"];
    pub const ISOLATION_MODE: &[&str] = &["SHARED", "ISOLATED_SANDBOX", "CONFIDENTIAL_SANDBOX"];
    pub const SETTING_NAME: &[&str] = &[
        "serviceLongArnFormat",
        "taskLongArnFormat",
        "containerInstanceLongArnFormat",
        "awsvpcTrunking",
        "containerInsights",
        "fargateFIPSMode",
        "tagResourceAuthorization",
        "fargateTaskRetirementWaitPeriod",
        "guardDutyActivate",
        "defaultLogDriverMode",
        "fargateEventWindows",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status enums hold exactly the model's values where requests
    /// are checked against the same lists.
    #[test]
    fn enums_match_the_request_lists() {
        fn strings<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
            all.iter().map(|v| v.to_string()).collect()
        }
        assert_eq!(strings(LaunchType::ALL), enums::LAUNCH_TYPE);
        assert_eq!(strings(Compatibility::ALL), enums::COMPATIBILITY);
        assert_eq!(
            strings(TaskDefinitionStatus::ALL),
            enums::TASK_DEFINITION_STATUS
        );
    }

    /// Members only AWS sets are ignored on input: an unknown value is
    /// dropped, a wrong JSON type still refused.
    #[test]
    fn members_set_by_aws_are_lenient_on_input() {
        let td = |v: serde_json::Value| serde_json::from_value::<TaskDefinition>(v);
        let got =
            td(serde_json::json!({"status": "BOGUS", "compatibilities": ["EC2", "X"]})).unwrap();
        assert_eq!(got.status, None);
        assert_eq!(got.compatibilities, Some(vec![LaunchType::Ec2]));
        let got = td(serde_json::json!({"status": "INACTIVE"})).unwrap();
        assert_eq!(got.status, Some(TaskDefinitionStatus::Inactive));
        assert!(td(serde_json::json!({"status": 3})).is_err());
        assert!(td(serde_json::json!({"compatibilities": "EC2"})).is_err());
        assert_eq!(td(serde_json::json!({})).unwrap().status, None);
    }

    /// Every shape, left empty, encodes to `{}`: an unset member is left
    /// out, never sent as `null` (SDKs accept null, AWS never sends it).
    #[test]
    fn unset_members_are_left_out() {
        fn check<T: Default + Serialize>(name: &str) {
            let got = serde_json::to_string(&T::default()).unwrap();
            assert_eq!(got, "{}", "{name}");
        }
        check::<Cluster>("Cluster");
        check::<ClusterSetting>("ClusterSetting");
        check::<CapacityProvider>("CapacityProvider");
        check::<PortMapping>("PortMapping");
        check::<MountPoint>("MountPoint");
        check::<VolumeFrom>("VolumeFrom");
        check::<Volume>("Volume");
        check::<RuntimePlatform>("RuntimePlatform");
        check::<TaskDefinition>("TaskDefinition");
        check::<NetworkConfiguration>("NetworkConfiguration");
        check::<ContainerOverride>("ContainerOverride");
        check::<TaskOverride>("TaskOverride");
        check::<Attachment>("Attachment");
        check::<NetworkBinding>("NetworkBinding");
        check::<NetworkInterface>("NetworkInterface");
        check::<ManagedAgent>("ManagedAgent");
        check::<Container>("Container");
        check::<TaskEphemeralStorage>("TaskEphemeralStorage");
        check::<Task>("Task");
        check::<Setting>("Setting");
        let cases = [
            (
                serde_json::to_string(&Tag {
                    key: Some("k".into()),
                    value: None,
                }),
                r#"{"key":"k"}"#,
            ),
            (
                serde_json::to_string(&KeyValuePair {
                    name: Some("n".into()),
                    value: None,
                }),
                r#"{"name":"n"}"#,
            ),
            (
                serde_json::to_string(&Failure::missing("a")),
                r#"{"arn":"a","reason":"MISSING"}"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.unwrap(), want);
        }
    }
}
