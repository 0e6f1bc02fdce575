//! Inside a task: the Fargate environment, the task metadata endpoint v4 at
//! 169.254.170.2 (field by field against the agent's shapes), and the
//! credentials endpoint of the task role with its isolation between tasks.
//! Requests are made from inside the task's containers (`docker exec` of
//! busybox wget), as an application would make them.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use sdk_tests::{Emulator, UNTIL_TERM, container, http_get, sh, task_container};
use serde_json::Value;

const CLUSTER: &str = "meta";
const ROLE: &str = "arn:aws:iam::000000000000:role/app-role";

/// Runs `sh -c script` in a task's container; (exit code, stdout).
fn exec(task_arn: &str, name: &str, script: &str) -> (i32, String) {
    let id = task_container(task_arn, name);
    let out = Command::new("docker")
        .args(["exec", &id, "sh", "-c", script])
        .output()
        .expect("docker exec");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// GET from inside a container; the JSON body, retried briefly (the
/// endpoint is up before the containers start, but be fair to slow
/// machines).
fn get_json(task_arn: &str, name: &str, url: &str) -> Value {
    let mut last = String::new();
    for _ in 0..20 {
        let (code, body) = exec(task_arn, name, &format!("wget -q -O - {url}"));
        if code == 0 {
            return serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{url} is not JSON ({e}): {body}"));
        }
        last = body;
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("GET {url} from {name} failed: {last}");
}

/// A GET that must fail: the status line busybox wget prints.
fn get_error(task_arn: &str, name: &str, url: &str) -> String {
    let (code, out) = exec(
        task_arn,
        name,
        &format!("wget -q -O - {url} 2>&1; echo exit=$?"),
    );
    assert_eq!(code, 0);
    assert!(!out.contains("exit=0"), "GET {url} succeeded: {out}");
    out
}

fn env_of(task_arn: &str, name: &str) -> HashMap<String, String> {
    let (_, out) = exec(task_arn, name, "env");
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{key} missing or not a string in {v:#}"))
}

#[tokio::test]
async fn metadata_v4_answers_inside_the_task_with_fargates_fields() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    // The app listens on port 80 of the task's namespace: the endpoint at
    // 169.254.170.2:80 must not take that port from it.
    let web = format!(
        "mkdir -p /www && echo app-on-80 > /www/index.html && httpd -p 80 -h /www && {UNTIL_TERM}"
    );
    let td = emu
        .register_with(
            "meta",
            vec![
                sh("app", &web)
                    .cpu(128)
                    .memory(256)
                    .port_mappings(
                        aws_sdk_ecs::types::PortMapping::builder()
                            .container_port(80)
                            .build(),
                    )
                    .docker_labels("team", "blue")
                    .build(),
                sh("sidecar", UNTIL_TERM).essential(false).build(),
            ],
            |b| b.task_role_arn(ROLE),
        )
        .await;
    let task = emu.run_task(CLUSTER, &td).await;
    let arn = task.task_arn().unwrap().to_string();
    let t = emu
        .wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;
    let cluster_arn = t.cluster_arn().unwrap().to_string();

    // The environment Fargate injects.
    let env = env_of(&arn, "app");
    let app_id = container(&t, "app").runtime_id().unwrap().to_string();
    let cases = [
        (
            "ECS_CONTAINER_METADATA_URI_V4",
            format!("http://169.254.170.2/v4/{app_id}"),
        ),
        (
            "ECS_CONTAINER_METADATA_URI",
            format!("http://169.254.170.2/v3/{app_id}"),
        ),
        (
            "ECS_AGENT_URI",
            format!("http://169.254.170.2/api/{app_id}"),
        ),
        ("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", "http://169.254.170.2:4566".into()),
    ];
    for (k, want) in &cases {
        assert_eq!(env.get(*k), Some(want), "{k} in {env:#?}");
    }
    let rel = env
        .get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .expect("a task with a task role gets the credentials variable");
    assert!(rel.starts_with("/v2/credentials/"), "{rel}");

    // The app still owns port 80 of the namespace.
    let (code, page) = exec(&arn, "sidecar", "wget -q -O - http://127.0.0.1:80/");
    assert_eq!((code, page.trim()), (0, "app-on-80"));

    // ${ECS_CONTAINER_METADATA_URI_V4}: this container.
    let c = get_json(&arn, "app", "$ECS_CONTAINER_METADATA_URI_V4");
    assert_eq!(s(&c, "DockerId"), app_id);
    assert_eq!(s(&c, "Name"), "app");
    assert_eq!(s(&c, "DockerName"), "app");
    assert_eq!(s(&c, "Image"), sdk_tests::TEST_IMAGE);
    assert!(s(&c, "ImageID").starts_with("sha256:"), "{c:#}");
    let labels = &c["Labels"];
    assert_eq!(s(labels, "com.amazonaws.ecs.cluster"), cluster_arn);
    assert_eq!(s(labels, "com.amazonaws.ecs.container-name"), "app");
    assert_eq!(s(labels, "com.amazonaws.ecs.task-arn"), arn);
    assert_eq!(
        s(labels, "com.amazonaws.ecs.task-definition-family"),
        "meta"
    );
    assert_eq!(s(labels, "com.amazonaws.ecs.task-definition-version"), "1");
    assert_eq!(s(labels, "team"), "blue");
    assert_eq!(s(&c, "DesiredStatus"), "RUNNING");
    assert_eq!(s(&c, "KnownStatus"), "RUNNING");
    assert_eq!(c["Limits"]["CPU"], 128);
    assert_eq!(c["Limits"]["Memory"], 256);
    for k in ["CreatedAt", "StartedAt"] {
        assert!(s(&c, k).ends_with('Z'), "{k}: {c:#}");
    }
    assert!(c.get("FinishedAt").is_none() && c.get("ExitCode").is_none());
    assert_eq!(s(&c, "Type"), "NORMAL");
    assert_eq!(c["Ports"][0]["ContainerPort"], 80);
    assert_eq!(c["Ports"][0]["Protocol"], "tcp");
    assert_eq!(
        s(&c, "ContainerARN"),
        container(&t, "app").container_arn().unwrap()
    );
    assert_eq!(s(&c, "Snapshotter"), "overlayfs");
    let net = &c["Networks"][0];
    assert_eq!(s(net, "NetworkMode"), "awsvpc");
    let ip = container(&t, "app").network_interfaces()[0]
        .private_ipv4_address()
        .unwrap();
    assert_eq!(net["IPv4Addresses"][0], ip);
    assert_eq!(net["AttachmentIndex"], 0);
    assert!(s(net, "MACAddress").contains(':'));
    assert!(s(net, "PrivateDNSName").starts_with("ip-"));

    // /task: the task and both containers.
    let task_doc = get_json(&arn, "sidecar", "$ECS_CONTAINER_METADATA_URI_V4/task");
    assert_eq!(s(&task_doc, "Cluster"), cluster_arn);
    assert_eq!(s(&task_doc, "TaskARN"), arn);
    assert_eq!(s(&task_doc, "Family"), "meta");
    assert_eq!(s(&task_doc, "Revision"), "1");
    assert_eq!(s(&task_doc, "DesiredStatus"), "RUNNING");
    assert_eq!(s(&task_doc, "KnownStatus"), "RUNNING");
    assert_eq!(task_doc["Limits"]["CPU"], 0.25);
    assert_eq!(task_doc["Limits"]["Memory"], 512);
    for k in ["PullStartedAt", "PullStoppedAt"] {
        assert!(s(&task_doc, k).ends_with('Z'), "{k}");
    }
    assert_eq!(
        s(&task_doc, "AvailabilityZone"),
        t.availability_zone().unwrap()
    );
    assert_eq!(s(&task_doc, "LaunchType"), "FARGATE");
    assert_eq!(task_doc["FaultInjectionEnabled"], false);
    assert_eq!(
        s(&task_doc["ClockDrift"], "ClockSynchronizationStatus"),
        "SYNCHRONIZED"
    );
    let names: Vec<&str> = task_doc["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(c, "Name"))
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    let tagged = get_json(&arn, "app", "$ECS_CONTAINER_METADATA_URI_V4/taskWithTags");
    assert!(tagged["TaskTags"].is_object(), "{tagged:#}");

    // The v3 paths aws-for-fluent-bit reads.
    let v3 = get_json(&arn, "app", "$ECS_CONTAINER_METADATA_URI/task");
    assert_eq!(s(&v3, "TaskARN"), arn);

    // Stats: Docker's document plus network_rate_stats.
    let st = get_json(&arn, "app", "$ECS_CONTAINER_METADATA_URI_V4/stats");
    for k in [
        "read",
        "preread",
        "cpu_stats",
        "precpu_stats",
        "memory_stats",
        "networks",
    ] {
        assert!(st.get(k).is_some(), "{k} missing from stats: {st:#}");
    }
    assert!(st["network_rate_stats"]["rx_bytes_per_sec"].is_number());
    let all = get_json(&arn, "app", "$ECS_CONTAINER_METADATA_URI_V4/task/stats");
    let sidecar_id = container(&t, "sidecar").runtime_id().unwrap();
    for id in [app_id.as_str(), sidecar_id] {
        assert!(all[id]["memory_stats"].is_object(), "{id} in {all:#}");
    }

    // An id that is not a container of this task: 404.
    let out = get_error(&arn, "app", "http://169.254.170.2/v4/not-a-container/task");
    assert!(out.contains("404"), "{out}");

    // The emulator's API is reachable at AWS_ENDPOINT_URL, its own
    // endpoints are not.
    let out = get_error(&arn, "app", "$AWS_ENDPOINT_URL/_fargate-local/health");
    assert!(out.contains("404"), "{out}");

    emu.stop_task(CLUSTER, &arn, "done").await;
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(20))
        .await;
    let (code, _) = http_get(&emu.addr(), "/_fargate-local/health").unwrap();
    assert_eq!(code, 200);
    emu.stop();
}

/// The credentials of the task role, from inside the task.
fn task_credentials(task_arn: &str, name: &str) -> Value {
    get_json(
        task_arn,
        name,
        "http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    )
}

#[tokio::test]
async fn task_role_credentials_are_per_task_and_attributed() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    // Named by its bare name, as ECS allows; the endpoint answers its ARN.
    let role_b_name = "other-role";
    let role_b = "arn:aws:iam::000000000000:role/other-role";
    let td_a = emu
        .register_with("creds-a", vec![sh("app", UNTIL_TERM).build()], |b| {
            b.task_role_arn(ROLE)
        })
        .await;
    let td_b = emu
        .register_with("creds-b", vec![sh("app", UNTIL_TERM).build()], |b| {
            b.task_role_arn(role_b_name)
        })
        .await;
    let td_none = emu
        .register("creds-none", vec![sh("app", UNTIL_TERM).build()])
        .await;
    let mut arns = Vec::new();
    for td in [&td_a, &td_b, &td_none] {
        let t = emu.run_task(CLUSTER, td).await;
        arns.push(t.task_arn().unwrap().to_string());
    }
    for arn in &arns {
        emu.wait_status(CLUSTER, arn, "RUNNING", Duration::from_secs(30))
            .await;
    }
    let (a, b, none) = (&arns[0], &arns[1], &arns[2]);

    // Each task gets its own role's credentials, in the agent's shape.
    let creds_a = task_credentials(a, "app");
    let creds_b = task_credentials(b, "app");
    for (creds, role) in [(&creds_a, ROLE), (&creds_b, role_b)] {
        assert_eq!(s(creds, "RoleArn"), role);
        assert!(s(creds, "AccessKeyId").starts_with("ASIA"), "{creds:#}");
        assert_eq!(s(creds, "SecretAccessKey").len(), 40);
        assert!(!s(creds, "Token").is_empty());
        let exp = s(creds, "Expiration");
        assert!(exp.ends_with('Z') && exp.contains('T'), "{exp}");
    }
    assert_ne!(s(&creds_a, "AccessKeyId"), s(&creds_b, "AccessKeyId"));
    // Asked again: the same set (it is far from expiry).
    assert_eq!(task_credentials(a, "app"), creds_a);

    // Isolation: each task asks for the other's path; both refused, as is
    // a task without a role asking for one, and a request without an id.
    let rel_a = env_of(a, "app")["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"].clone();
    let rel_b = env_of(b, "app")["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"].clone();
    assert_ne!(rel_a, rel_b);
    assert!(
        !env_of(none, "app").contains_key("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        "a task without a task role gets no credentials variable"
    );
    for (task, path) in [
        (a, rel_b.as_str()),
        (b, rel_a.as_str()),
        (none, rel_a.as_str()),
        (a, "/v2/credentials"),
    ] {
        let out = get_error(task, "app", &format!("http://169.254.170.2{path}"));
        assert!(out.contains("400"), "{path} from {task}: {out}");
    }

    // A call signed with task A's keys (from the host, with the SDK) and one
    // made from inside task A through AWS_ENDPOINT_URL are attributed to
    // task A and its role in the request log.
    let client = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::Config::builder()
            .behavior_version_latest()
            .endpoint_url(emu.endpoint())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                s(&creds_a, "AccessKeyId"),
                s(&creds_a, "SecretAccessKey"),
                Some(s(&creds_a, "Token").to_string()),
                None,
                "task-a",
            ))
            .build(),
    );
    client.list_clusters().send().await.expect("ListClusters");
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/20261130/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0",
        s(&creds_b, "AccessKeyId")
    );
    let (code, out) = exec(
        b,
        "app",
        &format!(
            "wget -q -O - --header 'X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters' \
             --header 'Content-Type: application/x-amz-json-1.1' --header '{}' \
             --post-data '{{}}' $AWS_ENDPOINT_URL/",
            format_args!("Authorization: {auth}")
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("clusters"), "{out}");

    let (code, body) = http_get(&emu.addr(), "/_fargate-local/requests").unwrap();
    assert_eq!(code, 200);
    let log: Value = serde_json::from_str(&body).unwrap();
    let entries = log["requests"].as_array().unwrap();
    let find = |op: &str| {
        entries
            .iter()
            .find(|e| e["operation"] == op && e.get("taskArn").is_some())
            .unwrap_or_else(|| panic!("no attributed {op} in {log:#}"))
    };
    let list = find("ListClusters");
    assert_eq!(list["service"], "ecs");
    assert_eq!(list["taskArn"], a.as_str());
    assert_eq!(list["roleArn"], ROLE);
    let describe = find("DescribeClusters");
    assert_eq!(describe["taskArn"], b.as_str());
    assert_eq!(describe["roleArn"], role_b);
    // The harness's own calls are logged, unattributed.
    assert!(
        entries
            .iter()
            .any(|e| e["operation"] == "RunTask" && e.get("taskArn").is_none())
    );
    emu.stop();
}

/// An unmodified AWS SDK for Rust program (sdk-tests/task-probe), built by
/// `make setup` into this image.
const PROBE_IMAGE: &str = "fargate-local-test/task-probe:latest";

fn probe(name: &str) -> aws_sdk_ecs::types::ContainerDefinition {
    let present = Command::new("docker")
        .args(["image", "inspect", PROBE_IMAGE])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        present,
        "the test image {PROBE_IMAGE} is missing: run `make setup` (it builds sdk-tests/task-probe and the image)"
    );
    aws_sdk_ecs::types::ContainerDefinition::builder()
        .name(name)
        .image(PROBE_IMAGE)
        .build()
}

#[tokio::test]
async fn an_sdk_in_the_task_uses_the_task_role_with_no_configuration() {
    let emu = Emulator::start();
    emu.create_cluster(CLUSTER).await;
    // The probe exits; the sidecar keeps the task RUNNING meanwhile, so the
    // probe's DescribeTasks of its own task sees RUNNING.
    let keep = || sh("keep", UNTIL_TERM).build();
    emu.s3()
        .create_bucket()
        .bucket("probe-bucket")
        .send()
        .await
        .expect("CreateBucket");
    let mut with_bucket = probe("probe");
    with_bucket.environment = Some(vec![
        aws_sdk_ecs::types::KeyValuePair::builder()
            .name("PROBE_BUCKET")
            .value("probe-bucket")
            .build(),
    ]);
    let with_role = emu
        .register_with("probe-role", vec![with_bucket, keep()], |b| {
            b.task_role_arn(ROLE)
        })
        .await;
    let without = emu
        .register("probe-none", vec![probe("probe"), keep()])
        .await;
    // The probe is not essential (its exit must not stop the task first).
    let mut arns = Vec::new();
    for td in [&with_role, &without] {
        let t = emu.run_task(CLUSTER, td).await;
        arns.push(t.task_arn().unwrap().to_string());
    }
    let mut exits = Vec::new();
    for arn in &arns {
        let t = emu
            .wait_task(
                CLUSTER,
                arn,
                "the probe to exit",
                Duration::from_secs(60),
                |t| container(t, "probe").last_status() == Some("STOPPED"),
            )
            .await;
        exits.push(container(&t, "probe").exit_code());
    }
    assert_eq!(
        exits,
        [Some(0), Some(3)],
        "with a task role the SDK gets credentials, describes its task and writes to S3 (0); without one it finds no credentials (3). Emulator log:\n{}",
        emu.log_tail(40)
    );

    let (_, body) = http_get(&emu.addr(), "/_fargate-local/requests").unwrap();
    let log: Value = serde_json::from_str(&body).unwrap();
    let entries = log["requests"].as_array().unwrap();
    let describes: Vec<&Value> = entries
        .iter()
        .filter(|e| e["operation"] == "DescribeTasks" && e.get("taskArn").is_some())
        .collect();
    assert_eq!(describes.len(), 1, "{log:#}");
    assert_eq!(describes[0]["service"], "ecs");
    assert_eq!(describes[0]["taskArn"], arns[0].as_str());
    assert_eq!(describes[0]["roleArn"], ROLE);
    assert!(
        describes[0]["accessKeyId"]
            .as_str()
            .unwrap()
            .starts_with("ASIA")
    );

    // The object the task wrote with its role's credentials, and the log
    // line that says who wrote it.
    let obj = emu
        .s3()
        .get_object()
        .bucket("probe-bucket")
        .key("from-task")
        .send()
        .await
        .expect("the object the task wrote");
    let body = obj.body.collect().await.unwrap().into_bytes();
    assert_eq!(String::from_utf8_lossy(&body), arns[0]);
    let put = entries
        .iter()
        .find(|e| e["service"] == "s3" && e["operation"] == "PutObject")
        .unwrap_or_else(|| panic!("no s3:PutObject in {log:#}"));
    assert_eq!(put["taskArn"], arns[0].as_str());
    assert_eq!(put["roleArn"], ROLE);
    emu.stop();
}

#[tokio::test]
async fn the_endpoint_survives_a_kill_9_of_the_emulator_and_ends_with_the_task() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register_with("survivor", vec![sh("app", UNTIL_TERM).build()], |b| {
            b.task_role_arn(ROLE)
        })
        .await;
    let arn = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;
    let before = task_credentials(&arn, "app");

    emu.kill9();
    // While the emulator is down, the endpoint does not answer.
    let out = get_error(&arn, "app", "$ECS_CONTAINER_METADATA_URI_V4");
    assert!(!out.is_empty());
    emu.restart();
    emu.wait_status(CLUSTER, &arn, "RUNNING", Duration::from_secs(30))
        .await;

    // The same credentials path in the container's environment still works
    // (the keys are new: issued keys are not kept across a restart).
    let after = task_credentials(&arn, "app");
    assert_eq!(s(&after, "RoleArn"), ROLE);
    assert_ne!(s(&after, "AccessKeyId"), s(&before, "AccessKeyId"));
    let c = get_json(&arn, "app", "$ECS_CONTAINER_METADATA_URI_V4");
    assert_eq!(s(&c, "KnownStatus"), "RUNNING");

    // The task's socket directory goes with the task.
    let run = dir.path().join("run");
    let task_id = arn.rsplit('/').next().unwrap();
    assert!(run.join(task_id).is_dir(), "{}", run.display());
    emu.stop_task(CLUSTER, &arn, "done").await;
    emu.wait_status(CLUSTER, &arn, "STOPPED", Duration::from_secs(20))
        .await;
    assert!(!run.join(task_id).exists());
    emu.stop();
}
