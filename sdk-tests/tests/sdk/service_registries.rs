//! ECS `serviceRegistries`: a service's tasks are registered in its Cloud
//! Map service while they run, and `<service>.<namespace>` resolves from
//! any task of the emulator to exactly those tasks' addresses, following
//! the service as it scales 1 → 3 → 1 and across a rolling deployment.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{LaunchType, ServiceRegistry, Task};
use sdk_tests::{Emulator, UNTIL_TERM, container, sh};
use serde_json::Value;

const CLUSTER: &str = "registries";

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

/// The registered instances' addresses, sorted as `sort` sorts them,
/// once there are `n`.
async fn instances(emu: &Emulator, service_id: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let list = cloud_map(emu, &["list-instances", "--service-id", service_id]);
        let mut ips: Vec<String> = list["Instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["Attributes"]["AWS_INSTANCE_IPV4"].as_str())
            .map(str::to_string)
            .collect();
        if ips.len() == n {
            ips.sort();
            return ips;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{n} instances expected: {list}\n{}",
            emu.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Runs a standalone task that resolves `name` until it answers exactly
/// `want`; returns its exit code (0: it did).
async fn resolve_from_a_task(emu: &Emulator, name: &str, want: &[String]) -> Option<i32> {
    let script = format!(
        "want='{}'; for i in $(seq 1 50); do \
           got=$(nslookup {name} 2>/dev/null | sed -n '/^Name/,$p' | grep Address | sed 's/Address:* *//' | sort | tr '\\n' ' ' | sed 's/ $//'); \
           [ \"$got\" = \"$want\" ] && exit 0; sleep 0.2; \
         done; echo \"got: $got\"; exit 1",
        want.join(" ")
    );
    let td = emu
        .register("resolver", vec![sh("client", &script).build()])
        .await;
    let t = emu.run_task(CLUSTER, &td).await;
    let arn = t.task_arn().unwrap().to_string();
    let t: Task = emu
        .wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(30))
        .await;
    container(&t, "client").exit_code()
}

#[tokio::test]
async fn a_cloud_map_name_follows_the_services_tasks() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let op = cloud_map(
        &emu,
        &[
            "create-private-dns-namespace",
            "--name",
            "corp.local",
            "--vpc",
            "vpc-1",
        ],
    );
    let op = cloud_map(
        &emu,
        &[
            "get-operation",
            "--operation-id",
            op["OperationId"].as_str().unwrap(),
        ],
    );
    let ns = op["Operation"]["Targets"]["NAMESPACE"]
        .as_str()
        .unwrap()
        .to_string();
    let svc = cloud_map(
        &emu,
        &[
            "create-service",
            "--name",
            "backend",
            "--namespace-id",
            &ns,
            "--dns-config",
            "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10}]",
        ],
    );
    let registry_arn = svc["Service"]["Arn"].as_str().unwrap().to_string();
    let service_id = svc["Service"]["Id"].as_str().unwrap().to_string();

    let td = emu
        .register("backend", vec![sh("web", UNTIL_TERM).build()])
        .await;
    emu.client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&registry_arn)
                .build(),
        )
        .send()
        .await
        .expect("CreateService with serviceRegistries");

    let one = instances(&emu, &service_id, 1).await;
    let list = cloud_map(&emu, &["list-instances", "--service-id", &service_id]);
    let attrs = &list["Instances"][0]["Attributes"];
    assert_eq!(attrs["ECS_SERVICE_NAME"], "web");
    assert_eq!(attrs["ECS_CLUSTER_NAME"], CLUSTER);
    assert_eq!(attrs["ECS_TASK_DEFINITION_FAMILY"], "backend");
    assert_eq!(
        resolve_from_a_task(&emu, "backend.corp.local", &one).await,
        Some(0),
        "backend.corp.local did not resolve to {one:?}"
    );

    let scale = |n: i32| {
        emu.client()
            .update_service()
            .cluster(CLUSTER)
            .service("web")
            .desired_count(n)
            .send()
    };
    scale(3).await.expect("UpdateService (3)");
    let three = instances(&emu, &service_id, 3).await;
    assert!(three.contains(&one[0]), "{one:?} not among {three:?}");
    assert_eq!(
        resolve_from_a_task(&emu, "backend.corp.local", &three).await,
        Some(0),
        "after scaling out, backend.corp.local did not resolve to {three:?}"
    );

    scale(1).await.expect("UpdateService (1)");
    let one = instances(&emu, &service_id, 1).await;
    assert!(three.contains(&one[0]), "{one:?} not among {three:?}");
    assert_eq!(
        resolve_from_a_task(&emu, "backend.corp.local", &one).await,
        Some(0),
        "after scaling in, backend.corp.local did not resolve to {one:?} alone"
    );

    // A rolling deployment: the name follows the new task.
    let td2 = emu
        .register(
            "backend",
            vec![sh("web", &format!("echo v2; {UNTIL_TERM}")).build()],
        )
        .await;
    emu.client()
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .task_definition(&td2)
        .send()
        .await
        .expect("UpdateService (new task definition)");
    let start = Instant::now();
    let new = loop {
        // During the deployment both tasks are registered for a while.
        let now = instances(&emu, &service_id, 1).await;
        if now != one {
            break now;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the deployment did not replace {one:?}\n{}",
            emu.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        resolve_from_a_task(&emu, "backend.corp.local", &new).await,
        Some(0),
        "after the deployment, backend.corp.local did not resolve to {new:?} alone"
    );

    emu.client()
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .desired_count(0)
        .send()
        .await
        .expect("UpdateService");
    instances(&emu, &service_id, 0).await;
    emu.stop();
}
