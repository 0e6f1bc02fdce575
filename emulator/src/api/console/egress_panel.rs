//! The egress panel of the task page (`templates/_egress.html`): the
//! task's row of the egress report (`services::egress::report`), as the
//! template shows it. Kept apart from the other pages' views.

use serde_json::{Value, json};

use crate::services::egress::TaskTraffic;
use crate::services::egress::report::{self, Pricing, Scope};

/// The panel's data, or `None` when no traffic was recorded for the task.
pub fn panel(
    all: &[TaskTraffic],
    task_arn: &str,
    region: &str,
    nat_per_gb_override: Option<f64>,
) -> Option<Value> {
    if !all.iter().any(|t| t.task_arn == task_arn) {
        return None;
    }
    let scope = Scope {
        task: Some(task_arn.to_string()),
        ..Scope::default()
    };
    let pricing = Pricing {
        region: region.to_string(),
        nat_per_gb_override,
        azs: 1,
    };
    // The processing charge does not depend on the time.
    let r = report::build(all, &scope, &pricing, 0.0);
    Some(json!({
        "services": r.services,
        "classes": r.classes,
        "nat_bytes": r.nat.bytes,
        "nat_cost": format!("{:.6}", r.nat.processing),
        "nat_per_gb": r.prices.prices.nat_per_gb,
        "region": r.region,
    }))
}

#[cfg(test)]
mod tests {
    use crate::services::egress::{TaskTraffic, Traffic};

    #[test]
    fn the_task_page_shows_its_traffic_and_nat_cost() {
        let arn = "arn:aws:ecs:us-east-1:000000000000:task/demo/t1";
        let mut t = TaskTraffic {
            task_arn: arn.into(),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/demo".into(),
            region: "us-east-1".into(),
            vpc: Some(Traffic {
                sent: 7,
                received: 8,
            }),
            nat: Some(Traffic {
                sent: 1000,
                received: 1 << 30,
            }),
            ..TaskTraffic::default()
        };
        t.aws.insert(
            "s3".into(),
            Traffic {
                sent: 5000,
                received: 300,
            },
        );
        let egress = super::panel(&[t], arn, "us-east-1", None);
        let html = crate::api::console::render::page(
            "_egress.html",
            "us-east-1",
            minijinja::context! { egress => egress, task => minijinja::context! { id => "t1" } },
        )
        .unwrap();
        for want in [
            "<span class=\"mono\">s3</span></td><td>5000</td><td>300</td>",
            "Inside the VPC",
            "Other (outside the VPC)",
            &format!("<strong>{}</strong> bytes", 1000 + (1u64 << 30) + 5300),
            "at $0.045/GB (us-east-1)",
            "fargate-local egress --task t1",
        ] {
            assert!(html.contains(want), "{want} missing from {html}");
        }
        let none = super::panel(&[], arn, "us-east-1", None);
        let html = crate::api::console::render::page(
            "_egress.html",
            "us-east-1",
            minijinja::context! { egress => none, task => minijinja::context! { id => "t1" } },
        )
        .unwrap();
        assert!(html.contains("No traffic recorded"), "{html}");
    }
}
