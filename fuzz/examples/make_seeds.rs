//! Writes the seed corpus: valid frames for every API and version the broker
//! serves (default and populated bodies) and a few valid record batches.
//! Run from `fuzz/`: `cargo run --example make_seeds` (no sanitizer needed).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{encode_request_header_into_buffer, StrBytes};
use millrace::protocol::record_batch::{build_test_batch, TestBatch};
use millrace::server::handlers::{produce, SUPPORTED_APIS};
use std::fs;
use std::path::Path;

/// Topic name used in populated requests.
const TOPIC: &str = "seed-topic";

fn main() -> std::io::Result<()> {
    write_request_seeds(Path::new("corpus/request_frame"))?;
    write_batch_seeds(Path::new("corpus/record_batches"))?;
    write_semantics_seeds(Path::new("corpus/batch_semantics"))
}

fn write_request_seeds(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut written = 0;
    for &(api_key, range) in SUPPORTED_APIS {
        for version in range.min..=range.max {
            for (kind, request) in sample_requests(api_key, version) {
                if let Some(frame) = encode_frame(api_key, version, &request) {
                    let name = format!("{api_key:?}-v{version}-{kind}");
                    fs::write(dir.join(name), frame)?;
                    written += 1;
                }
            }
        }
    }
    println!("{written} request frames in {}", dir.display());
    Ok(())
}

/// Size prefix, header (client id "seed"), body; Produce v0-2 as the broker
/// reads it: the v3 body without its null transactional id.
fn encode_frame(api_key: ApiKey, version: i16, request: &RequestKind) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("seed")));
    let mut frame = BytesMut::new();
    encode_request_header_into_buffer(&mut frame, &header).ok()?;
    let mut body = BytesMut::new();
    if api_key == ApiKey::Produce && version < produce::CRATE_VERSION_MIN {
        request.encode(&mut body, produce::CRATE_VERSION_MIN).ok()?;
        let _ = body.split_to(2);
    } else {
        request.encode(&mut body, version).ok()?;
    }
    frame.extend_from_slice(&body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    Some(out)
}

fn sample_requests(api_key: ApiKey, version: i16) -> Vec<(&'static str, RequestKind)> {
    let topic = || TopicName(StrBytes::from_static_str(TOPIC));
    let mut out: Vec<(&'static str, RequestKind)> = Vec::new();
    match api_key {
        ApiKey::Produce => {
            out.push(("default", ProduceRequest::default().into()));
            let records = Bytes::from(build_test_batch(&TestBatch {
                record_count: 2,
                value_bytes: 8,
                ..TestBatch::default()
            }));
            let partition = PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records));
            let request = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic())
                    .with_partition_data(vec![partition])]);
            out.push(("one-batch", request.into()));
        }
        ApiKey::Fetch => {
            out.push(("default", FetchRequest::default().into()));
            let mut fetch_topic =
                FetchTopic::default().with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20)]);
            if version >= 13 {
                fetch_topic.topic_id = uuid::Uuid::from_u128(1);
            } else {
                fetch_topic.topic = topic();
            }
            let request = FetchRequest::default()
                .with_replica_id((-1).into())
                .with_max_wait_ms(500)
                .with_max_bytes(1 << 20)
                .with_topics(vec![fetch_topic]);
            out.push(("one-partition", request.into()));
        }
        ApiKey::ListOffsets => out.push(("default", ListOffsetsRequest::default().into())),
        ApiKey::OffsetForLeaderEpoch => {
            out.push(("default", OffsetForLeaderEpochRequest::default().into()))
        }
        ApiKey::Metadata => {
            out.push(("default", MetadataRequest::default().into()));
            let request = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic())),
            ]));
            out.push(("one-topic", request.into()));
        }
        ApiKey::CreateTopics => out.push(("default", CreateTopicsRequest::default().into())),
        ApiKey::DeleteTopics => out.push(("default", DeleteTopicsRequest::default().into())),
        ApiKey::InitProducerId => out.push(("default", InitProducerIdRequest::default().into())),
        ApiKey::DescribeConfigs => out.push(("default", DescribeConfigsRequest::default().into())),
        ApiKey::CreatePartitions => {
            out.push(("default", CreatePartitionsRequest::default().into()))
        }
        ApiKey::ApiVersions => out.push(("default", ApiVersionsRequest::default().into())),
        ApiKey::DescribeLogDirs => {
            out.push(("default", DescribeLogDirsRequest::default().into()));
            let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
                DescribableLogDirTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![0, 1]),
            ]));
            out.push(("one-topic", request.into()));
        }
        ApiKey::IncrementalAlterConfigs => {
            out.push(("default", IncrementalAlterConfigsRequest::default().into()));
            let config = AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_static_str("60000")));
            let resource = AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str(TOPIC))
                .with_configs(vec![config]);
            let request = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
            out.push(("one-config", request.into()));
        }
        ApiKey::AlterConfigs => {
            out.push(("default", AlterConfigsRequest::default().into()));
            let config = alter_configs_request::AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("60000")));
            let resource = alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str(TOPIC))
                .with_configs(vec![config]);
            let request = AlterConfigsRequest::default().with_resources(vec![resource]);
            out.push(("one-config", request.into()));
        }
        ApiKey::DescribeCluster => {
            out.push(("default", DescribeClusterRequest::default().into()));
            let request = DescribeClusterRequest::default()
                .with_include_cluster_authorized_operations(true);
            out.push(("authorized-operations", request.into()));
        }
        ApiKey::DescribeQuorum => out.push(("default", DescribeQuorumRequest::default().into())),
        ApiKey::AddRaftVoter => out.push(("default", AddRaftVoterRequest::default().into())),
        ApiKey::RemoveRaftVoter => {
            out.push(("default", RemoveRaftVoterRequest::default().into()))
        }
        ApiKey::ElectLeaders => out.push(("default", ElectLeadersRequest::default().into())),
        _ => group_requests(api_key, version, &mut out),
    }
    out
}

/// The consumer-group APIs: a default body each, a populated one where the
/// body has nested collections worth reaching.
fn group_requests(api_key: ApiKey, version: i16, out: &mut Vec<(&'static str, RequestKind)>) {
    let group = || GroupId(StrBytes::from_static_str("seed-group"));
    match api_key {
        ApiKey::FindCoordinator => out.push(("default", FindCoordinatorRequest::default().into())),
        ApiKey::JoinGroup => {
            out.push(("default", JoinGroupRequest::default().into()));
            let protocol = JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"\x00\x01\x00\x00\x00\x01\x00\x01t"));
            let request = JoinGroupRequest::default()
                .with_group_id(group())
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![protocol]);
            out.push(("one-protocol", request.into()));
        }
        ApiKey::SyncGroup => out.push(("default", SyncGroupRequest::default().into())),
        ApiKey::Heartbeat => out.push(("default", HeartbeatRequest::default().into())),
        ApiKey::LeaveGroup => out.push(("default", LeaveGroupRequest::default().into())),
        ApiKey::OffsetCommit => {
            out.push(("default", OffsetCommitRequest::default().into()));
            let partition = OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(42);
            let mut topic = OffsetCommitRequestTopic::default().with_partitions(vec![partition]);
            if version >= 10 {
                topic.topic_id = uuid::Uuid::from_u128(1);
            } else {
                topic.name = TopicName(StrBytes::from_static_str(TOPIC));
            }
            let request = OffsetCommitRequest::default()
                .with_group_id(group())
                .with_topics(vec![topic]);
            out.push(("one-partition", request.into()));
        }
        ApiKey::OffsetFetch => out.push(("default", OffsetFetchRequest::default().into())),
        ApiKey::ListGroups => out.push(("default", ListGroupsRequest::default().into())),
        ApiKey::DescribeGroups => out.push(("default", DescribeGroupsRequest::default().into())),
        ApiKey::DeleteGroups => out.push(("default", DeleteGroupsRequest::default().into())),
        ApiKey::OffsetDelete => out.push(("default", OffsetDeleteRequest::default().into())),
        // A served API without a seed would go unfuzzed: refuse to write a partial corpus.
        other => panic!("make_seeds: no seed request for {other:?}; add one"),
    }
}

fn write_batch_seeds(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let single = build_test_batch(&TestBatch::default());
    let idempotent = build_test_batch(&TestBatch {
        record_count: 3,
        producer_id: 1000,
        producer_epoch: 0,
        base_sequence: 5,
        ..TestBatch::default()
    });
    let mut two = build_test_batch(&TestBatch {
        record_count: 2,
        value_bytes: 4,
        ..TestBatch::default()
    });
    two.extend(build_test_batch(&TestBatch {
        base_offset: 2,
        value_bytes: 0,
        ..TestBatch::default()
    }));
    for (name, bytes) in [("single", single), ("idempotent", idempotent), ("two", two)] {
        fs::write(dir.join(name), bytes)?;
    }
    println!("3 record batch seeds in {}", dir.display());
    Ok(())
}

/// What `batch_semantics` makes inconsistent, by the index its first input
/// byte selects (`Unstructured::choose` over its `TWISTS`: byte % 10).
const SEMANTICS_TWISTS: [&str; 10] = [
    "consistent",
    "count",
    "last-offset-delta",
    "base-offset",
    "producer-fields",
    "record-length",
    "stray-bytes",
    "codec",
    "second-batch",
    "crc",
];
/// Seeds per twist, and bytes per seed (the target draws its choices from them).
const SEMANTICS_SEEDS_PER_TWIST: u64 = 3;
const SEMANTICS_SEED_BYTES: usize = 600;

/// `batch_semantics` inputs are choices, not batches: each seed is the twist
/// index followed by deterministic pseudo-random bytes (an LCG), so that
/// every twist starts from batches with records, codecs and producer fields.
fn write_semantics_seeds(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut written = 0;
    for (twist, name) in SEMANTICS_TWISTS.iter().enumerate() {
        for variant in 0..SEMANTICS_SEEDS_PER_TWIST {
            let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (twist as u64 * 31 + variant);
            let mut bytes = vec![twist as u8];
            bytes.extend((1..SEMANTICS_SEED_BYTES).map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 56) as u8
            }));
            fs::write(dir.join(format!("{name}-{variant}")), bytes)?;
            written += 1;
        }
    }
    println!("{written} batch semantics seeds in {}", dir.display());
    Ok(())
}
