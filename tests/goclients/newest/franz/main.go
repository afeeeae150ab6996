// Command franz-check drives franz-go (kgo and kadm, the newest from the module
// proxy) against a broker and prints one JSON object with what it saw; the
// pytest side asserts on it. franz-go validates versions, tagged fields and
// error codes strictly, so any complaint it has is a broker bug.
// Scenarios: produce (produce, then read every record back directly), group
// (two members, a leave, partitions moving, commits, a resuming member),
// static (members with an InstanceID restart without a rebalance), admin (kadm),
// epochs (positions with a leader epoch validated, truncation detected).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// clientTimeout bounds every request so a broker bug fails fast.
const clientTimeout = 5 * time.Second

// scenarioDeadline bounds a whole scenario; the pytest side only catches hangs.
const scenarioDeadline = 45 * time.Second

// baseTimestampMs is record 0's timestamp; record i has baseTimestampMs+i, so a
// reader can check timestamps exactly and ListOffsets by timestamp has targets.
const baseTimestampMs = 1_700_000_000_000

type options struct {
	bootstrap   string
	scenario    string
	topic       string
	group       string
	compression string
	acks        string
	idempotent  bool
	balancer    string
	consume     string
	partitions  int
	count       int
}

func parseOptions() options {
	var o options
	flag.StringVar(&o.bootstrap, "bootstrap", "127.0.0.1:9092", "broker host:port")
	flag.StringVar(&o.scenario, "scenario", "produce", "produce | group | static | admin | epochs | brokers")
	flag.StringVar(&o.topic, "topic", "", "topic name")
	flag.StringVar(&o.group, "group", "", "consumer group id")
	flag.StringVar(&o.compression, "compression", "none", "none | gzip | snappy | lz4 | zstd")
	flag.StringVar(&o.acks, "acks", "all", "all | leader | none (leader and none need -idempotent=false)")
	flag.BoolVar(&o.idempotent, "idempotent", true, "idempotent producer (kgo's default)")
	flag.StringVar(&o.balancer, "balancer", "cooperative-sticky", "group balancer: cooperative-sticky | range")
	flag.StringVar(&o.consume, "consume", "partitions", "direct consumer: partitions (ConsumePartitions) | topics (ConsumeTopics)")
	flag.IntVar(&o.partitions, "partitions", 1, "partitions of the topic (the test creates it)")
	flag.IntVar(&o.count, "count", 100, "records to produce")
	flag.Parse()
	return o
}

func main() {
	o := parseOptions()
	result := map[string]any{"scenario": o.scenario}
	ctx, cancel := context.WithTimeout(context.Background(), scenarioDeadline)
	defer cancel()
	var err error
	switch o.scenario {
	case "produce":
		err = runProduce(ctx, o, result)
	case "group":
		err = runGroup(ctx, o, result)
	case "static":
		err = runStatic(ctx, o, result)
	case "admin":
		err = runAdmin(ctx, o, result)
	case "epochs":
		err = runEpochs(ctx, o, result)
	case "brokers":
		err = runBrokers(ctx, o, result)
	default:
		err = fmt.Errorf("unknown scenario %q", o.scenario)
	}
	if err != nil {
		result["error"] = err.Error()
	}
	result["client_warnings"] = warnings.lines()
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}

// clientOptions are the options every client of every scenario shares.
func clientOptions(o options, more ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.bootstrap),
		kgo.ClientID("franz-check"),
		kgo.DialTimeout(clientTimeout),
		kgo.RequestTimeoutOverhead(clientTimeout),
		kgo.RetryTimeout(clientTimeout),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.WithLogger(warnings),
	}
	return append(opts, more...)
}

// warnings collects what every client logs at warn level or above: franz-go
// logs there what it finds wrong in a response it can still use or retry.
var warnings = &warnLog{}

type warnLog struct {
	mu      sync.Mutex
	entries []string
}

func (w *warnLog) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (w *warnLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entries = append(w.entries, fmt.Sprintf("%s %s %v", level, msg, keyvals))
}

func (w *warnLog) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string{}, w.entries...)
}

// Record i: its key, value, header and timestamp name it, so every reader checks
// content exactly; it goes to partition i % partitions (ManualPartitioner).
func recordKey(i int) string   { return fmt.Sprintf("key-%d", i) }
func recordValue(i int) string { return fmt.Sprintf("value-%d-%s", i, strings.Repeat("z", i%64)) }

func newRecord(o options, i int) *kgo.Record {
	return &kgo.Record{
		Topic:     o.topic,
		Partition: int32(i % o.partitions),
		Key:       []byte(recordKey(i)),
		Value:     []byte(recordValue(i)),
		Headers:   []kgo.RecordHeader{{Key: "index", Value: []byte(strconv.Itoa(i))}},
		Timestamp: time.UnixMilli(baseTimestampMs + int64(i)),
	}
}

// recordIndex is the i a fetched record claims to be (from its key), or -1.
func recordIndex(r *kgo.Record) int {
	i, err := strconv.Atoi(strings.TrimPrefix(string(r.Key), "key-"))
	if err != nil || !strings.HasPrefix(string(r.Key), "key-") {
		return -1
	}
	return i
}

// contentProblem says what differs between a fetched record and record i, or "".
func contentProblem(r *kgo.Record, i int) string {
	switch {
	case string(r.Key) != recordKey(i) || string(r.Value) != recordValue(i):
		return fmt.Sprintf("p%d@%d: key/value of record %d differ", r.Partition, r.Offset, i)
	case len(r.Headers) != 1 || r.Headers[0].Key != "index" || string(r.Headers[0].Value) != strconv.Itoa(i):
		return fmt.Sprintf("p%d@%d: headers %v, want index=%d", r.Partition, r.Offset, r.Headers, i)
	case r.Timestamp.UnixMilli() != baseTimestampMs+int64(i):
		return fmt.Sprintf("p%d@%d: timestamp %d, want %d", r.Partition, r.Offset, r.Timestamp.UnixMilli(), baseTimestampMs+int64(i))
	}
	return ""
}
