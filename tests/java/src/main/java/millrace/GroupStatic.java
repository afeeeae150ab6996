package millrace;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;

/**
 * Static membership (group.instance.id, KIP-345), classic protocol, range assignor: member
 * "a" joins, then "b", and they split the topic; A's process stops (a static member's close sends no
 * LeaveGroup, so the group keeps its partitions for it); records arrive meanwhile; A restarts
 * as a new consumer with the same instance id within the session timeout and takes its
 * partitions back without a rebalance, reading exactly what arrived for them. Reports the
 * acknowledged records, the timelines of A, B and the restarted A, and the group as described
 * before A stopped and after it came back.
 */
final class GroupStatic {
    private static final int BATCH = 400;
    // Long enough that A's absence never ends its membership during the test.
    private static final int SESSION_TIMEOUT_MS = 45_000;
    private static final long ABSENCE_MS = 1_500;

    private GroupStatic() {}

    static Map<String, Object> run(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String topic = options.get("topic");
        String group = options.get("group");
        int partitions = options.integer("partitions", 4);
        Deadline deadline = options.deadline();
        Set<Integer> all = new HashSet<>(Clients.partitionNumbers(Clients.partitions(topic, partitions)));
        Map<String, Object> result = new LinkedHashMap<>();
        try (Admin admin = Admin.create(Clients.admin(bootstrap));
                Feeder feeder = new Feeder(bootstrap, topic, partitions)) {
            Clients.createTopic(admin, topic, partitions, Map.of());
            feeder.send("before", BATCH);
            feeder.acknowledged();
            // A first, alone, then B: one rebalance splits the partitions, in a known order.
            Member a = staticMember("a", "static-a", bootstrap, topic, group).start();
            deadline.await("A owning every partition", () -> a.owned().equals(all));
            Member b = staticMember("b", "static-b", bootstrap, topic, group).start();
            deadline.await("A and B splitting the partitions and reading the first batch", () -> {
                Set<Integer> union = new HashSet<>(a.owned());
                union.addAll(b.owned());
                return union.equals(all) && a.owned().size() == partitions / 2
                        && a.consumed() + b.consumed() == BATCH;
            });
            result.put("describedBefore", GroupRebalance.describe(admin, group));
            Set<Integer> ownedByA = a.owned();
            a.stop();

            int bBefore = b.consumed();
            feeder.send("absent", BATCH);
            feeder.acknowledged();
            int forB = BATCH - BATCH / partitions * ownedByA.size();
            deadline.await("B reading its share of what arrived while A was away",
                    () -> b.consumed() == bBefore + forB);
            // A's partitions stay A's: nobody reads them while it is away.
            Thread.sleep(ABSENCE_MS);

            Member restarted = staticMember("a-restarted", "static-a", bootstrap, topic, group).start();
            deadline.await("the restarted A reading its partitions' share",
                    () -> restarted.consumed() == BATCH - forB && restarted.owned().equals(ownedByA));
            result.put("describedAfter", GroupRebalance.describe(admin, group));
            result.put("sent", feeder.acknowledged());
            b.stop();
            restarted.stop();
            result.put("members", List.of(a.report(), b.report(), restarted.report()));
            result.put("committed", GroupRebalance.committed(admin, group));
        }
        return result;
    }

    private static Member staticMember(String name, String instance, String bootstrap, String topic, String group) {
        return new Member(name, bootstrap, topic, group, Map.of(
                ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance,
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, SESSION_TIMEOUT_MS));
    }
}
