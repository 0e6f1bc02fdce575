//! Queue attributes: the settable ones with their defaults and ranges, and
//! the read-only ones GetQueueAttributes answers. Pure: validation turns the
//! attributes a request gives into normalized values (or SQS's error), and
//! the backend merges them into the queue only once all are valid.
//!
//! Left out: KMS (the key attributes are kept and do nothing) and policy
//! evaluation (`Policy` is kept as given).

use super::SqsError;
use super::model::Attributes;

/// What a settable attribute's value may be.
#[derive(Clone, Copy)]
enum Rule {
    Int(i64, i64),
    Bool,
    Text,
    Json,
    OneOf(&'static [&'static str]),
}

/// Settable attributes: name, rule, FIFO only, default (`None`: unset until
/// set, and only then in `All`).
const SETTABLE: &[(&str, Rule, bool, Option<&str>)] = &[
    ("DelaySeconds", Rule::Int(0, 900), false, Some("0")),
    (
        "MaximumMessageSize",
        Rule::Int(1024, 1_048_576),
        false,
        Some("1048576"),
    ),
    (
        "MessageRetentionPeriod",
        Rule::Int(60, 1_209_600),
        false,
        Some("345600"),
    ),
    (
        "ReceiveMessageWaitTimeSeconds",
        Rule::Int(0, 20),
        false,
        Some("0"),
    ),
    ("VisibilityTimeout", Rule::Int(0, 43_200), false, Some("30")),
    ("SqsManagedSseEnabled", Rule::Bool, false, Some("true")),
    ("KmsMasterKeyId", Rule::Text, false, None),
    (
        "KmsDataKeyReusePeriodSeconds",
        Rule::Int(60, 86_400),
        false,
        None,
    ),
    ("Policy", Rule::Json, false, None),
    ("RedrivePolicy", Rule::Json, false, None),
    ("RedriveAllowPolicy", Rule::Json, false, None),
    ("FifoQueue", Rule::Bool, true, Some("true")),
    ("ContentBasedDeduplication", Rule::Bool, true, Some("false")),
    (
        "DeduplicationScope",
        Rule::OneOf(&["queue", "messageGroup"]),
        true,
        Some("queue"),
    ),
    (
        "FifoThroughputLimit",
        Rule::OneOf(&["perQueue", "perMessageGroupId"]),
        true,
        Some("perQueue"),
    ),
];

/// Attributes only GetQueueAttributes gives.
pub const READ_ONLY: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

fn rule(name: &str) -> Option<(Rule, bool)> {
    SETTABLE
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, r, fifo, _)| (*r, *fifo))
}

/// Whether `name` is an attribute GetQueueAttributes knows for a queue of
/// this type.
pub fn known(name: &str, fifo: bool) -> bool {
    READ_ONLY.contains(&name) || rule(name).is_some_and(|(_, only_fifo)| fifo || !only_fifo)
}

/// The settable attributes a new queue has before its request's.
pub fn defaults(fifo: bool) -> Attributes {
    SETTABLE
        .iter()
        .filter(|(_, _, only_fifo, _)| fifo || !only_fifo)
        .filter_map(|(n, _, _, d)| d.map(|d| (n.to_string(), d.to_string())))
        .collect()
}

pub fn unknown(name: &str) -> SqsError {
    SqsError::InvalidAttributeName(format!("Unknown Attribute {name}."))
}

fn invalid(name: &str) -> SqsError {
    SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
}

/// A FIFO-only attribute given for a standard queue, in AWS's words.
fn fifo_only(name: &str) -> SqsError {
    match name {
        "DeduplicationScope" | "FifoThroughputLimit" => SqsError::InvalidAttributeName(format!(
            "You can specify the {name} only when FifoQueue is set to true."
        )),
        _ => unknown(name),
    }
}

/// Checks one attribute a request sets and gives its normalized value. An
/// empty value of an optional attribute (a policy, the KMS key) means unset:
/// `None`.
pub fn check(name: &str, value: &str, fifo: bool) -> Result<Option<String>, SqsError> {
    let Some((rule, only_fifo)) = rule(name) else {
        return Err(unknown(name));
    };
    if only_fifo && !fifo {
        return Err(fifo_only(name));
    }
    let optional = SETTABLE.iter().any(|(n, .., d)| *n == name && d.is_none());
    if optional && value.is_empty() {
        return Ok(None);
    }
    let v = value.trim();
    let out = match rule {
        Rule::Int(min, max) => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n.to_string(),
            _ => return Err(invalid(name)),
        },
        Rule::Bool => match v.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => b.to_string(),
            _ => return Err(invalid(name)),
        },
        Rule::Text => value.to_string(),
        Rule::Json if name == "RedrivePolicy" => redrive_policy(value)?.to_json(),
        Rule::Json => match serde_json::from_str::<serde_json::Value>(value) {
            Ok(serde_json::Value::Object(_)) => value.to_string(),
            _ => return Err(invalid(name)),
        },
        Rule::OneOf(allowed) => match allowed.iter().find(|a| **a == v) {
            Some(a) => a.to_string(),
            None => return Err(invalid(name)),
        },
    };
    Ok(Some(out))
}

/// Checks what the attributes are together, once merged: the per-group
/// throughput limit needs per-group deduplication.
pub fn check_together(attrs: &Attributes) -> Result<(), SqsError> {
    if attrs.get("FifoThroughputLimit").map(String::as_str) == Some("perMessageGroupId")
        && attrs.get("DeduplicationScope").map(String::as_str) != Some("messageGroup")
    {
        return Err(SqsError::InvalidAttributeValue(
            "Invalid value for the parameter FifoThroughputLimit. Reason: The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup.".into(),
        ));
    }
    Ok(())
}

/// A queue's redrive policy: where its messages go after too many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// As GetQueueAttributes gives it, `maxReceiveCount` a JSON number.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "deadLetterTargetArn": self.dead_letter_target_arn,
            "maxReceiveCount": self.max_receive_count,
        })
        .to_string()
    }
}

/// Reads a `RedrivePolicy` value (`maxReceiveCount` as a number or a
/// string, as SDKs send either).
pub fn redrive_policy(value: &str) -> Result<RedrivePolicy, SqsError> {
    let bad = |reason: &str| {
        SqsError::InvalidParameterValue(format!(
            "Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
        ))
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(value) else {
        return Err(bad("Redrive policy is not a dict or valid json."));
    };
    let Some(arn) = map.get("deadLetterTargetArn") else {
        return Err(SqsError::InvalidParameterValue(
            "The required parameter 'deadLetterTargetArn' is missing".into(),
        ));
    };
    let Some(count) = map.get("maxReceiveCount") else {
        return Err(SqsError::InvalidParameterValue(
            "The required parameter 'maxReceiveCount' is missing".into(),
        ));
    };
    let count_text = match count {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let n = count_text
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=1000).contains(n));
    let Some(n) = n else {
        return Err(bad(&format!(
            "Invalid value for maxReceiveCount: {count_text}, valid values are from 1 to 1000 both inclusive."
        )));
    };
    let arn = arn.as_str().unwrap_or_default().to_string();
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn,
        max_receive_count: n as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::kit::AwsError;

    fn check_one(name: &str, value: &str, fifo: bool, want: Result<Option<&str>, &str>) {
        let got = check(name, value, fifo);
        match (got, want) {
            (Ok(v), Ok(w)) => assert_eq!(v.as_deref(), w, "{name}={value}"),
            (Err(e), Err(msg)) => assert_eq!(e.message(), msg, "{name}={value}"),
            (got, want) => panic!("{name}={value}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn values_are_checked_and_normalized() {
        check_one("VisibilityTimeout", "0", false, Ok(Some("0")));
        check_one("VisibilityTimeout", "43200", false, Ok(Some("43200")));
        check_one(
            "VisibilityTimeout",
            "43201",
            false,
            Err("Invalid value for the parameter VisibilityTimeout."),
        );
        check_one(
            "DelaySeconds",
            "x",
            false,
            Err("Invalid value for the parameter DelaySeconds."),
        );
        check_one("MaximumMessageSize", "262144", false, Ok(Some("262144")));
        check_one("SqsManagedSseEnabled", "TRUE", false, Ok(Some("true")));
        check_one("Policy", "", false, Ok(None));
        check_one("Nope", "1", false, Err("Unknown Attribute Nope."));
        check_one(
            "ContentBasedDeduplication",
            "true",
            false,
            Err("Unknown Attribute ContentBasedDeduplication."),
        );
        check_one(
            "DeduplicationScope",
            "queue",
            false,
            Err("You can specify the DeduplicationScope only when FifoQueue is set to true."),
        );
        check_one(
            "DeduplicationScope",
            "messageGroup",
            true,
            Ok(Some("messageGroup")),
        );
        check_one(
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":"3"}"#,
            false,
            Ok(Some(
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":3}"#,
            )),
        );
        check_one(
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"a","maxReceiveCount":0}"#,
            false,
            Err(
                r#"Value {"deadLetterTargetArn":"a","maxReceiveCount":0} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."#,
            ),
        );
        check_one(
            "RedrivePolicy",
            r#"{"maxReceiveCount":2}"#,
            false,
            Err("The required parameter 'deadLetterTargetArn' is missing"),
        );
    }

    #[test]
    fn defaults_and_known_names_follow_the_queue_type() {
        let std = defaults(false);
        assert_eq!(std.get("VisibilityTimeout").map(String::as_str), Some("30"));
        assert!(!std.contains_key("FifoQueue") && !std.contains_key("Policy"));
        assert_eq!(
            defaults(true).get("FifoQueue").map(String::as_str),
            Some("true")
        );
        assert!(known("QueueArn", false) && !known("FifoQueue", false) && known("FifoQueue", true));
        assert_eq!(unknown("X").code(), "InvalidAttributeName");
    }
}
