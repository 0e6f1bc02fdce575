//! The infrastructure container's half of the egress lens: nftables
//! counters in the task's network namespace, by where a packet goes, and
//! the file the emulator reads them from.
//!
//! Two classes are counted, each both ways: `vpc` (the networks the task's
//! interfaces are on: other tasks, a `--subnet` network) and `nat`
//! (everything else, which on AWS would leave through the NAT gateway).
//! Loopback is not counted: the task endpoint (`169.254.170.2`, DNATed to
//! loopback) is metered by the emulator per AWS service instead. A
//! network's gateway is the Docker host, not a neighbour in the VPC, so
//! traffic to it (`host.docker.internal`, ports the host publishes) counts
//! as `nat`. Gateways are the default route's and, for the other
//! interfaces, the first address of their network (Docker's default).
//! IPv4 only: Docker's task networks are.
//!
//! The process writes the counters to [`COUNTERS_FILE`] in the task's
//! socket directory every [`WRITE_EVERY`], and at once when the emulator
//! leaves [`FLUSH_FILE`] there (it does when the task's containers have
//! stopped, to read the final figures).

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Set (to `on`) on the infrastructure container when the emulator wants
/// the counters (`serve --egress on`, the default).
pub const EGRESS_ENV: &str = "FARGATE_LOCAL_INFRA_EGRESS";
/// The counters, as JSON ([`Counters`]), in the task's socket directory.
pub const COUNTERS_FILE: &str = "egress.json";
/// Left by the emulator to ask for the counters now; removed once written.
pub const FLUSH_FILE: &str = "egress.flush";
/// How often the counters are written while the task runs.
pub const WRITE_EVERY: Duration = Duration::from_secs(2);
/// How often the process looks for [`FLUSH_FILE`].
const FLUSH_POLL: Duration = Duration::from_millis(50);
const TABLE: &str = "fargate_local_egress";
const NFT: &str = "/usr/sbin/nft";

/// Bytes and packets one way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub bytes: u64,
    pub packets: u64,
}

/// The namespace's counters: IP packet bytes (headers included), since
/// the rules were installed. `out` is what the task sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub vpc_out: Flow,
    pub vpc_in: Flow,
    pub nat_out: Flow,
    pub nat_in: Flow,
    /// The networks counted as inside the VPC, as CIDRs.
    pub vpc: Vec<String>,
    /// The addresses counted as outside although on those networks.
    pub gateways: Vec<String>,
}

/// The networks of a namespace and their gateways, from the text of
/// `/proc/net/route`: each directly connected network of an interface
/// other than `lo`, the default route's gateway, and the first address of
/// every connected network (Docker's gateway).
pub fn networks_from_routes(routes: &str) -> (Vec<(Ipv4Addr, u8)>, Vec<Ipv4Addr>) {
    let mut nets = Vec::new();
    let mut gateways = Vec::new();
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[0] == "lo" {
            continue;
        }
        // The kernel prints each address as its bytes in network order
        // read as a host-order (little-endian) number.
        let parse = |s: &str| {
            u32::from_str_radix(s, 16)
                .ok()
                .map(|n| u32::from_be_bytes(n.to_le_bytes()))
        };
        let (Some(dest), Some(gw), Some(mask)) = (parse(f[1]), parse(f[2]), parse(f[7])) else {
            continue;
        };
        if dest == 0 && mask == 0 {
            if gw != 0 {
                gateways.push(Ipv4Addr::from(gw));
            }
            continue;
        }
        if gw == 0 {
            let prefix = mask.count_ones() as u8;
            nets.push((Ipv4Addr::from(dest), prefix));
            if prefix < 31 {
                gateways.push(Ipv4Addr::from(dest + 1));
            }
        }
    }
    nets.sort();
    nets.dedup();
    gateways.sort();
    gateways.dedup();
    (nets, gateways)
}

/// The nftables table that counts: loopback is left alone, a gateway
/// counts as NAT, the VPC's networks as VPC, anything else as NAT.
pub fn rules(nets: &[(Ipv4Addr, u8)], gateways: &[Ipv4Addr]) -> String {
    let set = |name: &str, interval: bool, elements: Vec<String>| {
        let flags = if interval { " flags interval;" } else { "" };
        let elements = if elements.is_empty() {
            String::new()
        } else {
            format!(" elements = {{ {} }}", elements.join(", "))
        };
        format!("\tset {name} {{ type ipv4_addr;{flags}{elements} }}\n")
    };
    let mut t = format!("table ip {TABLE} {{\n");
    for c in ["vpc_out", "vpc_in", "nat_out", "nat_in"] {
        t.push_str(&format!("\tcounter {c} {{ }}\n"));
    }
    t.push_str(&set(
        "vpc",
        true,
        nets.iter().map(|(a, p)| format!("{a}/{p}")).collect(),
    ));
    t.push_str(&set(
        "gateways",
        false,
        gateways.iter().map(|a| a.to_string()).collect(),
    ));
    for (chain, hook, dir, addr, iface) in [
        ("output", "output", "out", "daddr", "oifname"),
        ("input", "input", "in", "saddr", "iifname"),
    ] {
        t.push_str(&format!(
            "\tchain {chain} {{\n\
             \t\ttype filter hook {hook} priority 0; policy accept;\n\
             \t\t{iface} \"lo\" accept\n\
             \t\tip {addr} @gateways counter name \"nat_{dir}\" accept\n\
             \t\tip {addr} @vpc counter name \"vpc_{dir}\" accept\n\
             \t\tcounter name \"nat_{dir}\"\n\
             \t}}\n"
        ));
    }
    t.push_str("}\n");
    t
}

/// Reads `nft -j list counters` output into the four flows.
pub fn parse_counters(json: &str) -> Option<[Flow; 4]> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let mut flows = [Flow::default(); 4];
    let mut seen = 0;
    for item in v.get("nftables")?.as_array()? {
        let Some(c) = item.get("counter") else {
            continue;
        };
        let i = match c.get("name")?.as_str()? {
            "vpc_out" => 0,
            "vpc_in" => 1,
            "nat_out" => 2,
            "nat_in" => 3,
            _ => continue,
        };
        flows[i] = Flow {
            bytes: c.get("bytes")?.as_u64()?,
            packets: c.get("packets")?.as_u64()?,
        };
        seen += 1;
    }
    (seen == 4).then_some(flows)
}

async fn nft(args: &[&str], stdin: Option<String>) -> Result<String, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(NFT)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {NFT}: {e}"))?;
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
        }
        drop(pipe);
    }
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Installs the counters and writes them to `dir` until the process ends.
/// Returns an error (and counts nothing) when the rules cannot be
/// installed; the emulator then reports the task's network traffic as not
/// measured.
pub async fn start(dir: &Path) -> Result<(), String> {
    let routes = std::fs::read_to_string("/proc/net/route").map_err(|e| e.to_string())?;
    let (nets, gateways) = networks_from_routes(&routes);
    nft(&["-f", "-"], Some(rules(&nets, &gateways))).await?;
    let base = Counters {
        vpc: nets.iter().map(|(a, p)| format!("{a}/{p}")).collect(),
        gateways: gateways.iter().map(|a| a.to_string()).collect(),
        ..Counters::default()
    };
    write(dir, &base).await;
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(FLUSH_POLL).await;
            let flush = dir.join(FLUSH_FILE);
            let asked = flush.exists();
            if asked || last.elapsed() >= WRITE_EVERY {
                write(&dir, &base).await;
                last = tokio::time::Instant::now();
                if asked {
                    let _ = std::fs::remove_file(&flush);
                }
            }
        }
    });
    Ok(())
}

async fn write(dir: &Path, base: &Counters) {
    let Ok(out) = nft(&["-j", "list", "counters", "table", "ip", TABLE], None).await else {
        return;
    };
    let Some([vpc_out, vpc_in, nat_out, nat_in]) = parse_counters(&out) else {
        return;
    };
    let c = Counters {
        vpc_out,
        vpc_in,
        nat_out,
        nat_in,
        ..base.clone()
    };
    let Ok(text) = serde_json::to_string(&c) else {
        return;
    };
    // Written whole, then renamed: the emulator never reads half of it.
    let tmp = dir.join(format!(".{COUNTERS_FILE}"));
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(COUNTERS_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
        eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
        lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n";

    #[test]
    fn networks_and_gateways_from_the_route_table() {
        let (nets, gws) = networks_from_routes(ROUTES);
        assert_eq!(
            nets,
            vec![
                (Ipv4Addr::new(172, 18, 0, 0), 16),
                (Ipv4Addr::new(192, 168, 0, 0), 24)
            ]
        );
        assert_eq!(
            gws,
            vec![Ipv4Addr::new(172, 18, 0, 1), Ipv4Addr::new(192, 168, 0, 1)]
        );
    }

    #[test]
    fn rules_name_both_sets_and_leave_loopback_alone() {
        let r = rules(
            &[(Ipv4Addr::new(10, 0, 0, 0), 8)],
            &[Ipv4Addr::new(10, 0, 0, 1)],
        );
        assert!(r.contains("elements = { 10.0.0.0/8 }"), "{r}");
        assert!(r.contains("elements = { 10.0.0.1 }"), "{r}");
        assert!(r.contains("oifname \"lo\" accept"), "{r}");
        assert!(
            r.contains("ip saddr @vpc counter name \"vpc_in\" accept"),
            "{r}"
        );
        // No networks: empty sets, everything counts as NAT.
        let r = rules(&[], &[]);
        assert!(
            r.contains("set vpc { type ipv4_addr; flags interval; }"),
            "{r}"
        );
    }

    #[test]
    fn parses_nft_json_counters() {
        let j = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
            {"counter": {"family": "ip", "name": "nat_in", "table": "t", "handle": 2, "packets": 3, "bytes": 1500}},
            {"counter": {"family": "ip", "name": "nat_out", "table": "t", "handle": 3, "packets": 2, "bytes": 120}},
            {"counter": {"family": "ip", "name": "vpc_in", "table": "t", "handle": 4, "packets": 0, "bytes": 0}},
            {"counter": {"family": "ip", "name": "vpc_out", "table": "t", "handle": 5, "packets": 1, "bytes": 60}}]}"#;
        let [vo, vi, no, ni] = parse_counters(j).unwrap();
        assert_eq!((vo.bytes, vi.bytes, no.bytes, ni.bytes), (60, 0, 120, 1500));
        assert_eq!(ni.packets, 3);
        assert_eq!(parse_counters(r#"{"nftables": []}"#), None);
        assert_eq!(parse_counters("not json"), None);
    }
}
