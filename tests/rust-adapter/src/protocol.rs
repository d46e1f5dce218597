//! The JSON-lines wire format of the conformance adapter protocol
//! (shared/protocol/ADAPTER-PROTOCOL.md): commands in, result envelopes out.

use std::collections::BTreeMap;

use durable_streams_sdk::Error;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Extra request headers, as sent by the runner.
pub type Headers = Option<BTreeMap<String, String>>;

/// One command line. Optional fields are omitted by the runner, never `null`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Command {
    Init(Init),
    Create(Create),
    Connect(PathOnly),
    Append(Append),
    IdempotentAppend(IdempotentAppend),
    IdempotentAppendBatch(IdempotentAppendBatch),
    IdempotentClose(IdempotentClose),
    IdempotentDetach(ProducerKey),
    Read(Read),
    Head(PathOnly),
    Delete(PathOnly),
    Close(Close),
    SetDynamicHeader(SetDynamic),
    SetDynamicParam(SetDynamic),
    ClearDynamic,
    Validate(Validate),
    Shutdown,
    /// Anything else (including `server-close` and `benchmark`): `NOT_SUPPORTED`.
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Init {
    pub server_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Create {
    pub path: String,
    pub content_type: Option<String>,
    pub ttl_seconds: Option<u64>,
    pub expires_at: Option<String>,
    pub headers: Headers,
    #[serde(default)]
    pub closed: bool,
    pub data: Option<String>,
}

#[derive(Deserialize)]
pub struct PathOnly {
    pub path: String,
    pub headers: Headers,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Append {
    pub path: String,
    pub data: String,
    #[serde(default)]
    pub binary: bool,
    /// A number in practice; sent verbatim as the decimal `Stream-Seq` string.
    pub seq: Option<Value>,
    pub headers: Headers,
    pub producer_id: Option<String>,
    pub producer_epoch: Option<u64>,
    pub producer_seq: Option<u64>,
}

/// Identifies a cached producer: `(path, producerId, epoch)`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerKey {
    pub path: String,
    pub producer_id: String,
    #[serde(default)]
    pub epoch: u64,
    pub headers: Headers,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotentAppend {
    #[serde(flatten)]
    pub key: ProducerKey,
    pub data: String,
    #[serde(default)]
    pub auto_claim: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotentAppendBatch {
    #[serde(flatten)]
    pub key: ProducerKey,
    pub items: Vec<String>,
    #[serde(default)]
    pub auto_claim: bool,
    pub max_in_flight: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotentClose {
    #[serde(flatten)]
    pub key: ProducerKey,
    pub data: Option<String>,
    #[serde(default)]
    pub auto_claim: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Read {
    pub path: String,
    pub offset: Option<String>,
    /// `false` / absent, `true` (auto), `"long-poll"` or `"sse"`.
    pub live: Option<Value>,
    pub timeout_ms: Option<u64>,
    pub max_chunks: Option<u64>,
    #[serde(default)]
    pub wait_for_up_to_date: bool,
    pub headers: Headers,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Close {
    pub path: String,
    pub data: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetDynamic {
    pub name: String,
    pub value_type: String,
    pub initial_value: Option<String>,
}

#[derive(Deserialize)]
pub struct Validate {
    /// `{"target": "retry-options" | "idempotent-producer", ...options}`.
    pub target: Map<String, Value>,
}

/// An error result: `{"type":"error","success":false,"commandType":…}`.
#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub status: Option<u16>,
    pub message: String,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure { code, status: None, message: message.into() }
    }
}

/// The core already knows the conformance code, the HTTP status and a message naming the URL.
impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure { code: e.conformance_code(), status: e.status(), message: e.message().to_string() }
    }
}

pub type Outcome = Result<Map<String, Value>, Failure>;

/// Builds a result object from `json!({...})`.
pub fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The line answering a command of type `command_type`.
pub fn envelope(command_type: &str, outcome: Outcome) -> Value {
    match outcome {
        Ok(mut m) => {
            m.insert("type".into(), json!(command_type));
            m.insert("success".into(), json!(true));
            Value::Object(m)
        }
        Err(f) => {
            let mut v = json!({
                "type": "error",
                "success": false,
                "commandType": command_type,
                "errorCode": f.code,
                "message": f.message,
            });
            if let Some(s) = f.status {
                v["status"] = json!(s);
            }
            v
        }
    }
}

/// One output line. U+2028/U+2029 are escaped so that no line terminator other than the
/// final `\n` can appear (they can only occur inside JSON strings).
pub fn to_line(v: &Value) -> String {
    let mut s = serde_json::to_string(v).expect("a Value always serializes");
    if s.contains(['\u{2028}', '\u{2029}']) {
        s = s.replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029");
    }
    s.push('\n');
    s
}
