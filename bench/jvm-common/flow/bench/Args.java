package flow.bench;

import java.util.HashMap;
import java.util.Map;

/**
 * Command line of the Java benchmark jobs: `--key value`, `--key=value`, or
 * `--flag` (= "true").
 */
final class Args {
  private final Map<String, String> values = new HashMap<>();

  Args(String[] argv) {
    for (int i = 0; i < argv.length; i++) {
      String s = argv[i];
      if (!s.startsWith("--")) throw new IllegalArgumentException("unexpected argument: " + s);
      s = s.substring(2);
      int eq = s.indexOf('=');
      if (eq >= 0) values.put(s.substring(0, eq), s.substring(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) values.put(s, argv[++i]);
      else values.put(s, "true");
    }
  }

  /** The value of --key; IllegalArgumentException naming it if absent. */
  String need(String key) {
    String v = values.get(key);
    if (v == null) throw new IllegalArgumentException("missing --" + key);
    return v;
  }

  String get(String key, String fallback) {
    return values.getOrDefault(key, fallback);
  }

  /** key (without the prefix) -> value of every --PREFIXkey. */
  Map<String, String> withPrefix(String prefix) {
    Map<String, String> out = new HashMap<>();
    for (Map.Entry<String, String> kv : values.entrySet()) {
      if (kv.getKey().startsWith(prefix)) out.put(kv.getKey().substring(prefix.length()), kv.getValue());
    }
    return out;
  }
}
