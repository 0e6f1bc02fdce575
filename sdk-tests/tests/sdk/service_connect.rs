//! ECS Service Connect: a server service with a named port mapping and a
//! client alias; a task reaches the server's task by `dnsName:port`, the
//! service is shown with its configuration and `serviceConnectResources`,
//! and its task is registered in the Cloud Map service ECS made.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    LaunchType, PortMapping, ServiceConnectClientAlias, ServiceConnectConfiguration,
    ServiceConnectService, Task,
};
use sdk_tests::{Emulator, container, sh};
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

#[tokio::test]
async fn a_client_reaches_a_service_connect_server_by_its_alias() {
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

    let server = emu
        .register(
            "server",
            vec![
                sh(
                    "web",
                    "mkdir -p /www && echo connected > /www/index.html && exec httpd -f -p 8080 -h /www",
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
        .await;
    let created = emu
        .client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("api")
        .task_definition(&server)
        .desired_count(1)
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
                                .port(8080)
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

    // The server's task is registered in the Cloud Map service ECS made.
    let start = Instant::now();
    loop {
        let list = cloud_map(&emu, &["list-instances", "--service-id", &discovery_id]);
        if list["Instances"].as_array().is_some_and(|i| i.len() == 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no instance: {list}\n{}",
            emu.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let client = emu
        .register(
            "client",
            vec![
                sh(
                    "client",
                    "for i in $(seq 1 50); do \
                       wget -q -O /tmp/page http://api:8080/ && grep -q connected /tmp/page && exit 0; \
                       sleep 0.2; \
                     done; nslookup api >/dev/null 2>&1 || exit 2; exit 3",
                )
                .build(),
            ],
        )
        .await;
    let t = emu.run_task(CLUSTER, &client).await;
    let arn = t.task_arn().unwrap().to_string();
    let t: Task = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(40))
        .await;
    assert_eq!(
        container(&t, "client").exit_code(),
        Some(0),
        "api:8080 was not reached\n{}",
        emu.log_tail(30)
    );

    emu.client()
        .update_service()
        .cluster(CLUSTER)
        .service("api")
        .desired_count(0)
        .send()
        .await
        .expect("UpdateService");
    emu.stop();
}
