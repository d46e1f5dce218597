//! Turning a non-success response into a typed [`Error`], in the context of the
//! operation that received it (a `400` means something different on a read than on
//! an append; the kinds of `409` are told apart by headers).

use reqwest::Response;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::headers::{self, PRODUCER_EPOCH, PRODUCER_EXPECTED_SEQ, PRODUCER_RECEIVED_SEQ, STREAM_CLOSED, STREAM_NEXT_OFFSET};
use crate::offset::Offset;
use crate::retry::parse_retry_after;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Append,
    Close,
    Delete,
    Head,
    Read,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Append => "append to",
            Op::Close => "close",
            Op::Delete => "delete",
            Op::Head => "head",
            Op::Read => "read",
        }
    }
}

/// Longest server explanation kept in an error.
const MAX_SERVER_MESSAGE: usize = 512;

pub(crate) async fn error_for_response(op: Op, resp: Response, url: &Url, sent_stream_seq: bool) -> Error {
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    // A HEAD has no body; elsewhere the server's text helps, but only a bounded prefix.
    let text = if op == Op::Head { String::new() } else { bounded_text(resp).await };
    let next_offset = headers::get_str(&h, STREAM_NEXT_OFFSET).and_then(|s| Offset::parse(s).ok());
    let closed = headers::is_true(h.get(STREAM_CLOSED));
    let kind = match status {
        400 if op == Op::Read => ErrorKind::InvalidOffset,
        400 => ErrorKind::BadRequest { server_message: text.clone() },
        401 => ErrorKind::Unauthorized,
        403 => match headers::get_u64(&h, PRODUCER_EPOCH) {
            Some(current_epoch) if op == Op::Append || op == Op::Close => ErrorKind::StaleEpoch { current_epoch },
            _ => ErrorKind::Forbidden,
        },
        404 => ErrorKind::NotFound,
        405 | 501 => ErrorKind::NotSupported,
        409 if closed => ErrorKind::StreamClosed { next_offset: next_offset.clone() },
        409 if op == Op::Append || op == Op::Close => {
            match (headers::get_u64(&h, PRODUCER_EXPECTED_SEQ), headers::get_u64(&h, PRODUCER_RECEIVED_SEQ)) {
                (Some(expected), Some(received)) => ErrorKind::SequenceGap { expected, received },
                _ => {
                    // No header separates a Stream-Seq regression from a content-type
                    // mismatch; only a request that carried Stream-Seq can cause the former.
                    let mentions_type = text.to_ascii_lowercase().contains("content-type")
                        || text.to_ascii_lowercase().contains("content type");
                    if sent_stream_seq && !mentions_type {
                        ErrorKind::SequenceConflict
                    } else {
                        ErrorKind::ContentTypeMismatch
                    }
                }
            }
        }
        409 => ErrorKind::Conflict,
        410 => ErrorKind::Gone { earliest_offset: next_offset.clone() },
        413 => ErrorKind::PayloadTooLarge,
        429 => ErrorKind::RateLimited {
            retry_after: headers::get_str(&h, "retry-after").and_then(parse_retry_after),
        },
        _ => ErrorKind::UnexpectedStatus,
    };
    let what = match &kind {
        ErrorKind::NotFound => "stream not found".to_string(),
        ErrorKind::StreamClosed { .. } => "stream is closed".to_string(),
        ErrorKind::Gone { .. } => "stream is gone (deleted, or offset before retained data)".to_string(),
        ErrorKind::StaleEpoch { current_epoch } => format!("producer epoch is stale (server has epoch {current_epoch})"),
        ErrorKind::SequenceGap { expected, received } => format!("producer sequence gap (expected {expected}, sent {received})"),
        ErrorKind::SequenceConflict => "Stream-Seq is not greater than the last accepted one".to_string(),
        ErrorKind::ContentTypeMismatch => "content type does not match the stream's".to_string(),
        ErrorKind::Conflict => "conflicts with the existing stream".to_string(),
        ErrorKind::InvalidOffset => "the server rejected the offset or read parameters".to_string(),
        ErrorKind::PayloadTooLarge => "payload too large".to_string(),
        ErrorKind::RateLimited { .. } => "rate limited".to_string(),
        ErrorKind::NotSupported => "operation not supported by this server".to_string(),
        ErrorKind::BadRequest { .. } => "bad request".to_string(),
        ErrorKind::Unauthorized => "unauthorized".to_string(),
        ErrorKind::Forbidden => "forbidden".to_string(),
        _ => "unexpected status".to_string(),
    };
    let detail = if text.is_empty() || what.eq_ignore_ascii_case(&text) { String::new() } else { format!(" ({text})") };
    Error::new(kind, format!("{} {url} failed with {status}: {what}{detail}", op.verb())).with_status(status)
}

async fn bounded_text(mut resp: Response) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= MAX_SERVER_MESSAGE {
            break;
        }
    }
    buf.truncate(MAX_SERVER_MESSAGE);
    // Server text is untrusted: keep it on one printable line.
    String::from_utf8_lossy(&buf).chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}
