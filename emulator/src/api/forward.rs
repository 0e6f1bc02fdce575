//! `serve --forward URL`: a request for an AWS service fargate-local does
//! not serve is passed on unchanged (method, path, query, headers, body) to
//! a companion emulator (a moto server, LocalStack, ...) and its answer
//! comes back unchanged, streamed both ways. Without a target, or when the
//! target cannot be reached, the caller gets an AWS-shaped error that names
//! the service (and the target), in the wire protocol it spoke.

use axum::body::Body;
use axum::http::{HeaderName, StatusCode, Uri, header, request};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::ApiError;

/// How long the target may take to accept a connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The wire protocol a request spoke, which its error answer must speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// awsJson: `__type` and `message`.
    Json,
    /// awsQuery: the XML `<ErrorResponse>`.
    Query,
    /// A REST service: AWS's REST services answer JSON errors with
    /// `X-Amzn-ErrorType` (S3, which answers XML, is served).
    Rest,
}

/// Headers that belong to one connection, not to the request: not passed on.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// The forward target and a pooled client for it.
#[derive(Clone)]
pub struct Forwarder {
    /// `http://host:port`, as given (without a trailing slash).
    target: String,
    scheme: axum::http::uri::Scheme,
    authority: axum::http::uri::Authority,
    /// A path the target is mounted under (`/aws` of `http://h:1/aws`), or "".
    base: String,
    client: Client<HttpConnector, Body>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("target", &self.target)
            .finish()
    }
}

impl Forwarder {
    /// A forwarder to `url` (`http://host:port[/path]`): the command line's
    /// parser, so a bad URL is refused before anything starts.
    pub fn parse(url: &str) -> Result<Forwarder, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("'{url}' is not a URL: {e}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("'{url}' has no scheme: give http://HOST:PORT"))?;
        if scheme != axum::http::uri::Scheme::HTTP {
            return Err(format!(
                "'{url}': only http:// targets can be forwarded to (a local emulator such as a moto server or LocalStack)"
            ));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("'{url}' has no host: give http://HOST:PORT"))?;
        if uri.query().is_some() {
            return Err(format!("'{url}': a forward target takes no query string"));
        }
        let base = uri.path().trim_end_matches('/').to_string();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Forwarder {
            target: format!("{scheme}://{authority}{base}"),
            scheme,
            authority,
            base,
            client,
        })
    }

    /// The target, as the log and errors name it.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Passes the request on and streams the answer back; `Err` when the
    /// target could not be reached (the caller's answer then says so).
    pub async fn forward(
        &self,
        mut parts: request::Parts,
        body: Body,
        service: &str,
    ) -> Result<Response, ApiError> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.base))
            .build()
            .map_err(|e| self.unreachable(service, &e.to_string()))?;
        // The Host header stays the caller's, so that a target checking
        // SigV4 signatures sees the signed one.
        if !parts.headers.contains_key(header::HOST)
            && let Some(host) = parts.uri.authority()
            && let Ok(v) = host.as_str().parse()
        {
            parts.headers.insert(header::HOST, v);
        }
        strip_hop_by_hop(&mut parts.headers);
        parts.uri = uri;
        parts.version = axum::http::Version::HTTP_11;
        let req = axum::http::Request::from_parts(parts, body);
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| self.unreachable(service, &describe(&e)))?;
        let (mut parts, incoming) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(incoming)))
    }

    fn unreachable(&self, service: &str, why: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_GATEWAY,
            code: "ServiceUnavailable".into(),
            message: format!(
                "fargate-local could not forward this '{service}' request to {}: {why}. Is the companion emulator running there?",
                self.target
            ),
        }
    }
}

fn strip_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    // Headers a `Connection` header names are this connection's too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().copied() {
        headers.remove(name);
    }
    for name in named {
        headers.remove(name);
    }
}

/// The innermost cause of a client error ("Connection refused (os error
/// 111)"), which says more than hyper's own wording.
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// The answer to a request for a service fargate-local does not serve and
/// has no forward target for: it names the service and how to forward it,
/// so that a client never mistakes it for an error of a service it did not
/// call (an S3 `NoSuchBucket` for a Lambda call).
pub fn unserved_error(service: &str) -> ApiError {
    ApiError::client(
        UNSERVED,
        format!(
            "fargate-local does not serve the AWS service '{service}'. Start it with --forward URL (FARGATE_LOCAL_FORWARD) to pass such requests to another local emulator, such as a moto server or LocalStack."
        ),
    )
}

/// The error code of a request for a service fargate-local does not serve.
pub const UNSERVED: &str = "UnknownOperationException";

/// An error in the shape the request's protocol expects.
pub fn error_response(wire: Wire, e: ApiError, request_id: &str) -> Response {
    match wire {
        Wire::Query => super::query::error(
            "https://fargate-local/",
            e.status,
            &e.code,
            &e.message,
            request_id,
        ),
        Wire::Json | Wire::Rest => super::with_request_id(e.into_response(), request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_http_urls() {
        let f = Forwarder::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(f.target(), "http://127.0.0.1:5000");
        assert_eq!(f.base, "");
        let f = Forwarder::parse("http://localhost:4567/aws/").unwrap();
        assert_eq!(f.target(), "http://localhost:4567/aws");
        assert_eq!(f.base, "/aws");
        for bad in ["127.0.0.1:5000", "https://x:1", "http://x:1/?a=b", "::"] {
            assert!(Forwarder::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_headers_are_not_passed_on() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("connection", "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert(
            "x-amz-target",
            "DynamoDB_20120810.ListTables".parse().unwrap(),
        );
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-amz-target"));
    }

    #[test]
    fn the_refusal_says_how_to_forward() {
        let e = unserved_error("dynamodb");
        assert_eq!(e.code, "UnknownOperationException");
        assert!(e.message.contains("'dynamodb'") && e.message.contains("--forward"));
    }
}
