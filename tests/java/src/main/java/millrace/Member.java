package millrace;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;

/**
 * One group member on its own thread: polls, records what it read, commits synchronously
 * after every poll (so a partition that moves was committed up to what its owner read: the
 * next owner starts exactly there) and logs every assignment change. Its timeline is a list
 * of events in order: ["assigned"|"revoked"|"lost", [partitions], generation] and
 * ["records", [[partition, offset, value]...]].
 */
final class Member implements Runnable {
    private static final Duration POLL = Duration.ofMillis(100);
    private final String name;
    private final String topic;
    private final Properties props;
    private final List<List<Object>> timeline = new ArrayList<>();
    private final Set<Integer> owned = new HashSet<>();
    private volatile boolean stopping;
    private volatile Throwable failure;
    private volatile String memberId = "";
    private int consumed;
    private Thread thread;

    Member(String name, String bootstrap, String topic, String group, Map<String, Object> settings) {
        this.name = name;
        this.topic = topic;
        props = Clients.consumer(bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
        // Rebalances are noticed within a heartbeat: keep them short for a short test.
        props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 300);
        props.putAll(settings);
    }

    Member start() {
        thread = new Thread(this, "member-" + name);
        thread.start();
        Driver.live("member " + name, this::report);
        return this;
    }

    @Override
    public void run() {
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(topic), new Listener(consumer));
            while (!stopping) {
                ConsumerRecords<String, String> records = consumer.poll(POLL);
                memberId = consumer.groupMetadata().memberId();
                if (records.isEmpty()) continue;
                List<Object> read = new ArrayList<>();
                for (ConsumerRecord<String, String> record : records) {
                    read.add(List.of(record.partition(), record.offset(), record.value()));
                }
                log("records", read, null);
                synchronized (this) {
                    consumed += read.size();
                }
                commit(consumer);
            }
        } catch (Throwable e) {
            failure = e;
        }
    }

    /**
     * A cooperative member keeps reading while it rejoins, and the client refuses a commit
     * then (RebalanceInProgressException): the documented answer is to go on polling. Its
     * onPartitionsRevoked commits what it read of any partition it gives up, so nothing is
     * read twice.
     */
    private void commit(KafkaConsumer<String, String> consumer) {
        try {
            consumer.commitSync();
        } catch (RebalanceInProgressException rebalancing) {
            log("commit-deferred", rebalancing.getMessage(), null);
        }
    }

    private final class Listener implements ConsumerRebalanceListener {
        private final KafkaConsumer<String, String> consumer;

        Listener(KafkaConsumer<String, String> consumer) {
            this.consumer = consumer;
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            change("assigned", partitions, true);
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) consumer.commitSync();
            change("revoked", partitions, false);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            change("lost", partitions, false);
        }

        private void change(String kind, Collection<TopicPartition> partitions, boolean adds) {
            List<Integer> numbers = Clients.partitionNumbers(partitions);
            synchronized (Member.this) {
                if (adds) owned.addAll(numbers);
                else owned.removeAll(numbers);
            }
            log(kind, numbers, consumer.groupMetadata().generationId());
        }
    }

    private synchronized void log(String kind, Object what, Integer generation) {
        List<Object> event = new ArrayList<>();
        event.add(kind);
        event.add(what);
        if (generation != null) event.add(generation);
        timeline.add(event);
    }

    synchronized Set<Integer> owned() {
        checkAlive();
        return new HashSet<>(owned);
    }

    synchronized int consumed() {
        checkAlive();
        return consumed;
    }

    private void checkAlive() {
        if (failure != null) throw new IllegalStateException("member " + name + " failed", failure);
    }

    /** Stops polling and closes the consumer (a dynamic member leaves the group). */
    void stop() throws InterruptedException {
        stopping = true;
        thread.join();
        checkAlive();
    }

    synchronized Map<String, Object> report() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", name);
        out.put("memberId", memberId);
        out.put("timeline", new ArrayList<>(timeline));
        return out;
    }
}
