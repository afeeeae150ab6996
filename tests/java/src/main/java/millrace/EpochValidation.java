package millrace;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.LogTruncationException;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * KIP-320 as the Java consumer uses it: a seek, or a committed offset, that carries a leader epoch
 * is validated with OffsetsForLeaderEpoch before the consumer fetches. Produces {@code records}
 * records to partition 0 of {@code topic}, then reports: the epoch of the records read, where a
 * consumer reads after a seek inside epoch 0, what a seek past the end of epoch 0 yields with
 * auto.offset.reset=none (Kafka: LogTruncationException naming the end of epoch 0), and the
 * committed leader epoch a group gets back and resumes from.
 */
final class EpochValidation {
    private static final Duration POLL = Duration.ofMillis(100);
    /** How far past the log end the truncated position lies. */
    private static final int PAST_THE_END = 100;

    private EpochValidation() {}

    static Map<String, Object> run(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String topic = options.get("topic");
        int records = options.integer("records", 5);
        TopicPartition tp = new TopicPartition(topic, 0);
        Deadline.step("producing to " + topic);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Clients.producer(bootstrap))) {
            for (int i = 0; i < records; i++) producer.send(new ProducerRecord<>(topic, 0, null, "v" + i)).get();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        Properties props = Clients.consumer(bootstrap);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        props.put(ConsumerConfig.GROUP_ID_CONFIG, options.get("group"));
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, new OffsetAndMetadata(3, Optional.of(0), ""));
            ConsumerRecord<String, String> first = firstRecord(consumer, options.deadline(), "a record after seek(3, epoch 0)");
            out.put("after_valid_seek", List.of(first.offset(), first.leaderEpoch().orElse(-1)));
            consumer.seek(tp, new OffsetAndMetadata(records + PAST_THE_END, Optional.of(0), ""));
            out.put("past_the_end", outcome(consumer, tp, options.deadline()));
            consumer.commitSync(Map.of(tp, new OffsetAndMetadata(2, Optional.of(0), "")));
        }
        try (KafkaConsumer<String, String> resumed = new KafkaConsumer<>(props)) {
            OffsetAndMetadata committed = resumed.committed(Set.of(tp)).get(tp);
            out.put("committed", List.of(committed.offset(), committed.leaderEpoch().orElse(-1)));
            resumed.assign(List.of(tp));
            ConsumerRecord<String, String> first = firstRecord(resumed, options.deadline(), "a record from the committed offset");
            out.put("resumed_from", first.offset());
        }
        return out;
    }

    private static ConsumerRecord<String, String> firstRecord(
            KafkaConsumer<String, String> consumer, Deadline deadline, String what) throws Exception {
        Deadline.step(what);
        while (deadline.remainingMs() > 0) {
            ConsumerRecords<String, String> polled = consumer.poll(POLL);
            for (ConsumerRecord<String, String> record : polled) return record;
        }
        throw new IllegalStateException("no record: " + what);
    }

    /** What polling yields: the truncation the consumer detected, or another error. */
    private static Map<String, Object> outcome(KafkaConsumer<String, String> consumer, TopicPartition tp, Deadline deadline) {
        Deadline.step("polling past the end of epoch 0");
        Map<String, Object> out = new LinkedHashMap<>();
        while (deadline.remainingMs() > 0) {
            try {
                ConsumerRecords<String, String> polled = consumer.poll(POLL);
                if (!polled.isEmpty()) {
                    out.put("records_from", polled.iterator().next().offset());
                    return out;
                }
            } catch (LogTruncationException e) {
                out.put("error", "LogTruncationException");
                OffsetAndMetadata divergent = e.divergentOffsets().get(tp);
                if (divergent != null) {
                    out.put("divergent", List.of(divergent.offset(), divergent.leaderEpoch().orElse(-1)));
                }
                return out;
            } catch (OffsetOutOfRangeException e) {
                out.put("error", "OffsetOutOfRangeException");
                return out;
            }
        }
        out.put("error", "none within the deadline");
        return out;
    }
}
