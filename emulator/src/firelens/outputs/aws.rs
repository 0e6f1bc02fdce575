//! A small client for the emulator's AWS APIs as the AWS outputs call
//! them: CloudWatch Logs (awsJson1.1) and S3 (path-style PUT), over plain
//! HTTP to `FARGATE_LOCAL_ENDPOINT` (default `http://169.254.170.2:4566`,
//! the emulator as seen from inside a task) or the output's own
//! `endpoint`/`port`. Requests carry a SigV4-shaped `Authorization` header
//! with a dummy signature (the emulator's JSON APIs do not check it); S3
//! requests are sent unsigned, which the emulator's S3 accepts. No TLS.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::firelens::config::{ConfigError, Section};

pub const DEFAULT_ENDPOINT: &str = "http://169.254.170.2:4566";

/// An AWS error reply, or a transport failure (`code` empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} ({}): {}", self.code, self.status, self.message)
        }
    }
}

/// The base URL for an output: its `endpoint` (+ `port`), else the env.
pub fn endpoint(s: &Section, scope: &str) -> Result<String, ConfigError> {
    let base = match s.get("endpoint") {
        Some(e) => {
            let e = e.trim_end_matches('/');
            let with_scheme = if e.contains("://") {
                e.to_string()
            } else {
                format!("http://{e}")
            };
            match s.get("port") {
                Some(p) => {
                    let p: u16 = p
                        .parse()
                        .map_err(|_| ConfigError(format!("[{scope}] invalid port '{p}'")))?;
                    let (scheme, rest) = with_scheme.split_once("://").expect("has a scheme");
                    let host = rest.split('/').next().unwrap_or(rest);
                    let host = match host.rsplit_once(':') {
                        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
                        _ => host,
                    };
                    format!("{scheme}://{host}:{p}")
                }
                None => with_scheme,
            }
        }
        None => std::env::var("FARGATE_LOCAL_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim_end_matches('/')
            .to_string(),
    };
    if base.starts_with("https://") {
        return Err(ConfigError(format!(
            "[{scope}] endpoint {base}: fargate-local's router speaks plain HTTP only"
        )));
    }
    Ok(base)
}

#[derive(Clone)]
pub struct AwsClient {
    http: Client<HttpConnector, Full<Bytes>>,
    pub base: String,
    pub region: String,
    access_key: String,
}

impl AwsClient {
    pub fn new(base: String, region: String) -> AwsClient {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        AwsClient {
            http: Client::builder(TokioExecutor::new()).build(conn),
            base,
            region,
            access_key: std::env::var("AWS_ACCESS_KEY_ID")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "AKIAFIRELENSLOCAL000".to_string()),
        }
    }

    fn authorization(&self, service: &str, signed: &str) -> (String, String) {
        let now = chrono::Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/{}/{service}/aws4_request, SignedHeaders={signed}, Signature={}",
            self.access_key,
            now.format("%Y%m%d"),
            self.region,
            "0".repeat(64)
        );
        (amz_date, auth)
    }

    async fn send(&self, req: hyper::Request<Full<Bytes>>) -> Result<(u16, Bytes), AwsError> {
        let fut = self.http.request(req);
        let resp = tokio::time::timeout(std::time::Duration::from_secs(30), fut)
            .await
            .map_err(|_| transport("request timed out after 30s"))?
            .map_err(|e| transport(&format!("http request to {} failed: {e}", self.base)))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(&e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }

    /// A CloudWatch Logs call: `Logs_20140328.<op>`.
    pub async fn logs(&self, op: &str, body: String) -> Result<serde_json::Value, AwsError> {
        let (date, auth) = self.authorization("logs", "content-type;host;x-amz-date;x-amz-target");
        let req = hyper::Request::post(format!("{}/", self.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("Logs_20140328.{op}"))
            .header("x-amz-date", date)
            .header("authorization", auth)
            .header("user-agent", "fluent-bit fargate-local-firelens")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(&e.to_string()))?;
        let (status, body) = self.send(req).await?;
        let json: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        if status == 200 {
            return Ok(json);
        }
        let code = json
            .get("__type")
            .and_then(|v| v.as_str())
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| format!("HTTP{status}"));
        let message = json
            .get("message")
            .or_else(|| json.get("Message"))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        Err(AwsError {
            status,
            code,
            message,
        })
    }

    /// Path-style PutObject.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), AwsError> {
        let url = format!("{}/{}/{}", self.base, bucket, encode_key(key));
        let req = hyper::Request::put(url)
            .header("content-type", content_type)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .header("user-agent", "fluent-bit fargate-local-firelens")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(&e.to_string()))?;
        let (status, body) = self.send(req).await?;
        s3_result(status, &body)
    }

    /// CreateBucket; an existing bucket of ours is fine.
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), AwsError> {
        let req = hyper::Request::put(format!("{}/{}", self.base, bucket))
            .header("content-length", "0")
            .body(Full::new(Bytes::new()))
            .map_err(|e| transport(&e.to_string()))?;
        let (status, body) = self.send(req).await?;
        match s3_result(status, &body) {
            Err(e) if e.code == "BucketAlreadyOwnedByYou" || e.code == "BucketAlreadyExists" => {
                Ok(())
            }
            r => r,
        }
    }
}

fn s3_result(status: u16, body: &[u8]) -> Result<(), AwsError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(body);
    let tag = |t: &str| {
        text.split(&format!("<{t}>"))
            .nth(1)
            .and_then(|x| x.split(&format!("</{t}>")).next())
            .unwrap_or("")
            .to_string()
    };
    Err(AwsError {
        status,
        code: tag("Code"),
        message: tag("Message"),
    })
}

fn transport(msg: &str) -> AwsError {
    AwsError {
        status: 0,
        code: String::new(),
        message: msg.to_string(),
    }
}

/// Percent-encodes an object key for a path, keeping `/`.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(pairs: &[(&str, &str)]) -> Section {
        Section {
            kind: "OUTPUT".into(),
            entries: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            origin: "t".into(),
        }
    }

    #[test]
    fn endpoints() {
        for (pairs, want) in [
            (
                vec![("endpoint", "localhost"), ("port", "4566")],
                "http://localhost:4566",
            ),
            (
                vec![("endpoint", "http://127.0.0.1:9000/")],
                "http://127.0.0.1:9000",
            ),
            (
                vec![("endpoint", "http://127.0.0.1:9000"), ("port", "4566")],
                "http://127.0.0.1:4566",
            ),
        ] {
            assert_eq!(endpoint(&section(&pairs), "o").unwrap(), want);
        }
        assert!(endpoint(&section(&[("endpoint", "https://x")]), "o").is_err());
        assert_eq!(encode_key("a b/c+d"), "a%20b/c%2Bd");
    }
}
