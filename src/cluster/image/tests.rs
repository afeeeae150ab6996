use super::snapshot::{decode_snapshot, encode_snapshot, SnapshotError};
use super::*;

fn topic_id(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn register(broker_id: BrokerId, broker_epoch: i64) -> MetadataRecord {
    MetadataRecord::RegisterBroker(BrokerRegistration {
        broker_id,
        incarnation_id: Uuid::from_bytes([broker_id as u8 + 100; 16]),
        broker_epoch,
        endpoints: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: format!("b{broker_id}"),
            port: 9092,
            security_protocol: 0,
        }],
        rack: None,
        fenced: true,
        in_controlled_shutdown: false,
    })
}

fn partition(topic: u8, partition_id: i32, replicas: &[BrokerId]) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id: topic_id(topic),
        partition_id,
        registration: PartitionRegistration {
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            elr: vec![],
            last_known_elr: vec![],
            leader: Some(replicas[0]),
            leader_recovery_state: LeaderRecoveryState::Recovered,
            leader_epoch: 0,
            partition_epoch: 0,
            adding: Vec::new(),
            removing: Vec::new(),
        },
    })
}

fn change(topic: u8, partition_id: i32) -> PartitionChangeRecord {
    PartitionChangeRecord {
        topic_id: topic_id(topic),
        partition_id,
        ..Default::default()
    }
}

/// A history touching every record type: brokers come and go, topics are
/// created, changed, configured and deleted, producer ids are handed out.
fn history() -> Vec<MetadataRecord> {
    use MetadataRecord as M;
    let topic = |n: u8, name: &str| {
        M::Topic(TopicRecord {
            name: name.into(),
            topic_id: topic_id(n),
        })
    };
    let config = |resource, name: &str, value: Option<&str>| {
        M::Config(ConfigRecord {
            resource,
            name: name.into(),
            value: value.map(Into::into),
        })
    };
    vec![
        register(1, 0),
        register(2, 1),
        register(3, 2),
        M::UnfenceBroker(UnfenceBrokerRecord {
            broker_id: 1,
            broker_epoch: 0,
        }),
        M::UnfenceBroker(UnfenceBrokerRecord {
            broker_id: 2,
            broker_epoch: 1,
        }),
        M::UnfenceBroker(UnfenceBrokerRecord {
            broker_id: 3,
            broker_epoch: 2,
        }),
        config(
            ConfigResource::Broker(None),
            "min.insync.replicas",
            Some("2"),
        ),
        topic(1, "orders"),
        config(
            ConfigResource::Topic("orders".into()),
            "retention.ms",
            Some("1000"),
        ),
        partition(1, 0, &[1, 2, 3]),
        partition(1, 1, &[2, 3, 1]),
        topic(2, "audit"),
        partition(2, 0, &[3, 1]),
        M::PartitionChange(PartitionChangeRecord {
            isr: Some(vec![2, 3]),
            leader: LeaderChange::Set(Some(2)),
            ..change(1, 0)
        }),
        M::FenceBroker(FenceBrokerRecord {
            broker_id: 1,
            broker_epoch: 0,
        }),
        M::ProducerIds(ProducerIdsRecord {
            broker_id: 2,
            broker_epoch: 1,
            next_producer_id: 1000,
        }),
        M::BrokerControlledShutdown(BrokerControlledShutdownRecord {
            broker_id: 3,
            broker_epoch: 2,
        }),
        M::PartitionChange(PartitionChangeRecord {
            isr: Some(vec![]),
            elr: Some(vec![3, 1]),
            last_known_elr: Some(vec![3]),
            leader: LeaderChange::Set(None),
            ..change(2, 0)
        }),
        register(1, 18),
        M::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: 18,
            next_producer_id: 2000,
        }),
        config(ConfigResource::Topic("orders".into()), "retention.ms", None),
        config(
            ConfigResource::Topic("audit".into()),
            "cleanup.policy",
            Some("compact"),
        ),
        M::RemoveTopic(RemoveTopicRecord {
            topic_id: topic_id(2),
        }),
        M::NoOp,
        topic(3, "audit"),
        partition(3, 0, &[2]),
    ]
}

fn replay(records: &[MetadataRecord]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for (offset, record) in records.iter().enumerate() {
        image.apply(offset as i64, record).unwrap();
    }
    image
}

#[test]
fn history_applies_and_queries_answer() {
    let image = replay(&history());
    assert_eq!(image.offset(), history().len() as i64 - 1);
    assert_eq!(image.brokers().count(), 3);
    assert!(
        image.broker(1).unwrap().fenced,
        "re-registered broker starts fenced"
    );
    assert_eq!(image.broker(1).unwrap().broker_epoch, 18);
    assert!(!image.is_active(3), "broker 3 is in controlled shutdown");
    assert_eq!(
        image
            .active_brokers()
            .map(|b| b.broker_id)
            .collect::<Vec<_>>(),
        [2]
    );
    let orders = image.topic_by_name("orders").unwrap();
    assert_eq!(orders.partitions.len(), 2);
    let p0 = &orders.partitions[0];
    assert_eq!(
        (p0.leader, p0.leader_epoch, p0.partition_epoch),
        (Some(2), 1, 1)
    );
    assert_eq!(image.topic_by_name("audit").unwrap().topic_id, topic_id(3));
    let tp = |t, p| TopicIdPartition {
        topic_id: topic_id(t),
        partition: p,
    };
    assert_eq!(
        image.leaders_of(2).iter().copied().collect::<Vec<_>>(),
        [tp(1, 0), tp(1, 1), tp(3, 0)]
    );
    assert!(image.isr_partitions_of(1).contains(&tp(1, 1)));
    assert!(
        image.elr_partitions_of(3).is_empty(),
        "removed with its topic"
    );
    assert!(image.leaderless_partitions().is_empty());
    assert_eq!(image.topic_config("orders", "retention.ms"), None);
    assert_eq!(
        image.topic_config("audit", "cleanup.policy"),
        None,
        "configs go with the topic"
    );
    assert_eq!(
        image.config(&ConfigResource::Broker(None), "min.insync.replicas"),
        Some("2")
    );
    assert_eq!(image.next_producer_id(), 2000);
}

#[test]
fn snapshot_plus_tail_equals_full_replay_at_every_offset() {
    let records = history();
    let full = replay(&records);
    for cut in 0..=records.len() {
        let head = replay(&records[..cut]);
        let mut image = decode_snapshot(&encode_snapshot(&head)).unwrap();
        assert_eq!(image, head, "snapshot round trip at {cut}");
        for (offset, record) in records.iter().enumerate().skip(cut) {
            image.apply(offset as i64, record).unwrap();
        }
        assert_eq!(image, full, "snapshot at {cut} + tail");
        assert_eq!(image.digest(), full.digest());
    }
}

#[test]
fn records_that_do_not_fit_are_refused_and_change_nothing() {
    let mut image = replay(&history()[..13]);
    let before = image.clone();
    let next = image.offset() + 1;
    let bad = [
        MetadataRecord::FenceBroker(FenceBrokerRecord {
            broker_id: 9,
            broker_epoch: 0,
        }),
        MetadataRecord::FenceBroker(FenceBrokerRecord {
            broker_id: 1,
            broker_epoch: 5,
        }),
        partition(1, 5, &[1]),
        partition(9, 0, &[1]),
        MetadataRecord::PartitionChange(PartitionChangeRecord {
            isr: Some(vec![4]),
            ..change(1, 0)
        }),
        MetadataRecord::PartitionChange(PartitionChangeRecord {
            leader: LeaderChange::Set(Some(7)),
            ..change(1, 0)
        }),
        MetadataRecord::PartitionChange(change(1, 9)),
        MetadataRecord::Topic(TopicRecord {
            name: "orders".into(),
            topic_id: topic_id(8),
        }),
        MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Topic("nope".into()),
            name: "a".into(),
            value: Some("b".into()),
        }),
        MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: 0,
            next_producer_id: 0,
        }),
        register(2, 0),
    ];
    for record in &bad {
        assert!(image.apply(next, record).is_err(), "{record:?}");
        assert_eq!(image, before, "{record:?} changed the image");
    }
    assert!(matches!(
        image.apply(next + 1, &MetadataRecord::NoOp),
        Err(ApplyError::OffsetGap { .. })
    ));
}

#[test]
fn corrupt_snapshots_are_refused() {
    let bytes = encode_snapshot(&replay(&history()));
    for len in 0..bytes.len() {
        assert!(decode_snapshot(&bytes[..len]).is_err(), "prefix {len}");
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 1;
    assert!(matches!(
        decode_snapshot(&flipped),
        Err(SnapshotError::Decode(DecodeError::Checksum))
    ));
}
