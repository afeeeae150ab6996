package millrace;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.TopicPartition;

/**
 * A consumer group (classic protocol) with the `assignor` (range or cooperative-sticky) whose
 * members come and go while records keep arriving:
 * A alone reads the first 600 records; B joins (partitions move from A to B) while a feeder
 * writes steadily; A leaves (its partitions move to B) while the feeder still writes; B reads
 * the rest. Reports every acknowledged record, each member's timeline (see Member), the
 * group as described while both were in it, and the committed offsets at the end.
 */
final class GroupRebalance {
    private static final int FIRST_BATCH = 600;
    private static final long LIVE_PHASE_MS = 1_500;

    private GroupRebalance() {}

    static Map<String, Object> run(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String topic = options.get("topic");
        String group = options.get("group");
        int partitions = options.integer("partitions", 6);
        Deadline deadline = options.deadline();
        Map<String, Object> settings = Map.of(
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignorClass(options.get("assignor")),
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
        Set<Integer> all = new HashSet<>(Clients.partitionNumbers(Clients.partitions(topic, partitions)));
        Map<String, Object> result = new LinkedHashMap<>();
        try (Admin admin = Admin.create(Clients.admin(bootstrap));
                Feeder feeder = new Feeder(bootstrap, topic, partitions)) {
            Clients.createTopic(admin, topic, partitions, Map.of());
            feeder.send("first", FIRST_BATCH);
            feeder.acknowledged();
            Member a = new Member("a", bootstrap, topic, group, settings).start();
            deadline.await("A owning every partition and reading the first batch",
                    () -> a.owned().equals(all) && a.consumed() == FIRST_BATCH);

            feeder.startPacing("joining");
            Member b = new Member("b", bootstrap, topic, group, settings).start();
            deadline.await("A and B splitting the partitions", () -> splits(a.owned(), b.owned(), all));
            Thread.sleep(LIVE_PHASE_MS);
            result.put("described", describe(admin, group));
            a.stop();
            deadline.await("B owning every partition after A left", () -> b.owned().equals(all));
            Thread.sleep(LIVE_PHASE_MS);
            feeder.stopPacing();

            result.put("sent", feeder.acknowledged());
            deadline.await("A and B together reading every record",
                    () -> a.consumed() + b.consumed() >= feeder.sent());
            b.stop();
            result.put("members", List.of(a.report(), b.report()));
            result.put("committed", committed(admin, group));
        }
        return result;
    }

    private static String assignorClass(String name) {
        return switch (name) {
            case "range" -> RangeAssignor.class.getName();
            case "cooperative-sticky" -> CooperativeStickyAssignor.class.getName();
            default -> throw new IllegalArgumentException("unknown assignor " + name);
        };
    }

    private static boolean splits(Set<Integer> first, Set<Integer> second, Set<Integer> all) {
        Set<Integer> union = new HashSet<>(first);
        union.addAll(second);
        return !first.isEmpty() && !second.isEmpty() && first.size() + second.size() == all.size() && union.equals(all);
    }

    static Map<String, Object> describe(Admin admin, String group) throws Exception {
        Deadline.step("describing group " + group);
        ConsumerGroupDescription description = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("state", description.groupState().toString());
        out.put("type", description.type().toString());
        out.put("assignor", description.partitionAssignor());
        Map<String, Object> members = new LinkedHashMap<>();
        description.members().forEach(member -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("clientId", member.clientId());
            m.put("instanceId", member.groupInstanceId().orElse(null));
            m.put("partitions", Clients.partitionNumbers(member.assignment().topicPartitions()));
            members.put(member.consumerId(), m);
        });
        out.put("members", members);
        return out;
    }

    static Map<String, Object> committed(Admin admin, String group) throws Exception {
        Deadline.step("listing the offsets of group " + group);
        Map<TopicPartition, OffsetAndMetadata> offsets =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        Map<String, Object> out = new LinkedHashMap<>();
        offsets.forEach((partition, offset) -> out.put(Integer.toString(partition.partition()), offset.offset()));
        return out;
    }
}
