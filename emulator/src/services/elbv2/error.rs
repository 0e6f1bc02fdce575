//! The ELBv2 backend's errors, with the error codes of the ELBv2 model.
//! Left out: how they look on the wire (the awsQuery XML is `api::elbv2`).

use crate::services::kit::{AwsError, PageError};
use crate::store::StoreError;

/// Every error the ELBv2 backend answers with.
#[derive(Debug, thiserror::Error)]
pub enum ElbError {
    #[error("One or more load balancers not found")]
    LoadBalancerNotFound,
    #[error("One or more target groups not found")]
    TargetGroupNotFound,
    #[error("One or more listeners not found")]
    ListenerNotFound,
    #[error("{0}")]
    DuplicateLoadBalancerName(String),
    #[error("{0}")]
    DuplicateTargetGroupName(String),
    #[error("{0}")]
    DuplicateListener(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidConfiguration(String),
    #[error("{0}")]
    Server(String),
}

impl AwsError for ElbError {
    fn code(&self) -> &'static str {
        match self {
            ElbError::LoadBalancerNotFound => "LoadBalancerNotFound",
            ElbError::TargetGroupNotFound => "TargetGroupNotFound",
            ElbError::ListenerNotFound => "ListenerNotFound",
            ElbError::DuplicateLoadBalancerName(_) => "DuplicateLoadBalancerName",
            ElbError::DuplicateTargetGroupName(_) => "DuplicateTargetGroupName",
            ElbError::DuplicateListener(_) => "DuplicateListener",
            ElbError::ResourceInUse(_) => "ResourceInUse",
            ElbError::Validation(_) => "ValidationError",
            ElbError::InvalidConfiguration(_) => "InvalidConfigurationRequest",
            ElbError::Server(_) => "InternalFailure",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, ElbError::Server(_))
    }

    fn store_failed(e: StoreError) -> Self {
        ElbError::Server(crate::services::kit::error::store_message(&e))
    }
}

impl From<PageError> for ElbError {
    /// ELBv2's words for a bad `PageSize` or `Marker`.
    fn from(e: PageError) -> Self {
        match e {
            PageError::InvalidToken => ElbError::Validation("Invalid marker".into()),
            PageError::MaxResults { value, min, max } => ElbError::Validation(format!(
                "1 validation error detected: Value '{value}' at 'pageSize' failed to satisfy constraint: Member must have value {}",
                if value < min as i64 {
                    format!("greater than or equal to {min}")
                } else {
                    format!("less than or equal to {max}")
                }
            )),
        }
    }
}

pub(super) fn validation(msg: impl Into<String>) -> ElbError {
    ElbError::Validation(msg.into())
}

/// A required parameter that is missing.
pub(super) fn required<T>(v: Option<T>, name: &str) -> Result<T, ElbError> {
    v.ok_or_else(|| validation(format!("{name} is required")))
}
