//! `s3` and `kinesis_firehose`/`firehose`, both ending as objects in the
//! emulator's S3. s3 buffers JSON lines per tag in memory (Fluent Bit uses
//! `store_dir` on disk) and uploads with one PutObject when the buffer
//! reaches `total_file_size`, when `upload_timeout` passes, and at
//! shutdown; multipart upload is never used. Firehose has no local
//! service: each flush becomes one object in a bucket named after the
//! delivery stream (or `FARGATE_LOCAL_FIREHOSE_BUCKET`), keyed as
//! Firehose's default S3 destination keys objects.

use std::io::Write;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;

use super::aws::{AwsClient, endpoint};
use super::{DateFormat, Item, Output, check_strftime, json_line, strftime};
use crate::firelens::config::{ConfigError, Section, parse_duration, parse_size};
use crate::firelens::log;
use crate::firelens::record::{Accessor, Event, value_str, value_text};

pub const DEFAULT_KEY_FORMAT: &str = "/fluent-bit-logs/$TAG/%Y/%m/%d/%H/%M/%S";

struct FileBuf {
    tag: String,
    data: Vec<u8>,
    created: Instant,
    created_at: chrono::DateTime<chrono::Utc>,
}

pub struct S3 {
    scope: String,
    client: AwsClient,
    bucket: String,
    key_format: String,
    tag_delimiters: String,
    total_file_size: usize,
    upload_timeout: Duration,
    log_key: Option<Accessor>,
    date_key: Option<String>,
    date_format: DateFormat,
    gzip: bool,
    content_type: String,
    index: u64,
    files: Vec<FileBuf>,
}

fn log_key(s: &Section, scope: &str) -> Result<Option<Accessor>, ConfigError> {
    s.get("log_key")
        .map(|k| Accessor::parse(&format!("${}", k.trim_start_matches('$'))))
        .transpose()
        .map_err(|e| ConfigError(format!("[{scope}] log_key: {e}")))
}

/// One line of an object: `log_key`'s raw value, or the record as JSON.
fn line(
    ev: &Event,
    key: Option<&Accessor>,
    date_key: Option<&str>,
    fmt: DateFormat,
) -> Option<String> {
    match key {
        Some(k) => k.get(ev).map(|v| {
            value_str(v)
                .map(str::to_string)
                .unwrap_or_else(|| value_text(v))
        }),
        None => Some(json_line(ev, date_key, fmt)),
    }
}

fn random_id(n: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut r = rand::rng();
    (0..n)
        .map(|_| CHARS[r.random_range(0..CHARS.len())] as char)
        .collect()
}

impl S3 {
    pub fn new(s: &Section, scope: &str) -> Result<S3, ConfigError> {
        let Some(bucket) = s.get("bucket") else {
            return Err(ConfigError(format!(
                "[{scope}] 'bucket' is a required parameter"
            )));
        };
        let region = s.get("region").unwrap_or("us-east-1");
        let total_file_size = match s.get("total_file_size") {
            Some(v) => parse_size(v)
                .ok_or_else(|| ConfigError(format!("[{scope}] invalid total_file_size '{v}'")))?
                as usize,
            None => 100 * 1024 * 1024,
        };
        let upload_timeout = match s.get("upload_timeout") {
            Some(v) => parse_duration(v)
                .ok_or_else(|| ConfigError(format!("[{scope}] invalid upload_timeout '{v}'")))?,
            None => Duration::from_secs(600),
        };
        let gzip = match s.get("compression").map(str::to_ascii_lowercase).as_deref() {
            None => false,
            Some("gzip") => true,
            Some(o) => {
                return Err(ConfigError(format!(
                    "[{scope}] compression '{o}' is not supported by fargate-local's router (gzip)"
                )));
            }
        };
        let date_key = match s.get("json_date_key") {
            Some(v) if matches!(v.to_ascii_lowercase().as_str(), "false" | "off") => None,
            Some(v) => Some(v.to_string()),
            None => Some("date".to_string()),
        };
        let key_format = s.get("s3_key_format").unwrap_or(DEFAULT_KEY_FORMAT);
        check_strftime(key_format, scope, "s3_key_format")?;
        Ok(S3 {
            scope: scope.to_string(),
            client: AwsClient::new(endpoint(s, scope)?, region.to_string()),
            bucket: bucket.to_string(),
            key_format: key_format.to_string(),
            tag_delimiters: s
                .get("s3_key_format_tag_delimiters")
                .unwrap_or(".")
                .to_string(),
            total_file_size,
            upload_timeout,
            log_key: log_key(s, scope)?,
            date_key,
            date_format: DateFormat::parse(s.get("json_date_format"), DateFormat::Iso8601, scope)?,
            gzip,
            content_type: s
                .get("content_type")
                .unwrap_or("application/json")
                .to_string(),
            index: 0,
            files: Vec::new(),
        })
    }

    /// The object key for a file of `tag` created at `t`. As in Fluent
    /// Bit, the `$` variables are replaced first and the result is given
    /// to strftime; a `%` in the tag stays a `%` here.
    pub fn key(
        &self,
        tag: &str,
        t: chrono::DateTime<chrono::Utc>,
        index: u64,
    ) -> Result<String, String> {
        let mut k = self.key_format.clone();
        let parts: Vec<&str> = tag.split(|c| self.tag_delimiters.contains(c)).collect();
        for (i, p) in parts.iter().enumerate().rev() {
            k = k.replace(&format!("$TAG[{i}]"), &p.replace('%', "%%"));
        }
        k = k.replace("$TAG", &tag.replace('%', "%%"));
        let has_uuid = k.contains("$UUID");
        k = k.replace("$UUID", &random_id(8));
        k = k.replace("$INDEX", &index.to_string());
        let mut k = strftime(t, &k)?;
        if !has_uuid && !self.key_format.contains("$INDEX") {
            // Fluent Bit appends a random suffix so objects do not overwrite each other.
            k.push_str("-object");
            k.push_str(&random_id(8));
        }
        Ok(k.trim_start_matches('/').to_string())
    }

    async fn upload(&mut self, i: usize) -> Result<(), String> {
        let f = &self.files[i];
        let key = self
            .key(&f.tag, f.created_at, self.index)
            .map_err(|e| format!("s3_key_format: {e}"))?;
        let body = if self.gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&f.data).map_err(|e| e.to_string())?;
            e.finish().map_err(|e| e.to_string())?
        } else {
            f.data.clone()
        };
        self.client
            .put_object(&self.bucket, &key, body, &self.content_type)
            .await
            .map_err(|e| format!("PutObject s3://{}/{key}: {e}", self.bucket))?;
        log::info(&self.scope, format!("Successfully uploaded object {key}"));
        self.index += 1;
        self.files.remove(i);
        Ok(())
    }
}

#[async_trait]
impl Output for S3 {
    async fn flush(&mut self, batch: Vec<Item>, force: bool) -> Result<(), String> {
        for it in batch {
            let Some(l) = line(
                &it.event,
                self.log_key.as_ref(),
                self.date_key.as_deref(),
                self.date_format,
            ) else {
                continue;
            };
            let idx = match self.files.iter().position(|f| *f.tag == *it.tag) {
                Some(i) => i,
                None => {
                    self.files.push(FileBuf {
                        tag: it.tag.to_string(),
                        data: Vec::new(),
                        created: Instant::now(),
                        created_at: chrono::Utc::now(),
                    });
                    self.files.len() - 1
                }
            };
            self.files[idx].data.extend_from_slice(l.as_bytes());
            self.files[idx].data.push(b'\n');
        }
        let mut i = 0;
        while i < self.files.len() {
            let f = &self.files[i];
            if force
                || f.data.len() >= self.total_file_size
                || f.created.elapsed() >= self.upload_timeout
            {
                self.upload(i).await?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn holds(&self) -> bool {
        !self.files.is_empty()
    }

    fn discard(&mut self) -> usize {
        let n = self
            .files
            .iter()
            .map(|f| f.data.iter().filter(|b| **b == b'\n').count())
            .sum();
        self.files.clear();
        n
    }
}

// ------------------------------------------------------------------ firehose

pub struct Firehose {
    scope: String,
    client: AwsClient,
    stream: String,
    bucket: String,
    log_key: Option<Accessor>,
    time_key: Option<String>,
    time_key_format: String,
    bucket_ready: bool,
    pending: Vec<u8>,
    count: usize,
}

impl Firehose {
    pub fn new(s: &Section, scope: &str) -> Result<Firehose, ConfigError> {
        let Some(stream) = s.get("delivery_stream") else {
            return Err(ConfigError(format!(
                "[{scope}] 'delivery_stream' is a required field"
            )));
        };
        let Some(region) = s.get("region") else {
            return Err(ConfigError(format!(
                "[{scope}] 'region' is a required field"
            )));
        };
        let bucket = std::env::var("FARGATE_LOCAL_FIREHOSE_BUCKET")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| stream.to_ascii_lowercase().replace('_', "-"));
        // The Go plugin's `%3N`/`%L` (milliseconds) in strftime terms.
        let time_key_format = s
            .get("time_key_format")
            .unwrap_or("%Y-%m-%dT%H:%M:%S")
            .replace("%3N", "%3f")
            .replace("%L", "%3f");
        check_strftime(&time_key_format, scope, "time_key_format")?;
        Ok(Firehose {
            scope: scope.to_string(),
            client: AwsClient::new(endpoint(s, scope)?, region.to_string()),
            stream: stream.to_string(),
            bucket,
            log_key: log_key(s, scope)?,
            time_key: s.get("time_key").map(str::to_string),
            time_key_format,
            bucket_ready: false,
            pending: Vec::new(),
            count: 0,
        })
    }

    pub fn record(&self, ev: &Event) -> Option<String> {
        if let Some(k) = &self.log_key {
            return k.get(ev).map(|v| {
                value_str(v)
                    .map(str::to_string)
                    .unwrap_or_else(|| value_text(v))
            });
        }
        let mut ev = ev.clone();
        if let Some(tk) = &self.time_key {
            let t = chrono::DateTime::from_timestamp(ev.time.sec, ev.time.nsec).unwrap_or_default();
            // The format was checked when the config was read.
            if let Ok(text) = strftime(t, &self.time_key_format) {
                ev.body
                    .push((tk.clone(), crate::firelens::record::str_value(text)));
            }
        }
        Some(crate::firelens::record::record_json(&ev.body))
    }

    pub fn key(&self, t: chrono::DateTime<chrono::Utc>) -> String {
        format!(
            "{}/{}-1-{}-{}",
            t.format("%Y/%m/%d/%H"),
            self.stream,
            t.format("%Y-%m-%d-%H-%M-%S"),
            uuid::Uuid::new_v4()
        )
    }
}

#[async_trait]
impl Output for Firehose {
    async fn flush(&mut self, batch: Vec<Item>, _force: bool) -> Result<(), String> {
        for it in batch {
            if let Some(r) = self.record(&it.event) {
                self.pending.extend_from_slice(r.as_bytes());
                self.pending.push(b'\n');
                self.count += 1;
            }
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        if !self.bucket_ready {
            self.client.create_bucket(&self.bucket).await.map_err(|e| {
                format!(
                    "creating bucket {} for delivery stream {}: {e}",
                    self.bucket, self.stream
                )
            })?;
            self.bucket_ready = true;
        }
        let key = self.key(chrono::Utc::now());
        self.client
            .put_object(
                &self.bucket,
                &key,
                self.pending.clone(),
                "application/octet-stream",
            )
            .await
            .map_err(|e| format!("delivering to s3://{}/{key}: {e}", self.bucket))?;
        log::debug(
            &self.scope,
            format!(
                "delivered {} records to s3://{}/{key}",
                self.count, self.bucket
            ),
        );
        self.pending.clear();
        self.count = 0;
        Ok(())
    }

    fn holds(&self) -> bool {
        !self.pending.is_empty()
    }

    fn discard(&mut self) -> usize {
        let n = self.count;
        self.pending.clear();
        self.count = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
    fn key_formats() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 2, 3, 4).unwrap();
        let o = S3::new(&section(&[("bucket", "b")]), "o").unwrap();
        let k = o.key("app.web", t, 0).unwrap();
        assert!(
            k.starts_with("fluent-bit-logs/app.web/2026/12/01/02/03/04-object"),
            "{k}"
        );
        let o = S3::new(
            &section(&[
                ("bucket", "b"),
                ("s3_key_format", "/logs/$TAG[1]/$TAG[0]/%Y%m%d/$INDEX.log"),
            ]),
            "o",
        )
        .unwrap();
        assert_eq!(
            o.key("app.web", t, 7).unwrap(),
            "logs/web/app/20261201/7.log"
        );
        let o = S3::new(
            &section(&[
                ("bucket", "b"),
                ("s3_key_format", "x/$UUID.gz"),
                ("s3_key_format_tag_delimiters", ".-"),
            ]),
            "o",
        )
        .unwrap();
        let k = o.key("a-b", t, 0).unwrap();
        assert!(
            k.starts_with("x/") && k.ends_with(".gz") && k.len() == 2 + 8 + 3,
            "{k}"
        );
        assert!(S3::new(&section(&[]), "o").is_err());
    }

    #[test]
    fn firehose_keys_and_records() {
        let f = Firehose::new(
            &section(&[
                ("region", "us-east-1"),
                ("delivery_stream", "my_stream"),
                ("time_key", "ts"),
            ]),
            "o",
        )
        .unwrap();
        let t = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 2, 3, 4).unwrap();
        assert!(
            f.key(t)
                .starts_with("2026/12/01/02/my_stream-1-2026-12-01-02-03-04-")
        );
        let ev = Event::new(
            crate::firelens::record::EventTime {
                sec: 1_796_090_584,
                nsec: 0,
            },
            vec![("log".into(), crate::firelens::record::str_value("x"))],
        );
        assert_eq!(
            f.record(&ev).unwrap(),
            r#"{"log":"x","ts":"2026-12-01T02:03:04"}"#
        );
    }
}
