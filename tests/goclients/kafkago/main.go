// Command kafka-go-check drives the Debian-packaged segmentio/kafka-go client
// (0.2.1) against a broker and prints one JSON object with what it saw.
// Scenarios: conn (CreateTopics, ReadPartitions, DeleteTopics on a Conn) and
// roundtrip (Writer with acks=all and a codec, then a Reader with a GroupID).
// The same sources, built against the newest kafka-go (kafka-go-newest-check),
// add the scenarios of the files tagged newest.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

// newestScenarios are the scenarios only the newest kafka-go can run (files with
// the build tag newest; tests/goclients/build.sh newest builds them).
var newestScenarios = map[string]func(options, map[string]interface{}) error{}

// clientTimeout bounds every network wait so a broker bug fails fast.
const clientTimeout = 5 * time.Second

// readDeadline bounds reading back everything written.
const readDeadline = 15 * time.Second

type options struct {
	bootstrap   string
	scenario    string
	topic       string
	group       string
	compression string
	partitions  int
	count       int
	runMs       int
}

func parseOptions() options {
	var o options
	flag.StringVar(&o.bootstrap, "bootstrap", "127.0.0.1:9092", "broker host:port")
	flag.StringVar(&o.scenario, "scenario", "conn", "conn | roundtrip | join")
	flag.StringVar(&o.topic, "topic", "", "topic name")
	flag.StringVar(&o.group, "group", "", "Reader GroupID (roundtrip)")
	flag.StringVar(&o.compression, "compression", "none", "none | gzip | snappy | lz4 (| zstd: newest)")
	flag.IntVar(&o.partitions, "partitions", 1, "partitions of the topic")
	flag.IntVar(&o.count, "count", 100, "messages to write")
	flag.IntVar(&o.runMs, "run-ms", 5000, "how long the join scenario's Reader stays in the group")
	flag.Parse()
	return o
}

func main() {
	o := parseOptions()
	result := map[string]interface{}{"scenario": o.scenario}
	var err error
	switch o.scenario {
	case "conn":
		err = runConn(o, result)
	case "roundtrip":
		err = runRoundtrip(o, result)
	case "join":
		err = runJoin(o, result)
	default:
		if run, ok := newestScenarios[o.scenario]; ok {
			err = run(o, result)
		} else {
			err = fmt.Errorf("unknown scenario %q", o.scenario)
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

func messageKey(i int) string   { return fmt.Sprintf("key-%d", i) }
func messageValue(i int) string { return fmt.Sprintf("value-%d-%s", i, strings.Repeat("y", i%50)) }

func dial(o options) (*kafka.Conn, error) {
	dialer := &kafka.Dialer{Timeout: clientTimeout, ClientID: "kafka-go-check"}
	conn, err := dialer.Dial("tcp", o.bootstrap)
	if err != nil {
		return nil, fmt.Errorf("dial: %v", err)
	}
	conn.SetDeadline(time.Now().Add(clientTimeout))
	return conn, nil
}

func partitionIDs(conn *kafka.Conn, topic string) ([]int, error) {
	partitions, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, p := range partitions {
		if p.Topic == topic {
			ids = append(ids, p.ID)
		}
	}
	sort.Ints(ids)
	return ids, nil
}

// runConn creates o.topic, reads its partitions, creates it again (an error)
// and deletes it, all on one Conn.
func runConn(o options, result map[string]interface{}) error {
	conn, err := dial(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	topic := kafka.TopicConfig{Topic: o.topic, NumPartitions: o.partitions, ReplicationFactor: 1}
	if err := conn.CreateTopics(topic); err != nil {
		return fmt.Errorf("create topics: %v", err)
	}
	result["create_again_error"] = fmt.Sprint(conn.CreateTopics(topic))
	ids, err := partitionIDs(conn, o.topic)
	if err != nil {
		return fmt.Errorf("read partitions: %v", err)
	}
	result["partitions"] = ids
	if err := conn.DeleteTopics(o.topic); err != nil {
		return fmt.Errorf("delete topics: %v", err)
	}
	result["deleted"] = true
	return nil
}

func codec(name string) (kafka.CompressionCodec, error) {
	switch name {
	case "none", "":
		return nil, nil
	case "gzip":
		return gzip.NewCompressionCodec(), nil
	case "snappy":
		return snappy.NewCompressionCodec(), nil
	case "lz4":
		return lz4.NewCompressionCodec(), nil
	}
	return nil, fmt.Errorf("unknown compression %q", name)
}

// runRoundtrip writes o.count keyed messages with a Writer (acks=all), then
// reads them with a group Reader, committing, and checks each arrived once,
// intact and in partition order.
func runRoundtrip(o options, result map[string]interface{}) error {
	compression, err := codec(o.compression)
	if err != nil {
		return err
	}
	writer := kafka.NewWriter(kafka.WriterConfig{
		Brokers:          []string{o.bootstrap},
		Topic:            o.topic,
		Balancer:         &kafka.Hash{},
		RequiredAcks:     -1,
		MaxAttempts:      3,
		BatchSize:        50,
		BatchTimeout:     10 * time.Millisecond,
		ReadTimeout:      clientTimeout,
		WriteTimeout:     clientTimeout,
		CompressionCodec: compression,
	})
	return writeAndReadBack(o, writer, result)
}

// messageWriter is what both Writers (WriterConfig's and the newest's struct) offer.
type messageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// writeAndReadBack writes o.count keyed messages, closes the writer, and reads
// them back with a group Reader (readGroup).
func writeAndReadBack(o options, writer messageWriter, result map[string]interface{}) error {
	var msgs []kafka.Message
	for i := 0; i < o.count; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(messageKey(i)), Value: []byte(messageValue(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), readDeadline)
	defer cancel()
	err := writer.WriteMessages(ctx, msgs...)
	closeErr := writer.Close()
	if err != nil {
		return fmt.Errorf("write messages: %v", err)
	}
	if closeErr != nil {
		return fmt.Errorf("close writer: %v", closeErr)
	}
	result["written"] = o.count
	return readGroup(ctx, o, result)
}

func newGroupReader(o options) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{o.bootstrap},
		GroupID:           o.group,
		Topic:             o.topic,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 300 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  5 * time.Second,
		Dialer:            &kafka.Dialer{Timeout: clientTimeout, ClientID: "kafka-go-check"},
	})
}

// runJoin keeps a group Reader in o.group for o.runMs (the test watches the
// group from outside meanwhile), then leaves; it reports what the Reader counted.
func runJoin(o options, result map[string]interface{}) error {
	reader := newGroupReader(o)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.runMs)*time.Millisecond)
	defer cancel()
	_, err := reader.FetchMessage(ctx)
	stats := reader.Stats()
	result["fetch_error"] = fmt.Sprint(err)
	result["rebalances"] = stats.Rebalances
	return reader.Close()
}

func readGroup(ctx context.Context, o options, result map[string]interface{}) error {
	reader := newGroupReader(o)
	defer reader.Close()
	seen := map[string]int{}
	lastOffset := map[int]int64{}
	var wrong, outOfOrder, received int
	for received < o.count {
		msg, err := reader.FetchMessage(ctx)
		if err != nil {
			result["received"] = received
			return fmt.Errorf("fetch message %d of %d: %v", received, o.count, err)
		}
		received++
		seen[string(msg.Key)]++
		var i int
		if _, err := fmt.Sscanf(string(msg.Key), "key-%d", &i); err != nil || string(msg.Value) != messageValue(i) {
			wrong++
		}
		if last, ok := lastOffset[msg.Partition]; ok && msg.Offset <= last {
			outOfOrder++
		}
		lastOffset[msg.Partition] = msg.Offset
		if err := reader.CommitMessages(ctx, msg); err != nil {
			return fmt.Errorf("commit: %v", err)
		}
	}
	missing, duplicates := 0, 0
	for i := 0; i < o.count; i++ {
		switch n := seen[messageKey(i)]; {
		case n == 0:
			missing++
		case n > 1:
			duplicates += n - 1
		}
	}
	var partitions []int
	for p := range lastOffset {
		partitions = append(partitions, p)
	}
	sort.Ints(partitions)
	result["received"] = received
	result["partitions_read"] = partitions
	result["missing"] = missing
	result["duplicates"] = duplicates
	result["wrong_content"] = wrong
	result["out_of_order"] = outOfOrder
	return nil
}
