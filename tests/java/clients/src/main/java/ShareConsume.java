// Java KafkaShareConsumer (KIP-932) against Sluice: N share consumers in one group on one topic,
// explicit acknowledgement; prints each delivery as "partition offset value deliveryCount".
// Usage: java ShareConsume BOOTSTRAP GROUP TOPIC CONSUMERS EXPECTED
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ShareConsume {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], group = args[1], topic = args[2];
        int consumers = Integer.parseInt(args[3]), expected = Integer.parseInt(args[4]);
        AtomicInteger total = new AtomicInteger();
        ConcurrentLinkedQueue<String> lines = new ConcurrentLinkedQueue<>();
        ExecutorService pool = Executors.newFixedThreadPool(consumers);
        List<Future<?>> running = new ArrayList<>();
        for (int i = 0; i < consumers; i++) {
            final int id = i;
            running.add(pool.submit(() -> {
                Properties p = new Properties();
                p.put("bootstrap.servers", bootstrap);
                p.put("group.id", group);
                p.put("share.acknowledgement.mode", "explicit");
                try (KafkaShareConsumer<String, String> c =
                         new KafkaShareConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
                    c.subscribe(List.of(topic));
                    long deadline = System.currentTimeMillis() + 90_000;
                    while (total.get() < expected && System.currentTimeMillis() < deadline) {
                        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                            lines.add(id + " " + r.partition() + " " + r.offset() + " " + r.value() + " "
                                + r.deliveryCount().orElse((short) -1));
                            c.acknowledge(r, AcknowledgeType.ACCEPT);
                            total.incrementAndGet();
                        }
                        c.commitSync();
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : running) f.get();
        pool.shutdown();
        for (String l : lines) System.out.println(l);
        System.out.println("TOTAL " + total.get());
    }
}
