"""ACLs (KIP-140) and the standard authorizer, with confluent-kafka over a SASL_PLAINTEXT listener.

`sluice dev --authorizer --super-users 'User:admin;User:ANONYMOUS'`: the PLAINTEXT listener's
anonymous principal and `admin` are super users (they set things up); `alice` and `bob` are SCRAM
users who can do only what ACLs allow. Every denial is checked by its exact Kafka error code, and
every grant by the same client then succeeding.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, ShareConsumer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, NewTopic, ResourcePatternType, ResourceType)

import kafkawire as kw
from conftest import free_port
from helpers import (QUIET, DeliveryLog, admin, consume_exact, create_topic, err_code, poll_until, produce_all,
                     producer, sasl_client_conf, set_group_configs, upsert_scram_users)

TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
SECURITY_DISABLED = 54
INVALID_REQUEST = 42

USERS = {"alice": "alice-pw", "bob": "bob-pw", "admin": "admin-pw"}

ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


@pytest.fixture
def authz(cluster):
    """dev with the authorizer on, a SASL_PLAINTEXT listener, and users alice, bob, admin."""
    port = free_port()
    d = cluster.dev("--listener", f"SASL_PLAINTEXT://127.0.0.1:{port}", "--authorizer",
                    "--super-users", "User:admin;User:ANONYMOUS")
    d.sasl_port = port
    upsert_scram_users(d.bootstrap, USERS)
    return d


def log(d) -> str:
    """The process's stderr without colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", d.stderr_text())


def conf(d, user: str, **extra) -> dict:
    return {**sasl_client_conf(d.sasl_port, user, USERS[user]), **QUIET, **extra}


def client_admin(d, user: str) -> AdminClient:
    return AdminClient(conf(d, user))


def acl(rt, name, principal, op, perm=ALLOW, pattern=LITERAL, host="*") -> AclBinding:
    return AclBinding(rt, name, pattern, principal, host, op, perm)


def grant(d, *bindings):
    """CreateAcls as the PLAINTEXT super user; waits until every binding is created."""
    a = admin(d.bootstrap)  # alive until the futures resolve
    for b, f in a.create_acls(list(bindings)).items():
        assert f.result(timeout=30) is None, b


def described(a: AdminClient, flt: AclBindingFilter) -> set:
    return set(a.describe_acls(flt).result(timeout=30))


ANY_FILTER = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.ANY)


def produce_one(d, user: str, topic: str):
    """One record as `user`; returns the delivery error code (None on success)."""
    log = DeliveryLog()
    p = producer(f"127.0.0.1:{d.sasl_port}", **conf(d, user, **{"message.timeout.ms": 15000}))
    p.produce(topic, value=b"v", on_delivery=log.cb(0))
    p.flush(30)
    err = log.results[0][0]
    return None if err is None else err.code()


def first_consumer_error(c, timeout=20.0):
    """Polls until the consumer reports an error; returns its code. librdkafka makes a refused
    ConsumerGroupHeartbeat fatal (_FATAL); the broker's code is then only in the message, and
    is mapped back here."""
    def error_code():
        m = c.poll(0.5)
        if m is None or m.error() is None:
            return None
        e = m.error()
        if e.code() == KafkaError._FATAL:
            assert "ConsumerGroupHeartbeat fatal error: Broker: Group authorization failed" in e.str(), e.str()
            return GROUP_AUTHORIZATION_FAILED
        return e.code()
    return poll_until("a consumer error", error_code, timeout, every=0)


def raw_describe_acls_error(port: int, login: tuple | None = None) -> tuple[int, str]:
    """DescribeAcls v1 (match everything) on the wire, optionally after a SASL/PLAIN login; the
    top-level error code and message. librdkafka drops DescribeAcls' top-level error, so the
    wire is where it shows."""
    with kw.KafkaConn("127.0.0.1", port) as c:
        if login:
            assert kw.sasl_handshake(c, "PLAIN")[0] == 0
            assert kw.sasl_authenticate(c, f"\0{login[0]}\0{login[1]}".encode())[0] == 0
        body = (kw.i8(1) + kw.string(None) + kw.i8(1) + kw.string(None) + kw.string(None)
                + kw.i8(1) + kw.i8(1))
        r = c.request(29, 1, body, flexible=False)
        r.i32()
        return r.i16(), r.string()


def topic_name() -> str:
    return f"acl-{uuid.uuid4().hex[:8]}"


def test_acl_apis_answer_security_disabled_without_authorizer(sluice_dev):
    a = admin(sluice_dev.bootstrap)
    b = acl(ResourceType.TOPIC, "t", "User:alice", AclOperation.READ)
    with pytest.raises(KafkaException) as e:
        a.create_acls([b])[b].result(timeout=30)
    assert e.value.args[0].code() == SECURITY_DISABLED
    assert raw_describe_acls_error(sluice_dev.port) == (SECURITY_DISABLED,
                                                       "No Authorizer is configured.")
    with pytest.raises(KafkaException) as e:
        a.delete_acls([ANY_FILTER])[ANY_FILTER].result(timeout=30)
    assert e.value.args[0].code() == SECURITY_DISABLED
    # ...and everything else is allowed, as before
    create_topic(sluice_dev.bootstrap, "open", 1)


def test_describe_and_delete_filters_return_exact_bindings(authz):
    alice_read_orders = acl(ResourceType.TOPIC, "orders", "User:alice", AclOperation.READ)
    bob_write_orders = acl(ResourceType.TOPIC, "orders", "User:bob", AclOperation.WRITE)
    alice_prefixed = acl(ResourceType.TOPIC, "orders-", "User:alice", AclOperation.ALL,
                         pattern=PREFIXED)
    wildcard_deny = acl(ResourceType.TOPIC, "*", "User:*", AclOperation.DELETE, DENY)
    group_read = acl(ResourceType.GROUP, "orders", "User:alice", AclOperation.READ)
    cluster_desc = acl(ResourceType.BROKER, "kafka-cluster", "User:bob", AclOperation.DESCRIBE)
    everything = {alice_read_orders, bob_write_orders, alice_prefixed, wildcard_deny, group_read,
                  cluster_desc}
    grant(authz, *everything)
    # creating the same binding again is a no-op
    grant(authz, alice_read_orders)
    a = admin(authz.bootstrap)
    assert described(a, ANY_FILTER) == everything

    def flt(rt=ResourceType.ANY, name=None, pattern=ResourcePatternType.ANY, principal=None,
            op=AclOperation.ANY, perm=AclPermissionType.ANY):
        return AclBindingFilter(rt, name, pattern, principal, None, op, perm)

    # LITERAL: that exact pattern only
    assert described(a, flt(ResourceType.TOPIC, "orders", LITERAL)) == {alice_read_orders,
                                                                       bob_write_orders}
    # ANY with a name: every pattern type, exact name
    assert described(a, flt(name="orders")) == {alice_read_orders, bob_write_orders, group_read}
    # MATCH: every ACL that applies to the topic orders-eu (prefix and wildcard included)
    assert described(a, flt(ResourceType.TOPIC, "orders-eu", ResourcePatternType.MATCH)) == {
        alice_prefixed, wildcard_deny}
    assert described(a, flt(ResourceType.TOPIC, "orders", ResourcePatternType.MATCH)) == {
        alice_read_orders, bob_write_orders, wildcard_deny}
    # principal, operation and permission filters
    assert described(a, flt(principal="User:bob")) == {bob_write_orders, cluster_desc}
    assert described(a, flt(perm=DENY)) == {wildcard_deny}
    assert described(a, flt(op=AclOperation.READ)) == {alice_read_orders, group_read}
    assert described(a, flt(ResourceType.TOPIC, pattern=PREFIXED)) == {alice_prefixed}
    assert described(a, flt(ResourceType.TRANSACTIONAL_ID)) == set()

    # DeleteAcls: each filter's result is exactly what it removed
    f1 = flt(ResourceType.TOPIC, "orders", LITERAL, principal="User:alice")
    f2 = flt(principal="User:bob")
    f3 = flt(ResourceType.TRANSACTIONAL_ID)
    res = a.delete_acls([f1, f2, f3])
    assert set(res[f1].result(timeout=30)) == {alice_read_orders}
    assert set(res[f2].result(timeout=30)) == {bob_write_orders, cluster_desc}
    assert res[f3].result(timeout=30) == []
    assert described(a, ANY_FILTER) == {alice_prefixed, wildcard_deny, group_read}
    # deleting again removes nothing
    assert a.delete_acls([f1])[f1].result(timeout=30) == []
    # ordinary users may neither describe nor create ACLs (ALTER/DESCRIBE on the cluster)
    alice = client_admin(authz, "alice")
    assert raw_describe_acls_error(authz.sasl_port, ("alice", USERS["alice"]))[0] == \
        CLUSTER_AUTHORIZATION_FAILED
    assert raw_describe_acls_error(authz.sasl_port, ("admin", USERS["admin"])) == (0, None)
    with pytest.raises(KafkaException) as e:
        alice.create_acls([cluster_desc])[cluster_desc].result(timeout=30)
    assert e.value.args[0].code() == CLUSTER_AUTHORIZATION_FAILED
    # an invalid binding is refused with INVALID_REQUEST, valid ones next to it are created
    bad = acl(ResourceType.TOPIC, "x", "alice", AclOperation.READ)  # principal without a type
    good = acl(ResourceType.TOPIC, "x", "User:alice", AclOperation.READ)
    fs = a.create_acls([bad, good])
    with pytest.raises(KafkaException) as e:
        fs[bad].result(timeout=30)
    assert e.value.args[0].code() == INVALID_REQUEST
    assert fs[good].result(timeout=30) is None
    assert described(a, flt(name="x")) == {good}


def test_topic_acls_gate_metadata_produce_and_fetch(authz):
    t, other = topic_name(), topic_name()
    create_topic(authz.bootstrap, t, 1)
    create_topic(authz.bootstrap, other, 1)
    alice = client_admin(authz, "alice")
    # no ACL at all: deny by default; Metadata lists nothing, produce fails
    assert alice.list_topics(timeout=30).topics == {}
    assert produce_one(authz, "alice", t) == TOPIC_AUTHORIZATION_FAILED
    assert "authorization denied" in log(authz)

    # WRITE: produce works; WRITE implies DESCRIBE, so Metadata lists t (and only t)
    grant(authz, acl(ResourceType.TOPIC, t, "User:alice", AclOperation.WRITE))
    assert produce_one(authz, "alice", t) is None
    assert set(alice.list_topics(timeout=30).topics) == {t}
    md = alice.list_topics(topic=other, timeout=30)
    assert md.topics[other].error.code() == TOPIC_AUTHORIZATION_FAILED

    # no READ on the topic (the consumer's group is allowed): fetching fails with
    # TOPIC_AUTHORIZATION_FAILED
    grant(authz, acl(ResourceType.GROUP, "alice-", "User:alice", AclOperation.READ,
                     pattern=PREFIXED))
    c = Consumer(conf(authz, "alice", **{"group.id": "alice-assign", "enable.auto.commit": False}))
    try:
        c.assign([TopicPartition(t, 0, 0)])
        assert first_consumer_error(c) == TOPIC_AUTHORIZATION_FAILED
    finally:
        c.close()

    # READ granted: the same consumer setup reads the record
    grant(authz, acl(ResourceType.TOPIC, t, "User:alice", AclOperation.READ))
    sasl = conf(authz, "alice")
    got = consume_exact(sasl.pop("bootstrap.servers"), t, {0: 1}, timeout=60,
                        **{**sasl, "group.id": "alice-assign"})
    assert [m.value() for m in got[0]] == [b"v"]
    # bob still has nothing
    assert produce_one(authz, "bob", t) == TOPIC_AUTHORIZATION_FAILED


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_group_read_needed_to_join(authz, protocol):
    # classic: JoinGroup is refused; consumer (KIP-848): ConsumerGroupHeartbeat is
    t, group = topic_name(), f"g-{uuid.uuid4().hex[:6]}"
    create_topic(authz.bootstrap, t, 1)
    produce_all(producer(authz.bootstrap), [(0, t, 0, None, b"x", None, None)], DeliveryLog())
    grant(authz, acl(ResourceType.TOPIC, t, "User:alice", AclOperation.READ),
          # DESCRIBE lets FindCoordinator through, so the JoinGroup itself is refused
          acl(ResourceType.GROUP, group, "User:alice", AclOperation.DESCRIBE))

    def group_consumer():
        c = Consumer(conf(authz, "alice", **{"group.id": group, "auto.offset.reset": "earliest",
                                              "enable.auto.commit": False,
                                              "group.protocol": protocol}))
        c.subscribe([t])
        return c

    c = group_consumer()
    try:
        assert first_consumer_error(c) == GROUP_AUTHORIZATION_FAILED
    finally:
        c.close()
    assert "operation=Read resource_type=Group resource=" + group in log(authz)

    grant(authz, acl(ResourceType.GROUP, group, "User:alice", AclOperation.READ))
    c = group_consumer()
    try:
        m = poll_until("alice's first record", lambda: c.poll(0.5), timeout=60, every=0)
        assert m.error() is None, m.error()
        assert m.value() == b"x"
        c.commit(asynchronous=False)
        assert [p.offset for p in c.committed([TopicPartition(t, 0)], timeout=30)] == [1]
    finally:
        c.close()
    # bob cannot even find the coordinator of that group
    c = Consumer(conf(authz, "bob", **{"group.id": group}))
    try:
        c.subscribe([t])
        assert first_consumer_error(c) in (GROUP_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED)
    finally:
        c.close()


def test_share_fetch_needs_topic_read(authz):
    t, group = topic_name(), f"sg-{uuid.uuid4().hex[:6]}"
    create_topic(authz.bootstrap, t, 1)
    set_group_configs(authz.bootstrap, group, share_auto_offset_reset="earliest")
    dl = DeliveryLog()
    produce_all(producer(authz.bootstrap), [(i, t, 0, None, f"r{i}".encode(), None, None)
                                            for i in range(5)], dl)
    assert dl.errors() == {}
    # READ on the group, DESCRIBE (not READ) on the topic: heartbeats work, share-fetches do not
    grant(authz, acl(ResourceType.GROUP, group, "User:alice", AclOperation.READ),
          acl(ResourceType.TOPIC, t, "User:alice", AclOperation.DESCRIBE))

    def share_consumer():
        c = ShareConsumer({**conf(authz, "alice"), "group.id": group})
        c.subscribe([t])
        return c

    c = share_consumer()
    try:
        def refused():
            try:
                for m in c.poll(0.5) or []:
                    assert m.error() is not None, f"record {m.value()} share-fetched without READ"
            except KafkaException as e:
                return err_code(e)
            return None
        assert poll_until("alice's share fetch to be refused", refused, timeout=30, every=0) \
            == TOPIC_AUTHORIZATION_FAILED
        assert "operation=Read resource_type=Topic resource=" + t in log(authz)
    finally:
        c.close()

    grant(authz, acl(ResourceType.TOPIC, t, "User:alice", AclOperation.READ))
    c = share_consumer()
    try:
        got = set()
        deadline = time.monotonic() + 60
        while len(got) < 5 and time.monotonic() < deadline:
            for m in c.poll(0.5) or []:
                if m.error() is None:
                    got.add(m.value())
        assert got == {f"r{i}".encode() for i in range(5)}
    finally:
        c.close()


def test_deny_beats_allow_prefixes_and_hosts(authz):
    create_topic(authz.bootstrap, "app-public", 1)
    create_topic(authz.bootstrap, "app-secret", 1)
    create_topic(authz.bootstrap, "other", 1)
    grant(authz,
          acl(ResourceType.TOPIC, "app-", "User:alice", AclOperation.ALL, pattern=PREFIXED),
          acl(ResourceType.TOPIC, "app-secret", "User:*", AclOperation.WRITE, DENY),
          # an ACL for another host does not apply to a client on 127.0.0.1
          acl(ResourceType.TOPIC, "other", "User:alice", AclOperation.WRITE, host="10.9.9.9"))
    assert produce_one(authz, "alice", "app-public") is None
    assert produce_one(authz, "alice", "app-secret") == TOPIC_AUTHORIZATION_FAILED
    assert produce_one(authz, "alice", "other") == TOPIC_AUTHORIZATION_FAILED
    # DENY WRITE does not deny DESCRIBE: both app- topics are listed, other is not
    assert set(client_admin(authz, "alice").list_topics(timeout=30).topics) == {"app-public",
                                                                                "app-secret"}
    # a wildcard-principal ALLOW opens app-public to bob; the DENY still holds for him
    grant(authz, acl(ResourceType.TOPIC, "app-", "User:*", AclOperation.WRITE, pattern=PREFIXED))
    assert produce_one(authz, "bob", "app-public") is None
    assert produce_one(authz, "bob", "app-secret") == TOPIC_AUTHORIZATION_FAILED


def test_super_user_does_everything(authz):
    # a DENY for everyone on everything does not apply to super users
    grant(authz, acl(ResourceType.TOPIC, "*", "User:*", AclOperation.ALL, DENY),
          acl(ResourceType.GROUP, "*", "User:*", AclOperation.ALL, DENY))
    a = client_admin(authz, "admin")
    t = topic_name()
    a.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)])[t].result(timeout=30)
    assert t in a.list_topics(timeout=30).topics
    assert produce_one(authz, "admin", t) is None
    sasl = conf(authz, "admin")
    consume_exact(sasl.pop("bootstrap.servers"), t, {0: 1}, timeout=60, **sasl)
    assert len(described(a, ANY_FILTER)) == 2
    c = Consumer(conf(authz, "admin", **{"group.id": "admins", "auto.offset.reset": "earliest"}))
    try:
        c.subscribe([t])
        m = poll_until("admin's first record", lambda: c.poll(0.5), timeout=60, every=0)
        assert m.error() is None and m.value() == b"v"
    finally:
        c.close()
    # alice is denied the same
    assert produce_one(authz, "alice", t) == TOPIC_AUTHORIZATION_FAILED
    alice = client_admin(authz, "alice")
    fs = alice.create_topics([NewTopic("nope", 1, 1)])
    with pytest.raises(KafkaException) as e:
        fs["nope"].result(timeout=30)
    assert e.value.args[0].code() == TOPIC_AUTHORIZATION_FAILED


def test_acls_survive_a_restart(authz):
    t = topic_name()
    create_topic(authz.bootstrap, t, 1)
    bindings = {acl(ResourceType.TOPIC, t, "User:alice", AclOperation.WRITE),
                acl(ResourceType.GROUP, "g", "User:bob", AclOperation.READ, DENY, PREFIXED)}
    grant(authz, *bindings)
    authz.restart()
    assert described(admin(authz.bootstrap), ANY_FILTER) == bindings
    assert produce_one(authz, "alice", t) is None
    assert produce_one(authz, "bob", t) == TOPIC_AUTHORIZATION_FAILED
