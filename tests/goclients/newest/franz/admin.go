package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// runAdmin drives kadm through a topic's life: create (and again, and a
// validate-only create), produce o.count records, list offsets (start, end, by
// timestamp, max timestamp, committed), group offsets (commit, fetch, delete,
// list/describe/delete the group), partitions added, configs described and
// altered (incremental and whole-set, and a bad value), cluster metadata and
// log dirs, and delete. Each step's answer goes into result for the test.
func runAdmin(ctx context.Context, o options, result map[string]any) error {
	admin, client, err := newAdmin(o)
	if err != nil {
		return err
	}
	defer client.Close()
	steps := []struct {
		name string
		run  func(context.Context, options, *kadm.Client, map[string]any) error
	}{
		{"create topics", adminCreateTopics},
		{"produce", func(ctx context.Context, o options, _ *kadm.Client, _ map[string]any) error {
			return produceChecked(ctx, o, 0, o.count)
		}},
		{"list offsets", adminListOffsets},
		{"group offsets", adminGroupOffsets},
		{"partitions", adminPartitions},
		{"configs", adminConfigs},
		{"cluster", adminCluster},
		{"delete topics", adminDeleteTopics},
	}
	for _, step := range steps {
		if err := step.run(ctx, o, admin, result); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return nil
}

// errorName is the Kafka error's name (e.g. TOPIC_ALREADY_EXISTS), "" for nil.
func errorName(err error) string {
	if err == nil {
		return ""
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Message
	}
	return err.Error()
}

func adminCreateTopics(ctx context.Context, o options, admin *kadm.Client, result map[string]any) error {
	retention := "3600000"
	configs := map[string]*string{"retention.ms": &retention}
	created, err := admin.CreateTopics(ctx, int32(o.partitions), 1, configs, o.topic)
	if err != nil {
		return err
	}
	c := created[o.topic]
	if c.Err != nil {
		return fmt.Errorf("%s: %w (%s)", o.topic, c.Err, c.ErrMessage)
	}
	result["created"] = map[string]any{"partitions": c.NumPartitions, "replication_factor": c.ReplicationFactor,
		"has_topic_id": c.ID != kadm.TopicID{}, "retention_ms": configValue(c.Configs["retention.ms"])}
	again, err := admin.CreateTopics(ctx, int32(o.partitions), 1, nil, o.topic)
	if err != nil {
		return err
	}
	result["create_again_error"] = errorName(again[o.topic].Err)
	validated := o.topic + "-validate-only"
	checked, err := admin.ValidateCreateTopics(ctx, 3, 1, nil, validated)
	if err != nil {
		return err
	}
	result["validate_only_error"] = errorName(checked[validated].Err)
	listed, err := admin.ListTopics(ctx, o.topic, validated)
	if err != nil {
		return err
	}
	result["validate_only_created"] = listed.Has(validated) && listed[validated].Err == nil
	return describeTopic(listed, o.topic, result, "listed")
}

func configValue(c kadm.Config) string {
	if c.Value == nil {
		return "<nil>"
	}
	return *c.Value
}

// describeTopic records a ListTopics (Metadata) answer for topic: its partitions,
// each one's leader, replicas and ISR, under result[key].
func describeTopic(listed kadm.TopicDetails, topic string, result map[string]any, key string) error {
	t, ok := listed[topic]
	if !ok {
		return fmt.Errorf("metadata has no %s", topic)
	}
	if t.Err != nil {
		return fmt.Errorf("metadata of %s: %w", topic, t.Err)
	}
	var partitions []int32
	leaders, replicas, isr := map[int32]bool{}, map[int]bool{}, map[int]bool{}
	for p, d := range t.Partitions {
		if d.Err != nil {
			return fmt.Errorf("metadata of %s[%d]: %w", topic, p, d.Err)
		}
		partitions = append(partitions, p)
		leaders[d.Leader] = true
		replicas[len(d.Replicas)] = true
		isr[len(d.ISR)] = true
	}
	slices.Sort(partitions)
	result[key] = map[string]any{"partitions": partitions, "leaders": len(leaders),
		"replica_counts": keys(replicas), "isr_counts": keys(isr), "internal": t.IsInternal,
		"has_topic_id": t.ID != kadm.TopicID{}}
	return nil
}

func keys(set map[int]bool) []int {
	var sorted []int
	for k := range set {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	return sorted
}

// offsetsOf turns one ListOffsets answer into {partition: offset} of topic.
func offsetsOf(topic string) func(kadm.ListedOffsets, error) (map[string]int64, error) {
	return func(listed kadm.ListedOffsets, err error) (map[string]int64, error) {
		if err != nil {
			return nil, err
		}
		if err := listed.Error(); err != nil {
			return nil, err
		}
		offsets := map[string]int64{}
		listed.Each(func(l kadm.ListedOffset) {
			if l.Topic == topic {
				offsets[fmt.Sprint(l.Partition)] = l.Offset
			}
		})
		return offsets, nil
	}
}

// Timestamps ListOffsets is asked about: before every record, in the middle,
// and after every record (records have baseTimestampMs + index).
func timestampQueries(o options) map[string]int64 {
	return map[string]int64{
		"before": baseTimestampMs - 1,
		"middle": baseTimestampMs + int64(o.count/2),
		"after":  baseTimestampMs + int64(o.count) + 1000,
	}
}

func adminListOffsets(ctx context.Context, o options, admin *kadm.Client, result map[string]any) error {
	listed := offsetsOf(o.topic)
	start, err := listed(admin.ListStartOffsets(ctx, o.topic))
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	end, err := listed(admin.ListEndOffsets(ctx, o.topic))
	if err != nil {
		return fmt.Errorf("end: %w", err)
	}
	committed, err := listed(admin.ListCommittedOffsets(ctx, o.topic))
	if err != nil {
		return fmt.Errorf("committed (read_committed end): %w", err)
	}
	maxTimestamp, err := admin.ListMaxTimestampOffsets(ctx, o.topic)
	maxOffsets, err := listed(maxTimestamp, err)
	if err != nil {
		return fmt.Errorf("max timestamp: %w", err)
	}
	maxTimestamps := map[string]int64{}
	maxTimestamp.Each(func(l kadm.ListedOffset) { maxTimestamps[fmt.Sprint(l.Partition)] = l.Timestamp })
	byTimestamp := map[string]map[string]int64{}
	for name, millis := range timestampQueries(o) {
		offsets, err := listed(admin.ListOffsetsAfterMilli(ctx, millis, o.topic))
		if err != nil {
			return fmt.Errorf("after %d ms: %w", millis, err)
		}
		byTimestamp[name] = offsets
	}
	result["offsets"] = map[string]any{"start": start, "end": end, "committed": committed,
		"max_timestamp_offset": maxOffsets, "max_timestamp": maxTimestamps, "by_timestamp": byTimestamp,
		"timestamp_queries": timestampQueries(o)}
	return nil
}
