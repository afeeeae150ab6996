// Command sarama-check drives the Debian-packaged Sarama client (1.22) against a
// broker and prints one JSON object with what it saw; the pytest side asserts on it.
// Scenarios: admin (topic lifecycle), produce (produce then read every message
// back), group (two-member consumer group, commit, resume). The same sources,
// built against the newest Sarama (sarama-newest-check), add the scenarios of
// the files tagged newest.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

// newestScenarios are the scenarios only the newest Sarama can run (files with the
// build tag newest; tests/goclients/build.sh newest builds them).
var newestScenarios = map[string]func(options, *sarama.Config, map[string]interface{}) error{}

// clientTimeout bounds every network wait so a broker bug fails fast.
const clientTimeout = 5 * time.Second

type options struct {
	bootstrap   string
	scenario    string
	topic       string
	group       string
	version     string
	compression string
	idempotent  bool
	partitions  int
	count       int
	resumeCount int
	strategy    string
}

func parseOptions() options {
	var o options
	flag.StringVar(&o.bootstrap, "bootstrap", "127.0.0.1:9092", "broker host:port")
	flag.StringVar(&o.scenario, "scenario", "produce", "admin | produce | group")
	flag.StringVar(&o.topic, "topic", "", "topic name")
	flag.StringVar(&o.group, "group", "", "consumer group id (group scenario)")
	flag.StringVar(&o.version, "version", "newest", "Kafka version for config.Version: newest, default, or x.y.z")
	flag.StringVar(&o.compression, "compression", "none", "none | gzip | snappy | lz4 | zstd")
	flag.BoolVar(&o.idempotent, "idempotent", false, "Producer.Idempotent")
	flag.IntVar(&o.partitions, "partitions", 1, "partitions of the topic")
	flag.IntVar(&o.count, "count", 100, "messages to produce")
	flag.IntVar(&o.resumeCount, "resume-count", 20, "messages produced for the resuming member (group scenario)")
	flag.StringVar(&o.strategy, "strategy", "range", "group balance strategy: range | roundrobin")
	flag.Parse()
	return o
}

// newConfig builds a Sarama config with short, explicit timeouts.
func newConfig(o options) (*sarama.Config, error) {
	config := sarama.NewConfig()
	config.ClientID = "sarama-check"
	switch o.version {
	case "default":
	case "newest":
		config.Version = sarama.MaxVersion
	default:
		version, err := sarama.ParseKafkaVersion(o.version)
		if err != nil {
			return nil, err
		}
		config.Version = version
	}
	config.Net.DialTimeout = clientTimeout
	config.Net.ReadTimeout = clientTimeout
	config.Net.WriteTimeout = clientTimeout
	config.Metadata.Retry.Max = 3
	config.Metadata.Retry.Backoff = 100 * time.Millisecond
	config.Admin.Timeout = clientTimeout
	config.Producer.Timeout = clientTimeout
	config.Producer.Retry.Max = 3
	config.Producer.Retry.Backoff = 100 * time.Millisecond
	config.Producer.Return.Successes = true
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Consumer.Return.Errors = true
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	codec, err := compressionCodec(o.compression)
	if err != nil {
		return nil, err
	}
	config.Producer.Compression = codec
	if o.idempotent {
		config.Producer.Idempotent = true
		config.Net.MaxOpenRequests = 1
	}
	return config, config.Validate()
}

func compressionCodec(name string) (sarama.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return sarama.CompressionNone, nil
	case "gzip":
		return sarama.CompressionGZIP, nil
	case "snappy":
		return sarama.CompressionSnappy, nil
	case "lz4":
		return sarama.CompressionLZ4, nil
	case "zstd":
		return sarama.CompressionZSTD, nil
	}
	return sarama.CompressionNone, fmt.Errorf("unknown compression %q", name)
}

func main() {
	o := parseOptions()
	result := map[string]interface{}{"scenario": o.scenario}
	config, err := newConfig(o)
	if err == nil {
		result["version"] = config.Version.String()
		switch o.scenario {
		case "admin":
			err = runAdmin(o, config, result)
		case "produce":
			err = runProduce(o, config, result)
		case "group":
			err = runGroup(o, config, result)
		default:
			if run, ok := newestScenarios[o.scenario]; ok {
				err = run(o, config, result)
			} else {
				err = fmt.Errorf("unknown scenario %q", o.scenario)
			}
		}
	}
	if err != nil {
		result["error"] = err.Error()
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}

// messageKey and messageValue name message i so the reader can check content.
func messageKey(i int) string   { return fmt.Sprintf("key-%d", i) }
func messageValue(i int) string { return fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%50)) }
