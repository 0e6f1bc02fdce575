//! Hostile input for the router: a table of config values and records that
//! used to panic (each must now give a Fluent Bit-style error or a sane
//! value), and a seeded fuzz of the three places outside input reaches: the
//! config parser and planner, the output constructors and renderers, and
//! the forward decoder with the pipeline behind it. No fuzzing crate: a
//! small deterministic generator mutates a corpus of valid inputs, so a
//! failure names the seed and the input that broke, and reruns the same.
//! `FIRELENS_FUZZ_SEED` and `FIRELENS_FUZZ_CASES` widen a run by hand.
//! Left out: the sockets and the HTTP outputs (their IO is not pure).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rmpv::Value;

use super::config::{self, ConfigError, Section, Source};
use super::engine::{Plan, plan_sections};
use super::forward::{self, Decoder, Message, encode};
use super::outputs::cloudwatch::{self, CloudWatchGo, CloudWatchLogs};
use super::outputs::s3::{Firehose, S3};
use super::outputs::{self, DateFormat, File, Item, Stdout};
use super::record::{Event, EventTime, msgpack_print, record_json, str_value};

// ------------------------------------------------------------------ helpers

/// Files in memory; the built-in aws-for-fluent-bit files as a fallback.
struct Mem(HashMap<String, String>);

impl Source for Mem {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        path.to_str()
            .and_then(|p| self.0.get(p).cloned())
            .or_else(|| config::builtin_file(path).map(str::to_string))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        let Ok(pat) = glob::Pattern::new(pattern) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = self
            .0
            .keys()
            .filter(|k| pat.matches(k))
            .map(PathBuf::from)
            .collect();
        v.sort();
        v
    }
}

const MAIN: &str = "/etc/fluent-bit.conf";

/// Parses and plans `text` as the main config, with `files` beside it.
fn plan_in(text: &str, files: &[(&str, &str)]) -> Result<Plan, ConfigError> {
    let src = Mem(files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect());
    let mut vars = HashMap::new();
    let mut warnings = Vec::new();
    let sections = config::load_str(&src, text, Path::new(MAIN), &mut vars, &mut warnings)?;
    plan_sections(&src, sections, &[], vars, warnings)
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

const HEAD: &str = "[INPUT]\n    Name forward\n    unix_path /tmp/x.sock\n";

// ------------------------------------------------------------------ the table

/// Values that panicked (or, for the last ones, hung) before: each is a
/// config error now, in Fluent Bit's `[scope] message` shape.
#[test]
fn numbers_and_formats_from_the_config_are_errors_not_panics() {
    let nines = "9".repeat(400);
    let s3 = |kv: &str| format!("{HEAD}[OUTPUT]\n    Name s3\n    Match *\n    bucket b\n{kv}");
    let cases: Vec<(String, &str)> = vec![
        // Duration::from_secs_f64 panicked on all three.
        (
            format!("[SERVICE]\n    Flush 99999999999999999999\n{HEAD}"),
            "[service] invalid Flush '99999999999999999999'",
        ),
        (
            format!("[SERVICE]\n    Flush {nines}\n{HEAD}"),
            "[service] invalid Flush",
        ),
        (
            format!("[SERVICE]\n    Grace 99999999999999999999d\n{HEAD}"),
            "[service] invalid Grace",
        ),
        // Fits a Duration but overflowed the flush timer's Instant.
        (
            format!("[SERVICE]\n    Flush 18446744073709551615\n{HEAD}"),
            "[service] invalid Flush",
        ),
        (
            format!("[SERVICE]\n    Flush 2147483648\n{HEAD}"),
            "[service] invalid Flush",
        ),
        (
            s3("    upload_timeout 99999999999999999999m\n"),
            "[output:s3:s3.0] invalid upload_timeout",
        ),
        // Sizes past 64 bits saturated to u64::MAX.
        (
            format!("[INPUT]\n    Name forward\n    Mem_Buf_Limit {nines}\n"),
            "[input:forward:forward.0] invalid Mem_Buf_Limit",
        ),
        (
            "[INPUT]\n    Name forward\n    buffer_max_size 99999999999999999999G\n".to_string(),
            "[input:forward:forward.0] invalid buffer_max_size",
        ),
        (
            s3("    total_file_size 18446744073709551616\n"),
            "[output:s3:s3.0] invalid total_file_size",
        ),
        // chrono's format().to_string() panicked at the first upload.
        (
            s3("    s3_key_format /logs/%Q/$TAG\n"),
            "[output:s3:s3.0] invalid s3_key_format '/logs/%Q/$TAG'",
        ),
        (
            format!(
                "{HEAD}[OUTPUT]\n    Name kinesis_firehose\n    Match *\n    region us-east-1\n    delivery_stream d\n    time_key t\n    time_key_format %Y %Q\n"
            ),
            "[output:kinesis_firehose:kinesis_firehose.0] invalid time_key_format",
        ),
        // Already clean; kept so they stay so.
        (
            format!("{HEAD}[OUTPUT]\n    Name null\n    Match *\n    Retry_Limit 99999999999\n"),
            "[output:null:null.0] invalid Retry_Limit",
        ),
        (
            format!(
                "{HEAD}[FILTER]\n    Name multiline\n    Match *\n    multiline.parser go\n    flush_ms {nines}\n"
            ),
            "[filter:multiline:multiline.0] invalid flush_ms",
        ),
        (
            format!(
                "{HEAD}[OUTPUT]\n    Name cloudwatch_logs\n    Match *\n    region r\n    log_group_name g\n    log_stream_name s\n    log_retention_days 99999999999999999999\n"
            ),
            "invalid log_retention_days",
        ),
        (
            format!(
                "{HEAD}[OUTPUT]\n    Name s3\n    Match *\n    bucket b\n    endpoint h\n    port 65536\n"
            ),
            "[output:s3:s3.0] invalid port '65536'",
        ),
    ];
    for (text, want) in cases {
        let got = catch_unwind(|| plan_in(&text, &[]));
        match got {
            Ok(Err(e)) => assert!(e.0.contains(want), "{text}\nwant {want}\ngot  {}", e.0),
            Ok(Ok(_)) => panic!("accepted:\n{text}"),
            Err(_) => panic!("panicked:\n{text}"),
        }
    }
}

/// A file including another twice, which includes a third twice, and so
/// on: read 2^depth times before, refused at the second include now.
#[test]
fn a_file_is_included_once() {
    let mut files: Vec<(String, String)> = Vec::new();
    for i in 0..30 {
        files.push((
            format!("/etc/inc{i}.conf"),
            format!("@INCLUDE inc{}.conf\n@INCLUDE inc{}.conf\n", i + 1, i + 1),
        ));
    }
    files.push(("/etc/inc30.conf".into(), HEAD.into()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let started = Instant::now();
    let e = plan_in("@INCLUDE inc0.conf\n", &refs)
        .err()
        .expect("refused");
    assert!(e.0.contains("/etc/inc30.conf is included twice"), "{}", e.0);
    assert!(started.elapsed().as_secs() < 2);
    // The main file including itself, and a file including the main one.
    for (main, files) in [
        ("@INCLUDE /etc/fluent-bit.conf\n", vec![]),
        (
            "@INCLUDE a.conf\n",
            vec![("/etc/a.conf", "@INCLUDE /etc/fluent-bit.conf\n")],
        ),
    ] {
        let e = plan_in(main, &files).err().expect("refused");
        assert!(
            e.0.contains("/etc/fluent-bit.conf is included twice"),
            "{}",
            e.0
        );
    }
    // The same built-in twice (a common copy-paste) is refused as Fluent Bit does.
    let twice = "@INCLUDE /fluent-bit/configs/minimize-log-loss.conf\n@INCLUDE /fluent-bit/configs/minimize-log-loss.conf\n";
    assert!(plan_in(&format!("{twice}{HEAD}"), &[]).is_err());
    assert!(
        plan_in(
            &format!("@INCLUDE /fluent-bit/configs/minimize-log-loss.conf\n{HEAD}"),
            &[]
        )
        .is_ok()
    );
}

/// Record values that panicked downstream of the decoder: event times far
/// from now (overflowing milliseconds) and tags with `%` in an S3 key.
#[test]
fn records_with_extreme_times_and_odd_tags_render() {
    for sec in [i64::MAX, i64::MIN, -1] {
        let t = EventTime {
            sec,
            nsec: 999_999_999,
        };
        let ms = t.millis();
        assert!(sec.signum() == ms.signum() || ms == 0, "{sec}: {ms}");
        for f in [
            DateFormat::Double,
            DateFormat::Epoch,
            DateFormat::Iso8601,
            DateFormat::JavaSqlTimestamp,
        ] {
            assert!(!f.render(t).is_empty());
        }
    }
    // A forward client's integer time is any i64.
    let bytes = encode::message(
        "t",
        Value::from(i64::MAX),
        encode::record(&[("log", "x")]),
        Value::Nil,
    );
    let mut d = Decoder::new(1 << 20);
    d.push(&bytes);
    let (v, _) = d.next_value().unwrap().unwrap();
    let Message::Events { events, .. } = forward::decode_message(v).unwrap() else {
        panic!("events")
    };
    assert_eq!(events[0].time.millis(), i64::MAX);
    // Oldest first: the batch must split at the 24-hour rule, not overflow.
    assert_eq!(cloudwatch::batch_len_of(&[(1, i64::MIN), (1, i64::MAX)]), 1);
    assert_eq!(cloudwatch::batch_len_of(&[(1, -5), (1, 5)]), 2);

    let o = S3::new(&section(&[("bucket", "b")]), "o").unwrap();
    let t = chrono::DateTime::from_timestamp(1_796_083_200, 0).unwrap();
    let k = o.key("app%Q.w%eb", t, 0).unwrap();
    assert!(
        k.starts_with("fluent-bit-logs/app%Q.w%eb/2026/12/01/00/00/00-object"),
        "{k}"
    );
    let o = S3::new(
        &section(&[
            ("bucket", "b"),
            ("s3_key_format", "/%Y/$TAG[1]/$TAG[0]-%%-$INDEX"),
        ]),
        "o",
    )
    .unwrap();
    assert_eq!(o.key("a%.b%", t, 0).unwrap(), "2026/b%/a%-%-0");
}

/// CompressedPackedForward inflating past the limit is refused, as Fluent
/// Bit refuses more than 100 MB (tested with a smaller limit).
#[test]
fn a_gzip_bomb_is_refused() {
    use std::io::Write;
    let entry = encode::to_bytes(&Value::Array(vec![
        Value::from(1),
        encode::record(&[("log", &"x".repeat(5000))]),
    ]));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&entry).unwrap();
    let gz = e.finish().unwrap();
    assert!(gz.len() < 200);
    assert_eq!(forward::gunzip(&gz, entry.len()).unwrap(), entry);
    let Err(err) = forward::gunzip(&gz, entry.len() - 1) else {
        panic!("more than the limit is refused");
    };
    assert!(
        err.to_string().contains("maximum decompression size"),
        "{err}"
    );
    // The message path uses the same function with Fluent Bit's limit.
    let msg = encode::to_bytes(&Value::Array(vec![
        Value::from("t"),
        Value::Binary(gz),
        Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]),
    ]));
    let mut d = Decoder::new(1 << 20);
    d.push(&msg);
    let (v, _) = d.next_value().unwrap().unwrap();
    assert!(matches!(
        forward::decode_message(v),
        Ok(Message::Events { ref events, .. }) if events.len() == 1
    ));
}

// ------------------------------------------------------------------ the fuzz

/// SplitMix64: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `case` for every case of the run and fails with the inputs whose
/// case panicked. A case writes what it is about to try into its `String`
/// first, so the input is known even when the case panics half-way.
fn fuzz(name: &str, default_cases: u64, case: impl Fn(&mut Rng, &mut String)) {
    let seed = env_u64("FIRELENS_FUZZ_SEED", 0x5eed_f1e1);
    let cases = env_u64("FIRELENS_FUZZ_CASES", default_cases);
    let mut failures = Vec::new();
    for i in 0..cases {
        // One generator per case: a failing case reruns on its own.
        let mut rng = Rng(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut input = String::new();
        let r = catch_unwind(AssertUnwindSafe(|| case(&mut rng, &mut input)));
        if let Err(p) = r {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("case {i}: {msg}\n{input}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {cases} cases panicked (seed {seed:#x}); the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
}

/// Values that are wrong in every way a config can be wrong.
fn nasty(rng: &mut Rng) -> String {
    const NASTY: &[&str] = &[
        "99999999999999999999",
        "18446744073709551616",
        "4294967296",
        "2147483648",
        "-1",
        "0",
        "0.0000001",
        "1e400",
        ".",
        "1.5.5",
        "10x",
        "99999999999999999999ms",
        "99999999999999999999d",
        "99999999999999999999G",
        "%Q",
        "%",
        "%%",
        "%Y/%m/%-",
        "$TAG[99999999999999999999]",
        "$TAG[",
        "$TAG[-1]",
        "$",
        "$1",
        "$9",
        "$(",
        "$(tag[99999999999999999999])",
        "$(ecs_task_id)",
        "$a['b'][99999999999999999999]",
        "$a[",
        "${X",
        "${X:-",
        "${FLUENT_HOST}",
        "[",
        "]",
        "é",
        "日本語",
        "\u{1F600}",
        "a\u{0}b",
        "(",
        "/(/",
        "/x/Q",
        "(?<n>a)",
        "\\",
        "*",
        "**",
        "no_limits",
        "False",
        "on",
        "gzip",
        "json",
        "regex",
        "endswith",
        "equal",
        "nest",
        "lift",
        "partial_message",
        "\"start_state\" \"/(/\" \"x\"",
        "\"start_state\" \"/a/\" \"cont\"",
        "start_state, cont /x/ cont",
        "$log ^(a)(b)?$ new.$TAG[7].$1.$9 false",
        "$log['a'][0] (x) $TAG true",
        "$log (",
        "log ^a",
        "key_exists $log",
        "key_value_matches $a (",
        "key_value_equals $a",
        "bogus_condition x",
        "a b",
        "a:integer b:float c:bool d:nope",
        "%d/%b/%Y:%H:%M:%S %z",
        "%Y-%m-%dT%H:%M:%S.%L",
        "%s%Q",
        "/logs/%Y/$TAG[0]/$TAG[1]/$INDEX/$UUID",
        "http://h:99999",
        "https://x",
        "127.0.0.1",
        "us-east-1",
        "/g",
        "log",
        "docker,cri,go,python,java,ruby",
        "nope",
    ];
    match rng.below(10) {
        0 => "9".repeat(1 + rng.below(400)),
        1 => {
            // A run of random characters, some of them multi-byte.
            let chars = [
                'a', '%', '$', '[', ']', '(', ')', '{', '}', 'é', '日', ' ', '\\', '"', '*', '.',
                '0', '9',
            ];
            (0..1 + rng.below(12)).map(|_| *rng.pick(&chars)).collect()
        }
        _ => rng.pick(NASTY).to_string(),
    }
}

const KEYS: &[&str] = &[
    "Flush",
    "Grace",
    "Parsers_File",
    "Name",
    "Match",
    "Match_Regex",
    "Tag",
    "Mem_Buf_Limit",
    "buffer_max_size",
    "Port",
    "Listen",
    "unix_path",
    "Format",
    "Separator",
    "Retry_Limit",
    "Regex",
    "Exclude",
    "Logical_Op",
    "Rule",
    "Key_Name",
    "Parser",
    "Reserve_Data",
    "Preserve_Key",
    "multiline.parser",
    "multiline.key_content",
    "mode",
    "flush_ms",
    "buffer",
    "Set",
    "Add",
    "Remove",
    "Remove_wildcard",
    "Remove_regex",
    "Rename",
    "Hard_rename",
    "Copy",
    "Hard_copy",
    "Move_to_start",
    "Move_to_end",
    "Condition",
    "Record",
    "Remove_key",
    "Allowlist_key",
    "UUID_key",
    "Operation",
    "Wildcard",
    "Nest_under",
    "Nested_under",
    "Add_prefix",
    "Remove_prefix",
    "region",
    "log_group_name",
    "log_stream_name",
    "log_stream_prefix",
    "log_group_template",
    "log_stream_template",
    "log_key",
    "log_retention_days",
    "auto_create_group",
    "auto_create_stream",
    "endpoint",
    "bucket",
    "total_file_size",
    "upload_timeout",
    "s3_key_format",
    "s3_key_format_tag_delimiters",
    "compression",
    "json_date_key",
    "json_date_format",
    "delivery_stream",
    "time_key",
    "time_key_format",
    "Time_Format",
    "Time_Key",
    "Types",
    "Time_Keep",
    "Type",
    "Flush_Timeout",
    "Match_String",
    "Negate",
    "Key_Content",
    "default_log_group_name",
    "recursion_action",
];

const PLUGINS: &[&str] = &[
    "forward",
    "tcp",
    "grep",
    "rewrite_tag",
    "parser",
    "multiline",
    "modify",
    "record_modifier",
    "nest",
    "cloudwatch_logs",
    "cloudwatch",
    "s3",
    "kinesis_firehose",
    "firehose",
    "stdout",
    "file",
    "null",
    "http",
    "lua",
    "bogus",
];

/// Valid configs the fuzz starts from: what FireLens generates, and the
/// shapes of user configs in the examples and tests.
const CORPUS: &[&str] = &[
    "[SERVICE]\n    Flush 1\n    Grace 30\n    Parsers_File /fluent-bit/parsers/parsers.conf\n\n[INPUT]\n    Name forward\n    Mem_Buf_Limit 25MB\n    unix_path /var/run/fluent.sock\n\n[INPUT]\n    Name forward\n    Listen 127.0.0.1\n    Port 24224\n\n[INPUT]\n    Name tcp\n    Tag firelens-healthcheck\n    Listen 127.0.0.1\n    Port 8877\n\n[FILTER]\n    Name record_modifier\n    Match *\n    Record ecs_cluster c1\n    Record ecs_task_arn arn:aws:ecs:us-east-1:1:task/c1/abc\n\n[FILTER]\n    Name grep\n    Match app-firelens*\n    Regex log ^(?:a|b)\n\n[OUTPUT]\n    Name null\n    Match firelens-healthcheck\n\n[OUTPUT]\n    Name cloudwatch_logs\n    Match app-firelens*\n    region us-east-1\n    log_group_name /ecs/app\n    log_stream_prefix web/\n    auto_create_group true\n    log_retention_days 7\n",
    "@SET r=us-east-1\n[INPUT]\n    Name forward\n    unix_path /var/run/fluent.sock\n@INCLUDE /fluent-bit/configs/parse-json.conf\n[FILTER]\n    Name multiline\n    Match *\n    multiline.key_content log\n    multiline.parser go, java, python\n    flush_ms 500\n[FILTER]\n    Name rewrite_tag\n    Match app*\n    Rule $log ^ERROR errors.$TAG false\n[FILTER]\n    Name modify\n    Match *\n    Condition Key_exists log\n    Rename log message\n    Set env dev\n[OUTPUT]\n    Name cloudwatch\n    Match *\n    region ${r}\n    log_group_name /ecs/$(ecs_cluster)\n    log_stream_name $(tag[0])/$(ecs_task_id)\n    log_key log\n[OUTPUT]\n    Name s3\n    Match errors.*\n    bucket logs\n    total_file_size 1M\n    upload_timeout 1m\n    s3_key_format /$TAG[1]/%Y/%m/%d/$UUID.gz\n    compression gzip\n",
    "[SERVICE]\n    Parsers_File /fluent-bit/parsers/parsers.conf\n    Parsers_File /etc/parsers.conf\n[INPUT]\n    Name forward\n[FILTER]\n    Name parser\n    Match *\n    Key_Name log\n    Parser apache\n    Parser json\n    Reserve_Data On\n[FILTER]\n    Name nest\n    Match *\n    Operation lift\n    Nested_under kubernetes\n    Add_prefix k8s_\n[FILTER]\n    Name multiline\n    Match *\n    mode partial_message\n[FILTER]\n    Name multiline\n    Match *\n    multiline.parser ml, docker\n[FILTER]\n    Name parser\n    Match *\n    Key_Name log\n    Parser custom\n[OUTPUT]\n    Name kinesis_firehose\n    Match *\n    region us-east-1\n    delivery_stream my_stream\n    time_key ts\n    time_key_format %Y-%m-%dT%H:%M:%S.%L\n[OUTPUT]\n    Name stdout\n    Match *\n    Format json_lines\n    json_date_format iso8601\n[OUTPUT]\n    Name file\n    Match nothing\n    Path /tmp\n    Format csv\n",
];

/// A parsers file the corpus's `Parsers_File` lines may name.
const PARSERS: &str = "[PARSER]\n    Name custom\n    Format regex\n    Regex ^(?<time>[^ ]+) (?<msg>.*)$\n    Time_Key time\n    Time_Format %Y-%m-%dT%H:%M:%S%z\n    Types msg:string\n\n[MULTILINE_PARSER]\n    Name ml\n    Type regex\n    Flush_Timeout 1000\n    Rule \"start_state\" \"/^\\d/\" \"cont\"\n    Rule \"cont\" \"/^\\s/\" \"cont\"\n";

fn mutate_config(rng: &mut Rng) -> String {
    let mut lines: Vec<String> = rng.pick(CORPUS).lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(lines.len());
        let is_entry = lines[i].starts_with(' ') && lines[i].trim().contains(' ');
        match rng.below(9) {
            // A value replaced.
            0..=2 if is_entry => {
                let key = lines[i]
                    .split_whitespace()
                    .next()
                    .unwrap_or("Name")
                    .to_string();
                lines[i] = format!("    {key} {}", nasty(rng));
            }
            // A key replaced, or a new entry.
            3 if is_entry => {
                let value = lines[i]
                    .trim()
                    .split_once(' ')
                    .map_or("x", |(_, v)| v)
                    .to_string();
                lines[i] = format!("    {} {value}", rng.pick(KEYS));
            }
            3 | 4 => {
                let line = if rng.chance(30) {
                    format!("    Name {}", rng.pick(PLUGINS))
                } else {
                    format!("    {} {}", rng.pick(KEYS), nasty(rng))
                };
                lines.insert(i.max(1), line);
            }
            5 => {
                lines.remove(i);
                if lines.is_empty() {
                    lines.push("[INPUT]".into());
                }
            }
            6 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            7 => {
                let header = *rng.pick(&[
                    "[SERVICE]",
                    "[INPUT]",
                    "[FILTER]",
                    "[OUTPUT]",
                    "[PARSER]",
                    "[MULTILINE_PARSER]",
                    "[BOGUS]",
                    "[INPUT",
                    "[]",
                    "@INCLUDE inc.conf",
                    "@INCLUDE *.conf",
                    "@INCLUDE /etc/fluent-bit.conf",
                    "@SET a=${a}",
                    "@SET novalue",
                    "\t    Name x",
                ]);
                lines.insert(i, header.to_string());
            }
            // Characters inserted anywhere in a line.
            _ => {
                let l = &lines[i];
                let at = l.floor_char_boundary(rng.below(l.len() + 1));
                let mut l = l.clone();
                l.insert_str(at, &nasty(rng));
                lines[i] = l;
            }
        }
    }
    lines.join("\n")
}

/// Records shaped as the forward input and the filters can make them:
/// nested, binary, odd numbers, lines the built-in parsers take.
fn odd_event(rng: &mut Rng) -> Event {
    const LOGS: &[&str] = &[
        "{\"a\":1,\"b\":[1,{\"c\":null}],\"time\":\"01/Dec/2026:00:00:00 +0000\"}",
        "127.0.0.1 - - [01/Dec/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"curl\"",
        "panic: boom",
        "goroutine 1 [running]:",
        "Traceback (most recent call last):",
        "  File \"x.py\", line 1",
        "java.lang.Error: x",
        "\tat a.b(C.java:1)",
        "ERROR something",
        "2026-12-01T00:00:00+0000 message",
        "",
        "%Q $TAG[0] ${X}",
        "é日本語\u{1F600}",
    ];
    let mut body = vec![("log".to_string(), str_value(*rng.pick(LOGS)))];
    for _ in 0..rng.below(4) {
        let k = rng
            .pick(&[
                "kubernetes",
                "a",
                "partial_message",
                "partial_id",
                "partial_last",
                "source",
                "ecs_task_arn",
                "é",
            ])
            .to_string();
        let v = match rng.below(9) {
            0 => Value::Map(vec![(
                Value::from("a"),
                Value::Array(vec![Value::from(u64::MAX), Value::F64(f64::NAN)]),
            )]),
            1 => Value::Binary(vec![0xff, 0xfe, b'%']),
            2 => Value::from(i64::MIN),
            3 => Value::F64(f64::INFINITY),
            4 => Value::Ext(0, vec![1, 2, 3]),
            5 => Value::Map(vec![(Value::from(1), Value::Nil)]),
            6 => str_value("true"),
            _ => str_value(nasty(rng)),
        };
        body.push((k, v));
    }
    let sec = *rng.pick(&[0, 1_796_083_200, -1, i64::MAX, i64::MIN]);
    let nsec = *rng.pick(&[0, 999_999_999, u32::MAX]);
    Event::new(EventTime { sec, nsec }, body)
}

/// Every pure rendering an output does to an event.
fn render_all(tag: &str, ev: &Event) {
    let _ = ev.time.millis();
    let _ = ev.time.as_f64();
    let _ = record_json(&ev.body);
    let _ = outputs::msgpack_line(0, tag, ev);
    for f in [
        DateFormat::Double,
        DateFormat::Epoch,
        DateFormat::Iso8601,
        DateFormat::JavaSqlTimestamp,
    ] {
        let _ = outputs::json_line(ev, Some("date"), f);
    }
    let _ = cloudwatch::message(ev, None);
    let mut out = String::new();
    msgpack_print(&super::record::body_value(&ev.body), &mut out);
}

/// The corpus is valid: the fuzz starts from configs that run.
#[test]
fn the_fuzz_corpus_plans() {
    for text in CORPUS {
        if let Err(e) = plan_in(text, &[("/etc/parsers.conf", PARSERS)]) {
            panic!("{}\n{text}", e.0);
        }
    }
}

#[test]
fn fuzz_config_parser_and_planner() {
    fuzz("config", 2500, |rng, input| {
        let text = mutate_config(rng);
        input.push_str(&text);
        let files = [("/etc/inc.conf", HEAD), ("/etc/parsers.conf", PARSERS)];
        if let Ok(mut plan) = plan_in(&text, &files) {
            // What the plan accepted must also run: records through the
            // filters, multiline groups flushed, every rendering.
            let mut routed = Vec::new();
            let now = Instant::now();
            for _ in 0..3 {
                let tag = rng.pick(&["app-firelens-0123", "errors.app", "x", "", "%Q.é"]);
                let events = (0..1 + rng.below(3)).map(|_| odd_event(rng)).collect();
                let _ = plan.pipeline.process(tag, events, now, &mut routed);
            }
            let _ = plan.pipeline.tick(now, true, &mut routed);
            for r in &routed {
                for ev in &r.events {
                    render_all(&r.tag, ev);
                }
            }
        }
    });
}

#[test]
fn fuzz_output_settings_and_rendering() {
    fuzz("outputs", 2500, |rng, input| {
        let mut pairs: Vec<(String, String)> = vec![
            ("region".into(), "us-east-1".into()),
            ("bucket".into(), "b".into()),
            ("delivery_stream".into(), "d".into()),
            ("log_group_name".into(), "/g".into()),
            ("log_stream_prefix".into(), "p/".into()),
        ];
        for _ in 0..1 + rng.below(5) {
            let k = rng.pick(KEYS).to_ascii_lowercase();
            if rng.chance(50) {
                pairs.retain(|(x, _)| *x != k);
            }
            pairs.push((k, nasty(rng)));
        }
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let s = section(&refs);
        let tag = rng
            .pick(&["a.b.c", "", "%Q", "$TAG[0]", "é.日", "a..b", "."])
            .to_string();
        let ev = odd_event(rng);
        *input = format!("tag {tag:?}\n{pairs:?}\n{ev:?}");
        let t = chrono::DateTime::from_timestamp(
            rng.pick(&[0i64, 1_796_083_200, -62_000_000_000, 250_000_000_000])
                .to_owned(),
            0,
        )
        .unwrap_or_default();
        if let Ok(o) = CloudWatchLogs::new(&s, "o") {
            let _ = o.names(&tag, &ev);
            let _ = o.message(&ev);
        }
        if let Ok(o) = CloudWatchGo::new(&s, "o") {
            let _ = o.names(&tag, &ev);
        }
        if let Ok(o) = S3::new(&s, "o") {
            let _ = o.key(&tag, t, u64::MAX);
        }
        if let Ok(o) = Firehose::new(&s, "o") {
            let _ = o.record(&ev);
            let _ = o.key(t);
        }
        if let Ok(o) = File::new(&s, "o") {
            let _ = o.line(&tag, &ev);
        }
        if let Ok(o) = Stdout::new(&s, "o") {
            let item = Item {
                tag: tag.as_str().into(),
                event: ev.clone(),
                charge: None,
            };
            let _ = o.render(&[item]);
        }
    });
}

/// Valid forward traffic (every mode) to mutate.
fn forward_corpus() -> Vec<Vec<u8>> {
    use std::io::Write;
    let t = encode::event_time(1_796_083_200, 5);
    let entry = |l: &str| Value::Array(vec![t.clone(), encode::record(&[("log", l)])]);
    let mut packed = encode::to_bytes(&entry("p1"));
    packed.extend(encode::to_bytes(&entry("p2")));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&packed).unwrap();
    let gz = gz.finish().unwrap();
    let opt = |k: &str, v: &str| Value::Map(vec![(Value::from(k), Value::from(v))]);
    vec![
        encode::message(
            "app-firelens-1",
            t.clone(),
            encode::record(&[("log", "m"), ("source", "stdout")]),
            Value::Map(vec![]),
        ),
        encode::message(
            "t",
            Value::from(5),
            encode::record(&[("log", "{\"a\":1}")]),
            opt("chunk", "abc=="),
        ),
        encode::message(
            "t",
            Value::F64(1.5e300),
            encode::record(&[
                ("partial_message", "true"),
                ("partial_id", "1"),
                ("log", "a"),
            ]),
            Value::Nil,
        ),
        encode::to_bytes(&Value::Array(vec![
            Value::from("t"),
            Value::Array(vec![entry("f1"), entry("f2")]),
        ])),
        encode::to_bytes(&Value::Array(vec![Value::from("t"), Value::Binary(packed)])),
        encode::to_bytes(&Value::Array(vec![
            Value::from("t"),
            Value::Binary(gz),
            opt("compressed", "gzip"),
        ])),
        vec![0xc0],
    ]
}

#[test]
fn fuzz_forward_decoder_and_pipeline() {
    let corpus = forward_corpus();
    let rich = CORPUS[1].to_string() + "\n" + CORPUS[2];
    let pipeline = std::sync::Mutex::new(
        plan_in(&rich, &[("/etc/parsers.conf", PARSERS)])
            .expect("the rich config plans")
            .pipeline,
    );
    fuzz("forward", 3000, |rng, input| {
        let mut bytes = Vec::new();
        for _ in 0..1 + rng.below(3) {
            bytes.extend(rng.pick(&corpus));
        }
        for _ in 0..rng.below(6) {
            let i = rng.below(bytes.len());
            match rng.below(6) {
                0 => bytes[i] ^= 1 << rng.below(8),
                1 => {
                    bytes[i] = *rng.pick(&[
                        0x00, 0x7f, 0x80, 0x90, 0xc1, 0xcb, 0xd3, 0xdb, 0xdd, 0xdf, 0xff,
                    ])
                }
                2 => bytes.insert(i, rng.next() as u8),
                3 => {
                    bytes.remove(i);
                }
                4 => bytes.truncate(i),
                _ => bytes.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
            }
            if bytes.is_empty() {
                bytes.push(0x92);
            }
        }
        *input = hex::encode(&bytes);
        let mut d = Decoder::new(4096);
        let split = 1 + rng.below(bytes.len());
        let mut pipeline = pipeline.lock().unwrap_or_else(|p| p.into_inner());
        'feed: for piece in bytes.chunks(split) {
            d.push(piece);
            loop {
                match d.next_value() {
                    Ok(Some((v, _))) => {
                        if let Ok(Message::Events { tag, events, chunk }) =
                            forward::decode_message(v)
                        {
                            if let Some(c) = chunk {
                                let _ = forward::ack(&c);
                            }
                            let sizes: Vec<(usize, i64)> = events
                                .iter()
                                .map(|e| (e.approx_size(), e.time.millis()))
                                .collect();
                            let _ = cloudwatch::batch_len_of(&sizes);
                            let mut routed = Vec::new();
                            let _ = pipeline.process(&tag, events, Instant::now(), &mut routed);
                            for r in &routed {
                                for ev in &r.events {
                                    render_all(&r.tag, ev);
                                }
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    });
}
