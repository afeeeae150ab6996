package main

import (
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// placement is where record i must be: records are numbered from 0 per topic and
// produced in order, record i to partition i % partitions, so at offset i / partitions.
func placement(o options, i int) (int32, int64) {
	return int32(i % o.partitions), int64(i / o.partitions)
}

// deliveryCheck compares what consumers received with records first..first+count-1:
// each exactly once, at its placement, intact, in offset order per partition.
type deliveryCheck struct {
	mu          sync.Mutex
	o           options
	first       int
	count       int
	received    int
	seen        map[int]int
	perMember   map[string]int
	lastOffset  map[string]int64 // member/partition -> last offset that member got
	unexpected  int
	wrong       int
	outOfOrder  int
	problems    []string
	problemSeen int
}

func newDeliveryCheck(o options, first, count int) *deliveryCheck {
	return &deliveryCheck{o: o, first: first, count: count, seen: map[int]int{},
		perMember: map[string]int{}, lastOffset: map[string]int64{}}
}

func (c *deliveryCheck) add(member string, r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received++
	c.perMember[member]++
	at := fmt.Sprintf("%s/%d", member, r.Partition)
	if last, ok := c.lastOffset[at]; ok && r.Offset <= last {
		c.outOfOrder++
		c.note(fmt.Sprintf("%s p%d: offset %d after %d", member, r.Partition, r.Offset, last))
	}
	c.lastOffset[at] = r.Offset
	i := recordIndex(r)
	if r.Topic != c.o.topic || i < c.first || i >= c.first+c.count {
		c.unexpected++
		c.note(fmt.Sprintf("%s: unexpected %s[%d]@%d key %q", member, r.Topic, r.Partition, r.Offset, r.Key))
		return
	}
	c.seen[i]++
	partition, offset := placement(c.o, i)
	if problem := contentProblem(r, i); problem != "" {
		c.wrong++
		c.note(problem)
	} else if r.Partition != partition || r.Offset != offset {
		c.wrong++
		c.note(fmt.Sprintf("record %d at p%d@%d, want p%d@%d", i, r.Partition, r.Offset, partition, offset))
	}
}

// note keeps the first maxProblems problems.
func (c *deliveryCheck) note(problem string) {
	c.problemSeen++
	if len(c.problems) < maxProblems {
		c.problems = append(c.problems, problem)
	}
}

// done says whether every expected record arrived at least once.
func (c *deliveryCheck) done() bool { return c.seenCount() == c.count }

// seenCount is how many distinct expected records arrived.
func (c *deliveryCheck) seenCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *deliveryCheck) summary() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	duplicates, missing := 0, 0
	for i := c.first; i < c.first+c.count; i++ {
		switch n := c.seen[i]; {
		case n == 0:
			missing++
		case n > 1:
			duplicates += n - 1
		}
	}
	return map[string]any{
		"expected": c.count, "received": c.received, "per_member": c.perMember,
		"missing": missing, "duplicates": duplicates, "unexpected": c.unexpected,
		"wrong": c.wrong, "out_of_order": c.outOfOrder, "problems": c.problems, "problem_count": c.problemSeen,
	}
}
