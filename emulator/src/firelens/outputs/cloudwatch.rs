//! The two CloudWatch Logs outputs: `cloudwatch_logs` (Fluent Bit's C
//! plugin: stream = prefix + tag, record-accessor templates) and
//! `cloudwatch` (the aws-for-fluent-bit Go plugin: `$(…)` templates with
//! ECS task metadata). Both hand events to one sink that creates groups
//! and streams as needed and batches PutLogEvents within the API's limits
//! (10,000 events, 1,048,576 bytes counting 26 bytes per event, 24 hours,
//! 256 KiB per event), sorted by time. `log_format json/emf`, group
//! classes and tags, STS and role options are accepted and ignored.

use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::json;

use super::aws::{AwsClient, endpoint};
use super::{Item, Output};
use crate::firelens::config::{ConfigError, Section};
use crate::firelens::filters::{TemplatePart, parse_template, render_template_strict};
use crate::firelens::inputs::Charge;
use crate::firelens::log;
use crate::firelens::record::{Accessor, Event, record_json, value_str, value_text};

pub const MAX_BATCH_EVENTS: usize = 10_000;
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD: usize = 26;
pub const MAX_EVENT_BYTES: usize = 262_144 - EVENT_OVERHEAD;
const DAY_MS: i64 = 24 * 3600 * 1000;

const RETENTION_DAYS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

struct CwEvent {
    ms: i64,
    msg: String,
    _charge: Option<Charge>,
}

type StreamKey = (String, String);

/// Creates groups/streams and ships events; keeps what it could not send.
struct Sink {
    scope: String,
    client: AwsClient,
    auto_create_group: bool,
    auto_create_stream: bool,
    retention: Option<i64>,
    known: HashSet<StreamKey>,
    pending: Vec<(StreamKey, Vec<CwEvent>)>,
}

impl Sink {
    fn new(s: &Section, scope: &str, auto_group_default: bool) -> Result<Sink, ConfigError> {
        let Some(region) = s.get("region") else {
            return Err(ConfigError(format!(
                "[{scope}] 'region' is a required field"
            )));
        };
        let retention = match s.get("log_retention_days") {
            None => None,
            Some(v) => {
                let d: i64 = v.parse().map_err(|_| {
                    ConfigError(format!("[{scope}] invalid log_retention_days '{v}'"))
                })?;
                if !RETENTION_DAYS.contains(&d) {
                    return Err(ConfigError(format!(
                        "[{scope}] invalid log_retention_days {d}: allowed values are {RETENTION_DAYS:?}"
                    )));
                }
                Some(d)
            }
        };
        Ok(Sink {
            scope: scope.to_string(),
            client: AwsClient::new(endpoint(s, scope)?, region.to_string()),
            auto_create_group: s.bool("auto_create_group", auto_group_default)?,
            auto_create_stream: s.bool("auto_create_stream", true)?,
            retention,
            known: HashSet::new(),
            pending: Vec::new(),
        })
    }

    fn add(&mut self, key: StreamKey, ms: i64, mut msg: String, charge: Option<Charge>) {
        if msg.is_empty() {
            return;
        }
        if msg.len() > MAX_EVENT_BYTES {
            let cut = msg.floor_char_boundary(MAX_EVENT_BYTES);
            msg.truncate(cut);
            log::warn(
                &self.scope,
                format!("log event truncated to {cut} bytes (the CloudWatch Logs limit)"),
            );
        }
        let ev = CwEvent {
            ms,
            msg,
            _charge: charge,
        };
        match self.pending.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(ev),
            None => self.pending.push((key, vec![ev])),
        }
    }

    async fn ensure_stream(&mut self, key: &StreamKey) -> Result<(), String> {
        if self.known.contains(key) {
            return Ok(());
        }
        let (group, stream) = key;
        let create_stream = json!({"logGroupName": group, "logStreamName": stream}).to_string();
        if !self.auto_create_stream {
            // The Go plugin can be told not to create streams; look it up.
            let r = self
                .client
                .logs(
                    "DescribeLogStreams",
                    json!({"logGroupName": group, "logStreamNamePrefix": stream}).to_string(),
                )
                .await
                .map_err(|e| e.to_string())?;
            let found = r["logStreams"]
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["logStreamName"] == stream.as_str()));
            if !found {
                return Err(format!(
                    "log stream {stream} does not exist and auto_create_stream is false"
                ));
            }
            self.known.insert(key.clone());
            return Ok(());
        }
        match self
            .client
            .logs("CreateLogStream", create_stream.clone())
            .await
        {
            Ok(_) => {
                log::info(
                    &self.scope,
                    format!("Created log stream {stream} in group {group}"),
                );
            }
            Err(e) if e.code == "ResourceAlreadyExistsException" => {}
            Err(e) if e.code == "ResourceNotFoundException" => {
                if !self.auto_create_group {
                    return Err(format!(
                        "log group {group} does not exist (set auto_create_group true to create it): {e}"
                    ));
                }
                match self
                    .client
                    .logs("CreateLogGroup", json!({"logGroupName": group}).to_string())
                    .await
                {
                    Ok(_) => {
                        log::info(&self.scope, format!("Created log group {group}"));
                        if let Some(days) = self.retention {
                            self.client
                                .logs(
                                    "PutRetentionPolicy",
                                    json!({"logGroupName": group, "retentionInDays": days})
                                        .to_string(),
                                )
                                .await
                                .map_err(|e| format!("PutRetentionPolicy {group}: {e}"))?;
                        }
                    }
                    Err(e) if e.code == "ResourceAlreadyExistsException" => {}
                    Err(e) => return Err(format!("CreateLogGroup {group}: {e}")),
                }
                match self.client.logs("CreateLogStream", create_stream).await {
                    Ok(_) => log::info(
                        &self.scope,
                        format!("Created log stream {stream} in group {group}"),
                    ),
                    Err(e) if e.code == "ResourceAlreadyExistsException" => {}
                    Err(e) => return Err(format!("CreateLogStream {group}/{stream}: {e}")),
                }
            }
            Err(e) => return Err(format!("CreateLogStream {group}/{stream}: {e}")),
        }
        self.known.insert(key.clone());
        Ok(())
    }

    /// Sends everything pending, stream by stream; what fails stays.
    async fn deliver(&mut self) -> Result<(), String> {
        while let Some((key, mut events)) = self
            .pending
            .first_mut()
            .map(|(k, v)| (k.clone(), std::mem::take(v)))
        {
            if let Err(e) = self.ensure_stream(&key).await {
                self.pending[0].1 = events;
                return Err(e);
            }
            events.sort_by_key(|e| e.ms);
            while !events.is_empty() {
                let n = batch_len(&events);
                let body = put_body(&key, &events[..n]);
                match self.client.logs("PutLogEvents", body).await {
                    Ok(r) => {
                        if let Some(info) = r.get("rejectedLogEventsInfo").filter(|v| !v.is_null())
                        {
                            log::warn(
                                &self.scope,
                                format!("PutLogEvents rejected some events: {info}"),
                            );
                        }
                        events.drain(..n);
                    }
                    Err(e) => {
                        if e.code == "ResourceNotFoundException" {
                            self.known.remove(&key);
                        }
                        self.pending[0].1 = events;
                        return Err(format!("PutLogEvents {}/{}: {e}", key.0, key.1));
                    }
                }
            }
            self.pending.remove(0);
        }
        Ok(())
    }

    fn count(&self) -> usize {
        self.pending.iter().map(|(_, v)| v.len()).sum()
    }
}

/// How many of the (sorted) events fit in one PutLogEvents call.
pub fn batch_len_of(sizes_ms: &[(usize, i64)]) -> usize {
    let mut bytes = 0;
    for (i, (len, ms)) in sizes_ms.iter().enumerate() {
        let sz = len + EVENT_OVERHEAD;
        if i >= MAX_BATCH_EVENTS
            || bytes + sz > MAX_BATCH_BYTES
            || (i > 0 && ms.saturating_sub(sizes_ms[0].1) >= DAY_MS)
        {
            return i.max(1);
        }
        bytes += sz;
    }
    sizes_ms.len()
}

fn batch_len(events: &[CwEvent]) -> usize {
    let v: Vec<(usize, i64)> = events
        .iter()
        .take(MAX_BATCH_EVENTS + 1)
        .map(|e| (e.msg.len(), e.ms))
        .collect();
    batch_len_of(&v)
}

fn put_body(key: &StreamKey, events: &[CwEvent]) -> String {
    let mut out =
        String::with_capacity(events.iter().map(|e| e.msg.len() + 48).sum::<usize>() + 128);
    out.push_str("{\"logGroupName\":");
    crate::firelens::record::write_json_str(&mut out, &key.0);
    out.push_str(",\"logStreamName\":");
    crate::firelens::record::write_json_str(&mut out, &key.1);
    out.push_str(",\"logEvents\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"timestamp\":");
        out.push_str(&e.ms.to_string());
        out.push_str(",\"message\":");
        crate::firelens::record::write_json_str(&mut out, &e.msg);
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// The event's message: `log_key`'s value (raw if a string), else the
/// record as JSON. None when the key is missing.
pub fn message(ev: &Event, log_key: Option<&Accessor>) -> Option<String> {
    match log_key {
        Some(k) => k.get(ev).map(|v| match value_str(v) {
            Some(s) => s.to_string(),
            None => value_text(v),
        }),
        None => Some(record_json(&ev.body)),
    }
}

// ------------------------------------------------------------------ cloudwatch_logs

enum StreamName {
    Name(String),
    Prefix(String),
}

pub struct CloudWatchLogs {
    sink: Sink,
    group: Option<String>,
    stream: StreamName,
    group_template: Option<Vec<TemplatePart>>,
    stream_template: Option<Vec<TemplatePart>>,
    log_key: Option<Accessor>,
}

impl CloudWatchLogs {
    pub fn new(s: &Section, scope: &str) -> Result<CloudWatchLogs, ConfigError> {
        let sink = Sink::new(s, scope, false)?;
        let tmpl = |k: &str| -> Result<Option<Vec<TemplatePart>>, ConfigError> {
            s.get(k)
                .map(|t| parse_template(t).map_err(|e| ConfigError(format!("[{scope}] {k}: {e}"))))
                .transpose()
        };
        let group_template = tmpl("log_group_template")?;
        let stream_template = tmpl("log_stream_template")?;
        let group = s.get("log_group_name").map(str::to_string);
        if group.is_none() && group_template.is_none() {
            return Err(ConfigError(format!(
                "[{scope}] 'log_group_name' is a required field"
            )));
        }
        let stream = match (s.get("log_stream_name"), s.get("log_stream_prefix")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(format!(
                    "[{scope}] either 'log_stream_name' or 'log_stream_prefix' can be set, but not both"
                )));
            }
            (Some(n), None) => StreamName::Name(n.to_string()),
            (None, Some(p)) => StreamName::Prefix(p.to_string()),
            (None, None) if stream_template.is_some() => StreamName::Prefix(String::new()),
            (None, None) => {
                return Err(ConfigError(format!(
                    "[{scope}] either 'log_stream_name' or 'log_stream_prefix' is required"
                )));
            }
        };
        let log_key = s
            .get("log_key")
            .map(|k| Accessor::parse(&format!("${}", k.trim_start_matches('$'))))
            .transpose()
            .map_err(|e| ConfigError(format!("[{scope}] log_key: {e}")))?;
        Ok(CloudWatchLogs {
            sink,
            group,
            stream,
            group_template,
            stream_template,
            log_key,
        })
    }

    /// (group, stream) of one event.
    pub fn names(&self, tag: &str, ev: &Event) -> (String, String) {
        let from_template = |t: &Option<Vec<TemplatePart>>, what: &str| {
            let t = t.as_ref()?;
            let r = render_template_strict(t, tag, ev);
            if r.is_none() {
                log::warn(
                    &self.sink.scope,
                    format!(
                        "[record accessor] translation failed for {what}, using the static name"
                    ),
                );
            }
            r
        };
        let group = from_template(&self.group_template, "log_group_template")
            .or_else(|| self.group.clone())
            .unwrap_or_default();
        let stream =
            from_template(&self.stream_template, "log_stream_template").unwrap_or_else(|| {
                match &self.stream {
                    StreamName::Name(n) => n.clone(),
                    StreamName::Prefix(p) => format!("{p}{tag}"),
                }
            });
        (group, stream)
    }

    pub fn message(&self, ev: &Event) -> Option<String> {
        let m = message(ev, self.log_key.as_ref());
        if m.is_none() {
            log::warn(
                &self.sink.scope,
                format!(
                    "Could not find log_key '{}' in record",
                    self.log_key.as_ref().map(|a| a.root.as_str()).unwrap_or("")
                ),
            );
        }
        m
    }

    /// Keeps what the event will be sent as (its stream, time and
    /// message) and drops the decoded event.
    fn stage(&mut self, it: Item) {
        let Some(msg) = self.message(&it.event) else {
            return;
        };
        let key = self.names(&it.tag, &it.event);
        self.sink.add(key, it.event.time.millis(), msg, it.charge);
    }
}

#[async_trait]
impl Output for CloudWatchLogs {
    async fn flush(&mut self, batch: Vec<Item>, _force: bool) -> Result<(), String> {
        for it in batch {
            self.stage(it);
        }
        self.sink.deliver().await
    }

    fn accept(&mut self, item: Item) -> Option<Item> {
        self.stage(item);
        None
    }

    fn holds(&self) -> bool {
        !self.sink.pending.is_empty()
    }

    fn discard(&mut self) -> usize {
        let n = self.sink.count();
        self.sink.pending.clear();
        n
    }
}

// ------------------------------------------------------------------ cloudwatch (Go)

#[derive(Debug, Clone, PartialEq)]
enum GoPart {
    Lit(String),
    Tag,
    TagPart(usize),
    Uuid,
    TaskId,
    Cluster,
    TaskArn,
    Key(Accessor),
}

fn parse_go_template(t: &str) -> Result<Vec<GoPart>, String> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find("$(") {
        if i > 0 {
            parts.push(GoPart::Lit(rest[..i].to_string()));
        }
        let after = &rest[i + 2..];
        let close = after
            .find(')')
            .ok_or_else(|| format!("unclosed $( in '{t}'"))?;
        let inner = after[..close].trim();
        parts.push(match inner {
            "tag" => GoPart::Tag,
            "uuid" => GoPart::Uuid,
            "ecs_task_id" => GoPart::TaskId,
            "ecs_cluster" => GoPart::Cluster,
            "ecs_task_arn" => GoPart::TaskArn,
            _ => {
                if let Some(n) = inner.strip_prefix("tag[").and_then(|x| x.strip_suffix(']')) {
                    GoPart::TagPart(n.parse().map_err(|_| format!("invalid $({inner})"))?)
                } else {
                    GoPart::Key(Accessor::parse(&format!("${inner}"))?)
                }
            }
        });
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(GoPart::Lit(rest.to_string()));
    }
    Ok(parts)
}

/// Task ARN and cluster, from TMDS v3 `GET $ECS_CONTAINER_METADATA_URI/task`.
#[derive(Debug, Clone, Default)]
pub struct EcsMeta {
    pub task_arn: Option<String>,
    pub cluster: Option<String>,
}

async fn fetch_ecs_meta() -> EcsMeta {
    let Some(uri) = std::env::var("ECS_CONTAINER_METADATA_URI")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        return EcsMeta::default();
    };
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let Ok(u) = format!("{}/task", uri.trim_end_matches('/')).parse::<hyper::Uri>() else {
        return EcsMeta::default();
    };
    let res = tokio::time::timeout(std::time::Duration::from_secs(5), client.get(u)).await;
    let Ok(Ok(resp)) = res else {
        log::warn(
            "output:cloudwatch",
            "could not read the task metadata endpoint",
        );
        return EcsMeta::default();
    };
    use http_body_util::BodyExt;
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    EcsMeta {
        task_arn: v["TaskARN"].as_str().map(str::to_string),
        cluster: v["Cluster"]
            .as_str()
            .map(|c| c.rsplit('/').next().unwrap_or(c).to_string()),
    }
}

pub struct CloudWatchGo {
    sink: Sink,
    group: Vec<GoPart>,
    stream: Vec<GoPart>,
    default_group: String,
    default_stream: String,
    log_key: Option<Accessor>,
    uuid: String,
    meta: Option<EcsMeta>,
    needs_meta: bool,
}

impl CloudWatchGo {
    pub fn new(s: &Section, scope: &str) -> Result<CloudWatchGo, ConfigError> {
        let sink = Sink::new(s, scope, false)?;
        let Some(group) = s.get("log_group_name") else {
            return Err(ConfigError(format!(
                "[{scope}] log_group_name is a required parameter"
            )));
        };
        let stream = match (s.get("log_stream_name"), s.get("log_stream_prefix")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(format!(
                    "[{scope}] either log_stream_name or log_stream_prefix can be configured, but not both"
                )));
            }
            (Some(n), None) => n.to_string(),
            (None, Some(p)) => format!("{p}$(tag)"),
            (None, None) => {
                return Err(ConfigError(format!(
                    "[{scope}] log_stream_name or log_stream_prefix is required"
                )));
            }
        };
        let p = |t: &str| parse_go_template(t).map_err(|e| ConfigError(format!("[{scope}] {e}")));
        let group = p(group)?;
        let stream = p(&stream)?;
        let needs_meta = group
            .iter()
            .chain(stream.iter())
            .any(|x| matches!(x, GoPart::TaskId | GoPart::Cluster | GoPart::TaskArn));
        let log_key = s
            .get("log_key")
            .map(|k| Accessor::parse(&format!("${}", k.trim_start_matches('$'))))
            .transpose()
            .map_err(|e| ConfigError(format!("[{scope}] log_key: {e}")))?;
        Ok(CloudWatchGo {
            sink,
            group,
            stream,
            default_group: s
                .get("default_log_group_name")
                .unwrap_or("fluentbit-default")
                .to_string(),
            default_stream: s
                .get("default_log_stream_name")
                .unwrap_or("/fluentbit-default")
                .to_string(),
            log_key,
            uuid: uuid::Uuid::new_v4().to_string(),
            meta: None,
            needs_meta,
        })
    }

    fn render(&self, parts: &[GoPart], tag: &str, ev: &Event) -> Option<String> {
        let meta = self.meta.clone().unwrap_or_default();
        let arn = meta
            .task_arn
            .or_else(|| ev.get_str("ecs_task_arn").map(str::to_string));
        let mut out = String::new();
        for p in parts {
            match p {
                GoPart::Lit(s) => out.push_str(s),
                GoPart::Tag => out.push_str(tag),
                GoPart::TagPart(n) => out.push_str(tag.split('.').nth(*n)?),
                GoPart::Uuid => out.push_str(&self.uuid),
                GoPart::TaskArn => out.push_str(arn.as_deref()?),
                GoPart::TaskId => out.push_str(arn.as_deref()?.rsplit('/').next()?),
                GoPart::Cluster => {
                    let c = meta
                        .cluster
                        .clone()
                        .or_else(|| ev.get_str("ecs_cluster").map(str::to_string))?;
                    out.push_str(&c);
                }
                GoPart::Key(a) => out.push_str(&value_text(a.get(ev)?)),
            }
        }
        Some(out)
    }

    pub fn names(&self, tag: &str, ev: &Event) -> (String, String) {
        let g = self.render(&self.group, tag, ev).unwrap_or_else(|| {
            log::warn(
                &self.sink.scope,
                format!(
                    "could not render log_group_name, using {}",
                    self.default_group
                ),
            );
            self.default_group.clone()
        });
        let s = self.render(&self.stream, tag, ev).unwrap_or_else(|| {
            log::warn(
                &self.sink.scope,
                format!(
                    "could not render log_stream_name, using {}",
                    self.default_stream
                ),
            );
            self.default_stream.clone()
        });
        (g, s)
    }

    /// Keeps what the event will be sent as and drops the decoded event.
    fn stage(&mut self, it: Item) {
        let Some(msg) = message(&it.event, self.log_key.as_ref()) else {
            log::warn(&self.sink.scope, "log_key not found in record, skipping it");
            return;
        };
        let key = self.names(&it.tag, &it.event);
        self.sink.add(key, it.event.time.millis(), msg, it.charge);
    }
}

#[async_trait]
impl Output for CloudWatchGo {
    async fn flush(&mut self, batch: Vec<Item>, _force: bool) -> Result<(), String> {
        if self.needs_meta && self.meta.is_none() && !batch.is_empty() {
            self.meta = Some(fetch_ecs_meta().await);
        }
        for it in batch {
            self.stage(it);
        }
        self.sink.deliver().await
    }

    /// Taken now unless the names need the task metadata, which the first
    /// flush fetches.
    fn accept(&mut self, item: Item) -> Option<Item> {
        if self.needs_meta && self.meta.is_none() {
            return Some(item);
        }
        self.stage(item);
        None
    }

    fn holds(&self) -> bool {
        !self.sink.pending.is_empty()
    }

    fn discard(&mut self) -> usize {
        let n = self.sink.count();
        self.sink.pending.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firelens::record::{EventTime, str_value};

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

    fn ev(pairs: &[(&str, &str)]) -> Event {
        Event::new(
            EventTime {
                sec: 10,
                nsec: 7_000_000,
            },
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), str_value(*v)))
                .collect(),
        )
    }

    #[test]
    fn routed_records_are_kept_as_messages_and_release_their_memory_when_discarded() {
        use crate::firelens::inputs::Gauge;
        let gauge = Gauge::new("forward.0", 1000);
        let item = |log: &str| Item {
            tag: "app-firelens-1".into(),
            event: ev(&[("log", log), ("source", "stdout")]),
            charge: Some(gauge.charge(100)),
        };
        let mut o = CloudWatchLogs::new(
            &section(&[
                ("region", "us-east-1"),
                ("log_group_name", "/g"),
                ("log_stream_prefix", "web/"),
                ("log_key", "log"),
            ]),
            "o",
        )
        .unwrap();
        assert!(!o.holds());
        assert!(o.accept(item("a")).is_none(), "taken at once");
        assert!(o.accept(item("b")).is_none());
        assert!(o.holds(), "held for the next flush");
        assert_eq!(o.sink.count(), 2);
        let kept: Vec<&str> = o.sink.pending[0].1.iter().map(|e| e.msg.as_str()).collect();
        assert_eq!(kept, ["a", "b"]);
        assert_eq!(gauge.used(), 200, "still charged until delivered");
        assert_eq!(o.discard(), 2);
        assert_eq!(gauge.used(), 0);
        // The Go plugin's names may need the task metadata, which only a
        // flush fetches: until then records come back for the batch.
        let mut go = CloudWatchGo::new(
            &section(&[
                ("region", "us-east-1"),
                ("log_group_name", "/g"),
                ("log_stream_name", "$(ecs_task_id)"),
            ]),
            "o",
        )
        .unwrap();
        assert!(go.accept(item("c")).is_some());
        assert!(!go.holds());
    }

    #[test]
    fn cloudwatch_logs_names_and_messages() {
        let tag = "web-firelens-0123";
        let e = ev(&[
            ("log", "hello"),
            ("source", "stdout"),
            ("ecs_cluster", "c1"),
        ]);
        let o = CloudWatchLogs::new(
            &section(&[
                ("region", "us-east-1"),
                ("log_group_name", "/g"),
                ("log_stream_prefix", "web/"),
            ]),
            "o",
        )
        .unwrap();
        assert_eq!(
            o.names(tag, &e),
            ("/g".to_string(), "web/web-firelens-0123".to_string())
        );
        assert_eq!(
            o.message(&e).unwrap(),
            r#"{"log":"hello","source":"stdout","ecs_cluster":"c1"}"#
        );
        let o = CloudWatchLogs::new(
            &section(&[
                ("region", "us-east-1"),
                ("log_group_name", "/fallback"),
                ("log_group_template", "/ecs/$ecs_cluster"),
                ("log_stream_name", "fixed"),
                ("log_stream_template", "$TAG[0].$source"),
                ("log_key", "log"),
            ]),
            "o",
        )
        .unwrap();
        assert_eq!(
            o.names("a.b", &e),
            ("/ecs/c1".to_string(), "a.stdout".to_string())
        );
        assert_eq!(
            o.names("a.b", &ev(&[])),
            ("/fallback".to_string(), "fixed".to_string())
        );
        assert_eq!(o.message(&e).unwrap(), "hello");
        assert_eq!(o.message(&ev(&[("x", "y")])), None);
        assert_eq!(e.time.millis(), 10_007);
    }

    #[test]
    fn config_errors() {
        for (pairs, want) in [
            (
                vec![("log_group_name", "g"), ("log_stream_name", "s")],
                "'region' is a required field",
            ),
            (
                vec![("region", "r"), ("log_stream_name", "s")],
                "'log_group_name' is a required field",
            ),
            (
                vec![("region", "r"), ("log_group_name", "g")],
                "is required",
            ),
            (
                vec![
                    ("region", "r"),
                    ("log_group_name", "g"),
                    ("log_stream_name", "s"),
                    ("log_stream_prefix", "p"),
                ],
                "not both",
            ),
            (
                vec![
                    ("region", "r"),
                    ("log_group_name", "g"),
                    ("log_stream_name", "s"),
                    ("log_retention_days", "2"),
                ],
                "invalid log_retention_days 2",
            ),
        ] {
            let e =
                CloudWatchLogs::new(&section(&pairs), "output:cloudwatch_logs:cloudwatch_logs.0")
                    .err()
                    .unwrap();
            assert!(e.0.contains(want), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn go_plugin_templates() {
        let o = CloudWatchGo::new(
            &section(&[
                ("region", "us-east-1"),
                ("log_group_name", "/ecs/$(ecs_cluster)/$(kubernetes['app'])"),
                ("log_stream_prefix", "p-$(ecs_task_id)-"),
            ]),
            "o",
        )
        .unwrap();
        let mut e = ev(&[
            ("ecs_cluster", "c1"),
            (
                "ecs_task_arn",
                "arn:aws:ecs:us-east-1:000000000000:task/c1/abc123",
            ),
        ]);
        e.body.push((
            "kubernetes".into(),
            rmpv::Value::Map(vec![(str_value("app"), str_value("web"))]),
        ));
        assert_eq!(
            o.names("t.x", &e),
            ("/ecs/c1/web".to_string(), "p-abc123-t.x".to_string())
        );
        assert_eq!(
            o.names("t.x", &ev(&[])),
            (
                "fluentbit-default".to_string(),
                "/fluentbit-default".to_string()
            )
        );
        let o = CloudWatchGo::new(
            &section(&[
                ("region", "r"),
                ("log_group_name", "g"),
                ("log_stream_name", "$(tag[1])-$(uuid)"),
            ]),
            "o",
        )
        .unwrap();
        let (_, s) = o.names("a.b.c", &ev(&[]));
        assert!(s.starts_with("b-") && s.len() == 2 + 36, "{s}");
    }

    #[test]
    fn batching_limits() {
        let many: Vec<(usize, i64)> = (0..10_050).map(|i| (10, i)).collect();
        assert_eq!(batch_len_of(&many), 10_000);
        let big: Vec<(usize, i64)> = (0..10).map(|i| (300_000, i)).collect();
        assert_eq!(batch_len_of(&big), 3);
        let span = vec![(1, 0), (1, DAY_MS - 1), (1, DAY_MS)];
        assert_eq!(batch_len_of(&span), 2);
        assert_eq!(batch_len_of(&[(2_000_000, 0)]), 1);
    }
}
