package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Instance ids of the static scenario's two members.
const (
	instanceOne = "static-1"
	instanceTwo = "static-2"
)

// runStatic: two static members (InstanceID, KIP-345) split o.topic. One closes
// (a static member does not leave) and restarts with its instance id within the
// session timeout: it gets its partitions back, the other member sees no
// rebalance, the generation stays, and the records produced meanwhile arrive
// once. An admin LeaveGroup by instance id then empties the group.
func runStatic(ctx context.Context, o options, result map[string]any) error {
	check := newDeliveryCheck(o, 0, 2*o.count)
	defer func() { result["delivery"] = check.summary() }()
	one, err := startMember(o, "one", instanceOne, check)
	if err != nil {
		return err
	}
	two, err := startMember(o, "two", instanceTwo, check)
	if err != nil {
		return errors.Join(err, one.stop())
	}
	if err := waitFor("the static members split the partitions", func() bool { return splitsAllPartitions(o, one, two) }); err != nil {
		result["owned"] = ownership(one, two)
		return errors.Join(err, one.stop(), two.stop())
	}
	ownedBefore := one.ownedPartitions()
	result["owned_before_restart"] = ownership(one, two)
	_, generationBefore := one.client.GroupMetadata()
	result["described_before_restart"], err = describeGroup(ctx, o)
	if err != nil {
		return errors.Join(err, one.stop(), two.stop())
	}
	if err := produceAndAwait(ctx, o, 0, check); err != nil {
		return errors.Join(err, one.stop(), two.stop())
	}

	twoEvents := two.eventCount()
	if err := one.stop(); err != nil {
		return errors.Join(err, two.stop())
	}
	result["described_while_away"], err = describeGroup(ctx, o)
	if err != nil {
		return errors.Join(err, two.stop())
	}
	misplaced, err := produceRecords(ctx, o, o.count, o.count)
	if err == nil && len(misplaced) > 0 {
		err = fmt.Errorf("%d misplaced, first: %s", len(misplaced), misplaced[0])
	}
	if err != nil {
		return errors.Join(err, two.stop())
	}
	back, err := startMember(o, "one-again", instanceOne, check)
	if err != nil {
		return errors.Join(err, two.stop())
	}
	caughtUp := waitFor("the restarted member catches up", func() bool { return check.done() })
	_, generationAfter := back.client.GroupMetadata()
	result["owned_after_restart"] = ownership(back, two)
	result["generation_kept"] = generationAfter == generationBefore
	result["same_partitions_back"] = fmt.Sprint(back.ownedPartitions()) == fmt.Sprint(ownedBefore)
	result["other_member_events_during_restart"] = two.eventsSince(twoEvents)
	if err := errors.Join(caughtUp, back.stop(), two.stop()); err != nil {
		return err
	}
	if err := compareCommitsWithEnds(ctx, o, result, "after_close"); err != nil {
		return err
	}
	return removeStaticMembers(ctx, o, result)
}

// removeStaticMembers sends LeaveGroup by instance id (v3+) for both members.
func removeStaticMembers(ctx context.Context, o options, result map[string]any) error {
	admin, client, err := newAdmin(o)
	if err != nil {
		return err
	}
	defer client.Close()
	left, err := admin.LeaveGroup(ctx, kadm.LeaveGroup(o.group).InstanceIDs(instanceOne, instanceTwo).Reason("franz-check done"))
	if err != nil {
		return fmt.Errorf("leave group: %w", err)
	}
	if err := left.Error(); err != nil {
		return fmt.Errorf("leave group: %w", err)
	}
	result["left_instances"] = len(left)
	result["described_after_leave_group"], err = describeGroup(ctx, o)
	return err
}
