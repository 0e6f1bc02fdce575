//! Subnets are Docker networks: `serve --subnet SUBNET_ID=NETWORK` puts a
//! task whose awsvpcConfiguration names the subnet on the user's existing
//! network too (a compose project's `myapp_default`), and every task
//! resolves `host.docker.internal` to the Docker host.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, LaunchType, NetworkConfiguration, Task,
};
use sdk_tests::{Emulator, TEST_IMAGE, UNTIL_TERM, container, docker, sh};

const CLUSTER: &str = "subnets";
/// Marks the network and container this file makes, so that they are
/// removed even when a test fails half-way.
const LABEL: &str = "fargate-local-sdk-test=subnets";

/// A user network with a `db` container on it (busybox httpd on 5432), as a
/// compose project has; removed on drop.
struct UserNetwork {
    network: String,
    db: String,
}

impl UserNetwork {
    fn new(tag: &str) -> UserNetwork {
        let unique = format!(
            "fl-sdk-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let net = UserNetwork {
            network: format!("{unique}_default"),
            db: format!("{unique}_db_1"),
        };
        docker(&["network", "create", "--label", LABEL, &net.network]);
        docker(&[
            "run",
            "-d",
            "--label",
            LABEL,
            "--name",
            &net.db,
            "--network",
            &net.network,
            "--network-alias",
            "db",
            TEST_IMAGE,
            "sh",
            "-c",
            &format!(
                "mkdir -p /www && echo db-page > /www/index.html && httpd -p 5432 -h /www && {UNTIL_TERM}"
            ),
        ]);
        net
    }

    /// The containers attached to the network, by name.
    fn attached(&self) -> Vec<String> {
        docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
            &self.network,
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for UserNetwork {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.db]).output();
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

fn vpc(subnets: &[&str]) -> NetworkConfiguration {
    let mut b = AwsVpcConfiguration::builder().assign_public_ip(AssignPublicIp::Disabled);
    for s in subnets {
        b = b.subnets(*s);
    }
    NetworkConfiguration::builder()
        .awsvpc_configuration(b.build().unwrap())
        .build()
}

async fn run(emu: &Emulator, td: &str, subnets: &[&str]) -> Task {
    let out = emu
        .client()
        .run_task()
        .cluster(CLUSTER)
        .task_definition(td)
        .launch_type(LaunchType::Fargate)
        .network_configuration(vpc(subnets))
        .send()
        .await
        .unwrap_or_else(|e| panic!("RunTask {td}: {e:?}"));
    assert!(out.failures().is_empty(), "{:?}", out.failures());
    out.tasks()[0].clone()
}

fn attachment_detail(t: &Task, name: &str) -> String {
    t.attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some(name))
        .and_then(|d| d.value())
        .unwrap_or_else(|| panic!("no {name} in {t:#?}"))
        .to_string()
}

/// A one-page HTTP server on the host, on every address (as a database a
/// developer runs on the host must listen to be reachable from containers).
fn host_server() -> u16 {
    let l = TcpListener::bind("0.0.0.0:0").expect("a host port");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let body = "host-page\n";
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[tokio::test]
async fn a_task_on_a_mapped_subnet_reaches_the_users_network_and_the_host() {
    let user = UserNetwork::new("subnet");
    let mapping = format!("subnet-0mapped={}", user.network);
    let emu = Emulator::start_with(&["--subnet", &mapping]);
    emu.create_cluster(CLUSTER).await;
    let host_port = host_server();

    // `web` serves a page the db container fetches at the reported address;
    // `client` exits 0 only if it fetched db's page by name and the host's
    // page through host.docker.internal; on an unmapped subnet `db` does not
    // resolve (exit 4), while the host still does.
    let client = format!(
        "for i in $(seq 1 50); do \
           wget -q -O /tmp/db http://db:5432/ && grep -q db-page /tmp/db && break; \
           [ $i = 50 ] && exit 4; sleep 0.2; \
         done; \
         wget -q -O /tmp/host http://host.docker.internal:{host_port}/ && grep -q host-page /tmp/host || exit 5; \
         exit 0"
    );
    let unmapped_client = format!(
        "wget -q -O /tmp/db http://db:5432/ && exit 3; \
         wget -q -O /tmp/host http://host.docker.internal:{host_port}/ && grep -q host-page /tmp/host || exit 5; \
         exit 4"
    );
    let web = "mkdir -p /www && echo task-page > /www/index.html && httpd -p 8080 -h /www";
    let td = emu
        .register(
            "on-subnet",
            vec![
                sh("web", &format!("{web} && {UNTIL_TERM}")).build(),
                sh("client", &client).essential(false).build(),
            ],
        )
        .await;
    let td_unmapped = emu
        .register(
            "off-subnet",
            vec![
                sh("web", &format!("{web} && {UNTIL_TERM}")).build(),
                sh("client", &unmapped_client).essential(false).build(),
            ],
        )
        .await;

    // The mapped subnet is listed second: the task is placed in it.
    let task = run(&emu, &td, &["subnet-0other", "subnet-0mapped"]).await;
    let arn = task.task_arn().unwrap().to_string();
    let other = run(&emu, &td_unmapped, &["subnet-0other"]).await;
    let other_arn = other.task_arn().unwrap().to_string();
    let done = |t: &Task| container(t, "client").last_status() == Some("STOPPED");
    let t = emu
        .wait_task(CLUSTER, &arn, "the client", Duration::from_secs(30), done)
        .await;
    assert_eq!(
        container(&t, "client").exit_code(),
        Some(0),
        "the task did not reach db by name (4) or the host (5): {}",
        emu.task_json(CLUSTER, &arn)
    );
    assert_eq!(attachment_detail(&t, "subnetId"), "subnet-0mapped");
    let ip = attachment_detail(&t, "privateIPv4Address");
    assert_eq!(
        container(&t, "web").network_interfaces()[0].private_ipv4_address(),
        Some(ip.as_str())
    );
    // db reaches the task at the address DescribeTasks reports.
    let page = docker(&[
        "exec",
        &user.db,
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{ip}:8080/"),
    ]);
    assert_eq!(page, "task-page");

    let o = emu
        .wait_task(
            CLUSTER,
            &other_arn,
            "the unmapped client",
            Duration::from_secs(30),
            done,
        )
        .await;
    assert_eq!(
        container(&o, "client").exit_code(),
        Some(4),
        "an unmapped task resolved db (3) or missed the host (5): {}",
        emu.task_json(CLUSTER, &other_arn)
    );
    assert_eq!(attachment_detail(&o, "subnetId"), "subnet-0other");

    // Stopped, the task leaves the user's network: only db is left on it.
    emu.stop_task(CLUSTER, &arn, "done").await;
    emu.stop_task(CLUSTER, &other_arn, "done").await;
    for a in [&arn, &other_arn] {
        emu.wait_status(CLUSTER, a, "STOPPED", Duration::from_secs(20))
            .await;
    }
    assert_eq!(user.attached(), vec![user.db.clone()]);
    emu.stop();
}

#[tokio::test]
async fn a_missing_network_stops_the_task_with_the_reason() {
    let missing = format!("fl-sdk-missing-{}_default", std::process::id());
    let mapping = format!("subnet-0gone={missing}");
    let emu = Emulator::start_with(&["--subnet", &mapping]);
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("nowhere", vec![sh("app", UNTIL_TERM).build()])
        .await;
    let task = run(&emu, &td, &["subnet-0gone"]).await;
    let arn = task.task_arn().unwrap();
    let t = emu
        .wait_status(CLUSTER, arn, "STOPPED", Duration::from_secs(20))
        .await;
    assert_eq!(t.stop_code().map(|c| c.as_str()), Some("TaskFailedToStart"));
    let reason = t.stopped_reason().unwrap_or_default();
    assert!(
        reason.starts_with("ResourceInitializationError:") && reason.contains(&missing),
        "{reason}"
    );
    assert!(
        emu.log_tail(200).contains(&format!(
            "--subnet {mapping}: the Docker network does not exist"
        )),
        "serve did not warn at start-up: {}",
        emu.log_tail(50)
    );
    emu.stop();
}
