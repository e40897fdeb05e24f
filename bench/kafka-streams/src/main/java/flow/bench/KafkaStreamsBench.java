package flow.bench;

import flow.bench.proto.Count;
import flow.bench.proto.Event;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The Kafka Streams side of libflow's Kafka benchmarks (bench/README.md): same
 * records (bench/proto/bench.proto), same logic as the reference in
 * bench/tools/bench_common.hpp, the DSL a Kafka Streams user would write.
 *
 * <pre>
 * KafkaStreamsBench --workload W1|W2 --bootstrap HOST:PORT --input TOPIC --output TOPIC
 *                   --application-id ID --state-dir DIR [--threads N] [--unbounded]
 *                   [--sink-rate R] [--streams.KEY=VALUE ...]
 * </pre>
 *
 * Bounded (default): Kafka Streams has no bounded source, so the job counts
 * the records it has to see (end - beginning offsets of every input partition
 * at start) and closes the application once each of them has been handed to
 * the producer; close() commits, which flushes the producer. W1 counts every
 * input record after it went through the filter/map/sink chain, W2 every
 * count update (one per input record) after it went to the sink.
 * --unbounded runs until SIGTERM (W4, W5). --sink-rate paces the records
 * handed to the sink to R per second (W5). --streams.KEY=VALUE sets any
 * StreamsConfig property (with its producer./consumer. prefixes). Prints one
 * JSON line when a bounded job ends; exits 1 if the application failed.
 */
public final class KafkaStreamsBench {

  private KafkaStreamsBench() {}

  private static final byte[] NO_VALUE = new byte[0];

  static final Serde<Event> EVENT = Serdes.serdeFrom((topic, e) -> e.toByteArray(), (topic, b) -> {
    try {
      return Event.parseFrom(b);
    } catch (com.google.protobuf.InvalidProtocolBufferException ex) {
      throw new SerializationException("not a flow.bench.Event on " + topic, ex);
    }
  });

  static final Serde<Count> COUNT = Serdes.serdeFrom((topic, c) -> c.toByteArray(), (topic, b) -> {
    try {
      return Count.parseFrom(b);
    } catch (com.google.protobuf.InvalidProtocolBufferException ex) {
      throw new SerializationException("not a flow.bench.Count on " + topic, ex);
    }
  });

  // --- W1: parse -> filter(id % 2 == 0) -> map(value*3+1, page+"!") -> serialize, key user_id
  static Event transform(Event e) {
    return e.toBuilder().setValue(e.getValue() * 3 + 1).setPage(e.getPage() + "!").build();
  }

  /**
   * Records to see before a bounded job is done. Called on the stream threads
   * (one per task); done() releases the main thread once `expected` records
   * have passed.
   */
  static final class Progress {
    private final long expected;
    private long seen;
    final CountDownLatch done = new CountDownLatch(1);

    Progress(long expected) {
      this.expected = expected;
      if (expected == 0) done.countDown();
    }

    synchronized void add() {
      if (++seen == expected) done.countDown();
    }
  }

  /** Forwards every record, then counts it: counted = handed to everything downstream. */
  static final class CountAfterForward<K, V> implements FixedKeyProcessor<K, V, V> {
    private final Progress progress;
    private FixedKeyProcessorContext<K, V> ctx;

    CountAfterForward(Progress progress) {
      this.progress = progress;
    }

    @Override
    public void init(FixedKeyProcessorContext<K, V> ctx) {
      this.ctx = ctx;
    }

    @Override
    public void process(FixedKeyRecord<K, V> r) {
      ctx.forward(r);
      progress.add();
    }
  }

  /** W5: `s` paced by `pacer` on the stream thread (Kafka Streams then stops fetching). */
  static <K, V> KStream<K, V> paced(KStream<K, V> s, Pacer pacer) {
    if (pacer == null) return s;
    return s.mapValues(v -> {
      try {
        pacer.acquire();
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
      }
      return v;
    });
  }

  /** Input records of `topic` now: sum over partitions of end - beginning offset. */
  static long inputRecords(String bootstrap, String topic) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (KafkaConsumer<byte[], byte[]> c =
             new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(30));
      if (infos == null || infos.isEmpty()) throw new IllegalArgumentException("--input: no topic " + topic);
      List<TopicPartition> parts = new ArrayList<>();
      for (PartitionInfo i : infos) parts.add(new TopicPartition(topic, i.partition()));
      Map<TopicPartition, Long> begin = c.beginningOffsets(parts, Duration.ofSeconds(30));
      Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(30));
      long n = 0;
      for (TopicPartition tp : parts) n += end.get(tp) - begin.get(tp);
      return n;
    }
  }

  public static void main(String[] argv) throws Exception {
    Args a = new Args(argv);
    String workload = a.need("workload");
    String bootstrap = a.need("bootstrap");
    String input = a.need("input");
    String output = a.need("output");
    int threads = Integer.parseInt(a.get("threads", "1"));
    boolean unbounded = Boolean.parseBoolean(a.get("unbounded", "false"));
    double sinkRate = Double.parseDouble(a.get("sink-rate", "0"));
    Pacer pacer = sinkRate > 0 ? new Pacer(sinkRate) : null;

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, a.need("application-id"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.STATE_DIR_CONFIG, a.need("state-dir"));
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // the output settings of every system in the benchmark
    props.put(StreamsConfig.producerPrefix(ProducerConfig.ACKS_CONFIG), "all");
    props.put(StreamsConfig.producerPrefix(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG), "true");
    props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "none");
    props.putAll(a.withPrefix("streams."));

    long expected = unbounded ? Long.MAX_VALUE : inputRecords(bootstrap, input);
    Progress progress = new Progress(expected);

    StreamsBuilder builder = new StreamsBuilder();
    KStream<byte[], Event> events = builder.stream(input, Consumed.with(Serdes.ByteArray(), EVENT));
    switch (workload) {
      case "W1": {
        KStream<String, Event> out = events
            .processValues(() -> new CountAfterForward<byte[], Event>(progress))
            .filter((k, e) -> e.getId() % 2 == 0)
            .mapValues(KafkaStreamsBench::transform)
            .selectKey((k, e) -> e.getUserId());
        paced(out, pacer).to(output, Produced.with(Serdes.String(), EVENT));
        break;
      }
      case "W2": {
        // Only the key crosses the repartition topic. Caching off: one
        // update per input record, as W2 specifies (a cache would merge
        // updates of a key).
        KStream<String, Count> out = events
            .map((k, e) -> KeyValue.pair(e.getUserId(), NO_VALUE))
            .groupByKey(Grouped.with("by-user", Serdes.String(), Serdes.ByteArray()))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts")
                .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()).withCachingDisabled())
            .toStream()
            .mapValues((key, n) -> Count.newBuilder().setKey(key).setCount(n).build());
        paced(out, pacer)
            .processValues(() -> new CountAfterForward<String, Count>(progress))
            .to(output, Produced.with(Serdes.String(), COUNT));
        break;
      }
      default:
        throw new IllegalArgumentException("--workload: expected W1 or W2, got " + workload);
    }

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    CountDownLatch failed = new CountDownLatch(1);
    streams.setUncaughtExceptionHandler(e -> {
      failure.compareAndSet(null, e);
      failed.countDown();
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.ERROR) failed.countDown();
    });
    if (unbounded) {
      Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(10))));
    }

    long t0 = System.nanoTime();
    streams.start();
    // Wait for the last record or a failure, whichever comes first.
    while (progress.done.getCount() > 0 && failed.getCount() > 0) {
      progress.done.await(100, java.util.concurrent.TimeUnit.MILLISECONDS);
    }
    boolean ok = failed.getCount() > 0;
    boolean closed = streams.close(Duration.ofSeconds(60));
    double s = (System.nanoTime() - t0) / 1e9;
    if (!ok || !closed) {
      System.err.println("kafka streams failed: " + (ok ? "close timed out" : String.valueOf(failure.get())));
      System.exit(1);
    }
    System.out.printf("{\"workload\": \"%s\", \"job_seconds\": %.3f, \"threads\": %d, \"records\": %d}%n",
        workload, s, threads, expected);
    System.out.flush();
    System.exit(0);
  }
}
