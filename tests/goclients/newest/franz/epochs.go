package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pastTheEnd is how far past the log end the truncated position lies.
const pastTheEnd = 100

// runEpochs: KIP-320 as franz-go uses it. A position given with a leader
// epoch is validated with OffsetForLeaderEpoch before fetching: one inside
// epoch 0 is read from as given; one past the end of epoch 0 is data loss,
// and franz-go moves to where the epoch ends (ErrDataLoss names it). Reports
// the first offset and epoch each consumer reads and the data loss seen.
func runEpochs(ctx context.Context, o options, result map[string]any) error {
	producer, err := kgo.NewClient(clientOptions(o, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return err
	}
	defer producer.Close()
	produce := func(from, to int) error {
		for i := from; i < to; i++ {
			r := &kgo.Record{Topic: o.topic, Partition: 0, Value: []byte(recordValue(i))}
			if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
				return fmt.Errorf("produce record %d: %w", i, err)
			}
		}
		return nil
	}
	if err := produce(0, o.count); err != nil {
		return err
	}
	inside, _, err := firstFrom(ctx, o, kgo.NewOffset().At(3).WithEpoch(0), nil)
	if err != nil {
		return err
	}
	result["after_valid_position"] = inside
	past := kgo.NewOffset().At(int64(o.count + pastTheEnd)).WithEpoch(0)
	// One more record once the position is settled, so there is something to read.
	first, loss, err := firstFrom(ctx, o, past, func() error { return produce(o.count, o.count+1) })
	if err != nil {
		return err
	}
	result["past_the_end"] = map[string]any{"first": first, "data_loss": loss}
	return nil
}

// firstFrom consumes partition 0 from `at` (starting over at the log start
// when no position can be validated) and returns the first record's offset
// and epoch and any data loss reported before it; `more` runs after the
// first empty poll.
func firstFrom(ctx context.Context, o options, at kgo.Offset, more func() error) ([]int64, map[string]any, error) {
	cl, err := kgo.NewClient(clientOptions(o,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: {0: at}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	var loss map[string]any
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		for _, fe := range fetches.Errors() {
			var dl *kgo.ErrDataLoss
			switch {
			case errors.As(fe.Err, &dl):
				loss = map[string]any{"consumed_to": dl.ConsumedTo, "reset_to": dl.ResetTo, "reset_to_epoch": dl.ResetToEpoch}
			case errors.Is(fe.Err, context.DeadlineExceeded), errors.Is(fe.Err, context.Canceled):
			default:
				return nil, loss, fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		if records := fetches.Records(); len(records) > 0 {
			return []int64{records[0].Offset, int64(records[0].LeaderEpoch)}, loss, nil
		}
		if more != nil {
			if err := more(); err != nil {
				return nil, loss, err
			}
			more = nil
		}
	}
	return nil, loss, fmt.Errorf("no record from %v", at)
}
