package millrace;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A scenario's key=value arguments. */
final class Options {
    private static final long DEFAULT_DEADLINE_MS = 60_000;
    private final Map<String, String> values = new HashMap<>();
    private Deadline deadline;

    static Options parse(String[] args, int from) {
        Options options = new Options();
        for (int i = from; i < args.length; i++) {
            int equals = args[i].indexOf('=');
            if (equals <= 0) throw new IllegalArgumentException("expected key=value, got " + args[i]);
            options.values.put(args[i].substring(0, equals), args[i].substring(equals + 1));
        }
        return options;
    }

    String get(String key) {
        String value = values.get(key);
        if (value == null) throw new IllegalArgumentException("missing option " + key);
        return value;
    }

    String get(String key, String fallback) {
        return values.getOrDefault(key, fallback);
    }

    int integer(String key, int fallback) {
        return values.containsKey(key) ? Integer.parseInt(values.get(key)) : fallback;
    }

    /** A comma-separated list; empty when the key is absent. */
    List<String> list(String key) {
        List<String> out = new ArrayList<>();
        String value = values.get(key);
        if (value != null && !value.isEmpty()) {
            for (String item : value.split(",")) out.add(item);
        }
        return out;
    }

    String bootstrap() {
        return get("bootstrap");
    }

    synchronized Deadline deadline() {
        if (deadline == null) {
            deadline = new Deadline(integer("deadline-ms", (int) DEFAULT_DEADLINE_MS));
        }
        return deadline;
    }
}
