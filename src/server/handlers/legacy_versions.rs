//! Request versions below the kafka-protocol crate's floor (Kafka 4 raised the
//! floors, KIP-896) that older clients still send: Sarama 1.22 commits offsets
//! with OffsetCommit v1 and lists topics with DescribeConfigs v0; kafka-go 0.2
//! creates topics with CreateTopics v0; both produce and fetch old message
//! formats (Produce v0-2, Fetch v0-3). [`upgrade`] rewrites such a body into
//! the layout of the crate's lowest version; the handlers answer in the old
//! layout with the encoders here.

use super::{error_code, RequestMeta};
use crate::protocol::frame::FRAME_SIZE_PREFIX_BYTES;
use crate::protocol::legacy_message_set::{is_legacy, up_convert};
use crate::protocol::piece::Piece;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsResponse, DescribeConfigsResponse, ListOffsetsResponse, ProduceRequest,
};

/// Lowest OffsetCommit version the crate decodes; v0-2 answers share a layout.
pub const OFFSET_COMMIT_FLOOR: i16 = 2;
/// Lowest DescribeConfigs version the crate decodes.
pub const DESCRIBE_CONFIGS_FLOOR: i16 = 1;
/// Lowest CreateTopics version the crate decodes.
pub const CREATE_TOPICS_FLOOR: i16 = 2;
/// Lowest ListOffsets version the crate decodes.
pub const LIST_OFFSETS_FLOOR: i16 = 1;
/// Lowest Fetch version the crate decodes (and `fetch_response` encodes).
pub const FETCH_FLOOR: i16 = 4;
/// Fetch v0-2 have no response size limit: Kafka reads them as `i32::MAX`.
const FETCH_V0_2_MAX_BYTES: i32 = i32::MAX;
/// replica id + max wait + min bytes.
const FETCH_V0_PREFIX_BYTES: usize = 12;
/// OffsetCommit v2 `retention_time_ms` meaning "the broker's retention".
const DEFAULT_RETENTION_MS: i64 = -1;
/// Config source DEFAULT_CONFIG: answered as `is_default` in DescribeConfigs v0.
const CONFIG_SOURCE_DEFAULT: i8 = 5;

/// The version to decode `body` at, and the body in that version's layout:
/// unchanged unless `version` is below the crate's floor for `api_key`.
pub fn upgrade(api_key: ApiKey, version: i16, body: &Bytes) -> Result<(i16, Bytes), String> {
    match api_key {
        ApiKey::OffsetCommit if version == 1 => {
            Ok((OFFSET_COMMIT_FLOOR, offset_commit_v1_to_v2(body.clone())?))
        }
        // v1 only appends `include_synonyms`; false is v0's behaviour.
        ApiKey::DescribeConfigs if version == 0 => Ok((DESCRIBE_CONFIGS_FLOOR, append_false(body))),
        // v1 appends `validate_only`; v2's request is v1's.
        ApiKey::CreateTopics if version == 0 => Ok((CREATE_TOPICS_FLOOR, append_false(body))),
        ApiKey::CreateTopics if version == 1 => Ok((CREATE_TOPICS_FLOOR, body.clone())),
        ApiKey::ListOffsets if version == 0 => {
            Ok((LIST_OFFSETS_FLOOR, list_offsets_v0_to_v1(body.clone())?))
        }
        ApiKey::Fetch if version < FETCH_FLOOR => Ok((FETCH_FLOOR, fetch_to_v4(body, version)?)),
        _ => Ok((version, body.clone())),
    }
}

/// The header to encode an OffsetCommit answer with: v0-1 answers are v2's.
pub fn offset_commit_meta(meta: RequestMeta) -> RequestMeta {
    RequestMeta {
        version: meta.version.max(OFFSET_COMMIT_FLOOR),
        ..meta
    }
}

/// Fetch v0-3 as v4: v3 added `max_bytes` after `min_bytes`, v4 the
/// isolation level after it (read uncommitted, all there is here).
fn fetch_to_v4(body: &Bytes, version: i16) -> Result<Bytes, String> {
    let prefix = FETCH_V0_PREFIX_BYTES + if version == 3 { 4 } else { 0 };
    if body.len() < prefix {
        return Err("truncated fetch request".to_string());
    }
    let mut out = BytesMut::with_capacity(body.len() + 5);
    out.put_slice(&body[..prefix]);
    if version < 3 {
        out.put_i32(FETCH_V0_2_MAX_BYTES);
    }
    out.put_i8(0);
    out.put_slice(&body[prefix..]);
    Ok(out.freeze())
}

/// Produce v0-2: every magic 0/1 message set becomes one v2 batch, so the
/// normal validation and append take it. One that does not convert is left
/// as it is and refused by that validation (UNSUPPORTED_FOR_MESSAGE_FORMAT).
pub fn up_convert_produce(request: &mut ProduceRequest) {
    for topic in &mut request.topic_data {
        for partition in &mut topic.partition_data {
            let Some(records) = partition.records.as_ref().filter(|r| is_legacy(r)) else {
                continue;
            };
            match up_convert(records) {
                Ok(batch) => partition.records = Some(batch.freeze()),
                Err(e) => log::warn!(
                    "produce to {}-{}: {e}",
                    topic.name.0.as_str(),
                    partition.index
                ),
            }
        }
    }
}

/// ListOffsets v0: replica, topics[name, partitions[index, timestamp,
/// max_num_offsets]]; v1 drops `max_num_offsets` (one offset is answered).
fn list_offsets_v0_to_v1(mut body: Bytes) -> Result<Bytes, String> {
    const MIN_PARTITION_BYTES: usize = 4 + 8 + 4;
    let mut out = BytesMut::with_capacity(body.len());
    out.put_i32(take_i32(&mut body)?);
    copy_topic_partitions(&mut body, &mut out, MIN_PARTITION_BYTES, |body, out| {
        out.put_i32(take_i32(body)?);
        out.put_i64(take_i64(body)?);
        let _max_num_offsets = take_i32(body)?;
        Ok(())
    })?;
    Ok(out.freeze())
}

/// Copies a `topics[name, partitions[...]]` array from `body` to `out`,
/// each partition rewritten by `partition`; counts are checked against the
/// bytes left (`min_partition_bytes` per partition) before anything is read.
fn copy_topic_partitions(
    body: &mut Bytes,
    out: &mut BytesMut,
    min_partition_bytes: usize,
    mut partition: impl FnMut(&mut Bytes, &mut BytesMut) -> Result<(), String>,
) -> Result<(), String> {
    const MIN_TOPIC_BYTES: usize = 2 + 4;
    let topics = take_count(body, MIN_TOPIC_BYTES)?;
    out.put_i32(topics as i32);
    for _ in 0..topics {
        out.put_slice(&take_string(body)?);
        let partitions = take_count(body, min_partition_bytes)?;
        out.put_i32(partitions as i32);
        for _ in 0..partitions {
            partition(body, out)?;
        }
    }
    Ok(())
}

/// ListOffsets v0: per partition an array of offsets (here the one found, or
/// none on error) where v1 has a timestamp and one offset.
pub fn list_offsets_v0(meta: RequestMeta, response: &ListOffsetsResponse) -> Option<Vec<Piece>> {
    frame(meta.correlation_id, |out| {
        out.put_i32(response.topics.len() as i32);
        for topic in &response.topics {
            put_string(out, &topic.name.0);
            out.put_i32(topic.partitions.len() as i32);
            for partition in &topic.partitions {
                out.put_i32(partition.partition_index);
                out.put_i16(partition.error_code);
                let found = partition.error_code == error_code::NONE && partition.offset >= 0;
                out.put_i32(i32::from(found));
                if found {
                    out.put_i64(partition.offset);
                }
            }
        }
    })
}

fn append_false(body: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 1);
    out.put_slice(body);
    out.put_u8(0);
    out.freeze()
}

fn take_i16(body: &mut Bytes) -> Result<i16, String> {
    (body.remaining() >= 2)
        .then(|| body.get_i16())
        .ok_or_else(|| "truncated int16".to_string())
}

fn take_i32(body: &mut Bytes) -> Result<i32, String> {
    (body.remaining() >= 4)
        .then(|| body.get_i32())
        .ok_or_else(|| "truncated int32".to_string())
}

fn take_i64(body: &mut Bytes) -> Result<i64, String> {
    (body.remaining() >= 8)
        .then(|| body.get_i64())
        .ok_or_else(|| "truncated int64".to_string())
}

/// A (nullable) string, length prefix included, copied as raw bytes.
fn take_string(body: &mut Bytes) -> Result<Bytes, String> {
    let len = take_i16(body)?;
    let len = usize::try_from(len).unwrap_or(0);
    if body.remaining() < len {
        return Err("truncated string".to_string());
    }
    let mut raw = BytesMut::with_capacity(2 + len);
    raw.put_i16(len as i16);
    raw.put_slice(&body.split_to(len));
    Ok(raw.freeze())
}

/// An array count that the remaining bytes can hold at `min_item_bytes` each.
fn take_count(body: &mut Bytes, min_item_bytes: usize) -> Result<usize, String> {
    let count = take_i32(body)?;
    let count = usize::try_from(count).unwrap_or(0);
    if count.saturating_mul(min_item_bytes) > body.remaining() {
        return Err(format!("array of {count} does not fit the frame"));
    }
    Ok(count)
}

/// v1: group, generation, member, topics[name, partitions[index, offset,
/// timestamp, metadata]]. v2 adds `retention_time_ms` after the member id and
/// drops the per-partition timestamp (retention became broker-side).
fn offset_commit_v1_to_v2(mut body: Bytes) -> Result<Bytes, String> {
    const MIN_PARTITION_BYTES: usize = 4 + 8 + 8 + 2;
    let mut out = BytesMut::with_capacity(body.len() + 8);
    out.put_slice(&take_string(&mut body)?);
    out.put_i32(take_i32(&mut body)?);
    out.put_slice(&take_string(&mut body)?);
    out.put_i64(DEFAULT_RETENTION_MS);
    copy_topic_partitions(&mut body, &mut out, MIN_PARTITION_BYTES, |body, out| {
        out.put_i32(take_i32(body)?);
        out.put_i64(take_i64(body)?);
        let _commit_timestamp = take_i64(body)?;
        out.put_slice(&take_string(body)?);
        Ok(())
    })?;
    Ok(out.freeze())
}

fn put_string(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

fn put_nullable_string(out: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(out, s),
        None => out.put_i16(-1),
    }
}

fn frame(correlation_id: i32, encode_body: impl FnOnce(&mut BytesMut)) -> Option<Vec<Piece>> {
    let mut out = BytesMut::new();
    out.put_i32(0); // size, patched below
    out.put_i32(correlation_id);
    encode_body(&mut out);
    let size = (out.len() - FRAME_SIZE_PREFIX_BYTES) as i32;
    out[..FRAME_SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Some(vec![Piece::Mem(out.freeze())])
}

/// DescribeConfigs v0: like v1 but `is_default` where v1 has the config
/// source, and no synonyms.
pub fn describe_configs_v0(
    meta: RequestMeta,
    response: &DescribeConfigsResponse,
) -> Option<Vec<Piece>> {
    frame(meta.correlation_id, |out| {
        out.put_i32(response.throttle_time_ms);
        out.put_i32(response.results.len() as i32);
        for result in &response.results {
            out.put_i16(result.error_code);
            put_nullable_string(out, result.error_message.as_deref());
            out.put_i8(result.resource_type);
            put_string(out, &result.resource_name);
            out.put_i32(result.configs.len() as i32);
            for config in &result.configs {
                put_string(out, &config.name);
                put_nullable_string(out, config.value.as_deref());
                out.put_u8(config.read_only.into());
                out.put_u8((config.config_source == CONFIG_SOURCE_DEFAULT).into());
                out.put_u8(config.is_sensitive.into());
            }
        }
    })
}

/// CreateTopics v0 (name, error code) and v1 (plus the error message); no
/// throttle time before v2.
pub fn create_topics_v0_v1(
    meta: RequestMeta,
    response: &CreateTopicsResponse,
) -> Option<Vec<Piece>> {
    frame(meta.correlation_id, |out| {
        out.put_i32(response.topics.len() as i32);
        for topic in &response.topics {
            put_string(out, &topic.name.0);
            out.put_i16(topic.error_code);
            if meta.version >= 1 {
                put_nullable_string(out, topic.error_message.as_deref());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::describe_configs_response::{
        DescribeConfigsResourceResult, DescribeConfigsResult,
    };
    use kafka_protocol::messages::{
        CreateTopicsRequest, DescribeConfigsRequest, OffsetCommitRequest, TopicName,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};

    fn meta(api_key: ApiKey, version: i16) -> RequestMeta {
        RequestMeta {
            api_key,
            version,
            correlation_id: 7,
            listener: crate::config::MAIN_LISTENER,
        }
    }

    fn bytes_of(pieces: Option<Vec<Piece>>) -> Bytes {
        match pieces.as_deref() {
            Some([Piece::Mem(bytes)]) => bytes.clone(),
            _ => panic!("expected one memory piece"),
        }
    }

    /// Sarama 1.22's OffsetCommit v1 for one partition.
    fn offset_commit_v1() -> Bytes {
        let mut b = BytesMut::new();
        put_string(&mut b, "group-a");
        b.put_i32(3); // generation
        put_string(&mut b, "member-1");
        b.put_i32(1);
        put_string(&mut b, "topic-x");
        b.put_i32(1);
        b.put_i32(2); // partition
        b.put_i64(41); // offset
        b.put_i64(-1); // timestamp
        put_string(&mut b, "meta");
        b.freeze()
    }

    #[test]
    fn offset_commit_v1_decodes_as_v2() {
        let (version, mut body) = upgrade(ApiKey::OffsetCommit, 1, &offset_commit_v1()).unwrap();
        assert_eq!(version, OFFSET_COMMIT_FLOOR);
        let request = OffsetCommitRequest::decode(&mut body, version).unwrap();
        assert_eq!(request.group_id.0.as_str(), "group-a");
        assert_eq!(request.generation_id_or_member_epoch, 3);
        assert_eq!(request.member_id.as_str(), "member-1");
        assert_eq!(request.retention_time_ms, DEFAULT_RETENTION_MS);
        let partition = &request.topics[0].partitions[0];
        assert_eq!(request.topics[0].name.0.as_str(), "topic-x");
        assert_eq!(
            (partition.partition_index, partition.committed_offset),
            (2, 41)
        );
        assert_eq!(partition.committed_metadata.as_deref(), Some("meta"));
        assert!(body.is_empty());
    }

    #[test]
    fn offset_commit_v1_truncated_or_oversized_is_an_error() {
        let whole = offset_commit_v1();
        for cut in [3, 20, whole.len() - 1] {
            assert!(upgrade(ApiKey::OffsetCommit, 1, &whole.slice(..cut)).is_err());
        }
        let mut huge = BytesMut::new();
        put_string(&mut huge, "g");
        huge.put_i32(0);
        put_string(&mut huge, "m");
        huge.put_i32(i32::MAX);
        assert!(upgrade(ApiKey::OffsetCommit, 1, &huge.freeze()).is_err());
    }

    #[test]
    fn describe_configs_v0_and_create_topics_v0_decode_at_the_floor() {
        let mut b = BytesMut::new();
        b.put_i32(1);
        b.put_i8(2);
        put_string(&mut b, "topic-x");
        b.put_i32(-1); // all keys
        let (version, mut body) = upgrade(ApiKey::DescribeConfigs, 0, &b.freeze()).unwrap();
        let request = DescribeConfigsRequest::decode(&mut body, version).unwrap();
        assert_eq!(request.resources[0].resource_name.as_str(), "topic-x");
        assert!(!request.include_synonyms);

        let mut b = BytesMut::new();
        b.put_i32(1);
        put_string(&mut b, "topic-y");
        b.put_i32(4); // partitions
        b.put_i16(1); // replication factor
        b.put_i32(0); // assignments
        b.put_i32(0); // configs
        b.put_i32(5000); // timeout
        let (version, mut body) = upgrade(ApiKey::CreateTopics, 0, &b.freeze()).unwrap();
        let request = CreateTopicsRequest::decode(&mut body, version).unwrap();
        assert_eq!(request.topics[0].name.0.as_str(), "topic-y");
        assert_eq!(request.topics[0].num_partitions, 4);
        assert!(!request.validate_only);
    }

    #[test]
    fn list_offsets_v0_round_trip() {
        use kafka_protocol::messages::list_offsets_response::{
            ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
        };
        use kafka_protocol::messages::ListOffsetsRequest;
        let mut b = BytesMut::new();
        b.put_i32(-1);
        b.put_i32(1);
        put_string(&mut b, "t");
        b.put_i32(1);
        b.put_i32(0);
        b.put_i64(-2); // earliest
        b.put_i32(1); // max offsets
        let (floor, mut body) = upgrade(ApiKey::ListOffsets, 0, &b.freeze()).unwrap();
        let request = ListOffsetsRequest::decode(&mut body, floor).unwrap();
        assert_eq!(request.topics[0].partitions[0].timestamp, -2);
        assert!(body.is_empty());

        let response =
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(0)
                        .with_offset(5),
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(1)
                        .with_error_code(error_code::UNKNOWN_TOPIC_OR_PARTITION),
                ])]);
        let bytes = bytes_of(list_offsets_v0(meta(ApiKey::ListOffsets, 0), &response));
        let expected: &[u8] = &[
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, // topics, name, partitions
            0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, // p0: no error, [5]
            0, 0, 0, 1, 0, 3, 0, 0, 0, 0, // p1: error 3, []
        ];
        assert_eq!(&bytes[8..], expected);
    }

    #[test]
    fn fetch_v2_and_v3_decode_as_v4() {
        use kafka_protocol::messages::FetchRequest;
        for version in [2i16, 3] {
            let mut b = BytesMut::new();
            b.put_i32(-1); // replica
            b.put_i32(500); // max wait
            b.put_i32(1); // min bytes
            if version == 3 {
                b.put_i32(1000);
            }
            b.put_i32(1);
            put_string(&mut b, "topic-x");
            b.put_i32(1);
            b.put_i32(3); // partition
            b.put_i64(42); // fetch offset
            b.put_i32(4096); // partition max bytes
            let (floor, mut body) = upgrade(ApiKey::Fetch, version, &b.freeze()).unwrap();
            let request = FetchRequest::decode(&mut body, floor).unwrap();
            let expected_max = if version == 3 {
                1000
            } else {
                FETCH_V0_2_MAX_BYTES
            };
            assert_eq!(
                (request.max_wait_ms, request.min_bytes, request.max_bytes),
                (500, 1, expected_max)
            );
            let partition = &request.topics[0].partitions[0];
            assert_eq!((partition.partition, partition.fetch_offset), (3, 42));
            assert!(body.is_empty());
        }
        assert!(upgrade(ApiKey::Fetch, 0, &Bytes::from_static(&[0; 5])).is_err());
    }

    #[test]
    fn describe_configs_v0_answer_has_is_default_and_no_synonyms() {
        let response =
            DescribeConfigsResponse::default().with_results(vec![DescribeConfigsResult::default()
                .with_resource_type(2)
                .with_error_message(None)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_configs(vec![DescribeConfigsResourceResult::default()
                    .with_name(StrBytes::from_static_str("k"))
                    .with_value(Some(StrBytes::from_static_str("v")))
                    .with_config_source(CONFIG_SOURCE_DEFAULT)])]);
        let bytes = bytes_of(describe_configs_v0(
            meta(ApiKey::DescribeConfigs, 0),
            &response,
        ));
        let expected: &[u8] = &[
            0, 0, 0, 0, // throttle
            0, 0, 0, 1, // results
            0, 0, 0xff, 0xff, // error code, null message
            2, 0, 1, b't', // resource
            0, 0, 0, 1, // configs
            0, 1, b'k', 0, 1, b'v', 0, 1, 0, // name, value, read_only, is_default, sensitive
        ];
        assert_eq!(&bytes[8..], expected);
        assert_eq!(bytes.len() - FRAME_SIZE_PREFIX_BYTES, 4 + expected.len());
    }

    #[test]
    fn create_topics_v0_and_v1_answers() {
        let response =
            CreateTopicsResponse::default().with_topics(vec![CreatableTopicResult::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_error_code(error_code::TOPIC_ALREADY_EXISTS)
                .with_error_message(Some(StrBytes::from_static_str("e")))]);
        let v0 = bytes_of(create_topics_v0_v1(
            meta(ApiKey::CreateTopics, 0),
            &response,
        ));
        assert_eq!(&v0[4..], &[0, 0, 0, 7, 0, 0, 0, 1, 0, 1, b't', 0, 36]);
        let v1 = bytes_of(create_topics_v0_v1(
            meta(ApiKey::CreateTopics, 1),
            &response,
        ));
        assert_eq!(&v1[12..], &[0, 1, b't', 0, 36, 0, 1, b'e']);
    }
}
