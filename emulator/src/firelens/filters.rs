//! The filters (A4.3): grep, rewrite_tag, parser, multiline, modify,
//! record_modifier, nest. Each is pure: records in, records out, plus the
//! records it re-emits under a tag (which the pipeline sends back to the
//! top of the chain). Only multiline keeps state, and it is driven by the
//! clock the pipeline passes in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmpv::Value;

use super::config::{ConfigError, Section};
use super::parsers::{MlKind, MlParser, Parser, Parsers};
use super::record::{Accessor, Event, str_value, value_str, value_text};
use super::regex::Regex;

/// Records re-emitted by a filter, with their new tag.
pub type Emitted = Vec<(String, Event)>;

/// Filters that change each record on its own (parser, modify,
/// record_modifier, nest): their `filter` is their `apply` over the records.
macro_rules! per_record_filter {
    ($($filter:ty),+ $(,)?) => {$(
        impl Filter for $filter {
            fn filter(
                &mut self,
                _tag: &str,
                mut events: Vec<Event>,
                _now: Instant,
                _emit: &mut Emitted,
            ) -> Vec<Event> {
                for ev in events.iter_mut() {
                    self.apply(ev);
                }
                events
            }
        }
    )+};
}

per_record_filter!(ParserFilter, Modify, RecordModifier, Nest);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    RewriteTag,
    Multiline,
    Other,
}

pub trait Filter: Send {
    /// Runs the filter over records of one tag; returns the records that
    /// go on under that tag and pushes re-emitted ones to `emit`.
    fn filter(
        &mut self,
        tag: &str,
        events: Vec<Event>,
        now: Instant,
        emit: &mut Emitted,
    ) -> Vec<Event>;

    /// Flushes buffered groups older than their timeout (all of them with
    /// `force`).
    fn tick(&mut self, _now: Instant, _force: bool, _emit: &mut Emitted) {}

    fn kind(&self) -> Kind {
        Kind::Other
    }
}

fn cfg_err<T>(scope: &str, msg: impl std::fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("[{scope}] {msg}")))
}

/// Builds the filter of a `[FILTER]` section; `scope` is `filter:grep:grep.0`.
pub fn build(
    name: &str,
    s: &Section,
    scope: &str,
    parsers: &Arc<Parsers>,
    warnings: &mut Vec<String>,
) -> Result<Box<dyn Filter>, ConfigError> {
    Ok(match name {
        "grep" => Box::new(Grep::new(s, scope)?),
        "rewrite_tag" => Box::new(RewriteTag::new(s, scope, warnings)?),
        "parser" => Box::new(ParserFilter::new(s, scope, parsers)?),
        "multiline" => Box::new(Multiline::new(s, scope, parsers)?),
        "modify" => Box::new(Modify::new(s, scope)?),
        "record_modifier" => Box::new(RecordModifier::new(s, scope)?),
        "nest" => Box::new(Nest::new(s, scope)?),
        _ => unreachable!("checked by the caller"),
    })
}

pub const SUPPORTED: &[&str] = &[
    "grep",
    "rewrite_tag",
    "parser",
    "multiline",
    "modify",
    "record_modifier",
    "nest",
];

/// Filters real Fluent Bit has that the router accepts and passes records
/// through unchanged, with a warning.
pub const PASSTHROUGH: &[&str] = &[
    "aws",
    "ecs",
    "kubernetes",
    "throttle",
    "lua",
    "expect",
    "stdout",
    "type_converter",
    "log_to_metrics",
    "sysinfo",
    "geoip2",
    "checklist",
    "alter_size",
    "tensorflow",
    "wasm",
    "nightfall",
];

pub struct Passthrough;

impl Filter for Passthrough {
    fn filter(
        &mut self,
        _tag: &str,
        events: Vec<Event>,
        _now: Instant,
        _emit: &mut Emitted,
    ) -> Vec<Event> {
        events
    }
}

// ------------------------------------------------------------------ grep

enum GrepOp {
    And,
    Or,
    Legacy,
}

struct GrepRule {
    exclude: bool,
    key: Accessor,
    re: Regex,
}

pub struct Grep {
    rules: Vec<GrepRule>,
    op: GrepOp,
}

impl Grep {
    fn new(s: &Section, scope: &str) -> Result<Grep, ConfigError> {
        let mut rules = Vec::new();
        for (k, v) in &s.entries {
            let exclude = match k.as_str() {
                "regex" => false,
                "exclude" => true,
                _ => continue,
            };
            let Some((key, re)) = v.split_once(char::is_whitespace) else {
                return cfg_err(
                    scope,
                    format!("invalid regex, expected field and regular expression: '{v}'"),
                );
            };
            let key = Accessor::parse(key).or_else(|e| cfg_err(scope, e))?;
            let re = Regex::new(re.trim()).or_else(|e| cfg_err(scope, e))?;
            rules.push(GrepRule { exclude, key, re });
        }
        let op = match s.get("logical_op").map(str::to_ascii_lowercase).as_deref() {
            None | Some("legacy") => GrepOp::Legacy,
            Some("and") => GrepOp::And,
            Some("or") => GrepOp::Or,
            Some(o) => return cfg_err(scope, format!("invalid Logical_Op '{o}'")),
        };
        if !matches!(op, GrepOp::Legacy)
            && rules.iter().any(|r| r.exclude)
            && rules.iter().any(|r| !r.exclude)
        {
            return cfg_err(
                scope,
                "Regex and Exclude cannot be mixed with Logical_Op AND/OR",
            );
        }
        Ok(Grep { rules, op })
    }

    fn hit(rule: &GrepRule, ev: &Event) -> bool {
        rule.key.get_str(ev).is_some_and(|s| rule.re.is_match(s))
    }

    pub fn keep(&self, ev: &Event) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        match self.op {
            GrepOp::Legacy => {
                for r in &self.rules {
                    let hit = Grep::hit(r, ev);
                    match (r.exclude, hit) {
                        (false, false) => return false,
                        (false, true) => return true,
                        (true, true) => return false,
                        (true, false) => {}
                    }
                }
                true
            }
            GrepOp::And | GrepOp::Or => {
                let exclude = self.rules[0].exclude;
                let mut hits = self.rules.iter().map(|r| Grep::hit(r, ev));
                let combined = if matches!(self.op, GrepOp::And) {
                    hits.all(|h| h)
                } else {
                    hits.any(|h| h)
                };
                combined != exclude
            }
        }
    }
}

impl Filter for Grep {
    fn filter(
        &mut self,
        _tag: &str,
        mut events: Vec<Event>,
        _now: Instant,
        _emit: &mut Emitted,
    ) -> Vec<Event> {
        events.retain(|e| self.keep(e));
        events
    }
}

// ------------------------------------------------------------------ rewrite_tag

/// A part of a tag template (rewrite_tag's new tag, cloudwatch_logs'
/// log_group_template).
#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Lit(String),
    Tag,
    TagPart(usize),
    Capture(usize),
    Key(Accessor),
}

pub fn parse_template(t: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = t;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (part, tail) = if let Some(tail) = after.strip_prefix("TAG") {
            if let Some(inner) = tail.strip_prefix('[') {
                let close = inner.find(']').ok_or("missing ']' after $TAG[")?;
                let n = inner[..close]
                    .parse()
                    .map_err(|_| format!("invalid $TAG[{}]", &inner[..close]))?;
                (TemplatePart::TagPart(n), &inner[close + 1..])
            } else {
                (TemplatePart::Tag, tail)
            }
        } else if let Some(d) = after.chars().next().filter(char::is_ascii_digit) {
            (
                TemplatePart::Capture(d as usize - '0' as usize),
                &after[1..],
            )
        } else if after.is_empty() {
            lit.push('$');
            rest = "";
            break;
        } else {
            let (acc, tail) = Accessor::parse_prefix(after)?;
            (TemplatePart::Key(acc), tail)
        };
        if !lit.is_empty() {
            parts.push(TemplatePart::Lit(std::mem::take(&mut lit)));
        }
        parts.push(part);
        rest = tail;
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(TemplatePart::Lit(lit));
    }
    Ok(parts)
}

/// Renders a template; None when a record key it names is missing.
pub fn render_template_strict(parts: &[TemplatePart], tag: &str, ev: &Event) -> Option<String> {
    for p in parts {
        if let TemplatePart::Key(a) = p
            && a.get(ev).is_none()
        {
            return None;
        }
    }
    Some(render_template(parts, tag, &[], ev))
}

fn render_template(
    parts: &[TemplatePart],
    tag: &str,
    caps: &[Option<String>],
    ev: &Event,
) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            TemplatePart::Lit(s) => out.push_str(s),
            TemplatePart::Tag => out.push_str(tag),
            TemplatePart::TagPart(n) => {
                if let Some(x) = tag.split('.').nth(*n) {
                    out.push_str(x);
                }
            }
            TemplatePart::Capture(n) => {
                if let Some(Some(x)) = caps.get(*n) {
                    out.push_str(x);
                }
            }
            TemplatePart::Key(a) => {
                if let Some(v) = a.get(ev) {
                    out.push_str(&value_text(v));
                }
            }
        }
    }
    out
}

struct RewriteRule {
    key: Accessor,
    re: Regex,
    tag: Vec<TemplatePart>,
    keep: bool,
}

pub struct RewriteTag {
    rules: Vec<RewriteRule>,
}

impl RewriteTag {
    fn new(
        s: &Section,
        scope: &str,
        warnings: &mut Vec<String>,
    ) -> Result<RewriteTag, ConfigError> {
        let mut rules = Vec::new();
        for r in s.get_all("rule") {
            let toks = super::parsers::quoted_tokens(r);
            if toks.len() != 4 {
                return cfg_err(
                    scope,
                    format!("invalid rule '{r}': expected 4 fields ($KEY REGEX NEW_TAG KEEP)"),
                );
            }
            if !toks[0].starts_with('$') {
                return cfg_err(
                    scope,
                    format!("invalid rule key '{}': it must start with '$'", toks[0]),
                );
            }
            let key = Accessor::parse(&toks[0]).or_else(|e| cfg_err(scope, e))?;
            let re = Regex::new(&toks[1]).or_else(|e| cfg_err(scope, e))?;
            let tag = parse_template(&toks[2]).or_else(|e| cfg_err(scope, e))?;
            let keep = match super::config::parse_bool(&toks[3]) {
                Some(b) => b,
                None => return cfg_err(scope, format!("invalid KEEP value '{}'", toks[3])),
            };
            rules.push(RewriteRule { key, re, tag, keep });
        }
        if rules.is_empty() {
            return cfg_err(scope, "no rules have been defined");
        }
        if let Some(a) = s.get("recursion_action")
            && !a.eq_ignore_ascii_case("exit")
        {
            warnings.push(format!(
                "[{scope}] recursion_action '{a}' is not supported; the router always exits on a cycle"
            ));
        }
        Ok(RewriteTag { rules })
    }
}

impl Filter for RewriteTag {
    fn filter(
        &mut self,
        tag: &str,
        events: Vec<Event>,
        _now: Instant,
        emit: &mut Emitted,
    ) -> Vec<Event> {
        let mut keep = Vec::with_capacity(events.len());
        for ev in events {
            let hit = self.rules.iter().find_map(|r| {
                let v = r.key.get_str(&ev)?;
                let caps = r.re.captures(v)?;
                Some((r, caps))
            });
            match hit {
                None => keep.push(ev),
                Some((r, caps)) => {
                    let new_tag = render_template(&r.tag, tag, &caps, &ev);
                    if r.keep {
                        emit.push((new_tag, ev.clone()));
                        keep.push(ev);
                    } else {
                        emit.push((new_tag, ev));
                    }
                }
            }
        }
        keep
    }

    fn kind(&self) -> Kind {
        Kind::RewriteTag
    }
}

// ------------------------------------------------------------------ parser

pub struct ParserFilter {
    key: String,
    parsers: Vec<String>,
    reserve: bool,
    preserve: bool,
    all: Arc<Parsers>,
}

impl ParserFilter {
    fn new(s: &Section, scope: &str, all: &Arc<Parsers>) -> Result<ParserFilter, ConfigError> {
        let Some(key) = s.get("key_name") else {
            return cfg_err(scope, "Key_Name is required");
        };
        let parsers: Vec<String> = s.get_all("parser").map(str::to_string).collect();
        if parsers.is_empty() {
            return cfg_err(scope, "no parser has been defined (Parser)");
        }
        for p in &parsers {
            if !all.parsers.contains_key(p) {
                return cfg_err(scope, format!("requested parser '{p}' not found"));
            }
        }
        Ok(ParserFilter {
            key: key.to_string(),
            parsers,
            reserve: s.bool("reserve_data", false)?,
            preserve: s.bool("preserve_key", false)?,
            all: all.clone(),
        })
    }

    fn apply(&self, ev: &mut Event) {
        let Some(text) = ev.get_str(&self.key) else {
            return;
        };
        let parsed = self
            .parsers
            .iter()
            .filter_map(|p| self.all.parsers.get(p))
            .find_map(|p: &Parser| p.parse(text));
        let Some((fields, time)) = parsed else {
            return;
        };
        let mut body = fields;
        if self.reserve || self.preserve {
            for (k, v) in &ev.body {
                if k == &self.key {
                    if self.preserve {
                        body.push((k.clone(), v.clone()));
                    }
                } else if self.reserve {
                    body.push((k.clone(), v.clone()));
                }
            }
        }
        ev.body = body;
        if let Some(t) = time {
            ev.time = t;
        }
    }
}

// ------------------------------------------------------------------ multiline

struct Group {
    first: Event,
    lines: Vec<String>,
    state: String,
    since: Instant,
    parser: usize,
}

struct Partial {
    first: Event,
    content: String,
    since: Instant,
}

enum MlMode {
    Partial,
    Parser(Vec<String>),
}

pub struct Multiline {
    mode: MlMode,
    key_content: String,
    flush: Duration,
    all: Arc<Parsers>,
    /// parser mode: the open group of each tag.
    groups: HashMap<String, Group>,
    /// partial_message mode: pieces by (tag, partial_id).
    partials: HashMap<(String, String), Partial>,
}

impl Multiline {
    fn new(s: &Section, scope: &str, all: &Arc<Parsers>) -> Result<Multiline, ConfigError> {
        let mode = match s.get("mode").map(str::to_ascii_lowercase).as_deref() {
            Some("partial_message") => {
                if s.get("multiline.parser").is_some() {
                    return cfg_err(
                        scope,
                        "mode partial_message cannot be combined with multiline.parser",
                    );
                }
                MlMode::Partial
            }
            None | Some("parser") => {
                let names: Vec<String> = s
                    .get_all("multiline.parser")
                    .flat_map(|v| v.split(','))
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect();
                if names.is_empty() {
                    return cfg_err(scope, "no multiline.parser has been set");
                }
                for n in &names {
                    if !all.multiline.contains_key(n) {
                        return cfg_err(scope, format!("multiline parser '{n}' not found"));
                    }
                }
                MlMode::Parser(names)
            }
            Some(m) => return cfg_err(scope, format!("invalid mode '{m}'")),
        };
        let flush_ms: u64 = match s.get("flush_ms") {
            Some(v) => v
                .parse()
                .or_else(|_| cfg_err(scope, format!("invalid flush_ms '{v}'")))?,
            None => 2000,
        };
        if let Some(b) = s.get("buffer")
            && super::config::parse_bool(b) == Some(false)
        {
            return cfg_err(
                scope,
                "buffer off is not supported with the forward input (as in Fluent Bit)",
            );
        }
        Ok(Multiline {
            mode,
            key_content: s.get("multiline.key_content").unwrap_or("log").to_string(),
            flush: Duration::from_millis(flush_ms),
            all: all.clone(),
            groups: HashMap::new(),
            partials: HashMap::new(),
        })
    }

    fn set_content(ev: &mut Event, key: &str, content: String) {
        match ev.body.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = str_value(content),
            None => ev.body.push((key.to_string(), str_value(content))),
        }
    }

    fn flush_group(&mut self, tag: &str, emit: &mut Emitted) {
        if let Some(g) = self.groups.remove(tag) {
            let mut ev = g.first;
            let key = self.parser_key(g.parser);
            Multiline::set_content(&mut ev, &key, g.lines.join("\n"));
            emit.push((tag.to_string(), ev));
        }
    }

    fn parser_key(&self, idx: usize) -> String {
        match &self.mode {
            MlMode::Parser(names) => self
                .all
                .multiline
                .get(&names[idx])
                .and_then(|p| p.key_content.clone())
                .filter(|_| self.key_content == "log")
                .unwrap_or_else(|| self.key_content.clone()),
            MlMode::Partial => self.key_content.clone(),
        }
    }

    fn parser_record(&mut self, tag: &str, ev: Event, now: Instant, emit: &mut Emitted) {
        let MlMode::Parser(names) = &self.mode else {
            return;
        };
        let names = names.clone();
        // Continue the open group?
        if let Some(g) = self.groups.get_mut(tag) {
            let p = &self.all.multiline[&names[g.parser]];
            let key = p.key_content.as_deref().unwrap_or(&self.key_content);
            let line = ev.get_str(key).unwrap_or("").to_string();
            if let Some(next) = continuation(p, &g.state, &line) {
                g.lines.push(line);
                g.state = next;
                if g.state == "__end__" {
                    self.flush_group(tag, emit);
                }
                return;
            }
            self.flush_group(tag, emit);
        }
        for (i, n) in names.iter().enumerate() {
            let p = &self.all.multiline[n];
            let key = p.key_content.as_deref().unwrap_or(&self.key_content);
            let Some(line) = ev.get_str(key).map(str::to_string) else {
                continue;
            };
            if let Some(state) = start(p, &line) {
                let done = state == "__end__";
                self.groups.insert(
                    tag.to_string(),
                    Group {
                        first: ev,
                        lines: vec![line],
                        state,
                        since: now,
                        parser: i,
                    },
                );
                if done {
                    self.flush_group(tag, emit);
                }
                return;
            }
        }
        // A line no rule starts: emitted on its own.
        emit.push((tag.to_string(), ev));
    }

    fn timeout(&self, g: &Group) -> Duration {
        match &self.mode {
            MlMode::Parser(names) => {
                let p = &self.all.multiline[&names[g.parser]];
                self.flush.min(Duration::from_millis(p.flush_timeout_ms))
            }
            MlMode::Partial => self.flush,
        }
    }
}

/// The state a line starts a group in, if any rule of start_state matches.
fn start(p: &MlParser, line: &str) -> Option<String> {
    match &p.kind {
        MlKind::Regex(rules) => rules
            .iter()
            .find(|r| r.from.iter().any(|f| f == "start_state") && r.re.is_match(line))
            .map(|r| r.to.clone()),
        MlKind::EndsWith { text, negate } => {
            let ends = line.ends_with(text.as_str());
            Some(if ends != *negate {
                "__end__".into()
            } else {
                "cont".into()
            })
        }
        MlKind::Equal { text, negate } => {
            let eq = line == text;
            Some(if eq != *negate {
                "__end__".into()
            } else {
                "cont".into()
            })
        }
    }
}

fn continuation(p: &MlParser, state: &str, line: &str) -> Option<String> {
    match &p.kind {
        MlKind::Regex(rules) => rules
            .iter()
            .find(|r| r.from.iter().any(|f| f == state) && r.re.is_match(line))
            .map(|r| r.to.clone()),
        MlKind::EndsWith { .. } | MlKind::Equal { .. } => start(p, line),
    }
}

impl Filter for Multiline {
    fn filter(
        &mut self,
        tag: &str,
        events: Vec<Event>,
        now: Instant,
        emit: &mut Emitted,
    ) -> Vec<Event> {
        match self.mode {
            MlMode::Partial => {
                let mut keep = Vec::new();
                for ev in events {
                    if ev.get_str("partial_message") != Some("true") {
                        keep.push(ev);
                        continue;
                    }
                    let id = ev.get_str("partial_id").unwrap_or("").to_string();
                    let last = ev.get_str("partial_last") == Some("true");
                    let piece = ev.get_str(&self.key_content).unwrap_or("").to_string();
                    let k = (tag.to_string(), id);
                    let entry = self.partials.entry(k.clone()).or_insert_with(|| Partial {
                        first: ev,
                        content: String::new(),
                        since: now,
                    });
                    entry.content.push_str(&piece);
                    if last && let Some(p) = self.partials.remove(&k) {
                        let mut joined = p.first;
                        Multiline::set_content(&mut joined, &self.key_content, p.content);
                        emit.push((tag.to_string(), joined));
                    }
                }
                keep
            }
            MlMode::Parser(_) => {
                for ev in events {
                    self.parser_record(tag, ev, now, emit);
                }
                Vec::new()
            }
        }
    }

    fn tick(&mut self, now: Instant, force: bool, emit: &mut Emitted) {
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| force || now.duration_since(g.since) >= self.timeout(g))
            .map(|(t, _)| t.clone())
            .collect();
        for t in due {
            self.flush_group(&t, emit);
        }
        let due: Vec<(String, String)> = self
            .partials
            .iter()
            .filter(|(_, p)| force || now.duration_since(p.since) >= self.flush)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            if let Some(p) = self.partials.remove(&k) {
                let mut joined = p.first;
                Multiline::set_content(&mut joined, &self.key_content, p.content);
                emit.push((k.0, joined));
            }
        }
    }

    fn kind(&self) -> Kind {
        Kind::Multiline
    }
}

// ------------------------------------------------------------------ modify

enum Cond {
    KeyExists(Accessor),
    KeyDoesNotExist(Accessor),
    AKeyMatches(Regex),
    NoKeyMatches(Regex),
    ValueEquals(Accessor, String),
    ValueNotEquals(Accessor, String),
    ValueMatches(Accessor, Regex),
    ValueNotMatches(Accessor, Regex),
}

impl Cond {
    fn holds(&self, ev: &Event) -> bool {
        match self {
            Cond::KeyExists(a) => a.get(ev).is_some(),
            Cond::KeyDoesNotExist(a) => a.get(ev).is_none(),
            Cond::AKeyMatches(r) => ev.body.iter().any(|(k, _)| r.is_match(k)),
            Cond::NoKeyMatches(r) => !ev.body.iter().any(|(k, _)| r.is_match(k)),
            Cond::ValueEquals(a, v) => a.get_str(ev) == Some(v.as_str()),
            Cond::ValueNotEquals(a, v) => a.get_str(ev).is_some_and(|x| x != v),
            Cond::ValueMatches(a, r) => a.get_str(ev).is_some_and(|x| r.is_match(x)),
            Cond::ValueNotMatches(a, r) => a.get_str(ev).is_some_and(|x| !r.is_match(x)),
        }
    }
}

enum Op {
    Set(String, String),
    Add(String, String),
    Remove(String),
    RemoveWildcard(String),
    RemoveRegex(Regex),
    Rename(String, String),
    HardRename(String, String),
    Copy(String, String),
    HardCopy(String, String),
    MoveToStart(String),
    MoveToEnd(String),
}

pub struct Modify {
    conds: Vec<Cond>,
    ops: Vec<Op>,
}

fn two<'a>(scope: &str, key: &str, v: &'a str) -> Result<(&'a str, &'a str), ConfigError> {
    match v.split_once(char::is_whitespace) {
        Some((a, b)) if !b.trim().is_empty() => Ok((a, b.trim())),
        _ => cfg_err(scope, format!("{key} needs two arguments: '{v}'")),
    }
}

impl Modify {
    fn new(s: &Section, scope: &str) -> Result<Modify, ConfigError> {
        let mut ops = Vec::new();
        let mut conds = Vec::new();
        let re = |r: &str| Regex::new(r).or_else(|e| cfg_err(scope, e));
        let acc = |a: &str| Accessor::parse(a).or_else(|e| cfg_err(scope, e));
        for (k, v) in &s.entries {
            let v = v.as_str();
            let op = match k.as_str() {
                "set" => two(scope, k, v).map(|(a, b)| Op::Set(a.into(), b.into()))?,
                "add" => two(scope, k, v).map(|(a, b)| Op::Add(a.into(), b.into()))?,
                "remove" => Op::Remove(v.into()),
                "remove_wildcard" => Op::RemoveWildcard(v.trim_end_matches('*').into()),
                "remove_regex" => Op::RemoveRegex(re(v)?),
                "rename" => two(scope, k, v).map(|(a, b)| Op::Rename(a.into(), b.into()))?,
                "hard_rename" => {
                    two(scope, k, v).map(|(a, b)| Op::HardRename(a.into(), b.into()))?
                }
                "copy" => two(scope, k, v).map(|(a, b)| Op::Copy(a.into(), b.into()))?,
                "hard_copy" => two(scope, k, v).map(|(a, b)| Op::HardCopy(a.into(), b.into()))?,
                "move_to_start" => Op::MoveToStart(v.trim_end_matches('*').into()),
                "move_to_end" => Op::MoveToEnd(v.trim_end_matches('*').into()),
                "condition" => {
                    let (c, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
                    let rest = rest.trim();
                    let cond = match c.to_ascii_lowercase().as_str() {
                        "key_exists" => Cond::KeyExists(acc(rest)?),
                        "key_does_not_exist" => Cond::KeyDoesNotExist(acc(rest)?),
                        "a_key_matches" => Cond::AKeyMatches(re(rest)?),
                        "no_key_matches" => Cond::NoKeyMatches(re(rest)?),
                        "key_value_equals" => {
                            let (a, b) = two(scope, c, rest)?;
                            Cond::ValueEquals(acc(a)?, b.into())
                        }
                        "key_value_does_not_equal" => {
                            let (a, b) = two(scope, c, rest)?;
                            Cond::ValueNotEquals(acc(a)?, b.into())
                        }
                        "key_value_matches" => {
                            let (a, b) = two(scope, c, rest)?;
                            Cond::ValueMatches(acc(a)?, re(b)?)
                        }
                        "key_value_does_not_match" => {
                            let (a, b) = two(scope, c, rest)?;
                            Cond::ValueNotMatches(acc(a)?, re(b)?)
                        }
                        other => {
                            return cfg_err(
                                scope,
                                format!(
                                    "condition '{other}' is not supported by fargate-local's router"
                                ),
                            );
                        }
                    };
                    conds.push(cond);
                    continue;
                }
                _ => continue,
            };
            ops.push(op);
        }
        Ok(Modify { conds, ops })
    }

    pub fn apply(&self, ev: &mut Event) {
        if !self.conds.iter().all(|c| c.holds(ev)) {
            return;
        }
        let b = &mut ev.body;
        let pos = |b: &Vec<(String, Value)>, k: &str| b.iter().position(|(x, _)| x == k);
        for op in &self.ops {
            match op {
                Op::Set(k, v) => match pos(b, k) {
                    Some(i) => b[i].1 = str_value(v.clone()),
                    None => b.push((k.clone(), str_value(v.clone()))),
                },
                Op::Add(k, v) => {
                    if pos(b, k).is_none() {
                        b.push((k.clone(), str_value(v.clone())));
                    }
                }
                Op::Remove(k) => b.retain(|(x, _)| x != k),
                Op::RemoveWildcard(p) => b.retain(|(x, _)| !x.starts_with(p.as_str())),
                Op::RemoveRegex(r) => b.retain(|(x, _)| !r.is_match(x)),
                Op::Rename(from, to) => {
                    if pos(b, to).is_none()
                        && let Some(i) = pos(b, from)
                    {
                        b[i].0 = to.clone();
                    }
                }
                Op::HardRename(from, to) => {
                    if let Some(i) = pos(b, from) {
                        b[i].0 = to.clone();
                        let mut n = 0;
                        b.retain(|(x, _)| {
                            n += 1;
                            x != to || n - 1 == i
                        });
                    }
                }
                Op::Copy(from, to) => {
                    if pos(b, to).is_none()
                        && let Some(i) = pos(b, from)
                    {
                        let v = b[i].1.clone();
                        b.push((to.clone(), v));
                    }
                }
                Op::HardCopy(from, to) => {
                    if let Some(i) = pos(b, from) {
                        let v = b[i].1.clone();
                        match pos(b, to) {
                            Some(j) => b[j].1 = v,
                            None => b.push((to.clone(), v)),
                        }
                    }
                }
                Op::MoveToStart(p) => {
                    let (mut m, r): (Vec<_>, Vec<_>) =
                        b.drain(..).partition(|(x, _)| x.starts_with(p.as_str()));
                    m.extend(r);
                    *b = m;
                }
                Op::MoveToEnd(p) => {
                    let (m, mut r): (Vec<_>, Vec<_>) =
                        b.drain(..).partition(|(x, _)| x.starts_with(p.as_str()));
                    r.extend(m);
                    *b = r;
                }
            }
        }
    }
}

// ------------------------------------------------------------------ record_modifier

pub struct RecordModifier {
    records: Vec<(String, String)>,
    remove: Vec<String>,
    allow: Vec<String>,
    uuid_key: Option<String>,
}

impl RecordModifier {
    fn new(s: &Section, scope: &str) -> Result<RecordModifier, ConfigError> {
        let mut records = Vec::new();
        for r in s.get_all("record") {
            match r.split_once(char::is_whitespace) {
                Some((k, v)) if !v.trim().is_empty() => {
                    records.push((k.to_string(), v.trim().to_string()))
                }
                _ => {
                    return cfg_err(
                        scope,
                        format!("invalid record parameters, expects 'KEY VALUE': '{r}'"),
                    );
                }
            }
        }
        let remove: Vec<String> = s.get_all("remove_key").map(str::to_string).collect();
        let allow: Vec<String> = s
            .get_all("allowlist_key")
            .chain(s.get_all("whitelist_key"))
            .map(str::to_string)
            .collect();
        if !remove.is_empty() && !allow.is_empty() {
            return cfg_err(
                scope,
                "remove_keys and allowlist_keys are exclusive with each other",
            );
        }
        Ok(RecordModifier {
            records,
            remove,
            allow,
            uuid_key: s.get("uuid_key").map(str::to_string),
        })
    }

    pub fn apply(&self, ev: &mut Event) {
        if !self.remove.is_empty() {
            ev.body
                .retain(|(k, _)| !self.remove.iter().any(|r| r.eq_ignore_ascii_case(k)));
        }
        if !self.allow.is_empty() {
            ev.body
                .retain(|(k, _)| self.allow.iter().any(|r| r.eq_ignore_ascii_case(k)));
        }
        // Appended without looking for an existing key, as Fluent Bit does.
        for (k, v) in &self.records {
            ev.body.push((k.clone(), str_value(v.clone())));
        }
        if let Some(k) = &self.uuid_key {
            ev.body
                .push((k.clone(), str_value(uuid::Uuid::new_v4().to_string())));
        }
    }
}

// ------------------------------------------------------------------ nest

enum NestOp {
    Nest {
        wildcards: Vec<String>,
        under: String,
    },
    Lift {
        under: String,
    },
}

pub struct Nest {
    op: NestOp,
    add_prefix: Option<String>,
    remove_prefix: Option<String>,
}

impl Nest {
    fn new(s: &Section, scope: &str) -> Result<Nest, ConfigError> {
        let op = match s.get("operation").map(str::to_ascii_lowercase).as_deref() {
            Some("nest") => {
                let wildcards: Vec<String> = s.get_all("wildcard").map(str::to_string).collect();
                if wildcards.is_empty() {
                    return cfg_err(scope, "Operation nest needs at least one Wildcard");
                }
                let Some(under) = s.get("nest_under") else {
                    return cfg_err(scope, "Operation nest needs Nest_under");
                };
                NestOp::Nest {
                    wildcards,
                    under: under.to_string(),
                }
            }
            Some("lift") => {
                let Some(under) = s.get("nested_under") else {
                    return cfg_err(scope, "Operation lift needs Nested_under");
                };
                NestOp::Lift {
                    under: under.to_string(),
                }
            }
            _ => return cfg_err(scope, "Operation must be nest or lift"),
        };
        Ok(Nest {
            op,
            add_prefix: s.get("add_prefix").map(str::to_string),
            remove_prefix: s.get("remove_prefix").map(str::to_string),
        })
    }

    fn rename(&self, k: &str) -> String {
        let k = match &self.remove_prefix {
            Some(p) => k.strip_prefix(p.as_str()).unwrap_or(k),
            None => k,
        };
        match &self.add_prefix {
            Some(p) => format!("{p}{k}"),
            None => k.to_string(),
        }
    }

    pub fn apply(&self, ev: &mut Event) {
        match &self.op {
            NestOp::Nest { wildcards, under } => {
                let hit = |k: &str| wildcards.iter().any(|w| super::router::glob_match(w, k));
                if !ev.body.iter().any(|(k, _)| hit(k)) {
                    return;
                }
                let (moved, rest): (Vec<_>, Vec<_>) = ev.body.drain(..).partition(|(k, _)| hit(k));
                ev.body = rest;
                let map = moved
                    .into_iter()
                    .map(|(k, v)| (str_value(self.rename(&k)), v))
                    .collect();
                ev.body.push((under.clone(), Value::Map(map)));
            }
            NestOp::Lift { under } => {
                let Some(i) = ev
                    .body
                    .iter()
                    .position(|(k, v)| k == under && matches!(v, Value::Map(_)))
                else {
                    return;
                };
                let (_, v) = ev.body.remove(i);
                if let Value::Map(m) = v {
                    for (k, v) in m {
                        ev.body.push((self.rename(&value_text(&k)), v));
                    }
                }
            }
        }
    }
}

/// A value as the string a filter compares (for tests and helpers).
pub fn as_text(v: &Value) -> Option<&str> {
    value_str(v)
}
