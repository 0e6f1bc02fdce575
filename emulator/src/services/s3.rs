//! S3, through the `s3s` crate (the S3 protocol: routing, XML, SigV4,
//! aws-chunked bodies) and its filesystem backend `s3s-fs` (objects as
//! files under one directory). This module only assembles them: which
//! credentials verify signatures, which keys are refused, and reading an
//! object for a task's env files.
//!
//! Calls signed with a task's role credentials are judged under
//! `serve --iam` against the task role's policies ([`s3_permission`]: the
//! IAM action and resource of each operation), with S3's 403 AccessDenied
//! and AWS's quoted-resource text under `enforce`.
//!
//! Left out: versioning, ACLs and bucket policies (every other signed or
//! anonymous request is allowed), virtual-hosted-style addressing
//! (path-style only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{CopyObjectInput, CopySource, DeleteObjectsInput, GetObjectInput};
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

/// The IAM action an S3 operation needs and the resource it is judged
/// on: the object's ARN for object operations, the bucket's for bucket
/// operations, `*` for ListBuckets. `None` for an operation judged per key
/// later (DeleteObjects) or not at all (an operation the embedded S3 does
/// not serve).
pub fn s3_permission(op: &str, bucket: &str, key: Option<&str>) -> Option<(&'static str, String)> {
    let object = || match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    };
    let bucket_arn = || format!("arn:aws:s3:::{bucket}");
    Some(match op {
        "ListBuckets" => ("s3:ListAllMyBuckets", "*".into()),
        "GetObject" | "HeadObject" => ("s3:GetObject", object()),
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => ("s3:PutObject", object()),
        "DeleteObject" => ("s3:DeleteObject", object()),
        "AbortMultipartUpload" => ("s3:AbortMultipartUpload", object()),
        "ListParts" => ("s3:ListMultipartUploadParts", object()),
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => ("s3:ListBucket", bucket_arn()),
        "ListMultipartUploads" => ("s3:ListBucketMultipartUploads", bucket_arn()),
        "GetBucketLocation" => ("s3:GetBucketLocation", bucket_arn()),
        "CreateBucket" => ("s3:CreateBucket", bucket_arn()),
        "DeleteBucket" => ("s3:DeleteBucket", bucket_arn()),
        _ => return None,
    })
}

/// AWS's S3 denial text names the resource in quotes.
fn s3_denial(message: &str, resource: &str) -> s3s::S3Error {
    let text = message.replacen(
        &format!("on resource: {resource} "),
        &format!("on resource: \"{resource}\" "),
        1,
    );
    s3_error!(AccessDenied, "{text}")
}

/// Task-role judgement for S3 calls: the IAM backend, the mode, and the
/// issued credentials that say which task signed a call.
#[derive(Clone)]
pub struct TaskRoles {
    pub iam: crate::services::iam::Iam,
    pub mode: crate::services::iam::Mode,
}

/// Allows every request, anonymous ones included, except keys that
/// `unsafe_key` refuses (also as a copy source) and, under `serve --iam`,
/// what a task's role does not allow.
struct KeyGuard {
    /// Where each call is recorded, with the task and role whose
    /// credentials signed it.
    log: Option<(Option<Credentials>, RequestLog)>,
    roles: Option<TaskRoles>,
}

impl KeyGuard {
    /// The task whose role credentials signed a request, if any.
    fn principal(&self, key: Option<&str>) -> Option<crate::services::credentials::Principal> {
        let (issued, _) = self.log.as_ref()?;
        key.and_then(|k| issued.as_ref().and_then(|c| c.principal(k)))
    }

    /// The task role's decision on `action` over `resources`.
    fn judge(
        &self,
        principal: &crate::services::credentials::Principal,
        request_id: Option<&str>,
        action: &str,
        resources: &[String],
    ) -> S3Result<()> {
        let Some(r) = &self.roles else {
            return Ok(());
        };
        let who = crate::services::iam::Subject {
            kind: crate::services::iam::usage::RoleKind::Task,
            role: &principal.role_arn,
            task_arn: &principal.task_arn,
        };
        r.iam
            .decide(r.mode, who, request_id, action, resources)
            .map_err(|d| s3_denial(&d.message, &d.resource))
    }
}

#[async_trait]
impl S3Access for KeyGuard {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if let s3s::path::S3Path::Object { key, .. } = cx.s3_path() {
            refuse_key(key)?;
        }
        let Some((_, log)) = &self.log else {
            return Ok(());
        };
        let request_id = crate::domain::ids::uuid();
        let key = cx.credentials().map(|c| c.access_key.clone());
        let principal = self.principal(key.as_deref());
        let op = cx.s3_op().name();
        let mut verdict = Ok(());
        if let Some(p) = &principal {
            let (bucket, object) = match cx.s3_path() {
                s3s::path::S3Path::Root => ("", None),
                s3s::path::S3Path::Bucket { bucket } => (&**bucket, None),
                s3s::path::S3Path::Object { bucket, key } => (&**bucket, Some(&**key)),
            };
            match s3_permission(op, bucket, object) {
                Some((action, resource)) => {
                    verdict = self.judge(p, Some(&request_id), action, &[resource]);
                }
                None if op == "DeleteObjects" => {}
                None => {
                    if let Some(r) = &self.roles {
                        r.iam
                            .usage()
                            .record_unattributed(&p.task_arn, &format!("s3:{op}"));
                    }
                }
            }
        }
        log.record(
            &request_id,
            "s3",
            op,
            key.as_deref(),
            principal.as_ref(),
            verdict.is_err().then_some("AccessDenied"),
        );
        verdict
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        if let CopySource::Bucket { bucket, key, .. } = &req.input.copy_source {
            refuse_key(key)?;
            let access_key = req.credentials.as_ref().map(|c| c.access_key.as_str());
            if let Some(p) = self.principal(access_key) {
                self.judge(
                    &p,
                    None,
                    "s3:GetObject",
                    &[format!("arn:aws:s3:::{bucket}/{key}")],
                )?;
            }
        }
        Ok(())
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let access_key = req.credentials.as_ref().map(|c| c.access_key.as_str());
        if let Some(p) = self.principal(access_key) {
            let bucket = &req.input.bucket;
            let keys: Vec<String> = req
                .input
                .delete
                .objects
                .iter()
                .map(|o| format!("arn:aws:s3:::{bucket}/{}", o.key))
                .collect();
            self.judge(&p, None, "s3:DeleteObject", &keys)?;
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
        roles: Option<TaskRoles>,
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
            roles,
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
    fn s3_operations_are_judged_on_their_action_and_resource() {
        let cases = [
            (
                "GetObject",
                "b",
                Some("a/k"),
                Some(("s3:GetObject", "arn:aws:s3:::b/a/k")),
            ),
            (
                "HeadObject",
                "b",
                Some("k"),
                Some(("s3:GetObject", "arn:aws:s3:::b/k")),
            ),
            (
                "PutObject",
                "b",
                Some("k"),
                Some(("s3:PutObject", "arn:aws:s3:::b/k")),
            ),
            (
                "UploadPart",
                "b",
                Some("k"),
                Some(("s3:PutObject", "arn:aws:s3:::b/k")),
            ),
            (
                "DeleteObject",
                "b",
                Some("k"),
                Some(("s3:DeleteObject", "arn:aws:s3:::b/k")),
            ),
            (
                "ListObjectsV2",
                "b",
                None,
                Some(("s3:ListBucket", "arn:aws:s3:::b")),
            ),
            (
                "HeadBucket",
                "b",
                None,
                Some(("s3:ListBucket", "arn:aws:s3:::b")),
            ),
            (
                "GetBucketLocation",
                "b",
                None,
                Some(("s3:GetBucketLocation", "arn:aws:s3:::b")),
            ),
            (
                "CreateBucket",
                "b",
                None,
                Some(("s3:CreateBucket", "arn:aws:s3:::b")),
            ),
            ("ListBuckets", "", None, Some(("s3:ListAllMyBuckets", "*"))),
            ("DeleteObjects", "b", None, None),
            ("PutBucketPolicy", "b", None, None),
        ];
        for (op, bucket, key, want) in cases {
            let got = s3_permission(op, bucket, key);
            assert_eq!(got.as_ref().map(|(a, r)| (*a, r.as_str())), want, "{op}");
        }
        let e = s3_denial(
            "User: u is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action",
            "arn:aws:s3:::b/k",
        );
        assert_eq!(*e.code(), s3s::S3ErrorCode::AccessDenied);
        assert_eq!(
            e.message(),
            Some(
                "User: u is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" because no identity-based policy allows the s3:GetObject action"
            )
        );
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
