//! Reads the connection tracking table of the current network namespace
//! over netlink (ctnetlink, what `conntrack -L` asks), with the byte and
//! packet counters the kernel keeps per connection when accounting is on.
//! The egress lens sums these instead of counting packets itself, so that
//! measuring adds no work on a task's data path (`runtime::egress`).
//!
//! IPv4 only, a dump of the whole table each time; the answer's parsing
//! ([`parse`]) is pure.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, send,
    setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};

/// Bytes and packets of one direction of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub bytes: u64,
    pub packets: u64,
}

/// One tracked connection: the addresses of its original direction (as
/// the first packet had them), the source of its reply direction (where
/// the answers come from, after any DNAT), and the counters each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    pub id: u32,
    pub orig_src: Ipv4Addr,
    pub orig_dst: Ipv4Addr,
    pub reply_src: Ipv4Addr,
    pub orig: Count,
    pub reply: Count,
}

// linux/netlink.h, linux/netfilter/nfnetlink.h and
// linux/netfilter/nfnetlink_conntrack.h.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const AF_INET: u8 = 2;
/// How long a read of the answer may wait.
const RECV_TIMEOUT: Duration = Duration::from_secs(2);
const NLA_TYPE_MASK: u16 = 0x3fff;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_ID: u16 = 12;
const CTA_TUPLE_IP: u16 = 1;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_COUNTERS_PACKETS: u16 = 1;
const CTA_COUNTERS_BYTES: u16 = 2;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The attributes in `buf`, as (type, payload).
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at + 4 > buf.len() {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[at], buf[at + 1]]));
        let kind = u16::from_ne_bytes([buf[at + 2], buf[at + 3]]) & NLA_TYPE_MASK;
        if len < 4 || at + len > buf.len() {
            return None;
        }
        let payload = &buf[at + 4..at + len];
        at += align4(len);
        Some((kind, payload))
    })
}

fn ipv4(p: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = p.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

fn be64(p: &[u8]) -> u64 {
    p.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// (source, destination) of a `CTA_TUPLE_*` attribute.
fn tuple(p: &[u8]) -> (Option<Ipv4Addr>, Option<Ipv4Addr>) {
    let (mut src, mut dst) = (None, None);
    for (k, ip) in attrs(p) {
        if k == CTA_TUPLE_IP {
            for (k, a) in attrs(ip) {
                match k {
                    CTA_IP_V4_SRC => src = ipv4(a),
                    CTA_IP_V4_DST => dst = ipv4(a),
                    _ => {}
                }
            }
        }
    }
    (src, dst)
}

fn counters(p: &[u8]) -> Count {
    let mut c = Count::default();
    for (k, v) in attrs(p) {
        match k {
            CTA_COUNTERS_PACKETS => c.packets = be64(v),
            CTA_COUNTERS_BYTES => c.bytes = be64(v),
            _ => {}
        }
    }
    c
}

/// One ctnetlink message's attributes (after its `nfgenmsg`) as a
/// connection; `None` for anything but IPv4.
fn conn(p: &[u8]) -> Option<Conn> {
    let (mut orig, mut reply) = ((None, None), (None, None));
    let (mut oc, mut rc, mut id) = (Count::default(), Count::default(), 0);
    for (k, v) in attrs(p) {
        match k {
            CTA_TUPLE_ORIG => orig = tuple(v),
            CTA_TUPLE_REPLY => reply = tuple(v),
            CTA_COUNTERS_ORIG => oc = counters(v),
            CTA_COUNTERS_REPLY => rc = counters(v),
            CTA_ID => {
                id = v
                    .get(..4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => {}
        }
    }
    Some(Conn {
        id,
        orig_src: orig.0?,
        orig_dst: orig.1?,
        reply_src: reply.0?,
        orig: oc,
        reply: rc,
    })
}

/// What one read of a dump's answer held.
#[derive(Debug, Default, PartialEq)]
pub struct Part {
    pub conns: Vec<Conn>,
    /// The dump's last message was in it.
    pub done: bool,
    /// The kernel's error (a negative errno), if it answered with one.
    pub error: Option<i32>,
}

/// The netlink messages of one datagram of a dump's answer.
pub fn parse(buf: &[u8]) -> Part {
    let mut part = Part::default();
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        if len < 16 || at + len > buf.len() {
            break;
        }
        let body = &buf[at + 16..at + len];
        match kind {
            NLMSG_DONE => {
                part.done = true;
                break;
            }
            NLMSG_ERROR => {
                let code = body
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                if code != 0 {
                    part.error = Some(code);
                    part.done = true;
                    break;
                }
            }
            k if k == (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW) && body.len() >= 4 => {
                // After the 4-byte nfgenmsg: family, version, resource id.
                if body[0] == AF_INET
                    && let Some(c) = conn(&body[4..])
                {
                    part.conns.push(c);
                }
            }
            _ => {}
        }
        at += align4(len);
    }
    part
}

/// The request for a dump of the IPv4 connections.
fn dump_request(seq: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    m.extend_from_slice(&20u32.to_ne_bytes());
    m.extend_from_slice(&(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET).to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[AF_INET, 0, 0, 0]);
    m
}

/// Every IPv4 connection the namespace tracks now. Blocking (a few
/// system calls); needs CAP_NET_ADMIN.
pub fn dump() -> Result<Vec<Conn>, String> {
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )
    .map_err(|e| format!("netlink socket: {e}"))?;
    let raw = fd.as_raw_fd();
    bind(raw, &NetlinkAddr::new(0, 0)).map_err(|e| format!("netlink bind: {e}"))?;
    // A kernel that never answers must not hold the writer forever.
    let timeout = TimeVal::seconds(RECV_TIMEOUT.as_secs() as i64);
    setsockopt(&fd, sockopt::ReceiveTimeout, &timeout)
        .map_err(|e| format!("netlink timeout: {e}"))?;
    send(raw, &dump_request(1), MsgFlags::empty()).map_err(|e| format!("netlink send: {e}"))?;
    let mut conns = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = recv(raw, &mut buf, MsgFlags::empty()).map_err(|e| format!("netlink recv: {e}"))?;
        let part = parse(&buf[..n]);
        conns.extend(part.conns);
        if let Some(code) = part.error {
            return Err(format!(
                "the conntrack dump failed: {}",
                nix::errno::Errno::from_raw(-code)
            ));
        }
        if part.done || n == 0 {
            return Ok(conns);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One attribute, padded.
    pub(crate) fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize(align4(a.len()), 0);
        a
    }

    fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        // NLA_F_NESTED, as the kernel sets it.
        attr(kind | 0x8000, &parts.concat())
    }

    fn tuple_attr(kind: u16, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        nested(
            kind,
            &[nested(
                CTA_TUPLE_IP,
                &[attr(CTA_IP_V4_SRC, &src), attr(CTA_IP_V4_DST, &dst)],
            )],
        )
    }

    fn counters_attr(kind: u16, packets: u64, bytes: u64) -> Vec<u8> {
        nested(
            kind,
            &[
                attr(CTA_COUNTERS_PACKETS, &packets.to_be_bytes()),
                attr(CTA_COUNTERS_BYTES, &bytes.to_be_bytes()),
            ],
        )
    }

    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m.resize(align4(m.len()), 0);
        m
    }

    /// A ctnetlink message for one connection, as the kernel writes it.
    pub(crate) fn ct_message(family: u8, c: &Conn, reply_dst: [u8; 4]) -> Vec<u8> {
        let mut body = vec![family, 0, 0, 0];
        body.extend(tuple_attr(
            CTA_TUPLE_ORIG,
            c.orig_src.octets(),
            c.orig_dst.octets(),
        ));
        body.extend(tuple_attr(CTA_TUPLE_REPLY, c.reply_src.octets(), reply_dst));
        // An attribute the reader skips (CTA_STATUS).
        body.extend(attr(3, &8u32.to_be_bytes()));
        body.extend(counters_attr(
            CTA_COUNTERS_ORIG,
            c.orig.packets,
            c.orig.bytes,
        ));
        body.extend(counters_attr(
            CTA_COUNTERS_REPLY,
            c.reply.packets,
            c.reply.bytes,
        ));
        body.extend(attr(CTA_ID, &c.id.to_be_bytes()));
        message(NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW, &body)
    }

    /// A connection as a dump lists it: `[source, destination, reply
    /// source]` of the original direction, and each direction's count.
    pub(crate) fn test_conn(id: u32, addrs: [[u8; 4]; 3], orig: Count, reply: Count) -> Conn {
        let [src, dst, reply_src] = addrs;
        Conn {
            id,
            orig_src: Ipv4Addr::from(src),
            orig_dst: Ipv4Addr::from(dst),
            reply_src: Ipv4Addr::from(reply_src),
            orig,
            reply,
        }
    }

    fn conn_of(id: u32, src: [u8; 4], dst: [u8; 4], reply_src: [u8; 4]) -> Conn {
        let count = |bytes, packets| Count { bytes, packets };
        test_conn(
            id,
            [src, dst, reply_src],
            count(1_000 + u64::from(id), 10),
            count(5_000_000_000, 20),
        )
    }

    #[test]
    fn parses_a_dump_answer() {
        let a = conn_of(7, [172, 18, 0, 5], [169, 254, 170, 2], [127, 0, 0, 1]);
        let b = conn_of(8, [10, 0, 0, 9], [172, 18, 0, 5], [172, 18, 0, 5]);
        let mut buf = ct_message(AF_INET, &a, [172, 18, 0, 5]);
        // An IPv6 connection is left out.
        buf.extend(ct_message(10, &b, [10, 0, 0, 9]));
        buf.extend(ct_message(AF_INET, &b, [10, 0, 0, 9]));
        let part = parse(&buf);
        assert_eq!(part.conns, vec![a, b]);
        assert!(!part.done);
        assert_eq!(part.error, None);
        // The end of the dump, and a cut message ignored.
        let mut end = message(NLMSG_DONE, &0i32.to_ne_bytes());
        end.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            parse(&end),
            Part {
                done: true,
                ..Part::default()
            }
        );
        // An error answer.
        let err = message(NLMSG_ERROR, &(-1i32).to_ne_bytes());
        assert_eq!(parse(&err).error, Some(-1));
        assert!(parse(&err).done);
    }

    #[test]
    fn the_request_asks_for_a_dump_of_ipv4() {
        let r = dump_request(1);
        assert_eq!(r.len(), 20);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), 0x0101);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), 0x0301);
        assert_eq!(r[16], AF_INET);
    }
}
