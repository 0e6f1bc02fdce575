//! The built-in ECS Exec client, `fargate-local exec`: calls ExecuteCommand
//! on the emulator's endpoint (the same API the AWS CLI calls) and speaks
//! the data-channel protocol as the session-manager-plugin does, for users
//! without the plugin and for the project's tests. Unlike the plugin it
//! exits with the remote command's exit code (the emulator sends it to this
//! client only), keeps the remote output alone on stdout (its own messages
//! go to stderr), and passes end of input on as Ctrl-D.
//!
//! `session` is the protocol half, over any websocket, input, output and
//! size stream; `run` wires it to the terminal (raw mode, restored on every
//! exit path, and window-size changes).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::WsMessage;
use super::protocol::{
    self, ACKNOWLEDGE, Acknowledge, CHANNEL_CLOSED, ChannelClosed, Frame, INPUT_STREAM_DATA,
    Incoming, OUTPUT_STREAM_DATA, OpenDataChannel, Outgoing, PayloadType, TerminalSize,
};

/// The client's version in the open message and the handshake.
pub fn client_version() -> String {
    format!(
        "{}{}",
        protocol::BUILTIN_CLIENT_VERSION_PREFIX,
        env!("CARGO_PKG_VERSION")
    )
}

/// The open message a client sends first.
pub fn open_message(token: &str) -> String {
    serde_json::to_string(&OpenDataChannel {
        message_schema_version: "1.0".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        token_value: token.to_string(),
        client_id: uuid::Uuid::new_v4().to_string(),
        client_version: Some(client_version()),
    })
    .unwrap_or_default()
}

/// How a session ended, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The remote command's exit code, when the emulator sent it.
    pub exit_code: Option<i64>,
    /// `channel_closed`'s reason; `None` when the websocket dropped without
    /// one.
    pub closed: Option<String>,
}

/// Runs the client side of a session until `channel_closed` (or the
/// websocket's end). `input` is read only once the handshake is complete,
/// as the plugin does; its end is sent as Ctrl-D. `sizes` yields the
/// terminal size, first when the session starts and then on every change.
pub async fn session<S, E, I, O, Z>(mut ws: S, mut input: I, mut output: O, mut sizes: Z) -> Outcome
where
    S: Stream<Item = WsMessage> + Sink<WsMessage, Error = E> + Unpin,
    I: Stream<Item = Vec<u8>> + Unpin,
    O: AsyncWrite + Unpin,
    Z: Stream<Item = TerminalSize> + Unpin,
{
    let mut out = Outgoing::new(INPUT_STREAM_DATA);
    let mut inc = Incoming::new();
    let mut ready = false;
    let mut input_done = false;
    let mut sizes_done = false;
    let mut exit_code = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    macro_rules! send {
        ($label:lifetime, $bytes:expr) => {
            if ws.send(WsMessage::Binary($bytes)).await.is_err() {
                break $label None;
            }
        };
    }
    let closed = 'session: loop {
        tokio::select! {
            msg = ws.next() => {
                let bytes = match msg {
                    Some(WsMessage::Binary(b)) => b,
                    Some(WsMessage::Text(t)) => t.into_bytes(),
                    Some(WsMessage::Close) | None => break None,
                };
                let Ok(frame) = Frame::decode(&bytes) else { continue };
                match frame.message_type.as_str() {
                    ACKNOWLEDGE => {
                        if let Ok(a) = serde_json::from_slice::<Acknowledge>(&frame.payload) {
                            out.ack(a.acknowledged_message_sequence_number, Instant::now());
                        }
                    }
                    CHANNEL_CLOSED => {
                        let reason = serde_json::from_slice::<ChannelClosed>(&frame.payload)
                            .map(|c| c.output)
                            .unwrap_or_default();
                        break Some(reason);
                    }
                    OUTPUT_STREAM_DATA => {
                        let ack = frame.ack().encode();
                        let r = inc.receive(frame);
                        if r.ack {
                            send!('session, ack);
                        }
                        for f in r.deliver {
                            match f.kind() {
                                Some(PayloadType::HandshakeRequest) => {
                                    let resp = protocol::handshake_response(&client_version());
                                    send!('session, out.push(PayloadType::HandshakeResponse, resp, false, Instant::now()));
                                }
                                Some(PayloadType::HandshakeComplete) => ready = true,
                                Some(PayloadType::Output | PayloadType::Error | PayloadType::StdErr) => {
                                    if output.write_all(&f.payload).await.is_err() {
                                        break;
                                    }
                                    let _ = output.flush().await;
                                }
                                Some(PayloadType::ExitCode) => {
                                    exit_code = protocol::parse_exit_code(&f.payload);
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            size = sizes.next(), if ready && !sizes_done => {
                match size {
                    Some(s) => {
                        let body = serde_json::to_vec(&s).unwrap_or_default();
                        send!('session, out.push(PayloadType::Size, body, false, Instant::now()));
                    }
                    None => sizes_done = true,
                }
            }
            keys = input.next(), if ready && !input_done => {
                let keys = match keys {
                    Some(k) if !k.is_empty() => k,
                    Some(_) => continue,
                    None => {
                        input_done = true;
                        vec![0x04]
                    }
                };
                send!('session, out.push(PayloadType::Output, keys, false, Instant::now()));
            }
            _ = tick.tick() => {
                if let Some(f) = out.due(Instant::now()) {
                    send!('session, f);
                }
            }
        }
    };
    let _ = output.flush().await;
    let _ = ws.send(WsMessage::Close).await;
    Outcome { exit_code, closed }
}

/// `fargate-local exec`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ExecArgs {
    /// The emulator's endpoint.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:4566"
    )]
    pub endpoint_url: String,
    /// The region of the task.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Cluster name or ARN.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Task id or ARN.
    #[arg(long)]
    pub task: String,
    /// Container name (needed when the task has several).
    #[arg(long)]
    pub container: Option<String>,
    /// The command, split into words as the ECS agent splits it (no shell:
    /// use `sh -c '...'` for pipes).
    #[arg(long, default_value = "/bin/sh")]
    pub command: String,
    /// Join a session that an ExecuteCommand call already created: its
    /// `session` JSON (`sessionId`, `streamUrl`, `tokenValue`), as the AWS
    /// CLI hands it to the session-manager-plugin. No call is made then.
    #[arg(long, value_name = "JSON")]
    pub session: Option<String>,
}

/// An error answer of the ECS API.
#[derive(Debug)]
pub struct ApiFailure {
    pub code: String,
    pub message: String,
}

/// awsJson 1.1's content type. The client's own copy: it speaks the
/// protocol as the AWS CLI does, and does not reach into the server's `api`.
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// `POST /` with an awsJson target on a plain-HTTP endpoint. The request
/// carries a SigV4-shaped Authorization header only for its region: the
/// emulator does not check signatures.
pub async fn call_json(
    endpoint: &str,
    region: &str,
    target: &str,
    body: &serde_json::Value,
) -> anyhow::Result<Result<serde_json::Value, ApiFailure>> {
    use http_body_util::{BodyExt, Full};
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("the endpoint must be an http:// URL: {endpoint}"))?
        .trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(authority).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let date = chrono::Utc::now().format("%Y%m%d");
    let req = hyper::Request::post("/")
        .header("host", authority)
        .header("content-type", JSON_CONTENT_TYPE)
        .header("x-amz-target", target)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=fargate-local/{date}/{region}/ecs/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(Full::new(bytes::Bytes::from(body.to_string())))?;
    let resp = sender.send_request(req).await?;
    let ok = resp.status().is_success();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if ok {
        return Ok(Ok(v));
    }
    let code = v["__type"].as_str().unwrap_or("Unknown");
    let code = code.rsplit('#').next().unwrap_or(code).to_string();
    Ok(Err(ApiFailure {
        code,
        message: v["message"].as_str().unwrap_or_default().to_string(),
    }))
}

/// Puts the terminal in raw mode for as long as it lives.
struct RawMode(bool);

impl RawMode {
    fn enable() -> Self {
        RawMode(std::io::stdin().is_terminal() && crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

fn terminal_size() -> TerminalSize {
    match crossterm::terminal::size() {
        Ok((cols, rows)) if std::io::stdout().is_terminal() && cols > 0 && rows > 0 => {
            TerminalSize {
                cols: cols as u32,
                rows: rows as u32,
            }
        }
        // What the plugin sends when its output is not a terminal.
        _ => TerminalSize {
            cols: 300,
            rows: 100,
        },
    }
}

/// `fargate-local exec`: returns the process exit status.
pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let joined = match &args.session {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| anyhow::anyhow!("--session is not a session JSON object: {e}"))?,
        None => match execute_command(&args).await? {
            Ok(v) => v["session"].clone(),
            Err(code) => return Ok(code),
        },
    };
    let session_id = joined["sessionId"].as_str().unwrap_or_default().to_string();
    let url = joined["streamUrl"].as_str().unwrap_or_default();
    let token = joined["tokenValue"].as_str().unwrap_or_default();
    // No Nagle: acks and keystrokes are small messages that must not wait
    // for the previous one's TCP acknowledgement.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    let mut ws = tungstenite_adapter(ws);
    ws.send(WsMessage::Text(open_message(token))).await?;
    eprintln!("\nStarting session with SessionId: {session_id}\r");

    let raw = RawMode::enable();
    let input = futures_util::stream::unfold(tokio::io::stdin(), |mut stdin| async move {
        let mut buf = vec![0u8; 1024];
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((buf, stdin))
            }
        }
    })
    .boxed();
    let winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
    let sizes = futures_util::stream::once(async { terminal_size() })
        .chain(futures_util::stream::unfold(winch, |mut w| async move {
            match &mut w {
                Some(s) => {
                    s.recv().await?;
                    Some((terminal_size(), w))
                }
                None => None,
            }
        }))
        .boxed();
    let outcome = session(ws, input, DirectStdout, sizes).await;
    drop(raw);
    Ok(match outcome.closed {
        Some(reason) if reason.is_empty() => {
            eprintln!("\n\nExiting session with sessionId: {session_id}.\n");
            exit_status(outcome.exit_code.unwrap_or(0))
        }
        Some(reason) => {
            eprintln!("\n\nSessionId: {session_id} : {reason}\n");
            exit_status(outcome.exit_code.unwrap_or(1))
        }
        None => {
            eprintln!("\n\nSessionId: {session_id} : the connection to the emulator was lost.\n");
            exit_status(outcome.exit_code.unwrap_or(1))
        }
    })
}

/// Standard output written in place. tokio's `Stdout` hands every write
/// to its blocking pool and the session waits for it anyway (each frame's
/// output is flushed before the next message is read, so that the
/// terminal shows it at once): two thread hand-offs per frame for nothing.
/// A write that blocks (a full pipe) holds the session up just the same
/// with either, which is the backpressure the data channel relies on.
struct DirectStdout;

impl AsyncWrite for DirectStdout {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::io::Write;
        std::task::Poll::Ready(std::io::stdout().lock().write(buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::io::Write;
        std::task::Poll::Ready(std::io::stdout().lock().flush())
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// The process exit status for a remote exit code. A status is one byte:
/// a code outside 0..=255 (which no process exits with) would be cut to its
/// low byte, 256 becoming 0, a success; it is a failure instead.
pub fn exit_status(code: i64) -> i32 {
    u8::try_from(code).map_or(1, i32::from)
}

/// A tokio-tungstenite websocket as a `WsMessage` stream and sink.
pub fn tungstenite_adapter<T>(
    ws: tokio_tungstenite::WebSocketStream<T>,
) -> impl Stream<Item = WsMessage> + Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error> + Unpin
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    ws.with(|m: WsMessage| {
        futures_util::future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(match m {
            WsMessage::Text(t) => Message::text(t),
            WsMessage::Binary(b) => Message::binary(b),
            WsMessage::Close => Message::Close(None),
        }))
    })
    .filter_map(|m| {
        futures_util::future::ready(match m {
            Ok(Message::Text(t)) => Some(WsMessage::Text(t.to_string())),
            Ok(Message::Binary(b)) => Some(WsMessage::Binary(b.to_vec())),
            Ok(Message::Close(_)) | Err(_) => Some(WsMessage::Close),
            Ok(_) => None,
        })
    })
}

/// Calls ExecuteCommand: its response, or the exit status of a refusal.
async fn execute_command(args: &ExecArgs) -> anyhow::Result<Result<serde_json::Value, i32>> {
    let mut body = serde_json::json!({
        "cluster": args.cluster,
        "task": args.task,
        "command": args.command,
        "interactive": true,
    });
    if let Some(c) = &args.container {
        body["container"] = c.clone().into();
    }
    let target = "AmazonEC2ContainerServiceV20141113.ExecuteCommand";
    match call_json(&args.endpoint_url, &args.region, target, &body).await? {
        Ok(v) => Ok(Ok(v)),
        Err(f) => {
            eprintln!(
                "An error occurred ({}) when calling the ExecuteCommand operation: {}",
                f.code, f.message
            );
            // The AWS CLI's status for an error the service answered.
            Ok(Err(254))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exit_statuses() {
        // (remote exit code, process exit status)
        for (code, want) in [
            (0, 0),
            (1, 1),
            (130, 130),
            (255, 255),
            // Cut to a byte these would read 0 (success) and 1.
            (256, 1),
            (4_294_967_296, 1),
            (-1, 1),
            (i64::MIN, 1),
        ] {
            assert_eq!(super::exit_status(code), want, "{code}");
        }
    }
}
