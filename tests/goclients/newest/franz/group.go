package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupRounds: o.count records each while a and b share the topic, after b
// left (a owns everything), and for c, a new member resuming at the commits.
const groupRounds = 3

// runGroup: members a and b split o.topic; b leaves and its partitions move to
// a; every record arrives exactly once; the commits equal the end offsets; the
// group is Empty after a leaves; a new member c resumes at the commits.
func runGroup(ctx context.Context, o options, result map[string]any) error {
	check := newDeliveryCheck(o, 0, groupRounds*o.count)
	defer func() { result["delivery"] = check.summary() }()
	a, err := startMember(o, "a", "", check)
	if err != nil {
		return err
	}
	b, err := startMember(o, "b", "", check)
	if err != nil {
		return errors.Join(err, a.stop())
	}
	if err := waitFor("a and b split the partitions", func() bool { return splitsAllPartitions(o, a, b) }); err != nil {
		result["owned"] = ownership(a, b)
		return errors.Join(err, a.stop(), b.stop())
	}
	result["owned_by_two"] = ownership(a, b)
	described, err := describeGroup(ctx, o)
	result["described_with_two"] = described
	if err != nil {
		return errors.Join(err, a.stop(), b.stop())
	}
	if err := produceAndAwait(ctx, o, 0, check); err != nil {
		return errors.Join(err, a.stop(), b.stop())
	}

	eventsBefore := a.eventCount()
	if err := b.stop(); err != nil {
		return errors.Join(err, a.stop())
	}
	moved := waitFor("b's partitions move to a", func() bool { return len(a.ownedPartitions()) == o.partitions })
	result["a_events_when_b_left"] = a.eventsSince(eventsBefore)
	if moved != nil {
		return errors.Join(moved, a.stop())
	}
	if err := produceAndAwait(ctx, o, 1, check); err != nil {
		return errors.Join(err, a.stop())
	}
	if err := a.stop(); err != nil {
		return err
	}
	if err := compareCommitsWithEnds(ctx, o, result, "after_a_left"); err != nil {
		return err
	}
	described, err = describeGroup(ctx, o)
	result["described_after_leaving"] = described
	if err != nil {
		return err
	}

	c, err := startMember(o, "c", "", check)
	if err != nil {
		return err
	}
	if err := produceAndAwait(ctx, o, 2, check); err != nil {
		return errors.Join(err, c.stop())
	}
	return c.stop()
}

// produceAndAwait produces round's o.count records and waits until the members
// received every record so far.
func produceAndAwait(ctx context.Context, o options, round int, check *deliveryCheck) error {
	first := round * o.count
	misplaced, err := produceRecords(ctx, o, first, o.count)
	if err != nil {
		return fmt.Errorf("round %d: %w", round, err)
	}
	if len(misplaced) > 0 {
		return fmt.Errorf("round %d: %d misplaced, first: %s", round, len(misplaced), misplaced[0])
	}
	return waitFor(fmt.Sprintf("round %d consumed", round), func() bool { return check.seenCount() >= first+o.count })
}

func newAdmin(o options) (*kadm.Client, *kgo.Client, error) {
	client, err := kgo.NewClient(clientOptions(o)...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(client), client, nil
}

// describeGroup is what DescribeGroups says of o.group: state, protocol and
// each member's client id, instance id and assigned partitions.
func describeGroup(ctx context.Context, o options) (map[string]any, error) {
	admin, client, err := newAdmin(o)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	groups, err := admin.DescribeGroups(ctx, o.group)
	if err != nil {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	g, ok := groups[o.group]
	if !ok {
		return nil, fmt.Errorf("describe groups: no answer for %s", o.group)
	}
	if g.Err != nil {
		return nil, fmt.Errorf("describe groups: %w", g.Err)
	}
	var members []map[string]any
	for _, m := range g.Members {
		var assigned []int32
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				assigned = append(assigned, t.Partitions...)
			}
		}
		slices.Sort(assigned)
		instance := ""
		if m.InstanceID != nil {
			instance = *m.InstanceID
		}
		members = append(members, map[string]any{"client_id": m.ClientID, "instance_id": instance,
			"member_id": m.MemberID, "assigned": assigned})
	}
	return map[string]any{"state": g.State, "protocol_type": g.ProtocolType, "protocol": g.Protocol,
		"members": members}, nil
}

// compareCommitsWithEnds records o.group's committed offsets (OffsetFetch) and
// o.topic's end offsets (ListOffsets latest) under result[committed_<label>]
// and result[ends_<label>].
func compareCommitsWithEnds(ctx context.Context, o options, result map[string]any, label string) error {
	admin, client, err := newAdmin(o)
	if err != nil {
		return err
	}
	defer client.Close()
	fetched, err := admin.FetchOffsets(ctx, o.group)
	if err != nil {
		return fmt.Errorf("fetch offsets: %w", err)
	}
	if err := fetched.Error(); err != nil {
		return fmt.Errorf("fetch offsets: %w", err)
	}
	committed := map[string]int64{}
	fetched.Each(func(r kadm.OffsetResponse) { committed[fmt.Sprint(r.Partition)] = r.At })
	ends, err := admin.ListEndOffsets(ctx, o.topic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	endOffsets := map[string]int64{}
	ends.Each(func(l kadm.ListedOffset) { endOffsets[fmt.Sprint(l.Partition)] = l.Offset })
	result["committed_"+label] = committed
	result["ends_"+label] = endOffsets
	return nil
}
