package millrace;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * One codec, four producers: idempotent (acks=all) and non-idempotent with acks=0, 1 and all.
 * Each writes `count` records to its own topic (record i to partition i mod `partitions`, key
 * "k-i" or null for every tenth, header index=i, timestamp `timestamp-base`+i) in several
 * batches, then every record is read back. tests/test_java_producer_*.py checks each record.
 */
final class ProduceMatrix {
    static final String PAYLOAD = "payload".repeat(12);
    private static final int NULL_KEY_EVERY = 10;

    private ProduceMatrix() {}

    record Case(String name, String acks, boolean idempotent) {}

    static final List<Case> CASES = List.of(
            new Case("idempotent", "all", true),
            new Case("acks0", "0", false),
            new Case("acks1", "1", false),
            new Case("acksall", "all", false));

    static Map<String, Object> run(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String codec = options.get("codec");
        int count = options.integer("count", 1000);
        int partitions = options.integer("partitions", 3);
        long timestampBase = Long.parseLong(options.get("timestamp-base"));
        Map<String, Object> result = new LinkedHashMap<>();
        try (Admin admin = Admin.create(Clients.admin(bootstrap))) {
            for (Case c : CASES) {
                String topic = options.get("topic-prefix") + "-" + c.name();
                Clients.createTopic(admin, topic, partitions, Map.of());
                Map<String, Object> outcome = new LinkedHashMap<>();
                outcome.put("topic", topic);
                outcome.put("sent", produce(bootstrap, topic, c, codec, count, partitions, timestampBase));
                outcome.put("read", Clients.readAll(bootstrap, topic, partitions, count, options.deadline()));
                result.put(c.name(), outcome);
            }
        }
        return result;
    }

    /** [partition, offset, timestamp] of each send's acknowledgement, in send order. */
    private static List<List<Object>> produce(
            String bootstrap, String topic, Case c, String codec, int count, int partitions, long timestampBase)
            throws Exception {
        Deadline.step("producing to " + topic);
        Properties props = Clients.producer(bootstrap);
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        props.put(ProducerConfig.ACKS_CONFIG, c.acks());
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, c.idempotent());
        // Small batches and a linger: several batches per partition, several records per batch.
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, 4096);
        props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                String key = i % NULL_KEY_EVERY == 0 ? null : "k-" + i;
                ProducerRecord<String, String> record = new ProducerRecord<>(
                        topic, i % partitions, timestampBase + i, key, c.name() + "-" + i + "-" + PAYLOAD);
                record.headers().add("index", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                acks.add(producer.send(record));
            }
            producer.flush();
        }
        List<List<Object>> sent = new ArrayList<>();
        for (Future<RecordMetadata> ack : acks) {
            RecordMetadata metadata = ack.get();
            sent.add(List.of(metadata.partition(), metadata.offset(), metadata.timestamp()));
        }
        return sent;
    }
}
