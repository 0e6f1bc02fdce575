//! The agent side of a session: what the SSM agent inside an ECS container
//! does, over a websocket and a `docker exec` process. Handshake
//! (InteractiveCommands), process output to `output_stream_data`, keystrokes
//! and terminal sizes to the process, acknowledgements and retransmission,
//! and `channel_closed` at the end, whichever way the session ends.
//!
//! Written over a `Stream`/`Sink` of `WsMessage` and an `ExecIo`, so it runs
//! in tests against the built-in client without Docker or a socket.

use std::time::{Duration, Instant};

use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use super::protocol::{
    self, ACKNOWLEDGE, Acknowledge, FLAG_TERMINATE_SESSION, Frame, HandshakeResponse,
    INPUT_STREAM_DATA, Incoming, OUTPUT_STREAM_DATA, Outgoing, PayloadType, TerminalSize,
};
use super::{ExecIo, WsMessage};

/// The largest output payload. The real agent sends at most 1 KiB per
/// message; the session-manager-plugin reads messages of any length (no
/// websocket read limit, the payload is whatever follows the header), so
/// output that is ready at once goes in frames of up to 32 KiB: per-frame
/// costs (digest, websocket frame, ack) are paid 32 times less on bulk
/// output, and a keystroke's echo still goes out alone, at once.
pub const MAX_CHUNK: usize = 32 * 1024;
/// How many output messages may wait for their ack before the process's
/// output is read again (flow control): at most 2 MiB in flight.
pub const WINDOW: usize = 64;
/// Output goes out at once while fewer messages than this wait for their
/// ack (an echo, a prompt: nothing else is in flight). Past it, output
/// gathers until a frame is full or acks come back, as Nagle's algorithm
/// does for TCP: a TTY hands over at most 4 KiB per read, and bulk output
/// sent as it comes would cost a frame, a digest and an ack per 4 KiB.
pub const PIPELINE: usize = 4;
/// How long the client has to answer the handshake (the agent's limit).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long unacked output may hold up `channel_closed`.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
pub const AGENT_VERSION: &str = "3.3.0.0";

pub struct AgentOptions {
    pub session_id: String,
    /// The client is fargate-local's own: it gets the exit code.
    pub builtin_client: bool,
}

/// How a session ended, for the log and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The process exited (exit code when known); `channel_closed` sent.
    Exited(Option<i64>),
    /// Ended from outside (task stopped, TerminateSession) with this reason.
    Ended(String),
    /// The client ended it (a TerminateSession flag).
    ClientTerminated,
    /// The websocket went away; the process was killed.
    Dropped,
    HandshakeFailed(String),
}

struct Channel<S> {
    ws: S,
    out: Outgoing,
    inc: Incoming,
    session_id: String,
}

impl<S, E> Channel<S>
where
    S: Stream<Item = WsMessage> + Sink<WsMessage, Error = E> + Unpin,
{
    async fn send(&mut self, bytes: Vec<u8>) -> bool {
        self.ws.send(WsMessage::Binary(bytes)).await.is_ok()
    }

    async fn push(&mut self, kind: PayloadType, payload: Vec<u8>) -> bool {
        let frame = self.out.push(kind, payload, true, Instant::now());
        self.send(frame).await
    }

    async fn close(&mut self, reason: &str) {
        let cc = protocol::channel_closed(&self.session_id, reason).encode();
        let _ = self.send(cc).await;
        let _ = self.ws.send(WsMessage::Close).await;
    }

    /// Sends `held` output, in frames of at most `MAX_CHUNK`.
    async fn push_output(&mut self, held: &mut Vec<u8>) -> bool {
        if held.len() <= MAX_CHUNK {
            let bytes = std::mem::take(held);
            return bytes.is_empty() || self.push(PayloadType::Output, bytes).await;
        }
        let bytes = std::mem::take(held);
        for part in bytes.chunks(MAX_CHUNK) {
            if !self.push(PayloadType::Output, part.to_vec()).await {
                return false;
            }
        }
        true
    }

    async fn resend_due(&mut self) -> bool {
        match self.out.due(Instant::now()) {
            Some(f) => self.send(f).await,
            None => true,
        }
    }
}

/// What one received websocket message asks of the session.
enum Event {
    None,
    Input(Vec<u8>),
    Size(TerminalSize),
    Handshake(HandshakeResponse),
    Terminate,
}

impl<S, E> Channel<S>
where
    S: Stream<Item = WsMessage> + Sink<WsMessage, Error = E> + Unpin,
{
    /// Handles a websocket message: acks are applied, stream data is acked
    /// and its deliverable frames become events. `None`: the socket is gone.
    async fn receive(&mut self, msg: Option<WsMessage>) -> Option<Vec<Event>> {
        let bytes = match msg? {
            WsMessage::Binary(b) => b,
            // The plugin never sends text after the open message; a stray
            // one is parsed like binary, as the plugin does.
            WsMessage::Text(t) => t.into_bytes(),
            WsMessage::Close => return None,
        };
        let frame = match Frame::decode(&bytes) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "dropping a malformed frame");
                return Some(Vec::new());
            }
        };
        match frame.message_type.as_str() {
            ACKNOWLEDGE => {
                if let Ok(a) = serde_json::from_slice::<Acknowledge>(&frame.payload) {
                    self.out
                        .ack(a.acknowledged_message_sequence_number, Instant::now());
                }
                Some(Vec::new())
            }
            INPUT_STREAM_DATA => {
                let ack = frame.ack();
                let r = self.inc.receive(frame);
                if r.ack && !self.send(ack.encode()).await {
                    return None;
                }
                Some(r.deliver.into_iter().map(event).collect())
            }
            _ => Some(Vec::new()),
        }
    }
}

fn event(f: Frame) -> Event {
    match f.kind() {
        Some(PayloadType::Output) if !f.payload.is_empty() => Event::Input(f.payload),
        Some(PayloadType::Size) => serde_json::from_slice(&f.payload)
            .map(Event::Size)
            .unwrap_or(Event::None),
        Some(PayloadType::HandshakeResponse) => serde_json::from_slice(&f.payload)
            .map(Event::Handshake)
            .unwrap_or_else(|_| Event::Handshake(HandshakeResponse::default())),
        Some(PayloadType::Flag)
            if f.payload.len() == 4
                && u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]])
                    == FLAG_TERMINATE_SESSION =>
        {
            Event::Terminate
        }
        _ => Event::None,
    }
}

/// Runs a session to its end. `ended` asks why the process's output ended
/// (a stopped task gives a reason; `None` is a normal exit); `end` carries a
/// reason to end the session from outside.
pub async fn run<S, E>(
    ws: S,
    io: ExecIo,
    mut end: watch::Receiver<Option<String>>,
    ended: impl Fn() -> Option<String>,
    opts: AgentOptions,
) -> Ended
where
    S: Stream<Item = WsMessage> + Sink<WsMessage, Error = E> + Unpin,
{
    let ExecIo {
        mut output,
        mut input,
        control,
    } = io;
    let mut ch = Channel {
        ws,
        out: Outgoing::new(OUTPUT_STREAM_DATA),
        inc: Incoming::new(),
        session_id: opts.session_id.clone(),
    };
    // Keystrokes go to the process from a task of their own: a process that
    // does not read must not stop acks and output.
    let (keys_tx, mut keys_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(k) = keys_rx.recv().await {
            if input.write_all(&k).await.is_err() || input.flush().await.is_err() {
                break;
            }
        }
        let _ = input.shutdown().await;
    });
    let started = Instant::now();
    let handshake = protocol::handshake_request(AGENT_VERSION);
    let mut handshaken = false;
    let mut output_done = false;
    // Output read from the process and not yet sent (see PIPELINE).
    let mut held: Vec<u8> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome: Ended = 'session: {
        if !ch.push(PayloadType::HandshakeRequest, handshake).await {
            break 'session Ended::Dropped;
        }
        loop {
            let can_read =
                handshaken && !output_done && ch.out.unacked() < WINDOW && held.len() < MAX_CHUNK;
            tokio::select! {
                msg = ch.ws.next() => {
                    let Some(events) = ch.receive(msg).await else {
                        break 'session Ended::Dropped;
                    };
                    for ev in events {
                        match ev {
                            Event::None => {}
                            Event::Input(k) => {
                                let _ = keys_tx.send(k);
                            }
                            Event::Size(s) => {
                                let rows = s.rows.clamp(1, u16::MAX as u32) as u16;
                                let cols = s.cols.clamp(1, u16::MAX as u32) as u16;
                                if let Err(e) = control.resize(rows, cols).await {
                                    tracing::debug!(error = %e, "resize failed");
                                }
                            }
                            Event::Handshake(r) => {
                                if handshaken {
                                    continue;
                                }
                                let failed = r.processed_client_actions.iter().find(|a| a.action_status != 1);
                                if let Some(a) = failed {
                                    let why = format!("The client refused the session type: {} {}", a.action_type, a.error);
                                    ch.close(&why).await;
                                    break 'session Ended::HandshakeFailed(why);
                                }
                                let done = protocol::handshake_complete(started.elapsed(), "");
                                if !ch.push(PayloadType::HandshakeComplete, done).await {
                                    break 'session Ended::Dropped;
                                }
                                handshaken = true;
                            }
                            Event::Terminate => {
                                ch.close("").await;
                                break 'session Ended::ClientTerminated;
                            }
                        }
                    }
                }
                chunk = output.next(), if can_read => {
                    match chunk {
                        Some(Ok(bytes)) => {
                            held.extend_from_slice(&bytes);
                            // Bulk output: what else is ready now joins
                            // this frame, up to MAX_CHUNK.
                            while held.len() < MAX_CHUNK {
                                match output.next().now_or_never() {
                                    Some(Some(Ok(more))) => held.extend_from_slice(&more),
                                    Some(Some(Err(e))) => {
                                        tracing::debug!(error = %e, "exec output failed");
                                        output_done = true;
                                        break;
                                    }
                                    Some(None) => {
                                        output_done = true;
                                        break;
                                    }
                                    None => break,
                                }
                            }
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "exec output failed");
                            output_done = true;
                        }
                        None => output_done = true,
                    }
                }
                _ = tick.tick() => {
                    if !ch.resend_due().await {
                        break 'session Ended::Dropped;
                    }
                    if !handshaken && started.elapsed() > HANDSHAKE_TIMEOUT {
                        let why = "Handshake timed out. Please ensure that you have the latest version of the session manager plugin.".to_string();
                        ch.close(&why).await;
                        break 'session Ended::HandshakeFailed(why);
                    }
                }
                changed = end.changed() => {
                    let reason = match changed {
                        Ok(()) => end.borrow().clone().unwrap_or_default(),
                        Err(_) => String::new(),
                    };
                    if ch.push_output(&mut held).await {
                        drain(&mut ch).await;
                    }
                    ch.close(&reason).await;
                    break 'session Ended::Ended(reason);
                }
            }
            // Held output goes once a frame is full, the process has ended
            // or few messages are in flight (acks arriving free them).
            if !held.is_empty()
                && (held.len() >= MAX_CHUNK || output_done || ch.out.unacked() < PIPELINE)
                && !ch.push_output(&mut held).await
            {
                break 'session Ended::Dropped;
            }
            if output_done {
                // The process ended: deliver what it wrote, then say why.
                drain(&mut ch).await;
                let code = control.exit_code().await;
                let reason = ended();
                if opts.builtin_client
                    && let Some(c) = code
                {
                    let _ = ch
                        .push(PayloadType::ExitCode, protocol::exit_code_payload(c))
                        .await;
                    drain(&mut ch).await;
                }
                ch.close(reason.as_deref().unwrap_or("")).await;
                break 'session match reason {
                    Some(r) => Ended::Ended(r),
                    None => Ended::Exited(code),
                };
            }
        }
    };
    drop(keys_tx);
    writer.abort();
    if !matches!(outcome, Ended::Exited(_)) {
        control.kill().await;
    }
    outcome
}

/// Waits (at most `DRAIN_TIMEOUT`) until every output message is acked,
/// resending as needed and still taking acks.
async fn drain<S, E>(ch: &mut Channel<S>)
where
    S: Stream<Item = WsMessage> + Sink<WsMessage, Error = E> + Unpin,
{
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while ch.out.unacked() > 0 && tokio::time::Instant::now() < deadline {
        tokio::select! {
            msg = ch.ws.next() => {
                if ch.receive(msg).await.is_none() {
                    return;
                }
            }
            _ = tick.tick() => {
                if !ch.resend_due().await {
                    return;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The agent against the built-in client over an in-memory websocket
    //! that can lose, duplicate and reorder frames, on a fake process that
    //! echoes what it is sent and exits on `exit N`.

    use std::collections::HashMap;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use async_trait::async_trait;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;
    use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

    use super::*;
    use crate::exec::client::{self, Outcome};
    use crate::exec::{ExecControl, ExecIo};
    use crate::runtime::RuntimeError;

    /// Decides the fate of a frame the agent sends: how many copies arrive.
    type Fate = Arc<dyn Fn(&Frame) -> usize + Send + Sync>;

    /// One end of an in-memory websocket.
    struct End {
        rx: UnboundedReceiver<WsMessage>,
        tx: UnboundedSender<WsMessage>,
        fate: Option<Fate>,
    }

    fn pair(fate: Option<Fate>) -> (End, End) {
        let (a_tx, a_rx) = unbounded_channel();
        let (b_tx, b_rx) = unbounded_channel();
        (
            End {
                rx: a_rx,
                tx: b_tx,
                fate,
            },
            End {
                rx: b_rx,
                tx: a_tx,
                fate: None,
            },
        )
    }

    impl Stream for End {
        type Item = WsMessage;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WsMessage>> {
            self.rx.poll_recv(cx)
        }
    }

    impl Sink<WsMessage> for End {
        type Error = ();
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, m: WsMessage) -> Result<(), ()> {
            let copies = match (&self.fate, &m) {
                (Some(f), WsMessage::Binary(b)) => Frame::decode(b).map_or(1, |fr| f(&fr)),
                _ => 1,
            };
            for _ in 0..copies {
                self.tx.send(m.clone()).map_err(|_| ())?;
            }
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct Fake {
        sizes: Mutex<Vec<(u16, u16)>>,
        code: Mutex<Option<i64>>,
        killed: Mutex<bool>,
    }

    #[async_trait]
    impl ExecControl for Fake {
        async fn resize(&self, rows: u16, cols: u16) -> Result<(), RuntimeError> {
            self.sizes.lock().unwrap().push((rows, cols));
            Ok(())
        }
        async fn exit_code(&self) -> Option<i64> {
            *self.code.lock().unwrap()
        }
        async fn kill(&self) {
            *self.killed.lock().unwrap() = true;
        }
    }

    /// A process that prints a prompt, echoes each line and exits on
    /// `exit N`; `big` prints that many bytes first.
    fn fake_process(big: usize) -> (ExecIo, Arc<Fake>) {
        let fake = Arc::new(Fake::default());
        let (out_tx, out_rx) = unbounded_channel::<std::io::Result<Bytes>>();
        let (input, mut from_agent) = tokio::io::duplex(64 * 1024);
        let f = fake.clone();
        tokio::spawn(async move {
            let data: Vec<u8> = (0..big).map(|i| (i * 7 % 256) as u8).collect();
            for c in data.chunks(4000) {
                let _ = out_tx.send(Ok(Bytes::copy_from_slice(c)));
            }
            let _ = out_tx.send(Ok(Bytes::from_static(b"$ ")));
            let mut line = Vec::new();
            let mut buf = [0u8; 256];
            loop {
                let n = match from_agent.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                for &b in &buf[..n] {
                    if b != b'\r' {
                        line.push(b);
                        continue;
                    }
                    let text = String::from_utf8_lossy(&line).to_string();
                    line.clear();
                    if let Some(code) = text.strip_prefix("exit ") {
                        *f.code.lock().unwrap() = code.trim().parse().ok();
                        return;
                    }
                    let _ = out_tx.send(Ok(Bytes::from(format!("{text}\r\n$ "))));
                }
            }
        });
        let output = futures_util::stream::unfold(out_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed();
        let io = ExecIo {
            output,
            input: Box::pin(input),
            control: fake.clone(),
        };
        (io, fake)
    }

    struct Run {
        outcome: Outcome,
        ended: Ended,
        printed: Vec<u8>,
        fake: Arc<Fake>,
    }

    async fn run_session(fate: Option<Fate>, typed: &[&str], big: usize) -> Run {
        let (agent_end, client_end) = pair(fate);
        let (io, fake) = fake_process(big);
        let (_end_tx, end_rx) = watch::channel(None);
        let agent = tokio::spawn(run(
            agent_end,
            io,
            end_rx,
            || None,
            AgentOptions {
                session_id: "s-1".into(),
                builtin_client: true,
            },
        ));
        let keys: Vec<Vec<u8>> = typed.iter().map(|s| s.as_bytes().to_vec()).collect();
        let input = futures_util::stream::iter(keys)
            .then(|k| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                k
            })
            .chain(futures_util::stream::pending());
        let sizes = futures_util::stream::iter([TerminalSize {
            cols: 120,
            rows: 30,
        }]);
        let mut printed = Vec::new();
        let outcome = tokio::time::timeout(
            Duration::from_secs(20),
            client::session(client_end, Box::pin(input), &mut printed, sizes),
        )
        .await
        .expect("the session ended");
        let ended = agent.await.unwrap();
        Run {
            outcome,
            ended,
            printed,
            fake,
        }
    }

    #[tokio::test]
    async fn a_shell_session_echoes_resizes_and_exits_with_its_code() {
        let r = run_session(None, &["echo hi\r", "exit 7\r"], 0).await;
        assert_eq!(String::from_utf8_lossy(&r.printed), "$ echo hi\r\n$ ");
        assert_eq!(
            r.outcome,
            Outcome {
                exit_code: Some(7),
                closed: Some(String::new())
            }
        );
        assert_eq!(r.ended, Ended::Exited(Some(7)));
        assert_eq!(*r.fake.sizes.lock().unwrap(), vec![(30, 120)]);
        assert!(!*r.fake.killed.lock().unwrap());
    }

    fn want_big(n: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
        v.extend_from_slice(b"$ ");
        v
    }

    #[tokio::test]
    async fn output_survives_lost_duplicated_and_early_frames() {
        // Every 5th output frame is lost the first time it is sent, every
        // 7th arrives twice, and the handshake request is lost once.
        let seen: Arc<Mutex<HashMap<i64, usize>>> = Arc::default();
        let fate: Fate = Arc::new(move |f: &Frame| {
            if f.message_type != OUTPUT_STREAM_DATA {
                return 1;
            }
            let mut s = seen.lock().unwrap();
            let n = s.entry(f.sequence_number).or_default();
            *n += 1;
            match (f.sequence_number, *n) {
                (seq, 1) if seq % 5 == 0 => 0,
                (seq, _) if seq % 7 == 0 => 2,
                _ => 1,
            }
        });
        let n = 50_000;
        let r = run_session(Some(fate), &["exit 0\r"], n).await;
        assert_eq!(r.printed, want_big(n));
        assert_eq!(r.outcome.exit_code, Some(0));
        assert_eq!(r.ended, Ended::Exited(Some(0)));
    }

    #[tokio::test]
    async fn bulk_output_goes_in_large_frames_and_arrives_whole() {
        // 1 MiB ready at once, in 4000-byte pieces as a TTY gives them: the
        // pieces are joined into frames of at most MAX_CHUNK, so far fewer
        // frames than pieces go out, and the bytes arrive unchanged.
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let fate: Fate = Arc::new(move |f: &Frame| {
            if f.message_type == OUTPUT_STREAM_DATA && f.sequence_number > 1 {
                seen.lock().unwrap().push(f.payload.len());
            }
            1
        });
        let n = 1 << 20;
        let r = run_session(Some(fate), &["exit 0\r"], n).await;
        assert_eq!(r.printed, want_big(n));
        let sizes = sizes.lock().unwrap();
        assert!(sizes.iter().all(|&len| len <= MAX_CHUNK), "{sizes:?}");
        assert!(
            sizes.len() < n / 4000 / 4,
            "{} frames for {} pieces",
            sizes.len(),
            n / 4000
        );
    }

    #[tokio::test]
    async fn a_session_ended_from_outside_says_why_and_kills_the_process() {
        let (agent_end, client_end) = pair(None);
        let (io, fake) = fake_process(0);
        let (end_tx, end_rx) = watch::channel(None);
        let agent = tokio::spawn(run(
            agent_end,
            io,
            end_rx,
            || None,
            AgentOptions {
                session_id: "s-1".into(),
                builtin_client: false,
            },
        ));
        let client = tokio::spawn(client::session(
            client_end,
            Box::pin(futures_util::stream::pending()),
            Vec::new(),
            futures_util::stream::pending(),
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        end_tx.send(Some("The task was stopped.".into())).unwrap();
        let outcome = client.await.unwrap();
        assert_eq!(outcome.closed.as_deref(), Some("The task was stopped."));
        assert_eq!(outcome.exit_code, None);
        assert_eq!(
            agent.await.unwrap(),
            Ended::Ended("The task was stopped.".into())
        );
        assert!(*fake.killed.lock().unwrap());
    }

    #[tokio::test]
    async fn a_dropped_websocket_kills_the_process() {
        let (agent_end, client_end) = pair(None);
        let (io, fake) = fake_process(0);
        let (_end_tx, end_rx) = watch::channel(None);
        let agent = tokio::spawn(run(
            agent_end,
            io,
            end_rx,
            || None,
            AgentOptions {
                session_id: "s-1".into(),
                builtin_client: false,
            },
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(client_end);
        assert_eq!(agent.await.unwrap(), Ended::Dropped);
        assert!(*fake.killed.lock().unwrap());
    }
}
