//! The Session Manager data-channel protocol, as the real
//! session-manager-plugin and SSM agent speak it: the 120-byte binary frame
//! (big-endian, space-padded message type, swapped UUID halves, SHA-256
//! payload digest), the JSON payloads of the open message, acknowledgements,
//! the handshake and `channel_closed`, and the two halves of the reliability
//! layer (`Outgoing`: sequence numbers, unacked buffer, retransmission with
//! the plugin's adaptive timeout; `Incoming`: in-order delivery, buffering
//! of early frames, acks).
//!
//! Pure: no IO and no clock of its own (callers pass `now`). KMS encryption
//! (payload types 8 and 9) is deliberately absent: the emulator never asks
//! for it, since the plugin would call the real KMS.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// `HeaderLength`: the offset of `PayloadLength`, which it does not count.
pub const HEADER_LENGTH: u32 = 116;
/// Where the payload starts (`HeaderLength` + the 4-byte `PayloadLength`).
pub const PAYLOAD_OFFSET: usize = 120;
const TYPE_LEN: usize = 32;

pub const INPUT_STREAM_DATA: &str = "input_stream_data";
pub const OUTPUT_STREAM_DATA: &str = "output_stream_data";
pub const ACKNOWLEDGE: &str = "acknowledge";
pub const CHANNEL_CLOSED: &str = "channel_closed";
pub const START_PUBLICATION: &str = "start_publication";
pub const PAUSE_PUBLICATION: &str = "pause_publication";

/// Flags: bit 0 SYN (first message of a stream), bit 1 FIN.
pub const FLAG_SYN: u64 = 1;
/// What acknowledgements and control messages carry (SYN|FIN).
pub const FLAG_CONTROL: u64 = 3;

/// The `PayloadType` values (u32 at offset 112).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum PayloadType {
    /// Terminal output, and (plugin to agent) keystrokes.
    Output = 1,
    Error = 2,
    /// `{"cols":..,"rows":..}`.
    Size = 3,
    Parameter = 4,
    HandshakeRequest = 5,
    HandshakeResponse = 6,
    HandshakeComplete = 7,
    EncChallengeRequest = 8,
    EncChallengeResponse = 9,
    /// A 4-byte big-endian flag: 1 DisconnectToPort, 2 TerminateSession.
    Flag = 10,
    StdErr = 11,
    ExitCode = 12,
}

impl PayloadType {
    pub fn from_u32(v: u32) -> Option<PayloadType> {
        use PayloadType::*;
        Some(match v {
            1 => Output,
            2 => Error,
            3 => Size,
            4 => Parameter,
            5 => HandshakeRequest,
            6 => HandshakeResponse,
            7 => HandshakeComplete,
            8 => EncChallengeRequest,
            9 => EncChallengeResponse,
            10 => Flag,
            11 => StdErr,
            12 => ExitCode,
            _ => return None,
        })
    }
}

/// The `Flag` payload that ends a session.
pub const FLAG_TERMINATE_SESSION: u32 = 2;

/// Why a received websocket message is not a frame. The plugin drops such
/// messages (and logs them); so does the emulator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame is at least 120 bytes; this one has {0}")]
    TooShort(usize),
    #[error("the header length must be 116, not {0}")]
    HeaderLength(u32),
    #[error("the message type is empty")]
    EmptyType,
    #[error("the message type is not ASCII")]
    TypeNotAscii,
    #[error("the created date is zero")]
    ZeroDate,
    #[error("the payload length says {said}, the frame carries {has}")]
    PayloadLength { said: u32, has: usize },
    #[error("the payload digest does not match the payload")]
    Digest,
}

/// One message of the data channel ("AgentMessage" / "ClientMessage").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub message_type: String,
    pub schema_version: u32,
    /// Unix epoch milliseconds; never zero.
    pub created_date: u64,
    pub sequence_number: i64,
    pub flags: u64,
    pub message_id: Uuid,
    pub payload_type: u32,
    pub payload: Vec<u8>,
}

/// A version 4 UUID from the thread's generator (one per frame: not a
/// system call each).
fn random_uuid() -> Uuid {
    use rand::Rng;
    uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid()
}

/// The current time in epoch milliseconds, as frames carry it.
pub fn epoch_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64)
        .max(1)
}

impl Frame {
    /// A frame created now with a fresh message id.
    pub fn new(
        message_type: &str,
        seq: i64,
        flags: u64,
        payload_type: u32,
        payload: Vec<u8>,
    ) -> Self {
        Frame {
            message_type: message_type.to_string(),
            schema_version: 1,
            created_date: epoch_millis(),
            sequence_number: seq,
            flags,
            message_id: random_uuid(),
            payload_type,
            payload,
        }
    }

    pub fn kind(&self) -> Option<PayloadType> {
        PayloadType::from_u32(self.payload_type)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(PAYLOAD_OFFSET + self.payload.len());
        b.extend_from_slice(&HEADER_LENGTH.to_be_bytes());
        let mut t = [b' '; TYPE_LEN];
        let name = self.message_type.as_bytes();
        let n = name.len().min(TYPE_LEN);
        t[..n].copy_from_slice(&name[..n]);
        b.extend_from_slice(&t);
        b.extend_from_slice(&self.schema_version.to_be_bytes());
        b.extend_from_slice(&self.created_date.to_be_bytes());
        b.extend_from_slice(&self.sequence_number.to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        let id = self.message_id.as_bytes();
        b.extend_from_slice(&id[8..]);
        b.extend_from_slice(&id[..8]);
        b.extend_from_slice(&Sha256::digest(&self.payload));
        b.extend_from_slice(&self.payload_type.to_be_bytes());
        b.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        b.extend_from_slice(&self.payload);
        b
    }

    /// Decodes a frame with the plugin's checks: fixed offsets, header
    /// length 116, a type and a date, and the digest of a non-empty payload.
    pub fn decode(b: &[u8]) -> Result<Frame, FrameError> {
        if b.len() < PAYLOAD_OFFSET {
            return Err(FrameError::TooShort(b.len()));
        }
        let u32_at = |o: usize| u32::from_be_bytes(b[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_be_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let header_length = u32_at(0);
        if header_length != HEADER_LENGTH {
            return Err(FrameError::HeaderLength(header_length));
        }
        let raw_type = &b[4..4 + TYPE_LEN];
        if !raw_type.is_ascii() {
            return Err(FrameError::TypeNotAscii);
        }
        let message_type: String = String::from_utf8_lossy(raw_type)
            .trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace())
            .to_string();
        if message_type.is_empty() {
            return Err(FrameError::EmptyType);
        }
        let created_date = u64_at(40);
        if created_date == 0 {
            return Err(FrameError::ZeroDate);
        }
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&b[72..80]);
        id[8..].copy_from_slice(&b[64..72]);
        let payload = b[PAYLOAD_OFFSET..].to_vec();
        let payload_length = u32_at(116);
        if payload_length as usize != payload.len() {
            return Err(FrameError::PayloadLength {
                said: payload_length,
                has: payload.len(),
            });
        }
        if payload_length != 0 && Sha256::digest(&payload).as_slice() != &b[80..112] {
            return Err(FrameError::Digest);
        }
        Ok(Frame {
            message_type,
            schema_version: u32_at(36),
            created_date,
            sequence_number: u64_at(48) as i64,
            flags: u64_at(56),
            message_id: Uuid::from_bytes(id),
            payload_type: u32_at(112),
            payload,
        })
    }

    /// The acknowledgement of this frame.
    pub fn ack(&self) -> Frame {
        let body = Acknowledge {
            acknowledged_message_type: self.message_type.clone(),
            acknowledged_message_id: self.message_id.hyphenated().to_string(),
            acknowledged_message_sequence_number: self.sequence_number,
            is_sequential_message: true,
        };
        Frame::new(
            ACKNOWLEDGE,
            0,
            FLAG_CONTROL,
            0,
            serde_json::to_vec(&body).unwrap_or_default(),
        )
    }
}

/// The first (text) websocket message a client sends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OpenDataChannel {
    #[serde(default)]
    pub message_schema_version: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub token_value: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
}

/// The `ClientVersion` prefix of fargate-local's own client. Only to such a
/// client does the emulator send the remote exit code (an `ExitCode`
/// payload): the real plugin would print it on the terminal.
pub const BUILTIN_CLIENT_VERSION_PREFIX: &str = "fargate-local/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Acknowledge {
    pub acknowledged_message_type: String,
    pub acknowledged_message_id: String,
    pub acknowledged_message_sequence_number: i64,
    #[serde(default)]
    pub is_sequential_message: bool,
}

/// `channel_closed`: the end of a session. An empty `output` prints
/// "Exiting session with sessionId: X."; anything else is printed as the
/// reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelClosed {
    pub message_id: String,
    /// Epoch milliseconds as a decimal string (the plugin's type).
    pub created_date: String,
    pub destination_id: String,
    pub session_id: String,
    pub message_type: String,
    pub schema_version: i64,
    pub output: String,
}

pub fn channel_closed(session_id: &str, output: &str) -> Frame {
    let body = ChannelClosed {
        message_id: random_uuid().hyphenated().to_string(),
        created_date: epoch_millis().to_string(),
        destination_id: session_id.to_string(),
        session_id: session_id.to_string(),
        message_type: CHANNEL_CLOSED.to_string(),
        schema_version: 1,
        output: output.to_string(),
    };
    Frame::new(
        CHANNEL_CLOSED,
        0,
        FLAG_CONTROL,
        0,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// The HandshakeRequest the emulator sends: an interactive session, no
/// encryption.
pub fn handshake_request(agent_version: &str) -> Vec<u8> {
    serde_json::json!({
        "AgentVersion": agent_version,
        "RequestedClientActions": [{
            "ActionType": "SessionType",
            "ActionParameters": {"SessionType": "InteractiveCommands", "Properties": null}
        }]
    })
    .to_string()
    .into_bytes()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandshakeResponse {
    #[serde(default)]
    pub client_version: String,
    #[serde(default)]
    pub processed_client_actions: Vec<ProcessedClientAction>,
    #[serde(default)]
    pub errors: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessedClientAction {
    #[serde(default)]
    pub action_type: String,
    /// 1 Success, 2 Failed, 3 Unsupported.
    #[serde(default)]
    pub action_status: i64,
    #[serde(default)]
    pub error: String,
}

/// The client's answer to `handshake_request`, as the plugin writes it.
pub fn handshake_response(client_version: &str) -> Vec<u8> {
    serde_json::json!({
        "ClientVersion": client_version,
        "ProcessedClientActions": [{
            "ActionType": "SessionType", "ActionStatus": 1, "ActionResult": null, "Error": ""
        }],
        "Errors": null
    })
    .to_string()
    .into_bytes()
}

/// HandshakeComplete; the time must be an integer of nanoseconds.
pub fn handshake_complete(took: Duration, customer_message: &str) -> Vec<u8> {
    serde_json::json!({
        "HandshakeTimeToComplete": took.as_nanos() as u64,
        "CustomerMessage": customer_message,
    })
    .to_string()
    .into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    pub cols: u32,
    pub rows: u32,
}

/// The ExitCode payload text (what the SSM agent writes).
pub fn exit_code_payload(code: i64) -> Vec<u8> {
    format!("EXIT_CODE: {code}").into_bytes()
}

pub fn parse_exit_code(payload: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(payload).ok()?;
    let (_, n) = s.rsplit_once("EXIT_CODE:")?;
    n.trim().parse().ok()
}

// ---------------------------------------------------------------- reliability

const MIN_RTO: Duration = Duration::from_millis(10);
const MAX_RTO: Duration = Duration::from_secs(1);
const INITIAL_RTO: Duration = Duration::from_millis(200);

struct Pending {
    frame: Vec<u8>,
    sent_at: Instant,
    /// A resent message gives no RTT sample (its ack may answer either copy).
    resent: bool,
}

/// The sending half of a stream: numbers `*_stream_data` messages from 0,
/// keeps each until it is acknowledged, and says when the oldest is due
/// again. The timeout adapts as the plugin's does: smoothed RTT (gain 1/8),
/// variance (gain 1/4), RTO = RTT + max(10 ms, 4 RTTVAR), at most 1 s.
pub struct Outgoing {
    message_type: &'static str,
    next_seq: i64,
    unacked: BTreeMap<i64, Pending>,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

impl Outgoing {
    pub fn new(message_type: &'static str) -> Self {
        Outgoing {
            message_type,
            next_seq: 0,
            unacked: BTreeMap::new(),
            srtt: None,
            rttvar: Duration::ZERO,
            rto: INITIAL_RTO,
        }
    }

    /// Numbers a payload and returns the encoded frame to send now. The
    /// first message of the stream carries SYN when `syn_first` is set (the
    /// agent's habit; the plugin sends 0 flags).
    pub fn push(
        &mut self,
        payload_type: PayloadType,
        payload: Vec<u8>,
        syn_first: bool,
        now: Instant,
    ) -> Vec<u8> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let flags = if seq == 0 && syn_first { FLAG_SYN } else { 0 };
        let frame =
            Frame::new(self.message_type, seq, flags, payload_type as u32, payload).encode();
        self.unacked.insert(
            seq,
            Pending {
                frame: frame.clone(),
                sent_at: now,
                resent: false,
            },
        );
        frame
    }

    /// An acknowledgement arrived. Returns whether it acked something.
    pub fn ack(&mut self, seq: i64, now: Instant) -> bool {
        let Some(p) = self.unacked.remove(&seq) else {
            return false;
        };
        if !p.resent {
            self.sample(now.saturating_duration_since(p.sent_at));
        }
        true
    }

    fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(srtt * 7 / 8 + rtt / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(INITIAL_RTO);
        self.rto = (srtt + (self.rttvar * 4).max(MIN_RTO)).min(MAX_RTO);
    }

    /// The oldest unacked frame, when it has waited longer than the timeout;
    /// it counts as sent again at `now`.
    pub fn due(&mut self, now: Instant) -> Option<Vec<u8>> {
        let rto = self.rto;
        let (_, p) = self.unacked.iter_mut().next()?;
        if now.saturating_duration_since(p.sent_at) < rto {
            return None;
        }
        p.sent_at = now;
        p.resent = true;
        Some(p.frame.clone())
    }

    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    pub fn rto(&self) -> Duration {
        self.rto
    }
}

/// What to do with a received `*_stream_data` frame.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Acknowledge it.
    pub ack: bool,
    /// Frames to process now, in sequence order.
    pub deliver: Vec<Frame>,
}

/// The receiving half of a stream: delivers frames in sequence order once,
/// buffers early ones (at most `MAX_BUFFERED`), and says which to ack.
pub struct Incoming {
    expected: i64,
    buffered: BTreeMap<i64, Frame>,
}

/// How many early frames are kept (the plugin's limit).
pub const MAX_BUFFERED: usize = 10_000;

impl Default for Incoming {
    fn default() -> Self {
        Self::new()
    }
}

impl Incoming {
    pub fn new() -> Self {
        Incoming {
            expected: 0,
            buffered: BTreeMap::new(),
        }
    }

    pub fn expected(&self) -> i64 {
        self.expected
    }

    /// Takes a frame. The expected one is delivered with every buffered
    /// successor and acked; a later one is acked and kept (unless the
    /// buffer is full: then it is neither, and its sender resends it); an
    /// earlier one (a resend whose ack was lost) is acked again only.
    pub fn receive(&mut self, frame: Frame) -> Received {
        let seq = frame.sequence_number;
        if seq < self.expected {
            return Received {
                ack: true,
                deliver: Vec::new(),
            };
        }
        if seq > self.expected {
            if self.buffered.len() >= MAX_BUFFERED && !self.buffered.contains_key(&seq) {
                return Received::default();
            }
            self.buffered.insert(seq, frame);
            return Received {
                ack: true,
                deliver: Vec::new(),
            };
        }
        let mut deliver = vec![frame];
        self.expected += 1;
        while let Some(next) = self.buffered.remove(&self.expected) {
            deliver.push(next);
            self.expected += 1;
        }
        Received { ack: true, deliver }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's worked example, accepted by the real plugin.
    const WORKED_EXAMPLE: &str = "\
        00 00 00 74 6f 75 74 70 75 74 5f 73 74 72 65 61 \
        6d 5f 64 61 74 61 20 20 20 20 20 20 20 20 20 20 \
        20 20 20 20 00 00 00 01 00 00 01 8b cf e5 68 00 \
        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 \
        99 aa bb cc dd ee ff 00 11 22 33 44 55 66 77 88 \
        8f 43 43 46 64 8f 6b 96 df 89 dd a9 01 c5 17 6b \
        10 a6 d8 39 61 dd 3c 1a c8 8b 59 b2 dc 32 7a a4 \
        00 00 00 01 00 00 00 02 68 69";

    fn worked_example() -> Vec<u8> {
        hex::decode(WORKED_EXAMPLE.replace(' ', "")).unwrap()
    }

    fn example_frame() -> Frame {
        Frame {
            message_type: OUTPUT_STREAM_DATA.into(),
            schema_version: 1,
            created_date: 1_700_000_000_000,
            sequence_number: 0,
            flags: 1,
            message_id: Uuid::parse_str("11223344-5566-7788-99aa-bbccddeeff00").unwrap(),
            payload_type: 1,
            payload: b"hi".to_vec(),
        }
    }

    #[test]
    fn the_worked_example_encodes_and_decodes_byte_for_byte() {
        let bytes = worked_example();
        assert_eq!(bytes.len(), 122);
        assert_eq!(example_frame().encode(), bytes);
        assert_eq!(Frame::decode(&bytes).unwrap(), example_frame());
    }

    fn check(mutate: impl Fn(&mut Vec<u8>), want: Result<(), FrameError>) {
        let mut b = worked_example();
        mutate(&mut b);
        assert_eq!(Frame::decode(&b).map(|_| ()), want);
    }

    #[test]
    fn frames_the_plugin_would_drop_are_refused() {
        check(|_| {}, Ok(()));
        // NUL padding of the type is accepted, as the plugin accepts it.
        check(|b| b[22..36].fill(0), Ok(()));
        check(|b| b.truncate(119), Err(FrameError::TooShort(119)));
        check(|b| b[3] = 0x70, Err(FrameError::HeaderLength(0x70)));
        check(|b| b[4..36].fill(b' '), Err(FrameError::EmptyType));
        check(|b| b[40..48].fill(0), Err(FrameError::ZeroDate));
        check(|b| b[121] = b'o', Err(FrameError::Digest));
        check(|b| b[80] ^= 1, Err(FrameError::Digest));
        check(
            |b| b.push(b'!'),
            Err(FrameError::PayloadLength { said: 2, has: 3 }),
        );
        check(|b| b[4] = 0xff, Err(FrameError::TypeNotAscii));
    }

    #[test]
    fn an_empty_payload_needs_no_digest() {
        let mut f = example_frame();
        f.payload.clear();
        let mut b = f.encode();
        b[80..112].fill(0);
        assert_eq!(Frame::decode(&b).unwrap().payload, b"");
    }

    #[test]
    fn acks_name_the_canonical_uuid_and_the_sequence_number() {
        let mut f = example_frame();
        f.sequence_number = 7;
        let ack = Frame::decode(&f.ack().encode()).unwrap();
        assert_eq!(ack.message_type, ACKNOWLEDGE);
        assert_eq!(
            (ack.sequence_number, ack.flags, ack.payload_type),
            (0, 3, 0)
        );
        let body: Acknowledge = serde_json::from_slice(&ack.payload).unwrap();
        assert_eq!(
            body,
            Acknowledge {
                acknowledged_message_type: OUTPUT_STREAM_DATA.into(),
                acknowledged_message_id: "11223344-5566-7788-99aa-bbccddeeff00".into(),
                acknowledged_message_sequence_number: 7,
                is_sequential_message: true,
            }
        );
    }

    #[test]
    fn control_payloads_have_the_plugins_json_types() {
        let cc = channel_closed("s-1", "bye");
        let v: serde_json::Value = serde_json::from_slice(&cc.payload).unwrap();
        assert!(v["CreatedDate"].is_string());
        assert_eq!(v["SchemaVersion"], 1);
        assert_eq!(v["Output"], "bye");
        assert_eq!(v["SessionId"], "s-1");
        let hc: serde_json::Value =
            serde_json::from_slice(&handshake_complete(Duration::from_millis(3), "")).unwrap();
        assert_eq!(hc["HandshakeTimeToComplete"], 3_000_000);
        assert!(hc["HandshakeTimeToComplete"].is_u64());
        let hr: serde_json::Value = serde_json::from_slice(&handshake_request("3.3.0.0")).unwrap();
        assert_eq!(
            hr["RequestedClientActions"][0]["ActionParameters"]["SessionType"],
            "InteractiveCommands"
        );
        let resp: HandshakeResponse =
            serde_json::from_slice(&handshake_response("1.2.0.0")).unwrap();
        assert_eq!(resp.processed_client_actions[0].action_status, 1);
        assert_eq!(parse_exit_code(&exit_code_payload(-3)), Some(-3));
        assert_eq!(parse_exit_code(b"nothing"), None);
    }

    fn seq_frame(seq: i64) -> Frame {
        Frame::new(INPUT_STREAM_DATA, seq, 0, 1, vec![seq as u8])
    }

    fn seqs(r: &Received) -> Vec<i64> {
        r.deliver.iter().map(|f| f.sequence_number).collect()
    }

    #[test]
    fn frames_are_delivered_once_and_in_order() {
        let mut inc = Incoming::new();
        // (arriving seq, acked, delivered)
        let cases: [(i64, bool, &[i64]); 8] = [
            (0, true, &[0]),
            (2, true, &[]),
            (3, true, &[]),
            (2, true, &[]), // duplicate of a buffered one
            (1, true, &[1, 2, 3]),
            (1, true, &[]), // duplicate of a delivered one: re-acked only
            (5, true, &[]),
            (4, true, &[4, 5]),
        ];
        for (seq, ack, want) in cases {
            let r = inc.receive(seq_frame(seq));
            assert_eq!((r.ack, seqs(&r).as_slice()), (ack, want), "seq {seq}");
        }
        assert_eq!(inc.expected(), 6);
    }

    #[test]
    fn a_full_buffer_neither_acks_nor_keeps() {
        let mut inc = Incoming::new();
        for s in 1..=MAX_BUFFERED as i64 {
            assert!(inc.receive(seq_frame(s)).ack);
        }
        let r = inc.receive(seq_frame(MAX_BUFFERED as i64 + 1));
        assert_eq!(r, Received::default());
        let r = inc.receive(seq_frame(0));
        assert_eq!(r.deliver.len(), MAX_BUFFERED + 1);
    }

    #[test]
    fn unacked_frames_are_resent_oldest_first_until_acked() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut out = Outgoing::new(OUTPUT_STREAM_DATA);
        let f0 = out.push(PayloadType::HandshakeRequest, b"{}".to_vec(), true, t0);
        let f1 = out.push(PayloadType::Output, b"x".to_vec(), true, ms(10));
        let (d0, d1) = (Frame::decode(&f0).unwrap(), Frame::decode(&f1).unwrap());
        assert_eq!((d0.sequence_number, d0.flags), (0, FLAG_SYN));
        assert_eq!((d1.sequence_number, d1.flags), (1, 0));
        assert_eq!(out.due(ms(199)), None);
        // The oldest only, unchanged (same seq, same message id).
        assert_eq!(out.due(ms(200)), Some(f0.clone()));
        assert_eq!(out.due(ms(250)), None);
        assert_eq!(out.due(ms(400)), Some(f0));
        assert!(out.ack(0, ms(401)));
        assert!(!out.ack(0, ms(402)), "a second ack acks nothing");
        assert_eq!(out.due(ms(402)), Some(f1));
        assert!(out.ack(1, ms(403)));
        assert_eq!(out.unacked(), 0);
        assert_eq!(out.due(ms(10_000)), None);
    }

    #[test]
    fn the_timeout_follows_the_round_trip_time() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(OUTPUT_STREAM_DATA);
        assert_eq!(out.rto(), INITIAL_RTO);
        for i in 0..50u64 {
            let now = t0 + Duration::from_millis(i * 10);
            out.push(PayloadType::Output, vec![1], false, now);
            out.ack(i as i64, now + Duration::from_millis(2));
        }
        assert!(out.rto() < Duration::from_millis(20), "{:?}", out.rto());
        assert!(out.rto() >= Duration::from_millis(10));
        let mut slow = Outgoing::new(OUTPUT_STREAM_DATA);
        for i in 0..50u64 {
            let now = t0 + Duration::from_secs(i * 10);
            slow.push(PayloadType::Output, vec![1], false, now);
            slow.ack(i as i64, now + Duration::from_secs(5));
        }
        assert_eq!(slow.rto(), MAX_RTO);
    }
}
