//! The infrastructure container's half of the egress lens: the bytes the
//! task's network namespace sent and received, by where they went, and
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
//! The bytes are the kernel's connection tracking accounting (IP packet
//! bytes, headers included, per connection and direction), which the
//! namespace keeps anyway for the endpoint's DNAT: an nftables rule that
//! reads `ct bytes` turns it on, and nothing is added to the packets' path.
//! (A rule counting each packet in the input and output hooks cost the
//! benchmark's download 5–10 % of its throughput.) Every [`WRITE_EVERY`]
//! the process reads the table over netlink (`runtime::conntrack`) and adds
//! what each connection moved since the last read to its class ([`Meter`]);
//! a connection stays in the table well after its last packet (120 s after
//! a TCP close, 10 s after a reset, 30 s for UDP), so each is read after it
//! has ended. It writes the totals to [`COUNTERS_FILE`] in the task's
//! socket directory then, and at once when the emulator leaves
//! [`FLUSH_FILE`] there (it does when the task's containers have stopped,
//! to read the final figures). The totals live in the process: the
//! infrastructure container lives as long as the task.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::conntrack::{self, Conn, Count};

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

/// The namespace's counters: IP packet bytes (headers included) of its
/// connections since accounting was turned on. `out` is what the task
/// sent.
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

/// What a destination address counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Vpc,
    Nat,
}

/// The whole IPv4 space cut into inclusive ranges by class, in order and
/// with no gap: the VPC's networks less their gateways are `Vpc`, the rest
/// (gateways included) `Nat`. Neighbouring ranges of one class are merged.
pub fn partition(
    nets: &[(Ipv4Addr, u8)],
    gateways: &[Ipv4Addr],
) -> Vec<(Ipv4Addr, Ipv4Addr, Class)> {
    // Inclusive ranges as u64, so that `end + 1` never overflows.
    let mut vpc: Vec<(u64, u64)> = nets
        .iter()
        .map(|(a, p)| {
            let mask = if *p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from((*p).min(32)))
            };
            let start = u64::from(u32::from(*a) & mask);
            (start, start + u64::from(!mask))
        })
        .collect();
    vpc.sort();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in vpc {
        match merged.last_mut() {
            Some(last) if s <= last.1 + 1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut holes: Vec<u64> = gateways.iter().map(|g| u64::from(u32::from(*g))).collect();
    holes.sort();
    holes.dedup();
    let mut cut = Vec::new();
    for (s, e) in merged {
        let mut from = s;
        for &h in holes.iter().filter(|&&h| h >= s && h <= e) {
            if h > from {
                cut.push((from, h - 1));
            }
            from = h + 1;
        }
        if from <= e {
            cut.push((from, e));
        }
    }
    let mut out: Vec<(u64, u64, Class)> = Vec::new();
    let mut push = |s: u64, e: u64, c: Class| match out.last_mut() {
        Some(last) if last.2 == c && last.1 + 1 == s => last.1 = e,
        _ => out.push((s, e, c)),
    };
    let mut next = 0u64;
    for (s, e) in cut {
        if s > next {
            push(next, s - 1, Class::Nat);
        }
        push(s, e, Class::Vpc);
        next = e + 1;
    }
    if next <= u64::from(u32::MAX) {
        push(next, u64::from(u32::MAX), Class::Nat);
    }
    let ip = |n: u64| Ipv4Addr::from(n as u32);
    out.into_iter().map(|(s, e, c)| (ip(s), ip(e), c)).collect()
}

/// The nftables table that turns connection tracking and its accounting
/// on in the namespace: the kernel does both for any rule reading `ct
/// bytes`, wherever it is. The chain has no hook, so no packet ever
/// passes it.
pub fn rules() -> String {
    format!(
        "table ip {TABLE} {{\n\
         \tchain accounting {{\n\
         \t\tct bytes 0 accept\n\
         \t}}\n\
         }}\n"
    )
}

/// The class of an address, from [`partition`]'s ranges.
fn class_of(ranges: &[(Ipv4Addr, Ipv4Addr, Class)], a: Ipv4Addr) -> Class {
    let i = ranges.partition_point(|(_, end, _)| *end < a);
    ranges.get(i).map_or(Class::Nat, |r| r.2)
}

/// The address at the other end of a connection, and whether the task
/// opened it; `None` for one that stays inside the namespace (loopback,
/// or an address of its own). A connection the task opened starts from
/// one of its addresses, and its answers come from the peer it reached
/// (after any DNAT); any other was opened by the peer.
fn peer(c: &Conn, local: &[Ipv4Addr]) -> Option<(Ipv4Addr, bool)> {
    let own = |a: Ipv4Addr| a.is_loopback() || local.contains(&a);
    if own(c.orig_src) {
        (!own(c.reply_src)).then_some((c.reply_src, true))
    } else {
        Some((c.orig_src, false))
    }
}

fn flow(c: Count) -> Flow {
    Flow {
        bytes: c.bytes,
        packets: c.packets,
    }
}

fn add(to: &mut Flow, f: Flow) {
    to.bytes += f.bytes;
    to.packets += f.packets;
}

/// A connection's counters when last read, and in how many reads since it
/// was missing.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    orig: Count,
    reply: Count,
    missed: u8,
}

/// How many reads in a row a connection may be missing from before it is
/// forgotten. A dump that runs while the table changes may leave an entry
/// out once (or give it twice); forgetting it at once would count all of
/// its bytes again when it is back.
const MISSED_READS_KEPT: u8 = 3;

/// Sums the connections' counters by class, across reads of the table.
pub struct Meter {
    ranges: Vec<(Ipv4Addr, Ipv4Addr, Class)>,
    local: Vec<Ipv4Addr>,
    /// Each connection's counters at the last read that had it, by its id
    /// and original addresses.
    seen: HashMap<(u32, Ipv4Addr, Ipv4Addr), Seen>,
    /// vpc_out, vpc_in, nat_out, nat_in.
    totals: [Flow; 4],
}

impl Meter {
    /// `local`: the namespace's own addresses (besides loopback).
    pub fn new(nets: &[(Ipv4Addr, u8)], gateways: &[Ipv4Addr], local: Vec<Ipv4Addr>) -> Meter {
        Meter {
            ranges: partition(nets, gateways),
            local,
            seen: HashMap::new(),
            totals: [Flow::default(); 4],
        }
    }

    /// Adds what each connection of a read of the table moved since the
    /// read that had it. A connection gone from the table had been
    /// counted to its last read; one whose counters went down is a new
    /// connection that took an old one's id; one given twice in a read
    /// counts once.
    pub fn update(&mut self, conns: &[Conn]) {
        let mut seen = HashMap::with_capacity(conns.len());
        for c in conns {
            let Some((addr, opened)) = peer(c, &self.local) else {
                continue;
            };
            let key = (c.id, c.orig_src, c.orig_dst);
            if seen.contains_key(&key) {
                continue;
            }
            let before = self.seen.remove(&key).unwrap_or_default();
            let (po, pr) = (before.orig, before.reply);
            let delta = |now: Count, before: Count| {
                if now.bytes >= before.bytes && now.packets >= before.packets {
                    Flow {
                        bytes: now.bytes - before.bytes,
                        packets: now.packets - before.packets,
                    }
                } else {
                    flow(now)
                }
            };
            let (sent, received) = if opened {
                (delta(c.orig, po), delta(c.reply, pr))
            } else {
                (delta(c.reply, pr), delta(c.orig, po))
            };
            let (out, inn) = match class_of(&self.ranges, addr) {
                Class::Vpc => (0, 1),
                Class::Nat => (2, 3),
            };
            add(&mut self.totals[out], sent);
            add(&mut self.totals[inn], received);
            seen.insert(
                key,
                Seen {
                    orig: c.orig,
                    reply: c.reply,
                    missed: 0,
                },
            );
        }
        for (key, mut s) in self.seen.drain() {
            if s.missed < MISSED_READS_KEPT {
                s.missed += 1;
                seen.insert(key, s);
            }
        }
        self.seen = seen;
    }

    /// vpc_out, vpc_in, nat_out, nat_in.
    pub fn totals(&self) -> [Flow; 4] {
        self.totals
    }
}

/// The namespace's own IPv4 addresses.
fn local_addresses() -> Vec<Ipv4Addr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut v: Vec<Ipv4Addr> = addrs
        .filter_map(|i| i.address?.as_sockaddr_in().map(|s| s.ip()))
        .collect();
    v.sort();
    v.dedup();
    v
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

/// Turns the accounting on and writes the counters to `dir` until the
/// process ends. Returns an error (and counts nothing) when it cannot; the
/// emulator then reports the task's network traffic as not measured.
pub async fn start(dir: &Path) -> Result<(), String> {
    let routes = std::fs::read_to_string("/proc/net/route").map_err(|e| e.to_string())?;
    let (nets, gateways) = networks_from_routes(&routes);
    nft(&["-f", "-"], Some(rules())).await?;
    let acct = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_acct")
        .map_err(|e| format!("connection tracking is not available: {e}"))?;
    if acct.trim() != "1" {
        return Err("connection tracking accounting did not turn on".into());
    }
    let mut meter = Meter::new(&nets, &gateways, local_addresses());
    read(&mut meter).await?;
    let base = Counters {
        vpc: nets.iter().map(|(a, p)| format!("{a}/{p}")).collect(),
        gateways: gateways.iter().map(|a| a.to_string()).collect(),
        ..Counters::default()
    };
    write(dir, &base, &meter);
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(FLUSH_POLL).await;
            let flush = dir.join(FLUSH_FILE);
            let asked = flush.exists();
            if asked || last.elapsed() >= WRITE_EVERY {
                if let Err(e) = read(&mut meter).await {
                    eprintln!("fargate-local infra: reading the egress counters: {e}");
                }
                write(&dir, &base, &meter);
                last = tokio::time::Instant::now();
                if asked {
                    let _ = std::fs::remove_file(&flush);
                }
            }
        }
    });
    Ok(())
}

/// One read of the table into the meter (off the runtime's thread: it
/// blocks on the netlink socket).
async fn read(meter: &mut Meter) -> Result<(), String> {
    let conns = tokio::task::spawn_blocking(conntrack::dump)
        .await
        .map_err(|e| e.to_string())??;
    meter.update(&conns);
    Ok(())
}

fn write(dir: &Path, base: &Counters, meter: &Meter) {
    let [vpc_out, vpc_in, nat_out, nat_in] = meter.totals();
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

    fn check(nets: &[(&str, u8)], gateways: &[&str], expected: &[(&str, &str, Class)]) {
        let nets: Vec<(Ipv4Addr, u8)> =
            nets.iter().map(|(a, p)| (a.parse().unwrap(), *p)).collect();
        let gws: Vec<Ipv4Addr> = gateways.iter().map(|a| a.parse().unwrap()).collect();
        let got: Vec<(String, String, Class)> = partition(&nets, &gws)
            .into_iter()
            .map(|(s, e, c)| (s.to_string(), e.to_string(), c))
            .collect();
        let want: Vec<(String, String, Class)> = expected
            .iter()
            .map(|(s, e, c)| (s.to_string(), e.to_string(), *c))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn the_address_space_is_cut_by_class() {
        use Class::{Nat, Vpc};
        // No networks: everything counts as NAT.
        check(&[], &[], &[("0.0.0.0", "255.255.255.255", Nat)]);
        // A network less its gateway.
        check(
            &[("172.18.0.0", 16)],
            &["172.18.0.1"],
            &[
                ("0.0.0.0", "172.17.255.255", Nat),
                ("172.18.0.0", "172.18.0.0", Vpc),
                ("172.18.0.1", "172.18.0.1", Nat),
                ("172.18.0.2", "172.18.255.255", Vpc),
                ("172.19.0.0", "255.255.255.255", Nat),
            ],
        );
        // Two networks, overlapping and adjacent ones merged, a gateway
        // outside them ignored, a gateway at a network's edge, the space's
        // ends reached.
        check(
            &[
                ("10.0.0.0", 8),
                ("10.1.0.0", 16),
                ("11.0.0.0", 8),
                ("255.255.255.0", 24),
            ],
            &["9.9.9.9", "11.255.255.255", "255.255.255.0"],
            &[
                ("0.0.0.0", "9.255.255.255", Nat),
                ("10.0.0.0", "11.255.255.254", Vpc),
                ("11.255.255.255", "255.255.255.0", Nat),
                ("255.255.255.1", "255.255.255.255", Vpc),
            ],
        );
        // A /0 VPC (nothing outside but the gateway).
        check(
            &[("0.0.0.0", 0)],
            &["0.0.0.0"],
            &[
                ("0.0.0.0", "0.0.0.0", Nat),
                ("0.0.0.1", "255.255.255.255", Vpc),
            ],
        );
    }

    #[test]
    fn the_rule_only_turns_accounting_on() {
        let r = rules();
        assert!(r.contains("ct bytes"), "{r}");
        // No base chain: no packet passes the table.
        assert!(!r.contains("hook"), "{r}");
    }

    fn conn(id: u32, src: [u8; 4], dst: [u8; 4], reply_src: [u8; 4], o: u64, r: u64) -> Conn {
        let count = |bytes: u64| Count {
            bytes,
            packets: bytes / 100,
        };
        conntrack::tests::test_conn(id, [src, dst, reply_src], count(o), count(r))
    }

    fn bytes(m: &Meter) -> [u64; 4] {
        m.totals().map(|f| f.bytes)
    }

    #[test]
    fn the_meter_sums_connections_by_class_across_reads() {
        const ME: [u8; 4] = [172, 18, 0, 5];
        let mut m = Meter::new(
            &[(Ipv4Addr::new(172, 18, 0, 0), 16)],
            &[Ipv4Addr::new(172, 18, 0, 1)],
            vec![Ipv4Addr::from(ME)],
        );
        let read1 = [
            // A download the task opened, through the host (NAT).
            conn(1, ME, [172, 17, 0, 1], [172, 17, 0, 1], 300, 100_000),
            // Another task's request to this one (VPC): it sent 200.
            conn(2, [172, 18, 0, 9], ME, [172, 18, 0, 9], 50, 200),
            // The task endpoint, DNATed to loopback, and loopback itself.
            conn(3, ME, [169, 254, 170, 2], [127, 0, 0, 1], 70, 80),
            conn(4, [127, 0, 0, 1], [127, 0, 0, 1], [127, 0, 0, 1], 70, 80),
            // The gateway (a port the host publishes) is NAT.
            conn(5, [172, 18, 0, 1], ME, [172, 18, 0, 1], 10, 20),
        ];
        m.update(&read1);
        assert_eq!(bytes(&m), [200, 50, 300 + 20, 100_000 + 10]);
        assert_eq!(m.totals()[3].packets, 1_000);
        // The download goes on, the request is gone (counted to its last
        // read), and a new connection took id 1's place with smaller
        // counters after the first one ended.
        let read2 = [
            conn(1, ME, [172, 17, 0, 1], [172, 17, 0, 1], 400, 150_000),
            conn(5, [172, 18, 0, 1], ME, [172, 18, 0, 1], 10, 20),
            conn(6, ME, [172, 18, 0, 7], [172, 18, 0, 7], 1_000, 2_000),
        ];
        m.update(&read2);
        assert_eq!(bytes(&m), [1_200, 2_050, 420, 150_010]);
        let read3 = [conn(1, ME, [172, 17, 0, 1], [172, 17, 0, 1], 5, 7)];
        m.update(&read3);
        assert_eq!(bytes(&m), [1_200, 2_050, 425, 150_017]);
        // The same read again adds nothing.
        m.update(&read3);
        assert_eq!(bytes(&m), [1_200, 2_050, 425, 150_017]);
    }

    #[test]
    fn a_connection_a_dump_left_out_or_gave_twice_counts_once() {
        const ME: [u8; 4] = [10, 0, 0, 5];
        let mut m = Meter::new(&[], &[], vec![Ipv4Addr::from(ME)]);
        let at = |o, r| conn(1, ME, [8, 8, 8, 8], [8, 8, 8, 8], o, r);
        // Given twice in one read.
        m.update(&[at(100, 1_000), at(100, 1_000)]);
        assert_eq!(bytes(&m), [0, 0, 100, 1_000]);
        // Left out of two reads, then back.
        m.update(&[]);
        m.update(&[]);
        m.update(&[at(150, 3_000)]);
        assert_eq!(bytes(&m), [0, 0, 150, 3_000]);
        // Gone for longer than that: forgotten, so its id's next
        // connection counts from nothing.
        for _ in 0..=MISSED_READS_KEPT {
            m.update(&[]);
        }
        m.update(&[at(10, 20)]);
        assert_eq!(bytes(&m), [0, 0, 160, 3_020]);
    }

    #[test]
    fn addresses_find_their_class() {
        let ranges = partition(
            &[(Ipv4Addr::new(10, 0, 0, 0), 8)],
            &[Ipv4Addr::new(10, 0, 0, 1)],
        );
        for (a, c) in [
            ("0.0.0.0", Class::Nat),
            ("9.255.255.255", Class::Nat),
            ("10.0.0.0", Class::Vpc),
            ("10.0.0.1", Class::Nat),
            ("10.0.0.2", Class::Vpc),
            ("10.255.255.255", Class::Vpc),
            ("11.0.0.0", Class::Nat),
            ("255.255.255.255", Class::Nat),
        ] {
            assert_eq!(class_of(&ranges, a.parse().unwrap()), c, "{a}");
        }
    }
}
