//! The egress lens on real tasks: a task downloads a known number of bytes
//! from a server on a Docker network of the test's own (outside the task's
//! subnets, reached through the Docker host), fetches a known number from
//! another task (inside the VPC), uploads a known object to the embedded S3
//! with the AWS SDK and writes a known volume of awslogs lines; the
//! report's classes match, the image line is the image's size, the cost is
//! bytes × price, and a restart keeps the figures.
//!
//! Stated overhead: the namespace counters count IP packets, so a
//! download's bytes received are its payload plus at most 3.6 % (IPv4 and
//! TCP headers with timestamps, 52 bytes per segment of 1,448 bytes or
//! more) plus 16 KiB (handshake, HTTP head, closing). API bytes are HTTP
//! bytes on the task's socket: the body plus 8 KiB of heads (and the
//! SDK's chunk signatures, within 1 %).

use std::process::Command;
use std::time::Duration;

use aws_sdk_ecs::types::{KeyValuePair, LogConfiguration, LogDriver, Task};
use sdk_tests::{Emulator, TEST_IMAGE, UNTIL_TERM, container, docker, emulator_bin, http_get, sh};
use serde_json::Value;

const CLUSTER: &str = "egress";
/// Marks the network and container this file makes.
const LABEL: &str = "fargate-local-sdk-test=egress";
const ROLE: &str = "arn:aws:iam::000000000000:role/app-role";
const EXEC_ROLE: &str = "arn:aws:iam::000000000000:role/exec-role";
const PROBE_IMAGE: &str = "fargate-local-test/task-probe:latest";
/// From the server outside the VPC.
const DOWNLOAD: u64 = 3_000_000;
/// From the other task.
const PEER: u64 = 2_000_000;
/// Put to S3 by the task's SDK.
const OBJECT: u64 = 1_000_000;
const LINES: u64 = 500;
/// 60 characters: one awslogs event each.
const LINE: &str = "egress-lens-line-0123456789-0123456789-0123456789-0123456789";
const GIB: f64 = 1_073_741_824.0;

/// A busybox httpd with one file, `blob`, on a network of its own,
/// published on the Docker host's bridge address (what
/// `host.docker.internal` is in a task); removed on drop.
struct OutsideServer {
    network: String,
    name: String,
    port: u16,
}

impl OutsideServer {
    fn new(size: u64) -> OutsideServer {
        let unique = format!(
            "fl-sdk-egress-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut s = OutsideServer {
            network: format!("{unique}-net"),
            name: format!("{unique}-srv"),
            port: 0,
        };
        // The default bridge's first address: where `host-gateway` points.
        let subnet = docker(&[
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ]);
        let net = subnet
            .split_whitespace()
            .find(|s| s.contains('.'))
            .and_then(|s| s.split('/').next())
            .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
            .unwrap_or_else(|| panic!("no IPv4 subnet on Docker's bridge network: {subnet}"));
        let gateway = std::net::Ipv4Addr::from(u32::from(net) + 1);
        docker(&["network", "create", "--label", LABEL, &s.network]);
        docker(&[
            "run",
            "-d",
            "--label",
            LABEL,
            "--name",
            &s.name,
            "--network",
            &s.network,
            "-p",
            &format!("{gateway}::8000"),
            TEST_IMAGE,
            "sh",
            "-c",
            &format!(
                "mkdir -p /www && head -c {size} /dev/zero > /www/blob && httpd -f -p 8000 -h /www"
            ),
        ]);
        let port = docker(&["port", &s.name, "8000"]);
        s.port = port
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no published port for the server: {port}"));
        s
    }
}

impl Drop for OutsideServer {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .output();
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .output();
    }
}

fn env(pairs: &[(&str, String)]) -> Option<Vec<KeyValuePair>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| KeyValuePair::builder().name(*k).value(v).build())
            .collect(),
    )
}

fn report(emu: &Emulator, query: &str) -> Value {
    let (status, body) = http_get(&emu.addr(), &format!("/_fargate-local/egress?{query}"))
        .expect("GET /_fargate-local/egress");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

fn ip_of(t: &Task) -> String {
    t.attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .unwrap_or_else(|| panic!("no address in {t:#?}"))
        .to_string()
}

fn n(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not a byte count: {v}"))
}

/// `payload ≤ measured ≤ payload × (1 + ratio) + slack`.
fn within(what: &str, measured: u64, payload: u64, ratio: f64, slack: u64, row: &Value) {
    let max = (payload as f64 * (1.0 + ratio)) as u64 + slack;
    assert!(
        measured >= payload && measured <= max,
        "{what}: measured {measured} bytes, expected {payload}..={max}: {row:#}"
    );
}

fn image_size(image: &str) -> u64 {
    docker(&["image", "inspect", "-f", "{{.Size}}", image])
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("the size of {image}: {e}"))
}

#[tokio::test]
async fn a_tasks_traffic_is_measured_by_class_priced_and_kept_across_a_restart() {
    let present = Command::new("docker")
        .args(["image", "inspect", PROBE_IMAGE])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        present,
        "the test image {PROBE_IMAGE} is missing: run `make setup`"
    );
    super::console::chromium();
    let outside = OutsideServer::new(DOWNLOAD);
    let dir = tempfile::tempdir().unwrap();
    let mut emu = Emulator::start_durable_with(dir.path(), &["--nat-price-per-gb", "0.05"]);
    emu.create_cluster(CLUSTER).await;
    emu.s3()
        .create_bucket()
        .bucket("egress-bucket")
        .send()
        .await
        .expect("CreateBucket");

    // The other task: a page of PEER bytes.
    let peer_td = emu
        .register(
            "egress-peer",
            vec![
                sh(
                    "web",
                    &format!(
                        "mkdir -p /www && head -c {PEER} /dev/zero > /www/blob && httpd -p 8080 -h /www && {UNTIL_TERM}"
                    ),
                )
                .build(),
            ],
        )
        .await;
    let peer = emu.run_task(CLUSTER, &peer_td).await;
    let peer_arn = peer.task_arn().unwrap().to_string();
    let peer = emu
        .wait_status(CLUSTER, &peer_arn, "RUNNING", Duration::from_secs(30))
        .await;
    let peer_ip = ip_of(&peer);

    let fetch = format!(
        "wget -q -O /dev/null http://host.docker.internal:{port}/blob || exit 5; \
         for i in $(seq 1 50); do wget -q -O /dev/null http://{peer_ip}:8080/blob && break; [ $i = 50 ] && exit 6; sleep 0.2; done; \
         i=0; while [ $i -lt {LINES} ]; do echo {LINE}; i=$((i+1)); done; exit 0",
        port = outside.port
    );
    let logs = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", "/ecs/egress")
        .options("awslogs-region", "us-east-1")
        .options("awslogs-stream-prefix", "ecs")
        .options("awslogs-create-group", "true")
        .build()
        .unwrap();
    let mut probe = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("probe")
        .image(PROBE_IMAGE)
        .essential(false)
        .build();
    probe.environment = env(&[
        ("PROBE_BUCKET", "egress-bucket".into()),
        ("PROBE_OBJECT_BYTES", OBJECT.to_string()),
    ]);
    let app_td = emu
        .register_with(
            "egress-app",
            vec![
                probe,
                sh("fetch", &fetch)
                    .essential(false)
                    .log_configuration(logs)
                    .build(),
                sh("keep", UNTIL_TERM).build(),
            ],
            |b| b.task_role_arn(ROLE).execution_role_arn(EXEC_ROLE),
        )
        .await;
    let app = emu.run_task(CLUSTER, &app_td).await;
    let arn = app.task_arn().unwrap().to_string();
    let done = |t: &Task| {
        ["probe", "fetch"]
            .iter()
            .all(|c| container(t, c).last_status() == Some("STOPPED"))
    };
    let t = emu
        .wait_task(
            CLUSTER,
            &arn,
            "the probe and the fetch",
            Duration::from_secs(60),
            done,
        )
        .await;
    assert_eq!(
        (
            container(&t, "probe").exit_code(),
            container(&t, "fetch").exit_code()
        ),
        (Some(0), Some(0)),
        "the probe wrote the object (0) and the fetch got both pages (0; 5: outside, 6: peer): {}",
        emu.log_tail(30)
    );
    emu.stop_task(CLUSTER, &arn, "measured").await;
    emu.stop_task(CLUSTER, &peer_arn, "measured").await;
    for a in [&arn, &peer_arn] {
        emu.wait_status(CLUSTER, a, "STOPPED", Duration::from_secs(30))
            .await;
    }

    let r = report(&emu, &format!("task={}", task_id(&arn)));
    assert_eq!(r["taskCount"], 1, "{r:#}");
    let row = &r["tasks"][0];
    assert_eq!(row["taskArn"], arn.as_str());
    assert!(row["stoppedAt"].is_number(), "{row:#}");
    // Outside the VPC, through the NAT gateway: the download (and not the
    // peer's page, which is larger than the slack).
    within(
        "download (nat received)",
        n(&row["nat"]["received"]),
        DOWNLOAD,
        0.036,
        16384,
        row,
    );
    // Inside the VPC: the peer's page, free.
    within(
        "peer page (vpc received)",
        n(&row["vpc"]["received"]),
        PEER,
        0.036,
        16384,
        row,
    );
    // The object, through the task endpoint, as S3.
    within(
        "object (s3 sent)",
        n(&row["aws"]["s3"]["sent"]),
        OBJECT,
        0.01,
        8192,
        row,
    );
    assert!(n(&row["aws"]["ecs"]["sent"]) > 0, "DescribeTasks: {row:#}");
    // awslogs: what the driver would send, AWS's 26 bytes per event.
    assert_eq!(n(&row["awslogsEvents"]), LINES, "{row:#}");
    assert_eq!(
        n(&row["awslogs"]["sent"]),
        LINES * (LINE.len() as u64 + 26),
        "{row:#}"
    );
    // One pull per container, each the image's size.
    let images = row["images"].as_array().unwrap();
    assert_eq!(images.len(), 3, "{row:#}");
    for i in images {
        let image = i["image"].as_str().unwrap();
        assert_eq!(n(&i["bytes"]), image_size(image), "{image}: {row:#}");
    }
    // The cost is bytes × price (--nat-price-per-gb 0.05), per 2^30 bytes.
    assert_eq!(r["prices"]["natPerGb"], 0.05);
    let nat_bytes = n(&r["nat"]["bytes"]);
    let expected = n(&row["natBytes"]);
    assert_eq!(nat_bytes, expected);
    let cost = r["nat"]["processing"].as_f64().unwrap();
    assert!(
        (cost - nat_bytes as f64 / GIB * 0.05).abs() < 1e-12,
        "{cost} for {nat_bytes} bytes"
    );
    let vpc = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "vpc")
        .unwrap();
    assert_eq!(vpc["natCost"], 0.0);
    let s3 = r["whatIfs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["endpoint"] == "s3")
        .unwrap();
    assert_eq!(
        s3["bytes"],
        row["aws"]["s3"]["sent"].as_u64().unwrap() + row["aws"]["s3"]["received"].as_u64().unwrap()
    );
    assert_eq!(s3["costs"], 0.0);

    // The peer served its page inside the VPC: nothing of it is charged.
    let p = report(&emu, &format!("task={}", task_id(&peer_arn)));
    let prow = &p["tasks"][0];
    within(
        "peer page (peer's vpc sent)",
        n(&prow["vpc"]["sent"]),
        PEER,
        0.036,
        16384,
        prow,
    );
    let peer_nat = n(&prow["nat"]["sent"]) + n(&prow["nat"]["received"]);
    assert!(peer_nat < 16384, "the peer's NAT bytes: {prow:#}");

    // The console, in a real browser, from its home by clicking: the
    // task's page has the panel, with the same NAT bytes and cost as the
    // report, and the S3 object's bytes on its own line.
    let mut b = super::browser::Browser::launch().await;
    b.goto(&format!("http://{}/_fargate-local/console/", emu.addr()))
        .await;
    b.click_link(CLUSTER).await;
    b.click_link(task_id(&arn)).await;
    let text = b.text().await;
    let s3_sent = n(&row["aws"]["s3"]["sent"]);
    super::console::check_in_order(
        &text,
        &[
            "Egress",
            &format!("AWS: s3\t{s3_sent}\t"),
            "Other (outside the VPC)",
            &format!(
                "Through a NAT gateway: {nat_bytes} bytes, ${cost:.6} at $0.05/GB (us-east-1)."
            ),
        ],
    );
    b.screenshot(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"),
        "egress-panel",
    )
    .await;
    drop(b);

    // The command line prints the same report.
    let out = Command::new(emulator_bin())
        .args([
            "egress",
            "--endpoint-url",
            &format!("http://{}", emu.addr()),
            "--cluster",
            CLUSTER,
            "--task",
            task_id(&arn),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 task(s)"), "{text}");
    assert!(text.contains("through the NAT gateway"), "{text}");
    assert!(text.contains("s3 (gateway)"), "{text}");

    // A restart keeps the figures.
    let before = report(&emu, "cluster=egress")["tasks"].clone();
    assert_eq!(before.as_array().unwrap().len(), 2);
    emu.interrupt();
    emu.restart();
    let after = report(&emu, "cluster=egress")["tasks"].clone();
    assert_eq!(before, after);
    emu.stop();
}

/// The task ARNs the report has figures for.
fn reported(emu: &Emulator) -> Vec<String> {
    report(emu, &format!("cluster={CLUSTER}"))["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_pruned_task_takes_its_figures_along() {
    let dir = tempfile::tempdir().unwrap();
    // One STOPPED task kept: the second to stop prunes the first.
    let mut emu = Emulator::start_durable_with(dir.path(), &["--stopped-task-limit", "1"]);
    emu.create_cluster(CLUSTER).await;
    let td = emu
        .register("egress-prune", vec![sh("app", "echo measured").build()])
        .await;
    let first = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &first, "STOPPED", Duration::from_secs(30))
        .await;
    assert_eq!(
        reported(&emu),
        std::slice::from_ref(&first),
        "a STOPPED task keeps its figures"
    );

    let second = emu
        .run_task(CLUSTER, &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    emu.wait_status(CLUSTER, &second, "STOPPED", Duration::from_secs(30))
        .await;
    // The sweep (every 5 s) forgets the first task, and its figures with it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let missing = emu
            .client()
            .describe_tasks()
            .cluster(CLUSTER)
            .tasks(&first)
            .send()
            .await
            .unwrap()
            .tasks()
            .is_empty();
        let figures = reported(&emu);
        if missing && figures == [second.clone()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first task (known to ECS: {}) and its figures were not forgotten: the report has {figures:?}",
            !missing
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Forgotten in the store too.
    emu.interrupt();
    emu.restart();
    assert_eq!(reported(&emu), [second]);
    emu.stop();
}
