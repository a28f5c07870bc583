"""SASL/OAUTHBEARER with JWT validation against a JWKS endpoint.

The identity provider is the npm package oauth2-mock-server, started by tests/idp/idp.mjs
(installed by tests/run.sh). Positive tests use confluent-kafka's OIDC support with the
client_credentials grant and with the KIP-1139 jwt-bearer grant. Negative tests sign tokens
themselves (with a key the IdP publishes as kid "test-key") and send them over the raw wire, so
each rejection is checked exactly: error code, connection closed, and the agent's log line.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import kafkawire as kw
from conftest import free_port
from helpers import consume_exact, create_topic, producer, wait_until
from test_security import (SASL_AUTHENTICATION_FAILED, log, metadata_v4, sasl_authenticate,
                           sasl_handshake)

IDP_DIR = Path(__file__).resolve().parent / "idp"


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def gen_rsa_key(path: Path) -> Path:
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(path)], check=True, capture_output=True)
    return path


@pytest.fixture
def idp(tmp_path):
    if not (IDP_DIR / "node_modules" / "oauth2-mock-server").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=IDP_DIR, check=True)
    test_key = gen_rsa_key(tmp_path / "test-key.pem")
    client_key = gen_rsa_key(tmp_path / "client-key.pem")
    client_pub = tmp_path / "client-pub.pem"
    subprocess.run(["openssl", "pkey", "-in", str(client_key), "-pubout", "-out", str(client_pub)],
                   check=True, capture_output=True)
    port = free_port()
    out = open(tmp_path / "idp.out", "w+")
    proc = subprocess.Popen(["node", str(IDP_DIR / "idp.mjs"), str(port), str(test_key), str(client_pub)],
                            stdout=out, stderr=subprocess.STDOUT, cwd=IDP_DIR)

    def ready():
        text = (tmp_path / "idp.out").read_text()
        assert "IDP ready" in text or proc.poll() is None, f"the mock IDP exited:\n{text}"
        return "IDP ready" in text
    wait_until("the mock IDP to be ready", ready, timeout=30, every=0.1, context=(tmp_path / "idp.out").read_text)

    class Idp:
        url = f"http://127.0.0.1:{port}"
        issuer = f"http://localhost:{port}"  # what the mock server puts in iss
        key = serialization.load_pem_private_key(test_key.read_bytes(), None)

        def sign(self, claims: dict, header: dict | None = None, alg="RS256") -> str:
            h = {"alg": alg, "typ": "JWT", "kid": "test-key", **(header or {})}
            signing_input = f"{b64u(json.dumps(h).encode())}.{b64u(json.dumps(claims).encode())}"
            sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            return f"{signing_input}.{b64u(sig)}"

        def claims(self, **over) -> dict:
            now = int(time.time())
            c = {"iss": self.issuer, "aud": "sluice", "sub": "alice", "scope": "kafka",
                 "iat": now, "nbf": now - 5, "exp": now + 600}
            c.update(over)
            return {k: v for k, v in c.items() if v is not None}

    i = Idp()
    i.client_key = client_key
    yield i
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def oauth_dev(cluster, idp):
    port = free_port()
    d = cluster.dev("--listener", f"SASL_PLAINTEXT://127.0.0.1:{port}",
                    "--sasl-oauthbearer-jwks-endpoint-url", f"{idp.url}/jwks",
                    "--sasl-oauthbearer-expected-issuer", idp.issuer,
                    "--sasl-oauthbearer-expected-audience", "sluice",
                    "--sasl-oauthbearer-required-scope", "kafka",
                    "--sasl-oauthbearer-clock-skew-seconds", "5")
    d.sasl_port = port
    return d


def oauth_login(port: int, token: str, version: int = 1):
    c = kw.KafkaConn("127.0.0.1", port)
    code, _ = sasl_handshake(c, "OAUTHBEARER")
    assert code == 0
    msg = b"n,,\x01auth=Bearer " + token.encode() + b"\x01\x01"
    return c, sasl_authenticate(c, msg, version)


def test_valid_token_authenticates_with_its_expiry_as_session_lifetime(oauth_dev, idp):
    token = idp.sign(idp.claims(exp=int(time.time()) + 4))
    c, (code, msg, _, lifetime) = oauth_login(oauth_dev.sasl_port, token)
    with c:
        assert code == 0, msg
        assert 0 < lifetime <= 4000
        metadata_v4(c)
        # the session ends with the token: past exp, the next request closes the connection
        time.sleep(lifetime / 1000 + 0.5)
        h, _ = c.header(kw.METADATA, 4, False)
        c.send_frame(h + kw.i32(-1) + kw.i8(0))
        assert c.expect_closed() == b""
    assert re.search(r"SASL authentication succeeded.*OAUTHBEARER.*user=alice", log(oauth_dev))
    assert "expired without re-authentication" in log(oauth_dev)


def _hs256_with_public_key(idp) -> str:
    import hmac, hashlib
    pub = idp.key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    h = {"alg": "HS256", "typ": "JWT", "kid": "test-key"}
    si = f"{b64u(json.dumps(h).encode())}.{b64u(json.dumps(idp.claims()).encode())}"
    return f"{si}.{b64u(hmac.new(pub, si.encode(), hashlib.sha256).digest())}"


def _alg_none(idp) -> str:
    h = {"alg": "none", "typ": "JWT", "kid": "test-key"}
    return f"{b64u(json.dumps(h).encode())}.{b64u(json.dumps(idp.claims()).encode())}."


def _tampered(idp) -> str:
    head, body, sig = idp.sign(idp.claims()).split(".")
    other = b64u(json.dumps(idp.claims(sub="admin")).encode())
    return f"{head}.{other}.{sig}"


NEGATIVE = {
    "expired": (lambda i: i.sign(i.claims(exp=int(time.time()) - 600)), "ExpiredSignature"),
    "not_yet_valid": (lambda i: i.sign(i.claims(nbf=int(time.time()) + 600)), "ImmatureSignature"),
    "wrong_issuer": (lambda i: i.sign(i.claims(iss="https://evil.example")), "InvalidIssuer"),
    "wrong_audience": (lambda i: i.sign(i.claims(aud="someone-else")), "InvalidAudience"),
    "missing_scope": (lambda i: i.sign(i.claims(scope="other")), "required scope 'kafka'"),
    "no_exp": (lambda i: i.sign(i.claims(exp=None)), "exp"),
    "unknown_kid": (lambda i: i.sign(i.claims(), header={"kid": "nope"}), "unknown kid 'nope'"),
    "alg_none": (_alg_none, "bad header"),
    "hmac_with_public_key": (_hs256_with_public_key, "HS256 is not allowed"),
    "tampered_signature": (_tampered, "InvalidSignature"),
    "not_a_jwt": (lambda i: "garbage", "bad header"),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE))
def test_bad_tokens_are_rejected(oauth_dev, idp, case):
    make, reason = NEGATIVE[case]
    c, (code, msg, _, _) = oauth_login(oauth_dev.sasl_port, make(idp))
    with c:
        assert code == SASL_AUTHENTICATION_FAILED, msg
        assert reason in msg, msg
        assert c.expect_closed() == b""
    assert re.search(r"SASL authentication failed.*" + re.escape(reason), log(oauth_dev))
    assert oauth_dev.alive()


def oidc_conf(d, idp, **extra) -> dict:
    return {"bootstrap.servers": f"127.0.0.1:{d.sasl_port}", "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.token.endpoint.url": f"{idp.url}/token", **extra}


def _roundtrip(d, conf):
    topic = f"oauth-{uuid.uuid4().hex[:8]}"
    create_topic(d.bootstrap, topic, 1)
    rest = {k: v for k, v in conf.items() if k != "bootstrap.servers"}
    p = producer(conf["bootstrap.servers"], **rest)
    for i in range(10):
        p.produce(topic, value=f"v{i}".encode())
    assert p.flush(60) == 0
    consume_exact(conf["bootstrap.servers"], topic, {0: 10}, **rest)


def test_confluent_kafka_client_credentials(oauth_dev, idp):
    _roundtrip(oauth_dev, oidc_conf(oauth_dev, idp, **{
        "sasl.oauthbearer.client.id": "svc-orders", "sasl.oauthbearer.client.secret": "s3cret",
        "sasl.oauthbearer.scope": "kafka"}))
    assert re.search(r"SASL authentication succeeded.*OAUTHBEARER.*user=svc-orders", log(oauth_dev))


def test_confluent_kafka_jwt_bearer_grant(oauth_dev, idp):
    _roundtrip(oauth_dev, oidc_conf(oauth_dev, idp, **{
        "sasl.oauthbearer.grant.type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "sasl.oauthbearer.assertion.private.key.file": str(idp.client_key),
        "sasl.oauthbearer.assertion.algorithm": "RS256",
        "sasl.oauthbearer.assertion.claim.sub": "alice-kip1139",
        "sasl.oauthbearer.assertion.claim.iss": "orders-app",
        "sasl.oauthbearer.assertion.claim.aud": idp.issuer}))
    assert re.search(r"SASL authentication succeeded.*OAUTHBEARER.*user=alice-kip1139", log(oauth_dev))
