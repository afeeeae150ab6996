//! The records of an offsets partition log, and of the pre-upgrade format.
//!
//! A record is framed `[u32 body length][u32 crc32c of body][body]`, the
//! body being Kafka's `__consumer_offsets` record: `[i32 key length][key]
//! [i32 value length, -1 for a tombstone][value]`. Key and value use Kafka's
//! schemas (`OffsetCommitKey` v1: group, topic, partition; `OffsetCommitValue`
//! v3: offset, leader epoch, metadata, commit timestamp; big-endian, strings
//! as i16 length + UTF-8), so the key and value bytes are what Kafka's
//! coordinator writes and its tools decode. A tombstone deletes the key, as
//! compaction treats it.
//!
//! The pre-upgrade per-shard log (`__millrace_offsets-<shard>/offsets.log`)
//! used the same framing with a body of its own ([`decode_legacy_records`]).

use super::{CommittedOffset, OffsetChange};

/// Kafka's `OffsetCommitKey` version written (1, as Kafka's coordinator).
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Kafka's `OffsetCommitValue` version written (3: leader epoch, no expiry).
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Longest group id, topic or metadata a record holds (Kafka's i16-length strings).
pub const RECORD_STRING_BYTES_MAX: usize = i16::MAX as usize;
/// Largest record body (three strings of at most [`RECORD_STRING_BYTES_MAX`]).
const RECORD_BODY_BYTES_MAX: usize = 128 * 1024;
/// Frame header: body length and CRC.
pub const RECORD_HEADER_BYTES: usize = 8;
/// Fixed bytes of a body besides its strings: key and value lengths and
/// versions, partition, offset, leader epoch, commit time, string lengths.
const RECORD_FIXED_BYTES: usize = 4 + 2 + 2 + 2 + 4 + 4 + 2 + 8 + 4 + 2 + 8;
const LEGACY_KIND_COMMIT: u8 = 1;
const LEGACY_KIND_DELETE: u8 = 2;

/// Whether `change` fits a record (Kafka's string lengths).
pub fn fits(change: &OffsetChange) -> bool {
    let metadata = change.committed.as_ref().map_or(0, |c| c.metadata.len());
    change.group.len() <= RECORD_STRING_BYTES_MAX
        && change.topic.len() <= RECORD_STRING_BYTES_MAX
        && metadata <= RECORD_STRING_BYTES_MAX
}

/// Bytes one record of these strings takes in the log (compaction estimate).
pub fn record_size(group: &str, topic: &str, metadata: &str) -> u64 {
    (RECORD_HEADER_BYTES + RECORD_FIXED_BYTES + group.len() + topic.len() + metadata.len()) as u64
}

/// Appends `change` as a framed record; a change that does not
/// [`fit`](fits) is the caller's error (checked before it is accepted).
pub fn encode_record(change: &OffsetChange, out: &mut Vec<u8>) {
    let metadata = change
        .committed
        .as_ref()
        .map_or("", |c| c.metadata.as_str());
    let mut body = Vec::with_capacity(
        record_size(&change.group, &change.topic, metadata) as usize - RECORD_HEADER_BYTES,
    );
    let key = encode_key(change);
    body.extend_from_slice(&(key.len() as i32).to_be_bytes());
    body.extend_from_slice(&key);
    match &change.committed {
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(committed) => {
            let value = encode_value(committed);
            body.extend_from_slice(&(value.len() as i32).to_be_bytes());
            body.extend_from_slice(&value);
        }
    }
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
}

/// Kafka's `OffsetCommitKey` v1 bytes of `change` (group, topic, partition).
pub fn encode_key(change: &OffsetChange) -> Vec<u8> {
    let mut key = Vec::with_capacity(12 + change.group.len() + change.topic.len());
    key.extend_from_slice(&OFFSET_COMMIT_KEY_VERSION.to_be_bytes());
    put_str(&mut key, &change.group);
    put_str(&mut key, &change.topic);
    key.extend_from_slice(&change.partition.to_be_bytes());
    key
}

/// Kafka's `OffsetCommitValue` v3 bytes of `committed`.
pub fn encode_value(committed: &CommittedOffset) -> Vec<u8> {
    let mut value = Vec::with_capacity(24 + committed.metadata.len());
    value.extend_from_slice(&OFFSET_COMMIT_VALUE_VERSION.to_be_bytes());
    value.extend_from_slice(&committed.offset.to_be_bytes());
    value.extend_from_slice(&committed.leader_epoch.to_be_bytes());
    put_str(&mut value, &committed.metadata);
    value.extend_from_slice(&committed.commit_time_ms.to_be_bytes());
    value
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    // Lengths were checked by `fits`; clamp so a bug cannot write a wrong length.
    let len = value.len().min(RECORD_STRING_BYTES_MAX);
    out.extend_from_slice(&(len as i16).to_be_bytes());
    out.extend_from_slice(&value.as_bytes()[..len]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn short_string(&mut self) -> Option<String> {
        let len = usize::try_from(self.i16()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn long_string(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        match self.i32()? {
            -1 => Some(None),
            len => self.take(usize::try_from(len).ok()?).map(Some),
        }
    }
}

fn decode_body(body: &[u8]) -> Option<OffsetChange> {
    let mut reader = Reader(body);
    let key = reader.bytes()??;
    let value = reader.bytes()?;
    decode_key_value(key, value)
}

/// The change a `__consumer_offsets` record holds: `None` for a record
/// that is not an offset commit (Kafka's group metadata keys, version 2)
/// or does not decode.
pub fn decode_key_value(key: &[u8], value: Option<&[u8]>) -> Option<OffsetChange> {
    let mut key = Reader(key);
    // Versions 0 and 1 of the key are the same fields.
    if !(0..=OFFSET_COMMIT_KEY_VERSION).contains(&key.i16()?) {
        return None;
    }
    let group = key.short_string()?;
    let topic = key.short_string()?;
    let partition = key.i32()?;
    let committed = match value {
        None => None,
        Some(value) => Some(decode_value(value)?),
    };
    Some(OffsetChange {
        group,
        topic,
        partition,
        committed,
    })
}

/// `OffsetCommitValue` v3 (the version written).
fn decode_value(value: &[u8]) -> Option<CommittedOffset> {
    let mut value = Reader(value);
    if value.i16()? != OFFSET_COMMIT_VALUE_VERSION {
        return None;
    }
    Some(CommittedOffset {
        offset: value.i64()?,
        leader_epoch: value.i32()?,
        metadata: value.short_string()?,
        commit_time_ms: value.i64()?,
    })
}

fn decode_legacy_body(body: &[u8]) -> Option<OffsetChange> {
    let mut reader = Reader(body);
    let kind = reader.take(1)?[0];
    let group = reader.long_string()?;
    let topic = reader.long_string()?;
    let partition = reader.i32()?;
    let committed = CommittedOffset {
        offset: reader.i64()?,
        leader_epoch: reader.i32()?,
        commit_time_ms: reader.i64()?,
        metadata: reader.long_string()?,
    };
    let committed = match kind {
        LEGACY_KIND_COMMIT => Some(committed),
        LEGACY_KIND_DELETE => None,
        _ => return None,
    };
    Some(OffsetChange {
        group,
        topic,
        partition,
        committed,
    })
}

/// Decodes records from the start of `data`; returns them and the length
/// of the valid prefix (anything after it is a torn or corrupt tail).
pub fn decode_records(data: &[u8]) -> (Vec<OffsetChange>, usize) {
    decode_framed(data, decode_body)
}

/// [`decode_records`] for the pre-upgrade per-shard log.
pub fn decode_legacy_records(data: &[u8]) -> (Vec<OffsetChange>, usize) {
    decode_framed(data, decode_legacy_body)
}

fn decode_framed(
    data: &[u8],
    decode: impl Fn(&[u8]) -> Option<OffsetChange>,
) -> (Vec<OffsetChange>, usize) {
    let mut changes = Vec::new();
    let mut valid = 0;
    while data.len() - valid >= RECORD_HEADER_BYTES {
        let header = &data[valid..valid + RECORD_HEADER_BYTES];
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let start = valid + RECORD_HEADER_BYTES;
        if len > RECORD_BODY_BYTES_MAX || data.len() - start < len {
            break;
        }
        let body = &data[start..start + len];
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Some(change) = decode(body) else {
            break;
        };
        changes.push(change);
        valid = start + len;
    }
    (changes, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(partition: i32, offset: Option<i64>) -> OffsetChange {
        OffsetChange {
            group: "g".into(),
            topic: "t".into(),
            partition,
            committed: offset.map(|offset| CommittedOffset {
                offset,
                leader_epoch: 4,
                metadata: "m".into(),
                commit_time_ms: 5,
            }),
        }
    }

    #[test]
    fn records_round_trip_and_torn_tail_is_cut() {
        let mut bytes = Vec::new();
        encode_record(&change(0, Some(10)), &mut bytes);
        encode_record(&change(1, None), &mut bytes);
        let whole = bytes.len();
        encode_record(&change(2, Some(7)), &mut bytes);
        bytes.truncate(bytes.len() - 3);
        let (changes, valid) = decode_records(&bytes);
        assert_eq!(changes, vec![change(0, Some(10)), change(1, None)]);
        assert_eq!(valid, whole);
    }

    #[test]
    fn corrupt_record_ends_replay() {
        let mut bytes = Vec::new();
        encode_record(&change(0, Some(10)), &mut bytes);
        let first = bytes.len();
        encode_record(&change(1, Some(11)), &mut bytes);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let (changes, valid) = decode_records(&bytes);
        assert_eq!(changes.len(), 1);
        assert_eq!(valid, first);
    }

    /// The key and value bytes are Kafka's `OffsetCommitKey` v1 and
    /// `OffsetCommitValue` v3, byte for byte.
    #[test]
    fn key_and_value_are_kafkas_schemas() {
        let mut bytes = Vec::new();
        encode_record(&change(2, Some(10)), &mut bytes);
        assert_eq!(record_size("g", "t", "m") as usize, bytes.len());
        let body = &bytes[RECORD_HEADER_BYTES..];
        let key: &[u8] = &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2];
        let mut value = vec![0, 3];
        value.extend_from_slice(&10i64.to_be_bytes());
        value.extend_from_slice(&4i32.to_be_bytes());
        value.extend_from_slice(&[0, 1, b'm']);
        value.extend_from_slice(&5i64.to_be_bytes());
        let mut expected = (key.len() as i32).to_be_bytes().to_vec();
        expected.extend_from_slice(key);
        expected.extend_from_slice(&(value.len() as i32).to_be_bytes());
        expected.extend_from_slice(&value);
        assert_eq!(body, expected.as_slice());
        let mut tombstone = Vec::new();
        encode_record(&change(2, None), &mut tombstone);
        assert_eq!(&tombstone[tombstone.len() - 4..], &(-1i32).to_be_bytes());
    }

    #[test]
    fn legacy_records_decode() {
        let mut body = vec![LEGACY_KIND_COMMIT];
        for s in ["g", "t"] {
            body.extend_from_slice(&(s.len() as u32).to_be_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        body.extend_from_slice(&0i32.to_be_bytes());
        body.extend_from_slice(&10i64.to_be_bytes());
        body.extend_from_slice(&4i32.to_be_bytes());
        body.extend_from_slice(&5i64.to_be_bytes());
        body.extend_from_slice(&1u32.to_be_bytes());
        body.push(b'm');
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        framed.extend_from_slice(&body);
        let (changes, valid) = decode_legacy_records(&framed);
        assert_eq!(changes, vec![change(0, Some(10))]);
        assert_eq!(valid, framed.len());
    }
}
