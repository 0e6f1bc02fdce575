//! The egress lens on the wire: metering a task's API socket by AWS
//! service, and `GET /_fargate-local/egress`.
//!
//! A task's API socket is served through [`MeteredListener`]: every
//! connection counts the bytes it reads and writes. Which service they
//! belong to is known once a request's head is parsed, so bytes read wait
//! (`pending`) until the connection next writes, when they go to the
//! service of the request being answered: HTTP/1.1 clients send a request
//! whole (head and body) before its answer comes, and the next one after
//! it. What is counted is the HTTP bytes (request and answer) as they cross
//! the socket; the TCP/IP and TLS overhead of the real path is not.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};

use crate::app::App;
use crate::services::egress::report::{self, Pricing, Scope};
use crate::services::egress::{Egress, Traffic};

/// A task's API socket, metered.
pub struct MeteredListener {
    pub inner: UnixListener,
    pub egress: Egress,
    pub task_arn: String,
}

/// One connection's meter, shared by its stream and its requests.
#[derive(Clone)]
pub struct ConnMeter(Arc<Mutex<ConnState>>);

struct ConnState {
    egress: Egress,
    task_arn: String,
    /// The service of the request being answered.
    service: Option<String>,
    /// Read and not yet given to a service.
    pending: u64,
}

impl ConnMeter {
    /// The request now being handled is for `service`.
    pub fn begin(&self, service: String) {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        st.service = Some(service);
    }

    fn read(&self, n: usize) {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        st.pending += n as u64;
    }

    fn wrote(&self, n: usize) {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let sent = std::mem::take(&mut st.pending);
        let service = st.service.clone().unwrap_or_else(|| "unknown".into());
        st.egress.add_api(
            &st.task_arn,
            &service,
            Traffic {
                sent,
                received: n as u64,
            },
        );
    }
}

impl Drop for ConnState {
    fn drop(&mut self) {
        // A request that got no answer (the client gave up).
        if self.pending > 0 {
            let service = self.service.clone().unwrap_or_else(|| "unknown".into());
            self.egress.add_api(
                &self.task_arn,
                &service,
                Traffic {
                    sent: self.pending,
                    received: 0,
                },
            );
        }
    }
}

pub struct MeteredStream {
    inner: UnixStream,
    meter: ConnMeter,
}

impl AsyncRead for MeteredStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.meter.read(n);
        }
        r
    }
}

impl AsyncWrite for MeteredStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.meter.wrote(*n);
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            self.meter.wrote(*n);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for MeteredListener {
    type Io = MeteredStream;
    type Addr = ();

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((inner, _)) => {
                    let meter = ConnMeter(Arc::new(Mutex::new(ConnState {
                        egress: self.egress.clone(),
                        task_arn: self.task_arn.clone(),
                        service: None,
                        pending: 0,
                    })));
                    return (MeteredStream { inner, meter }, ());
                }
                // Out of file descriptors, most likely.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(())
    }
}

impl Connected<IncomingStream<'_, MeteredListener>> for ConnMeter {
    fn connect_info(stream: IncomingStream<'_, MeteredListener>) -> Self {
        stream.io().meter.clone()
    }
}

/// The AWS service a request on a task's socket is for, from its shape:
/// the SigV4 signing name (every SDK call is signed), else the awsJson
/// target prefix, else S3 (what an unsigned REST request is taken for).
pub fn service_of(headers: &HeaderMap, query: Option<&str>) -> String {
    if let Some(s) = super::route::signing_name(headers, query) {
        return s;
    }
    if let Some(t) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let prefix = t.split('.').next().unwrap_or(t);
        return super::service_of_target(prefix).into_owned();
    }
    "s3".into()
}

/// `GET /_fargate-local/egress?cluster=&service=&task=&azs=`.
pub fn handle(app: &App, query: Option<&str>) -> Response {
    let mut scope = Scope::default();
    let mut azs = 1u32;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "cluster" if !v.is_empty() => scope.cluster = Some(v),
            "service" if !v.is_empty() => scope.service = Some(v),
            "task" if !v.is_empty() => scope.task = Some(v),
            "azs" => match v.parse::<u32>() {
                Ok(n) if (1..=32).contains(&n) => azs = n,
                _ => {
                    return super::ApiError {
                        status: StatusCode::BAD_REQUEST,
                        code: "InvalidParameterException".into(),
                        message: format!("azs must be a whole number from 1 to 32, not `{v}`."),
                    }
                    .into_response();
                }
            },
            _ => {}
        }
    }
    let pricing = Pricing {
        region: app.region().to_string(),
        nat_per_gb_override: app.args().nat_price_per_gb,
        azs,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let r = report::build(&app.egress().snapshot(), &scope, &pricing, now);
    let body = serde_json::to_string(&r).unwrap_or_else(|_| "{}".into());
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}
