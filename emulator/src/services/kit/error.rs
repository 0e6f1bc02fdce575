//! The error trait every backend's error enum implements. The api layer
//! turns any `AwsError` into its protocol's error shape (awsJson `__type`,
//! awsQuery XML) in one place, so a new service writes no conversion code.

use crate::store::StoreError;

/// An error a backend answers with.
pub trait AwsError: std::error::Error {
    /// The AWS error code (`ClusterNotFoundException`, `ParameterNotFound`).
    fn code(&self) -> &'static str;

    /// Whether the fault is the emulator's (HTTP 500) rather than the
    /// caller's (HTTP 400).
    fn is_server_fault(&self) -> bool {
        false
    }

    /// The HTTP status the error is sent with.
    fn status(&self) -> u16 {
        if self.is_server_fault() { 500 } else { 400 }
    }

    /// The message AWS sends; by default the error's `Display`.
    fn message(&self) -> String {
        self.to_string()
    }

    /// The service's own server error for a state write that failed. The
    /// write is logged here, once, whatever the service.
    fn store_failed(e: StoreError) -> Self
    where
        Self: Sized;
}

/// The message every service gives a failed state write.
pub fn store_message(e: &StoreError) -> String {
    tracing::error!(error = %e, "state store write failed");
    format!("The state store failed: {e}")
}
