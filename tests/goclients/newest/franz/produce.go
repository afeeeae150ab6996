package main

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producerLinger lets records gather into multi-record (compressed) batches.
const producerLinger = 5 * time.Millisecond

// maxProblems caps the problems a result lists (their count is always given).
const maxProblems = 10

// batchStats counts the batches a consumer read (its hook runs before the
// records are polled; kgo runs the produce-side hook asynchronously, so it has none).
type batchStats struct {
	mu         sync.Mutex
	batches    int
	maxRecords int
	codecs     map[string]int
}

func (s *batchStats) add(records int, codec uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.maxRecords = max(s.maxRecords, records)
	s.codecs[codecName(codec)]++
}

func (s *batchStats) summary() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{"batches": s.batches, "max_records": s.maxRecords, "codecs": maps.Clone(s.codecs)}
}

func codecName(codec uint8) string {
	return [...]string{"none", "gzip", "snappy", "lz4", "zstd"}[min(int(codec), 4)]
}

func (s *batchStats) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	s.add(m.NumRecords, m.CompressionType)
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("unknown compression %q", name)
}

func producerOptions(o options) ([]kgo.Opt, error) {
	codec, err := compressionCodec(o.compression)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(producerLinger),
	}
	if !o.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	switch o.acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("unknown acks %q", o.acks)
	}
	return opts, nil
}

// produceRecords sends records first..first+count-1 (buffered, then flushed) and
// checks each landed where it must (placement); with acks=none nothing is answered.
// It returns the misplacements.
func produceRecords(ctx context.Context, o options, first, count int) ([]string, error) {
	opts, err := producerOptions(o)
	if err != nil {
		return nil, err
	}
	client, err := kgo.NewClient(clientOptions(o, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	defer client.Close()
	var mu sync.Mutex
	var problems []string
	var produceErr error
	for i := first; i < first+count; i++ {
		client.Produce(ctx, newRecord(o, i), func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			partition, offset := placement(o, i)
			switch {
			case err != nil:
				if produceErr == nil {
					produceErr = fmt.Errorf("record %d: %w", i, err)
				}
			case o.acks != "none" && (r.Partition != partition || r.Offset != offset):
				problems = append(problems, fmt.Sprintf("record %d placed at p%d@%d, want p%d@%d", i, r.Partition, r.Offset, partition, offset))
			}
		})
	}
	flushErr := client.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	if produceErr == nil && flushErr != nil {
		produceErr = fmt.Errorf("flush: %w", flushErr)
	}
	return problems, produceErr
}

// runProduce produces o.count records, then reads every partition back from the
// start with a direct consumer and checks every record's partition, offset,
// key, value, header and timestamp.
func runProduce(ctx context.Context, o options, result map[string]any) error {
	if err := produceChecked(ctx, o, 0, o.count); err != nil {
		return err
	}
	return readBack(ctx, o, result)
}

// produceChecked produces records first..first+count-1 and fails on any misplacement.
func produceChecked(ctx context.Context, o options, first, count int) error {
	misplaced, err := produceRecords(ctx, o, first, count)
	if err != nil {
		return err
	}
	if len(misplaced) > 0 {
		return fmt.Errorf("%d records misplaced, first: %s", len(misplaced), misplaced[0])
	}
	return nil
}

func readBack(ctx context.Context, o options, result map[string]any) error {
	stats := &batchStats{codecs: map[string]int{}}
	opts := []kgo.Opt{kgo.WithHooks(stats)}
	switch o.consume {
	case "partitions":
		start := map[int32]kgo.Offset{}
		for p := 0; p < o.partitions; p++ {
			start[int32(p)] = kgo.NewOffset().AtStart()
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: start}))
	case "topics":
		opts = append(opts, kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	default:
		return fmt.Errorf("unknown consume mode %q", o.consume)
	}
	client, err := kgo.NewClient(clientOptions(o, opts...)...)
	if err != nil {
		return fmt.Errorf("new consumer: %w", err)
	}
	defer client.Close()
	check := newDeliveryCheck(o, 0, o.count)
	highWatermarks := map[string]int64{}
	for !check.done() && ctx.Err() == nil {
		fetches := client.PollFetches(ctx)
		if err := fetchError(fetches); err != nil {
			return err
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			highWatermarks[fmt.Sprint(p.Partition)] = p.HighWatermark
			for _, r := range p.Records {
				check.add("direct", r)
			}
		})
	}
	result["fetched_batches"] = stats.summary()
	result["high_watermarks"] = highWatermarks
	result["delivery"] = check.summary()
	return ctx.Err()
}

// fetchError is the first error of a poll other than the context's own end.
func fetchError(fetches kgo.Fetches) error {
	var first error
	fetches.EachError(func(topic string, partition int32, err error) {
		if first == nil && err != context.DeadlineExceeded && err != context.Canceled {
			first = fmt.Errorf("fetch %s[%d]: %w", topic, partition, err)
		}
	})
	return first
}
