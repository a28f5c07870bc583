// A group of N consumers draining a topic, for benches/compare.py: either a KIP-848 consumer group
// (group.protocol=consumer, KafkaConsumer) or a KIP-932 share group (KafkaShareConsumer, implicit
// acknowledgement, share.auto.offset.reset=earliest set on the group first). Each consumer runs on its own
// thread; the clock runs from the moment the consumers are created to the moment the group has received
// EXPECTED records between them, so it includes joining the group.
// Usage: java GroupDrain BOOTSTRAP GROUP TOPIC CONSUMERS EXPECTED consumer|share
// Prints: "DRAINED <records> <bytes> <seconds> <first-record-seconds>" (exit 1 if EXPECTED was not reached
// within 10 minutes).
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class GroupDrain {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], group = args[1], topic = args[2], kind = args[5];
        int consumers = Integer.parseInt(args[3]);
        long expected = Long.parseLong(args[4]);
        if (kind.equals("share")) {
            try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
                ConfigResource res = new ConfigResource(ConfigResource.Type.GROUP, group);
                AlterConfigOp op = new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"),
                                                     AlterConfigOp.OpType.SET);
                admin.incrementalAlterConfigs(Map.of(res, List.of(op))).all().get();
            }
        }
        AtomicLong records = new AtomicLong(), bytes = new AtomicLong(), firstNanos = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(consumers);
        long start = System.nanoTime();
        for (int i = 0; i < consumers; i++) {
            pool.submit(() -> {
                Properties p = new Properties();
                p.put("bootstrap.servers", bootstrap);
                p.put("group.id", group);
                p.put("max.partition.fetch.bytes", "4194304");
                try {
                    if (kind.equals("share")) {
                        try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(
                                p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                            c.subscribe(List.of(topic));
                            while (done.getCount() > 0) count(c.poll(Duration.ofMillis(200)), records, bytes,
                                                              firstNanos, expected, done);
                        }
                    } else {
                        p.put("group.protocol", "consumer");
                        p.put("auto.offset.reset", "earliest");
                        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                                p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                            c.subscribe(List.of(topic));
                            while (done.getCount() > 0) count(c.poll(Duration.ofMillis(200)), records, bytes,
                                                              firstNanos, expected, done);
                        }
                    }
                } catch (Exception e) {
                    e.printStackTrace();
                }
                return null;
            });
        }
        boolean reached = done.await(10, TimeUnit.MINUTES);
        double seconds = (System.nanoTime() - start) / 1e9;
        pool.shutdown();
        pool.awaitTermination(1, TimeUnit.MINUTES);
        System.out.printf("DRAINED %d %d %.3f %.3f%n", records.get(), bytes.get(), seconds,
                          firstNanos.get() == 0 ? -1.0 : (firstNanos.get() - start) / 1e9);
        System.exit(reached ? 0 : 1);
    }

    static void count(ConsumerRecords<byte[], byte[]> batch, AtomicLong records, AtomicLong bytes,
                      AtomicLong firstNanos, long expected, CountDownLatch done) {
        if (batch.isEmpty()) return;
        firstNanos.compareAndSet(0, System.nanoTime());
        long n = 0, b = 0;
        for (ConsumerRecord<byte[], byte[]> r : batch) {
            n++;
            b += r.serializedValueSize() + Math.max(0, r.serializedKeySize());
        }
        bytes.addAndGet(b);
        if (records.addAndGet(n) >= expected) done.countDown();
    }
}
