//! The console's HTTP edge in process: pages as HTML with their headers,
//! the redirect to the console's root, 404s in the console's words, and
//! form posts: refused from another site (nothing changes), done through
//! UpdateService from the console itself.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{service_body, spawn_app};

/// One HTTP/1.0 exchange: status, head and body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test]
async fn pages_and_forms() {
    let t = spawn_app().await;
    t.create_cluster("c").await;
    let td = t.register("web", "web:1").await;
    t.ecs_ok("CreateService", service_body("c", "s", &td, 1, (100, 200)))
        .await;

    let (status, head, _) = http(t.addr, "GET", "/_fargate-local/console", &[], "").await;
    assert_eq!(status, 308);
    assert!(
        head.contains("location: /_fargate-local/console/"),
        "{head}"
    );

    let (status, head, body) =
        http(t.addr, "GET", "/_fargate-local/console/clusters/c", &[], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(
        body.contains("/_fargate-local/console/clusters/c/services/s\">s</a>"),
        "{body}"
    );

    let (status, _, body) = http(t.addr, "GET", "/_fargate-local/console/nope", &[], "").await;
    assert_eq!(status, 404);
    assert!(body.contains("is not a page of the console"), "{body}");

    let token = fargate_local::api::console::form_token();
    let update = "/_fargate-local/console/clusters/c/services/s/update";
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let desired = || async { t.describe_service("c", "s").await["desiredCount"].clone() };

    let refused = [
        vec![("Origin", "http://evil.example")],
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![],
    ];
    for (i, extra) in refused.iter().enumerate() {
        let mut h = form.to_vec();
        h.extend_from_slice(extra);
        // The last case is the console's origin without the token.
        let body = if i < 2 {
            format!("token={token}&desired_count=3")
        } else {
            "desired_count=3".to_string()
        };
        let (status, _, page) = http(t.addr, "POST", update, &h, &body).await;
        assert_eq!(status, 403, "{extra:?}: {page}");
        assert_eq!(desired().await, 1, "a refused post changed nothing");
    }

    let origin = format!("http://{}", t.addr);
    let mut h = form.to_vec();
    h.extend_from_slice(&[
        ("Origin", origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ]);
    let (status, head, _) = http(
        t.addr,
        "POST",
        update,
        &h,
        &format!("token={token}&desired_count=3"),
    )
    .await;
    assert_eq!(status, 303);
    assert!(
        head.contains("location: /_fargate-local/console/clusters/c/services/s"),
        "{head}"
    );
    assert_eq!(desired().await, 3);

    t.stop().await;
}

/// The events of a server-sent event stream read for `wait`.
async fn sse_for(addr: SocketAddr, path: &str, wait: std::time::Duration) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

/// The live address a page names for itself.
fn live_url(page: &str) -> String {
    let at = page
        .find("name=\"fargate-local-live\" content=\"")
        .expect("a live page names its stream")
        + 35;
    page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&")
}

#[tokio::test]
async fn a_live_page_is_told_when_it_changes() {
    let t = spawn_app().await;
    t.create_cluster("c").await;
    let td = t.register("web", "web:1").await;
    t.ecs_ok("CreateService", service_body("c", "s", &td, 1, (100, 200)))
        .await;
    let path = "/_fargate-local/console/clusters/c/services/s";
    // Wait for the service to settle, so that the page stops changing.
    let mut page = String::new();
    for _ in 0..50 {
        let (_, _, now) = http(t.addr, "GET", path, &[], "").await;
        if now == page {
            break;
        }
        page = now;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let live = live_url(&page);
    assert!(live.starts_with("/_fargate-local/console/live?page=clusters%2Fc%2Fservices%2Fs&v="));
    // Nothing changed since the page was drawn: no event.
    let quiet = sse_for(t.addr, &live, std::time::Duration::from_millis(1500)).await;
    assert!(quiet.contains("text/event-stream"), "{quiet}");
    assert!(!quiet.contains("event: change"), "{quiet}");
    // The desired count changes (through the API): the page is told.
    let addr = t.addr;
    let watching =
        tokio::spawn(
            async move { sse_for(addr, &live, std::time::Duration::from_millis(3000)).await },
        );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    t.ecs_ok(
        "UpdateService",
        serde_json::json!({"cluster": "c", "service": "s", "desiredCount": 2}),
    )
    .await;
    let told = watching.await.unwrap();
    assert!(told.contains("event: change"), "{told}");
    // A page that is not live names no stream.
    let (_, _, logs_less) = http(
        t.addr,
        "GET",
        "/_fargate-local/console/task-definitions",
        &[],
        "",
    )
    .await;
    assert!(
        !logs_less.contains("name=\"fargate-local-live\" content="),
        "{logs_less}"
    );
    t.stop().await;
}

/// A JSON-protocol call to `target` (SQS, Cloud Map): its answer.
async fn json_call(t: &crate::helpers::TestApp, target: &str, body: serde_json::Value) -> String {
    let (status, text) = t
        .post(
            &[
                ("x-amz-target", target),
                ("content-type", "application/x-amz-json-1.0"),
            ],
            body.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{target}: {text}");
    text
}

#[tokio::test]
async fn queues_roles_and_namespaces_have_pages() {
    let t = spawn_app().await;
    let dlq = json_call(
        &t,
        "AmazonSQS.CreateQueue",
        serde_json::json!({"QueueName": "jobs-dlq"}),
    )
    .await;
    assert!(dlq.contains("jobs-dlq"), "{dlq}");
    json_call(
        &t,
        "AmazonSQS.CreateQueue",
        serde_json::json!({"QueueName": "jobs", "Attributes": {"RedrivePolicy":
            "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:jobs-dlq\",\"maxReceiveCount\":\"3\"}"}}),
    )
    .await;
    let url = format!("http://{}/000000000000/jobs", t.addr);
    json_call(
        &t,
        "AmazonSQS.SendMessage",
        serde_json::json!({"QueueUrl": url, "MessageBody": "one"}),
    )
    .await;
    let (status, _, queues) = http(t.addr, "GET", "/_fargate-local/console/queues", &[], "").await;
    assert_eq!(status, 200, "{queues}");
    assert!(
        queues.contains("<a href=\"/_fargate-local/console/queues/jobs\">jobs</a>")
            && queues.contains("<td>1</td>")
            && queues.contains("after 3 receives"),
        "{queues}"
    );
    let (_, _, queue) = http(
        t.addr,
        "GET",
        "/_fargate-local/console/queues/jobs-dlq",
        &[],
        "",
    )
    .await;
    assert!(
        queue.contains("Dead-letter queue of:") && queue.contains(">jobs</a>"),
        "{queue}"
    );
    let (status, _, _) = http(
        t.addr,
        "GET",
        "/_fargate-local/console/queues/nope",
        &[],
        "",
    )
    .await;
    assert_eq!(status, 404);

    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let (status, xml) = t
        .iam(
            "CreateRole",
            &[("RoleName", "app"), ("AssumeRolePolicyDocument", trust)],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    let (status, xml) = t
        .iam(
            "PutRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyName", "read-jobs"),
                ("PolicyDocument", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"*"}]}"#),
            ],
        )
        .await;
    assert_eq!(status, 200, "{xml}");
    let (_, _, roles) = http(t.addr, "GET", "/_fargate-local/console/roles", &[], "").await;
    assert!(
        roles.contains(">app</a>")
            && roles.contains("ecs-tasks.amazonaws.com")
            && roles.contains("1 inline, 0 attached"),
        "{roles}"
    );
    let (_, _, role) = http(t.addr, "GET", "/_fargate-local/console/roles/app", &[], "").await;
    assert!(
        role.contains("read-jobs") && role.contains("sqs:ReceiveMessage"),
        "{role}"
    );
    let (status, _, missing) =
        http(t.addr, "GET", "/_fargate-local/console/roles/nope", &[], "").await;
    assert_eq!(status, 404, "{missing}");
    assert!(missing.contains("NoSuchEntity"), "{missing}");

    let sd = "Route53AutoNaming_v20170314";
    json_call(
        &t,
        &format!("{sd}.CreateHttpNamespace"),
        serde_json::json!({"Name": "local"}),
    )
    .await;
    let list: serde_json::Value = serde_json::from_str(
        &json_call(&t, &format!("{sd}.ListNamespaces"), serde_json::json!({})).await,
    )
    .unwrap();
    let ns = list["Namespaces"][0]["Id"].as_str().unwrap().to_string();
    let svc: serde_json::Value = serde_json::from_str(
        &json_call(
            &t,
            &format!("{sd}.CreateService"),
            serde_json::json!({"Name": "api", "NamespaceId": ns}),
        )
        .await,
    )
    .unwrap();
    json_call(
        &t,
        &format!("{sd}.RegisterInstance"),
        serde_json::json!({"ServiceId": svc["Service"]["Id"], "InstanceId": "i-1",
            "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.5", "AWS_INSTANCE_PORT": "8080"}}),
    )
    .await;
    let (_, _, namespaces) =
        http(t.addr, "GET", "/_fargate-local/console/namespaces", &[], "").await;
    assert!(
        namespaces.contains("local")
            && namespaces.contains("api")
            && namespaces.contains("10.0.0.5:8080"),
        "{namespaces}"
    );
    t.stop().await;
}
