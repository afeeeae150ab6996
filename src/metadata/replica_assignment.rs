//! A CreateTopics manual replica assignment (`kafka-topics --replica-assignment`,
//! `NewTopic(replicasAssignments)`), checked as KRaft's
//! `ReplicationControlManager.createTopic` checks it, for the single node and
//! the cluster controller alike. Kafka honours the assignment as given; a
//! broker that silently placed the replicas elsewhere would break an
//! operator's rack or disk plan without a word.

use crate::protocol::error_code;
use std::collections::BTreeSet;

/// Why a manual assignment is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssignmentError {
    /// A partition count or replication factor came with the assignment
    /// (Kafka's INVALID_REQUEST: both must be -1).
    CountsGiven(String),
    /// The assignment itself is inconsistent (INVALID_REPLICA_ASSIGNMENT).
    Invalid(String),
}

impl AssignmentError {
    /// The Kafka error code and message of the refusal.
    pub fn code_and_message(&self) -> (i16, String) {
        match self {
            AssignmentError::CountsGiven(m) => (error_code::INVALID_REQUEST, m.clone()),
            AssignmentError::Invalid(m) => (error_code::INVALID_REPLICA_ASSIGNMENT, m.clone()),
        }
    }
}

/// The replicas of partitions 0..n in order, when `assignments` (partition
/// index, replicas) is a valid manual assignment: counts not given (-1), each
/// partition once and 0..n with none missing, every replica list non-empty,
/// of one length, without a broker twice, and of brokers `registered` says
/// exist. `assignments` must not be empty.
pub fn check_manual_assignment(
    num_partitions: i32,
    replication_factor: i16,
    assignments: &[(i32, Vec<i32>)],
    registered: impl Fn(i32) -> bool,
) -> Result<Vec<Vec<i32>>, AssignmentError> {
    if num_partitions != -1 {
        return Err(AssignmentError::CountsGiven(
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .into(),
        ));
    }
    if replication_factor != -1 {
        return Err(AssignmentError::CountsGiven(
            "A manual partition assignment was specified, but replicationFactor was not set to -1."
                .into(),
        ));
    }
    let mut ordered: Vec<Option<&Vec<i32>>> = vec![None; assignments.len()];
    for (index, replicas) in assignments {
        let slot = usize::try_from(*index)
            .ok()
            .and_then(|i| ordered.get_mut(i))
            .ok_or_else(|| {
                AssignmentError::Invalid(
                    "partitions should be a consecutive 0-based integer sequence".into(),
                )
            })?;
        if slot.replace(replicas).is_some() {
            return Err(AssignmentError::Invalid(format!(
                "Found multiple manual partition assignments for partition {index}"
            )));
        }
        check_replicas(*index, replicas, &registered)?;
    }
    let ordered: Vec<Vec<i32>> = ordered.into_iter().flatten().cloned().collect();
    let first_len = ordered.first().map_or(0, Vec::len);
    check_lengths(&ordered, first_len)?;
    Ok(ordered)
}

/// A CreatePartitions manual assignment of `added` new partitions of a topic
/// with `replication_factor` replicas each (KRaft's `createPartitions`): one
/// replica list per added partition, each valid and of the topic's length.
pub fn check_added_assignments(
    added: usize,
    replication_factor: usize,
    assignments: &[Vec<i32>],
    registered: impl Fn(i32) -> bool,
) -> Result<(), AssignmentError> {
    if assignments.len() != added {
        return Err(AssignmentError::Invalid(format!(
            "Attempted to add {added} additional partition(s), but only {} assignment(s) were \
             specified.",
            assignments.len()
        )));
    }
    for (index, replicas) in assignments.iter().enumerate() {
        check_replicas(index as i32, replicas, &registered)?;
    }
    check_lengths(assignments, replication_factor)
}

/// Every replica list has `expected` replicas.
fn check_lengths(assignments: &[Vec<i32>], expected: usize) -> Result<(), AssignmentError> {
    match assignments.iter().find(|r| r.len() != expected) {
        Some(odd) => Err(AssignmentError::Invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this \
             is not consistent with previous partitions, which have {expected} replica(s).",
            odd.len()
        ))),
        None => Ok(()),
    }
}

/// KRaft's `validateManualPartitionAssignment` for one partition.
fn check_replicas(
    index: i32,
    replicas: &[i32],
    registered: &impl Fn(i32) -> bool,
) -> Result<(), AssignmentError> {
    if replicas.is_empty() {
        return Err(AssignmentError::Invalid(format!(
            "The manual partition assignment of partition {index} includes an empty replica list."
        )));
    }
    let mut seen = BTreeSet::new();
    for broker in replicas {
        if !seen.insert(*broker) {
            return Err(AssignmentError::Invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            )));
        }
        if !registered(*broker) {
            return Err(AssignmentError::Invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker \
                 is registered."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(assignments: &[(i32, Vec<i32>)]) -> Result<Vec<Vec<i32>>, AssignmentError> {
        check_manual_assignment(-1, -1, assignments, |b| (1..=3).contains(&b))
    }

    fn refused(assignments: &[(i32, Vec<i32>)]) -> String {
        match check(assignments) {
            Err(AssignmentError::Invalid(message)) => message,
            other => panic!("expected INVALID_REPLICA_ASSIGNMENT, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_assignment_comes_back_in_partition_order() {
        let got = check(&[(1, vec![3, 1]), (0, vec![2, 3])]).unwrap();
        assert_eq!(got, vec![vec![2, 3], vec![3, 1]]);
    }

    #[test]
    fn counts_given_with_an_assignment_are_an_invalid_request() {
        for (partitions, rf) in [(1, -1), (-1, 1)] {
            let got = check_manual_assignment(partitions, rf, &[(0, vec![1])], |_| true);
            assert!(
                matches!(got, Err(AssignmentError::CountsGiven(_))),
                "{got:?}"
            );
        }
    }

    #[test]
    fn inconsistent_assignments_are_refused_with_the_reason() {
        assert!(refused(&[(0, vec![1]), (2, vec![2])]).contains("consecutive"));
        assert!(refused(&[(-1, vec![1])]).contains("consecutive"));
        assert!(refused(&[(0, vec![1]), (0, vec![2])]).contains("multiple"));
        assert!(refused(&[(0, vec![])]).contains("empty"));
        assert!(refused(&[(0, vec![2, 2])]).contains("more than once"));
        assert!(refused(&[(0, vec![1, 42])]).contains("broker 42"));
        assert!(refused(&[(0, vec![1, 2]), (1, vec![3])]).contains("not consistent"));
    }

    #[test]
    fn added_partitions_need_one_valid_list_each_of_the_topics_length() {
        let registered = |b| (1..=3).contains(&b);
        assert_eq!(
            check_added_assignments(2, 2, &[vec![1, 2], vec![3, 1]], registered),
            Ok(())
        );
        let refusals = [
            (
                check_added_assignments(2, 2, &[vec![1, 2]], registered),
                "but only 1",
            ),
            (
                check_added_assignments(1, 2, &[vec![1]], registered),
                "not consistent",
            ),
            (
                check_added_assignments(1, 2, &[vec![1, 1]], registered),
                "more than once",
            ),
            (
                check_added_assignments(1, 2, &[vec![1, 9]], registered),
                "broker 9",
            ),
        ];
        for (got, reason) in refusals {
            match got {
                Err(AssignmentError::Invalid(message)) => {
                    assert!(message.contains(reason), "{message}")
                }
                other => panic!("expected a refusal for {reason}, got {other:?}"),
            }
        }
    }
}
