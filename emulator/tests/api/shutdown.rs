//! Shutdown: one signal ends every background loop and supervisor, at
//! once; a durable emulator leaves its running tasks as they are for the
//! next start.

use std::time::{Duration, Instant};

use crate::helpers::{service_body, spawn_app_with, stable};

#[tokio::test]
async fn every_loop_ends_on_the_signal_and_running_tasks_stay() {
    let dir = std::env::temp_dir().join(format!("fl-api-shutdown-{}", std::process::id()));
    let data_dir = dir.to_string_lossy().to_string();
    let t = spawn_app_with(&["--data-dir", &data_dir]).await;
    t.create_cluster("down").await;
    let td = t.register("down-web", "web:1").await;
    t.ecs_ok(
        "CreateService",
        service_body("down", "web", &td, 2, (100, 200)),
    )
    .await;
    t.wait_service("down", "web", "2 tasks", Duration::from_secs(15), stable)
        .await;
    let running: Vec<&str> = t
        .app
        .shutdown_signal()
        .running()
        .into_iter()
        .map(|(what, _)| what)
        .collect();
    for what in [
        "exec session watch",
        "load balancer health checks",
        "log retention",
        "runtime event pump",
        "service scheduler",
        "stopped task pruning",
        "supervisor",
        "task endpoint socket",
        "task update pump",
    ] {
        assert!(
            running.contains(&what),
            "{what} is not running: {running:?}"
        );
    }
    let tasks = t.fake.running_tasks();
    assert_eq!(tasks.len(), 2);
    let fake = t.fake.clone();
    let began = Instant::now();
    t.stop().await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    // The durable emulator's tasks run on, for the next start to re-adopt.
    assert_eq!(fake.running_tasks(), tasks);
    let _ = std::fs::remove_dir_all(dir);
}
