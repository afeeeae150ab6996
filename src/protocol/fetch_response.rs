//! Zero-copy Fetch response encoder.
//!
//! A Fetch response is mostly record bytes. Those stay where they are (shard
//! memory or a segment file region); only the protocol fields around them are
//! encoded, into one buffer that is then sliced (no copy) into the
//! [`Piece::Mem`] chunks sitting between the record pieces.
//!
//! Tagged-field sections are written empty (count 0) unless a field has a
//! value (librdkafka < 2.2 misreads default-valued tagged fields, see
//! KAFKA-COMPAT.md): a partition's DivergingEpoch, and for a refused
//! partition its CurrentLeader with the leaders' NodeEndpoints (KIP-951).

use crate::protocol::piece::{pieces_len, Piece};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::TopicName;
use uuid::Uuid;

/// Oldest Fetch response version this encoder writes (Kafka 4.x floor).
pub const FETCH_VERSION_MIN: i16 = 4;
/// Newest Fetch response version this encoder writes. Versions 17 and 18
/// have the same response fields as 16 (as far as this encoder writes them).
pub const FETCH_VERSION_MAX: i16 = 18;

/// First version with the flexible (compact, tagged) encoding.
const FIRST_FLEXIBLE_VERSION: i16 = 12;
/// First version with top-level error_code and session_id.
pub const FIRST_SESSION_VERSION: i16 = 7;
/// First version with a per-partition log_start_offset.
const FIRST_LOG_START_OFFSET_VERSION: i16 = 5;
/// First version with preferred_read_replica.
const FIRST_PREFERRED_REPLICA_VERSION: i16 = 11;
/// First version that names topics by id instead of by name.
pub const FIRST_TOPIC_ID_VERSION: i16 = 13;
/// "No preferred read replica": the consumer keeps fetching from the leader.
const NO_PREFERRED_READ_REPLICA: i32 = -1;
/// First version with the response's NodeEndpoints (KIP-951); Kafka names
/// a refused partition's CurrentLeader from this version on too.
pub const FIRST_NODE_ENDPOINTS_VERSION: i16 = 16;

/// Upper bound of the encoded bytes of one response-level field block
/// (size prefix, header, throttle, error, session, array length, tags).
const RESPONSE_FIXED_BYTES_MAX: usize = 4 + 4 + 1 + 4 + 2 + 4 + 5 + 1;
/// Upper bound of one topic's fixed fields (name length or uuid, array length, tags).
const TOPIC_FIXED_BYTES_MAX: usize = 16 + 5 + 1 + 5;
/// Upper bound of one partition's fields (records excluded).
/// (index, error, offsets, aborted array, preferred replica, records length,
/// tags with a diverging epoch).
const PARTITION_FIXED_BYTES_MAX: usize =
    4 + 2 + 8 + 8 + 8 + 5 + 4 + 5 + 1 + DIVERGING_EPOCH_TAG_BYTES + CURRENT_LEADER_TAG_BYTES;
/// The partition's tagged field 0, DivergingEpoch (v12+).
const DIVERGING_EPOCH_TAG: u64 = 0;
/// DivergingEpoch's body: epoch, end offset, its empty tagged fields.
const DIVERGING_EPOCH_BYTES: usize = 4 + 8 + 1;
/// The tag and size varints and the body.
const DIVERGING_EPOCH_TAG_BYTES: usize = 1 + 1 + DIVERGING_EPOCH_BYTES;
/// The partition's tagged field 1, CurrentLeader (v12+).
const CURRENT_LEADER_TAG: u64 = 1;
/// CurrentLeader's body: leader id, leader epoch, its empty tagged fields.
const CURRENT_LEADER_BYTES: usize = 4 + 4 + 1;
/// The tag and size varints and the body.
const CURRENT_LEADER_TAG_BYTES: usize = 1 + 1 + CURRENT_LEADER_BYTES;
/// The response's tagged field 0, NodeEndpoints (v16+).
const NODE_ENDPOINTS_TAG: u64 = 0;
/// Upper bound of one node endpoint's fixed fields (id, port, the host's
/// and rack's length varints, its tagged fields).
const NODE_ENDPOINT_FIXED_BYTES_MAX: usize = 4 + 4 + 5 + 5 + 1;

/// Where a fetcher's log diverges from the leader's (Fetch v12+, from its
/// `LastFetchedEpoch`): it truncates to `end_offset`, the end of `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DivergingEpoch {
    /// The largest epoch at or below the fetcher's last fetched epoch.
    pub epoch: i32,
    /// Where that epoch ends in the leader's log.
    pub end_offset: i64,
}

/// The leader a refused partition names (CurrentLeader, KIP-951): the
/// client moves there without asking for metadata first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurrentLeader {
    /// The leader's broker id (-1: unknown).
    pub leader_id: i32,
    /// Its leader epoch (-1: unknown).
    pub leader_epoch: i32,
}

/// A broker a response names for its CurrentLeader fields (NodeEndpoints,
/// KIP-951): its advertised client listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEndpoint {
    /// Its broker id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

/// One partition of a Fetch response; `records` are whole record batches.
#[derive(Clone, Debug)]
pub struct FetchPartitionOut {
    /// Partition number.
    pub partition_index: i32,
    /// Kafka error code for this partition (0 = none).
    pub error_code: i16,
    /// Offset after the last committed (acknowledged, replicated) record.
    pub high_watermark: i64,
    /// Last stable offset (equals the high watermark without transactions).
    pub last_stable_offset: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// The aborted transactions field (there are no transactions yet).
    pub aborted_transactions: AbortedTransactions,
    /// Set when the fetcher's last fetched epoch diverges (tagged, v12+).
    pub diverging_epoch: Option<DivergingEpoch>,
    /// The leader a refusal names (tagged, v12+; written from v16, as Kafka
    /// fills it).
    pub current_leader: Option<CurrentLeader>,
    /// Record batch bytes, sent as they are; their total length is the
    /// `records` field length.
    pub records: Vec<Piece>,
}

/// How a partition's aborted_transactions field is written. Kafka sends an
/// empty list to read_committed fetches and for partitions it refuses
/// before reading, null otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortedTransactions {
    /// A null array.
    Null,
    /// An empty array.
    Empty,
}

/// One topic of a Fetch response.
#[derive(Clone, Debug)]
pub struct FetchTopicOut {
    /// Topic name, written in versions 4..=12.
    pub name: TopicName,
    /// Topic id, written in versions 13 and later.
    pub topic_id: Uuid,
    /// Partitions answered for this topic.
    pub partitions: Vec<FetchPartitionOut>,
}

/// A whole Fetch response body.
#[derive(Clone, Debug)]
pub struct FetchResponseOut {
    /// Throttle time in milliseconds (0: not throttled).
    pub throttle_time_ms: i32,
    /// Top-level error code (v7+), 0 = none.
    pub error_code: i16,
    /// Fetch session id (v7+); 0 = no session.
    pub session_id: i32,
    /// Topics answered.
    pub topics: Vec<FetchTopicOut>,
    /// The brokers the partitions' CurrentLeader fields name (tagged, v16+).
    pub node_endpoints: Vec<NodeEndpoint>,
}

/// Encodes a whole response frame: 4-byte size prefix, response header
/// (correlation id, plus an empty tagged-field section when flexible) and the
/// body.
///
/// Protocol fields go into one buffer, sliced into [`Piece::Mem`] chunks;
/// record pieces are passed through untouched, empty ones dropped.
///
/// Preconditions (checked by the caller when it validates the request):
/// `version` is within [`FETCH_VERSION_MIN`]..=[`FETCH_VERSION_MAX`], and each
/// partition's records total at most `i32::MAX` bytes (fetch limits keep them
/// far below).
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    response: FetchResponseOut,
) -> Vec<Piece> {
    debug_assert!((FETCH_VERSION_MIN..=FETCH_VERSION_MAX).contains(&version));
    let mut writer = FieldWriter::new(version, field_bytes_estimate(&response));
    writer.buf.put_i32(0); // size prefix, patched in `finish`
    writer.put_response_header(correlation_id);
    writer.put_response_fields(&response);
    writer.put_array_len(response.topics.len());
    for topic in response.topics {
        writer.put_topic(topic);
    }
    match version >= FIRST_NODE_ENDPOINTS_VERSION && !response.node_endpoints.is_empty() {
        true => writer.put_node_endpoints(&response.node_endpoints),
        false => writer.put_empty_tagged_fields(),
    }
    writer.finish()
}

/// Upper bound of the protocol field bytes, so the buffer is allocated once.
fn field_bytes_estimate(response: &FetchResponseOut) -> usize {
    let topics = response.topics.iter().map(|topic| {
        TOPIC_FIXED_BYTES_MAX
            + topic.name.0.len()
            + topic.partitions.len() * PARTITION_FIXED_BYTES_MAX
    });
    let endpoints = response.node_endpoints.iter().map(|node| {
        NODE_ENDPOINT_FIXED_BYTES_MAX + node.host.len() + node.rack.as_ref().map_or(0, String::len)
    });
    RESPONSE_FIXED_BYTES_MAX + topics.sum::<usize>() + endpoints.sum::<usize>()
}

/// Writes protocol fields into one buffer and remembers where record pieces go.
struct FieldWriter {
    version: i16,
    flexible: bool,
    buf: BytesMut,
    /// Record pieces keyed by the buffer offset they follow, in order.
    records_at: Vec<(usize, Vec<Piece>)>,
    records_bytes: usize,
}

impl FieldWriter {
    fn new(version: i16, capacity_bytes: usize) -> Self {
        Self {
            version,
            flexible: version >= FIRST_FLEXIBLE_VERSION,
            buf: BytesMut::with_capacity(capacity_bytes),
            records_at: Vec::new(),
            records_bytes: 0,
        }
    }

    fn put_response_header(&mut self, correlation_id: i32) {
        self.buf.put_i32(correlation_id);
        // Response header v1 (flexible versions) adds a tagged-field section.
        if self.flexible {
            self.put_empty_tagged_fields();
        }
    }

    fn put_response_fields(&mut self, response: &FetchResponseOut) {
        self.buf.put_i32(response.throttle_time_ms);
        if self.version >= FIRST_SESSION_VERSION {
            self.buf.put_i16(response.error_code);
            self.buf.put_i32(response.session_id);
        }
    }

    fn put_topic(&mut self, topic: FetchTopicOut) {
        if self.version >= FIRST_TOPIC_ID_VERSION {
            self.buf.put_slice(topic.topic_id.as_bytes());
        } else {
            self.put_string(topic.name.0.as_bytes());
        }
        self.put_array_len(topic.partitions.len());
        for partition in topic.partitions {
            self.put_partition(partition);
        }
        self.put_empty_tagged_fields();
    }

    fn put_partition(&mut self, partition: FetchPartitionOut) {
        self.buf.put_i32(partition.partition_index);
        self.buf.put_i16(partition.error_code);
        self.buf.put_i64(partition.high_watermark);
        self.buf.put_i64(partition.last_stable_offset);
        if self.version >= FIRST_LOG_START_OFFSET_VERSION {
            self.buf.put_i64(partition.log_start_offset);
        }
        match partition.aborted_transactions {
            AbortedTransactions::Null => self.put_null_array(),
            AbortedTransactions::Empty => self.put_array_len(0),
        }
        if self.version >= FIRST_PREFERRED_REPLICA_VERSION {
            self.buf.put_i32(NO_PREFERRED_READ_REPLICA);
        }
        self.put_records(partition.records);
        if !self.flexible {
            return;
        }
        // Tagged fields in tag order: DivergingEpoch (0), CurrentLeader (1).
        let diverging = partition.diverging_epoch;
        // The field exists from v12, but Kafka fills it from v16 (KIP-951).
        let leader = partition
            .current_leader
            .filter(|_| self.version >= FIRST_NODE_ENDPOINTS_VERSION);
        self.put_unsigned_varint(u64::from(diverging.is_some()) + u64::from(leader.is_some()));
        if let Some(diverging) = diverging {
            self.put_unsigned_varint(DIVERGING_EPOCH_TAG);
            self.put_unsigned_varint(DIVERGING_EPOCH_BYTES as u64);
            self.buf.put_i32(diverging.epoch);
            self.buf.put_i64(diverging.end_offset);
            self.put_unsigned_varint(0);
        }
        if let Some(leader) = leader {
            self.put_unsigned_varint(CURRENT_LEADER_TAG);
            self.put_unsigned_varint(CURRENT_LEADER_BYTES as u64);
            self.buf.put_i32(leader.leader_id);
            self.buf.put_i32(leader.leader_epoch);
            self.put_unsigned_varint(0);
        }
    }

    /// The response's tagged fields holding only NodeEndpoints (v16+).
    fn put_node_endpoints(&mut self, nodes: &[NodeEndpoint]) {
        self.put_unsigned_varint(1);
        self.put_unsigned_varint(NODE_ENDPOINTS_TAG);
        let size: usize = uvarint_len(nodes.len() as u64 + 1)
            + nodes.iter().map(node_endpoint_len).sum::<usize>();
        self.put_unsigned_varint(size as u64);
        self.put_array_len(nodes.len());
        for node in nodes {
            self.buf.put_i32(node.node_id);
            self.put_string(node.host.as_bytes());
            self.buf.put_i32(node.port);
            match &node.rack {
                Some(rack) => self.put_string(rack.as_bytes()),
                None => self.put_unsigned_varint(0),
            }
            self.put_unsigned_varint(0);
        }
    }

    /// Writes the records length, then queues the pieces after it.
    fn put_records(&mut self, records: Vec<Piece>) {
        let records_len = pieces_len(&records);
        debug_assert!(records_len <= i32::MAX as usize);
        if self.flexible {
            self.put_unsigned_varint(records_len as u64 + 1);
        } else {
            self.buf.put_i32(records_len as i32);
        }
        if records_len > 0 {
            self.records_bytes += records_len;
            let pieces = records.into_iter().filter(|piece| !piece.is_empty());
            self.records_at.push((self.buf.len(), pieces.collect()));
        }
    }

    fn put_string(&mut self, value: &[u8]) {
        if self.flexible {
            self.put_unsigned_varint(value.len() as u64 + 1);
        } else {
            // Topic names are at most 249 bytes, well inside an INT16 length.
            self.buf.put_i16(value.len() as i16);
        }
        self.buf.put_slice(value);
    }

    fn put_array_len(&mut self, len: usize) {
        if self.flexible {
            self.put_unsigned_varint(len as u64 + 1);
        } else {
            self.buf.put_i32(len as i32);
        }
    }

    fn put_null_array(&mut self) {
        if self.flexible {
            self.put_unsigned_varint(0);
        } else {
            self.buf.put_i32(-1);
        }
    }

    fn put_empty_tagged_fields(&mut self) {
        if self.flexible {
            self.put_unsigned_varint(0);
        }
    }

    fn put_unsigned_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.put_u8((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.buf.put_u8(value as u8);
    }

    /// Patches the size prefix and interleaves field chunks with record pieces.
    fn finish(mut self) -> Vec<Piece> {
        let frame_len = self.buf.len() + self.records_bytes - super::frame::FRAME_SIZE_PREFIX_BYTES;
        self.buf[..super::frame::FRAME_SIZE_PREFIX_BYTES]
            .copy_from_slice(&(frame_len as i32).to_be_bytes());
        let fields: Bytes = self.buf.freeze();
        let mut pieces = Vec::with_capacity(self.records_at.len() * 2 + 1);
        let mut chunk_start = 0;
        for (offset, records) in self.records_at {
            pieces.push(Piece::Mem(fields.slice(chunk_start..offset)));
            pieces.extend(records);
            chunk_start = offset;
        }
        if chunk_start < fields.len() {
            pieces.push(Piece::Mem(fields.slice(chunk_start..)));
        }
        pieces
    }
}

/// Bytes of `value` as an unsigned varint.
fn uvarint_len(value: u64) -> usize {
    let bits = 64 - value.max(1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes of one node endpoint in a flexible version (compact strings).
fn node_endpoint_len(node: &NodeEndpoint) -> usize {
    let compact = |len: usize| uvarint_len(len as u64 + 1) + len;
    let rack = node.rack.as_ref().map_or(1, |rack| compact(rack.len()));
    4 + compact(node.host.len()) + 4 + rack + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::piece::FileRegion;
    use kafka_protocol::messages::fetch_response::{
        EpochEndOffset, FetchResponse, FetchableTopicResponse, LeaderIdAndEpoch,
        NodeEndpoint as CrateNodeEndpoint, PartitionData,
    };
    use kafka_protocol::messages::ResponseHeader;
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    use std::sync::Arc;

    use crate::protocol::error_code::{NOT_LEADER_OR_FOLLOWER, OFFSET_OUT_OF_RANGE};

    fn record_bytes(seed: u8, len: usize) -> Bytes {
        Bytes::from(
            (0..len)
                .map(|i| seed.wrapping_add(i as u8))
                .collect::<Vec<u8>>(),
        )
    }

    fn partition(index: i32, error_code: i16, records: Vec<Bytes>) -> FetchPartitionOut {
        FetchPartitionOut {
            partition_index: index,
            error_code,
            high_watermark: 1000 + i64::from(index),
            last_stable_offset: 900 + i64::from(index),
            log_start_offset: 10 + i64::from(index),
            aborted_transactions: if index % 2 == 0 {
                AbortedTransactions::Null
            } else {
                AbortedTransactions::Empty
            },
            diverging_epoch: (index == 1).then_some(DivergingEpoch {
                epoch: 3,
                end_offset: 77,
            }),
            // Partition 1 carries both tagged fields.
            current_leader: (index == 1 || error_code == NOT_LEADER_OR_FOLLOWER).then_some(
                CurrentLeader {
                    leader_id: 2 + index,
                    leader_epoch: 9,
                },
            ),
            records: records.into_iter().map(Piece::Mem).collect(),
        }
    }

    fn sample_endpoints() -> Vec<NodeEndpoint> {
        let node = |node_id: i32, rack: Option<&str>| NodeEndpoint {
            node_id,
            host: format!("broker-{node_id}.example"),
            port: 9092 + node_id,
            rack: rack.map(str::to_string),
        };
        vec![node(3, Some("rack-a")), node(6, None)]
    }

    fn sample_response() -> FetchResponseOut {
        let orders = FetchTopicOut {
            name: TopicName(StrBytes::from_static_str("orders")),
            topic_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
            partitions: vec![
                partition(0, 0, vec![record_bytes(1, 70), record_bytes(2, 200)]),
                partition(1, 0, vec![]),
                partition(2, OFFSET_OUT_OF_RANGE, vec![]),
            ],
        };
        let payments = FetchTopicOut {
            name: TopicName(StrBytes::from_static_str("payments-eu")),
            topic_id: Uuid::from_u128(42),
            partitions: vec![
                partition(7, 0, vec![]),
                partition(4, NOT_LEADER_OR_FOLLOWER, vec![]),
                partition(3, 0, vec![record_bytes(9, 300)]),
            ],
        };
        FetchResponseOut {
            throttle_time_ms: 5,
            error_code: crate::protocol::error_code::NONE,
            session_id: 77,
            topics: vec![orders, payments],
            node_endpoints: sample_endpoints(),
        }
    }

    fn crate_partition(out: &FetchPartitionOut, version: i16) -> PartitionData {
        let records: Vec<u8> = out
            .records
            .iter()
            .flat_map(|piece| match piece {
                Piece::Mem(bytes) => bytes.to_vec(),
                Piece::File(_) => panic!("file piece in a crate comparison"),
            })
            .collect();
        let log_start_offset = if version >= 5 {
            out.log_start_offset
        } else {
            -1
        };
        PartitionData::default()
            .with_partition_index(out.partition_index)
            .with_error_code(out.error_code)
            .with_high_watermark(out.high_watermark)
            .with_last_stable_offset(out.last_stable_offset)
            .with_log_start_offset(log_start_offset)
            .with_aborted_transactions(match out.aborted_transactions {
                AbortedTransactions::Null => None,
                AbortedTransactions::Empty => Some(Vec::new()),
            })
            .with_preferred_read_replica((-1).into())
            .with_diverging_epoch(match out.diverging_epoch.filter(|_| version >= 12) {
                Some(d) => EpochEndOffset::default()
                    .with_epoch(d.epoch)
                    .with_end_offset(d.end_offset),
                None => EpochEndOffset::default(),
            })
            .with_current_leader(match out.current_leader.filter(|_| version >= 16) {
                Some(l) => LeaderIdAndEpoch::default()
                    .with_leader_id(l.leader_id.into())
                    .with_leader_epoch(l.leader_epoch),
                None => LeaderIdAndEpoch::default(),
            })
            .with_records(Some(Bytes::from(records)))
    }

    fn crate_response(out: &FetchResponseOut, version: i16) -> FetchResponse {
        let topics = out.topics.iter().map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| crate_partition(p, version))
                .collect();
            let named = FetchableTopicResponse::default().with_partitions(partitions);
            if version >= 13 {
                named.with_topic_id(topic.topic_id)
            } else {
                named.with_topic(topic.name.clone())
            }
        });
        let (error_code, session_id) = if version >= 7 {
            (out.error_code, out.session_id)
        } else {
            (0, 0)
        };
        let endpoints = out.node_endpoints.iter().filter(|_| version >= 16);
        let endpoints = endpoints.map(|node| {
            CrateNodeEndpoint::default()
                .with_node_id(node.node_id.into())
                .with_host(StrBytes::from_string(node.host.clone()))
                .with_port(node.port)
                .with_rack(node.rack.clone().map(StrBytes::from_string))
        });
        FetchResponse::default()
            .with_throttle_time_ms(out.throttle_time_ms)
            .with_error_code(error_code)
            .with_session_id(session_id)
            .with_responses(topics.collect())
            .with_node_endpoints(endpoints.collect())
    }

    fn crate_frame(correlation_id: i32, version: i16, response: &FetchResponse) -> Vec<u8> {
        let header_version = if version >= 12 { 1 } else { 0 };
        let header = ResponseHeader::default().with_correlation_id(correlation_id);
        let mut body = Vec::new();
        header.encode(&mut body, header_version).unwrap();
        response.encode(&mut body, version).unwrap();
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    fn concat(pieces: &[Piece]) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Mem(bytes) => out.extend_from_slice(bytes),
                Piece::File(_) => panic!("file piece in concat"),
            }
        }
        out
    }

    #[test]
    fn matches_the_crate_encoding_for_every_version() {
        for version in FETCH_VERSION_MIN..=FETCH_VERSION_MAX {
            let response = sample_response();
            let expected = crate_frame(-12345, version, &crate_response(&response, version));
            let pieces = encode_fetch_response(-12345, version, response);
            assert_eq!(concat(&pieces), expected, "version {version}");
        }
    }

    #[test]
    fn crate_decodes_what_we_encode() {
        for version in FETCH_VERSION_MIN..=FETCH_VERSION_MAX {
            let response = sample_response();
            let expected = crate_response(&response, version);
            let mut bytes = Bytes::from(concat(&encode_fetch_response(9, version, response)));
            let frame_len = bytes::Buf::get_i32(&mut bytes);
            assert_eq!(frame_len as usize, bytes.len());
            let header_version = if version >= 12 { 1 } else { 0 };
            let header = ResponseHeader::decode(&mut bytes, header_version).unwrap();
            assert_eq!(header.correlation_id, 9);
            let decoded = FetchResponse::decode(&mut bytes, version).unwrap();
            assert_eq!(decoded, expected, "version {version}");
            assert!(bytes.is_empty());
        }
    }

    #[test]
    fn record_pieces_pass_through_without_copy() {
        let response = sample_response();
        let first_batch = match &response.topics[0].partitions[0].records[0] {
            Piece::Mem(bytes) => bytes.as_ptr(),
            Piece::File(_) => unreachable!(),
        };
        let pieces = encode_fetch_response(1, 16, response);
        let passed_through = pieces.iter().any(|piece| match piece {
            Piece::Mem(bytes) => bytes.as_ptr() == first_batch,
            Piece::File(_) => false,
        });
        assert!(passed_through);
        // fields, 2 batches, fields, 1 batch, trailing fields
        assert_eq!(pieces.len(), 6);
    }

    #[test]
    fn empty_response_is_one_piece() {
        for version in FETCH_VERSION_MIN..=FETCH_VERSION_MAX {
            let response = FetchResponseOut {
                throttle_time_ms: 0,
                error_code: crate::protocol::error_code::NONE,
                session_id: 0,
                topics: vec![],
                node_endpoints: vec![],
            };
            let expected = crate_frame(3, version, &crate_response(&response, version));
            let pieces = encode_fetch_response(3, version, response);
            assert_eq!(pieces.len(), 1);
            assert_eq!(concat(&pieces), expected);
        }
    }

    #[test]
    fn file_piece_in_the_middle_keeps_lengths_right() {
        let file = Arc::new(std::fs::File::open("/dev/null").unwrap());
        let region_len = 5000u32;
        let region = Piece::File(FileRegion {
            file,
            position: 4096,
            len: region_len,
        });
        let head = record_bytes(1, 61);
        let tail = record_bytes(2, 80);
        for version in FETCH_VERSION_MIN..=FETCH_VERSION_MAX {
            let mut response = sample_response();
            response.topics[0].partitions[1].records = vec![
                Piece::Mem(head.clone()),
                region.clone(),
                Piece::Mem(tail.clone()),
            ];
            // Same response with the file region replaced by bytes of its length.
            let mut in_memory = sample_response();
            in_memory.topics[0].partitions[1].records = vec![
                Piece::Mem(head.clone()),
                Piece::Mem(Bytes::from(vec![0u8; region_len as usize])),
                Piece::Mem(tail.clone()),
            ];
            let expected = concat(&encode_fetch_response(4, version, in_memory));
            let pieces = encode_fetch_response(4, version, response);
            assert_eq!(pieces_len(&pieces), expected.len(), "version {version}");
            let file_at = pieces
                .iter()
                .position(|piece| matches!(piece, Piece::File(_)))
                .unwrap();
            let before = concat(&pieces[..file_at]);
            let after = concat(&pieces[file_at + 1..]);
            assert_eq!(before[..], expected[..before.len()]);
            assert_eq!(after[..], expected[expected.len() - after.len()..]);
        }
    }

    #[test]
    fn field_chunks_are_slices_of_one_buffer() {
        let pieces = encode_fetch_response(1, 12, sample_response());
        let mem = |index: usize| match &pieces[index] {
            Piece::Mem(bytes) => (bytes.as_ptr() as usize, bytes.len()),
            Piece::File(_) => unreachable!(),
        };
        // Layout: fields, batch, batch, fields, batch, fields.
        let (first, second, third) = (mem(0), mem(3), mem(5));
        assert_eq!(first.0 + first.1, second.0);
        assert_eq!(second.0 + second.1, third.0);
    }
}
