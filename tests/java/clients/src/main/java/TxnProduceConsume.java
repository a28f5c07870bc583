// Java transactional producer and read_committed consumer: TRANSACTIONS transactions of PER records
// over the partitions of a new topic, alternating commit and abort (aborted records are sent before the
// abort, so they are in the log); a read_committed consumer must see exactly the committed records in
// order, a read_uncommitted one every record. With kafka-clients 4.x and a broker finalizing
// transaction.version=2 this is KIP-890's transaction version 2 (Produce v12 adds partitions, EndTxn v5
// bumps the epoch). Exits non-zero with a message on any mismatch.
// Usage: java TxnProduceConsume BOOTSTRAP TOPIC TRANSACTIONAL_ID TRANSACTIONS PER
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class TxnProduceConsume {
    static void fail(String msg) {
        System.err.println("FAIL: " + msg);
        System.exit(1);
    }

    static Map<Integer, List<String>> read(Properties common, String topic, int parts, String isolation, int expected) {
        Properties cp = (Properties) common.clone();
        cp.put("isolation.level", isolation);
        cp.put("enable.auto.commit", "false");
        Map<Integer, List<String>> got = new TreeMap<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int p = 0; p < parts; p++) tps.add(new TopicPartition(topic, p));
            c.assign(tps);
            c.seekToBeginning(tps);
            int n = 0;
            long deadline = System.currentTimeMillis() + 60_000;
            while (n < expected && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    got.computeIfAbsent(r.partition(), x -> new ArrayList<>()).add(r.value());
                    n++;
                }
            }
            // nothing beyond what is expected
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(1000)))
                got.computeIfAbsent(r.partition(), x -> new ArrayList<>()).add(r.value());
        }
        return got;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], tid = args[2];
        int txns = Integer.parseInt(args[3]), per = Integer.parseInt(args[4]), parts = 2;
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(common)) {
            admin.createTopics(List.of(new NewTopic(topic, parts, (short) 1))).all().get();
        }
        Properties pp = (Properties) common.clone();
        pp.put("transactional.id", tid);
        pp.put("linger.ms", "5");
        Map<Integer, List<String>> committed = new TreeMap<>(), all = new TreeMap<>();
        try (KafkaProducer<String, String> p = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
            p.initTransactions();
            for (int t = 0; t < txns; t++) {
                p.beginTransaction();
                for (int i = 0; i < per; i++) {
                    int part = i % parts;
                    String v = "t" + t + "-r" + i;
                    p.send(new ProducerRecord<>(topic, part, "k" + i, v));
                    all.computeIfAbsent(part, x -> new ArrayList<>()).add(v);
                    if (t % 2 == 0) committed.computeIfAbsent(part, x -> new ArrayList<>()).add(v);
                }
                p.flush();
                if (t % 2 == 0) p.commitTransaction(); else p.abortTransaction();
            }
        }
        int nCommitted = committed.values().stream().mapToInt(List::size).sum();
        int nAll = all.values().stream().mapToInt(List::size).sum();
        Map<Integer, List<String>> rc = read(common, topic, parts, "read_committed", nCommitted);
        if (!rc.equals(committed)) fail("read_committed saw " + rc + ", expected " + committed);
        Map<Integer, List<String>> ru = read(common, topic, parts, "read_uncommitted", nAll);
        if (!ru.equals(all)) fail("read_uncommitted saw " + ru + ", expected " + all);
        System.out.println("OK " + nCommitted + " committed of " + nAll);
    }
}
