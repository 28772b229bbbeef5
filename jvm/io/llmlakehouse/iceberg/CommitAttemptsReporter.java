package io.llmlakehouse.iceberg;

import java.util.ArrayList;
import java.util.List;
import org.apache.iceberg.metrics.CommitReport;
import org.apache.iceberg.metrics.CounterResult;
import org.apache.iceberg.metrics.MetricsReport;
import org.apache.iceberg.metrics.MetricsReporter;

/**
 * Iceberg's metrics reporter for the lakehouse catalog (catalog property {@code metrics-reporter-impl}): keeps
 * each commit's table, snapshot and number of attempts in the driver JVM, where the job reads them through
 * py4j ({@link #drain()}) into {@code ops.run_audit}. An attempt count above one is Iceberg's optimistic
 * concurrency at work: another writer committed to the table first, and this commit was re-applied on top.
 */
public class CommitAttemptsReporter implements MetricsReporter {
  private static final List<String> COMMITS = new ArrayList<>();

  @Override
  public void report(MetricsReport report) {
    if (!(report instanceof CommitReport)) {
      return;
    }
    CommitReport commit = (CommitReport) report;
    CounterResult attempts = commit.commitMetrics().attempts();
    String json =
        String.format(
            "{\"table\":\"%s\",\"snapshot_id\":%d,\"operation\":\"%s\",\"attempts\":%d}",
            escape(commit.tableName()),
            commit.snapshotId(),
            escape(commit.operation()),
            attempts == null ? 1 : attempts.value());
    synchronized (COMMITS) {
      COMMITS.add(json);
    }
  }

  /** The commits reported since the last call, as a JSON array; forgets them. */
  public static String drain() {
    synchronized (COMMITS) {
      String out = "[" + String.join(",", COMMITS) + "]";
      COMMITS.clear();
      return out;
    }
  }

  private static String escape(String s) {
    return s == null ? "" : s.replace("\\", "\\\\").replace("\"", "\\\"");
  }
}
