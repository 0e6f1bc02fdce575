//! A task is one network namespace: its containers reach each other on
//! localhost, and its port mappings are published on the host.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{PortMapping, TransportProtocol};
use sdk_tests::{Emulator, UNTIL_TERM, container, http_get, sh};

const CLUSTER: &str = "net";

/// busybox httpd serving one page on 8080; it forks into the background so
/// that the shell (PID 1) can leave at once on SIGTERM.
fn web_script(page: &str) -> String {
    format!(
        "mkdir -p /www && echo {page} > /www/index.html && httpd -p 8080 -h /www && {UNTIL_TERM}"
    )
}

#[tokio::test]
async fn containers_of_a_task_talk_over_localhost() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    // The client exits 0 only if it fetched the page from the web container
    // over localhost; the control client asks a port nobody listens on and
    // must fail, so the check cannot pass by accident. (No `wget -T`: the
    // static busybox 1.35 of the test image crashes with it.)
    let client = "for i in $(seq 1 50); do \
                    wget -q -O /tmp/page http://localhost:8080/ && grep -q hello-from-web /tmp/page && exit 0; \
                    sleep 0.2; \
                  done; exit 1";
    let control = "wget -q -O /tmp/page http://localhost:8081/ && exit 0; exit 4";
    let td = emu
        .register(
            "localhost-pair",
            vec![
                sh("web", &web_script("hello-from-web")).build(),
                sh("client", client).essential(false).build(),
                sh("control", control).essential(false).build(),
            ],
        )
        .await;
    let task = emu.run_task(CLUSTER, &td).await;
    let arn = task.task_arn().unwrap();

    let t = emu
        .wait_task(
            CLUSTER,
            arn,
            "both clients to finish",
            Duration::from_secs(30),
            |t| {
                ["client", "control"]
                    .iter()
                    .all(|n| container(t, n).last_status() == Some("STOPPED"))
            },
        )
        .await;
    assert_eq!(
        container(&t, "client").exit_code(),
        Some(0),
        "client could not reach web on localhost: {}",
        emu.task_json(CLUSTER, arn)
    );
    assert_eq!(
        container(&t, "control").exit_code(),
        Some(4),
        "{}",
        emu.task_json(CLUSTER, arn)
    );
    // Non-essential containers that exit change nothing else.
    assert_eq!(t.last_status(), Some("RUNNING"));
    assert_eq!(t.desired_status(), Some("RUNNING"));
    assert_eq!(container(&t, "web").last_status(), Some("RUNNING"));
    assert_eq!(t.stop_code(), None);

    emu.stop_task(CLUSTER, arn, "done").await;
    let t = emu
        .wait_status(CLUSTER, arn, "STOPPED", Duration::from_secs(20))
        .await;
    assert_eq!(
        container(&t, "web").exit_code(),
        Some(0),
        "web leaves on SIGTERM with 0"
    );
    assert_eq!(
        container(&t, "client").exit_code(),
        Some(0),
        "an exit code stays as it was"
    );
    emu.stop();
}

#[tokio::test]
async fn port_mappings_are_published_on_the_host() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register(
            "published",
            vec![
                sh("web", &web_script("hello-from-the-host-side"))
                    .port_mappings(
                        PortMapping::builder()
                            .container_port(8080)
                            .protocol(TransportProtocol::Tcp)
                            .build(),
                    )
                    .build(),
            ],
        )
        .await;
    let task = emu.run_task(CLUSTER, &td).await;
    let arn = task.task_arn().unwrap();
    let t = emu
        .wait_status(CLUSTER, arn, "RUNNING", Duration::from_secs(30))
        .await;

    let web = container(&t, "web");
    let bindings = web.network_bindings();
    assert_eq!(
        bindings.len(),
        1,
        "one binding for one port mapping: {}",
        emu.task_json(CLUSTER, arn)
    );
    let b = &bindings[0];
    assert_eq!(b.container_port(), Some(8080));
    assert_eq!(b.protocol(), Some(&TransportProtocol::Tcp));
    assert_eq!(b.bind_ip(), Some("127.0.0.1"));
    let host_port = b.host_port().expect("hostPort");
    assert!(host_port > 0, "hostPort {host_port}");
    let addr = format!("127.0.0.1:{host_port}");

    // RUNNING means the process started, not that it listens yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        match http_get(&addr, "/") {
            Ok((200, body)) => break body,
            other if Instant::now() > deadline => emu.fail(
                CLUSTER,
                arn,
                &format!("GET http://{addr}/ never answered 200: {other:?}"),
            ),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(body.trim(), "hello-from-the-host-side");

    emu.stop_task(CLUSTER, arn, "done").await;
    emu.wait_status(CLUSTER, arn, "STOPPED", Duration::from_secs(20))
        .await;
    assert!(
        http_get(&addr, "/").is_err(),
        "the host port is closed once the task has stopped"
    );
    emu.stop();
}
