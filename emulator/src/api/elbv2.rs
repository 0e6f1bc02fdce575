//! Elastic Load Balancing v2 on the awsQuery protocol: a form-encoded
//! `POST /` with `Action=<Operation>&Version=2015-12-01&...`, answered in
//! XML (`<OpResponse><OpResult>...</OpResult><ResponseMetadata>...`), errors
//! as `<ErrorResponse><Error><Type/><Code/><Message/></Error>`. One `match`
//! from action to backend method (`services::elbv2`, one method per
//! operation); this module only decodes the form, encodes the answer and
//! maps errors. The operations a CLI or Terraform user makes for an ECS
//! service behind a load balancer.

use crate::services::kit::AwsError;
use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::services::elbv2::{
    CreateListenerRequest, CreateLoadBalancerRequest, CreateTargetGroupRequest,
    DescribeListenersRequest, DescribeLoadBalancersRequest, DescribeTargetGroupsRequest, Described,
    ElbError, Elbv2, Listener, LoadBalancer, PageRequest, TargetGroupDescription,
    TargetHealthDescription,
};

pub const VERSION: &str = "2015-12-01";
const XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

/// A form body's parameters.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Params {
        Params(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }

    fn num<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, ElbError> {
        self.0
            .get(k)
            .map(|v| {
                v.parse().map_err(|_| {
                    ElbError::Validation(format!("'{v}' is not a valid value for {k}"))
                })
            })
            .transpose()
    }

    /// `<prefix>.member.N` (or `<prefix>.member.N.<field>`), in N order.
    fn list(&self, prefix: &str, field: Option<&str>) -> Vec<String> {
        let mut items: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix(".member.")?;
                let (n, tail) = match rest.split_once('.') {
                    Some((n, tail)) => (n, Some(tail)),
                    None => (rest, None),
                };
                (tail == field)
                    .then(|| (n.parse().ok(), v.clone()))
                    .and_then(|(n, v)| Some((n?, v)))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }
}

/// A small XML tree.
enum X {
    Leaf(&'static str, String),
    Node(&'static str, Vec<X>),
}

fn leaf(name: &'static str, v: impl ToString) -> X {
    X::Leaf(name, v.to_string())
}

fn members(name: &'static str, items: Vec<Vec<X>>) -> X {
    X::Node(
        name,
        items.into_iter().map(|i| X::Node("member", i)).collect(),
    )
}

fn strings(name: &'static str, items: &[String]) -> X {
    X::Node(name, items.iter().map(|s| leaf("member", s)).collect())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn render(x: &X, out: &mut String) {
    match x {
        X::Leaf(n, v) => out.push_str(&format!("<{n}>{}</{n}>", escape(v))),
        X::Node(n, children) => {
            out.push_str(&format!("<{n}>"));
            for c in children {
                render(c, out);
            }
            out.push_str(&format!("</{n}>"));
        }
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn ok(op: &str, result: Vec<X>, request_id: &str) -> Response {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{op}Response xmlns=\"{XMLNS}\"><{op}Result>"
    );
    for x in &result {
        render(x, &mut out);
    }
    out.push_str(&format!(
        "</{op}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{op}Response>"
    ));
    xml_response(StatusCode::OK, out, request_id)
}

/// The one place an ELBv2 error becomes HTTP.
pub fn error(code: &str, message: &str, server: bool, request_id: &str) -> Response {
    let (status, kind) = if server {
        (StatusCode::INTERNAL_SERVER_ERROR, "Receiver")
    } else {
        (StatusCode::BAD_REQUEST, "Sender")
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(code),
        escape(message)
    );
    xml_response(status, body, request_id)
}

fn lb_xml(lb: &LoadBalancer) -> Vec<X> {
    vec![
        leaf("LoadBalancerArn", &lb.arn),
        leaf("DNSName", &lb.dns_name),
        leaf("CanonicalHostedZoneId", "Z35SXDOTRQ7X7K"),
        leaf("CreatedTime", crate::domain::time::rfc3339(lb.created_at)),
        leaf("LoadBalancerName", &lb.name),
        leaf("Scheme", &lb.scheme),
        leaf("VpcId", &lb.vpc_id),
        X::Node("State", vec![leaf("Code", "active")]),
        leaf("Type", &lb.kind),
        members(
            "AvailabilityZones",
            lb.subnets
                .iter()
                .map(|s| vec![leaf("ZoneName", "us-east-1a"), leaf("SubnetId", s)])
                .collect(),
        ),
        strings("SecurityGroups", &lb.security_groups),
        leaf("IpAddressType", &lb.ip_address_type),
    ]
}

fn tg_xml(d: &TargetGroupDescription) -> Vec<X> {
    let (tg, lbs) = (&d.group, &d.load_balancer_arns);
    let h = &tg.health;
    vec![
        leaf("TargetGroupArn", &tg.arn),
        leaf("TargetGroupName", &tg.name),
        leaf("Protocol", &tg.protocol),
        leaf("Port", tg.port),
        leaf("VpcId", &tg.vpc_id),
        leaf("HealthCheckProtocol", &h.protocol),
        leaf("HealthCheckPort", &h.port),
        leaf("HealthCheckEnabled", "true"),
        leaf("HealthCheckIntervalSeconds", h.interval),
        leaf("HealthCheckTimeoutSeconds", h.timeout),
        leaf("HealthyThresholdCount", h.healthy_threshold),
        leaf("UnhealthyThresholdCount", h.unhealthy_threshold),
        leaf("HealthCheckPath", &h.path),
        X::Node("Matcher", vec![leaf("HttpCode", &h.matcher)]),
        strings("LoadBalancerArns", lbs),
        leaf("TargetType", &tg.target_type),
        leaf("ProtocolVersion", "HTTP1"),
        leaf("IpAddressType", "ipv4"),
    ]
}

fn listener_xml(l: &Listener) -> Vec<X> {
    vec![
        leaf("ListenerArn", &l.arn),
        leaf("LoadBalancerArn", &l.load_balancer_arn),
        leaf("Port", l.port),
        leaf("Protocol", &l.protocol),
        members(
            "DefaultActions",
            vec![vec![
                leaf("Type", "forward"),
                leaf("TargetGroupArn", &l.target_group_arn),
                X::Node(
                    "ForwardConfig",
                    vec![members(
                        "TargetGroups",
                        vec![vec![
                            leaf("TargetGroupArn", &l.target_group_arn),
                            leaf("Weight", 1),
                        ]],
                    )],
                ),
            ]],
        ),
    ]
}

fn attributes_xml(attrs: &std::collections::BTreeMap<String, String>) -> X {
    members(
        "Attributes",
        attrs
            .iter()
            .map(|(k, v)| vec![leaf("Key", k), leaf("Value", v)])
            .collect(),
    )
}

fn target_health_xml(t: &TargetHealthDescription) -> Vec<X> {
    let mut health = vec![leaf("State", t.state.as_str())];
    if let Some((reason, description)) = &t.reason {
        health.push(leaf("Reason", reason));
        health.push(leaf("Description", description));
    }
    vec![
        X::Node(
            "Target",
            vec![
                leaf("Id", &t.id),
                leaf("Port", t.port),
                leaf("AvailabilityZone", &t.availability_zone),
            ],
        ),
        leaf("HealthCheckPort", &t.health_check_port),
        X::Node("TargetHealth", health),
    ]
}

/// A Describe operation's page: its members and the next marker.
fn described<T>(name: &'static str, d: Described<T>, xml: impl Fn(&T) -> Vec<X>) -> Vec<X> {
    let mut out = vec![members(name, d.items.iter().map(xml).collect())];
    if let Some(m) = d.next_marker {
        out.push(leaf("NextMarker", m));
    }
    out
}

/// Handles one awsQuery request (already known to be ELBv2's).
pub async fn handle(app: &App, region: &str, request_id: &str, body: &[u8]) -> Response {
    let p = Params::parse(body);
    let action = p.get("Action").unwrap_or_default();
    if p.get("Version").as_deref() != Some(VERSION) {
        return error(
            "InvalidAction",
            &format!(
                "fargate-local serves Elastic Load Balancing version {VERSION} on the query protocol, not this request."
            ),
            false,
            request_id,
        );
    }
    match run(app.elbv2(), region, &action, &p) {
        Ok(result) => ok(&action, result, request_id),
        Err(e) => error(e.code(), &e.to_string(), e.is_server_fault(), request_id),
    }
}

fn page(p: &Params) -> Result<PageRequest, ElbError> {
    Ok(PageRequest {
        marker: p.get("Marker"),
        page_size: p.num("PageSize")?,
    })
}

/// From action to backend method: decode the form, call, encode the answer.
fn run(elb: &Elbv2, region: &str, action: &str, p: &Params) -> Result<Vec<X>, ElbError> {
    Ok(match action {
        "CreateLoadBalancer" => {
            let lb = elb.create_load_balancer(
                region,
                CreateLoadBalancerRequest {
                    name: p.get("Name"),
                    subnets: p.list("Subnets", None),
                    security_groups: p.list("SecurityGroups", None),
                    scheme: p.get("Scheme"),
                    kind: p.get("Type"),
                    ip_address_type: p.get("IpAddressType"),
                },
            )?;
            vec![members("LoadBalancers", vec![lb_xml(&lb)])]
        }
        "DescribeLoadBalancers" => {
            let d = elb.describe_load_balancers(
                region,
                DescribeLoadBalancersRequest {
                    arns: p.list("LoadBalancerArns", None),
                    names: p.list("Names", None),
                    page: page(p)?,
                },
            )?;
            described("LoadBalancers", d, lb_xml)
        }
        "DeleteLoadBalancer" => {
            elb.delete_load_balancer(p.get("LoadBalancerArn"))?;
            vec![]
        }
        "CreateTargetGroup" => {
            let tg = elb.create_target_group(
                region,
                CreateTargetGroupRequest {
                    name: p.get("Name"),
                    protocol: p.get("Protocol"),
                    port: p.num("Port")?,
                    vpc_id: p.get("VpcId"),
                    target_type: p.get("TargetType"),
                    health_check_protocol: p.get("HealthCheckProtocol"),
                    health_check_port: p.get("HealthCheckPort"),
                    health_check_path: p.get("HealthCheckPath"),
                    health_check_interval: p.num("HealthCheckIntervalSeconds")?,
                    health_check_timeout: p.num("HealthCheckTimeoutSeconds")?,
                    healthy_threshold: p.num("HealthyThresholdCount")?,
                    unhealthy_threshold: p.num("UnhealthyThresholdCount")?,
                    matcher: p.get("Matcher.HttpCode"),
                },
            )?;
            let d = TargetGroupDescription {
                group: tg,
                load_balancer_arns: Vec::new(),
            };
            vec![members("TargetGroups", vec![tg_xml(&d)])]
        }
        "DescribeTargetGroups" => {
            let d = elb.describe_target_groups(
                region,
                DescribeTargetGroupsRequest {
                    arns: p.list("TargetGroupArns", None),
                    names: p.list("Names", None),
                    load_balancer_arn: p.get("LoadBalancerArn"),
                    page: page(p)?,
                },
            )?;
            described("TargetGroups", d, tg_xml)
        }
        "DeleteTargetGroup" => {
            elb.delete_target_group(p.get("TargetGroupArn"))?;
            vec![]
        }
        "DescribeTargetGroupAttributes" => {
            let attrs = elb.describe_target_group_attributes(p.get("TargetGroupArn"))?;
            vec![attributes_xml(&attrs)]
        }
        "ModifyTargetGroupAttributes" => {
            let keys = p.list("Attributes", Some("Key"));
            let values = p.list("Attributes", Some("Value"));
            let attrs = elb.modify_target_group_attributes(
                p.get("TargetGroupArn"),
                keys.into_iter().zip(values).collect(),
            )?;
            vec![attributes_xml(&attrs)]
        }
        "CreateListener" => {
            let target_group_arn = p
                .list("DefaultActions", Some("TargetGroupArn"))
                .into_iter()
                .next()
                .or_else(|| {
                    p.list(
                        "DefaultActions",
                        Some("ForwardConfig.TargetGroups.member.1.TargetGroupArn"),
                    )
                    .into_iter()
                    .next()
                });
            let l = elb.create_listener(CreateListenerRequest {
                load_balancer_arn: p.get("LoadBalancerArn"),
                protocol: p.get("Protocol"),
                port: p.num("Port")?,
                target_group_arn,
                action_type: p.list("DefaultActions", Some("Type")).into_iter().next(),
            })?;
            vec![members("Listeners", vec![listener_xml(&l)])]
        }
        "DescribeListeners" => {
            let d = elb.describe_listeners(DescribeListenersRequest {
                load_balancer_arn: p.get("LoadBalancerArn"),
                arns: p.list("ListenerArns", None),
                page: page(p)?,
            })?;
            described("Listeners", d, listener_xml)
        }
        "DeleteListener" => {
            elb.delete_listener(p.get("ListenerArn"))?;
            vec![]
        }
        "DescribeTargetHealth" => {
            let targets = elb.describe_target_health(region, p.get("TargetGroupArn"))?;
            vec![members(
                "TargetHealthDescriptions",
                targets.iter().map(target_health_xml).collect(),
            )]
        }
        other => {
            return Err(ElbError::Validation(format!(
                "fargate-local does not support the Elastic Load Balancing action {other} (or it does not exist)."
            )));
        }
    })
}
