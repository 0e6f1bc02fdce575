//! In-process tests of the whole emulator over HTTP: the real `App` and api
//! router on 127.0.0.1:0, the fake container engine in place of Docker
//! (`helpers::spawn_app`). They cover the service scheduler, rolling
//! deployments, the circuit breaker, the load balancer's registration,
//! health and draining, and shutdown, in seconds. That features work with
//! real containers is the sdk-tests' to prove.

mod console;
mod deployments;
mod execution_role;
mod helpers;
mod iam;
mod load_balancer;
mod scheduler;
mod shutdown;
mod task_role;
mod throttling;
