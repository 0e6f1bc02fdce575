//! The outputs (A4.4): cloudwatch_logs and cloudwatch (CloudWatch Logs),
//! s3 and kinesis_firehose/firehose (objects in the emulator's S3), stdout,
//! file, null. Each output is driven by one worker (`super::engine`) that
//! hands it what was routed to it every `Flush` seconds and retries on
//! failure. Other Fluent Bit outputs are accepted with a warning and
//! discard their records.

pub mod aws;
pub mod cloudwatch;
pub mod s3;

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;

use super::config::{ConfigError, Section};
use super::inputs::Charge;
use super::record::{Event, body_value, msgpack_print, record_json_with, value_text};

/// One routed record with the input memory it holds.
pub struct Item {
    pub tag: Arc<str>,
    pub event: Event,
    pub charge: Option<Charge>,
}

#[async_trait]
pub trait Output: Send {
    /// Delivers `batch` (and anything kept from a failed attempt). On
    /// error the output keeps what it did not deliver, to be retried by a
    /// later call (possibly with an empty batch). `force` is the last
    /// flush before exit: nothing may be held back for later.
    async fn flush(&mut self, batch: Vec<Item>, force: bool) -> Result<(), String>;

    /// Offered each record as soon as it is routed, before the flush that
    /// delivers it. The default gives it back, to come in `flush`'s batch;
    /// an output that keeps records more compactly than as decoded events
    /// (cloudwatch_logs keeps a time and a message per stream) takes it
    /// now, so that what waits for the next flush holds little memory. A
    /// record taken counts in `holds` and goes out with the next flush.
    fn accept(&mut self, item: Item) -> Option<Item> {
        Some(item)
    }

    /// Whether it holds records (kept after an error, or buffered on
    /// purpose), so the worker calls it even with nothing new.
    fn holds(&self) -> bool {
        false
    }

    /// Gives up what it holds (retry limit reached); returns how many
    /// records were dropped.
    fn discard(&mut self) -> usize {
        0
    }
}

pub const SUPPORTED: &[&str] = &[
    "cloudwatch_logs",
    "cloudwatch",
    "s3",
    "kinesis_firehose",
    "firehose",
    "stdout",
    "file",
    "null",
];

/// Outputs real Fluent Bit (or the aws-for-fluent-bit image) has, accepted
/// with a warning and treated as `null`.
pub const DISCARDING: &[&str] = &[
    "kinesis_streams",
    "kinesis",
    "es",
    "opensearch",
    "http",
    "forward",
    "datadog",
    "splunk",
    "loki",
    "kafka",
    "prometheus_exporter",
    "prometheus_remote_write",
    "newrelic",
    "syslog",
    "tcp",
    "udp",
    "counter",
    "influxdb",
    "cloudwatch_metrics",
    "azure",
    "bigquery",
    "stackdriver",
    "opentelemetry",
    "gelf",
    "logdna",
];

pub fn build(
    plugin: &str,
    s: &Section,
    scope: &str,
    warnings: &mut Vec<String>,
) -> Result<Box<dyn Output>, ConfigError> {
    Ok(match plugin {
        "cloudwatch_logs" => Box::new(cloudwatch::CloudWatchLogs::new(s, scope)?),
        "cloudwatch" => Box::new(cloudwatch::CloudWatchGo::new(s, scope)?),
        "s3" => Box::new(s3::S3::new(s, scope)?),
        "kinesis_firehose" | "firehose" => Box::new(s3::Firehose::new(s, scope)?),
        "stdout" => Box::new(Stdout::new(s, scope)?),
        "file" => Box::new(File::new(s, scope)?),
        "null" => Box::new(Null),
        other if DISCARDING.contains(&other) => {
            warnings.push(format!(
                "[{scope}] output '{other}' is not supported by fargate-local's router: its records are discarded"
            ));
            Box::new(Null)
        }
        other => {
            return Err(ConfigError(format!(
                "[config] section 'output' tried to instance a plugin name that doesn't exist: {other}"
            )));
        }
    })
}

pub struct Null;

#[async_trait]
impl Output for Null {
    async fn flush(&mut self, _batch: Vec<Item>, _force: bool) -> Result<(), String> {
        Ok(())
    }
}

// ------------------------------------------------------------------ formats

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFormat {
    Double,
    Epoch,
    Iso8601,
    JavaSqlTimestamp,
}

impl DateFormat {
    pub fn parse(
        v: Option<&str>,
        default: DateFormat,
        scope: &str,
    ) -> Result<DateFormat, ConfigError> {
        Ok(match v.map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("double") => DateFormat::Double,
            Some("epoch") => DateFormat::Epoch,
            Some("iso8601") => DateFormat::Iso8601,
            Some("java_sql_timestamp") => DateFormat::JavaSqlTimestamp,
            Some(o) => {
                return Err(ConfigError(format!(
                    "[{scope}] invalid json_date_format '{o}'"
                )));
            }
        })
    }

    /// The JSON text of a time in this format.
    pub fn render(self, t: super::record::EventTime) -> String {
        let dt = chrono::DateTime::from_timestamp(t.sec, t.nsec).unwrap_or_default();
        match self {
            DateFormat::Double => format!("{}.{:06}", t.sec, t.nsec / 1000),
            DateFormat::Epoch => t.sec.to_string(),
            DateFormat::Iso8601 => format!("\"{}\"", dt.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            DateFormat::JavaSqlTimestamp => format!("\"{}\"", dt.format("%Y-%m-%d %H:%M:%S%.6f")),
        }
    }
}

/// Renders `t` with a strftime format. chrono's `format(..).to_string()`
/// panics on a conversion it does not know; written through `fmt::Write`
/// the same failure is an error.
pub fn strftime(t: chrono::DateTime<chrono::Utc>, format: &str) -> Result<String, String> {
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{}", t.format(format))
        .map_err(|_| format!("'{format}' is not a valid strftime format"))?;
    Ok(out)
}

/// Refuses, when the config is read, a strftime format that could not be
/// rendered later.
pub fn check_strftime(format: &str, scope: &str, key: &str) -> Result<(), ConfigError> {
    match chrono::format::StrftimeItems::new(format).parse() {
        Ok(_) => Ok(()),
        Err(_) => Err(ConfigError(format!(
            "[{scope}] invalid {key} '{format}': not a valid strftime format (a literal % is written %%)"
        ))),
    }
}

/// `date_key` off/false disables the date key.
fn date_key(s: &Section, default: &str) -> Option<String> {
    match s.get("json_date_key") {
        Some(v) if matches!(v.to_ascii_lowercase().as_str(), "false" | "off") => None,
        Some(v) => Some(v.to_string()),
        None => Some(default.to_string()),
    }
}

/// `{"date":…,…}` for JSON-lines outputs.
pub fn json_line(ev: &Event, key: Option<&str>, fmt: DateFormat) -> String {
    match key {
        Some(k) => record_json_with(Some((k, &fmt.render(ev.time))), &ev.body),
        None => record_json_with(None, &ev.body),
    }
}

/// `[0] tag: [[sec.nsec, {}], {"k"=>"v"}]`, Fluent Bit's stdout default.
pub fn msgpack_line(n: usize, tag: &str, ev: &Event) -> String {
    let mut out = format!(
        "[{n}] {tag}: [[{}.{:09}, {{}}], ",
        ev.time.sec, ev.time.nsec
    );
    msgpack_print(&body_value(&ev.body), &mut out);
    out.push(']');
    out
}

// ------------------------------------------------------------------ stdout

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StdoutFormat {
    Msgpack,
    Json,
    JsonLines,
}

pub struct Stdout {
    format: StdoutFormat,
    date_key: Option<String>,
    date_format: DateFormat,
}

impl Stdout {
    pub fn new(s: &Section, scope: &str) -> Result<Stdout, ConfigError> {
        let format = match s.get("format").map(str::to_ascii_lowercase).as_deref() {
            None | Some("msgpack") => StdoutFormat::Msgpack,
            Some("json") => StdoutFormat::Json,
            Some("json_lines") | Some("json_stream") => StdoutFormat::JsonLines,
            Some(o) => return Err(ConfigError(format!("[{scope}] invalid format '{o}'"))),
        };
        Ok(Stdout {
            format,
            date_key: date_key(s, "date"),
            date_format: DateFormat::parse(s.get("json_date_format"), DateFormat::Double, scope)?,
        })
    }

    pub fn render(&self, batch: &[Item]) -> String {
        let mut out = String::new();
        match self.format {
            StdoutFormat::Msgpack => {
                // Numbered per chunk: runs of one tag.
                let mut n = 0;
                let mut last: Option<&str> = None;
                for it in batch {
                    if last != Some(&it.tag) {
                        n = 0;
                        last = Some(&it.tag);
                    }
                    out.push_str(&msgpack_line(n, &it.tag, &it.event));
                    out.push('\n');
                    n += 1;
                }
            }
            StdoutFormat::JsonLines => {
                for it in batch {
                    out.push_str(&json_line(
                        &it.event,
                        self.date_key.as_deref(),
                        self.date_format,
                    ));
                    out.push('\n');
                }
            }
            StdoutFormat::Json => {
                out.push('[');
                for (i, it) in batch.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_line(
                        &it.event,
                        self.date_key.as_deref(),
                        self.date_format,
                    ));
                }
                out.push_str("]\n");
            }
        }
        out
    }
}

#[async_trait]
impl Output for Stdout {
    async fn flush(&mut self, batch: Vec<Item>, _force: bool) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let text = self.render(&batch);
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes())
            .and_then(|_| o.flush())
            .map_err(|e| e.to_string())
    }
}

// ------------------------------------------------------------------ file

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    OutFile,
    Plain,
    Csv,
    Ltsv,
}

pub struct File {
    dir: Option<std::path::PathBuf>,
    file: Option<String>,
    format: FileFormat,
    mkdir: bool,
}

impl File {
    pub fn new(s: &Section, scope: &str) -> Result<File, ConfigError> {
        let format = match s.get("format").map(str::to_ascii_lowercase).as_deref() {
            None | Some("out_file") => FileFormat::OutFile,
            Some("plain") => FileFormat::Plain,
            Some("csv") => FileFormat::Csv,
            Some("ltsv") => FileFormat::Ltsv,
            Some(o) => {
                return Err(ConfigError(format!(
                    "[{scope}] format '{o}' is not supported by fargate-local's router (out_file, plain, csv, ltsv)"
                )));
            }
        };
        Ok(File {
            dir: s.get("path").map(std::path::PathBuf::from),
            file: s.get("file").map(str::to_string),
            format,
            mkdir: s.bool("mkdir", false)?,
        })
    }

    pub fn line(&self, tag: &str, ev: &Event) -> String {
        let time = format!("{}.{:09}", ev.time.sec, ev.time.nsec);
        match self.format {
            FileFormat::OutFile => format!("{tag}: [{time}, {}]", record_json_with(None, &ev.body)),
            FileFormat::Plain => record_json_with(None, &ev.body),
            FileFormat::Csv => {
                let mut l = time;
                for (_, v) in &ev.body {
                    l.push_str(",\"");
                    l.push_str(&value_text(v).replace('"', "\"\""));
                    l.push('"');
                }
                l
            }
            FileFormat::Ltsv => {
                let mut l = format!("time:{time}");
                for (k, v) in &ev.body {
                    l.push_str(&format!("\t{k}:{}", value_text(v)));
                }
                l
            }
        }
    }
}

#[async_trait]
impl Output for File {
    async fn flush(&mut self, batch: Vec<Item>, _force: bool) -> Result<(), String> {
        let mut by_file: Vec<(std::path::PathBuf, String)> = Vec::new();
        for it in &batch {
            let name = self.file.clone().unwrap_or_else(|| it.tag.to_string());
            let path = match &self.dir {
                Some(d) => d.join(name),
                None => std::path::PathBuf::from(name),
            };
            let line = self.line(&it.tag, &it.event);
            match by_file.iter_mut().find(|(p, _)| *p == path) {
                Some((_, text)) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                None => by_file.push((path, line + "\n")),
            }
        }
        for (path, text) in by_file {
            if self.mkdir
                && let Some(d) = path.parent()
            {
                std::fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("error opening {}: {e}", path.display()))?;
            f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firelens::record::{EventTime, str_value};

    fn item(tag: &str, pairs: &[(&str, &str)]) -> Item {
        Item {
            tag: Arc::from(tag),
            event: Event::new(
                EventTime {
                    sec: 1_796_083_200,
                    nsec: 5_000,
                },
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), str_value(*v)))
                    .collect(),
            ),
            charge: None,
        }
    }

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
    fn stdout_formats() {
        let batch = vec![
            item("a", &[("log", "x"), ("log", "y")]),
            item("a", &[("log", "z")]),
            item("b", &[]),
        ];
        let s = Stdout::new(&section(&[]), "o").unwrap();
        assert_eq!(
            s.render(&batch),
            "[0] a: [[1796083200.000005000, {}], {\"log\"=>\"x\", \"log\"=>\"y\"}]\n\
             [1] a: [[1796083200.000005000, {}], {\"log\"=>\"z\"}]\n\
             [0] b: [[1796083200.000005000, {}], {}]\n"
        );
        let s = Stdout::new(&section(&[("format", "json_lines")]), "o").unwrap();
        assert_eq!(
            s.render(&batch[1..2]),
            "{\"date\":1796083200.000005,\"log\":\"z\"}\n"
        );
        let s = Stdout::new(
            &section(&[
                ("format", "json"),
                ("json_date_key", "ts"),
                ("json_date_format", "iso8601"),
            ]),
            "o",
        )
        .unwrap();
        assert_eq!(
            s.render(&batch[1..2]),
            "[{\"ts\":\"2026-12-01T00:00:00.000005Z\",\"log\":\"z\"}]\n"
        );
        assert!(Stdout::new(&section(&[("format", "yaml")]), "o").is_err());
    }

    #[test]
    fn file_formats() {
        let it = item("web", &[("log", "a\"b")]);
        let f = File::new(&section(&[]), "o").unwrap();
        assert_eq!(
            f.line(&it.tag, &it.event),
            "web: [1796083200.000005000, {\"log\":\"a\\\"b\"}]"
        );
        let f = File::new(&section(&[("format", "plain")]), "o").unwrap();
        assert_eq!(f.line(&it.tag, &it.event), "{\"log\":\"a\\\"b\"}");
    }
}
