package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Group timings: short, so a scenario runs in seconds; generous waits, so a
// loaded machine does not fail it.
const (
	sessionTimeout     = 6 * time.Second
	heartbeatInterval  = 300 * time.Millisecond
	rebalanceTimeout   = 10 * time.Second
	autoCommitInterval = 200 * time.Millisecond
	waitDeadline       = 20 * time.Second
	pollInterval       = 20 * time.Millisecond
	pollMaxRecords     = 500
)

// member is one group consumer: a kgo client polling in a goroutine, recording
// every record into check and every assignment change as an event.
type member struct {
	name   string
	client *kgo.Client
	check  *deliveryCheck
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	owned  map[int32]bool
	events []string
	errs   []string
}

func balancer(name string) (kgo.GroupBalancer, error) {
	switch name {
	case "cooperative-sticky":
		return kgo.CooperativeStickyBalancer(), nil
	case "sticky":
		return kgo.StickyBalancer(), nil
	case "range":
		return kgo.RangeBalancer(), nil
	case "roundrobin":
		return kgo.RoundRobinBalancer(), nil
	}
	return nil, fmt.Errorf("unknown balancer %q", name)
}

// startMember joins o.group; instanceID "" is a dynamic member.
func startMember(o options, name, instanceID string, check *deliveryCheck) (*member, error) {
	b, err := balancer(o.balancer)
	if err != nil {
		return nil, err
	}
	m := &member{name: name, check: check, owned: map[int32]bool{}, done: make(chan error, 1)}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(o.group),
		kgo.ConsumeTopics(o.topic),
		kgo.Balancers(b),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(heartbeatInterval),
		kgo.RebalanceTimeout(rebalanceTimeout),
		kgo.AutoCommitInterval(autoCommitInterval),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Records polled are recorded before the group may rebalance, and the
		// revoke callback commits them: no record is delivered twice.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(m.onAssigned),
		kgo.OnPartitionsRevoked(m.onRevoked),
		kgo.OnPartitionsLost(m.onLost),
	}
	if instanceID != "" {
		opts = append(opts, kgo.InstanceID(instanceID))
	}
	m.client, err = kgo.NewClient(clientOptions(o, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.poll(ctx)
	return m, nil
}

func (m *member) poll(ctx context.Context) {
	for {
		fetches := m.client.PollRecords(ctx, pollMaxRecords)
		fetches.EachRecord(func(r *kgo.Record) { m.check.add(m.name, r) })
		// Every poll blocks rebalances until this, the last one too: a
		// leave (Close) waits for it.
		m.client.AllowRebalance()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			m.done <- nil
			return
		}
		if err := fetchError(fetches); err != nil {
			m.note("poll: " + err.Error())
		}
	}
}

func (m *member) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	m.change("assigned", assigned, true)
}

// onRevoked commits what was polled before the partitions go (replacing kgo's
// default revoke, which does the same).
func (m *member) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	m.change("revoked", revoked, false)
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		m.note("commit on revoke: " + err.Error())
	}
}

func (m *member) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.change("lost", lost, false)
}

func (m *member) change(what string, partitions map[string][]int32, own bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var changed []int32
	for _, ps := range partitions {
		for _, p := range ps {
			m.owned[p] = own
			changed = append(changed, p)
		}
	}
	slices.Sort(changed)
	m.events = append(m.events, fmt.Sprintf("%s %v", what, changed))
}

func (m *member) note(problem string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, problem)
}

// ownedPartitions is the sorted set this member owns now.
func (m *member) ownedPartitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var owned []int32
	for p, own := range m.owned {
		if own {
			owned = append(owned, p)
		}
	}
	slices.Sort(owned)
	return owned
}

func (m *member) eventCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

func (m *member) eventsSince(n int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string{}, m.events[n:]...)
}

// stop ends polling, commits what was polled and closes the client (a dynamic
// member leaves the group; a static one stays until its session times out).
func (m *member) stop() error {
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(waitDeadline):
		return fmt.Errorf("member %s: poll loop did not end", m.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	commitErr := m.client.CommitUncommittedOffsets(ctx)
	m.client.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	if commitErr != nil {
		return fmt.Errorf("member %s: final commit: %w", m.name, commitErr)
	}
	if len(m.errs) > 0 {
		return fmt.Errorf("member %s: %v", m.name, m.errs)
	}
	return nil
}

// waitFor polls cond until it holds or waitDeadline passes.
func waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, waitDeadline)
		}
		time.Sleep(pollInterval)
	}
	return nil
}

// splitsAllPartitions says whether the members own disjoint, non-empty sets
// that together are every partition.
func splitsAllPartitions(o options, members ...*member) bool {
	seen := map[int32]bool{}
	for _, m := range members {
		owned := m.ownedPartitions()
		if len(owned) == 0 {
			return false
		}
		for _, p := range owned {
			if seen[p] {
				return false
			}
			seen[p] = true
		}
	}
	return len(seen) == o.partitions
}

func ownership(members ...*member) map[string][]int32 {
	owned := map[string][]int32{}
	for _, m := range members {
		owned[m.name] = m.ownedPartitions()
	}
	return owned
}
