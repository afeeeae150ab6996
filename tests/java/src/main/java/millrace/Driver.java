package millrace;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * One scenario of the Java client tests per run:
 * {@code java -cp target/java/classes:target/java/lib/* millrace.Driver SCENARIO key=value...}.
 * The result is one JSON object on the last stdout line; a failure prints {"error": ...} and
 * exits 1. The client libraries log to stderr. A watchdog ends a scenario that overruns its
 * {@code deadline-ms}, naming what it was waiting for.
 */
public final class Driver {
    private static final long WATCHDOG_GRACE_MS = 5_000;

    private static final Map<String, Supplier<Object>> LIVE = new ConcurrentHashMap<>();

    private Driver() {}

    /** Something the scenario reports even when it fails (e.g. a member's timeline so far). */
    static void live(String name, Supplier<Object> report) {
        LIVE.put(name, report);
    }

    private static Map<String, Object> liveReports() {
        Map<String, Object> out = new LinkedHashMap<>();
        LIVE.forEach((name, report) -> {
            try {
                out.put(name, report.get());
            } catch (RuntimeException e) {
                out.put(name, "unavailable: " + e);
            }
        });
        return out;
    }

    interface Scenario {
        Map<String, Object> run(Options options) throws Exception;
    }

    private static Scenario scenario(String name) {
        return switch (name) {
            case "produce-matrix" -> ProduceMatrix::run;
            case "group-rebalance" -> GroupRebalance::run;
            case "group-static" -> GroupStatic::run;
            case "admin" -> AdminScenario::run;
            case "broker-configs" -> BrokerConfigs::run;
            case "epoch-validation" -> EpochValidation::run;
            case "word-count" -> WordCount::run;
            case "word-count-exactly-once" -> WordCount::runExactlyOnce;
            case "jepsen-producer" -> JepsenProducer::run;
            case "jepsen-consumer" -> JepsenConsumer::run;
            default -> throw new IllegalArgumentException("unknown scenario " + name);
        };
    }

    public static void main(String[] args) {
        int code = 0;
        Map<String, Object> result;
        try {
            if (args.length == 0) throw new IllegalArgumentException("usage: Driver SCENARIO key=value...");
            Options options = Options.parse(args, 1);
            startWatchdog(options.deadline());
            result = scenario(args[0]).run(options);
        } catch (Throwable failure) {
            result = new LinkedHashMap<>();
            result.put("error", describe(failure));
            result.put("partial", liveReports());
            code = 1;
        }
        System.out.println(Json.write(result));
        System.out.flush();
        // Client threads (a streams app's, a consumer's heartbeat) must not keep the JVM alive.
        Runtime.getRuntime().halt(code);
    }

    /** The failure's class, message, causes' messages and stack trace. */
    static Map<String, Object> describe(Throwable failure) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("class", failure.getClass().getName());
        error.put("message", String.valueOf(failure.getMessage()));
        StringBuilder causes = new StringBuilder();
        for (Throwable cause = failure.getCause(); cause != null; cause = cause.getCause()) {
            causes.append(cause.getClass().getName()).append(": ").append(cause.getMessage()).append('\n');
        }
        error.put("causes", causes.toString());
        StringWriter trace = new StringWriter();
        failure.printStackTrace(new PrintWriter(trace));
        error.put("trace", trace.toString());
        return error;
    }

    private static void startWatchdog(Deadline deadline) {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(deadline.remainingMs() + WATCHDOG_GRACE_MS);
            } catch (InterruptedException stopped) {
                return;
            }
            Map<String, Object> result = new LinkedHashMap<>();
            Map<String, Object> error = new LinkedHashMap<>();
            error.put("class", "watchdog");
            error.put("message", "scenario overran its deadline while waiting for: " + Deadline.waitingFor());
            result.put("error", error);
            result.put("partial", liveReports());
            System.out.println(Json.write(result));
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }
}
