//! ECS Exec on the wire: the websocket data channel at
//! `/v1/data-channel/{sessionId}` (the `streamUrl` ExecuteCommand gives) and
//! the `AmazonSSM.` calls the session-manager-plugin makes to the endpoint
//! it was given (ResumeSession, TerminateSession).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt, Stream, StreamExt};

use super::ApiError;
use super::ecs::{decode, encode};
use crate::app::App;
use crate::exec::WsMessage;

pub const SSM_TARGET_PREFIX: &str = "AmazonSSM";

/// The SSM operations that belong to ECS Exec.
pub const SSM_SESSION_OPERATIONS: [&str; 2] = ["ResumeSession", "TerminateSession"];

pub fn handle_ssm(app: &App, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    match op {
        "ResumeSession" => encode(&app.exec().resume_session(decode(body)?)),
        "TerminateSession" => encode(&app.exec().terminate_session(decode(body)?)),
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("fargate-local does not serve the SSM operation '{other}'."),
        )),
    }
}

/// `GET /v1/data-channel/{sessionId}`. A request that is not a websocket
/// upgrade is not a data channel (it may be an S3 GetObject of a bucket
/// named `v1`): it goes to the ordinary dispatch.
pub async fn data_channel(State(app): State<App>, req: Request) -> Response {
    let upgrading = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrading {
        return super::dispatch(State(app), req).await;
    }
    let session_id = req
        .uri()
        .path()
        .strip_prefix(crate::exec::DATA_CHANNEL_PATH)
        .unwrap_or_default()
        .to_string();
    let (mut parts, _) = req.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .on_upgrade(move |socket| async move {
            app.exec().serve_channel(session_id, adapt(socket)).await;
        })
        .into_response()
}

/// axum's websocket as a `WsMessage` stream and sink.
fn adapt(
    ws: WebSocket,
) -> impl Stream<Item = WsMessage> + Sink<WsMessage, Error = axum::Error> + Unpin {
    ws.with(|m: WsMessage| {
        futures_util::future::ready(Ok::<_, axum::Error>(match m {
            WsMessage::Text(t) => Message::Text(t.into()),
            WsMessage::Binary(b) => Message::Binary(b.into()),
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
