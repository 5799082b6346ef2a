//! Decoding OTLP/HTTP export requests: the media type and content encoding checked, gzip
//! undone within a bound, the protobuf or JSON message decoded. Pure; no I/O.

use std::borrow::Cow;
use std::io::Read;

use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::MAX_DECODED;

/// Why a request was refused (the `reason` label).
#[derive(Debug, thiserror::Error)]
pub enum Reject {
    /// Not protobuf or JSON.
    #[error("unsupported content type {0:?}: send application/x-protobuf or application/json")]
    MediaType(String),
    /// Not gzip or identity.
    #[error("unsupported content encoding {0:?}: send gzip or none")]
    Encoding(String),
    /// Too large.
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    /// Not a valid message.
    #[error("decoding the request: {0}")]
    Decode(String),
    /// Its decoded form would take more than this many bytes (many small elements).
    #[error("request decodes to over {0} bytes: send smaller batches")]
    Decoded(usize),
}

impl Reject {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MediaType(_) => "unsupported_media_type",
            Self::Encoding(_) => "encoding",
            Self::TooLarge(_) | Self::Decoded(_) => "too_large",
            Self::Decode(_) => "decode",
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge(_) | Self::Decoded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Encoding(_) | Self::Decode(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Protobuf or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

/// The encoding named by a `Content-Type`.
pub fn encoding(content_type: Option<&str>) -> Result<Encoding, Reject> {
    let ct = content_type.unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Reject::MediaType(ct.to_string())),
    }
}

/// The body with any gzip encoding removed, at most [`MAX_DECODED`] bytes (an identity body
/// is borrowed, not copied).
pub fn decompress<'a>(
    body: &'a [u8],
    content_encoding: Option<&str>,
) -> Result<Cow<'a, [u8]>, Reject> {
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(Cow::Borrowed(body)),
        Some(e) if e.is_empty() || e == "identity" => Ok(Cow::Borrowed(body)),
        Some(e) if e == "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_DECODED as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Reject::Decode(format!("gzip: {e}")))?;
            if out.len() > MAX_DECODED {
                return Err(Reject::TooLarge(MAX_DECODED));
            }
            Ok(Cow::Owned(out))
        }
        Some(e) => Err(Reject::Encoding(e)),
    }
}

/// An export request of traces.
pub fn decode_traces(enc: Encoding, data: &[u8]) -> Result<ExportTraceServiceRequest, Reject> {
    match enc {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(data).map_err(|e| Reject::Decode(e.to_string()))
        }
        Encoding::Json => serde_json::from_slice(data).map_err(|e| Reject::Decode(e.to_string())),
    }
}

/// An export request of logs.
pub fn decode_logs(enc: Encoding, data: &[u8]) -> Result<ExportLogsServiceRequest, Reject> {
    match enc {
        Encoding::Protobuf => {
            ExportLogsServiceRequest::decode(data).map_err(|e| Reject::Decode(e.to_string()))
        }
        Encoding::Json => serde_json::from_slice(data).map_err(|e| Reject::Decode(e.to_string())),
    }
}

/// The messages of an export request whose decoded form takes memory of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Msg {
    TraceRequest,
    LogsRequest,
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
    Link,
    Status,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    Resource,
    EntityRef,
    Scope,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
    /// An element of a repeated string field (`EntityRef.id_keys`).
    Str,
}

impl Msg {
    /// Bytes one occurrence takes once decoded (its struct; its strings are counted apart).
    fn size(self) -> usize {
        use opentelemetry_proto::tonic::common::v1 as c;
        use opentelemetry_proto::tonic::logs::v1 as l;
        use opentelemetry_proto::tonic::trace::v1 as t;
        use std::mem::size_of;
        match self {
            Self::TraceRequest => size_of::<ExportTraceServiceRequest>(),
            Self::LogsRequest => size_of::<ExportLogsServiceRequest>(),
            Self::ResourceSpans => size_of::<t::ResourceSpans>(),
            Self::ScopeSpans => size_of::<t::ScopeSpans>(),
            Self::Span => size_of::<t::Span>(),
            Self::Event => size_of::<t::span::Event>(),
            Self::Link => size_of::<t::span::Link>(),
            Self::Status => size_of::<t::Status>(),
            Self::ResourceLogs => size_of::<l::ResourceLogs>(),
            Self::ScopeLogs => size_of::<l::ScopeLogs>(),
            Self::LogRecord => size_of::<l::LogRecord>(),
            Self::Resource => size_of::<opentelemetry_proto::tonic::resource::v1::Resource>(),
            Self::EntityRef => size_of::<c::EntityRef>(),
            Self::Scope => size_of::<c::InstrumentationScope>(),
            Self::KeyValue => size_of::<c::KeyValue>(),
            Self::AnyValue => size_of::<c::AnyValue>(),
            Self::ArrayValue => size_of::<c::ArrayValue>(),
            Self::KeyValueList => size_of::<c::KeyValueList>(),
            Self::Str => size_of::<String>(),
        }
    }

    /// The message in field `tag` of a protobuf `self`, if it is one counted.
    fn field(self, tag: u64) -> Option<Self> {
        use Msg::*;
        Some(match (self, tag) {
            (TraceRequest, 1) => ResourceSpans,
            (LogsRequest, 1) => ResourceLogs,
            (ResourceSpans | ResourceLogs, 1) => Resource,
            (ResourceSpans, 2) => ScopeSpans,
            (ResourceLogs, 2) => ScopeLogs,
            (ScopeSpans | ScopeLogs, 1) => Scope,
            (ScopeSpans, 2) => Span,
            (ScopeLogs, 2) => LogRecord,
            (Span, 9)
            | (Event, 3)
            | (Link, 4)
            | (Resource, 1)
            | (Scope, 3)
            | (LogRecord, 6)
            | (KeyValueList, 1) => KeyValue,
            (Span, 11) => Event,
            (Span, 13) => Link,
            (Span, 15) => Status,
            (Resource, 3) => EntityRef,
            (EntityRef, 3 | 4) => Str,
            (LogRecord, 5) | (KeyValue, 2) | (ArrayValue, 1) => AnyValue,
            (AnyValue, 5) => ArrayValue,
            (AnyValue, 6) => KeyValueList,
            _ => return None,
        })
    }

    /// The message in the member `key` of a JSON `self` (OTLP/JSON names, or the proto ones).
    fn member(self, key: &[u8]) -> Option<Self> {
        use Msg::*;
        Some(match (self, key) {
            (TraceRequest, b"resourceSpans" | b"resource_spans") => ResourceSpans,
            (LogsRequest, b"resourceLogs" | b"resource_logs") => ResourceLogs,
            (ResourceSpans | ResourceLogs, b"resource") => Resource,
            (ResourceSpans, b"scopeSpans" | b"scope_spans") => ScopeSpans,
            (ResourceLogs, b"scopeLogs" | b"scope_logs") => ScopeLogs,
            (ScopeSpans | ScopeLogs, b"scope") => Scope,
            (ScopeSpans, b"spans") => Span,
            (ScopeLogs, b"logRecords" | b"log_records") => LogRecord,
            (Span | Event | Link | Resource | Scope | LogRecord, b"attributes")
            | (KeyValueList, b"values") => KeyValue,
            (Span, b"events") => Event,
            (Span, b"links") => Link,
            (Span, b"status") => Status,
            (Resource, b"entityRefs" | b"entity_refs") => EntityRef,
            (LogRecord, b"body") | (KeyValue, b"value") | (ArrayValue, b"values") => AnyValue,
            (AnyValue, b"arrayValue" | b"array_value") => ArrayValue,
            (AnyValue, b"kvlistValue" | b"kvlist_value") => KeyValueList,
            _ => return None,
        })
    }
}

/// Deepest nesting walked (prost's own recursion limit).
const MAX_DEPTH: usize = 100;

/// Bytes the decoded form of `data` would take at most (its structs, their vectors' growth,
/// a copy of every string), refused once over `limit`, without decoding it: a protobuf body
/// is walked field by field, a JSON one scanned for its objects. A 2-byte empty span decodes
/// to a struct of a few hundred bytes; this is what keeps a small body from becoming hundreds
/// of MiB.
pub fn check_decoded_size(
    enc: Encoding,
    logs: bool,
    data: &[u8],
    limit: usize,
) -> Result<usize, Reject> {
    let top = if logs {
        Msg::LogsRequest
    } else {
        Msg::TraceRequest
    };
    let mut structs = top.size();
    // Vectors grow by doubling: an element can cost twice its struct.
    let over = |structs: usize| structs.saturating_mul(2).saturating_add(data.len()) > limit;
    let walked = match enc {
        Encoding::Protobuf => walk_protobuf(data, top, 0, &mut structs, &over),
        Encoding::Json => scan_json(data, top, &mut structs, &over),
    };
    walked.map_err(|e| match e {
        Reject::Decoded(_) => Reject::Decoded(limit),
        e => e,
    })?;
    let total = structs.saturating_mul(2).saturating_add(data.len());
    if total > limit {
        return Err(Reject::Decoded(limit));
    }
    Ok(total)
}

fn walk_protobuf(
    mut buf: &[u8],
    msg: Msg,
    depth: usize,
    structs: &mut usize,
    over: &dyn Fn(usize) -> bool,
) -> Result<(), Reject> {
    use prost::encoding::decode_varint;
    if depth > MAX_DEPTH {
        return Err(Reject::Decode("message nested too deeply".into()));
    }
    let bad = |e: prost::DecodeError| Reject::Decode(e.to_string());
    let short = || Reject::Decode("truncated message".into());
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).map_err(bad)?;
        match key & 7 {
            0 => {
                decode_varint(&mut buf).map_err(bad)?;
            }
            1 => buf = buf.get(8..).ok_or_else(short)?,
            5 => buf = buf.get(4..).ok_or_else(short)?,
            2 => {
                let len =
                    usize::try_from(decode_varint(&mut buf).map_err(bad)?).map_err(|_| short())?;
                if len > buf.len() {
                    return Err(short());
                }
                let (inner, rest) = buf.split_at(len);
                buf = rest;
                if let Some(child) = msg.field(key >> 3) {
                    *structs = structs.saturating_add(child.size());
                    if over(*structs) {
                        return Err(Reject::Decoded(0));
                    }
                    if child != Msg::Str {
                        walk_protobuf(inner, child, depth + 1, structs, over)?;
                    }
                }
            }
            w => return Err(Reject::Decode(format!("unsupported wire type {w}"))),
        }
    }
    Ok(())
}

/// What a JSON container being scanned is.
enum Frame {
    /// An object of this message (`None`: not one counted), with its member being read.
    Object(Option<Msg>, Option<Msg>),
    /// An array of this message's elements.
    Array(Option<Msg>),
}

fn scan_json(
    data: &[u8],
    top: Msg,
    structs: &mut usize,
    over: &dyn Fn(usize) -> bool,
) -> Result<(), Reject> {
    // Any object not recognised costs as much as the larger of the small structs.
    let fallback = Msg::KeyValue.size().max(Msg::AnyValue.size());
    let mut stack: Vec<Frame> = Vec::new();
    let mut key: Option<&[u8]> = None;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        match b {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < data.len() && data[j] != b'"' {
                    j += if data[j] == b'\\' { 2 } else { 1 };
                }
                let s = data.get(start..j).unwrap_or_default();
                i = j;
                match stack.last() {
                    Some(Frame::Array(_)) => {
                        *structs = structs.saturating_add(Msg::Str.size());
                    }
                    _ => key = Some(s),
                }
            }
            b':' => {
                if let (Some(Frame::Object(m, member)), Some(k)) = (stack.last_mut(), key.take()) {
                    *member = m.and_then(|m| m.member(k));
                }
            }
            b'{' | b'[' => {
                let this = match stack.last() {
                    None => Some(top),
                    Some(Frame::Array(e)) => *e,
                    Some(Frame::Object(_, member)) => *member,
                };
                if b == b'{' {
                    *structs =
                        structs.saturating_add(this.map_or(fallback, Msg::size).max(fallback));
                    stack.push(Frame::Object(this, None));
                } else {
                    stack.push(Frame::Array(this));
                }
                if stack.len() > MAX_DEPTH {
                    return Err(Reject::Decode("document nested too deeply".into()));
                }
                if over(*structs) {
                    return Err(Reject::Decoded(0));
                }
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Frame::Object(_, member)) = stack.last_mut() {
                    *member = None;
                }
                key = None;
            }
            _ => {}
        }
        i += 1;
    }
    if over(*structs) {
        return Err(Reject::Decoded(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/otlp")
                .join(name),
        )
        .unwrap()
    }

    /// The real SDK payloads pass with room; the estimate is no less than what decoding
    /// them holds (structs counted by hand below) and within a few times their size.
    #[test]
    fn real_payloads_are_estimated_within_a_few_times_their_size() {
        for (name, enc) in [
            ("two-agents.pb", Encoding::Protobuf),
            ("two-agents.json", Encoding::Json),
        ] {
            let data = fixture(name);
            let est = check_decoded_size(enc, false, &data, usize::MAX).unwrap();
            let req = decode_traces(enc, &data).unwrap();
            let spans: usize = req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            let attrs: usize = req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|s| s.attributes.len())
                .sum();
            let floor = spans * Msg::Span.size() + attrs * Msg::KeyValue.size();
            eprintln!(
                "{name}: {} bytes, estimate {est}, floor {floor}",
                data.len()
            );
            assert!(est >= floor, "{name}: {est} < {floor}");
            assert!(est < data.len() * 12, "{name}: {est} for {}", data.len());
        }
    }

    /// 2-byte empty spans: a 1 MiB body would be ~128 MiB of structs.
    #[test]
    fn empty_elements_are_counted_at_their_decoded_size() {
        let n = 1000usize;
        let mut scope = Vec::new();
        for _ in 0..n {
            scope.extend_from_slice(&[0x12, 0x00]);
        }
        let mut rs = vec![0x12];
        prost::encoding::encode_varint(scope.len() as u64, &mut rs);
        rs.extend_from_slice(&scope);
        let mut req = vec![0x0a];
        prost::encoding::encode_varint(rs.len() as u64, &mut req);
        req.extend_from_slice(&rs);
        let est = check_decoded_size(Encoding::Protobuf, false, &req, usize::MAX).unwrap();
        assert!(est >= n * Msg::Span.size() * 2, "{est}");
        assert!(matches!(
            check_decoded_size(Encoding::Protobuf, false, &req, 64 * 1024),
            Err(Reject::Decoded(65536))
        ));
        let json = format!(
            "{{\"resourceLogs\":[{{\"scopeLogs\":[{{\"logRecords\":[{}{{}}]}}]}}]}}",
            "{},".repeat(n - 1)
        );
        let est = check_decoded_size(Encoding::Json, true, json.as_bytes(), usize::MAX).unwrap();
        assert!(est >= n * Msg::LogRecord.size() * 2, "{est}");
        // Braces inside strings are text, not objects.
        let text = format!(
            "{{\"resourceLogs\":[{{\"schemaUrl\":\"{}\"}}]}}",
            "{}".repeat(n)
        );
        let est = check_decoded_size(Encoding::Json, true, text.as_bytes(), usize::MAX).unwrap();
        assert!(est < text.len() + 4096, "{est}");
        // Truncated protobuf is refused as malformed.
        assert!(matches!(
            check_decoded_size(Encoding::Protobuf, false, &req[..req.len() / 2], usize::MAX),
            Err(Reject::Decode(_))
        ));
    }
}
