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
    judge(app, ctx, op, &v)?;
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
        "AddPermission"
        | "RemovePermission"
        | "StartMessageMoveTask"
        | "CancelMessageMoveTask"
        | "ListMessageMoveTasks" => Err(SqsError::UnsupportedOperation(format!(
            "fargate-local does not support the SQS operation {op}."
        ))),
        other => Err(SqsError::InvalidAction(format!(
            "The action {other} is not valid for this endpoint."
        ))),
    }
}

/// The IAM action of an SQS operation (a batch needs its single
/// operation's action) and the queue's ARN, from `QueueUrl` (its path is
/// `/<account>/<name>`) or, for the calls that name a queue, `QueueName`.
pub fn sqs_permission(
    region: &str,
    account: &str,
    op: &str,
    v: &serde_json::Value,
) -> (String, String) {
    let action = match op {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    };
    let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
    let resource = if let Some(url) = s("QueueUrl") {
        let path = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .unwrap_or(url);
        let mut parts = path.trim_matches('/').rsplit('/');
        let name = parts.next().unwrap_or_default();
        let owner = parts.next().filter(|a| !a.is_empty()).unwrap_or(account);
        format!("arn:aws:sqs:{region}:{owner}:{name}")
    } else if let Some(name) = s("QueueName").filter(|_| op != "ListQueues") {
        let owner = s("QueueOwnerAWSAccountId").unwrap_or(account);
        format!("arn:aws:sqs:{region}:{owner}:{name}")
    } else {
        "*".to_string()
    };
    (format!("sqs:{action}"), resource)
}

/// The task role's decision under `serve --iam`, for calls signed with a
/// task's credentials. SQS's denial names the action in lower case.
fn judge(app: &App, ctx: &RequestContext, op: &str, v: &serde_json::Value) -> Result<(), SqsError> {
    if !super::authz::is_task_call(app, ctx.access_key.as_deref()) {
        return Ok(());
    }
    let (action, resource) = sqs_permission(&ctx.region, app.account_id(), op, v);
    super::authz::judge(
        app,
        &ctx.request_id,
        ctx.access_key.as_deref(),
        &action,
        &[resource],
    )
    .map_err(|d| SqsError::AccessDenied(d.message.replace(&action, &action.to_lowercase())))
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
    // AccessDenied comes from AWS's front end, not from SQS's model.
    let namespace = match e {
        SqsError::AccessDenied(_) => "com.amazon.coral.service",
        _ => "com.amazonaws.sqs",
    };
    let body = serde_json::json!({
        "__type": format!("{namespace}#{}", e.code()),
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
    fn sqs_calls_are_judged_on_the_queue_they_name() {
        let cases = [
            (
                "SendMessage",
                serde_json::json!({"QueueUrl": "http://h:4566/000000000000/jobs"}),
                ("sqs:SendMessage", "arn:aws:sqs:r:000000000000:jobs"),
            ),
            (
                "SendMessageBatch",
                serde_json::json!({"QueueUrl": "http://h/111/jobs.fifo"}),
                ("sqs:SendMessage", "arn:aws:sqs:r:111:jobs.fifo"),
            ),
            (
                "DeleteMessageBatch",
                serde_json::json!({"QueueUrl": "http://h/111/q"}),
                ("sqs:DeleteMessage", "arn:aws:sqs:r:111:q"),
            ),
            (
                "CreateQueue",
                serde_json::json!({"QueueName": "new"}),
                ("sqs:CreateQueue", "arn:aws:sqs:r:000000000000:new"),
            ),
            (
                "GetQueueUrl",
                serde_json::json!({"QueueName": "q", "QueueOwnerAWSAccountId": "222"}),
                ("sqs:GetQueueUrl", "arn:aws:sqs:r:222:q"),
            ),
            (
                "ListQueues",
                serde_json::json!({"QueueNamePrefix": "x"}),
                ("sqs:ListQueues", "*"),
            ),
        ];
        for (op, v, (action, resource)) in cases {
            let got = sqs_permission("r", "000000000000", op, &v);
            assert_eq!((got.0.as_str(), got.1.as_str()), (action, resource), "{op}");
        }
        let resp = json_error(&SqsError::AccessDenied("m".into()));
        assert_eq!(resp.status(), 403);
        assert_eq!(resp.headers()["x-amzn-query-error"], "AccessDenied;Sender");
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

// ------------------------------------------------------------------ awsQuery

/// The awsQuery namespace of SQS's answers.
const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Members that are numbers in the JSON shapes.
const INTEGERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
];

/// Flattened lists of strings: form prefix, JSON member.
const STRING_LISTS: &[(&str, &str)] = &[
    ("AttributeName", "AttributeNames"),
    ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
    ("MessageAttributeName", "MessageAttributeNames"),
    ("TagKey", "TagKeys"),
];

/// Batch entries: form prefix (the JSON member is `Entries`).
const ENTRIES: &[&str] = &[
    "SendMessageBatchRequestEntry",
    "DeleteMessageBatchRequestEntry",
    "ChangeMessageVisibilityBatchRequestEntry",
];

/// `<prefix>.<N>[.<rest>]` parameters grouped by N (in N order), each
/// group the rest of its keys with their values.
fn groups<'a>(
    pairs: &[(&'a str, &'a str)],
    prefix: &str,
) -> std::collections::BTreeMap<u32, Vec<(&'a str, &'a str)>> {
    let mut out: std::collections::BTreeMap<u32, Vec<(&'a str, &'a str)>> = Default::default();
    for (k, v) in pairs {
        let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let (n, tail) = rest.split_once('.').unwrap_or((rest, ""));
        if let Ok(n) = n.parse() {
            out.entry(n).or_default().push((tail, v));
        }
    }
    out
}

fn field<'a>(pairs: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// A flattened map of message attributes (`MessageAttribute.N.Name`,
/// `.Value.DataType`, `.Value.StringValue` / `.Value.BinaryValue`).
fn message_attributes(pairs: &[(&str, &str)], prefix: &str) -> Option<serde_json::Value> {
    let gs = groups(pairs, prefix);
    if gs.is_empty() {
        return None;
    }
    let mut map = serde_json::Map::new();
    for g in gs.values() {
        let mut v = serde_json::Map::new();
        for (k, member) in [
            ("Value.DataType", "DataType"),
            ("Value.StringValue", "StringValue"),
            ("Value.BinaryValue", "BinaryValue"),
        ] {
            if let Some(x) = field(g, k) {
                v.insert(member.into(), x.into());
            }
        }
        map.insert(field(g, "Name").unwrap_or_default().into(), v.into());
    }
    Some(map.into())
}

/// The JSON members an awsQuery request's parameters stand for, so both
/// wires decode into the same request shapes.
fn form_members(pairs: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
    let mut obj = serde_json::Map::new();
    for (k, v) in pairs {
        if k.contains('.') || *k == "Action" || *k == "Version" {
            continue;
        }
        let value = match INTEGERS.contains(k) {
            true => v
                .parse::<i64>()
                .map_or_else(|_| (*v).into(), serde_json::Value::from),
            false => (*v).into(),
        };
        obj.insert(k.to_string(), value);
    }
    for (prefix, member) in STRING_LISTS {
        let gs = groups(pairs, prefix);
        if !gs.is_empty() {
            let items: Vec<&str> = gs.values().filter_map(|g| field(g, "")).collect();
            obj.insert(member.to_string(), items.into());
        }
    }
    let map = |prefix: &str, key: &str, value: &str| {
        let gs = groups(pairs, prefix);
        (!gs.is_empty()).then(|| {
            gs.values()
                .map(|g| {
                    (
                        field(g, key).unwrap_or_default().to_string(),
                        serde_json::Value::from(field(g, value).unwrap_or_default()),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
        })
    };
    if let Some(m) = map("Attribute", "Name", "Value") {
        obj.insert("Attributes".into(), m.into());
    }
    if let Some(m) = map("Tag", "Key", "Value") {
        // CreateQueue's member is `tags`, TagQueue's `Tags`.
        obj.insert("tags".into(), m.clone().into());
        obj.insert("Tags".into(), m.into());
    }
    for (prefix, member) in [
        ("MessageAttribute", "MessageAttributes"),
        ("MessageSystemAttribute", "MessageSystemAttributes"),
    ] {
        if let Some(m) = message_attributes(pairs, prefix) {
            obj.insert(member.into(), m);
        }
    }
    for prefix in ENTRIES {
        let gs = groups(pairs, prefix);
        if !gs.is_empty() {
            let entries: Vec<serde_json::Value> =
                gs.values().map(|g| form_members(g).into()).collect();
            obj.insert("Entries".into(), entries.into());
        }
    }
    obj
}

/// Writes `<name>` elements for a JSON member, flattened as the awsQuery
/// wire flattens SQS's lists and maps.
fn xml_member(op: &str, name: &str, v: &serde_json::Value, out: &mut String) {
    use super::query::escape;
    use serde_json::Value;
    let pairs =
        |out: &mut String, elem: &str, k: &str, vk: &str, map: &serde_json::Map<String, Value>| {
            for (key, val) in map {
                out.push_str(&format!("<{elem}><{k}>{}</{k}>", escape(key)));
                match val {
                    Value::Object(_) => {
                        out.push_str(&format!("<{vk}>"));
                        xml_object(op, val, out);
                        out.push_str(&format!("</{vk}>"));
                    }
                    other => xml_member(op, vk, other, out),
                }
                out.push_str(&format!("</{elem}>"));
            }
        };
    match (name, v) {
        ("QueueUrls" | "queueUrls", Value::Array(items)) => {
            for i in items {
                xml_member(op, "QueueUrl", i, out);
            }
        }
        ("Attributes", Value::Object(m)) => pairs(out, "Attribute", "Name", "Value", m),
        ("MessageAttributes", Value::Object(m)) => {
            pairs(out, "MessageAttribute", "Name", "Value", m)
        }
        ("Tags", Value::Object(m)) => pairs(out, "Tag", "Key", "Value", m),
        (_, Value::Array(items)) => {
            let elem = match name {
                "Messages" => "Message".to_string(),
                "Failed" => "BatchResultErrorEntry".to_string(),
                _ => format!("{op}ResultEntry"),
            };
            for i in items {
                out.push_str(&format!("<{elem}>"));
                xml_object(op, i, out);
                out.push_str(&format!("</{elem}>"));
            }
        }
        (_, Value::Object(_)) => {
            out.push_str(&format!("<{name}>"));
            xml_object(op, v, out);
            out.push_str(&format!("</{name}>"));
        }
        (_, Value::String(s)) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        (_, Value::Null) => {}
        (_, other) => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

fn xml_object(op: &str, v: &serde_json::Value, out: &mut String) {
    if let serde_json::Value::Object(m) = v {
        for (k, val) in m {
            xml_member(op, k, val, out);
        }
    }
}

/// An awsQuery answer: `<OpResponse><OpResult>...</OpResult>` (no result
/// element for an operation without output) and the request id.
fn xml_ok(op: &str, result: Option<&serde_json::Value>, request_id: &str) -> Response {
    let mut out = format!("<?xml version=\"1.0\"?><{op}Response xmlns=\"{XMLNS}\">");
    if let Some(r) = result {
        out.push_str(&format!("<{op}Result>"));
        xml_object(op, r, &mut out);
        out.push_str(&format!("</{op}Result>"));
    }
    out.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{op}Response>"
    ));
    let mut resp = (StatusCode::OK, out).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// The operations whose answer has no members.
const NO_OUTPUT: &[&str] = &[
    "DeleteQueue",
    "PurgeQueue",
    "SetQueueAttributes",
    "DeleteMessage",
    "ChangeMessageVisibility",
    "TagQueue",
    "UntagQueue",
];

/// Handles one awsQuery SQS request: `Action=<Op>&Version=2012-11-05&...`
/// in a form body (or, from very old clients, the query string), on any
/// path.
pub async fn handle_query(app: &App, ctx: &RequestContext, path: &str, form: &[u8]) -> Response {
    let owned: Vec<(String, String)> = form_urlencoded::parse(form).into_owned().collect();
    let pairs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let op = field(&pairs, "Action").unwrap_or_default().to_string();
    let body = serde_json::Value::from(form_members(&pairs)).to_string();
    let result = call(app, ctx, &op, path, body.as_bytes()).await;
    app.record_request(ctx, "sqs", &op, result.as_ref().err().map(|e| e.code()));
    match result {
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let result = (!NO_OUTPUT.contains(&op.as_str())).then_some(&v);
            xml_ok(&op, result, &ctx.request_id)
        }
        Err(e) => {
            if e.is_server_fault() {
                tracing::error!(code = e.code(), message = %e.message(), "SQS request failed");
            }
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            super::query::error(
                XMLNS,
                status,
                e.query_code(),
                &e.query_message(),
                &ctx.request_id,
            )
        }
    }
}

#[cfg(test)]
mod query_tests {
    use super::*;

    fn members_of(form: &str) -> serde_json::Value {
        let owned: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        let pairs: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form_members(&pairs).into()
    }

    #[test]
    fn form_parameters_become_the_json_members() {
        let v = members_of(
            "Action=CreateQueue&Version=2012-11-05&QueueName=q&Attribute.1.Name=FifoQueue&Attribute.1.Value=true&Attribute.2.Name=DelaySeconds&Attribute.2.Value=5&Tag.1.Key=team&Tag.1.Value=a",
        );
        assert_eq!(
            v,
            serde_json::json!({
                "QueueName": "q",
                "Attributes": {"FifoQueue": "true", "DelaySeconds": "5"},
                "tags": {"team": "a"},
                "Tags": {"team": "a"},
            })
        );
        let v = members_of(
            "Action=SendMessageBatch&QueueUrl=u&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=y&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x&SendMessageBatchRequestEntry.1.DelaySeconds=3&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=n&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=Binary&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue=AAE%3D",
        );
        assert_eq!(
            v,
            serde_json::json!({
                "QueueUrl": "u",
                "Entries": [
                    {"Id": "a", "MessageBody": "x", "DelaySeconds": 3,
                     "MessageAttributes": {"n": {"DataType": "Binary", "BinaryValue": "AAE="}}},
                    {"Id": "b", "MessageBody": "y"},
                ],
            })
        );
        let v = members_of(
            "Action=ReceiveMessage&AttributeName.1=All&MessageAttributeName.1=All&MaxNumberOfMessages=10&WaitTimeSeconds=x",
        );
        assert_eq!(
            v,
            serde_json::json!({
                "AttributeNames": ["All"],
                "MessageAttributeNames": ["All"],
                "MaxNumberOfMessages": 10,
                "WaitTimeSeconds": "x",
            })
        );
    }

    #[test]
    fn answers_are_flattened() {
        let mut out = String::new();
        xml_object(
            "ReceiveMessage",
            &serde_json::json!({
                "Messages": [{
                    "MessageId": "m",
                    "Attributes": {"SentTimestamp": "1"},
                    "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}},
                }],
            }),
            &mut out,
        );
        assert_eq!(
            out,
            // Members in name order (clients read them in any order).
            "<Message><Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute><MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute><MessageId>m</MessageId></Message>"
        );
        let mut out = String::new();
        xml_object(
            "SendMessageBatch",
            &serde_json::json!({
                "Successful": [{"Id": "a"}],
                "Failed": [{"Id": "b", "SenderFault": true}],
            }),
            &mut out,
        );
        assert_eq!(
            out,
            "<BatchResultErrorEntry><Id>b</Id><SenderFault>true</SenderFault></BatchResultErrorEntry><SendMessageBatchResultEntry><Id>a</Id></SendMessageBatchResultEntry>"
        );
        let mut out = String::new();
        xml_object(
            "ListQueues",
            &serde_json::json!({"QueueUrls": ["a", "b"], "NextToken": "t"}),
            &mut out,
        );
        assert_eq!(
            out,
            "<NextToken>t</NextToken><QueueUrl>a</QueueUrl><QueueUrl>b</QueueUrl>"
        );
    }
}
