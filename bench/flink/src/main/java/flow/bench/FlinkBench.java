package flow.bench;

import flow.bench.proto.AdEvent;
import flow.bench.proto.CampaignWindowCount;
import flow.bench.proto.Count;
import flow.bench.proto.Event;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.flink.util.function.SerializableFunction;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The Flink side of libflow's Kafka benchmarks (bench/README.md): same records
 * (bench/proto/bench.proto), same logic as the reference in
 * bench/tools/bench_common.hpp.
 *
 * <pre>
 * FlinkBench --workload W1|W2|W3 --bootstrap HOST:PORT --input TOPIC --output TOPIC
 *            [--parallelism N] [--buffer-timeout-ms 100] [--unbounded]
 *            [--sink-rate R] [--linger-ms 5] [--campaigns 100]
 *            [--checkpoint-interval-ms MS --checkpoint-dir DIR] [--exactly-once]
 * </pre>
 *
 * Bounded (default): the KafkaSource stops at the end offsets the input had at
 * start, so the job ends by itself. --unbounded runs until the process is
 * killed (W4, W5). --sink-rate throttles the records handed to the sink to R
 * per second (W5; W1, W2 only). --campaigns sets the size of W3's static
 * ad -> campaign table (campaigns*10 ads). --checkpoint-interval-ms takes
 * aligned checkpoints of heap (hashmap) state into --checkpoint-dir;
 * --exactly-once makes the sink transactional (committed per checkpoint).
 * Prints one JSON line when a bounded job ends.
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

  // --- W3 (Yahoo Streaming Benchmark): event time with per-partition watermarks
  // (500 ms bounded out-of-orderness) -> filter(event_type == "view") -> join
  // ad_id with a static ad -> campaign table -> key campaign -> 10 s tumbling
  // event-time window count -> CampaignWindowCount{campaign, window start, count},
  // key campaign_id
  static final class KeepViews implements FilterFunction<AdEvent> {
    @Override
    public boolean filter(AdEvent e) {
      return e.getEventType().equals("view");
    }
  }

  /** ad_id -> (campaign_id, event_time_ms); ads not in the table are dropped. */
  static final class JoinCampaign extends RichFlatMapFunction<AdEvent, Tuple2<String, Long>> {
    private final int campaigns;
    private transient Map<String, String> campaignOfAd;

    JoinCampaign(int campaigns) {
      this.campaigns = campaigns;
    }

    @Override
    public void open(OpenContext ctx) {
      // ad "ad-<a>" belongs to "campaign-<a/10>" (bench_common.hpp ysb_campaign_of_ad)
      campaignOfAd = new HashMap<>();
      for (int ad = 0; ad < campaigns * 10; ad++) campaignOfAd.put("ad-" + ad, "campaign-" + ad / 10);
    }

    @Override
    public void flatMap(AdEvent e, Collector<Tuple2<String, Long>> out) {
      String campaign = campaignOfAd.get(e.getAdId());
      if (campaign != null) out.collect(Tuple2.of(campaign, e.getEventTimeMs()));
    }
  }

  static final class CampaignKey implements KeySelector<Tuple2<String, Long>, String> {
    @Override
    public String getKey(Tuple2<String, Long> t) {
      return t.f0;
    }
  }

  static final class CountAgg implements AggregateFunction<Tuple2<String, Long>, Long, Long> {
    @Override
    public Long createAccumulator() {
      return 0L;
    }

    @Override
    public Long add(Tuple2<String, Long> t, Long acc) {
      return acc + 1;
    }

    @Override
    public Long getResult(Long acc) {
      return acc;
    }

    @Override
    public Long merge(Long a, Long b) {
      return a + b;
    }
  }

  static final class EmitWindowCount extends ProcessWindowFunction<Long, CampaignWindowCount, String, TimeWindow> {
    @Override
    public void process(String campaign, Context ctx, Iterable<Long> counts, Collector<CampaignWindowCount> out) {
      long n = counts.iterator().next();
      out.collect(CampaignWindowCount.newBuilder()
          .setCampaignId(campaign).setWindowStartMs(ctx.window().getStart()).setCount(n).build());
    }
  }

  // --- W5: sink throttled to `rate` records/s (blocks the task: backpressure)
  static final class Throttle<T> extends RichMapFunction<T, T> {
    private final double rate;
    private transient Pacer pacer;

    Throttle(double rate) {
      this.rate = rate;
    }

    @Override
    public void open(OpenContext ctx) {
      pacer = new Pacer(rate);
    }

    @Override
    public T map(T t) throws Exception {
      pacer.acquire();
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

  static final class AdEventDeserializer implements KafkaRecordDeserializationSchema<AdEvent> {
    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<AdEvent> out) throws java.io.IOException {
      out.collect(AdEvent.parseFrom(r.value()));
    }

    @Override
    public TypeInformation<AdEvent> getProducedType() {
      return TypeInformation.of(AdEvent.class);
    }
  }

  /** Value = the Protobuf message, key = `key` of it (UTF-8). */
  static final class KeyedProtoSerializer<T extends com.google.protobuf.MessageLite>
      implements KafkaRecordSerializationSchema<T> {
    private final String topic;
    private final SerializableFunction<T, String> key;

    KeyedProtoSerializer(String topic, SerializableFunction<T, String> key) {
      this.topic = topic;
      this.key = key;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(T m, KafkaSinkContext ctx, Long ts) {
      return new ProducerRecord<>(topic, key.apply(m).getBytes(StandardCharsets.UTF_8), m.toByteArray());
    }
  }

  /** Kafka sink with the benchmark's producer settings: at-least-once, or
   *  exactly-once (Kafka transactions committed on checkpoint completion)
   *  when `transactionalIdPrefix` is given. */
  private static <T> KafkaSink<T> sink(String bootstrap, Properties producer,
                                       KafkaRecordSerializationSchema<T> serializer,
                                       String transactionalIdPrefix) {
    var builder = KafkaSink.<T>builder()
        .setBootstrapServers(bootstrap)
        .setRecordSerializer(serializer)
        .setKafkaProducerConfig(producer);
    if (transactionalIdPrefix == null) return builder.setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE).build();
    return builder.setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(transactionalIdPrefix).build();
  }

  /** Reads `input` from the earliest offsets; bounded at the latest ones unless `unbounded`. */
  private static <T> KafkaSource<T> source(String bootstrap, String input, boolean unbounded, Properties consumer,
                                           KafkaRecordDeserializationSchema<T> deserializer) {
    var builder = KafkaSource.<T>builder()
        .setBootstrapServers(bootstrap)
        .setTopics(input)
        .setGroupId("flink-bench")
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setDeserializer(deserializer)
        .setProperty("enable.auto.commit", "false")
        .setProperty("commit.offsets.on.checkpoint", "false")
        .setProperties(consumer);
    if (!unbounded) builder.setBounded(OffsetsInitializer.latest());
    return builder.build();
  }

  public static void main(String[] argv) throws Exception {
    Args a = new Args(argv);
    String workload = a.need("workload");
    String bootstrap = a.need("bootstrap");
    String input = a.need("input");
    String output = a.need("output");
    int parallelism = Integer.parseInt(a.get("parallelism",
        String.valueOf(Runtime.getRuntime().availableProcessors())));
    long bufferTimeout = Long.parseLong(a.get("buffer-timeout-ms", "100"));
    boolean unbounded = Boolean.parseBoolean(a.get("unbounded", "false"));
    double sinkRate = Double.parseDouble(a.get("sink-rate", "0"));
    String linger = a.get("linger-ms", "5");
    int campaigns = Integer.parseInt(a.get("campaigns", "100"));
    if (campaigns <= 0) throw new IllegalArgumentException("--campaigns: expected > 0, got " + campaigns);
    long checkpointMs = Long.parseLong(a.get("checkpoint-interval-ms", "0"));
    boolean exactlyOnce = Boolean.parseBoolean(a.get("exactly-once", "false"));
    if (exactlyOnce && checkpointMs <= 0)
      throw new IllegalArgumentException("--exactly-once needs --checkpoint-interval-ms > 0");

    Configuration conf = new Configuration();
    conf.set(PipelineOptions.OBJECT_REUSE, true);
    conf.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(bufferTimeout));
    conf.set(ExecutionOptions.RUNTIME_MODE, RuntimeExecutionMode.STREAMING);
    if (checkpointMs > 0) {
      // Aligned checkpoints (the default mode) of heap state (hashmap) to
      // files; log4j2.properties logs each completed one for bench/run.
      conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(checkpointMs));
      conf.set(StateBackendOptions.STATE_BACKEND, "hashmap");
      conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
      conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, "file://" + a.need("checkpoint-dir"));
    }
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, conf);

    // --consumer.X=Y / --producer.X=Y: extra Kafka client properties
    Properties consumer = new Properties();
    consumer.putAll(a.withPrefix("consumer."));
    Properties producer = new Properties();
    producer.putAll(a.withPrefix("producer."));

    producer.putIfAbsent("acks", "all");
    producer.putIfAbsent("enable.idempotence", "true");
    producer.putIfAbsent("linger.ms", linger);
    producer.putIfAbsent("batch.size", "262144");
    producer.putIfAbsent("compression.type", "none");
    // Under the broker's transaction.max.timeout.ms (15 min); Flink's own
    // default (1 h) is refused.
    if (exactlyOnce) producer.putIfAbsent("transaction.timeout.ms", "600000");
    String txPrefix = exactlyOnce ? "flow-bench-" + output : null;
    // Exactly-once reads committed input only, as libflow's does.
    if (exactlyOnce) consumer.putIfAbsent("isolation.level", "read_committed");

    switch (workload) {
      case "W1": {
        DataStream<Event> events = env.fromSource(source(bootstrap, input, unbounded, consumer, new EventDeserializer()),
            WatermarkStrategy.noWatermarks(), "kafka-source");
        DataStream<Event> out = events.filter(new KeepEven()).name("filter").map(new Transform()).name("map")
            .returns(TypeInformation.of(Event.class));
        if (sinkRate > 0) out = out.map(new Throttle<Event>(sinkRate)).name("throttle").returns(TypeInformation.of(Event.class));
        out.sinkTo(sink(bootstrap, producer, new KeyedProtoSerializer<Event>(output, Event::getUserId), txPrefix))
            .name("kafka-sink");
        break;
      }
      case "W2": {
        DataStream<Event> events = env.fromSource(source(bootstrap, input, unbounded, consumer, new EventDeserializer()),
            WatermarkStrategy.noWatermarks(), "kafka-source");
        DataStream<Count> out = events.map(new UserId()).name("user_id").returns(Types.STRING)
            .keyBy(new SelfKey())
            .process(new RunningCount()).name("count").returns(TypeInformation.of(Count.class));
        if (sinkRate > 0) out = out.map(new Throttle<Count>(sinkRate)).name("throttle").returns(TypeInformation.of(Count.class));
        out.sinkTo(sink(bootstrap, producer, new KeyedProtoSerializer<Count>(output, Count::getKey), txPrefix))
            .name("kafka-sink");
        break;
      }
      case "W3": {
        // watermarks on the source: Flink tracks them per Kafka partition (split)
        DataStream<AdEvent> ads = env.fromSource(source(bootstrap, input, unbounded, consumer, new AdEventDeserializer()),
            WatermarkStrategy.<AdEvent>forBoundedOutOfOrderness(Duration.ofMillis(500))
                .withTimestampAssigner((e, ts) -> e.getEventTimeMs()),
            "kafka-source");
        DataStream<CampaignWindowCount> out = ads.filter(new KeepViews()).name("filter")
            .flatMap(new JoinCampaign(campaigns)).name("join").returns(Types.TUPLE(Types.STRING, Types.LONG))
            .keyBy(new CampaignKey())
            .window(TumblingEventTimeWindows.of(Duration.ofSeconds(10)))
            .aggregate(new CountAgg(), new EmitWindowCount(),
                Types.LONG, Types.LONG, TypeInformation.of(CampaignWindowCount.class))
            .name("window-count");
        out.sinkTo(sink(bootstrap, producer, new KeyedProtoSerializer<CampaignWindowCount>(output, CampaignWindowCount::getCampaignId), txPrefix))
            .name("kafka-sink");
        break;
      }
      default:
        throw new IllegalArgumentException("--workload: expected W1, W2 or W3, got " + workload);
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
