//! A Fetch response built from fuzz input, encoded by the broker's zero-copy
//! encoder at every version it writes, must decode with kafka-protocol's
//! FetchResponse decoder (what clients run) to the same topics, partitions,
//! fields and record bytes, with nothing left over.
#![no_main]

use bytes::{Buf, Bytes};
use kafka_protocol::messages::fetch_response::FetchResponse;
use kafka_protocol::messages::{ApiKey, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, StrBytes};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use millrace::protocol::fetch_response::{
    encode_fetch_response, AbortedTransactions, CurrentLeader, DivergingEpoch, FetchPartitionOut,
    FetchResponseOut, FetchTopicOut, NodeEndpoint, FETCH_VERSION_MAX, FETCH_VERSION_MIN,
};
use millrace::protocol::piece::Piece;
use uuid::Uuid;

/// Bounds on the generated response, to keep each run fast.
const TOPICS_MAX: usize = 6;
const PARTITIONS_MAX: usize = 6;
const PIECES_MAX: usize = 4;
const PIECE_BYTES_MAX: usize = 600;
/// Kafka's longest legal topic name (and well inside the INT16 string length).
const TOPIC_NAME_BYTES_MAX: usize = 249;
/// First version naming topics by id, first with log_start_offset, first with
/// the top-level error/session, first with preferred_read_replica.
const FIRST_TOPIC_ID_VERSION: i16 = 13;
const FIRST_LOG_START_OFFSET_VERSION: i16 = 5;
const FIRST_SESSION_VERSION: i16 = 7;
const FIRST_PREFERRED_REPLICA_VERSION: i16 = 11;
/// First flexible version: the partition's DivergingEpoch tagged field.
const FIRST_DIVERGING_EPOCH_VERSION: i16 = 12;
/// First version with CurrentLeader and NodeEndpoints (KIP-951).
const FIRST_CURRENT_LEADER_VERSION: i16 = 16;
/// Bounds on the generated NodeEndpoints.
const NODE_ENDPOINTS_MAX: usize = 4;
const HOST_BYTES_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok(response) = response_from(&mut input) else {
        return;
    };
    for version in FETCH_VERSION_MIN..=FETCH_VERSION_MAX {
        check_version(&response, version);
    }
});

fn response_from(input: &mut Unstructured) -> Result<FetchResponseOut> {
    let topic_count = input.int_in_range(0..=TOPICS_MAX)?;
    let mut topics = Vec::with_capacity(topic_count);
    for _ in 0..topic_count {
        topics.push(topic_from(input)?);
    }
    Ok(FetchResponseOut {
        throttle_time_ms: input.arbitrary()?,
        error_code: input.arbitrary()?,
        session_id: input.arbitrary()?,
        topics,
        node_endpoints: node_endpoints_from(input)?,
    })
}

fn node_endpoints_from(input: &mut Unstructured) -> Result<Vec<NodeEndpoint>> {
    let count = input.int_in_range(0..=NODE_ENDPOINTS_MAX)?;
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        nodes.push(NodeEndpoint {
            node_id: input.arbitrary()?,
            host: bounded_string(input, HOST_BYTES_MAX)?,
            port: input.arbitrary()?,
            rack: match input.arbitrary::<bool>()? {
                true => Some(bounded_string(input, HOST_BYTES_MAX)?),
                false => None,
            },
        });
    }
    Ok(nodes)
}

/// An arbitrary string cut to at most `max_bytes` on a char boundary.
fn bounded_string(input: &mut Unstructured, max_bytes: usize) -> Result<String> {
    let mut text: &str = input.arbitrary()?;
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text = &text[..end];
    }
    Ok(text.to_owned())
}

fn topic_from(input: &mut Unstructured) -> Result<FetchTopicOut> {
    let name = bounded_string(input, TOPIC_NAME_BYTES_MAX)?;
    let topic_id = Uuid::from_u128(input.arbitrary()?);
    let partition_count = input.int_in_range(0..=PARTITIONS_MAX)?;
    let mut partitions = Vec::with_capacity(partition_count);
    for _ in 0..partition_count {
        partitions.push(partition_from(input)?);
    }
    Ok(FetchTopicOut {
        name: TopicName(StrBytes::from_string(name)),
        topic_id,
        partitions,
    })
}

fn partition_from(input: &mut Unstructured) -> Result<FetchPartitionOut> {
    let mut partition = FetchPartitionOut {
        partition_index: input.arbitrary()?,
        error_code: input.arbitrary()?,
        high_watermark: input.arbitrary()?,
        last_stable_offset: input.arbitrary()?,
        log_start_offset: input.arbitrary()?,
        aborted_transactions: match input.arbitrary::<bool>()? {
            true => AbortedTransactions::Empty,
            false => AbortedTransactions::Null,
        },
        diverging_epoch: match input.arbitrary::<bool>()? {
            true => Some(DivergingEpoch {
                epoch: input.arbitrary()?,
                end_offset: input.arbitrary()?,
            }),
            false => None,
        },
        current_leader: match input.arbitrary::<bool>()? {
            true => Some(CurrentLeader {
                leader_id: input.arbitrary()?,
                leader_epoch: input.arbitrary()?,
            }),
            false => None,
        },
        records: Vec::new(),
    };
    let piece_count = input.int_in_range(0..=PIECES_MAX)?;
    for _ in 0..piece_count {
        let len = input.int_in_range(0..=PIECE_BYTES_MAX)?;
        let bytes = input.bytes(len)?;
        partition
            .records
            .push(Piece::Mem(Bytes::copy_from_slice(bytes)));
    }
    Ok(partition)
}

fn concat(pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Mem(bytes) => out.extend_from_slice(bytes),
            Piece::File(_) => panic!("file piece from memory-only input"),
        }
    }
    out
}

fn check_version(response: &FetchResponseOut, version: i16) {
    let correlation_id = version.into();
    let pieces = encode_fetch_response(correlation_id, version, response.clone());
    let mut frame = Bytes::from(concat(&pieces));
    assert!(frame.len() >= 4, "v{version}: no size prefix");
    let frame_len = frame.get_i32();
    assert_eq!(frame_len as usize, frame.len(), "v{version}: size prefix");
    let header_version = ApiKey::Fetch.response_header_version(version);
    let header = ResponseHeader::decode(&mut frame, header_version)
        .unwrap_or_else(|e| panic!("v{version}: header does not decode: {e}"));
    assert_eq!(header.correlation_id, correlation_id);
    let decoded = FetchResponse::decode(&mut frame, version)
        .unwrap_or_else(|e| panic!("v{version}: body does not decode: {e}"));
    assert!(
        frame.is_empty(),
        "v{version}: {} bytes left over",
        frame.len()
    );
    compare(response, &decoded, version);
    compare_node_endpoints(response, &decoded, version);
}

fn compare(expected: &FetchResponseOut, decoded: &FetchResponse, version: i16) {
    assert_eq!(decoded.throttle_time_ms, expected.throttle_time_ms);
    if version >= FIRST_SESSION_VERSION {
        assert_eq!(decoded.error_code, expected.error_code);
        assert_eq!(decoded.session_id, expected.session_id);
    }
    assert_eq!(
        decoded.responses.len(),
        expected.topics.len(),
        "v{version}: topics"
    );
    for (topic, out) in decoded.responses.iter().zip(&expected.topics) {
        if version >= FIRST_TOPIC_ID_VERSION {
            assert_eq!(topic.topic_id, out.topic_id, "v{version}: topic id");
        } else {
            assert_eq!(topic.topic, out.name, "v{version}: topic name");
        }
        assert_eq!(
            topic.partitions.len(),
            out.partitions.len(),
            "v{version}: partitions"
        );
        for (partition, out) in topic.partitions.iter().zip(&out.partitions) {
            assert_eq!(partition.partition_index, out.partition_index);
            assert_eq!(partition.error_code, out.error_code);
            assert_eq!(partition.high_watermark, out.high_watermark);
            assert_eq!(partition.last_stable_offset, out.last_stable_offset);
            if version >= FIRST_LOG_START_OFFSET_VERSION {
                assert_eq!(partition.log_start_offset, out.log_start_offset);
            }
            let aborted = partition.aborted_transactions.as_ref().map(Vec::len);
            let expected_aborted = match out.aborted_transactions {
                AbortedTransactions::Null => None,
                AbortedTransactions::Empty => Some(0),
            };
            assert_eq!(
                aborted, expected_aborted,
                "v{version}: aborted_transactions"
            );
            compare_tagged(partition, out, version);
            if version >= FIRST_PREFERRED_REPLICA_VERSION {
                assert_eq!(i32::from(partition.preferred_read_replica), -1);
            }
            let records = partition.records.as_deref().unwrap_or_default();
            assert_eq!(
                records,
                &concat(&out.records)[..],
                "v{version}: record bytes"
            );
        }
    }
}

/// The partition's tagged fields: written only from their first version, and
/// then read back as the crate's defaults when absent.
fn compare_tagged(
    partition: &kafka_protocol::messages::fetch_response::PartitionData,
    out: &FetchPartitionOut,
    version: i16,
) {
    let diverging = out
        .diverging_epoch
        .filter(|_| version >= FIRST_DIVERGING_EPOCH_VERSION);
    let (epoch, end_offset) = diverging.map_or((-1, -1), |d| (d.epoch, d.end_offset));
    assert_eq!(
        partition.diverging_epoch.epoch, epoch,
        "v{version}: diverging epoch"
    );
    assert_eq!(
        partition.diverging_epoch.end_offset, end_offset,
        "v{version}: diverging end offset"
    );
    let leader = out
        .current_leader
        .filter(|_| version >= FIRST_CURRENT_LEADER_VERSION);
    let (leader_id, leader_epoch) = leader.map_or((-1, -1), |l| (l.leader_id, l.leader_epoch));
    assert_eq!(
        i32::from(partition.current_leader.leader_id),
        leader_id,
        "v{version}: current leader id"
    );
    assert_eq!(
        partition.current_leader.leader_epoch, leader_epoch,
        "v{version}: current leader epoch"
    );
}

/// NodeEndpoints is written from v16 on, and only when not empty.
fn compare_node_endpoints(expected: &FetchResponseOut, decoded: &FetchResponse, version: i16) {
    let written: &[NodeEndpoint] = match version >= FIRST_CURRENT_LEADER_VERSION {
        true => &expected.node_endpoints,
        false => &[],
    };
    assert_eq!(
        decoded.node_endpoints.len(),
        written.len(),
        "v{version}: node endpoints"
    );
    for (node, out) in decoded.node_endpoints.iter().zip(written) {
        assert_eq!(i32::from(node.node_id), out.node_id);
        assert_eq!(&*node.host, out.host.as_str());
        assert_eq!(node.port, out.port);
        assert_eq!(node.rack.as_deref(), out.rack.as_deref());
    }
}
