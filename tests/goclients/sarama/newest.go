//go:build newest

// Scenarios only the newest Sarama (IBM/sarama) can run: build.sh newest builds
// this directory with the import path rewritten to github.com/IBM/sarama.

package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/Shopify/sarama"
)

func init() {
	newestScenarios["async"] = runAsync
	newestScenarios["admin-offsets"] = runAdminOffsets
}

// runAsync sends o.count messages through an AsyncProducer (Successes and
// Errors returned), then reads every partition back and checks each message.
func runAsync(o options, config *sarama.Config, result map[string]interface{}) error {
	producer, err := sarama.NewAsyncProducer([]string{o.bootstrap}, config)
	if err != nil {
		return fmt.Errorf("new async producer: %v", err)
	}
	placed := make([]produced, o.count)
	go func() {
		for i := 0; i < o.count; i++ {
			producer.Input() <- &sarama.ProducerMessage{Topic: o.topic, Key: sarama.StringEncoder(messageKey(i)),
				Value: sarama.StringEncoder(messageValue(i)), Metadata: i}
		}
	}()
	var errs []string
	deadline := time.After(consumeDeadline)
	for answered := 0; answered < o.count; answered++ {
		select {
		case msg := <-producer.Successes():
			placed[msg.Metadata.(int)] = produced{msg.Partition, msg.Offset}
		case perr := <-producer.Errors():
			errs = append(errs, perr.Err.Error())
		case <-deadline:
			producer.AsyncClose()
			return fmt.Errorf("%d of %d answered within %v", answered, o.count, consumeDeadline)
		}
	}
	closeErr := producer.Close()
	result["produce_errors"] = errs
	if len(errs) > 0 || closeErr != nil {
		return fmt.Errorf("async produce: %d errors, close: %v", len(errs), closeErr)
	}
	result["produced"] = len(placed)
	consumed, problems, err := readBack(o, config, placed)
	result["consumed"] = consumed
	result["problems"] = problems
	return err
}

// runAdminOffsets produces o.count messages, then drives ClusterAdmin's offset
// and group calls: ListOffsets (earliest, latest), AlterConsumerGroupOffsets,
// ListConsumerGroupOffsets, DeleteConsumerGroupOffset, DeleteConsumerGroup,
// IncrementalAlterConfig, AlterConfig, DescribeLogDirs.
func runAdminOffsets(o options, config *sarama.Config, result map[string]interface{}) error {
	placed, err := produceMessages(o, config, 0, o.count)
	if err != nil {
		return err
	}
	result["end_offsets"] = endOffsets(placed)
	admin, err := sarama.NewClusterAdmin([]string{o.bootstrap}, config)
	if err != nil {
		return fmt.Errorf("new cluster admin: %v", err)
	}
	defer admin.Close()
	for name, at := range map[string]int64{"earliest": sarama.OffsetOldest, "latest": sarama.OffsetNewest} {
		listed, err := listOffsets(o, admin, at)
		if err != nil {
			return fmt.Errorf("list offsets %s: %v", name, err)
		}
		result["listed_"+name] = listed
	}
	if err := commitAndDeleteOffsets(o, admin, result); err != nil {
		return err
	}
	return alterTopicConfigs(o, admin, result)
}

func partitionList(o options) []int32 {
	var partitions []int32
	for p := 0; p < o.partitions; p++ {
		partitions = append(partitions, int32(p))
	}
	return partitions
}

func listOffsets(o options, admin sarama.ClusterAdmin, at int64) (map[string]int64, error) {
	query := map[int32]int64{}
	for _, p := range partitionList(o) {
		query[p] = at
	}
	answers, err := admin.ListOffsets(map[string]map[int32]int64{o.topic: query}, nil)
	if err != nil {
		return nil, err
	}
	offsets := map[string]int64{}
	for p, answer := range answers[o.topic] {
		if answer.Err != nil && answer.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("partition %d: %v", p, answer.Err)
		}
		offsets[fmt.Sprint(p)] = answer.Offset
	}
	return offsets, nil
}

// groupOffsets is ListConsumerGroupOffsets of o.group as {partition: offset}.
func groupOffsets(o options, admin sarama.ClusterAdmin) (map[string]int64, error) {
	resp, err := admin.ListConsumerGroupOffsets(o.group, map[string][]int32{o.topic: partitionList(o)})
	if err != nil {
		return nil, err
	}
	offsets := map[string]int64{}
	for _, p := range partitionList(o) {
		block := resp.GetBlock(o.topic, p)
		if block == nil || block.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("partition %d: %v", p, block)
		}
		offsets[fmt.Sprint(p)] = block.Offset
	}
	return offsets, nil
}

func commitAndDeleteOffsets(o options, admin sarama.ClusterAdmin, result map[string]interface{}) error {
	commit := map[int32]sarama.OffsetAndMetadata{}
	for _, p := range partitionList(o) {
		commit[p] = sarama.OffsetAndMetadata{Offset: int64(p) + 1, Metadata: "sarama-check", LeaderEpoch: -1}
	}
	resp, err := admin.AlterConsumerGroupOffsets(o.group, map[string]map[int32]sarama.OffsetAndMetadata{o.topic: commit}, nil)
	if err != nil {
		return fmt.Errorf("alter consumer group offsets: %v", err)
	}
	for p, kerr := range resp.Errors[o.topic] {
		if kerr != sarama.ErrNoError {
			return fmt.Errorf("alter consumer group offsets: partition %d: %v", p, kerr)
		}
	}
	if result["committed"], err = groupOffsets(o, admin); err != nil {
		return fmt.Errorf("list consumer group offsets: %v", err)
	}
	if err := admin.DeleteConsumerGroupOffset(o.group, o.topic, 0); err != nil {
		return fmt.Errorf("delete consumer group offset: %v", err)
	}
	if result["committed_after_offset_delete"], err = groupOffsets(o, admin); err != nil {
		return fmt.Errorf("list consumer group offsets after delete: %v", err)
	}
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return fmt.Errorf("list consumer groups: %v", err)
	}
	_, result["listed_group"] = groups[o.group]
	if err := admin.DeleteConsumerGroup(o.group); err != nil {
		return fmt.Errorf("delete consumer group: %v", err)
	}
	groups, err = admin.ListConsumerGroups()
	if err != nil {
		return fmt.Errorf("list consumer groups after delete: %v", err)
	}
	_, result["listed_group_after_delete"] = groups[o.group]
	return nil
}

// alterTopicConfigs sets retention.ms incrementally, then replaces the topic's
// configs with max.message.bytes alone (AlterConfig), describing after each;
// and reports the topic's partitions in DescribeLogDirs.
func alterTopicConfigs(o options, admin sarama.ClusterAdmin, result map[string]interface{}) error {
	retention, maxBytes := "7200000", "500000"
	set := sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &retention}
	if err := admin.IncrementalAlterConfig(sarama.TopicResource, o.topic, map[string]sarama.IncrementalAlterConfigsEntry{"retention.ms": set}, false); err != nil {
		return fmt.Errorf("incremental alter config: %v", err)
	}
	var err error
	if result["configs_after_incremental"], err = overrides(o, admin); err != nil {
		return err
	}
	if err := admin.AlterConfig(sarama.TopicResource, o.topic, map[string]*string{"max.message.bytes": &maxBytes}, false); err != nil {
		return fmt.Errorf("alter config: %v", err)
	}
	if result["configs_after_alter"], err = overrides(o, admin); err != nil {
		return err
	}
	dirs, err := admin.DescribeLogDirs([]int32{0})
	if err != nil {
		return fmt.Errorf("describe log dirs: %v", err)
	}
	var onDisk []int
	for _, dir := range dirs[0] {
		for _, topic := range dir.Topics {
			if topic.Topic == o.topic {
				for _, p := range topic.Partitions {
					onDisk = append(onDisk, int(p.PartitionID))
				}
			}
		}
	}
	sort.Ints(onDisk)
	result["log_dir_partitions"] = onDisk
	return nil
}

// overrides is DescribeConfig of o.topic: the entries that are not defaults.
func overrides(o options, admin sarama.ClusterAdmin) (map[string]string, error) {
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: o.topic})
	if err != nil {
		return nil, fmt.Errorf("describe config: %v", err)
	}
	values := map[string]string{}
	for _, entry := range entries {
		if entry.Source != sarama.SourceDefault {
			values[entry.Name] = entry.Value
		}
	}
	return values, nil
}
