//! ECS Service Connect: a client service reaches a server service by its
//! client alias `api:80` (the server listens on 8080: the task's proxy
//! translates the port), balanced across the server's tasks, and keeps
//! reaching it with no failed request while the server rolls to a new
//! task definition whose tasks take connections on an
//! `ingressPortOverride`. The service is shown with its configuration and
//! `serviceConnectResources`, and the server's tasks are registered in the
//! Cloud Map service ECS made.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    LaunchType, PortMapping, ServiceConnectClientAlias, ServiceConnectConfiguration,
    ServiceConnectService,
};
use sdk_tests::{Emulator, docker, sh, task_container};
use serde_json::Value;

const CLUSTER: &str = "connect";

fn cloud_map(emu: &Emulator, args: &[&str]) -> Value {
    let out = Command::new("aws")
        .args(["servicediscovery", "--endpoint-url", &emu.endpoint()])
        .args(["--region", "us-east-1", "--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the AWS CLI (aws) is in PATH");
    assert!(
        out.status.success(),
        "aws servicediscovery {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// A server answering `<version> <hostname>` on 8080, port named `http`.
async fn server(emu: &Emulator, version: &str) -> String {
    emu.register(
        "server",
        vec![
            sh(
                "web",
                &format!(
                    "mkdir -p /www && echo \"{version} $(hostname)\" > /www/index.html && exec httpd -f -p 8080 -h /www"
                ),
            )
            .port_mappings(
                PortMapping::builder()
                    .container_port(8080)
                    .name("http")
                    .build(),
            )
            .build(),
        ],
    )
    .await
}

/// The service's task ARNs once it runs `n` tasks of `td` alone.
async fn settled(emu: &Emulator, service: &str, td: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let tasks = emu
            .client()
            .list_tasks()
            .cluster(CLUSTER)
            .service_name(service)
            .send()
            .await
            .expect("ListTasks");
        let arns = tasks.task_arns().to_vec();
        if !arns.is_empty() {
            let d = emu
                .client()
                .describe_tasks()
                .cluster(CLUSTER)
                .set_tasks(Some(arns.clone()))
                .send()
                .await
                .expect("DescribeTasks");
            let ok = d
                .tasks()
                .iter()
                .all(|t| t.last_status() == Some("RUNNING") && t.task_definition_arn() == Some(td));
            if ok && arns.len() == n {
                return arns;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{service} did not settle on {n} task(s) of {td}\n{}",
            emu.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The client's output so far: one line per request.
fn client_lines(container: &str) -> Vec<String> {
    docker(&["logs", container])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until the client's last `n` answers satisfy `ok`.
fn wait_answers(
    emu: &Emulator,
    container: &str,
    n: usize,
    what: &str,
    ok: impl Fn(&[String]) -> bool,
) {
    let start = Instant::now();
    loop {
        let lines = client_lines(container);
        if lines.len() >= n && ok(&lines[lines.len() - n..]) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: the client's last answers: {:?}\n{}",
            &lines[lines.len().saturating_sub(n)..],
            emu.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test]
async fn a_client_service_reaches_a_server_through_its_alias_across_a_deployment() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let op = cloud_map(&emu, &["create-http-namespace", "--name", "internal"]);
    let op = cloud_map(
        &emu,
        &[
            "get-operation",
            "--operation-id",
            op["OperationId"].as_str().unwrap(),
        ],
    );
    let ns_id = op["Operation"]["Targets"]["NAMESPACE"]
        .as_str()
        .unwrap()
        .to_string();

    let v1 = server(&emu, "v1").await;
    let created = emu
        .client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("api")
        .task_definition(&v1)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .service_connect_configuration(
            ServiceConnectConfiguration::builder()
                .enabled(true)
                .namespace("internal")
                .services(
                    ServiceConnectService::builder()
                        .port_name("http")
                        .discovery_name("api")
                        .client_aliases(
                            ServiceConnectClientAlias::builder()
                                .port(80)
                                .dns_name("api")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateService with serviceConnectConfiguration");
    let d = &created.service().unwrap().deployments()[0];
    let cfg = d.service_connect_configuration().unwrap();
    assert!(
        cfg.namespace()
            .unwrap()
            .ends_with(&format!("namespace/{ns_id}")),
        "{cfg:?}"
    );
    let res = &d.service_connect_resources()[0];
    assert_eq!(res.discovery_name(), Some("api"));
    let discovery_id = res
        .discovery_arn()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let servers = settled(&emu, "api", &v1, 2).await;
    // DescribeTasks lists the Service Connect agent's container, as AWS
    // does: `ecs-service-connect-<5 chars>`, no image, RUNNING and HEALTHY.
    let d = emu
        .client()
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(&servers[0])
        .send()
        .await
        .expect("DescribeTasks");
    let t = &d.tasks()[0];
    let names: Vec<&str> = t.containers().iter().filter_map(|c| c.name()).collect();
    let agent = t
        .containers()
        .iter()
        .find(|c| {
            c.name()
                .is_some_and(|n| n.starts_with("ecs-service-connect-"))
        })
        .unwrap_or_else(|| panic!("no Service Connect container among {names:?}"));
    assert_eq!(
        agent.name().map(str::len),
        Some("ecs-service-connect-".len() + 5)
    );
    assert_eq!(agent.image(), None);
    assert_eq!(agent.cpu(), None);
    assert_eq!(agent.last_status(), Some("RUNNING"));
    assert_eq!(
        agent.health_status(),
        Some(&aws_sdk_ecs::types::HealthStatus::Healthy)
    );
    assert_eq!(names.len(), 2, "{names:?}");
    // The server's tasks are registered in the Cloud Map service ECS made.
    let list = cloud_map(&emu, &["list-instances", "--service-id", &discovery_id]);
    assert_eq!(
        list["Instances"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );

    // The client: one request every 100 ms, one line per answer, FAIL for
    // a failed request (no `wget -T`: the test image's busybox crashes on it).
    let client = emu
        .register(
            "client",
            vec![
                sh(
                    "client",
                    "trap 'exit 0' TERM; while true; do \
                       out=$(wget -q -O - http://api:80/ 2>&1) && echo \"$out\" || echo \"FAIL $out\"; \
                       sleep 0.1; \
                     done",
                )
                .build(),
            ],
        )
        .await;
    emu.client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(&client)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .service_connect_configuration(
            ServiceConnectConfiguration::builder()
                .enabled(true)
                .namespace("internal")
                .build(),
        )
        .send()
        .await
        .expect("CreateService (client only)");
    let web = settled(&emu, "web", &client, 1).await;
    let web = task_container(&web[0], "client");

    // Both server tasks answer, through one name and a translated port.
    wait_answers(&emu, &web, 10, "both v1 tasks answering", |l| {
        let mut hosts: Vec<&String> = l.iter().filter(|a| a.starts_with("v1 ")).collect();
        hosts.sort();
        hosts.dedup();
        hosts.len() == 2 && l.iter().all(|a| a.starts_with("v1 "))
    });

    // A rolling deployment of the server, whose new tasks take peers'
    // connections on an ingressPortOverride (their proxy forwards to 8080):
    // no request fails.
    let v2 = server(&emu, "v2").await;
    emu.client()
        .update_service()
        .cluster(CLUSTER)
        .service("api")
        .task_definition(&v2)
        .service_connect_configuration(
            ServiceConnectConfiguration::builder()
                .enabled(true)
                .namespace("internal")
                .services(
                    ServiceConnectService::builder()
                        .port_name("http")
                        .discovery_name("api")
                        .ingress_port_override(9000)
                        .client_aliases(
                            ServiceConnectClientAlias::builder()
                                .port(80)
                                .dns_name("api")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("UpdateService (new task definition, ingressPortOverride)");
    settled(&emu, "api", &v2, 2).await;
    wait_answers(&emu, &web, 10, "only v2 answering", |l| {
        l.iter().all(|a| a.starts_with("v2 "))
    });
    let lines = client_lines(&web);
    let first_ok = lines.iter().position(|l| l.starts_with("v1 ")).unwrap();
    let failed: Vec<&String> = lines[first_ok..]
        .iter()
        .filter(|l| !l.starts_with("v1 ") && !l.starts_with("v2 "))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the deployment: {failed:?}",
        failed.len(),
        lines.len() - first_ok
    );

    for s in ["web", "api"] {
        emu.client()
            .update_service()
            .cluster(CLUSTER)
            .service(s)
            .desired_count(0)
            .send()
            .await
            .expect("UpdateService");
    }
    emu.stop();
}
