//! The DNS server of a task, run by its infrastructure container
//! (`fargate-local infra`) in place of the VPC resolver's Route 53 private
//! hosted zones: it answers the names of the region's Cloud Map DNS
//! namespaces (A, AAAA, CNAME and SRV record sets, and the `<instanceId>.`
//! A records SRV targets need) from a table the emulator builds from Cloud
//! Map (`services::servicediscovery::dns_table`), and forwards every other
//! query, unchanged, to the nameserver the container was given (Docker's
//! embedded DNS, 127.0.0.11), so container names, compose services and
//! aliases of the task's networks resolve as before. The task's
//! `/etc/resolv.conf` (the infrastructure container's, which every container
//! of the task shares) names [`NAMESERVER`]; an nftables rule sends its
//! port 53 to [`LOOPBACK_PORT`], so an application may still listen on
//! port 53 itself. The table is learnt by long-polling the task's metadata
//! socket, as the Service Connect table is.
//!
//! Left out: DNSSEC, zone transfers, the apex's NS and SOA answers (the
//! SOA is only sent in the authority section of negative answers), and
//! weighted routing with unequal weights (Cloud Map has none).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// The path of the table on the task's metadata socket; `?version=<v>`
/// waits until the table's version differs from `v`.
pub const TABLE_PATH: &str = "/fargate-local/dns";
/// The nameserver the task's `/etc/resolv.conf` names.
pub const NAMESERVER: &str = "127.0.0.53";
/// Where the server listens; port 53 of [`NAMESERVER`] is redirected here.
pub const LOOPBACK_PORT: u16 = 51653;
/// Route 53 answers at most 8 records of a multivalue answer.
const MULTIVALUE_MAX: usize = 8;
/// How long a forwarded query may wait for the upstream's answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest UDP answer to a query without EDNS (RFC 1035).
const UDP_PLAIN_MAX: usize = 512;

/// What the emulator tells a task's DNS server: every Cloud Map DNS
/// namespace of the task's region with its record sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub zones: Vec<Zone>,
}

/// One namespace: its name (lowercase, no trailing dot), its SOA TTL, and
/// its record sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    pub name: String,
    pub soa_ttl: u32,
    pub record_sets: Vec<RecordSet>,
}

/// The records of one name and type, as Route 53 holds them for Cloud
/// Map: `values` are an address (A, AAAA), a name (CNAME) or
/// `priority weight port target` (SRV). `one` answers one value chosen at
/// random (the WEIGHTED routing policy), else up to 8 (MULTIVALUE).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordSet {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ttl: u32,
    #[serde(default)]
    pub one: bool,
    pub values: Vec<String>,
}

/// What to do with a query.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// The answer, encoded.
    Answer(Vec<u8>),
    /// Not a name of a namespace: ask the upstream.
    Forward,
}

fn fqdn(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()
}

/// One value of a record set as a record, or none if it does not parse.
fn record(set: &RecordSet, value: &str) -> Option<Record> {
    let name = fqdn(&set.name)?;
    let rdata = match set.kind.as_str() {
        "A" => RData::A(A(value.parse().ok()?)),
        "AAAA" => RData::AAAA(AAAA(value.parse().ok()?)),
        "CNAME" => RData::CNAME(CNAME(fqdn(value)?)),
        "SRV" => {
            let mut p = value.split_whitespace();
            let priority = p.next()?.parse().ok()?;
            let weight = p.next()?.parse().ok()?;
            let port = p.next()?.parse().ok()?;
            RData::SRV(SRV::new(priority, weight, port, fqdn(p.next()?)?))
        }
        _ => return None,
    };
    Some(Record::from_rdata(name, set.ttl, rdata))
}

/// The SOA Route 53 gives a hosted zone, for negative answers.
fn soa(zone: &Zone) -> Option<Record> {
    let rdata = SOA::new(
        Name::from_ascii("ns-1536.awsdns-00.co.uk.").ok()?,
        Name::from_ascii("awsdns-hostmaster.amazon.com.").ok()?,
        1,
        7200,
        900,
        1_209_600,
        86_400,
    );
    Some(Record::from_rdata(
        fqdn(&zone.name)?,
        zone.soa_ttl,
        RData::SOA(rdata),
    ))
}

/// The values a record set answers with this time: one at random, or up
/// to 8 in random order.
fn pick<'a>(set: &'a RecordSet, rng: &mut impl Rng) -> Vec<&'a String> {
    let mut values: Vec<&String> = set.values.iter().collect();
    values.shuffle(rng);
    values.truncate(if set.one { 1 } else { MULTIVALUE_MAX });
    values
}

/// The zone a name belongs to: the longest namespace name it ends with.
fn zone_of<'a>(table: &'a Table, name: &str) -> Option<&'a Zone> {
    table
        .zones
        .iter()
        .filter(|z| name == z.name || name.ends_with(&format!(".{}", z.name)))
        .max_by_key(|z| z.name.len())
}

/// Answers `query` from the table when it asks for a name of one of its
/// namespaces, as Route 53 would: the record sets of that name and type;
/// NOERROR with no answer for a name that exists with other types (or has
/// names below it); NXDOMAIN for any other name of the namespace. A UDP
/// answer larger than the client takes is truncated, for a retry over TCP.
pub fn answer(table: &Table, query: &[u8], udp: bool, rng: &mut impl Rng) -> Reply {
    let Ok(req) = Message::from_vec(query) else {
        return Reply::Forward;
    };
    if req.metadata.message_type != MessageType::Query
        || req.metadata.op_code != OpCode::Query
        || req.queries.len() != 1
    {
        return Reply::Forward;
    }
    let q = &req.queries[0];
    let qname = q.name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let Some(zone) = zone_of(table, &qname) else {
        return Reply::Forward;
    };
    let mut resp = Message::response(req.metadata.id, OpCode::Query);
    resp.metadata = hickory_proto::op::Metadata::response_from_request(&req.metadata);
    resp.metadata.authoritative = true;
    resp.metadata.recursion_available = true;
    resp.add_query(q.clone());
    let sets: Vec<&RecordSet> = zone
        .record_sets
        .iter()
        .filter(|s| s.name == qname)
        .collect();
    let qtype = q.query_type;
    for set in &sets {
        let matches = qtype == RecordType::ANY
            || set.kind == "CNAME"
            || set.kind.parse::<RecordType>().ok() == Some(qtype);
        if matches {
            for v in pick(set, rng) {
                if let Some(r) = record(set, v) {
                    resp.add_answer(r);
                }
            }
        }
    }
    if resp.answers.is_empty() {
        let below = format!(".{qname}");
        let exists = !sets.is_empty()
            || qname == zone.name
            || zone.record_sets.iter().any(|s| s.name.ends_with(&below));
        if !exists {
            resp.metadata.response_code = ResponseCode::NXDomain;
        }
        if let Some(s) = soa(zone) {
            resp.add_authority(s);
        }
    }
    let limit = match &req.edns {
        Some(e) => {
            let mut edns = Edns::new();
            edns.set_max_payload(e.max_payload().max(UDP_PLAIN_MAX as u16));
            resp.set_edns(edns);
            e.max_payload().max(UDP_PLAIN_MAX as u16) as usize
        }
        None => UDP_PLAIN_MAX,
    };
    let Ok(mut bytes) = resp.to_vec() else {
        return Reply::Forward;
    };
    if udp
        && bytes.len() > limit
        && let Ok(b) = resp.truncate().to_vec()
    {
        bytes = b;
    }
    Reply::Answer(bytes)
}

/// The first nameserver of a `resolv.conf`, which queries the table does
/// not answer go to.
pub fn upstream_of(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver"))
            .then(|| w.next())
            .flatten()
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// `resolv.conf` with [`NAMESERVER`] in place of its nameservers (where
/// the first one was), its search domains and options kept.
pub fn pointed_at_us(resolv_conf: &str) -> String {
    let mut out = String::new();
    let mut placed = false;
    for l in resolv_conf.lines() {
        if l.split_whitespace().next() == Some("nameserver") {
            if !placed {
                out.push_str(&format!("nameserver {NAMESERVER}\n"));
                placed = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !placed {
        out.insert_str(0, &format!("nameserver {NAMESERVER}\n"));
    }
    out
}

type Shared = Arc<RwLock<Table>>;

fn decide(table: &Shared, query: &[u8], udp: bool) -> Reply {
    let t = table.read().unwrap_or_else(|p| p.into_inner());
    answer(&t, query, udp, &mut rand::rng())
}

async fn forward_udp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .ok()?;
    let sock = UdpSocket::bind(local).await.ok()?;
    sock.send_to(query, upstream).await.ok()?;
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(FORWARD_TIMEOUT, sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

async fn serve_udp(sock: Arc<UdpSocket>, table: Shared, upstream: Option<SocketAddr>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let query = buf[..n].to_vec();
        match decide(&table, &query, true) {
            Reply::Answer(a) => {
                let _ = sock.send_to(&a, from).await;
            }
            Reply::Forward => {
                let Some(up) = upstream else { continue };
                let sock = sock.clone();
                tokio::spawn(async move {
                    if let Some(a) = forward_udp(up, &query).await {
                        let _ = sock.send_to(&a, from).await;
                    }
                });
            }
        }
    }
}

async fn read_framed(s: &mut TcpStream) -> Option<Vec<u8>> {
    let len = s.read_u16().await.ok()? as usize;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

async fn write_framed(s: &mut TcpStream, msg: &[u8]) -> Option<()> {
    let len = u16::try_from(msg.len()).ok()?;
    s.write_u16(len).await.ok()?;
    s.write_all(msg).await.ok()
}

async fn forward_tcp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    tokio::time::timeout(FORWARD_TIMEOUT, async {
        let mut s = TcpStream::connect(upstream).await.ok()?;
        write_framed(&mut s, query).await?;
        read_framed(&mut s).await
    })
    .await
    .ok()?
}

async fn serve_tcp_conn(mut s: TcpStream, table: Shared, upstream: Option<SocketAddr>) {
    while let Some(query) = read_framed(&mut s).await {
        let reply = match decide(&table, &query, false) {
            Reply::Answer(a) => Some(a),
            Reply::Forward => match upstream {
                Some(up) => forward_tcp(up, &query).await,
                None => None,
            },
        };
        match reply {
            Some(a) if write_framed(&mut s, &a).await.is_some() => {}
            _ => return,
        }
    }
}

async fn serve_tcp(listener: TcpListener, table: Shared, upstream: Option<SocketAddr>) {
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                tokio::spawn(serve_tcp_conn(s, table.clone(), upstream));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Follows the emulator's table for as long as the task runs; `first` is
/// told when the first one arrived (or could not be had in 5 s). The last
/// table stays in force while the emulator is away (restarting).
async fn follow(socket: PathBuf, table: Shared, first: tokio::sync::oneshot::Sender<()>) {
    let mut first = Some(first);
    let mut since = None;
    let started = tokio::time::Instant::now();
    loop {
        match super::service_connect::fetch(&socket, TABLE_PATH, since).await {
            Ok(v) => {
                since = Some(super::service_connect::version(&v));
                if let Ok(t) = serde_json::from_value::<Table>(v) {
                    *table.write().unwrap_or_else(|p| p.into_inner()) = t;
                }
                if let Some(f) = first.take() {
                    let _ = f.send(());
                }
            }
            Err(e) => {
                if first.is_some() && started.elapsed() > Duration::from_secs(5) {
                    eprintln!("fargate-local infra: no DNS table yet: {e}");
                    let _ = first.take().map(|f| f.send(()));
                }
                let pause = if first.is_some() { 20 } else { 500 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

/// Starts the server (the redirect to [`LOOPBACK_PORT`] is already in
/// place), waits for the first table, then points the task's
/// `/etc/resolv.conf` at it. The file is written in place: the task's
/// containers mount this very file.
pub async fn start(dir: &Path, resolv_conf: &Path) -> Result<(), String> {
    let original = std::fs::read_to_string(resolv_conf)
        .map_err(|e| format!("cannot read {}: {e}", resolv_conf.display()))?;
    let upstream = upstream_of(&original);
    let at: SocketAddr = format!("{NAMESERVER}:{LOOPBACK_PORT}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let udp = UdpSocket::bind(at)
        .await
        .map_err(|e| format!("cannot listen on udp {at}: {e}"))?;
    let tcp = TcpListener::bind(at)
        .await
        .map_err(|e| format!("cannot listen on tcp {at}: {e}"))?;
    let table: Shared = Arc::default();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(follow(
        dir.join(super::infra::METADATA_SOCKET),
        table.clone(),
        tx,
    ));
    let _ = rx.await;
    tokio::spawn(serve_udp(Arc::new(udp), table.clone(), upstream));
    tokio::spawn(serve_tcp(tcp, table, upstream));
    std::fs::write(resolv_conf, pointed_at_us(&original))
        .map_err(|e| format!("cannot write {}: {e}", resolv_conf.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use rand::SeedableRng;

    fn table() -> Table {
        let set = |name: &str, kind: &str, values: &[&str]| RecordSet {
            name: name.into(),
            kind: kind.into(),
            ttl: 10,
            one: false,
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        Table {
            zones: vec![Zone {
                name: "corp.local".into(),
                soa_ttl: 15,
                record_sets: vec![
                    set("backend.corp.local", "A", &["10.0.0.1", "10.0.0.2"]),
                    set(
                        "backend.corp.local",
                        "SRV",
                        &[
                            "1 1 8080 t1.backend.corp.local",
                            "1 1 8080 t2.backend.corp.local",
                        ],
                    ),
                    set("t1.backend.corp.local", "A", &["10.0.0.1"]),
                    set("t2.backend.corp.local", "A", &["10.0.0.2"]),
                    set(
                        "many.corp.local",
                        "A",
                        &(1..=12)
                            .map(|i| format!("10.0.1.{i}"))
                            .collect::<Vec<_>>()
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>(),
                    ),
                    RecordSet {
                        one: true,
                        ..set("weighted.corp.local", "A", &["10.0.2.1", "10.0.2.2"])
                    },
                ],
            }],
        }
    }

    fn ask(name: &str, kind: RecordType) -> Option<Message> {
        let mut q = Message::query();
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        match answer(&table(), &q.to_vec().unwrap(), true, &mut rng) {
            Reply::Answer(a) => {
                let m = Message::from_vec(&a).unwrap();
                assert_eq!(m.metadata.id, q.metadata.id);
                assert!(m.metadata.authoritative);
                Some(m)
            }
            Reply::Forward => None,
        }
    }

    /// The code and answers (as text, sorted) of a query; `None` when it
    /// is forwarded.
    fn check(name: &str, kind: RecordType, code: Option<ResponseCode>, answers: &[&str]) {
        let got = ask(name, kind).map(|m| {
            let mut answers: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
            answers.sort();
            (m.metadata.response_code, answers)
        });
        let expected = code.map(|c| (c, answers.iter().map(|s| s.to_string()).collect()));
        assert_eq!(got, expected, "{name} {kind}");
    }

    #[test]
    fn answers_the_namespaces_names_and_forwards_the_rest() {
        use RecordType as T;
        use ResponseCode as R;
        check(
            "backend.corp.local.",
            T::A,
            Some(R::NoError),
            &["10.0.0.1", "10.0.0.2"],
        );
        // Case does not matter, as in Route 53.
        check(
            "BackEnd.Corp.Local.",
            T::A,
            Some(R::NoError),
            &["10.0.0.1", "10.0.0.2"],
        );
        check(
            "backend.corp.local.",
            T::SRV,
            Some(R::NoError),
            &[
                "1 1 8080 t1.backend.corp.local.",
                "1 1 8080 t2.backend.corp.local.",
            ],
        );
        check(
            "t2.backend.corp.local.",
            T::A,
            Some(R::NoError),
            &["10.0.0.2"],
        );
        // A name with other types only, or the apex: no answer, no error.
        check("backend.corp.local.", T::AAAA, Some(R::NoError), &[]);
        check("t1.backend.corp.local.", T::SRV, Some(R::NoError), &[]);
        check("corp.local.", T::A, Some(R::NoError), &[]);
        // A name of the namespace with no such service.
        check("frontend.corp.local.", T::A, Some(R::NXDomain), &[]);
        check("x.t1.backend.corp.local.", T::A, Some(R::NXDomain), &[]);
        // Not a namespace's name: Docker's DNS answers it.
        check("db.", T::A, None, &[]);
        check("host.docker.internal.", T::A, None, &[]);
        check("notcorp.local.", T::A, None, &[]);
    }

    #[test]
    fn negative_answers_carry_the_namespaces_soa_and_ttls_are_kept() {
        let m = ask("frontend.corp.local.", RecordType::A).unwrap();
        assert_eq!(m.authorities.len(), 1);
        assert_eq!(m.authorities[0].ttl, 15);
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
        let m = ask("backend.corp.local.", RecordType::SRV).unwrap();
        assert!(m.answers.iter().all(|r| r.ttl == 10));
    }

    #[test]
    fn multivalue_answers_at_most_8_and_weighted_one() {
        let m = ask("many.corp.local.", RecordType::A).unwrap();
        assert_eq!(m.answers.len(), 8);
        let m = ask("weighted.corp.local.", RecordType::A).unwrap();
        assert_eq!(m.answers.len(), 1);
    }

    #[test]
    fn resolv_conf_names_us_and_keeps_the_rest() {
        let docker = "search example.com\nnameserver 127.0.0.11\noptions ndots:0\n";
        assert_eq!(upstream_of(docker), Some("127.0.0.11:53".parse().unwrap()));
        assert_eq!(
            pointed_at_us(docker),
            "search example.com\nnameserver 127.0.0.53\noptions ndots:0\n"
        );
        assert_eq!(
            pointed_at_us("nameserver 1.1.1.1\nnameserver 8.8.8.8\n"),
            "nameserver 127.0.0.53\n"
        );
        assert_eq!(upstream_of("options ndots:0\n"), None);
        assert_eq!(pointed_at_us(""), "nameserver 127.0.0.53\n");
    }

    /// A query over UDP is answered from the table; another is forwarded
    /// to the upstream and its answer relayed unchanged.
    #[tokio::test]
    async fn serves_udp_and_forwards_to_the_upstream() {
        let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let up_at = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let (n, from) = upstream.recv_from(&mut buf).await.unwrap();
                let mut reply = buf[..n].to_vec();
                reply.extend_from_slice(b"upstream");
                upstream.send_to(&reply, from).await.unwrap();
            }
        });
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let at = sock.local_addr().unwrap();
        tokio::spawn(serve_udp(
            sock,
            Arc::new(RwLock::new(table())),
            Some(SocketAddr::new(up_at.ip(), up_at.port())),
        ));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 4096];
        let mut q = Message::query();
        q.add_query(Query::query(
            Name::from_ascii("t1.backend.corp.local.").unwrap(),
            RecordType::A,
        ));
        client.send_to(&q.to_vec().unwrap(), at).await.unwrap();
        let n = client.recv(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.answers[0].data.to_string(), "10.0.0.1");
        let mut q = Message::query();
        q.add_query(Query::query(
            Name::from_ascii("db.").unwrap(),
            RecordType::A,
        ));
        let sent = q.to_vec().unwrap();
        client.send_to(&sent, at).await.unwrap();
        let n = client.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], [sent.as_slice(), b"upstream"].concat());
    }
}
