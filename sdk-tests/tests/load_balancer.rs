//! A service behind the local load balancer, with the AWS SDKs for ECS and
//! Elastic Load Balancing v2: the target group, load balancer and listener
//! are created through the ELBv2 API, the listener's port on the host
//! forwards to the healthy tasks, and a rolling deployment from revision 1
//! to 2 under continuous HTTP load fails no request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{LaunchType, LoadBalancer, PortMapping};
use aws_sdk_elasticloadbalancingv2 as elbv2;
use elbv2::types::{
    Action, ActionTypeEnum, ProtocolEnum, TargetGroupAttribute, TargetHealthStateEnum,
    TargetTypeEnum,
};
use sdk_tests::{Emulator, http_get, sh};

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

#[tokio::test]
async fn rolling_deployment_behind_the_load_balancer_fails_no_request() {
    let emu = Emulator::start();
    let elb = elb_client(&emu);
    let ecs = emu.client();
    let cluster = "lb";
    emu.create_cluster(cluster).await;

    let tg = elb
        .create_target_group()
        .name("web")
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id("vpc-1")
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/index.html")
        .health_check_interval_seconds(5)
        .health_check_timeout_seconds(2)
        .healthy_threshold_count(2)
        .send()
        .await
        .expect("CreateTargetGroup");
    let tg = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
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
    let lb = elb
        .create_load_balancer()
        .name("web-lb")
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
    let front = format!("127.0.0.1:{port}");
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
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let front = front.clone();
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
    ecs.update_service()
        .cluster(cluster)
        .service("web")
        .task_definition(&v2)
        .send()
        .await
        .expect("UpdateService");
    let start = Instant::now();
    loop {
        let s = ecs
            .describe_services()
            .cluster(cluster)
            .services("web")
            .send()
            .await
            .unwrap()
            .services()[0]
            .clone();
        let done = s.deployments().len() == 1
            && s.deployments()[0].task_definition() == Some(v2.as_str())
            && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED");
        if done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the deployment did not complete: {s:#?}\n{}",
            emu.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = load.join().expect("the load thread");
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
