//! `fargate-local egress`: a client of a running emulator's
//! `GET /_fargate-local/egress`, printing the report as tables (or the JSON
//! as served). It reads only the answer's JSON, so it prints what any other
//! client of the endpoint would see.

use serde_json::Value;

/// `fargate-local egress`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct EgressArgs {
    /// The emulator's endpoint.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub endpoint_url: String,
    /// Only the tasks of this cluster (name or ARN).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only the tasks of this service.
    #[arg(long, conflicts_with = "task")]
    pub service: Option<String>,
    /// Only this task (id or ARN).
    #[arg(long)]
    pub task: Option<String>,
    /// Availability zones: one NAT gateway, and one of each interface
    /// endpoint, per AZ.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub azs: u32,
    /// Print the endpoint's JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command; the exit code.
pub async fn run(args: EgressArgs) -> anyhow::Result<i32> {
    use http_body_util::{BodyExt, Empty};
    let authority = args
        .endpoint_url
        .strip_prefix("http://")
        .ok_or_else(|| {
            anyhow::anyhow!("the endpoint must be an http:// URL: {}", args.endpoint_url)
        })?
        .trim_end_matches('/')
        .to_string();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("cluster", &args.cluster),
        ("service", &args.service),
        ("task", &args.task),
    ] {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    query.append_pair("azs", &args.azs.to_string());
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the emulator at {authority}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("/_fargate-local/egress?{}", query.finish()))
        .header("host", &authority)
        .body(Empty::<bytes::Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        eprintln!("fargate-local egress: {status}: {text}");
        return Ok(1);
    }
    if args.json {
        println!("{text}");
        return Ok(0);
    }
    let report: Value = serde_json::from_str(&text)?;
    print!("{}", render(&report));
    Ok(0)
}

fn bytes(v: &Value) -> String {
    let n = v.as_u64().unwrap_or(0) as f64;
    let (unit, div) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .into_iter()
        .find(|(_, d)| n >= *d as f64)
        .unwrap_or(("B", 1));
    if div == 1 {
        format!("{n} B")
    } else {
        format!("{:.2} {unit}", n / div as f64)
    }
}

fn usd(v: &Value) -> String {
    let x = v.as_f64().unwrap_or(0.0);
    if x != 0.0 && x.abs() < 0.01 {
        format!("${x:.6}")
    } else {
        format!("${x:.2}")
    }
}

/// The report as text tables.
pub fn render(r: &Value) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let p = &r["prices"];
    let _ = writeln!(
        o,
        "{} task(s) over {:.2} h, region {}: NAT ${:.3}/GB{} and ${:.3}/h per AZ, {} AZ(s)",
        r["taskCount"],
        r["windowHours"].as_f64().unwrap_or(0.0),
        r["region"].as_str().unwrap_or(""),
        p["natPerGb"].as_f64().unwrap_or(0.0),
        if p["natPerGbOverridden"] == true {
            " (--nat-price-per-gb)"
        } else {
            ""
        },
        p["natPerHour"].as_f64().unwrap_or(0.0),
        p["azs"]
    );
    let _ = writeln!(
        o,
        "\n{:<10} {:>12} {:>12} {:>12}  {:>12}",
        "CLASS", "SENT", "RECEIVED", "TOTAL", "NAT COST"
    );
    for c in r["classes"].as_array().into_iter().flatten() {
        let label = match c["class"].as_str().unwrap_or("") {
            "aws" => "aws apis",
            "image" => "images",
            "vpc" => "vpc",
            "nat" => "other",
            x => x,
        };
        let cost = if c["viaNat"] == true {
            usd(&c["natCost"])
        } else {
            "free (VPC)".into()
        };
        let note = if c["measured"] == false {
            "  (not measured)"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "{:<10} {:>12} {:>12} {:>12}  {:>12}{note}",
            label,
            bytes(&c["sent"]),
            bytes(&c["received"]),
            bytes(&c["total"]),
            cost
        );
    }
    let _ = writeln!(
        o,
        "\n{:<16} {:>12} {:>12} {:>12}  {:>12}",
        "SERVICE", "SENT", "RECEIVED", "TOTAL", "NAT COST"
    );
    for s in r["services"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:<16} {:>12} {:>12} {:>12}  {:>12}",
            s["service"].as_str().unwrap_or(""),
            bytes(&s["sent"]),
            bytes(&s["received"]),
            bytes(&s["total"]),
            usd(&s["natCost"])
        );
    }
    let n = &r["nat"];
    let _ = writeln!(
        o,
        "\nthrough the NAT gateway: {} ({}); per month at this rate: {} processing + {} hourly = {}",
        bytes(&n["bytes"]),
        usd(&n["processing"]),
        usd(&n["processingPerMonth"]),
        usd(&n["hourlyPerMonth"]),
        usd(&n["totalPerMonth"])
    );
    let _ = writeln!(
        o,
        "\n{:<26} {:>12} {:>12} {:>12}  {:>14} {:>14}",
        "WITH ENDPOINT", "BYTES", "SAVES", "COSTS", "NET / MONTH", ""
    );
    for w in r["whatIfs"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:<26} {:>12} {:>12} {:>12}  {:>14} {}",
            format!(
                "{} ({})",
                w["endpoint"].as_str().unwrap_or(""),
                w["kind"].as_str().unwrap_or("")
            ),
            bytes(&w["bytes"]),
            usd(&w["saves"]),
            usd(&w["costs"]),
            usd(&w["netPerMonth"]),
            w["note"].as_str().unwrap_or("")
        );
    }
    if let Some(groups) = r["groups"].as_array().filter(|g| !g.is_empty()) {
        let _ = writeln!(
            o,
            "\n{:<40} {:>6} {:>12}  {:>12}",
            "CLUSTER / SERVICE", "TASKS", "NAT BYTES", "NAT COST"
        );
        for g in groups {
            let cluster = g["clusterArn"]
                .as_str()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or("");
            let _ = writeln!(
                o,
                "{:<40} {:>6} {:>12}  {:>12}",
                format!(
                    "{cluster} / {}",
                    g["service"].as_str().unwrap_or("(run-task)")
                ),
                g["tasks"],
                bytes(&g["natBytes"]),
                usd(&g["natCost"])
            );
        }
    }
    let _ = writeln!(o, "\nprices: {}", p["source"].as_str().unwrap_or(""));
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_report() {
        let all = vec![super::super::TaskTraffic {
            task_arn: "arn:aws:ecs:us-east-1:0:task/c1/t1".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:0:cluster/c1".into(),
            group: Some("service:web".into()),
            started_at: 0.0,
            stopped_at: Some(60.0),
            nat: Some(super::super::Traffic {
                sent: 0,
                received: 3 << 20,
            }),
            vpc: Some(super::super::Traffic::default()),
            ..Default::default()
        }];
        let r = super::super::report::build(
            &all,
            &Default::default(),
            &super::super::report::Pricing {
                region: "ap-northeast-1".into(),
                nat_per_gb_override: None,
                azs: 2,
            },
            60.0,
        );
        let text = super::render(&serde_json::to_value(&r).unwrap());
        assert!(
            text.contains("region ap-northeast-1: NAT $0.062/GB"),
            "{text}"
        );
        assert!(text.contains("3.00 MiB"), "{text}");
        assert!(text.contains("c1 / web"), "{text}");
        assert!(text.contains("free (VPC)"), "{text}");
    }
}
