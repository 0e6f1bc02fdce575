//! `[PARSER]` (json, regex) and `[MULTILINE_PARSER]` (regex, endswith,
//! equal) definitions, and the built-ins of the aws-for-fluent-bit image so
//! that `Parsers_File /fluent-bit/parsers/parsers.conf` works without the
//! file. logfmt/ltsv parsers, `Decode_Field_As` and a multiline parser's
//! own `Parser` pre-parse are not supported (a config using them fails
//! with a clear message or warns).

use std::collections::HashMap;

use rmpv::Value;

use super::config::{ConfigError, Section, parse_bool};
use super::record::{EventTime, str_value};
use super::regex::Regex;

/// A subset of the image's `/fluent-bit/parsers/parsers.conf`, used when
/// that path does not exist on this machine.
pub const BUILTIN_PARSERS_CONF: &str = r#"[PARSER]
    Name        json
    Format      json
    Time_Key    time
    Time_Format %d/%b/%Y:%H:%M:%S %z

[PARSER]
    Name        docker
    Format      json
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L
    Time_Keep   On

[PARSER]
    Name        apache
    Format      regex
    Regex       ^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")?$
    Time_Key    time
    Time_Format %d/%b/%Y:%H:%M:%S %z

[PARSER]
    Name        nginx
    Format      regex
    Regex       ^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^\"]*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")
    Time_Key    time
    Time_Format %d/%b/%Y:%H:%M:%S %z
"#;

#[derive(Debug)]
enum Format {
    Json,
    Regex(Regex),
}

#[derive(Debug, Clone, Copy)]
enum Type {
    Integer,
    Float,
    Bool,
    String,
}

#[derive(Debug)]
pub struct Parser {
    pub name: String,
    format: Format,
    time_key: Option<String>,
    time_format: Option<String>,
    time_keep: bool,
    types: Vec<(String, Type)>,
}

/// What a successful parse yields: the fields and, when the time key was
/// read, the new event time.
pub type Parsed = (Vec<(String, Value)>, Option<EventTime>);

impl Parser {
    pub fn from_section(s: &Section) -> Result<Parser, ConfigError> {
        let name = s
            .name()
            .ok_or_else(|| ConfigError(format!("[parser] {}: a [PARSER] needs a Name", s.origin)))?
            .to_string();
        let format = match s.get("format").map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Format::Json,
            Some("regex") => {
                let re = s.get("regex").ok_or_else(|| {
                    ConfigError(format!("[parser:{name}] Format regex needs a Regex"))
                })?;
                Format::Regex(
                    Regex::new(re).map_err(|e| ConfigError(format!("[parser:{name}] {e}")))?,
                )
            }
            Some(other) => {
                return Err(ConfigError(format!(
                    "[parser:{name}] Format '{other}' is not supported by fargate-local's router (json, regex)"
                )));
            }
            None => return Err(ConfigError(format!("[parser:{name}] no Format"))),
        };
        let mut types = Vec::new();
        if let Some(t) = s.get("types") {
            for pair in t.split_whitespace() {
                let (k, ty) = pair.split_once(':').ok_or_else(|| {
                    ConfigError(format!("[parser:{name}] invalid Types entry '{pair}'"))
                })?;
                let ty = match ty {
                    "integer" => Type::Integer,
                    "float" => Type::Float,
                    "bool" => Type::Bool,
                    "string" => Type::String,
                    _ => return Err(ConfigError(format!("[parser:{name}] invalid type '{ty}'"))),
                };
                types.push((k.to_string(), ty));
            }
        }
        Ok(Parser {
            name,
            format,
            time_key: s.get("time_key").map(str::to_string),
            time_format: s.get("time_format").map(str::to_string),
            time_keep: s.bool("time_keep", false)?,
            types,
        })
    }

    /// None when the text does not parse (the caller keeps the record).
    pub fn parse(&self, text: &str) -> Option<Parsed> {
        let mut fields: Vec<(String, Value)> = match &self.format {
            Format::Json => match parse_json(text)? {
                Value::Map(m) => m
                    .into_iter()
                    .map(|(k, v)| (super::record::value_text(&k), v))
                    .collect(),
                _ => return None,
            },
            Format::Regex(re) => re
                .named_captures(text)?
                .into_iter()
                .map(|(k, v)| (k, str_value(v)))
                .collect(),
        };
        for (k, ty) in &self.types {
            for (fk, v) in fields.iter_mut() {
                if fk == k
                    && let Some(s) = super::record::value_str(v)
                {
                    let s = s.to_string();
                    *v = match ty {
                        Type::Integer => {
                            s.parse::<i64>().map(Value::from).unwrap_or(Value::from(0))
                        }
                        Type::Float => s.parse::<f64>().map(Value::F64).unwrap_or(Value::F64(0.0)),
                        Type::Bool => Value::Boolean(s == "true"),
                        Type::String => str_value(s),
                    };
                }
            }
        }
        let mut time = None;
        if let (Some(tk), Some(tf)) = (&self.time_key, &self.time_format)
            && let Some(pos) = fields.iter().position(|(k, _)| k == tk)
        {
            let raw = super::record::value_text(&fields[pos].1);
            match parse_time(&raw, tf) {
                Some(t) => {
                    time = Some(t);
                    if !self.time_keep {
                        fields.remove(pos);
                    }
                }
                None => super::log::warn(
                    &format!("parser:{}", self.name),
                    format!("invalid time format {tf} for '{raw}'"),
                ),
            }
        }
        Some((fields, time))
    }
}

/// strptime with Fluent Bit's `%L` (fraction of a second).
pub fn parse_time(raw: &str, format: &str) -> Option<EventTime> {
    let f = format.replace(".%L", "%.f").replace("%L", "%.f");
    // Like strptime, text after the format (Docker's trailing `Z`) is
    // ignored.
    let dt = chrono::DateTime::parse_and_remainder(raw, &f)
        .map(|(d, _)| d.with_timezone(&chrono::Utc))
        .or_else(|_| chrono::NaiveDateTime::parse_and_remainder(raw, &f).map(|(n, _)| n.and_utc()))
        .ok()?;
    Some(EventTime {
        sec: dt.timestamp(),
        nsec: dt.timestamp_subsec_nanos(),
    })
}

/// JSON to a msgpack value keeping key order and duplicate keys.
pub fn parse_json(text: &str) -> Option<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let v = JsonSeed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(v)
}

struct JsonSeed;

impl<'de> serde::de::DeserializeSeed<'de> for JsonSeed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::F64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(str_value(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(str_value(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(JsonSeed)? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(k) = a.next_key::<String>()? {
            let x = a.next_value_seed(JsonSeed)?;
            v.push((str_value(k), x));
        }
        Ok(Value::Map(v))
    }
}

// ------------------------------------------------------------------ multiline

#[derive(Debug)]
pub struct Rule {
    pub from: Vec<String>,
    pub re: Regex,
    pub to: String,
}

#[derive(Debug)]
pub enum MlKind {
    Regex(Vec<Rule>),
    /// Lines are joined until one ends (or, negated, does not end) with
    /// the string.
    EndsWith {
        text: String,
        negate: bool,
    },
    /// Lines are joined until one equals the string.
    Equal {
        text: String,
        negate: bool,
    },
}

#[derive(Debug)]
pub struct MlParser {
    pub name: String,
    pub kind: MlKind,
    pub key_content: Option<String>,
    pub flush_timeout_ms: u64,
}

impl MlParser {
    pub fn from_section(s: &Section) -> Result<MlParser, ConfigError> {
        let name = s
            .name()
            .ok_or_else(|| {
                ConfigError(format!(
                    "[multiline] {}: a [MULTILINE_PARSER] needs a Name",
                    s.origin
                ))
            })?
            .to_string();
        let scope = format!("[multiline_parser:{name}]");
        if s.get("parser").is_some() {
            super::log::warn(
                "multiline",
                format!(
                    "{scope} the Parser pre-parse of a multiline parser is not supported; it is ignored"
                ),
            );
        }
        let negate = s.bool("negate", false)?;
        let kind = match s.get("type").map(str::to_ascii_lowercase).as_deref() {
            Some("regex") => {
                let mut rules = Vec::new();
                for r in s.get_all("rule") {
                    let toks = quoted_tokens(r);
                    if toks.len() != 3 {
                        return Err(ConfigError(format!(
                            "{scope} invalid Rule '{r}': expected \"state\" \"/regex/\" \"next_state\""
                        )));
                    }
                    rules.push(Rule {
                        from: toks[0].split(',').map(|x| x.trim().to_string()).collect(),
                        re: Regex::from_slashed(&toks[1])
                            .map_err(|e| ConfigError(format!("{scope} {e}")))?,
                        to: toks[2].clone(),
                    });
                }
                if !rules
                    .iter()
                    .any(|r| r.from.iter().any(|f| f == "start_state"))
                {
                    return Err(ConfigError(format!("{scope} no rule for start_state")));
                }
                MlKind::Regex(rules)
            }
            Some("endswith") => MlKind::EndsWith {
                text: match_string(s, &scope)?,
                negate,
            },
            Some("equal") | Some("eq") => MlKind::Equal {
                text: match_string(s, &scope)?,
                negate,
            },
            other => {
                return Err(ConfigError(format!(
                    "{scope} invalid Type {other:?} (regex, endswith, equal)"
                )));
            }
        };
        let flush_timeout_ms = match s.get("flush_timeout") {
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError(format!("{scope} invalid Flush_Timeout '{v}'")))?,
            None => 4000,
        };
        Ok(MlParser {
            name,
            kind,
            key_content: s.get("key_content").map(str::to_string),
            flush_timeout_ms,
        })
    }
}

fn match_string(s: &Section, scope: &str) -> Result<String, ConfigError> {
    s.get("match_string")
        .map(|v| unquote(v).to_string())
        .ok_or_else(|| ConfigError(format!("{scope} Match_String is required")))
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
}

/// `"a"  "/b c/"  "d"` → [a, /b c/, d]; unquoted words are tokens too.
pub fn quoted_tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut tok = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'"') => {
                        tok.push('"');
                        chars.next();
                    }
                    '"' => break,
                    c => tok.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                tok.push(c);
                chars.next();
            }
        }
        out.push(tok);
    }
    out
}

/// The built-in multiline parsers, written after Fluent Bit's
/// `src/multiline/flb_ml_parser_*.c` (`docker` and `cri` are meant for log
/// files, where lines keep their newline).
fn builtin_multiline() -> Vec<MlParser> {
    fn regex(name: &str, rules: &[(&str, &str, &str)]) -> MlParser {
        MlParser {
            name: name.to_string(),
            kind: MlKind::Regex(
                rules
                    .iter()
                    .map(|(from, re, to)| Rule {
                        from: from.split(',').map(|x| x.trim().to_string()).collect(),
                        re: Regex::from_slashed(re).expect("built-in multiline regex"),
                        to: to.to_string(),
                    })
                    .collect(),
            ),
            key_content: Some("log".into()),
            flush_timeout_ms: 4000,
        }
    }
    vec![
        MlParser {
            name: "docker".into(),
            kind: MlKind::EndsWith {
                text: "\n".into(),
                negate: false,
            },
            key_content: Some("log".into()),
            flush_timeout_ms: 4000,
        },
        regex(
            "cri",
            &[
                ("start_state", r"/^.+ (?:stdout|stderr) P /", "cri_partial"),
                (
                    "cri_partial",
                    r"/^.+ (?:stdout|stderr) [PF] /",
                    "cri_partial",
                ),
            ],
        ),
        regex(
            "go",
            &[
                ("start_state", r"/\bpanic: /", "go_after_panic"),
                ("start_state", r"/http: panic serving/", "go_goroutine"),
                ("go_after_panic", r"/^$/", "go_goroutine"),
                (
                    "go_after_panic, go_after_signal, go_frame_1",
                    r"/^$/",
                    "go_goroutine",
                ),
                ("go_after_panic", r"/^\[signal /", "go_after_signal"),
                (
                    "go_goroutine",
                    r"/^goroutine \d+ \[[^\]]+\]:$/",
                    "go_frame_1",
                ),
                (
                    "go_frame_1",
                    r"/^(?:[^\s.:]+\.)*[^\s.():]+\(|^created by /",
                    "go_frame_2",
                ),
                ("go_frame_2", r"/^\s/", "go_frame_1"),
            ],
        ),
        regex(
            "python",
            &[
                (
                    "start_state, python_start_exception",
                    r"/^Traceback \(most recent call last\):$/",
                    "python",
                ),
                ("python", r"/^[\t ]+File /", "python_code"),
                ("python_code", r"/[^\t ]/", "python"),
                (
                    "python",
                    r"/^(?:[^\s.():]+\.)*[^\s.():]+:/",
                    "python_start_exception",
                ),
            ],
        ),
        regex(
            "java",
            &[
                (
                    "start_state, java_start_exception",
                    r"/(?:Exception|Error|Throwable|V8 errors stack trace)[:\r\n]/",
                    "java_after_exception",
                ),
                (
                    "java_after_exception",
                    r"/^[\t ]*nested exception is:[\t ]*/",
                    "java_start_exception",
                ),
                (
                    "java_after_exception",
                    r"/^[\r\n]*$/",
                    "java_after_exception",
                ),
                (
                    "java_after_exception, java",
                    r"/^[\t ]+(?:eval )?at /",
                    "java",
                ),
                (
                    "java_after_exception, java",
                    r"/^[\t ]*(?:Caused by|Suppressed):/",
                    "java_after_exception",
                ),
                (
                    "java_after_exception, java",
                    r"/^[\t ]*... \d+ (?:more|common frames omitted)/",
                    "java",
                ),
            ],
        ),
        regex(
            "ruby",
            &[
                (
                    "start_state, ruby_start_exception",
                    r"/^.+:\d+:in\s+.*/",
                    "ruby_after_exception",
                ),
                (
                    "ruby_after_exception, ruby",
                    r"/^\s+from\s+.*:\d+:in\s+.*/",
                    "ruby",
                ),
            ],
        ),
    ]
}

/// Every parser known to the router: the built-ins, then the files'.
#[derive(Debug, Default)]
pub struct Parsers {
    pub parsers: HashMap<String, Parser>,
    pub multiline: HashMap<String, MlParser>,
}

impl Parsers {
    pub fn new() -> Parsers {
        let mut p = Parsers::default();
        for m in builtin_multiline() {
            p.multiline.insert(m.name.clone(), m);
        }
        p
    }

    pub fn add_sections(&mut self, sections: &[Section]) -> Result<(), ConfigError> {
        for s in sections {
            match s.kind.as_str() {
                "PARSER" => {
                    let p = Parser::from_section(s)?;
                    self.parsers.insert(p.name.clone(), p);
                }
                "MULTILINE_PARSER" => {
                    let p = MlParser::from_section(s)?;
                    self.multiline.insert(p.name.clone(), p);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

pub fn bool_opt(v: Option<&str>, default: bool) -> bool {
    v.and_then(parse_bool).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Parser {
        let mut vars = HashMap::new();
        let mut w = Vec::new();
        let secs = crate::firelens::config::load(
            &crate::firelens::config::Fs,
            std::path::Path::new("/fluent-bit/parsers/parsers.conf"),
            &mut vars,
            &mut w,
        )
        .unwrap();
        let mut p = Parsers::new();
        p.add_sections(&secs).unwrap();
        p.parsers.remove(name).unwrap()
    }

    #[test]
    fn json_parser_keeps_order_and_time() {
        let p = builtin("json");
        let (fields, t) = p.parse(r#"{"z":1,"a":"x","z":[true,null]}"#).unwrap();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "z"]);
        assert_eq!(t, None);
        let (fields, t) = p
            .parse(r#"{"time":"01/Dec/2026:00:00:01 +0000","msg":"m"}"#)
            .unwrap();
        assert_eq!(fields, vec![("msg".to_string(), str_value("m"))]);
        assert_eq!(t.unwrap().sec, 1796083201);
        // a time in another format: fields kept, time unchanged
        let (fields, t) = p.parse(r#"{"time":"2026-12-01T00:00:01Z"}"#).unwrap();
        assert_eq!(fields.len(), 1);
        assert_eq!(t, None);
        assert!(p.parse("not json").is_none());
        assert!(p.parse("[1]").is_none());
    }

    #[test]
    fn docker_time_with_fraction() {
        let p = builtin("docker");
        let (fields, t) = p
            .parse(r#"{"log":"x","time":"2026-12-01T00:00:01.250Z"}"#)
            .unwrap();
        assert_eq!(fields.len(), 2, "Time_Keep On");
        let t = t.unwrap();
        assert_eq!((t.sec, t.nsec), (1796083201, 250_000_000));
    }

    #[test]
    fn regex_parser() {
        let p = builtin("apache");
        let (fields, t) = p
            .parse(r#"192.168.2.20 - - [01/Dec/2026:00:00:00 +0000] "GET /x HTTP/1.1" 200 10 "-" "curl""#)
            .unwrap();
        assert_eq!(fields[0], ("host".to_string(), str_value("192.168.2.20")));
        assert_eq!(
            fields.iter().find(|(k, _)| k == "code").unwrap().1,
            str_value("200")
        );
        assert!(t.is_some());
        assert!(p.parse("nope").is_none());
    }

    #[test]
    fn tokens() {
        assert_eq!(
            quoted_tokens(r#""start_state"  "/^[IWEF], \[\d{4}/"   "cont""#),
            vec!["start_state", r"/^[IWEF], \[\d{4}/", "cont"]
        );
    }
}
