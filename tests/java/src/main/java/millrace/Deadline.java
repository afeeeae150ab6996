package millrace;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/** The scenario's time budget; every wait is bounded by it and says what it waited for. */
final class Deadline {
    private static final long POLL_INTERVAL_MS = 20;
    private static volatile String waitingFor = "(start-up)";
    private final long endNanos;

    Deadline(long budgetMs) {
        endNanos = System.nanoTime() + budgetMs * 1_000_000L;
    }

    long remainingMs() {
        return Math.max(0, (endNanos - System.nanoTime()) / 1_000_000L);
    }

    Duration remaining() {
        return Duration.ofMillis(remainingMs());
    }

    static String waitingFor() {
        return waitingFor;
    }

    /** Marks what the scenario is doing now (the watchdog names it if the deadline passes). */
    static void step(String what) {
        waitingFor = what;
    }

    /** Polls `condition` until it holds; throws naming `what` when the deadline passes. */
    void await(String what, BooleanSupplier condition) throws TimeoutException, InterruptedException {
        step(what);
        while (!condition.getAsBoolean()) {
            if (remainingMs() == 0) throw new TimeoutException("deadline passed waiting for " + what);
            Thread.sleep(POLL_INTERVAL_MS);
        }
    }
}
