//! A service behind an ELBv2 target group, through the real HTTP of the
//! local load balancer: tasks are registered once RUNNING, the deployment
//! counts them healthy only once their targets are, the listener forwards
//! to them, and a task the scheduler stops is deregistered and drains for
//! the target group's deregistration delay before it is stopped.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, events, eventually, service_body, spawn_app, stable, xml_values};

const WITHIN: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A target group checked every 5 s (healthy after 2 checks), with a 2 s
/// deregistration delay, a load balancer and a listener on a free port.
async fn front(t: &TestApp) -> (String, u16) {
    let xml = t
        .elbv2_ok(
            "CreateTargetGroup",
            &[
                ("Name", "web"),
                ("Protocol", "HTTP"),
                ("Port", "8080"),
                ("VpcId", "vpc-1"),
                ("TargetType", "ip"),
                ("HealthCheckIntervalSeconds", "5"),
                ("HealthCheckTimeoutSeconds", "2"),
                ("HealthyThresholdCount", "2"),
            ],
        )
        .await;
    let tg = xml_values(&xml, "TargetGroupArn").remove(0);
    t.elbv2_ok(
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "2"),
        ],
    )
    .await;
    let xml = t
        .elbv2_ok(
            "CreateLoadBalancer",
            &[("Name", "web-lb"), ("Subnets.member.1", "subnet-1")],
        )
        .await;
    let lb = xml_values(&xml, "LoadBalancerArn").remove(0);
    let port = free_port();
    t.elbv2_ok(
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb),
            ("Protocol", "HTTP"),
            ("Port", &port.to_string()),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg),
        ],
    )
    .await;
    (tg, port)
}

/// DescribeTargetHealth: each target's (IP, state).
async fn target_states(t: &TestApp, tg: &str) -> Vec<(String, String)> {
    let xml = t
        .elbv2_ok("DescribeTargetHealth", &[("TargetGroupArn", tg)])
        .await;
    xml_values(&xml, "Id")
        .into_iter()
        .zip(xml_values(&xml, "State"))
        .collect()
}

/// A GET through the listener: status and body (the answering task's ARN).
async fn get(port: u16) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the listener accepts");
    s.write_all(b"GET / HTTP/1.1\r\nhost: lb\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn task_ip(task: &Value) -> String {
    task["attachments"][0]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "privateIPv4Address")
        .and_then(|d| d["value"].as_str())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn registration_health_and_draining() {
    let t = spawn_app().await;
    t.create_cluster("lb").await;
    let (tg, port) = front(&t).await;
    // No target yet: the load balancer has nobody to send a request to.
    assert_eq!(get(port).await.0, 503);
    let td = t.register("lb-web", "web:1").await;
    let mut body = service_body("lb", "web", &td, 2, (100, 200));
    body["loadBalancers"] =
        json!([{"targetGroupArn": tg, "containerName": "app", "containerPort": 8080}]);
    t.ecs_ok("CreateService", body).await;

    // Registered once RUNNING, first `initial`.
    let s = t
        .wait_service("lb", "web", "the targets' registration", WITHIN, |s| {
            events(s)
                .iter()
                .any(|e| e == &format!("(service web) registered 2 targets in (target-group {tg})"))
        })
        .await;
    let tasks = t.service_tasks("lb", "web").await;
    let mut ips: Vec<String> = tasks.iter().map(task_ip).collect();
    ips.sort();
    assert_ne!(ips[0], ips[1], "each task has an address of its own");
    let mut states = target_states(&t, &tg).await;
    states.sort();
    let registered: Vec<&str> = states.iter().map(|(ip, _)| ip.as_str()).collect();
    assert_eq!(registered, ips);
    assert!(
        states.iter().all(|(_, s)| s == "initial"),
        "{states:?}; {s:#}"
    );
    // The tasks run for longer than a task without a load balancer needs
    // to count healthy, yet the deployment waits for its targets.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // (The second check, which makes a target healthy, is 5 s after the
    // first.)
    let s = t.describe_service("lb", "web").await;
    let states = target_states(&t, &tg).await;
    assert!(states.iter().all(|(_, s)| s == "initial"), "{states:?}");
    assert_eq!(s["deployments"][0]["rolloutState"], "IN_PROGRESS", "{s:#}");
    assert_eq!(s["deployments"][0]["runningCount"], 2, "{s:#}");
    t.wait_service("lb", "web", "healthy targets", WITHIN, stable)
        .await;
    let states = target_states(&t, &tg).await;
    assert!(states.iter().all(|(_, s)| s == "healthy"), "{states:?}");

    // Requests go to both tasks, in turn.
    let arns: Vec<String> = tasks
        .iter()
        .map(|t| t["taskArn"].as_str().unwrap().to_string())
        .collect();
    let mut answered = Vec::new();
    for _ in 0..4 {
        let (status, body) = get(port).await;
        assert_eq!(status, 200, "{body}");
        answered.push(body);
    }
    for arn in &arns {
        assert!(answered.contains(arn), "{arn} got no request: {answered:?}");
    }

    // Scale in: one task is deregistered, drains for 2 s, then stops.
    t.ecs_ok(
        "UpdateService",
        json!({"cluster": "lb", "service": "web", "desiredCount": 1}),
    )
    .await;
    let draining_ip = eventually("a draining target", WITHIN, || async {
        target_states(&t, &tg)
            .await
            .into_iter()
            .find(|(_, s)| s == "draining")
            .map(|(ip, _)| ip)
    })
    .await;
    let drain_began = Instant::now();
    let drained = tasks.iter().find(|t| task_ip(t) == draining_ip).unwrap()["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    let kept = arns.iter().find(|a| **a != drained).unwrap().clone();
    // While it drains, the task still runs but gets no request.
    assert!(t.fake.running_tasks().contains(&drained));
    for _ in 0..4 {
        assert_eq!(get(port).await, (200, kept.clone()));
    }
    let s = t.describe_service("lb", "web").await;
    assert!(
        events(&s)
            .iter()
            .any(|e| e == &format!("(service web) deregistered 1 targets in (target-group {tg})")),
        "{:?}",
        events(&s)
    );
    assert!(
        events(&s)
            .iter()
            .any(|e| e == "(service web) has begun draining connections on 1 tasks."),
        "{:?}",
        events(&s)
    );
    eventually("the drained task to stop", WITHIN, || async {
        (!t.fake.running_tasks().contains(&drained)).then_some(())
    })
    .await;
    let waited = drain_began.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "stopped {waited:?} after the drain began, within the 2 s delay"
    );
    let stopped = t
        .ecs_ok(
            "DescribeTasks",
            json!({"cluster": "lb", "tasks": [drained]}),
        )
        .await;
    assert_eq!(stopped["tasks"][0]["stopCode"], "ServiceSchedulerInitiated");
    t.wait_service("lb", "web", "1 task", WITHIN, |s| {
        stable(s) && s["runningCount"] == 1
    })
    .await;
    eventually("the drained target to leave", WITHIN, || async {
        let states = target_states(&t, &tg).await;
        (states.len() == 1 && states[0].1 == "healthy").then_some(())
    })
    .await;
    t.stop().await;
}

#[tokio::test]
async fn a_task_whose_target_turns_unhealthy_is_replaced() {
    let t = spawn_app().await;
    t.create_cluster("lb").await;
    let (tg, _) = front(&t).await;
    let td = t.register("lb-sick", "web:1").await;
    let mut body = service_body("lb", "web", &td, 1, (100, 200));
    body["loadBalancers"] =
        json!([{"targetGroupArn": tg, "containerName": "app", "containerPort": 8080}]);
    t.ecs_ok("CreateService", body).await;
    t.wait_service("lb", "web", "a healthy target", WITHIN, stable)
        .await;
    let sick = t.service_tasks("lb", "web").await[0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    // Its server answers 500 from now on: two failed checks make the target
    // unhealthy, and the scheduler replaces the task.
    t.server(&sick)
        .status
        .store(500, std::sync::atomic::Ordering::SeqCst);
    eventually("an unhealthy target", WITHIN, || async {
        target_states(&t, &tg)
            .await
            .iter()
            .any(|(_, s)| s == "unhealthy")
            .then_some(())
    })
    .await;
    let s = t
        .wait_service("lb", "web", "a replacement", WITHIN, |s| {
            stable(s)
                && t.fake.running_tasks().len() == 1
                && !t.fake.running_tasks().contains(&sick)
        })
        .await;
    let stopped = t
        .ecs_ok("DescribeTasks", json!({"cluster": "lb", "tasks": [sick]}))
        .await;
    assert_eq!(
        stopped["tasks"][0]["stoppedReason"],
        format!("Task failed ELB health checks in (target-group {tg})"),
        "{s:#}"
    );
    let id = sick.rsplit('/').next().unwrap();
    assert!(
        events(&s).contains(&format!(
            "(service web) (task {id}) failed ELB health checks in (target-group {tg})."
        )),
        "{:?}",
        events(&s)
    );
    t.stop().await;
}
