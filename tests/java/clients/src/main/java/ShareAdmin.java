// The Java Admin client's share-group calls against Sluice: ListGroups (share type),
// describeShareGroups, listShareGroupOffsets, alterShareGroupOffsets, deleteShareGroupOffsets,
// deleteShareGroups. Prints one line per step for the Python test to check.
// Usage: java ShareAdmin BOOTSTRAP GROUP TOPIC
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.TopicPartition;

public class ShareAdmin {
    static String offsets(Admin a, String group) throws Exception {
        Map<TopicPartition, SharePartitionOffsetInfo> m = a.listShareGroupOffsets(
            Map.of(group, new ListShareGroupOffsetsSpec())).partitionsToOffsetInfo(group).get();
        TreeMap<String, Long> sorted = new TreeMap<>();
        m.forEach((tp, info) -> sorted.put(tp.toString(), info == null ? null : info.startOffset()));
        return sorted.toString();
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], group = args[1], topic = args[2];
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        try (Admin a = Admin.create(p)) {
            List<String> listed = new ArrayList<>();
            for (GroupListing g : a.listGroups(ListGroupsOptions.forShareGroups()).all().get()) listed.add(g.groupId());
            System.out.println("LISTED " + listed.contains(group));
            ShareGroupDescription d = a.describeShareGroups(List.of(group)).describedGroups().get(group).get();
            System.out.println("DESCRIBED " + d.groupState() + " " + d.members().size());
            System.out.println("OFFSETS " + offsets(a, group));
            a.alterShareGroupOffsets(group, Map.of(new TopicPartition(topic, 0), 3L)).all().get();
            System.out.println("ALTERED " + offsets(a, group));
            a.deleteShareGroupOffsets(group, Set.of(topic)).all().get();
            System.out.println("DELETED_OFFSETS " + offsets(a, group));
            a.deleteShareGroups(List.of(group)).all().get();
            try {
                a.describeShareGroups(List.of(group)).describedGroups().get(group).get();
                System.out.println("AFTER_DELETE described");
            } catch (Exception e) {
                System.out.println("AFTER_DELETE " + e.getCause().getClass().getSimpleName());
            }
        }
    }
}
