//! The HTTP edge: the only layer that knows HTTP and the AWS wire protocols.
//! One port serves every service; a request is routed by its shape:
//!
//! - `POST /` with `X-Amz-Target: <prefix>.<Operation>`: awsJson1.1, routed
//!   by the target prefix (ECS, CloudWatch Logs, Secrets Manager, SSM; the SSM session calls
//!   of ECS Exec);
//! - `GET /v1/data-channel/{sessionId}`: an ECS Exec session's websocket;
//! - `POST /` with a form-encoded body and no target: awsQuery, Elastic Load
//!   Balancing v2 (`Action=...&Version=2015-12-01`), SQS (`2012-11-05`,
//!   any path; SQS's awsJson `AmazonSQS.` target also takes any path), IAM
//!   (`2010-05-08`) and STS (`2011-06-15`);
//! - anything else without `X-Amz-Target` (and not awsJson): S3, see
//!   `s3.rs`;
//! - `/_fargate-local/...`: the emulator's own endpoints (health, reset,
//!   the request log, what tasks' roles were used for and the policies
//!   generated from it in `role_usage.rs`) and the console (`console/`,
//!   HTML for people).
//!
//! `task_endpoint` serves what tasks see at `169.254.170.2` (metadata,
//! credentials, this API) on per-task sockets.
//!
//! Every error leaves through [`ApiError`]'s `IntoResponse`, the one place an
//! error becomes an HTTP response.

/// One awsJson1.1 operation: decodes the body into the request `$req`, runs
/// `$call` (a backend call returning `Result<_, E>` with `ApiError: From<E>`)
/// and encodes its answer. Shared by the awsJson services' `handle`s, which
/// bring `decode`, `encode` and `ApiError` into scope.
macro_rules! call {
    ($body:expr, |$req:ident| $call:expr) => {{
        let $req = decode($body)?;
        encode(&$call.map_err(ApiError::from)?)
    }};
}

pub mod authz;
pub mod console;
pub mod ecs;
pub mod egress;
pub mod elbv2;
pub mod exec;
pub mod forward;
pub mod iam;
pub mod logs;
pub mod query;
pub mod role_usage;
pub mod route;
pub mod s3;
pub mod secretsmanager;
pub mod servicediscovery;
pub mod sqs;
pub mod ssm;
pub mod sts;
pub mod task_endpoint;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::services::kit::AwsError;
use route::Route;

/// Every backend's error becomes an [`ApiError`] the same way, through the
/// kit's [`AwsError`]: its code, its status and its message.
impl<E: AwsError> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code().to_string(),
            message: e.message(),
        }
    }
}

/// The largest awsJson request body accepted.
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An AWS-shaped error: `__type` and `message` in the body, the same code in
/// `X-Amzn-ErrorType`, 400 for client faults and 500 for server faults.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn client(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn server(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: code.to_string(),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut resp = (self.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert("content-type", HeaderValue::from_static(JSON_CONTENT_TYPE));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-errortype", v);
        }
        resp
    }
}

/// What the api layer learns from the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    /// From the SigV4 credential scope, else the configured region.
    pub region: String,
    pub access_key: Option<String>,
    /// The Host the request was sent to (ExecuteCommand's streamUrl points
    /// back at it).
    pub host: Option<String>,
}

impl RequestContext {
    pub fn from_headers(headers: &HeaderMap, default_region: &str) -> Self {
        let (access_key, region) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(sigv4_scope)
            .map(|(k, r)| (Some(k), r))
            .unwrap_or((None, default_region.to_string()));
        RequestContext {
            request_id: crate::domain::ids::uuid(),
            region,
            access_key,
            host: headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }
    }
}

/// The access key and region of a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ...`.
pub fn sigv4_scope(auth: &str) -> Option<(String, String)> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?;
    let cred = rest
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))?;
    let mut parts = cred.split('/');
    let key = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    (!region.is_empty() && !key.is_empty()).then_some((key, region))
}

pub fn router(app: App) -> Router {
    Router::new()
        .route(
            "/v1/data-channel/{session_id}",
            axum::routing::get(exec::data_channel),
        )
        .fallback(dispatch)
        .with_state(app)
}

/// Wraps a successful awsJson body.
pub fn json_response(body: Vec<u8>, request_id: &str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(JSON_CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// How much of a body over the limit is read and thrown away so that the
/// client, still sending, gets the error instead of a reset connection.
pub const MAX_DRAINED_BODY: usize = 64 * 1024 * 1024;

/// Reads a request body of at most `limit` bytes. A larger body is an
/// error, but the rest of it is read (and dropped, up to `drain`) before
/// the error is sent: answering while the client is still writing makes the
/// kernel reset the connection, and the client sees a broken pipe, not the
/// AWS-shaped error.
async fn read_body(body: Body, limit: usize, drain: usize) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt;
    let unreadable = || {
        ApiError::client(
            "SerializationException",
            format!("The request body is larger than {limit} bytes or could not be read."),
        )
    };
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            buf.extend_from_slice(&chunk);
        } else if seen > limit.saturating_add(drain) {
            break;
        }
    }
    if seen > limit {
        return Err(unreadable());
    }
    Ok(buf.freeze())
}

pub(crate) async fn dispatch(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = RequestContext::from_headers(&parts.headers, app.region());
    let path = parts.uri.path().to_string();

    let target = match route::route(&parts.method, &path, parts.uri.query(), &parts.headers) {
        Route::Internal if path.starts_with(console::PREFIX) => {
            return console::handle(&app, Request::from_parts(parts, body)).await;
        }
        Route::Internal if path == "/_fargate-local/egress" && parts.method == Method::GET => {
            return egress::handle(&app, parts.uri.query());
        }
        Route::Internal
            if path.starts_with("/_fargate-local/iam/") && parts.method == Method::GET =>
        {
            return role_usage::handle(&app, &path, parts.uri.query());
        }
        Route::Internal => return internal(&app, &parts.method, &path).await,
        Route::S3 => return s3::handle(&app, Request::from_parts(parts, body)).await,
        Route::Query { signed } => {
            return match read_body(body, MAX_JSON_BODY, MAX_DRAINED_BODY).await {
                Ok(body) => query(&app, &ctx, parts, signed.as_deref(), body).await,
                Err(e) => elbv2::error(&e.code, &e.message, false, &ctx.request_id),
            };
        }
        // Very old SQS clients send awsQuery as a GET with the parameters
        // in the query string.
        Route::Unserved { service }
            if service == "sqs" && parts.uri.query().is_some_and(|q| q.contains("Action=")) =>
        {
            let form = parts.uri.query().unwrap_or_default().as_bytes().to_vec();
            let _ = read_body(body, MAX_JSON_BODY, MAX_DRAINED_BODY).await;
            return sqs::handle_query(&app, &ctx, &path, &form).await;
        }
        Route::Unserved { service } => {
            // A REST request is passed on as it streams in.
            let operation = format!("{} {path}", parts.method);
            return unserved(
                &app,
                &ctx,
                parts,
                Unread(body),
                &service,
                &operation,
                Wire::Rest,
            )
            .await;
        }
        Route::Json { target } => target,
    };

    // The body is read first, whatever the request turns out to be, so that
    // every refusal below reaches a client that is still sending.
    let body = read_body(body, MAX_JSON_BODY, MAX_DRAINED_BODY).await;
    let Some(target) = target else {
        let err = ApiError::client(
            "UnknownOperationException",
            "This endpoint serves AWS JSON protocol requests: send POST / with an X-Amz-Target header.",
        );
        return with_request_id(err.into_response(), &ctx.request_id);
    };
    // SQS takes any path: older SDKs post to the queue URL.
    if let Some(op) = target
        .strip_prefix(sqs::TARGET_PREFIX)
        .and_then(|t| t.strip_prefix('.'))
    {
        return sqs::handle_json(&app, &ctx, op, &path, body).await;
    }
    let (prefix, op) = target.split_once('.').unwrap_or((target.as_str(), ""));
    // The request log names the service by its signing name where the
    // request has one, else by what its target prefix says.
    let service = route::signing_name(&parts.headers, None)
        .filter(|_| !served_prefix(prefix))
        .unwrap_or_else(|| service_of_target(prefix).into_owned());
    if !served_prefix(prefix) {
        let body = match body {
            Ok(body) => body,
            // Too large to pass on, but a refusal names the service first.
            Err(e) if app.forwarder().is_some() => {
                return with_request_id(e.into_response(), &ctx.request_id);
            }
            Err(_) => Bytes::new(),
        };
        return unserved(&app, &ctx, parts, Read(body), &service, op, Wire::Json).await;
    }
    if parts.method != Method::POST || path != "/" {
        let err = ApiError::client(
            "UnknownOperationException",
            format!(
                "{} {path} is not an AWS JSON protocol request; use POST /.",
                parts.method
            ),
        );
        return with_request_id(err.into_response(), &ctx.request_id);
    }
    // The task role, judged under `serve --iam` for calls signed with a
    // task's credentials.
    if let Ok(b) = &body
        && authz::is_task_call(&app, ctx.access_key.as_deref())
        && let Some((action, resources)) =
            authz::json_resources(&app, &ctx.region, &service_of_target(prefix), op, b)
        && let Err(d) = authz::judge(
            &app,
            &ctx.request_id,
            ctx.access_key.as_deref(),
            &action,
            &resources,
        )
    {
        app.record_request(&ctx, &service, op, Some("AccessDeniedException"));
        let err = ApiError::client("AccessDeniedException", d.message);
        return with_request_id(err.into_response(), &ctx.request_id);
    }
    // The value's customer KMS key, for the reads that decrypt one.
    if authz::may_decrypt(op)
        && let Ok(b) = &body
        && authz::is_task_call(&app, ctx.access_key.as_deref())
        && let Err(d) = authz::judge_kms(
            &app,
            &ctx.request_id,
            ctx.access_key.as_deref(),
            &ctx.region,
            &service_of_target(prefix),
            op,
            b,
        )
    {
        app.record_request(&ctx, &service, op, Some("AccessDeniedException"));
        let err = ApiError::client("AccessDeniedException", d.message);
        return with_request_id(err.into_response(), &ctx.request_id);
    }
    let result = match (prefix, body) {
        (ecs::TARGET_PREFIX, Ok(body)) => ecs::handle(&app, &ctx, op, &body).await,
        (logs::TARGET_PREFIX, Ok(body)) => logs::handle(&app, &ctx, op, &body).await,
        (exec::SSM_TARGET_PREFIX, body) if exec::SSM_SESSION_OPERATIONS.contains(&op) => {
            body.and_then(|b| exec::handle_ssm(&app, op, &b))
        }
        (secretsmanager::TARGET_PREFIX, Ok(body)) => {
            secretsmanager::handle(&app, &ctx, op, &body).await
        }
        (ssm::TARGET_PREFIX, Ok(body)) => ssm::handle(&app, &ctx, op, &body).await,
        (servicediscovery::TARGET_PREFIX, Ok(body)) => {
            servicediscovery::handle(&app, &ctx, op, &body).await
        }
        (_, Err(e)) => Err(e),
        // An SSM operation other than ECS Exec's session calls.
        _ => Err(forward::unserved_error(&service)),
    };
    app.record_request(
        &ctx,
        &service,
        op,
        result.as_ref().err().map(|e| e.code.as_str()),
    );
    let resp = match result {
        Ok(bytes) => json_response(bytes, &ctx.request_id),
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(target = %target, code = %e.code, message = %e.message, "request failed");
            } else {
                tracing::debug!(target = %target, code = %e.code, message = %e.message, "request refused");
            }
            e.into_response()
        }
    };
    with_request_id(resp, &ctx.request_id)
}

/// A request's body, still streaming in or already read.
enum UnservedBody {
    Unread(Body),
    Read(Bytes),
}
use UnservedBody::{Read, Unread};
use forward::Wire;

/// A request for a service fargate-local does not serve: passed to the
/// forward target if there is one, refused with a message that names the
/// service otherwise; recorded in the request log either way.
async fn unserved(
    app: &App,
    ctx: &RequestContext,
    parts: axum::http::request::Parts,
    body: UnservedBody,
    service: &str,
    operation: &str,
    wire: Wire,
) -> Response {
    let Some(forwarder) = app.forwarder() else {
        if let Unread(body) = body {
            let _ = read_body(body, MAX_JSON_BODY, MAX_DRAINED_BODY).await;
        }
        app.record_request(ctx, service, operation, Some(forward::UNSERVED));
        return forward::error_response(wire, forward::unserved_error(service), &ctx.request_id);
    };
    let body = match body {
        Unread(body) => body,
        Read(bytes) => Body::from(bytes),
    };
    match forwarder.forward(parts, body, service).await {
        Ok(resp) => {
            let failed = !resp.status().is_success();
            let status = resp.status().as_u16().to_string();
            app.record_forwarded(
                ctx,
                service,
                operation,
                forwarder.target(),
                failed.then_some(status.as_str()),
            );
            resp
        }
        Err(e) => {
            tracing::warn!(service, target = forwarder.target(), "{}", e.message);
            app.record_forwarded(ctx, service, operation, forwarder.target(), Some(&e.code));
            forward::error_response(wire, e, &ctx.request_id)
        }
    }
}

/// One awsQuery request: the service it was signed for, or whose API
/// version it names, answers it.
async fn query(
    app: &App,
    ctx: &RequestContext,
    parts: axum::http::request::Parts,
    signed: Option<&str>,
    body: Bytes,
) -> Response {
    let params = query::Params::parse(&body);
    let version = params.get("Version");
    let service = route::query_service(signed, version.as_deref());
    // A call with a task's credentials is judged as its task role first.
    if let Some(service) = service.as_deref()
        && authz::is_task_call(app, ctx.access_key.as_deref())
        && let Some((action, resources)) = authz::query_resources(
            app,
            service,
            &params.get("Action").unwrap_or_default(),
            &params,
        )
        && let Err(d) = authz::judge(
            app,
            &ctx.request_id,
            ctx.access_key.as_deref(),
            &action,
            &resources,
        )
    {
        let op = params.get("Action").unwrap_or_default();
        app.record_request(ctx, service, &op, Some("AccessDenied"));
        let xmlns = if service == "iam" {
            iam::XMLNS
        } else {
            elbv2::XMLNS
        };
        return query::error(
            xmlns,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            &d.message,
            &ctx.request_id,
        );
    }
    match service.as_deref() {
        Some("elasticloadbalancing") => {
            elbv2::handle(app, &ctx.region, &ctx.request_id, &body).await
        }
        Some("sqs") => sqs::handle_query(app, ctx, parts.uri.path(), &body).await,
        Some(service @ ("iam" | "sts")) => {
            let (action, result) = if service == "iam" {
                iam::handle(app, &ctx.request_id, &params)
            } else {
                sts::handle(app, ctx.access_key.as_deref(), &ctx.request_id, &params)
            };
            app.record_request(
                ctx,
                service,
                &action,
                result.as_ref().err().map(|e| e.code()),
            );
            match result {
                Ok(resp) => resp,
                Err(e) if service == "iam" => iam::error(&e, &ctx.request_id),
                Err(e) => sts::error(&e, &ctx.request_id),
            }
        }
        Some(service) => {
            let action = params.get("Action").unwrap_or_default();
            unserved(app, ctx, parts, Read(body), service, &action, Wire::Query).await
        }
        None => {
            let message = format!(
                "A form-encoded request needs the Version of an awsQuery API, not '{}'.",
                version.unwrap_or_default()
            );
            elbv2::error("InvalidAction", &message, false, &ctx.request_id)
        }
    }
}

/// Whether fargate-local serves an awsJson target prefix.
fn served_prefix(prefix: &str) -> bool {
    [
        ecs::TARGET_PREFIX,
        logs::TARGET_PREFIX,
        secretsmanager::TARGET_PREFIX,
        ssm::TARGET_PREFIX,
        sqs::TARGET_PREFIX,
        servicediscovery::TARGET_PREFIX,
    ]
    .contains(&prefix)
}

/// The service an awsJson target prefix names, as the request log records
/// it: the IAM service prefix (`ecs`, `logs`, ...). The log is given a
/// service, not a wire name; a prefix fargate-local does not serve is
/// recorded lower-cased.
fn service_of_target(prefix: &str) -> std::borrow::Cow<'static, str> {
    match prefix {
        ecs::TARGET_PREFIX => "ecs".into(),
        logs::TARGET_PREFIX => "logs".into(),
        // ECS Exec's session calls share SSM's prefix.
        ssm::TARGET_PREFIX => "ssm".into(),
        secretsmanager::TARGET_PREFIX => "secretsmanager".into(),
        sqs::TARGET_PREFIX => "sqs".into(),
        servicediscovery::TARGET_PREFIX => "servicediscovery".into(),
        other => other.to_ascii_lowercase().into(),
    }
}

/// `/_fargate-local/health`, `/_fargate-local/requests` and
/// `/_fargate-local/reset`.
async fn internal(app: &App, method: &Method, path: &str) -> Response {
    match (method, path) {
        (&Method::GET, "/_fargate-local/health") => {
            let body = serde_json::json!({
                "status": "ok",
                "version": env!("CARGO_PKG_VERSION"),
                "docker": app.docker_status(),
            });
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        (&Method::GET, "/_fargate-local/requests") => {
            let body = serde_json::json!({ "requests": app.requests().entries() });
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        (&Method::POST, "/_fargate-local/reset") => match app.reset().await {
            Ok(()) => (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"reset\":true}".to_string(),
            )
                .into_response(),
            Err(e) => ApiError::server("ServerException", e.to_string()).into_response(),
        },
        _ => ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound".into(),
            message: format!("{method} {path} is not an endpoint of fargate-local."),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A body of `chunks` chunks of `size` bytes that counts what was read.
    fn counted_body(chunks: usize, size: usize) -> (Body, Arc<AtomicUsize>) {
        let read = Arc::new(AtomicUsize::new(0));
        let r = read.clone();
        let stream = futures_util::stream::iter((0..chunks).map(move |_| {
            r.fetch_add(size, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b' '; size]))
        }));
        (Body::from_stream(stream), read)
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_drained_then_refused() {
        // (chunks, limit, drain, ok, bytes read)
        let cases = [
            (4, 4096, 0, true, 4096),
            (5, 4096, 1 << 20, false, 5120),
            (100, 4096, 8192, false, 13312),
        ];
        for (chunks, limit, drain, ok, want_read) in cases {
            let (body, read) = counted_body(chunks, 1024);
            let got = read_body(body, limit, drain).await;
            assert_eq!(got.is_ok(), ok, "{chunks} chunks");
            if let Ok(b) = &got {
                assert_eq!(b.len(), chunks * 1024);
            }
            if let Err(e) = got {
                assert_eq!(e.code, "SerializationException");
                assert!(e.message.contains(&limit.to_string()));
            }
            assert_eq!(read.load(Ordering::SeqCst), want_read, "{chunks} chunks");
        }
    }

    #[test]
    fn services_by_target_prefix() {
        for (prefix, want) in [
            ("AmazonEC2ContainerServiceV20141113", "ecs"),
            ("Logs_20140328", "logs"),
            ("AmazonSSM", "ssm"),
            (exec::SSM_TARGET_PREFIX, "ssm"),
            ("secretsmanager", "secretsmanager"),
            ("Route53AutoNaming_v20170314", "servicediscovery"),
            ("AWSCognitoIdentityService", "awscognitoidentityservice"),
        ] {
            assert_eq!(service_of_target(prefix), want, "{prefix}");
        }
    }

    #[test]
    fn region_comes_from_the_credential_scope() {
        let cases = [
            (
                "AWS4-HMAC-SHA256 Credential=AKID/20261128/eu-west-1/ecs/aws4_request, SignedHeaders=host, Signature=x",
                Some(("AKID", "eu-west-1")),
            ),
            ("AWS4-HMAC-SHA256 Credential=AKID/20261128", None),
            ("Bearer x", None),
        ];
        for (header, want) in cases {
            let got = sigv4_scope(header);
            assert_eq!(
                got.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                want,
                "{header}"
            );
        }
    }
}
