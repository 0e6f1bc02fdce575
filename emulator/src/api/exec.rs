//! ECS Exec on the wire: the websocket data channel at
//! `/v1/data-channel/{sessionId}` (the `streamUrl` ExecuteCommand gives) and
//! the `AmazonSSM.` calls the session-manager-plugin makes to the endpoint
//! it was given (ResumeSession, TerminateSession).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
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

pub async fn data_channel(
    State(app): State<App>,
    Path(session_id): Path<String>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return ApiError::client(
            "ValidationException",
            "The data channel is a websocket: connect with an Upgrade: websocket request.",
        )
        .into_response();
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
