package millrace;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;

/**
 * AdminClient against millrace, one call after another: topics (create, list, describe,
 * create partitions, delete), configs (describe, incremental alter), offsets (list offsets by
 * spec, alter / list / delete committed offsets) and groups (list, describe, delete). Each
 * step's outcome, or the error it met, is reported under its name for the test to check.
 */
final class AdminScenario {
    private static final int RECORDS = 10;
    private static final long TIMESTAMP_STEP_MS = 1_000;

    private AdminScenario() {}

    interface Step {
        Object call() throws Exception;
    }

    static Map<String, Object> run(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String prefix = options.get("prefix");
        long timestampBase = Long.parseLong(options.get("timestamp-base"));
        String t1 = prefix + "-one";
        String t2 = prefix + "-two";
        String group = prefix + "-group";
        String busyGroup = prefix + "-busy";
        Map<String, Object> out = new LinkedHashMap<>();
        Driver.live("steps", () -> new LinkedHashMap<>(out));
        try (Admin admin = Admin.create(Clients.admin(bootstrap))) {
            topics(admin, out, t1, t2);
            configs(admin, out, t1);
            produce(bootstrap, t1, timestampBase, options.deadline());
            offsets(admin, out, t1, timestampBase);
            groups(admin, out, bootstrap, t1, group, busyGroup, options.deadline());
            step(out, "deleteTopics", () -> {
                admin.deleteTopics(List.of(t2)).all().get();
                return "ok";
            });
            step(out, "listTopicsAfterDelete", () -> ours(admin.listTopics().names().get(), prefix));
            step(out, "describeDeletedTopic", () -> describeTopics(admin, List.of(t2)));
        }
        return out;
    }

    private static void topics(Admin admin, Map<String, Object> out, String t1, String t2) {
        step(out, "createTopics", () -> {
            var created = admin.createTopics(List.of(
                    new NewTopic(t1, 3, (short) 1),
                    new NewTopic(t2, 1, (short) 1).configs(Map.of("retention.ms", "3600000", "max.message.bytes", "2000000"))));
            created.all().get();
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("partitions", created.numPartitions(t1).get());
            result.put("topicId", created.topicId(t1).get().toString());
            result.put("t2 retention.ms", created.config(t2).get().get("retention.ms").value());
            return result;
        });
        step(out, "createExistingTopic", () -> admin.createTopics(List.of(new NewTopic(t1, 3, (short) 1))).all().get());
        step(out, "createTopicValidateOnly", () -> admin.createTopics(
                List.of(new NewTopic(t1 + "-never", 2, (short) 1)), new CreateTopicsOptions().validateOnly(true)).all().get());
        step(out, "createTopicBadConfig", () -> admin.createTopics(
                List.of(new NewTopic(t1 + "-bad", 1, (short) 1).configs(Map.of("retention.ms", "forever")))).all().get());
        step(out, "listTopics", () -> ours(admin.listTopics().names().get(), t1.substring(0, t1.length() - 4)));
        step(out, "describeTopics", () -> describeTopics(admin, List.of(t1, t2)));
        step(out, "describeCluster", () -> {
            DescribeClusterResult cluster = admin.describeCluster();
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("clusterId", cluster.clusterId().get());
            result.put("controller", cluster.controller().get().id());
            List<Object> nodes = new ArrayList<>();
            cluster.nodes().get().forEach(node -> nodes.add(List.of(node.id(), node.host(), node.port())));
            result.put("nodes", nodes);
            return result;
        });
        step(out, "createPartitions", () -> {
            admin.createPartitions(Map.of(t1, NewPartitions.increaseTo(5))).all().get();
            return describeTopics(admin, List.of(t1));
        });
        step(out, "createPartitionsDecrease", () -> admin.createPartitions(Map.of(t1, NewPartitions.increaseTo(2))).all().get());
    }

    private static void configs(Admin admin, Map<String, Object> out, String t1) {
        ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, t1);
        step(out, "describeConfigs", () -> topicConfigs(admin, topic));
        step(out, "alterConfigsSet", () -> {
            admin.incrementalAlterConfigs(Map.of(topic, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "86400000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("segment.bytes", "10485760"), AlterConfigOp.OpType.SET)))).all().get();
            return topicConfigs(admin, topic);
        });
        step(out, "alterConfigsDelete", () -> {
            admin.incrementalAlterConfigs(Map.of(topic, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE)))).all().get();
            return topicConfigs(admin, topic);
        });
        step(out, "alterConfigsInvalid", () -> admin.incrementalAlterConfigs(Map.of(topic, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all().get());
        step(out, "describeBrokerConfigs", () -> {
            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, "0");
            Config config = admin.describeConfigs(List.of(broker)).all().get().get(broker);
            Map<String, Object> result = new TreeMap<>();
            for (ConfigEntry entry : config.entries()) result.put(entry.name(), entry.value());
            return result;
        });
    }

    private static void produce(String bootstrap, String topic, long timestampBase, Deadline deadline) throws Exception {
        Deadline.step("producing to " + topic);
        try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<String, String>(Clients.producer(bootstrap))) {
            for (int i = 0; i < RECORDS; i++) {
                producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(
                        topic, 0, timestampBase + i * TIMESTAMP_STEP_MS, "k" + i, "v" + i)).get();
            }
        }
    }

    private static void offsets(Admin admin, Map<String, Object> out, String t1, long timestampBase) {
        TopicPartition p0 = new TopicPartition(t1, 0);
        TopicPartition p1 = new TopicPartition(t1, 1);
        Map<String, OffsetSpec> specs = new LinkedHashMap<>();
        specs.put("earliest", OffsetSpec.earliest());
        specs.put("latest", OffsetSpec.latest());
        specs.put("maxTimestamp", OffsetSpec.maxTimestamp());
        specs.put("forTimestamp", OffsetSpec.forTimestamp(timestampBase + 2 * TIMESTAMP_STEP_MS + TIMESTAMP_STEP_MS / 2));
        specs.put("forTimestampPastEnd", OffsetSpec.forTimestamp(timestampBase + 1_000 * TIMESTAMP_STEP_MS));
        specs.forEach((name, spec) -> step(out, "listOffsets " + name, () -> {
            Map<TopicPartition, ListOffsetsResultInfo> found = admin.listOffsets(Map.of(p0, spec, p1, spec)).all().get();
            Map<String, Object> result = new TreeMap<>();
            found.forEach((partition, info) -> result.put(
                    Integer.toString(partition.partition()), List.of(info.offset(), info.timestamp())));
            return result;
        }));
    }

    private static void groups(
            Admin admin, Map<String, Object> out, String bootstrap, String t1, String group, String busyGroup,
            Deadline deadline) throws Exception {
        // A member reads partition 0 and commits; another stays in busyGroup throughout.
        Member reader = new Member("reader", bootstrap, t1, group, Map.of()).start();
        deadline.await("the reader reading every record", () -> reader.consumed() == RECORDS);
        reader.stop();
        Member busy = new Member("busy", bootstrap, t1, busyGroup, Map.of(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000)).start();
        deadline.await("the busy member's assignment", () -> busy.owned().size() == 5);
        step(out, "listGroups", () -> listed(admin.listGroups().all().get(), group, busyGroup));
        step(out, "listConsumerGroups", () ->
                listed(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get(), group, busyGroup));
        step(out, "describeGroups", () -> {
            Map<String, Object> result = new LinkedHashMap<>();
            admin.describeConsumerGroups(List.of(group, busyGroup)).all().get().forEach((id, d) -> result.put(id, describe(d)));
            return result;
        });
        TopicPartition p0 = new TopicPartition(t1, 0);
        TopicPartition p1 = new TopicPartition(t1, 1);
        step(out, "listGroupOffsets", () -> committed(admin, group));
        step(out, "alterGroupOffsets", () -> {
            admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(4, "rewound"), p1, new OffsetAndMetadata(0)))
                    .all().get();
            return committed(admin, group);
        });
        step(out, "alterBusyGroupOffsets", () -> admin.alterConsumerGroupOffsets(
                busyGroup, Map.of(p0, new OffsetAndMetadata(1))).all().get());
        step(out, "deleteGroupOffsets", () -> {
            admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get();
            return committed(admin, group);
        });
        step(out, "deleteBusyGroup", () -> admin.deleteConsumerGroups(List.of(busyGroup)).all().get());
        busy.stop();
        step(out, "deleteGroups", () -> {
            admin.deleteConsumerGroups(List.of(group, busyGroup)).all().get();
            return "ok";
        });
        step(out, "listGroupsAfterDelete", () -> listed(admin.listGroups().all().get(), group, busyGroup));
        step(out, "describeDeletedGroup", () -> describe(admin.describeConsumerGroups(List.of(group)).all().get().get(group)));
    }

    private static Object committed(Admin admin, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        Map<String, Object> result = new TreeMap<>();
        offsets.forEach((partition, offset) -> result.put(
                Integer.toString(partition.partition()), offset == null ? null : List.of(offset.offset(), offset.metadata())));
        return result;
    }

    private static Object listed(Collection<GroupListing> listings, String... groups) {
        Map<String, Object> result = new TreeMap<>();
        for (GroupListing listing : listings) {
            if (!List.of(groups).contains(listing.groupId())) continue;
            result.put(listing.groupId(), List.of(
                    listing.protocol(), listing.type().map(Object::toString).orElse("?"),
                    listing.groupState().map(Object::toString).orElse("?")));
        }
        return result;
    }

    private static Object describe(ConsumerGroupDescription description) {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("state", description.groupState().toString());
        result.put("type", description.type().toString());
        result.put("assignor", description.partitionAssignor());
        result.put("coordinator", description.coordinator() == null ? null : description.coordinator().id());
        List<Object> members = new ArrayList<>();
        description.members().forEach(member -> members.add(List.of(
                member.clientId(), Clients.partitionNumbers(member.assignment().topicPartitions()))));
        result.put("members", members);
        return result;
    }

    private static Object topicConfigs(Admin admin, ConfigResource topic) throws Exception {
        Config config = admin.describeConfigs(List.of(topic)).all().get().get(topic);
        Map<String, Object> result = new TreeMap<>();
        for (ConfigEntry entry : config.entries()) {
            result.put(entry.name(), List.of(String.valueOf(entry.value()), entry.source().toString()));
        }
        return result;
    }

    private static Object describeTopics(Admin admin, Collection<String> topics) throws Exception {
        Map<String, TopicDescription> found = admin.describeTopics(topics).allTopicNames().get();
        Map<String, Object> result = new TreeMap<>();
        found.forEach((name, description) -> {
            Map<String, Object> topic = new LinkedHashMap<>();
            topic.put("topicId", description.topicId().toString());
            topic.put("internal", description.isInternal());
            List<Object> partitions = new ArrayList<>();
            for (TopicPartitionInfo p : description.partitions()) {
                partitions.add(List.of(p.partition(), p.leader().id(), ids(p.replicas()), ids(p.isr())));
            }
            topic.put("partitions", partitions);
            result.put(name, topic);
        });
        return result;
    }

    private static List<Integer> ids(List<org.apache.kafka.common.Node> nodes) {
        List<Integer> out = new ArrayList<>();
        nodes.forEach(node -> out.add(node.id()));
        return out;
    }

    private static Object ours(Set<String> names, String prefix) {
        Set<String> out = new TreeSet<>();
        for (String name : names) if (name.startsWith(prefix)) out.add(name);
        return new ArrayList<>(out);
    }

    /** Runs one step; reports its value or {"error": exception class, "message": ...}. */
    private static void step(Map<String, Object> out, String name, Step step) {
        Deadline.step(name);
        try {
            Object value = step.call();
            out.put(name, value == null ? "ok" : value);
        } catch (Exception e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            Map<String, Object> error = new LinkedHashMap<>();
            error.put("error", cause.getClass().getSimpleName());
            error.put("message", String.valueOf(cause.getMessage()));
            out.put(name, error);
        }
    }
}
