//! SQS on awsJson1.0 (`X-Amz-Target: AmazonSQS.<Op>`): one `match` from
//! operation name to backend method (`services::sqs`). Errors carry the
//! model's shape name in `__type` and the awsQuery code in
//! `x-amzn-query-error` (`<code>;Sender`), which SDKs built on the
//! query-compatible model read to name the error (Ruby raises
//! `NonExistentQueue` from it, the Rust SDK matches `QueueDoesNotExist`).
//!
//! Any path is accepted: Ruby and Java v1 post to the queue URL itself, and
//! a request without `QueueUrl` names its queue by that path.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ApiError, RequestContext};
use crate::app::App;
use crate::services::kit::AwsError;
use crate::services::sqs::{Caller, SqsError};

pub const TARGET_PREFIX: &str = "AmazonSQS";
pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Operations that name no queue by URL.
const NO_QUEUE_URL: &[&str] = &["CreateQueue", "GetQueueUrl", "ListQueues"];

/// The caller as the backend sees it.
pub fn caller<'a>(app: &App, ctx: &'a RequestContext) -> Caller<'a> {
    let _ = app;
    Caller {
        region: &ctx.region,
        host: ctx.host.as_deref().unwrap_or("localhost"),
        principal: ctx.access_key.as_deref().unwrap_or("000000000000"),
    }
}

fn decode<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, SqsError> {
    serde_json::from_value(v).map_err(|e| SqsError::Serialization(format!("{e}")))
}

fn encode<T: Serialize>(r: Result<T, SqsError>) -> Result<Vec<u8>, SqsError> {
    r.map(|v| serde_json::to_vec(&v).expect("responses serialize"))
}

/// The request's members, with `QueueUrl` taken from the path when the
/// body has none.
fn members(op: &str, path: &str, host: &str, body: &[u8]) -> Result<serde_json::Value, SqsError> {
    let mut v: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| SqsError::Serialization(e.to_string()))?
    };
    let obj = v
        .as_object_mut()
        .ok_or_else(|| SqsError::Serialization("The request body is not a JSON object.".into()))?;
    if !obj.contains_key("QueueUrl") && path != "/" && !NO_QUEUE_URL.contains(&op) {
        obj.insert("QueueUrl".into(), format!("http://{host}{path}").into());
    }
    Ok(v)
}

async fn call(
    app: &App,
    ctx: &RequestContext,
    op: &str,
    path: &str,
    body: &[u8],
) -> Result<Vec<u8>, SqsError> {
    let sqs = app.sqs();
    let c = caller(app, ctx);
    let v = members(op, path, c.host, body)?;
    match op {
        "CreateQueue" => encode(sqs.create_queue(&c, decode(v)?)),
        "GetQueueUrl" => encode(sqs.get_queue_url(&c, decode(v)?)),
        "ListQueues" => encode(sqs.list_queues(&c, decode(v)?)),
        "DeleteQueue" => encode(sqs.delete_queue(&c, decode(v)?)),
        "PurgeQueue" => encode(sqs.purge_queue(&c, decode(v)?)),
        "GetQueueAttributes" => encode(sqs.get_queue_attributes(&c, decode(v)?)),
        "SetQueueAttributes" => encode(sqs.set_queue_attributes(&c, decode(v)?)),
        "SendMessage" => encode(sqs.send_message(&c, decode(v)?)),
        "ReceiveMessage" => encode(sqs.receive_message(&c, decode(v)?).await),
        "DeleteMessage" => encode(sqs.delete_message(&c, decode(v)?)),
        "ChangeMessageVisibility" => encode(sqs.change_message_visibility(&c, decode(v)?)),
        "SendMessageBatch" => encode(sqs.send_message_batch(&c, decode(v)?)),
        "DeleteMessageBatch" => encode(sqs.delete_message_batch(&c, decode(v)?)),
        "ChangeMessageVisibilityBatch" => {
            encode(sqs.change_message_visibility_batch(&c, decode(v)?))
        }
        "TagQueue" => encode(sqs.tag_queue(&c, decode(v)?)),
        "UntagQueue" => encode(sqs.untag_queue(&c, decode(v)?)),
        "ListQueueTags" => encode(sqs.list_queue_tags(&c, decode(v)?)),
        "ListDeadLetterSourceQueues" => encode(sqs.list_dead_letter_source_queues(&c, decode(v)?)),
        other => Err(SqsError::InvalidAction(format!(
            "The action {other} is not valid for this endpoint."
        ))),
    }
}

/// Handles one awsJson SQS request (its body already read, or the reason it
/// could not be).
pub async fn handle_json(
    app: &App,
    ctx: &RequestContext,
    op: &str,
    path: &str,
    body: Result<Bytes, ApiError>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            app.record_request(ctx, "sqs", op, Some(&e.code));
            return e.into_response();
        }
    };
    let result = call(app, ctx, op, path, &body).await;
    app.record_request(ctx, "sqs", op, result.as_ref().err().map(|e| e.code()));
    let mut resp = match result {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(e) => json_error(&e),
    };
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(JSON_CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// The one place an SQS error becomes an awsJson response.
fn json_error(e: &SqsError) -> Response {
    if e.is_server_fault() {
        tracing::error!(code = e.code(), message = %e.message(), "SQS request failed");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.sqs#{}", e.code()),
        "message": e.message(),
    });
    let mut resp = (status, body.to_string()).into_response();
    let fault = if e.is_server_fault() {
        "Receiver"
    } else {
        "Sender"
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", e.query_code())) {
        h.insert("x-amzn-query-error", v);
    }
    if let Ok(v) = HeaderValue::from_str(e.code()) {
        h.insert("x-amzn-errortype", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_url_comes_from_the_path_when_the_body_has_none() {
        let v = members("SendMessage", "/000000000000/q", "h:1", b"{}").unwrap();
        assert_eq!(v["QueueUrl"], "http://h:1/000000000000/q");
        let v = members("SendMessage", "/", "h:1", b"").unwrap();
        assert!(v.get("QueueUrl").is_none());
        let v = members("SendMessage", "/a/b", "h", br#"{"QueueUrl":"u"}"#).unwrap();
        assert_eq!(v["QueueUrl"], "u");
        let v = members("CreateQueue", "/a/b", "h", b"{}").unwrap();
        assert!(v.get("QueueUrl").is_none());
        assert_eq!(
            members("SendMessage", "/", "h", b"[1]").unwrap_err().code(),
            "SerializationException"
        );
    }

    #[test]
    fn errors_carry_the_query_code_in_a_header() {
        let resp = json_error(&SqsError::QueueDoesNotExist);
        assert_eq!(resp.status(), 400);
        assert_eq!(
            resp.headers()["x-amzn-query-error"],
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        );
        let resp = json_error(&SqsError::PurgeQueueInProgress("x".into()));
        assert_eq!(resp.status(), 403);
    }
}
