import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

import org.apache.kafka.common.message.StreamsGroupDescribeRequestData;
import org.apache.kafka.common.message.StreamsGroupDescribeResponseData;
import org.apache.kafka.common.message.StreamsGroupHeartbeatRequestData;
import org.apache.kafka.common.message.StreamsGroupHeartbeatResponseData;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.protocol.Message;
import org.apache.kafka.common.protocol.ObjectSerializationCache;
import org.apache.kafka.common.protocol.types.RawTaggedField;

/**
 * Writes the Streams group messages (KIP-1071) as the Java client serializes them, one hex file per
 * (message, sample, version), into the directory given as the only argument. Sluice's codec tests
 * (crates/sluice-protocol/tests/streams_vectors.rs) decode these and re-encode them byte for byte;
 * the "full" samples are built identically there. Run: java -cp ... StreamsProtocolVectors DIR
 */
public class StreamsProtocolVectors {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Files.createDirectories(dir);
        for (short v = 0; v <= 1; v++) {
            write(dir, "heartbeat_request_full", v, heartbeatRequestFull());
            write(dir, "heartbeat_request_empty", v, new StreamsGroupHeartbeatRequestData());
            write(dir, "heartbeat_response_full", v, heartbeatResponseFull(v));
            write(dir, "heartbeat_response_empty", v, new StreamsGroupHeartbeatResponseData());
            write(dir, "describe_request_full", v, new StreamsGroupDescribeRequestData()
                .setGroupIds(List.of("app-1", "app-2"))
                .setIncludeAuthorizedOperations(true)
                .setIncludeTopologyDescription(v >= 1));
            write(dir, "describe_response_full", v, describeResponseFull(v));
            write(dir, "describe_response_empty", v, new StreamsGroupDescribeResponseData());
        }
    }

    static void write(Path dir, String name, short version, Message m) throws Exception {
        ObjectSerializationCache cache = new ObjectSerializationCache();
        int size = m.size(cache, version);
        ByteBuffer buf = ByteBuffer.allocate(size);
        m.write(new ByteBufferAccessor(buf), cache, version);
        Files.writeString(dir.resolve(name + "_v" + version + ".hex"), HexFormat.of().formatHex(buf.array()) + "\n");
    }

    static StreamsGroupHeartbeatRequestData.TaskIds hbTasks(String sub, Integer... parts) {
        return new StreamsGroupHeartbeatRequestData.TaskIds().setSubtopologyId(sub).setPartitions(List.of(parts));
    }

    static StreamsGroupHeartbeatRequestData heartbeatRequestFull() {
        StreamsGroupHeartbeatRequestData.KeyValue cfg = new StreamsGroupHeartbeatRequestData.KeyValue()
            .setKey("cleanup.policy").setValue("compact");
        StreamsGroupHeartbeatRequestData.Subtopology s0 = new StreamsGroupHeartbeatRequestData.Subtopology()
            .setSubtopologyId("0")
            .setSourceTopics(List.of("input"))
            .setSourceTopicRegex(List.of("in-.*"))
            .setStateChangelogTopics(List.of())
            .setRepartitionSinkTopics(List.of("app-repartition"))
            .setRepartitionSourceTopics(List.of())
            .setCopartitionGroups(List.of(new StreamsGroupHeartbeatRequestData.CopartitionGroup()
                .setSourceTopics(List.of((short) 0)).setSourceTopicRegex(List.of((short) 0))
                .setRepartitionSourceTopics(List.of())));
        StreamsGroupHeartbeatRequestData.Subtopology s1 = new StreamsGroupHeartbeatRequestData.Subtopology()
            .setSubtopologyId("1")
            .setSourceTopics(List.of())
            .setSourceTopicRegex(List.of())
            .setStateChangelogTopics(List.of(new StreamsGroupHeartbeatRequestData.TopicInfo()
                .setName("app-store-changelog").setPartitions(0).setReplicationFactor((short) 0)
                .setTopicConfigs(List.of(cfg))))
            .setRepartitionSinkTopics(List.of())
            .setRepartitionSourceTopics(List.of(new StreamsGroupHeartbeatRequestData.TopicInfo()
                .setName("app-repartition").setPartitions(6).setReplicationFactor((short) 3)
                .setTopicConfigs(List.of())))
            .setCopartitionGroups(List.of());
        StreamsGroupHeartbeatRequestData d = new StreamsGroupHeartbeatRequestData()
            .setGroupId("app")
            .setMemberId("member-ä")
            .setMemberEpoch(0)
            .setEndpointInformationEpoch(3)
            .setInstanceId("instance-1")
            .setRackId("rack-a")
            .setRebalanceTimeoutMs(300000)
            .setTopology(new StreamsGroupHeartbeatRequestData.Topology().setEpoch(2).setSubtopologies(List.of(s0, s1)))
            .setActiveTasks(List.of(hbTasks("0", 0, 1), hbTasks("1", 5)))
            .setStandbyTasks(List.of())
            .setWarmupTasks(List.of(hbTasks("1", 2)))
            .setProcessId("7f8e1c2a-0000-4000-8000-000000000001")
            .setUserEndpoint(new StreamsGroupHeartbeatRequestData.Endpoint().setHost("localhost").setPort(65535))
            .setClientTags(List.of(new StreamsGroupHeartbeatRequestData.KeyValue().setKey("zone").setValue("z1")))
            .setTaskOffsets(List.of(new StreamsGroupHeartbeatRequestData.TaskOffset()
                .setSubtopologyId("1").setPartition(2).setOffset(1L << 40)))
            .setTaskEndOffsets(List.of(new StreamsGroupHeartbeatRequestData.TaskOffset()
                .setSubtopologyId("1").setPartition(2).setOffset(-1L)))
            .setShutdownApplication(true);
        // An unknown tagged field, which a decoder must keep and re-encode.
        d.unknownTaggedFields().add(new RawTaggedField(7, new byte[] {1, 2, 3}));
        return d;
    }

    static StreamsGroupHeartbeatResponseData.TaskIds respTasks(String sub, Integer... parts) {
        return new StreamsGroupHeartbeatResponseData.TaskIds().setSubtopologyId(sub).setPartitions(List.of(parts));
    }

    static StreamsGroupHeartbeatResponseData heartbeatResponseFull(short v) {
        StreamsGroupHeartbeatResponseData d = new StreamsGroupHeartbeatResponseData()
            .setThrottleTimeMs(5)
            .setErrorCode((short) 0)
            .setErrorMessage(null)
            .setMemberId("member-ä")
            .setMemberEpoch(12)
            .setHeartbeatIntervalMs(5000)
            .setTaskOffsetIntervalMs(60000)
            .setStatus(List.of(new StreamsGroupHeartbeatResponseData.Status()
                .setStatusCode((byte) 1).setStatusDetail("Source topics input are missing.")))
            .setActiveTasks(List.of(respTasks("0", 0, 3)))
            .setStandbyTasks(List.of(respTasks("1", 1)))
            .setWarmupTasks(null)
            .setEndpointInformationEpoch(4)
            .setPartitionsByUserEndpoint(List.of(new StreamsGroupHeartbeatResponseData.EndpointToPartitions()
                .setUserEndpoint(new StreamsGroupHeartbeatResponseData.Endpoint().setHost("h1").setPort(8080))
                .setActivePartitions(List.of(new StreamsGroupHeartbeatResponseData.TopicPartition()
                    .setTopic("input").setPartitions(List.of(0, 3))))
                .setStandbyPartitions(List.of())));
        if (v == 0) {
            d.setAcceptableRecoveryLagLegacy(10000);
        } else {
            d.setAcceptableRecoveryLag(1L << 33).setTopologyDescriptionRequired(true);
        }
        return d;
    }

    static StreamsGroupDescribeResponseData.TaskIds descTasks(String sub, Integer... parts) {
        return new StreamsGroupDescribeResponseData.TaskIds().setSubtopologyId(sub).setPartitions(List.of(parts));
    }

    static StreamsGroupDescribeResponseData.TopologyDescriptionNode node(String name, byte type) {
        return new StreamsGroupDescribeResponseData.TopologyDescriptionNode().setName(name).setNodeType(type)
            .setSourceTopics(List.of()).setSinkTopic(null).setStores(List.of()).setSuccessors(List.of());
    }

    static StreamsGroupDescribeResponseData describeResponseFull(short v) {
        StreamsGroupDescribeResponseData.Member member = new StreamsGroupDescribeResponseData.Member()
            .setMemberId("m1")
            .setMemberEpoch(7)
            .setInstanceId(null)
            .setRackId("rack-b")
            .setClientId("app-client")
            .setClientHost("/127.0.0.1")
            .setTopologyEpoch(2)
            .setProcessId("p1")
            .setUserEndpoint(new StreamsGroupDescribeResponseData.Endpoint().setHost("h1").setPort(1))
            .setClientTags(List.of(new StreamsGroupDescribeResponseData.KeyValue().setKey("k").setValue("v")))
            .setTaskOffsets(List.of(new StreamsGroupDescribeResponseData.TaskOffset()
                .setSubtopologyId("0").setPartition(1).setOffset(99)))
            .setTaskEndOffsets(List.of())
            .setAssignment(new StreamsGroupDescribeResponseData.Assignment()
                .setActiveTasks(List.of(descTasks("0", 0, 1))).setStandbyTasks(List.of()).setWarmupTasks(List.of()))
            .setTargetAssignment(new StreamsGroupDescribeResponseData.Assignment()
                .setActiveTasks(List.of(descTasks("0", 0))).setStandbyTasks(List.of(descTasks("1", 2)))
                .setWarmupTasks(List.of(descTasks("0", 1))))
            .setIsClassic(false);
        StreamsGroupDescribeResponseData.DescribedGroup g = new StreamsGroupDescribeResponseData.DescribedGroup()
            .setErrorCode((short) 0)
            .setGroupId("app-1")
            .setGroupState("Stable")
            .setGroupEpoch(9)
            .setAssignmentEpoch(9)
            .setTopology(new StreamsGroupDescribeResponseData.Topology().setEpoch(2).setSubtopologies(List.of(
                new StreamsGroupDescribeResponseData.Subtopology().setSubtopologyId("0")
                    .setSourceTopics(List.of("input")).setRepartitionSinkTopics(List.of("app-repartition"))
                    .setStateChangelogTopics(List.of())
                    .setRepartitionSourceTopics(List.of(new StreamsGroupDescribeResponseData.TopicInfo()
                        .setName("app-repartition").setPartitions(6).setReplicationFactor((short) -1)
                        .setTopicConfigs(List.of(new StreamsGroupDescribeResponseData.KeyValue()
                            .setKey("retention.ms").setValue("-1"))))))))
            .setMembers(List.of(member))
            .setAuthorizedOperations(0x7fff);
        StreamsGroupDescribeResponseData.DescribedGroup missing = new StreamsGroupDescribeResponseData.DescribedGroup()
            .setErrorCode((short) 69)
            .setErrorMessage("Group app-2 not found.")
            .setGroupId("app-2")
            .setGroupState("Dead")
            .setTopology(null)
            .setMembers(List.of());
        if (v >= 1) {
            StreamsGroupDescribeResponseData.TopologyDescriptionNode src = node("KSTREAM-SOURCE-0000000000", (byte) 1)
                .setSourceTopics(List.of("input")).setSuccessors(List.of("KSTREAM-SINK-0000000001"));
            StreamsGroupDescribeResponseData.TopologyDescriptionNode sink = node("KSTREAM-SINK-0000000001", (byte) 3)
                .setSinkTopic("app-repartition");
            g.setTopologyDescription(new StreamsGroupDescribeResponseData.TopologyDescription()
                    .setSubtopologies(List.of(new StreamsGroupDescribeResponseData.TopologyDescriptionSubtopology()
                        .setSubtopologyId("0").setNodes(List.of(src, sink))))
                    .setGlobalStores(List.of(new StreamsGroupDescribeResponseData.TopologyDescriptionGlobalStore()
                        .setSource(node("g-src", (byte) 1)).setProcessor(node("g-proc", (byte) 2).setStores(List.of("g-store"))))))
                .setTopologyDescriptionStatus((byte) 3)
                .setAssignorName("sticky");
            missing.setTopologyDescriptionStatus((byte) 1);
        }
        return new StreamsGroupDescribeResponseData().setThrottleTimeMs(0).setGroups(List.of(g, missing));
    }
}
