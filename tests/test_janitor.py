"""The janitor deletes orphan objects (uploaded, never committed) once they are older than
`--orphan-grace-secs`, and nothing that is committed.

Two kinds of orphans: one planted in the store directory by hand, and real ones made by the
agent itself, whose PUTs are stored but reported as failed (injected lost acknowledgements),
so it never commits them and its producer retries under new object keys."""

import time

from clusterops import http_json
from conftest import free_port
from helpers import DeliveryLog, consume_exact, create_topic, produce_all, producer, wait_until

GRACE = 3


def segment_files(objects):
    return {p.name for p in (objects / "segments").glob("*.seg")}


def test_orphans_are_deleted_after_the_grace_period(cluster, tmp_path):
    objects = tmp_path / "objects"
    objects.mkdir()
    meta = cluster.meta(1)
    fport = free_port()
    agent = cluster.agent(meta.url, objects, 1, "agent", "--orphan-grace-secs", str(GRACE),
                          "--fault-injection-listen", f"127.0.0.1:{fport}")
    faults = f"http://127.0.0.1:{fport}/faults"
    topic = "janitor"
    create_topic(agent.bootstrap, topic, 2)

    # given: committed segments
    log = DeliveryLog()
    produce_all(producer(agent.bootstrap), [(i, topic, i % 2, None, f"v{i}".encode(), None, None)
                                            for i in range(200)], log)
    assert log.errors() == {}
    committed = segment_files(objects)
    assert committed

    # given: an orphan planted by hand ...
    planted = "0000000000000-99-00000000000000000000000000000000.seg"
    (objects / "segments" / planted).write_bytes(b"never committed")
    # ... and orphans the agent uploads itself but is told failed (lost acknowledgements)
    http_json(faults, {"put_lost_ack_rate": 1.0})
    p = producer(agent.bootstrap, **{"enable.idempotence": True})
    for i in range(200, 300):
        p.produce(topic, value=f"v{i}".encode(), partition=i % 2, on_delivery=log.cb(i))
    p.poll(0)
    wait_until("4 lost acknowledgements injected", lambda: http_json(faults)["stats"]["lost_acks"] >= 4,
               timeout=30, every=0.05, context=lambda: f"fault stats: {http_json(faults)['stats']}")
    lost = segment_files(objects) - committed - {planted}
    http_json(faults, {})
    assert p.flush(60) == 0
    assert log.errors() == {}
    assert lost, "the lost-ack uploads left no object"
    print(f"orphans: 1 planted, {len(lost)} uploaded with a lost acknowledgement; {len(committed)} committed")

    # then: young orphans survive ...
    time.sleep(0.5)
    assert planted in segment_files(objects), "an orphan younger than the grace period was deleted"
    # ... and after the grace period (+ a janitor period) every orphan is gone, every commit stays
    wait_until("the janitor to delete every orphan", lambda: not ({planted} | lost) & segment_files(objects),
               timeout=GRACE + 15, context=lambda: f"orphans left: {({planted} | lost) & segment_files(objects)}")
    assert committed <= segment_files(objects), "the janitor deleted a committed segment"
    got = consume_exact(agent.bootstrap, topic, {0: 150, 1: 150})
    assert sorted(int(m.value()[1:]) for part in got.values() for m in part) == list(range(300))
    print(f"janitor deleted {1 + len(lost)} orphans after {GRACE}s grace; all 300 records still readable")


def test_a_segment_committed_later_than_half_the_grace_is_uploaded_again(cluster, tmp_path):
    # given: an agent whose janitor grace is 2 s, so commits more than 1 s after their upload began
    # are refused by the quorum, and every object-store call slowed to 1.2 s
    from helpers import scrape_metrics
    objects = tmp_path / "objects"
    objects.mkdir()
    meta = cluster.meta(1)
    fport, mport = free_port(), free_port()
    agent = cluster.agent(meta.url, objects, 1, "agent", "--orphan-grace-secs", "2",
                          "--fault-injection-listen", f"127.0.0.1:{fport}",
                          "--metrics-listen", f"127.0.0.1:{mport}")
    faults = f"http://127.0.0.1:{fport}/faults"
    stale = ("sluice_segment_stale_commits_total", ())
    topic = "stale"
    create_topic(agent.bootstrap, topic, 2)
    http_json(faults, {"latency_ms": 1200})

    # when: an idempotent producer writes 100 records while uploads are that slow
    log = DeliveryLog()
    p = producer(agent.bootstrap, **{"enable.idempotence": True})
    for i in range(100):
        p.produce(topic, value=f"v{i}".encode(), partition=i % 2, on_delivery=log.cb(i))
    p.poll(0)

    def refused_three():
        if scrape_metrics(f"http://127.0.0.1:{mport}/metrics").get(stale, 0) >= 3:
            return True
        p.poll(0.1)
        return False
    wait_until("3 commits refused as too old", refused_three, timeout=60, every=0)
    assert not log.results, "a record was acknowledged though every upload was too slow to commit"
    # ... and the store becomes fast again
    http_json(faults, {})
    assert p.flush(60) == 0

    # then: the refused segments were uploaded again (the producer retried what failed), and every
    # record is acknowledged and stored exactly once, at dense offsets
    refused = scrape_metrics(f"http://127.0.0.1:{mport}/metrics")[stale]
    assert log.errors() == {}
    got = consume_exact(agent.bootstrap, topic, {0: 50, 1: 50})
    assert sorted(int(m.value()[1:]) for part in got.values() for m in part) == list(range(100))
    for part, msgs in got.items():
        assert [m.offset() for m in msgs] == list(range(50))
        assert all(log.results[int(m.value()[1:])][2] == m.offset() for m in msgs)
    print(f"{refused:.0f} commits refused as too old and uploaded again; 100 records stored once each")
