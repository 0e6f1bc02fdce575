//! Elastic Load Balancing v2 on the awsQuery protocol: a form-encoded
//! `POST /` with `Action=<Operation>&Version=2015-12-01&...`, answered in
//! XML (`<OpResponse><OpResult>...</OpResult><ResponseMetadata>...`), errors
//! as `<ErrorResponse><Error><Type/><Code/><Message/></Error>`. One `match`
//! from action to backend method (`services::elbv2`, one method per
//! operation); this module only decodes the form, encodes the answer and
//! maps errors. The operations a CLI or Terraform user makes for an ECS
//! service behind a load balancer.

use crate::services::kit::AwsError;

use axum::http::StatusCode;
use axum::response::Response;

use crate::app::App;
use crate::services::elbv2::{
    CreateListenerRequest, CreateLoadBalancerRequest, CreateTargetGroupRequest,
    DescribeListenersRequest, DescribeLoadBalancersRequest, DescribeTargetGroupsRequest, Described,
    ElbError, Elbv2, Listener, LoadBalancer, PageRequest, TargetGroupDescription,
    TargetHealthDescription,
};

pub const VERSION: &str = "2015-12-01";
pub(crate) const XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

use super::query::{Params, X, leaf, members, strings};

fn num<T: std::str::FromStr>(p: &Params, k: &str) -> Result<Option<T>, ElbError> {
    p.num(k).map_err(ElbError::Validation)
}

fn ok(op: &str, result: Vec<X>, request_id: &str) -> Response {
    super::query::ok(XMLNS, op, &result, request_id)
}

/// The one place an ELBv2 error becomes HTTP.
pub fn error(code: &str, message: &str, server: bool, request_id: &str) -> Response {
    let status = if server {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    super::query::error(XMLNS, status, code, message, request_id)
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
        page_size: num(p, "PageSize")?,
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
                    port: num(p, "Port")?,
                    vpc_id: p.get("VpcId"),
                    target_type: p.get("TargetType"),
                    health_check_protocol: p.get("HealthCheckProtocol"),
                    health_check_port: p.get("HealthCheckPort"),
                    health_check_path: p.get("HealthCheckPath"),
                    health_check_interval: num(p, "HealthCheckIntervalSeconds")?,
                    health_check_timeout: num(p, "HealthCheckTimeoutSeconds")?,
                    healthy_threshold: num(p, "HealthyThresholdCount")?,
                    unhealthy_threshold: num(p, "UnhealthyThresholdCount")?,
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
                port: num(p, "Port")?,
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
