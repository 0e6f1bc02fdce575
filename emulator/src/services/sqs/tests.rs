//! The SQS backend's semantics, with time passed in: queues and their
//! attributes, messages through send, receive, visibility and delete, and
//! an error changing nothing.

use super::*;

const C: Caller<'static> = Caller {
    region: "us-east-1",
    host: "h:4566",
    principal: "AKID",
};
const T0: i64 = 1_800_000_000_000;

fn sqs() -> Sqs {
    Sqs::load(Store::in_memory(), "000000000000".into()).unwrap()
}

fn url(name: &str) -> Option<String> {
    Some(format!("http://h:4566/000000000000/{name}"))
}

fn attrs(pairs: &[(&str, &str)]) -> Option<Attributes> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn create(s: &Sqs, name: &str, a: &[(&str, &str)]) -> Result<QueueUrlResult> {
    s.create_queue_at(
        &C,
        CreateQueueRequest {
            queue_name: Some(name.into()),
            attributes: attrs(a),
            tags: None,
        },
        T0,
    )
}

fn send(s: &Sqs, name: &str, body: &str, now: i64) -> Result<SendMessageResult> {
    s.send_message_at(
        &C,
        SendMessageRequest {
            queue_url: url(name),
            message_body: Some(body.into()),
            ..Default::default()
        },
        now,
    )
}

fn receive(s: &Sqs, name: &str, max: i64, now: i64) -> Vec<Message> {
    let req = ReceiveMessageRequest {
        queue_url: url(name),
        max_number_of_messages: Some(max),
        attribute_names: Some(vec!["All".into()]),
        ..Default::default()
    };
    let (p, _) = s.receive_params(&C, &req).unwrap();
    s.receive_now(&C, &p, now).unwrap().0
}

fn attr(s: &Sqs, name: &str, a: &str, now: i64) -> String {
    s.get_queue_attributes_at(
        &C,
        GetQueueAttributesRequest {
            queue_url: url(name),
            attribute_names: Some(vec![a.into()]),
        },
        now,
    )
    .unwrap()
    .attributes
    .remove(a)
    .unwrap_or_default()
}

fn msg(e: SqsError) -> (String, String) {
    (e.code().to_string(), e.message())
}

#[test]
fn create_queue_is_idempotent_only_for_the_same_attributes() {
    let s = sqs();
    let u = create(&s, "jobs", &[("VisibilityTimeout", "30")]).unwrap();
    assert_eq!(u.queue_url, "http://h:4566/000000000000/jobs");
    // No attributes, the same ones, or a default given explicitly: the same queue.
    create(&s, "jobs", &[]).unwrap();
    create(&s, "jobs", &[("DelaySeconds", "0")]).unwrap();
    assert_eq!(
        msg(create(&s, "jobs", &[("DelaySeconds", "5")]).unwrap_err()),
        (
            "QueueNameExists".into(),
            "A queue already exists with the same name and a different value for attribute DelaySeconds".into()
        )
    );
    // After SetQueueAttributes the current values are compared.
    s.set_queue_attributes_at(
        &C,
        SetQueueAttributesRequest {
            queue_url: url("jobs"),
            attributes: attrs(&[("DelaySeconds", "5")]),
        },
        T0,
    )
    .unwrap();
    create(&s, "jobs", &[("DelaySeconds", "5")]).unwrap();
    assert_eq!(
        create(&s, "bad name", &[]).unwrap_err().code(),
        "InvalidParameterValueException"
    );
    assert_eq!(
        msg(create(&s, "std", &[("FifoQueue", "false")]).unwrap_err()).1,
        "Unknown Attribute FifoQueue."
    );
    assert_eq!(
        create(&s, "f", &[("FifoQueue", "true")])
            .unwrap_err()
            .message(),
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length"
    );
    create(&s, "f.fifo", &[("FifoQueue", "true")]).unwrap();
    assert_eq!(attr(&s, "f.fifo", "FifoQueue", T0), "true");
    assert_eq!(
        s.create_queue_at(&C, CreateQueueRequest::default(), T0)
            .unwrap_err()
            .message(),
        "The request must contain the parameter QueueName."
    );
}

#[test]
fn a_deleted_name_is_held_for_sixty_seconds() {
    let s = sqs();
    create(&s, "q", &[]).unwrap();
    s.delete_queue_at(
        &C,
        QueueRequest {
            queue_url: url("q"),
        },
        T0,
    )
    .unwrap();
    let again = |now| {
        s.create_queue_at(
            &C,
            CreateQueueRequest {
                queue_name: Some("q".into()),
                ..Default::default()
            },
            now,
        )
    };
    assert_eq!(
        again(T0 + 59_000).unwrap_err().code(),
        "QueueDeletedRecently"
    );
    again(T0 + 60_000).unwrap();
}

#[test]
fn list_queues_by_prefix_and_pages() {
    let s = sqs();
    for n in ["b", "a1", "a2", "a3"] {
        create(&s, n, &[]).unwrap();
    }
    let all = s.list_queues(&C, ListQueuesRequest::default()).unwrap();
    assert_eq!(all.queue_urls.len(), 4);
    assert!(all.queue_urls[0].ends_with("/a1") && all.next_token.is_none());
    let page = |token: Option<String>| {
        s.list_queues(
            &C,
            ListQueuesRequest {
                queue_name_prefix: Some("a".into()),
                next_token: token,
                max_results: Some(2),
            },
        )
        .unwrap()
    };
    let p1 = page(None);
    assert_eq!(p1.queue_urls.len(), 2);
    let p2 = page(p1.next_token);
    assert_eq!(p2.queue_urls.len(), 1);
    assert!(p2.queue_urls[0].ends_with("/a3") && p2.next_token.is_none());
    let e = s
        .list_queues(
            &C,
            ListQueuesRequest {
                max_results: Some(1001),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.query_code(), "InvalidParameterValue");
}

#[test]
fn attributes_all_defaults_and_counts() {
    let s = sqs();
    create(&s, "q", &[]).unwrap();
    let all = s
        .get_queue_attributes_at(
            &C,
            GetQueueAttributesRequest {
                queue_url: url("q"),
                attribute_names: Some(vec!["All".into()]),
            },
            T0,
        )
        .unwrap()
        .attributes;
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
            "CreatedTimestamp",
            "DelaySeconds",
            "LastModifiedTimestamp",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "QueueArn",
            "ReceiveMessageWaitTimeSeconds",
            "SqsManagedSseEnabled",
            "VisibilityTimeout",
        ]
    );
    assert_eq!(all["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:q");
    assert_eq!(all["CreatedTimestamp"], (T0 / 1000).to_string());
    let none = s
        .get_queue_attributes_at(
            &C,
            GetQueueAttributesRequest {
                queue_url: url("q"),
                attribute_names: None,
            },
            T0,
        )
        .unwrap();
    assert!(none.attributes.is_empty());
    let e = s
        .get_queue_attributes_at(
            &C,
            GetQueueAttributesRequest {
                queue_url: url("q"),
                attribute_names: Some(vec!["FifoQueue".into()]),
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(e.code(), "InvalidAttributeName");
    let e = s
        .set_queue_attributes_at(
            &C,
            SetQueueAttributesRequest {
                queue_url: url("q"),
                attributes: attrs(&[("FifoQueue", "true")]),
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(
        e.message(),
        "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
    );
    let e = s
        .get_queue_attributes_at(
            &C,
            GetQueueAttributesRequest {
                queue_url: url("nope"),
                attribute_names: None,
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(e.query_code(), "AWS.SimpleQueueService.NonExistentQueue");

    // Delayed, visible, in flight.
    s.send_message_at(
        &C,
        SendMessageRequest {
            queue_url: url("q"),
            message_body: Some("later".into()),
            delay_seconds: Some(10),
            ..Default::default()
        },
        T0,
    )
    .unwrap();
    send(&s, "q", "a", T0).unwrap();
    send(&s, "q", "b", T0).unwrap();
    assert_eq!(receive(&s, "q", 1, T0).len(), 1);
    let counts = |now| {
        [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        .map(|a| attr(&s, "q", a, now))
    };
    assert_eq!(counts(T0), ["1", "1", "1"]);
    assert_eq!(counts(T0 + 10_000), ["2", "1", "0"]);
    assert_eq!(counts(T0 + 30_000), ["3", "0", "0"]);
}

#[test]
fn send_receive_visibility_and_delete() {
    let s = sqs();
    create(&s, "q", &[("VisibilityTimeout", "5")]).unwrap();
    let sent = send(&s, "q", "test", T0).unwrap();
    assert_eq!(sent.md5_of_message_body, "098f6bcd4621d373cade4e832627b4f6");
    assert_eq!(sent.md5_of_message_attributes, None);

    let got = receive(&s, "q", 10, T0);
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(
        (m.body.as_str(), m.message_id.as_str()),
        ("test", sent.message_id.as_str())
    );
    assert_eq!(m.attributes["ApproximateReceiveCount"], "1");
    assert_eq!(m.attributes["SentTimestamp"], T0.to_string());
    assert_eq!(m.attributes["SenderId"], "AKID");
    // In flight until the timeout, then visible again with a new handle.
    assert!(receive(&s, "q", 10, T0 + 4_999).is_empty());
    let again = receive(&s, "q", 10, T0 + 5_000);
    assert_eq!(again[0].attributes["ApproximateReceiveCount"], "2");
    assert_eq!(
        again[0].attributes["ApproximateFirstReceiveTimestamp"],
        T0.to_string()
    );
    assert_ne!(again[0].receipt_handle, m.receipt_handle);

    // The old handle: the visibility change is refused, the delete does nothing.
    let change = |h: &str, v: i64, now: i64| {
        s.change_message_visibility_at(
            &C,
            ChangeMessageVisibilityRequest {
                queue_url: url("q"),
                receipt_handle: Some(h.into()),
                visibility_timeout: Some(v),
            },
            now,
        )
    };
    assert_eq!(
        change(&m.receipt_handle, 0, T0 + 5_001)
            .unwrap_err()
            .query_code(),
        "InvalidParameterValue"
    );
    let delete = |h: &str| {
        s.delete_message(
            &C,
            DeleteMessageRequest {
                queue_url: url("q"),
                receipt_handle: Some(h.into()),
            },
        )
    };
    delete(&m.receipt_handle).unwrap();
    assert_eq!(
        attr(&s, "q", "ApproximateNumberOfMessagesNotVisible", T0 + 5_001),
        "1"
    );

    // Visibility 0 makes it visible at once.
    change(&again[0].receipt_handle, 0, T0 + 5_001).unwrap();
    let third = receive(&s, "q", 10, T0 + 5_002);
    assert_eq!(third.len(), 1);
    // Beyond 12 hours from the receipt.
    assert!(
        change(&third[0].receipt_handle, 43_200, T0 + 6_000)
            .unwrap_err()
            .message()
            .contains("Total VisibilityTimeout")
    );
    delete(&third[0].receipt_handle).unwrap();
    delete(&third[0].receipt_handle).unwrap();
    assert!(receive(&s, "q", 10, T0 + 100_000).is_empty());
    assert_eq!(
        delete("garbage").unwrap_err().message(),
        "The input receipt handle \"garbage\" is not a valid receipt handle."
    );
}

#[test]
fn receive_checks_its_limits() {
    let s = sqs();
    create(&s, "q", &[]).unwrap();
    let check = |req: ReceiveMessageRequest, want: &str| {
        let req = ReceiveMessageRequest {
            queue_url: url("q"),
            ..req
        };
        let e = s.receive_params(&C, &req).unwrap_err();
        assert_eq!(e.message(), want);
    };
    check(
        ReceiveMessageRequest {
            max_number_of_messages: Some(11),
            ..Default::default()
        },
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
    );
    check(
        ReceiveMessageRequest {
            wait_time_seconds: Some(21),
            ..Default::default()
        },
        "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.",
    );
}

#[test]
fn message_attributes_are_checked_hashed_and_filtered() {
    let s = sqs();
    create(&s, "q", &[("MaximumMessageSize", "1024")]).unwrap();
    let a = |pairs: &[(&str, &str)]| -> MessageAttributes {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    MessageAttributeValue {
                        data_type: "String".into(),
                        string_value: Some(v.to_string()),
                        ..Default::default()
                    },
                )
            })
            .collect()
    };
    let send_attrs = |m: MessageAttributes, body: &str| {
        s.send_message_at(
            &C,
            SendMessageRequest {
                queue_url: url("q"),
                message_body: Some(body.into()),
                message_attributes: Some(m),
                ..Default::default()
            },
            T0,
        )
    };
    let sent = send_attrs(
        a(&[("General", "Kenobi"), ("Hello", "There"), ("Help.Me", "Me")]),
        "x",
    )
    .unwrap();
    assert_eq!(
        sent.md5_of_message_attributes.as_deref(),
        Some("4c360f3fdafd970e05fae2f149d997f5")
    );
    assert_eq!(
        send_attrs(a(&[("E", "")]), "x").unwrap_err().message(),
        "Message (user) attribute 'E' must contain a non-empty value of type 'String'."
    );
    assert_eq!(
        send_attrs(a(&[]), &"x".repeat(1025)).unwrap_err().message(),
        "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
    );
    assert_eq!(
        send_attrs(a(&[]), "\u{1}").unwrap_err().code(),
        "InvalidMessageContents"
    );
    assert_eq!(
        send_attrs(a(&[]), "").unwrap_err().query_code(),
        "MissingParameter"
    );
    let req = ReceiveMessageRequest {
        queue_url: url("q"),
        message_attribute_names: Some(vec!["Hel.*".into()]),
        ..Default::default()
    };
    let (p, _) = s.receive_params(&C, &req).unwrap();
    let got = s.receive_now(&C, &p, T0).unwrap().0;
    assert_eq!(
        got[0].message_attributes.keys().collect::<Vec<_>>(),
        ["Hello", "Help.Me"]
    );
    assert_eq!(
        got[0].md5_of_message_attributes.as_deref(),
        Some("83fee93c1bcd8b9a5a923ffacdc636c7")
    );
    assert!(got[0].attributes.is_empty());
}

#[test]
fn purge_empties_the_queue_once_a_minute() {
    let s = sqs();
    create(&s, "q", &[]).unwrap();
    send(&s, "q", "a", T0).unwrap();
    let purge = |now| {
        s.purge_queue_at(
            &C,
            QueueRequest {
                queue_url: url("q"),
            },
            now,
        )
    };
    purge(T0).unwrap();
    assert!(receive(&s, "q", 10, T0).is_empty());
    let e = purge(T0 + 1000).unwrap_err();
    assert_eq!(
        (e.status(), e.query_code()),
        (403, "AWS.SimpleQueueService.PurgeQueueInProgress")
    );
    purge(T0 + 60_000).unwrap();
}

#[test]
fn retention_drops_old_messages() {
    let s = sqs();
    create(&s, "q", &[("MessageRetentionPeriod", "60")]).unwrap();
    send(&s, "q", "a", T0).unwrap();
    send(&s, "q", "b", T0 + 1).unwrap();
    assert_eq!(
        attr(&s, "q", "ApproximateNumberOfMessages", T0 + 59_999),
        "2"
    );
    assert_eq!(
        attr(&s, "q", "ApproximateNumberOfMessages", T0 + 60_000),
        "1"
    );
    assert!(receive(&s, "q", 1, T0 + 60_001).is_empty());
    assert_eq!(attr(&s, "q", "ApproximateNumberOfMessages", T0), "0");
}

#[test]
fn state_survives_a_reload_from_the_store() {
    let dir = std::env::temp_dir().join(format!("fl-sqs-{}", uuid::Uuid::new_v4()));
    let store = Store::open(&dir, false).unwrap();
    let s = Sqs::load(store.clone(), "000000000000".into()).unwrap();
    create(&s, "q", &[]).unwrap();
    send(&s, "q", "one", T0).unwrap();
    send(&s, "q", "two", T0).unwrap();
    let first = receive(&s, "q", 1, T0);
    drop(s);
    let s = Sqs::load(store, "000000000000".into()).unwrap();
    // The received one is still in flight, with its count; the next is
    // enqueued after the others.
    send(&s, "q", "three", T0).unwrap();
    let got = receive(&s, "q", 10, T0 + 1);
    assert_eq!(
        got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["two", "three"]
    );
    let later = receive(&s, "q", 10, T0 + 31_000);
    assert_eq!(later[0].body, "one");
    assert_eq!(later[0].attributes["ApproximateReceiveCount"], "2");
    assert_eq!(later[0].message_id, first[0].message_id);
    s.reset().unwrap();
    assert!(
        s.list_queues(&C, ListQueuesRequest::default())
            .unwrap()
            .queue_urls
            .is_empty()
    );
    drop(s);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_error_changes_nothing() {
    let s = sqs();
    create(&s, "q", &[]).unwrap();
    send(&s, "q", "a", T0).unwrap();
    let snapshot = || {
        s.inner.read(|st| {
            let r = st.get("us-east-1").unwrap();
            r.queues
                .values()
                .map(|q| {
                    (
                        serde_json::to_string(&q.rec).unwrap(),
                        serde_json::to_string(&q.messages.values().collect::<Vec<_>>()).unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let before = snapshot();
    s.inner.store().fail_writes(true);
    let failed = |r: Result<()>| assert_eq!(r.unwrap_err().code(), "InternalError");
    failed(create(&s, "other", &[]).map(drop));
    failed(send(&s, "q", "b", T0).map(drop));
    failed(
        s.set_queue_attributes_at(
            &C,
            SetQueueAttributesRequest {
                queue_url: url("q"),
                attributes: attrs(&[("DelaySeconds", "3")]),
            },
            T0,
        )
        .map(drop),
    );
    let req = ReceiveMessageRequest {
        queue_url: url("q"),
        ..Default::default()
    };
    let (p, _) = s.receive_params(&C, &req).unwrap();
    failed(s.receive_now(&C, &p, T0).map(drop));
    failed(
        s.purge_queue_at(
            &C,
            QueueRequest {
                queue_url: url("q"),
            },
            T0,
        )
        .map(drop),
    );
    failed(
        s.delete_queue_at(
            &C,
            QueueRequest {
                queue_url: url("q"),
            },
            T0,
        )
        .map(drop),
    );
    assert!(s.reset().is_err());
    assert_eq!(snapshot(), before);
    s.inner.store().fail_writes(false);
    let got = receive(&s, "q", 10, T0);
    let before = snapshot();
    s.inner.store().fail_writes(true);
    let h = got[0].receipt_handle.clone();
    failed(
        s.delete_message(
            &C,
            DeleteMessageRequest {
                queue_url: url("q"),
                receipt_handle: Some(h.clone()),
            },
        )
        .map(drop),
    );
    failed(
        s.change_message_visibility_at(
            &C,
            ChangeMessageVisibilityRequest {
                queue_url: url("q"),
                receipt_handle: Some(h),
                visibility_timeout: Some(0),
            },
            T0,
        )
        .map(drop),
    );
    assert_eq!(snapshot(), before);
}

#[tokio::test]
async fn a_long_poll_is_woken_by_a_send() {
    let s = sqs();
    create(&s, "q", &[]).unwrap();
    let poller = {
        let s = s.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let got = s
                .receive_message(
                    &C,
                    ReceiveMessageRequest {
                        queue_url: url("q"),
                        wait_time_seconds: Some(20),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            (got.messages.len(), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.send_message(
        &C,
        SendMessageRequest {
            queue_url: url("q"),
            message_body: Some("wake".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let (n, took) = poller.await.unwrap();
    assert_eq!(n, 1);
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Without a message, a short wait answers empty after it.
    let started = std::time::Instant::now();
    let empty = s
        .receive_message(
            &C,
            ReceiveMessageRequest {
                queue_url: url("q"),
                wait_time_seconds: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(empty.messages.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(950));
}

fn send_fifo(
    s: &Sqs,
    name: &str,
    body: &str,
    group: &str,
    dedup: Option<&str>,
    now: i64,
) -> Result<SendMessageResult> {
    s.send_message_at(
        &C,
        SendMessageRequest {
            queue_url: url(name),
            message_body: Some(body.into()),
            message_group_id: Some(group.into()),
            message_deduplication_id: dedup.map(str::to_string),
            ..Default::default()
        },
        now,
    )
}

fn bodies(ms: &[Message]) -> Vec<&str> {
    ms.iter().map(|m| m.body.as_str()).collect()
}

#[test]
fn fifo_groups_are_ordered_and_locked_while_in_flight() {
    let s = sqs();
    create(
        &s,
        "f.fifo",
        &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")],
    )
    .unwrap();
    let mut seqs = Vec::new();
    for (body, group) in [
        ("a1", "a"),
        ("b1", "b"),
        ("a2", "a"),
        ("a3", "a"),
        ("b2", "b"),
    ] {
        let r = send_fifo(&s, "f.fifo", body, group, None, T0).unwrap();
        seqs.push(r.sequence_number.unwrap());
    }
    assert!(
        seqs.windows(2).all(|w| w[0].len() == 20 && w[0] < w[1]),
        "{seqs:?}"
    );
    // In send order; then nothing while each group has a message in flight.
    let first = receive(&s, "f.fifo", 2, T0);
    assert_eq!(bodies(&first), ["a1", "b1"]);
    assert!(receive(&s, "f.fifo", 10, T0).is_empty());
    // Deleting a1 unlocks group a; b stays locked by b1.
    s.delete_message_at(
        &C,
        DeleteMessageRequest {
            queue_url: url("f.fifo"),
            receipt_handle: Some(first[0].receipt_handle.clone()),
        },
        T0,
    )
    .unwrap();
    let next = receive(&s, "f.fifo", 10, T0);
    assert_eq!(bodies(&next), ["a2", "a3"]);
    assert_eq!(next[0].attributes["MessageGroupId"], "a");
    assert_eq!(next[0].attributes["SequenceNumber"], seqs[2]);
    // After the timeout (30 s) each group starts again from its oldest
    // message (b1 before b2); b1's old handle has expired.
    let later = receive(&s, "f.fifo", 10, T0 + 30_000);
    assert_eq!(bodies(&later), ["b1", "a2", "a3", "b2"]);
    let e = s
        .delete_message_at(
            &C,
            DeleteMessageRequest {
                queue_url: url("f.fifo"),
                receipt_handle: Some(first[1].receipt_handle.clone()),
            },
            T0 + 30_000,
        )
        .unwrap_err();
    assert!(
        e.message()
            .ends_with("Reason: The receipt handle has expired."),
        "{e}"
    );
}

#[test]
fn fifo_deduplication() {
    let s = sqs();
    create(&s, "f.fifo", &[("FifoQueue", "true")]).unwrap();
    assert_eq!(
        send_fifo(&s, "f.fifo", "x", "g", None, T0)
            .unwrap_err()
            .message(),
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
    );
    let e = s
        .send_message_at(
            &C,
            SendMessageRequest {
                queue_url: url("f.fifo"),
                message_body: Some("x".into()),
                ..Default::default()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(
        e.message(),
        "The request must contain the parameter MessageGroupId."
    );
    let e = s
        .send_message_at(
            &C,
            SendMessageRequest {
                queue_url: url("f.fifo"),
                message_body: Some("x".into()),
                message_group_id: Some("g".into()),
                message_deduplication_id: Some("d".into()),
                delay_seconds: Some(2),
                ..Default::default()
            },
            T0,
        )
        .unwrap_err();
    assert_eq!(
        e.message(),
        "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
    );
    let first = send_fifo(&s, "f.fifo", "x", "g", Some("d1"), T0).unwrap();
    let dup = send_fifo(&s, "f.fifo", "y", "g", Some("d1"), T0 + 1000).unwrap();
    assert_eq!(dup.message_id, first.message_id);
    assert_eq!(dup.sequence_number, first.sequence_number);
    // The id is remembered after the message is received and deleted.
    let got = receive(&s, "f.fifo", 10, T0 + 1000);
    assert_eq!(bodies(&got), ["x"]);
    s.delete_message_at(
        &C,
        DeleteMessageRequest {
            queue_url: url("f.fifo"),
            receipt_handle: Some(got[0].receipt_handle.clone()),
        },
        T0 + 1000,
    )
    .unwrap();
    send_fifo(&s, "f.fifo", "z", "g", Some("d1"), T0 + 2000).unwrap();
    assert!(receive(&s, "f.fifo", 10, T0 + 2000).is_empty());
    // Five minutes later it is new again.
    send_fifo(&s, "f.fifo", "w", "g", Some("d1"), T0 + 300_000).unwrap();
    assert_eq!(bodies(&receive(&s, "f.fifo", 10, T0 + 300_000)), ["w"]);

    // Content-based: the body's SHA-256; per group with messageGroup scope.
    create(
        &s,
        "c.fifo",
        &[
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "true"),
            ("DeduplicationScope", "messageGroup"),
        ],
    )
    .unwrap();
    send_fifo(&s, "c.fifo", "same", "g1", None, T0).unwrap();
    send_fifo(&s, "c.fifo", "same", "g1", None, T0).unwrap();
    send_fifo(&s, "c.fifo", "same", "g2", None, T0).unwrap();
    assert_eq!(receive(&s, "c.fifo", 10, T0).len(), 2);
}

#[test]
fn a_dead_letter_queue_takes_messages_after_max_receives() {
    let s = sqs();
    create(&s, "dlq", &[]).unwrap();
    let policy =
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"2"}"#;
    create(
        &s,
        "src",
        &[("RedrivePolicy", policy), ("VisibilityTimeout", "1")],
    )
    .unwrap();
    assert_eq!(
        create(&s, "bad", &[("RedrivePolicy", r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":2}"#)])
            .unwrap_err()
            .message(),
        r#"Value {"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":2} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."#
    );
    let sent = send(&s, "src", "poison", T0).unwrap();
    assert_eq!(receive(&s, "src", 1, T0).len(), 1);
    assert_eq!(receive(&s, "src", 1, T0 + 1000).len(), 1);
    // The third attempt moves it.
    assert!(receive(&s, "src", 1, T0 + 2000).is_empty());
    let dead = receive(&s, "dlq", 1, T0 + 2000);
    assert_eq!(dead[0].message_id, sent.message_id);
    assert_eq!(dead[0].attributes["ApproximateReceiveCount"], "3");
    assert_eq!(
        dead[0].attributes["DeadLetterQueueSourceArn"],
        "arn:aws:sqs:us-east-1:000000000000:src"
    );
    let sources = s
        .list_dead_letter_source_queues(
            &C,
            ListDeadLetterSourceQueuesRequest {
                queue_url: url("dlq"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(sources.queue_urls, [url("src").unwrap()]);
    let got = s
        .get_queue_attributes_at(
            &C,
            GetQueueAttributesRequest {
                queue_url: url("src"),
                attribute_names: Some(vec!["RedrivePolicy".into()]),
            },
            T0,
        )
        .unwrap();
    assert_eq!(
        got.attributes["RedrivePolicy"],
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#
    );
}

#[test]
fn batches_check_the_whole_request_and_answer_per_entry() {
    let s = sqs();
    create(&s, "q", &[("MaximumMessageSize", "1024")]).unwrap();
    let entry = |id: &str, body: &str| SendMessageBatchEntry {
        id: Some(id.into()),
        message_body: Some(body.into()),
        ..Default::default()
    };
    let batch = |entries: Vec<SendMessageBatchEntry>| {
        s.send_message_batch_at(
            &C,
            SendMessageBatchRequest {
                queue_url: url("q"),
                entries: Some(entries),
            },
            T0,
        )
    };
    assert_eq!(
        batch(vec![]).unwrap_err().query_code(),
        "AWS.SimpleQueueService.EmptyBatchRequest"
    );
    let many: Vec<_> = (0..20).map(|i| entry(&i.to_string(), "x")).collect();
    assert_eq!(
        batch(many).unwrap_err().message(),
        "Maximum number of entries per request are 10. You have sent 20."
    );
    assert_eq!(
        batch(vec![entry("a b", "x")]).unwrap_err().code(),
        "InvalidBatchEntryId"
    );
    assert_eq!(
        batch(vec![entry("a", "x"), entry("a", "y")])
            .unwrap_err()
            .code(),
        "BatchEntryIdsNotDistinct"
    );
    let r = batch(vec![
        entry("0", "test"),
        entry("1", &"x".repeat(1025)),
        entry("2", "\u{1}"),
    ])
    .unwrap();
    assert_eq!(r.successful.len(), 1);
    assert_eq!(
        r.successful[0].result.md5_of_message_body,
        "098f6bcd4621d373cade4e832627b4f6"
    );
    assert_eq!(r.failed.len(), 2);
    assert_eq!(r.failed[0].code, "InvalidParameterValue");
    assert_eq!(
        r.failed[0].message.as_deref(),
        Some(
            "One or more parameters cannot be validated. Reason: Message must be shorter than 1024 bytes."
        )
    );
    assert_eq!(r.failed[1].code, "InvalidMessageContents");
    batch(vec![entry("a", "two"), entry("b", "three")]).unwrap();
    let got = receive(&s, "q", 10, T0);
    assert_eq!(bodies(&got), ["test", "two", "three"]);

    let vis = s
        .change_message_visibility_batch_at(
            &C,
            ChangeMessageVisibilityBatchRequest {
                queue_url: url("q"),
                entries: Some(vec![
                    ChangeMessageVisibilityBatchEntry {
                        id: Some("0".into()),
                        receipt_handle: Some(got[0].receipt_handle.clone()),
                        visibility_timeout: Some(0),
                    },
                    ChangeMessageVisibilityBatchEntry {
                        id: Some("1".into()),
                        receipt_handle: Some("garbage".into()),
                        visibility_timeout: Some(0),
                    },
                ]),
            },
            T0,
        )
        .unwrap();
    assert_eq!(
        (vis.successful.len(), vis.failed[0].code.as_str()),
        (1, "ReceiptHandleIsInvalid")
    );
    let del = s
        .delete_message_batch_at(
            &C,
            DeleteMessageBatchRequest {
                queue_url: url("q"),
                entries: Some(
                    got[1..]
                        .iter()
                        .enumerate()
                        .map(|(i, m)| DeleteMessageBatchEntry {
                            id: Some(i.to_string()),
                            receipt_handle: Some(m.receipt_handle.clone()),
                        })
                        .collect(),
                ),
            },
            T0,
        )
        .unwrap();
    assert_eq!((del.successful.len(), del.failed.len()), (2, 0));
    assert_eq!(bodies(&receive(&s, "q", 10, T0)), ["test"]);
}

#[test]
fn tags() {
    let s = sqs();
    s.create_queue_at(
        &C,
        CreateQueueRequest {
            queue_name: Some("q".into()),
            attributes: None,
            tags: Some([("team".to_string(), "a".to_string())].into()),
        },
        T0,
    )
    .unwrap();
    s.tag_queue(
        &C,
        TagQueueRequest {
            queue_url: url("q"),
            tags: Some(
                [
                    ("team".to_string(), "b".to_string()),
                    ("env".to_string(), "dev".to_string()),
                ]
                .into(),
            ),
        },
    )
    .unwrap();
    s.untag_queue(
        &C,
        UntagQueueRequest {
            queue_url: url("q"),
            tag_keys: Some(vec!["env".into()]),
        },
    )
    .unwrap();
    let tags = s
        .list_queue_tags(
            &C,
            QueueRequest {
                queue_url: url("q"),
            },
        )
        .unwrap()
        .tags;
    assert_eq!(tags, [("team".to_string(), "b".to_string())].into());
}

#[test]
fn batch_and_tag_errors_change_nothing() {
    let s = sqs();
    create(&s, "q", &[]).unwrap();
    send(&s, "q", "a", T0).unwrap();
    let got = receive(&s, "q", 1, T0);
    let snapshot = || {
        s.inner.read(|st| {
            let q = &st.get("us-east-1").unwrap().queues["q"];
            (
                serde_json::to_string(&q.rec).unwrap(),
                serde_json::to_string(&q.messages.values().collect::<Vec<_>>()).unwrap(),
            )
        })
    };
    let before = snapshot();
    s.inner.store().fail_writes(true);
    let h = got[0].receipt_handle.clone();
    let failed = |r: Result<()>| assert_eq!(r.unwrap_err().code(), "InternalError");
    failed(
        s.send_message_batch_at(
            &C,
            SendMessageBatchRequest {
                queue_url: url("q"),
                entries: Some(vec![SendMessageBatchEntry {
                    id: Some("1".into()),
                    message_body: Some("b".into()),
                    ..Default::default()
                }]),
            },
            T0,
        )
        .map(drop),
    );
    failed(
        s.delete_message_batch_at(
            &C,
            DeleteMessageBatchRequest {
                queue_url: url("q"),
                entries: Some(vec![DeleteMessageBatchEntry {
                    id: Some("1".into()),
                    receipt_handle: Some(h.clone()),
                }]),
            },
            T0,
        )
        .map(drop),
    );
    failed(
        s.change_message_visibility_batch_at(
            &C,
            ChangeMessageVisibilityBatchRequest {
                queue_url: url("q"),
                entries: Some(vec![ChangeMessageVisibilityBatchEntry {
                    id: Some("1".into()),
                    receipt_handle: Some(h),
                    visibility_timeout: Some(0),
                }]),
            },
            T0,
        )
        .map(drop),
    );
    failed(
        s.tag_queue(
            &C,
            TagQueueRequest {
                queue_url: url("q"),
                tags: Some([("k".to_string(), "v".to_string())].into()),
            },
        )
        .map(drop),
    );
    assert_eq!(snapshot(), before);
}
