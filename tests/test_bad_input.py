"""Untrusted network input: every bad request gets a Kafka error code or a closed
socket, never a crash, and never touches stored data. Raw sockets with the small
encoder in kafkawire.py."""

import random
import socket
import struct

import pytest

import kafkawire as kw
from helpers import BASE_TS, DeliveryLog, consume_exact, create_topic, produce_all, producer, watermarks

T0 = BASE_TS


def still_serves(dev):
    """The process is alive and a fresh connection gets a full ApiVersions answer."""
    assert dev.alive(), f"sluice died:\n{dev.stderr_text()[-4000:]}"
    with kw.KafkaConn("127.0.0.1", dev.port, timeout=10) as c:
        keys = kw.api_versions(c)
    for api in (kw.PRODUCE, kw.FETCH, kw.LIST_OFFSETS, kw.METADATA, kw.API_VERSIONS):
        assert api in keys, f"api {api} missing from ApiVersions"
    assert "panicked" not in dev.stderr_text()


def seed_topic(bs, topic, n=10):
    create_topic(bs, topic, 1)
    log = DeliveryLog()
    produce_all(producer(bs), [(i, topic, 0, f"k{i}".encode(), f"v{i}".encode(), None, None) for i in range(n)], log)
    assert log.errors() == {}


def assert_untouched(bs, topic, n=10):
    assert watermarks(bs, topic, 0) == (0, n)
    got = consume_exact(bs, topic, {0: n})
    assert [(m.offset(), m.key(), m.value()) for m in got[0]] == \
        [(i, f"k{i}".encode(), f"v{i}".encode()) for i in range(n)]


def test_encoder_roundtrip_and_corrupt_crc(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "bad-crc"
    create_topic(bs, topic, 1)
    good = [kw.Record(f"k{i}".encode(), f"v{i}".encode(), [("h", f"{i}".encode())], i) for i in range(3)]
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        keys = kw.api_versions(c)
        assert keys[kw.PRODUCE][0] <= 3 <= keys[kw.PRODUCE][1], keys[kw.PRODUCE]
        # a correct batch from this encoder is accepted (so the next rejection is about the CRC)
        assert kw.produce_v3(c, topic, 0, kw.encode_batch(good, T0))[:2] == (kw.NONE, 0)
        bad = kw.encode_batch([kw.Record(b"evil", b"corrupt")], T0, corrupt_crc=True)
        err, base, _ = kw.produce_v3(c, topic, 0, bad)
        assert err == kw.CORRUPT_MESSAGE  # 2
        # a batch whose payload was altered after the CRC was computed
        flipped = bytearray(kw.encode_batch([kw.Record(b"k", b"value-to-flip")], T0))
        flipped[-3] ^= 0xFF
        assert kw.produce_v3(c, topic, 0, bytes(flipped))[0] == kw.CORRUPT_MESSAGE
        # the connection is still usable and the good path still works
        assert kw.produce_v3(c, topic, 0, kw.encode_batch(good[:1], T0))[:2] == (kw.NONE, 3)
    assert watermarks(bs, topic, 0) == (0, 4)
    got = consume_exact(bs, topic, {0: 4})
    assert [(m.offset(), m.key(), m.value(), m.headers()) for m in got[0]] == \
        [(0, b"k0", b"v0", [("h", b"0")]), (1, b"k1", b"v1", [("h", b"1")]), (2, b"k2", b"v2", [("h", b"2")]),
         (3, b"k0", b"v0", [("h", b"0")])]
    still_serves(sluice_dev)


def test_malformed_batches_rejected(sluice_dev):
    """Structurally broken batches with a valid CRC: wrong magic, a record count that
    does not match, a batch length beyond the data. Each gets an error, none is stored."""
    bs = sluice_dev.bootstrap
    topic = "bad-batch"
    seed_topic(bs, topic)
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        good = kw.encode_batch([kw.Record(b"k", b"v")], T0)
        # magic 1 instead of 2 (offset 16 is the magic byte)
        b1 = bytearray(good)
        b1[16] = 1
        assert kw.produce_v3(c, topic, 0, bytes(b1))[0] == kw.INVALID_RECORD
        # record count says 5, there is 1 record (CRC recomputed so only the count is wrong)
        b2 = bytearray(good)
        b2[57:61] = struct.pack(">i", 5)
        b2[17:21] = struct.pack(">I", kw.crc32c(bytes(b2[21:])))
        assert kw.produce_v3(c, topic, 0, bytes(b2))[0] == kw.INVALID_RECORD
        # batch length larger than the bytes that follow
        b3 = bytearray(good)
        b3[8:12] = struct.pack(">i", len(good) + 100)
        # (Kafka's batch iterator yields no batch: "must have at least one record batch")
        assert kw.produce_v3(c, topic, 0, bytes(b3))[0] == kw.INVALID_RECORD
    assert_untouched(bs, topic)
    still_serves(sluice_dev)


def test_api_versions_unsupported_version_fallback(sluice_dev):
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        # ApiVersions v99 (flexible-style header v2 and a v3 body, as a newer client would send)
        r = c.request(kw.API_VERSIONS, 99, kw.api_versions_v3_body(), flexible=True)
        err, keys = kw.decode_api_versions_v0(r)  # the answer must be v0-encoded
        assert err == kw.UNSUPPORTED_VERSION  # 35
        assert r.remaining() == 0, "fallback response must be exactly ApiVersions v0"
        assert kw.API_VERSIONS in keys and keys[kw.API_VERSIONS][0] == 0 and keys[kw.API_VERSIONS][1] >= 3
        for api in (kw.PRODUCE, kw.FETCH, kw.LIST_OFFSETS, kw.METADATA, 19, 20, 22, 32, 37, 44, 60, 61):
            assert api in keys, f"api {api} missing from the fallback list"
        # the same connection can continue with a supported version
        r = c.request(kw.API_VERSIONS, 0, b"", flexible=False)
        err, keys0 = kw.decode_api_versions_v0(r)
        assert err == kw.NONE and keys0 == keys
    still_serves(sluice_dev)


def test_unsupported_version_of_other_api(sluice_dev):
    """Metadata v99 is not a valid request: Kafka closes the connection."""
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        h, _ = c.header(kw.METADATA, 99, flexible=True)
        c.send_frame(h + b"\x01\x00")
        # no half-close: the agent must close on the request alone, as Kafka does
        assert c.expect_closed() == b""
    still_serves(sluice_dev)


def test_unknown_api_key(sluice_dev):
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        h, _ = c.header(9999, 0, flexible=False)
        c.send_frame(h + b"\x00" * 16)
        # no half-close: Kafka closes the connection on an unknown API key, without an answer
        assert c.expect_closed() == b""
    still_serves(sluice_dev)


def test_oversize_frame_closes_connection(sluice_dev):
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        c.send_raw(struct.pack(">i", 200 * 1024 * 1024) + b"\x00\x12\x00\x00\x00\x00\x00\x01")
        # do NOT half-close: the agent must close on the size alone, without waiting for 200 MiB
        assert c.expect_closed(timeout=10) == b""
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        c.send_raw(struct.pack(">i", -5))  # negative size
        assert c.expect_closed(timeout=10) == b""
    still_serves(sluice_dev)


def answered_or_closed(c, name: str, timeout: float = 10.0) -> None:
    """Waits for the agent to close the connection (whatever arrived before) or to send one whole
    response frame; raises socket.timeout if neither happens within `timeout`."""
    c.sock.settimeout(timeout)
    got = bytearray()
    while True:
        chunk = c.sock.recv(65536)
        if not chunk:
            return
        got += chunk
        if len(got) >= 4 and len(got) >= 4 + struct.unpack(">i", got[:4])[0]:
            assert struct.unpack(">i", got[:4])[0] >= 4, f"{name}: a malformed response frame"
            return


def test_garbage_and_truncated_frames(sluice_dev):
    bs = sluice_dev.bootstrap
    topic = "bad-garbage"
    seed_topic(bs, topic)
    rnd = random.Random(1234)
    cases = []
    for _ in range(40):  # random payloads with a correct size prefix
        cases.append(("garbage", kw.i32(n := rnd.randrange(0, 300)) + rnd.randbytes(n)))
    for api in (kw.PRODUCE, kw.FETCH, kw.METADATA, kw.LIST_OFFSETS, 19, 20, 37, 32, 44, 60, 61, 22, kw.API_VERSIONS):
        for ver in (0, 3, 7, 12):
            # a valid header for a real API followed by random bytes
            hdr = kw.i16(api) + kw.i16(ver) + kw.i32(7) + kw.string("fuzz")
            body = rnd.randbytes(rnd.randrange(0, 120))
            cases.append((f"api {api} v{ver} random body", kw.i32(len(hdr) + len(body)) + hdr + body))
    # a real Produce request cut short in many places (size prefix still claims the whole)
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        hdr, _ = c.header(kw.PRODUCE, 3, flexible=False)
    full = hdr + kw.produce_v3_body({topic: {0: kw.encode_batch([kw.Record(b"t", b"truncated")], T0)}})
    for cut in (1, 5, 9, 20, len(full) // 2, len(full) - 1):
        cases.append((f"truncated produce at {cut}", kw.i32(len(full)) + full[:cut]))
    # a valid size prefix with the body length field lying about a Produce's records
    lie = bytearray(full)
    idx = lie.rfind(kw.i32(len(kw.encode_batch([kw.Record(b"t", b"truncated")], T0))))
    lie[idx:idx + 4] = kw.i32(0x7FFFFFF0)
    cases.append(("records length lies", kw.i32(len(lie)) + bytes(lie)))
    cases.append(("size prefix only, truncated", b"\x00\x00"))
    # Array lengths that claim billions of elements in a tiny frame: the decoder must not try
    # to reserve memory for them (this once aborted the process on a 13-byte request).
    for ver, count in ((1, kw.i32(0x7FFFFFFF)), (4, kw.i32(0x10000000)), (12, kw.uvarint(0xFFFFFFF0))):
        flexible = ver >= 9
        hdr = kw.i16(kw.METADATA) + kw.i16(ver) + kw.i32(9) + kw.string("fuzz") + (b"\x00" if flexible else b"")
        cases.append((f"metadata v{ver} with a huge topic count", kw.i32(len(hdr) + len(count)) + hdr + count))
    hdr = kw.i16(kw.PRODUCE) + kw.i16(3) + kw.i32(9) + kw.string("fuzz")
    body = kw.string(None) + kw.i16(-1) + kw.i32(1000) + kw.i32(0x7FFFFFFF)
    cases.append(("produce with a huge topic count", kw.i32(len(hdr) + len(body)) + hdr + body))

    for name, data in cases:
        # A frame cut short leaves the agent waiting for the rest, as it should: the test half-closes
        # to end it. A whole frame must be answered or the connection closed by the agent itself.
        cut_short = name.startswith(("truncated", "size prefix only"))
        with kw.KafkaConn("127.0.0.1", sluice_dev.port, timeout=10) as c:
            try:
                c.send_raw(data)
                if cut_short:
                    c.sock.shutdown(socket.SHUT_WR)
                    c.expect_closed(timeout=10)
                else:
                    answered_or_closed(c, name)
            except (BrokenPipeError, ConnectionResetError):
                pass
            except socket.timeout:
                pytest.fail(f"{name}: the agent neither answered nor closed within 10 s")
        assert sluice_dev.alive(), f"sluice died on case {name!r}:\n{sluice_dev.stderr_text()[-4000:]}"
    still_serves(sluice_dev)
    assert_untouched(bs, topic)


def test_unknown_topic_without_auto_create(cluster):
    dev = cluster.dev("--auto-create-topics", "false")
    with kw.KafkaConn("127.0.0.1", dev.port) as c:
        batch = kw.encode_batch([kw.Record(b"k", b"v")], T0)
        assert kw.produce_v3(c, "no-such-topic", 0, batch)[0] == kw.UNKNOWN_TOPIC_OR_PARTITION  # 3
        md = kw.metadata_v4(c, ["no-such-topic"], allow_auto_create=True)
        assert md["topics"]["no-such-topic"][0] == kw.UNKNOWN_TOPIC_OR_PARTITION
        # still not created by either request
        md = kw.metadata_v4(c, None, allow_auto_create=False)
        assert "no-such-topic" not in md["topics"]
        res = kw.fetch_v11(c, 0, -1, {"no-such-topic": {0: 0}}, max_wait_ms=0, min_bytes=0)
        assert res.partitions[("no-such-topic", 0)].error_code == kw.UNKNOWN_TOPIC_OR_PARTITION
    still_serves(dev)


def test_unknown_partition_of_existing_topic(sluice_dev):
    bs = sluice_dev.bootstrap
    create_topic(bs, "bad-part", 2)
    with kw.KafkaConn("127.0.0.1", sluice_dev.port) as c:
        batch = kw.encode_batch([kw.Record(b"k", b"v")], T0)
        assert kw.produce_v3(c, "bad-part", 7, batch)[0] == kw.UNKNOWN_TOPIC_OR_PARTITION
        assert kw.produce_v3(c, "bad-part", -1, batch)[0] == kw.UNKNOWN_TOPIC_OR_PARTITION
    assert watermarks(bs, "bad-part", 0) == (0, 0)
    assert watermarks(bs, "bad-part", 1) == (0, 0)
    still_serves(sluice_dev)
