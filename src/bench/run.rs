//! Runs a workload: setup, one pinned glommio executor per thread carrying
//! its share of producers and consumers, a progress line per second from the
//! calling thread, then the merged result.

use super::admin::{self, TopicPlan};
use super::consumer::{run_consumer, ConsumerSpec};
use super::producer::{run_producer, ProducerSpec};
use super::progress::Progress;
use super::report::BenchResult;
use super::stats::{Clock, RunControl};
use super::workload::Workload;
use crate::local::cpus::allowed_cpus;
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Time between starting executors and the first intended send, so that
/// connections are open before the clock starts.
const START_DELAY: Duration = Duration::from_millis(300);
/// Registered I/O memory per executor: the harness only does socket I/O.
const IO_MEMORY_BYTES: usize = 512 * 1024;
/// Progress tick.
const TICK: Duration = Duration::from_secs(1);
/// How often the progress loop checks whether the run ended.
const POLL: Duration = Duration::from_millis(20);

/// Which executor runs which producers and consumers.
struct Assignment {
    producers: Vec<ProducerSpec>,
    consumers: Vec<ConsumerSpec>,
}

fn assign(workload: &Workload, topics: &[Arc<TopicPlan>], executors: usize) -> Assignment {
    let per_topic = u64::from(workload.producers_per_topic);
    let total_producers = per_topic * topics.len() as u64;
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    let mut slot = 0usize;
    for topic in topics {
        for _ in 0..per_topic {
            producers.push(ProducerSpec {
                executor: slot % executors,
                global_index: producers.len() as u64,
                total_producers,
                topic: topic.clone(),
                producer_id: None,
            });
            slot += 1;
        }
    }
    let consumer_count = workload.consumers_per_topic as usize;
    for topic in topics {
        for c in 0..consumer_count {
            let partitions: Vec<usize> = (0..topic.partitions.len())
                .filter(|p| p % consumer_count == c)
                .collect();
            if partitions.is_empty() {
                continue; // more consumers than partitions: this one would idle
            }
            consumers.push(ConsumerSpec {
                executor: slot % executors,
                topic: topic.clone(),
                partitions,
                backlog: workload.backlog,
            });
            slot += 1;
        }
    }
    Assignment {
        producers,
        consumers,
    }
}

fn executor_count(workload: &Workload, tasks: usize) -> usize {
    let cores = allowed_cpus().map_or(1, |cpus| cpus.len()).max(1);
    let wanted = if workload.threads == 0 {
        cores
    } else {
        workload.threads as usize
    };
    wanted.min(tasks.max(1))
}

/// Runs `workload` against its bootstrap broker and returns what it measured.
/// Setup failures (unreachable broker, missing topic) are errors; failures
/// during the run are counted in the result.
pub fn run(workload: Workload) -> Result<BenchResult, String> {
    workload.validate()?;
    let plans = admin::prepare(&workload)?;
    let topics: Vec<Arc<TopicPlan>> = plans.into_iter().map(Arc::new).collect();
    let tasks =
        (workload.producers_per_topic + workload.consumers_per_topic) as usize * topics.len();
    let executors = executor_count(&workload, tasks);
    let mut assignment = assign(&workload, &topics, executors);
    if workload.idempotence {
        let ids = admin::init_producer_ids(&workload.bootstrap, assignment.producers.len())?;
        for (spec, id) in assignment.producers.iter_mut().zip(ids) {
            spec.producer_id = Some(id);
        }
    }
    let assignment = Arc::new(assignment);
    let clock = Clock::new();
    let control = RunControl::new(
        clock,
        clock.now_ns() + START_DELAY.as_nanos() as u64,
        workload.warmup.as_nanos() as u64,
        workload.duration.as_nanos() as u64,
        executors,
    );
    control
        .producers_running
        .store(assignment.producers.len(), Ordering::Release);
    control
        .consumers_running
        .store(assignment.consumers.len(), Ordering::Release);
    let workload = Arc::new(workload);
    let handles = start_executors(&workload, &control, &assignment, executors)?;
    let mut progress = Progress::new(&workload, control.clone());
    while control.producers_running.load(Ordering::Acquire) > 0
        || control.consumers_running.load(Ordering::Acquire) > 0
    {
        std::thread::sleep(POLL);
        progress.maybe_tick(TICK);
    }
    progress.tick();
    for joined in handles.join_all() {
        if let Err(e) = joined {
            return Err(format!("bench executor failed: {e}"));
        }
    }
    let result = BenchResult::collect(&workload, &control, progress.into_timeline());
    if workload.delete_topics {
        admin::delete_topics(&workload.bootstrap, &workload.topic_names())?;
    }
    Ok(result)
}

fn start_executors(
    workload: &Arc<Workload>,
    control: &Arc<RunControl>,
    assignment: &Arc<Assignment>,
    executors: usize,
) -> Result<glommio::PoolThreadHandles<()>, String> {
    let placement = match allowed_cpus().filter(|cpus| cpus.len() >= executors) {
        Some(cpus) => PoolPlacement::MaxSpread(executors, Some(cpus)),
        None => PoolPlacement::Unbound(executors),
    };
    let next_index = Arc::new(AtomicUsize::new(0));
    let (workload, control, assignment) = (workload.clone(), control.clone(), assignment.clone());
    LocalExecutorPoolBuilder::new(placement)
        .name("millrace-bench")
        .io_memory(IO_MEMORY_BYTES)
        .on_all_shards(move || {
            let index = next_index.fetch_add(1, Ordering::AcqRel);
            let (workload, control, assignment) =
                (workload.clone(), control.clone(), assignment.clone());
            async move { executor_main(index, workload, control, assignment).await }
        })
        .map_err(|e| format!("cannot start bench executors: {e}"))
}

async fn executor_main(
    index: usize,
    workload: Arc<Workload>,
    control: Arc<RunControl>,
    assignment: Arc<Assignment>,
) {
    let mut tasks = Vec::new();
    for spec in assignment.consumers.iter().filter(|s| s.executor == index) {
        tasks.push(glommio::spawn_local(run_consumer(
            control.clone(),
            spec.clone(),
        )));
    }
    for spec in assignment.producers.iter().filter(|s| s.executor == index) {
        tasks.push(glommio::spawn_local(run_producer(
            workload.clone(),
            control.clone(),
            spec.clone(),
        )));
    }
    for task in tasks {
        task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::admin::PartitionTarget;

    fn topic(partitions: i32) -> Arc<TopicPlan> {
        Arc::new(TopicPlan {
            name: "t".into(),
            partitions: (0..partitions)
                .map(|partition| PartitionTarget {
                    partition,
                    leader: "h:1".into(),
                    start_offset: 0,
                })
                .collect(),
        })
    }

    #[test]
    fn consumers_split_partitions_and_tasks_spread_over_executors() {
        let workload = Workload {
            producers_per_topic: 2,
            consumers_per_topic: 2,
            ..Workload::default()
        };
        let a = assign(&workload, &[topic(5)], 2);
        assert_eq!(a.producers.len(), 2);
        assert_eq!(a.consumers[0].partitions, vec![0, 2, 4]);
        assert_eq!(a.consumers[1].partitions, vec![1, 3]);
        assert_eq!(a.producers[0].executor, 0);
        assert_eq!(a.producers[1].executor, 1);
        assert_eq!(a.consumers[0].executor, 0);
    }
}
