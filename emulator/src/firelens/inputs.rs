//! The inputs: `forward` (unix socket and/or TCP) and `tcp` (JSON or
//! plain lines; FireLens's health check). Each connection decodes what it
//! reads and hands records to the engine; when the buffered-but-unflushed
//! bytes of its input exceed `Mem_Buf_Limit`, it stops reading (so
//! Docker's driver buffers or blocks) until outputs drain. Other Fluent Bit
//! inputs are a config error.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use super::config::{ConfigError, Section, parse_size};
use super::forward::{self, Decoder, Message};
use super::log;
use super::record::{Event, EventTime, str_value};

/// Records from an input, with the memory they hold until flushed.
pub struct Ingest {
    pub tag: String,
    pub events: Vec<Event>,
    pub charge: Option<Charge>,
}

/// Bytes an input has handed over and outputs have not yet released.
pub struct Gauge {
    name: String,
    used: AtomicUsize,
    limit: usize,
    paused: AtomicBool,
    notify: Notify,
}

impl Gauge {
    pub fn new(name: &str, limit: usize) -> Arc<Gauge> {
        Arc::new(Gauge {
            name: name.to_string(),
            used: AtomicUsize::new(0),
            limit,
            paused: AtomicBool::new(false),
            notify: Notify::new(),
        })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Waits while the input is over its limit.
    pub async fn wait_below(&self) {
        loop {
            let notified = self.notify.notified();
            if self.used() < self.limit {
                if self.paused.swap(false, Ordering::Relaxed) {
                    log::info("input", format!("resume {}", self.name));
                }
                return;
            }
            if !self.paused.swap(true, Ordering::Relaxed) {
                log::warn("input", format!("{} paused (mem buf overlimit)", self.name));
            }
            notified.await;
        }
    }

    pub fn charge(self: &Arc<Gauge>, bytes: usize) -> Charge {
        self.used.fetch_add(bytes, Ordering::Relaxed);
        Charge(Arc::new(ChargeInner {
            gauge: self.clone(),
            bytes,
        }))
    }
}

/// Shared by every copy of a batch; releases its bytes when the last copy
/// is flushed or dropped.
#[derive(Clone)]
pub struct Charge(#[allow(dead_code)] Arc<ChargeInner>);

struct ChargeInner {
    gauge: Arc<Gauge>,
    bytes: usize,
}

impl Drop for ChargeInner {
    fn drop(&mut self) {
        let before = self.gauge.used.fetch_sub(self.bytes, Ordering::Relaxed);
        if before - self.bytes < self.gauge.limit {
            self.gauge.notify.notify_waiters();
        }
    }
}

#[derive(Debug)]
pub enum Listen {
    Unix(PathBuf),
    Tcp(String),
}

#[derive(Debug)]
pub enum InputKind {
    Forward {
        max_buffer: usize,
    },
    Tcp {
        tag: String,
        json: bool,
        separator: String,
        /// The longest message (`buffer_max_size`): a client that never
        /// sends the separator must not grow the buffer for ever.
        max_line: usize,
    },
}

#[derive(Debug)]
pub struct InputSpec {
    pub name: String,
    pub listen: Vec<Listen>,
    pub kind: InputKind,
    pub mem_buf_limit: Option<usize>,
}

impl InputSpec {
    pub fn from_section(
        s: &Section,
        plugin: &str,
        inst: &str,
        warnings: &mut Vec<String>,
    ) -> Result<InputSpec, ConfigError> {
        let scope = format!("input:{plugin}:{inst}");
        let mem_buf_limit = match s.get("mem_buf_limit") {
            Some(v) => Some(
                parse_size(v)
                    .ok_or_else(|| ConfigError(format!("[{scope}] invalid Mem_Buf_Limit '{v}'")))?
                    as usize,
            ),
            None => None,
        };
        let host = s.get("listen").or(s.get("bind")).unwrap_or("0.0.0.0");
        for (k, _) in &s.entries {
            if !matches!(
                k.as_str(),
                "name"
                    | "tag"
                    | "listen"
                    | "bind"
                    | "port"
                    | "unix_path"
                    | "unix_perm"
                    | "mem_buf_limit"
                    | "buffer_max_size"
                    | "buffer_chunk_size"
                    | "format"
                    | "separator"
                    | "alias"
                    | "storage.type"
                    | "chunk_size"
            ) {
                warnings.push(format!(
                    "[{scope}] option '{k}' is not supported and is ignored"
                ));
            }
        }
        let max_buffer = match s.get("buffer_max_size") {
            Some(v) => parse_size(v)
                .ok_or_else(|| ConfigError(format!("[{scope}] invalid buffer_max_size '{v}'")))?
                as usize,
            None => forward::DEFAULT_MAX_BUFFER,
        };
        match plugin {
            "forward" => {
                let mut listen = Vec::new();
                if let Some(p) = s.get("unix_path") {
                    listen.push(Listen::Unix(PathBuf::from(p)));
                }
                if s.get("port").is_some() || s.get("listen").is_some() || listen.is_empty() {
                    let port = s.get("port").unwrap_or("24224");
                    listen.push(Listen::Tcp(format!("{host}:{port}")));
                }
                Ok(InputSpec {
                    name: inst.to_string(),
                    listen,
                    kind: InputKind::Forward { max_buffer },
                    mem_buf_limit,
                })
            }
            "tcp" => {
                let port = s.get("port").unwrap_or("5170");
                let json = match s.get("format").map(str::to_ascii_lowercase).as_deref() {
                    None | Some("json") => true,
                    Some("none") => false,
                    Some(f) => {
                        return Err(ConfigError(format!(
                            "[{scope}] invalid Format '{f}' (json, none)"
                        )));
                    }
                };
                Ok(InputSpec {
                    name: inst.to_string(),
                    listen: vec![Listen::Tcp(format!("{host}:{port}"))],
                    kind: InputKind::Tcp {
                        tag: s.get("tag").unwrap_or(inst).to_string(),
                        json,
                        separator: s.get("separator").unwrap_or("\n").replace("\\n", "\n"),
                        max_line: max_buffer,
                    },
                    mem_buf_limit,
                })
            }
            _ => Err(ConfigError(format!(
                "[config] section 'input' tried to instance a plugin name that doesn't exist: {plugin} \
                 (fargate-local's router has forward and tcp)"
            ))),
        }
    }
}

/// Binds an input's listeners and serves them on `tasks` until aborted.
pub async fn start(
    spec: InputSpec,
    tx: mpsc::Sender<Ingest>,
    tasks: &mut JoinSet<()>,
) -> Result<Vec<PathBuf>, String> {
    let spec = Arc::new(spec);
    let gauge = Gauge::new(&spec.name, spec.mem_buf_limit.unwrap_or(usize::MAX));
    let mut sockets = Vec::new();
    for l in &spec.listen {
        match l {
            Listen::Unix(path) => {
                let _ = std::fs::remove_file(path);
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let listener = tokio::net::UnixListener::bind(path).map_err(|e| {
                    format!(
                        "[input:{}] could not bind {}: {e}",
                        spec.name,
                        path.display()
                    )
                })?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666));
                log::info(
                    &format!("in_forward:{}", spec.name),
                    format!("listening on unix://{}", path.display()),
                );
                sockets.push(path.clone());
                let (spec, tx, gauge) = (spec.clone(), tx.clone(), gauge.clone());
                tasks.spawn(async move {
                    let mut conns = JoinSet::new();
                    loop {
                        match listener.accept().await {
                            Ok((s, _)) => {
                                conns.spawn(serve_conn(s, spec.clone(), tx.clone(), gauge.clone()));
                            }
                            Err(e) => log::warn("input", format!("accept: {e}")),
                        }
                        while conns.try_join_next().is_some() {}
                    }
                });
            }
            Listen::Tcp(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                    format!("[input:{}] could not bind address {addr}: {e}", spec.name)
                })?;
                let scope = match spec.kind {
                    InputKind::Forward { .. } => format!("in_forward:{}", spec.name),
                    InputKind::Tcp { .. } => format!("in_tcp:{}", spec.name),
                };
                log::info(
                    &scope,
                    format!(
                        "listening on {}",
                        listener
                            .local_addr()
                            .map(|a| a.to_string())
                            .unwrap_or_default()
                    ),
                );
                let (spec, tx, gauge) = (spec.clone(), tx.clone(), gauge.clone());
                tasks.spawn(async move {
                    let mut conns = JoinSet::new();
                    loop {
                        match listener.accept().await {
                            Ok((s, _)) => {
                                let _ = s.set_nodelay(true);
                                conns.spawn(serve_conn(s, spec.clone(), tx.clone(), gauge.clone()));
                            }
                            Err(e) => log::warn("input", format!("accept: {e}")),
                        }
                        while conns.try_join_next().is_some() {}
                    }
                });
            }
        }
    }
    Ok(sockets)
}

async fn serve_conn<S>(stream: S, spec: Arc<InputSpec>, tx: mpsc::Sender<Ingest>, gauge: Arc<Gauge>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match &spec.kind {
        InputKind::Forward { max_buffer } => {
            serve_forward(stream, &spec.name, *max_buffer, tx, gauge).await
        }
        InputKind::Tcp {
            tag,
            json,
            separator,
            max_line,
        } => {
            let line = LineRules {
                tag,
                json: *json,
                separator,
                max: *max_line,
            };
            serve_lines(stream, &spec.name, &line, tx, gauge).await
        }
    }
}

async fn serve_forward<S>(
    mut stream: S,
    name: &str,
    max: usize,
    tx: mpsc::Sender<Ingest>,
    gauge: Arc<Gauge>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scope = format!("input:forward:{name}");
    let mut dec = Decoder::new(max);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        gauge.wait_below().await;
        let n = match stream.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                log::debug(&scope, format!("read: {e}"));
                return;
            }
        };
        dec.push(&buf[..n]);
        // Consecutive messages of one tag travel as one batch.
        let mut batch: Option<(Ingest, usize)> = None;
        let mut acks = Vec::new();
        loop {
            let (value, size) = match dec.next_value() {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    log::warn(&scope, format!("{e}; closing the connection"));
                    flush_batch(&tx, batch.take(), &gauge).await;
                    return;
                }
            };
            match forward::decode_message(value) {
                Ok(Message::Heartbeat) => {}
                Ok(Message::Events { tag, events, chunk }) => {
                    match &mut batch {
                        Some((b, bytes)) if b.tag == tag => {
                            b.events.extend(events);
                            *bytes += size;
                        }
                        _ => {
                            flush_batch(&tx, batch.take(), &gauge).await;
                            batch = Some((
                                Ingest {
                                    tag,
                                    events,
                                    charge: None,
                                },
                                size,
                            ));
                        }
                    }
                    if let Some(c) = chunk {
                        acks.push(c);
                    }
                }
                Err(e) => {
                    log::warn(&scope, format!("{e}; closing the connection"));
                    flush_batch(&tx, batch.take(), &gauge).await;
                    return;
                }
            }
        }
        flush_batch(&tx, batch.take(), &gauge).await;
        for c in acks {
            if stream.write_all(&forward::ack(&c)).await.is_err() {
                return;
            }
        }
    }
}

async fn flush_batch(
    tx: &mpsc::Sender<Ingest>,
    batch: Option<(Ingest, usize)>,
    gauge: &Arc<Gauge>,
) {
    if let Some((mut b, bytes)) = batch {
        // The msgpack bytes count, as Fluent Bit counts its chunks. The
        // decoded records are larger (about 2.5 times for Docker's
        // records) but short-lived: the cloudwatch outputs keep only a
        // time and a message per record from the moment it is routed
        // (`Output::accept`).
        b.charge = Some(gauge.charge(bytes));
        let _ = tx.send(b).await;
    }
}

/// How the tcp input cuts and reads messages.
struct LineRules<'a> {
    tag: &'a str,
    json: bool,
    separator: &'a str,
    /// The longest message; a longer one closes the connection.
    max: usize,
}

async fn serve_lines<S>(
    stream: S,
    name: &str,
    rules: &LineRules<'_>,
    tx: mpsc::Sender<Ingest>,
    gauge: Arc<Gauge>,
) where
    S: AsyncRead + Unpin,
{
    let LineRules {
        tag,
        json,
        separator,
        max,
    } = *rules;
    let scope = format!("input:tcp:{name}");
    let mut reader = tokio::io::BufReader::new(stream);
    let sep = separator.as_bytes().last().copied().unwrap_or(b'\n');
    let mut line = Vec::new();
    // One byte past the limit tells a message that is too long from one
    // that just fits.
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    loop {
        gauge.wait_below().await;
        line.clear();
        match (&mut reader).take(limit).read_until(sep, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.len() > max {
            log::warn(
                &scope,
                format!("message exceeds buffer_max_size ({max} bytes); closing the connection"),
            );
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text
            .trim_end_matches(['\n', '\r'])
            .trim_end_matches(separator);
        if text.is_empty() {
            continue;
        }
        let body = if json {
            match super::parsers::parse_json(text) {
                Some(rmpv::Value::Map(m)) => m
                    .into_iter()
                    .map(|(k, v)| (super::record::value_text(&k), v))
                    .collect(),
                _ => {
                    log::warn(&scope, format!("invalid JSON message, skipping: {text}"));
                    continue;
                }
            }
        } else {
            vec![("log".to_string(), str_value(text))]
        };
        let charge = gauge.charge(line.len());
        let _ = tx
            .send(Ingest {
                tag: tag.to_string(),
                events: vec![Event::new(EventTime::now(), body)],
                charge: Some(charge),
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_tcp_message_past_the_limit_closes_the_connection() {
        let (mut client, server) = tokio::io::duplex(1024);
        let (tx, mut rx) = mpsc::channel(8);
        let rules = LineRules {
            tag: "t",
            json: false,
            separator: "\n",
            max: 16,
        };
        let served = tokio::spawn(async move {
            serve_lines(server, "tcp.0", &rules, tx, Gauge::new("tcp.0", usize::MAX)).await
        });
        client.write_all(b"short\n").await.unwrap();
        // Never a separator, and the client keeps the connection open.
        client.write_all(&[b'x'; 100]).await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), served)
            .await
            .expect("the connection is closed, not read for ever")
            .unwrap();
        let first = rx.recv().await.expect("the short line");
        assert_eq!(first.events[0].get_str("log"), Some("short"));
        assert!(rx.recv().await.is_none());
        drop(client);
    }

    #[tokio::test]
    async fn an_input_over_its_limit_waits_until_outputs_release_memory() {
        let g = Gauge::new("forward.0", 100);
        let a = g.charge(60);
        // Below the limit: no wait.
        tokio::time::timeout(Duration::from_millis(100), g.wait_below())
            .await
            .expect("under the limit");
        let b = g.charge(60);
        assert_eq!(g.used(), 120);
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { g.wait_below().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "paused while over the limit");
        // A batch shared by two outputs is released with its last copy.
        let b2 = b.clone();
        drop(b);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        drop(b2);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("resumed once drained")
            .unwrap();
        assert_eq!(g.used(), 60);
        drop(a);
        assert_eq!(g.used(), 0);
    }
}
