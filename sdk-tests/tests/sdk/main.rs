//! The black-box suite as one test binary: each module is one area of the
//! emulator (see ../../README.md for the table). One binary instead of one
//! per file because each links the AWS SDKs: nineteen copies of them made a
//! clean debug build several gigabytes larger and slower to link. Tests stay
//! isolated from each other the same way as before: each starts its own
//! emulator, whose Docker objects carry its own instance label.

mod awslogs;
mod browser;
mod cleanup;
mod config_stores;
mod console;
mod containers;
mod egress;
mod exec;
mod firelens;
mod firelens_router;
mod forward;
mod iam;
mod images;
mod lifecycle;
mod load_balancer;
mod logs;
mod networking;
mod ordering;
mod restart;
mod service_connect;
mod service_registries;
mod servicediscovery;
mod services;
mod sqs;
mod startup;
mod stopping;
mod subnets;
mod task_endpoint;
mod task_env_files;
mod task_secrets;
mod testcontainers_module;
