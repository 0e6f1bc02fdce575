//! `docker exec` with a TTY for ECS Exec sessions: creation, resizing and
//! inspection through bollard, and the start of the exec over a raw
//! upgraded connection to the engine. bollard's own `start_exec` reads a TTY
//! stream through a decoder that takes a chunk starting with byte 0, 1 or 2
//! for a multiplexing header, which corrupts binary output; the raw stream
//! is byte-exact.
//!
//! A session that ends early (websocket dropped, task stopped, terminated)
//! closes the connection, which hangs up the exec's terminal; a process that
//! survives the hangup is killed by its host pid (when the engine is local
//! and the emulator may signal it).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, ResizeExecOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::RuntimeError;
use super::docker::LazyDocker;
use crate::exec::{ExecControl, ExecIo, ExecRuntime};

trait Conn: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Conn for T {}

fn docker_err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Docker(e.to_string())
}

/// A new connection to the engine that `DOCKER_HOST` names (a Unix socket
/// or `tcp://`), else the default socket.
async fn connect() -> Result<Box<dyn Conn>, RuntimeError> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let unavailable = |e: std::io::Error| RuntimeError::Unavailable(e.to_string());
    if let Some(addr) = host.strip_prefix("tcp://") {
        let s = tokio::net::TcpStream::connect(addr.trim_end_matches('/'))
            .await
            .map_err(unavailable)?;
        return Ok(Box::new(s));
    }
    let path = host
        .strip_prefix("unix://")
        .filter(|p| !p.is_empty())
        .unwrap_or("/var/run/docker.sock");
    let s = tokio::net::UnixStream::connect(path)
        .await
        .map_err(unavailable)?;
    Ok(Box::new(s))
}

/// `POST /exec/{id}/start` with a TTY, upgraded to the raw stream.
async fn start_raw(id: &str) -> Result<TokioIo<hyper::upgrade::Upgraded>, RuntimeError> {
    let conn = connect().await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .map_err(docker_err)?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let req = hyper::Request::post(format!("/exec/{id}/start"))
        .header("host", "docker")
        .header("content-type", "application/json")
        .header("connection", "Upgrade")
        .header("upgrade", "tcp")
        .body(Full::new(Bytes::from_static(
            b"{\"Detach\":false,\"Tty\":true}",
        )))
        .map_err(docker_err)?;
    let resp = sender.send_request(req).await.map_err(docker_err)?;
    if resp.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
            .unwrap_or_default();
        return Err(RuntimeError::Docker(format!(
            "starting the exec failed ({status}): {body}"
        )));
    }
    let upgraded = hyper::upgrade::on(resp).await.map_err(docker_err)?;
    Ok(TokioIo::new(upgraded))
}

struct DockerExec {
    docker: Docker,
    id: String,
}

impl DockerExec {
    async fn state(&self) -> Option<(bool, Option<i64>, Option<i64>)> {
        let i = self.docker.inspect_exec(&self.id).await.ok()?;
        Some((i.running.unwrap_or(false), i.exit_code, i.pid))
    }
}

#[async_trait]
impl ExecControl for DockerExec {
    async fn resize(&self, rows: u16, cols: u16) -> Result<(), RuntimeError> {
        self.docker
            .resize_exec(
                &self.id,
                ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
            .await
            .map_err(docker_err)
    }

    async fn exit_code(&self) -> Option<i64> {
        // The engine marks the exec done a moment after its stream ends.
        for _ in 0..40 {
            match self.state().await {
                Some((false, code, _)) => return code,
                None => return None,
                _ => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
        None
    }

    async fn kill(&self) {
        for _ in 0..20 {
            match self.state().await {
                Some((true, _, _)) => tokio::time::sleep(Duration::from_millis(50)).await,
                _ => return,
            }
        }
        // A pid that does not fit a `pid_t` is not one: `as i32` could wrap it
        // to 0 or a negative number, and kill(2) would then signal a whole
        // process group, or every process the emulator may signal.
        if let Some((true, _, Some(pid))) = self.state().await
            && let Ok(pid) = i32::try_from(pid)
            && pid > 0
        {
            use nix::sys::signal::{Signal, kill};
            match kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL) {
                Ok(()) => {
                    tracing::info!(exec = %self.id, pid, "killed an exec process that outlived its session")
                }
                Err(e) => {
                    tracing::warn!(exec = %self.id, pid, error = %e, "an exec process outlived its session and could not be killed")
                }
            }
        }
    }
}

#[async_trait]
impl ExecRuntime for LazyDocker {
    async fn exec(
        &self,
        container: &str,
        argv: Vec<String>,
        env: Vec<String>,
    ) -> Result<ExecIo, RuntimeError> {
        let docker = self.get().await?.docker().clone();
        let created = docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(true),
                    cmd: Some(argv),
                    env: Some(env),
                    ..Default::default()
                },
            )
            .await
            .map_err(docker_err)?;
        let io = start_raw(&created.id).await?;
        let (read, write) = tokio::io::split(io);
        // One buffer, refilled in place: each read takes what the engine
        // has sent (several TTY reads when output is bulk) and hands it on
        // without a copy.
        let output = futures_util::stream::unfold(
            (read, bytes::BytesMut::new()),
            |(mut r, mut buf)| async move {
                buf.reserve(64 * 1024);
                match r.read_buf(&mut buf).await {
                    Ok(0) => None,
                    Ok(_) => {
                        let chunk = buf.split().freeze();
                        Some((Ok(chunk), (r, buf)))
                    }
                    Err(e) => Some((Err(e), (r, buf))),
                }
            },
        )
        .boxed();
        Ok(ExecIo {
            output,
            input: Box::pin(write),
            control: Arc::new(DockerExec {
                docker,
                id: created.id,
            }),
        })
    }
}
