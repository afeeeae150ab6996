//! DescribeLogDirs (key 35): the broker's one log dir (`log.dirs`) with the
//! size of each partition asked for (all when `topics` is null) and, from
//! v4, the volume's total and usable bytes. Sizes come from the owning
//! shards, one message per destination shard.
//!
//! The response has no declared tagged fields, so nothing optional is
//! emitted for librdkafka < 2.2 to misread.

use super::{error_code, respond, RequestMeta, VersionRange};
use crate::local::join_all;
use crate::protocol::piece::Piece;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::ShardContext;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

/// Versions served (all the crate knows; v0 predates it).
pub const VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };
/// The version that added the volume's total and usable bytes.
const VOLUME_BYTES_VERSION: i16 = 4;

/// Answers a DescribeLogDirs request.
pub async fn handle(
    ctx: &Rc<ShardContext>,
    meta: RequestMeta,
    request: DescribeLogDirsRequest,
) -> Option<Vec<Piece>> {
    let wanted = wanted_partitions(ctx, &request);
    let sizes = gather_sizes(ctx, &wanted).await;
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(log_dir_name(&ctx.config.log_dirs)))
        .with_topics(topics_result(&wanted, &sizes));
    if meta.version >= VOLUME_BYTES_VERSION {
        match volume_bytes(ctx.config.log_dirs.clone()).await {
            Some((total, usable)) => {
                result = result.with_total_bytes(total).with_usable_bytes(usable);
            }
            None => result = result.with_error_code(error_code::KAFKA_STORAGE_ERROR),
        }
    }
    respond(
        meta,
        &DescribeLogDirsResponse::default().with_results(vec![result]),
    )
}

/// The partitions to describe, grouped by topic in request order: every
/// partition of the table when `topics` is null, else those asked that
/// exist (Kafka leaves unknown ones out of the answer).
fn wanted_partitions(
    ctx: &ShardContext,
    request: &DescribeLogDirsRequest,
) -> Vec<(Arc<str>, Vec<i32>)> {
    let table = ctx.topic_table();
    match &request.topics {
        None => table
            .iter()
            .map(|topic| {
                (
                    Arc::from(topic.name.as_str()),
                    (0..topic.partitions).collect(),
                )
            })
            .collect(),
        Some(topics) => topics
            .iter()
            .filter_map(|asked| {
                let name = asked.topic.0.as_str();
                let partitions: Vec<i32> = asked
                    .partitions
                    .iter()
                    .copied()
                    .filter(|p| table.has_partition(name, *p))
                    .collect();
                (!partitions.is_empty()).then(|| (Arc::from(name), partitions))
            })
            .collect(),
    }
}

/// Each wanted partition's size, in the order of `wanted` flattened, asked
/// of the owning shards concurrently (one message per shard).
async fn gather_sizes(ctx: &Rc<ShardContext>, wanted: &[(Arc<str>, Vec<i32>)]) -> Vec<Option<u64>> {
    let mut parts: Vec<Vec<(Arc<str>, i32)>> = vec![Vec::new(); ctx.nr_shards];
    let mut slots = Vec::new();
    for (topic, partitions) in wanted {
        for &partition in partitions {
            let shard = ctx.owner_of(topic, partition);
            parts[shard].push((topic.clone(), partition));
            slots.push((shard, parts[shard].len() - 1));
        }
    }
    let calls = parts
        .into_iter()
        .enumerate()
        .map(|(shard, part)| async move {
            if part.is_empty() {
                return Vec::new();
            }
            match ctx
                .router
                .call(ctx, shard, ShardRequest::LogDirSizes(part))
                .await
            {
                Ok(ShardResponse::LogDirSizes(sizes)) => sizes,
                // A shard that cannot answer: its partitions are left out.
                _ => Vec::new(),
            }
        });
    let answers = join_all(calls).await;
    slots
        .into_iter()
        .map(|(shard, index)| {
            answers
                .get(shard)
                .and_then(|a| a.get(index))
                .copied()
                .flatten()
        })
        .collect()
}

fn topics_result(
    wanted: &[(Arc<str>, Vec<i32>)],
    sizes: &[Option<u64>],
) -> Vec<DescribeLogDirsTopic> {
    let mut sizes = sizes.iter();
    wanted
        .iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .iter()
                .filter_map(|&partition| {
                    let size = (*sizes.next()?)?;
                    Some(
                        DescribeLogDirsPartition::default()
                            .with_partition_index(partition)
                            .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                            .with_offset_lag(0)
                            .with_is_future_key(false),
                    )
                })
                .collect();
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(partitions)
        })
        .filter(|topic| !topic.partitions.is_empty())
        .collect()
}

/// Kafka reports the absolute path of the log dir.
fn log_dir_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

/// (total, usable) bytes of the volume holding `dir`, by statvfs on a
/// control helper (it may touch the disk; a client asking often must not
/// delay storage work); `None` if it fails.
async fn volume_bytes(dir: PathBuf) -> Option<(i64, i64)> {
    crate::local::helper_pool::run_job(crate::local::helper_pool::Helpers::Control, move || {
        statvfs_bytes(&dir)
    })
    .await
    .ok()
    .flatten()
}

fn statvfs_bytes(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stats` is written by statvfs
    // before it is read (only when it returns 0).
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    let fragment = stats.f_frsize as u128;
    let clamp = |blocks: u128| i64::try_from(blocks * fragment).unwrap_or(i64::MAX);
    // Usable as Kafka counts it: what an unprivileged writer may still use.
    Some((clamp(stats.f_blocks as u128), clamp(stats.f_bavail as u128)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_keep_request_order_and_drop_unknown_sizes() {
        let wanted = vec![(Arc::from("a"), vec![0, 1]), (Arc::from("b"), vec![0])];
        let sizes = [Some(10), None, None];
        let topics = topics_result(&wanted, &sizes);
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].name.0.as_str(), "a");
        assert_eq!(topics[0].partitions.len(), 1);
        assert_eq!(topics[0].partitions[0].partition_size, 10);
    }

    #[test]
    fn statvfs_of_the_temp_dir_is_sane() {
        let (total, usable) = statvfs_bytes(&std::env::temp_dir()).unwrap();
        assert!(total > 0 && usable >= 0 && usable <= total);
    }
}
