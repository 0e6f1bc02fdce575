//! A service behind the local load balancer, with the AWS SDKs for ECS and
//! Elastic Load Balancing v2: the target group, load balancer and listener
//! are created through the ELBv2 API (or given by `serve --front-door`),
//! the listener's port on the host forwards to the healthy tasks, and a
//! rolling deployment from revision 1 to 2 under continuous HTTP load fails
//! no request. A `kill -9` and restart of a durable emulator does not take
//! the healthy tasks off the listener.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{LaunchType, LoadBalancer, PortMapping};
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, ProtocolEnum, TargetGroupAttribute, TargetHealthStateEnum,
    TargetTypeEnum,
};
use sdk_tests::{Emulator, emulator_bin, http_get, sh};

fn elb_client(emu: &Emulator) -> elbv2::Client {
    elbv2::Client::from_conf(
        elbv2::Config::builder()
            .behavior_version_latest()
            .endpoint_url(emu.endpoint())
            .region(elbv2::config::Region::new("us-east-1"))
            .credentials_provider(elbv2::config::Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                None,
                "sdk-tests",
            ))
            .build(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// busybox httpd answering `web <version>` on 8080.
fn web(version: &str) -> aws_sdk_ecs::types::ContainerDefinition {
    sh(
        "web",
        &format!("echo 'web {version}' > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"),
    )
    .port_mappings(PortMapping::builder().container_port(8080).build())
    .build()
}

async fn healthy_targets(elb: &elbv2::Client, tg: &str) -> usize {
    elb.describe_target_health()
        .target_group_arn(tg)
        .send()
        .await
        .expect("DescribeTargetHealth")
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
        })
        .count()
}

/// What [`front`] made: the target group, the load balancer, its listener
/// and the listener's address on the host.
struct Front {
    tg: String,
    lb: String,
    listener: String,
    addr: String,
}

/// A target group for `web` (HTTP 8080, ip targets, checked on
/// `/index.html` every `interval` s with a 2 s timeout, healthy after 2),
/// a load balancer and an HTTP listener on a free host port forwarding to it.
async fn front(elb: &elbv2::Client, name: &str, interval: i32) -> Front {
    let tg = elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id("vpc-1")
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/index.html")
        .health_check_interval_seconds(interval)
        .health_check_timeout_seconds(2)
        .healthy_threshold_count(2)
        .send()
        .await
        .expect("CreateTargetGroup");
    let tg = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    let lb = elb
        .create_load_balancer()
        .name(format!("{name}-lb"))
        .subnets("subnet-1")
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let port = free_port();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb)
        .protocol(ProtocolEnum::Http)
        .port(i32::from(port))
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&tg)
                .build(),
        )
        .send()
        .await
        .expect("CreateListener");
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    Front {
        tg,
        lb,
        listener,
        addr: format!("127.0.0.1:{port}"),
    }
}

/// HTTP GETs through a front door, every 20 ms, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(u16, String)>>,
}

impl Load {
    fn start(front: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            let front = front.to_string();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let r = http_get(&front, "/index.html")
                        .map(|(c, b)| (c, b.trim().to_string()))
                        .unwrap_or_else(|e| (0, e.to_string()));
                    seen.push(r);
                    std::thread::sleep(Duration::from_millis(20));
                }
                seen
            })
        };
        Load { stop, thread }
    }

    /// Stops the load and checks that every request was answered 200, that
    /// revision 1 answered some and revision 2 the last.
    fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        let seen = self.thread.join().expect("the load thread");
        let failed: Vec<_> = seen.iter().filter(|(c, _)| *c != 200).collect();
        assert!(
            failed.is_empty(),
            "{} of {} requests failed: {:?}",
            failed.len(),
            seen.len(),
            &failed[..failed.len().min(5)]
        );
        assert!(seen.len() > 50, "only {} requests were made", seen.len());
        assert!(seen.iter().any(|(_, b)| b == "web v1"));
        assert_eq!(seen.last().map(|(_, b)| b.as_str()), Some("web v2"));
    }
}

/// Waits until the service's only deployment is `td`, COMPLETED.
async fn wait_completed(emu: &Emulator, cluster: &str, td: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let s = emu
            .client()
            .describe_services()
            .cluster(cluster)
            .services("web")
            .send()
            .await
            .unwrap()
            .services()[0]
            .clone();
        let done = s.deployments().len() == 1
            && s.deployments()[0].task_definition() == Some(td)
            && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED");
        if done {
            return;
        }
        assert!(
            start.elapsed() < within,
            "the deployment of {td} did not complete: {s:#?}\n{}",
            emu.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn rolling_deployment_behind_the_load_balancer_fails_no_request() {
    let emu = Emulator::start();
    let elb = elb_client(&emu);
    let ecs = emu.client();
    let cluster = "lb";
    emu.create_cluster(cluster).await;

    let Front {
        tg,
        lb,
        listener,
        addr: front,
    } = front(&elb, "web", 5).await;
    elb.modify_target_group_attributes()
        .target_group_arn(&tg)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("1")
                .build(),
        )
        .send()
        .await
        .expect("ModifyTargetGroupAttributes");
    let (code, _) = http_get(&front, "/index.html").expect("the listener answers");
    assert_eq!(code, 503, "no target yet");

    let v1 = emu.register("lb-web", vec![web("v1")]).await;
    let v2 = emu.register("lb-web", vec![web("v2")]).await;
    ecs.create_service()
        .cluster(cluster)
        .service_name("web")
        .task_definition(&v1)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(&tg)
                .container_name("web")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .expect("CreateService");
    let start = Instant::now();
    while healthy_targets(&elb, &tg).await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "targets never healthy: {}",
            emu.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (code, body) = http_get(&front, "/index.html").unwrap();
    assert_eq!((code, body.trim()), (200, "web v1"));

    // Continuous load through the front door while revision 2 rolls out.
    let load = Load::start(&front);
    ecs.update_service()
        .cluster(cluster)
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .expect("UpdateService");
    wait_completed(&emu, cluster, &v2, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.finish();
    assert_eq!(healthy_targets(&elb, &tg).await, 2);

    // Deleting the service drains its targets; then everything goes.
    ecs.delete_service()
        .cluster(cluster)
        .service("web")
        .force(true)
        .send()
        .await
        .expect("DeleteService");
    let start = Instant::now();
    loop {
        let left = elb
            .describe_target_health()
            .target_group_arn(&tg)
            .send()
            .await
            .unwrap()
            .target_health_descriptions()
            .len();
        if left == 0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "targets stay");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let err = elb
        .delete_target_group()
        .target_group_arn(&tg)
        .send()
        .await
        .expect_err("a target group in use");
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("ResourceInUse")
    );
    elb.delete_listener()
        .listener_arn(&listener)
        .send()
        .await
        .expect("DeleteListener");
    assert!(http_get(&front, "/").is_err(), "the front door is closed");
    elb.delete_load_balancer()
        .load_balancer_arn(&lb)
        .send()
        .await
        .expect("DeleteLoadBalancer");
    elb.delete_target_group()
        .target_group_arn(&tg)
        .send()
        .await
        .expect("DeleteTargetGroup");
    let err = elb
        .describe_target_groups()
        .target_group_arns(&tg)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("TargetGroupNotFound")
    );
    emu.stop();
}

#[tokio::test]
async fn front_door_flag_serves_a_service_without_elbv2_resources() {
    let port = free_port();
    let emu = Emulator::start_with(&[
        "--front-door",
        &format!(
            "fd/web:web:8080={port},health-check-path=/index.html,health-check-interval-seconds=5,health-check-timeout-seconds=2,healthy-threshold-count=2,deregistration-delay=1"
        ),
    ]);
    let elb = elb_client(&emu);
    let ecs = emu.client();
    let cluster = "fd";
    let front = format!("127.0.0.1:{port}");
    let (code, _) = http_get(&front, "/index.html").expect("the front door answers at once");
    assert_eq!(code, 503, "no target yet");
    emu.create_cluster(cluster).await;
    let v1 = emu.register("fd-web", vec![web("v1")]).await;
    let v2 = emu.register("fd-web", vec![web("v2")]).await;

    // A target group that does not exist is refused as on AWS, flag or not.
    let missing =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/nope/0123456789abcdef";
    let err = ecs
        .create_service()
        .cluster(cluster)
        .service_name("web")
        .task_definition(&v1)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(missing)
                .container_name("web")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .expect_err("a missing target group");
    let err = err.into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
    assert!(
        err.meta().message().is_some_and(|m| m.contains(missing)),
        "{err:?}"
    );

    // Nor is one that no listener forwards to.
    let lonely = elb
        .create_target_group()
        .name("lonely")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id("vpc-1")
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .expect("CreateTargetGroup");
    let lonely = lonely.target_groups()[0].target_group_arn().unwrap();
    let err = ecs
        .create_service()
        .cluster(cluster)
        .service_name("web")
        .task_definition(&v1)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(lonely)
                .container_name("web")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .expect_err("a target group without a load balancer")
        .into_service_error();
    assert_eq!(
        err.meta().message(),
        Some(format!("The target group with targetGroupArn {lonely} does not have an associated load balancer.").as_str()),
        "{err:?}"
    );
    elb.delete_target_group()
        .target_group_arn(lonely)
        .send()
        .await
        .expect("DeleteTargetGroup");

    // No loadBalancers at all: the flag alone gives the service its door.
    ecs.create_service()
        .cluster(cluster)
        .service_name("web")
        .task_definition(&v1)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .send()
        .await
        .expect("CreateService");
    // Healthy in the door's target group is what completes the deployment.
    wait_completed(&emu, cluster, &v1, Duration::from_secs(60)).await;
    let (code, body) = http_get(&front, "/index.html").unwrap();
    assert_eq!((code, body.trim()), (200, "web v1"));
    let s = ecs
        .describe_services()
        .cluster(cluster)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert!(
        s.load_balancers().is_empty(),
        "the flag adds no loadBalancers"
    );
    let tg = s
        .events()
        .iter()
        .filter_map(|e| e.message())
        .find_map(|m| {
            m.strip_prefix("(service web) registered ")?
                .split_once("(target-group ")
                .map(|(_, arn)| arn.trim_end_matches(')').to_string())
        })
        .expect("a registered-targets event");
    assert!(
        tg.contains(&format!(":targetgroup/front-door-{port}/")),
        "{tg}"
    );
    assert_eq!(healthy_targets(&elb, &tg).await, 2);

    let load = Load::start(&front);
    ecs.update_service()
        .cluster(cluster)
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .expect("UpdateService");
    wait_completed(&emu, cluster, &v2, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.finish();
    let s = ecs
        .describe_services()
        .cluster(cluster)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    let said = |what: &str| {
        s.events()
            .iter()
            .any(|e| e.message().is_some_and(|m| m.contains(what)))
    };
    assert!(
        said(&format!("targets in (target-group {tg})")) && said("(service web) deregistered "),
        "{:#?}",
        s.events()
    );
    assert!(said("(service web) has begun draining connections on "));

    // The flag's target group is no ELBv2 resource: not listed, not deletable.
    let listed = elb
        .describe_target_groups()
        .send()
        .await
        .expect("DescribeTargetGroups");
    assert!(listed.target_groups().is_empty(), "{listed:?}");
    let err = elb
        .delete_target_group()
        .target_group_arn(&tg)
        .send()
        .await
        .expect_err("the front door's target group");
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("ResourceInUse")
    );
    emu.stop();
}

/// Runs `serve` with `args`; it must exit non-zero within 20 s. Returns its
/// stderr.
fn serve_fails(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let mut child = std::process::Command::new(emulator_bin())
        .args(["serve", "--in-memory", "--s3-listen", "off", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(args)
        .env_remove("FARGATE_LOCAL_FRONT_DOOR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("fargate-local serve");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve {args:?} is still running: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(!status.success(), "serve {args:?} succeeded: {stderr}");
    stderr
}

#[test]
fn a_bad_front_door_flag_is_a_startup_error() {
    let e = serve_fails(&["--front-door", "web:web=8080"]);
    assert!(
        e.contains("invalid value 'web:web=8080' for '--front-door <SPEC>'")
            && e.contains("is not <service>:<container>:<containerPort>"),
        "{e}"
    );
    let e = serve_fails(&[
        "--front-door",
        "dev/web:web:80=8080,health-check-interval-seconds=1",
    ]);
    assert!(
        e.contains("Health check interval must be between 5 and 300 seconds"),
        "{e}"
    );
    // A host port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = serve_fails(&["--front-door", &format!("dev/web:web:80={port}")]);
    assert!(
        e.contains("--front-door dev/web")
            && e.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{e}"
    );
    let port = free_port();
    let e = serve_fails(&[
        "--front-door",
        &format!("dev/a:web:80={port}"),
        "--front-door",
        &format!("dev/b:web:80={port}"),
    ]);
    assert!(
        e.contains(&format!("host port {port} is given to two front doors")),
        "{e}"
    );
}

/// How many "registered 1 targets" events the service `web` has.
async fn registrations(emu: &Emulator, cluster: &str) -> usize {
    emu.client()
        .describe_services()
        .cluster(cluster)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .events()
        .iter()
        .filter(|e| {
            e.message()
                .is_some_and(|m| m.contains("registered 1 targets"))
        })
        .count()
}

#[tokio::test]
async fn a_restart_keeps_healthy_targets_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut emu = Emulator::start_durable(dir.path());
    let elb = elb_client(&emu);
    let cluster = "lb-restart";
    emu.create_cluster(cluster).await;
    // Checks every 10 s, healthy after 2: a target registered as new takes
    // about 10 s to take traffic.
    let Front {
        tg, addr: front, ..
    } = front(&elb, "web-restart", 10).await;
    let v1 = emu.register("lb-restart-web", vec![web("v1")]).await;
    emu.client()
        .create_service()
        .cluster(cluster)
        .service_name("web")
        .task_definition(&v1)
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .network_configuration(Emulator::awsvpc())
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(&tg)
                .container_name("web")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .expect("CreateService");
    wait_completed(&emu, cluster, &v1, Duration::from_secs(60)).await;
    assert_eq!(healthy_targets(&elb, &tg).await, 1);
    let before = registrations(&emu, cluster).await;
    assert_eq!(before, 1);

    emu.kill9();
    emu.restart();
    // Well within the 10 s a new target would need.
    let start = Instant::now();
    loop {
        match http_get(&front, "/index.html") {
            Ok((200, body)) => {
                assert_eq!(body.trim(), "web v1");
                break;
            }
            other => assert!(
                start.elapsed() < Duration::from_secs(5),
                "the listener did not serve the healthy task after the restart: {other:?}\n{}",
                emu.log_tail(20)
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elb = elb_client(&emu);
    assert_eq!(healthy_targets(&elb, &tg).await, 1);
    // Re-registering after a restart is not a new registration.
    assert_eq!(registrations(&emu, cluster).await, before);
    emu.stop();
}
