//! One backend per AWS service. Backends know nothing of HTTP: they take
//! request types and return response types or their service's error enum.

pub mod ecs;
pub mod logs;
