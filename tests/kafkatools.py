"""Apache Kafka's own CLI tools (the reference release's `kafka-tools` and `kafka_2.13` jars, resolved by
tests/java/build.sh), run as their `bin/*.sh` scripts would run them, against Sluice or the reference broker.

    from kafkatools import run_tool
    r = run_tool("kafka-topics", "--bootstrap-server", bs, "--list")   # subprocess.CompletedProcess

By hand (any tool in TOOLS, same arguments as the Kafka script):

    python3 tests/kafkatools.py kafka-topics --bootstrap-server 127.0.0.1:9092 --describe
"""

from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from reference.kafka_ref import java_cmd, reference_classpath  # noqa: E402

# script name -> main class, as in Kafka 4.1's bin/ directory
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-console-share-consumer": "org.apache.kafka.tools.consumer.ConsoleShareConsumer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-share-groups": "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
    "kafka-streams-groups": "org.apache.kafka.tools.streams.StreamsGroupCommand",
    "kafka-groups": "org.apache.kafka.tools.GroupsCommand",
    "kafka-acls": "org.apache.kafka.tools.AclCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
    "kafka-transactions": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-cluster": "org.apache.kafka.tools.ClusterTool",
    "kafka-client-metrics": "org.apache.kafka.tools.ClientMetricsCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
}


def tool_cmd(name: str, *args: str, heap: str = "256m", release: str = "reference") -> list[str]:
    """The java command line of Kafka tool `name` (a key of TOOLS) with `args`, from `release`'s jars
    ("reference": 4.1.x, "newest": the newest 4.x, e.g. for kafka-streams-groups on GA streams groups)."""
    return java_cmd(reference_classpath(release), TOOLS[name], *args, heap=heap)


def run_tool(name: str, *args: str, input: str | None = None, timeout: float = 180,
             check: bool = False, release: str = "reference") -> subprocess.CompletedProcess:
    """Runs Kafka tool `name` (from `release`'s jars, see tool_cmd) to completion; stdout/stderr captured
    as text. `check` raises with both streams when the exit code is not 0."""
    r = subprocess.run(tool_cmd(name, *args, release=release), input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)} exited {r.returncode}\n--- stdout\n{r.stdout[-4000:]}"
                             f"\n--- stderr\n{r.stderr[-4000:]}")
    return r


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TOOLS:
        sys.exit(f"usage: {sys.argv[0]} TOOL [ARGS...]\ntools: {', '.join(sorted(TOOLS))}")
    os.execvp("java", tool_cmd(sys.argv[1], *sys.argv[2:]))
