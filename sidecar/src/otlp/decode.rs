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
}

impl Reject {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MediaType(_) => "unsupported_media_type",
            Self::Encoding(_) => "encoding",
            Self::TooLarge(_) => "too_large",
            Self::Decode(_) => "decode",
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
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
