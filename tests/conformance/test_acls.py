"""ACLs and the standard authorizer against Apache Kafka's StandardAuthorizer: both brokers run with an
authorizer, a PLAINTEXT listener whose anonymous principal is a super user (it sets things up), and a
SASL_PLAINTEXT listener where SCRAM user `alice` can do only what ACLs allow. Each scenario runs as alice
and compares error codes, what Metadata shows, and what DescribeAcls/DeleteAcls return."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ConfigResource, NewTopic, ResourcePatternType, ResourceType)

from conformance.conftest import _SESSION
from conformance.harness import Both, error_name
from conftest import Cluster, free_port
from helpers import QUIET, upsert_scram_users
from kafkatools import run_tool

SUPER = "User:admin;User:ANONYMOUS"
USERS = {"alice": "alice-pw", "admin": "admin-pw"}
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


@pytest.fixture(scope="module")
def authz_pair(tmp_path_factory):
    """{"kafka"|"sluice": (plaintext bootstrap, sasl bootstrap)} with the authorizer on."""
    from reference.kafka_ref import KafkaReference

    kafka = KafkaReference(tmp_path_factory.mktemp("kafka-authz"),
                           listeners={"PLAINTEXT": "PLAINTEXT", "SASL_PLAINTEXT": "SASL_PLAINTEXT"},
                           props={"sasl.enabled.mechanisms": "SCRAM-SHA-256",
                                  "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config":
                                      "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                                  "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                                  "super.users": SUPER})
    kafka.start()
    cluster = Cluster(tmp_path_factory.mktemp("sluice-authz"))
    sasl_port = free_port()
    sluice = cluster.dev("--listener", f"SASL_PLAINTEXT://127.0.0.1:{sasl_port}", "--authorizer",
                         "--super-users", SUPER, name="sluice-authz")
    try:
        upsert_scram_users(kafka.bootstrap, USERS)
        upsert_scram_users(sluice.bootstrap, USERS)
        yield {"kafka": (kafka.bootstrap, kafka.bootstrap_for("SASL_PLAINTEXT")),
               "sluice": (sluice.bootstrap, f"127.0.0.1:{sasl_port}")}
    finally:
        cluster.close()
        kafka.close()


ALICE = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
         "sasl.username": "alice", "sasl.password": USERS["alice"]}


@pytest.fixture
def as_alice(request, authz_pair) -> Both:
    """Targets are the SASL listeners with alice's credentials; `t.super_admin()` is a super user."""
    b = Both(request.node.name, authz_pair["kafka"][1], authz_pair["sluice"][1], _SESSION, client_conf=ALICE)
    for t in (b.kafka, b.sluice):
        plain = authz_pair[t.kind][0]
        t.super_bootstrap = plain
        admin = AdminClient({"bootstrap.servers": plain, **QUIET})  # one client: futures outlive no handle
        t.super_admin = (lambda a=admin: a)
    return b


def make_topic(t, base: str, partitions: int = 1) -> str:
    name = t.name(base)
    t.super_admin().create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    deadline = time.monotonic() + 30
    while name not in t.super_admin().list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    return name


def grant(t, *bindings):
    a = t.super_admin()
    for f in a.create_acls(list(bindings)).values():
        f.result(30)
    time.sleep(0.5)  # ACLs reach every broker's authorizer through metadata propagation


def acl(rt, name, op, perm=ALLOW, pattern=LITERAL, principal="User:alice", host="*") -> AclBinding:
    return AclBinding(rt, name, pattern, principal, host, op, perm)


def code_of(fn) -> str:
    try:
        fn()
    except KafkaException as e:
        return error_name(e.args[0].code())
    return error_name(0)


def produce_code(t, topic: str) -> str:
    p = t.producer(**{"message.timeout.ms": 15000, "retries": 0})
    out = []
    p.produce(topic, value=b"x", on_delivery=lambda err, m: out.append(err))
    p.flush(30)
    return error_name(out[0].code()) if out and out[0] else error_name(0)


def fetch_code(t, topic: str) -> str:
    c = t.consumer(**{"group.id": t.name("fetcher")})
    c.assign([TopicPartition(topic, 0, 0)])
    deadline, code = time.monotonic() + 20, None
    while code is None and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None:
            code = error_name(m.error().code()) if m.error() else error_name(0)
    c.close()
    return code


def test_produce_and_fetch_need_write_and_read(as_alice):
    """Produce without WRITE and fetch without READ are TOPIC_AUTHORIZATION_FAILED; once granted they work."""
    def scenario(t):
        topic = make_topic(t, "guarded")
        out = {"produce_denied": produce_code(t, topic), "fetch_denied_no_group": fetch_code(t, topic)}
        grant(t, acl(ResourceType.GROUP, t.name("fetcher"), AclOperation.READ),
              acl(ResourceType.TOPIC, topic, AclOperation.DESCRIBE))
        out["fetch_denied"] = fetch_code(t, topic)
        grant(t, acl(ResourceType.TOPIC, topic, AclOperation.WRITE), acl(ResourceType.TOPIC, topic, AclOperation.READ))
        out.update({"produce_granted": produce_code(t, topic), "fetch_granted": fetch_code(t, topic)})
        return out
    as_alice.compare(scenario)


def test_metadata_shows_only_describable_topics(as_alice):
    def scenario(t):
        seen, hidden = make_topic(t, "visible"), make_topic(t, "hidden")
        grant(t, acl(ResourceType.TOPIC, seen, AclOperation.DESCRIBE))
        topics = set(t.admin().list_topics(timeout=10).topics)
        return {"visible": seen in topics, "hidden": hidden in topics,
                "named_hidden": str(t.admin().list_topics(topic=hidden, timeout=10).topics[hidden].error)}
    as_alice.compare(scenario)


def test_admin_calls_denied(as_alice):
    """CreateTopics without CREATE, DescribeConfigs without DESCRIBE_CONFIGS, DeleteTopics without DELETE,
    CreateAcls without ALTER on the cluster: each with its authorization error."""
    def scenario(t):
        topic = make_topic(t, "admin-denied")
        grant(t, acl(ResourceType.TOPIC, topic, AclOperation.DESCRIBE))
        a = t.admin()
        new = t.name("not-allowed")
        res = ConfigResource(ResourceType.TOPIC, topic)
        b = acl(ResourceType.TOPIC, topic, AclOperation.READ)
        return {
            "create_topic": code_of(lambda: a.create_topics([NewTopic(new, 1, 1)])[new].result(30)),
            "describe_configs": code_of(lambda: a.describe_configs([res])[res].result(30)),
            "delete_topic": code_of(lambda: a.delete_topics([topic])[topic].result(30)),
            "create_acls": code_of(lambda: a.create_acls([b])[b].result(30)),
        }
    as_alice.compare(scenario)


def test_group_join_needs_group_read(as_alice):
    def scenario(t):
        topic = make_topic(t, "grouped")
        grant(t, acl(ResourceType.TOPIC, topic, AclOperation.READ))
        c = t.consumer(**{"group.id": t.name("no-rights"), "group.protocol": "classic"})
        c.subscribe([topic])
        code, deadline = None, time.monotonic() + 20
        while code is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error():
                code = error_name(m.error().code())
        c.close()
        return {"join": code}
    as_alice.compare(scenario)


def test_acl_describe_and_delete_filters(as_alice):
    """DescribeAcls with LITERAL, PREFIXED, MATCH and ANY filters returns exactly the matching bindings;
    DeleteAcls returns exactly what each filter removed (run as the super user)."""
    def scenario(t):
        a = t.super_admin()
        base = t.name("acl")
        bindings = [acl(ResourceType.TOPIC, f"{base}-orders", AclOperation.READ),
                    acl(ResourceType.TOPIC, f"{base}-", AclOperation.WRITE, pattern=PREFIXED),
                    acl(ResourceType.TOPIC, f"{base}-orders", AclOperation.WRITE, perm=DENY, host="10.0.0.1"),
                    acl(ResourceType.GROUP, f"{base}-g", AclOperation.READ, principal="User:bob")]
        grant(t, *bindings)

        def show(bs):
            return sorted(f"{b.restype.name}:{b.name}:{b.resource_pattern_type.name}:{b.principal}:{b.host}:"
                          f"{b.operation.name}:{b.permission_type.name}" for b in bs)

        def flt(rt=ResourceType.ANY, name=None, pattern=ResourcePatternType.ANY, principal=None):
            return AclBindingFilter(rt, name, pattern, principal, None, AclOperation.ANY, AclPermissionType.ANY)
        out = {
            "literal": show(a.describe_acls(flt(ResourceType.TOPIC, f"{base}-orders", LITERAL)).result(30)),
            "prefixed": show(a.describe_acls(flt(ResourceType.TOPIC, f"{base}-", PREFIXED)).result(30)),
            "match": show(a.describe_acls(flt(ResourceType.TOPIC, f"{base}-orders",
                                              ResourcePatternType.MATCH)).result(30)),
            "by_principal": show(b for b in a.describe_acls(flt(principal="User:bob")).result(30)
                                 if b.name.startswith(base)),
        }
        f = flt(ResourceType.TOPIC, f"{base}-orders", LITERAL)
        out["deleted"] = show(a.delete_acls([f])[f].result(30))
        out["left"] = show(b for b in a.describe_acls(flt()).result(30) if b.name.startswith(base))
        return out
    as_alice.compare(scenario)


def test_kafka_acls_tool(as_alice):
    """kafka-acls --add / --list / --remove through the super user's listener."""
    def scenario(t):
        topic = t.name("tool-acl")

        def acls(*args):
            r = run_tool("kafka-acls", "--bootstrap-server", t.super_bootstrap, *args)
            return [r.returncode, [ln.strip() for ln in r.stdout.splitlines() if "principal=" in ln]]
        return {"add": acls("--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", topic),
                "list": acls("--list", "--topic", topic),
                "remove": acls("--remove", "--force", "--allow-principal", "User:alice", "--operation", "Read",
                               "--topic", topic),
                "after": acls("--list", "--topic", topic)}
    as_alice.compare(scenario)


def test_transactional_id_needs_write(as_alice):
    """A transactional producer needs WRITE on its transactional id (InitProducerId: TRANSACTIONAL_ID_
    AUTHORIZATION_FAILED without it), then WRITE on the topics it adds (a commit without it fails)."""
    def scenario(t):
        topic = make_topic(t, "txn-guarded")
        tid = t.name("alice-txn")

        def init():
            p = t.producer(**{"transactional.id": tid, "linger.ms": 2})
            p.init_transactions(20)
            return p
        out = {"init_denied": code_of(init)}
        grant(t, acl(ResourceType.TRANSACTIONAL_ID, tid, AclOperation.WRITE))
        holder = {}
        out["init_granted"] = code_of(lambda: holder.setdefault("p", init()))
        p = holder.get("p")
        if p is not None:
            p.begin_transaction()
            p.produce(topic, value=b"x", partition=0)
            out["commit_without_topic_write"] = code_of(lambda: p.commit_transaction(20))
        return out
    as_alice.compare(scenario)
