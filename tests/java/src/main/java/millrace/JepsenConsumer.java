package millrace;

import java.io.FileWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * The Java client's consumer of the Jepsen-style run (tests/jepsen/): reads every partition of
 * the topic from the beginning with assign() (no group: a coordinator moving is not what is
 * tested), writing one poll event per record received to the history file, in
 * tests/jepsen/history.py's JSON-lines format, until the stop file exists.
 *
 * <p>Options: bootstrap, topic, partitions, process, history, stop-file.
 */
final class JepsenConsumer {
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(200);
    private static final int METADATA_MAX_AGE_MS = 1_000;
    private static final int RECONNECT_BACKOFF_MAX_MS = 1_000;

    private JepsenConsumer() {}

    static Map<String, Object> run(Options options) throws Exception {
        String topic = options.get("topic");
        int partitions = options.integer("partitions", 1);
        String process = options.get("process");
        Path stopFile = Path.of(options.get("stop-file"));
        Properties props = Clients.consumer(options.bootstrap());
        props.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, METADATA_MAX_AGE_MS);
        props.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, RECONNECT_BACKOFF_MAX_MS);
        List<TopicPartition> assigned = new ArrayList<>();
        List<Integer> indexes = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            assigned.add(new TopicPartition(topic, p));
            indexes.add(p);
        }
        long polled = 0;
        try (Writer history = new FileWriter(options.get("history"), true);
                KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.assign(assigned);
            consumer.seekToBeginning(assigned);
            Map<String, Object> assign = event("assign", process);
            assign.put("partitions", indexes);
            write(history, assign);
            while (!Files.exists(stopFile)) {
                for (ConsumerRecord<String, String> record : consumer.poll(POLL_TIMEOUT)) {
                    Map<String, Object> poll = event("poll", process);
                    poll.put("partition", record.partition());
                    poll.put("offset", record.offset());
                    poll.put("value", record.value());
                    write(history, poll);
                    polled++;
                }
            }
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("polled", polled);
        return result;
    }

    private static Map<String, Object> event(String type, String process) {
        Map<String, Object> event = new LinkedHashMap<>();
        event.put("type", type);
        event.put("process", process);
        event.put("time", System.currentTimeMillis() / 1000.0);
        return event;
    }

    private static void write(Writer history, Map<String, Object> event) throws IOException {
        history.write(Json.write(event) + "\n");
        history.flush();
    }
}
