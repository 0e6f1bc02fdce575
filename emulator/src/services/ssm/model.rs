//! Parameter Store's wire shapes (awsJson1.1, PascalCase members). Only the
//! members the emulator acts on are read; others are accepted and ignored.

use serde::{Deserialize, Serialize};

use crate::domain::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutParameterRequest {
    #[serde(default)]
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub value: String,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub key_id: Option<String>,
    pub overwrite: Option<bool>,
    pub allowed_pattern: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub tier: Option<String>,
    pub data_type: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutParameterResponse {
    pub version: i64,
    pub tier: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParameterRequest {
    #[serde(default)]
    pub name: String,
    pub with_decryption: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub value: String,
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub last_modified_date: Timestamp,
    #[serde(rename = "ARN")]
    pub arn: String,
    pub data_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParameterResponse {
    pub parameter: Parameter,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersRequest {
    #[serde(default)]
    pub names: Vec<String>,
    pub with_decryption: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersResponse {
    pub parameters: Vec<Parameter>,
    pub invalid_parameters: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParameterStringFilter {
    #[serde(default)]
    pub key: String,
    pub option: Option<String>,
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersByPathRequest {
    #[serde(default)]
    pub path: String,
    pub recursive: Option<bool>,
    pub with_decryption: Option<bool>,
    pub parameter_filters: Option<Vec<ParameterStringFilter>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersByPathResponse {
    pub parameters: Vec<Parameter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// DescribeParameters' older `Filters` member.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParametersFilter {
    #[serde(default)]
    pub key: String,
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeParametersRequest {
    pub filters: Option<Vec<ParametersFilter>>,
    pub parameter_filters: Option<Vec<ParameterStringFilter>>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParameterMetadata {
    pub name: String,
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    pub last_modified_date: Timestamp,
    pub last_modified_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    pub version: i64,
    pub tier: String,
    pub policies: Vec<serde_json::Value>,
    pub data_type: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeParametersResponse {
    pub parameters: Vec<ParameterMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteParameterRequest {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteParametersRequest {
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteParametersResponse {
    pub deleted_parameters: Vec<String>,
    pub invalid_parameters: Vec<String>,
}
