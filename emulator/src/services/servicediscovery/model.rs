//! The wire shapes of AWS Cloud Map (`servicediscovery`, awsJson1.1), as
//! botocore's model names them (PascalCase members). Required members are
//! `Option`s here so that a missing one is AWS's `InvalidInput`, not a
//! decoding error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::domain::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Soa {
    #[serde(rename = "TTL")]
    pub ttl: Option<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsProperties {
    pub hosted_zone_id: Option<String>,
    #[serde(rename = "SOA")]
    pub soa: Option<Soa>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpProperties {
    pub http_name: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespaceProperties {
    pub dns_properties: Option<DnsProperties>,
    pub http_properties: Option<HttpProperties>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Namespace {
    pub id: String,
    pub arn: String,
    pub resource_owner: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: Option<String>,
    pub service_count: i64,
    pub properties: NamespaceProperties,
    pub create_date: Timestamp,
    pub creator_request_id: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NamespaceSummary {
    pub id: String,
    pub arn: String,
    pub resource_owner: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: Option<String>,
    pub service_count: i64,
    pub properties: NamespaceProperties,
    pub create_date: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsRecord {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "TTL")]
    pub ttl: i64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DnsConfig {
    pub namespace_id: Option<String>,
    pub routing_policy: Option<String>,
    pub dns_records: Option<Vec<DnsRecord>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckConfig {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub resource_path: Option<String>,
    pub failure_threshold: Option<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckCustomConfig {
    pub failure_threshold: Option<i64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    pub id: String,
    pub arn: String,
    pub resource_owner: String,
    pub name: String,
    pub namespace_id: String,
    pub description: Option<String>,
    pub instance_count: i64,
    pub dns_config: Option<DnsConfig>,
    #[serde(rename = "Type")]
    pub kind: String,
    pub health_check_config: Option<HealthCheckConfig>,
    pub health_check_custom_config: Option<HealthCheckCustomConfig>,
    pub create_date: Timestamp,
    pub creator_request_id: Option<String>,
    pub created_by_account: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceSummary {
    pub id: String,
    pub arn: String,
    pub resource_owner: String,
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: Option<String>,
    pub instance_count: i64,
    pub dns_config: Option<DnsConfig>,
    pub health_check_config: Option<HealthCheckConfig>,
    pub health_check_custom_config: Option<HealthCheckCustomConfig>,
    pub create_date: Timestamp,
    pub created_by_account: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Instance {
    pub id: String,
    pub creator_request_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub created_by_account: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceSummary {
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    pub created_by_account: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpInstanceSummary {
    pub instance_id: String,
    pub namespace_name: String,
    pub service_name: String,
    pub health_status: String,
    pub attributes: BTreeMap<String, String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Operation {
    pub id: String,
    pub owner_account: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub status: String,
    pub error_message: Option<String>,
    pub error_code: Option<String>,
    pub create_date: Timestamp,
    pub update_date: Timestamp,
    pub targets: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub name: Option<String>,
    pub values: Option<Vec<String>>,
    pub condition: Option<String>,
}

// ------------------------------------------------------------ requests

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNamespaceRequest {
    pub name: Option<String>,
    pub creator_request_id: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<Tag>>,
    /// Private DNS namespaces only.
    pub vpc: Option<String>,
    pub properties: Option<NamespaceProperties>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdRequest {
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationIdRequest {
    pub operation_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
    pub filters: Option<Vec<Filter>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateServiceRequest {
    pub name: Option<String>,
    pub namespace_id: Option<String>,
    pub creator_request_id: Option<String>,
    pub description: Option<String>,
    pub dns_config: Option<DnsConfig>,
    pub health_check_config: Option<HealthCheckConfig>,
    pub health_check_custom_config: Option<HealthCheckCustomConfig>,
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceChange {
    pub description: Option<String>,
    pub dns_config: Option<DnsConfig>,
    pub health_check_config: Option<HealthCheckConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateServiceRequest {
    pub id: Option<String>,
    pub service: Option<ServiceChange>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterInstanceRequest {
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
    pub creator_request_id: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceRequest {
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListInstancesRequest {
    pub service_id: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetInstancesHealthStatusRequest {
    pub service_id: Option<String>,
    pub instances: Option<Vec<String>>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateInstanceCustomHealthStatusRequest {
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiscoverInstancesRequest {
    pub namespace_name: Option<String>,
    pub service_name: Option<String>,
    pub max_results: Option<i64>,
    pub query_parameters: Option<BTreeMap<String, String>>,
    pub optional_parameters: Option<BTreeMap<String, String>>,
    pub health_status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub tag_keys: Option<Vec<String>>,
}
