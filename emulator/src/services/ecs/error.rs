//! `EcsError`: every error the ECS backend answers with. Each variant's text is
//! the message AWS sends; `code` gives the exception name. A failed state
//! write becomes `Server` through the kit's `AwsError::store_failed` (in
//! `Backend::update`), not through a `From<StoreError>`, so that no store
//! call can slip past the backend's one way of writing.

use crate::services::kit::PageError;
use crate::services::kit::tags::TagError;

#[derive(Debug, thiserror::Error)]
pub enum EcsError {
    /// An unknown cluster.
    #[error("Cluster not found.")]
    ClusterNotFound,
    /// Bad input that AWS reports as ClientException.
    #[error("{0}")]
    Client(String),
    /// Bad input that AWS reports as InvalidParameterException.
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedFeature(String),
    #[error("{0}")]
    ClusterContainsTasks(String),
    #[error("{0}")]
    ClusterContainsServices(String),
    #[error("{0}")]
    ClusterContainsCapacityProvider(String),
    #[error("Service not found.")]
    ServiceNotFound,
    #[error("Service was not ACTIVE.")]
    ServiceNotActive,
    #[error("{0}")]
    TargetNotConnected(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// An unknown platform version (CreateService, UpdateService).
    #[error("{0}")]
    PlatformUnknown(String),
    /// Service Connect's namespace does not exist.
    #[error("{0}")]
    NamespaceNotFound(String),
    /// A launch-rate quota was hit (SDKs retry it).
    #[error("Rate exceeded")]
    Throttling,
    /// A fault of the emulator itself (the state database failed, ...).
    #[error("{0}")]
    Server(String),
}

impl crate::services::kit::AwsError for EcsError {
    fn code(&self) -> &'static str {
        match self {
            EcsError::ClusterNotFound => "ClusterNotFoundException",
            EcsError::Client(_) => "ClientException",
            EcsError::InvalidParameter(_) => "InvalidParameterException",
            EcsError::ResourceNotFound(_) => "ResourceNotFoundException",
            EcsError::ResourceInUse(_) => "ResourceInUseException",
            EcsError::Conflict(_) => "ConflictException",
            EcsError::UnsupportedFeature(_) => "UnsupportedFeatureException",
            EcsError::ClusterContainsTasks(_) => "ClusterContainsTasksException",
            EcsError::ClusterContainsServices(_) => "ClusterContainsServicesException",
            EcsError::ClusterContainsCapacityProvider(_) => {
                "ClusterContainsCapacityProviderException"
            }
            EcsError::ServiceNotFound => "ServiceNotFoundException",
            EcsError::ServiceNotActive => "ServiceNotActiveException",
            EcsError::TargetNotConnected(_) => "TargetNotConnectedException",
            EcsError::LimitExceeded(_) => "LimitExceededException",
            EcsError::PlatformUnknown(_) => "PlatformUnknownException",
            EcsError::NamespaceNotFound(_) => "NamespaceNotFoundException",
            EcsError::Throttling => "ThrottlingException",
            EcsError::Server(_) => "ServerException",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, EcsError::Server(_))
    }

    fn store_failed(e: crate::store::StoreError) -> Self {
        EcsError::Server(crate::services::kit::error::store_message(&e))
    }
}

impl EcsError {
    pub fn client(msg: impl Into<String>) -> Self {
        EcsError::Client(msg.into())
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        EcsError::InvalidParameter(msg.into())
    }
}

/// A refused page: ECS's messages.
impl From<PageError> for EcsError {
    fn from(e: PageError) -> Self {
        match e {
            PageError::InvalidToken => EcsError::invalid("Invalid nextToken."),
            PageError::MaxResults { min, max, .. } => {
                EcsError::invalid(format!("maxResults must be between {min} and {max}."))
            }
        }
    }
}

/// Refused tags: ECS's messages. ECS counts the tags a resource would end
/// with, so the count in the message is the limit, not the request's.
impl From<TagError> for EcsError {
    fn from(e: TagError) -> Self {
        EcsError::invalid(match e {
            TagError::TooMany { limit, .. } => {
                format!("Too many tags. A resource can have a maximum of {limit} tags.")
            }
            TagError::KeyLength { .. } => {
                "Tag keys must be between 1 and 128 characters in length.".into()
            }
            TagError::ValueLength { .. } => {
                "Tag values must be between 0 and 256 characters in length.".into()
            }
            TagError::Reserved { .. } => {
                "Tag keys may not begin with the reserved prefix 'aws:'.".into()
            }
            TagError::Duplicate { key } => format!("Duplicate tag key: {key}"),
            TagError::KeyChars { key } => format!("Tag key '{key}' contains invalid characters."),
            TagError::ValueChars { key, .. } => {
                format!("The value of tag '{key}' contains invalid characters.")
            }
        })
    }
}
