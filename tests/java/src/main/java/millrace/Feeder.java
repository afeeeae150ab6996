package millrace;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Writes records "PREFIX-i" to partition i mod `partitions`, either a batch at once or at a
 * steady pace on its own thread while groups rebalance; remembers [partition, offset, value]
 * of every acknowledged record (idempotent producer, acks=all: the defaults).
 */
final class Feeder implements AutoCloseable {
    private static final long PACE_MS = 5;
    private final KafkaProducer<String, String> producer;
    private final String topic;
    private final int partitions;
    private final List<Future<RecordMetadata>> pending = new ArrayList<>();
    private final List<String> values = new ArrayList<>();
    private volatile boolean pacing;
    private Thread pacer;
    private volatile Throwable failure;

    Feeder(String bootstrap, String topic, int partitions) {
        this.producer = new KafkaProducer<>(Clients.producer(bootstrap));
        this.topic = topic;
        this.partitions = partitions;
    }

    synchronized void send(String prefix, int count) {
        for (int i = 0; i < count; i++) sendOne(prefix, i);
    }

    private synchronized void sendOne(String prefix, int index) {
        String value = prefix + "-" + index;
        values.add(value);
        pending.add(producer.send(new ProducerRecord<>(topic, index % partitions, null, value)));
    }

    /** Starts writing "PREFIX-i" every few milliseconds until stopPacing(). */
    void startPacing(String prefix) {
        pacing = true;
        pacer = new Thread(() -> {
            try {
                for (int i = 0; pacing; i++) {
                    sendOne(prefix, i);
                    Thread.sleep(PACE_MS);
                }
            } catch (Throwable e) {
                failure = e;
            }
        }, "feeder");
        pacer.start();
    }

    void stopPacing() throws InterruptedException {
        pacing = false;
        pacer.join();
        if (failure != null) throw new IllegalStateException("feeder failed", failure);
    }

    /** Every record acknowledged so far: [partition, offset, value] in send order. */
    synchronized List<Object> acknowledged() throws Exception {
        producer.flush();
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < pending.size(); i++) {
            RecordMetadata metadata = pending.get(i).get();
            out.add(List.of(metadata.partition(), metadata.offset(), values.get(i)));
        }
        return out;
    }

    synchronized int sent() {
        return values.size();
    }

    @Override
    public void close() {
        producer.close();
    }
}
