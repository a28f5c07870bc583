"""Issue 10, item 6, against Apache Kafka: the SASL state machine (Kafka's SaslServerAuthenticator for
the exchange, KafkaApis once authenticated) on a SASL_PLAINTEXT listener, and SASL requests on a
PLAINTEXT listener. Both brokers enable PLAIN and SCRAM-SHA-256/512 and know user alice."""

from __future__ import annotations

import socket

import pytest

import kafkawire as kw
from conformance.conftest import _SESSION
from conformance.harness import Both
from conftest import free_port
from helpers import upsert_scram_users
from test_security import metadata_v4, scram_login

MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"


@pytest.fixture(scope="module")
def sasl_pair(tmp_path_factory):
    """(Kafka, Sluice), each with a PLAINTEXT and a SASL_PLAINTEXT listener and user alice."""
    from reference.kafka_ref import KafkaReference
    from conftest import Cluster

    jaas = {"listener.name.sasl_plaintext.plain.sasl.jaas.config":
            'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";'}
    for m in ("scram-sha-256", "scram-sha-512"):
        jaas[f"listener.name.sasl_plaintext.{m}.sasl.jaas.config"] = \
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    kafka = KafkaReference(tmp_path_factory.mktemp("kafka-sasl"),
                           listeners={"PLAINTEXT": "PLAINTEXT", "SASL_PLAINTEXT": "SASL_PLAINTEXT"},
                           props={"sasl.enabled.mechanisms": MECHANISMS, **jaas})
    kafka.start()
    cluster = Cluster(tmp_path_factory.mktemp("sluice-sasl"))
    sasl_port = free_port()
    sluice = cluster.dev("--listener", f"SASL_PLAINTEXT://127.0.0.1:{sasl_port}", name="sluice-sasl")
    try:
        upsert_scram_users(kafka.bootstrap, {"alice": "alice-secret"})
        upsert_scram_users(sluice.bootstrap, {"alice": "alice-secret"})
        yield {"kafka": (kafka.bootstrap, kafka.bootstrap_for("SASL_PLAINTEXT")),
               "sluice": (sluice.bootstrap, f"127.0.0.1:{sasl_port}")}
    finally:
        cluster.close()
        kafka.close()


def both_on(request, pair, listener: int) -> Both:
    return Both(request.node.name, pair["kafka"][listener], pair["sluice"][listener], _SESSION)


def open_or_closed(c: kw.KafkaConn) -> str:
    """Whether the broker kept the connection: a Metadata request is answered, or the socket closes."""
    try:
        metadata_v4(c)
        return "open"
    except (ConnectionError, socket.timeout, OSError, AssertionError):
        return "closed"


def test_sasl_after_authentication(request, sasl_pair):
    """Authenticated: a second SaslHandshake is ILLEGAL_SASL_STATE with no mechanisms and SaslAuthenticate
    ILLEGAL_SASL_STATE with Kafka's message; the connection stays open."""
    def scenario(t):
        with kw.KafkaConn(t.host, t.port, timeout=10) as c:
            code, mechs = kw.sasl_handshake(c, "PLAIN")
            out = {"handshake": [t.err(code), sorted(mechs)],
                   "authenticate": t.err(kw.sasl_authenticate(c, b"\0alice\0alice-secret")[0])}
            out["second_handshake"] = list(kw.sasl_handshake(c, "PLAIN"))
            out["after_handshake"] = open_or_closed(c)
            code, msg, _, _ = kw.sasl_authenticate(c, b"\0alice\0alice-secret")
            out["second_authenticate"] = [t.err(code), msg]
            out["after_authenticate"] = open_or_closed(c)
        return out
    both_on(request, sasl_pair, 1).compare(scenario)


@pytest.mark.parametrize("mechanism,token", [
    ("PLAIN", b"\0alice\0wrong"), ("PLAIN", b"\0mallory\0x"), ("PLAIN", b"\0alice"),
    ("PLAIN", b"\0\0x"), ("PLAIN", b"\0alice\0"), ("PLAIN", b"bob\0alice\0alice-secret"),
    ("SCRAM-SHA-256", b"\xff\xfe garbage"), ("SCRAM-SHA-512", b"n,,n=nobody,r=abcdefgh"),
])
def test_sasl_failures(request, sasl_pair, mechanism, token):
    """A failed SaslAuthenticate: the error code, Kafka's message (naming the mechanism where Kafka's
    does), and the connection closed."""
    def scenario(t):
        with kw.KafkaConn(t.host, t.port, timeout=10) as c:
            assert kw.sasl_handshake(c, mechanism)[0] == 0
            code, msg, _, _ = kw.sasl_authenticate(c, token)
            return {"error": [t.err(code), msg], "after": open_or_closed(c)}
    both_on(request, sasl_pair, 1).compare(scenario)


def test_sasl_scram_wrong_password(request, sasl_pair):
    def scenario(t):
        with kw.KafkaConn(t.host, t.port, timeout=10) as c:
            assert kw.sasl_handshake(c, "SCRAM-SHA-256")[0] == 0
            code, msg, _, _ = scram_login(c, "alice", "not-her-password")
            return {"error": [t.err(code), msg], "after": open_or_closed(c)}
    both_on(request, sasl_pair, 1).compare(scenario)


def test_sasl_out_of_order(request, sasl_pair):
    """A SaslAuthenticate before any handshake, a second handshake mid-exchange, an unknown mechanism."""
    def scenario(t):
        out = {}
        with kw.KafkaConn(t.host, t.port, timeout=10) as c:
            h, _ = c.header(kw.SASL_AUTHENTICATE, 1, False)
            c.send_frame(h + kw.nbytes(b"\0alice\0alice-secret"))
            out["authenticate_first"] = c.expect_closed(10).hex()
        with kw.KafkaConn(t.host, t.port, timeout=10) as c:
            kw.sasl_handshake(c, "PLAIN")
            code, mechs = kw.sasl_handshake(c, "PLAIN")
            out["handshake_twice"] = [t.err(code), mechs, c.expect_closed(10).hex()]
        with kw.KafkaConn(t.host, t.port, timeout=10) as c:
            code, mechs = kw.sasl_handshake(c, "GSSAPI")
            out["unknown_mechanism"] = [t.err(code), sorted(mechs), c.expect_closed(10).hex()]
        return out
    both_on(request, sasl_pair, 1).compare(scenario)


def test_sasl_on_a_plaintext_listener(request, sasl_pair):
    def scenario(t):
        with kw.KafkaConn(t.host, t.port, timeout=10) as c:
            out = {"handshake": list(kw.sasl_handshake(c, "PLAIN")), "after_handshake": open_or_closed(c)}
            code, msg, _, _ = kw.sasl_authenticate(c, b"\0alice\0alice-secret")
            out["authenticate"] = [t.err(code), msg]
            out["after_authenticate"] = open_or_closed(c)
        return out
    both_on(request, sasl_pair, 0).compare(scenario)
