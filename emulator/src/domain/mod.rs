//! The domain core: pure types and functions with no IO (ARNs, identifiers,
//! task and container status, time). Everything here is tested table-style.

pub mod arn;
pub mod ids;
pub mod rate;
pub mod status;
pub mod time;
