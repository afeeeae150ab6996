//! A topic's produce rules ([`TopicPolicy`]) applied to a partition's
//! batches on the connection's shard, before they go to their owner:
//!
//! - CreateTime bounds: a record older than `message.timestamp.before.max.ms`
//!   or further ahead than `message.timestamp.after.max.ms` fails the batch
//!   with INVALID_TIMESTAMP, as in Kafka. The future bound is checked against
//!   the batch's maxTimestamp; the past one, when set, against every record.
//! - A LogAppendTime topic refuses batches a client marked LogAppendTime
//!   (INVALID_TIMESTAMP, as Kafka); the owning log stamps the append time.
//! - `compression.type`: a batch whose codec differs from the topic's is
//!   decompressed (at most [`REWRITE_DECOMPRESSED_BYTES_MAX`]) and
//!   compressed again; `producer` keeps batches as sent. The rebuilt batch
//!   must still fit `max.message.bytes` (MESSAGE_TOO_LARGE).
//!
//! Reading a compressed batch's records (to recompress it, or to check every
//! timestamp) copies them: accepted on this path only, where the topic asks
//! for it. Every compressed batch so read, and any plain one larger than
//! [`REWRITE_INLINE_BYTES_MAX`], is handled on a client helper thread
//! ([`run_job`] with [`Helpers::Client`]: client-driven work, never ahead of storage's or the
//! control plane's): a compressed batch may inflate up to the bound whatever
//! its size, and the shard's other work must not wait for it. Small plain
//! batches are cheaper compressed in place than handed over. Request order
//! is kept: the ordered phase of the Produce starts after this returns.

use super::error_code;
use super::produce::{prepare_batches, Refusal};
use crate::local::helper_pool::{run_job, Helpers};
use crate::metadata::topic_policy::{StoredCodec, TopicPolicy, NO_TIMESTAMP};
use crate::protocol::batch_rewrite::{
    rebuild_with_codec, record_timestamp_range, records_refused_by_timestamp, records_section,
    Rebuilt, RewriteError,
};
use crate::protocol::codec::Codec;
use crate::protocol::record_batch::{BatchInfo, COMPRESSION_CODEC_MASK, RECORD_BATCH_HEADER_BYTES};
use crate::storage::log::now_ms;
use crate::storage::AppendBatch;
use bytes::Bytes;

/// Plain batches up to this size are compressed on the shard itself (a few
/// tens of microseconds of codec work); larger ones on a helper thread.
pub const REWRITE_INLINE_BYTES_MAX: usize = 16 * 1024;
/// Bound on a batch's decompressed records: a batch of `max.message.bytes`
/// may inflate 64 times, a compression bomb no further.
pub const REWRITE_DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// A partition's batches, validated ([`prepare_batches`]) and brought in
/// line with `policy`; `Err` is the partition's refusal.
pub async fn prepare(
    records: Option<&Bytes>,
    policy: &TopicPolicy,
    pinned_bytes: usize,
) -> Result<Vec<AppendBatch>, Refusal> {
    let mut batches = prepare_batches(records, policy.max_message_bytes, pinned_bytes)?;
    let now_ms = now_ms();
    for batch in batches.iter_mut() {
        if let Some(rebuilt) = apply(policy, batch, now_ms).await? {
            *batch = rebuilt;
        }
    }
    Ok(batches)
}

/// Checks one batch; `Some` is the batch to append instead of it.
async fn apply(
    policy: &TopicPolicy,
    batch: &AppendBatch,
    now_ms: i64,
) -> Result<Option<AppendBatch>, Refusal> {
    let info = &batch.info;
    let marked_log_append_time = info.is_log_append_time();
    if policy.log_append_time && marked_log_append_time {
        return Err(Refusal::new(
            error_code::INVALID_TIMESTAMP,
            "Invalid timestamp type in a record batch: producers should not set the timestamp \
             type to LogAppendTime"
                .into(),
        ));
    }
    let codec = Codec::from_attribute(info.attributes & COMPRESSION_CODEC_MASK);
    // An unknown codec needs reading (and fails there) only if anything does.
    let recompress = match codec {
        Some(codec) => policy.recompression_for(codec),
        None => policy.compression,
    };
    let read_each = policy.checks_each_record() && !marked_log_append_time;
    let span = match (recompress, read_each, codec) {
        (None, false, _) => TimestampSpan::of_header(info),
        (None, true, Some(Codec::None)) => {
            TimestampSpan::walked(&batch.body, info).map_err(refused)?
        }
        _ => return rewrite(policy, batch, recompress, now_ms).await,
    };
    span.check(policy, now_ms)
        .map_err(|refusal| naming_records(refusal, policy, batch, now_ms))?;
    Ok(None)
}

/// Reads the records of `batch` (and rebuilds it with `recompress`), on a
/// helper thread unless it is small and plain; checks their timestamps.
/// `Some` is the rebuilt batch.
async fn rewrite(
    policy: &TopicPolicy,
    batch: &AppendBatch,
    recompress: Option<StoredCodec>,
    now_ms: i64,
) -> Result<Option<AppendBatch>, Refusal> {
    let job = RewriteJob {
        header: batch.header,
        body: batch.body.clone(),
        info: batch.info,
        recompress,
        marked_log_append_time: batch.info.is_log_append_time(),
    };
    // A compressed batch may inflate far past its size: never on the shard.
    let plain = batch.info.compression_codec() == 0;
    let done = if plain && batch.len() <= REWRITE_INLINE_BYTES_MAX {
        job.run()
    } else {
        run_job(Helpers::Client, move || job.run())
            .await
            .map_err(|e| {
                let message = format!("the record batch could not be rewritten: {e}");
                Refusal::new(error_code::UNKNOWN_SERVER_ERROR, message)
            })?
    };
    let (rebuilt, span) = done.map_err(refused)?;
    span.check(policy, now_ms)
        .map_err(|refusal| naming_records(refusal, policy, batch, now_ms))?;
    let Some(rebuilt) = rebuilt else {
        return Ok(None);
    };
    if rebuilt.info.len > policy.max_message_bytes {
        return Err(Refusal::new(
            error_code::MESSAGE_TOO_LARGE,
            format!(
                "the record batch is {} bytes recompressed, more than max.message.bytes {}",
                rebuilt.info.len, policy.max_message_bytes
            ),
        ));
    }
    let body = Bytes::from(rebuilt.body);
    Ok(Some(AppendBatch {
        header: rebuilt.header,
        pinned_bytes: body.len(),
        body,
        info: rebuilt.info,
    }))
}

/// An INVALID_TIMESTAMP refusal with the index of each record out of bounds
/// (Kafka's `record_errors`): a LogAppendTime-marked batch's records all
/// carry its maxTimestamp; a plain batch's are read again (only on this
/// failure path). A compressed batch's are not decompressed again: none named.
fn naming_records(
    mut refusal: Refusal,
    policy: &TopicPolicy,
    batch: &AppendBatch,
    now_ms: i64,
) -> Refusal {
    let info = &batch.info;
    refusal.record_errors = if info.is_log_append_time() {
        (0..info.record_count.max(0)).collect()
    } else if info.compression_codec() == 0 {
        records_refused_by_timestamp(&batch.body, info, |timestamp| {
            policy.timestamp_refused(timestamp, now_ms)
        })
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    refusal
}

fn refused(error: RewriteError) -> Refusal {
    Refusal::new(error.wire_error_code(), error.to_string())
}

/// One batch's decompression (and recompression): owned, so it can run on
/// a helper thread.
struct RewriteJob {
    header: [u8; RECORD_BATCH_HEADER_BYTES],
    body: Bytes,
    info: BatchInfo,
    recompress: Option<StoredCodec>,
    marked_log_append_time: bool,
}

impl RewriteJob {
    fn run(self) -> Result<(Option<Rebuilt>, TimestampSpan), RewriteError> {
        let records = records_section(&self.body, &self.info, REWRITE_DECOMPRESSED_BYTES_MAX)?;
        // Kafka checks the records while it decompresses them; so is the count here.
        let walked = TimestampSpan::walked(&records, &self.info)?;
        let span = match self.marked_log_append_time {
            true => TimestampSpan::of_header(&self.info),
            false => walked,
        };
        let rebuilt = match self.recompress {
            Some(stored) => {
                let rebuilt = rebuild_with_codec(
                    &self.header,
                    &records,
                    &self.info,
                    stored.codec,
                    stored.level,
                )?;
                Some(rebuilt)
            }
            None => None,
        };
        Ok((rebuilt, span))
    }
}

/// The oldest and newest record timestamps of a batch, as far as known.
#[derive(Clone, Copy, Debug)]
struct TimestampSpan {
    min: i64,
    max: i64,
}

impl TimestampSpan {
    /// From the header: the newest is maxTimestamp; the oldest is not read.
    /// (A LogAppendTime-marked batch's records all carry maxTimestamp.)
    fn of_header(info: &BatchInfo) -> Self {
        TimestampSpan {
            min: if info.is_log_append_time() {
                info.max_timestamp
            } else {
                NO_TIMESTAMP
            },
            max: info.max_timestamp,
        }
    }

    /// From every record of the plain records section `records`.
    fn walked(records: &[u8], info: &BatchInfo) -> Result<Self, RewriteError> {
        Ok(match record_timestamp_range(records, info)? {
            Some((min, max)) => TimestampSpan { min, max },
            None => TimestampSpan {
                min: NO_TIMESTAMP,
                max: NO_TIMESTAMP,
            },
        })
    }

    fn check(self, policy: &TopicPolicy, now_ms: i64) -> Result<(), Refusal> {
        match policy.timestamp_error(self.min, self.max, now_ms) {
            Some(message) => Err(Refusal::new(error_code::INVALID_TIMESTAMP, message)),
            None => Ok(()),
        }
    }
}
