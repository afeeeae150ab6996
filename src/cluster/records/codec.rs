//! Byte-level primitives of the metadata encoding: unsigned LEB128 varints,
//! zig-zag signed varints, length-prefixed strings and lists, raw UUIDs.
//! The reader checks every length against the bytes left before allocating.

use super::{BROKER_LIST_LEN_MAX, STRING_BYTES_MAX};
use crate::cluster::BrokerId;
use uuid::Uuid;

/// Why bytes did not decode. Decoding never panics and never allocates more
/// than the input could hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a field.
    Truncated,
    /// A varint ran past 10 bytes or past its type's range.
    BadVarint,
    /// A record type number this build does not know.
    UnknownType(u8),
    /// A record or batch version this build does not know.
    UnsupportedVersion {
        /// Record type number, or 255 for a batch or snapshot header.
        record_type: u8,
        /// The version found.
        version: u8,
    },
    /// A field holds a value outside its domain.
    Invalid(&'static str),
    /// A record's body was longer than its fields.
    TrailingBytes,
    /// The checksum does not match the bytes.
    Checksum,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("metadata bytes end inside a field"),
            DecodeError::BadVarint => f.write_str("malformed varint in metadata bytes"),
            DecodeError::UnknownType(t) => write!(f, "unknown metadata record type {t}"),
            DecodeError::UnsupportedVersion {
                record_type,
                version,
            } => write!(
                f,
                "unsupported version {version} of metadata type {record_type}"
            ),
            DecodeError::Invalid(what) => write!(f, "invalid metadata field: {what}"),
            DecodeError::TrailingBytes => f.write_str("metadata record longer than its fields"),
            DecodeError::Checksum => f.write_str("metadata checksum mismatch"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends encoded fields to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    /// The bytes so far.
    pub bytes: Vec<u8>,
}

impl Writer {
    /// One byte.
    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// A bool as one byte, 0 or 1.
    pub fn bool(&mut self, value: bool) {
        self.bytes.push(value as u8);
    }

    /// Unsigned LEB128.
    pub fn uvarint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    /// Signed, zig-zag then LEB128 (small magnitudes stay short, -1 is 1 byte).
    pub fn varint(&mut self, value: i64) {
        self.uvarint(((value << 1) ^ (value >> 63)) as u64);
    }

    /// Raw 16 bytes.
    pub fn uuid(&mut self, value: &Uuid) {
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// Length then UTF-8 bytes.
    pub fn string(&mut self, value: &str) {
        self.uvarint(value.len() as u64);
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// 0 for `None`, else length + 1 then bytes.
    pub fn opt_string(&mut self, value: Option<&str>) {
        match value {
            None => self.uvarint(0),
            Some(s) => {
                self.uvarint(s.len() as u64 + 1);
                self.bytes.extend_from_slice(s.as_bytes());
            }
        }
    }

    /// Count then zig-zag varints.
    pub fn brokers(&mut self, ids: &[BrokerId]) {
        self.uvarint(ids.len() as u64);
        for id in ids {
            self.varint(*id as i64);
        }
    }

    /// 0 for `None`, else count + 1 then zig-zag varints.
    pub fn opt_brokers(&mut self, ids: Option<&[BrokerId]>) {
        match ids {
            None => self.uvarint(0),
            Some(ids) => {
                self.uvarint(ids.len() as u64 + 1);
                for id in ids {
                    self.varint(*id as i64);
                }
            }
        }
    }
}

/// Reads encoded fields from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// The next `len` bytes.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.bytes.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// A bool; bytes other than 0 and 1 are refused.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("bool byte other than 0 or 1")),
        }
    }

    /// Unsigned LEB128, at most 10 bytes.
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            let bits = (byte & 0x7f) as u64;
            if shift == 63 && bits > 1 {
                return Err(DecodeError::BadVarint);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::BadVarint)
    }

    /// Zig-zag signed varint.
    pub fn varint(&mut self) -> Result<i64, DecodeError> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A zig-zag varint that must fit an i32.
    pub fn varint_i32(&mut self) -> Result<i32, DecodeError> {
        i32::try_from(self.varint()?).map_err(|_| DecodeError::BadVarint)
    }

    /// A count or length, bounded by `max` and by the bytes left (every
    /// element takes at least one byte).
    pub fn count(&mut self, max: usize) -> Result<usize, DecodeError> {
        let len = self.uvarint()?;
        self.check_count(len, max)
    }

    /// 0 for `None`, else a count + 1, bounded as in [`Reader::count`].
    fn opt_count(&mut self, max: usize) -> Result<Option<usize>, DecodeError> {
        let raw = self.uvarint()?;
        if raw == 0 {
            return Ok(None);
        }
        self.check_count(raw - 1, max).map(Some)
    }

    fn check_count(&self, len: u64, max: usize) -> Result<usize, DecodeError> {
        if len > max as u64 {
            return Err(DecodeError::Invalid("length above its limit"));
        }
        if len > self.remaining() as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(len as usize)
    }

    /// Raw 16 bytes.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        let bytes = self.take(16)?;
        let mut raw = [0u8; 16];
        raw.copy_from_slice(bytes);
        Ok(Uuid::from_bytes(raw))
    }

    /// Length then UTF-8 bytes.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.count(STRING_BYTES_MAX)?;
        self.utf8(len)
    }

    /// 0 for `None`, else length + 1 then bytes.
    pub fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.opt_count(STRING_BYTES_MAX)? {
            None => Ok(None),
            Some(len) => self.utf8(len).map(Some),
        }
    }

    fn utf8(&mut self, len: usize) -> Result<String, DecodeError> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Invalid("string is not UTF-8"))
    }

    /// Count then zig-zag varints.
    pub fn brokers(&mut self) -> Result<Vec<BrokerId>, DecodeError> {
        let len = self.count(BROKER_LIST_LEN_MAX)?;
        self.broker_ids(len)
    }

    /// 0 for `None`, else count + 1 then zig-zag varints.
    pub fn opt_brokers(&mut self) -> Result<Option<Vec<BrokerId>>, DecodeError> {
        match self.opt_count(BROKER_LIST_LEN_MAX)? {
            None => Ok(None),
            Some(len) => self.broker_ids(len).map(Some),
        }
    }

    fn broker_ids(&mut self, len: usize) -> Result<Vec<BrokerId>, DecodeError> {
        let mut ids = Vec::with_capacity(len);
        for _ in 0..len {
            ids.push(self.varint_i32()?);
        }
        Ok(ids)
    }
}
