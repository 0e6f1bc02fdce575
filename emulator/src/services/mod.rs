//! One backend per AWS service. Backends know nothing of HTTP: they take
//! request types and return response types or their service's error enum.

pub mod credentials;
pub mod ecs;
pub mod egress;
pub mod elbv2;
pub mod firelens;
pub mod iam;
pub mod kit;
pub mod logs;
pub mod metadata;
pub mod requestlog;
pub mod s3;
pub mod secretsmanager;
pub mod servicediscovery;
pub mod sqs;
pub mod ssm;
pub mod taskconfig;
