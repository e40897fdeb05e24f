package flow.bench;

import flow.bench.proto.Count;
import flow.bench.proto.Event;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The Flink side of libflow's Kafka benchmarks (bench/README.md): same records
 * (bench/proto/bench.proto), same logic as the reference in
 * bench/tools/bench_common.hpp.
 *
 * <pre>
 * FlinkBench --workload W1|W2 --bootstrap HOST:PORT --input TOPIC --output TOPIC
 *            [--parallelism N] [--buffer-timeout-ms 100] [--unbounded]
 *            [--sink-rate R] [--linger-ms 5]
 * </pre>
 *
 * Bounded (default): the KafkaSource stops at the end offsets the input had at
 * start, so the job ends by itself. --unbounded runs until the process is
 * killed (W4, W5). --sink-rate throttles the records handed to the sink to R
 * per second (W5). Prints one JSON line when a bounded job ends.
 */
public final class FlinkBench {

  private FlinkBench() {}

  // --- W1: parse -> filter(id % 2 == 0) -> map(value*3+1, page+"!") -> serialize, key user_id
  static final class KeepEven implements FilterFunction<Event> {
    @Override
    public boolean filter(Event e) {
      return e.getId() % 2 == 0;
    }
  }

  static final class Transform implements MapFunction<Event, Event> {
    @Override
    public Event map(Event e) {
      return e.toBuilder().setValue(e.getValue() * 3 + 1).setPage(e.getPage() + "!").build();
    }
  }

  // --- W2: key user_id -> running count -> Count{key, count}, key user_id
  static final class UserId implements MapFunction<Event, String> {
    @Override
    public String map(Event e) {
      return e.getUserId();
    }
  }

  static final class SelfKey implements KeySelector<String, String> {
    @Override
    public String getKey(String s) {
      return s;
    }
  }

  static final class RunningCount extends KeyedProcessFunction<String, String, Count> {
    private transient ValueState<Long> count;

    @Override
    public void open(OpenContext ctx) {
      count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
    }

    @Override
    public void processElement(String key, Context ctx, Collector<Count> out) throws Exception {
      Long c = count.value();
      long n = c == null ? 1 : c + 1;
      count.update(n);
      out.collect(Count.newBuilder().setKey(key).setCount(n).build());
    }
  }

  // --- W5: sink throttled to `rate` records/s (blocks the task: backpressure)
  static final class Throttle<T> extends RichMapFunction<T, T> {
    private final double rate;
    private transient long start;
    private transient long n;

    Throttle(double rate) {
      this.rate = rate;
    }

    @Override
    public void open(OpenContext ctx) {
      start = System.nanoTime();
      n = 0;
    }

    @Override
    public T map(T t) throws Exception {
      long due = start + (long) (++n * 1e9 / rate);
      long wait = due - System.nanoTime();
      if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
      return t;
    }
  }

  // --- Kafka (de)serialization
  static final class EventDeserializer implements KafkaRecordDeserializationSchema<Event> {
    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<Event> out) throws java.io.IOException {
      out.collect(Event.parseFrom(r.value()));
    }

    @Override
    public TypeInformation<Event> getProducedType() {
      return TypeInformation.of(Event.class);
    }
  }

  static final class EventSerializer implements KafkaRecordSerializationSchema<Event> {
    private final String topic;

    EventSerializer(String topic) {
      this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Event e, KafkaSinkContext ctx, Long ts) {
      return new ProducerRecord<>(topic, e.getUserId().getBytes(StandardCharsets.UTF_8), e.toByteArray());
    }
  }

  static final class CountSerializer implements KafkaRecordSerializationSchema<Count> {
    private final String topic;

    CountSerializer(String topic) {
      this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Count c, KafkaSinkContext ctx, Long ts) {
      return new ProducerRecord<>(topic, c.getKey().getBytes(StandardCharsets.UTF_8), c.toByteArray());
    }
  }

  private static Map<String, String> parse(String[] argv) {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i < argv.length; i++) {
      String s = argv[i];
      if (!s.startsWith("--")) throw new IllegalArgumentException("unexpected argument: " + s);
      s = s.substring(2);
      int eq = s.indexOf('=');
      if (eq >= 0) a.put(s.substring(0, eq), s.substring(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) a.put(s, argv[++i]);
      else a.put(s, "true");
    }
    return a;
  }

  private static String need(Map<String, String> a, String k) {
    String v = a.get(k);
    if (v == null) throw new IllegalArgumentException("missing --" + k);
    return v;
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = parse(argv);
    String workload = need(a, "workload");
    String bootstrap = need(a, "bootstrap");
    String input = need(a, "input");
    String output = need(a, "output");
    int parallelism = Integer.parseInt(a.getOrDefault("parallelism",
        String.valueOf(Runtime.getRuntime().availableProcessors())));
    long bufferTimeout = Long.parseLong(a.getOrDefault("buffer-timeout-ms", "100"));
    boolean unbounded = Boolean.parseBoolean(a.getOrDefault("unbounded", "false"));
    double sinkRate = Double.parseDouble(a.getOrDefault("sink-rate", "0"));
    String linger = a.getOrDefault("linger-ms", "5");

    Configuration conf = new Configuration();
    conf.set(PipelineOptions.OBJECT_REUSE, true);
    conf.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(bufferTimeout));
    conf.set(ExecutionOptions.RUNTIME_MODE, RuntimeExecutionMode.STREAMING);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);

    var sourceBuilder = KafkaSource.<Event>builder()
        .setBootstrapServers(bootstrap)
        .setTopics(input)
        .setGroupId("flink-bench")
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setDeserializer(new EventDeserializer())
        .setProperty("enable.auto.commit", "false")
        .setProperty("commit.offsets.on.checkpoint", "false");
    Properties producer = new Properties();
    for (Map.Entry<String, String> kv : a.entrySet()) {
      // --consumer.X=Y / --producer.X=Y: extra Kafka client properties
      if (kv.getKey().startsWith("consumer.")) sourceBuilder.setProperty(kv.getKey().substring(9), kv.getValue());
      if (kv.getKey().startsWith("producer.")) producer.setProperty(kv.getKey().substring(9), kv.getValue());
    }
    if (!unbounded) sourceBuilder.setBounded(OffsetsInitializer.latest());
    DataStream<Event> events = env.fromSource(sourceBuilder.build(), WatermarkStrategy.noWatermarks(), "kafka-source");

    producer.putIfAbsent("acks", "all");
    producer.putIfAbsent("enable.idempotence", "true");
    producer.putIfAbsent("linger.ms", linger);
    producer.putIfAbsent("batch.size", "262144");
    producer.putIfAbsent("compression.type", "none");

    switch (workload) {
      case "W1": {
        DataStream<Event> out = events.filter(new KeepEven()).name("filter").map(new Transform()).name("map")
            .returns(TypeInformation.of(Event.class));
        if (sinkRate > 0) out = out.map(new Throttle<Event>(sinkRate)).name("throttle").returns(TypeInformation.of(Event.class));
        out.sinkTo(KafkaSink.<Event>builder()
            .setBootstrapServers(bootstrap)
            .setRecordSerializer(new EventSerializer(output))
            .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .setKafkaProducerConfig(producer)
            .build()).name("kafka-sink");
        break;
      }
      case "W2": {
        DataStream<Count> out = events.map(new UserId()).name("user_id").returns(Types.STRING)
            .keyBy(new SelfKey())
            .process(new RunningCount()).name("count").returns(TypeInformation.of(Count.class));
        if (sinkRate > 0) out = out.map(new Throttle<Count>(sinkRate)).name("throttle").returns(TypeInformation.of(Count.class));
        out.sinkTo(KafkaSink.<Count>builder()
            .setBootstrapServers(bootstrap)
            .setRecordSerializer(new CountSerializer(output))
            .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
            .setKafkaProducerConfig(producer)
            .build()).name("kafka-sink");
        break;
      }
      default:
        throw new IllegalArgumentException("--workload: expected W1 or W2, got " + workload);
    }

    long t0 = System.nanoTime();
    env.execute("flow-bench-" + workload);
    double s = (System.nanoTime() - t0) / 1e9;
    System.out.printf("{\"workload\": \"%s\", \"job_seconds\": %.3f, \"parallelism\": %d, \"buffer_timeout_ms\": %d}%n",
        workload, s, parallelism, bufferTimeout);
    System.out.flush();
    System.exit(0);
  }
}
