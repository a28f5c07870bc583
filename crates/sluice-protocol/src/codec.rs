//! Request decoding and response encoding over `kafka-protocol`.
//!
//! Decoding is split so the caller can tell apart what Kafka tells apart: an unknown API key
//! (close the connection), a version we do not serve (ApiVersions answers UNSUPPORTED_VERSION
//! in v0; anything else closes), and a malformed body (close, log).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::versions::supported_range;

/// Why a request frame could not be decoded; see the module docs for what each one costs.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Fewer than 8 bytes: no room for api key, version and correlation id.
    #[error("request too short for a header ({0} bytes)")]
    Short(usize),
    /// An API key `kafka-protocol` does not know, or one Sluice does not serve.
    #[error("unknown api key {0}")]
    UnknownApi(i16),
    /// A served API at a version outside its [`crate::versions`] range.
    #[error("{api:?} v{version} is not supported")]
    UnsupportedVersion {
        /// The API asked for.
        api: ApiKey,
        /// The requested version.
        version: i16,
        /// The request's correlation id, so ApiVersions can still answer.
        correlation_id: i32,
    },
    /// The header or body does not decode (bad lengths, truncation, a decoder panic).
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        /// The API asked for.
        api: ApiKey,
        /// The requested version.
        version: i16,
        /// The request's correlation id.
        correlation_id: i32,
        /// What failed to decode.
        reason: String,
    },
}

/// A decoded request with the information needed to answer it.
#[derive(Debug)]
pub struct Request {
    /// The API key.
    pub api: ApiKey,
    /// The request's API version (within the served range).
    pub version: i16,
    /// The request header (correlation id, client id, tagged fields).
    pub header: RequestHeader,
    /// The decoded body.
    pub body: RequestKind,
}

fn peek_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// Decodes a full request frame (without its size prefix). Every length in the body is checked
/// against the bytes left before `kafka-protocol` allocates. Errors: [`DecodeError`].
pub fn decode_request(frame: Bytes) -> Result<Request, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::Short(frame.len()));
    }
    let key = peek_i16(&frame, 0);
    let version = peek_i16(&frame, 2);
    let correlation_id = i32::from_be_bytes(frame[4..8].try_into().expect("4 bytes"));
    let api = ApiKey::try_from(key).map_err(|_| DecodeError::UnknownApi(key))?;
    let Some(range) = supported_range(api) else {
        return Err(DecodeError::UnknownApi(key));
    };
    if version < range.min || version > range.max {
        return Err(DecodeError::UnsupportedVersion {
            api,
            version,
            correlation_id,
        });
    }
    let malformed = |reason: String| DecodeError::Malformed {
        api,
        version,
        correlation_id,
        reason,
    };
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version))
        .map_err(|e| malformed(format!("header: {e}")))?;
    // The decoder trusts wire lengths (`Vec::with_capacity(n)` with `n` from the wire): check
    // each against the bytes that remain first, so hostile lengths cost one connection, never
    // the agent's memory.
    crate::bounds::check_request_body(key, version, &buf).map_err(|e| malformed(e.to_string()))?;
    // Should a decoder bug still panic on some input, that too costs only the connection.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        RequestKind::decode(api, &mut buf, version)
    }));
    let body = match decoded {
        Ok(r) => r.map_err(|e| malformed(e.to_string()))?,
        Err(_) => return Err(malformed("decoder panicked on hostile lengths".into())),
    };
    Ok(Request {
        api,
        version,
        header,
        body,
    })
}

/// A response `kafka-protocol` refused to encode (e.g. a field the version cannot carry set to
/// a non-default value): a Sluice bug, logged; the connection closes.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {api:?} v{version} response: {reason}")]
pub struct EncodeError {
    /// The API of the response.
    pub api: ApiKey,
    /// The response version.
    pub version: i16,
    /// The encoder's error.
    pub reason: String,
}

/// Encodes a response as a complete frame: i32 size prefix, the response header of `api` at
/// `version` with `correlation_id`, then `body`. Errors: [`EncodeError`].
pub fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, EncodeError> {
    frame(api, version, correlation_id, |buf| {
        body.encode(buf, version)
    })
}

/// Encodes any single message type as a complete frame, like [`encode_response`] (used for
/// ApiVersions' v0 fallback and in tests). Errors: [`EncodeError`].
pub fn encode_message<M: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<Bytes, EncodeError> {
    frame(api, version, correlation_id, |buf| {
        body.encode(buf, version)
    })
}

fn frame(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>,
) -> Result<Bytes, EncodeError> {
    let err = |e: anyhow::Error| EncodeError {
        api,
        version,
        reason: e.to_string(),
    };
    let mut buf = frame_head(api, version, correlation_id, 256)?;
    body(&mut buf).map_err(err)?;
    let size = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// The start of a response frame in a buffer of `capacity` bytes: a size prefix of 0 (the caller
/// writes the real one once the body is known) and the response header of `api` at `version`.
/// Errors: [`EncodeError`].
pub(crate) fn frame_head(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    capacity: usize,
) -> Result<BytesMut, EncodeError> {
    let mut buf = BytesMut::with_capacity(capacity);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| EncodeError {
            api,
            version,
            reason: e.to_string(),
        })?;
    Ok(buf)
}

/// A request of an API `kafka-protocol` has no types for (KIP-1071's StreamsGroupHeartbeat and
/// StreamsGroupDescribe), decoded with [`crate::streams`].
#[derive(Debug)]
pub struct StreamsRequest {
    /// The API version.
    pub version: i16,
    /// The request header (always v2: every version of these APIs is flexible).
    pub header: RequestHeader,
    /// The body.
    pub body: StreamsBody,
}

/// The body of a [`StreamsRequest`].
#[derive(Debug)]
pub enum StreamsBody {
    /// StreamsGroupHeartbeat (88).
    Heartbeat(Box<crate::streams::StreamsGroupHeartbeatRequest>),
    /// StreamsGroupDescribe (89).
    Describe(crate::streams::StreamsGroupDescribeRequest),
}

impl StreamsBody {
    /// The API's name, as metrics and logs name APIs.
    pub fn api_name(&self) -> &'static str {
        match self {
            StreamsBody::Heartbeat(_) => "StreamsGroupHeartbeat",
            StreamsBody::Describe(_) => "StreamsGroupDescribe",
        }
    }

    /// The API key.
    pub fn api_key(&self) -> i16 {
        match self {
            StreamsBody::Heartbeat(_) => crate::streams::STREAMS_GROUP_HEARTBEAT_KEY,
            StreamsBody::Describe(_) => crate::streams::STREAMS_GROUP_DESCRIBE_KEY,
        }
    }
}

/// Why a StreamsGroupHeartbeat or StreamsGroupDescribe request (KIP-1071) could not be decoded
/// ([`decode_streams_request`]); the connection closes, logging the Display. `key` is the API
/// key (88 or 89), `version` the requested version.
#[derive(Debug, thiserror::Error)]
pub enum StreamsDecodeError {
    /// A version outside [`crate::versions::STREAMS_VERSIONS`] (Kafka answers only ApiVersions
    /// at an unsupported version).
    #[error("api key {key} v{version} is not supported")]
    UnsupportedVersion {
        /// The API key.
        key: i16,
        /// The requested version.
        version: i16,
    },
    /// The request header (v2) does not decode.
    #[error("api key {key} v{version}: header: {source}")]
    Header {
        /// The API key.
        key: i16,
        /// The requested version.
        version: i16,
        /// The header decoder's error.
        #[source]
        source: anyhow::Error,
    },
    /// The body does not decode.
    #[error("malformed api key {key} v{version} request: {source}")]
    Malformed {
        /// The API key.
        key: i16,
        /// The requested version.
        version: i16,
        /// The body decoder's error ([`crate::streams`]).
        #[source]
        source: anyhow::Error,
    },
}

/// Decodes `frame` if it is a StreamsGroupHeartbeat or StreamsGroupDescribe request: `None` for
/// any other API (decode it with [`decode_request`]); `Some(Err(why))` for a version outside
/// [`crate::versions::STREAMS_VERSIONS`] or a malformed frame (the connection closes: Kafka
/// answers only ApiVersions at an unsupported version).
pub fn decode_streams_request(frame: &Bytes) -> Option<Result<StreamsRequest, StreamsDecodeError>> {
    if frame.len() < 8 {
        return None;
    }
    let key = peek_i16(frame, 0);
    let version = peek_i16(frame, 2);
    let (_, min, max) = crate::versions::STREAMS_VERSIONS
        .iter()
        .find(|(k, _, _)| *k == key)?;
    if version < *min || version > *max {
        return Some(Err(StreamsDecodeError::UnsupportedVersion { key, version }));
    }
    let mut buf = frame.clone();
    let decoded = RequestHeader::decode(&mut buf, 2)
        .map_err(|source| StreamsDecodeError::Header {
            key,
            version,
            source,
        })
        .and_then(|header| {
            crate::bounds::check_request_body(key, version, &buf).map_err(|e| {
                StreamsDecodeError::Malformed {
                    key,
                    version,
                    source: e.into(),
                }
            })?;
            let body = if key == crate::streams::STREAMS_GROUP_HEARTBEAT_KEY {
                crate::streams::StreamsGroupHeartbeatRequest::decode(&mut buf, version)
                    .map(|r| StreamsBody::Heartbeat(Box::new(r)))
            } else {
                crate::streams::StreamsGroupDescribeRequest::decode(&mut buf, version)
                    .map(StreamsBody::Describe)
            };
            body.map(|body| StreamsRequest {
                version,
                header,
                body,
            })
            .map_err(|source| StreamsDecodeError::Malformed {
                key,
                version,
                source,
            })
        });
    Some(decoded)
}

/// A StreamsGroupHeartbeat or StreamsGroupDescribe response (KIP-1071) that could not be
/// encoded ([`encode_streams_response`]): a field does not fit its wire type at `version`.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode api key {key} v{version} response: {source}")]
pub struct StreamsEncodeError {
    /// The API key (88 or 89).
    pub key: i16,
    /// The response version.
    pub version: i16,
    /// The encoder's error.
    #[source]
    pub source: anyhow::Error,
}

/// Encodes a StreamsGroupHeartbeat or StreamsGroupDescribe response (API key `key`) as a
/// complete frame, size prefix included (response header v1: flexible).
pub fn encode_streams_response<M: Encodable>(
    key: i16,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<Bytes, StreamsEncodeError> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, 1)
        .and_then(|_| body.encode(&mut buf, version))
        .map_err(|source| StreamsEncodeError {
            key,
            version,
            source,
        })?;
    let size = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// A request frame: key, version, correlation id, then `rest`.
    fn frame(key: i16, version: i16, rest: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(key);
        b.put_i16(version);
        b.put_i32(7);
        b.put_slice(rest);
        b.freeze()
    }

    #[test]
    fn streams_requests_refused_say_why() {
        let key = crate::streams::STREAMS_GROUP_HEARTBEAT_KEY;
        assert!(decode_streams_request(&frame(3, 12, &[])).is_none());
        let e = decode_streams_request(&frame(key, 9, &[]))
            .unwrap()
            .unwrap_err();
        assert!(matches!(
            e,
            StreamsDecodeError::UnsupportedVersion { version: 9, .. }
        ));
        assert_eq!(e.to_string(), format!("api key {key} v9 is not supported"));
        // A header cut short: the decoder's error is the source.
        let e = decode_streams_request(&frame(key, 0, &[0]))
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, StreamsDecodeError::Header { .. }), "{e}");
        assert!(e.source().is_some());
    }
}
