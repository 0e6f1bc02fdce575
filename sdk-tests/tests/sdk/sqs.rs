//! SQS through the AWS SDK for Rust (awsJson1.0) on the emulator's one
//! port: queues and their attributes, messages with their MD5s, visibility,
//! long polling woken by another client's send, typed errors (the query
//! error header the SDK reads), and queues and messages surviving a
//! `kill -9` of a durable emulator.

use std::time::{Duration, Instant};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use sdk_tests::Emulator;

#[tokio::test]
async fn queues_messages_and_errors() {
    let emu = Emulator::start();
    let sqs = emu.sqs();
    let url = sqs
        .create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // The URL points back at the host the client used.
    assert_eq!(url, format!("http://{}/000000000000/jobs", emu.addr()));
    // The same attributes: the same queue; different ones: refused.
    sqs.create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .unwrap();
    let e = sqs
        .create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::DelaySeconds, "5")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_queue_name_exists(),
        "{e:?}"
    );
    for n in ["jobs-b", "other"] {
        sqs.create_queue().queue_name(n).send().await.unwrap();
    }
    let listed = sqs
        .list_queues()
        .queue_name_prefix("jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.queue_urls().len(), 2);
    let got = sqs.get_queue_url().queue_name("jobs").send().await.unwrap();
    assert_eq!(got.queue_url(), Some(url.as_str()));
    let e = sqs
        .get_queue_url()
        .queue_name("missing")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_queue_does_not_exist(),
        "{e:?}"
    );
    assert_eq!(e.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));

    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "2");
    assert_eq!(attrs[&QueueAttributeName::MaximumMessageSize], "1048576");
    assert_eq!(
        attrs[&QueueAttributeName::QueueArn],
        "arn:aws:sqs:us-east-1:000000000000:jobs"
    );
    let e = sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "21")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidAttributeValue"), "{e:?}");

    // A message with attributes, and its MD5s.
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("test")
        .message_attributes(
            "MyAttribute",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("foobar")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.md5_of_message_body(),
        Some("098f6bcd4621d373cade4e832627b4f6")
    );
    assert_eq!(
        sent.md5_of_message_attributes(),
        Some("adb59cd4678ea5a855436b949cd07ab6")
    );
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some("test"));
    assert_eq!(m.message_id(), sent.message_id());
    assert_eq!(
        m.md5_of_message_attributes(),
        sent.md5_of_message_attributes()
    );
    assert_eq!(
        m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    // In flight: nothing now; visible again after the 2 s timeout.
    let none = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(none.messages().is_empty());
    let started = Instant::now();
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
    let m2 = &again.messages()[0];
    assert_eq!(
        m2.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
        "2"
    );
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m2.receipt_handle().unwrap())
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m2.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let e = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("garbage")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_receipt_handle_is_invalid(),
        "{e:?}"
    );
    let e = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    assert_eq!(
        e.message(),
        Some(
            "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
        )
    );

    // Purge once a minute; delete.
    sqs.send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .unwrap();
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let e = sqs.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_purge_queue_in_progress(),
        "{e:?}"
    );
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let e = sqs.delete_queue().queue_url(&url).send().await.unwrap_err();
    assert!(
        e.as_service_error().unwrap().is_queue_does_not_exist(),
        "{e:?}"
    );
    emu.stop();
}

#[tokio::test]
async fn a_long_poll_answers_when_another_client_sends() {
    let emu = Emulator::start();
    let url = emu
        .sqs()
        .create_queue()
        .queue_name("poll")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let poller = {
        let (sqs, url) = (emu.sqs(), url.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let got = sqs
                .receive_message()
                .queue_url(url)
                .wait_time_seconds(20)
                .send()
                .await
                .unwrap();
            (got.messages().len(), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    emu.sqs()
        .send_message()
        .queue_url(&url)
        .message_body("wake")
        .send()
        .await
        .unwrap();
    let (n, took) = poller.await.unwrap();
    assert_eq!(n, 1);
    assert!(took < Duration::from_secs(5), "the poll took {took:?}");
    emu.stop();
}

#[tokio::test]
async fn queues_and_messages_survive_kill_9() {
    let dir = tempfile::tempdir().expect("a data directory");
    let mut emu = Emulator::start_durable(dir.path());
    let sqs = emu.sqs();
    let url = sqs
        .create_queue()
        .queue_name("durable")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for body in ["one", "two"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let first = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(first.messages()[0].body(), Some("one"));
    emu.kill9();
    emu.restart();
    let sqs = emu.sqs();
    // "one" is still in flight (30 s); "two" is there.
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = got.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["two"]);
    // The first receipt handle still works after the restart.
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(first.messages()[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs.attributes().unwrap()[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
    emu.stop();
}

#[tokio::test]
async fn batches_fifo_dead_letters_and_tags() {
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
    let emu = Emulator::start();
    let sqs = emu.sqs();
    let create = |name: &'static str, attrs: Vec<(QueueAttributeName, String)>| {
        let sqs = sqs.clone();
        async move {
            let mut req = sqs.create_queue().queue_name(name);
            for (k, v) in attrs {
                req = req.attributes(k, v);
            }
            req.send().await.unwrap().queue_url.unwrap()
        }
    };
    // Batches: per-entry results, whole-request refusals.
    let url = create("batch", vec![]).await;
    let entry = |id: &str, body: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(body)
            .build()
            .unwrap()
    };
    let sent = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("0", "one"))
        .entries(entry("1", "two"))
        .entries(entry("2", "\u{1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.successful().len(), 2);
    assert_eq!(sent.failed()[0].code(), "InvalidMessageContents");
    assert_eq!(sent.failed()[0].id(), "2");
    let e = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("0", "a"))
        .entries(entry("0", "b"))
        .send()
        .await
        .unwrap_err();
    assert!(
        e.as_service_error()
            .unwrap()
            .is_batch_entry_ids_not_distinct(),
        "{e:?}"
    );
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 2);
    let mut del = sqs.delete_message_batch().queue_url(&url);
    for (i, m) in got.messages().iter().enumerate() {
        del = del.entries(
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap())
                .build()
                .unwrap(),
        );
    }
    assert_eq!(del.send().await.unwrap().successful().len(), 2);

    // Tags.
    sqs.tag_queue()
        .queue_url(&url)
        .tags("team", "web")
        .send()
        .await
        .unwrap();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert_eq!(tags.tags().unwrap()["team"], "web");
    sqs.untag_queue()
        .queue_url(&url)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    assert!(tags.tags().is_none_or(|t| t.is_empty()));

    // FIFO: group order, one group locked while in flight, deduplication.
    let fifo = create(
        "jobs.fifo",
        vec![
            (QueueAttributeName::FifoQueue, "true".into()),
            (QueueAttributeName::ContentBasedDeduplication, "true".into()),
        ],
    )
    .await;
    let mut seqs = Vec::new();
    for (body, group) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("a1", "a")] {
        let r = sqs
            .send_message()
            .queue_url(&fifo)
            .message_body(body)
            .message_group_id(group)
            .send()
            .await
            .unwrap();
        seqs.push(r.sequence_number().unwrap().to_string());
    }
    // The second "a1" was a duplicate: the original's sequence number.
    assert_eq!(seqs[3], seqs[0]);
    assert!(seqs[0] < seqs[1] && seqs[1] < seqs[2]);
    let first = sqs
        .receive_message()
        .queue_url(&fifo)
        .max_number_of_messages(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.messages()[0].body(), Some("a1"));
    let rest = sqs
        .receive_message()
        .queue_url(&fifo)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = rest.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["b1"], "group a is locked while a1 is in flight");
    let e = sqs
        .send_message()
        .queue_url(&fifo)
        .message_body("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("MissingParameter"), "{e:?}");

    // A dead-letter queue after maxReceiveCount.
    let dlq = create("dead", vec![]).await;
    let src = create(
        "src",
        vec![
            (
                QueueAttributeName::RedrivePolicy,
                r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dead","maxReceiveCount":"1"}"#.into(),
            ),
            (QueueAttributeName::VisibilityTimeout, "0".into()),
        ],
    )
    .await;
    sqs.send_message()
        .queue_url(&src)
        .message_body("poison")
        .send()
        .await
        .unwrap();
    let once = sqs.receive_message().queue_url(&src).send().await.unwrap();
    assert_eq!(once.messages().len(), 1);
    let twice = sqs.receive_message().queue_url(&src).send().await.unwrap();
    assert!(twice.messages().is_empty());
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let m = &dead.messages()[0];
    assert_eq!(m.body(), Some("poison"));
    assert_eq!(
        m.attributes().unwrap()[&MessageSystemAttributeName::DeadLetterQueueSourceArn],
        "arn:aws:sqs:us-east-1:000000000000:src"
    );
    let sources = sqs
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), [src.as_str()]);
    emu.stop();
}

/// The awsQuery wire, as older SDKs speak it: form requests to `/` and to
/// the queue URL itself, XML answers and errors.
#[tokio::test]
async fn the_query_protocol_with_raw_form_requests() {
    let emu = Emulator::start();
    let addr = emu.addr();
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261207/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x";
    let form = |path: &str, body: &str, signed: bool| {
        let mut headers = vec![(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )];
        if signed {
            headers.push(("Authorization", auth));
        }
        sdk_tests::http(&addr, "POST", path, &headers, body.as_bytes()).unwrap()
    };
    // Unsigned: told by its Version.
    let (status, body) = form(
        "/",
        "Action=CreateQueue&Version=2012-11-05&QueueName=legacy&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=7",
        false,
    );
    assert_eq!(status, 200, "{body}");
    let url = format!("http://{addr}/000000000000/legacy");
    assert!(
        body.contains(&format!(
            "<CreateQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><CreateQueueResult><QueueUrl>{url}</QueueUrl></CreateQueueResult>"
        )),
        "{body}"
    );
    // Posted to the queue URL's path, without QueueUrl (Ruby, Java v1).
    let (status, body) = form(
        "/000000000000/legacy",
        "Action=SendMessage&Version=2012-11-05&MessageBody=hello&MessageAttribute.1.Name=MyAttribute&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=foobar",
        true,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<MD5OfMessageBody>5d41402abc4b2a76b9719d911017c592</MD5OfMessageBody>"),
        "{body}"
    );
    assert!(
        body.contains(
            "<MD5OfMessageAttributes>adb59cd4678ea5a855436b949cd07ab6</MD5OfMessageAttributes>"
        ),
        "{body}"
    );
    let (status, body) = form(
        "/",
        &format!(
            "Action=ReceiveMessage&Version=2012-11-05&QueueUrl={url}&AttributeName.1=All&MessageAttributeName.1=All&MaxNumberOfMessages=10"
        ),
        true,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Body>hello</Body>"), "{body}");
    assert!(
        body.contains(
            "<Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
        ),
        "{body}"
    );
    assert!(
        body.contains("<MessageAttribute><Name>MyAttribute</Name><Value><DataType>String</DataType><StringValue>foobar</StringValue></Value></MessageAttribute>"),
        "{body}"
    );
    // The same message, as the JSON SDK sees it.
    let attrs = emu
        .sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "7");
    assert_eq!(
        attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible],
        "1"
    );
    // An operation without output has no result element.
    let (status, body) = form(
        "/000000000000/legacy",
        "Action=PurgeQueue&Version=2012-11-05",
        true,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("<?xml version=\"1.0\"?><PurgeQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata>"), "{body}");
    // Errors in the query shape.
    let (status, body) = form(
        "/",
        "Action=GetQueueUrl&Version=2012-11-05&QueueName=missing",
        true,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist for this wsdl version.</Message></Error>"),
        "{body}"
    );
    let (status, body) = form(
        "/",
        &format!("Action=SendMessageBatch&Version=2012-11-05&QueueUrl={url}"),
        true,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("<Code>AWS.SimpleQueueService.EmptyBatchRequest</Code>"),
        "{body}"
    );
    // A GET with the parameters in the query string (very old clients).
    let (status, body) = sdk_tests::http(
        &addr,
        "GET",
        "/000000000000/legacy?Action=GetQueueAttributes&Version=2012-11-05&AttributeName.1=VisibilityTimeout",
        &[("Authorization", auth)],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Attribute><Name>VisibilityTimeout</Name><Value>7</Value></Attribute>"),
        "{body}"
    );
    let (status, body) = form("/", "Action=Frobnicate&Version=2012-11-05", true);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
    emu.stop();
}

/// An unmodified AWS SDK for Rust program in a task (the task-probe image,
/// built by `make setup`) finds the queue, sends, long-polls, deletes and
/// sends again with its task role's credentials and the endpoint the task
/// is given; the request log attributes its calls to the task and role.
#[tokio::test]
async fn an_app_in_a_task_uses_sqs_with_its_task_role() {
    const PROBE_IMAGE: &str = "fargate-local-test/task-probe:latest";
    const ROLE: &str = "arn:aws:iam::000000000000:role/worker";
    let present = std::process::Command::new("docker")
        .args(["image", "inspect", PROBE_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "the test image {PROBE_IMAGE} is missing: run `make setup`"
    );
    let emu = Emulator::start();
    emu.create_cluster("sqs").await;
    let url = emu
        .sqs()
        .create_queue()
        .queue_name("work")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let probe = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("probe")
        .image(PROBE_IMAGE)
        .essential(false)
        .environment(
            aws_sdk_ecs::types::KeyValuePair::builder()
                .name("PROBE_QUEUE")
                .value("work")
                .build(),
        )
        .build();
    let td = emu
        .register_with(
            "sqs-probe",
            vec![probe, sdk_tests::sh("keep", sdk_tests::UNTIL_TERM).build()],
            |b| b.task_role_arn(ROLE),
        )
        .await;
    let arn = emu
        .run_task("sqs", &td)
        .await
        .task_arn()
        .unwrap()
        .to_string();
    let t = emu
        .wait_task(
            "sqs",
            &arn,
            "the probe to exit",
            Duration::from_secs(60),
            |t| sdk_tests::container(t, "probe").last_status() == Some("STOPPED"),
        )
        .await;
    assert_eq!(
        sdk_tests::container(&t, "probe").exit_code(),
        Some(0),
        "the probe failed; emulator log:\n{}",
        emu.log_tail(40)
    );
    let got = emu
        .sqs()
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.messages()[0].body(),
        Some(format!("done {arn}").as_str())
    );
    let (_, body) = sdk_tests::http_get(&emu.addr(), "/_fargate-local/requests").unwrap();
    let log: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sends: Vec<&serde_json::Value> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["service"] == "sqs" && e["operation"] == "SendMessage")
        .collect();
    assert_eq!(sends.len(), 2, "{log:#}");
    for s in sends {
        assert_eq!(s["taskArn"], arn.as_str());
        assert_eq!(s["roleArn"], ROLE);
    }
    emu.stop();
}
