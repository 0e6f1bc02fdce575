//! CloudWatch Logs: log groups, streams and events, durable in the state
//! database. One method per operation (snake_case of the AWS name), request
//! and response types in the wire's camelCase; plus `ensure_group`,
//! `ensure_stream` and `append` for the log drivers inside the emulator.
//!
//! Its state is SQL tables, not the kit's documents in memory, so each
//! mutating operation is one transaction ([`db::Db::write`]): it looks,
//! validates and writes inside it, and an error (its own, or a failed
//! write) rolls everything back. The describe operations page with the
//! kit's tokens; GetLogEvents and FilterLogEvents keep tokens of their
//! own, positions in the events.
//!
//! Left out: metric and subscription filters, Insights queries, live tail
//! (StartLiveTail), KMS encryption (the key id is kept, not used), data
//! protection, account policies, deliveries and cross-account access.

pub mod awslogs;
pub mod db;
pub mod error;
pub mod filter;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::arn::{Arn, Scope};
use crate::services::kit::paging::{self, PageError, Paging};
use crate::services::kit::tags::{self, TagError, TagRules};
use crate::store::Store;
pub use error::LogsError;
use filter::Pattern;

pub const DAY_MS: i64 = 86_400_000;
/// Events older than this are refused (tooOldLogEventEndIndex).
const MAX_AGE_MS: i64 = 14 * DAY_MS;
/// Events further ahead than this are refused (tooNewLogEventStartIndex).
const MAX_AHEAD_MS: i64 = 2 * 3_600_000;
/// The byte budget of one PutLogEvents call and of one read's answer; an
/// event counts its UTF-8 length plus 26 bytes.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD: usize = 26;
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Rows FilterLogEvents scans in one call before it answers with what it
/// found and a nextToken (AWS also answers partial pages, even empty ones,
/// while more remains). Small under unit tests, so that they reach it.
const FILTER_SCAN_BUDGET: usize = if cfg!(test) { 3_000 } else { 200_000 };

pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
const LOG_GROUP_CLASSES: [&str; 4] = ["STANDARD", "INFREQUENT_ACCESS", "DELIVERY", "ESSENTIALS"];
/// DescribeLogGroups' and DescribeLogStreams' `limit`: 1 to 50, 50 by
/// default, paged with the kit's tokens.
const DESCRIBE: Paging = Paging::up_to(50);
/// GetLogEvents' and FilterLogEvents' `limit`: 1 to 10,000, 10,000 by
/// default. Only the size: their tokens are positions in the events.
const EVENTS: Paging = Paging::up_to(MAX_BATCH_EVENTS);

/// The characters of a tag key or value (the model's
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`).
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// CloudWatch Logs' tag limits: 50 tags, keys of 1 to 128 characters,
/// values up to 256, both of the model's characters. Logs does not refuse
/// `aws:` keys in its model, so neither does the emulator.
const TAG_RULES: TagRules = TagRules {
    max_tags: 50,
    max_key_chars: 128,
    max_value_chars: 256,
    reserved_prefix: None,
    allowed_char: Some(tag_char),
    refuse_duplicates: false,
};

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Clone)]
pub struct Logs {
    inner: Arc<Inner>,
}

struct Inner {
    db: db::Db,
    account: String,
}

// ------------------------------------------------------------- wire types

#[derive(Debug, Default, Serialize)]
pub struct Empty {}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLogGroupRequest {
    pub log_group_name: Option<String>,
    pub kms_key_id: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub log_group_class: Option<String>,
    pub deletion_protection_enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroupNameRequest {
    pub log_group_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogGroupsRequest {
    pub log_group_name_prefix: Option<String>,
    pub log_group_name_pattern: Option<String>,
    pub log_group_identifiers: Option<Vec<String>>,
    pub log_group_class: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub include_linked_accounts: Option<bool>,
    pub account_identifiers: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    pub log_group_name: String,
    pub creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i32>,
    pub metric_filter_count: i64,
    pub arn: String,
    pub stored_bytes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    pub log_group_class: String,
    pub log_group_arn: String,
    pub deletion_protection_enabled: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogGroupsResponse {
    pub log_groups: Vec<LogGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRetentionPolicyRequest {
    pub log_group_name: Option<String>,
    pub retention_in_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStreamRequest {
    pub log_group_name: Option<String>,
    pub log_stream_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogStreamsRequest {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_name_prefix: Option<String>,
    pub order_by: Option<String>,
    pub descending: Option<bool>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStream {
    pub log_stream_name: String,
    pub creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ingestion_time: Option<i64>,
    pub upload_sequence_token: String,
    pub arn: String,
    pub stored_bytes: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogStreamsResponse {
    pub log_streams: Vec<LogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputLogEvent {
    pub timestamp: Option<i64>,
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLogEventsRequest {
    pub log_group_name: Option<String>,
    pub log_stream_name: Option<String>,
    pub log_events: Option<Vec<InputLogEvent>>,
    pub sequence_token: Option<String>,
    pub entity: Option<serde_json::Value>,
}

#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RejectedLogEventsInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_new_log_event_start_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_old_log_event_end_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_log_event_end_index: Option<usize>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLogEventsResponse {
    pub next_sequence_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_log_events_info: Option<RejectedLogEventsInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogEventsRequest {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_name: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub start_from_head: Option<bool>,
    pub unmask: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputLogEvent {
    pub timestamp: i64,
    pub message: String,
    pub ingestion_time: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogEventsResponse {
    pub events: Vec<OutputLogEvent>,
    pub next_forward_token: String,
    pub next_backward_token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEventsRequest {
    pub log_group_name: Option<String>,
    pub log_group_identifier: Option<String>,
    pub log_stream_names: Option<Vec<String>>,
    pub log_stream_name_prefix: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub filter_pattern: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
    pub interleaved: Option<bool>,
    pub unmask: Option<bool>,
    pub start_from_head: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilteredLogEvent {
    pub log_stream_name: String,
    pub timestamp: i64,
    pub message: String,
    pub ingestion_time: i64,
    pub event_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchedLogStream {
    pub log_stream_name: String,
    pub searched_completely: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEventsResponse {
    pub events: Vec<FilteredLogEvent>,
    pub searched_log_streams: Vec<SearchedLogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResourceRequest {
    pub resource_arn: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResourceRequest {
    pub resource_arn: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceArnRequest {
    pub resource_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagLogGroupRequest {
    pub log_group_name: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagLogGroupRequest {
    pub log_group_name: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct TagsResponse {
    pub tags: BTreeMap<String, String>,
}

// ------------------------------------------------------------- validation

fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, LogsError> {
    v.as_deref().ok_or_else(|| LogsError::missing(field))
}

pub fn check_group_name(field: &str, name: &str) -> Result<(), LogsError> {
    if name.is_empty() {
        return Err(LogsError::constraint(
            field,
            name,
            "Member must have length greater than or equal to 1",
        ));
    }
    if name.len() > 512 {
        return Err(LogsError::constraint(
            field,
            name,
            "Member must have length less than or equal to 512",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b'#'))
    {
        return Err(LogsError::constraint(
            field,
            name,
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ));
    }
    Ok(())
}

pub fn check_stream_name(name: &str) -> Result<(), LogsError> {
    check_stream_field("logStreamName", name)
}

/// A log stream name (or prefix) in `field`, against the model's constraints.
fn check_stream_field(field: &str, name: &str) -> Result<(), LogsError> {
    if name.is_empty() {
        return Err(LogsError::constraint(
            field,
            name,
            "Member must have length greater than or equal to 1",
        ));
    }
    if name.len() > 512 {
        return Err(LogsError::constraint(
            field,
            name,
            "Member must have length less than or equal to 512",
        ));
    }
    if name.contains([':', '*']) {
        return Err(LogsError::constraint(
            field,
            name,
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

/// A paging refusal in CloudWatch Logs' words.
fn page_error(e: PageError) -> LogsError {
    match e {
        PageError::InvalidToken => invalid_token(),
        PageError::MaxResults { value, min, max } => LogsError::constraint(
            "limit",
            &value.to_string(),
            &if value < min as i64 {
                format!("Member must have value greater than or equal to {min}")
            } else {
                format!("Member must have value less than or equal to {max}")
            },
        ),
    }
}

/// `startTime`/`endTime`: epoch milliseconds, not negative (the model's
/// `min: 0`).
fn check_time(field: &str, v: Option<i64>) -> Result<(), LogsError> {
    match v {
        Some(t) if t < 0 => Err(LogsError::constraint(
            field,
            &t.to_string(),
            "Member must have value greater than or equal to 0",
        )),
        _ => Ok(()),
    }
}

/// A tag refusal in CloudWatch Logs' words: the count has its own
/// exception, anything else is the key's or value's model constraint.
fn tag_error(e: TagError) -> LogsError {
    const KEY: &str =
        "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+)$";
    const VALUE: &str =
        "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$";
    match e {
        TagError::TooMany { .. } => {
            LogsError::TooManyTags("A resource can have no more than 50 tags.".into())
        }
        TagError::KeyLength { key }
        | TagError::KeyChars { key }
        | TagError::Reserved { key }
        | TagError::Duplicate { key } => LogsError::constraint("tags", &key, KEY),
        TagError::ValueLength { value, .. } | TagError::ValueChars { value, .. } => {
            LogsError::constraint("tags", &value, VALUE)
        }
    }
}

/// A tag map as the kit's pairs.
fn tag_pairs(tags: &BTreeMap<String, String>) -> Vec<(String, String)> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

// ------------------------------------------------------------- tokens

/// GetLogEvents tokens: `f/<56 digits>/s` and `b/<56 digits>/s`, the
/// digits a position `(timestamp, id)` (AWS's are 56 digits too).
fn pos_token(dir: char, pos: db::Pos) -> String {
    format!("{dir}/{:016}{:020}{:020}/s", 0, pos.0.max(0), pos.1.max(0))
}

fn parse_pos_token(t: &str) -> Option<(char, db::Pos)> {
    let (dir, rest) = t.split_once('/')?;
    let dir = match dir {
        "f" => 'f',
        "b" => 'b',
        _ => return None,
    };
    let digits = rest.strip_suffix("/s")?;
    if digits.len() != 56 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ts = digits[16..36].parse().ok()?;
    let id = digits[36..].parse().ok()?;
    Some((dir, (ts, id)))
}

fn event_id(ts: i64, eid: i64) -> String {
    format!("{:020}{:036}", ts.max(0), eid)
}

fn invalid_token() -> LogsError {
    LogsError::invalid("The specified nextToken is invalid.")
}

fn filter_token(pos: db::Pos) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("filter:{}:{}", pos.0, pos.1))
}

fn parse_filter_token(t: &str) -> Result<db::Pos, LogsError> {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_token)?;
    let mut parts = s
        .strip_prefix("filter:")
        .ok_or_else(invalid_token)?
        .split(':');
    let ts = parts.next().and_then(|p| p.parse().ok());
    let id = parts.next().and_then(|p| p.parse().ok());
    match (ts, id, parts.next()) {
        (Some(ts), Some(id), None) => Ok((ts, id)),
        _ => Err(invalid_token()),
    }
}

// ------------------------------------------------------------- backend

impl Logs {
    pub fn open(store: &Store, account: &str) -> Result<Logs, LogsError> {
        Ok(Logs {
            inner: Arc::new(Inner {
                db: db::Db::open(store)?,
                account: account.to_string(),
            }),
        })
    }

    /// Deletes expired events every `every` (reads hide them at once),
    /// until `shutdown` is signalled.
    pub fn spawn_retention(&self, every: Duration, shutdown: &crate::shutdown::Shutdown) {
        let weak = Arc::downgrade(&self.inner);
        let stop = shutdown.signalled();
        shutdown.spawn("log retention", async move {
            let mut tick = tokio::time::interval(every);
            let mut stop = std::pin::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tick.tick() => {}
                }
                let Some(inner) = weak.upgrade() else { break };
                match inner.db.write(|tx| Ok(db::expire(tx, now_ms())?)) {
                    Ok(n) if n > 0 => tracing::debug!(events = n, "expired log events deleted"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not delete expired log events"),
                }
            }
        });
    }

    pub fn reset(&self) -> Result<(), LogsError> {
        self.inner.db.write(|tx| Ok(db::clear(tx)?))
    }

    fn group_arn(&self, region: &str, name: &str) -> String {
        Scope::new(region, &self.inner.account).arn("logs", &format!("log-group:{name}"))
    }

    fn to_log_group(&self, region: &str, g: &db::GroupRow) -> LogGroup {
        let arn = self.group_arn(region, &g.name);
        LogGroup {
            log_group_name: g.name.clone(),
            creation_time: g.created,
            retention_in_days: g.retention,
            metric_filter_count: 0,
            arn: format!("{arn}:*"),
            stored_bytes: g.stored_bytes,
            kms_key_id: g.kms.clone(),
            log_group_class: g.class.clone(),
            log_group_arn: arn,
            deletion_protection_enabled: g.deletion_protection,
        }
    }

    fn find_group(&self, region: &str, name: &str) -> Result<db::GroupRow, LogsError> {
        self.inner
            .db
            .read(|c| db::group(c, region, name))?
            .ok_or_else(LogsError::group_not_found)
    }

    /// The log group a logs ARN names, with or without the trailing `:*`,
    /// when it is a `log-group:` of this account and region.
    fn group_name_of<'a>(&self, region: &str, arn: &Arn<'a>) -> Option<&'a str> {
        if arn.partition != "aws" || arn.region != region || arn.account != self.inner.account {
            return None;
        }
        let rest = arn.resource_of("log-group:")?;
        Some(rest.strip_suffix(":*").unwrap_or(rest))
    }

    /// `logGroupName` or `logGroupIdentifier` (a name or an ARN, with or
    /// without the trailing `:*`), exactly one of them: the group's name.
    fn group_name<'a>(
        &self,
        region: &str,
        name: &'a Option<String>,
        identifier: &'a Option<String>,
    ) -> Result<&'a str, LogsError> {
        match (name, identifier) {
            (Some(_), Some(_)) => Err(LogsError::invalid(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            )),
            (Some(n), None) => {
                check_group_name("logGroupName", n)?;
                Ok(n)
            }
            (None, Some(id)) if id.starts_with("arn:") => Arn::of_service(id, "logs")
                .and_then(|a| self.group_name_of(region, &a))
                .ok_or_else(LogsError::group_not_found),
            (None, Some(id)) => Ok(id),
            (None, None) => Err(LogsError::invalid(
                "Either the logGroupName or the logGroupIdentifier parameter must be specified.",
            )),
        }
    }

    fn resolve_group(
        &self,
        region: &str,
        name: &Option<String>,
        identifier: &Option<String>,
    ) -> Result<db::GroupRow, LogsError> {
        let name = self.group_name(region, name, identifier)?;
        self.find_group(region, name)
    }

    /// The group name a resource ARN (TagResource and friends) names: a
    /// logs ARN that is not one of this account's and region's log groups
    /// names nothing here; anything else is not a logs ARN at all.
    fn group_of_arn<'a>(&self, region: &str, arn: &'a str) -> Result<&'a str, LogsError> {
        match Arn::of_service(arn, "logs") {
            Some(a) => self
                .group_name_of(region, &a)
                .filter(|n| !n.is_empty())
                .ok_or_else(LogsError::group_not_found),
            None => Err(LogsError::invalid(format!("Invalid resource ARN: {arn}"))),
        }
    }

    /// A group, inside a transaction.
    fn group_in(
        c: &rusqlite::Connection,
        region: &str,
        name: &str,
    ) -> Result<db::GroupRow, LogsError> {
        db::group(c, region, name)?.ok_or_else(LogsError::group_not_found)
    }

    /// A group and one of its streams, inside a transaction.
    fn stream_in(
        c: &rusqlite::Connection,
        region: &str,
        group: &str,
        stream: &str,
    ) -> Result<(db::GroupRow, db::StreamRow), LogsError> {
        let g = Self::group_in(c, region, group)?;
        let s = db::stream(c, g.gid, stream)?.ok_or_else(LogsError::stream_not_found)?;
        Ok((g, s))
    }

    // ---- groups

    pub fn create_log_group(
        &self,
        region: &str,
        r: CreateLogGroupRequest,
    ) -> Result<Empty, LogsError> {
        let name = required("logGroupName", &r.log_group_name)?;
        check_group_name("logGroupName", name)?;
        let class = r.log_group_class.as_deref().unwrap_or("STANDARD");
        if !LOG_GROUP_CLASSES.contains(&class) {
            return Err(LogsError::constraint(
                "logGroupClass",
                class,
                "Member must satisfy enum value set: [STANDARD, INFREQUENT_ACCESS, DELIVERY, ESSENTIALS]",
            ));
        }
        let tags = r.tags.unwrap_or_default();
        tags::validate(&tag_pairs(&tags), &TAG_RULES).map_err(tag_error)?;
        self.inner.db.write(|tx| {
            let created = db::insert_group(
                tx,
                region,
                name,
                now_ms(),
                r.kms_key_id.as_deref(),
                class,
                &tags,
                r.deletion_protection_enabled.unwrap_or(false),
            )?;
            if !created {
                return Err(LogsError::ResourceAlreadyExists(
                    "The specified log group already exists".into(),
                ));
            }
            Ok(Empty {})
        })
    }

    pub fn delete_log_group(
        &self,
        region: &str,
        r: LogGroupNameRequest,
    ) -> Result<Empty, LogsError> {
        let name = required("logGroupName", &r.log_group_name)?;
        check_group_name("logGroupName", name)?;
        self.inner.db.write(|tx| {
            let g = Self::group_in(tx, region, name)?;
            if g.deletion_protection {
                return Err(LogsError::invalid(
                    "Log group has deletion protection enabled and cannot be deleted.",
                ));
            }
            db::delete_group(tx, g.gid)?;
            Ok(Empty {})
        })
    }

    pub fn describe_log_groups(
        &self,
        region: &str,
        r: DescribeLogGroupsRequest,
    ) -> Result<DescribeLogGroupsResponse, LogsError> {
        let limit = DESCRIBE.size(r.limit).map_err(page_error)?;
        if r.log_group_name_prefix.is_some() && r.log_group_name_pattern.is_some() {
            return Err(LogsError::invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        if let Some(p) = &r.log_group_name_prefix {
            check_group_name("logGroupNamePrefix", p)?;
        }
        let start = DESCRIBE
            .start(r.next_token.as_deref())
            .map_err(page_error)?;
        let idents: Option<Vec<&str>> = r.log_group_identifiers.as_ref().map(|ids| {
            ids.iter()
                .map(|id| {
                    Arn::of_service(id, "logs")
                        .and_then(|a| self.group_name_of(region, &a))
                        .unwrap_or(id)
                })
                .collect()
        });
        let pattern = r.log_group_name_pattern.as_deref().map(str::to_lowercase);
        let all = self
            .inner
            .db
            .read(|c| db::groups(c, region, None, usize::MAX >> 1))?;
        let matching: Vec<&db::GroupRow> = all
            .iter()
            .filter(|g| {
                r.log_group_name_prefix
                    .as_deref()
                    .is_none_or(|p| g.name.starts_with(p))
            })
            .filter(|g| {
                pattern
                    .as_deref()
                    .is_none_or(|p| g.name.to_lowercase().contains(p))
            })
            .filter(|g| r.log_group_class.as_deref().is_none_or(|k| g.class == k))
            .filter(|g| {
                idents
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&g.name.as_str()))
            })
            .collect();
        let page = paging::slice(&matching, start, limit);
        Ok(DescribeLogGroupsResponse {
            log_groups: page
                .items
                .iter()
                .map(|g| self.to_log_group(region, g))
                .collect(),
            next_token: page.next_token,
        })
    }

    pub fn put_retention_policy(
        &self,
        region: &str,
        r: PutRetentionPolicyRequest,
    ) -> Result<Empty, LogsError> {
        let name = required("logGroupName", &r.log_group_name)?;
        check_group_name("logGroupName", name)?;
        let days = r
            .retention_in_days
            .ok_or_else(|| LogsError::missing("retentionInDays"))?;
        if !RETENTION_DAYS.iter().any(|d| i64::from(*d) == days) {
            let set: Vec<String> = RETENTION_DAYS.iter().map(|d| d.to_string()).collect();
            return Err(LogsError::constraint(
                "retentionInDays",
                &days.to_string(),
                &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
            ));
        }
        self.set_retention(region, name, Some(days as i32))
    }

    pub fn delete_retention_policy(
        &self,
        region: &str,
        r: LogGroupNameRequest,
    ) -> Result<Empty, LogsError> {
        let name = required("logGroupName", &r.log_group_name)?;
        check_group_name("logGroupName", name)?;
        self.set_retention(region, name, None)
    }

    fn set_retention(
        &self,
        region: &str,
        name: &str,
        days: Option<i32>,
    ) -> Result<Empty, LogsError> {
        self.inner.db.write(|tx| {
            let g = Self::group_in(tx, region, name)?;
            db::set_retention(tx, g.gid, days)?;
            Ok(Empty {})
        })
    }

    // ---- tags

    pub fn tag_resource(&self, region: &str, r: TagResourceRequest) -> Result<Empty, LogsError> {
        let arn = required("resourceArn", &r.resource_arn)?;
        let add = r.tags.ok_or_else(|| LogsError::missing("tags"))?;
        let name = self.group_of_arn(region, arn)?;
        self.merge_tags(region, name, &add)
    }

    pub fn untag_resource(
        &self,
        region: &str,
        r: UntagResourceRequest,
    ) -> Result<Empty, LogsError> {
        let arn = required("resourceArn", &r.resource_arn)?;
        let keys = r.tag_keys.ok_or_else(|| LogsError::missing("tagKeys"))?;
        let name = self.group_of_arn(region, arn)?;
        self.remove_tags(region, name, &keys)
    }

    pub fn list_tags_for_resource(
        &self,
        region: &str,
        r: ResourceArnRequest,
    ) -> Result<TagsResponse, LogsError> {
        let arn = required("resourceArn", &r.resource_arn)?;
        let g = self.find_group(region, self.group_of_arn(region, arn)?)?;
        Ok(TagsResponse { tags: g.tags })
    }

    pub fn tag_log_group(&self, region: &str, r: TagLogGroupRequest) -> Result<Empty, LogsError> {
        let name = required("logGroupName", &r.log_group_name)?;
        check_group_name("logGroupName", name)?;
        let add = r.tags.ok_or_else(|| LogsError::missing("tags"))?;
        self.merge_tags(region, name, &add)
    }

    pub fn untag_log_group(
        &self,
        region: &str,
        r: UntagLogGroupRequest,
    ) -> Result<Empty, LogsError> {
        let name = required("logGroupName", &r.log_group_name)?;
        check_group_name("logGroupName", name)?;
        let keys = r.tags.ok_or_else(|| LogsError::missing("tags"))?;
        self.remove_tags(region, name, &keys)
    }

    pub fn list_tags_log_group(
        &self,
        region: &str,
        r: LogGroupNameRequest,
    ) -> Result<TagsResponse, LogsError> {
        let name = required("logGroupName", &r.log_group_name)?;
        check_group_name("logGroupName", name)?;
        let g = self.find_group(region, name)?;
        Ok(TagsResponse { tags: g.tags })
    }

    /// Adds tags to a group: the merge is validated whole (each tag, then
    /// the count the group would end with) before the one write.
    fn merge_tags(
        &self,
        region: &str,
        name: &str,
        add: &BTreeMap<String, String>,
    ) -> Result<Empty, LogsError> {
        self.inner.db.write(|tx| {
            let g = Self::group_in(tx, region, name)?;
            let merged =
                tags::merge(&tag_pairs(&g.tags), &tag_pairs(add), &TAG_RULES).map_err(tag_error)?;
            db::set_tags(tx, g.gid, &merged.into_iter().collect())?;
            Ok(Empty {})
        })
    }

    fn remove_tags(&self, region: &str, name: &str, keys: &[String]) -> Result<Empty, LogsError> {
        self.inner.db.write(|tx| {
            let g = Self::group_in(tx, region, name)?;
            let left = tags::remove(&tag_pairs(&g.tags), keys, &TAG_RULES).map_err(tag_error)?;
            db::set_tags(tx, g.gid, &left.into_iter().collect())?;
            Ok(Empty {})
        })
    }

    // ---- streams

    pub fn create_log_stream(&self, region: &str, r: LogStreamRequest) -> Result<Empty, LogsError> {
        let group = required("logGroupName", &r.log_group_name)?;
        let stream = required("logStreamName", &r.log_stream_name)?;
        check_group_name("logGroupName", group)?;
        check_stream_name(stream)?;
        self.inner.db.write(|tx| {
            let g = Self::group_in(tx, region, group)?;
            if !db::insert_stream(tx, g.gid, stream, now_ms())? {
                return Err(LogsError::ResourceAlreadyExists(
                    "The specified log stream already exists".into(),
                ));
            }
            Ok(Empty {})
        })
    }

    pub fn delete_log_stream(&self, region: &str, r: LogStreamRequest) -> Result<Empty, LogsError> {
        let group = required("logGroupName", &r.log_group_name)?;
        let stream = required("logStreamName", &r.log_stream_name)?;
        check_group_name("logGroupName", group)?;
        check_stream_name(stream)?;
        self.inner.db.write(|tx| {
            let (_, s) = Self::stream_in(tx, region, group, stream)?;
            db::delete_stream(tx, s.sid)?;
            Ok(Empty {})
        })
    }

    pub fn describe_log_streams(
        &self,
        region: &str,
        r: DescribeLogStreamsRequest,
    ) -> Result<DescribeLogStreamsResponse, LogsError> {
        let limit = DESCRIBE.size(r.limit).map_err(page_error)?;
        let order = r.order_by.as_deref().unwrap_or("LogStreamName");
        if !["LogStreamName", "LastEventTime"].contains(&order) {
            return Err(LogsError::constraint(
                "orderBy",
                order,
                "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
            ));
        }
        if order == "LastEventTime" && r.log_stream_name_prefix.is_some() {
            return Err(LogsError::invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        if let Some(p) = &r.log_stream_name_prefix {
            check_stream_field("logStreamNamePrefix", p)?;
        }
        let g = self.resolve_group(region, &r.log_group_name, &r.log_group_identifier)?;
        let start = DESCRIBE
            .start(r.next_token.as_deref())
            .map_err(page_error)?;
        let mut all = self.inner.db.read(|c| db::streams(c, g.gid))?;
        if let Some(p) = &r.log_stream_name_prefix {
            all.retain(|s| s.name.starts_with(p.as_str()));
        }
        if order == "LastEventTime" {
            all.sort_by_key(|s| (s.last_ts.unwrap_or(s.created), s.name.clone()));
        }
        if r.descending.unwrap_or(false) {
            all.reverse();
        }
        let arn = self.group_arn(region, &g.name);
        let page = paging::slice(&all, start, limit);
        Ok(DescribeLogStreamsResponse {
            log_streams: page
                .items
                .into_iter()
                .map(|s| LogStream {
                    arn: format!("{arn}:log-stream:{}", s.name),
                    log_stream_name: s.name,
                    creation_time: s.created,
                    first_event_timestamp: s.first_ts,
                    last_event_timestamp: s.last_ts,
                    last_ingestion_time: s.last_ingest,
                    upload_sequence_token: format!("{:056}", s.sid),
                    stored_bytes: 0,
                })
                .collect(),
            next_token: page.next_token,
        })
    }

    // ---- events

    pub fn put_log_events(
        &self,
        region: &str,
        r: PutLogEventsRequest,
    ) -> Result<PutLogEventsResponse, LogsError> {
        let group = required("logGroupName", &r.log_group_name)?;
        let stream = required("logStreamName", &r.log_stream_name)?;
        let events = r
            .log_events
            .ok_or_else(|| LogsError::missing("logEvents"))?;
        check_group_name("logGroupName", group)?;
        check_stream_name(stream)?;
        if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
            let c = if events.is_empty() {
                "Member must have length greater than or equal to 1".to_string()
            } else {
                format!("Member must have length less than or equal to {MAX_BATCH_EVENTS}")
            };
            return Err(LogsError::constraint(
                "logEvents",
                &format!("[{} events]", events.len()),
                &c,
            ));
        }
        let mut batch: Vec<(i64, &str)> = Vec::with_capacity(events.len());
        let mut bytes = 0usize;
        for (i, e) in events.iter().enumerate() {
            let ts = e.timestamp.ok_or_else(|| {
                LogsError::missing(&format!("logEvents.{}.member.timestamp", i + 1))
            })?;
            check_time(&format!("logEvents.{}.member.timestamp", i + 1), Some(ts))?;
            let msg = e.message.as_deref().ok_or_else(|| {
                LogsError::missing(&format!("logEvents.{}.member.message", i + 1))
            })?;
            if msg.is_empty() {
                return Err(LogsError::constraint(
                    &format!("logEvents.{}.member.message", i + 1),
                    msg,
                    "Member must have length greater than or equal to 1",
                ));
            }
            bytes += msg.len() + EVENT_OVERHEAD;
            batch.push((ts, msg));
        }
        if bytes > MAX_BATCH_BYTES {
            return Err(LogsError::invalid(format!(
                "Upload too large: {bytes} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        if batch.windows(2).any(|w| w[1].0 < w[0].0) {
            return Err(LogsError::invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        if let (Some(first), Some(last)) = (batch.first(), batch.last())
            && last.0.saturating_sub(first.0) > DAY_MS
        {
            return Err(LogsError::invalid(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
        let (last, rejected) = self.inner.db.write(|tx| {
            let (g, s) = Self::stream_in(tx, region, group, stream)?;
            let now = now_ms();
            let (accepted, rejected) = classify(&batch, now, g.retention);
            let last = if accepted.is_empty() {
                0
            } else {
                db::append(tx, g.gid, s.sid, now, accepted)?
            };
            Ok((last, rejected))
        })?;
        Ok(PutLogEventsResponse {
            next_sequence_token: format!("{:056}", last),
            rejected_log_events_info: (rejected != RejectedLogEventsInfo::default())
                .then_some(rejected),
        })
    }

    pub fn get_log_events(
        &self,
        region: &str,
        r: GetLogEventsRequest,
    ) -> Result<GetLogEventsResponse, LogsError> {
        let stream = required("logStreamName", &r.log_stream_name)?;
        check_stream_name(stream)?;
        let limit = EVENTS.size(r.limit).map_err(page_error)?;
        check_time("startTime", r.start_time)?;
        check_time("endTime", r.end_time)?;
        let token = match &r.next_token {
            Some(t) => Some(parse_pos_token(t).ok_or_else(invalid_token)?),
            None => None,
        };
        let g = self.resolve_group(region, &r.log_group_name, &r.log_group_identifier)?;
        let s = self
            .inner
            .db
            .read(|c| db::stream(c, g.gid, stream))?
            .ok_or_else(LogsError::stream_not_found)?;
        let now = now_ms();
        let lo = r
            .start_time
            .unwrap_or(i64::MIN)
            .max(retention_floor(g.retention, now));
        let hi = r.end_time.unwrap_or(i64::MAX);
        let (forward, from) = match token {
            Some((dir, pos)) => (dir == 'f', pos),
            None if r.start_from_head.unwrap_or(false) => (true, (i64::MIN, i64::MIN)),
            None => (false, (i64::MAX, i64::MAX)),
        };
        let rows = self
            .inner
            .db
            .read(|c| db::stream_events(c, s.sid, from, forward, lo, hi, limit))?;
        let rows = within_bytes(rows, forward);
        let (fwd, back) = match (rows.first(), rows.last()) {
            (Some(a), Some(b)) => ((b.ts, b.eid), (a.ts, a.eid)),
            _ => {
                // Nothing there: a token stays as it was; a first call
                // points at the stream's end (or its start).
                let p = match token {
                    Some((_, pos)) => pos,
                    None if forward => (0, 0),
                    None => self
                        .inner
                        .db
                        .read(|c| db::stream_end(c, s.sid, lo, hi))?
                        .unwrap_or((0, 0)),
                };
                (p, p)
            }
        };
        Ok(GetLogEventsResponse {
            events: rows
                .into_iter()
                .map(|e| OutputLogEvent {
                    timestamp: e.ts,
                    message: e.message,
                    ingestion_time: e.ingest,
                })
                .collect(),
            next_forward_token: pos_token('f', fwd),
            next_backward_token: pos_token('b', back),
        })
    }

    pub fn filter_log_events(
        &self,
        region: &str,
        r: FilterLogEventsRequest,
    ) -> Result<FilterLogEventsResponse, LogsError> {
        let limit = EVENTS.size(r.limit).map_err(page_error)?;
        check_time("startTime", r.start_time)?;
        check_time("endTime", r.end_time)?;
        if let Some(names) = &r.log_stream_names {
            let bound = match names.len() {
                0 => Some("greater than or equal to 1"),
                n if n > 100 => Some("less than or equal to 100"),
                _ => None,
            };
            if let Some(bound) = bound {
                return Err(LogsError::constraint(
                    "logStreamNames",
                    &format!("[{}]", names.join(", ")),
                    &format!("Member must have length {bound}"),
                ));
            }
        }
        if let Some(p) = &r.log_stream_name_prefix {
            check_stream_field("logStreamNamePrefix", p)?;
        }
        if r.log_stream_names.is_some() && r.log_stream_name_prefix.is_some() {
            return Err(LogsError::invalid(
                "Cannot specify both logStreamNames and logStreamNamePrefix.",
            ));
        }
        let pattern_text = r.filter_pattern.as_deref().unwrap_or("");
        if pattern_text.len() > 1024 {
            return Err(LogsError::constraint(
                "filterPattern",
                pattern_text,
                "Member must have length less than or equal to 1024",
            ));
        }
        let pattern = Pattern::parse(pattern_text).map_err(LogsError::invalid)?;
        let mut from = match &r.next_token {
            Some(t) => parse_filter_token(t)?,
            None => (i64::MIN, i64::MIN),
        };
        let g = self.resolve_group(region, &r.log_group_name, &r.log_group_identifier)?;
        let streams = self.inner.db.read(|c| db::streams(c, g.gid))?;
        let names: BTreeMap<i64, &str> = streams
            .iter()
            .filter(|s| {
                r.log_stream_names
                    .as_ref()
                    .is_none_or(|n| n.contains(&s.name))
            })
            .filter(|s| {
                r.log_stream_name_prefix
                    .as_deref()
                    .is_none_or(|p| s.name.starts_with(p))
            })
            .map(|s| (s.sid, s.name.as_str()))
            .collect();
        let everything = r.log_stream_names.is_none() && r.log_stream_name_prefix.is_none();
        if !everything && names.is_empty() {
            return Ok(FilterLogEventsResponse {
                events: Vec::new(),
                searched_log_streams: Vec::new(),
                next_token: None,
            });
        }
        let now = now_ms();
        let lo = r
            .start_time
            .unwrap_or(i64::MIN)
            .max(retention_floor(g.retention, now));
        let hi = r.end_time.unwrap_or(i64::MAX);
        let mut events = Vec::new();
        let mut bytes = 0usize;
        let mut scanned = 0usize;
        let mut more = false;
        const CHUNK: usize = 2000;
        'scan: loop {
            let rows = self
                .inner
                .db
                .read(|c| db::group_events(c, g.gid, from, lo, hi, CHUNK))?;
            let n = rows.len();
            for e in rows {
                scanned += 1;
                let Some(name) = names.get(&e.sid) else {
                    from = (e.ts, e.eid);
                    continue;
                };
                if pattern.matches(&e.message) {
                    let size = e.message.len() + EVENT_OVERHEAD;
                    if events.len() == limit || bytes + size > MAX_BATCH_BYTES {
                        more = true;
                        break 'scan;
                    }
                    bytes += size;
                    events.push(FilteredLogEvent {
                        log_stream_name: name.to_string(),
                        timestamp: e.ts,
                        event_id: event_id(e.ts, e.eid),
                        message: e.message,
                        ingestion_time: e.ingest,
                    });
                }
                from = (e.ts, e.eid);
            }
            if n < CHUNK {
                break;
            }
            if scanned >= FILTER_SCAN_BUDGET {
                more = true;
                break;
            }
        }
        Ok(FilterLogEventsResponse {
            events,
            searched_log_streams: Vec::new(),
            next_token: more.then(|| filter_token(from)),
        })
    }

    // ---- for the log drivers

    /// Checks that a group exists, creating it when `create` is set.
    pub fn ensure_group(&self, region: &str, name: &str, create: bool) -> Result<(), LogsError> {
        check_group_name("logGroupName", name)?;
        if create {
            self.inner.db.write(|tx| {
                db::insert_group(
                    tx,
                    region,
                    name,
                    now_ms(),
                    None,
                    "STANDARD",
                    &BTreeMap::new(),
                    false,
                )?;
                Ok(())
            })?;
            return Ok(());
        }
        self.find_group(region, name).map(|_| ())
    }

    /// Creates a stream unless it exists.
    pub fn ensure_stream(&self, region: &str, group: &str, stream: &str) -> Result<(), LogsError> {
        check_stream_name(stream)?;
        self.inner.db.write(|tx| {
            let g = Self::group_in(tx, region, group)?;
            db::insert_stream(tx, g.gid, stream, now_ms())?;
            Ok(())
        })
    }

    /// The timestamp of a stream's last event (None: no such stream or no
    /// events yet).
    pub fn last_event_time(
        &self,
        region: &str,
        group: &str,
        stream: &str,
    ) -> Result<Option<i64>, LogsError> {
        self.inner.db.read(|c| {
            let Some(g) = db::group(c, region, group)? else {
                return Ok(None);
            };
            Ok(db::stream(c, g.gid, stream)?.and_then(|s| s.last_ts))
        })
    }

    /// Appends events as a log driver does: sorted, in batches PutLogEvents
    /// would take, subject to its age rules, all in one transaction.
    pub fn append(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        mut events: Vec<(i64, String)>,
    ) -> Result<(), LogsError> {
        if events.is_empty() {
            return Ok(());
        }
        events.sort_by_key(|e| e.0);
        let refs: Vec<(i64, &str)> = events
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(t, m)| (*t, m.as_str()))
            .collect();
        self.inner.db.write(|tx| {
            let (g, s) = Self::stream_in(tx, region, group, stream)?;
            let now = now_ms();
            let (accepted, _) = classify(&refs, now, g.retention);
            for chunk in accepted.chunks(MAX_BATCH_EVENTS) {
                db::append(tx, g.gid, s.sid, now, chunk)?;
            }
            Ok(())
        })
    }
}

/// The earliest timestamp a group's retention still keeps.
fn retention_floor(retention: Option<i32>, now: i64) -> i64 {
    retention.map_or(i64::MIN, |d| now - i64::from(d) * DAY_MS)
}

/// Splits a chronological batch into the accepted middle and the rejected
/// ends (too old or expired at the start, too new at the end), with
/// PutLogEvents' indexes.
fn classify<'a>(
    batch: &'a [(i64, &'a str)],
    now: i64,
    retention: Option<i32>,
) -> (&'a [(i64, &'a str)], RejectedLogEventsInfo) {
    let too_old = batch.partition_point(|e| e.0 < now - MAX_AGE_MS);
    let expired = batch.partition_point(|e| e.0 < retention_floor(retention, now));
    let too_new = batch.partition_point(|e| e.0 <= now + MAX_AHEAD_MS);
    let start = too_old.max(expired).min(too_new);
    let info = RejectedLogEventsInfo {
        too_new_log_event_start_index: (too_new < batch.len()).then_some(too_new),
        too_old_log_event_end_index: (too_old > 0).then_some(too_old),
        expired_log_event_end_index: (expired > 0).then_some(expired),
    };
    (&batch[start..too_new], info)
}

/// Keeps at most a response's byte budget of events, from the end the read
/// walked from.
fn within_bytes(rows: Vec<db::EventRow>, forward: bool) -> Vec<db::EventRow> {
    let mut total = 0usize;
    let fits = |e: &db::EventRow, total: &mut usize| {
        *total += e.message.len() + EVENT_OVERHEAD;
        *total <= MAX_BATCH_BYTES
    };
    if forward {
        rows.into_iter()
            .take_while(|e| fits(e, &mut total))
            .collect()
    } else {
        let mut kept: Vec<db::EventRow> = rows
            .into_iter()
            .rev()
            .take_while(|e| fits(e, &mut total))
            .collect();
        kept.reverse();
        kept
    }
}

#[cfg(test)]
mod tests;
