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
