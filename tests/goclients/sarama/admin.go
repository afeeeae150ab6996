package main

import (
	"fmt"
	"sort"

	"github.com/Shopify/sarama"
)

// runAdmin creates, lists, describes and deletes o.topic through ClusterAdmin.
func runAdmin(o options, config *sarama.Config, result map[string]interface{}) error {
	admin, err := sarama.NewClusterAdmin([]string{o.bootstrap}, config)
	if err != nil {
		return fmt.Errorf("new cluster admin: %v", err)
	}
	defer admin.Close()
	retention := "3600000"
	detail := &sarama.TopicDetail{
		NumPartitions:     int32(o.partitions),
		ReplicationFactor: 1,
		ConfigEntries:     map[string]*string{"retention.ms": &retention},
	}
	if err := admin.CreateTopic(o.topic, detail, false); err != nil {
		return fmt.Errorf("create topic: %v", err)
	}
	err = admin.CreateTopic(o.topic, detail, false)
	result["create_again_error"] = fmt.Sprint(err)

	topics, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %v", err)
	}
	listed, ok := topics[o.topic]
	result["listed"] = ok
	result["listed_partitions"] = listed.NumPartitions
	result["listed_replication_factor"] = listed.ReplicationFactor
	configs := map[string]string{}
	for name, value := range listed.ConfigEntries {
		if value != nil {
			configs[name] = *value
		}
	}
	result["listed_configs"] = configs

	described, err := admin.DescribeTopics([]string{o.topic})
	if err != nil {
		return fmt.Errorf("describe topics: %v", err)
	}
	if len(described) != 1 {
		return fmt.Errorf("describe topics: %d answers", len(described))
	}
	result["describe_error"] = described[0].Err.Error()
	var ids []int
	for _, p := range described[0].Partitions {
		ids = append(ids, int(p.ID))
		if p.Err != sarama.ErrNoError {
			return fmt.Errorf("describe topics: partition %d: %v", p.ID, p.Err)
		}
	}
	sort.Ints(ids)
	result["described_partitions"] = ids

	if err := admin.CreatePartitions(o.topic, int32(o.partitions+2), nil, false); err != nil {
		return fmt.Errorf("create partitions: %v", err)
	}
	grown, err := admin.DescribeTopics([]string{o.topic})
	if err != nil || len(grown) != 1 {
		return fmt.Errorf("describe topics after create partitions: %v", err)
	}
	result["partitions_after_create_partitions"] = len(grown[0].Partitions)

	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: o.topic})
	if err != nil {
		return fmt.Errorf("describe config: %v", err)
	}
	defaults := map[string]bool{}
	values := map[string]string{}
	for _, entry := range entries {
		defaults[entry.Name] = entry.Default
		values[entry.Name] = entry.Value
	}
	result["config_values"] = values
	result["config_is_default"] = defaults

	brokers, controller, err := admin.DescribeCluster()
	if err != nil {
		return fmt.Errorf("describe cluster: %v", err)
	}
	result["brokers"] = len(brokers)
	result["controller"] = controller

	if err := admin.DeleteTopic(o.topic); err != nil {
		return fmt.Errorf("delete topic: %v", err)
	}
	after, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics after delete: %v", err)
	}
	_, still := after[o.topic]
	result["listed_after_delete"] = still
	return nil
}
