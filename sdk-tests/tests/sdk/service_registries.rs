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

/// The private DNS namespace `corp.local` (once its operation is done) and
/// in it the Cloud Map service `name` with `dns_config` (the CLI's
/// shorthand): the service's ARN and id.
fn cloud_map_service(emu: &Emulator, name: &str, dns_config: &str) -> (String, String) {
    let op = cloud_map(
        emu,
        &[
            "create-private-dns-namespace",
            "--name",
            "corp.local",
            "--vpc",
            "vpc-1",
        ],
    );
    let op = cloud_map(
        emu,
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
        emu,
        &[
            "create-service",
            "--name",
            name,
            "--namespace-id",
            &ns,
            "--dns-config",
            dns_config,
        ],
    );
    (
        svc["Service"]["Arn"].as_str().unwrap().to_string(),
        svc["Service"]["Id"].as_str().unwrap().to_string(),
    )
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
    script_task(emu, CLUSTER, &script).await
}

#[tokio::test]
async fn a_cloud_map_name_follows_the_services_tasks() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let (registry_arn, service_id) = cloud_map_service(
        &emu,
        "backend",
        "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10}]",
    );

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

/// Runs a standalone task with `script` and returns its exit code, or
/// fails with the task's JSON.
async fn script_task(emu: &Emulator, cluster: &str, script: &str) -> Option<i32> {
    let td = emu
        .register("probe", vec![sh("client", script).build()])
        .await;
    let t = emu.run_task(cluster, &td).await;
    let arn = t.task_arn().unwrap().to_string();
    let t: Task = emu
        .wait_status(cluster, &arn, "STOPPED", Duration::from_secs(40))
        .await;
    container(&t, "client").exit_code()
}

/// The ids and addresses of a Cloud Map service's instances, once there
/// are `n`, sorted by id.
async fn instance_ids(emu: &Emulator, service_id: &str, n: usize) -> Vec<(String, String)> {
    instances(emu, service_id, n).await;
    let list = cloud_map(emu, &["list-instances", "--service-id", service_id]);
    let mut out: Vec<(String, String)> = list["Instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["Id"].as_str().unwrap().to_string(),
                i["Attributes"]["AWS_INSTANCE_IPV4"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A shell loop that passes once `nslookup -type=SRV name` answers exactly
/// `want` (sorted, one a line, without the trailing dot).
fn srv_check(name: &str, want: &[String]) -> String {
    format!(
        "want='{}'; ok=; for i in $(seq 1 50); do \
           got=$(nslookup -type=SRV {name} 2>/dev/null | grep 'service =' | sed 's/.*service = //; s/\\.$//' | LC_ALL=C sort | tr '\\n' ';'); \
           [ \"$got\" = \"$want\" ] && ok=1 && break; sleep 0.2; \
         done; [ -n \"$ok\" ] || {{ echo \"SRV got: $got\"; exit 1; }}; ",
        want.iter().map(|w| format!("{w};")).collect::<String>()
    )
}

/// SRV records, as Cloud Map makes them when the registry has a port:
/// `1 1 <port> <taskId>.<service>.<namespace>` for each task, and an A
/// record at each target with that task's address. The task's DNS server
/// answers NXDOMAIN for another name of the namespace, and passes every
/// other name to Docker's DNS (a container name still resolves).
#[tokio::test]
async fn srv_records_give_each_tasks_port_and_address() {
    const CLUSTER: &str = "srv";
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    let (registry_arn, service_id) = cloud_map_service(
        &emu,
        "api",
        "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=SRV,TTL=10},{Type=A,TTL=10}]",
    );
    let td = emu
        .register("api", vec![sh("web", UNTIL_TERM).build()])
        .await;
    emu.client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("api")
        .task_definition(&td)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .service_registries(
            ServiceRegistry::builder()
                .registry_arn(&registry_arn)
                .port(8080)
                .build(),
        )
        .send()
        .await
        .expect("CreateService with an SRV registry");

    let two = instance_ids(&emu, &service_id, 2).await;
    let srv = |tasks: &[(String, String)]| -> Vec<String> {
        tasks
            .iter()
            .map(|(id, _)| format!("1 1 8080 {id}.api.corp.local"))
            .collect()
    };
    let mut script = srv_check("api.corp.local", &srv(&two));
    for (id, ip) in &two {
        // The SRV target's A record, and the task's container name
        // through Docker's DNS, both give the task's address.
        script.push_str(&format!(
            "nslookup {id}.api.corp.local | grep -q 'Address: {ip}$' || {{ echo 'no A for {id}'; exit 2; }}; \
             nslookup fargate-local-{id} | grep -q 'Address: {ip}$' || {{ echo 'Docker name lost'; exit 3; }}; "
        ));
    }
    script.push_str(
        "nslookup nope.corp.local > /tmp/nx 2>&1 && { echo 'nope.corp.local resolved'; exit 4; }; \
         grep -q NXDOMAIN /tmp/nx || { cat /tmp/nx; exit 5; }; exit 0",
    );
    assert_eq!(
        script_task(&emu, CLUSTER, &script).await,
        Some(0),
        "SRV answers for {two:?}\n{}",
        emu.log_tail(30)
    );

    emu.client()
        .update_service()
        .cluster(CLUSTER)
        .service("api")
        .desired_count(1)
        .send()
        .await
        .expect("UpdateService (1)");
    let one = instance_ids(&emu, &service_id, 1).await;
    assert!(two.contains(&one[0]), "{one:?} not among {two:?}");
    let script = format!("{} exit 0", srv_check("api.corp.local", &srv(&one)));
    assert_eq!(
        script_task(&emu, CLUSTER, &script).await,
        Some(0),
        "after scaling in, the SRV answer is not {one:?} alone"
    );

    emu.client()
        .update_service()
        .cluster(CLUSTER)
        .service("api")
        .desired_count(0)
        .send()
        .await
        .expect("UpdateService (0)");
    instances(&emu, &service_id, 0).await;
    emu.stop();
}
