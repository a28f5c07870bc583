// One Kafka Streams instance (kafka-streams, the newest 4.x) with group.protocol=streams (KIP-1071), driven
// by tests/streamskit.py. Modes:
//   wordcount: input -> processValues(tracker) -> flatMapValues(split on ' ') -> selectKey(word) ->
//              groupByKey (repartition topic APP-words-repartition) -> count (store "counts", changelog
//              APP-counts-changelog) -> toStream -> processValues(tracker) -> mapValues(String) -> output.
//              Two sub-topologies: 0 (source side) and 1 (count side).
//   filter:    input -> processValues(tracker) -> filter(value not blank) -> mapValues(upper case) -> output.
//              One stateless sub-topology.
// Keys and values are UTF-8 strings (the count is written as its decimal string).
//
// Usage: java StreamsApp --mode wordcount|filter --bootstrap HOST:PORT --app-id ID --input TOPIC
//        --output TOPIC --state-dir DIR [--instance NAME] [--standby N] [--guarantee at_least_once|
//        exactly_once_v2] [--commit-ms N] [--cache-bytes N] [--protocol streams|classic]
//        [--on-error shutdown|replace] [--config k=v ...]
// --on-error: the StreamsUncaughtExceptionHandler's answer (default shutdown: SHUTDOWN_CLIENT, as Kafka
// Streams' own default; replace: REPLACE_THREAD, how an app waits out e.g. MissingSourceTopicException).
//
// Stdout: one JSON object per line, each with "ev" (the event) and "t" (wall-clock epoch ms):
//   {"ev":"start","instance":..,"pid":..}
//   {"ev":"state","from":"REBALANCING","to":"RUNNING"}                  KafkaStreams.StateListener
//   {"ev":"tasks","active":["0_1",..],"standby":[..]}                    metadataForLocalThreads(), on change
//   {"ev":"open"|"close","task":"1_2","node":"count"}                    a tracker processor's init/close:
//                                                                        the task processes in between
//   {"ev":"restore_start","store":..,"topic":..,"partition":..,"start":..,"end":..}   StateRestoreListener
//   {"ev":"restore_end","store":..,"topic":..,"partition":..,"restored":N}           (active tasks)
//   {"ev":"standby_start"|"standby_suspend",..,"offset":..}             StandbyUpdateListener
//   {"ev":"error","error":"..."}                                         uncaught exception (see --on-error)
//   {"ev":"closed"}                                                      after a clean KafkaStreams.close()
// It shuts down cleanly (close, then "closed", exit 0) when stdin closes or on SIGTERM.
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.*;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.*;
import org.apache.kafka.streams.processor.StandbyUpdateListener;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;

public class StreamsApp {
    static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    /** Prints one JSON line: alternating keys and values (String, Number, Collection of String). */
    static synchronized void emit(Object... kv) {
        StringBuilder sb = new StringBuilder("{");
        for (int i = 0; i < kv.length; i += 2) {
            sb.append(quote(kv[i].toString())).append(':').append(json(kv[i + 1])).append(',');
        }
        sb.append("\"t\":").append(System.currentTimeMillis()).append('}');
        OUT.println(sb);
    }

    static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        if (v instanceof Collection<?> c) {
            StringJoiner j = new StringJoiner(",", "[", "]");
            for (Object o : c) j.add(json(o));
            return j.toString();
        }
        return quote(v.toString());
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') sb.append('\\').append(ch);
            else if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
            else sb.append(ch);
        }
        return sb.append('"').toString();
    }

    /** A pass-through processor that reports when its task starts (init) and stops (close) processing. */
    static class Tracker<K, V> implements FixedKeyProcessor<K, V, V> {
        final String node;
        FixedKeyProcessorContext<K, V> ctx;

        Tracker(String node) {
            this.node = node;
        }

        @Override
        public void init(FixedKeyProcessorContext<K, V> context) {
            ctx = context;
            emit("ev", "open", "task", context.taskId().toString(), "node", node);
        }

        @Override
        public void process(FixedKeyRecord<K, V> record) {
            ctx.forward(record);
        }

        @Override
        public void close() {
            emit("ev", "close", "task", ctx.taskId().toString(), "node", node);
        }
    }

    static Topology wordcount(String input, String output) {
        StreamsBuilder b = new StreamsBuilder();
        b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .processValues(() -> new Tracker<String, String>("source"), Named.as("track-source"))
            .flatMapValues(v -> Arrays.asList(v.split(" ")))
            .filter((k, w) -> !w.isEmpty())
            .selectKey((k, w) -> w)
            .groupByKey(Grouped.with("words", Serdes.String(), Serdes.String()))
            .count(Materialized.as("counts"))
            .toStream()
            .processValues(() -> new Tracker<String, Long>("count"), Named.as("track-count"))
            .mapValues(String::valueOf)
            .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    static Topology filter(String input, String output) {
        StreamsBuilder b = new StreamsBuilder();
        b.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .processValues(() -> new Tracker<String, String>("filter"), Named.as("track-filter"))
            .filter((k, v) -> v != null && !v.isBlank())
            .mapValues(v -> v.toUpperCase(Locale.ROOT))
            .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return b.build();
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> o = new HashMap<>();
        List<String> configs = new ArrayList<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) throw new IllegalArgumentException("expected --option, got " + args[i]);
            if (args[i].equals("--config")) configs.add(args[i + 1]);
            else o.put(args[i].substring(2), args[i + 1]);
        }
        o.put("config", String.join("\n", configs));
        return o;
    }

    static String need(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null) throw new IllegalArgumentException("missing --" + k);
        return v;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = parse(args);
        String mode = need(o, "mode");
        Topology topology = switch (mode) {
            case "wordcount" -> wordcount(need(o, "input"), need(o, "output"));
            case "filter" -> filter(need(o, "input"), need(o, "output"));
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        };
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, need(o, "bootstrap"));
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, need(o, "app-id"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, need(o, "state-dir"));
        p.put(StreamsConfig.GROUP_PROTOCOL_CONFIG, o.getOrDefault("protocol", "streams"));
        p.put(StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG, o.getOrDefault("standby", "0"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, o.getOrDefault("guarantee", "at_least_once"));
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.getOrDefault("commit-ms", "500"));
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, o.getOrDefault("cache-bytes", "10485760"));
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, "1");
        for (String kv : o.get("config").split("\n")) {
            if (kv.isEmpty()) continue;
            int eq = kv.indexOf('=');
            p.put(kv.substring(0, eq), kv.substring(eq + 1));
        }

        KafkaStreams streams = new KafkaStreams(topology, p);
        emit("ev", "start", "instance", o.getOrDefault("instance", ""), "pid", ProcessHandle.current().pid(),
             "mode", mode);
        streams.setStateListener((now, before) -> emit("ev", "state", "from", before.name(), "to", now.name()));
        StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse onError =
            switch (o.getOrDefault("on-error", "shutdown")) {
                case "shutdown" -> StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
                case "replace" -> StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
                default -> throw new IllegalArgumentException("--on-error shutdown|replace");
            };
        streams.setUncaughtExceptionHandler(e -> {
            emit("ev", "error", "error", e.toString());
            return onError;
        });
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                emit("ev", "restore_start", "store", store, "topic", tp.topic(), "partition", tp.partition(),
                     "start", start, "end", end);
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {
            }

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                emit("ev", "restore_end", "store", store, "topic", tp.topic(), "partition", tp.partition(),
                     "restored", total);
            }
        });
        streams.setStandbyUpdateListener(new StandbyUpdateListener() {
            @Override
            public void onUpdateStart(TopicPartition tp, String store, long start) {
                emit("ev", "standby_start", "store", store, "topic", tp.topic(), "partition", tp.partition(),
                     "offset", start);
            }

            @Override
            public void onBatchLoaded(TopicPartition tp, String store, org.apache.kafka.streams.processor.TaskId task,
                                      long batchEnd, long n, long endOffset) {
            }

            @Override
            public void onUpdateSuspended(TopicPartition tp, String store, long stored, long end,
                                          SuspendReason reason) {
                emit("ev", "standby_suspend", "store", store, "topic", tp.topic(), "partition", tp.partition(),
                     "offset", stored, "end", end, "reason", reason.name());
            }
        });

        CountDownLatch stop = new CountDownLatch(1);
        AtomicBoolean closed = new AtomicBoolean();
        Runnable shutdown = () -> {
            if (closed.compareAndSet(false, true)) {
                streams.close(Duration.ofSeconds(30));
                emit("ev", "closed");
            }
            stop.countDown();
        };
        Runtime.getRuntime().addShutdownHook(new Thread(shutdown, "shutdown"));
        Thread stdin = new Thread(() -> {
            InputStream in = System.in;
            try {
                while (in.read() >= 0) {
                    // the driver never writes; end of input is the signal to stop
                }
            } catch (Exception ignored) {
                // a broken stdin means the driver is gone: stop too
            }
            stop.countDown();
        }, "stdin");
        stdin.setDaemon(true);
        stdin.start();

        streams.start();
        List<List<String>> last = List.of();
        while (!stop.await(100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
            List<List<String>> now = localTasks(streams);
            if (!now.equals(last)) {
                last = now;
                emit("ev", "tasks", "active", now.get(0), "standby", now.get(1));
            }
        }
        shutdown.run();
        OUT.flush();
        System.exit(0);
    }

    /** The local threads' [active, standby] task ids ("0_1"), each sorted. */
    static List<List<String>> localTasks(KafkaStreams streams) {
        TreeSet<String> a = new TreeSet<>(), s = new TreeSet<>();
        for (ThreadMetadata t : streams.metadataForLocalThreads()) {
            t.activeTasks().forEach(m -> a.add(m.taskId().toString()));
            t.standbyTasks().forEach(m -> s.add(m.taskId().toString()));
        }
        return List.of(new ArrayList<>(a), new ArrayList<>(s));
    }
}
