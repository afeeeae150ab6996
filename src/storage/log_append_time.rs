//! LogAppendTime (`message.timestamp.type=LogAppendTime`): as Kafka's
//! `LogValidator` does for a v2 batch, each appended batch gets the
//! timestamp-type attribute and the append time as its maxTimestamp, with
//! the CRC brought up to date; records keep their deltas, and readers take
//! every record's timestamp from maxTimestamp. Only the header copy of
//! [`AppendBatch`] changes: the body is neither copied nor read.
//!
//! The time is read once per append, under the append lock, so append times
//! never go backwards along the offsets (the time index relies on it).

use super::log::{now_ms, AppendBatch, PartitionLog};
use crate::protocol::batch_rewrite::{stamp_log_append_time, TIMESTAMP_TYPE_FLAG};

impl PartitionLog {
    /// The time to stamp on this append's batches, if the topic asks for it.
    pub(super) fn log_append_time(&self) -> Option<i64> {
        self.config.borrow().log_append_time.then(now_ms)
    }
}

impl AppendBatch {
    /// Stamps the batch with `append_time_ms`: its header and what storage
    /// indexes it by (the time index and recent batches read `info`).
    pub(super) fn stamp_log_append_time(&mut self, append_time_ms: i64) {
        stamp_log_append_time(&mut self.header, self.body.len(), append_time_ms);
        self.info.max_timestamp = append_time_ms;
        self.info.attributes |= TIMESTAMP_TYPE_FLAG;
    }
}
