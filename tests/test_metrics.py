"""Prometheus metrics of the metadata quorum: every segment flush is one raft proposal, timed
from proposal to commit on the leader (`sluice_meta_raft_commit_seconds`, a histogram) and
counted by kind (`sluice_meta_proposals_total{kind=...}`)."""


from conftest import free_port
from helpers import DeliveryLog, create_topic, histogram_buckets, poll_until, produce_all, producer, scrape_metrics

COMMIT = "sluice_meta_raft_commit_seconds"


def counter(m: dict, name: str, **labels) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def test_raft_commit_histogram_counts_every_flush(cluster):
    # given: `sluice dev` exporting metrics (the agent's and its in-process meta node's)
    port = free_port()
    dev = cluster.dev("--metrics-listen", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/metrics"
    create_topic(dev.bootstrap, "metered", 4)
    before = scrape_metrics(url)

    # when: 4,000 records are produced in many small flushes (5 ms linger)
    log = DeliveryLog()
    n = 4000
    records = [(i, "metered", i % 4, None, f"v{i}".encode(), None, None) for i in range(n)]
    produce_all(producer(dev.bootstrap, **{"linger.ms": 1, "batch.num.messages": 50}), records, log)
    assert log.errors() == {}

    # then: one commit_segment proposal per flushed segment, and the commit histogram counted
    # every proposal (segments, heartbeats, topic creation...). The agent counts a flush just
    # after answering its producers, so the two are compared once they agree, within 10 s.
    seen = None

    def agreeing():
        nonlocal seen
        after = scrape_metrics(url)
        flushes = counter(after, "sluice_segments_flushed_total") - counter(before, "sluice_segments_flushed_total")
        segment_commits = (counter(after, "sluice_meta_proposals_total", kind="commit_segment")
                           - counter(before, "sluice_meta_proposals_total", kind="commit_segment"))
        proposals = sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == "sluice_meta_proposals_total")
        timed = counter(after, f"{COMMIT}_count") - counter(before, f"{COMMIT}_count")
        seen = (flushes, segment_commits, timed, proposals)
        return (after, flushes, segment_commits, timed) if flushes == segment_commits and timed == proposals else None
    after, flushes, segment_commits, timed = poll_until(
        "flushes to equal commit_segment proposals and timed commits to equal proposals", agreeing, timeout=10,
        every=0.1, context=lambda: f"(flushes, commit_segment proposals, timed commits, proposals): {seen}")
    print(f"{n} records in {flushes:.0f} flushes; {timed:.0f} raft commits timed "
          f"({segment_commits:.0f} commit_segment)")
    assert flushes >= 2, "expected several flushes"
    assert timed >= flushes
    # a real histogram (buckets, not a summary), consistent with its count and sum
    buckets = histogram_buckets(after, COMMIT)
    assert len(buckets) > 10 and buckets[-1][0] == float("inf")
    assert buckets[-1][1] == counter(after, f"{COMMIT}_count")
    assert [c for _, c in buckets] == sorted(c for _, c in buckets)
    assert counter(after, f"{COMMIT}_sum") > counter(before, f"{COMMIT}_sum")
