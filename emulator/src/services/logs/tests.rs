//! The backend through its operations, on an in-memory log store.

use super::*;
use crate::services::kit::AwsError;

const R: &str = "us-east-1";

fn logs() -> Logs {
    Logs::open(&Store::in_memory(), "000000000000").unwrap()
}

fn group(l: &Logs, name: &str) {
    l.create_log_group(
        R,
        CreateLogGroupRequest {
            log_group_name: Some(name.into()),
            ..Default::default()
        },
    )
    .unwrap();
}

fn stream(l: &Logs, g: &str, s: &str) {
    l.create_log_stream(
        R,
        LogStreamRequest {
            log_group_name: Some(g.into()),
            log_stream_name: Some(s.into()),
        },
    )
    .unwrap();
}

fn put(
    l: &Logs,
    g: &str,
    s: &str,
    events: &[(i64, &str)],
) -> Result<PutLogEventsResponse, LogsError> {
    l.put_log_events(
        R,
        PutLogEventsRequest {
            log_group_name: Some(g.into()),
            log_stream_name: Some(s.into()),
            log_events: Some(
                events
                    .iter()
                    .map(|(t, m)| InputLogEvent {
                        timestamp: Some(*t),
                        message: Some(m.to_string()),
                    })
                    .collect(),
            ),
            ..Default::default()
        },
    )
}

fn get(l: &Logs, req: GetLogEventsRequest) -> (Vec<String>, String, String) {
    let r = l
        .get_log_events(
            R,
            GetLogEventsRequest {
                log_group_name: Some("g".into()),
                log_stream_name: Some("s".into()),
                ..req
            },
        )
        .unwrap();
    (
        r.events.into_iter().map(|e| e.message).collect(),
        r.next_forward_token,
        r.next_backward_token,
    )
}

fn code<T: std::fmt::Debug>(r: Result<T, LogsError>) -> String {
    r.unwrap_err().code().to_string()
}

#[test]
fn groups_and_streams() {
    let l = logs();
    group(&l, "/ecs/app");
    let again = l.create_log_group(
        R,
        CreateLogGroupRequest {
            log_group_name: Some("/ecs/app".into()),
            ..Default::default()
        },
    );
    assert_eq!(code(again), "ResourceAlreadyExistsException");
    let bad = l.create_log_group(
        R,
        CreateLogGroupRequest {
            log_group_name: Some("has space".into()),
            ..Default::default()
        },
    );
    assert_eq!(code(bad), "InvalidParameterException");
    group(&l, "/ecs/worker");
    group(&l, "other");
    let d = l
        .describe_log_groups(
            R,
            DescribeLogGroupsRequest {
                log_group_name_prefix: Some("/ecs/".into()),
                limit: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(d.log_groups[0].log_group_name, "/ecs/app");
    assert_eq!(
        d.log_groups[0].arn,
        "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/app:*"
    );
    let d2 = l
        .describe_log_groups(
            R,
            DescribeLogGroupsRequest {
                log_group_name_prefix: Some("/ecs/".into()),
                next_token: d.next_token,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(d2.log_groups.len(), 1);
    assert_eq!(d2.log_groups[0].log_group_name, "/ecs/worker");
    assert!(d2.next_token.is_none());
    // Another region sees none of them.
    let d3 = l
        .describe_log_groups("eu-west-1", DescribeLogGroupsRequest::default())
        .unwrap();
    assert!(d3.log_groups.is_empty());

    stream(&l, "/ecs/app", "web/app/1");
    let dup = l.create_log_stream(
        R,
        LogStreamRequest {
            log_group_name: Some("/ecs/app".into()),
            log_stream_name: Some("web/app/1".into()),
        },
    );
    assert_eq!(code(dup), "ResourceAlreadyExistsException");
    let nogroup = l.create_log_stream(
        R,
        LogStreamRequest {
            log_group_name: Some("/nope".into()),
            log_stream_name: Some("x".into()),
        },
    );
    assert_eq!(code(nogroup), "ResourceNotFoundException");
    let colon = l.create_log_stream(
        R,
        LogStreamRequest {
            log_group_name: Some("/ecs/app".into()),
            log_stream_name: Some("a:b".into()),
        },
    );
    assert_eq!(code(colon), "InvalidParameterException");

    l.delete_log_group(
        R,
        LogGroupNameRequest {
            log_group_name: Some("/ecs/app".into()),
        },
    )
    .unwrap();
    let gone = l.delete_log_group(
        R,
        LogGroupNameRequest {
            log_group_name: Some("/ecs/app".into()),
        },
    );
    assert_eq!(code(gone), "ResourceNotFoundException");
}

#[test]
fn put_rules() {
    let l = logs();
    group(&l, "g");
    stream(&l, "g", "s");
    let now = now_ms();
    // (events, error code or rejected info)
    let order = put(&l, "g", "s", &[(now, "b"), (now - 1, "a")]);
    assert_eq!(code(order), "InvalidParameterException");
    let span = put(&l, "g", "s", &[(now - DAY_MS - 1, "a"), (now, "b")]);
    assert_eq!(code(span), "InvalidParameterException");
    let empty = put(&l, "g", "s", &[]);
    assert_eq!(code(empty), "InvalidParameterException");
    let big = "x".repeat(MAX_BATCH_BYTES);
    let too_big = put(&l, "g", "s", &[(now, &big)]);
    let e = too_big.unwrap_err();
    assert_eq!(e.code(), "InvalidParameterException");
    assert!(e.to_string().starts_with("Upload too large"), "{e}");
    assert_eq!(
        code(put(&l, "g", "nope", &[(now, "a")])),
        "ResourceNotFoundException"
    );

    let old = now - 14 * DAY_MS - 60_000;
    let r = put(
        &l,
        "g",
        "s",
        &[
            (old, "too old"),
            (old + 1, "too old 2"),
            (old + 120_000, "ok 1"),
            (old + 120_001, "ok 2"),
        ],
    )
    .unwrap();
    assert_eq!(
        r.rejected_log_events_info,
        Some(RejectedLogEventsInfo {
            too_old_log_event_end_index: Some(2),
            ..Default::default()
        })
    );
    let r = put(
        &l,
        "g",
        "s",
        &[(now, "ok 3"), (now + 3 * 3_600_000, "too new")],
    )
    .unwrap();
    assert_eq!(
        r.rejected_log_events_info,
        Some(RejectedLogEventsInfo {
            too_new_log_event_start_index: Some(1),
            ..Default::default()
        })
    );
    let (msgs, _, _) = get(
        &l,
        GetLogEventsRequest {
            start_from_head: Some(true),
            ..Default::default()
        },
    );
    assert_eq!(msgs, ["ok 1", "ok 2", "ok 3"]);
}

#[test]
fn get_pages_forward_and_backward() {
    let l = logs();
    group(&l, "g");
    stream(&l, "g", "s");
    let now = now_ms();
    let events: Vec<(i64, String)> = (0..10).map(|i| (now - 100 + i, format!("m{i}"))).collect();
    let refs: Vec<(i64, &str)> = events.iter().map(|(t, m)| (*t, m.as_str())).collect();
    put(&l, "g", "s", &refs).unwrap();

    // From the head, three at a time, until the token repeats.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let (msgs, fwd, _) = get(
            &l,
            GetLogEventsRequest {
                start_from_head: Some(true),
                limit: Some(3),
                next_token: token.clone(),
                ..Default::default()
            },
        );
        seen.extend(msgs);
        if token.as_ref() == Some(&fwd) {
            break;
        }
        token = Some(fwd);
    }
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[0], "m0");
    assert_eq!(seen[9], "m9");

    // The default is the tail; the backward token walks back.
    let (msgs, fwd, back) = get(
        &l,
        GetLogEventsRequest {
            limit: Some(4),
            ..Default::default()
        },
    );
    assert_eq!(msgs, ["m6", "m7", "m8", "m9"]);
    let (msgs, _, _) = get(
        &l,
        GetLogEventsRequest {
            limit: Some(4),
            next_token: Some(back),
            ..Default::default()
        },
    );
    assert_eq!(msgs, ["m2", "m3", "m4", "m5"]);
    // Nothing new: the forward token comes back unchanged; a new event
    // arrives through it.
    let (msgs, fwd2, _) = get(
        &l,
        GetLogEventsRequest {
            next_token: Some(fwd.clone()),
            ..Default::default()
        },
    );
    assert!(msgs.is_empty());
    assert_eq!(fwd2, fwd);
    put(&l, "g", "s", &[(now, "late")]).unwrap();
    let (msgs, _, _) = get(
        &l,
        GetLogEventsRequest {
            next_token: Some(fwd),
            ..Default::default()
        },
    );
    assert_eq!(msgs, ["late"]);

    // A time window: [start, end).
    let (msgs, _, _) = get(
        &l,
        GetLogEventsRequest {
            start_time: Some(now - 98),
            end_time: Some(now - 95),
            start_from_head: Some(true),
            ..Default::default()
        },
    );
    assert_eq!(msgs, ["m2", "m3", "m4"]);
    let bad = l.get_log_events(
        R,
        GetLogEventsRequest {
            log_group_name: Some("g".into()),
            log_stream_name: Some("s".into()),
            next_token: Some("garbage".into()),
            ..Default::default()
        },
    );
    assert_eq!(code(bad), "InvalidParameterException");
}

#[test]
fn filter_across_streams() {
    let l = logs();
    group(&l, "g");
    stream(&l, "g", "web/1");
    stream(&l, "g", "web/2");
    stream(&l, "g", "worker/1");
    let now = now_ms();
    put(
        &l,
        "g",
        "web/1",
        &[(now - 5, "GET / 200"), (now - 2, "ERROR boom")],
    )
    .unwrap();
    put(
        &l,
        "g",
        "web/2",
        &[(now - 4, "{\"level\":\"error\",\"ms\":12}")],
    )
    .unwrap();
    put(
        &l,
        "g",
        "worker/1",
        &[(now - 3, "ERROR timeout"), (now - 1, "INFO ok")],
    )
    .unwrap();
    let filter =
        |pattern: &str, prefix: Option<&str>, limit: Option<i64>, token: Option<String>| {
            let r = l
                .filter_log_events(
                    R,
                    FilterLogEventsRequest {
                        log_group_name: Some("g".into()),
                        filter_pattern: Some(pattern.into()),
                        log_stream_name_prefix: prefix.map(str::to_string),
                        limit,
                        next_token: token,
                        ..Default::default()
                    },
                )
                .unwrap();
            (
                r.events
                    .iter()
                    .map(|e| format!("{}:{}", e.log_stream_name, e.message))
                    .collect::<Vec<_>>(),
                r.next_token,
            )
        };
    let cases: [(&str, Option<&str>, &[&str]); 5] = [
        (
            "ERROR",
            None,
            &["worker/1:ERROR timeout", "web/1:ERROR boom"],
        ),
        ("ERROR", Some("web/"), &["web/1:ERROR boom"]),
        (
            "?timeout ?boom",
            None,
            &["worker/1:ERROR timeout", "web/1:ERROR boom"],
        ),
        (
            "{ $.level = \"error\" }",
            None,
            &["web/2:{\"level\":\"error\",\"ms\":12}"],
        ),
        ("ERROR -boom", None, &["worker/1:ERROR timeout"]),
    ];
    for (pattern, prefix, want) in cases {
        assert_eq!(filter(pattern, prefix, None, None).0, want, "{pattern}");
    }
    // Paging: two per page over five events.
    let (page1, t1) = filter("", None, Some(2), None);
    let (page2, t2) = filter("", None, Some(2), t1);
    let (page3, t3) = filter("", None, Some(2), t2);
    assert_eq!(page1.len() + page2.len() + page3.len(), 5);
    assert_eq!(page1[0], "web/1:GET / 200");
    assert_eq!(page3, ["worker/1:INFO ok"]);
    assert!(t3.is_none());
    let bad = l.filter_log_events(
        R,
        FilterLogEventsRequest {
            log_group_name: Some("g".into()),
            filter_pattern: Some("{ $.x = }".into()),
            ..Default::default()
        },
    );
    assert_eq!(code(bad), "InvalidParameterException");
}

#[test]
fn retention_hides_then_deletes() {
    let l = logs();
    group(&l, "g");
    stream(&l, "g", "s");
    let now = now_ms();
    put(&l, "g", "s", &[(now - 3 * DAY_MS, "three days")]).unwrap();
    put(&l, "g", "s", &[(now, "today")]).unwrap();
    let bad = l.put_retention_policy(
        R,
        PutRetentionPolicyRequest {
            log_group_name: Some("g".into()),
            retention_in_days: Some(2),
        },
    );
    assert_eq!(code(bad), "InvalidParameterException");
    l.put_retention_policy(
        R,
        PutRetentionPolicyRequest {
            log_group_name: Some("g".into()),
            retention_in_days: Some(1),
        },
    )
    .unwrap();
    let head = GetLogEventsRequest {
        start_from_head: Some(true),
        ..Default::default()
    };
    let (msgs, _, _) = get(&l, head);
    assert_eq!(msgs, ["today"]);
    // Writing an expired event is refused as expired.
    let r = put(
        &l,
        "g",
        "s",
        &[(now - DAY_MS - 1000, "late"), (now - DAY_MS + 1000, "ok")],
    )
    .unwrap();
    assert_eq!(
        r.rejected_log_events_info
            .unwrap()
            .expired_log_event_end_index,
        Some(1)
    );
    let deleted = l
        .inner
        .db
        .write(|tx| Ok(db::expire(tx, now_ms())?))
        .unwrap();
    assert_eq!(deleted, 1);
    let d = l
        .describe_log_groups(R, DescribeLogGroupsRequest::default())
        .unwrap();
    assert_eq!(d.log_groups[0].retention_in_days, Some(1));
}

#[test]
fn tags() {
    let l = logs();
    let arn = "arn:aws:logs:us-east-1:000000000000:log-group:g";
    l.create_log_group(
        R,
        CreateLogGroupRequest {
            log_group_name: Some("g".into()),
            tags: Some([("team".to_string(), "web".to_string())].into()),
            ..Default::default()
        },
    )
    .unwrap();
    l.tag_resource(
        R,
        TagResourceRequest {
            resource_arn: Some(arn.into()),
            tags: Some([("env".to_string(), "dev".to_string())].into()),
        },
    )
    .unwrap();
    l.untag_log_group(
        R,
        UntagLogGroupRequest {
            log_group_name: Some("g".into()),
            tags: Some(vec!["team".into()]),
        },
    )
    .unwrap();
    let t = l
        .list_tags_for_resource(
            R,
            ResourceArnRequest {
                resource_arn: Some(format!("{arn}:*")),
            },
        )
        .unwrap();
    assert_eq!(t.tags, [("env".to_string(), "dev".to_string())].into());
    let missing = l.list_tags_for_resource(
        R,
        ResourceArnRequest {
            resource_arn: Some("arn:aws:logs:us-east-1:000000000000:log-group:nope".into()),
        },
    );
    assert_eq!(code(missing), "ResourceNotFoundException");
}

/// The log drivers' batches (1,000 events each, as the awslogs driver and
/// FireLens send them) are all stored, in order. Their speed is measured by
/// `make bench` (the awslogs and FireLens sections), not here.
#[test]
fn forty_driver_batches_are_stored_whole_and_in_order() {
    let dir = std::env::temp_dir().join(format!("fl-logs-{}", uuid::Uuid::new_v4()));
    let store = Store::open(&dir, false).unwrap();
    let l = Logs::open(&store, "000000000000").unwrap();
    l.ensure_group(R, "g", true).unwrap();
    l.ensure_stream(R, "g", "s").unwrap();
    let now = now_ms();
    for b in 0..40 {
        let batch: Vec<(i64, String)> = (0..1000)
            .map(|i| {
                (
                    now - 40_000 + b * 1000 + i,
                    format!("line {}", b * 1000 + i),
                )
            })
            .collect();
        l.append(R, "g", "s", batch).unwrap();
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (lines, next, _) = get(
            &l,
            GetLogEventsRequest {
                start_from_head: Some(true),
                next_token: token.clone(),
                ..Default::default()
            },
        );
        if lines.is_empty() {
            break;
        }
        seen.extend(lines);
        token = Some(next);
    }
    let want: Vec<String> = (0..40_000).map(|i| format!("line {i}")).collect();
    assert_eq!(seen.len(), want.len());
    assert!(seen == want, "every event, in the order appended");
    drop(l);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A search that runs out of its scan budget answers the events found so
/// far (here none) with a nextToken, as AWS does; following the tokens finds
/// the one match at the end, once.
#[test]
fn filter_answers_empty_pages_while_more_remains() {
    let l = logs();
    group(&l, "g");
    stream(&l, "g", "s");
    let now = now_ms();
    let noise: Vec<String> = (0..FILTER_SCAN_BUDGET + 2_500)
        .map(|i| format!("GET /{i} 200"))
        .collect();
    for chunk in noise.chunks(MAX_BATCH_EVENTS) {
        let batch: Vec<(i64, &str)> = chunk.iter().map(|m| (now - 10, m.as_str())).collect();
        put(&l, "g", "s", &batch).unwrap();
    }
    put(&l, "g", "s", &[(now - 5, "ERROR at the end")]).unwrap();
    let mut token = None;
    let mut pages = Vec::new();
    loop {
        let r = l
            .filter_log_events(
                R,
                FilterLogEventsRequest {
                    log_group_name: Some("g".into()),
                    filter_pattern: Some("ERROR".into()),
                    next_token: token.take(),
                    ..Default::default()
                },
            )
            .unwrap();
        pages.push(
            r.events
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>(),
        );
        match r.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
        assert!(pages.len() < 10, "the tokens do not advance");
    }
    assert!(pages.len() >= 2, "{pages:?}");
    assert!(
        pages[0].is_empty(),
        "the first page is cut by the scan budget"
    );
    assert_eq!(pages.concat(), ["ERROR at the end"]);
}

/// Every row of the three tables, in order: the whole log store.
fn dump(l: &Logs) -> Vec<String> {
    l.inner
        .db
        .read(|c| {
            let mut rows = Vec::new();
            for table in ["logs_groups", "logs_streams", "logs_events"] {
                let mut stmt = c.prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))?;
                let n = stmt.column_count();
                let mut q = stmt.query([])?;
                while let Some(row) = q.next()? {
                    let cols: Vec<String> = (0..n)
                        .map(|i| row.get_ref(i).map(|v| format!("{v:?}")))
                        .collect::<rusqlite::Result<_>>()?;
                    rows.push(format!("{table}: {}", cols.join(", ")));
                }
            }
            Ok(rows)
        })
        .unwrap()
}

/// A log store with a tagged group holding a stream with events, and a
/// group with a retention policy.
fn populated(store: &Store) -> Logs {
    let l = Logs::open(store, "000000000000").unwrap();
    l.create_log_group(
        R,
        CreateLogGroupRequest {
            log_group_name: Some("g".into()),
            tags: Some([("a".to_string(), "1".to_string())].into()),
            ..Default::default()
        },
    )
    .unwrap();
    stream(&l, "g", "s");
    let now = now_ms();
    put(&l, "g", "s", &[(now - 2, "one"), (now - 1, "two")]).unwrap();
    group(&l, "r");
    l.put_retention_policy(
        R,
        PutRetentionPolicyRequest {
            log_group_name: Some("r".into()),
            retention_in_days: Some(7),
        },
    )
    .unwrap();
    l
}

const ARN: &str = "arn:aws:logs:us-east-1:000000000000:log-group:g";

fn tags_of(l: &Logs) -> BTreeMap<String, String> {
    l.list_tags_for_resource(
        R,
        ResourceArnRequest {
            resource_arn: Some(ARN.into()),
        },
    )
    .unwrap()
    .tags
}

type Call = fn(&Logs) -> Result<(), LogsError>;

/// Every mutating operation, and what the log drivers inside the emulator
/// call.
const MUTATIONS: [(&str, Call); 16] = [
    ("create_log_group", |l| {
        l.create_log_group(
            R,
            CreateLogGroupRequest {
                log_group_name: Some("new".into()),
                tags: Some([("k".to_string(), "v".to_string())].into()),
                ..Default::default()
            },
        )
        .map(drop)
    }),
    ("delete_log_group", |l| {
        l.delete_log_group(
            R,
            LogGroupNameRequest {
                log_group_name: Some("g".into()),
            },
        )
        .map(drop)
    }),
    ("put_retention_policy", |l| {
        l.put_retention_policy(
            R,
            PutRetentionPolicyRequest {
                log_group_name: Some("g".into()),
                retention_in_days: Some(30),
            },
        )
        .map(drop)
    }),
    ("delete_retention_policy", |l| {
        l.delete_retention_policy(
            R,
            LogGroupNameRequest {
                log_group_name: Some("r".into()),
            },
        )
        .map(drop)
    }),
    ("tag_resource", |l| {
        l.tag_resource(
            R,
            TagResourceRequest {
                resource_arn: Some(ARN.into()),
                tags: Some([("b".to_string(), "2".to_string())].into()),
            },
        )
        .map(drop)
    }),
    ("untag_resource", |l| {
        l.untag_resource(
            R,
            UntagResourceRequest {
                resource_arn: Some(ARN.into()),
                tag_keys: Some(vec!["a".into()]),
            },
        )
        .map(drop)
    }),
    ("tag_log_group", |l| {
        l.tag_log_group(
            R,
            TagLogGroupRequest {
                log_group_name: Some("g".into()),
                tags: Some([("a".to_string(), "changed".to_string())].into()),
            },
        )
        .map(drop)
    }),
    ("untag_log_group", |l| {
        l.untag_log_group(
            R,
            UntagLogGroupRequest {
                log_group_name: Some("g".into()),
                tags: Some(vec!["a".into()]),
            },
        )
        .map(drop)
    }),
    ("create_log_stream", |l| {
        l.create_log_stream(
            R,
            LogStreamRequest {
                log_group_name: Some("g".into()),
                log_stream_name: Some("s2".into()),
            },
        )
        .map(drop)
    }),
    ("delete_log_stream", |l| {
        l.delete_log_stream(
            R,
            LogStreamRequest {
                log_group_name: Some("g".into()),
                log_stream_name: Some("s".into()),
            },
        )
        .map(drop)
    }),
    ("put_log_events", |l| {
        put(l, "g", "s", &[(now_ms(), "three")]).map(drop)
    }),
    ("ensure_group (driver)", |l| {
        l.ensure_group(R, "driver", true)
    }),
    ("ensure_stream (driver)", |l| {
        l.ensure_stream(R, "g", "driver")
    }),
    ("append (driver)", |l| {
        l.append(R, "g", "s", vec![(now_ms(), "four".into())])
    }),
    ("retention", |l| {
        // Events older than the retention the group has; the write
        // switch reaches the deletion too.
        l.inner
            .db
            .write(|tx| Ok(db::expire(tx, now_ms() + 8 * DAY_MS)?))
            .map(drop)
    }),
    ("reset", |l| l.reset()),
];

/// An error answer changes nothing: with the store's writes failing, every
/// mutating operation answers ServiceUnavailableException and leaves every
/// row as it was, though its statements ran before the commit was refused
/// (so an operation that wrote outside its transaction would show here);
/// with writes working each changes something, so no case is vacuous. In
/// memory and durable alike.
#[test]
fn an_error_changes_nothing() {
    for durable in [false, true] {
        for (name, call) in MUTATIONS {
            let dir = std::env::temp_dir().join(format!("fl-logs-{}", uuid::Uuid::new_v4()));
            let store = if durable {
                Store::open(&dir, false).unwrap()
            } else {
                Store::in_memory()
            };
            let l = populated(&store);
            if name == "retention" {
                // Something for the retention to delete.
                l.put_retention_policy(
                    R,
                    PutRetentionPolicyRequest {
                        log_group_name: Some("g".into()),
                        retention_in_days: Some(1),
                    },
                )
                .unwrap();
            }
            let before = dump(&l);
            store.fail_writes(true);
            let e = call(&l).unwrap_err();
            assert_eq!(
                (e.code(), e.status()),
                ("ServiceUnavailableException", 500),
                "{name}"
            );
            assert_eq!(dump(&l), before, "{name} (durable: {durable}) changed rows");
            store.fail_writes(false);
            call(&l).unwrap();
            assert_ne!(dump(&l), before, "{name} changes nothing");
            drop((l, store));
            if durable {
                std::fs::remove_dir_all(dir).unwrap();
            }
        }
    }
}

/// The issue's example: 45 tags, then 10 more, is refused whole, and the
/// group still has its 45; refusals found inside the transaction (a
/// deletion-protected group, a stream that exists) change nothing either.
#[test]
fn refusals_change_nothing() {
    let store = Store::in_memory();
    let l = populated(&store);
    let many = |prefix: &str, n: usize| -> BTreeMap<String, String> {
        (0..n)
            .map(|i| (format!("{prefix}{i}"), "v".into()))
            .collect()
    };
    l.tag_resource(
        R,
        TagResourceRequest {
            resource_arn: Some(ARN.into()),
            tags: Some(many("k", 44)),
        },
    )
    .unwrap();
    assert_eq!(tags_of(&l).len(), 45);
    let before = dump(&l);
    let e = l
        .tag_resource(
            R,
            TagResourceRequest {
                resource_arn: Some(ARN.into()),
                tags: Some(many("more", 10)),
            },
        )
        .unwrap_err();
    assert_eq!(
        (e.code(), e.to_string().as_str()),
        (
            "TooManyTagsException",
            "A resource can have no more than 50 tags."
        )
    );
    assert_eq!(tags_of(&l).len(), 45);
    let bad = l.tag_log_group(
        R,
        TagLogGroupRequest {
            log_group_name: Some("g".into()),
            tags: Some([("ok".to_string(), "bad#value".to_string())].into()),
        },
    );
    assert_eq!(code(bad), "InvalidParameterException");
    let dup = l.create_log_stream(
        R,
        LogStreamRequest {
            log_group_name: Some("g".into()),
            log_stream_name: Some("s".into()),
        },
    );
    assert_eq!(code(dup), "ResourceAlreadyExistsException");
    assert_eq!(dump(&l), before);

    l.create_log_group(
        R,
        CreateLogGroupRequest {
            log_group_name: Some("kept".into()),
            deletion_protection_enabled: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    let before = dump(&l);
    let protected = l.delete_log_group(
        R,
        LogGroupNameRequest {
            log_group_name: Some("kept".into()),
        },
    );
    assert_eq!(code(protected), "InvalidParameterException");
    let tagged_too_many = l.create_log_group(
        R,
        CreateLogGroupRequest {
            log_group_name: Some("crowded".into()),
            tags: Some(many("t", 51)),
            ..Default::default()
        },
    );
    assert_eq!(code(tagged_too_many), "TooManyTagsException");
    assert_eq!(dump(&l), before);
}

/// The describe operations page with the kit's tokens to the end; a token
/// the emulator did not issue and a limit out of range are refused in
/// CloudWatch Logs' words.
#[test]
fn describe_pages_and_limits() {
    let l = logs();
    for i in 0..7 {
        group(&l, &format!("/p/{i}"));
        stream(&l, "/p/0", &format!("s{i}"));
    }
    let groups = |token: Option<String>, limit: Option<i64>| {
        l.describe_log_groups(
            R,
            DescribeLogGroupsRequest {
                next_token: token,
                limit,
                ..Default::default()
            },
        )
    };
    let streams = |token: Option<String>, limit: Option<i64>| {
        l.describe_log_streams(
            R,
            DescribeLogStreamsRequest {
                log_group_name: Some("/p/0".into()),
                next_token: token,
                limit,
                ..Default::default()
            },
        )
    };
    let (mut seen, mut token) = (0, None);
    loop {
        let page = groups(token, Some(3)).unwrap();
        seen += page.log_groups.len();
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, 7);
    let (mut seen, mut token) = (0, None);
    loop {
        let page = streams(token, Some(2)).unwrap();
        seen += page.log_streams.len();
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, 7);
    // (token, limit, message)
    let cases = [
        (
            Some("offset:3"),
            None,
            "The specified nextToken is invalid.",
        ),
        (
            None,
            Some(0),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            None,
            Some(51),
            "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50",
        ),
    ];
    for (token, limit, message) in cases {
        for e in [
            groups(token.map(str::to_string), limit).unwrap_err(),
            streams(token.map(str::to_string), limit).unwrap_err(),
        ] {
            assert_eq!(
                (e.code(), e.to_string().as_str()),
                ("InvalidParameterException", message)
            );
        }
    }
}

/// Log group ARNs name this account's and region's groups, with or
/// without `:*`; anything else is not found, or not a logs ARN at all.
#[test]
fn group_arns() {
    let l = logs();
    group(&l, "/ecs/web");
    let cases = [
        (
            "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web",
            Ok(()),
        ),
        (
            "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*",
            Ok(()),
        ),
        (
            "arn:aws:logs:eu-west-1:000000000000:log-group:/ecs/web",
            Err("ResourceNotFoundException"),
        ),
        (
            "arn:aws:logs:us-east-1:111111111111:log-group:/ecs/web",
            Err("ResourceNotFoundException"),
        ),
        (
            "arn:aws:logs:us-east-1:000000000000:destination:/ecs/web",
            Err("ResourceNotFoundException"),
        ),
        (
            "arn:aws:logs:us-east-1:000000000000:log-group:",
            Err("ResourceNotFoundException"),
        ),
        ("arn:aws:s3:::bucket/key", Err("InvalidParameterException")),
        ("/ecs/web", Err("InvalidParameterException")),
    ];
    for (arn, want) in cases {
        let got = l.list_tags_for_resource(
            R,
            ResourceArnRequest {
                resource_arn: Some(arn.into()),
            },
        );
        assert_eq!(got.map(drop).map_err(|e| e.code()), want, "{arn}");
        let by_identifier = l.describe_log_streams(
            R,
            DescribeLogStreamsRequest {
                log_group_identifier: Some(arn.into()),
                ..Default::default()
            },
        );
        // As an identifier, a name is a name.
        let want = if arn.starts_with("arn:") {
            want.map_err(|_| "ResourceNotFoundException")
        } else {
            Ok(())
        };
        assert_eq!(by_identifier.map(drop).map_err(|e| e.code()), want, "{arn}");
    }
}

#[test]
fn put_log_events_refuses_negative_timestamps_and_extreme_spans() {
    let l = logs();
    group(&l, "g");
    stream(&l, "g", "s");
    // (events, the error's message, or None when accepted)
    type Case<'a> = (&'a [(i64, &'a str)], Option<&'a str>);
    let cases: [Case; 4] = [
        (
            &[(-1, "a")],
            Some(
                "1 validation error detected: Value '-1' at 'logEvents.1.member.timestamp' failed to satisfy constraint: Member must have value greater than or equal to 0",
            ),
        ),
        (
            &[(i64::MIN, "a"), (i64::MAX, "b")],
            Some(
                "1 validation error detected: Value '-9223372036854775808' at 'logEvents.1.member.timestamp' failed to satisfy constraint: Member must have value greater than or equal to 0",
            ),
        ),
        // Subtracting these overflowed before (a panic in a debug build).
        (
            &[(0, "a"), (i64::MAX, "b")],
            Some(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ),
        ),
        (&[(1, "a"), (2, "b")], None),
    ];
    for (events, want) in cases {
        let got = put(&l, "g", "s", events);
        assert_eq!(
            got.as_ref().err().map(|e| e.to_string()),
            want.map(str::to_string),
            "{events:?}"
        );
        if want.is_some() {
            assert_eq!(code(got), "InvalidParameterException");
        }
    }
}
