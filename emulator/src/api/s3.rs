//! S3 over HTTP: requests are handed whole to the `s3s` service (which
//! owns the S3 wire protocol, its XML errors included). Served on S3's own
//! port, and on the main port for requests that carry no `X-Amz-Target`
//! and no awsJson content type.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::app::App;

pub async fn handle(app: &App, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let req = axum::http::Request::from_parts(parts, s3s::Body::http_body_unsync(body));
    match app.s3().service().call(req).await {
        Ok(resp) => resp.map(axum::body::Body::new),
        Err(e) => ApiError::server("InternalError", format!("{e:?}")).into_response(),
    }
}

async fn serve(State(app): State<App>, req: Request) -> Response {
    handle(&app, req).await
}

/// The router of S3's own port.
pub fn router(app: App) -> Router {
    Router::new().fallback(serve).with_state(app)
}
