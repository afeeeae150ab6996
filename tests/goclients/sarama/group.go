package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

// groupDeadline bounds each wait of the group scenario (join, consume, resume).
const groupDeadline = 15 * time.Second

// pollInterval is how often the scenario looks at what the members recorded.
const pollInterval = 20 * time.Millisecond

// seen is one message as a group member received it.
type seen struct {
	member    string
	partition int32
	offset    int64
	key       string
	value     string
}

// recorder collects, across members, the claims of each session and every message.
type recorder struct {
	mu       sync.Mutex
	claims   map[string][]int32
	messages []seen
}

func (r *recorder) setClaims(member string, partitions []int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sorted := append([]int32(nil), partitions...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
	r.claims[member] = sorted
}

func (r *recorder) snapshot() (map[string][]int32, []seen) {
	r.mu.Lock()
	defer r.mu.Unlock()
	claims := map[string][]int32{}
	for k, v := range r.claims {
		claims[k] = v
	}
	return claims, append([]seen(nil), r.messages...)
}

// member is one ConsumerGroup handler; it marks every message it is given.
type member struct {
	name string
	rec  *recorder
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	var partitions []int32
	for _, ps := range s.Claims() {
		partitions = append(partitions, ps...)
	}
	m.rec.setClaims(m.name, partitions)
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		m.rec.mu.Lock()
		m.rec.messages = append(m.rec.messages, seen{m.name, msg.Partition, msg.Offset, string(msg.Key), string(msg.Value)})
		m.rec.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}

// running is a started group member; stop ends its session (committing) and closes it.
type running struct {
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan error
}

func startMember(o options, config *sarama.Config, name string, rec *recorder) (*running, error) {
	group, err := sarama.NewConsumerGroup([]string{o.bootstrap}, o.group, config)
	if err != nil {
		return nil, fmt.Errorf("member %s: new consumer group: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{group: group, cancel: cancel, done: make(chan error, 1)}
	handler := &member{name: name, rec: rec}
	go func() {
		for {
			err := group.Consume(ctx, []string{o.topic}, handler)
			if ctx.Err() != nil || err != nil {
				r.done <- err
				return
			}
		}
	}()
	return r, nil
}

func (r *running) stop() error {
	r.cancel()
	var err error
	select {
	case err = <-r.done:
	case <-time.After(groupDeadline):
		err = fmt.Errorf("session did not end within %v", groupDeadline)
	}
	if cerr := r.group.Close(); err == nil {
		err = cerr
	}
	return err
}

// waitFor polls cond until it holds or groupDeadline passes.
func waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(groupDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, groupDeadline)
		}
		time.Sleep(pollInterval)
	}
	return nil
}

func groupConfig(o options, config *sarama.Config) (*sarama.Config, error) {
	switch o.strategy {
	case "range":
		config.Consumer.Group.Rebalance.Strategy = sarama.BalanceStrategyRange
	case "roundrobin":
		config.Consumer.Group.Rebalance.Strategy = sarama.BalanceStrategyRoundRobin
	default:
		return nil, fmt.Errorf("unknown strategy %q", o.strategy)
	}
	config.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	config.Consumer.Group.Session.Timeout = 6 * time.Second
	config.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	config.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	config.Consumer.Group.Rebalance.Retry.Max = 3
	config.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	return config, nil
}

// runGroup: two members share o.topic's partitions and receive o.count messages
// exactly once; their commits are checked; a third member resumes at them.
func runGroup(o options, config *sarama.Config, result map[string]interface{}) error {
	config, err := groupConfig(o, config)
	if err != nil {
		return err
	}
	rec := &recorder{claims: map[string][]int32{}}
	a, err := startMember(o, config, "a", rec)
	if err != nil {
		return err
	}
	b, err := startMember(o, config, "b", rec)
	if err != nil {
		a.stop()
		return err
	}
	shared := func() bool {
		claims, _ := rec.snapshot()
		return len(claims["a"]) > 0 && len(claims["b"]) > 0 && len(claims["a"])+len(claims["b"]) == o.partitions
	}
	joinErr := waitFor("both members assigned", shared)
	claims, _ := rec.snapshot()
	result["claims"] = claims
	if joinErr != nil {
		a.stop()
		b.stop()
		return joinErr
	}
	placed, err := produceMessages(o, config, 0, o.count)
	if err != nil {
		a.stop()
		b.stop()
		return err
	}
	consumeErr := waitFor("all messages consumed", func() bool {
		_, msgs := rec.snapshot()
		return len(msgs) >= len(placed)
	})
	stopA, stopB := a.stop(), b.stop()
	claims, msgs := rec.snapshot()
	result["claims_at_end"] = claims
	result["delivery"] = checkDelivery(msgs, placed, 0)
	if consumeErr != nil {
		return consumeErr
	}
	if stopA != nil || stopB != nil {
		return fmt.Errorf("stopping members: %v / %v", stopA, stopB)
	}
	committed, err := committedOffsets(o, config)
	if err != nil {
		return err
	}
	result["committed"] = committed
	result["end_offsets"] = endOffsets(placed)
	if err := describeGroup(o, config, result); err != nil {
		return err
	}
	return resume(o, config, placed, result)
}

// describeGroup records what ListGroups and DescribeGroups say of o.group.
func describeGroup(o options, config *sarama.Config, result map[string]interface{}) error {
	admin, err := sarama.NewClusterAdmin([]string{o.bootstrap}, config)
	if err != nil {
		return fmt.Errorf("new cluster admin: %v", err)
	}
	defer admin.Close()
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return fmt.Errorf("list consumer groups: %v", err)
	}
	protocolType, listed := groups[o.group]
	result["listed"] = listed
	result["listed_protocol_type"] = protocolType
	described, err := admin.DescribeConsumerGroups([]string{o.group})
	if err != nil || len(described) != 1 {
		return fmt.Errorf("describe consumer groups: %v (%d answers)", err, len(described))
	}
	result["described_state"] = described[0].State
	result["described_protocol_type"] = described[0].ProtocolType
	result["described_members"] = len(described[0].Members)
	return nil
}

// resume produces o.resumeCount more messages and starts a new member: it must
// receive exactly those, not the ones already committed.
func resume(o options, config *sarama.Config, before []produced, result map[string]interface{}) error {
	placed, err := produceMessages(o, config, len(before), o.resumeCount)
	if err != nil {
		return err
	}
	rec := &recorder{claims: map[string][]int32{}}
	c, err := startMember(o, config, "c", rec)
	if err != nil {
		return err
	}
	waitErr := waitFor("resumed messages consumed", func() bool {
		_, msgs := rec.snapshot()
		return len(msgs) >= len(placed)
	})
	stopErr := c.stop()
	_, msgs := rec.snapshot()
	result["resumed"] = checkDelivery(msgs, placed, len(before))
	if waitErr != nil {
		return waitErr
	}
	return stopErr
}

// checkDelivery compares what members received with what was produced
// (message first+i at placed[i]): counts, duplicates, missing, content, order.
func checkDelivery(msgs []seen, placed []produced, first int) map[string]interface{} {
	want := map[[2]int64]int{}
	for i, p := range placed {
		want[[2]int64{int64(p.partition), p.offset}] = first + i
	}
	got := map[[2]int64]int{}
	perMember := map[string]int{}
	lastOffset := map[int32]int64{}
	var wrong, unexpected, outOfOrder int
	for _, m := range msgs {
		perMember[m.member]++
		at := [2]int64{int64(m.partition), m.offset}
		got[at]++
		i, ok := want[at]
		if !ok {
			unexpected++
		} else if m.key != messageKey(i) || m.value != messageValue(i) {
			wrong++
		}
		if last, ok := lastOffset[m.partition]; ok && m.offset <= last {
			outOfOrder++
		}
		lastOffset[m.partition] = m.offset
	}
	duplicates, missing := 0, 0
	for at := range want {
		switch n := got[at]; {
		case n == 0:
			missing++
		case n > 1:
			duplicates += n - 1
		}
	}
	return map[string]interface{}{
		"received": len(msgs), "expected": len(placed), "per_member": perMember,
		"duplicates": duplicates, "missing": missing, "wrong_content": wrong,
		"unexpected": unexpected, "out_of_order": outOfOrder,
	}
}

func endOffsets(placed []produced) map[string]int64 {
	ends := map[string]int64{}
	for _, p := range placed {
		name := fmt.Sprint(p.partition)
		if p.offset+1 > ends[name] {
			ends[name] = p.offset + 1
		}
	}
	return ends
}

// committedOffsets reads the group's commits with ClusterAdmin (OffsetFetch).
func committedOffsets(o options, config *sarama.Config) (map[string]int64, error) {
	admin, err := sarama.NewClusterAdmin([]string{o.bootstrap}, config)
	if err != nil {
		return nil, fmt.Errorf("new cluster admin: %v", err)
	}
	defer admin.Close()
	var partitions []int32
	for p := 0; p < o.partitions; p++ {
		partitions = append(partitions, int32(p))
	}
	resp, err := admin.ListConsumerGroupOffsets(o.group, map[string][]int32{o.topic: partitions})
	if err != nil {
		return nil, fmt.Errorf("list consumer group offsets: %v", err)
	}
	committed := map[string]int64{}
	for _, p := range partitions {
		block := resp.GetBlock(o.topic, p)
		if block == nil {
			return nil, fmt.Errorf("no committed offset block for partition %d", p)
		}
		if block.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("committed offset of partition %d: %v", p, block.Err)
		}
		committed[fmt.Sprint(p)] = block.Offset
	}
	return committed, nil
}
