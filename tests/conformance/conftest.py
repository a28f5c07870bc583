"""Fixtures for the conformance scenarios: `both` (the session's reference Kafka broker and Sluice),
and the session summary of what was compared. See harness.py for how a scenario is written."""

from __future__ import annotations

import pytest

from conformance.harness import Both, Session

_SESSION = Session()


@pytest.fixture
def both(request, kafka_ref, sluice_ref) -> Both:
    """Runs a scenario against Apache Kafka and Sluice and compares (`both.compare(fn)`)."""
    return Both(request.node.name, kafka_ref.bootstrap, sluice_ref.bootstrap, _SESSION,
                sluice_log=sluice_ref.stderr_text)


@pytest.fixture
def both_newest(request, kafka_newest, sluice_ref) -> Both:
    """As `both`, but against the newest 4.x Kafka (for share groups, GA in 4.2, and what else changed)."""
    return Both(request.node.name, kafka_newest.bootstrap, sluice_ref.bootstrap, _SESSION,
                sluice_log=sluice_ref.stderr_text)


def pytest_terminal_summary(terminalreporter):
    if _SESSION.outcomes:
        terminalreporter.section("conformance with Apache Kafka")
        for line in _SESSION.summary_lines():
            terminalreporter.write_line(line)
