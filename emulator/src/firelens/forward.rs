//! The Fluent Forward protocol, server side (A3.3): a streaming decoder of
//! msgpack values and the four modes (Message, Forward, PackedForward,
//! CompressedPackedForward), nil heartbeats, EventTime, `chunk` acks. The
//! decoding is pure; `super::inputs` owns the sockets. The shared-key
//! handshake and TLS are not implemented (FireLens uses neither).

use std::io::Read;

use rmpv::Value;

use super::record::{Event, EventTime, value_text};

/// Fluent Bit's default `buffer_max_size`.
pub const DEFAULT_MAX_BUFFER: usize = 6_144_000;

#[derive(Debug, PartialEq)]
pub enum Message {
    Heartbeat,
    Events {
        tag: String,
        events: Vec<Event>,
        /// The `chunk` option, to be acked as `{"ack": chunk}`.
        chunk: Option<Value>,
    },
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid msgpack data: {0}")]
    Garbage(String),
    #[error("message exceeds buffer_max_size ({0} bytes) without being complete")]
    Oversize(usize),
    #[error("invalid forward message: {0}")]
    Invalid(String),
}

/// Accumulates bytes and yields whole msgpack values.
pub struct Decoder {
    buf: Vec<u8>,
    pos: usize,
    max: usize,
}

impl Decoder {
    pub fn new(max: usize) -> Decoder {
        Decoder {
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            max,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete value and its encoded size, or None when more
    /// bytes are needed.
    pub fn next_value(&mut self) -> Result<Option<(Value, usize)>, DecodeError> {
        let avail = &self.buf[self.pos..];
        if avail.is_empty() {
            return Ok(None);
        }
        let mut cur = avail;
        match rmpv::decode::read_value(&mut cur) {
            Ok(v) => {
                let used = avail.len() - cur.len();
                self.pos += used;
                Ok(Some((v, used)))
            }
            Err(e) if is_eof(&e) => {
                if avail.len() > self.max {
                    Err(DecodeError::Oversize(self.max))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(DecodeError::Garbage(e.to_string())),
        }
    }
}

fn is_eof(e: &rmpv::decode::Error) -> bool {
    match e {
        rmpv::decode::Error::InvalidMarkerRead(io) | rmpv::decode::Error::InvalidDataRead(io) => {
            io.kind() == std::io::ErrorKind::UnexpectedEof
        }
        _ => false,
    }
}

/// An event time: integer seconds, float seconds, EventTime (ext 0 with
/// 8 bytes), or `[time, metadata]`.
pub fn decode_time(v: &Value) -> Result<EventTime, DecodeError> {
    match v {
        Value::Integer(i) => Ok(EventTime {
            sec: i.as_i64().unwrap_or(0),
            nsec: 0,
        }),
        Value::F64(f) => Ok(EventTime {
            sec: f.trunc() as i64,
            nsec: ((f.fract()) * 1e9) as u32,
        }),
        Value::F32(f) => decode_time(&Value::F64(f64::from(*f))),
        Value::Ext(0, d) if d.len() == 8 => Ok(EventTime {
            sec: i64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]])),
            nsec: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        }),
        Value::Array(a) if !a.is_empty() => decode_time(&a[0]),
        other => Err(DecodeError::Invalid(format!("invalid event time {other}"))),
    }
}

fn decode_record(v: Value) -> Result<Vec<(String, Value)>, DecodeError> {
    match v {
        Value::Map(m) => Ok(m
            .into_iter()
            .map(|(k, v)| {
                let k = match k {
                    Value::String(s) => s.into_str().unwrap_or_default(),
                    Value::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => value_text(&other),
                };
                (k, v)
            })
            .collect()),
        other => Err(DecodeError::Invalid(format!(
            "record is not a map: {other}"
        ))),
    }
}

fn decode_entry(v: Value) -> Result<Event, DecodeError> {
    match v {
        Value::Array(mut a) if a.len() == 2 => {
            let rec = a.pop().expect("len 2");
            let time = decode_time(&a[0])?;
            Ok(Event::new(time, decode_record(rec)?))
        }
        other => Err(DecodeError::Invalid(format!(
            "entry is not [time, record]: {other}"
        ))),
    }
}

fn option_get<'a>(opt: &'a Value, key: &str) -> Option<&'a Value> {
    match opt {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Interprets one top-level value.
pub fn decode_message(v: Value) -> Result<Message, DecodeError> {
    let mut arr = match v {
        Value::Nil => return Ok(Message::Heartbeat),
        Value::Array(a) => a,
        other => {
            return Err(DecodeError::Invalid(format!(
                "expected an array, got {}",
                short(&other)
            )));
        }
    };
    if !(2..=4).contains(&arr.len()) {
        return Err(DecodeError::Invalid(format!(
            "array of {} elements",
            arr.len()
        )));
    }
    let tag = match &arr[0] {
        Value::String(s) => s.as_str().unwrap_or_default().to_string(),
        Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => {
            return Err(DecodeError::Invalid(format!(
                "tag is not a string: {}",
                short(other)
            )));
        }
    };
    let is_message = matches!(
        arr[1],
        Value::Integer(_) | Value::Ext(..) | Value::F64(_) | Value::F32(_)
    ) && arr.len() >= 3;
    let option = if is_message {
        arr.get(3).cloned().unwrap_or(Value::Nil)
    } else {
        arr.get(2).cloned().unwrap_or(Value::Nil)
    };
    let chunk = option_get(&option, "chunk").cloned();
    let events = if is_message {
        let rec = std::mem::replace(&mut arr[2], Value::Nil);
        vec![Event::new(decode_time(&arr[1])?, decode_record(rec)?)]
    } else {
        match std::mem::replace(&mut arr[1], Value::Nil) {
            Value::Array(entries) => entries
                .into_iter()
                .map(decode_entry)
                .collect::<Result<Vec<_>, _>>()?,
            Value::Binary(b) => packed(b, &option)?,
            Value::String(s) => packed(s.into_bytes(), &option)?,
            other => {
                return Err(DecodeError::Invalid(format!(
                    "second element is {}, not a time, entries or packed entries",
                    short(&other)
                )));
            }
        }
    };
    Ok(Message::Events { tag, events, chunk })
}

/// The most a CompressedPackedForward message may inflate to, Fluent Bit's
/// limit (`flb_gzip_uncompress`): a few KiB of gzip can otherwise claim
/// gigabytes.
pub const MAX_DECOMPRESSED: usize = 100_000_000;

/// Inflates (concatenated) gzip members, refusing more than `limit` bytes.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Invalid(format!("gzip: {e}")))?;
    if out.len() > limit {
        return Err(DecodeError::Invalid(format!(
            "gzip: maximum decompression size is {limit} bytes"
        )));
    }
    Ok(out)
}

fn packed(data: Vec<u8>, option: &Value) -> Result<Vec<Event>, DecodeError> {
    let data = match option_get(option, "compressed").and_then(Value::as_str) {
        Some("gzip") => gunzip(&data, MAX_DECOMPRESSED)?,
        Some(other) => {
            return Err(DecodeError::Invalid(format!(
                "unsupported compression '{other}'"
            )));
        }
        None => data,
    };
    let mut cur = &data[..];
    let mut events = Vec::new();
    while !cur.is_empty() {
        let v = rmpv::decode::read_value(&mut cur)
            .map_err(|e| DecodeError::Invalid(format!("packed entries: {e}")))?;
        events.push(decode_entry(v)?);
    }
    Ok(events)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}...", &s[..s.floor_char_boundary(40)])
    } else {
        s
    }
}

/// The ack for a chunk id: `{"ack": chunk}`.
pub fn ack(chunk: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let v = Value::Map(vec![(Value::from("ack"), chunk.clone())]);
    rmpv::encode::write_value(&mut out, &v).expect("writing to a Vec");
    out
}

/// Encoders used by tests and the benchmark client.
pub mod encode {
    use rmpv::Value;

    pub fn event_time(sec: u32, nsec: u32) -> Value {
        let mut d = sec.to_be_bytes().to_vec();
        d.extend_from_slice(&nsec.to_be_bytes());
        Value::Ext(0, d)
    }

    pub fn record(pairs: &[(&str, &str)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (Value::from(*k), Value::from(*v)))
                .collect(),
        )
    }

    pub fn to_bytes(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).expect("writing to a Vec");
        out
    }

    /// A Message-mode array as Docker's fluentd driver writes it.
    pub fn message(tag: &str, time: Value, rec: Value, option: Value) -> Vec<u8> {
        to_bytes(&Value::Array(vec![Value::from(tag), time, rec, option]))
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;
    use crate::firelens::record::str_value;
    use std::io::Write;

    fn events_of(m: Message) -> (String, Vec<Event>, Option<Value>) {
        match m {
            Message::Events { tag, events, chunk } => (tag, events, chunk),
            Message::Heartbeat => panic!("heartbeat"),
        }
    }

    fn rec(log: &str) -> Vec<(String, Value)> {
        vec![("log".to_string(), str_value(log))]
    }

    fn decode_all(bytes: &[u8], split: usize) -> Result<Vec<Message>, DecodeError> {
        let mut d = Decoder::new(1024 * 1024);
        let mut out = Vec::new();
        for piece in bytes.chunks(split.max(1)) {
            d.push(piece);
            while let Some((v, _)) = d.next_value()? {
                out.push(decode_message(v)?);
            }
        }
        Ok(out)
    }

    #[test]
    fn every_mode() {
        let t = event_time(1_796_083_200, 123_456_789);
        let et = EventTime {
            sec: 1_796_083_200,
            nsec: 123_456_789,
        };
        let entry = |l: &str| Value::Array(vec![t.clone(), record(&[("log", l)])]);
        let mut packed_bytes = to_bytes(&entry("p1"));
        packed_bytes.extend(to_bytes(&entry("p2")));
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        // two concatenated gzip members
        let mut gz2 = gz(&to_bytes(&entry("g1")));
        gz2.extend(gz(&to_bytes(&entry("g2"))));
        let opt_gzip = Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]);
        let cases: Vec<(Vec<u8>, Vec<&str>, EventTime)> = vec![
            // Message, EventTime fixext8, empty option (Docker)
            (
                message("t", t.clone(), record(&[("log", "m")]), Value::Map(vec![])),
                vec!["m"],
                et,
            ),
            // Message, integer time, nil option, 3 elements
            (
                to_bytes(&Value::Array(vec![
                    Value::from("t"),
                    Value::from(5),
                    record(&[("log", "i")]),
                ])),
                vec!["i"],
                EventTime { sec: 5, nsec: 0 },
            ),
            // ext8 form of EventTime
            (
                {
                    let mut b = vec![0x94, 0xa1, b't', 0xc7, 0x08, 0x00];
                    b.extend(1_796_083_200u32.to_be_bytes());
                    b.extend(123_456_789u32.to_be_bytes());
                    b.extend(to_bytes(&record(&[("log", "e8")])));
                    b.push(0x80);
                    b
                },
                vec!["e8"],
                et,
            ),
            // Forward
            (
                to_bytes(&Value::Array(vec![
                    Value::from("t"),
                    Value::Array(vec![entry("f1"), entry("f2")]),
                ])),
                vec!["f1", "f2"],
                et,
            ),
            // [time, metadata] inside a Forward entry
            (
                to_bytes(&Value::Array(vec![
                    Value::from("t"),
                    Value::Array(vec![Value::Array(vec![
                        Value::Array(vec![t.clone(), Value::Map(vec![])]),
                        record(&[("log", "meta")]),
                    ])]),
                ])),
                vec!["meta"],
                et,
            ),
            // PackedForward as bin and as str
            (
                to_bytes(&Value::Array(vec![
                    Value::from("t"),
                    Value::Binary(packed_bytes.clone()),
                ])),
                vec!["p1", "p2"],
                et,
            ),
            (
                {
                    let mut b = vec![0x92, 0xa1, b't', 0xdb];
                    b.extend((packed_bytes.len() as u32).to_be_bytes());
                    b.extend(&packed_bytes);
                    b
                },
                vec!["p1", "p2"],
                et,
            ),
            // CompressedPackedForward, concatenated members
            (
                to_bytes(&Value::Array(vec![
                    Value::from("t"),
                    Value::Binary(gz2),
                    opt_gzip,
                ])),
                vec!["g1", "g2"],
                et,
            ),
        ];
        for (i, (bytes, logs, time)) in cases.into_iter().enumerate() {
            for split in [1, 3, bytes.len()] {
                let msgs = decode_all(&bytes, split).unwrap_or_else(|e| panic!("case {i}: {e}"));
                assert_eq!(msgs.len(), 1, "case {i}");
                let (tag, events, chunk) = events_of(msgs.into_iter().next().unwrap());
                assert_eq!(tag, "t");
                assert_eq!(chunk, None);
                let got: Vec<&str> = events.iter().map(|e| e.get_str("log").unwrap()).collect();
                assert_eq!(got, logs, "case {i}");
                assert!(events.iter().all(|e| e.time == time), "case {i}");
            }
        }
    }

    #[test]
    fn many_values_in_one_read_heartbeat_and_chunk() {
        let opt = Value::Map(vec![(Value::from("chunk"), Value::from("abc=="))]);
        let mut b = vec![0xc0];
        b.extend(message("a", Value::from(1), record(&[("log", "1")]), opt));
        b.extend(message(
            "b",
            Value::from(2),
            record(&[("log", "2")]),
            Value::Nil,
        ));
        let msgs = decode_all(&b, b.len()).unwrap();
        assert_eq!(msgs[0], Message::Heartbeat);
        let (tag, ev, chunk) = events_of(msgs.into_iter().nth(1).unwrap());
        assert_eq!((tag.as_str(), ev[0].body.clone()), ("a", rec("1")));
        assert_eq!(chunk, Some(Value::from("abc==")));
        assert_eq!(
            ack(&Value::from("abc==")),
            to_bytes(&Value::Map(vec![(
                Value::from("ack"),
                Value::from("abc==")
            )]))
        );
    }

    #[test]
    fn garbage_and_oversize() {
        // HTTP text decodes as integers: not an array.
        let err = decode_all(b"GET / HTTP/1.1\r\n", 100).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid(_)), "{err:?}");
        // 0xc1 is never valid msgpack; a str header with bad UTF-8 either.
        assert!(decode_all(&[0xc1, 0x00], 100).is_err());
        assert!(decode_all(&[0x93, 0xc1, 0xc1, 0xc1], 100).is_err());
        let err = decode_all(
            &to_bytes(&Value::Array(vec![Value::from(1), Value::from(2)])),
            100,
        )
        .unwrap_err();
        assert!(err.to_string().contains("tag is not a string"), "{err}");
        // A record that is not a map.
        let err = decode_all(
            &message("t", Value::from(1), Value::from("x"), Value::Nil),
            100,
        )
        .unwrap_err();
        assert!(err.to_string().contains("record is not a map"), "{err}");
        // A huge string header that never completes.
        let mut d = Decoder::new(1000);
        d.push(&[0xdb, 0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(d.next_value(), Ok(None));
        d.push(&[b'x'; 1200]);
        assert_eq!(d.next_value(), Err(DecodeError::Oversize(1000)));
    }
}
