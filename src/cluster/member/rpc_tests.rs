//! Round trips of the inter-broker RPC (`rpc.rs`).

use super::*;

#[test]
fn registration_round_trips_through_the_wire() {
    let request = Request::RegisterBroker(BrokerRegistrationRequest {
        broker_id: 3,
        cluster_id: "c".into(),
        incarnation_id: Uuid::new_v4(),
        endpoints: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
            security_protocol: 0,
        }],
        rack: None,
        previous_broker_epoch: -1,
    });
    let wire = RpcRequest::from_request(&request, Some("127.0.0.1:1")).unwrap();
    let decoded: RpcRequest = decode(&encode(&wire)).unwrap();
    assert_eq!(decoded.into_request(), Some(request));
}

#[test]
fn alter_partition_round_trips_through_the_wire() {
    let tp = TopicIdPartition {
        topic_id: Uuid::new_v4(),
        partition: 4,
    };
    let request = Request::AlterPartition(AlterPartitionRequest {
        broker_id: 2,
        broker_epoch: 17,
        partitions: vec![AlterPartitionItem {
            tp,
            leader_epoch: 3,
            partition_epoch: 9,
            new_isr: vec![(2, -1), (3, 12)],
            leader_recovery_state: LeaderRecoveryState::Recovering,
        }],
    });
    let wire = RpcRequest::from_request(&request, None).unwrap();
    let decoded: RpcRequest = decode(&encode(&wire)).unwrap();
    assert_eq!(decoded.into_request(), Some(request));
    let state = PartitionState {
        leader: Some(2),
        leader_epoch: 3,
        partition_epoch: 10,
        replicas: vec![1, 2, 3],
        isr: vec![2, 3],
        leader_recovery_state: LeaderRecoveryState::Recovered,
    };
    let reply = Reply::AlterPartition(Ok(vec![
        AlterPartitionResult {
            tp,
            result: Ok(state),
        },
        AlterPartitionResult {
            tp,
            result: Err(ResponseError::InvalidUpdateVersion),
        },
    ]));
    let wire: WireReply = decode(&encode(&WireReply::from_reply(&reply))).unwrap();
    assert_eq!(wire.into_alter_partition_reply(), Some(reply));
    let refused = Reply::AlterPartition(Err(ResponseError::StaleBrokerEpoch));
    let wire = WireReply::from_reply(&refused);
    assert_eq!(wire.into_alter_partition_reply(), Some(refused));
}

#[test]
fn delete_topics_by_id_reach_the_controller_and_names_keep_their_old_form() {
    let id = Uuid::new_v4();
    let mixed = Request::DeleteTopics(DeleteTopicsRequest {
        topics: vec![TopicRef::Name("a".into()), TopicRef::Id(id)],
    });
    let wire = RpcRequest::from_request(&mixed, None).unwrap();
    assert!(matches!(wire, RpcRequest::DeleteTopicRefs { .. }));
    let decoded: RpcRequest = decode(&encode(&wire)).unwrap();
    assert_eq!(decoded.into_request(), Some(mixed));
    // Names alone go as every controller version decodes them.
    let names = Request::DeleteTopics(DeleteTopicsRequest {
        topics: vec![TopicRef::Name("a".into())],
    });
    let wire = RpcRequest::from_request(&names, None).unwrap();
    assert_eq!(
        wire,
        RpcRequest::DeleteTopics {
            names: vec!["a".into()]
        }
    );
    let deleted = DeletedTopic {
        topic_id: id,
        name: "b".into(),
    };
    let reply = Reply::DeleteTopics(vec![
        (
            TopicRef::Name("a".into()),
            Err(ResponseError::UnknownTopicOrPartition),
        ),
        (TopicRef::Id(id), Ok(deleted)),
        (
            TopicRef::Id(Uuid::new_v4()),
            Err(ResponseError::UnknownTopicId),
        ),
    ]);
    let unknown_id = ResponseError::UnknownTopicId.code();
    let unknown_name = ResponseError::UnknownTopicOrPartition.code();
    assert_eq!(
        WireReply::from_reply(&reply),
        WireReply::Topics(vec![
            ("a".into(), unknown_name),
            ("b".into(), 0),
            (String::new(), unknown_id),
        ])
    );
}

#[test]
fn refusals_keep_their_kafka_error() {
    let reply = Reply::RegisterBroker(Err(ResponseError::DuplicateBrokerRegistration));
    let wire = WireReply::from_reply(&reply);
    assert_eq!(wire.into_lifecycle_reply(), Some(reply));
    assert!(decode::<RpcRequest>(&[0xff, 0xff]).is_err());
}

#[test]
fn quorum_requests_reach_the_leader_not_the_controller() {
    let op = QuorumOp::AddVoter {
        id: 4,
        addr: "127.0.0.1:9393".into(),
        timeout_ms: 30_000,
    };
    let decoded: RpcRequest = decode(&encode(&RpcRequest::Quorum(op.clone()))).unwrap();
    assert_eq!(decoded, RpcRequest::Quorum(op));
    assert_eq!(decoded.into_request(), None);
    let answer = RpcResponse::Quorum(QuorumAnswer::Refused {
        code: 126,
        message: "node 4 is already a voter".into(),
    });
    assert_eq!(decode::<RpcResponse>(&encode(&answer)).unwrap(), answer);
}
