//! ECS Exec: `ExecuteCommand` sessions served the way the SSM agent and the
//! Session Manager service serve them, so that the real, unmodified
//! session-manager-plugin (and fargate-local's own client) can open a shell
//! in a running task container.
//!
//! - `protocol`: the data-channel frames and the reliability layer (pure);
//! - `session`: session ids and their single-use, expiring tokens;
//! - `agent`: one session over a websocket and an exec process (no Docker);
//! - `client`: the built-in client (`fargate-local exec`);
//! - `Exec`: the glue: ExecuteCommand's answer, the data channel of a claimed
//!   session on a `docker exec` (through `ExecRuntime`), sessions ended when
//!   their task stops, and the SSM calls the plugin makes.
//!
//! Left out: KMS encryption of sessions, session logging to CloudWatch or
//! S3, and real ResumeSession (a dropped plugin is told the session timed
//! out).

pub mod agent;
pub mod client;
pub mod protocol;
pub mod session;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;

use crate::domain::status::TaskStatus;
use crate::runtime::RuntimeError;
use crate::services::ecs::execute_command::{ExecTarget, ExecuteCommandRequest};
use crate::services::ecs::{Caller, Ecs, EcsError};
use crate::services::egress::{Egress, Traffic};
use session::Sessions;

/// A websocket message, whatever the websocket library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    Text(String),
    Binary(Vec<u8>),
    Close,
}

/// A started exec process: its terminal output, its terminal input, and
/// the means to resize, wait for and end it.
pub struct ExecIo {
    pub output: BoxStream<'static, io::Result<Bytes>>,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    pub control: Arc<dyn ExecControl>,
}

#[async_trait]
pub trait ExecControl: Send + Sync {
    async fn resize(&self, rows: u16, cols: u16) -> Result<(), RuntimeError>;
    /// The exit code, once the process has exited.
    async fn exit_code(&self) -> Option<i64>;
    /// Makes sure the process is gone.
    async fn kill(&self);
}

/// Starts processes in task containers with a TTY.
#[async_trait]
pub trait ExecRuntime: Send + Sync {
    async fn exec(
        &self,
        container: &str,
        argv: Vec<String>,
        env: Vec<String>,
    ) -> Result<ExecIo, RuntimeError>;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session_id: String,
    pub stream_url: String,
    pub token_value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteCommandResponse {
    pub cluster_arn: String,
    pub container_arn: String,
    pub container_name: String,
    pub interactive: bool,
    pub session: Session,
    pub task_arn: String,
}

/// The body of the SSM calls the plugin makes (ResumeSession,
/// TerminateSession), and of their answers.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionIdBody {
    #[serde(default)]
    pub session_id: String,
}

/// The path of a session's data channel.
pub const DATA_CHANNEL_PATH: &str = "/v1/data-channel/";

/// How long a client may take to send the open message.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

struct Inner {
    ecs: Ecs,
    runtime: Arc<dyn ExecRuntime>,
    sessions: Sessions,
    egress: Egress,
}

/// The signing name of ECS Exec's data channel on AWS (the SSM agent in
/// the task talks to `ssmmessages`), under which a session's bytes count in
/// the task's egress.
pub const EGRESS_SERVICE: &str = "ssmmessages";

/// A cheap handle to ECS Exec.
#[derive(Clone)]
pub struct Exec {
    inner: Arc<Inner>,
}

/// A data channel whose bytes are counted both ways, as the task's side
/// sees them: what goes to the client left the task (`sent`).
struct Metered<S> {
    inner: S,
    traffic: Traffic,
}

impl<S> Metered<S> {
    fn new(inner: S) -> Self {
        Metered {
            inner,
            traffic: Traffic::default(),
        }
    }

    fn traffic(&self) -> Traffic {
        self.traffic
    }
}

fn message_bytes(m: &WsMessage) -> u64 {
    match m {
        WsMessage::Text(t) => t.len() as u64,
        WsMessage::Binary(b) => b.len() as u64,
        WsMessage::Close => 0,
    }
}

impl<S: Stream<Item = WsMessage> + Unpin> Stream for Metered<S> {
    type Item = WsMessage;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<WsMessage>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let std::task::Poll::Ready(Some(m)) = &polled {
            self.traffic.received += message_bytes(m);
        }
        polled
    }
}

impl<S: Sink<WsMessage> + Unpin> Sink<WsMessage> for Metered<S> {
    type Error = S::Error;

    fn poll_ready(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, m: WsMessage) -> Result<(), S::Error> {
        let n = message_bytes(&m);
        Pin::new(&mut self.inner).start_send(m)?;
        self.traffic.sent += n;
        Ok(())
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Splits a command the way the agent does in a container: shell-like
/// words, quotes honoured, no pipes, globs or variables.
pub fn split_command(command: &str) -> Option<Vec<String>> {
    shlex::split(command).filter(|v| !v.is_empty())
}

impl Exec {
    pub fn new(ecs: Ecs, runtime: Arc<dyn ExecRuntime>, egress: Egress) -> Self {
        let exec = Exec {
            inner: Arc::new(Inner {
                ecs,
                runtime,
                sessions: Sessions::default(),
                egress,
            }),
        };
        exec.spawn_task_watch();
        exec
    }

    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Ends the open sessions of tasks that are stopping.
    fn spawn_task_watch(&self) {
        let weak = Arc::downgrade(&self.inner);
        let mut changes = self.inner.ecs.watch_tasks();
        let shutdown = self.inner.ecs.runtime().shutdown();
        let stop = shutdown.signalled();
        shutdown.spawn("exec session watch", async move {
            let mut stop = std::pin::pin!(stop);
            loop {
                let changed = tokio::select! {
                    _ = &mut stop => break,
                    changed = changes.recv() => changed,
                };
                let arn = match changed {
                    Ok(c) => c.task_arn,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                let Some(inner) = weak.upgrade() else { break };
                if let Some(reason) = stopped_reason(&inner.ecs, &arn) {
                    inner.sessions.end_task(&arn, &reason);
                }
            }
        });
    }

    /// ExecuteCommand: checks the request, then creates a session whose
    /// data channel is on this endpoint (`host` is the request's Host).
    pub fn execute_command(
        &self,
        caller: &Caller,
        req: ExecuteCommandRequest,
        host: &str,
    ) -> Result<ExecuteCommandResponse, EcsError> {
        let target = self.inner.ecs.execute_command_target(caller, req)?;
        if split_command(&target.command).is_none() {
            return Err(EcsError::invalid(
                "The command could not be split into words: check its quotes.",
            ));
        }
        let (id, token) = self.inner.sessions.create(target.clone(), Instant::now());
        Ok(ExecuteCommandResponse {
            cluster_arn: target.cluster_arn,
            container_arn: target.container_arn,
            container_name: target.container_name,
            interactive: true,
            session: Session {
                stream_url: format!("ws://{host}{DATA_CHANNEL_PATH}{id}?role=publish_subscribe"),
                session_id: id,
                token_value: token,
            },
            task_arn: target.task_arn,
        })
    }

    /// AmazonSSM.ResumeSession: the plugin lost its websocket. Resuming is
    /// not supported: the answer has no token, and the plugin ends saying
    /// the session timed out. The session, if still open, ends too.
    pub fn resume_session(&self, req: SessionIdBody) -> SessionIdBody {
        self.inner.sessions.end(&req.session_id, "");
        req
    }

    /// AmazonSSM.TerminateSession: ends the session normally.
    pub fn terminate_session(&self, req: SessionIdBody) -> SessionIdBody {
        self.inner.sessions.end(&req.session_id, "");
        req
    }

    /// Serves a session's data channel on an upgraded websocket, from the
    /// open message to `channel_closed`.
    pub async fn serve_channel<S, E>(&self, session_id: String, mut ws: S)
    where
        S: Stream<Item = WsMessage> + Sink<WsMessage, Error = E> + Unpin,
    {
        let open = match tokio::time::timeout(OPEN_TIMEOUT, ws.next()).await {
            Ok(Some(WsMessage::Text(t))) => {
                serde_json::from_str::<protocol::OpenDataChannel>(&t).ok()
            }
            Ok(Some(WsMessage::Binary(b))) => serde_json::from_slice(&b).ok(),
            _ => None,
        };
        let refuse = |why: String| {
            let cc = protocol::channel_closed(&session_id, &why).encode();
            tracing::info!(session = %session_id, reason = %why, "data channel refused");
            async move { cc }
        };
        let Some(open) = open else {
            let cc = refuse("The data channel expected an open message with a token.".into()).await;
            let _ = ws.send(WsMessage::Binary(cc)).await;
            let _ = ws.send(WsMessage::Close).await;
            return;
        };
        let claimed =
            match self
                .inner
                .sessions
                .claim(&session_id, &open.token_value, Instant::now())
            {
                Ok(c) => c,
                Err(e) => {
                    let cc = refuse(e.to_string()).await;
                    let _ = ws.send(WsMessage::Binary(cc)).await;
                    let _ = ws.send(WsMessage::Close).await;
                    return;
                }
            };
        let target = claimed.target.clone();
        let io = match self.start(&target).await {
            Ok(io) => io,
            Err(why) => {
                self.inner.sessions.forget(&session_id);
                let cc = refuse(why).await;
                let _ = ws.send(WsMessage::Binary(cc)).await;
                let _ = ws.send(WsMessage::Close).await;
                return;
            }
        };
        tracing::info!(session = %session_id, task = %target.task_arn, container = %target.container_name, "exec session started");
        let ecs = self.inner.ecs.clone();
        let arn = target.task_arn.clone();
        let builtin_client = open
            .client_version
            .as_deref()
            .is_some_and(|v| v.starts_with(protocol::BUILTIN_CLIENT_VERSION_PREFIX));
        let mut metered = Metered::new(ws);
        let outcome = agent::run(
            &mut metered,
            io,
            claimed.end,
            move || stopped_reason(&ecs, &arn),
            agent::AgentOptions {
                session_id: session_id.clone(),
                builtin_client,
            },
        )
        .await;
        self.inner.sessions.forget(&session_id);
        // What the agent in the task would have sent to and received from
        // `ssmmessages`: the data channel's frames, both ways.
        self.inner
            .egress
            .add_api(&target.task_arn, EGRESS_SERVICE, metered.traffic());
        tracing::info!(session = %session_id, outcome = ?outcome, "exec session ended");
    }

    /// Starts the session's process: the command split into words, with the
    /// agent's additions to the environment.
    async fn start(&self, target: &ExecTarget) -> Result<ExecIo, String> {
        if let Some(reason) = stopped_reason(&self.inner.ecs, &target.task_arn) {
            return Err(reason);
        }
        let argv = split_command(&target.command)
            .ok_or_else(|| "The command could not be split into words.".to_string())?;
        let mut env = vec!["TERM=xterm-256color".to_string()];
        let has_lang = self
            .inner
            .ecs
            .task_record(&target.task_arn)
            .and_then(|r| {
                r.plan
                    .container(&target.container_name)
                    .map(|c| c.environment.iter().any(|(k, _)| k == "LANG"))
            })
            .unwrap_or(false);
        if !has_lang {
            env.push("LANG=C.UTF-8".into());
        }
        let name =
            crate::runtime::supervisor::container_name(&target.task_id, &target.container_name);
        self.inner
            .runtime
            .exec(&name, argv, env)
            .await
            .map_err(|e| format!("Unable to start command: {e}"))
    }
}

/// Why a task's sessions must end: it is stopping or stopped.
fn stopped_reason(ecs: &Ecs, task_arn: &str) -> Option<String> {
    let rec = ecs.task_record(task_arn)?;
    let t = &rec.task;
    let stopping =
        t.desired_status == Some(TaskStatus::Stopped) || t.last_status == Some(TaskStatus::Stopped);
    stopping.then(|| match t.stopped_reason.as_deref() {
        Some(r) if !r.is_empty() => format!("The task was stopped ({r})."),
        _ => "The task was stopped.".to_string(),
    })
}
