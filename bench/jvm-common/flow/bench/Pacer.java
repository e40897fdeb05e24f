package flow.bench;

/**
 * The W5 slow sink: acquire() returns no earlier than the n-th record's due
 * time, n / rate seconds after the first record. It sleeps on the calling
 * (task or stream) thread, so the job's source stops once its buffers are
 * full: backpressure, not buffering. Thread-safe: one rate over all callers.
 */
final class Pacer {
  private final double rate;
  private long startNanos;
  private long n;

  /** @param rate records per second, > 0 */
  Pacer(double rate) {
    if (!(rate > 0)) throw new IllegalArgumentException("--sink-rate: expected > 0, got " + rate);
    this.rate = rate;
  }

  synchronized void acquire() throws InterruptedException {
    if (n == 0) startNanos = System.nanoTime();
    long due = startNanos + (long) (++n * 1e9 / rate);
    long wait = due - System.nanoTime();
    if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
  }
}
