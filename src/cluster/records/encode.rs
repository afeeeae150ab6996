//! Record and batch encoding.
//!
//! Record frame: `type u8 | version u8 | body length uvarint | body`. The body
//! length lets a decoder check that it read exactly the body, and lets a later
//! version append fields. Every type is at version 0 today.
//!
//! Batch: `format u8 | crc32c u32 (LE) of the rest | base offset varint |
//! count uvarint | frames`.

use super::codec::{DecodeError, Reader, Writer};
use super::*;

/// Version of the batch header format.
const BATCH_FORMAT_VERSION: u8 = 0;

/// Highest record version this build reads (and the one it writes).
const RECORD_VERSION: u8 = 0;

/// Marker for "a header, not a record" in [`DecodeError::UnsupportedVersion`].
pub(crate) const HEADER_TYPE: u8 = 255;

/// Appends one record frame to `out`.
pub fn encode_record(record: &MetadataRecord, out: &mut Writer) {
    let mut body = Writer::default();
    encode_body(record, &mut body);
    out.u8(record.record_type() as u8);
    out.u8(RECORD_VERSION);
    out.uvarint(body.bytes.len() as u64);
    out.bytes.extend_from_slice(&body.bytes);
}

/// Reads one record frame.
pub fn decode_record(input: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    let record_type = input.u8()?;
    let version = input.u8()?;
    if version > RECORD_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            record_type,
            version,
        });
    }
    let len = input.count(usize::MAX)?;
    let mut body = Reader::new(input.take(len)?);
    let record = decode_body(record_type, &mut body)?;
    if body.remaining() != 0 {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(record)
}

/// Encodes a batch into the bytes one log entry carries.
pub fn encode_batch(batch: &RecordBatch) -> Vec<u8> {
    let mut body = Writer::default();
    body.varint(batch.base_offset);
    body.uvarint(batch.records.len() as u64);
    for record in &batch.records {
        encode_record(record, &mut body);
    }
    let mut out = Vec::with_capacity(body.bytes.len() + 5);
    out.push(BATCH_FORMAT_VERSION);
    out.extend_from_slice(&crc32c::crc32c(&body.bytes).to_le_bytes());
    out.extend_from_slice(&body.bytes);
    out
}

/// Decodes a batch written by [`encode_batch`]; the whole input must be used.
pub fn decode_batch(bytes: &[u8]) -> Result<RecordBatch, DecodeError> {
    let mut body = checked_body(bytes, BATCH_FORMAT_VERSION)?;
    let base_offset = body.varint()?;
    let count = body.count(BATCH_RECORDS_MAX)?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        records.push(decode_record(&mut body)?);
    }
    if body.remaining() != 0 {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(RecordBatch {
        base_offset,
        records,
    })
}

/// Checks `format u8 | crc32c u32 (LE) of the rest | rest` and returns a
/// reader over the rest.
pub(crate) fn checked_body(bytes: &[u8], format: u8) -> Result<Reader<'_>, DecodeError> {
    let mut input = Reader::new(bytes);
    let version = input.u8()?;
    if version != format {
        return Err(DecodeError::UnsupportedVersion {
            record_type: HEADER_TYPE,
            version,
        });
    }
    let crc = input.take(4)?;
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let body = input.take(input.remaining())?;
    if crc32c::crc32c(body) != crc {
        return Err(DecodeError::Checksum);
    }
    Ok(Reader::new(body))
}

fn encode_body(record: &MetadataRecord, out: &mut Writer) {
    match record {
        MetadataRecord::RegisterBroker(r) => encode_register_broker(r, out),
        MetadataRecord::UnregisterBroker(r) => broker_epoch(out, r.broker_id, r.broker_epoch),
        MetadataRecord::FenceBroker(r) => broker_epoch(out, r.broker_id, r.broker_epoch),
        MetadataRecord::UnfenceBroker(r) => broker_epoch(out, r.broker_id, r.broker_epoch),
        MetadataRecord::BrokerControlledShutdown(r) => {
            broker_epoch(out, r.broker_id, r.broker_epoch)
        }
        MetadataRecord::Topic(r) => {
            out.string(&r.name);
            out.uuid(&r.topic_id);
        }
        MetadataRecord::RemoveTopic(r) => out.uuid(&r.topic_id),
        MetadataRecord::Partition(r) => encode_partition(r, out),
        MetadataRecord::PartitionChange(r) => encode_partition_change(r, out),
        MetadataRecord::Config(r) => encode_config(r, out),
        MetadataRecord::ProducerIds(r) => {
            broker_epoch(out, r.broker_id, r.broker_epoch);
            out.varint(r.next_producer_id);
        }
        MetadataRecord::NoOp => {}
    }
}

fn decode_body(record_type: u8, input: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    use MetadataRecord as M;
    let record = match record_type {
        0 => M::RegisterBroker(decode_register_broker(input)?),
        1 => {
            let (broker_id, broker_epoch) = read_broker_epoch(input)?;
            M::UnregisterBroker(UnregisterBrokerRecord {
                broker_id,
                broker_epoch,
            })
        }
        2 => M::Topic(TopicRecord {
            name: input.string()?,
            topic_id: non_nil_uuid(input)?,
        }),
        3 => M::Partition(decode_partition(input)?),
        4 => M::Config(decode_config(input)?),
        5 => M::PartitionChange(decode_partition_change(input)?),
        7 => {
            let (broker_id, broker_epoch) = read_broker_epoch(input)?;
            M::FenceBroker(FenceBrokerRecord {
                broker_id,
                broker_epoch,
            })
        }
        8 => {
            let (broker_id, broker_epoch) = read_broker_epoch(input)?;
            M::UnfenceBroker(UnfenceBrokerRecord {
                broker_id,
                broker_epoch,
            })
        }
        9 => M::RemoveTopic(RemoveTopicRecord {
            topic_id: non_nil_uuid(input)?,
        }),
        15 => {
            let (broker_id, broker_epoch) = read_broker_epoch(input)?;
            M::ProducerIds(ProducerIdsRecord {
                broker_id,
                broker_epoch,
                next_producer_id: input.varint()?,
            })
        }
        17 => {
            let (broker_id, broker_epoch) = read_broker_epoch(input)?;
            M::BrokerControlledShutdown(BrokerControlledShutdownRecord {
                broker_id,
                broker_epoch,
            })
        }
        20 => M::NoOp,
        other => return Err(DecodeError::UnknownType(other)),
    };
    Ok(record)
}

fn broker_epoch(out: &mut Writer, broker_id: BrokerId, broker_epoch: i64) {
    out.varint(broker_id as i64);
    out.varint(broker_epoch);
}

fn read_broker_epoch(input: &mut Reader<'_>) -> Result<(BrokerId, i64), DecodeError> {
    Ok((input.varint_i32()?, input.varint()?))
}

fn non_nil_uuid(input: &mut Reader<'_>) -> Result<Uuid, DecodeError> {
    let id = input.uuid()?;
    if id.is_nil() {
        return Err(DecodeError::Invalid("nil UUID"));
    }
    Ok(id)
}

fn encode_register_broker(r: &BrokerRegistration, out: &mut Writer) {
    broker_epoch(out, r.broker_id, r.broker_epoch);
    out.uuid(&r.incarnation_id);
    out.uvarint(r.endpoints.len() as u64);
    for e in &r.endpoints {
        out.string(&e.name);
        out.string(&e.host);
        out.uvarint(e.port as u64);
        out.varint(e.security_protocol as i64);
    }
    out.opt_string(r.rack.as_deref());
    out.bool(r.fenced);
    out.bool(r.in_controlled_shutdown);
}

fn decode_register_broker(input: &mut Reader<'_>) -> Result<BrokerRegistration, DecodeError> {
    let (broker_id, broker_epoch) = read_broker_epoch(input)?;
    let incarnation_id = non_nil_uuid(input)?;
    let count = input.count(ENDPOINTS_MAX)?;
    let mut endpoints = Vec::with_capacity(count);
    for _ in 0..count {
        endpoints.push(Endpoint {
            name: input.string()?,
            host: input.string()?,
            port: u16::try_from(input.uvarint()?)
                .map_err(|_| DecodeError::Invalid("port above 65535"))?,
            security_protocol: i16::try_from(input.varint()?)
                .map_err(|_| DecodeError::Invalid("security protocol out of range"))?,
        });
    }
    Ok(BrokerRegistration {
        broker_id,
        broker_epoch,
        incarnation_id,
        endpoints,
        rack: input.opt_string()?,
        fenced: input.bool()?,
        in_controlled_shutdown: input.bool()?,
    })
}

fn encode_leader(leader: Option<BrokerId>, out: &mut Writer) {
    out.varint(leader.map_or(-1, i64::from));
}

fn decode_leader(input: &mut Reader<'_>) -> Result<Option<BrokerId>, DecodeError> {
    match input.varint_i32()? {
        -1 => Ok(None),
        id if id >= 0 => Ok(Some(id)),
        _ => Err(DecodeError::Invalid("leader below -1")),
    }
}

fn decode_recovery(byte: u8) -> Result<LeaderRecoveryState, DecodeError> {
    match byte {
        0 => Ok(LeaderRecoveryState::Recovered),
        1 => Ok(LeaderRecoveryState::Recovering),
        _ => Err(DecodeError::Invalid("leader recovery state")),
    }
}

fn encode_partition(record: &PartitionRecord, out: &mut Writer) {
    out.uuid(&record.topic_id);
    out.varint(record.partition_id as i64);
    let r = &record.registration;
    out.brokers(&r.replicas);
    out.brokers(&r.isr);
    out.brokers(&r.elr);
    out.brokers(&r.last_known_elr);
    encode_leader(r.leader, out);
    out.u8(r.leader_recovery_state as u8);
    out.varint(r.leader_epoch as i64);
    out.varint(r.partition_epoch as i64);
    // Appended fields: written only while a reassignment is in flight, so a
    // record without one keeps the bytes older builds wrote and read.
    if !r.adding.is_empty() || !r.removing.is_empty() {
        out.brokers(&r.adding);
        out.brokers(&r.removing);
    }
}

fn decode_partition(input: &mut Reader<'_>) -> Result<PartitionRecord, DecodeError> {
    Ok(PartitionRecord {
        topic_id: non_nil_uuid(input)?,
        partition_id: input.varint_i32()?,
        registration: decode_partition_registration(input)?,
    })
}

fn decode_partition_registration(
    input: &mut Reader<'_>,
) -> Result<PartitionRegistration, DecodeError> {
    Ok(PartitionRegistration {
        replicas: input.brokers()?,
        isr: input.brokers()?,
        elr: input.brokers()?,
        last_known_elr: input.brokers()?,
        leader: decode_leader(input)?,
        leader_recovery_state: decode_recovery(input.u8()?)?,
        leader_epoch: input.varint_i32()?,
        partition_epoch: input.varint_i32()?,
        adding: optional_brokers(input)?,
        removing: optional_brokers(input)?,
    })
}

/// A broker list appended to a record body after older builds' fields:
/// empty when the body ends before it.
fn optional_brokers(input: &mut Reader<'_>) -> Result<Vec<BrokerId>, DecodeError> {
    if input.remaining() == 0 {
        return Ok(Vec::new());
    }
    input.brokers()
}

/// Presence bits of the optional fields of a partition change.
mod change_bits {
    pub const ISR: u8 = 1;
    pub const LEADER: u8 = 2;
    pub const REPLICAS: u8 = 4;
    pub const ELR: u8 = 8;
    pub const LAST_KNOWN_ELR: u8 = 16;
    pub const RECOVERY: u8 = 32;
    pub const ADDING: u8 = 64;
    /// Every bit of the byte is taken: a further field needs a new version.
    pub const REMOVING: u8 = 128;
}

fn encode_partition_change(r: &PartitionChangeRecord, out: &mut Writer) {
    use change_bits::*;
    let bit = |present: bool, bit: u8| if present { bit } else { 0 };
    let present = bit(r.isr.is_some(), ISR)
        | bit(r.leader != LeaderChange::Unchanged, LEADER)
        | bit(r.replicas.is_some(), REPLICAS)
        | bit(r.elr.is_some(), ELR)
        | bit(r.last_known_elr.is_some(), LAST_KNOWN_ELR)
        | bit(r.leader_recovery_state.is_some(), RECOVERY)
        | bit(r.adding.is_some(), ADDING)
        | bit(r.removing.is_some(), REMOVING);
    out.uuid(&r.topic_id);
    out.varint(r.partition_id as i64);
    out.u8(present);
    for ids in [&r.isr, &r.replicas, &r.elr, &r.last_known_elr]
        .into_iter()
        .flatten()
    {
        out.brokers(ids);
    }
    if let LeaderChange::Set(leader) = r.leader {
        encode_leader(leader, out);
    }
    if let Some(state) = r.leader_recovery_state {
        out.u8(state as u8);
    }
    for ids in [&r.adding, &r.removing].into_iter().flatten() {
        out.brokers(ids);
    }
}

fn decode_partition_change(input: &mut Reader<'_>) -> Result<PartitionChangeRecord, DecodeError> {
    use change_bits::*;
    let topic_id = non_nil_uuid(input)?;
    let partition_id = input.varint_i32()?;
    let present = input.u8()?;
    let mut list = |bit: u8| -> Result<Option<Vec<BrokerId>>, DecodeError> {
        if present & bit == 0 {
            return Ok(None);
        }
        input.brokers().map(Some)
    };
    let isr = list(ISR)?;
    let replicas = list(REPLICAS)?;
    let elr = list(ELR)?;
    let last_known_elr = list(LAST_KNOWN_ELR)?;
    let leader = if present & LEADER != 0 {
        LeaderChange::Set(decode_leader(input)?)
    } else {
        LeaderChange::Unchanged
    };
    let leader_recovery_state = if present & RECOVERY != 0 {
        Some(decode_recovery(input.u8()?)?)
    } else {
        None
    };
    let mut list = |bit: u8| -> Result<Option<Vec<BrokerId>>, DecodeError> {
        if present & bit == 0 {
            return Ok(None);
        }
        input.brokers().map(Some)
    };
    let adding = list(ADDING)?;
    let removing = list(REMOVING)?;
    Ok(PartitionChangeRecord {
        topic_id,
        partition_id,
        isr,
        leader,
        replicas,
        elr,
        last_known_elr,
        leader_recovery_state,
        adding,
        removing,
    })
}

/// Kafka's config resource type numbers.
const RESOURCE_TOPIC: u8 = 2;
const RESOURCE_BROKER: u8 = 4;

fn encode_config(r: &ConfigRecord, out: &mut Writer) {
    match &r.resource {
        ConfigResource::Topic(name) => {
            out.u8(RESOURCE_TOPIC);
            out.string(name);
        }
        ConfigResource::Broker(id) => {
            out.u8(RESOURCE_BROKER);
            out.varint(id.map_or(-1, i64::from));
        }
    }
    out.string(&r.name);
    out.opt_string(r.value.as_deref());
}

fn decode_config(input: &mut Reader<'_>) -> Result<ConfigRecord, DecodeError> {
    let resource = match input.u8()? {
        RESOURCE_TOPIC => ConfigResource::Topic(input.string()?),
        RESOURCE_BROKER => match input.varint_i32()? {
            -1 => ConfigResource::Broker(None),
            id if id >= 0 => ConfigResource::Broker(Some(id)),
            _ => return Err(DecodeError::Invalid("broker config resource below -1")),
        },
        _ => return Err(DecodeError::Invalid("config resource type")),
    };
    Ok(ConfigRecord {
        resource,
        name: input.string()?,
        value: input.opt_string()?,
    })
}
