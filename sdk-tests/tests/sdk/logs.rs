//! CloudWatch Logs through aws-sdk-cloudwatchlogs: groups, streams, events
//! with paging and filter patterns, retention, tags, modeled errors, and
//! events surviving `kill -9` of a durable emulator.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use sdk_tests::Emulator;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn ev(ts: i64, msg: &str) -> InputLogEvent {
    InputLogEvent::builder()
        .timestamp(ts)
        .message(msg)
        .build()
        .unwrap()
}

fn err_code<E, R>(e: aws_sdk_cloudwatchlogs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("<none>")
        .to_string()
}

#[tokio::test]
async fn groups_streams_events_filters_and_tags() {
    let emu = Emulator::start();
    let logs = emu.logs_client();
    let g = "/ecs/rails/app";
    logs.create_log_group()
        .log_group_name(g)
        .send()
        .await
        .unwrap();
    let dup = logs
        .create_log_group()
        .log_group_name(g)
        .send()
        .await
        .unwrap_err();
    assert!(
        dup.as_service_error()
            .unwrap()
            .is_resource_already_exists_exception()
    );
    logs.put_retention_policy()
        .log_group_name(g)
        .retention_in_days(14)
        .send()
        .await
        .unwrap();
    let bad = logs
        .put_retention_policy()
        .log_group_name(g)
        .retention_in_days(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(bad), "InvalidParameterException");

    for s in ["web/app/t1", "web/app/t2"] {
        logs.create_log_stream()
            .log_group_name(g)
            .log_stream_name(s)
            .send()
            .await
            .unwrap();
    }
    let now = now_ms();
    let lines: Vec<String> = (0..25).map(|i| format!("GET /items/{i} 200")).collect();
    let mut put = logs
        .put_log_events()
        .log_group_name(g)
        .log_stream_name("web/app/t1");
    for (i, l) in lines.iter().enumerate() {
        put = put.log_events(ev(now - 1000 + i as i64, l));
    }
    let out = put.send().await.unwrap();
    assert!(out.rejected_log_events_info().is_none());
    logs.put_log_events()
        .log_group_name(g)
        .log_stream_name("web/app/t2")
        .log_events(ev(now - 500, r#"{"level":"error","msg":"boom"}"#))
        .log_events(ev(now - 400, "ERROR Timeout::Error"))
        .send()
        .await
        .unwrap();
    let unordered = logs
        .put_log_events()
        .log_group_name(g)
        .log_stream_name("web/app/t2")
        .log_events(ev(now, "b"))
        .log_events(ev(now - 1, "a"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(unordered), "InvalidParameterException");
    let missing = logs
        .put_log_events()
        .log_group_name(g)
        .log_stream_name("nope")
        .log_events(ev(now, "a"))
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );

    // GetLogEvents from the head, ten at a time, until the token repeats.
    let mut token: Option<String> = None;
    let mut got = Vec::new();
    loop {
        let page = logs
            .get_log_events()
            .log_group_name(g)
            .log_stream_name("web/app/t1")
            .start_from_head(true)
            .limit(10)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        got.extend(
            page.events()
                .iter()
                .map(|e| e.message().unwrap().to_string()),
        );
        let next = page.next_forward_token().unwrap().to_string();
        if token.as_deref() == Some(next.as_str()) {
            break;
        }
        token = Some(next);
    }
    assert_eq!(got, lines);

    // FilterLogEvents with the paginator, and patterns.
    let pages = logs
        .filter_log_events()
        .log_group_name(g)
        .limit(7)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 4);
    let all: Vec<String> = pages
        .iter()
        .flat_map(|p| p.events())
        .map(|e| e.message().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 27);
    let cases = [
        ("ERROR", "web/app/t2", vec!["ERROR Timeout::Error"]),
        (
            "{ $.level = \"error\" }",
            "web/app/t2",
            vec![r#"{"level":"error","msg":"boom"}"#],
        ),
        ("\"/items/24 \"", "web/app/t1", vec!["GET /items/24 200"]),
        (
            "?boom ?Timeout -GET",
            "web/app/t2",
            vec![r#"{"level":"error","msg":"boom"}"#, "ERROR Timeout::Error"],
        ),
    ];
    for (pattern, stream, want) in cases {
        let out = logs
            .filter_log_events()
            .log_group_name(g)
            .filter_pattern(pattern)
            .send()
            .await
            .unwrap();
        let msgs: Vec<&str> = out.events().iter().map(|e| e.message().unwrap()).collect();
        assert_eq!(msgs, want, "{pattern}");
        for e in out.events() {
            assert_eq!(e.log_stream_name(), Some(stream));
        }
    }

    let streams = logs
        .describe_log_streams()
        .log_group_name(g)
        .order_by(aws_sdk_cloudwatchlogs::types::OrderBy::LastEventTime)
        .descending(true)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = streams
        .log_streams()
        .iter()
        .map(|s| s.log_stream_name().unwrap())
        .collect();
    assert_eq!(names, ["web/app/t2", "web/app/t1"]);
    assert_eq!(
        streams.log_streams()[0].last_event_timestamp(),
        Some(now - 400)
    );

    let group = logs
        .describe_log_groups()
        .log_group_name_prefix("/ecs/")
        .send()
        .await
        .unwrap();
    let desc = &group.log_groups()[0];
    assert_eq!(desc.retention_in_days(), Some(14));
    let arn = desc.log_group_arn().unwrap().to_string();
    assert_eq!(
        arn,
        format!("arn:aws:logs:us-east-1:000000000000:log-group:{g}")
    );
    logs.tag_resource()
        .resource_arn(&arn)
        .tags("team", "rails")
        .send()
        .await
        .unwrap();
    let tags = logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags().unwrap().get("team").map(String::as_str),
        Some("rails")
    );

    logs.delete_log_group()
        .log_group_name(g)
        .send()
        .await
        .unwrap();
    let gone = logs
        .get_log_events()
        .log_group_name(g)
        .log_stream_name("web/app/t1")
        .send()
        .await
        .unwrap_err();
    assert!(
        gone.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    emu.stop();
}

#[tokio::test]
async fn events_survive_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let mut emu = Emulator::start_durable(dir.path());
    let logs = emu.logs_client();
    logs.create_log_group()
        .log_group_name("durable")
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name("durable")
        .log_stream_name("s")
        .send()
        .await
        .unwrap();
    let now = now_ms();
    logs.put_log_events()
        .log_group_name("durable")
        .log_stream_name("s")
        .log_events(ev(now, "acknowledged before the crash"))
        .send()
        .await
        .unwrap();
    emu.kill9();
    emu.restart();
    let logs = emu.logs_client();
    let out = logs
        .get_log_events()
        .log_group_name("durable")
        .log_stream_name("s")
        .send()
        .await
        .unwrap();
    let msgs: Vec<&str> = out.events().iter().map(|e| e.message().unwrap()).collect();
    assert_eq!(msgs, ["acknowledged before the crash"]);
    emu.stop();
}

/// What `aws logs tail --follow` (CLI v2, awscli/customizations/logs/tail.py)
/// does, call for call: FilterLogEvents with `interleaved` and a
/// `startTime`, nextToken until a page has none, then the same call again
/// from the newest timestamp seen, skipping the eventIds already shown at
/// that timestamp. A writer keeps putting events (several per millisecond,
/// over two streams) while it polls: every event must show exactly once.
#[tokio::test]
async fn tail_follow_polling_sees_every_event_exactly_once() {
    let emu = Emulator::start();
    let logs = emu.logs_client();
    let g = "/ecs/rails/tail";
    logs.create_log_group()
        .log_group_name(g)
        .send()
        .await
        .unwrap();
    for s in ["app/a", "app/b"] {
        logs.create_log_stream()
            .log_group_name(g)
            .log_stream_name(s)
            .send()
            .await
            .unwrap();
    }
    const BATCHES: usize = 30;
    const PER_BATCH: usize = 20;
    let writer = {
        let logs = logs.clone();
        tokio::spawn(async move {
            for b in 0..BATCHES {
                let ts = now_ms();
                let stream = if b % 2 == 0 { "app/a" } else { "app/b" };
                let mut put = logs
                    .put_log_events()
                    .log_group_name(g)
                    .log_stream_name(stream);
                for i in 0..PER_BATCH {
                    // Same timestamp for several events: the dedupe must go
                    // by eventId, not by time.
                    put = put.log_events(ev(ts + (i / 5) as i64, &format!("line {b}-{i}")));
                }
                put.send().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            }
        })
    };
    let mut start = now_ms() - 600_000;
    let mut token: Option<String> = None;
    let mut seen_at_newest: (i64, std::collections::HashSet<String>) =
        (i64::MIN, Default::default());
    let mut shown: Vec<String> = Vec::new();
    let mut all_ids = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // Deprecated (ignored by AWS since 2019), but `aws logs tail` sends it.
        #[allow(deprecated)]
        let page = logs
            .filter_log_events()
            .log_group_name(g)
            .interleaved(true)
            .start_time(start)
            .limit(50)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.searched_log_streams().is_empty());
        for e in page.events() {
            let (ts, id) = (e.timestamp().unwrap(), e.event_id().unwrap().to_string());
            assert_eq!(id.len(), 56, "{id}");
            if ts == seen_at_newest.0 && seen_at_newest.1.contains(&id) {
                continue;
            }
            if ts > seen_at_newest.0 {
                seen_at_newest = (ts, Default::default());
            }
            if ts == seen_at_newest.0 {
                seen_at_newest.1.insert(id.clone());
            }
            assert!(all_ids.insert(id.clone()), "event {id} shown twice");
            shown.push(e.message().unwrap().to_string());
        }
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => {
                token = None;
                if seen_at_newest.0 != i64::MIN {
                    start = seen_at_newest.0;
                }
                if writer.is_finished() && shown.len() >= BATCHES * PER_BATCH {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "only {} of {} events shown",
                    shown.len(),
                    BATCHES * PER_BATCH
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    writer.await.unwrap();
    let mut want: Vec<String> = (0..BATCHES)
        .flat_map(|b| (0..PER_BATCH).map(move |i| format!("line {b}-{i}")))
        .collect();
    let mut got = shown.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

/// Space-delimited patterns and AWS's refusals, through the SDK.
#[tokio::test]
async fn space_delimited_and_refused_filter_patterns() {
    let emu = Emulator::start();
    let logs = emu.logs_client();
    let g = "/ecs/web/access";
    logs.create_log_group()
        .log_group_name(g)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(g)
        .log_stream_name("nginx")
        .send()
        .await
        .unwrap();
    let now = now_ms();
    let lines = [
        r#"10.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 200 1534"#,
        r#"10.0.0.2 - - [10/Oct/2000:13:25:16 -0700] "GET /missing.html HTTP/1.0" 404 209"#,
        r#"10.0.0.3 - - [10/Oct/2000:13:25:17 -0700] "POST /upload HTTP/1.0" 500 9000"#,
    ];
    let mut put = logs
        .put_log_events()
        .log_group_name(g)
        .log_stream_name("nginx");
    for (i, l) in lines.iter().enumerate() {
        put = put.log_events(ev(now - 100 + i as i64, l));
    }
    put.send().await.unwrap();
    let cases: [(&str, &[usize]); 4] = [
        (
            "[ip, user, username, timestamp, request, status_code, bytes]",
            &[0, 1, 2],
        ),
        (
            "[..., status_code = 4* || status_code = 5*, bytes]",
            &[1, 2],
        ),
        (
            "[ip, ..., request = *html*, status_code, bytes > 1000]",
            &[0],
        ),
        ("%\\.0\\.0\\.[23]%", &[1, 2]),
    ];
    for (pattern, want) in cases {
        let out = logs
            .filter_log_events()
            .log_group_name(g)
            .filter_pattern(pattern)
            .send()
            .await
            .unwrap();
        let msgs: Vec<&str> = out.events().iter().map(|e| e.message().unwrap()).collect();
        let want: Vec<&str> = want.iter().map(|i| lines[*i]).collect();
        assert_eq!(msgs, want, "{pattern}");
    }
    for (pattern, message) in [
        ("%ERR(OR)?%", "Invalid filter pattern"),
        (
            "user@example.com",
            "Invalid filter pattern: Invalid character(s) in term 'user@example.com'",
        ),
        (
            "{ $.level = \"error\"",
            "If a filter pattern starts with '{' it must end with '}'",
        ),
    ] {
        let e = logs
            .filter_log_events()
            .log_group_name(g)
            .filter_pattern(pattern)
            .send()
            .await
            .unwrap_err();
        let svc = e.as_service_error().unwrap();
        assert!(svc.is_invalid_parameter_exception(), "{pattern}: {svc:?}");
        assert_eq!(
            aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata::message(svc),
            Some(message),
            "{pattern}"
        );
    }
}
