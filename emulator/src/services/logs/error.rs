//! `LogsError`: every error the CloudWatch Logs backend answers with. Each
//! variant's text is the message AWS sends; `code` gives the exception name.

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// Bad input (including constraint violations, which CloudWatch Logs
    /// reports as InvalidParameterException).
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    Validation(String),
    /// A fault of the emulator itself (the state database failed).
    #[error("{0}")]
    ServiceUnavailable(String),
}

impl crate::services::kit::AwsError for LogsError {
    fn code(&self) -> &'static str {
        match self {
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            LogsError::LimitExceeded(_) => "LimitExceededException",
            LogsError::TooManyTags(_) => "TooManyTagsException",
            LogsError::Validation(_) => "ValidationException",
            LogsError::ServiceUnavailable(_) => "ServiceUnavailableException",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, LogsError::ServiceUnavailable(_))
    }

    fn store_failed(e: crate::store::StoreError) -> Self {
        LogsError::ServiceUnavailable(crate::services::kit::error::store_message(&e))
    }
}

impl LogsError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        LogsError::InvalidParameter(msg.into())
    }

    /// AWS's wording for a member that breaks a model constraint.
    pub fn constraint(field: &str, value: &str, constraint: &str) -> Self {
        LogsError::InvalidParameter(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ))
    }

    pub fn missing(field: &str) -> Self {
        LogsError::InvalidParameter(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ))
    }

    pub fn group_not_found() -> Self {
        LogsError::ResourceNotFound("The specified log group does not exist.".into())
    }

    pub fn stream_not_found() -> Self {
        LogsError::ResourceNotFound("The specified log stream does not exist.".into())
    }
}

impl From<rusqlite::Error> for LogsError {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "log store failed");
        LogsError::ServiceUnavailable(format!("The log store failed: {e}"))
    }
}
