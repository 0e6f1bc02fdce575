//! The local load balancer: one HTTP front door per ELBv2 listener, bound on
//! the host (`--publish-address`, the listener's port), that forwards each
//! request to the next healthy target of the listener's target group, and
//! the health checks that decide which targets are healthy. Targets are
//! reached on the host port their container publishes, so this works
//! wherever the emulator can reach its published ports.
//!
//! Left out: HTTPS, rules, HTTP/2 to targets, connection-level draining (a
//! draining target gets no new request; requests in flight finish).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::services::elbv2::{Elbv2, Listener, matches};

type HttpClient = Client<HttpConnector, Body>;

struct Inner {
    elb: Elbv2,
    publish_address: String,
    open: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    client: HttpClient,
}

/// The open front doors and the health checker.
#[derive(Clone)]
pub struct Doors {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Door {
    elb: Elbv2,
    listener: String,
    port: u16,
    client: HttpClient,
}

impl Doors {
    pub fn new(elb: Elbv2, publish_address: String) -> Doors {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Doors {
            inner: Arc::new(Inner {
                elb,
                publish_address,
                open: Mutex::new(HashMap::new()),
                client,
            }),
        }
    }

    /// Opens the front door of a listener: binds its port now, so that a
    /// port in use is reported to the caller.
    pub fn open(&self, l: &Listener) -> Result<(), String> {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.contains_key(&l.arn) {
            return Ok(());
        }
        let addr = format!("{}:{}", self.inner.publish_address, l.port);
        let std_listener = std::net::TcpListener::bind(&addr)
            .map_err(|e| format!("fargate-local cannot listen on {addr} for this listener: {e}"))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let listener =
            tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
        let door = Door {
            elb: self.inner.elb.clone(),
            listener: l.arn.clone(),
            port: l.port,
            client: self.inner.client.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(door);
        let arn = l.arn.clone();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(listener = %arn, error = %e, "a load balancer front door stopped");
            }
        });
        tracing::info!(listener = %l.arn, address = %addr, "load balancer listener open");
        open.insert(l.arn.clone(), handle.abort_handle());
        Ok(())
    }

    pub fn close(&self, listener: &str) {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = open.remove(listener) {
            h.abort();
        }
    }

    pub fn close_all(&self) {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        for (_, h) in open.drain() {
            h.abort();
        }
    }

    /// Runs every due health check, twice a second, until the backend goes.
    pub fn spawn_health_checks(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(inner) = weak.upgrade() else { break };
                let now = crate::domain::time::now();
                for (tg, task, url, timeout, matcher) in inner.elb.due_checks(now) {
                    let client = inner.client.clone();
                    let elb = inner.elb.clone();
                    tokio::spawn(async move {
                        let failure = check(&client, &url, timeout, &matcher).await;
                        elb.check_result(&tg, &task, failure);
                    });
                }
            }
        });
    }
}

/// One health check: GET, within the timeout, answered with a matching code.
async fn check(
    client: &HttpClient,
    url: &str,
    timeout: u32,
    matcher: &str,
) -> Option<(&'static str, String)> {
    let Ok(uri) = url.parse::<Uri>() else {
        return Some(("Target.InvalidState", "Invalid health check URL".into()));
    };
    let req = match Request::get(uri)
        .header("user-agent", "ELB-HealthChecker/2.0")
        .body(Body::empty())
    {
        Ok(r) => r,
        Err(e) => return Some(("Target.InvalidState", e.to_string())),
    };
    match tokio::time::timeout(Duration::from_secs(u64::from(timeout)), client.request(req)).await {
        Err(_) => Some(("Target.Timeout", "Request timed out".into())),
        Ok(Err(_)) => Some(("Target.FailedHealthChecks", "Health checks failed".into())),
        Ok(Ok(resp)) => {
            let status = resp.status().as_u16();
            if matches(matcher, status) {
                None
            } else {
                Some((
                    "Target.ResponseCodeMismatch",
                    format!("Health checks failed with these codes: [{status}]"),
                ))
            }
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "text/html")],
        format!(
            "<html><body><center><h1>{} {}</h1></center></body></html>\n",
            status.as_u16(),
            text
        ),
    )
        .into_response()
}

/// Forwards one request to the next target, as an ALB does: 503 when the
/// target group has no target to send it to, 502 when the target fails.
async fn forward(State(door): State<Door>, mut req: Request) -> Response {
    let Some(host) = door.elb.pick(&door.listener) else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Temporarily Unavailable",
        );
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Ok(uri) = format!("http://{host}{path}").parse::<Uri>() else {
        return plain(StatusCode::BAD_REQUEST, "Bad Request");
    };
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    for hop in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "trailer",
    ] {
        h.remove(hop);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(&door.port.to_string()) {
        h.insert("x-forwarded-port", v);
    }
    match door.client.request(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::debug!(target = %host, error = %e, "load balancer: the target failed");
            plain(StatusCode::BAD_GATEWAY, "Bad Gateway")
        }
    }
}
