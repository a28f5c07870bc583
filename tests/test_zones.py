"""Zone pinning: a client whose client.id carries `sluice_az=<zone>` is told, in Metadata, only
about the agents of its zone (as brokers and partition leaders); clients without a hint, or
naming a zone without agents, get the spread over every live agent."""

from confluent_kafka.admin import AdminClient

from conftest import free_port
from helpers import QUIET, DeliveryLog, consume_exact, create_topic, produce_all, producer, scrape_metrics

PARTITIONS = 8


def leaders(bootstrap: str, topic: str, client_id: str | None) -> tuple[set, set]:
    """(broker ids, partition leader ids) that Metadata tells a client with this client.id."""
    conf = {"bootstrap.servers": bootstrap, **QUIET}
    if client_id is not None:
        conf["client.id"] = client_id
    md = AdminClient(conf).list_topics(topic=topic, timeout=15)
    return set(md.brokers), {p.leader for p in md.topics[topic].partitions.values()}


def test_clients_with_a_zone_hint_see_only_agents_of_their_zone(cluster, tmp_path):
    # given: two agents in different zones (one with --zone, one with --rack: the same setting)
    objects = tmp_path / "objects"
    objects.mkdir()
    meta = cluster.meta(1)
    ma, mb = free_port(), free_port()
    a = cluster.agent(meta.url, objects, 1, "agent-a", "--zone", "us-east-1a", "--metrics-listen", f"127.0.0.1:{ma}")
    b = cluster.agent(meta.url, objects, 2, "agent-b", "--rack", "us-east-1b", "--metrics-listen", f"127.0.0.1:{mb}")

    def metric(port, name):
        return scrape_metrics(f"http://127.0.0.1:{port}/metrics").get((name, ()), 0.0)
    topic = "zoned"
    create_topic(a.bootstrap, topic, PARTITIONS)

    # then: a client in us-east-1a, whichever agent it bootstraps from, sees agent 1 only
    for bs in (a.bootstrap, b.bootstrap):
        assert leaders(bs, topic, "orders,sluice_az=us-east-1a") == ({1}, {1})
        assert leaders(bs, topic, "sluice_az=us-east-1b") == ({2}, {2})
        # no hint, or a zone with no live agent: every agent, leadership spread over both
        assert leaders(bs, topic, None) == ({1, 2}, {1, 2})
        assert leaders(bs, topic, "orders,sluice_az=eu-west-1c") == ({1, 2}, {1, 2})

    # and: a pinned producer and consumer work end to end, each through its zone's agent only
    # (bootstrapped from the other zone's agent)
    log = DeliveryLog()
    records = [(i, topic, i % PARTITIONS, None, f"v{i}".encode(), None, None) for i in range(400)]
    produce_all(producer(b.bootstrap, **{"client.id": "orders,sluice_az=us-east-1a"}), records, log)
    assert log.errors() == {}
    got = consume_exact(a.bootstrap, topic, {p: 50 for p in range(PARTITIONS)},
                        **{"client.id": "sluice_az=us-east-1b"})
    assert sorted(int(m.value()[1:]) for msgs in got.values() for m in msgs) == list(range(400))
    assert (metric(ma, "sluice_produced_records_total"), metric(mb, "sluice_produced_records_total")) == (400, 0)
    assert metric(ma, "sluice_fetched_bytes_total") == 0 and metric(mb, "sluice_fetched_bytes_total") > 0
