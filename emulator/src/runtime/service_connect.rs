//! The Service Connect proxy, run by a task's infrastructure container
//! (`fargate-local infra`) in place of AWS's Envoy sidecar. Each client
//! alias `dnsName` is an `/etc/hosts` entry of the task pointing at a
//! loopback address (`127.255.0.x`, as the ECS agent allots them); the
//! proxy listens on `address:port` and forwards each connection, round
//! robin, to one of the tasks behind the alias, at its container port (or
//! its `ingressPortOverride`, where that task's own proxy listens and
//! forwards to the container port). It learns those tasks from the
//! emulator by long-polling the task's metadata socket: the emulator
//! answers when the table changes, so a task that starts stopping is out of
//! the rotation within milliseconds, and its open connections go on until
//! they close (its draining).
//!
//! Left out: Envoy's HTTP awareness (per-request balancing on a kept-alive
//! connection, retries of a request, 503 answers, its metrics); balancing
//! is per connection, and a connection no task can take is closed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::InfraSpec;
use super::plan::TaskPlan;

/// Set in the infrastructure container of a task with Service Connect.
pub const ENV: &str = "FARGATE_LOCAL_SERVICE_CONNECT";
/// The path of the table on the task's metadata socket; `?version=<v>`
/// waits until the table's version differs from `v`.
pub const TABLE_PATH: &str = "/fargate-local/service-connect";
/// How long the emulator holds a long-poll with no change.
pub const LONG_POLL: Duration = Duration::from_secs(25);
/// How long a connection attempt to one upstream may take before the next
/// is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The infrastructure container of a task with Service Connect: an
/// `/etc/hosts` entry per client alias name, and the proxy turned on.
pub fn infra_spec(plan: &TaskPlan, spec: &mut InfraSpec) {
    let Some(sc) = &plan.service_connect else {
        return;
    };
    let mut seen = Vec::new();
    for l in &sc.listeners {
        if !seen.contains(&&l.dns_name) {
            seen.push(&l.dns_name);
            spec.extra_hosts
                .push(format!("{}:{}", l.dns_name, l.address));
        }
    }
    spec.env.push(format!("{ENV}=1"));
}

/// The version of a table: equal tables have equal versions.
pub fn version(table: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.to_string().hash(&mut h);
    h.finish()
}

/// The tasks behind one listener, and where the round robin stands.
#[derive(Default)]
struct Upstreams {
    addrs: RwLock<Vec<SocketAddr>>,
    next: AtomicUsize,
}

impl Upstreams {
    fn set(&self, addrs: Vec<SocketAddr>) {
        *self.addrs.write().unwrap_or_else(|p| p.into_inner()) = addrs;
    }

    /// The upstreams in the order to try them: the next in the rotation
    /// first, then the others.
    fn order(&self) -> Vec<SocketAddr> {
        let addrs = self.addrs.read().unwrap_or_else(|p| p.into_inner());
        if addrs.is_empty() {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % addrs.len();
        addrs[start..]
            .iter()
            .chain(&addrs[..start])
            .copied()
            .collect()
    }
}

/// Pipes a connection to the first upstream that takes it.
async fn forward(mut client: TcpStream, upstreams: Arc<Upstreams>) {
    let _ = client.set_nodelay(true);
    for addr in upstreams.order() {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(mut up)) => {
                let _ = up.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                return;
            }
            // Refused or slow (a task that just stopped): the next one.
            _ => continue,
        }
    }
}

async fn accept_loop(listener: TcpListener, upstreams: Arc<Upstreams>) {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                tokio::spawn(forward(conn, upstreams.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The proxy's listeners, by `address:port`.
#[derive(Default)]
pub struct Proxy {
    listeners: HashMap<SocketAddr, Arc<Upstreams>>,
}

impl Proxy {
    /// Brings the listeners and their upstreams in line with a table from
    /// the emulator. Listeners are only ever added (a task's aliases are
    /// fixed when it starts); one that cannot bind is reported and retried
    /// with the next table.
    pub async fn apply(&mut self, table: &Value) {
        let listeners = table["listeners"].as_array().cloned().unwrap_or_default();
        let ingress = table["ingress"].as_array().cloned().unwrap_or_default();
        let mut wanted: Vec<(SocketAddr, Vec<SocketAddr>)> = Vec::new();
        for l in &listeners {
            let (Some(address), Some(port)) = (l["address"].as_str(), l["port"].as_u64()) else {
                continue;
            };
            let Ok(at) = format!("{address}:{port}").parse::<SocketAddr>() else {
                continue;
            };
            let ups = l["upstreams"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str()?.parse().ok())
                .collect();
            wanted.push((at, ups));
        }
        // Ingress: a peer's connection on the override port goes to the
        // container port on this task's loopback.
        for i in &ingress {
            let (Some(port), Some(target)) = (i["port"].as_u64(), i["target"].as_u64()) else {
                continue;
            };
            let (Ok(at), Ok(to)) = (
                format!("0.0.0.0:{port}").parse::<SocketAddr>(),
                format!("127.0.0.1:{target}").parse::<SocketAddr>(),
            ) else {
                continue;
            };
            wanted.push((at, vec![to]));
        }
        for (at, ups) in wanted {
            if let Some(u) = self.listeners.get(&at) {
                u.set(ups);
                continue;
            }
            match TcpListener::bind(at).await {
                Ok(listener) => {
                    let u = Arc::new(Upstreams::default());
                    u.set(ups);
                    tokio::spawn(accept_loop(listener, u.clone()));
                    self.listeners.insert(at, u);
                }
                Err(e) => {
                    eprintln!("fargate-local infra: Service Connect cannot listen on {at}: {e}")
                }
            }
        }
    }
}

/// One long-poll on the task's metadata socket: the table at `path` once
/// its version differs from `since` (this proxy's, and the DNS server's).
pub(super) async fn fetch(socket: &Path, path: &str, since: Option<u64>) -> Result<Value, String> {
    let mut s = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let query = since.map(|v| format!("?version={v}")).unwrap_or_default();
    let req = format!(
        "GET {path}{query} HTTP/1.1\r\nHost: fargate-local-infra\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    tokio::time::timeout(LONG_POLL * 2, s.read_to_end(&mut buf))
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("a malformed answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or_default().to_string());
    }
    serde_json::from_str(body).map_err(|e| e.to_string())
}

/// Sets the proxy up from the first table (`ready` is told once it
/// listens, or could not get one in time), then follows the emulator's
/// changes for as long as the task runs. The last table stays in force
/// while the emulator is away (restarting).
pub async fn run(dir: PathBuf, ready: tokio::sync::oneshot::Sender<()>) {
    let socket = dir.join(super::infra::METADATA_SOCKET);
    let mut proxy = Proxy::default();
    let mut ready = Some(ready);
    let mut since = None;
    let started = tokio::time::Instant::now();
    loop {
        match fetch(&socket, TABLE_PATH, since).await {
            Ok(table) => {
                since = Some(version(&table));
                proxy.apply(&table).await;
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
            Err(e) => {
                // Before the first table the socket may not be open yet.
                if ready.is_some() && started.elapsed() > Duration::from_secs(5) {
                    eprintln!("fargate-local infra: no Service Connect table yet: {e}");
                    let _ = ready.take().map(|r| r.send(()));
                }
                let pause = if ready.is_some() { 20 } else { 500 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rotation_starts_at_the_next_upstream_and_tries_the_others() {
        let u = Upstreams::default();
        assert!(u.order().is_empty());
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let c: SocketAddr = "10.0.0.3:80".parse().unwrap();
        u.set(vec![a, b, c]);
        assert_eq!(u.order(), vec![a, b, c]);
        assert_eq!(u.order(), vec![b, c, a]);
        assert_eq!(u.order(), vec![c, a, b]);
        assert_eq!(u.order(), vec![a, b, c]);
    }

    #[test]
    fn equal_tables_have_equal_versions() {
        let t = serde_json::json!({"listeners": [], "ingress": []});
        assert_eq!(version(&t), version(&t.clone()));
        assert_ne!(
            version(&t),
            version(&serde_json::json!({"listeners": [1], "ingress": []}))
        );
    }

    /// A listener forwards to the next upstream that accepts, skipping a
    /// closed port, and follows a new table.
    #[tokio::test]
    async fn forwards_round_robin_and_skips_a_refusing_upstream() {
        async fn server(tag: &'static str) -> SocketAddr {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let at = l.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let (mut c, _) = l.accept().await.unwrap();
                    let _ = c.write_all(tag.as_bytes()).await;
                }
            });
            at
        }
        let a = server("a").await;
        let b = server("b").await;
        // A port nothing listens on.
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let front = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap()
        };
        let table = |ups: Vec<SocketAddr>| {
            serde_json::json!({"listeners": [{"address": "127.0.0.1", "port": front.port(),
                "upstreams": ups.iter().map(|u| u.to_string()).collect::<Vec<_>>()}], "ingress": []})
        };
        let mut p = Proxy::default();
        p.apply(&table(vec![a, dead, b])).await;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let mut c = TcpStream::connect(front).await.unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).await.unwrap();
            seen.push(s);
        }
        assert!(seen.iter().all(|s| s == "a" || s == "b"), "{seen:?}");
        assert!(seen.contains(&"a".into()) && seen.contains(&"b".into()));
        // b leaves: every connection goes to a.
        p.apply(&table(vec![a])).await;
        for _ in 0..3 {
            let mut c = TcpStream::connect(front).await.unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).await.unwrap();
            assert_eq!(s, "a");
        }
    }
}
