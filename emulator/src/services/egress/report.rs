//! The egress report: tasks' measured bytes, by class and by AWS service,
//! what they would cost through a NAT gateway, and what VPC endpoints
//! would save or cost at that volume, projected per month at the observed
//! rate. Pure: records, prices and the time in, the report out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::price::{self, Prices};
use super::{TaskTraffic, Traffic};

/// AWS bills data "per GB" in units of 2^30 bytes.
pub const BYTES_PER_GB: f64 = 1_073_741_824.0;
/// AWS's month for hourly charges.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Which tasks a report covers.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// A cluster name or ARN.
    pub cluster: Option<String>,
    /// A service name (its tasks' group is `service:<name>`).
    pub service: Option<String>,
    /// A task id or ARN.
    pub task: Option<String>,
}

impl Scope {
    fn matches(&self, t: &TaskTraffic) -> bool {
        let cluster_name = t.cluster_arn.rsplit('/').next().unwrap_or("");
        self.cluster
            .as_deref()
            .is_none_or(|c| c == t.cluster_arn || c == cluster_name)
            && self.service.as_deref().is_none_or(|s| {
                t.group.as_deref() == Some(&format!("service:{s}"))
                    || t.group.as_deref().and_then(|g| g.strip_prefix("service:")) == Some(s)
            })
            && self
                .task
                .as_deref()
                .is_none_or(|x| x == t.task_arn || x == t.task_id())
    }
}

/// What the report is priced with.
#[derive(Debug, Clone)]
pub struct Pricing {
    pub region: String,
    /// `serve --nat-price-per-gb`.
    pub nat_per_gb_override: Option<f64>,
    /// NAT gateways (and interface endpoint ENIs): one per AZ.
    pub azs: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceInfo {
    #[serde(flatten)]
    pub prices: Prices,
    pub source: &'static str,
    /// Whether the table has the region's own figures (else us-east-1's).
    pub region_listed: bool,
    pub nat_per_gb_overridden: bool,
    pub bytes_per_gb: f64,
    pub azs: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Class {
    /// `aws` (the task endpoint), `image` (pulls), `vpc`, `nat` (other).
    pub class: &'static str,
    pub sent: u64,
    pub received: u64,
    pub total: u64,
    /// Whether this traffic goes through the NAT gateway (without
    /// endpoints).
    pub via_nat: bool,
    /// `false` when no task in scope had the namespace's counters.
    pub measured: bool,
    pub nat_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRow {
    /// `s3`, `logs`, `ecr`, `sqs`, `secretsmanager`, `ssm`...
    pub service: String,
    pub sent: u64,
    pub received: u64,
    pub total: u64,
    pub nat_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Nat {
    pub bytes: u64,
    pub gb: f64,
    /// Processing charge for the measured bytes.
    pub processing: f64,
    pub processing_per_month: f64,
    /// The gateways' hourly charge for a month (all AZs).
    pub hourly_per_month: f64,
    pub total_per_month: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhatIf {
    pub endpoint: &'static str,
    /// `gateway` or `interface`.
    pub kind: &'static str,
    /// The services whose bytes it carries instead of the NAT gateway.
    pub services: Vec<&'static str>,
    /// Interface endpoints it takes (per AZ).
    pub endpoints: u32,
    pub bytes: u64,
    /// NAT processing no longer paid, at the measured volume.
    pub saves: f64,
    /// The endpoint's charges over the observed window.
    pub costs: f64,
    pub net: f64,
    pub saves_per_month: f64,
    pub costs_per_month: f64,
    pub net_per_month: f64,
    pub note: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRow {
    pub task_arn: String,
    pub cluster_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub started_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<f64>,
    pub aws: BTreeMap<String, Traffic>,
    pub awslogs: Traffic,
    pub awslogs_events: u64,
    pub images: Vec<super::ImagePull>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc: Option<Traffic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat: Option<Traffic>,
    pub nat_bytes: u64,
    pub nat_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    pub cluster_arn: String,
    /// The service's name; `None` for tasks run on their own.
    pub service: Option<String>,
    pub tasks: usize,
    pub nat_bytes: u64,
    pub nat_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub region: String,
    pub prices: PriceInfo,
    /// Epoch seconds: the first task's start to the last one's stop (or
    /// now, while one runs).
    pub window_start: f64,
    pub window_end: f64,
    pub window_hours: f64,
    pub task_count: usize,
    pub classes: Vec<Class>,
    pub services: Vec<ServiceRow>,
    pub nat: Nat,
    pub what_ifs: Vec<WhatIf>,
    pub groups: Vec<GroupRow>,
    pub tasks: Vec<TaskRow>,
}

/// The bytes of one task that would go through the NAT gateway.
fn nat_bytes(t: &TaskTraffic) -> u64 {
    t.aws.values().map(Traffic::total).sum::<u64>()
        + t.awslogs.total()
        + t.image_bytes()
        + t.nat.map(|n| n.total()).unwrap_or(0)
}

/// The interface endpoints the report weighs: name, services, endpoints
/// per AZ, whether its bytes pay the per-GB charge, note.
const INTERFACE: &[(&str, &[&str], u32, bool, &str)] = &[
    (
        "ecr (ecr.api + ecr.dkr)",
        &["ecr"],
        2,
        false,
        "image layers come from S3: free only with the S3 gateway endpoint as well",
    ),
    ("logs", &["logs"], 1, true, ""),
    ("sqs", &["sqs"], 1, true, ""),
    ("secretsmanager", &["secretsmanager"], 1, true, ""),
    ("ssm", &["ssm"], 1, true, ""),
    (
        "ssmmessages",
        &["ssmmessages"],
        1,
        true,
        "ECS Exec's sessions",
    ),
];

pub fn build(all: &[TaskTraffic], scope: &Scope, pricing: &Pricing, now: f64) -> Report {
    let tasks: Vec<&TaskTraffic> = all.iter().filter(|t| scope.matches(t)).collect();
    let (mut prices, listed) = price::for_region(&pricing.region);
    if let Some(p) = pricing.nat_per_gb_override {
        prices.nat_per_gb = p;
    }
    let azs = pricing.azs.max(1);
    let cost = |bytes: u64| bytes as f64 / BYTES_PER_GB * prices.nat_per_gb;

    let window_start = tasks
        .iter()
        .map(|t| t.started_at)
        .fold(f64::INFINITY, f64::min);
    let window_end = tasks
        .iter()
        .map(|t| t.stopped_at.unwrap_or(now))
        .fold(f64::NEG_INFINITY, f64::max);
    let (window_start, window_end) = if tasks.is_empty() {
        (now, now)
    } else {
        (window_start, window_end)
    };
    let window_hours = ((window_end - window_start) / 3600.0).max(0.0);
    // Per month at the observed rate; a window under a second is not a
    // rate worth projecting.
    let per_month = |x: f64| {
        if window_hours * 3600.0 < 1.0 {
            0.0
        } else {
            x / window_hours * HOURS_PER_MONTH
        }
    };

    let mut aws = Traffic::default();
    let mut image = 0u64;
    let mut vpc = Traffic::default();
    let mut nat = Traffic::default();
    let mut measured = false;
    let mut by_service: BTreeMap<String, Traffic> = BTreeMap::new();
    for t in &tasks {
        for (s, b) in &t.aws {
            aws.add(*b);
            by_service.entry(s.clone()).or_default().add(*b);
        }
        aws.add(t.awslogs);
        if t.awslogs.total() > 0 {
            by_service.entry("logs".into()).or_default().add(t.awslogs);
        }
        let img = t.image_bytes();
        image += img;
        if img > 0 {
            by_service.entry("ecr".into()).or_default().add(Traffic {
                sent: 0,
                received: img,
            });
        }
        if let (Some(v), Some(n)) = (t.vpc, t.nat) {
            measured = true;
            vpc.add(v);
            nat.add(n);
        }
    }
    let class = |class, t: Traffic, via_nat, measured| Class {
        class,
        sent: t.sent,
        received: t.received,
        total: t.total(),
        via_nat,
        measured,
        nat_cost: if via_nat { cost(t.total()) } else { 0.0 },
    };
    let classes = vec![
        class("aws", aws, true, true),
        class(
            "image",
            Traffic {
                sent: 0,
                received: image,
            },
            true,
            true,
        ),
        class("vpc", vpc, false, measured),
        class("nat", nat, true, measured),
    ];
    let services = by_service
        .iter()
        .map(|(s, t)| ServiceRow {
            service: s.clone(),
            sent: t.sent,
            received: t.received,
            total: t.total(),
            nat_cost: cost(t.total()),
        })
        .collect();

    let nat_total = aws.total() + image + nat.total();
    let processing = cost(nat_total);
    let hourly_per_month = prices.nat_per_hour * HOURS_PER_MONTH * azs as f64;
    let nat_row = Nat {
        bytes: nat_total,
        gb: nat_total as f64 / BYTES_PER_GB,
        processing,
        processing_per_month: per_month(processing),
        hourly_per_month,
        total_per_month: per_month(processing) + hourly_per_month,
    };

    let bytes_of = |names: &[&str]| -> u64 {
        names
            .iter()
            .filter_map(|n| by_service.get(*n))
            .map(Traffic::total)
            .sum()
    };
    let mut what_ifs = Vec::new();
    let s3 = bytes_of(&["s3"]);
    what_ifs.push(WhatIf {
        endpoint: "s3",
        kind: "gateway",
        services: vec!["s3"],
        endpoints: 0,
        bytes: s3,
        saves: cost(s3),
        costs: 0.0,
        net: cost(s3),
        saves_per_month: per_month(cost(s3)),
        costs_per_month: 0.0,
        net_per_month: per_month(cost(s3)),
        note: "a gateway endpoint has no charge",
    });
    for (name, services, n, per_gb, note) in INTERFACE {
        let bytes = bytes_of(services);
        let saves = cost(bytes);
        let data = if *per_gb {
            bytes as f64 / BYTES_PER_GB * prices.interface_endpoint_per_gb
        } else {
            0.0
        };
        let hourly = prices.interface_endpoint_per_hour * (*n * azs) as f64;
        let costs = hourly * window_hours + data;
        let costs_per_month = hourly * HOURS_PER_MONTH + per_month(data);
        what_ifs.push(WhatIf {
            endpoint: name,
            kind: "interface",
            services: services.to_vec(),
            endpoints: *n,
            bytes,
            saves,
            costs,
            net: saves - costs,
            saves_per_month: per_month(saves),
            costs_per_month,
            net_per_month: per_month(saves) - costs_per_month,
            note,
        });
    }

    let mut groups: BTreeMap<(String, Option<String>), GroupRow> = BTreeMap::new();
    let mut rows = Vec::new();
    for t in &tasks {
        let nb = nat_bytes(t);
        let service = t
            .group
            .as_deref()
            .and_then(|g| g.strip_prefix("service:"))
            .map(str::to_string);
        let g = groups
            .entry((t.cluster_arn.clone(), service.clone()))
            .or_insert_with(|| GroupRow {
                cluster_arn: t.cluster_arn.clone(),
                service,
                tasks: 0,
                nat_bytes: 0,
                nat_cost: 0.0,
            });
        g.tasks += 1;
        g.nat_bytes += nb;
        g.nat_cost += cost(nb);
        rows.push(TaskRow {
            task_arn: t.task_arn.clone(),
            cluster_arn: t.cluster_arn.clone(),
            group: t.group.clone(),
            started_at: t.started_at,
            stopped_at: t.stopped_at,
            aws: t.aws.clone(),
            awslogs: t.awslogs,
            awslogs_events: t.awslogs_events,
            images: t.images.clone(),
            vpc: t.vpc,
            nat: t.nat,
            nat_bytes: nb,
            nat_cost: cost(nb),
        });
    }

    Report {
        region: pricing.region.clone(),
        prices: PriceInfo {
            prices,
            source: price::SOURCE,
            region_listed: listed,
            nat_per_gb_overridden: pricing.nat_per_gb_override.is_some(),
            bytes_per_gb: BYTES_PER_GB,
            azs,
        },
        window_start,
        window_end,
        window_hours,
        task_count: tasks.len(),
        classes,
        services,
        nat: nat_row,
        what_ifs,
        groups: groups.into_values().collect(),
        tasks: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, group: Option<&str>) -> TaskTraffic {
        TaskTraffic {
            task_arn: format!("arn:aws:ecs:us-east-1:000000000000:task/c1/{id}"),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/c1".into(),
            group: group.map(str::to_string),
            region: "us-east-1".into(),
            started_at: 0.0,
            stopped_at: Some(3600.0),
            ..TaskTraffic::default()
        }
    }

    fn pricing() -> Pricing {
        Pricing {
            region: "us-east-1".into(),
            nat_per_gb_override: None,
            azs: 1,
        }
    }

    const GB: u64 = 1 << 30;

    #[test]
    fn classes_services_and_cost_per_gb() {
        let mut t = task("a", Some("service:web"));
        t.aws.insert(
            "s3".into(),
            Traffic {
                sent: GB,
                received: 0,
            },
        );
        t.awslogs = Traffic {
            sent: GB / 2,
            received: 0,
        };
        t.images.push(super::super::ImagePull {
            container: "app".into(),
            image: "busybox".into(),
            bytes: GB / 2,
        });
        t.vpc = Some(Traffic {
            sent: 5 * GB,
            received: 5 * GB,
        });
        t.nat = Some(Traffic {
            sent: 0,
            received: 2 * GB,
        });
        let r = build(&[t], &Scope::default(), &pricing(), 7200.0);
        // 1 (s3) + 0.5 (logs) + 0.5 (image) + 2 (other) GB; VPC is free.
        assert_eq!(r.nat.bytes, 4 * GB);
        assert!((r.nat.processing - 4.0 * 0.045).abs() < 1e-9);
        let vpc = r.classes.iter().find(|c| c.class == "vpc").unwrap();
        assert_eq!((vpc.total, vpc.nat_cost), (10 * GB, 0.0));
        let svc: Vec<&str> = r.services.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(svc, ["ecr", "logs", "s3"]);
        // One hour observed: a month is 730 of them.
        assert!((r.window_hours - 1.0).abs() < 1e-9);
        assert!((r.nat.processing_per_month - 4.0 * 0.045 * 730.0).abs() < 1e-6);
        let s3 = &r.what_ifs[0];
        assert_eq!((s3.endpoint, s3.bytes, s3.costs), ("s3", GB, 0.0));
        assert!((s3.saves - 0.045).abs() < 1e-9);
        let logs = r.what_ifs.iter().find(|w| w.endpoint == "logs").unwrap();
        // 0.5 GB saved at 0.045, paid 0.01/h for an hour + 0.5 GB at 0.01.
        assert!((logs.net - (0.5 * 0.045 - 0.01 - 0.5 * 0.01)).abs() < 1e-9);
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.groups[0].service.as_deref(), Some("web"));
    }

    #[test]
    fn scope_and_override() {
        let a = task("a", Some("service:web"));
        let mut b = task("b", None);
        b.nat = Some(Traffic {
            sent: GB,
            received: 0,
        });
        b.vpc = Some(Traffic::default());
        let all = [a, b];
        let only = |scope: Scope| build(&all, &scope, &pricing(), 0.0).task_count;
        assert_eq!(only(Scope::default()), 2);
        assert_eq!(
            only(Scope {
                service: Some("web".into()),
                ..Scope::default()
            }),
            1
        );
        assert_eq!(
            only(Scope {
                task: Some("b".into()),
                cluster: Some("c1".into()),
                ..Scope::default()
            }),
            1
        );
        assert_eq!(
            only(Scope {
                cluster: Some("other".into()),
                ..Scope::default()
            }),
            0
        );
        let p = Pricing {
            nat_per_gb_override: Some(0.1),
            ..pricing()
        };
        let r = build(&all, &Scope::default(), &p, 0.0);
        assert!((r.nat.processing - 0.1).abs() < 1e-9);
        assert!(r.prices.nat_per_gb_overridden);
    }
}
