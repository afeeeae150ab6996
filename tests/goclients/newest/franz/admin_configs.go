package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// partitionsAdded is how many partitions the admin scenario adds.
const partitionsAdded = 2

// adminPartitions adds partitions (CreatePartitions), tries to shrink the topic
// (an error) and lists it again.
func adminPartitions(ctx context.Context, o options, admin *kadm.Client, result map[string]any) error {
	added, err := admin.CreatePartitions(ctx, partitionsAdded, o.topic)
	if err != nil {
		return err
	}
	if r := added[o.topic]; r.Err != nil {
		return fmt.Errorf("add %d: %w (%s)", partitionsAdded, r.Err, r.ErrMessage)
	}
	shrunk, err := admin.UpdatePartitions(ctx, 1, o.topic)
	if err != nil {
		return err
	}
	result["shrink_error"] = errorName(shrunk[o.topic].Err)
	listed, err := admin.ListTopics(ctx, o.topic)
	if err != nil {
		return err
	}
	return describeTopic(listed, o.topic, result, "listed_after_adding_partitions")
}

// topicConfigs is DescribeConfigs of o.topic for the names given: value and source.
func topicConfigs(ctx context.Context, o options, admin *kadm.Client, names ...string) (map[string]any, error) {
	described, err := admin.DescribeTopicConfigs(ctx, o.topic)
	if err != nil {
		return nil, err
	}
	resource, err := described.On(o.topic, nil)
	if err != nil {
		return nil, err
	}
	if resource.Err != nil {
		return nil, fmt.Errorf("%w (%s)", resource.Err, resource.ErrMessage)
	}
	configs := map[string]any{"count": len(resource.Configs)}
	for _, c := range resource.Configs {
		for _, name := range names {
			if c.Key == name {
				configs[name] = map[string]any{"value": configValue(c), "source": c.Source.String(),
					"synonyms": len(c.Synonyms)}
			}
		}
	}
	return configs, nil
}

// alterError is the error of the one resource an alter call named, as its name.
func alterError(responses kadm.AlterConfigsResponses, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if len(responses) != 1 {
		return "", fmt.Errorf("%d answers for one topic", len(responses))
	}
	return errorName(responses[0].Err), nil
}

// adminConfigs describes the topic's configs, alters them incrementally (set,
// then delete), with a bad value, and as a whole set (legacy AlterConfigs,
// which drops the overrides it does not name).
func adminConfigs(ctx context.Context, o options, admin *kadm.Client, result map[string]any) error {
	names := []string{"retention.ms", "cleanup.policy", "max.message.bytes", "segment.bytes"}
	configs := map[string]any{}
	result["configs"] = configs
	var err error
	if configs["created"], err = topicConfigs(ctx, o, admin, names...); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	retention, maxBytes, bad := "7200000", "500000", "not-a-number"
	steps := []struct {
		name  string
		alter func() (kadm.AlterConfigsResponses, error)
	}{
		{"incremental_set", func() (kadm.AlterConfigsResponses, error) {
			return admin.AlterTopicConfigs(ctx, []kadm.AlterConfig{
				{Op: kadm.SetConfig, Name: "retention.ms", Value: &retention},
				{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &maxBytes}}, o.topic)
		}},
		{"incremental_delete", func() (kadm.AlterConfigsResponses, error) {
			return admin.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.ms"}}, o.topic)
		}},
		{"incremental_bad_value", func() (kadm.AlterConfigsResponses, error) {
			return admin.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &bad}}, o.topic)
		}},
		{"whole_set", func() (kadm.AlterConfigsResponses, error) {
			return admin.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &retention}}, o.topic)
		}},
	}
	for _, step := range steps {
		errName, err := alterError(step.alter())
		if err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		described, err := topicConfigs(ctx, o, admin, names...)
		if err != nil {
			return fmt.Errorf("describe after %s: %w", step.name, err)
		}
		described["error"] = errName
		configs[step.name] = described
	}
	return nil
}

// adminDeleteTopics deletes the topic, lists topics without it, and deletes it
// again (an error).
func adminDeleteTopics(ctx context.Context, o options, admin *kadm.Client, result map[string]any) error {
	deleted, err := admin.DeleteTopics(ctx, o.topic)
	if err != nil {
		return err
	}
	if r := deleted[o.topic]; r.Err != nil {
		return fmt.Errorf("%w (%s)", r.Err, r.ErrMessage)
	}
	listed, err := admin.ListTopics(ctx)
	if err != nil {
		return err
	}
	result["listed_after_delete"] = listed.Has(o.topic)
	again, err := admin.DeleteTopics(ctx, o.topic)
	if err != nil {
		return err
	}
	result["delete_again_error"] = errorName(again[o.topic].Err)
	return nil
}
