package millrace;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * Kafka Streams word count: lines -> words -> groupBy(word) (a repartition topic) -> count()
 * (a state store with a changelog topic) -> counts topic. Run twice: the first run counts
 * the first set of lines; the app stops, its local state is wiped, the second set of lines is
 * written, and a second run must restore the counts from the changelog and go on from them.
 * Reports every record of the counts topic, the internal topics (partitions, configs, earliest
 * and latest offsets, the changelog's content), and what the restore read.
 */
final class WordCount {
    static final String REPARTITION = "words";
    static final String STORE = "counts";
    private static final int COMMIT_INTERVAL_MS = 200;
    private static final int PARTITIONS = 3;

    private static KafkaConsumer<byte[], byte[]> offsetReader;

    private WordCount() {}

    /**
     * Streams does not leave the group on close by default (a restarted instance would wait
     * out the session timeout of the one before it, in Kafka as here); these runs do.
     */
    private static void close(KafkaStreams streams, Deadline deadline) {
        Deadline.step("closing the streams app");
        streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(deadline.remaining()));
    }

    static Map<String, Object> run(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String app = options.get("app");
        String input = app + "-lines";
        String output = app + "-counts";
        Deadline deadline = options.deadline();
        Map<String, Object> result = new LinkedHashMap<>();
        try (Admin admin = Admin.create(Clients.admin(bootstrap))) {
            Clients.createTopic(admin, input, PARTITIONS, Map.of());
            Clients.createTopic(admin, output, PARTITIONS, Map.of());
            List<Map<String, Object>> runs = new ArrayList<>();
            for (String lines : List.of("first", "second")) {
                writeLines(bootstrap, input, options.list(lines));
                Path stateDir = Files.createTempDirectory("millrace-streams-");
                try {
                    runs.add(runOnce(bootstrap, app, input, output, stateDir, options.integer(lines + "-words", 0), deadline));
                } finally {
                    deleteTree(stateDir);
                }
            }
            result.put("runs", runs);
            result.put("counts", readCounts(bootstrap, output, deadline));
            result.put("internalTopics", internalTopics(admin, app));
            result.put("changelog", readCounts(bootstrap, app + "-" + STORE + "-changelog", deadline));
            result.put("purgeRepartition", purge(admin, app + "-" + REPARTITION + "-repartition"));
        }
        return result;
    }

    static Properties streamsProps(String bootstrap, String app, Path stateDir, String guarantee) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, COMMIT_INTERVAL_MS);
        // No record cache: every count update reaches the changelog and the counts topic.
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        return props;
    }

    static StreamsBuilder topology(String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> Arrays.asList(line.toLowerCase().split("\\s+")))
                .groupBy((key, word) -> word, Grouped.with(REPARTITION, Serdes.String(), Serdes.String()))
                .count(Materialized.as(STORE))
                .toStream()
                .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        return builder;
    }

    /** Runs the app until the counts topic holds `words` more updates than before; stops it. */
    private static Map<String, Object> runOnce(
            String bootstrap, String app, String input, String output, Path stateDir, int words, Deadline deadline)
            throws Exception {
        long before = endOffsetSum(bootstrap, output);
        Map<String, Object> report = new LinkedHashMap<>();
        List<Object> restored = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        KafkaStreams streams = new KafkaStreams(topology(input, output).build(),
                streamsProps(bootstrap, app, stateDir, StreamsConfig.AT_LEAST_ONCE));
        streams.setGlobalStateRestoreListener(new Restores(restored));
        streams.setUncaughtExceptionHandler(e -> {
            failure.set(e);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Driver.live("streams state", () -> streams.state().toString());
        try {
            streams.start();
            deadline.await("the counts topic growing by " + words + " updates", () -> {
                if (failure.get() != null) throw new IllegalStateException("streams failed", failure.get());
                return endOffsetSum(bootstrap, output) >= before + words;
            });
            report.put("state", streams.state().toString());
        } finally {
            close(streams, deadline);
        }
        report.put("restored", restored);
        report.put("countsWritten", endOffsetSum(bootstrap, output) - before);
        return report;
    }

    private static final class Restores implements StateRestoreListener {
        private final List<Object> restored;

        Restores(List<Object> restored) {
            this.restored = restored;
        }

        @Override
        public void onRestoreStart(TopicPartition partition, String store, long start, long end) {}

        @Override
        public void onBatchRestored(TopicPartition partition, String store, long batchEnd, long count) {}

        @Override
        public synchronized void onRestoreEnd(TopicPartition partition, String store, long total) {
            restored.add(List.of(partition.topic(), partition.partition(), store, total));
        }
    }

    private static void writeLines(String bootstrap, String topic, List<String> lines) throws Exception {
        Deadline.step("writing lines to " + topic);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Clients.producer(bootstrap))) {
            for (int i = 0; i < lines.size(); i++) {
                producer.send(new ProducerRecord<>(topic, "line-" + i, lines.get(i).replace('_', ' '))).get();
            }
        }
    }

    /** How many records `topic` holds, through one consumer kept for the whole scenario. */
    private static synchronized long endOffsetSum(String bootstrap, String topic) {
        if (offsetReader == null) {
            offsetReader = new KafkaConsumer<>(Clients.consumer(bootstrap), new ByteArrayDeserializer(), new ByteArrayDeserializer());
        }
        List<TopicPartition> partitions = new ArrayList<>();
        offsetReader.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
        return offsetReader.endOffsets(partitions).values().stream().mapToLong(Long::longValue).sum();
    }

    /** [partition, offset, word, count] of every record of a topic of counts. */
    private static List<Object> readCounts(String bootstrap, String topic, Deadline deadline) throws Exception {
        List<Object> out = new ArrayList<>();
        long end = endOffsetSum(bootstrap, topic);
        try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(
                Clients.consumer(bootstrap), new StringDeserializer(), new LongDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            deadline.await("reading " + end + " records of " + topic, () -> {
                for (ConsumerRecord<String, Long> record : consumer.poll(java.time.Duration.ofMillis(100))) {
                    out.add(List.of(record.partition(), record.offset(), record.key(), record.value()));
                }
                return out.size() >= end;
            });
        }
        return out;
    }

    /** The app's internal topics: partitions, the configs Streams asked for, offsets. */
    private static Map<String, Object> internalTopics(Admin admin, String app) throws Exception {
        Deadline.step("describing the internal topics");
        Map<String, Object> out = new TreeMap<>();
        List<String> names = new ArrayList<>();
        for (String name : admin.listTopics().names().get()) {
            if (name.startsWith(app + "-") && (name.endsWith("-changelog") || name.endsWith("-repartition"))) names.add(name);
        }
        Map<String, TopicDescription> described = admin.describeTopics(names).allTopicNames().get();
        for (String name : names) {
            Map<String, Object> topic = new LinkedHashMap<>();
            topic.put("partitions", described.get(name).partitions().size());
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, name);
            Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            for (String key : List.of("cleanup.policy", "retention.ms", "segment.bytes")) {
                topic.put(key, config.get(key) == null ? null : config.get(key).value());
            }
            List<TopicPartition> partitions = Clients.partitions(name, described.get(name).partitions().size());
            topic.put("earliest", offsets(admin, partitions, OffsetSpec.earliest()));
            topic.put("latest", offsets(admin, partitions, OffsetSpec.latest()));
            out.put(name, topic);
        }
        return out;
    }

    /**
     * What Streams does after each commit to drop consumed repartition records: DeleteRecords
     * up to the committed offset (it logs a failure only at debug level). Reports the outcome.
     */
    private static Object purge(Admin admin, String repartition) {
        Deadline.step("deleting records of " + repartition);
        try {
            admin.deleteRecords(Map.of(new TopicPartition(repartition, 0), RecordsToDelete.beforeOffset(1))).all().get();
            return "ok";
        } catch (Exception e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            return cause.getClass().getSimpleName() + ": " + cause.getMessage();
        }
    }

    private static List<Long> offsets(Admin admin, List<TopicPartition> partitions, OffsetSpec spec) throws Exception {
        Map<TopicPartition, OffsetSpec> request = new LinkedHashMap<>();
        partitions.forEach(p -> request.put(p, spec));
        var found = admin.listOffsets(request).all().get();
        List<Long> out = new ArrayList<>();
        partitions.forEach(p -> out.add(found.get(p).offset()));
        return out;
    }

    /**
     * exactly_once_v2 against millrace: starts the same topology with transactions and reports
     * how it fails (millrace refuses transactional producers today), within `deadline-ms`.
     */
    static Map<String, Object> runExactlyOnce(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String app = options.get("app");
        Path stateDir = Files.createTempDirectory("millrace-streams-eos-");
        Map<String, Object> result = new LinkedHashMap<>();
        try (Admin admin = Admin.create(Clients.admin(bootstrap))) {
            Clients.createTopic(admin, app + "-lines", PARTITIONS, Map.of());
            Clients.createTopic(admin, app + "-counts", PARTITIONS, Map.of());
            writeLines(bootstrap, app + "-lines", List.of("exactly once"));
            AtomicReference<Throwable> failure = new AtomicReference<>();
            KafkaStreams streams = new KafkaStreams(topology(app + "-lines", app + "-counts").build(),
                    streamsProps(bootstrap, app, stateDir, StreamsConfig.EXACTLY_ONCE_V2));
            streams.setUncaughtExceptionHandler(e -> {
                failure.set(e);
                return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
            });
            try {
                streams.start();
                options.deadline().await("the exactly-once app failing or counting",
                        () -> failure.get() != null || endOffsetSum(bootstrap, app + "-counts") > 0);
            } finally {
                close(streams, options.deadline());
            }
            result.put("state", streams.state().toString());
            result.put("counted", endOffsetSum(bootstrap, app + "-counts"));
            result.put("failure", failure.get() == null ? null : Driver.describe(failure.get()));
        } finally {
            deleteTree(stateDir);
        }
        return result;
    }

    private static void deleteTree(Path root) throws Exception {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) Files.delete(path);
        }
    }
}
