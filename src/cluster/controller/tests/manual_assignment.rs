//! CreateTopics with a manual replica assignment: honoured as given, checked
//! as KRaft's `ReplicationControlManager.createTopic` checks it.

use super::*;

fn create_assigned(
    h: &mut Harness,
    name: &str,
    assignments: Vec<(i32, Vec<BrokerId>)>,
) -> Result<Uuid, ResponseError> {
    let topic = NewTopic {
        name: name.into(),
        num_partitions: -1,
        replication_factor: -1,
        configs: vec![],
        assignments,
    };
    let request = CreateTopicsRequest {
        topics: vec![topic],
        validate_only: false,
    };
    match h.call(Request::CreateTopics(request)) {
        Reply::CreateTopics(mut results) => results.remove(0).1.map(|t| t.topic_id),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_manual_assignment_is_honoured_with_its_first_replica_leading() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    let id = create_assigned(&mut h, "manual", vec![(1, vec![3, 1]), (0, vec![2, 3])]).unwrap();
    let p0 = h.partition(id, 0);
    assert_eq!(
        (p0.replicas.clone(), p0.isr.clone(), p0.leader),
        (vec![2, 3], vec![2, 3], Some(2))
    );
    let p1 = h.partition(id, 1);
    assert_eq!(
        (p1.replicas.clone(), p1.isr.clone(), p1.leader),
        (vec![3, 1], vec![3, 1], Some(3))
    );
}

#[test]
fn a_fenced_replica_starts_out_of_sync_and_an_all_fenced_partition_is_refused() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    h.silence(&[2]);
    assert!(!h.image().is_active(2), "broker 2 fenced");
    let id = create_assigned(&mut h, "half", vec![(0, vec![2, 3])]).unwrap();
    let p0 = h.partition(id, 0);
    assert_eq!((p0.isr.clone(), p0.leader), (vec![3], Some(3)));
    assert_eq!(
        create_assigned(&mut h, "dark", vec![(0, vec![2])]),
        Err(ResponseError::InvalidReplicaAssignment)
    );
    assert!(h.image().topic_by_name("dark").is_none());
}

#[test]
fn bad_manual_assignments_are_refused_and_create_nothing() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    let bad = [
        vec![(0, vec![1, 1])],
        vec![(0, vec![1, 42])],
        vec![(0, vec![])],
        vec![(0, vec![1]), (2, vec![2])],
        vec![(0, vec![1, 2]), (1, vec![3])],
    ];
    for (i, assignments) in bad.into_iter().enumerate() {
        let name = format!("bad-{i}");
        let got = create_assigned(&mut h, &name, assignments.clone());
        assert_eq!(
            got,
            Err(ResponseError::InvalidReplicaAssignment),
            "{assignments:?}"
        );
        assert!(h.image().topic_by_name(&name).is_none());
    }
    let topic = NewTopic {
        name: "counted".into(),
        num_partitions: 1,
        replication_factor: -1,
        configs: vec![],
        assignments: vec![(0, vec![1])],
    };
    let reply = h.call(Request::CreateTopics(CreateTopicsRequest {
        topics: vec![topic],
        validate_only: false,
    }));
    let Reply::CreateTopics(results) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(results[0].1, Err(ResponseError::InvalidRequest));
}

fn grow_assigned(
    h: &mut Harness,
    name: &str,
    count: i32,
    assignments: Vec<Vec<BrokerId>>,
) -> Result<(), ResponseError> {
    let request = CreatePartitionsRequest {
        topics: vec![NewPartitions {
            name: name.into(),
            count,
            assignments,
        }],
        validate_only: false,
    };
    match h.call(Request::CreatePartitions(request)) {
        Reply::CreatePartitions(mut results) => results.remove(0).1,
        other => panic!("{other:?}"),
    }
}

#[test]
fn added_partitions_take_their_manual_assignment_or_are_refused() {
    let mut h = Harness::new(config());
    h.start_brokers([1, 2, 3]);
    let id = h.create_topic("grow", 1, 2).unwrap();
    for bad in [
        vec![vec![1]],
        vec![vec![1, 2]; 2],
        vec![vec![1, 42]],
        vec![vec![3, 3]],
    ] {
        assert_eq!(
            grow_assigned(&mut h, "grow", 2, bad.clone()),
            Err(ResponseError::InvalidReplicaAssignment),
            "{bad:?}"
        );
    }
    assert_eq!(h.image().topic(id).unwrap().partitions.len(), 1);
    grow_assigned(&mut h, "grow", 3, vec![vec![3, 1], vec![2, 3]]).unwrap();
    assert_eq!(h.partition(id, 1).replicas, vec![3, 1]);
    assert_eq!(h.partition(id, 1).leader, Some(3));
    assert_eq!(h.partition(id, 2).replicas, vec![2, 3]);
}
