//! Response frames as a list of byte chunks, so record batches reach the socket without being
//! copied into the response.
//!
//! `kafka-protocol` encodes a message into one contiguous buffer: a Fetch response carrying
//! 50 MiB of record batches would copy all 50 MiB (and re-copy them as the buffer grows). Here
//! the same encoder writes into a [`ChunkedBuf`], a [`BufMut`] that recognises the record
//! batches by address: when the encoder puts a slice that *is* one of the response's `records`
//! (same pointer, same length), the buffer keeps a reference to that [`Bytes`] instead of
//! copying it. Every other field is written to a small tail buffer as usual. The wire bytes are
//! therefore exactly what `kafka-protocol` produces (the tests compare them), with the records
//! shared with the block cache, and [`Chunks`] hands them to a vectored socket write.
//!
//! Written here because no crate does it: `kafka-protocol` has no chunked output, and its
//! encoders are generic over [`ByteBufMut`], which is what makes the interception possible.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ops::Range;

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::Encodable;

use crate::codec::{frame_head, EncodeError};

/// Record batches smaller than this are copied like any other field (a separate chunk costs an
/// iovec entry and a reference count; copying a few KiB is cheaper).
pub const MIN_SHARED_BYTES: usize = 4096;

/// A [`BufMut`] + [`ByteBufMut`] that writes into a tail buffer, except for the slices it was
/// told to share (see the module docs), which become chunks of their own.
#[derive(Debug, Default)]
pub struct ChunkedBuf {
    /// Finished chunks, in order.
    done: Vec<Bytes>,
    /// Bytes in `done`.
    done_len: usize,
    /// Where small fields go.
    tail: BytesMut,
    /// The slices to share, in the order the encoder will put them.
    shared: VecDeque<Bytes>,
}

impl ChunkedBuf {
    /// A buffer that will share `shared` (each at least [`MIN_SHARED_BYTES`] long to be worth
    /// it; shorter ones are copied anyway) when the encoder puts them, in this order.
    pub fn new(shared: VecDeque<Bytes>) -> Self {
        Self {
            tail: BytesMut::with_capacity(512),
            shared,
            ..Self::default()
        }
    }

    /// The chunks written, in order (the tail last).
    pub fn finish(mut self) -> Vec<Bytes> {
        self.cut();
        self.done
    }

    /// Total bytes written.
    pub fn len(&self) -> usize {
        self.done_len + self.tail.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves the tail into `done`.
    fn cut(&mut self) {
        if !self.tail.is_empty() {
            let t = self.tail.split().freeze();
            self.done_len += t.len();
            self.done.push(t);
        }
    }

    /// Makes `done` part of the tail again (one copy): only for [`ByteBufMut::seek`] or
    /// [`ByteBufMut::range`] reaching before the tail, which no generated message encoder does.
    fn flatten(&mut self) {
        if self.done.is_empty() {
            return;
        }
        let mut all = BytesMut::with_capacity(self.len());
        for c in self.done.drain(..) {
            all.extend_from_slice(&c);
        }
        all.extend_from_slice(&self.tail);
        self.tail = all;
        self.done_len = 0;
    }
}

// SAFETY: every method delegates to `tail`, a `BytesMut`, whose `BufMut` implementation upholds
// the contract (`chunk_mut` is writable, `advance_mut` only past initialised bytes).
unsafe impl BufMut for ChunkedBuf {
    fn remaining_mut(&self) -> usize {
        self.tail.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller's promise about `cnt` is about `tail`'s chunk, handed out below.
        unsafe { self.tail.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.tail.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        let is_next_shared = self
            .shared
            .front()
            .is_some_and(|b| b.as_ptr() == src.as_ptr() && b.len() == src.len());
        if is_next_shared {
            let b = self.shared.pop_front().expect("front checked");
            if b.len() >= MIN_SHARED_BYTES {
                self.cut();
                self.done_len += b.len();
                self.done.push(b);
                return;
            }
        }
        self.tail.extend_from_slice(src);
    }
}

impl ByteBufMut for ChunkedBuf {
    fn offset(&self) -> usize {
        self.len()
    }

    fn seek(&mut self, offset: usize) {
        if offset < self.done_len {
            self.flatten();
        }
        self.tail.resize(offset - self.done_len, 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        if r.start < self.done_len {
            self.flatten();
        }
        let base = self.done_len;
        &mut self.tail[r.start - base..r.end - base]
    }
}

/// A complete response frame (size prefix, header, body) as chunks, for
/// [`tokio::io::AsyncWriteExt::write_all_buf`] (vectored where the socket is).
#[derive(Debug, Default)]
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: usize,
}

impl Chunks {
    /// The chunks of `parts`, in order.
    pub fn new(parts: Vec<Bytes>) -> Self {
        let remaining = parts.iter().map(Bytes::len).sum();
        Self {
            chunks: parts.into_iter().filter(|b| !b.is_empty()).collect(),
            remaining,
        }
    }

    /// All the bytes in one buffer (tests; a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    /// How many chunks are left.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| &c[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a frame");
        self.remaining -= cnt;
        while cnt > 0 {
            let front = self.chunks.front_mut().expect("remaining counted it");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.chunks.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, c) in dst.iter_mut().zip(&self.chunks) {
            *slot = IoSlice::new(c);
            n += 1;
        }
        n
    }
}

/// Encodes a Fetch response (API key 1) as a frame whose record batches are shared, not copied:
/// the same bytes as [`crate::codec::encode_response`]. Errors: [`EncodeError`] (a field the
/// version cannot carry).
pub fn encode_fetch_response(
    version: i16,
    correlation_id: i32,
    body: &FetchResponse,
) -> Result<Chunks, EncodeError> {
    let err = |e: anyhow::Error| EncodeError {
        api: ApiKey::Fetch,
        version,
        reason: e.to_string(),
    };
    let shared: VecDeque<Bytes> = body
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .filter_map(|p| p.records.clone())
        .filter(|r| !r.is_empty())
        .collect();
    let mut buf = ChunkedBuf::new(shared);
    body.encode(&mut buf, version).map_err(err)?;
    let mut head = frame_head(ApiKey::Fetch, version, correlation_id, 16)?;
    let size = head.len() - 4 + buf.len();
    let size = i32::try_from(size).map_err(|_| EncodeError {
        api: ApiKey::Fetch,
        version,
        reason: format!("response of {size} bytes exceeds a frame"),
    })?;
    head[0..4].copy_from_slice(&size.to_be_bytes());
    let mut parts = vec![head.freeze()];
    parts.extend(buf.finish());
    Ok(Chunks::new(parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_response;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
    };
    use kafka_protocol::messages::{ProducerId, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn records(len: usize, seed: u8) -> Bytes {
        Bytes::from(
            (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                .collect::<Vec<u8>>(),
        )
    }

    /// A response with the fields `version` carries (as the Fetch handler fills them).
    fn sample(version: i16, with_tagged: bool) -> FetchResponse {
        let mut resp = FetchResponse::default();
        if version >= 7 {
            resp.session_id = 7;
        }
        resp.throttle_time_ms = 3;
        for (t, sizes) in [(0u8, vec![10_000, 0, 100]), (1, vec![70_000]), (2, vec![])] {
            let mut topic = FetchableTopicResponse::default();
            if version >= 13 {
                topic.topic_id = uuid::Uuid::from_u128(0xabc + t as u128);
            } else {
                topic.topic = TopicName(StrBytes::from_string(format!("topic-{t}")));
            }
            for (i, size) in sizes.into_iter().enumerate() {
                let mut p = PartitionData::default();
                p.partition_index = i as i32;
                p.high_watermark = 100 + i as i64;
                p.last_stable_offset = 90;
                p.log_start_offset = 5;
                p.records = (size > 0).then(|| records(size, t ^ i as u8));
                if i == 1 {
                    p.error_code = 1;
                }
                if i == 0 && t == 0 {
                    let mut a = AbortedTransaction::default();
                    a.producer_id = ProducerId(42);
                    a.first_offset = 17;
                    p.aborted_transactions = Some(vec![a]);
                }
                if with_tagged && i == 0 {
                    let mut l = LeaderIdAndEpoch::default();
                    l.leader_id = kafka_protocol::messages::BrokerId(3);
                    l.leader_epoch = 9;
                    p.current_leader = l;
                }
                topic.partitions.push(p);
            }
            resp.responses.push(topic);
        }
        resp
    }

    #[test]
    fn the_frame_is_what_kafka_protocol_encodes_in_every_version() {
        for version in 4..=17 {
            for tagged in [false, true] {
                let body = sample(version, tagged && version >= 12);
                let whole = encode_response(
                    ApiKey::Fetch,
                    version,
                    99,
                    &ResponseKind::Fetch(body.clone()),
                )
                .unwrap();
                let chunks = encode_fetch_response(version, 99, &body).unwrap();
                assert_eq!(chunks.remaining(), whole.len(), "v{version}");
                assert_eq!(
                    chunks.to_vec(),
                    whole.to_vec(),
                    "v{version} tagged={tagged}"
                );
            }
        }
    }

    #[test]
    fn large_record_batches_are_shared_not_copied() {
        let body = sample(16, false);
        let big: Vec<*const u8> = body
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .filter_map(|p| p.records.as_ref())
            .filter(|r| r.len() >= MIN_SHARED_BYTES)
            .map(|r| r.as_ptr())
            .collect();
        assert_eq!(big.len(), 2);
        let chunks = encode_fetch_response(16, 1, &body).unwrap();
        let ptrs: Vec<*const u8> = chunks.chunks.iter().map(|c| c.as_ptr()).collect();
        for p in big {
            assert!(ptrs.contains(&p), "a large batch was copied");
        }
        // head, fields before the first batch, batch, fields between, batch, the rest
        assert_eq!(chunks.len(), 6);
    }

    #[test]
    fn advancing_across_chunks_and_vectored_views_agree() {
        let body = sample(13, false);
        let mut chunks = encode_fetch_response(13, 5, &body).unwrap();
        let whole = chunks.to_vec();
        let mut seen = Vec::new();
        let mut step = 1;
        while chunks.has_remaining() {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = chunks.chunks_vectored(&mut slices);
            assert!(n >= 1);
            let take = slices[..n].iter().map(|s| s.len()).sum::<usize>().min(step);
            let mut left = take;
            for s in &slices[..n] {
                let k = left.min(s.len());
                seen.extend_from_slice(&s[..k]);
                left -= k;
            }
            chunks.advance(take);
            step = step * 3 + 1;
        }
        assert_eq!(seen, whole);
    }

    #[test]
    fn seeking_back_before_a_shared_chunk_still_writes_the_right_bytes() {
        let big = records(MIN_SHARED_BYTES, 1);
        let mut buf = ChunkedBuf::new(VecDeque::from([big.clone()]));
        buf.put_u32(0);
        buf.put_slice(&big);
        buf.put_u8(7);
        buf.range(0..4).copy_from_slice(&[1, 2, 3, 4]);
        let mut want = vec![1, 2, 3, 4];
        want.extend_from_slice(&big);
        want.push(7);
        assert_eq!(Chunks::new(buf.finish()).to_vec(), want);
    }
}
