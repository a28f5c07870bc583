"""Transactions under faults: a transactional producer commits and aborts transactions over 4 partitions
through two agents while an agent and then the meta leader are SIGKILLed (and restarted).

Afterwards, from every agent, under read_committed: every transaction whose commit was acknowledged is
there exactly once, whole; no transaction whose abort was acknowledged is visible; and a transaction whose
outcome the client never heard (its EndTxn failed in the fault) is either whole in every partition or
absent from every partition: no partition shows a different outcome for one transaction."""

import threading
import time
from collections import Counter

from confluent_kafka import KafkaException, Producer, TopicPartition

from clusterops import wait_leader
from helpers import QUIET, consumer, read_to_end, wait_until
from test_faults import PARTITIONS, quorum_and_two_agents

PER_TXN = 8


class TxnLoop:
    """Transactions `i` = records `i-0`..`i-7` over the partitions; even ones commit, odd ones abort. A
    fatal error (fenced, timed out) starts a new producer with the same transactional id."""

    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self.outcome: dict[int, str] = {}  # txn -> committed | aborted | unknown
        self.errors: list[str] = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _producer(self) -> Producer:
        while not self.stop_flag.is_set():
            try:
                p = Producer({"bootstrap.servers": self.bootstrap, "transactional.id": "faulty", "linger.ms": 2,
                              "transaction.timeout.ms": 30000, "message.timeout.ms": 30000, **QUIET})
                p.init_transactions(30)
                return p
            except KafkaException as e:
                self.errors.append(f"init: {e}")
                time.sleep(0.5)
        return None

    def _run(self):
        p = self._producer()
        i = 0
        while p is not None and not self.stop_flag.is_set():
            commit = i % 2 == 0
            try:
                p.begin_transaction()
                for k in range(PER_TXN):
                    p.produce(self.topic, value=f"{i}-{k}".encode(), partition=k % PARTITIONS)
                p.flush(30)
                self.outcome[i] = "unknown"
                if commit:
                    p.commit_transaction(30)
                    self.outcome[i] = "committed"
                else:
                    p.abort_transaction(30)
                    self.outcome[i] = "aborted"
            except KafkaException as e:
                err = e.args[0]
                self.errors.append(f"txn {i}: {err}")
                self.outcome.setdefault(i, "unknown")
                if err.txn_requires_abort():
                    try:
                        p.abort_transaction(30)
                        self.outcome[i] = "aborted"
                    except KafkaException as e2:
                        self.errors.append(f"abort {i}: {e2}")
                        p = self._producer()
                elif err.fatal() or not err.retriable():
                    p = self._producer()
            i += 1

    def start(self):
        self.thread.start()
        return self

    def committed(self) -> int:
        return sum(1 for o in list(self.outcome.values()) if o == "committed")

    def wait_committed(self, more: int, timeout: float = 90.0):
        target = self.committed() + more
        wait_until(f"{target} transactions committed", lambda: self.committed() >= target, timeout, every=0.1,
                   context=lambda: f"no progress: {self.committed()} committed, errors {self.errors[-3:]}")

    def stop(self):
        self.stop_flag.set()
        self.thread.join(120)


def read_committed(bootstrap: str, topic: str) -> list[str]:
    c = consumer(bootstrap, **{"isolation.level": "read_committed", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, q, 0) for q in range(PARTITIONS)])
    return [m.value().decode() for m in read_to_end(c, PARTITIONS, timeout=120)]


def test_transaction_outcomes_survive_agent_and_meta_leader_kills(cluster, tmp_path):
    topic = "txn-faults"
    nodes, a, b = quorum_and_two_agents(cluster, tmp_path, topic)
    loop = TxnLoop(f"{a.bootstrap},{b.bootstrap}", topic).start()
    loop.wait_committed(20)

    a.kill()  # mid-transaction: the loop runs one every few ms
    loop.wait_committed(10)
    a.start()
    loop.wait_committed(10)

    leader = wait_leader(nodes)
    nodes[leader - 1].kill()
    wait_leader(nodes, exclude=(leader,))
    loop.wait_committed(10)
    nodes[leader - 1].start()
    wait_leader(nodes)
    loop.wait_committed(10)
    loop.stop()

    outcome = dict(loop.outcome)
    assert sum(1 for o in outcome.values() if o == "committed") >= 60
    for bs in (a.bootstrap, b.bootstrap):
        seen = Counter(read_committed(bs, topic))
        assert all(n == 1 for n in seen.values()), f"{bs}: records seen twice: {[r for r, n in seen.items() if n > 1][:5]}"
        by_txn = Counter(int(r.split("-")[0]) for r in seen)
        for txn, o in outcome.items():
            visible = by_txn.get(txn, 0)
            if o == "committed":
                assert visible == PER_TXN, f"{bs}: committed txn {txn} shows {visible} of {PER_TXN} records"
            elif o == "aborted":
                assert visible == 0, f"{bs}: aborted txn {txn} shows {visible} records"
            else:
                assert visible in (0, PER_TXN), f"{bs}: txn {txn} of unknown outcome is half visible ({visible})"
        assert set(by_txn) <= set(outcome), f"{bs}: records of transactions never sent"
