//! One benchmark consumer: Fetch loops (one per partition leader) over the
//! partitions assigned to it, recording each record's end-to-end latency from
//! the send time in its payload.
//!
//! Partitions are assigned by the harness (consumer `c` of `n` reads the
//! partitions `p` with `p % n == c`), not through a consumer group.

use super::admin::TopicPlan;
use super::net::{self, read_frame, BenchWriter, FRAME_MAX_BYTES};
use super::stats::RunControl;
use super::wire::{self, FetchTopic};
use crate::protocol::codec::Decompressor;
use futures_lite::io::AsyncWriteExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Long-poll time of a Fetch: also how soon a consumer notices the end.
const FETCH_MAX_WAIT_MS: i32 = 100;
/// Bytes a Fetch answer may carry in total.
const FETCH_MAX_BYTES: i32 = 64 * 1024 * 1024;
/// Bytes a Fetch answer may carry per partition.
const PARTITION_MAX_BYTES: i32 = 8 * 1024 * 1024;
/// How long consumers keep reading after producers stop, at most.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// The same for a backlog run, where draining is the point.
pub const BACKLOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// Poll interval of a backlog consumer waiting for producing to end.
const BACKLOG_POLL: Duration = Duration::from_millis(10);
/// Pause after a Fetch that returned an error, so errors do not spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Who this consumer is and what it reads.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Executor index (selects its stats block).
    pub executor: usize,
    /// The topic it reads.
    pub topic: Arc<TopicPlan>,
    /// Indexes into `topic.partitions` assigned to it.
    pub partitions: Vec<usize>,
    /// Start only when producing ends (drain a backlog).
    pub backlog: bool,
}

/// Runs one consumer until every produced message is consumed or the drain
/// timeout passes; failures are counted in the stats.
pub async fn run_consumer(control: Arc<RunControl>, spec: ConsumerSpec) {
    while spec.backlog
        && control.producers_running.load(Ordering::Acquire) > 0
        && !control.aborted()
    {
        glommio::timer::sleep(BACKLOG_POLL).await;
    }
    let mut leaders: Vec<(String, Vec<(i32, i64)>)> = Vec::new();
    for &index in &spec.partitions {
        let target = &spec.topic.partitions[index];
        let entry = (target.partition, target.start_offset);
        match leaders
            .iter_mut()
            .find(|(leader, _)| *leader == target.leader)
        {
            Some((_, partitions)) => partitions.push(entry),
            None => leaders.push((target.leader.clone(), vec![entry])),
        }
    }
    let mut loops = Vec::with_capacity(leaders.len());
    for (leader, partitions) in leaders {
        let topic = FetchTopic {
            name: spec.topic.name.clone(),
            partitions,
        };
        let control = control.clone();
        let executor = spec.executor;
        let drain_timeout = if spec.backlog {
            BACKLOG_DRAIN_TIMEOUT
        } else {
            DRAIN_TIMEOUT
        };
        loops.push(glommio::spawn_local(async move {
            if let Err(message) =
                fetch_loop(&control, executor, &leader, topic, drain_timeout).await
            {
                control.stats(executor).record_error(0, message, true);
            }
        }));
    }
    for task in loops {
        task.await;
    }
    control.consumers_running.fetch_sub(1, Ordering::AcqRel);
}

fn finished(control: &RunControl, drain_timeout: Duration) -> bool {
    if control.aborted() {
        return true;
    }
    let producers_done = control.producers_running.load(Ordering::Acquire) == 0;
    let now = control.clock.now_ns();
    let caught_up = control.consumed_total.load(Ordering::Relaxed)
        >= control.produced_total.load(Ordering::Relaxed);
    let drain_over = now >= control.end_ns + drain_timeout.as_nanos() as u64;
    producers_done && (caught_up || drain_over)
}

/// One Fetch connection's loop. The next Fetch goes out as soon as an
/// answer's positions are known, before its records are decoded (as Kafka's
/// consumers keep a fetch in flight while the application reads the last
/// one), so the broker reads the next range while this one is accounted.
async fn fetch_loop(
    control: &RunControl,
    executor: usize,
    leader: &str,
    mut topic: FetchTopic,
    drain_timeout: Duration,
) -> Result<(), String> {
    let (mut writer, mut reader) = net::connect(leader).await?;
    let mut request = Vec::new();
    let mut body = Vec::new();
    // Compressed batches are inflated here to read their payload timestamps.
    let mut decompressor = Decompressor::new()?;
    let mut correlation_id: i32 = 0;
    // An answer still to come is left unread when the run is over.
    let mut in_flight = None;
    while !finished(control, drain_timeout) {
        let expected = match in_flight.take() {
            Some(id) => id,
            None => {
                send_fetch(
                    &mut writer,
                    &mut request,
                    &mut correlation_id,
                    &topic,
                    leader,
                )
                .await?
            }
        };
        read_frame(&mut reader, &mut body, FRAME_MAX_BYTES)
            .await
            .map_err(|e| format!("fetch from {leader}: {e}"))?;
        let id = wire::correlation_id(&body).map_err(|e| e.to_string())?;
        if id != expected {
            return Err(format!(
                "fetch from {leader}: correlation id {id}, expected {expected}"
            ));
        }
        let first_error = advance_positions(&body, &mut topic)
            .map_err(|e| format!("fetch from {leader}: {e}"))?;
        if first_error.is_none() {
            let next = send_fetch(
                &mut writer,
                &mut request,
                &mut correlation_id,
                &topic,
                leader,
            );
            in_flight = Some(next.await?);
        }
        account_fetch(control, executor, &body, &mut decompressor)
            .map_err(|e| format!("fetch from {leader}: {e}"))?;
        if let Some(code) = first_error {
            let error = crate::client::ClientError::broker(code, None);
            control
                .stats(executor)
                .record_error(0, format!("fetch from {leader}: {error}"), true);
            glommio::timer::sleep(ERROR_BACKOFF).await;
        }
    }
    Ok(())
}

/// Writes the next Fetch of `topic` from its current positions; returns
/// its correlation id.
async fn send_fetch(
    writer: &mut BenchWriter,
    request: &mut Vec<u8>,
    correlation_id: &mut i32,
    topic: &FetchTopic,
    leader: &str,
) -> Result<i32, String> {
    *correlation_id = correlation_id.wrapping_add(1);
    wire::write_fetch_request(
        request,
        *correlation_id,
        FETCH_MAX_WAIT_MS,
        FETCH_MAX_BYTES,
        PARTITION_MAX_BYTES,
        std::slice::from_ref(topic),
    );
    writer
        .write_all(request)
        .await
        .map_err(|e| format!("fetch from {leader}: {e}"))?;
    Ok(*correlation_id)
}

/// Moves each partition's position past the complete batches of a Fetch
/// answer; returns the first partition error code, if any.
fn advance_positions(body: &[u8], topic: &mut FetchTopic) -> Result<Option<i16>, String> {
    let mut first_error = None;
    wire::fetch_positions(body, |fetched| {
        if fetched.error_code != crate::protocol::error_code::NONE && first_error.is_none() {
            first_error = Some(fetched.error_code);
        }
        if let Some(next) = fetched.next_offset {
            if let Some(entry) = topic
                .partitions
                .iter_mut()
                .find(|(partition, _)| *partition == fetched.partition)
            {
                entry.1 = entry.1.max(next);
            }
        }
    })
    .map_err(|e| e.to_string())?;
    Ok(first_error)
}

/// Records every fetched record (end-to-end latency, counts).
fn account_fetch(
    control: &RunControl,
    executor: usize,
    body: &[u8],
    decompressor: &mut Decompressor,
) -> Result<(), String> {
    let now_ns = control.clock.now_ns();
    let mut consumed = 0u64;
    let mut stats = control.stats(executor);
    let stats = &mut *stats;
    wire::parse_fetch_response(
        body,
        decompressor,
        |send_ns, value_len| {
            if send_ns < control.start_ns {
                return; // a record from before this run
            }
            let latency_us = now_ns.saturating_sub(send_ns) / 1_000;
            consumed += 1;
            stats.tick.consumed_msgs += 1;
            stats.tick.consumed_bytes += value_len as u64;
            stats.tick_e2e.saturating_record(latency_us);
            if control.measured(send_ns) {
                stats.e2e.saturating_record(latency_us);
                stats.measured.consumed_msgs += 1;
                stats.measured.consumed_bytes += value_len as u64;
            }
        },
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    control
        .consumed_total
        .fetch_add(consumed, Ordering::Relaxed);
    if consumed > 0 {
        control.last_consume_ns.fetch_max(now_ns, Ordering::Relaxed);
    }
    Ok(())
}
