//! The ELBv2 resources as stored (load balancers, target groups with their
//! health check settings and attributes, listeners) and the requests and
//! answers of the operations, apart from their awsQuery wire form. Pure:
//! defaults and AWS's ranges for health checks, names, status matchers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{ElbError, validation};
use crate::domain::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    pub scheme: String,
    pub kind: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub ip_address_type: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub protocol: String,
    pub port: String,
    pub path: String,
    pub interval: u32,
    pub timeout: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub matcher: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub vpc_id: String,
    pub target_type: String,
    pub health: HealthCheck,
    pub attributes: BTreeMap<String, String>,
}

impl TargetGroup {
    /// `deregistration_delay.timeout_seconds` (default 300).
    pub fn deregistration_delay(&self) -> f64 {
        self.attributes
            .get("deregistration_delay.timeout_seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(300.0)
    }
}

/// The attributes every target group starts with.
pub(super) fn default_attributes(deregistration_delay: u32) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    attributes.insert(
        "deregistration_delay.timeout_seconds".into(),
        deregistration_delay.to_string(),
    );
    attributes.insert("stickiness.enabled".into(), "false".into());
    attributes.insert("load_balancing.algorithm.type".into(), "round_robin".into());
    attributes
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: String,
    pub target_group_arn: String,
}

/// Where every resource of the emulator is.
pub(super) const VPC_ID: &str = "vpc-0fargatelocal0000";

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A target group's health check settings, with AWS's defaults (HTTP on the
/// traffic port, path `/`, every 30 s, 5 s timeout, 5 successes to become
/// healthy, 2 failures to become unhealthy, code 200) and AWS's ranges.
pub fn health_check(req: &CreateTargetGroupRequest) -> Result<HealthCheck, ElbError> {
    let interval = req.health_check_interval.unwrap_or(30);
    let timeout = req.health_check_timeout.unwrap_or(5);
    if !(5..=300).contains(&interval) {
        return Err(validation(
            "Health check interval must be between 5 and 300 seconds",
        ));
    }
    if !(2..=120).contains(&timeout) || timeout >= interval {
        return Err(validation(
            "Health check timeout must be smaller than the interval",
        ));
    }
    let healthy = req.healthy_threshold.unwrap_or(5);
    let unhealthy = req.unhealthy_threshold.unwrap_or(2);
    if !(2..=10).contains(&healthy) || !(2..=10).contains(&unhealthy) {
        return Err(validation(
            "Health check thresholds must be between 2 and 10",
        ));
    }
    Ok(HealthCheck {
        protocol: req
            .health_check_protocol
            .clone()
            .unwrap_or_else(|| "HTTP".into()),
        port: req
            .health_check_port
            .clone()
            .unwrap_or_else(|| "traffic-port".into()),
        path: req.health_check_path.clone().unwrap_or_else(|| "/".into()),
        interval,
        timeout,
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        matcher: req.matcher.clone().unwrap_or_else(|| "200".into()),
    })
}

/// Whether an HTTP status matches a matcher ("200", "200-299", "200,302").
pub fn matches(matcher: &str, status: u16) -> bool {
    matcher
        .split(',')
        .map(str::trim)
        .any(|part| match part.split_once('-') {
            Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&status),
                _ => false,
            },
            None => part.parse::<u16>() == Ok(status),
        })
}

// ------------------------------------------------------------ requests

/// `Marker` and `PageSize` of the Describe operations.
#[derive(Debug, Default, Clone)]
pub struct PageRequest {
    pub marker: Option<String>,
    pub page_size: Option<i64>,
}

/// One page of a Describe operation, and the marker of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Described<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

#[derive(Debug, Default)]
pub struct CreateLoadBalancerRequest {
    pub name: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub scheme: Option<String>,
    pub kind: Option<String>,
    pub ip_address_type: Option<String>,
}

#[derive(Debug, Default)]
pub struct DescribeLoadBalancersRequest {
    pub arns: Vec<String>,
    pub names: Vec<String>,
    pub page: PageRequest,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct CreateTargetGroupRequest {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<u16>,
    pub vpc_id: Option<String>,
    pub target_type: Option<String>,
    pub health_check_protocol: Option<String>,
    pub health_check_port: Option<String>,
    pub health_check_path: Option<String>,
    pub health_check_interval: Option<u32>,
    pub health_check_timeout: Option<u32>,
    pub healthy_threshold: Option<u32>,
    pub unhealthy_threshold: Option<u32>,
    pub matcher: Option<String>,
}

#[derive(Debug, Default)]
pub struct DescribeTargetGroupsRequest {
    pub arns: Vec<String>,
    pub names: Vec<String>,
    pub load_balancer_arn: Option<String>,
    pub page: PageRequest,
}

/// A target group and the load balancers whose listeners forward to it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroupDescription {
    pub group: TargetGroup,
    pub load_balancer_arns: Vec<String>,
}

#[derive(Debug, Default)]
pub struct CreateListenerRequest {
    pub load_balancer_arn: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<u16>,
    /// The target group of the (single) forward default action.
    pub target_group_arn: Option<String>,
    pub action_type: Option<String>,
}

#[derive(Debug, Default)]
pub struct DescribeListenersRequest {
    pub load_balancer_arn: Option<String>,
    pub arns: Vec<String>,
    pub page: PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers() {
        let cases = [
            ("200", 200, true),
            ("200", 204, false),
            ("200-299", 204, true),
            ("200,302", 302, true),
            ("200, 302", 404, false),
        ];
        for (m, s, want) in cases {
            assert_eq!(matches(m, s), want, "{m} {s}");
        }
    }
}
