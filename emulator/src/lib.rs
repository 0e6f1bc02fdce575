//! fargate-local: a local AWS ECS-on-Fargate emulator. See ARCHITECTURE.md
//! for the map of the crate.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod exec;
pub mod firelens;
pub mod lb;
pub mod runtime;
pub mod services;
pub mod shutdown;
pub mod store;
