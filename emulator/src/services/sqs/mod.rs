//! The SQS backend: queues and their messages, one method per operation,
//! named after it. State is on the kit's [`Backend`], partitioned by region;
//! every change (a send, a receive that hands out a receipt handle, a
//! delete) is validated, written to the store, and only then made in
//! memory, so queues and messages with their receive counts and visibility
//! survive a restart or `kill -9`, and an error answer changes nothing.
//!
//! Time is passed in as epoch milliseconds (`now`), so visibility, delay and
//! retention are tested without waiting. Long polling waits on a queue's
//! [`Notify`], woken by a send or a visibility change, holding no thread.
//!
//! Left out: KMS, permissions (AddPermission / RemovePermission), message
//! move tasks; `QueueDeletedRecently` is remembered in memory only.

pub mod attributes;
pub mod checksum;
pub mod model;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::domain::arn::Scope;
use crate::services::kit::{AwsError, Backend, Change, PageError, Paging, Regional, backend};
use crate::store::{Op, Store, StoreError};
use model::*;

const KIND_QUEUE: &str = "sqs.queue";
const KIND_MESSAGE: &str = "sqs.message";
/// ListQueues' `MaxResults`: 1 to 1000.
const LIST: Paging = Paging::up_to(1000);
/// How long a deleted queue's name, and a purged queue, are held back.
const HOLD_MS: i64 = 60_000;
/// ChangeMessageVisibility cannot keep a message in flight longer than this
/// from its receipt.
const MAX_VISIBILITY_S: i64 = 43_200;
const MAX_ATTRIBUTES: usize = 10;

/// Every error SQS answers with. `code` is the awsJson `__type` (the
/// model's shape name); [`SqsError::query_code`] is what awsQuery clients
/// and the `x-amzn-query-error` header carry.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("{0}")]
    QueueNameExists(String),
    #[error(
        "You must wait 60 seconds after deleting a queue before you can create another with the same name."
    )]
    QueueDeletedRecently,
    #[error("{0}")]
    PurgeQueueInProgress(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(&'static str),
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("{0}")]
    EmptyBatchRequest(String),
    #[error("{0}")]
    TooManyEntriesInBatchRequest(String),
    #[error("{0}")]
    BatchEntryIdsNotDistinct(String),
    #[error("{0}")]
    InvalidBatchEntryId(String),
    #[error("{0}")]
    BatchRequestTooLong(String),
    #[error("{0}")]
    InvalidAction(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    Serialization(String),
    /// A task role's policies do not allow the call (`serve --iam enforce`).
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    Internal(String),
}

impl AwsError for SqsError {
    fn code(&self) -> &'static str {
        match self {
            Self::QueueDoesNotExist => "QueueDoesNotExist",
            Self::QueueNameExists(_) => "QueueNameExists",
            Self::QueueDeletedRecently => "QueueDeletedRecently",
            Self::PurgeQueueInProgress(_) => "PurgeQueueInProgress",
            Self::InvalidParameterValue(_) => "InvalidParameterValueException",
            Self::InvalidAttributeName(_) => "InvalidAttributeName",
            Self::InvalidAttributeValue(_) => "InvalidAttributeValue",
            Self::MissingParameter(_) => "MissingRequiredParameterException",
            Self::ReceiptHandleIsInvalid(_) => "ReceiptHandleIsInvalid",
            Self::InvalidMessageContents(_) => "InvalidMessageContents",
            Self::EmptyBatchRequest(_) => "EmptyBatchRequest",
            Self::TooManyEntriesInBatchRequest(_) => "TooManyEntriesInBatchRequest",
            Self::BatchEntryIdsNotDistinct(_) => "BatchEntryIdsNotDistinct",
            Self::InvalidBatchEntryId(_) => "InvalidBatchEntryId",
            Self::BatchRequestTooLong(_) => "BatchRequestTooLong",
            Self::InvalidAction(_) => "InvalidAction",
            Self::UnsupportedOperation(_) => "UnsupportedOperation",
            Self::Serialization(_) => "SerializationException",
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::Internal(_) => "InternalError",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, Self::Internal(_))
    }

    fn status(&self) -> u16 {
        match self {
            Self::PurgeQueueInProgress(_) | Self::AccessDenied(_) => 403,
            // The model's status; no recording from AWS says otherwise.
            Self::ReceiptHandleIsInvalid(_) => 404,
            Self::Internal(_) => 500,
            _ => 400,
        }
    }

    fn store_failed(e: StoreError) -> Self {
        Self::Internal(crate::services::kit::error::store_message(&e))
    }
}

impl SqsError {
    /// The awsQuery error code, which the `x-amzn-query-error` header also
    /// carries for awsJson clients (Ruby raises its error class from it).
    pub fn query_code(&self) -> &'static str {
        match self {
            Self::QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            Self::QueueNameExists(_) => "QueueAlreadyExists",
            Self::QueueDeletedRecently => "AWS.SimpleQueueService.QueueDeletedRecently",
            Self::PurgeQueueInProgress(_) => "AWS.SimpleQueueService.PurgeQueueInProgress",
            Self::InvalidParameterValue(_) => "InvalidParameterValue",
            Self::MissingParameter(_) => "MissingParameter",
            Self::EmptyBatchRequest(_) => "AWS.SimpleQueueService.EmptyBatchRequest",
            Self::TooManyEntriesInBatchRequest(_) => {
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
            }
            Self::BatchEntryIdsNotDistinct(_) => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            Self::InvalidBatchEntryId(_) => "AWS.SimpleQueueService.InvalidBatchEntryId",
            Self::BatchRequestTooLong(_) => "AWS.SimpleQueueService.BatchRequestTooLong",
            Self::UnsupportedOperation(_) => "AWS.SimpleQueueService.UnsupportedOperation",
            Self::Serialization(_) => "MalformedQueryString",
            Self::AccessDenied(_) => "AccessDenied",
            other => other.code(),
        }
    }

    /// The message in the awsQuery wire, where the missing queue's text is
    /// AWS's older one.
    pub fn query_message(&self) -> String {
        match self {
            Self::QueueDoesNotExist => {
                "The specified queue does not exist for this wsdl version.".into()
            }
            other => other.message(),
        }
    }
}

pub type Result<T> = std::result::Result<T, SqsError>;

fn invalid(msg: impl Into<String>) -> SqsError {
    SqsError::InvalidParameterValue(msg.into())
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A binary attribute value's bytes (it travels as base64).
pub fn decode_binary(b64: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Who calls, as the api layer learned it from the request.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub region: &'a str,
    /// The Host the request was sent to: queue URLs point back at it, so a
    /// URL handed to a task works in the task and one handed to the host
    /// works on the host.
    pub host: &'a str,
    /// The access key that signed the request (the message's `SenderId`).
    pub principal: &'a str,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueRecord {
    pub name: String,
    pub arn: String,
    pub fifo: bool,
    /// Epoch seconds, as the attributes give them.
    pub created: i64,
    pub last_modified: i64,
    /// Every settable attribute's current value (defaults included).
    pub attributes: Attributes,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// When the last PurgeQueue was accepted (epoch ms).
    #[serde(default)]
    pub last_purge_ms: Option<i64>,
}

impl QueueRecord {
    fn int(&self, name: &str) -> i64 {
        self.attributes
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Enqueue order within the queue (and the document key's last part).
    pub order: u64,
    pub id: String,
    pub body: String,
    #[serde(default)]
    pub attributes: MessageAttributes,
    /// Message system attributes (`AWSTraceHeader`).
    #[serde(default)]
    pub system: MessageAttributes,
    pub md5_body: String,
    pub sent_ms: i64,
    /// Delayed or in flight until then.
    pub visible_at_ms: i64,
    pub receive_count: u32,
    #[serde(default)]
    pub first_receive_ms: Option<i64>,
    /// When the current receipt handle was handed out.
    #[serde(default)]
    pub received_ms: Option<i64>,
    /// The receipt handle of the latest receive.
    #[serde(default)]
    pub receipt: Option<String>,
    pub sender_id: String,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub dedup_id: Option<String>,
    #[serde(default)]
    pub sequence: Option<String>,
    #[serde(default)]
    pub dead_letter_source_arn: Option<String>,
}

impl MessageRecord {
    fn in_flight(&self, now: i64) -> bool {
        self.receive_count > 0 && self.visible_at_ms > now
    }
    fn delayed(&self, now: i64) -> bool {
        self.receive_count == 0 && self.visible_at_ms > now
    }
}

/// A FIFO queue remembers a deduplication id for five minutes.
const DEDUP_MS: i64 = 300_000;

/// What a FIFO queue remembers of a message it accepted: until when a
/// duplicate is dropped, and what the duplicate's answer repeats.
#[derive(Debug, Clone)]
struct Dedup {
    until_ms: i64,
    id: String,
    sequence: Option<String>,
}

/// A queue in memory: its record, its messages in enqueue order, what long
/// polls wait on, and for FIFO the deduplication memory and the last
/// sequence number.
#[derive(Debug, Clone)]
struct Queue {
    rec: QueueRecord,
    messages: BTreeMap<u64, MessageRecord>,
    next_order: u64,
    notify: Arc<Notify>,
    dedup: HashMap<String, Dedup>,
    last_seq: u128,
}

impl Queue {
    fn new(rec: QueueRecord) -> Queue {
        Queue {
            rec,
            messages: BTreeMap::new(),
            next_order: 1,
            notify: Arc::new(Notify::new()),
            dedup: HashMap::new(),
            last_seq: 0,
        }
    }

    /// The deduplication key of a message: its id, with its group when the
    /// scope is the message group.
    fn dedup_key(&self, group: Option<&str>, dedup_id: &str) -> String {
        if self
            .rec
            .attributes
            .get("DeduplicationScope")
            .map(String::as_str)
            == Some("messageGroup")
        {
            format!("{}\n{dedup_id}", group.unwrap_or_default())
        } else {
            dedup_id.to_string()
        }
    }

    /// Takes in an accepted message (after a load, or a send).
    fn remember(&mut self, m: &MessageRecord) {
        self.next_order = self.next_order.max(m.order + 1);
        if let Some(seq) = m.sequence.as_deref().and_then(|s| s.parse::<u128>().ok()) {
            self.last_seq = self.last_seq.max(seq);
        }
        if let Some(d) = &m.dedup_id {
            let key = self.dedup_key(m.group_id.as_deref(), d);
            self.dedup.insert(
                key,
                Dedup {
                    until_ms: m.sent_ms + DEDUP_MS,
                    id: m.id.clone(),
                    sequence: m.sequence.clone(),
                },
            );
        }
    }
}

/// The messages one send or batch adds, decided before any is stored.
struct Pending {
    next_order: u64,
    last_seq: u128,
    fresh: HashMap<String, Dedup>,
}

/// What a send does: enqueue a new message, or (a FIFO duplicate within
/// five minutes) answer the original's id and enqueue nothing.
enum Sent {
    New(Box<MessageRecord>),
    Duplicate(Dedup),
}

#[derive(Debug, Default, Clone)]
struct RegionQueues {
    queues: BTreeMap<String, Queue>,
    /// Names deleted, and when (epoch ms): not reusable for 60 s.
    deleted: HashMap<String, i64>,
}

type State = Regional<RegionQueues>;

fn queue_key(region: &str, name: &str) -> String {
    format!("{region}/{name}")
}

fn message_key(region: &str, name: &str, order: u64) -> String {
    format!("{region}/{name}/{order:020}")
}

/// The queue name a queue URL names: its last path segment, whatever the
/// host (`http://h/<account>/<name>` or `/<name>`).
pub fn name_of_url(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map_or(Some(url), |r| r.find('/').map(|i| &r[i..]))?;
    let name = rest.trim_end_matches('/').rsplit('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// AWS's rule for a queue name, with its messages.
fn check_name(name: &str, fifo: bool) -> Result<()> {
    let stem = if fifo {
        name.strip_suffix(".fifo")
    } else {
        Some(name)
    };
    let ok = stem.is_some_and(|s| {
        !s.is_empty()
            && name.len() <= 80
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    if ok {
        return Ok(());
    }
    Err(invalid(if fifo {
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length"
    } else {
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
    }))
}

/// Whether every character is one SQS allows in a message.
fn valid_chars(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
    })
}

/// Checks message attributes (user ones, or system ones with `system`) and
/// gives the bytes they count toward the message size.
fn check_message_attributes(attrs: &MessageAttributes, system: bool) -> Result<usize> {
    let kind = if system { "system" } else { "user" };
    if !system && attrs.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attrs.len()
        )));
    }
    let mut size = 0;
    for (name, v) in attrs {
        if system {
            if name != "AWSTraceHeader" {
                return Err(invalid(format!(
                    "Message system attribute name '{name}' is invalid."
                )));
            }
        } else {
            let lower = name.to_ascii_lowercase();
            let chars_ok = !name.is_empty()
                && name.len() <= 256
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                && !name.starts_with('.')
                && !name.ends_with('.')
                && !name.contains("..");
            if !chars_ok {
                return Err(invalid(format!(
                    "The message attribute name '{name}' is invalid. Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
                )));
            }
            if lower.starts_with("aws.") || lower.starts_with("amazon.") {
                return Err(invalid(format!(
                    "The message attribute name '{name}' is reserved for use by Amazon."
                )));
            }
        }
        if v.data_type.is_empty() {
            return Err(invalid(format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            )));
        }
        let base = v.data_type.split('.').next().unwrap_or_default();
        let value_len = match base {
            "String" | "Number" => match v.string_value.as_deref() {
                Some(s) if !s.is_empty() => {
                    if !valid_chars(s) {
                        return Err(SqsError::InvalidMessageContents(format!(
                            "Message ({kind}) attribute '{name}' contains invalid characters."
                        )));
                    }
                    if base == "Number" && s.trim().parse::<f64>().is_err() {
                        return Err(invalid(format!(
                            "Can't cast the value of message ({kind}) attribute '{name}' to a number."
                        )));
                    }
                    s.len()
                }
                _ => {
                    return Err(invalid(format!(
                        "Message ({kind}) attribute '{name}' must contain a non-empty value of type '{base}'."
                    )));
                }
            },
            "Binary" => match v.binary_value.as_deref().map(decode_binary) {
                Some(Some(b)) if !b.is_empty() => b.len(),
                _ => {
                    return Err(invalid(format!(
                        "Message ({kind}) attribute '{name}' must contain a non-empty value of type 'Binary'."
                    )));
                }
            },
            _ => {
                return Err(invalid(format!(
                    "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
                )));
            }
        };
        if system && base != "String" {
            return Err(invalid(format!(
                "The message system attribute '{name}' must be of type 'String'."
            )));
        }
        if !system {
            size += name.len() + v.data_type.len() + value_len;
        }
    }
    Ok(size)
}

/// Whether ReceiveMessage's `MessageAttributeNames` selects `name`.
fn attribute_selected(names: &[String], name: &str) -> bool {
    names.iter().any(|n| match n.as_str() {
        "All" | ".*" | "*" => true,
        n => match n.strip_suffix(".*") {
            Some(prefix) => name.starts_with(prefix),
            None => n == name,
        },
    })
}

/// A receipt handle: opaque to clients, and telling this emulator the
/// message it stands for.
fn receipt_handle(region: &str, queue: &str, order: u64) -> String {
    let raw = format!("{} {region}/{queue}/{order}", crate::domain::ids::uuid());
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The (region, queue, order) a receipt handle stands for.
fn parse_receipt(handle: &str) -> Option<(String, String, u64)> {
    let raw = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(handle)
            .ok()?,
    )
    .ok()?;
    let (_, path) = raw.split_once(' ')?;
    let (rest, order) = path.rsplit_once('/')?;
    let (region, queue) = rest.split_once('/')?;
    Some((region.to_string(), queue.to_string(), order.parse().ok()?))
}

/// What a ReceiveMessage asks for, checked.
#[derive(Debug, Clone)]
struct ReceiveParams {
    name: String,
    max: usize,
    visibility_s: Option<i64>,
    wait_s: i64,
    system_names: Vec<String>,
    attribute_names: Vec<String>,
}

/// A cheap handle to the SQS backend.
#[derive(Clone)]
pub struct Sqs {
    inner: Arc<Backend<State>>,
}

impl Sqs {
    pub fn load(store: Store, account: String) -> std::result::Result<Self, StoreError> {
        let mut state = State::default();
        for (k, rec) in backend::load::<QueueRecord>(&store, KIND_QUEUE)? {
            state
                .get_mut(backend::region_of(&k))
                .queues
                .insert(rec.name.clone(), Queue::new(rec));
        }
        for (k, m) in backend::load::<MessageRecord>(&store, KIND_MESSAGE)? {
            let (prefix, _) = k.rsplit_once('/').unwrap_or((k.as_str(), ""));
            let (region, name) = prefix.split_once('/').unwrap_or(("", prefix));
            if let Some(q) = state.get_mut(region).queues.get_mut(name) {
                q.remember(&m);
                q.messages.insert(m.order, m);
            }
        }
        Ok(Sqs {
            inner: Arc::new(Backend::new(store, account, "sqs.", state)),
        })
    }

    pub fn reset(&self) -> Result<()> {
        let waiting: Vec<Arc<Notify>> = self.inner.read(|st| {
            st.values()
                .flat_map(|r| r.queues.values().map(|q| q.notify.clone()))
                .collect()
        });
        self.inner.reset()?;
        for n in waiting {
            n.notify_waiters();
        }
        Ok(())
    }

    fn account(&self) -> &str {
        self.inner.account()
    }

    fn url(&self, c: &Caller<'_>, name: &str) -> String {
        format!("http://{}/{}/{name}", c.host, self.account())
    }

    /// The queue a request's `QueueUrl` names, read-only.
    fn queue<'s>(st: &'s State, region: &str, url: Option<&str>) -> Result<&'s Queue> {
        let url = url.ok_or(SqsError::MissingParameter("QueueUrl"))?;
        let name = name_of_url(url).ok_or(SqsError::QueueDoesNotExist)?;
        st.get(region)
            .and_then(|r| r.queues.get(name))
            .ok_or(SqsError::QueueDoesNotExist)
    }

    /// The redrive policy's dead-letter queue must exist, in this region,
    /// and be of the same type.
    fn check_redrive(st: &State, region: &str, fifo: bool, attrs: &Attributes) -> Result<()> {
        let Some(value) = attrs.get("RedrivePolicy") else {
            return Ok(());
        };
        let policy = attributes::redrive_policy(value)?;
        let bad = |reason: &str| {
            invalid(format!(
                "Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
            ))
        };
        let target = st.get(region).and_then(|r| {
            r.queues
                .values()
                .find(|q| q.rec.arn == policy.dead_letter_target_arn)
        });
        match target {
            None => Err(bad("Dead letter target does not exist.")),
            Some(q) if q.rec.fifo != fifo => Err(bad(
                "Dead-letter queue must be same type of queue as the source.",
            )),
            Some(_) => Ok(()),
        }
    }

    // ------------------------------------------------------------- queues

    pub fn create_queue(&self, c: &Caller<'_>, req: CreateQueueRequest) -> Result<QueueUrlResult> {
        self.create_queue_at(c, req, now_ms())
    }

    fn create_queue_at(
        &self,
        c: &Caller<'_>,
        req: CreateQueueRequest,
        now: i64,
    ) -> Result<QueueUrlResult> {
        let name = req
            .queue_name
            .ok_or(SqsError::MissingParameter("QueueName"))?;
        let given = req.attributes.unwrap_or_default();
        let fifo = match given.get("FifoQueue") {
            None => false,
            Some(v) => match attributes::check("FifoQueue", v, true)?.as_deref() {
                Some("true") => true,
                _ => return Err(attributes::unknown("FifoQueue")),
            },
        };
        check_name(&name, fifo)?;
        let mut normalized = BTreeMap::new();
        for (k, v) in &given {
            normalized.insert(k.clone(), attributes::check(k, v, fifo)?);
        }
        let tags: Vec<(String, String)> = req.tags.unwrap_or_default().into_iter().collect();
        crate::services::kit::tags::validate(&tags, &crate::services::kit::tags::AWS)
            .map_err(|e| invalid(e.to_string()))?;
        let region = c.region.to_string();
        let url = self.url(c, &name);
        let arn = Scope::new(c.region, self.account()).arn("sqs", &name);
        self.inner.update(|st| {
            let existing = st.get(&region).and_then(|r| r.queues.get(&name));
            if let Some(q) = existing {
                // Only the attributes sent are compared, with the queue's
                // current values.
                for (k, v) in &normalized {
                    if q.rec.attributes.get(k) != v.as_ref() {
                        return Err(SqsError::QueueNameExists(format!(
                            "A queue already exists with the same name and a different value for attribute {k}"
                        )));
                    }
                }
                return Ok(Change::answer(QueueUrlResult { queue_url: url }));
            }
            let recently = st
                .get(&region)
                .and_then(|r| r.deleted.get(&name))
                .is_some_and(|at| now - at < HOLD_MS);
            if recently {
                return Err(SqsError::QueueDeletedRecently);
            }
            let mut attrs = attributes::defaults(fifo);
            for (k, v) in normalized {
                match v {
                    Some(v) => attrs.insert(k, v),
                    None => attrs.remove(&k),
                };
            }
            attributes::check_together(&attrs)?;
            Self::check_redrive(st, &region, fifo, &attrs)?;
            let rec = QueueRecord {
                name: name.clone(),
                arn,
                fifo,
                created: now / 1000,
                last_modified: now / 1000,
                attributes: attrs,
                tags: tags.into_iter().collect(),
                last_purge_ms: None,
            };
            Ok(Change::answer(QueueUrlResult { queue_url: url })
                .write(Op::put(KIND_QUEUE, queue_key(&region, &name), &rec))
                .then(move |st: &mut State| {
                    let r = st.get_mut(&region);
                    r.deleted.remove(&name);
                    r.queues.insert(name, Queue::new(rec));
                }))
        })
    }

    pub fn get_queue_url(&self, c: &Caller<'_>, req: GetQueueUrlRequest) -> Result<QueueUrlResult> {
        let name = req
            .queue_name
            .ok_or(SqsError::MissingParameter("QueueName"))?;
        if req
            .queue_owner_aws_account_id
            .is_some_and(|a| a != self.account())
        {
            return Err(SqsError::QueueDoesNotExist);
        }
        let exists = self.inner.read(|st| {
            st.get(c.region)
                .is_some_and(|r| r.queues.contains_key(&name))
        });
        if !exists {
            return Err(SqsError::QueueDoesNotExist);
        }
        Ok(QueueUrlResult {
            queue_url: self.url(c, &name),
        })
    }

    pub fn list_queues(&self, c: &Caller<'_>, req: ListQueuesRequest) -> Result<ListQueuesResult> {
        let prefix = req.queue_name_prefix.unwrap_or_default();
        let names: Vec<String> = self.inner.read(|st| {
            st.get(c.region)
                .map(|r| {
                    r.queues
                        .keys()
                        .filter(|n| n.starts_with(&prefix))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        });
        let page = LIST
            .page(&names, req.next_token.as_deref(), req.max_results)
            .map_err(|e| match e {
                PageError::InvalidToken => invalid("Invalid NextToken value."),
                PageError::MaxResults { value, .. } => invalid(format!(
                    "Value {value} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
                )),
            })?;
        Ok(ListQueuesResult {
            queue_urls: page.items.iter().map(|n| self.url(c, n)).collect(),
            // Without MaxResults, up to 1000 and never a token.
            next_token: page.next_token.filter(|_| req.max_results.is_some()),
        })
    }

    pub fn delete_queue(&self, c: &Caller<'_>, req: QueueRequest) -> Result<Empty> {
        self.delete_queue_at(c, req, now_ms())
    }

    fn delete_queue_at(&self, c: &Caller<'_>, req: QueueRequest, now: i64) -> Result<Empty> {
        let region = c.region.to_string();
        let notify = self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let name = q.rec.name.clone();
            let ops: Vec<Op<'static>> = q
                .messages
                .keys()
                .map(|o| Op::delete(KIND_MESSAGE, message_key(&region, &name, *o)))
                .chain([Op::delete(KIND_QUEUE, queue_key(&region, &name))])
                .collect();
            Ok(Change::answer(q.notify.clone())
                .writes(ops)
                .then(move |st: &mut State| {
                    let r = st.get_mut(&region);
                    r.queues.remove(&name);
                    r.deleted.insert(name, now);
                }))
        })?;
        notify.notify_waiters();
        Ok(Empty {})
    }

    pub fn purge_queue(&self, c: &Caller<'_>, req: QueueRequest) -> Result<Empty> {
        self.purge_queue_at(c, req, now_ms())
    }

    fn purge_queue_at(&self, c: &Caller<'_>, req: QueueRequest, now: i64) -> Result<Empty> {
        let region = c.region.to_string();
        self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            if q.rec.last_purge_ms.is_some_and(|at| now - at < HOLD_MS) {
                return Err(SqsError::PurgeQueueInProgress(format!(
                    "Only one PurgeQueue operation on {} is allowed every 60 seconds.",
                    q.rec.name
                )));
            }
            let name = q.rec.name.clone();
            let mut rec = q.rec.clone();
            rec.last_purge_ms = Some(now);
            let ops: Vec<Op<'static>> = q
                .messages
                .keys()
                .map(|o| Op::delete(KIND_MESSAGE, message_key(&region, &name, *o)))
                .chain([Op::put(KIND_QUEUE, queue_key(&region, &name), &rec)])
                .collect();
            Ok(Change::answer(Empty {})
                .writes(ops)
                .then(move |st: &mut State| {
                    if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                        q.messages.clear();
                        q.dedup.clear();
                        q.rec = rec;
                    }
                }))
        })
    }

    pub fn get_queue_attributes(
        &self,
        c: &Caller<'_>,
        req: GetQueueAttributesRequest,
    ) -> Result<GetQueueAttributesResult> {
        self.get_queue_attributes_at(c, req, now_ms())
    }

    fn get_queue_attributes_at(
        &self,
        c: &Caller<'_>,
        req: GetQueueAttributesRequest,
        now: i64,
    ) -> Result<GetQueueAttributesResult> {
        self.inner.read(|st| {
            let q = Self::queue(st, c.region, req.queue_url.as_deref())?;
            let names = req.attribute_names.unwrap_or_default();
            let all = names.iter().any(|n| n == "All");
            if let Some(bad) = names
                .iter()
                .find(|n| *n != "All" && !attributes::known(n, q.rec.fifo))
            {
                return Err(attributes::unknown(bad));
            }
            let (mut visible, mut in_flight, mut delayed) = (0, 0, 0);
            let retention_ms = q.rec.int("MessageRetentionPeriod") * 1000;
            // Messages past their retention are gone, even before a receive
            // drops them.
            for m in q
                .messages
                .values()
                .filter(|m| m.sent_ms + retention_ms > now)
            {
                if m.in_flight(now) {
                    in_flight += 1;
                } else if m.delayed(now) {
                    delayed += 1;
                } else {
                    visible += 1;
                }
            }
            let mut every = q.rec.attributes.clone();
            for (k, v) in [
                ("ApproximateNumberOfMessages", visible.to_string()),
                (
                    "ApproximateNumberOfMessagesNotVisible",
                    in_flight.to_string(),
                ),
                ("ApproximateNumberOfMessagesDelayed", delayed.to_string()),
                ("CreatedTimestamp", q.rec.created.to_string()),
                ("LastModifiedTimestamp", q.rec.last_modified.to_string()),
                ("QueueArn", q.rec.arn.clone()),
            ] {
                every.insert(k.to_string(), v);
            }
            let attributes = every
                .into_iter()
                .filter(|(k, _)| all || names.contains(k))
                .collect();
            Ok(GetQueueAttributesResult { attributes })
        })
    }

    pub fn set_queue_attributes(
        &self,
        c: &Caller<'_>,
        req: SetQueueAttributesRequest,
    ) -> Result<Empty> {
        self.set_queue_attributes_at(c, req, now_ms())
    }

    fn set_queue_attributes_at(
        &self,
        c: &Caller<'_>,
        req: SetQueueAttributesRequest,
        now: i64,
    ) -> Result<Empty> {
        let region = c.region.to_string();
        let given = req.attributes.unwrap_or_default();
        self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let mut rec = q.rec.clone();
            for (k, v) in &given {
                if k == "FifoQueue" {
                    let same = q.rec.fifo
                        && attributes::check(k, v, true).ok().flatten().as_deref() == Some("true");
                    if !same {
                        return Err(SqsError::InvalidAttributeValue(
                            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.".into(),
                        ));
                    }
                    continue;
                }
                match attributes::check(k, v, rec.fifo)? {
                    Some(v) => rec.attributes.insert(k.clone(), v),
                    None => rec.attributes.remove(k),
                };
            }
            attributes::check_together(&rec.attributes)?;
            Self::check_redrive(st, &region, rec.fifo, &rec.attributes)?;
            rec.last_modified = now / 1000;
            let name = rec.name.clone();
            Ok(Change::answer(Empty {})
                .write(Op::put(KIND_QUEUE, queue_key(&region, &name), &rec))
                .then(move |st: &mut State| {
                    if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                        q.rec = rec;
                    }
                }))
        })
    }

    // ----------------------------------------------------------- messages

    pub fn send_message(
        &self,
        c: &Caller<'_>,
        req: SendMessageRequest,
    ) -> Result<SendMessageResult> {
        self.send_message_at(c, req, now_ms())
    }

    fn send_message_at(
        &self,
        c: &Caller<'_>,
        req: SendMessageRequest,
        now: i64,
    ) -> Result<SendMessageResult> {
        let region = c.region.to_string();
        let (result, notify) = self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let mut pending = Pending {
                next_order: q.next_order,
                last_seq: q.last_seq,
                fresh: HashMap::new(),
            };
            let sent = Self::accept(q, &req, c.principal, now, &mut pending, false)?;
            let result = Self::sent_result(&req, &sent);
            let name = q.rec.name.clone();
            let messages: Vec<MessageRecord> = match sent {
                Sent::New(m) => vec![*m],
                Sent::Duplicate(_) => Vec::new(),
            };
            Ok(Self::enqueue(
                &region,
                &name,
                messages,
                now,
                (result, q.notify.clone()),
            ))
        })?;
        notify.notify_waiters();
        Ok(result)
    }

    /// A send's answer: the MD5s of what was sent, and the id and sequence
    /// number of the message (the original's for a duplicate).
    fn sent_result(req: &SendMessageRequest, sent: &Sent) -> SendMessageResult {
        let (id, sequence) = match sent {
            Sent::New(m) => (m.id.clone(), m.sequence.clone()),
            Sent::Duplicate(d) => (d.id.clone(), d.sequence.clone()),
        };
        let empty = MessageAttributes::new();
        SendMessageResult {
            md5_of_message_body: checksum::body(req.message_body.as_deref().unwrap_or_default()),
            md5_of_message_attributes: checksum::attributes(
                req.message_attributes.as_ref().unwrap_or(&empty),
            ),
            md5_of_message_system_attributes: checksum::attributes(
                req.message_system_attributes.as_ref().unwrap_or(&empty),
            ),
            message_id: id,
            sequence_number: sequence,
        }
    }

    /// Stores new messages and takes them into the queue.
    fn enqueue<'a, R>(
        region: &str,
        name: &str,
        messages: Vec<MessageRecord>,
        now: i64,
        answer: R,
    ) -> Change<'a, State, R> {
        let ops: Vec<Op<'static>> = messages
            .iter()
            .map(|m| Op::put(KIND_MESSAGE, message_key(region, name, m.order), m))
            .collect();
        let (region, name) = (region.to_string(), name.to_string());
        Change::answer(answer)
            .writes(ops)
            .then(move |st: &mut State| {
                if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                    if q.dedup.len() > 4096 {
                        q.dedup.retain(|_, d| d.until_ms > now);
                    }
                    for m in messages {
                        q.remember(&m);
                        q.messages.insert(m.order, m);
                    }
                }
            })
    }

    /// Checks one message a request sends and decides what it does:
    /// a new message (its order and sequence number taken from `pending`),
    /// or a FIFO duplicate. `batch` words a missing group id as a batch
    /// entry's refusal.
    fn accept(
        q: &Queue,
        req: &SendMessageRequest,
        sender: &str,
        now: i64,
        pending: &mut Pending,
        batch: bool,
    ) -> Result<Sent> {
        let fifo = q.rec.fifo;
        let group = req.message_group_id.clone();
        if fifo && group.is_none() {
            return Err(if batch {
                invalid("The request must contain the parameter MessageGroupId.")
            } else {
                SqsError::MissingParameter("MessageGroupId")
            });
        }
        for (param, v) in [
            ("MessageGroupId", &group),
            ("MessageDeduplicationId", &req.message_deduplication_id),
        ] {
            if let Some(v) = v
                && (v.is_empty() || v.len() > 128 || !v.chars().all(|c| c.is_ascii_graphic()))
            {
                return Err(invalid(format!(
                    "Value {v} for parameter {param} is invalid. Reason: {param} can only include alphanumeric and punctuation characters. 1 to 128 in length."
                )));
            }
        }
        if !fifo && let Some(d) = &req.message_deduplication_id {
            return Err(invalid(format!(
                "Value {d} for parameter MessageDeduplicationId is invalid. Reason: The request include parameter that is not valid for this queue type."
            )));
        }
        let mut m = Self::new_message(q, req, sender, pending.next_order, now)?;
        if !fifo {
            m.group_id = group;
            pending.next_order += 1;
            return Ok(Sent::New(Box::new(m)));
        }
        let dedup_id = match &req.message_deduplication_id {
            Some(d) => d.clone(),
            None if q
                .rec
                .attributes
                .get("ContentBasedDeduplication")
                .map(String::as_str)
                == Some("true") =>
            {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(m.body.as_bytes()))
            }
            None => {
                return Err(invalid(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ));
            }
        };
        let key = q.dedup_key(group.as_deref(), &dedup_id);
        let earlier = pending
            .fresh
            .get(&key)
            .or_else(|| q.dedup.get(&key).filter(|d| d.until_ms > now));
        if let Some(d) = earlier {
            return Ok(Sent::Duplicate(d.clone()));
        }
        let seq = (pending.last_seq + 1).max(now.max(0) as u128 * 1_000_000);
        pending.last_seq = seq;
        pending.next_order += 1;
        m.sequence = Some(format!("{seq:020}"));
        m.group_id = group;
        m.dedup_id = Some(dedup_id);
        pending.fresh.insert(
            key,
            Dedup {
                until_ms: now + DEDUP_MS,
                id: m.id.clone(),
                sequence: m.sequence.clone(),
            },
        );
        Ok(Sent::New(Box::new(m)))
    }

    /// Checks one message's body, attributes and delay and builds its
    /// record.
    fn new_message(
        q: &Queue,
        req: &SendMessageRequest,
        sender: &str,
        order: u64,
        now: i64,
    ) -> Result<MessageRecord> {
        let body = req
            .message_body
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or(SqsError::MissingParameter("MessageBody"))?;
        if !valid_chars(&body) {
            return Err(SqsError::InvalidMessageContents(
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF".into(),
            ));
        }
        let attrs = req.message_attributes.clone().unwrap_or_default();
        let system = req.message_system_attributes.clone().unwrap_or_default();
        let size = body.len() + check_message_attributes(&attrs, false)?;
        check_message_attributes(&system, true)?;
        let max = q.rec.int("MaximumMessageSize");
        if size as i64 > max {
            return Err(invalid(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            )));
        }
        let delay = match req.delay_seconds {
            None | Some(0) if q.rec.fifo => q.rec.int("DelaySeconds"),
            Some(d) if q.rec.fifo => {
                return Err(invalid(format!(
                    "Value {d} for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
                )));
            }
            None => q.rec.int("DelaySeconds"),
            Some(d) if !(0..=900).contains(&d) => {
                return Err(invalid(format!(
                    "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
                )));
            }
            Some(d) => d,
        };
        Ok(MessageRecord {
            order,
            id: crate::domain::ids::uuid(),
            md5_body: checksum::body(&body),
            body,
            attributes: attrs,
            system,
            sent_ms: now,
            visible_at_ms: now + delay * 1000,
            receive_count: 0,
            first_receive_ms: None,
            received_ms: None,
            receipt: None,
            sender_id: sender.to_string(),
            group_id: None,
            dedup_id: None,
            sequence: None,
            dead_letter_source_arn: None,
        })
    }

    /// Checks a ReceiveMessage and gives what it asks for and what a long
    /// poll waits on.
    fn receive_params(
        &self,
        c: &Caller<'_>,
        req: &ReceiveMessageRequest,
    ) -> Result<(ReceiveParams, Arc<Notify>)> {
        self.inner.read(|st| {
            let q = Self::queue(st, c.region, req.queue_url.as_deref())?;
            let max = match req.max_number_of_messages {
                None => 1,
                Some(n) if (1..=10).contains(&n) => n as usize,
                Some(n) => {
                    return Err(invalid(format!(
                        "Value {n} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
                    )));
                }
            };
            let wait_s = match req.wait_time_seconds {
                None => q.rec.int("ReceiveMessageWaitTimeSeconds"),
                Some(w) if (0..=20).contains(&w) => w,
                Some(w) => {
                    return Err(invalid(format!(
                        "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
                    )));
                }
            };
            if let Some(v) = req
                .visibility_timeout
                .filter(|v| !(0..=MAX_VISIBILITY_S).contains(v))
            {
                return Err(invalid(format!(
                    "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."
                )));
            }
            let mut system_names = req.attribute_names.clone().unwrap_or_default();
            system_names.extend(req.message_system_attribute_names.clone().unwrap_or_default());
            Ok((
                ReceiveParams {
                    name: q.rec.name.clone(),
                    max,
                    visibility_s: req.visibility_timeout,
                    wait_s,
                    system_names,
                    attribute_names: req.message_attribute_names.clone().unwrap_or_default(),
                },
                q.notify.clone(),
            ))
        })
    }

    /// ReceiveMessage: what is available now, or with a wait (the request's
    /// or the queue's), the first messages to become available within it.
    pub async fn receive_message(
        &self,
        c: &Caller<'_>,
        req: ReceiveMessageRequest,
    ) -> Result<ReceiveMessageResult> {
        let (p, notify) = self.receive_params(c, &req)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(p.wait_s as u64);
        loop {
            // Registered before looking, so a send in between still wakes it.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = now_ms();
            let (messages, next) = self.receive_now(c, &p, now)?;
            let at = tokio::time::Instant::now();
            if !messages.is_empty() || at >= deadline {
                return Ok(ReceiveMessageResult { messages });
            }
            // A delayed or in-flight message may become visible before the
            // deadline: look again then.
            let wake = next
                .map(|t| at + Duration::from_millis((t - now).max(1) as u64))
                .map_or(deadline, |t| t.min(deadline));
            let _ = tokio::time::timeout_at(wake, notified).await;
        }
    }

    /// One look at the queue: the messages handed out now, and when the
    /// next one not yet visible becomes visible.
    fn receive_now(
        &self,
        c: &Caller<'_>,
        p: &ReceiveParams,
        now: i64,
    ) -> Result<(Vec<Message>, Option<i64>)> {
        let region = c.region.to_string();
        let (out, next, dlq_notify) = self.inner.update(|st| {
            let r = st.get(&region).ok_or(SqsError::QueueDoesNotExist)?;
            let q = r.queues.get(&p.name).ok_or(SqsError::QueueDoesNotExist)?;
            let retention_ms = q.rec.int("MessageRetentionPeriod") * 1000;
            let visibility_ms = p
                .visibility_s
                .unwrap_or_else(|| q.rec.int("VisibilityTimeout"))
                * 1000;
            // Where messages received too often go.
            let dlq = q
                .rec
                .attributes
                .get("RedrivePolicy")
                .and_then(|v| attributes::redrive_policy(v).ok())
                .and_then(|rp| {
                    let d = r
                        .queues
                        .values()
                        .find(|d| d.rec.arn == rp.dead_letter_target_arn)?;
                    Some((d, rp.max_receive_count))
                });
            // FIFO: a group with a message in flight gives nothing, and a
            // group whose next message is not visible gives nothing after it.
            let mut blocked: std::collections::HashSet<&str> = if q.rec.fifo {
                q.messages
                    .values()
                    .filter(|m| m.in_flight(now))
                    .filter_map(|m| m.group_id.as_deref())
                    .collect()
            } else {
                Default::default()
            };
            let mut ops = Vec::new();
            let mut gone = Vec::new();
            let mut taken: Vec<MessageRecord> = Vec::new();
            let mut moved: Vec<MessageRecord> = Vec::new();
            let mut next: Option<i64> = None;
            let mut dlq_order = dlq.map_or(0, |(d, _)| d.next_order);
            for m in q.messages.values() {
                if m.sent_ms + retention_ms <= now {
                    gone.push(m.order);
                    ops.push(Op::delete(
                        KIND_MESSAGE,
                        message_key(&region, &p.name, m.order),
                    ));
                    continue;
                }
                let group = m.group_id.as_deref().filter(|_| q.rec.fifo);
                if group.is_some_and(|g| blocked.contains(g)) {
                    continue;
                }
                if m.visible_at_ms > now {
                    next = Some(next.map_or(m.visible_at_ms, |n| n.min(m.visible_at_ms)));
                    if let Some(g) = group {
                        blocked.insert(g);
                    }
                    continue;
                }
                if taken.len() >= p.max {
                    if q.rec.fifo {
                        continue;
                    }
                    break;
                }
                if let Some((d, _)) = dlq.filter(|(_, max)| m.receive_count >= *max) {
                    let mut dm = m.clone();
                    dm.order = dlq_order;
                    dlq_order += 1;
                    dm.receipt = None;
                    dm.visible_at_ms = now;
                    dm.dead_letter_source_arn = Some(q.rec.arn.clone());
                    gone.push(m.order);
                    ops.push(Op::delete(
                        KIND_MESSAGE,
                        message_key(&region, &p.name, m.order),
                    ));
                    ops.push(Op::put(
                        KIND_MESSAGE,
                        message_key(&region, &d.rec.name, dm.order),
                        &dm,
                    ));
                    moved.push(dm);
                    continue;
                }
                let mut m = m.clone();
                m.receive_count += 1;
                m.first_receive_ms.get_or_insert(now);
                m.received_ms = Some(now);
                m.visible_at_ms = now + visibility_ms;
                m.receipt = Some(receipt_handle(&region, &p.name, m.order));
                ops.push(Op::put(
                    KIND_MESSAGE,
                    message_key(&region, &p.name, m.order),
                    &m,
                ));
                taken.push(m);
            }
            let out: Vec<Message> = taken.iter().map(|m| Self::message_out(q, m, p)).collect();
            let name = p.name.clone();
            let dlq_name = dlq.map(|(d, _)| d.rec.name.clone());
            let dlq_notify = dlq
                .filter(|_| !moved.is_empty())
                .map(|(d, _)| d.notify.clone());
            Ok(Change::answer((out, next, dlq_notify))
                .writes(ops)
                .then(move |st: &mut State| {
                    let r = st.get_mut(&region);
                    if let Some(q) = r.queues.get_mut(&name) {
                        for o in gone {
                            q.messages.remove(&o);
                        }
                        for m in taken {
                            q.messages.insert(m.order, m);
                        }
                    }
                    if let Some(d) = dlq_name.and_then(|n| r.queues.get_mut(&n)) {
                        for m in moved {
                            d.remember(&m);
                            d.messages.insert(m.order, m);
                        }
                    }
                }))
        })?;
        if let Some(n) = dlq_notify {
            n.notify_waiters();
        }
        Ok((out, next))
    }

    /// A received message as ReceiveMessage gives it: the system and user
    /// attributes asked for, and the MD5 of the user ones given.
    fn message_out(q: &Queue, m: &MessageRecord, p: &ReceiveParams) -> Message {
        let want = |n: &str| p.system_names.iter().any(|s| s == "All" || s == n);
        let mut attrs = Attributes::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|_| want(k)) {
                attrs.insert(k.to_string(), v);
            }
        };
        put("ApproximateReceiveCount", Some(m.receive_count.to_string()));
        put(
            "ApproximateFirstReceiveTimestamp",
            m.first_receive_ms.map(|t| t.to_string()),
        );
        put("SentTimestamp", Some(m.sent_ms.to_string()));
        put("SenderId", Some(m.sender_id.clone()));
        put(
            "AWSTraceHeader",
            m.system
                .get("AWSTraceHeader")
                .and_then(|v| v.string_value.clone()),
        );
        if q.rec.fifo {
            put("MessageGroupId", m.group_id.clone());
            put("MessageDeduplicationId", m.dedup_id.clone());
            put("SequenceNumber", m.sequence.clone());
        }
        put("DeadLetterQueueSourceArn", m.dead_letter_source_arn.clone());
        let message_attributes: MessageAttributes = m
            .attributes
            .iter()
            .filter(|(k, _)| attribute_selected(&p.attribute_names, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Message {
            message_id: m.id.clone(),
            receipt_handle: m.receipt.clone().unwrap_or_default(),
            md5_of_body: m.md5_body.clone(),
            body: m.body.clone(),
            attributes: attrs,
            md5_of_message_attributes: checksum::attributes(&message_attributes),
            message_attributes,
        }
    }

    /// The message a receipt handle stands for in queue `q`: `Err` when the
    /// handle is not one of ours, `Ok(None)` when its message is gone.
    fn by_receipt<'q>(
        q: &'q Queue,
        region: &str,
        handle: &str,
    ) -> Result<Option<&'q MessageRecord>> {
        let (r, name, order) = parse_receipt(handle)
            .ok_or_else(|| SqsError::ReceiptHandleIsInvalid(handle.to_string()))?;
        if r != region || name != q.rec.name {
            return Err(SqsError::ReceiptHandleIsInvalid(handle.to_string()));
        }
        Ok(q.messages.get(&order))
    }

    /// What deleting by `handle` does: the order of the message to delete,
    /// or nothing. A handle whose message is gone, or (standard queue) was
    /// received again since, deletes nothing and succeeds, as on AWS; on a
    /// FIFO queue a handle past its visibility timeout has expired.
    fn decide_delete(q: &Queue, region: &str, handle: &str, now: i64) -> Result<Option<u64>> {
        let Some(m) = Self::by_receipt(q, region, handle)? else {
            return Ok(None);
        };
        let current = m.receipt.as_deref() == Some(handle);
        if q.rec.fifo && (!current || m.visible_at_ms <= now) {
            return Err(invalid(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
            )));
        }
        Ok(current.then_some(m.order))
    }

    /// Removes deleted messages from the store and the queue.
    fn forget<'a, R>(
        region: &str,
        name: &str,
        orders: Vec<u64>,
        answer: R,
    ) -> Change<'a, State, R> {
        let ops: Vec<Op<'static>> = orders
            .iter()
            .map(|o| Op::delete(KIND_MESSAGE, message_key(region, name, *o)))
            .collect();
        let (region, name) = (region.to_string(), name.to_string());
        Change::answer(answer)
            .writes(ops)
            .then(move |st: &mut State| {
                if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                    for o in orders {
                        q.messages.remove(&o);
                    }
                }
            })
    }

    pub fn delete_message(&self, c: &Caller<'_>, req: DeleteMessageRequest) -> Result<Empty> {
        self.delete_message_at(c, req, now_ms())
    }

    fn delete_message_at(
        &self,
        c: &Caller<'_>,
        req: DeleteMessageRequest,
        now: i64,
    ) -> Result<Empty> {
        let region = c.region.to_string();
        let notify = self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let handle = req
                .receipt_handle
                .as_deref()
                .ok_or(SqsError::MissingParameter("ReceiptHandle"))?;
            let orders: Vec<u64> = Self::decide_delete(q, &region, handle, now)?
                .into_iter()
                .collect();
            Ok(Self::forget(&region, &q.rec.name, orders, q.notify.clone()))
        })?;
        // A FIFO group may be unlocked.
        notify.notify_waiters();
        Ok(Empty {})
    }

    /// What a visibility change by `handle` does: the message with its new
    /// visibility, or nothing (its timeout had passed: it stays visible, as
    /// on AWS).
    fn decide_visibility(
        q: &Queue,
        region: &str,
        handle: &str,
        v: i64,
        now: i64,
    ) -> Result<Option<MessageRecord>> {
        if !(0..=MAX_VISIBILITY_S).contains(&v) {
            return Err(invalid(format!(
                "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided."
            )));
        }
        let Some(m) =
            Self::by_receipt(q, region, handle)?.filter(|m| m.receipt.as_deref() == Some(handle))
        else {
            return Err(invalid(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            )));
        };
        if m.visible_at_ms <= now {
            return Ok(None);
        }
        let received = m.received_ms.unwrap_or(now);
        if now + v * 1000 - received > MAX_VISIBILITY_S * 1000 {
            return Err(invalid(format!(
                "Value {v} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]."
            )));
        }
        let mut m = m.clone();
        m.visible_at_ms = now + v * 1000;
        Ok(Some(m))
    }

    /// Stores changed messages and takes them into the queue.
    fn replace<'a, R>(
        region: &str,
        name: &str,
        messages: Vec<MessageRecord>,
        answer: R,
    ) -> Change<'a, State, R> {
        let ops: Vec<Op<'static>> = messages
            .iter()
            .map(|m| Op::put(KIND_MESSAGE, message_key(region, name, m.order), m))
            .collect();
        let (region, name) = (region.to_string(), name.to_string());
        Change::answer(answer)
            .writes(ops)
            .then(move |st: &mut State| {
                if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                    for m in messages {
                        q.messages.insert(m.order, m);
                    }
                }
            })
    }

    pub fn change_message_visibility(
        &self,
        c: &Caller<'_>,
        req: ChangeMessageVisibilityRequest,
    ) -> Result<Empty> {
        self.change_message_visibility_at(c, req, now_ms())
    }

    fn change_message_visibility_at(
        &self,
        c: &Caller<'_>,
        req: ChangeMessageVisibilityRequest,
        now: i64,
    ) -> Result<Empty> {
        let region = c.region.to_string();
        let notify = self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let handle = req
                .receipt_handle
                .as_deref()
                .ok_or(SqsError::MissingParameter("ReceiptHandle"))?;
            let v = req
                .visibility_timeout
                .ok_or(SqsError::MissingParameter("VisibilityTimeout"))?;
            let changed: Vec<MessageRecord> = Self::decide_visibility(q, &region, handle, v, now)?
                .into_iter()
                .collect();
            Ok(Self::replace(
                &region,
                &q.rec.name,
                changed,
                q.notify.clone(),
            ))
        })?;
        notify.notify_waiters();
        Ok(Empty {})
    }

    // ------------------------------------------------------------ batches

    /// The rules every batch shares: 1 to 10 entries with distinct ids of
    /// `[A-Za-z0-9_-]{1,80}`. Gives the ids.
    fn check_batch<'e>(
        ids: impl Iterator<Item = Option<&'e str>>,
        entry: &str,
    ) -> Result<Vec<String>> {
        let ids: Vec<Option<&str>> = ids.collect();
        if ids.is_empty() {
            return Err(SqsError::EmptyBatchRequest(format!(
                "There should be at least one {entry} in the request."
            )));
        }
        if ids.len() > 10 {
            return Err(SqsError::TooManyEntriesInBatchRequest(format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                ids.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for id in ids {
            let id = id.ok_or(SqsError::MissingParameter("Id"))?;
            let ok = !id.is_empty()
                && id.len() <= 80
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(SqsError::InvalidBatchEntryId(
                    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.".into(),
                ));
            }
            if !seen.insert(id) {
                return Err(SqsError::BatchEntryIdsNotDistinct(format!(
                    "Id {id} repeated."
                )));
            }
            out.push(id.to_string());
        }
        Ok(out)
    }

    fn failed(id: &str, e: &SqsError) -> BatchResultErrorEntry {
        // An entry over the size limit is worded apart from SendMessage's.
        let message = e.message().replace(
            "One or more parameters are invalid.",
            "One or more parameters cannot be validated.",
        );
        BatchResultErrorEntry {
            id: id.to_string(),
            sender_fault: !e.is_server_fault(),
            code: e.query_code().to_string(),
            message: Some(message),
        }
    }

    pub fn send_message_batch(
        &self,
        c: &Caller<'_>,
        req: SendMessageBatchRequest,
    ) -> Result<SendMessageBatchResult> {
        self.send_message_batch_at(c, req, now_ms())
    }

    fn send_message_batch_at(
        &self,
        c: &Caller<'_>,
        req: SendMessageBatchRequest,
        now: i64,
    ) -> Result<SendMessageBatchResult> {
        let region = c.region.to_string();
        let entries = req.entries.unwrap_or_default();
        let (result, notify) = self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let ids = Self::check_batch(
                entries.iter().map(|e| e.id.as_deref()),
                "SendMessageBatchRequestEntry",
            )?;
            let total: usize = entries
                .iter()
                .map(|e| {
                    e.message_body.as_deref().map_or(0, str::len)
                        + e.message_attributes.as_ref().map_or(0, |a| {
                            a.iter()
                                .map(|(k, v)| {
                                    k.len()
                                        + v.data_type.len()
                                        + v.string_value.as_deref().map_or(0, str::len)
                                        + v.binary_value
                                            .as_deref()
                                            .and_then(decode_binary)
                                            .map_or(0, |b| b.len())
                                })
                                .sum()
                        })
                })
                .sum();
            if total > 1_048_576 {
                return Err(SqsError::BatchRequestTooLong(format!(
                    "Batch requests cannot be longer than 1048576 bytes. You have sent {total} bytes."
                )));
            }
            if q.rec.fifo && entries.iter().any(|e| e.message_group_id.is_none()) {
                return Err(invalid("The request must contain the parameter MessageGroupId."));
            }
            let mut pending = Pending {
                next_order: q.next_order,
                last_seq: q.last_seq,
                fresh: HashMap::new(),
            };
            let mut result = SendMessageBatchResult::default();
            let mut messages = Vec::new();
            for (id, e) in ids.iter().zip(&entries) {
                let one = SendMessageRequest {
                    queue_url: None,
                    message_body: e.message_body.clone(),
                    delay_seconds: e.delay_seconds,
                    message_attributes: e.message_attributes.clone(),
                    message_system_attributes: e.message_system_attributes.clone(),
                    message_deduplication_id: e.message_deduplication_id.clone(),
                    message_group_id: e.message_group_id.clone(),
                };
                match Self::accept(q, &one, c.principal, now, &mut pending, true) {
                    Ok(sent) => {
                        result.successful.push(SendMessageBatchResultEntry {
                            id: id.clone(),
                            result: Self::sent_result(&one, &sent),
                        });
                        if let Sent::New(m) = sent {
                            messages.push(*m);
                        }
                    }
                    Err(e) => result.failed.push(Self::failed(id, &e)),
                }
            }
            Ok(Self::enqueue(
                &region,
                &q.rec.name,
                messages,
                now,
                (result, q.notify.clone()),
            ))
        })?;
        notify.notify_waiters();
        Ok(result)
    }

    pub fn delete_message_batch(
        &self,
        c: &Caller<'_>,
        req: DeleteMessageBatchRequest,
    ) -> Result<BatchResult> {
        self.delete_message_batch_at(c, req, now_ms())
    }

    fn delete_message_batch_at(
        &self,
        c: &Caller<'_>,
        req: DeleteMessageBatchRequest,
        now: i64,
    ) -> Result<BatchResult> {
        let region = c.region.to_string();
        let entries = req.entries.unwrap_or_default();
        let (result, notify) = self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let ids = Self::check_batch(
                entries.iter().map(|e| e.id.as_deref()),
                "DeleteMessageBatchRequestEntry",
            )?;
            let mut result = BatchResult::default();
            let mut orders = Vec::new();
            for (id, e) in ids.iter().zip(&entries) {
                let decided = e
                    .receipt_handle
                    .as_deref()
                    .ok_or(SqsError::MissingParameter("ReceiptHandle"))
                    .and_then(|h| Self::decide_delete(q, &region, h, now));
                match decided {
                    Ok(order) => {
                        orders.extend(order.filter(|o| !orders.contains(o)));
                        result.successful.push(BatchResultEntry { id: id.clone() });
                    }
                    Err(e) => result.failed.push(Self::failed(id, &e)),
                }
            }
            Ok(Self::forget(
                &region,
                &q.rec.name,
                orders,
                (result, q.notify.clone()),
            ))
        })?;
        notify.notify_waiters();
        Ok(result)
    }

    pub fn change_message_visibility_batch(
        &self,
        c: &Caller<'_>,
        req: ChangeMessageVisibilityBatchRequest,
    ) -> Result<BatchResult> {
        self.change_message_visibility_batch_at(c, req, now_ms())
    }

    fn change_message_visibility_batch_at(
        &self,
        c: &Caller<'_>,
        req: ChangeMessageVisibilityBatchRequest,
        now: i64,
    ) -> Result<BatchResult> {
        let region = c.region.to_string();
        let entries = req.entries.unwrap_or_default();
        let (result, notify) = self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let ids = Self::check_batch(
                entries.iter().map(|e| e.id.as_deref()),
                "ChangeMessageVisibilityBatchRequestEntry",
            )?;
            let mut result = BatchResult::default();
            let mut changed: Vec<MessageRecord> = Vec::new();
            for (id, e) in ids.iter().zip(&entries) {
                let decided = match (e.receipt_handle.as_deref(), e.visibility_timeout) {
                    (None, _) => Err(SqsError::MissingParameter("ReceiptHandle")),
                    (_, None) => Err(SqsError::MissingParameter("VisibilityTimeout")),
                    (Some(h), Some(v)) => Self::decide_visibility(q, &region, h, v, now),
                };
                match decided {
                    Ok(m) => {
                        if let Some(m) = m {
                            changed.retain(|x| x.order != m.order);
                            changed.push(m);
                        }
                        result.successful.push(BatchResultEntry { id: id.clone() });
                    }
                    Err(e) => result.failed.push(Self::failed(id, &e)),
                }
            }
            Ok(Self::replace(
                &region,
                &q.rec.name,
                changed,
                (result, q.notify.clone()),
            ))
        })?;
        notify.notify_waiters();
        Ok(result)
    }

    // -------------------------------------------------------- tags, DLQs

    /// Stores a queue's new tags.
    fn set_tags(
        &self,
        region: &str,
        url: Option<&str>,
        f: impl FnOnce(&[(String, String)]) -> Result<Vec<(String, String)>>,
    ) -> Result<Empty> {
        let region = region.to_string();
        self.inner.update(|st| {
            let q = Self::queue(st, &region, url)?;
            let existing: Vec<(String, String)> = q.rec.tags.clone().into_iter().collect();
            let mut rec = q.rec.clone();
            rec.tags = f(&existing)?.into_iter().collect();
            let name = rec.name.clone();
            Ok(Change::answer(Empty {})
                .write(Op::put(KIND_QUEUE, queue_key(&region, &name), &rec))
                .then(move |st: &mut State| {
                    if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                        q.rec = rec;
                    }
                }))
        })
    }

    pub fn tag_queue(&self, c: &Caller<'_>, req: TagQueueRequest) -> Result<Empty> {
        let add: Vec<(String, String)> = req
            .tags
            .ok_or(SqsError::MissingParameter("Tags"))?
            .into_iter()
            .collect();
        self.set_tags(c.region, req.queue_url.as_deref(), |existing| {
            crate::services::kit::tags::merge(existing, &add, &crate::services::kit::tags::AWS)
                .map_err(|e| invalid(e.to_string()))
        })
    }

    pub fn untag_queue(&self, c: &Caller<'_>, req: UntagQueueRequest) -> Result<Empty> {
        let keys = req.tag_keys.ok_or(SqsError::MissingParameter("TagKeys"))?;
        self.set_tags(c.region, req.queue_url.as_deref(), |existing| {
            crate::services::kit::tags::remove(existing, &keys, &crate::services::kit::tags::AWS)
                .map_err(|e| invalid(e.to_string()))
        })
    }

    pub fn list_queue_tags(
        &self,
        c: &Caller<'_>,
        req: QueueRequest,
    ) -> Result<ListQueueTagsResult> {
        self.inner.read(|st| {
            let q = Self::queue(st, c.region, req.queue_url.as_deref())?;
            Ok(ListQueueTagsResult {
                tags: q.rec.tags.clone(),
            })
        })
    }

    pub fn list_dead_letter_source_queues(
        &self,
        c: &Caller<'_>,
        req: ListDeadLetterSourceQueuesRequest,
    ) -> Result<ListDeadLetterSourceQueuesResult> {
        let names: Vec<String> = self.inner.read(|st| {
            let q = Self::queue(st, c.region, req.queue_url.as_deref())?;
            let arn = &q.rec.arn;
            Ok::<_, SqsError>(
                st.get(c.region)
                    .map(|r| {
                        r.queues
                            .values()
                            .filter(|s| {
                                s.rec
                                    .attributes
                                    .get("RedrivePolicy")
                                    .and_then(|v| attributes::redrive_policy(v).ok())
                                    .is_some_and(|rp| &rp.dead_letter_target_arn == arn)
                            })
                            .map(|s| s.rec.name.clone())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })?;
        let page = LIST
            .page(&names, req.next_token.as_deref(), req.max_results)
            .map_err(|e| match e {
                PageError::InvalidToken => invalid("Invalid NextToken value."),
                PageError::MaxResults { value, .. } => invalid(format!(
                    "Value {value} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
                )),
            })?;
        Ok(ListDeadLetterSourceQueuesResult {
            queue_urls: page.items.iter().map(|n| self.url(c, n)).collect(),
            next_token: page.next_token.filter(|_| req.max_results.is_some()),
        })
    }
}

#[cfg(test)]
mod tests;
