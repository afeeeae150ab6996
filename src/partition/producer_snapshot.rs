//! Kafka's producer snapshot format (`ProducerStateManager`, version 1), so
//! a Kafka user recognises the `<offset>.snapshot` files (and Kafka's
//! `kafka-dump-log --files x.snapshot` prints them):
//!
//! ```text
//! version                  int16   1
//! crc                      uint32  CRC32C of every byte after this field
//! producer_entries         int32 count, then per entry:
//!   producer_id            int64
//!   epoch                  int16
//!   last_sequence          int32
//!   last_offset            int64   -1: no batch
//!   offset_delta           int32   last_offset - first offset of the batch
//!   timestamp              int64   max timestamp of the producer's last batch
//!   coordinator_epoch      int32   -1 (no transactions)
//!   current_txn_first_offset int64 -1 (no transactions)
//! ```
//!
//! Kafka writes one entry per producer (its last batch). millrace writes one
//! per remembered batch, each producer's oldest first, so that retries of
//! the last 5 batches are still recognised after a restart; Kafka's reader,
//! which keeps the last entry of each producer, reads the same file as the
//! state Kafka would have written.

use std::fmt;

/// The snapshot format version written and read.
pub const SNAPSHOT_VERSION: i16 = 1;
/// `coordinator_epoch` of a producer without transactions.
pub const NO_COORDINATOR_EPOCH: i32 = -1;
/// `current_txn_first_offset` of a producer without an open transaction.
pub const NO_TRANSACTION: i64 = -1;
/// Where the CRC-covered part starts (after version and crc).
const ENTRIES_OFFSET: usize = 2 + 4;
/// Version, crc and entry count.
const HEADER_BYTES: usize = ENTRIES_OFFSET + 4;
/// One entry's fixed size.
pub const ENTRY_BYTES: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// One entry of a snapshot (Kafka's `ProducerSnapshotEntry` fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub epoch: i16,
    /// Sequence of the batch's last record.
    pub last_sequence: i32,
    /// Offset of the batch's last record; -1 when the entry has no batch.
    pub last_offset: i64,
    /// `last_offset` minus the batch's first offset.
    pub offset_delta: i32,
    /// Max timestamp of the producer's last batch.
    pub timestamp: i64,
    /// Epoch of the last transaction coordinator (-1: none).
    pub coordinator_epoch: i32,
    /// First offset of the open transaction (-1: none).
    pub current_txn_first_offset: i64,
}

/// Why a snapshot file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotDamage {
    /// Shorter than its fixed header.
    TooShort(usize),
    /// A version this broker does not read.
    UnknownVersion(i16),
    /// The CRC32C does not match the content.
    Crc {
        /// CRC stored in the file.
        stored: u32,
        /// CRC of the content.
        computed: u32,
    },
    /// The entry count does not match the file length.
    Length {
        /// Entries the file says it holds.
        count: i32,
        /// File length.
        bytes: usize,
    },
    /// An entry with a negative producer id.
    InvalidProducerId(i64),
}

impl fmt::Display for SnapshotDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotDamage::TooShort(bytes) => write!(f, "only {bytes} bytes"),
            SnapshotDamage::UnknownVersion(version) => write!(f, "unknown version {version}"),
            SnapshotDamage::Crc { stored, computed } => write!(
                f,
                "CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            SnapshotDamage::Length { count, bytes } => {
                write!(f, "{count} entries do not fit {bytes} bytes")
            }
            SnapshotDamage::InvalidProducerId(id) => write!(f, "producer id {id}"),
        }
    }
}

/// Encodes `count` entries as a snapshot file's bytes.
pub fn encode(entries: impl Iterator<Item = SnapshotEntry>, count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + count * ENTRY_BYTES);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled in below
    out.extend_from_slice(&(count as i32).to_be_bytes());
    for entry in entries.take(count) {
        out.extend_from_slice(&entry.producer_id.to_be_bytes());
        out.extend_from_slice(&entry.epoch.to_be_bytes());
        out.extend_from_slice(&entry.last_sequence.to_be_bytes());
        out.extend_from_slice(&entry.last_offset.to_be_bytes());
        out.extend_from_slice(&entry.offset_delta.to_be_bytes());
        out.extend_from_slice(&entry.timestamp.to_be_bytes());
        out.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&entry.current_txn_first_offset.to_be_bytes());
    }
    debug_assert_eq!(out.len(), HEADER_BYTES + count * ENTRY_BYTES);
    let crc = crc32c::crc32c(&out[ENTRIES_OFFSET..]);
    out[2..ENTRIES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Checks a snapshot file's bytes whole (version, CRC, length), then hands
/// each entry to `on_entry` in file order; returns the entry count. On
/// `Err`, entries already handed over must be discarded.
pub fn decode(
    bytes: &[u8],
    mut on_entry: impl FnMut(&SnapshotEntry),
) -> Result<usize, SnapshotDamage> {
    if bytes.len() < HEADER_BYTES {
        return Err(SnapshotDamage::TooShort(bytes.len()));
    }
    let mut reader = Reader(bytes);
    let version = reader.i16();
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotDamage::UnknownVersion(version));
    }
    let stored = reader.i32() as u32;
    let computed = crc32c::crc32c(&bytes[ENTRIES_OFFSET..]);
    if stored != computed {
        return Err(SnapshotDamage::Crc { stored, computed });
    }
    let count = reader.i32();
    let fits = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(ENTRY_BYTES))
        .is_some_and(|entry_bytes| HEADER_BYTES + entry_bytes == bytes.len());
    if !fits {
        return Err(SnapshotDamage::Length {
            count,
            bytes: bytes.len(),
        });
    }
    for _ in 0..count {
        let entry = SnapshotEntry {
            producer_id: reader.i64(),
            epoch: reader.i16(),
            last_sequence: reader.i32(),
            last_offset: reader.i64(),
            offset_delta: reader.i32(),
            timestamp: reader.i64(),
            coordinator_epoch: reader.i32(),
            current_txn_first_offset: reader.i64(),
        };
        if entry.producer_id < 0 {
            return Err(SnapshotDamage::InvalidProducerId(entry.producer_id));
        }
        on_entry(&entry);
    }
    Ok(count as usize)
}

/// Big-endian reads over bytes whose length was checked first.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().unwrap_or([0; N])
    }

    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take())
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take())
    }

    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(producer_id: i64, last_offset: i64) -> SnapshotEntry {
        SnapshotEntry {
            producer_id,
            epoch: 3,
            last_sequence: 41,
            last_offset,
            offset_delta: 4,
            timestamp: 1_700_000_000_123,
            coordinator_epoch: NO_COORDINATOR_EPOCH,
            current_txn_first_offset: NO_TRANSACTION,
        }
    }

    fn decoded(bytes: &[u8]) -> Result<Vec<SnapshotEntry>, SnapshotDamage> {
        let mut entries = Vec::new();
        decode(bytes, |entry| entries.push(*entry))?;
        Ok(entries)
    }

    #[test]
    fn round_trip() {
        let entries = vec![entry(1, 10), entry(1, 20), entry(9, -1)];
        let bytes = encode(entries.iter().copied(), entries.len());
        assert_eq!(bytes.len(), HEADER_BYTES + 3 * ENTRY_BYTES);
        assert_eq!(decoded(&bytes), Ok(entries));
        let empty = encode(std::iter::empty(), 0);
        assert_eq!(decoded(&empty), Ok(Vec::new()));
    }

    #[test]
    fn kafka_layout_byte_for_byte() {
        let bytes = encode(std::iter::once(entry(0x0102, 0x0A0B)), 1);
        let expected_after_crc: Vec<u8> = [
            &1i32.to_be_bytes()[..],
            &0x0102i64.to_be_bytes(),
            &3i16.to_be_bytes(),
            &41i32.to_be_bytes(),
            &0x0A0Bi64.to_be_bytes(),
            &4i32.to_be_bytes(),
            &1_700_000_000_123i64.to_be_bytes(),
            &(-1i32).to_be_bytes(),
            &(-1i64).to_be_bytes(),
        ]
        .concat();
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(&bytes[6..], &expected_after_crc[..]);
        let crc = crc32c::crc32c(&expected_after_crc);
        assert_eq!(&bytes[2..6], &crc.to_be_bytes());
    }

    #[test]
    fn damaged_files_are_refused() {
        let bytes = encode([entry(1, 10), entry(2, 20)].into_iter(), 2);
        assert_eq!(decoded(&bytes[..5]), Err(SnapshotDamage::TooShort(5)));
        let mut flipped = bytes.clone();
        flipped[HEADER_BYTES + 3] ^= 1;
        assert!(matches!(decoded(&flipped), Err(SnapshotDamage::Crc { .. })));
        let mut version = bytes.clone();
        version[1] = 2;
        assert_eq!(decoded(&version), Err(SnapshotDamage::UnknownVersion(2)));
        // A torn file: the CRC no longer covers what the count says.
        let torn = &bytes[..bytes.len() - ENTRY_BYTES];
        assert!(decoded(torn).is_err());
        // A consistent CRC over a wrong count (a writer's bug) is still caught.
        let mut counted = bytes.clone();
        counted[6..10].copy_from_slice(&3i32.to_be_bytes());
        let crc = crc32c::crc32c(&counted[ENTRIES_OFFSET..]);
        counted[2..6].copy_from_slice(&crc.to_be_bytes());
        let length = SnapshotDamage::Length {
            count: 3,
            bytes: bytes.len(),
        };
        assert_eq!(decoded(&counted), Err(length));
        let negative = encode(std::iter::once(entry(-5, 1)), 1);
        assert_eq!(
            decoded(&negative),
            Err(SnapshotDamage::InvalidProducerId(-5))
        );
    }
}
