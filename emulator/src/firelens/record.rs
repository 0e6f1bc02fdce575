//! Events as Fluent Bit holds them: a time with nanoseconds and a map that
//! keeps its key order and its duplicate keys (a msgpack map, not a hash
//! map), plus record-accessor paths (`$a['b'][0]`) and the JSON and
//! msgpack-print renderings the outputs share.

use rmpv::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct EventTime {
    pub sec: i64,
    pub nsec: u32,
}

impl EventTime {
    pub fn now() -> EventTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        EventTime {
            sec: d.as_secs() as i64,
            nsec: d.subsec_nanos(),
        }
    }

    /// Epoch milliseconds. A forward client may send any 64-bit second
    /// count; past the range of milliseconds the value saturates.
    pub fn millis(&self) -> i64 {
        self.sec
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nsec / 1_000_000))
    }

    pub fn as_f64(&self) -> f64 {
        self.sec as f64 + f64::from(self.nsec) / 1e9
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: EventTime,
    /// Ordered, duplicates allowed (record_modifier appends blindly).
    pub body: Vec<(String, Value)>,
}

impl Event {
    pub fn new(time: EventTime, body: Vec<(String, Value)>) -> Event {
        Event { time, body }
    }

    /// The first value under `key` (what a msgpack lookup finds).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.body.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(value_str)
    }

    /// A rough size in memory, for buffer accounting: the bytes plus the
    /// per-entry overhead of a String key and a Value.
    pub fn approx_size(&self) -> usize {
        48 + self
            .body
            .iter()
            .map(|(k, v)| k.len() + value_size(v) + 64)
            .sum::<usize>()
    }
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.as_bytes().len(),
        Value::Binary(b) => b.len(),
        Value::Array(a) => a.iter().map(value_size).sum::<usize>() + 1,
        Value::Map(m) => {
            m.iter()
                .map(|(k, v)| value_size(k) + value_size(v))
                .sum::<usize>()
                + 1
        }
        _ => 8,
    }
}

/// A string value (str, or bin treated as str as Fluent Bit does).
pub fn value_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => s.as_str(),
        Value::Binary(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

pub fn str_value(s: impl Into<String>) -> Value {
    Value::String(s.into().into())
}

/// One step of a record-accessor path after the root key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `$key`, `$key['sub']["sub2"][0]`; without the `$` the whole text is a
/// key name (grep's `Regex log ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accessor {
    pub root: String,
    pub path: Vec<Step>,
}

impl Accessor {
    pub fn parse(text: &str) -> Result<Accessor, String> {
        let Some(rest) = text.strip_prefix('$') else {
            return Ok(Accessor {
                root: text.to_string(),
                path: Vec::new(),
            });
        };
        let (acc, tail) = Accessor::parse_prefix(rest)?;
        if !tail.is_empty() {
            return Err(format!("invalid record accessor '{text}'"));
        }
        Ok(acc)
    }

    /// Parses after `$` as far as an accessor goes; returns what is left.
    pub fn parse_prefix(rest: &str) -> Result<(Accessor, &str), String> {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '@'))
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(format!("invalid record accessor '${rest}'"));
        }
        let root = rest[..end].to_string();
        let mut tail = &rest[end..];
        let mut path = Vec::new();
        while let Some(inner) = tail.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                return Err(format!("invalid record accessor '${rest}': missing ']'"));
            };
            let sub = inner[..close].trim();
            let step = if let Some(q) = sub
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| sub.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            {
                Step::Key(q.to_string())
            } else if let Ok(i) = sub.parse::<usize>() {
                Step::Index(i)
            } else {
                return Err(format!(
                    "invalid record accessor '${rest}': bad subscript [{sub}]"
                ));
            };
            path.push(step);
            tail = &inner[close + 1..];
        }
        Ok((Accessor { root, path }, tail))
    }

    pub fn get<'a>(&self, ev: &'a Event) -> Option<&'a Value> {
        let mut v = ev.get(&self.root)?;
        for step in &self.path {
            v = match (step, v) {
                (Step::Key(k), Value::Map(m)) => m
                    .iter()
                    .find(|(mk, _)| value_str(mk) == Some(k.as_str()))
                    .map(|(_, v)| v)?,
                (Step::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(v)
    }

    pub fn get_str<'a>(&self, ev: &'a Event) -> Option<&'a str> {
        self.get(ev).and_then(value_str)
    }
}

/// Text of a value where a template needs one: strings raw, others as JSON.
pub fn value_text(v: &Value) -> String {
    match value_str(v) {
        Some(s) => s.to_string(),
        None => {
            let mut out = String::new();
            write_json_value(&mut out, v);
            out
        }
    }
}

/// The record as a JSON object, keeping key order and duplicates (as
/// Fluent Bit's msgpack-to-JSON does).
pub fn record_json(body: &[(String, Value)]) -> String {
    let mut out = String::with_capacity(64 + body.len() * 32);
    write_json_object(&mut out, None, body);
    out
}

/// Same, with a leading date key (stdout/s3 `json_date_key`).
pub fn record_json_with(first: Option<(&str, &str)>, body: &[(String, Value)]) -> String {
    let mut out = String::with_capacity(64 + body.len() * 32);
    write_json_object(&mut out, first, body);
    out
}

fn write_json_object(out: &mut String, first: Option<(&str, &str)>, body: &[(String, Value)]) {
    out.push('{');
    let mut sep = false;
    if let Some((k, raw)) = first {
        write_json_str(out, k);
        out.push(':');
        out.push_str(raw);
        sep = true;
    }
    for (k, v) in body {
        if sep {
            out.push(',');
        }
        sep = true;
        write_json_str(out, k);
        out.push(':');
        write_json_value(out, v);
    }
    out.push('}');
}

pub fn write_json_str(out: &mut String, s: &str) {
    // serde_json's escaping is the reference JSON string writer.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

pub fn write_json_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::F32(f) => write_float(out, f64::from(*f)),
        Value::F64(f) => write_float(out, *f),
        Value::String(s) => match s.as_str() {
            Some(s) => write_json_str(out, s),
            None => write_json_str(out, &String::from_utf8_lossy(s.as_bytes())),
        },
        Value::Binary(b) => write_json_str(out, &String::from_utf8_lossy(b)),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_value(out, x);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, &value_text(k));
                out.push(':');
                write_json_value(out, x);
            }
            out.push('}');
        }
        Value::Ext(_, _) => out.push_str("null"),
    }
}

fn write_float(out: &mut String, f: f64) {
    if f.is_finite() {
        out.push_str(&f.to_string());
    } else {
        out.push_str("null");
    }
}

/// Fluent Bit's `msgpack_object_print` rendering: `{"k"=>"v", "n"=>1}`.
pub fn msgpack_print(v: &Value, out: &mut String) {
    match v {
        Value::Nil => out.push_str("nil"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::F32(f) => out.push_str(&format!("{:.6}", f)),
        Value::F64(f) => out.push_str(&format!("{:.6}", f)),
        Value::String(s) => {
            out.push('"');
            out.push_str(&String::from_utf8_lossy(s.as_bytes()));
            out.push('"');
        }
        Value::Binary(b) => {
            out.push('"');
            out.push_str(&String::from_utf8_lossy(b));
            out.push('"');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                msgpack_print(x, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                msgpack_print(k, out);
                out.push_str("=>");
                msgpack_print(x, out);
            }
            out.push('}');
        }
        Value::Ext(t, d) => out.push_str(&format!("(ext {t} {} bytes)", d.len())),
    }
}

/// The record's map as a msgpack value (for printing and re-encoding).
pub fn body_value(body: &[(String, Value)]) -> Value {
    Value::Map(
        body.iter()
            .map(|(k, v)| (str_value(k.clone()), v.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(body: Vec<(&str, Value)>) -> Event {
        Event::new(
            EventTime::default(),
            body.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        )
    }

    #[test]
    fn accessors() {
        let e = ev(vec![
            ("log", str_value("hi")),
            (
                "kubernetes",
                Value::Map(vec![(
                    str_value("labels"),
                    Value::Map(vec![(str_value("app"), str_value("web"))]),
                )]),
            ),
            ("list", Value::Array(vec![Value::from(1), str_value("two")])),
        ]);
        for (path, want) in [
            ("$log", Some("hi")),
            ("log", Some("hi")),
            ("$kubernetes['labels']['app']", Some("web")),
            ("$kubernetes[\"labels\"][\"app\"]", Some("web")),
            ("$list[1]", Some("two")),
            ("$list[0]", None),
            ("$missing", None),
            ("$kubernetes['nope']", None),
        ] {
            let a = Accessor::parse(path).unwrap();
            assert_eq!(a.get_str(&e), want, "{path}");
        }
        assert!(Accessor::parse("$a[").is_err());
        assert!(Accessor::parse("$a[x]").is_err());
    }

    #[test]
    fn json_keeps_duplicates_and_order() {
        let e = ev(vec![
            ("z", str_value("1")),
            ("a", Value::from(2)),
            ("z", str_value("q\"\n")),
            (
                "m",
                Value::Map(vec![(str_value("k"), Value::Boolean(true))]),
            ),
        ]);
        assert_eq!(
            record_json(&e.body),
            r#"{"z":"1","a":2,"z":"q\"\n","m":{"k":true}}"#
        );
        let mut s = String::new();
        msgpack_print(&body_value(&e.body), &mut s);
        assert_eq!(
            s,
            "{\"z\"=>\"1\", \"a\"=>2, \"z\"=>\"q\"\n\", \"m\"=>{\"k\"=>true}}"
        );
    }
}
