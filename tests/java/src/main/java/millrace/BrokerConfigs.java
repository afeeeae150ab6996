package millrace;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.common.config.ConfigResource;

/**
 * AdminClient.describeConfigs of one BROKER resource ({@code broker=ID}) with synonyms and
 * documentation: each entry's value, source, type, read-only and sensitive flags, synonyms
 * and whether it has documentation, so a test can hold millrace's answer against Kafka's.
 */
final class BrokerConfigs {
    private BrokerConfigs() {}

    static Map<String, Object> run(Options options) throws Exception {
        ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, options.get("broker"));
        DescribeConfigsOptions describe = new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true);
        Map<String, Object> entries = new TreeMap<>();
        try (Admin admin = Admin.create(Clients.admin(options.bootstrap()))) {
            Deadline.step("describeConfigs broker " + broker.name());
            Config config = admin.describeConfigs(List.of(broker), describe).all().get().get(broker);
            for (ConfigEntry entry : config.entries()) {
                List<Object> synonyms = new ArrayList<>();
                for (ConfigEntry.ConfigSynonym synonym : entry.synonyms()) {
                    synonyms.add(List.of(synonym.name(), String.valueOf(synonym.value()), synonym.source().toString()));
                }
                Map<String, Object> described = new LinkedHashMap<>();
                described.put("value", entry.value());
                described.put("source", entry.source().toString());
                described.put("type", entry.type().toString());
                described.put("readOnly", entry.isReadOnly());
                described.put("sensitive", entry.isSensitive());
                described.put("documented", entry.documentation() != null && !entry.documentation().isEmpty());
                described.put("synonyms", synonyms);
                entries.put(entry.name(), described);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("configs", entries);
        return out;
    }
}
