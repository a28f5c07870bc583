// The Java Admin client on streams groups (KIP-1071): listGroups of type streams and describeStreamsGroups.
// Usage: java StreamsAdmin BOOTSTRAP GROUP
// Stdout: JSON lines (StreamsApp.emit):
//   {"ev":"listed","groups":["id type state", ...]}       listGroups(ListGroupsOptions.forStreamsGroups())
//   {"ev":"described","group":..,"state":..,"group_epoch":N,"target_epoch":N,"topology_epoch":N,
//    "subtopologies":["0 sources=in repartition_sinks=... changelogs=..." ...]}
//   {"ev":"member","member_id":..,"process_id":..,"client_id":..,"epoch":N,"active":["0_1",..],
//    "standby":[..],"warmup":[..]}                         one per member, from its current assignment
// or {"ev":"describe_error","error":"GroupIdNotFoundException"} when the describe fails. Exits 0.
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;

public class StreamsAdmin {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], group = args[1];
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            List<String> listed = new ArrayList<>();
            for (GroupListing g : admin.listGroups(ListGroupsOptions.forStreamsGroups()).all().get()) {
                listed.add(g.groupId() + " " + g.type().map(Object::toString).orElse("?") + " "
                           + g.groupState().map(Object::toString).orElse("?"));
            }
            Collections.sort(listed);
            StreamsApp.emit("ev", "listed", "groups", listed);
            StreamsGroupDescription d;
            try {
                d = admin.describeStreamsGroups(List.of(group)).all().get().get(group);
            } catch (ExecutionException e) {
                StreamsApp.emit("ev", "describe_error", "error", e.getCause().getClass().getSimpleName());
                return;
            }
            List<String> subs = new ArrayList<>();
            for (StreamsGroupSubtopologyDescription s : d.subtopologies()) {
                subs.add(s.subtopologyId() + " sources=" + String.join(",", s.sourceTopics())
                         + " repartition_sinks=" + String.join(",", s.repartitionSinkTopics())
                         + " changelogs=" + String.join(",", new TreeSet<>(s.stateChangelogTopics().keySet())));
            }
            Collections.sort(subs);
            StreamsApp.emit("ev", "described", "group", d.groupId(), "state", d.groupState().toString(),
                            "group_epoch", d.groupEpoch(), "target_epoch", d.targetAssignmentEpoch(),
                            "topology_epoch", d.topologyEpoch(), "subtopologies", subs);
            for (StreamsGroupMemberDescription m : d.members()) {
                StreamsGroupMemberAssignment a = m.assignment();
                StreamsApp.emit("ev", "member", "member_id", m.memberId(), "process_id", m.processId(),
                                "client_id", m.clientId(), "epoch", m.memberEpoch(),
                                "active", taskIds(a.activeTasks()), "standby", taskIds(a.standbyTasks()),
                                "warmup", taskIds(a.warmupTasks()));
            }
        }
    }

    /** "SUBTOPOLOGY_PARTITION" ids, sorted, as Kafka Streams' TaskId.toString() writes them. */
    static List<String> taskIds(List<StreamsGroupMemberAssignment.TaskIds> tasks) {
        List<String> out = new ArrayList<>();
        for (StreamsGroupMemberAssignment.TaskIds t : tasks) {
            for (int part : t.partitions()) out.add(t.subtopologyId() + "_" + part);
        }
        Collections.sort(out);
        return out;
    }
}
