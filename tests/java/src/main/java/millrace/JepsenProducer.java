package millrace;

import java.io.FileWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.RecordTooLargeException;

/**
 * The Java client's producer of the Jepsen-style run (tests/jepsen/): an idempotent acks=all
 * producer sending unique values "PROCESS-SEQ" round robin over the topic's partitions at a
 * steady rate until the stop file exists, writing one send event per delivery report to the
 * history file, in tests/jepsen/history.py's JSON-lines format.
 *
 * <p>Options: bootstrap, topic, partitions, process, history, stop-file, rate (per second).
 */
final class JepsenProducer {
    private static final int DELIVERY_TIMEOUT_MS = 30_000;
    private static final int REQUEST_TIMEOUT_MS = 5_000;
    private static final long CLOSE_TIMEOUT_MS = DELIVERY_TIMEOUT_MS + 5_000;

    private JepsenProducer() {}

    static Map<String, Object> run(Options options) throws Exception {
        String topic = options.get("topic");
        int partitions = options.integer("partitions", 1);
        String process = options.get("process");
        Path stopFile = Path.of(options.get("stop-file"));
        long intervalNanos = TimeUnit.SECONDS.toNanos(1) / options.integer("rate", 20);
        Properties props = Clients.producer(options.bootstrap());
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, DELIVERY_TIMEOUT_MS);
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, REQUEST_TIMEOUT_MS);
        props.put(ProducerConfig.METADATA_MAX_AGE_CONFIG, 1_000);
        props.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 1_000);
        long sent = 0;
        long[] acked = {0};
        try (Writer history = new FileWriter(options.get("history"), true);
                KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            long next = System.nanoTime();
            while (!Files.exists(stopFile)) {
                String value = process + "-" + sent;
                int partition = (int) (sent % partitions);
                producer.send(new ProducerRecord<>(topic, partition, null, value), (meta, error) -> {
                    Map<String, Object> event = new LinkedHashMap<>();
                    event.put("type", "send");
                    event.put("process", process);
                    event.put("time", System.currentTimeMillis() / 1000.0);
                    event.put("value", value);
                    event.put("partition", partition);
                    if (error == null) {
                        event.put("status", "ok");
                        event.put("offset", meta.offset());
                        acked[0]++;
                    } else {
                        boolean definite = error instanceof NotEnoughReplicasException
                                || error instanceof RecordTooLargeException;
                        event.put("status", definite ? "fail" : "info");
                        event.put("error", error.getClass().getSimpleName() + ": " + error.getMessage());
                    }
                    write(history, Json.write(event));
                });
                sent++;
                next += intervalNanos;
                long sleepNanos = next - System.nanoTime();
                if (sleepNanos > 0) TimeUnit.NANOSECONDS.sleep(sleepNanos);
            }
            producer.close(java.time.Duration.ofMillis(CLOSE_TIMEOUT_MS));
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("sent", sent);
        result.put("acked", acked[0]);
        return result;
    }

    /** Delivery reports come on the producer's I/O thread, one at a time. */
    private static void write(Writer history, String line) {
        try {
            history.write(line + "\n");
            history.flush();
        } catch (IOException e) {
            throw new IllegalStateException("history write failed", e);
        }
    }
}
