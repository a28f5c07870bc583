"""A small, hand-written Kafka wire encoder/decoder for raw-socket tests.

Only what the tests need: request headers v1/v2, a handful of request bodies
(ApiVersions, Produce v3, Fetch v11, Metadata v4, DescribeProducers v0), the
matching response decoders, and a record batch (magic 2) encoder/decoder with a
pure-Python CRC-32C so a batch can be corrupted on purpose.

Written from the Kafka protocol documentation (kafka.apache.org/protocol and the
message JSON schemas); no code copied from other projects.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

# ---------------------------------------------------------------- error codes
NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
UNSUPPORTED_VERSION = 35
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71

# ---------------------------------------------------------------- api keys
PRODUCE = 0
FETCH = 1
LIST_OFFSETS = 2
METADATA = 3
API_VERSIONS = 18
DESCRIBE_PRODUCERS = 61

# ---------------------------------------------------------------- CRC-32C


def _make_crc32c_table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value

# ---------------------------------------------------------------- primitives


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def u32(v):
    return struct.pack(">I", v)


def i64(v):
    return struct.pack(">q", v)


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v: int) -> bytes:
    """zig-zag signed varint (records use these)."""
    return uvarint((v << 1) ^ (v >> 63))


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def nbytes(b: bytes | None) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items, enc) -> bytes:
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def compact_array(items, enc) -> bytes:
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


EMPTY_TAGS = uvarint(0)


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"short read: want {n} at {self.pos} of {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def i8(self):
        return self._unpack(">b", 1)

    def i16(self):
        return self._unpack(">h", 2)

    def i32(self):
        return self._unpack(">i", 4)

    def u32(self):
        return self._unpack(">I", 4)

    def i64(self):
        return self._unpack(">q", 8)

    def uvarint(self):
        shift = 0
        out = 0
        while True:
            b = self.take(1)[0]
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def nbytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, dec):
        n = self.i32()
        return None if n < 0 else [dec(self) for _ in range(n)]

    def compact_array(self, dec):
        n = self.uvarint()
        return None if n == 0 else [dec(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())


# ---------------------------------------------------------------- record batches


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: list = field(default_factory=list)  # [(str, bytes|None)]
    timestamp_delta: int = 0
    offset: int | None = None  # filled when decoding
    timestamp: int | None = None  # filled when decoding


def encode_record(offset_delta: int, r: Record) -> bytes:
    body = bytearray()
    body += i8(0)  # attributes
    body += varint(r.timestamp_delta)
    body += varint(offset_delta)
    body += varint(-1) if r.key is None else varint(len(r.key)) + r.key
    body += varint(-1) if r.value is None else varint(len(r.value)) + r.value
    body += varint(len(r.headers))
    for hk, hv in r.headers:
        kb = hk.encode()
        body += varint(len(kb)) + kb
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def encode_batch(records: list[Record], base_timestamp: int, *, base_offset=0,
                 producer_id=-1, producer_epoch=-1, base_sequence=-1,
                 attributes=0, corrupt_crc=False, compress=None) -> bytes:
    """A magic-2 record batch, uncompressed unless compress (bytes -> bytes) is given, in which
    case attributes must name its codec (CODEC_GZIP...). corrupt_crc flips the CRC."""
    recs = b"".join(encode_record(i, r) for i, r in enumerate(records))
    if compress is not None:
        recs = compress(recs)
    max_ts = base_timestamp + max((r.timestamp_delta for r in records), default=0)
    # everything covered by the CRC: attributes .. end
    after_crc = (i16(attributes) + i32(len(records) - 1) + i64(base_timestamp) + i64(max_ts)
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence)
                 + i32(len(records)) + recs)
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0xDEADBEEF
    # batchLength counts from partitionLeaderEpoch to the end
    after_len = i32(-1) + i8(2) + u32(crc) + after_crc  # partitionLeaderEpoch, magic, crc
    return i64(base_offset) + i32(len(after_len)) + after_len


@dataclass
class Batch:
    base_offset: int
    partition_leader_epoch: int
    magic: int
    crc: int
    crc_ok: bool
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: list


def decode_batches(data: bytes | None) -> list[Batch]:
    """Decode concatenated magic-2 batches (uncompressed only). A trailing
    partial batch (allowed in Fetch responses) is ignored."""
    out = []
    if not data:
        return out
    r = Reader(data)
    while r.remaining() >= 12:
        base_offset = r.i64()
        length = r.i32()
        if length > r.remaining():
            break  # partial batch at the end of a fetch response
        b = Reader(r.take(length))
        ple = b.i32()
        magic = b.i8()
        crc = b.u32()
        covered = b.data[b.pos:]
        crc_ok = crc32c(covered) == crc
        attributes = b.i16()
        if attributes & 0x07:
            raise ValueError("compressed batches are not decoded by this helper")
        last_delta = b.i32()
        base_ts = b.i64()
        max_ts = b.i64()
        pid = b.i64()
        pepoch = b.i16()
        bseq = b.i32()
        n = b.i32()
        recs = []
        for _ in range(n):
            rl = b.varint()
            rr = Reader(b.take(rl))
            rr.i8()
            ts_delta = rr.varint()
            off_delta = rr.varint()
            kl = rr.varint()
            key = None if kl < 0 else rr.take(kl)
            vl = rr.varint()
            value = None if vl < 0 else rr.take(vl)
            headers = []
            for _ in range(rr.varint()):
                hkl = rr.varint()
                hk = rr.take(hkl).decode()
                hvl = rr.varint()
                hv = None if hvl < 0 else rr.take(hvl)
                headers.append((hk, hv))
            recs.append(Record(key, value, headers, ts_delta,
                               offset=base_offset + off_delta, timestamp=base_ts + ts_delta))
        out.append(Batch(base_offset, ple, magic, crc, crc_ok, attributes, last_delta, base_ts,
                         max_ts, pid, pepoch, bseq, recs))
    return out


# ---------------------------------------------------------------- connection


class KafkaConn:
    """One TCP connection speaking size-prefixed Kafka frames."""

    def __init__(self, host: str, port: int, timeout: float = 30.0, client_id: str = "sluice-raw-test"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.client_id = client_id
        self.correlation_id = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send_frame(self, payload: bytes):
        self.sock.sendall(i32(len(payload)) + payload)

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        n = struct.unpack(">i", self.recv_exact(4))[0]
        return self.recv_exact(n)

    def header(self, api_key: int, api_version: int, flexible: bool) -> tuple[bytes, int]:
        self.correlation_id += 1
        cid = self.correlation_id
        h = i16(api_key) + i16(api_version) + i32(cid) + string(self.client_id)
        if flexible:
            h += EMPTY_TAGS  # request header v2
        return h, cid

    def request(self, api_key: int, api_version: int, body: bytes, *, flexible: bool,
                flexible_response_header: bool | None = None) -> Reader:
        """Send a request and return a Reader positioned after the response header."""
        h, cid = self.header(api_key, api_version, flexible)
        self.send_frame(h + body)
        resp = Reader(self.recv_frame())
        got = resp.i32()
        assert got == cid, f"correlation id {got} != {cid}"
        if flexible_response_header is None:
            flexible_response_header = flexible and api_key != API_VERSIONS
        if flexible_response_header:
            resp.tags()
        return resp

    def expect_closed(self, timeout: float = 10.0) -> bytes:
        """Read until EOF; returns what arrived before the close. Raises
        socket.timeout if the peer neither closes nor stops sending."""
        self.sock.settimeout(timeout)
        got = bytearray()
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return bytes(got)
            if not chunk:
                return bytes(got)
            got += chunk


# ---------------------------------------------------------------- ApiVersions


def api_versions_v0_body() -> bytes:
    return b""


def api_versions_v3_body() -> bytes:
    return compact_string("sluice-tests") + compact_string("1.0") + EMPTY_TAGS


def decode_api_versions_v0(r: Reader):
    err = r.i16()
    keys = r.array(lambda x: (x.i16(), x.i16(), x.i16()))
    return err, {k: (lo, hi) for k, lo, hi in keys}


def decode_api_versions_v3(r: Reader):
    err = r.i16()

    def key(x):
        k, lo, hi = x.i16(), x.i16(), x.i16()
        x.tags()
        return k, lo, hi
    keys = r.compact_array(key)
    r.i32()  # throttle
    r.tags()
    return err, {k: (lo, hi) for k, lo, hi in keys}


def api_versions(conn: KafkaConn) -> dict:
    r = conn.request(API_VERSIONS, 3, api_versions_v3_body(), flexible=True)
    err, keys = decode_api_versions_v3(r)
    assert err == NONE, err
    return keys


# ---------------------------------------------------------------- Produce v3


def produce_v3_body(topic_partitions: dict, acks: int = -1, timeout_ms: int = 30000) -> bytes:
    """topic_partitions: {topic: {partition: batch_bytes}}"""
    def part(item):
        p, batch = item
        return i32(p) + nbytes(batch)

    def topic(item):
        t, parts = item
        return string(t) + array(list(parts.items()), part)
    return string(None) + i16(acks) + i32(timeout_ms) + array(list(topic_partitions.items()), topic)


def decode_produce_v3(r: Reader) -> dict:
    """-> {(topic, partition): (error_code, base_offset, log_append_time)}"""
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            err = r.i16()
            base = r.i64()
            lat = r.i64()
            out[(t, p)] = (err, base, lat)
    r.i32()  # throttle
    return out


def produce_v3(conn: KafkaConn, topic: str, partition: int, batch: bytes, acks: int = -1):
    r = conn.request(PRODUCE, 3, produce_v3_body({topic: {partition: batch}}, acks), flexible=False)
    res = decode_produce_v3(r)
    assert r.remaining() == 0, f"{r.remaining()} trailing bytes in Produce v3 response"
    return res[(topic, partition)]


# ---------------------------------------------------------------- Metadata v4


def metadata_v4_body(topics: list[str] | None, allow_auto_create: bool) -> bytes:
    return array(topics, string) + i8(1 if allow_auto_create else 0)


def decode_metadata_v4(r: Reader):
    r.i32()  # throttle
    brokers = r.array(lambda x: (x.i32(), x.string(), x.i32(), x.string()))
    cluster_id = r.string()
    controller = r.i32()

    def part(x):
        err = x.i16()
        idx = x.i32()
        leader = x.i32()
        x.array(lambda y: y.i32())
        x.array(lambda y: y.i32())
        return idx, err, leader

    def topic(x):
        err = x.i16()
        name = x.string()
        x.i8()
        parts = x.array(part)
        return name, err, parts
    topics = r.array(topic)
    return {"brokers": brokers, "cluster_id": cluster_id, "controller": controller,
            "topics": {n: (e, p) for n, e, p in topics}}


def metadata_v4(conn: KafkaConn, topics, allow_auto_create=False):
    return decode_metadata_v4(conn.request(METADATA, 4, metadata_v4_body(topics, allow_auto_create),
                                           flexible=False))


# ---------------------------------------------------------------- Fetch v11


@dataclass
class FetchPartitionResult:
    partition: int
    error_code: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    records: bytes | None


@dataclass
class FetchResult:
    error_code: int
    session_id: int
    partitions: dict  # (topic, partition) -> FetchPartitionResult


def fetch_v11_body(session_id: int, session_epoch: int, partitions: dict, *, max_wait_ms=500,
                   min_bytes=1, max_bytes=50 * 1024 * 1024, partition_max_bytes=1024 * 1024,
                   forgotten: dict | None = None) -> bytes:
    """partitions: {topic: {partition: fetch_offset}}; forgotten: {topic: [partition]}"""
    def part(item):
        p, off = item
        return i32(p) + i32(-1) + i64(off) + i64(-1) + i32(partition_max_bytes)

    def topic(item):
        t, parts = item
        return string(t) + array(sorted(parts.items()), part)

    def forg(item):
        t, ps = item
        return string(t) + array(ps, i32)
    return (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
            + i32(session_id) + i32(session_epoch)
            + array(list(partitions.items()), topic)
            + array(list((forgotten or {}).items()), forg)
            + string(""))


def decode_fetch_v11(r: Reader) -> FetchResult:
    r.i32()  # throttle
    err = r.i16()
    sid = r.i32()
    parts = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            perr = r.i16()
            hw = r.i64()
            lso = r.i64()
            lstart = r.i64()
            r.array(lambda x: (x.i64(), x.i64()))
            r.i32()  # preferred read replica
            recs = r.nbytes()
            parts[(t, p)] = FetchPartitionResult(p, perr, hw, lso, lstart, recs)
    return FetchResult(err, sid, parts)


def fetch_v11(conn: KafkaConn, session_id: int, session_epoch: int, partitions: dict, **kw) -> FetchResult:
    r = conn.request(FETCH, 11, fetch_v11_body(session_id, session_epoch, partitions, **kw),
                     flexible=False)
    res = decode_fetch_v11(r)
    assert r.remaining() == 0, f"{r.remaining()} trailing bytes in Fetch v11 response"
    return res


# ---------------------------------------------------------------- DescribeProducers v0 (flexible)


def describe_producers_v0(conn: KafkaConn, topic: str, partitions: list[int]):
    body = compact_array([(topic, partitions)],
                         lambda tp: compact_string(tp[0]) + compact_array(tp[1], i32) + EMPTY_TAGS) + EMPTY_TAGS
    r = conn.request(DESCRIBE_PRODUCERS, 0, body, flexible=True)
    r.i32()  # throttle

    def producer(x):
        d = dict(producer_id=x.i64(), producer_epoch=x.i32(), last_sequence=x.i32(),
                 last_timestamp=x.i64(), coordinator_epoch=x.i32(), current_txn_start_offset=x.i64())
        x.tags()
        return d

    def part(x):
        idx = x.i32()
        err = x.i16()
        msg = x.compact_string()
        prods = x.compact_array(producer)
        x.tags()
        return idx, err, msg, prods

    def topic(x):
        name = x.compact_string()
        parts = x.compact_array(part)
        x.tags()
        return name, parts
    topics = r.compact_array(topic)
    r.tags()
    assert r.remaining() == 0
    out = {}
    for name, parts in topics:
        for idx, err, msg, prods in parts:
            out[(name, idx)] = (err, prods)
    return out


# ---------------------------------------------------------------- InitProducerId v1 (non-flexible)

INIT_PRODUCER_ID = 22
OUT_OF_ORDER_SEQUENCE_NUMBER = 45


def init_producer_id_v1(conn: KafkaConn, transactional_id: str | None = None, txn_timeout_ms: int = 60000):
    r = conn.request(INIT_PRODUCER_ID, 1, string(transactional_id) + i32(txn_timeout_ms), flexible=False)
    r.i32()  # throttle
    err = r.i16()
    pid = r.i64()
    epoch = r.i16()
    assert r.remaining() == 0
    return err, pid, epoch


# ---------------------------------------------------------------- ConsumerGroupHeartbeat v1 (KIP-848)

CONSUMER_GROUP_HEARTBEAT = 68


def consumer_group_heartbeat_v1(conn: KafkaConn, group: str, member_id: str, epoch: int, *,
                                instance_id: str | None = None, rack_id: str | None = None,
                                rebalance_timeout_ms: int = -1, topics: list[str] | None = None,
                                regex: str | None = None, assignor: str | None = None,
                                owned: list | None = None) -> dict:
    """One heartbeat; `owned` is [(topic_id: bytes(16), [partitions])]. Returns the response
    fields, the assignment as {topic_id: [partitions]} or None."""
    def tp(x):
        tid, parts = x
        return tid + compact_array(parts, i32) + EMPTY_TAGS
    body = (compact_string(group) + compact_string(member_id) + i32(epoch)
            + compact_string(instance_id) + compact_string(rack_id) + i32(rebalance_timeout_ms)
            + compact_array(topics, compact_string) + compact_string(regex)
            + compact_string(assignor) + compact_array(owned, tp) + EMPTY_TAGS)
    return decode_group_heartbeat(conn.request(CONSUMER_GROUP_HEARTBEAT, 1, body, flexible=True))


def decode_group_heartbeat(r: Reader) -> dict:
    """A ConsumerGroupHeartbeat or ShareGroupHeartbeat response (v1: the same shape)."""
    out = {"throttle": r.i32(), "error": r.i16(), "message": r.compact_string(),
           "member_id": r.compact_string(), "epoch": r.i32(), "interval": r.i32()}
    assignment = None
    if r.i8() >= 0:
        def topic(x):
            tid = x.take(16)
            parts = x.compact_array(lambda y: y.i32())
            x.tags()
            return tid, parts
        assignment = {tid: sorted(ps) for tid, ps in r.compact_array(topic)}
        r.tags()
    r.tags()
    assert r.remaining() == 0
    out["assignment"] = assignment
    return out


# ---------------------------------------------------------------- KIP-932 share groups (v1)

SHARE_GROUP_HEARTBEAT = 76
SHARE_FETCH = 78
SHARE_ACKNOWLEDGE = 79


def share_group_heartbeat_v1(conn: KafkaConn, group: str, member_id: str, epoch: int, *,
                             topics: list[str] | None = None, rack_id: str | None = None) -> dict:
    """One ShareGroupHeartbeat (the member id is the client's own, KIP-1082). Returns the response
    fields, the assignment as {topic_id: [partitions]} or None."""
    body = (compact_string(group) + compact_string(member_id) + i32(epoch) + compact_string(rack_id)
            + compact_array(topics, compact_string) + EMPTY_TAGS)
    return decode_group_heartbeat(conn.request(SHARE_GROUP_HEARTBEAT, 1, body, flexible=True))


def _ack_batch(b) -> bytes:
    """(first, last, [types]) -> AcknowledgementBatch."""
    first, last, types = b
    return i64(first) + i64(last) + compact_array(types, i8) + EMPTY_TAGS


def _share_topics(partitions: dict) -> bytes:
    """{(topic_id, partition): [(first, last, [types])]} -> the topics array of ShareFetch and
    ShareAcknowledge (partitions grouped by topic, in request order)."""
    by_topic: dict = {}
    for (tid, p), batches in partitions.items():
        by_topic.setdefault(tid, []).append((p, batches))

    def part(x):
        p, batches = x
        return i32(p) + compact_array(batches, _ack_batch) + EMPTY_TAGS

    def topic(x):
        tid, parts = x
        return tid + compact_array(parts, part) + EMPTY_TAGS
    return compact_array(list(by_topic.items()), topic)


def _decode_share_partition(r: Reader, fetch: bool) -> dict:
    out = {"partition": r.i32(), "error": r.i16(), "message": r.compact_string()}
    if fetch:
        out["ack_error"] = r.i16()
        out["ack_message"] = r.compact_string()
    r.i32(), r.i32()  # current leader: id, epoch
    r.tags()
    if fetch:
        n = r.uvarint()
        out["records"] = None if n == 0 else r.take(n - 1)

        def acquired(x):
            a = (x.i64(), x.i64(), x.i16())
            x.tags()
            return a
        out["acquired"] = r.compact_array(acquired) or []
    r.tags()
    return out


def _decode_share_response(r: Reader, fetch: bool) -> dict:
    out = {"throttle": r.i32(), "error": r.i16(), "message": r.compact_string()}
    if fetch:
        out["lock_timeout_ms"] = r.i32()

    def topic(x):
        tid = x.take(16)
        parts = x.compact_array(lambda y: _decode_share_partition(y, fetch)) or []
        x.tags()
        return tid, parts
    out["partitions"] = {(tid, p["partition"]): p for tid, ps in (r.compact_array(topic) or [])
                         for p in ps}

    def endpoint(x):
        e = (x.i32(), x.compact_string(), x.i32(), x.compact_string())
        x.tags()
        return e
    r.compact_array(endpoint)
    r.tags()
    assert r.remaining() == 0
    return out


def share_fetch_v1(conn: KafkaConn, group: str, member_id: str, epoch: int, partitions: dict, *,
                   max_wait_ms: int = 500, max_records: int = 500, forgotten: dict | None = None) -> dict:
    """One ShareFetch. `partitions`: {(topic_id, partition): [(first, last, [ack types])]} (the
    acknowledgements to piggy-back, maybe none). Returns the response fields and `partitions`:
    {(topic_id, partition): {error, message, ack_error, ack_message, records, acquired:
    [(first, last, delivery count)]}}."""
    def forgot(x):
        tid, parts = x
        return tid + compact_array(parts, i32) + EMPTY_TAGS
    body = (compact_string(group) + compact_string(member_id) + i32(epoch) + i32(max_wait_ms)
            + i32(1) + i32(50 << 20) + i32(max_records) + i32(max_records)
            + _share_topics(partitions) + compact_array(list((forgotten or {}).items()), forgot)
            + EMPTY_TAGS)
    return _decode_share_response(conn.request(SHARE_FETCH, 1, body, flexible=True), fetch=True)


def share_acknowledge_v1(conn: KafkaConn, group: str, member_id: str, epoch: int, acks: dict) -> dict:
    """One ShareAcknowledge. `acks`: {(topic_id, partition): [(first, last, [ack types])]}.
    Returns the response fields and `partitions`: {(topic_id, partition): {error, message}}."""
    body = (compact_string(group) + compact_string(member_id) + i32(epoch) + _share_topics(acks)
            + EMPTY_TAGS)
    return _decode_share_response(conn.request(SHARE_ACKNOWLEDGE, 1, body, flexible=True), fetch=False)


# ---------------------------------------------------------------- SASL

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36


def handshake_body(mechanism: str) -> bytes:
    return string(mechanism)


def sasl_handshake(conn, mechanism: str):
    r = conn.request(SASL_HANDSHAKE, 1, handshake_body(mechanism), flexible=False)
    code = r.i16()
    mechs = r.array(lambda x: x.string())
    return code, mechs


def sasl_authenticate(conn, token: bytes, version: int = 1):
    r = conn.request(SASL_AUTHENTICATE, version, nbytes(token), flexible=False)
    code = r.i16()
    msg = r.string()
    auth = r.nbytes()
    lifetime = r.i64() if version >= 1 else None
    return code, msg, auth, lifetime


# ---------------------------------------------------------------- Produce v3-v8 (non-flexible), codecs

INVALID_TIMESTAMP = 32
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87

# batch attributes bits 0-2
CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD = 0, 1, 2, 3, 4
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


@dataclass
class ProducePartitionResult:
    error_code: int
    base_offset: int
    log_append_time: int
    log_start_offset: int | None  # v5+
    record_errors: list  # v8+: [(batch_index, message)]
    error_message: str | None  # v8+


def produce(conn: KafkaConn, topic: str, partition: int, batch: bytes, *, version: int = 8,
            acks: int = -1) -> ProducePartitionResult:
    """One batch to one partition with Produce v3..v8 (same request layout); the whole
    partition response as that version carries it."""
    assert 3 <= version <= 8, version
    r = conn.request(PRODUCE, version, produce_v3_body({topic: {partition: batch}}, acks),
                     flexible=False)
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            err, base, lat = r.i16(), r.i64(), r.i64()
            lso = r.i64() if version >= 5 else None
            rec_errs, msg = [], None
            if version >= 8:
                rec_errs = r.array(lambda x: (x.i32(), x.string())) or []
                msg = r.string()
            out[(t, p)] = ProducePartitionResult(err, base, lat, lso, rec_errs, msg)
    r.i32()  # throttle
    assert r.remaining() == 0, f"{r.remaining()} trailing bytes in Produce v{version} response"
    return out[(topic, partition)]


@dataclass
class BatchHeader:
    base_offset: int
    attributes: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    count: int
    crc_ok: bool
    payload: bytes  # the records section, compressed as `codec` says
    raw: bytes  # the whole batch

    @property
    def codec(self) -> str:
        return CODEC_NAMES.get(self.attributes & 0x07, "unknown")


def batch_headers(data: bytes | None) -> list[BatchHeader]:
    """The headers of concatenated magic-2 batches, any codec (records not decoded)."""
    out = []
    r = Reader(data or b"")
    while r.remaining() >= 12:
        start = r.pos
        base_offset = r.i64()
        length = r.i32()
        if length > r.remaining():
            break
        b = Reader(r.take(length))
        b.i32()  # partition leader epoch
        b.i8()  # magic
        crc = b.u32()
        crc_ok = crc32c(b.data[b.pos:]) == crc
        attrs, _, base_ts, max_ts = b.i16(), b.i32(), b.i64(), b.i64()
        pid, epoch, seq, n = b.i64(), b.i16(), b.i32(), b.i32()
        out.append(BatchHeader(base_offset, attrs, base_ts, max_ts, pid, epoch, seq, n, crc_ok,
                               b.data[b.pos:], r.data[start:r.pos]))
    return out
# ---------------------------------------------------------------- DescribeConfigs v4

DESCRIBE_CONFIGS = 32
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4


def _bool(b: bool) -> bytes:
    return i8(1 if b else 0)


def describe_configs_v4(conn: KafkaConn, resources: list[tuple[int, str, list[str] | None]], *,
                        synonyms: bool = False, docs: bool = False) -> list[dict]:
    """resources: [(resource_type, name, keys or None)]. Returns one dict per resource:
    {error_code, error_message, name, configs: {name: {value, read_only, source, sensitive,
    synonyms: [(name, value, source)], type, doc}}}."""
    def res(x):
        t, name, keys = x
        return i8(t) + compact_string(name) + compact_array(keys, compact_string) + EMPTY_TAGS
    body = compact_array(resources, res) + _bool(synonyms) + _bool(docs) + EMPTY_TAGS
    r = conn.request(DESCRIBE_CONFIGS, 4, body, flexible=True)
    r.i32()  # throttle

    def syn(x):
        s = (x.compact_string(), x.compact_string(), x.i8())
        x.tags()
        return s

    def config(x):
        c = {"name": x.compact_string(), "value": x.compact_string(), "read_only": bool(x.i8()),
             "source": x.i8(), "sensitive": bool(x.i8()), "synonyms": x.compact_array(syn),
             "type": x.i8(), "doc": x.compact_string()}
        x.tags()
        return c

    def result(x):
        out = {"error_code": x.i16(), "error_message": x.compact_string(), "type": x.i8(),
               "name": x.compact_string()}
        out["configs"] = {c.pop("name"): c for c in (x.compact_array(config) or [])}
        x.tags()
        return out
    results = r.compact_array(result)
    r.tags()
    return results


# ---------------------------------------------------------------- AlterConfigs (legacy) v0-v2

ALTER_CONFIGS = 33


def alter_configs(conn: KafkaConn, resources: list[tuple[int, str, dict]], *, validate_only=False,
                  version: int = 2) -> list[tuple[int, str | None, int, str]]:
    """resources: [(resource_type, name, {config: value or None})]; returns
    [(error_code, error_message, resource_type, name)]. The whole set replaces the resource's
    configs (legacy AlterConfigs is not incremental)."""
    flex = version >= 2
    s = compact_string if flex else string
    arr = compact_array if flex else array
    tags = EMPTY_TAGS if flex else b""

    def cfg(kv):
        return s(kv[0]) + s(kv[1]) + tags

    def res(x):
        t, name, configs = x
        return i8(t) + s(name) + arr(list(configs.items()), cfg) + tags
    body = arr(resources, res) + _bool(validate_only) + tags
    r = conn.request(ALTER_CONFIGS, version, body, flexible=flex)
    r.i32()  # throttle
    rs = r.compact_string if flex else r.string

    def result(x):
        out = (x.i16(), rs(), x.i8(), rs())
        if flex:
            x.tags()
        return out
    return (r.compact_array if flex else r.array)(result)


# ---------------------------------------------------------------- OffsetForLeaderEpoch v4

OFFSET_FOR_LEADER_EPOCH = 23


def offset_for_leader_epoch_v4(conn: KafkaConn, topic: str,
                               partitions: list[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """partitions: [(partition, current_leader_epoch, leader_epoch)]; returns
    [(error_code, partition, leader_epoch, end_offset)] as a consumer (replica id -1) sees it."""
    def part(p):
        return i32(p[0]) + i32(p[1]) + i32(p[2]) + EMPTY_TAGS
    body = i32(-1) + compact_array([topic], lambda t: compact_string(t) + compact_array(partitions, part)
                                    + EMPTY_TAGS) + EMPTY_TAGS
    r = conn.request(OFFSET_FOR_LEADER_EPOCH, 4, body, flexible=True)
    r.i32()  # throttle

    def rpart(x):
        out = (x.i16(), x.i32(), x.i32(), x.i64())
        x.tags()
        return out

    def rtopic(x):
        x.compact_string()
        ps = x.compact_array(rpart)
        x.tags()
        return ps
    topics = r.compact_array(rtopic)
    r.tags()
    return topics[0]
