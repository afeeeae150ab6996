package main

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// committedAt is the offset the admin commits for partition p (a distinct one each).
func committedAt(p int32) int64 { return int64(p) + 1 }

// groupOffsets is what OffsetFetch returns for o.group as {partition: offset}.
func groupOffsets(ctx context.Context, o options, admin *kadm.Client) (map[string]int64, error) {
	fetched, err := admin.FetchOffsets(ctx, o.group)
	if err != nil {
		return nil, err
	}
	if err := fetched.Error(); err != nil {
		return nil, err
	}
	offsets := map[string]int64{}
	fetched.Each(func(r kadm.OffsetResponse) {
		if r.Topic == o.topic {
			offsets[fmt.Sprint(r.Partition)] = r.At
		}
	})
	return offsets, nil
}

// adminGroupOffsets commits offsets for a group with no members, fetches them,
// lists and describes the group, deletes one partition's offset, then the group.
func adminGroupOffsets(ctx context.Context, o options, admin *kadm.Client, result map[string]any) error {
	var commit kadm.Offsets
	for p := int32(0); p < int32(o.partitions); p++ {
		commit.Add(kadm.Offset{Topic: o.topic, Partition: p, At: committedAt(p), LeaderEpoch: -1, Metadata: "franz-check"})
	}
	committed, err := admin.CommitOffsets(ctx, o.group, commit)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := committed.Error(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	fetched, err := groupOffsets(ctx, o, admin)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	metadata := map[string]string{}
	all, _ := admin.FetchOffsets(ctx, o.group)
	all.Each(func(r kadm.OffsetResponse) { metadata[fmt.Sprint(r.Partition)] = r.Metadata })
	groups := map[string]any{"fetched": fetched, "fetched_metadata": metadata}
	result["groups"] = groups
	coordinators := admin.FindGroupCoordinators(ctx, o.group)
	coordinator := coordinators[o.group]
	groups["coordinator_error"] = errorName(coordinator.Err)
	groups["coordinator"] = coordinator.NodeID
	listed, err := admin.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	g, ok := listed[o.group]
	groups["listed"] = ok
	groups["listed_state"] = g.State
	groups["listed_protocol_type"] = g.ProtocolType
	if groups["described"], err = describeGroup(ctx, o); err != nil {
		return err
	}
	deleted, err := admin.DeleteOffsets(ctx, o.group, kadm.TopicsSet{o.topic: {0: {}}})
	if err != nil {
		return fmt.Errorf("delete offsets: %w", err)
	}
	deleteErr, answered := deleted.Lookup(o.topic, 0)
	groups["delete_offset_answered"] = answered
	groups["delete_offset_error"] = errorName(deleteErr)
	if groups["fetched_after_offset_delete"], err = groupOffsets(ctx, o, admin); err != nil {
		return fmt.Errorf("fetch after delete offsets: %w", err)
	}
	return adminDeleteGroup(ctx, o, admin, groups)
}

func adminDeleteGroup(ctx context.Context, o options, admin *kadm.Client, groups map[string]any) error {
	deleted, err := admin.DeleteGroups(ctx, o.group)
	if err != nil {
		return fmt.Errorf("delete groups: %w", err)
	}
	groups["delete_group_error"] = errorName(deleted[o.group].Err)
	again, err := admin.DeleteGroups(ctx, o.group)
	if err != nil {
		return fmt.Errorf("delete groups again: %w", err)
	}
	groups["delete_group_again_error"] = errorName(again[o.group].Err)
	listed, err := admin.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list groups after delete: %w", err)
	}
	_, groups["listed_after_delete"] = listed[o.group]
	groups["fetched_after_group_delete"], err = groupOffsets(ctx, o, admin)
	return err
}

// adminCluster records the broker metadata, the coordinator, ApiVersions and
// the log dirs holding the topic.
// brokerMetadata is the cluster as kadm's BrokerMetadata (one Metadata request)
// answers it: cluster id, controller, and each broker's id and advertised
// host:port.
func brokerMetadata(ctx context.Context, admin *kadm.Client) (map[string]any, error) {
	meta, err := admin.BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker metadata: %w", err)
	}
	var brokers []map[string]any
	for _, b := range meta.Brokers {
		brokers = append(brokers, map[string]any{"node_id": b.NodeID, "host": b.Host, "port": b.Port})
	}
	return map[string]any{"cluster_id": meta.Cluster, "controller": meta.Controller, "brokers": brokers}, nil
}

// runBrokers reports brokerMetadata alone, as "cluster" (a cluster's broker
// list, without the admin scenario's topics and groups).
func runBrokers(ctx context.Context, o options, result map[string]any) error {
	admin, client, err := newAdmin(o)
	if err != nil {
		return err
	}
	defer client.Close()
	cluster, err := brokerMetadata(ctx, admin)
	if err != nil {
		return err
	}
	result["cluster"] = cluster
	return nil
}

func adminCluster(ctx context.Context, o options, admin *kadm.Client, result map[string]any) error {
	cluster, err := brokerMetadata(ctx, admin)
	if err != nil {
		return err
	}
	result["cluster"] = cluster
	versions, err := admin.ApiVersions(ctx)
	if err != nil {
		return fmt.Errorf("api versions: %w", err)
	}
	apiKeys := 0
	for _, v := range versions {
		if v.Err != nil {
			return fmt.Errorf("api versions of %d: %w", v.NodeID, v.Err)
		}
		v.EachKeySorted(func(int16, int16, int16) { apiKeys++ })
	}
	cluster["api_keys"] = apiKeys
	dirs, err := admin.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return fmt.Errorf("describe log dirs: %w", err)
	}
	partitionsOnDisk, bytesOnDisk := 0, int64(0)
	for broker, brokerDirs := range dirs {
		if err := brokerDirs.Error(); err != nil {
			return fmt.Errorf("describe log dirs of %d: %w", broker, err)
		}
		brokerDirs.EachPartition(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == o.topic {
				partitionsOnDisk++
				bytesOnDisk += p.Size
			}
		})
	}
	cluster["log_dir_partitions"] = partitionsOnDisk
	cluster["log_dir_bytes"] = bytesOnDisk
	return nil
}
