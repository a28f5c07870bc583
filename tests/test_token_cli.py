"""`sluice token`: the JWT-bearer grant from the command line. The token it prints logs in over
SASL/OAUTHBEARER; an assertion signed with a key the IdP does not trust gets no token."""

from __future__ import annotations

import re
import subprocess

from conftest import sluice_bin
from test_oauth import idp, oauth_dev, oauth_login  # noqa: F401  (fixtures)
from test_security import log, metadata_v4


def run_token(idp, key, sub: str) -> subprocess.CompletedProcess:
    return subprocess.run([sluice_bin(), "token", "--token-endpoint", f"{idp.url}/token",
                           "--private-key", str(key), "--sub", sub, "--iss", "cli-tool",
                           "--aud", idp.issuer, "--scope", "kafka"],
                          capture_output=True, text=True, timeout=60)


def test_token_cli_gets_a_token_that_logs_in(oauth_dev, idp, tmp_path):  # noqa: F811
    r = run_token(idp, idp.client_key, "bob-cli")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert token.count(".") == 2
    c, (code, msg, _, _) = oauth_login(oauth_dev.sasl_port, token)
    with c:
        assert code == 0, msg
        metadata_v4(c)
    assert re.search(r"SASL authentication succeeded.*OAUTHBEARER.*user=bob-cli", log(oauth_dev))


def test_token_cli_untrusted_key_is_refused(idp, tmp_path):  # noqa: F811
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(other)], check=True, capture_output=True)
    r = run_token(idp, other, "mallory")
    assert r.returncode != 0
    assert "invalid_grant" in r.stderr
