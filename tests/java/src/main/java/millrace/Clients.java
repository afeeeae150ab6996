package millrace;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Client configurations and the reads every scenario shares. */
final class Clients {
    private static final Duration POLL = Duration.ofMillis(100);

    private Clients() {}

    static Properties admin(String bootstrap) {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20_000);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        return props;
    }

    static Properties producer(String bootstrap) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return props;
    }

    static Properties consumer(String bootstrap) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return props;
    }

    static void createTopic(Admin admin, String topic, int partitions, Map<String, String> configs)
            throws Exception {
        Deadline.step("create topic " + topic);
        NewTopic newTopic = new NewTopic(topic, partitions, (short) 1).configs(configs);
        admin.createTopics(List.of(newTopic)).all().get();
    }

    static List<TopicPartition> partitions(String topic, int count) {
        List<TopicPartition> out = new ArrayList<>();
        for (int p = 0; p < count; p++) out.add(new TopicPartition(topic, p));
        return out;
    }

    /**
     * Every record of `topic` from its start up to its end offsets, once these add up to at
     * least `minimum` (acks=0 records may land after the producer returned), read with assign +
     * seekToBeginning (no group): [partition, offset, key, value, timestamp, timestamp type,
     * {header: value}] per record, partitions in order.
     */
    static List<List<Object>> readAll(
            String bootstrap, String topic, int partitionCount, long minimum, Deadline deadline) throws Exception {
        List<TopicPartition> partitions = partitions(topic, partitionCount);
        List<List<Object>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumer(bootstrap))) {
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = new HashMap<>();
            deadline.await("end offsets of " + topic + " adding up to " + minimum, () -> {
                end.putAll(consumer.endOffsets(partitions, deadline.remaining()));
                return end.values().stream().mapToLong(Long::longValue).sum() >= minimum;
            });
            Map<TopicPartition, Long> next = new HashMap<>();
            deadline.await("reading " + topic + " up to " + end, () -> {
                for (ConsumerRecord<String, String> record : consumer.poll(POLL)) {
                    out.add(describe(record));
                    next.put(new TopicPartition(record.topic(), record.partition()), record.offset() + 1);
                }
                return reachedEnd(end, next);
            });
        }
        out.sort((a, b) -> {
            int byPartition = Integer.compare((Integer) a.get(0), (Integer) b.get(0));
            return byPartition != 0 ? byPartition : Long.compare((Long) a.get(1), (Long) b.get(1));
        });
        return out;
    }

    private static boolean reachedEnd(Map<TopicPartition, Long> end, Map<TopicPartition, Long> next) {
        for (Map.Entry<TopicPartition, Long> partition : end.entrySet()) {
            if (partition.getValue() > next.getOrDefault(partition.getKey(), 0L)) return false;
        }
        return true;
    }

    static List<Object> describe(ConsumerRecord<String, String> record) {
        Map<String, Object> headers = new HashMap<>();
        for (Header header : record.headers()) {
            headers.put(header.key(), header.value() == null ? null : new String(header.value(), StandardCharsets.UTF_8));
        }
        List<Object> out = new ArrayList<>();
        out.add(record.partition());
        out.add(record.offset());
        out.add(record.key());
        out.add(record.value());
        out.add(record.timestamp());
        out.add(record.timestampType().toString());
        out.add(headers);
        return out;
    }

    static List<Integer> partitionNumbers(Collection<TopicPartition> partitions) {
        List<Integer> out = new ArrayList<>();
        for (TopicPartition partition : partitions) out.add(partition.partition());
        out.sort(Integer::compare);
        return out;
    }
}
