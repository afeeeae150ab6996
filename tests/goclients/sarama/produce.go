package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

// sendChunk is how many messages go to SendMessages at once, so the producer
// builds multi-record (and, with a codec, compressed) batches.
const sendChunk = 50

// consumeDeadline bounds the read-back of everything produced.
const consumeDeadline = 15 * time.Second

// produced is where the broker put message i.
type produced struct {
	partition int32
	offset    int64
}

// runProduce sends o.count keyed messages with a SyncProducer, then reads every
// partition back with partition consumers and checks content and order.
func runProduce(o options, config *sarama.Config, result map[string]interface{}) error {
	placed, err := produceMessages(o, config, 0, o.count)
	if err != nil {
		return err
	}
	perPartition := map[int32]int{}
	for _, p := range placed {
		perPartition[p.partition]++
	}
	result["produced"] = len(placed)
	result["produced_per_partition"] = countsByName(perPartition)
	consumed, problems, err := readBack(o, config, placed)
	result["consumed"] = consumed
	result["problems"] = problems
	return err
}

// produceMessages sends messages first..first+count-1 and returns where each landed.
func produceMessages(o options, config *sarama.Config, first, count int) ([]produced, error) {
	producer, err := sarama.NewSyncProducer([]string{o.bootstrap}, config)
	if err != nil {
		return nil, fmt.Errorf("new sync producer: %v", err)
	}
	defer producer.Close()
	placed := make([]produced, 0, count)
	for start := first; start < first+count; start += sendChunk {
		var batch []*sarama.ProducerMessage
		for i := start; i < start+sendChunk && i < first+count; i++ {
			batch = append(batch, &sarama.ProducerMessage{
				Topic:    o.topic,
				Key:      sarama.StringEncoder(messageKey(i)),
				Value:    sarama.StringEncoder(messageValue(i)),
				Metadata: i,
			})
		}
		if err := producer.SendMessages(batch); err != nil {
			if errs, ok := err.(sarama.ProducerErrors); ok && len(errs) > 0 {
				err = fmt.Errorf("%d failed, first: %v", len(errs), errs[0].Err)
			}
			return nil, fmt.Errorf("send messages %d..: %v", start, err)
		}
		for _, msg := range batch {
			placed = append(placed, produced{msg.Partition, msg.Offset})
		}
	}
	return placed, nil
}

// readBack consumes each partition from the oldest offset until every produced
// message was seen; problems lists every mismatch (content, offset, order).
func readBack(o options, config *sarama.Config, placed []produced) (int, []string, error) {
	expected := map[int32][]int{} // partition -> message indices in offset order
	for i, p := range placed {
		expected[p.partition] = append(expected[p.partition], i)
	}
	consumer, err := sarama.NewConsumer([]string{o.bootstrap}, config)
	if err != nil {
		return 0, nil, fmt.Errorf("new consumer: %v", err)
	}
	defer consumer.Close()
	var problems []string
	consumed := 0
	deadline := time.After(consumeDeadline)
	for partition, indices := range expected {
		pc, err := consumer.ConsumePartition(o.topic, partition, sarama.OffsetOldest)
		if err != nil {
			return consumed, problems, fmt.Errorf("consume partition %d: %v", partition, err)
		}
		for n := 0; n < len(indices); n++ {
			select {
			case msg := <-pc.Messages():
				consumed++
				i := indices[n]
				if msg.Offset != placed[i].offset {
					problems = append(problems, fmt.Sprintf("p%d: got offset %d, message %d was at %d", partition, msg.Offset, i, placed[i].offset))
				}
				if string(msg.Key) != messageKey(i) || string(msg.Value) != messageValue(i) {
					problems = append(problems, fmt.Sprintf("p%d@%d: got %q=%q, want message %d", partition, msg.Offset, msg.Key, shorten(msg.Value), i))
				}
			case cerr := <-pc.Errors():
				pc.Close()
				return consumed, problems, fmt.Errorf("partition %d: %v", partition, cerr)
			case <-deadline:
				pc.Close()
				return consumed, problems, fmt.Errorf("partition %d: %d of %d messages within %v", partition, n, len(indices), consumeDeadline)
			}
		}
		pc.Close()
	}
	return consumed, problems, nil
}

func countsByName(counts map[int32]int) map[string]int {
	named := map[string]int{}
	for partition, n := range counts {
		named[strconv.Itoa(int(partition))] = n
	}
	return named
}

func shorten(b []byte) string {
	s := string(b)
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return strings.TrimSpace(s)
}
