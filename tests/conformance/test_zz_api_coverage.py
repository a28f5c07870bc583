"""Runs last in tests/conformance (files run in name order): every API Sluice advertises was sent to the
session's Sluice by some conformance scenario, so every API has at least one comparison with Kafka."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from conformance.test_basics import API_NAMES

# APIs whose scenarios run on a dedicated pair of brokers (SASL listeners), not on the session's Sluice
ELSEWHERE = {"SaslHandshake": "test_sasl.py", "SaslAuthenticate": "test_sasl.py"}


def test_every_advertised_api_has_a_scenario(request, sluice_ref, both):
    here = Path(__file__).parent
    modules = {p.name for p in here.glob("test_*.py")}
    ran = {Path(str(item.fspath)).name for item in request.session.items}
    if request.config.option.keyword or request.config.option.markexpr or not modules <= ran:
        pytest.skip("API coverage is only judged when the whole of tests/conformance runs")
    advertised = both.sluice.call("ApiVersions", 3, client_software_name="coverage", client_software_version="1")
    names = {API_NAMES.get(k["api_key"], str(k["api_key"])) for k in advertised["api_keys"]}
    text = urllib.request.urlopen(sluice_ref.metrics_url, timeout=10).read().decode()
    exercised = set(re.findall(r'sluice_requests_total\{api="(\w+)"\}', text))
    missing = sorted(names - exercised - set(ELSEWHERE))
    assert not missing, f"advertised APIs no conformance scenario sent to Sluice: {missing}"
