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
    Serialization(String),
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
            Self::Serialization(_) => "SerializationException",
            Self::Internal(_) => "InternalError",
        }
    }

    fn is_server_fault(&self) -> bool {
        matches!(self, Self::Internal(_))
    }

    fn status(&self) -> u16 {
        match self {
            Self::PurgeQueueInProgress(_) => 403,
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
            Self::Serialization(_) => "MalformedQueryString",
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

/// A queue in memory: its record, its messages in enqueue order, and what
/// long polls wait on.
#[derive(Debug, Clone)]
struct Queue {
    rec: QueueRecord,
    messages: BTreeMap<u64, MessageRecord>,
    next_order: u64,
    notify: Arc<Notify>,
}

impl Queue {
    fn new(rec: QueueRecord) -> Queue {
        Queue {
            rec,
            messages: BTreeMap::new(),
            next_order: 1,
            notify: Arc::new(Notify::new()),
        }
    }
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
                q.next_order = q.next_order.max(m.order + 1);
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
            for m in q.messages.values() {
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
            let m = Self::new_message(q, &req, c.principal, q.next_order, now)?;
            let result = SendMessageResult {
                md5_of_message_body: m.md5_body.clone(),
                md5_of_message_attributes: checksum::attributes(&m.attributes),
                md5_of_message_system_attributes: checksum::attributes(&m.system),
                message_id: m.id.clone(),
                sequence_number: m.sequence.clone(),
            };
            let name = q.rec.name.clone();
            Ok(Change::answer((result, q.notify.clone()))
                .write(Op::put(
                    KIND_MESSAGE,
                    message_key(&region, &name, m.order),
                    &m,
                ))
                .then(move |st: &mut State| {
                    if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                        q.next_order = m.order + 1;
                        q.messages.insert(m.order, m);
                    }
                }))
        })?;
        notify.notify_waiters();
        Ok(result)
    }

    /// Checks one message a request sends and builds its record.
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
        self.inner.update(|st| {
            let q = st
                .get(&region)
                .and_then(|r| r.queues.get(&p.name))
                .ok_or(SqsError::QueueDoesNotExist)?;
            let retention_ms = q.rec.int("MessageRetentionPeriod") * 1000;
            let visibility_ms = p
                .visibility_s
                .unwrap_or_else(|| q.rec.int("VisibilityTimeout"))
                * 1000;
            let mut ops = Vec::new();
            let mut expired = Vec::new();
            let mut taken: Vec<MessageRecord> = Vec::new();
            let mut next: Option<i64> = None;
            for m in q.messages.values() {
                if m.sent_ms + retention_ms <= now {
                    expired.push(m.order);
                    ops.push(Op::delete(
                        KIND_MESSAGE,
                        message_key(&region, &p.name, m.order),
                    ));
                    continue;
                }
                if m.visible_at_ms > now {
                    next = Some(next.map_or(m.visible_at_ms, |n| n.min(m.visible_at_ms)));
                    continue;
                }
                if taken.len() < p.max {
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
            }
            let out: Vec<Message> = taken.iter().map(|m| Self::message_out(q, m, p)).collect();
            let name = p.name.clone();
            Ok(Change::answer((out, next))
                .writes(ops)
                .then(move |st: &mut State| {
                    if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                        for o in expired {
                            q.messages.remove(&o);
                        }
                        for m in taken {
                            q.messages.insert(m.order, m);
                        }
                    }
                }))
        })
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

    pub fn delete_message(&self, c: &Caller<'_>, req: DeleteMessageRequest) -> Result<Empty> {
        let region = c.region.to_string();
        self.inner.update(|st| {
            let q = Self::queue(st, &region, req.queue_url.as_deref())?;
            let handle = req
                .receipt_handle
                .as_deref()
                .ok_or(SqsError::MissingParameter("ReceiptHandle"))?;
            // A handle whose message is gone, or was received again since,
            // succeeds and deletes nothing, as on AWS.
            let Some(m) = Self::by_receipt(q, &region, handle)?
                .filter(|m| m.receipt.as_deref() == Some(handle))
            else {
                return Ok(Change::answer(Empty {}));
            };
            let (name, order) = (q.rec.name.clone(), m.order);
            Ok(Change::answer(Empty {})
                .write(Op::delete(KIND_MESSAGE, message_key(&region, &name, order)))
                .then(move |st: &mut State| {
                    if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                        q.messages.remove(&order);
                    }
                }))
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
            if !(0..=MAX_VISIBILITY_S).contains(&v) {
                return Err(invalid(format!(
                    "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided."
                )));
            }
            let Some(m) = Self::by_receipt(q, &region, handle)?
                .filter(|m| m.receipt.as_deref() == Some(handle))
            else {
                return Err(invalid(format!(
                    "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
                )));
            };
            // After its timeout the message is visible again; changing it
            // then does nothing, as on AWS.
            if m.visible_at_ms <= now {
                return Ok(Change::answer(None));
            }
            let received = m.received_ms.unwrap_or(now);
            if now + v * 1000 - received > MAX_VISIBILITY_S * 1000 {
                return Err(invalid(format!(
                    "Value {v} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]."
                )));
            }
            let mut m = m.clone();
            m.visible_at_ms = now + v * 1000;
            let name = q.rec.name.clone();
            Ok(Change::answer(Some(q.notify.clone()))
                .write(Op::put(KIND_MESSAGE, message_key(&region, &name, m.order), &m))
                .then(move |st: &mut State| {
                    if let Some(q) = st.get_mut(&region).queues.get_mut(&name) {
                        q.messages.insert(m.order, m);
                    }
                }))
        })?;
        if let Some(n) = notify {
            n.notify_waiters();
        }
        Ok(Empty {})
    }
}

#[cfg(test)]
mod tests;
