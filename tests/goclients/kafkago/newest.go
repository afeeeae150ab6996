//go:build newest

// Scenarios only the newest kafka-go (0.4) can run: build.sh newest builds
// this directory against it.

package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func init() {
	newestScenarios["writer"] = runWriter
	newestScenarios["client"] = runClient
}

func compressionOf(name string) (kafka.Compression, error) {
	switch name {
	case "none", "":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("unknown compression %q", name)
}

// runWriter writes o.count keyed messages with the struct-style Writer (record
// batches, acks=all, any codec), then reads them back with a group Reader.
func runWriter(o options, result map[string]interface{}) error {
	compression, err := compressionOf(o.compression)
	if err != nil {
		return err
	}
	writer := &kafka.Writer{
		Addr:         kafka.TCP(o.bootstrap),
		Topic:        o.topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  3,
		BatchSize:    50,
		BatchTimeout: 10 * time.Millisecond,
		ReadTimeout:  clientTimeout,
		WriteTimeout: clientTimeout,
		Compression:  compression,
	}
	return writeAndReadBack(o, writer, result)
}

// runClient drives kafka.Client's admin calls: CreateTopics, Metadata,
// CreatePartitions, DescribeConfigs, IncrementalAlterConfigs, ListOffsets,
// OffsetCommit/OffsetFetch, ListGroups, DescribeGroups, OffsetDelete,
// DeleteGroups, DeleteTopics.
func runClient(o options, result map[string]interface{}) error {
	client := &kafka.Client{Addr: kafka.TCP(o.bootstrap), Timeout: clientTimeout}
	ctx, cancel := context.WithTimeout(context.Background(), readDeadline)
	defer cancel()
	steps := []struct {
		name string
		run  func(context.Context, *kafka.Client, options, map[string]interface{}) error
	}{
		{"create topics", clientCreateTopics},
		{"configs", clientConfigs},
		{"produce and list offsets", clientOffsets},
		{"group offsets", clientGroupOffsets},
		{"delete topics", clientDeleteTopics},
	}
	for _, step := range steps {
		if err := step.run(ctx, client, o, result); err != nil {
			return fmt.Errorf("%s: %v", step.name, err)
		}
	}
	return nil
}

// freshMetadata asks the broker for metadata of every topic through a new
// Transport: a Client's Transport answers Metadata from its own cache.
func freshMetadata(ctx context.Context, o options) (map[string]kafka.Topic, error) {
	transport := &kafka.Transport{ClientID: "kafka-go-check", DialTimeout: clientTimeout}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(o.bootstrap), Timeout: clientTimeout, Transport: transport}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return nil, err
	}
	topics := map[string]kafka.Topic{}
	for _, t := range meta.Topics {
		topics[t.Name] = t
	}
	return topics, nil
}

func topicPartitions(ctx context.Context, o options) ([]int, error) {
	topics, err := freshMetadata(ctx, o)
	if err != nil {
		return nil, err
	}
	topic, ok := topics[o.topic]
	if !ok || topic.Error != nil {
		return nil, fmt.Errorf("metadata of %s: %+v", o.topic, topic)
	}
	var ids []int
	for _, p := range topic.Partitions {
		ids = append(ids, p.ID)
	}
	sort.Ints(ids)
	return ids, nil
}

func clientCreateTopics(ctx context.Context, client *kafka.Client, o options, result map[string]interface{}) error {
	topic := kafka.TopicConfig{Topic: o.topic, NumPartitions: o.partitions, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}}
	created, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{topic}})
	if err != nil || created.Errors[o.topic] != nil {
		return fmt.Errorf("%v / %v", err, created)
	}
	again, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{topic}})
	if err != nil {
		return err
	}
	result["create_again_error"] = fmt.Sprint(again.Errors[o.topic])
	if result["partitions"], err = topicPartitions(ctx, o); err != nil {
		return err
	}
	grown, err := client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: o.topic, Count: int32(o.partitions + 1)}}})
	if err != nil || grown.Errors[o.topic] != nil {
		return fmt.Errorf("create partitions: %v / %v", err, grown)
	}
	result["partitions_after_create_partitions"], err = topicPartitions(ctx, o)
	return err
}

// topicConfig is DescribeConfigs of o.topic's names: {name: [value, source]}.
func topicConfig(ctx context.Context, client *kafka.Client, o options, names ...string) (map[string][]interface{}, error) {
	described, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: o.topic, ConfigNames: names}}})
	if err != nil {
		return nil, err
	}
	if len(described.Resources) != 1 || described.Resources[0].Error != nil {
		return nil, fmt.Errorf("describe configs: %+v", described.Resources)
	}
	configs := map[string][]interface{}{}
	for _, entry := range described.Resources[0].ConfigEntries {
		configs[entry.ConfigName] = []interface{}{entry.ConfigValue, entry.ConfigSource}
	}
	return configs, nil
}

func clientConfigs(ctx context.Context, client *kafka.Client, o options, result map[string]interface{}) error {
	var err error
	if result["configs"], err = topicConfig(ctx, client, o, "retention.ms", "cleanup.policy"); err != nil {
		return err
	}
	altered, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: o.topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{
				{Name: "retention.ms", Value: "7200000", ConfigOperation: kafka.ConfigOperationSet}}}}})
	if err != nil {
		return err
	}
	for _, r := range altered.Resources {
		if r.Error != nil {
			return fmt.Errorf("incremental alter configs: %v", r.Error)
		}
	}
	result["configs_after_alter"], err = topicConfig(ctx, client, o, "retention.ms")
	return err
}

// clientOffsets produces o.count records (Client.Produce, one batch per
// partition, record i to partition i % partitions) and lists the offsets.
func clientOffsets(ctx context.Context, client *kafka.Client, o options, result map[string]interface{}) error {
	perPartition := map[int][]kafka.Record{}
	base := time.UnixMilli(baseTimestampMs)
	for i := 0; i < o.count; i++ {
		perPartition[i%o.partitions] = append(perPartition[i%o.partitions], kafka.Record{
			Time: base.Add(time.Duration(i) * time.Millisecond), Key: kafka.NewBytes([]byte(messageKey(i))),
			Value: kafka.NewBytes([]byte(messageValue(i)))})
	}
	baseOffsets := map[string]int64{}
	for p, records := range perPartition {
		produced, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: o.topic, Partition: p, RequiredAcks: kafka.RequireAll,
			Records: kafka.NewRecordReader(records...)})
		if err != nil || produced.Error != nil {
			return fmt.Errorf("produce to %d: %v / %v", p, err, produced)
		}
		baseOffsets[fmt.Sprint(p)] = produced.BaseOffset
	}
	result["produce_base_offsets"] = baseOffsets
	var requests []kafka.OffsetRequest
	for p := 0; p < o.partitions; p++ {
		requests = append(requests, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p),
			kafka.TimeOffsetOf(p, base.Add(time.Duration(o.count/2)*time.Millisecond)))
	}
	listed, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{o.topic: requests}})
	if err != nil {
		return err
	}
	first, last, atMiddle := map[string]int64{}, map[string]int64{}, map[string][]int64{}
	for _, p := range listed.Topics[o.topic] {
		if p.Error != nil {
			return fmt.Errorf("list offsets of %d: %v", p.Partition, p.Error)
		}
		first[fmt.Sprint(p.Partition)] = p.FirstOffset
		last[fmt.Sprint(p.Partition)] = p.LastOffset
		for offset := range p.Offsets {
			atMiddle[fmt.Sprint(p.Partition)] = append(atMiddle[fmt.Sprint(p.Partition)], offset)
		}
	}
	result["first_offsets"], result["last_offsets"], result["offsets_at_middle_time"] = first, last, atMiddle
	return nil
}

func committed(ctx context.Context, client *kafka.Client, o options) (map[string]int64, error) {
	var partitions []int
	for p := 0; p < o.partitions; p++ {
		partitions = append(partitions, p)
	}
	fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: o.group, Topics: map[string][]int{o.topic: partitions}})
	if err != nil || fetched.Error != nil {
		return nil, fmt.Errorf("offset fetch: %v / %v", err, fetched)
	}
	offsets := map[string]int64{}
	for _, p := range fetched.Topics[o.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offset fetch of %d: %v", p.Partition, p.Error)
		}
		offsets[fmt.Sprint(p.Partition)] = p.CommittedOffset
	}
	return offsets, nil
}

func clientGroupOffsets(ctx context.Context, client *kafka.Client, o options, result map[string]interface{}) error {
	var commits []kafka.OffsetCommit
	for p := 0; p < o.partitions; p++ {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: int64(p) + 1, Metadata: "kafka-go-check"})
	}
	committedResp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: o.group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{o.topic: commits}})
	if err != nil {
		return err
	}
	for _, p := range committedResp.Topics[o.topic] {
		if p.Error != nil {
			return fmt.Errorf("offset commit of %d: %v", p.Partition, p.Error)
		}
	}
	if result["committed"], err = committed(ctx, client, o); err != nil {
		return err
	}
	groups, err := client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil || groups.Error != nil {
		return fmt.Errorf("list groups: %v / %v", err, groups)
	}
	result["listed_group"] = false
	for _, g := range groups.Groups {
		if g.GroupID == o.group {
			result["listed_group"] = true
		}
	}
	described, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{o.group}})
	if err != nil || len(described.Groups) != 1 || described.Groups[0].Error != nil {
		return fmt.Errorf("describe groups: %v / %+v", err, described)
	}
	result["described_state"] = described.Groups[0].GroupState
	deleted, err := client.OffsetDelete(ctx, &kafka.OffsetDeleteRequest{GroupID: o.group, Topics: map[string][]int{o.topic: {0}}})
	if err != nil || deleted.Error != nil {
		return fmt.Errorf("offset delete: %v / %+v", err, deleted)
	}
	if result["committed_after_offset_delete"], err = committed(ctx, client, o); err != nil {
		return err
	}
	gone, err := client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{o.group}})
	if err != nil || gone.Errors[o.group] != nil {
		return fmt.Errorf("delete groups: %v / %v", err, gone)
	}
	return nil
}

func clientDeleteTopics(ctx context.Context, client *kafka.Client, o options, result map[string]interface{}) error {
	deleted, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{o.topic}})
	if err != nil || deleted.Errors[o.topic] != nil {
		return fmt.Errorf("%v / %v", err, deleted)
	}
	topics, err := freshMetadata(ctx, o)
	_, result["listed_after_delete"] = topics[o.topic]
	return err
}

// baseTimestampMs is record 0's timestamp in the client scenario (record i: +i ms).
const baseTimestampMs = 1_700_000_000_000
