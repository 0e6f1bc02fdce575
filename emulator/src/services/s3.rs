//! S3, through the `s3s` crate (the S3 protocol: routing, XML, SigV4,
//! aws-chunked bodies) and its filesystem backend `s3s-fs` (objects as
//! files under one directory). This module only assembles them: which
//! credentials verify signatures, which keys are refused, and reading an
//! object for a task's env files.
//!
//! Left out: versioning, ACLs and policies (every signed or anonymous
//! request is allowed), virtual-hosted-style addressing (path-style only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{CopyObjectInput, CopySource, GetObjectInput};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Result, s3_error};

use crate::services::credentials::Credentials;
use crate::services::requestlog::RequestLog;
use crate::services::taskconfig::ObjectSource;

/// Signatures are checked with one secret key whatever the access key (the
/// emulator accepts any access key, as it does for its JSON APIs), except
/// for task-role keys the emulator issued, checked with their own secret.
struct AnyAccessKey {
    secret: String,
    issued: Option<Credentials>,
}

#[async_trait]
impl S3Auth for AnyAccessKey {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(s) = self.issued.as_ref().and_then(|c| c.secret_key(access_key)) {
            return Ok(SecretKey::from(s));
        }
        Ok(SecretKey::from(self.secret.as_str()))
    }
}

/// Whether an object key could leave its bucket's directory, or name the
/// same file as another key: `.` and `..` segments, a leading `/`, NUL.
pub fn unsafe_key(key: &str) -> bool {
    key.starts_with('/')
        || key.contains('\0')
        || key.contains('\\')
        || key.split('/').any(|seg| seg == ".." || seg == ".")
}

fn refuse_key(key: &str) -> S3Result<()> {
    if unsafe_key(key) {
        return Err(s3_error!(
            InvalidArgument,
            "Object keys with '.' or '..' path segments, a leading '/', a backslash or NUL are not supported by fargate-local's file-backed S3: {key:?}"
        ));
    }
    Ok(())
}

/// Allows every request, anonymous ones included, except keys that
/// `unsafe_key` refuses (also as a copy source).
struct KeyGuard {
    /// Where each call is recorded, with the task and role whose
    /// credentials signed it.
    log: Option<(Option<Credentials>, RequestLog)>,
}

#[async_trait]
impl S3Access for KeyGuard {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if let Some((issued, log)) = &self.log {
            let key = cx.credentials().map(|c| c.access_key.clone());
            let principal = key
                .as_deref()
                .and_then(|k| issued.as_ref().and_then(|c| c.principal(k)));
            log.record(
                &crate::domain::ids::uuid(),
                "s3",
                cx.s3_op().name(),
                key.as_deref(),
                principal.as_ref(),
                None,
            );
        }
        if let s3s::path::S3Path::Object { key, .. } = cx.s3_path() {
            refuse_key(key)?;
        }
        Ok(())
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        if let CopySource::Bucket { key, .. } = &req.input.copy_source {
            refuse_key(key)?;
        }
        Ok(())
    }
}

/// The embedded S3: the HTTP service and direct reads for env files.
#[derive(Clone)]
pub struct EmbeddedS3 {
    fs: Arc<s3s_fs::FileSystem>,
    service: S3Service,
    root: PathBuf,
}

impl EmbeddedS3 {
    /// Objects live under `root` (created if needed); signatures are
    /// checked with `secret_key`.
    pub fn open(
        root: &Path,
        secret_key: &str,
        issued: Option<Credentials>,
        log: Option<RequestLog>,
    ) -> anyhow::Result<EmbeddedS3> {
        std::fs::create_dir_all(root)?;
        let fs = Arc::new(
            s3s_fs::FileSystem::new(root)
                .map_err(|e| anyhow::anyhow!("S3 storage in {}: {e:?}", root.display()))?,
        );
        let mut b = S3ServiceBuilder::new(SharedFs(fs.clone(), root.to_path_buf()));
        b.set_auth(AnyAccessKey {
            secret: secret_key.to_string(),
            issued: issued.clone(),
        });
        b.set_access(KeyGuard {
            log: log.map(|l| (issued, l)),
        });
        Ok(EmbeddedS3 {
            fs,
            service: b.build(),
            root: root.to_path_buf(),
        })
    }

    pub fn service(&self) -> &S3Service {
        &self.service
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes every bucket and object.
    pub fn reset(&self) -> std::io::Result<()> {
        for entry in std::fs::read_dir(&self.root)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(path)?;
            } else {
                std::fs::remove_file(path)?;
            }
        }
        Ok(())
    }
}

/// `s3s-fs`'s FileSystem behind an `Arc`, shared by the HTTP service and
/// the env-file reader, and the directory it keeps objects in.
struct SharedFs(Arc<s3s_fs::FileSystem>, PathBuf);

/// A suffix range longer than the object (`Range: bytes=-20` on 11 bytes)
/// is the whole object, as RFC 9110 and S3 say (206 with
/// `bytes 0-10/11`); s3s-fs seeks before the start of the file instead and
/// answers 500. The length is clamped to the object's size first. Keys are
/// already refused by `KeyGuard` if they could leave the bucket.
fn clamp_suffix_range(root: &Path, input: &mut s3s::dto::GetObjectInput) {
    if let Some(s3s::dto::Range::Suffix { length }) = input.range
        && let Ok(meta) = std::fs::metadata(root.join(&input.bucket).join(&input.key))
        && length > meta.len()
        && meta.len() > 0
    {
        input.range = Some(s3s::dto::Range::Suffix { length: meta.len() });
    }
}

/// Every operation goes straight to s3s-fs, but those listed first with a
/// fix-up, which may change the input before it does.
macro_rules! delegate {
    (
        fixed { $($fop:ident: $finput:ident => $foutput:ident, $fix:ident;)* }
        $($op:ident: $input:ident => $output:ident),* $(,)?
    ) => {
        #[async_trait]
        impl S3 for SharedFs {
            $(
                async fn $fop(
                    &self,
                    mut req: S3Request<s3s::dto::$finput>,
                ) -> S3Result<s3s::S3Response<s3s::dto::$foutput>> {
                    $fix(&self.1, &mut req.input);
                    self.0.$fop(req).await
                }
            )*
            $(
                async fn $op(
                    &self,
                    req: S3Request<s3s::dto::$input>,
                ) -> S3Result<s3s::S3Response<s3s::dto::$output>> {
                    self.0.$op(req).await
                }
            )*
        }
    };
}

delegate! {
    fixed { get_object: GetObjectInput => GetObjectOutput, clamp_suffix_range; }
    create_bucket: CreateBucketInput => CreateBucketOutput,
    copy_object: CopyObjectInput => CopyObjectOutput,
    delete_bucket: DeleteBucketInput => DeleteBucketOutput,
    delete_object: DeleteObjectInput => DeleteObjectOutput,
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput,
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput,
    head_bucket: HeadBucketInput => HeadBucketOutput,
    head_object: HeadObjectInput => HeadObjectOutput,
    list_buckets: ListBucketsInput => ListBucketsOutput,
    list_objects: ListObjectsInput => ListObjectsOutput,
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output,
    put_object: PutObjectInput => PutObjectOutput,
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput,
    upload_part: UploadPartInput => UploadPartOutput,
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput,
    list_parts: ListPartsInput => ListPartsOutput,
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput,
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput,
}

/// The error text of a failed download, in the words of the Go SDK the
/// Fargate agent uses (its HeadObject comes first, and a HEAD has no body,
/// so a missing bucket and a missing key both read "NotFound").
pub fn download_error(status: u16, code: &str, message: &str) -> String {
    let id = crate::domain::ids::uuid().replace('-', "").to_uppercase();
    format!(
        "service call has been retried 1 time(s): operation error S3: HeadObject, https response error StatusCode: {status}, RequestID: {}, HostID: {id}, api error {code}: {message}",
        &id[..16]
    )
}

#[async_trait]
impl ObjectSource for EmbeddedS3 {
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let not_found = || download_error(404, "NotFound", "Not Found");
        if unsafe_key(key) {
            return Err(download_error(400, "InvalidArgument", "Invalid Argument"));
        }
        if !self.root.join(bucket).is_dir() || bucket.starts_with('.') {
            return Err(not_found());
        }
        let input = GetObjectInput::builder()
            .bucket(bucket.to_string())
            .key(key.to_string())
            .build()
            .map_err(|e| format!("invalid request: {e}"))?;
        let req = S3Request {
            input,
            method: axum::http::Method::GET,
            uri: axum::http::Uri::from_static("/"),
            headers: axum::http::HeaderMap::new(),
            extensions: axum::http::Extensions::new(),
            credentials: None,
            region: None,
            service: None,
            trailing_headers: None,
        };
        let out = self.fs.get_object(req).await.map_err(|e| {
            if *e.code() == s3s::S3ErrorCode::NoSuchKey {
                not_found()
            } else {
                download_error(500, e.code().as_str(), e.message().unwrap_or("error"))
            }
        })?;
        let mut body = Vec::new();
        if let Some(mut stream) = out.output.body {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| format!("reading the object: {e}"))?;
                body.extend_from_slice(&chunk);
            }
        }
        Ok(body)
    }
}

/// An external S3 (MinIO, or another emulator) for env files: read with
/// the AWS SDK, path-style, with the configured credentials.
pub struct ExternalS3 {
    client: aws_sdk_s3::Client,
    endpoint: String,
}

impl ExternalS3 {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, region: &str) -> Self {
        use aws_sdk_s3::config::{Credentials, Region, retry::RetryConfig, timeout::TimeoutConfig};
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .force_path_style(true)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "fargate-local",
            ))
            // The agent tries twice ("retried 1 time(s)") within 30 s.
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(std::time::Duration::from_secs(30))
                    .build(),
            )
            .build();
        ExternalS3 {
            client: aws_sdk_s3::Client::from_conf(conf),
            endpoint: endpoint.to_string(),
        }
    }
}

#[async_trait]
impl ObjectSource for ExternalS3 {
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match &e {
                SdkError::ServiceError(se) => {
                    let status = se.raw().status().as_u16();
                    match status {
                        404 => download_error(404, "NotFound", "Not Found"),
                        403 => download_error(403, "Forbidden", "Forbidden"),
                        _ => download_error(
                            status,
                            e.code().unwrap_or("Unknown"),
                            e.message().unwrap_or(""),
                        ),
                    }
                }
                _ => format!(
                    "service call has been retried 1 time(s): RequestCanceled: request context canceled caused by: context deadline exceeded (the S3 endpoint {} could not be reached: {})",
                    self.endpoint,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ),
            })?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| format!("reading the object: {e}"))?;
        Ok(body.into_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_ranges_longer_than_the_object_are_the_whole_object() {
        let root = std::env::temp_dir().join(format!("fl-s3-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join("b/k"), b"hello world").unwrap();
        let suffix = |length| Some(s3s::dto::Range::Suffix { length });
        // (key, range asked, range handed to s3s-fs)
        let cases = [
            ("k", suffix(20), suffix(11)),
            ("k", suffix(11), suffix(11)),
            ("k", suffix(3), suffix(3)),
            ("missing", suffix(20), suffix(20)),
            (
                "k",
                Some(s3s::dto::Range::Int {
                    first: 2,
                    last: None,
                }),
                Some(s3s::dto::Range::Int {
                    first: 2,
                    last: None,
                }),
            ),
            ("k", None, None),
        ];
        for (key, asked, want) in cases {
            let mut input = s3s::dto::GetObjectInput::builder()
                .bucket("b".into())
                .key(key.into())
                .range(asked)
                .build()
                .unwrap();
            clamp_suffix_range(&root, &mut input);
            assert_eq!(
                format!("{:?}", input.range),
                format!("{want:?}"),
                "{key} {asked:?}"
            );
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn keys_that_could_escape_are_refused() {
        let cases = [
            ("web/app.env", false),
            ("a..b/c", false),
            ("dir/", false),
            ("../etc/passwd", true),
            ("a/../../b", true),
            ("a/./b", true),
            ("/abs", true),
            ("a\\..\\b", true),
        ];
        for (key, refused) in cases {
            assert_eq!(unsafe_key(key), refused, "{key}");
        }
    }
}
