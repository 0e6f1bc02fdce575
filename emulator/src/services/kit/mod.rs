//! The backend kit: what every AWS service backend is made of apart from
//! its own semantics. A new service starts here, not from a copy of another
//! service:
//!
//! - [`error::AwsError`]: its error enum gives an AWS error code, a message
//!   and whether it is the server's fault; the api layer turns any such
//!   error into the wire's error shape, and a failed state write becomes the
//!   service's own server error through [`error::AwsError::store_failed`].
//! - [`backend::Backend`]: state in memory behind one std mutex, the store
//!   beside it, load / lock / reset, and [`backend::Backend::update`], which
//!   makes "validate, then write the store, then change memory" the only way
//!   to change state: an error answer changes nothing.
//! - [`paging::Paging`]: one token format and one slice for list
//!   operations; each service maps [`paging::PageError`] to its own error.
//! - [`tags`]: one pure tag merge that validates before anything changes.
//! - ARNs are [`crate::domain::arn`].
//!
//! Left out on purpose: anything about HTTP or a wire protocol (that is
//! `api`), and per-service validation messages (each service's own).

pub mod backend;
pub mod error;
pub mod paging;
pub mod tags;

pub use backend::{Backend, Change, Regional};
pub use error::AwsError;
pub use paging::{Page, PageError, Paging};
