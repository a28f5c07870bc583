// Java client smoke test: an idempotent KafkaProducer (Produce with topic ids, v13) writes
// keyed records with headers to a 4-partition topic created by the AdminClient; a KafkaConsumer
// with manual assignment (Fetch v17, incremental fetch sessions) reads them back. Exits non-zero
// with a message on any mismatch. Usage: java SmokeProduceConsume BOOTSTRAP TOPIC COUNT
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.*;

public class SmokeProduceConsume {
    static void fail(String msg) {
        System.err.println("FAIL: " + msg);
        System.exit(1);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int count = Integer.parseInt(args[2]), parts = 4;
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(common)) {
            admin.createTopics(List.of(new NewTopic(topic, parts, (short) 1))).all().get();
        }
        Properties pp = (Properties) common.clone();
        pp.put("enable.idempotence", "true");
        pp.put("acks", "all");
        pp.put("compression.type", "zstd");
        pp.put("linger.ms", "5");
        Map<Integer, List<String>> sent = new HashMap<>();
        try (KafkaProducer<String, String> p = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
            List<java.util.concurrent.Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int part = i % parts;
                ProducerRecord<String, String> r = new ProducerRecord<>(topic, part, "k" + i, "v" + i);
                r.headers().add("i", Integer.toString(i).getBytes());
                sent.computeIfAbsent(part, x -> new ArrayList<>()).add("k" + i);
                acks.add(p.send(r));
            }
            p.flush();
            for (int i = 0; i < count; i++) {
                RecordMetadata m = acks.get(i).get();
                int expected = sent.get(i % parts).indexOf("k" + i);
                if (m.offset() != expected) fail("record " + i + " acked at offset " + m.offset() + ", expected " + expected);
            }
        }
        Properties cp = (Properties) common.clone();
        cp.put("enable.auto.commit", "false");
        cp.put("max.poll.records", "1000");
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int q = 0; q < parts; q++) tps.add(new TopicPartition(topic, q));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<Integer, List<String>> got = new HashMap<>();
            int n = 0;
            long deadline = System.currentTimeMillis() + 60_000;
            while (n < count) {
                if (System.currentTimeMillis() > deadline) fail("timed out after " + n + " records");
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    List<String> l = got.computeIfAbsent(r.partition(), x -> new ArrayList<>());
                    if (r.offset() != l.size()) fail("partition " + r.partition() + ": offset " + r.offset() + " after " + l.size() + " records");
                    Header h = r.headers().lastHeader("i");
                    String idx = r.key().substring(1);
                    if (!r.value().equals("v" + idx) || h == null || !new String(h.value()).equals(idx)) fail("bad record " + r);
                    l.add(r.key());
                    n++;
                }
            }
            if (!got.equals(sent)) fail("records differ from what was produced");
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            for (int q = 0; q < parts; q++) {
                if (end.get(tps.get(q)) != sent.get(q).size()) fail("end offset of " + q + " is " + end.get(tps.get(q)));
            }
        }
        System.out.println("OK " + count + " records");
    }
}
