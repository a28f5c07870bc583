"""Listeners and SASL: SSL, SASL_PLAINTEXT and SASL_SSL next to the default PLAINTEXT
listener; PLAIN and SCRAM-SHA-256/512 with users stored in the quorum; the SASL state rules
(order, frame size, requests before authentication), and KIP-368 session lifetimes.

Users are created over the PLAINTEXT listener with AlterUserScramCredentials (the client
sends only the salted password). Negative cases check the Kafka error code, that the
connection closes, and that the agent logged why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import subprocess
import time
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialDeletion, UserScramCredentialUpsertion)

import kafkawire as kw
from kafkawire import SASL_AUTHENTICATE, sasl_authenticate, sasl_handshake
from conftest import free_port
from helpers import (QUIET, admin, consume_exact, create_topic, err_code, producer, sasl_client_conf,
                     upsert_scram_users)

UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58


def log(d) -> str:
    """The process's stderr without colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", d.stderr_text())


def make_cert(d) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 / localhost (PEM cert, PEM PKCS#8 key)."""
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def secure(cluster, tmp_path):
    """dev with PLAINTEXT (--listen), SSL, SASL_PLAINTEXT and SASL_SSL listeners, and two users."""
    cert, key = make_cert(tmp_path)
    ports = {n: free_port() for n in ("SSL", "SASL_PLAINTEXT", "SASL_SSL")}
    extra = []
    for name, port in ports.items():
        extra += ["--listener", f"{name}://127.0.0.1:{port}"]
    d = cluster.dev(*extra, "--ssl-cert", cert, "--ssl-key", key)
    d.ports = ports
    d.cert = cert
    a = admin(d.bootstrap)
    ups = [UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                        b"alice-secret"),
           UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                        b"alice-secret"),
           UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                        b"bob-secret")]
    for user, f in a.alter_user_scram_credentials(ups).items():
        f.result(timeout=30)
    return d


def sasl_conf(d, listener: str, mechanism: str, user: str, password: str) -> dict:
    extra = {"ssl.ca.location": d.cert} if listener == "SASL_SSL" else {}
    return sasl_client_conf(d.ports[listener], user, password, mechanism, listener, **extra)


def roundtrip(d, conf: dict, n: int = 20):
    """Produce n records and read them back through the listener `conf` names."""
    topic = f"sec-{uuid.uuid4().hex[:8]}"
    create_topic(d.bootstrap, topic, 1)
    p = producer(conf["bootstrap.servers"], **{k: v for k, v in conf.items() if k != "bootstrap.servers"})
    for i in range(n):
        p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    assert p.flush(60) == 0
    consume_exact(conf["bootstrap.servers"], topic, {0: n},
                  **{k: v for k, v in conf.items() if k != "bootstrap.servers"})
    return topic


def test_ssl_listener_serves_and_advertises_itself(secure):
    conf = {"bootstrap.servers": f"127.0.0.1:{secure.ports['SSL']}", "security.protocol": "SSL",
            "ssl.ca.location": secure.cert}
    md = AdminClient({**conf, **QUIET}).list_topics(timeout=30)
    # Metadata names the listener the client connected on, not the PLAINTEXT one.
    assert [(b.host, b.port) for b in md.brokers.values()] == [("127.0.0.1", secure.ports["SSL"])]
    md = admin(secure.bootstrap).list_topics(timeout=30)
    assert [b.port for b in md.brokers.values()] == [secure.port]
    roundtrip(secure, conf)


@pytest.mark.parametrize("listener,mechanism,user,password", [
    ("SASL_PLAINTEXT", "SCRAM-SHA-256", "alice", "alice-secret"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512", "bob", "bob-secret"),
    ("SASL_PLAINTEXT", "PLAIN", "alice", "alice-secret"),
    ("SASL_SSL", "SCRAM-SHA-512", "alice", "alice-secret"),
    ("SASL_SSL", "PLAIN", "bob", "bob-secret"),
])
def test_sasl_mechanisms_end_to_end(secure, listener, mechanism, user, password):
    roundtrip(secure, sasl_conf(secure, listener, mechanism, user, password))
    assert re.search(rf"SASL authentication succeeded.*mechanism=\"{mechanism}\" user={user}", log(secure))


@pytest.mark.parametrize("mechanism,user,password", [
    ("SCRAM-SHA-256", "alice", "wrong"),
    ("SCRAM-SHA-512", "bob", "alice-secret"),
    ("SCRAM-SHA-256", "bob", "bob-secret"),  # bob has no SHA-256 credential
    ("PLAIN", "alice", "wrong"),
    ("PLAIN", "mallory", "x"),
])
def test_wrong_credentials_are_rejected(secure, mechanism, user, password):
    errors = []
    conf = sasl_conf(secure, "SASL_PLAINTEXT", mechanism, user, password)
    a = AdminClient({**conf, **QUIET, "error_cb": lambda e: errors.append(e)})
    with pytest.raises(KafkaException):
        a.list_topics(timeout=5)
    a.poll(1)  # serves error_cb
    assert any("uthentication failed" in str(e) for e in errors), errors
    assert "SASL authentication failed" in log(secure)


def test_scram_credentials_describe_and_delete(secure):
    a = admin(secure.bootstrap)
    got = {u: f.result(timeout=30) for u, f in a.describe_user_scram_credentials(["alice", "bob"]).items()}
    alice = sorted((c.mechanism, c.iterations) for c in got["alice"].scram_credential_infos)
    assert alice == [(ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 8192)]
    fs = a.alter_user_scram_credentials([UserScramCredentialDeletion("bob", ScramMechanism.SCRAM_SHA_512)])
    fs["bob"].result(timeout=30)
    # bob is gone: a describe of him fails, and he can no longer log in
    with pytest.raises(KafkaException) as e:
        a.describe_user_scram_credentials(["bob"])["bob"].result(timeout=30)
    assert err_code(e.value) == KafkaError.RESOURCE_NOT_FOUND
    # iterations below Kafka's minimum are refused
    bad = a.alter_user_scram_credentials([UserScramCredentialUpsertion(
        "carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100), b"pw")])
    with pytest.raises(KafkaException) as e:
        bad["carol"].result(timeout=30)
    assert err_code(e.value) == KafkaError.UNACCEPTABLE_CREDENTIAL


# ---------------------------------------------------------------- raw wire


def scram_login(conn, user: str, password: str, mech=hashlib.sha256, send=sasl_authenticate):
    """Client side of SCRAM written from RFC 5802. Returns the final SaslAuthenticate answer."""
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={cnonce}"
    code, msg, server_first, _ = send(conn, ("n,," + first_bare).encode())
    assert code == 0, msg
    attrs = dict(a.split("=", 1) for a in server_first.decode().split(","))
    assert attrs["r"].startswith(cnonce)
    salted = hashlib.pbkdf2_hmac(mech().name, password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", mech).digest()
    stored = mech(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first.decode()},{without_proof}".encode()
    sig = hmac.new(stored, auth_msg, mech).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
    return send(conn, final)


def metadata_v4(conn):
    r = conn.request(kw.METADATA, 4, kw.i32(-1) + kw.i8(0), flexible=False)
    return r


def test_request_before_authentication_closes_the_connection(secure):
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        kw.api_versions(c)  # allowed before authentication
        h, _ = c.header(kw.METADATA, 4, False)
        c.send_frame(h + kw.i32(-1) + kw.i8(0))
        assert c.expect_closed() == b""
    assert "before SASL authentication" in log(secure)


def test_out_of_order_and_unknown_mechanism(secure):
    # as Kafka's SaslServerAuthenticator: a SaslAuthenticate before any handshake is refused
    # before it is parsed, without an answer
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        h, _ = c.header(SASL_AUTHENTICATE, 1, False)
        c.send_frame(h + kw.nbytes(b"\0alice\0alice-secret"))
        assert c.expect_closed() == b""
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        code, mechs = sasl_handshake(c, "GSSAPI")
        assert code == UNSUPPORTED_SASL_MECHANISM
        assert sorted(mechs) == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        assert c.expect_closed() == b""
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        assert sasl_handshake(c, "PLAIN")[0] == 0
        # a second handshake mid-exchange: ILLEGAL_SASL_STATE, no mechanisms, closed
        assert sasl_handshake(c, "PLAIN") == (ILLEGAL_SASL_STATE, [])
        assert c.expect_closed() == b""
    # SASL requests on a listener without SASL: what Kafka's request handler answers, and the
    # connection stays open
    with kw.KafkaConn("127.0.0.1", secure.port) as c:
        assert sasl_handshake(c, "PLAIN") == (ILLEGAL_SASL_STATE, [])
        assert sasl_authenticate(c, b"x")[:2] == (
            ILLEGAL_SASL_STATE, "SaslAuthenticate request received after successful authentication")
        metadata_v4(c)
    assert "SaslAuthenticate without a preceding SaslHandshake" in log(secure)
    assert "SASL mechanism not enabled" in log(secure)
    assert secure.alive()


def test_sasl_requests_after_authentication_keep_the_connection(secure):
    """Kafka 4.1: once authenticated (and with no session lifetime, so no KIP-368
    re-authentication), SaslHandshake gets ILLEGAL_SASL_STATE with no mechanisms and
    SaslAuthenticate ILLEGAL_SASL_STATE with Kafka's message; the connection stays open."""
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        assert sasl_handshake(c, "PLAIN") == (0, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        assert sasl_authenticate(c, b"\0alice\0alice-secret")[0] == 0
        assert sasl_handshake(c, "PLAIN") == (ILLEGAL_SASL_STATE, [])
        metadata_v4(c)
        for version in (0, 1):
            assert sasl_authenticate(c, b"\0alice\0alice-secret", version=version)[:2] == (
                ILLEGAL_SASL_STATE, "SaslAuthenticate request received after successful authentication")
        metadata_v4(c)


@pytest.mark.parametrize("token,message", [
    (b"\0alice\0wrong", "Authentication failed: Invalid username or password"),
    (b"\0mallory\0x", "Authentication failed: Invalid username or password"),
    (b"\0alice", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"),
    (b"\0\0x", "Authentication failed: username not specified"),
    (b"\0alice\0", "Authentication failed: password not specified"),
])
def test_plain_failures_use_kafkas_messages(secure, token, message):
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        assert sasl_handshake(c, "PLAIN")[0] == 0
        assert sasl_authenticate(c, token)[:2] == (SASL_AUTHENTICATION_FAILED, message)
        assert c.expect_closed() == b""


def test_oversize_sasl_frame_closes_the_connection(secure):
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        assert sasl_handshake(c, "PLAIN")[0] == 0
        h, _ = c.header(SASL_AUTHENTICATE, 1, False)
        big = h + kw.nbytes(b"\0alice\0" + b"x" * 600_000)
        c.send_raw(kw.i32(len(big)))  # the size alone is refused
        c.send_raw(big[:1000])
        assert c.expect_closed() == b""
    assert "exceeds the limit of 524288 bytes" in log(secure)
    # garbage SCRAM messages are answered with an error, never a panic
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        assert sasl_handshake(c, "SCRAM-SHA-256")[0] == 0
        code, msg, _, _ = sasl_authenticate(c, b"\xff\xfe garbage")
        assert code == SASL_AUTHENTICATION_FAILED, msg
    assert secure.alive()


def test_raw_scram_login_wrong_password(secure):
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        assert sasl_handshake(c, "SCRAM-SHA-256")[0] == 0
        code, msg, _, _ = scram_login(c, "alice", "not-her-password")
        assert (code, msg) == (SASL_AUTHENTICATION_FAILED, "Authentication failed during authentication due to "
                               "invalid credentials with SASL mechanism SCRAM-SHA-256")
        assert c.expect_closed() == b""
    with kw.KafkaConn("127.0.0.1", secure.ports["SASL_PLAINTEXT"]) as c:
        assert sasl_handshake(c, "SCRAM-SHA-256")[0] == 0
        code, msg, server_final, lifetime = scram_login(c, "alice", "alice-secret")
        assert code == 0 and server_final.startswith(b"v=") and lifetime == 0
        metadata_v4(c)  # authenticated: served


def raw_sasl_token(conn, token: bytes):
    """After a v0 SaslHandshake: a raw token frame out, a raw frame back (same shape as
    sasl_authenticate's answer)."""
    conn.send_frame(token)
    return 0, None, conn.recv_frame(), None


def sasl_handshake_v0(conn, mechanism: str) -> int:
    return conn.request(kw.SASL_HANDSHAKE, 0, kw.handshake_body(mechanism), flexible=False).i16()


def test_sasl_handshake_v0_raw_frames(secure):
    port = secure.ports["SASL_PLAINTEXT"]
    # PLAIN: one raw token, an empty frame back, then Kafka requests are served
    with kw.KafkaConn("127.0.0.1", port) as c:
        assert sasl_handshake_v0(c, "PLAIN") == 0
        assert raw_sasl_token(c, b"\0alice\0alice-secret")[2] == b""
        metadata_v4(c)
    # SCRAM over raw frames
    with kw.KafkaConn("127.0.0.1", port) as c:
        assert sasl_handshake_v0(c, "SCRAM-SHA-512") == 0
        _, _, server_final, _ = scram_login(c, "bob", "bob-secret", hashlib.sha512, raw_sasl_token)
        assert server_final.startswith(b"v=")
        metadata_v4(c)
    # a wrong password closes the connection without an answer
    with kw.KafkaConn("127.0.0.1", port) as c:
        assert sasl_handshake_v0(c, "PLAIN") == 0
        c.send_frame(b"\0alice\0wrong")
        assert c.expect_closed() == b""
    assert secure.alive()


def test_session_lifetime_and_reauthentication(cluster, tmp_path):
    port = free_port()
    d = cluster.dev("--listener", f"SASL_PLAINTEXT://127.0.0.1:{port}",
                    "--connections-max-reauth-ms", "1500")
    upsert_scram_users(d.bootstrap, {"alice": "pw"})
    # raw: the session lifetime is announced, re-authentication renews it, expiry closes
    with kw.KafkaConn("127.0.0.1", port) as c:
        assert sasl_handshake(c, "SCRAM-SHA-256")[0] == 0
        code, _, _, lifetime = scram_login(c, "alice", "pw")
        assert code == 0 and lifetime == 1500
        time.sleep(1.0)
        assert sasl_handshake(c, "SCRAM-SHA-256")[0] == 0  # re-authenticate in time
        assert scram_login(c, "alice", "pw")[0] == 0
        time.sleep(1.0)
        metadata_v4(c)  # 2 s after the first login, 1 s after the second: still valid
        time.sleep(1.0)
        h, _ = c.header(kw.METADATA, 4, False)
        c.send_frame(h + kw.i32(-1) + kw.i8(0))
        assert c.expect_closed() == b""
    assert "expired without re-authentication" in log(d)
    # librdkafka re-authenticates by itself (KIP-368) and keeps producing across several lifetimes
    conf = {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "alice", "sasl.password": "pw"}
    topic = "reauth"
    create_topic(d.bootstrap, topic, 1)
    p = producer(conf["bootstrap.servers"], **{k: v for k, v in conf.items() if k != "bootstrap.servers"})
    for i in range(8):
        p.produce(topic, value=f"v{i}".encode())
        assert p.flush(30) == 0
        time.sleep(0.5)
    assert "reauth=true" in log(d)
