use super::codec::{Reader, Writer};
use super::*;

fn id(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

/// One record of every type, with edge values where a field has them.
pub(crate) fn sample_records() -> Vec<MetadataRecord> {
    vec![
        MetadataRecord::RegisterBroker(BrokerRegistration {
            broker_id: 3,
            incarnation_id: id(9),
            broker_epoch: 1 << 40,
            endpoints: vec![
                Endpoint {
                    name: "PLAINTEXT".into(),
                    host: "broker-3.example".into(),
                    port: 9092,
                    security_protocol: 0,
                },
                Endpoint {
                    name: "SSL".into(),
                    host: "ünïcode".into(),
                    port: u16::MAX,
                    security_protocol: 1,
                },
            ],
            rack: Some("rack-a".into()),
            fenced: true,
            in_controlled_shutdown: false,
        }),
        MetadataRecord::UnregisterBroker(UnregisterBrokerRecord {
            broker_id: 0,
            broker_epoch: 0,
        }),
        MetadataRecord::FenceBroker(FenceBrokerRecord {
            broker_id: i32::MAX,
            broker_epoch: i64::MAX,
        }),
        MetadataRecord::UnfenceBroker(UnfenceBrokerRecord {
            broker_id: 7,
            broker_epoch: 12,
        }),
        MetadataRecord::BrokerControlledShutdown(BrokerControlledShutdownRecord {
            broker_id: 7,
            broker_epoch: 12,
        }),
        MetadataRecord::Topic(TopicRecord {
            name: "orders".into(),
            topic_id: id(1),
        }),
        MetadataRecord::RemoveTopic(RemoveTopicRecord { topic_id: id(1) }),
        MetadataRecord::Partition(PartitionRecord {
            topic_id: id(1),
            partition_id: 4,
            registration: PartitionRegistration {
                replicas: vec![1, 2, 3],
                isr: vec![1, 2],
                elr: vec![3],
                last_known_elr: vec![],
                leader: Some(1),
                leader_recovery_state: LeaderRecoveryState::Recovering,
                leader_epoch: 5,
                partition_epoch: 9,
                adding: vec![],
                removing: vec![],
            },
        }),
        MetadataRecord::Partition(PartitionRecord {
            topic_id: id(1),
            partition_id: 5,
            registration: PartitionRegistration {
                replicas: vec![4, 5, 1, 2],
                isr: vec![1, 2, 4],
                elr: vec![],
                last_known_elr: vec![],
                leader: Some(1),
                leader_recovery_state: LeaderRecoveryState::Recovered,
                leader_epoch: 5,
                partition_epoch: 9,
                adding: vec![4, 5],
                removing: vec![1, 2],
            },
        }),
        MetadataRecord::PartitionChange(PartitionChangeRecord {
            topic_id: id(1),
            partition_id: 4,
            isr: Some(vec![]),
            leader: LeaderChange::Set(None),
            replicas: None,
            elr: Some(vec![1, 2]),
            last_known_elr: Some(vec![1]),
            leader_recovery_state: Some(LeaderRecoveryState::Recovered),
            adding: None,
            removing: None,
        }),
        MetadataRecord::PartitionChange(PartitionChangeRecord {
            topic_id: id(1),
            partition_id: 5,
            replicas: Some(vec![4, 1]),
            adding: Some(vec![4]),
            removing: Some(vec![]),
            ..Default::default()
        }),
        MetadataRecord::PartitionChange(PartitionChangeRecord {
            topic_id: id(2),
            partition_id: 0,
            leader: LeaderChange::Set(Some(2)),
            ..Default::default()
        }),
        MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Topic("orders".into()),
            name: "min.insync.replicas".into(),
            value: Some("2".into()),
        }),
        MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Broker(None),
            name: "unclean.leader.election.enable".into(),
            value: None,
        }),
        MetadataRecord::Config(ConfigRecord {
            resource: ConfigResource::Broker(Some(2)),
            name: "k".into(),
            value: Some(String::new()),
        }),
        MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 2,
            broker_epoch: 77,
            next_producer_id: 2000,
        }),
        MetadataRecord::NoOp,
    ]
}

#[test]
fn every_record_type_round_trips() {
    for record in sample_records() {
        let mut out = Writer::default();
        encode_record(&record, &mut out);
        let mut input = Reader::new(&out.bytes);
        assert_eq!(decode_record(&mut input).unwrap(), record);
        assert_eq!(input.remaining(), 0, "{record:?}");
    }
}

#[test]
fn batch_round_trips_and_keeps_offsets() {
    let batch = RecordBatch {
        base_offset: 41,
        records: sample_records(),
    };
    let bytes = encode_batch(&batch);
    let decoded = decode_batch(&bytes).unwrap();
    assert_eq!(decoded, batch);
    assert_eq!(decoded.last_offset(), 41 + batch.records.len() as i64 - 1);
    let empty = RecordBatch {
        base_offset: 0,
        records: vec![],
    };
    assert_eq!(decode_batch(&encode_batch(&empty)).unwrap(), empty);
}

#[test]
fn encoding_is_pinned() {
    // Changing these bytes breaks every existing metadata log: bump a version
    // instead.
    let record = MetadataRecord::FenceBroker(FenceBrokerRecord {
        broker_id: 3,
        broker_epoch: 300,
    });
    let mut out = Writer::default();
    encode_record(&record, &mut out);
    assert_eq!(out.bytes, [7, 0, 3, 6, 0xd8, 0x04]);
    let batch = encode_batch(&RecordBatch {
        base_offset: 5,
        records: vec![MetadataRecord::NoOp],
    });
    assert_eq!(batch[0], 0);
    assert_eq!(&batch[5..], [10, 1, 20, 0, 0]);
}

#[test]
fn every_truncation_and_corruption_is_an_error_not_a_panic() {
    let bytes = encode_batch(&RecordBatch {
        base_offset: 1,
        records: sample_records(),
    });
    for len in 0..bytes.len() {
        assert!(decode_batch(&bytes[..len]).is_err(), "prefix {len}");
    }
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x40;
        // A flipped bit is caught by the header checks or the checksum.
        assert!(decode_batch(&bad).is_err(), "flip at {at}");
    }
}

#[test]
fn unknown_types_versions_and_bad_fields_are_refused() {
    let decode = |bytes: &[u8]| decode_record(&mut Reader::new(bytes));
    assert_eq!(decode(&[99, 0, 0]), Err(DecodeError::UnknownType(99)));
    assert_eq!(
        decode(&[20, 1, 0]),
        Err(DecodeError::UnsupportedVersion {
            record_type: 20,
            version: 1
        })
    );
    assert_eq!(decode(&[20, 0, 1, 0]), Err(DecodeError::TrailingBytes));
    // A Topic record with a nil id.
    let mut body = Writer::default();
    body.string("t");
    body.uuid(&Uuid::nil());
    let mut frame = vec![2, 0, body.bytes.len() as u8];
    frame.extend_from_slice(&body.bytes);
    assert_eq!(decode(&frame), Err(DecodeError::Invalid("nil UUID")));
    // A list longer than its limit is refused before any allocation.
    let mut long = Writer::default();
    long.uvarint(BROKER_LIST_LEN_MAX as u64 + 1);
    assert!(Reader::new(&long.bytes).brokers().is_err());
    // A varint longer than 10 bytes.
    assert!(Reader::new(&[0xff; 11]).uvarint().is_err());
}

#[test]
fn varints_round_trip_at_the_edges() {
    for value in [0, 1, -1, 63, -64, 64, i32::MAX as i64, i64::MIN, i64::MAX] {
        let mut out = Writer::default();
        out.varint(value);
        assert_eq!(Reader::new(&out.bytes).varint().unwrap(), value);
    }
    let mut out = Writer::default();
    out.uvarint(u64::MAX);
    assert_eq!(out.bytes.len(), 10);
    assert_eq!(Reader::new(&out.bytes).uvarint().unwrap(), u64::MAX);
}
