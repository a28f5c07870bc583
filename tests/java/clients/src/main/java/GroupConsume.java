// Java KafkaConsumers in one group against Sluice, with group.protocol=classic or consumer
// (KIP-848): N consumers share a topic, commit after every poll, and stop once EXPECTED records
// arrived in total. Prints "partition offset value" per record, "ASSIGNED i p,p,..." per
// consumer at the end, and "TOTAL n".
// Usage: java GroupConsume BOOTSTRAP GROUP TOPIC PROTOCOL CONSUMERS EXPECTED
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class GroupConsume {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], group = args[1], topic = args[2], protocol = args[3];
        int consumers = Integer.parseInt(args[4]), expected = Integer.parseInt(args[5]);
        AtomicInteger total = new AtomicInteger();
        ConcurrentLinkedQueue<String> lines = new ConcurrentLinkedQueue<>();
        ConcurrentHashMap<Integer, String> assigned = new ConcurrentHashMap<>();
        CountDownLatch allAssigned = new CountDownLatch(consumers);
        CountDownLatch allRead = new CountDownLatch(consumers);
        ExecutorService pool = Executors.newFixedThreadPool(consumers);
        List<Future<?>> running = new ArrayList<>();
        for (int i = 0; i < consumers; i++) {
            final int id = i;
            running.add(pool.submit(() -> {
                Properties p = new Properties();
                p.put("bootstrap.servers", bootstrap);
                p.put("group.id", group);
                p.put("group.protocol", protocol);
                p.put("auto.offset.reset", "earliest");
                p.put("enable.auto.commit", "false");
                if (protocol.equals("classic")) {
                    p.put("session.timeout.ms", "10000");
                    p.put("heartbeat.interval.ms", "500");
                }
                try (KafkaConsumer<String, String> c =
                         new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
                    c.subscribe(List.of(topic));
                    boolean counted = false;
                    long deadline = System.currentTimeMillis() + 120_000;
                    // Everyone stays until all are assigned and all records are in.
                    while ((total.get() < expected || allAssigned.getCount() > 0)
                           && System.currentTimeMillis() < deadline) {
                        ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(200));
                        for (ConsumerRecord<String, String> r : recs) {
                            lines.add(r.partition() + " " + r.offset() + " " + r.value());
                            total.incrementAndGet();
                        }
                        if (!recs.isEmpty()) c.commitSync();
                        if (!counted && !c.assignment().isEmpty()) {
                            counted = true;
                            allAssigned.countDown();
                        }
                    }
                    StringBuilder sb = new StringBuilder();
                    for (TopicPartition tp : c.assignment()) sb.append(tp.partition()).append(',');
                    assigned.put(id, sb.toString());
                    // No one leaves (close) before everyone has read its assignment: a consumer's
                    // partitions move to the others as soon as it leaves.
                    allRead.countDown();
                    allRead.await(60, TimeUnit.SECONDS);
                }
                return null;
            }));
        }
        for (Future<?> f : running) f.get();
        pool.shutdown();
        for (String l : lines) System.out.println(l);
        for (Map.Entry<Integer, String> e : assigned.entrySet())
            System.out.println("ASSIGNED " + e.getKey() + " " + e.getValue());
        System.out.println("TOTAL " + total.get());
    }
}
