//! The local load balancer: one HTTP front door per ELBv2 listener, bound on
//! the host (`--publish-address`, the listener's port), that forwards each
//! request to the next healthy target of the listener's target group, and
//! the health checks that decide which targets are healthy. Targets are
//! reached on the host port their container publishes, so this works
//! wherever the emulator can reach its published ports.
//!
//! A front door can also come from `serve --front-door` instead of the
//! ELBv2 API ([`FrontDoorSpec`]): a target group and a listener that no API
//! call made, for one service's container port.
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

use crate::services::elbv2::{CreateTargetGroupRequest, Elbv2, Listener, Ports, matches};
use crate::shutdown::Shutdown;

type HttpClient = Client<HttpConnector, Body>;

/// One `--front-door` value:
/// `[<cluster>/]<service>:<container>:<containerPort>=<hostPort>[,<setting>=<value>...]`,
/// where a setting is one of the target group's, named as the
/// `aws elbv2 create-target-group` options are (`health-check-path`,
/// `health-check-interval-seconds`, `health-check-timeout-seconds`,
/// `healthy-threshold-count`, `unhealthy-threshold-count`, `matcher`) or
/// `deregistration-delay` (the `deregistration_delay.timeout_seconds`
/// attribute). The cluster is `default` when left out.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontDoorSpec {
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub container_port: u16,
    pub host_port: u16,
    /// The health check settings given (the rest are AWS's defaults).
    pub health: CreateTargetGroupRequest,
    pub deregistration_delay: Option<u32>,
}

const FRONT_DOOR_FORM: &str =
    "expected [<cluster>/]<service>:<container>:<containerPort>=<hostPort>[,<setting>=<value>...]";

fn valid_ecs_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn port_of(what: &str, v: &str) -> Result<u16, String> {
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} '{v}' is not a port (1-65535)")),
    }
}

impl std::str::FromStr for FrontDoorSpec {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let mut parts = value.split(',');
        let head = parts.next().unwrap_or_default();
        let (target, host_port) = head
            .rsplit_once('=')
            .ok_or_else(|| format!("no '=<hostPort>' in '{head}': {FRONT_DOOR_FORM}"))?;
        let host_port = port_of("the host port", host_port)?;
        let pieces: Vec<&str> = target.split(':').collect();
        let [service, container, container_port] = pieces[..] else {
            return Err(format!(
                "'{target}' is not <service>:<container>:<containerPort>: {FRONT_DOOR_FORM}"
            ));
        };
        let (cluster, service) = service.split_once('/').unwrap_or(("default", service));
        for (what, name) in [
            ("cluster", cluster),
            ("service", service),
            ("container", container),
        ] {
            if !valid_ecs_name(name) {
                return Err(format!(
                    "the {what} name '{name}' is not valid: up to 255 letters, numbers, hyphens and underscores"
                ));
            }
        }
        let container_port = port_of("the container port", container_port)?;
        let mut health = CreateTargetGroupRequest::default();
        let mut deregistration_delay = None;
        for setting in parts {
            let (k, v) = setting
                .split_once('=')
                .ok_or_else(|| format!("the setting '{setting}' is not <setting>=<value>"))?;
            let num = || {
                v.parse::<u32>()
                    .map_err(|_| format!("{k} '{v}' is not a whole number"))
            };
            match k {
                "health-check-path" if v.starts_with('/') => {
                    health.health_check_path = Some(v.to_string())
                }
                "health-check-path" => {
                    return Err(format!("health-check-path '{v}' must start with /"));
                }
                "health-check-interval-seconds" => health.health_check_interval = Some(num()?),
                "health-check-timeout-seconds" => health.health_check_timeout = Some(num()?),
                "healthy-threshold-count" => health.healthy_threshold = Some(num()?),
                "unhealthy-threshold-count" => health.unhealthy_threshold = Some(num()?),
                "matcher" => health.matcher = Some(v.to_string()),
                "deregistration-delay" => {
                    let n = num()?;
                    if n > 3600 {
                        return Err(format!(
                            "deregistration-delay '{v}' must be between 0 and 3600"
                        ));
                    }
                    deregistration_delay = Some(n);
                }
                _ => {
                    return Err(format!(
                        "unknown setting '{k}': one of health-check-path, health-check-interval-seconds, health-check-timeout-seconds, healthy-threshold-count, unhealthy-threshold-count, matcher, deregistration-delay"
                    ));
                }
            }
        }
        crate::services::elbv2::health_check(&health).map_err(|e| e.to_string())?;
        Ok(FrontDoorSpec {
            cluster: cluster.to_string(),
            service: service.to_string(),
            container: container.to_string(),
            container_port,
            host_port,
            health,
            deregistration_delay,
        })
    }
}

struct Inner {
    elb: Elbv2,
    publish_address: String,
    open: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    client: HttpClient,
    /// Closes every door and ends the health checks.
    shutdown: Shutdown,
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
    pub fn new(elb: Elbv2, publish_address: String, shutdown: Shutdown) -> Doors {
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
                shutdown,
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
        // On shutdown the door stops accepting at once; requests in flight
        // end with the process.
        let handle = self
            .inner
            .shutdown
            .spawn_until_signalled("load balancer front door", async move {
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

    /// Closes every door but those of `keep`.
    pub fn retain(&self, keep: &[Listener]) {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|arn, h| {
            let kept = keep.iter().any(|l| &l.arn == arn);
            if !kept {
                h.abort();
            }
            kept
        });
    }

    pub fn close_all(&self) {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        for (_, h) in open.drain() {
            h.abort();
        }
    }

    /// Runs every due health check, twice a second, until the emulator
    /// shuts down (or the backend goes).
    pub fn spawn_health_checks(&self) {
        let weak = Arc::downgrade(&self.inner);
        let shutdown = self.inner.shutdown.clone();
        let stop = shutdown.signalled();
        shutdown
            .clone()
            .spawn("load balancer health checks", async move {
                let mut stop = std::pin::pin!(stop);
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                    let Some(inner) = weak.upgrade() else { break };
                    let now = crate::domain::time::now();
                    for check in inner.elb.due_checks(now) {
                        let client = inner.client.clone();
                        let elb = inner.elb.clone();
                        // A check may wait for its timeout (up to 2 minutes):
                        // shutdown does not wait for it.
                        shutdown.spawn_until_signalled("load balancer health check", async move {
                            let failure =
                                check_target(&client, &check.url, check.timeout, &check.matcher)
                                    .await;
                            elb.check_result(&check.target_group, &check.task_id, failure);
                        });
                    }
                }
            });
    }
}

/// The ELBv2 backend opens a listener's port here before it stores the
/// listener, and closes it when the listener goes.
impl Ports for Doors {
    fn open(&self, listener: &Listener) -> Result<(), String> {
        Doors::open(self, listener)
    }

    fn close(&self, listener_arn: &str) {
        Doors::close(self, listener_arn)
    }
}

/// One health check: GET, within the timeout, answered with a matching code.
async fn check_target(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_door_specs() {
        let f: FrontDoorSpec = "dev/web:app:80=8080".parse().unwrap();
        assert_eq!(
            (f.cluster.as_str(), f.service.as_str(), f.container.as_str()),
            ("dev", "web", "app")
        );
        assert_eq!((f.container_port, f.host_port), (80, 8080));
        assert_eq!(f.health, CreateTargetGroupRequest::default());
        assert_eq!(f.deregistration_delay, None);

        let f: FrontDoorSpec = "web:app:80=8080,health-check-path=/health,health-check-interval-seconds=5,health-check-timeout-seconds=2,healthy-threshold-count=2,unhealthy-threshold-count=3,matcher=200-299,deregistration-delay=0"
            .parse()
            .unwrap();
        assert_eq!(f.cluster, "default");
        assert_eq!(f.health.health_check_path.as_deref(), Some("/health"));
        assert_eq!(f.health.health_check_interval, Some(5));
        assert_eq!(f.health.health_check_timeout, Some(2));
        assert_eq!(f.health.healthy_threshold, Some(2));
        assert_eq!(f.health.unhealthy_threshold, Some(3));
        assert_eq!(f.health.matcher.as_deref(), Some("200-299"));
        assert_eq!(f.deregistration_delay, Some(0));

        for (bad, says) in [
            ("dev/web:app:80", "no '=<hostPort>'"),
            (
                "dev/web:app=8080",
                "is not <service>:<container>:<containerPort>",
            ),
            ("dev/web:app:80=0", "the host port '0'"),
            ("dev/web:app:http=8080", "the container port 'http'"),
            ("dev/w eb:app:80=8080", "the service name 'w eb'"),
            ("/web:app:80=8080", "the cluster name ''"),
            (
                "dev/web:app:80=8080,colour=blue",
                "unknown setting 'colour'",
            ),
            (
                "dev/web:app:80=8080,health-check-interval-seconds=2",
                "between 5 and 300",
            ),
            (
                "dev/web:app:80=8080,deregistration-delay=9999",
                "between 0 and 3600",
            ),
            (
                "dev/web:app:80=8080,health-check-path=health",
                "must start with /",
            ),
        ] {
            let e = bad.parse::<FrontDoorSpec>().expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
