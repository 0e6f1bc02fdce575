//! Routing tables: the config text, the records sent in, what each output
//! receives.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rmpv::Value;

use super::*;
use crate::firelens::config;
use crate::firelens::engine::{Plan, plan_sections};
use crate::firelens::record::{EventTime, record_json, str_value};

const ID: &str = "0123456789abcdef0123456789abcdef";

fn plan(text: &str) -> Result<Plan, String> {
    let mut vars = HashMap::new();
    let mut warnings = Vec::new();
    let sections = config::load_str(
        &config::Fs,
        text,
        Path::new("/t/fluent-bit.conf"),
        &mut vars,
        &mut warnings,
    )
    .map_err(|e| e.0)?;
    plan_sections(&config::Fs, sections, &[], vars, warnings).map_err(|e| e.0)
}

fn ev(pairs: &[(&str, &str)]) -> Event {
    Event::new(
        EventTime { sec: 1, nsec: 0 },
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), str_value(*v)))
            .collect(),
    )
}

/// (output index, tag, record JSON) of everything routed.
fn run(p: &mut Pipeline, tag: &str, events: Vec<Event>) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    p.process(tag, events, Instant::now(), &mut out)
        .expect("no recursion");
    flat(out)
}

fn flat(out: Vec<Routed>) -> Vec<(usize, String, String)> {
    out.into_iter()
        .flat_map(|r| {
            r.events
                .into_iter()
                .map(move |e| (r.output, r.tag.to_string(), record_json(&e.body)))
        })
        .collect()
}

const HEAD: &str = "[INPUT]\n    Name forward\n    unix_path /tmp/x.sock\n\n";

fn firelens_generated(extra: &str) -> String {
    format!(
        "{HEAD}[FILTER]\n    Name record_modifier\n    Match *\n    Record ecs_cluster c1\n    Record ecs_task_arn arn:t\n    Record ecs_task_definition app:7\n\n{extra}"
    )
}

const RAILS: &str = r#"
[FILTER]
    Name                  multiline
    Match_Regex           ^[A-Za-z0-9_-]+-firelens-[0-9a-f]+$
    multiline.key_content log
    mode                  partial_message

[FILTER]
    Name         rewrite_tag
    Match_Regex  ^[A-Za-z0-9_-]+-firelens-[0-9a-f]+$
    Rule         $log  ELB-HealthChecker              health.$TAG  false
    Rule         $log  (ReceiveMessage|Polling\sfor)  queue.$TAG   false

[FILTER]
    Name         rewrite_tag
    Match_Regex  ^worker-firelens-
    Rule         $source  ^std(out|err)$  worker.$TAG  false

[FILTER]
    Name         rewrite_tag
    Match_Regex  ^web-firelens-
    Rule         $source  ^std(out|err)$  app.$TAG  false

[FILTER]
    Name         parser
    Match_Regex  ^(app|worker)\.
    Key_Name     log
    Parser       json
    Reserve_Data On

[OUTPUT]
    Name              null
    Match             app.*

[OUTPUT]
    Name              null
    Match             worker.*

[OUTPUT]
    Name              null
    Match             health.*

[OUTPUT]
    Name              null
    Match_Regex       ^queue\.

[OUTPUT]
    Name              null
    Match             web-firelens*
"#;

fn rails() -> Pipeline {
    let text = firelens_generated(RAILS);
    let mut vars = HashMap::new();
    let mut w = Vec::new();
    let sections = config::load_str(
        &config::Fs,
        &text,
        Path::new("/t/a.conf"),
        &mut vars,
        &mut w,
    )
    .unwrap();
    // The parsers file of the image (built in).
    plan_sections(
        &config::Fs,
        sections,
        &[std::path::PathBuf::from("/fluent-bit/parsers/parsers.conf")],
        vars,
        w,
    )
    .unwrap()
    .pipeline
}

const ECS: &str = r#""ecs_cluster":"c1","ecs_task_arn":"arn:t","ecs_task_definition":"app:7""#;

#[test]
fn a45_ordinary_web_line_is_moved_and_gets_ecs_keys_twice() {
    let mut p = rails();
    let web = format!("web-firelens-{ID}");
    let got = run(
        &mut p,
        &web,
        vec![ev(&[
            ("container_id", "c"),
            ("source", "stdout"),
            ("log", r#"{"method":"GET","status":200}"#),
        ])],
    );
    assert_eq!(
        got,
        vec![(
            0,
            format!("app.{web}"),
            format!(
                r#"{{"method":"GET","status":200,"container_id":"c","source":"stdout",{ECS},{ECS}}}"#
            )
        )]
    );
}

#[test]
fn a45_classes_health_queue_worker_and_plain_text() {
    let mut p = rails();
    let web = format!("web-firelens-{ID}");
    let worker = format!("worker-firelens-{ID}");
    let got = run(
        &mut p,
        &web,
        vec![ev(&[
            ("source", "stdout"),
            ("log", "GET / ELB-HealthChecker/2.0"),
        ])],
    );
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].0, got[0].1.as_str()),
        (2, format!("health.{web}").as_str())
    );
    let got = run(
        &mut p,
        &worker,
        vec![ev(&[("source", "stderr"), ("log", "Polling for messages")])],
    );
    assert_eq!((got[0].0, got[0].1.clone()), (3, format!("queue.{worker}")));
    let got = run(
        &mut p,
        &worker,
        vec![ev(&[("source", "stderr"), ("log", "plain text, not JSON")])],
    );
    assert_eq!(
        got,
        vec![(
            1,
            format!("worker.{worker}"),
            format!(r#"{{"source":"stderr","log":"plain text, not JSON",{ECS},{ECS}}}"#)
        )]
    );
    // A record without `source` is moved by no rule: it stays under the
    // Docker tag and only the generated-style output takes it.
    let got = run(&mut p, &web, vec![ev(&[("log", "x")])]);
    assert_eq!(
        got,
        vec![(4, web.clone(), format!(r#"{{"log":"x",{ECS}}}"#))]
    );
}

#[test]
fn a45_split_long_line_is_joined_and_gets_ecs_keys_three_times() {
    let mut p = rails();
    let web = format!("web-firelens-{ID}");
    let piece = |log: &str, ord: &str, last: &str| {
        ev(&[
            ("source", "stdout"),
            ("log", log),
            ("partial_message", "true"),
            ("partial_id", "p1"),
            ("partial_ordinal", ord),
            ("partial_last", last),
        ])
    };
    assert!(run(&mut p, &web, vec![piece("aaa", "1", "false")]).is_empty());
    assert!(run(&mut p, &web, vec![piece("bbb", "2", "false")]).is_empty());
    let got = run(&mut p, &web, vec![piece("ccc", "3", "true")]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, format!("app.{web}"));
    assert!(got[0].2.contains(r#""log":"aaabbbccc""#), "{}", got[0].2);
    assert_eq!(
        got[0].2.matches("\"ecs_cluster\"").count(),
        3,
        "{}",
        got[0].2
    );
}

#[test]
fn rewrite_tag_matching_its_own_output_is_a_cycle() {
    let mut p = plan(&format!(
        "{HEAD}[FILTER]\n    Name rewrite_tag\n    Match *-firelens-*\n    Rule $log .* app.$TAG false\n[OUTPUT]\n    Name null\n    Match *\n"
    ))
    .unwrap()
    .pipeline;
    let mut out = Vec::new();
    let err = p
        .process(
            &format!("web-firelens-{ID}"),
            vec![ev(&[("log", "x")])],
            Instant::now(),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(err.filter, "rewrite_tag.0");
    assert!(err.to_string().contains("emitter cycle detected"), "{err}");
}

#[test]
fn rewrite_tag_keep_captures_and_fanout() {
    let mut p = plan(&format!(
        "{HEAD}[FILTER]\n    Name rewrite_tag\n    Match app\n    Rule $k['sub'] ^(\\w+)-(\\d+)$ new.$TAG.$1.$TAG[0].$2.$other true\n\
         [OUTPUT]\n    Name null\n    Match *\n[OUTPUT]\n    Name null\n    Match new.*\n"
    ))
    .unwrap()
    .pipeline;
    let mut e = ev(&[("other", "o")]);
    e.body.push((
        "k".into(),
        Value::Map(vec![(str_value("sub"), str_value("ab-12"))]),
    ));
    let got = run(&mut p, "app", vec![e, ev(&[("other", "untouched")])]);
    let tags: Vec<(usize, &str)> = got.iter().map(|(o, t, _)| (*o, t.as_str())).collect();
    assert_eq!(
        tags,
        vec![
            (0, "app"),
            (0, "app"),
            (0, "new.app.ab.app.12.o"),
            (1, "new.app.ab.app.12.o")
        ]
    );
}

#[test]
fn unmatched_records_are_dropped_and_outputs_fan_out() {
    let mut p = plan(&format!(
        "{HEAD}[OUTPUT]\n    Name null\n    Match a*\n[OUTPUT]\n    Name null\n    Match_Regex ^ab\n[OUTPUT]\n    Name null\n    Match zzz\n"
    ))
    .unwrap()
    .pipeline;
    let got = run(&mut p, "abc", vec![ev(&[("log", "1")])]);
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 1]);
    assert!(run(&mut p, "xyz", vec![ev(&[("log", "1")])]).is_empty());
}

fn grep_keeps(rules: &str, e: Event) -> bool {
    let mut p = plan(&format!(
        "{HEAD}[FILTER]\n    Name grep\n    Match *\n{rules}[OUTPUT]\n    Name null\n    Match *\n"
    ))
    .unwrap()
    .pipeline;
    !run(&mut p, "t", vec![e]).is_empty()
}

#[test]
fn grep_table() {
    let r = |s: &str| format!("    {s}\n");
    for (rules, rec, want) in [
        (r("Regex log ^a"), vec![("log", "abc")], true),
        (r("Regex log ^a"), vec![("log", "xbc")], false),
        (r("Regex log ^a"), vec![("other", "abc")], false),
        (r("Exclude log ^a"), vec![("log", "abc")], false),
        (r("Exclude log ^a"), vec![("other", "abc")], true),
        // legacy: a matching Regex keeps at once, later rules unseen
        (
            r("Regex log a") + &r("Exclude log b"),
            vec![("log", "ab")],
            true,
        ),
        (
            r("Exclude log b") + &r("Regex log a"),
            vec![("log", "ab")],
            false,
        ),
        // legacy: the first failing Regex drops
        (
            r("Regex log x") + &r("Regex log a"),
            vec![("log", "ab")],
            false,
        ),
        // regex with spaces after the key
        (
            r("Regex log hello world$"),
            vec![("log", "say hello world")],
            true,
        ),
        (r("Regex $k['s'] ^v$"), vec![], false),
        (
            r("Logical_Op and") + &r("Regex a 1") + &r("Regex b 2"),
            vec![("a", "1"), ("b", "2")],
            true,
        ),
        (
            r("Logical_Op and") + &r("Regex a 1") + &r("Regex b 2"),
            vec![("a", "1"), ("b", "x")],
            false,
        ),
        (
            r("Logical_Op or") + &r("Regex a 1") + &r("Regex b 2"),
            vec![("a", "x"), ("b", "2")],
            true,
        ),
        (
            r("Logical_Op or") + &r("Exclude a 1") + &r("Exclude b 2"),
            vec![("a", "x"), ("b", "2")],
            false,
        ),
        (
            r("Logical_Op and") + &r("Exclude a 1") + &r("Exclude b 2"),
            vec![("a", "x"), ("b", "2")],
            true,
        ),
    ] {
        assert_eq!(grep_keeps(&rules, ev(&rec)), want, "{rules} {rec:?}");
    }
}

#[test]
fn config_errors_name_the_plugin() {
    for (body, want) in [
        (
            "[FILTER]\n    Name grep\n    Match *\n    Regex log (\n",
            "[filter:grep:grep.0] invalid regex",
        ),
        (
            "[FILTER]\n    Name grep\n    Match *\n    Regex log\n",
            "[filter:grep:grep.0] invalid regex, expected field",
        ),
        (
            "[FILTER]\n    Name grep\n    Match *\n    Logical_Op and\n    Regex a 1\n    Exclude b 2\n",
            "cannot be mixed",
        ),
        (
            "[FILTER]\n    Name nope\n    Match *\n",
            "plugin name that doesn't exist: nope",
        ),
        (
            "[OUTPUT]\n    Name nope\n    Match *\n",
            "plugin name that doesn't exist: nope",
        ),
        (
            "[FILTER]\n    Name rewrite_tag\n    Match *\n    Rule $a b c\n",
            "expected 4 fields",
        ),
        ("[FILTER]\n    Name rewrite_tag\n    Match *\n", "no rules"),
        (
            "[FILTER]\n    Name parser\n    Match *\n    Key_Name log\n    Parser nope\n",
            "requested parser 'nope' not found",
        ),
        (
            "[FILTER]\n    Name multiline\n    Match *\n    multiline.parser nope\n",
            "multiline parser 'nope' not found",
        ),
        (
            "[FILTER]\n    Name record_modifier\n    Match *\n    Record onlykey\n",
            "expects 'KEY VALUE'",
        ),
        (
            "[FILTER]\n    Name modify\n    Match *\n    Rename a\n",
            "needs two arguments",
        ),
        (
            "[FILTER]\n    Name nest\n    Match *\n    Operation lift\n",
            "Nested_under",
        ),
        ("[FOO]\n    Name x\n", "invalid section [FOO]"),
        ("[SERVICE]\n    Flush abc\n", "invalid Flush"),
        (
            "[INPUT]\n    Name tail\n",
            "plugin name that doesn't exist: tail",
        ),
    ] {
        let err = plan(&format!("{HEAD}{body}"))
            .err()
            .unwrap_or_else(|| panic!("no error for {body}"));
        assert!(err.contains(want), "{body}: {err}");
    }
    assert!(
        plan("[OUTPUT]\n    Name null\n    Match *\n")
            .err()
            .unwrap()
            .contains("no inputs")
    );
}

#[test]
fn warnings_for_harmless_unsupported_things() {
    let p = plan(&format!(
        "{HEAD}[SERVICE]\n    HTTP_Server On\n[FILTER]\n    Name throttle\n    Match *\n[OUTPUT]\n    Name es\n    Match *\n"
    ))
    .unwrap();
    let w = p.warnings.join("\n");
    assert!(w.contains("'http_server' is accepted"), "{w}");
    assert!(w.contains("filter 'throttle' is not supported"), "{w}");
    assert!(w.contains("output 'es' is not supported"), "{w}");
}

fn one(filter: &str, e: Event) -> Vec<String> {
    let mut p = plan(&format!(
        "{HEAD}[FILTER]\n    Match *\n{filter}[OUTPUT]\n    Name null\n    Match *\n"
    ))
    .unwrap()
    .pipeline;
    run(&mut p, "t", vec![e]).into_iter().map(|x| x.2).collect()
}

#[test]
fn modify_table() {
    let base = || ev(&[("a", "1"), ("b", "2"), ("x_1", "3")]);
    for (filter, want) in [
        (
            "    Name modify\n    Set a 9\n    Set c 8\n",
            r#"{"a":"9","b":"2","x_1":"3","c":"8"}"#,
        ),
        (
            "    Name modify\n    Add a 9\n    Add c 8\n",
            r#"{"a":"1","b":"2","x_1":"3","c":"8"}"#,
        ),
        (
            "    Name modify\n    Remove b\n    Remove_wildcard x_*\n",
            r#"{"a":"1"}"#,
        ),
        (
            "    Name modify\n    Remove_regex ^[ab]$\n",
            r#"{"x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Rename a b\n",
            r#"{"a":"1","b":"2","x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Rename a z\n",
            r#"{"z":"1","b":"2","x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Hard_rename a b\n",
            r#"{"b":"1","x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Copy a b\n    Copy a c\n",
            r#"{"a":"1","b":"2","x_1":"3","c":"1"}"#,
        ),
        (
            "    Name modify\n    Hard_copy a b\n",
            r#"{"a":"1","b":"1","x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Move_to_start x_*\n",
            r#"{"x_1":"3","a":"1","b":"2"}"#,
        ),
        (
            "    Name modify\n    Move_to_end a\n",
            r#"{"b":"2","x_1":"3","a":"1"}"#,
        ),
        (
            "    Name modify\n    Condition Key_exists nope\n    Set a 9\n",
            r#"{"a":"1","b":"2","x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Condition Key_does_not_exist nope\n    Set a 9\n",
            r#"{"a":"9","b":"2","x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Condition Key_value_matches b ^\\d$\n    Remove a\n",
            r#"{"b":"2","x_1":"3"}"#,
        ),
        (
            "    Name modify\n    Condition Key_value_equals b 3\n    Remove a\n",
            r#"{"a":"1","b":"2","x_1":"3"}"#,
        ),
        (
            "    Name record_modifier\n    Record a 1\n    Record a 2 two\n",
            r#"{"a":"1","b":"2","x_1":"3","a":"1","a":"2 two"}"#,
        ),
        (
            "    Name record_modifier\n    Remove_key A\n    Remove_key x_1\n",
            r#"{"b":"2"}"#,
        ),
        (
            "    Name record_modifier\n    Allowlist_key b\n    Record n v\n",
            r#"{"b":"2","n":"v"}"#,
        ),
        (
            "    Name record_modifier\n    Whitelist_key B\n",
            r#"{"b":"2"}"#,
        ),
        (
            "    Name nest\n    Operation nest\n    Wildcard x_*\n    Wildcard a\n    Nest_under n\n    Remove_prefix x_\n",
            r#"{"b":"2","n":{"a":"1","1":"3"}}"#,
        ),
    ] {
        assert_eq!(one(filter, base()), vec![want.to_string()], "{filter}");
    }
    let mut e = ev(&[("k", "v")]);
    e.body.push((
        "m".into(),
        Value::Map(vec![
            (str_value("a"), str_value("1")),
            (str_value("b"), str_value("2")),
        ]),
    ));
    assert_eq!(
        one(
            "    Name nest\n    Operation lift\n    Nested_under m\n    Add_prefix m.\n",
            e
        ),
        vec![r#"{"k":"v","m.a":"1","m.b":"2"}"#.to_string()]
    );
}

#[test]
fn parser_filter_table() {
    let f = |extra: &str| format!("    Name parser\n    Key_Name log\n    Parser json\n{extra}");
    let e = || ev(&[("a", "1"), ("log", r#"{"p":2}"#)]);
    for (extra, want) in [
        ("", r#"{"p":2}"#),
        ("    Reserve_Data On\n", r#"{"p":2,"a":"1"}"#),
        ("    Preserve_Key On\n", r#"{"p":2,"log":"{\"p\":2}"}"#),
        (
            "    Reserve_Data On\n    Preserve_Key On\n",
            r#"{"p":2,"a":"1","log":"{\"p\":2}"}"#,
        ),
    ] {
        assert_eq!(
            one_with_parsers(&f(extra), e()),
            vec![want.to_string()],
            "{extra}"
        );
    }
    // no parser matches: unchanged
    assert_eq!(
        one_with_parsers(&f(""), ev(&[("log", "text")])),
        vec![r#"{"log":"text"}"#.to_string()]
    );
}

fn one_with_parsers(filter: &str, e: Event) -> Vec<String> {
    let text = format!(
        "[SERVICE]\n    Parsers_File /fluent-bit/parsers/parsers.conf\n{HEAD}[FILTER]\n    Match *\n{filter}[OUTPUT]\n    Name null\n    Match *\n"
    );
    let mut p = plan(&text).unwrap().pipeline;
    run(&mut p, "t", vec![e]).into_iter().map(|x| x.2).collect()
}

#[test]
fn multiline_parser_mode_state_machine_and_timeout() {
    let dir = std::env::temp_dir().join(format!("fl-ml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let parsers = dir.join("parsers.conf");
    std::fs::write(
        &parsers,
        "[MULTILINE_PARSER]\n    Name multiline-rails\n    Type regex\n    Flush_Timeout 1000\n    Rule \"start_state\" \"/^[IWEF], \\[\\d{4}-\\d\\d-\\d\\dT/\" \"cont\"\n    Rule \"cont\" \"/^(?![IWEF], \\[)/\" \"cont\"\n",
    )
    .unwrap();
    let text = format!(
        "[SERVICE]\n    Parsers_File {}\n{HEAD}[FILTER]\n    Name multiline\n    Match *\n    multiline.key_content log\n    multiline.parser multiline-rails, ruby\n[FILTER]\n    Name record_modifier\n    Match *\n    Record seen 1\n[OUTPUT]\n    Name null\n    Match *\n",
        parsers.display()
    );
    let mut p = plan(&text).unwrap().pipeline;
    let t0 = Instant::now();
    let mut out = Vec::new();
    let lines = [
        "I, [2026-12-01T00:00:00 #1]  INFO -- : Started GET",
        "  Parameters: {}",
        "  Completed 200",
        "E, [2026-12-01T00:00:01 #1] ERROR -- : boom",
    ];
    for l in lines {
        p.process("web", vec![ev(&[("log", l)])], t0, &mut out)
            .unwrap();
    }
    let got = flat(std::mem::take(&mut out));
    // The second start line flushed the first group.
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].2.starts_with(r#"{"log":"I, [2026-12-01T00:00:00 #1]  INFO -- : Started GET\n  Parameters: {}\n  Completed 200","seen":"1"}"#),
        "{}",
        got[0].2
    );
    // Not yet due, then due after Flush_Timeout.
    p.tick(t0 + Duration::from_millis(500), false, &mut out)
        .unwrap();
    assert!(out.is_empty());
    p.tick(t0 + Duration::from_millis(1100), false, &mut out)
        .unwrap();
    let got = flat(std::mem::take(&mut out));
    assert_eq!(got.len(), 1);
    assert!(got[0].2.contains("boom"));
    // A ruby backtrace through the built-in parser; a line no rule starts
    // passes on its own.
    for l in [
        "app.rb:3:in `x': boom (RuntimeError)",
        "\tfrom app.rb:7:in `<main>'",
        "plain",
    ] {
        p.process("w2", vec![ev(&[("log", l)])], t0, &mut out)
            .unwrap();
    }
    p.tick(t0, true, &mut out).unwrap();
    let got: Vec<String> = flat(out).into_iter().map(|x| x.2).collect();
    assert_eq!(
        got,
        vec![
            r#"{"log":"app.rb:3:in `x': boom (RuntimeError)\n\tfrom app.rb:7:in `<main>'","seen":"1"}"#.to_string(),
            r#"{"log":"plain","seen":"1"}"#.to_string(),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
